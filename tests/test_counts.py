"""Counts on every input: half-calls, records without an ALT, bad GT, POS and END (issue 13).

Semantics (README "How counts are made"): a genotype with any missing allele
(``./1``, ``1/.``, ``0/.``) is a no-call, and a no-call (or non-adj) genotype of a
sample at a position takes that sample out of AN *and* AC, homozygotes and
carriers there, for every allele at the position, whichever record it came from.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

import variantdb.load
from tests.vcfdata import write_manifest, write_vcf
from variantdb.ingest.vcf import LoadError
from variantdb.load import load_batch
from variantdb.release.files import read_current

CHR1 = {"chr1": 248956422}
FIELDS = ("ac", "an", "homozygote_count", "n_carriers", "ac_raw", "an_raw", "n_carrier_families")


def load(
    tmp: Path,
    samples: dict[str, str],
    files: dict[str, list[str]],
    compress: str = "bgzip",
    **rows: dict[str, str],
) -> Path:
    """Write one VCF per entry of ``files`` (its samples: ``samples`` in order, split by file) and load them.

    ``files`` maps a file name to ``[sample ids..., "|", record, ...]``.
    """
    folder = tmp / "in"
    folder.mkdir(parents=True, exist_ok=True)
    manifest = []
    for name, spec in files.items():
        cut = spec.index("|")
        names, records = spec[:cut], spec[cut + 1 :]
        write_vcf(folder / name, names, records, CHR1, compress=compress)
        manifest += [{"sample_id": s, "vcf": name, "sex": samples[s], **rows.get(s, {})} for s in names]
    db = tmp / "db"
    load_batch(db, write_manifest(folder / "m.tsv", manifest), workers=1)
    return db


def variants(db: Path) -> dict[tuple[int, str, str], dict[str, int]]:
    rid = read_current(db)
    out = {}
    for f in sorted((db / "releases" / str(rid) / "variants").glob("*.parquet")):
        for r in pq.read_table(f).to_pylist():
            out[(r["pos"], r["ref"], r["alt"])] = {k: r[k] for k in FIELDS}
    return out


def an_at(db: Path, pos: int) -> tuple[int, int]:
    rid = read_current(db)
    for t in pq.read_table(db / "releases" / str(rid) / "an.parquet").to_pylist():
        if t["chrom"] == "chr1" and t["start"] <= pos <= t["end"]:
            return t["an"], t["an_raw"]
    raise AssertionError(pos)


G = "GT:GQ:DP"
SPLIT = [
    # One multi-allelic site written as two records. A is 0/1 then 0/. (a half-call),
    # B 1/1 then ./1, C fully called.
    f"chr1 100 . A C 50 PASS . {G} 0/1:30:20 1/1:30:20 0/1:30:20",
    f"chr1 100 . A G 50 PASS . {G} 0/.:30:20 ./1:30:20 0/0:30:20",
]


@pytest.mark.parametrize("layout", ["one file", "a file per sample"])
def test_half_call_in_split_records_is_a_no_call_for_every_count(tmp_path: Path, layout: str) -> None:
    sexes = {"A": "XX", "B": "XY", "C": "XX"}
    if layout == "one file":
        files = {"all.vcf.gz": ["A", "B", "C", "|", *SPLIT]}
    else:  # the one-sample reader
        files = {}
        for i, s in enumerate("ABC"):
            files[f"{s}.vcf.gz"] = [s, "|", *(" ".join([*r.split()[:9], r.split()[9 + i]]) for r in SPLIT)]
    db = load(tmp_path, sexes, files)
    got = variants(db)
    # A and B are no-calls at 100 (each has a half-call there): only C counts.
    assert got[(100, "A", "C")] == {
        "ac": 1,
        "an": 2,
        "homozygote_count": 0,
        "n_carriers": 1,
        "ac_raw": 1,
        "an_raw": 2,
        "n_carrier_families": 1,
    }
    assert (100, "A", "G") not in got  # B's ./1 is a no-call
    assert an_at(db, 100) == (2, 2)


def test_non_adj_genotype_in_a_sibling_record_leaves_adj_counts(tmp_path: Path) -> None:
    records = [
        f"chr1 100 . A C 50 PASS . {G} 0/1:30:20 0/1:30:20",
        f"chr1 100 . A G 50 PASS . {G} 0/0:5:20 0/0:30:20",  # A's GQ 5 fails adj
    ]
    db = load(tmp_path, {"A": "XX", "B": "XX"}, {"x.vcf.gz": ["A", "B", "|", *records]})
    row = variants(db)[(100, "A", "C")]
    assert (row["ac"], row["an"], row["ac_raw"], row["an_raw"]) == (1, 2, 2, 4)


def test_record_without_alt_judges_its_genotype(tmp_path: Path) -> None:
    # A carries T; B's and C's files say only "reference here", B with GQ 5 (not adj),
    # C with a no-call. D's multi-sample file has an ALT-less record at 300.
    files = {
        "a.vcf.gz": ["A", "|", f"chr1 200 . A T 50 PASS . {G} 0/1:30:20"],
        "b.vcf.gz": ["B", "|", f"chr1 200 . A . 50 PASS . {G} 0/0:5:20"],
        "c.vcf.gz": ["C", "|", f"chr1 200 . A . 50 PASS . {G} ./.:.:."],
        "d.vcf.gz": ["D", "E", "|", f"chr1 300 . G . 50 PASS . {G} 0/0:5:20 ./.:.:."],
    }
    db = load(tmp_path, dict.fromkeys("ABCDE", "XX"), files)
    row = variants(db)[(200, "A", "T")]
    assert (row["ac"], row["an"], row["ac_raw"], row["an_raw"]) == (1, 6, 1, 8)
    assert an_at(db, 300) == (6, 8)


@pytest.mark.parametrize("samples", [["A"], ["A", "B"]])
def test_gt_allele_beyond_the_alts_is_refused(tmp_path: Path, samples: list[str]) -> None:
    gts = " ".join(["0/1", "2/2"][-len(samples) :])
    record = f"chr1 100 . A C 50 PASS . GT {gts}"
    with pytest.raises(LoadError) as e:
        load(tmp_path, dict.fromkeys(samples, "XX"), {"x.vcf.gz": [*samples, "|", record]})
    msg = str(e.value)
    assert "x.vcf.gz" in msg and "record 1" in msg and f"sample '{samples[-1]}'" in msg and "'2/2'" in msg
    assert read_current(tmp_path / "db") is None


def test_gt_allele_in_a_record_without_alt_is_refused(tmp_path: Path) -> None:
    with pytest.raises(LoadError, match=r"sample 'A'.*GT.*'1/1'"):
        load(tmp_path, {"A": "XX"}, {"x.vcf.gz": ["A", "|", "chr1 100 . A . 50 PASS . GT 1/1"]})


@pytest.mark.parametrize("pos", ["4295067422", "9999999999", "248956423"])
def test_pos_outside_the_contig_is_refused_as_written(tmp_path: Path, pos: str) -> None:
    records = [f"chr1 {pos} . A C 50 PASS . GT 0/1"]
    with pytest.raises(LoadError) as e:
        load(tmp_path, {"A": "XX"}, {"x.vcf": ["A", "|", *records]}, compress="none")
    assert f"value {pos} is outside" in str(e.value)
    assert read_current(tmp_path / "db") is None


GF = "GT:GQ:DP:MIN_DP"


@pytest.mark.parametrize("end", ["abc", "1.5", "250", "4295067422"])
def test_gvcf_end_not_a_position_at_or_after_pos_is_refused(tmp_path: Path, end: str) -> None:
    records = [
        f"chr1 1 . N <NON_REF> . . END=299 {GF} 0/0:30:20:20",
        f"chr1 300 . A <NON_REF> . . END={end} {GF} 0/0:30:20:20",
    ]
    with pytest.raises(LoadError) as e:
        load(tmp_path, {"A": "XX"}, {"x.g.vcf": ["A", "|", *records]}, compress="none")
    assert "INFO/END" in str(e.value) and end in str(e.value) and "record 2" in str(e.value)


def test_carrier_families_count_the_founder_carriers(tmp_path: Path) -> None:
    # A trio and U. The parents are half-called at a sibling record, so no-calls at 100:
    # the carriers are K (a child, fam1) and U (its own family). n_carrier_families counts
    # families among the carriers n_carriers counts (adj founders: U), so it never exceeds it.
    records = [
        f"chr1 100 . A C 50 PASS . {G} 0/1:30:20 0/1:30:20 0/1:30:20 0/1:30:20",
        f"chr1 100 . A G 50 PASS . {G} ./0:30:20 0/.:30:20 0/0:30:20 0/0:30:20",
    ]
    fam = {"family_id": "f1"}
    rows = {"F": fam, "M": fam, "K": {**fam, "father_id": "F", "mother_id": "M"}}
    db = load(
        tmp_path, dict.fromkeys("FMKU", "XX"), {"x.vcf.gz": ["F", "M", "K", "U", "|", *records]}, **rows
    )
    rid = read_current(db)
    (row,) = pq.read_table(db / "releases" / str(rid) / "variants" / "chr1.parquet").to_pylist()
    assert (row["n_carriers"], row["n_carriers_all"], row["n_carrier_families"], row["an_all"]) == (
        1,
        2,
        1,
        4,
    )


def test_release_breaking_an_invariant_is_not_published(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = load(tmp_path, {"A": "XX"}, {"x.vcf.gz": ["A", "|", f"chr1 100 . A C 50 PASS . {G} 0/1:30:20"]})
    before = sorted(p.name for p in (db / "releases").iterdir())
    current = read_current(db)
    real = variantdb.load.aggregate_contig

    def broken(*args: object) -> pa.Table:  # a bug that counts one allele too many
        table = real(*args)  # type: ignore[arg-type]
        i = table.schema.get_field_index("ac")
        return table.set_column(i, table.schema.field(i), pc.add(table.column("ac"), 5).cast(pa.int32()))

    monkeypatch.setattr(variantdb.load, "aggregate_contig", broken)
    folder = tmp_path / "in2"
    folder.mkdir()
    write_vcf(folder / "y.vcf.gz", ["B"], [f"chr1 100 . A C 50 PASS . {G} 0/1:30:20"], CHR1)
    manifest = write_manifest(folder / "m.tsv", [{"sample_id": "B", "vcf": "y.vcf.gz", "sex": "XX"}])
    with pytest.raises(LoadError) as e:
        load_batch(db, manifest, batch_name="second", workers=1, incremental=False)
    assert "release r0002 not published" in str(e.value)
    assert "chr1-100-A-C: ac <= an fails (ac 7, an 4)" in str(e.value)
    assert read_current(db) == current
    assert sorted(p.name for p in (db / "releases").iterdir()) == before
