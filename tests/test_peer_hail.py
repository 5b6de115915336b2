"""AN and AC from real gVCFs against Hail's VariantDataset combiner, site by site.

``tests/data/gvcf-1kg-chr22-hail/hail_an.tsv`` holds what Hail counts for the 50
chr22 gVCFs of ``tests/data/gvcf-1kg-chr22`` (``benchmarks/peers/hail_gvcf_an.py``:
``new_combiner``, ``to_dense_mt``, gnomAD's adj, ``call_stats``); it is committed,
so this test needs neither Hail nor Java. Our release must give the same
``ac``, ``an``, ``ac_raw``, ``an_raw`` for every allele some sample carries.

One intended difference: Hail lists every alt allele of a combined record,
including alleles no sample carries (a GATK record whose only call with that
allele is a no-call, or a 0/0 at a variant record). The release stores only
variants carried by at least one call (``ac_raw > 0``); for those alleles the
AN track is compared instead: it must give Hail's AN at the position.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from variantdb.load import load_batch
from variantdb.release.files import read_current
from variantdb.release.index import ReleaseIndex
from variantdb.store.layout import release_path

DATA = Path(__file__).parent / "data"
HAIL_TSV = DATA / "gvcf-1kg-chr22-hail" / "hail_an.tsv"
FIELDS = ("ac", "an", "ac_raw", "an_raw")

Key = tuple[str, int, str, str]


def _hail() -> dict[Key, tuple[int, ...]]:
    with open(HAIL_TSV) as fh:
        rows = csv.DictReader((line for line in fh if not line.startswith("#")), delimiter="\t")
        return {
            (r["chrom"], int(r["pos"]), r["ref"], r["alt"]): tuple(int(r[f]) for f in FIELDS) for r in rows
        }


pytestmark = pytest.mark.peer


@pytest.fixture(scope="module")
def gvcf_release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("hail_db")
    load_batch(db, DATA / "gvcf-1kg-chr22" / "manifest.tsv", batch_name="g")
    rid = read_current(db)
    assert rid is not None
    return release_path(db, rid)


def test_an_and_ac_equal_hail_site_by_site(gvcf_release: Path) -> None:
    hail = _hail()
    t = pq.read_table(gvcf_release / "variants").to_pydict()
    ours = {
        (c, p, r, a): tuple(int(t[f][i]) for f in FIELDS)
        for i, (c, p, r, a) in enumerate(zip(t["chrom"], t["pos"], t["ref"], t["alt"], strict=True))
    }
    carried = {k for k, v in hail.items() if v[2] > 0}
    assert len(carried) > 500, "too few variants for the comparison to mean anything"
    assert ours.keys() == carried, (
        f"only Hail: {sorted(carried - ours.keys())[:5]}, only ours: {sorted(ours.keys() - carried)[:5]}"
    )
    diffs = [f"{k}: ours {ours[k]} hail {hail[k]}" for k in sorted(carried) if ours[k] != hail[k]]
    assert not diffs, f"{len(diffs)} of {len(carried)} differ ({FIELDS}):\n" + "\n".join(diffs[:10])
    # Not a trivial agreement: adj and raw differ at many sites, and AN is not constant.
    assert sum(v[1] != v[3] for v in hail.values()) > 100
    assert len({v[1] for v in hail.values()}) > 20


def test_an_track_equals_hail_where_no_sample_carries_the_allele(gvcf_release: Path) -> None:
    hail = _hail()
    uncarried = {k: v for k, v in hail.items() if v[2] == 0}
    assert uncarried, "the Hail table should list some alleles nobody carries"
    index = ReleaseIndex.open(gvcf_release)
    try:
        for (chrom, pos, ref, alt), (_, an, _, an_raw) in uncarried.items():
            got = index.an_at(chrom, pos)
            assert got is not None
            assert (got["an"], got["an_raw"]) == (an, an_raw), f"{chrom}:{pos} {ref}>{alt}"
    finally:
        index.close()
