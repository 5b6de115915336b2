"""The synthetic cohort generator: deterministic, valid for bcftools, realistic where the tests rely on it."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pysam
import pytest

from benchmarks.cohort import generate_cohort
from variantdb.genome import is_par
from variantdb.manifest import read_manifest
from variantdb.variant import Reference, normalize


def _run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    if shutil.which(str(args[0])) is None:
        pytest.skip(f"{args[0]} is not on the PATH (Debian: apt-get install bcftools tabix)")
    proc = subprocess.run([str(a) for a in args], capture_output=True, text=True)
    assert proc.returncode == 0, f"{' '.join(map(str, args))}:\n{proc.stderr}"
    return proc


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def multi(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_cohort(tmp_path_factory.mktemp("multi"), 60, 1500, 7)


@pytest.mark.parametrize(
    "kwargs",
    [{"layout": "multi"}, {"layout": "single"}, {"layout": "single", "gvcf": True}],
    ids=["multi", "single", "gvcf"],
)
def test_same_seed_gives_identical_files(tmp_path: Path, kwargs: dict[str, object]) -> None:
    a = generate_cohort(tmp_path / "a", 12, 200, 5, **kwargs)  # type: ignore[arg-type]
    b = generate_cohort(tmp_path / "b", 12, 200, 5, **kwargs)  # type: ignore[arg-type]
    c = generate_cohort(tmp_path / "c", 12, 200, 6, **kwargs)  # type: ignore[arg-type]
    assert _files(a.parent) == _files(b.parent)
    assert _files(a.parent)["manifest.tsv"] == _files(b.parent)["manifest.tsv"]
    assert _files(a.parent) != _files(c.parent)


@pytest.mark.parametrize(
    "kwargs", [{"layout": "multi"}, {"layout": "single"}, {"layout": "single", "gvcf": True}]
)
def test_vcfs_pass_bcftools_view_and_norm(tmp_path: Path, kwargs: dict[str, object]) -> None:
    manifest = generate_cohort(tmp_path, 20, 600, 8, **kwargs)  # type: ignore[arg-type]
    info = json.loads((tmp_path / "cohort.json").read_text())
    vcfs = sorted({r.vcf for r in read_manifest(manifest)})
    records = realigned = 0
    for vcf in vcfs:
        records += len(_run("bcftools", "view", "-H", vcf).stdout.splitlines())
        # -c e: a REF that disagrees with the FASTA is an error, not a warning.
        stats = _run(
            "bcftools",
            "norm",
            "-c",
            "e",
            "-m",
            "-any",
            "-f",
            tmp_path / "ref.fa",
            "-Ou",
            "-o",
            "/dev/null",
            vcf,
        )
        m = re.search(r"total/split/realigned/skipped:\s+(\d+)/(\d+)/(\d+)/(\d+)", stats.stderr)
        assert m, stats.stderr
        assert int(m[4]) == 0
        realigned += int(m[3])
    assert records == info["n_records"]
    if not kwargs.get("gvcf"):  # gVCF indels are written left-aligned, as GATK does
        assert realigned > 10, "some indels are written right-shifted so left-alignment matters"


def test_bcftools_norm_realigns_what_the_generator_shifted(multi: Path) -> None:
    vcf, fasta = multi.parent / "vcf" / "cohort.vcf.gz", multi.parent / "ref.fa"
    text = _run("bcftools", "norm", "-m", "-any", "-f", fasta, vcf).stdout
    normalized = {tuple(line.split("\t")[:5:]) for line in text.splitlines() if not line.startswith("#")}
    ref = Reference(fasta)
    moved = 0
    with pysam.VariantFile(str(vcf)) as vf:
        for rec in vf:
            for alt in rec.alts or ():
                trimmed = normalize(rec.chrom, rec.pos, rec.ref, alt)
                aligned = normalize(rec.chrom, rec.pos, rec.ref, alt, ref)
                assert (aligned.chrom, str(aligned.pos), ".", aligned.ref, aligned.alt) in normalized
                moved += trimmed != aligned
    ref.close()
    assert moved > 20


def test_manifest_is_valid_with_families_regions_and_groups(multi: Path) -> None:
    rows = read_manifest(multi)
    assert len(rows) == 60
    ids = {r.sample_id for r in rows}
    children = [r for r in rows if r.father_id or r.mother_id]
    trios = [r for r in children if r.father_id and r.mother_id]
    assert trios and len(children) > len(trios), "trios and duos"
    for r in children:
        assert {r.father_id, r.mother_id} - {None, ""} <= ids
        assert r.family_id
    assert {r.sex for r in rows} >= {"XX", "XY"}
    assert len({r.region for r in rows}) >= 3
    assert len({r.patient_group for r in rows}) >= 3
    by_id = {r.sample_id: r for r in rows}
    for r in trios:
        assert by_id[r.father_id].sex == "XY" and by_id[r.mother_id].sex == "XX"


def test_genotypes_follow_sex_ploidy_and_inheritance(multi: Path) -> None:
    rows = {r.sample_id: r for r in read_manifest(multi)}
    contigs_seen: Counter[str] = Counter()
    mendel_checked = 0
    with pysam.VariantFile(str(multi.parent / "vcf" / "cohort.vcf.gz")) as vf:
        for rec in vf:
            contigs_seen[rec.chrom] += 1
            par = is_par(rec.chrom, rec.pos)
            for sid, call in rec.samples.items():
                gt = call["GT"]
                sex = rows[sid].sex
                if rec.chrom == "chrM" or (rec.chrom in ("chrX", "chrY") and not par and sex == "XY"):
                    assert len(gt) == 1, (rec.chrom, rec.pos, sid, gt)
                elif rec.chrom == "chrY" and sex == "XX":
                    assert gt in ((None,), (None, None)), "no chrY call for XX"
                elif rec.chrom != "chrY":
                    assert len(gt) == 2
            if rec.chrom.removeprefix("chr").isdigit():
                for sid, r in rows.items():
                    if not (r.father_id and r.mother_id):
                        continue
                    child, dad, mum = (rec.samples[x]["GT"] for x in (sid, r.father_id, r.mother_id))
                    if None in (*child, *dad, *mum):
                        continue
                    a, b = child
                    assert (a in dad and b in mum) or (b in dad and a in mum), (rec.pos, sid, child, dad, mum)
                    mendel_checked += 1
    assert set(contigs_seen) == {"chr1", "chr2", "chr7", "chr22", "chrX", "chrY", "chrM"}
    assert mendel_checked > 1000


def test_spectrum_is_mostly_rare_with_singletons_and_some_common(multi: Path) -> None:
    vcf = multi.parent / "vcf" / "cohort.vcf.gz"
    text = _run("bcftools", "+fill-tags", vcf, "--", "-t", "AC,AN").stdout
    tagged = multi.parent / "tagged.vcf"
    tagged.write_text(text)
    afs, acs = [], []
    for line in _run("bcftools", "query", "-f", "%AC\t%AN\n", tagged).stdout.splitlines():
        ac_text, an = line.split("\t")
        for ac in ac_text.split(","):
            acs.append(int(ac))
            afs.append(int(ac) / max(1, int(an)))
    n = len(acs)
    assert sum(ac == 1 for ac in acs) / n > 0.25, "many singletons"
    assert sum(af < 0.05 for af in afs) / n > 0.5, "most variants rare"
    assert sum(af > 0.2 for af in afs) >= 10, "some common"
    assert sum(ac == 0 for ac in acs) / n < 0.05


def test_quality_fields_fail_adj_at_the_requested_rates(multi: Path) -> None:
    counts: Counter[str] = Counter()
    with pysam.VariantFile(str(multi.parent / "vcf" / "cohort.vcf.gz")) as vf:
        for rec in vf:
            if rec.chrom == "chrY":
                continue  # XX samples have no chrY call at all: not a no-call
            for call in rec.samples.values():
                if None in call["GT"]:
                    counts["nocall"] += 1
                    continue
                counts["called"] += 1
                counts["low_gq"] += call["GQ"] < 20
                counts["low_dp"] += call["DP"] < 10
                assert sum(call["AD"]) == call["DP"]
    called = counts["called"]
    assert 0.03 < counts["low_gq"] / called < 0.05
    assert 0.02 < counts["low_dp"] / called < 0.04
    assert 0.005 < counts["nocall"] / (called + counts["nocall"]) < 0.02


def test_single_sample_vcfs_list_only_carried_alleles(tmp_path: Path) -> None:
    manifest = generate_cohort(tmp_path, 30, 800, 9, layout="single", multiallelic_rate=0.3)
    for r in read_manifest(manifest):
        with pysam.VariantFile(str(r.vcf)) as vf:
            assert list(vf.header.samples) == [r.sample_id]
            for rec in vf:
                gt = rec.samples[r.sample_id]["GT"]
                if None in gt:
                    continue
                assert set(range(1, len(rec.alleles))) <= set(gt), (rec.pos, rec.alleles, gt)


def test_gvcf_blocks_tile_without_overlap_and_merge(tmp_path: Path) -> None:
    manifest = generate_cohort(tmp_path, 8, 400, 10, layout="single", gvcf=True)
    rows = read_manifest(manifest)
    blocks = 0
    for r in rows:
        last_end = 0
        last_chrom = ""
        with pysam.VariantFile(str(r.vcf)) as vf:
            for rec in vf:
                if rec.chrom != last_chrom:
                    last_chrom, last_end = rec.chrom, 0
                assert rec.pos > last_end, f"{r.vcf}: {rec.chrom}:{rec.pos} overlaps the previous record"
                assert rec.alts[-1] == "<NON_REF>"
                if rec.alts == ("<NON_REF>",):
                    blocks += 1
                    assert "MIN_DP" in rec.format
                last_end = rec.stop
    assert blocks > 100
    listing = tmp_path / "list.txt"
    listing.write_text("".join(f"{r.vcf}\n" for r in rows))
    out = _run("bcftools", "merge", "--gvcf", tmp_path / "ref.fa", "-l", listing, "-Ov").stdout
    assert sum(1 for line in out.splitlines() if not line.startswith("#")) > 100


def test_plain_contig_names_and_phased_genotypes(tmp_path: Path) -> None:
    manifest = generate_cohort(tmp_path, 10, 300, 12, contig_style="plain", phased_rate=0.3)
    names = [
        line[1:].strip() for line in (tmp_path / "ref.fa").read_text().splitlines() if line.startswith(">")
    ]
    assert names == ["1", "2", "7", "22", "X", "Y", "MT"]
    vcf = manifest.parent / "vcf" / "cohort.vcf.gz"
    with pysam.VariantFile(str(vcf)) as vf:
        assert "MT" in vf.header.contigs and vf.header.contigs["1"].length == 248956422
        phased = sum(call.phased for rec in vf for call in rec.samples.values())
    assert phased > 100
    _run("bcftools", "norm", "-c", "e", "-f", tmp_path / "ref.fa", "-Ou", "-o", "/dev/null", vcf)
