"""Cross-checks of the loader against bcftools, variant by variant, equality not closeness.

For each group of the release (``""``: adj founders, ``"_raw"``: raw founders,
``"_all"``: adj, all samples) the same input goes through bcftools:

- plain VCFs: ``+setGT`` (adj only: a genotype failing GQ, DP or allele balance
  becomes a no-call) per input, ``merge -0 -m all`` (a site absent from a
  single-sample VCF is reference), ``norm -m -any -f REF``, ``+fixploidy`` with the
  manifest's sexes (ploidy from sex, as the loader counts it; unknown sex counts
  nothing outside the PARs of X and Y), ``view -s`` founders, then ``+fill-tags``
  for AC, AN, AC_Hom and AC_Hemi;
- gVCFs: ``merge -m all --gvcf FASTA``, ``+setGT`` (MIN_DP for reference
  blocks), ``norm -m -any -f FASTA``, ``+fill-tags``. The real gVCFs carry no
  FASTA: one holding the REF bases they carry, N elsewhere, is enough.

``ac``, ``an``, ``homozygote_count`` (AC_Hom / 2) and ``hemizygote_count``
(AC_Hemi) of every variant must equal bcftools', and the release must hold
exactly the variants bcftools sees carried.

The adj filter runs before ``norm`` on purpose: a het of two alt alleles (1/2)
passes adj only when both alleles' AD/DP reach the threshold (gnomAD's rule),
which bcftools can only judge while both alleles are in the one record.

Also: :func:`variantdb.variant.normalize` equals ``bcftools norm -m -any -f``
on generated repeat indels and on the NA12878 chr21 Platinum calls.
"""

from __future__ import annotations

import gzip
import os
import shutil
from pathlib import Path

import pysam
import pytest

from benchmarks.cohort import generate_cohort
from tests.peers import (
    Key,
    _adj_expr,
    _assert_same,
    _bcftools,
    _fix_ploidy,
    _founders,
    _peer_counts,
    _peer_plain,
    _release_counts,
)
from variantdb.genome import CONTIG_LENGTHS, CONTIGS
from variantdb.load import load_batch
from variantdb.manifest import read_manifest
from variantdb.variant import Reference, normalize

DATA = Path(__file__).parent / "data"
GVCF_DIR = DATA / "gvcf-1kg-chr22"
NA12878 = DATA / "na12878-chr21" / "PG_NA12878_hg38-chr21.vcf.gz"


pytestmark = pytest.mark.peer


def _check_against_bcftools(db: Path, manifest: Path, peer_raw: Path, peer_adj: Path, tmp: Path) -> None:
    ids, founders = _founders(manifest)
    sexes = {r.sample_id: r.sex for r in read_manifest(manifest)}
    all_raw = _peer_counts(peer_raw, ids, sexes, tmp)
    carried = [k for k, v in all_raw.items() if v[0] > 0]
    assert len(carried) > 50, "too few variants for the comparison to mean anything"
    raw_f = _peer_counts(peer_raw, founders, sexes, tmp)
    adj_f = _peer_counts(peer_adj, founders, sexes, tmp)
    adj_all = _peer_counts(peer_adj, ids, sexes, tmp)
    _assert_same(_release_counts(db, "_raw"), raw_f, carried, "raw founders")
    _assert_same(_release_counts(db, ""), adj_f, carried, "adj founders")
    _assert_same(_release_counts(db, "_all"), adj_all, carried, "adj all samples")


def _cross_check_cohort(
    tmp: Path, n_samples: int, n_sites: int, seed: int, layout: str, **kwargs: str | float
) -> None:
    manifest = generate_cohort(
        tmp / "cohort", n_samples, n_sites, seed, layout=layout, trio_fraction=0.3, duo_fraction=0.1,
        unknown_sex_fraction=0.05, **kwargs,  # type: ignore[arg-type]
    )  # fmt: skip
    ref = tmp / "cohort" / "ref.fa"
    db = tmp / "db"
    load_batch(db, manifest, reference=ref, batch_name="b1")
    work = tmp / "peer"
    work.mkdir()
    peer_raw = _peer_plain(manifest, ref, work, adj=False)
    peer_adj = _peer_plain(manifest, ref, work, adj=True)
    _check_against_bcftools(db, manifest, peer_raw, peer_adj, work)


# --------------------------------------------------------------------------- generated cohorts


def test_small_multisample_cohort_equals_bcftools(tmp_path: Path) -> None:
    _cross_check_cohort(tmp_path, n_samples=24, n_sites=400, seed=11, layout="multi")


@pytest.mark.parametrize("seed", [31, 32])
def test_small_single_sample_cohort_equals_bcftools(tmp_path: Path, seed: int) -> None:
    _cross_check_cohort(tmp_path, n_samples=16, n_sites=400, seed=seed, layout="single")


