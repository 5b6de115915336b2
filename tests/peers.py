"""Helpers shared by several test files (moved from test_peer_bcftools.py); no tests here."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from variantdb.genome import canonical_contig, is_par, ploidy_segments
from variantdb.manifest import read_manifest
from variantdb.release.files import read_current
from variantdb.settings import get_settings
from variantdb.store.layout import release_path

Key = tuple[str, int, str, str]


Counts = dict[Key, tuple[int, int, int, int]]  # ac, an, homozygote_count, hemizygote_count


_FIELDS = ("ac", "an", "homozygote_count", "hemizygote_count")


_SEX_LETTER = {"XX": "F", "XY": "M", "unknown": "U"}


def _bcftools(*args: str | Path) -> str:
    """Run bcftools and return its stdout; fail the test with its stderr."""
    if shutil.which("bcftools") is None:
        pytest.skip("bcftools is not on the PATH (Debian: apt-get install bcftools tabix)")
    proc = subprocess.run(["bcftools", *map(str, args)], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.fail(f"bcftools {' '.join(map(str, args))} failed:\n{proc.stderr}")
    return proc.stdout


def _adj_expr(gvcf: bool, max_alts: int = 9) -> str:
    """The adj thresholds as a bcftools expression selecting genotypes that FAIL them."""
    s = get_settings()  # the thresholds the loader reads, overrides included
    if gvcf:
        # Reference blocks are judged on MIN_DP, variant records on DP.
        dp = f'(FMT/MIN_DP!="." & FMT/MIN_DP<{s.adj_min_dp}) | (FMT/MIN_DP="." & FMT/DP<{s.adj_min_dp})'
    else:
        dp = f"FMT/DP<{s.adj_min_dp}"
    ab = " | ".join(f'(GT~"{k}" & FMT/AD[:{k}]/FMT/DP<{s.adj_min_ab})' for k in range(1, max_alts + 1))
    return f'FMT/GQ<{s.adj_min_gq} | {dp} | (GT="het" & ({ab}))'


def _ploidy_files(tmp: Path, manifest: Path) -> tuple[Path, Path]:
    """Write +fixploidy's sex file (from the manifest) and ploidy file (from variantdb.genome)."""
    sexes = tmp / "sexes.txt"
    sexes.write_text("".join(f"{r.sample_id}\t{_SEX_LETTER[r.sex]}\n" for r in read_manifest(manifest)))
    lines = []
    aliases = {"chrX": ("chrX", "X"), "chrY": ("chrY", "Y"), "chrM": ("chrM", "MT", "M")}
    for chrom, names in aliases.items():
        for start, end, by_sex in ploidy_segments(chrom):
            for sex, letter in _SEX_LETTER.items():
                lines += [f"{name}\t{start}\t{end}\t{letter}\t{by_sex[sex]}\n" for name in names]
    lines += [f"*\t*\t*\t{letter}\t2\n" for letter in _SEX_LETTER.values()]
    ploidy = tmp / "ploidy.txt"
    ploidy.write_text("".join(lines))
    return sexes, ploidy


