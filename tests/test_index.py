from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from tests.conftest_api import build_release, make_an_track, make_tables
from variantdb.genome import CONTIGS
from variantdb.release.files import write_release
from variantdb.release.index import IndexFormatError, ReleaseIndex, build_index, count_fields
from variantdb.store.layout import variants_file
from variantdb.variant import Variant

ROWS = [
    ("chr1", 100, "A", "G", 3, 200),
    ("chr1", 100, "A", "AT", 1, 200),
    ("chr1", 100, "AC", "A", 2, 200),
    ("chr1", 5000, "C", "T", 0, 0),
    ("chr2", 1, "G", "C", 7, 100_000),
    ("chrX", 3_000_000, "G", "C", 5, 150),
    ("chrM", 16_569, "T", "C", 1, 20),
]


@pytest.fixture
def release(tmp_path: Path) -> Path:
    return build_release(tmp_path, "r0001", ROWS, gaps={"chr1": (1000, 2000)})


def _parquet_rows(release: Path) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for chrom in CONTIGS:
        part = variants_file(release, chrom)
        if part.exists():
            out += pq.read_table(part).to_pylist()
    return out


def test_every_row_is_found_with_its_exact_counts(release: Path) -> None:
    ix = ReleaseIndex.open(release)
    rows = _parquet_rows(release)
    assert len(ix) == len(rows) == len(ROWS)
    for i, row in enumerate(rows):
        assert ix.find(str(row["chrom"]), int(row["pos"]), str(row["ref"]), str(row["alt"])) == i  # type: ignore[call-overload]
        assert ix.record(i) == row


def test_same_position_other_alleles_are_not_seen(release: Path) -> None:
    ix = ReleaseIndex.open(release)
    assert ix.lookup(Variant("chr1", 100, "A", "C")) is None
    assert ix.lookup(Variant("chr1", 100, "A", "ATT")) is None  # a prefix of a stored allele
    assert ix.lookup(Variant("chr1", 100, "AC", "AT")) is None
    assert ix.lookup(Variant("chr1", 101, "A", "G")) is None
    assert ix.lookup(Variant("chr3", 100, "A", "G")) is None
    assert ix.find("chrZ", 100, "A", "G") is None
    assert ix.find("chr1", 0, "A", "G") is None


def test_af_is_null_where_an_is_zero(release: Path) -> None:
    ix = ReleaseIndex.open(release)
    row = ix.find("chr1", 5000, "C", "T")
    assert row is not None
    rec = ix.record(row)
    assert (rec["ac"], rec["an"], rec["af"]) == (0, 0, None)


def test_an_track_tells_no_data_from_absent(release: Path) -> None:
    ix = ReleaseIndex.open(release)
    called = ix.an_at("chr1", 999)
    assert called is not None and called["an"] == 200
    gap = ix.an_at("chr1", 1000)
    assert gap is not None and gap["an"] == 0
    assert ix.an_at("chr1", 2001) == called
    assert ix.an_at("chr3", 5) is None  # contig not loaded at all


def test_region_rows_are_inclusive_and_sorted(release: Path) -> None:
    ix = ReleaseIndex.open(release)
    assert ix.region_rows("chr1", 100, 100) == (0, 3)
    assert ix.region_rows("chr1", 101, 4999) == (3, 3)
    assert ix.region_rows("chr1", 1, 5000) == (0, 4)
    lo, hi = ix.region_rows("chr2", 1, 1)
    assert [ix.variant_at(r) for r in range(lo, hi)] == [Variant("chr2", 1, "G", "C")]


def test_counts_use_the_narrowest_dtype(release: Path) -> None:
    ix = ReleaseIndex.open(release)
    assert ix.values.dtype["ac"] == np.dtype("u1")
    assert ix.values.dtype["an"] == np.dtype("<u4")  # 100,000 needs 32 bits
    assert ix.fields == count_fields()
    assert ix.counts(ix.find("chr2", 1, "G", "C") or 0)["an"] == 100_000


def test_empty_release(tmp_path: Path) -> None:
    meta = {"created": "2026-11-22T00:00:00Z", "n_samples": 0}
    path = write_release(tmp_path, "r0001", [], make_an_track(["chr1"]), meta)
    ix = ReleaseIndex.open(path)
    assert len(ix) == 0
    assert ix.find("chr1", 1, "A", "G") is None
    assert ix.region_rows("chr1", 1, 10) == (0, 0)
    assert ix.an_at("chr1", 10) is not None


def _release_dir(tmp_path: Path, table: pa.Table) -> Path:
    d = tmp_path / "rel"
    part = variants_file(d, table.column("chrom")[0].as_py())
    part.parent.mkdir(parents=True)
    pq.write_table(table, part)
    pq.write_table(make_an_track(["chr1"]), d / "an.parquet")
    return d


