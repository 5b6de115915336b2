"""Capture BEDs: reading and validation, and exome/panel AN checked against bcftools.

The peer: bcftools' own pipeline for the cohort (``merge -0 -m all``, ``norm``,
``+fixploidy``, as in ``test_peer_bcftools``), then per technology group the
samples' genotypes outside their BED set to missing, i.e. only records inside
the BED kept (``view -T BED``, which tests the record's POS against the 0-based
half-open BED as the loader does), ``+fill-tags`` per group, and the groups'
counts summed. Equality variant by variant, for the raw, adj and all-samples groups.
"""

from __future__ import annotations

import csv
import gzip
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from benchmarks.cohort import generate_cohort
from tests.capture_data import _add_columns, _capture_by_thirds, _write_beds
from tests.peers import (
    Counts,
    _assert_same,
    _bcftools,
    _founders,
    _peer_counts,
    _peer_plain,
    _release_counts,
)
from variantdb.genome import CONTIG_LENGTHS
from variantdb.ingest.capture_regions import CaptureBedError, read_capture_bed
from variantdb.ingest.vcf import LoadError
from variantdb.load import load_batch
from variantdb.manifest import read_manifest
from variantdb.release.files import read_current
from variantdb.release.index import ReleaseIndex
from variantdb.store.layout import release_path

DATA = Path(__file__).parent / "data"
GVCF_DIR = DATA / "gvcf-1kg-chr22"


# --------------------------------------------------------------------------- reading


def test_read_capture_bed_merges_and_converts_to_one_based(tmp_path: Path) -> None:
    bed = tmp_path / "c.bed"
    bed.write_text(
        "track name=exome\n#chrom\tstart\tend\n"
        "chr1\t100\t200\tGENE1\n"
        "1\t150\t250\n"  # overlaps, other alias
        "chr1\t250\t260\n"  # adjacent: merged
        "\n"
        "chr1\t1000\t1001\n"  # one base: 1-based 1001
        "chrX\t0\t10\n"
    )
    regions = read_capture_bed(bed)
    assert regions.starts["chr1"].tolist() == [101, 1001]
    assert regions.ends["chr1"].tolist() == [260, 1001]
    assert regions.starts["chrX"].tolist() == [1] and regions.ends["chrX"].tolist() == [10]
    assert regions.n_intervals == 3
    assert regions.size == 160 + 1 + 10
    pos = np.array([100, 101, 260, 261, 1000, 1001, 1002])
    assert regions.contains("chr1", pos).tolist() == [False, True, True, False, False, True, False]
    assert not regions.contains("chr2", pos).any()
    assert list(regions.complement("chr1")) == [(1, 100), (261, 1000), (1002, CONTIG_LENGTHS["chr1"])]
    assert list(regions.complement("chrX")) == [(11, CONTIG_LENGTHS["chrX"])]
    assert list(regions.complement("chrM")) == [(1, CONTIG_LENGTHS["chrM"])]


def test_read_capture_bed_gzipped(tmp_path: Path) -> None:
    bed = tmp_path / "c.bed.gz"
    with gzip.open(bed, "wt") as fh:
        fh.write("chr22\t10\t20\n")
    regions = read_capture_bed(bed)
    assert regions.starts["chr22"].tolist() == [11] and regions.ends["chr22"].tolist() == [20]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "chrUn_KI270302v1\t1\t10\n",
            "line 1: field chrom 'chrUn_KI270302v1' is not a GRCh38 primary contig",
        ),
        ("chr1\t10\t10\n", "line 1: start 10 >= end 10"),
        ("chr1\t-5\t10\n", "line 1: field start '-5' is not a non-negative integer"),
        ("chr1\t5\t1e3\n", "line 1: field end '1e3' is not a non-negative integer"),
        ("chr1 5 10\n", "line 1: 1 column(s)"),
        ("#h\nchrM\t0\t16570\n", "line 2: field end 16570 is past the end of chrM (16569 in GRCh38)"),
        ("track x\n\n", "no intervals"),
    ],
)
def test_read_capture_bed_errors_name_line_field_value(tmp_path: Path, text: str, expected: str) -> None:
    bed = tmp_path / "bad.bed"
    bed.write_text(text)
    with pytest.raises(CaptureBedError) as err:
        read_capture_bed(bed)
    assert str(bed) in str(err.value)
    assert expected in str(err.value)


def test_read_capture_bed_not_utf8(tmp_path: Path) -> None:
    bed = tmp_path / "bad.bed"
    bed.write_bytes(b"chr1\t1\t10\xff\n")
    with pytest.raises(CaptureBedError, match="not UTF-8"):
        read_capture_bed(bed)