def _fill_tags_counts(vcf: Path, samples: list[str], tmp: Path) -> Counts:
    """AC, AN, AC_Hom / 2, AC_Hemi per biallelic record, over ``samples``."""
    if not samples:
        return {}
    sub = tmp / f"sub-{len(samples)}-{vcf.name}"
    _bcftools("view", "-s", ",".join(samples), "-Ob", "-o", sub, vcf)
    tagged = tmp / f"tagged-{sub.name}"
    _bcftools("+fill-tags", "-Ob", "-o", tagged, sub, "--", "-t", "AC,AN,AC_Hom,AC_Hemi")
    out: Counts = {}
    text = _bcftools("query", "-f", "%CHROM\t%POS\t%REF\t%ALT\t%AC\t%AN\t%AC_Hom\t%AC_Hemi\n", tagged)
    for line in text.splitlines():
        chrom, pos, ref, alt, ac, an, hom, hemi = line.split("\t")
        if alt in ("*", "<NON_REF>", "<*>", "."):
            continue
        key = (canonical_contig(chrom), int(pos), ref, alt)
        assert key not in out, f"bcftools gave {key} twice"
        out[key] = (int(ac), int(an), int(hom) // 2, int(hemi))
    return out


def _peer_counts(vcf: Path, samples: list[str], sexes: dict[str, str], tmp: Path) -> Counts:
    """Counts over ``samples``, leaving out those of ploidy 0 on non-PAR chrX / chrY.

    ``+fixploidy`` (bcftools 1.16) leaves a haploid record untouched when the
    largest ploidy of the region is 1, so it cannot blank the chrY calls of a
    sample of unknown sex; dropping those samples from the count is the same.
    """
    on_x = [s for s in samples if sexes[s] in ("XX", "XY")]
    on_y = [s for s in samples if sexes[s] == "XY"]
    everywhere = _fill_tags_counts(vcf, samples, tmp)
    x_counts = everywhere if on_x == samples else _fill_tags_counts(vcf, on_x, tmp)
    y_counts = everywhere if on_y == samples else _fill_tags_counts(vcf, on_y, tmp)
    out: Counts = {}
    for key, value in everywhere.items():
        chrom, pos = key[0], key[1]
        if chrom == "chrX" and not is_par(chrom, pos):
            value = x_counts[key]
        elif chrom == "chrY" and not is_par(chrom, pos):
            value = y_counts.get(key, (0, 0, 0, 0))
        out[key] = value
    return out


def _release_counts(db: Path, suffix: str) -> Counts:
    """Read the current release's Parquet and return the counts of one group."""
    rid = read_current(db)
    assert rid is not None, "no release was published"
    out: Counts = {}
    for part in sorted((release_path(db, rid) / "variants").glob("*.parquet")):
        t = pq.read_table(part).to_pydict()
        cols = [t[f"{f}{suffix}"] for f in _FIELDS]
        for i, (chrom, pos, ref, alt) in enumerate(
            zip(t["chrom"], t["pos"], t["ref"], t["alt"], strict=True)
        ):
            out[(chrom, pos, ref, alt)] = tuple(int(c[i] or 0) for c in cols)  # type: ignore[assignment]
    return out


def _assert_same(ours: Counts, theirs: Counts, carried: Iterable[Key], label: str) -> None:
    """Equal key sets (bcftools' carried variants) and equal counts, listing the first differences."""
    carried = set(carried)
    missing = sorted(carried - ours.keys())
    extra = sorted(ours.keys() - carried)
    diffs = [
        f"{k}: ours {dict(zip(_FIELDS, ours[k], strict=True))} bcftools {dict(zip(_FIELDS, theirs[k], strict=True))}"
        for k in sorted(carried & ours.keys())
        if ours[k] != theirs[k]
    ]
    problems = []
    if missing:
        problems.append(f"{len(missing)} variants bcftools has but the release lacks, e.g. {missing[:5]}")
    if extra:
        problems.append(f"{len(extra)} variants in the release that bcftools lacks, e.g. {extra[:5]}")
    if diffs:
        problems.append(f"{len(diffs)} of {len(carried)} variants differ, e.g.\n  " + "\n  ".join(diffs[:10]))
    assert not problems, f"[{label}] " + "\n".join(problems)


def _founders(manifest: Path) -> tuple[list[str], list[str]]:
    """Return (all sample ids, founders): founders have no parent present in the manifest."""
    rows = read_manifest(manifest)
    ids = [r.sample_id for r in rows]
    present = set(ids)
    founders = [r.sample_id for r in rows if r.father_id not in present and r.mother_id not in present]
    return ids, founders


def _peer_plain(manifest: Path, ref: Path, tmp: Path, adj: bool) -> Path:
    """bcftools: [+setGT adj] per input -> merge -0 -m all -> norm -m -any -f -> +fixploidy; return the BCF.

    Notes
    -----
    Merging before splitting (not ``norm`` per input, then ``merge -m none``) is
    deliberate. A single-sample VCF lists only the alleles its sample carries;
    its record at a position speaks for every allele there, so a no-call or a
    non-adj call at C>T leaves the sample uncounted for C>A at the same position
    too, as in a multi-sample record. Merged per allele, bcftools would instead
    fill the sample in as reference for C>A (``-0``). The generator writes one
    representation per site, so merging before normalizing joins what it should.
    """
    vcfs = sorted({r.vcf for r in read_manifest(manifest)})
    tag = "adj" if adj else "raw"
    inputs = []
    for i, vcf in enumerate(vcfs):
        src: Path = vcf
        if adj:
            src = tmp / f"{tag}-setgt-{i}.bcf"
            _bcftools("+setGT", "-Ob", "-o", src, vcf, "--", "-t", "q", "-n", ".", "-i", _adj_expr(False))
            _bcftools("index", "-f", src)
        inputs.append(src)
    if len(inputs) == 1:
        merged = inputs[0]
    else:
        listing = tmp / f"{tag}-inputs.txt"
        listing.write_text("".join(f"{p}\n" for p in inputs))
        merged = tmp / f"{tag}-merged.bcf"
        _bcftools("merge", "-0", "-m", "all", "-l", listing, "-Ob", "-o", merged)
    normed = tmp / f"{tag}-norm.bcf"
    _bcftools("norm", "-m", "-any", "-f", ref, "-Ob", "-o", normed, merged)
    fixed = tmp / f"{tag}.bcf"
    _fix_ploidy(normed, fixed, manifest, tmp)
    return fixed


def _fix_ploidy(src: Path, dst: Path, manifest: Path, tmp: Path) -> None:
    """Set every GT's ploidy from the manifest's sexes with ``+fixploidy``.

    First every GT is made diploid (``-f 2``), then cut to the sex's ploidy:
    ``+fixploidy`` only ever lowers ploidy, and ``merge -0`` fills a sample
    absent at a site with a GT as haploid as the record's others (a chrX site
    carried only by XY samples gets ``0`` for XX samples, which must be ``0/0``).
    """
    sexes, ploidy = _ploidy_files(tmp, manifest)
    diploid = tmp / f"diploid-{src.name}"
    _bcftools("+fixploidy", "-Ob", "-o", diploid, src, "--", "-f", "2")
    _bcftools("+fixploidy", "-Ob", "-o", dst, diploid, "--", "-s", sexes, "-p", ploidy)