@pytest.mark.parametrize("layout", ["multi", "single"])
def test_plain_contig_names_and_phased_gts_equal_bcftools(tmp_path: Path, layout: str) -> None:
    # 1..22, X, Y, MT in the files; chr1..chrM in the release.
    _cross_check_cohort(tmp_path, 20, 400, 33, layout, contig_style="plain", phased_rate=0.3)


@pytest.mark.slow
def test_multisample_cohort_equals_bcftools(tmp_path: Path) -> None:
    _cross_check_cohort(tmp_path, n_samples=300, n_sites=6000, seed=12, layout="multi")


@pytest.mark.slow
def test_single_sample_vcfs_equal_bcftools_merge(tmp_path: Path) -> None:
    _cross_check_cohort(tmp_path, n_samples=80, n_sites=3000, seed=13, layout="single")


# --------------------------------------------------------------------------- gVCFs


def _peer_gvcf(files: list[Path], fasta: Path, tmp: Path, adj: bool) -> Path:
    """bcftools: merge --gvcf FASTA -> [+setGT adj] -> norm -m -any -f FASTA; return the BCF."""
    tag = "adj" if adj else "raw"
    listing = tmp / "gvcfs.txt"
    listing.write_text("".join(f"{p}\n" for p in files))
    merged = tmp / "merged.bcf"
    if not merged.exists():
        # -m all: an SNV and an indel at one POS become one record, so a sample
        # whose call there is the SNV still has a genotype (ref) for the indel, as
        # it has in the loader (a variant record's POS covers the site).
        _bcftools("merge", "-m", "all", "--gvcf", fasta, "-l", listing, "-Ob", "-o", merged)
    src = merged
    if adj:
        src = tmp / "merged-adj.bcf"
        _bcftools("+setGT", "-Ob", "-o", src, merged, "--", "-t", "q", "-n", ".", "-i", _adj_expr(True))
    out = tmp / f"{tag}.bcf"
    _bcftools("norm", "-m", "-any", "-f", fasta, "-Ob", "-o", out, src)
    return out


def _fasta_from_gvcfs(files: list[Path], out: Path) -> Path:
    """A FASTA holding the REF bases the files carry, N elsewhere (enough for merge --gvcf and norm)."""
    seqs: dict[str, bytearray] = {}
    for path in files:
        with pysam.VariantFile(str(path)) as vf:
            for rec in vf:
                seq = seqs.setdefault(rec.chrom, bytearray())
                end = rec.pos - 1 + len(rec.ref)
                if len(seq) < end + 1000:
                    seq.extend(b"N" * (end + 1000 - len(seq)))
                seq[rec.pos - 1 : end] = rec.ref.upper().encode()
    with open(out, "w") as fh:
        for chrom in sorted(seqs, key=lambda c: CONTIGS.index(c) if c in CONTIGS else 99):
            fh.write(f">{chrom}\n")
            data = seqs[chrom].decode()
            for i in range(0, len(data), 60):
                fh.write(data[i : i + 60] + "\n")
    pysam.faidx(str(out))
    return out


def _gvcf_cross_check(tmp: Path, manifest: Path, files: list[Path], fasta: Path) -> None:
    db = tmp / "db"
    load_batch(db, manifest, reference=fasta, batch_name="gvcf")
    work = tmp / "peer"
    work.mkdir()
    peer_raw = _peer_gvcf(files, fasta, work, adj=False)
    peer_adj = _peer_gvcf(files, fasta, work, adj=True)
    _check_against_bcftools(db, manifest, peer_raw, peer_adj, work)


@pytest.mark.slow
def test_real_gvcfs_equal_bcftools_merge_gvcf(tmp_path: Path) -> None:
    files = sorted(GVCF_DIR.glob("*.g.vcf.gz"))
    assert len(files) == 50
    fasta = _fasta_from_gvcfs(files, tmp_path / "ref.fa")
    manifest = tmp_path / "manifest.tsv"
    rows = ["sample_id\tvcf\tsex"]
    for f in files:
        with pysam.VariantFile(str(f)) as vf:
            (sample,) = list(vf.header.samples)
        rows.append(f"{sample}\t{f}\tunknown")  # chr22 only: sex does not change ploidy
    manifest.write_text("\n".join(rows) + "\n")
    _gvcf_cross_check(tmp_path, manifest, files, fasta)