def test_bad_bed_refuses_the_batch_before_reading_genotypes(tmp_path: Path) -> None:
    manifest = generate_cohort(tmp_path / "c", 3, 30, 5, layout="single")
    (tmp_path / "c" / "bad.bed").write_text("chr1\t1\t10\nchr1\tx\t20\n")
    _add_columns(manifest, {r.sample_id: ("WES", "bad.bed") for r in read_manifest(manifest)[:1]})
    with pytest.raises(LoadError, match=r"manifest line 2 .*bad\.bed.*line 2: field start 'x'"):
        load_batch(tmp_path / "db", manifest, batch_name="b")
    assert read_current(tmp_path / "db") is None


# --------------------------------------------------------------------------- against bcftools


def _sum(parts: list[Counts]) -> Counts:
    out: Counts = {}
    for part in parts:
        for k, v in part.items():
            old = out.get(k, (0, 0, 0, 0))
            out[k] = tuple(a + b for a, b in zip(old, v, strict=True))  # type: ignore[assignment]
    return out


def _grouped_counts(
    peer: Path, groups: dict[str, tuple[Path | None, list[str]]], sexes: dict[str, str], tmp: Path, tag: str
) -> Counts:
    parts = []
    for name, (bed, samples) in groups.items():
        if not samples:
            continue
        src = peer
        if bed is not None:
            # bcftools needs the file's contig names (chr1); the panel BED says 1.
            peer_bed = tmp / f"{tag}-{name}.bed"
            lines = [x for x in bed.read_text().splitlines() if not x.startswith("track")]
            peer_bed.write_text("".join((x if x.startswith("chr") else f"chr{x}") + "\n" for x in lines))
            src = tmp / f"{tag}-{name}-targets.bcf"
            _bcftools("view", "-T", peer_bed, "-Ob", "-o", src, peer)
        parts.append(_peer_counts(src, samples, sexes, tmp))
    return _sum(parts)


@pytest.mark.parametrize(("n_samples", "seed"), [(18, 41), pytest.param(45, 42, marks=pytest.mark.slow)])
def test_capture_bed_an_equals_bcftools(tmp_path: Path, n_samples: int, seed: int) -> None:
    manifest = generate_cohort(
        tmp_path / "cohort",
        n_samples,
        400,
        seed,
        layout="single",
        trio_fraction=0.3,
        unknown_sex_fraction=0.05,
    )
    ref = tmp_path / "cohort" / "ref.fa"
    work = tmp_path / "peer"
    work.mkdir()
    peer_raw = _peer_plain(manifest, ref, work, adj=False)
    peer_adj = _peer_plain(manifest, ref, work, adj=True)
    exome, panel = _write_beds(peer_raw, tmp_path / "cohort")
    ids, tech = _capture_by_thirds(manifest)
    db = tmp_path / "db"
    report = load_batch(db, manifest, reference=ref, batch_name="b1")
    assert report.totals()["skipped"].get("calls_outside_capture_bed", 0) > 0

    _, founders = _founders(manifest)
    sexes = {r.sample_id: r.sex for r in read_manifest(manifest)}
    beds = {"WES": exome, "panel": panel, "WGS": None}

    def groups(members: list[str]) -> dict[str, tuple[Path | None, list[str]]]:
        return {t: (beds[t], [s for s in members if tech.get(s, ("WGS", ""))[0] == t]) for t in beds}

    all_raw = _grouped_counts(peer_raw, groups(ids), sexes, work, "carried")
    carried = [k for k, v in all_raw.items() if v[0] > 0]
    assert len(carried) > 50
    _assert_same(
        _release_counts(db, "_raw"),
        _grouped_counts(peer_raw, groups(founders), sexes, work, "rf"),
        carried,
        "raw founders",
    )
    _assert_same(
        _release_counts(db, ""),
        _grouped_counts(peer_adj, groups(founders), sexes, work, "af"),
        carried,
        "adj founders",
    )
    _assert_same(
        _release_counts(db, "_all"),
        _grouped_counts(peer_adj, groups(ids), sexes, work, "aa"),
        carried,
        "adj all",
    )
    # The BEDs changed something: without them the same cohort has more called alleles.
    wgs = _grouped_counts(peer_raw, {"WGS": (None, founders)}, sexes, work, "wgs")
    assert sum(v[1] for v in wgs.values()) > sum(
        v[1] for k, v in _release_counts(db, "_raw").items() if k in wgs
    )


# --------------------------------------------------------------------------- gVCFs: blocks take precedence