def test_unsorted_table_is_refused(tmp_path: Path) -> None:
    (table,) = make_tables([("chr1", 100, "A", "G", 1, 10), ("chr1", 50, "A", "G", 1, 10)])
    reversed_ = table.take([1, 0])
    with pytest.raises(IndexFormatError, match="not sorted"):
        build_index(_release_dir(tmp_path, reversed_))


def test_duplicate_variant_is_refused(tmp_path: Path) -> None:
    (table,) = make_tables([("chr1", 100, "A", "G", 1, 10)])
    with pytest.raises(IndexFormatError, match="duplicate"):
        build_index(_release_dir(tmp_path, pa.concat_tables([table, table])))


_BASES = st.sampled_from("ACGT")
_ALLELE = st.text("ACGT", min_size=1, max_size=4)


@seed(20261122)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    variants=st.sets(
        st.tuples(st.sampled_from(["chr1", "chr2", "chrX"]), st.integers(1, 2000), _ALLELE, _ALLELE).filter(
            lambda t: t[2] != t[3]
        ),
        min_size=1,
        max_size=60,
    ),
    probes=st.lists(
        st.tuples(st.sampled_from(["chr1", "chr2", "chrX"]), st.integers(1, 2000), _ALLELE, _ALLELE)
    ),
)
def test_property_found_exactly_and_absent_not_found(
    tmp_path_factory: pytest.TempPathFactory,
    variants: set[tuple[str, int, str, str]],
    probes: list[tuple[str, int, str, str]],
) -> None:
    db = tmp_path_factory.mktemp("prop")
    rows = [(c, p, r, a, (p * 7) % 50, 100 + p % 3) for c, p, r, a in variants]
    release = build_release(db, "r0001", rows)
    ix = ReleaseIndex.open(release)
    for row in _parquet_rows(release):
        i = ix.find(str(row["chrom"]), int(row["pos"]), str(row["ref"]), str(row["alt"]))  # type: ignore[call-overload]
        assert i is not None and ix.record(i) == row
    for probe in probes:
        assert (ix.find(*probe) is not None) == (probe in variants)


def test_find_many_agrees_with_find(release: Path) -> None:
    ix = ReleaseIndex.open(release)
    probes = [Variant(c, p, r, a) for c, p, r, a, _, _ in ROWS]
    probes += [
        Variant("chr1", 100, "A", "C"),
        Variant("chr3", 1, "A", "G"),
        Variant("chr1", 100, "A", "G"),  # repeated
        Variant("chrZ", 5, "A", "G"),
        Variant("chr1", 0, "A", "G"),
    ]
    assert ix.find_many(probes) == [ix.find(*v) for v in probes]
    assert ix.find_many([]) == []


def test_faf_is_derived_on_read_like_the_release_table(release: Path) -> None:
    ix = ReleaseIndex.open(release)
    assert not any(f.startswith("faf") for f in count_fields())
    rec = ix.record(ix.find("chr2", 1, "G", "C"))  # type: ignore[arg-type]
    # lambda_95(AC=7) = 3.2853: the Poisson mean at which P(X >= 7) = 5%
    assert (rec["ac"], rec["an"]) == (7, 100_000)
    assert rec["faf95"] == pytest.approx(3.2853 / 100_000, rel=1e-4)
    assert ix.record(ix.find("chrM", 16_569, "T", "C"))["faf95"] == 0.0  # type: ignore[arg-type]  # a singleton
    assert ix.record(ix.find("chr1", 5000, "C", "T"))["faf95"] is None  # type: ignore[arg-type]  # AN 0


def test_index_without_max_ac_reads_it_from_the_counts(release: Path) -> None:
    # An index built before faf has no max_ac in index.json: the largest AC is read once on open.
    meta_path = release / "index" / "index.json"
    meta = json.loads(meta_path.read_text())
    want = ReleaseIndex.open(release).record(4)
    del meta["max_ac"]
    meta_path.write_text(json.dumps(meta))
    ix = ReleaseIndex.open(release)
    assert len(ix.faf_lambda["faf95"]) == 1 + max(r[4] + 2 for r in ROWS)  # ac_all is ac + 2
    assert ix.record(4) == want


def test_count_and_an_tuples_agree_with_one_at_a_time(release: Path) -> None:
    ix = ReleaseIndex.open(release)
    rows = [3, 0, 6, 0]
    assert ix.count_tuples(rows) == [ix.count_tuple(r) for r in rows]
    assert ix.count_tuples([]) == []
    with pytest.raises(IndexError):
        ix.count_tuples([len(ix)])
    probes = [Variant(c, p, r, a) for c, p, r, a, _, _ in ROWS]
    probes += [Variant("chr1", 101, "A", "C"), Variant("chr22", 10, "A", "G"), Variant("chrZ", 5, "A", "G")]
    assert ix.an_tuples(probes) == [ix.an_tuple(v.chrom, v.pos) for v in probes]