def test_real_gvcfs_few_samples_equal_bcftools(tmp_path: Path) -> None:
    files = sorted(GVCF_DIR.glob("*.g.vcf.gz"))[:6]
    fasta = _fasta_from_gvcfs(files, tmp_path / "ref.fa")
    manifest = tmp_path / "manifest.tsv"
    rows = ["sample_id\tvcf\tsex"]
    for f in files:
        with pysam.VariantFile(str(f)) as vf:
            (sample,) = list(vf.header.samples)
        rows.append(f"{sample}\t{f}\tunknown")
    manifest.write_text("\n".join(rows) + "\n")
    _gvcf_cross_check(tmp_path, manifest, files, fasta)


@pytest.mark.parametrize(
    ("n_samples", "n_sites", "seed"),
    [pytest.param(40, 1500, 14, marks=pytest.mark.slow), (10, 300, 15)],
    ids=["40x1500", "10x300"],
)
def test_generated_gvcfs_equal_bcftools_merge_gvcf(
    tmp_path: Path, n_samples: int, n_sites: int, seed: int
) -> None:
    manifest = generate_cohort(
        tmp_path / "cohort", n_samples, n_sites, seed, layout="single", gvcf=True, trio_fraction=0.3
    )
    rows = read_manifest(manifest)
    files = [r.vcf for r in rows]
    fasta = tmp_path / "cohort" / "ref.fa"
    db = tmp_path / "db"
    load_batch(db, manifest, reference=fasta, batch_name="gvcf")
    work = tmp_path / "peer"
    work.mkdir()
    peer_raw = _peer_gvcf(files, fasta, work, adj=False)
    peer_adj = _peer_gvcf(files, fasta, work, adj=True)
    fixed = []
    for p in (peer_raw, peer_adj):
        out = p.with_name(f"fixed-{p.name}")
        _fix_ploidy(p, out, manifest, work)
        fixed.append(out)
    _check_against_bcftools(db, manifest, fixed[0], fixed[1], work)


# --------------------------------------------------------------------------- normalization


def _bcftools_norm_keys(vcf: Path, fasta: Path) -> list[Key]:
    text = _bcftools("norm", "-m", "-any", "-f", fasta, vcf)
    out = []
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        chrom, pos, _id, ref, alt = line.split("\t")[:5]
        if alt in ("*", ".") or alt.startswith("<"):
            continue
        out.append((chrom, int(pos), ref, alt))
    return sorted(out)


def _our_norm_keys(vcf: Path, fasta: Path) -> list[Key]:
    reference = Reference(fasta)
    out = []
    with pysam.VariantFile(str(vcf)) as vf:
        for rec in vf:
            for alt in rec.alts or ():
                if alt == "*" or alt.startswith("<"):
                    continue
                v = normalize(rec.chrom, rec.pos, rec.ref, alt, reference)
                out.append((rec.chrom, v.pos, v.ref, v.alt))
    reference.close()
    return sorted(out)


def test_normalize_equals_bcftools_norm_on_generated_repeat_indels(tmp_path: Path) -> None:
    manifest = generate_cohort(tmp_path, 4, 3000, 21, indel_rate=0.6, multiallelic_rate=0.15)
    vcf, fasta = manifest.parent / "vcf" / "cohort.vcf.gz", manifest.parent / "ref.fa"
    theirs, ours = _bcftools_norm_keys(vcf, fasta), _our_norm_keys(vcf, fasta)
    trimmed = set()
    with pysam.VariantFile(str(vcf)) as vf:
        for rec in vf:
            trimmed |= {tuple(normalize(rec.chrom, rec.pos, rec.ref, alt)) for alt in rec.alts or ()}
    moved = set(theirs) - trimmed
    assert len(moved) > 100, "the generator should write many indels that are not left-aligned"
    assert ours == theirs


def test_normalize_equals_bcftools_norm_on_na12878_chr21(tmp_path: Path) -> None:
    # No GRCh38 FASTA ships with the tests: one built from the REF bases the calls
    # carry (N elsewhere) is what both normalizers see, so trimming, splitting and
    # any left shift inside known bases are compared; shifts into N stop both.
    fasta = _fasta_from_gvcfs([NA12878], tmp_path / "chr21.fa")
    ours, theirs = _our_norm_keys(NA12878, fasta), _bcftools_norm_keys(NA12878, fasta)
    assert len(theirs) > 65_000
    assert ours == theirs


def test_test_data_is_bundled() -> None:
    # The cross-checks read only tests/data, never ../shared.
    assert (GVCF_DIR / "LICENSE-hail").exists()
    assert NA12878.exists() and (NA12878.parent / "LICENSE-happy.txt").exists()
    with gzip.open(NA12878, "rt") as fh:
        assert fh.readline().startswith("##fileformat=VCF")
    if os.environ.get("CI"):
        # Elsewhere the cross-checks skip without bcftools; in CI they must run.
        assert shutil.which("bcftools"), "bcftools is needed in CI (apt-get install bcftools)"
    assert CONTIG_LENGTHS["chr21"] == 46709983