def test_gvcf_blocks_take_precedence_over_the_bed(tmp_path: Path) -> None:
    files = sorted(GVCF_DIR.glob("*.g.vcf.gz"))[:4]
    bed = tmp_path / "panel.bed"
    bed.write_text("chr22\t10600000\t10650000\n")
    rows = ["sample_id\tvcf\tsex\ttechnology\tcapture_bed"]
    plain = ["sample_id\tvcf\tsex"]
    for f in files:
        sample = f.name.split(".")[0]
        rows.append(f"{sample}\t{f}\tunknown\tpanel\t{bed}")
        plain.append(f"{sample}\t{f}\tunknown")
    (tmp_path / "with.tsv").write_text("\n".join(rows) + "\n")
    (tmp_path / "without.tsv").write_text("\n".join(plain) + "\n")
    tracks = []
    for name in ("with", "without"):
        db = tmp_path / f"db-{name}"
        load_batch(db, tmp_path / f"{name}.tsv", batch_name="g")
        rel = release_path(db, read_current(db) or "")
        tracks.append(pq.read_table(rel / "an.parquet"))
        idx = ReleaseIndex.open(rel)
        try:
            assert len(idx) > 0
        finally:
            idx.close()
    assert tracks[0].equals(tracks[1])


# --------------------------------------------------------------------------- against afquery


def test_capture_bed_an_equals_afquery(tmp_path: Path) -> None:
    """afquery's technology-aware AN (``create-db --bed-dir``, one BED per technology) gives the same AC and AN.

    afquery leaves a sample out of AN where its technology's BED does not cover the
    position, and out of AC there too (``_compute_eligible`` then ``_variant_stats``
    in afquery 0.6), as the loader does. The cohort keeps to what both read alike:
    no relatives (afquery counts every sample, our ``_raw`` group founders), male
    or female only, SNVs only (afquery does not trim or left-align alleles) and no
    no-calls (afquery counts a single-sample VCF's ``./.`` as reference).
    """
    pytest.importorskip("afquery")
    afquery = Path(sys.executable).with_name("afquery")
    if not afquery.exists():
        pytest.skip("the afquery command is not installed beside this Python")
    manifest = generate_cohort(
        tmp_path / "c", 15, 300, 44, layout="single", trio_fraction=0, duo_fraction=0,
        unknown_sex_fraction=0, nocall_rate=0, indel_rate=0, multiallelic_rate=0,
    )  # fmt: skip
    peer = _peer_plain(manifest, tmp_path / "c" / "ref.fa", _mkdir(tmp_path / "peer"), adj=False)
    exome, panel = _write_beds(peer, tmp_path / "c")
    _capture_by_thirds(manifest)
    load_batch(tmp_path / "db", manifest, batch_name="b")
    ours = {k: (v[0], v[1]) for k, v in _release_counts(tmp_path / "db", "_raw").items()}

    beds = _mkdir(tmp_path / "beds")  # afquery finds <technology>.bed; chr names as in the VCFs
    (beds / "WES.bed").write_text(
        "".join(x + "\n" for x in exome.read_text().splitlines() if not x.startswith("track"))
    )
    (beds / "panel.bed").write_text("".join(f"chr{x}\n" for x in panel.read_text().splitlines() if x))
    afq_manifest = tmp_path / "afq.tsv"
    afq_manifest.write_text(
        "sample_name\tsex\ttech_name\tvcf_path\tphenotype_codes\n"
        + "".join(
            f"{r.sample_id}\t{'male' if r.sex == 'XY' else 'female'}\t{r.technology}\t{r.vcf}\tX\n"
            for r in read_manifest(manifest)
        )
    )
    for args in (
        ["create-db", "--manifest", afq_manifest, "--output-dir", tmp_path / "afqdb", "--genome-build", "GRCh38",
         "--bed-dir", beds, "--threads", "1"],
        ["dump", "--db", tmp_path / "afqdb", "-o", tmp_path / "dump.csv"],
    ):  # fmt: skip
        proc = subprocess.run([str(afquery), *map(str, args)], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
    with open(tmp_path / "dump.csv") as fh:
        theirs = {
            (r["chrom"], int(r["pos"]), r["ref"], r["alt"]): (int(r["AC"]), int(r["AN"]))
            for r in csv.DictReader(fh)
        }
    assert len(theirs) > 100
    assert ours.keys() == theirs.keys()
    diffs = [f"{k}: ours {ours[k]} afquery {theirs[k]}" for k in sorted(ours) if ours[k] != theirs[k]]
    assert not diffs, "\n".join(diffs[:10])
    # The BEDs mattered: AN is not the same everywhere.
    assert len({v[1] for v in theirs.values()}) > 3


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True)
    return path
