"""Property tests: on random small cohorts every count invariant holds, and AC/AN agree with bcftools.

Inputs mix half-calls (``./1``, ``1/.``, ``0/.``), records without an ALT,
split and unsplit multi-allelic sites, no-calls, haploid calls (chrX for XY
samples, chrY), calls of the wrong ploidy, both sexes and unknown sex, adj
passes and failures, and a trio. Each cohort is loaded twice, as one
multi-sample VCF (the vectorized reader) and as one VCF per sample (the
one-sample reader): both releases must be equal, and every invariant of
:func:`variantdb.release.aggregate.check_counts` must hold.

bcftools (when on the PATH): ``+setGT -t ./x -n .`` (a half-call is a no-call),
for adj also ``+setGT -t q -n . -i 'GQ<20 | DP<10'``, then ``norm -m -any`` and
``+fill-tags`` over the founders. Its AC and AN are per record, ours per
position (a no-call in any record at a position takes the sample out of every
allele there), so sites where some sample's records at one position disagree
(called in one, no-call in another) are left out of that comparison; so are
sites with a genotype of the wrong ploidy, which the loader sets to no-call.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.vcfdata import write_manifest, write_vcf
from variantdb.genome import ploidy
from variantdb.load import load_batch
from variantdb.release.aggregate import check_an_track, check_counts
from variantdb.release.files import read_current

CONTIGS = {"chr1": 248956422, "chrX": 156040895, "chrY": 57227415}
SITES = [("chr1", 1000), ("chr1", 2000), ("chr1", 3000), ("chrX", 5_000_000), ("chrY", 3_000_000)]
ALTS = "CGT"


@dataclass
class Record:
    chrom: str
    pos: int
    alts: list[str]  # empty: ALT .
    gts: list[str]
    gq: list[int]
    dp: list[int]

    def line(self, cols: list[int] | None = None) -> str:
        cols = list(range(len(self.gts))) if cols is None else cols
        alt = ",".join(self.alts) or "."
        calls = " ".join(f"{self.gts[i]}:{self.gq[i]}:{self.dp[i]}" for i in cols)
        return f"{self.chrom} {self.pos} . A {alt} 50 PASS . GT:GQ:DP {calls}"


def _gt(draw: st.DrawFn, n_alts: int, expected: int) -> str:
    """A genotype of the expected ploidy mostly, sometimes of the other one; alleles may be missing."""
    n = expected if expected > 0 and draw(st.integers(0, 5)) else draw(st.sampled_from([1, 2]))
    alleles = [draw(st.sampled_from([".", *map(str, range(n_alts + 1))])) for _ in range(n)]
    return "/".join(alleles)


@st.composite
def cohorts(draw: st.DrawFn) -> tuple[list[str], list[Record], bool]:
    sexes = draw(st.lists(st.sampled_from(["XX", "XY", "unknown"]), min_size=1, max_size=4))
    trio = len(sexes) >= 3 and draw(st.booleans())
    records: list[Record] = []
    for chrom, pos in SITES:
        kind = draw(st.sampled_from(["biallelic", "unsplit", "split", "no alt", "absent"]))
        if kind == "absent":
            continue
        exp = [ploidy(s, chrom, pos) for s in sexes]
        groups = {
            "biallelic": [ALTS[:1]],
            "unsplit": [ALTS[:2]],
            "split": [ALTS[:1], ALTS[1:2]],
            "no alt": [""],
        }
        for alts in groups[kind]:
            alt_list = list(alts)
            records.append(
                Record(
                    chrom,
                    pos,
                    alt_list,
                    [_gt(draw, len(alt_list), e) for e in exp],
                    [draw(st.sampled_from([5, 30, 60])) for _ in sexes],
                    [draw(st.sampled_from([5, 20])) for _ in sexes],
                )
            )
    return sexes, records, trio


def _load(folder: Path, sexes: list[str], records: list[Record], trio: bool, per_sample: bool) -> Path:
    names = [f"S{i}" for i in range(len(sexes))]
    folder.mkdir(parents=True)
    rows = []
    for i, (name, sex) in enumerate(zip(names, sexes, strict=True)):
        row = {"sample_id": name, "sex": sex, "family_id": "", "father_id": "", "mother_id": ""}
        if trio and i < 3:
            row["family_id"] = "fam"
            if i == 2:
                row |= {"father_id": names[0], "mother_id": names[1]}
        row["vcf"] = f"{name}.vcf.gz" if per_sample else "all.vcf.gz"
        rows.append(row)
    if per_sample:
        for i, name in enumerate(names):
            write_vcf(folder / f"{name}.vcf.gz", [name], [r.line([i]) for r in records], CONTIGS)
    else:
        write_vcf(folder / "all.vcf.gz", names, [r.line() for r in records], CONTIGS)
    db = folder / "db"
    load_batch(db, write_manifest(folder / "m.tsv", rows), workers=1)
    return db


def _tables(db: Path) -> tuple[pa.Table, pa.Table]:
    rid = read_current(db)
    assert rid is not None
    root = db / "releases" / rid
    files = sorted((root / "variants").glob("*.parquet"))
    variants = pa.concat_tables([pq.read_table(f) for f in files]) if files else None
    return variants, pq.read_table(root / "an.parquet")  # type: ignore[return-value]


def _an_at(track: pa.Table, chrom: str, pos: int, col: str) -> int:
    for t in track.to_pylist():
        if t["chrom"] == chrom and t["start"] <= pos <= t["end"]:
            return int(t[col])
    raise AssertionError((chrom, pos))


def _status(gt: str, gq: int, dp: int, adj: bool) -> bool:
    """Whether a genotype counts (no allele missing; for adj, GQ and DP pass)."""
    called = "." not in gt.split("/")
    return called and (not adj or (gq >= 20 and dp >= 10))


def _comparable(records: list[Record], sexes: list[str], adj: bool) -> set[tuple[str, int]]:
    """Positions where bcftools' per-record counts and the per-position rule must agree."""
    out = set()
    for chrom, pos in {(r.chrom, r.pos) for r in records}:
        here = [r for r in records if (r.chrom, r.pos) == (chrom, pos)]
        ok = True
        for i, sex in enumerate(sexes):
            exp = ploidy(sex, chrom, pos)
            states = {_status(r.gts[i], r.gq[i], r.dp[i], adj) for r in here}
            n = {len(r.gts[i].split("/")) for r in here}
            if len(states) > 1 or (exp > 0 and n != {exp}) or (exp == 0 and any(s for s in states)):
                ok = False
        if ok:
            out.add((chrom, pos))
    return out


def _bcftools(*args: str | Path) -> str:
    proc = subprocess.run(["bcftools", *map(str, args)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _peer(
    vcf: Path, founders: list[str], adj: bool, tmp: Path
) -> dict[tuple[str, int, str], tuple[int, int]]:
    """``(chrom, pos, alt) -> (AC, AN)`` from bcftools over the founders (alt "." for ALT-less records)."""
    tag = "adj" if adj else "raw"
    half = tmp / f"{tag}-half.bcf"
    _bcftools("+setGT", "-Ob", "-o", half, vcf, "--", "-t", "./x", "-n", ".")
    src = half
    if adj:
        src = tmp / f"{tag}-q.bcf"
        _bcftools("+setGT", "-Ob", "-o", src, half, "--", "-t", "q", "-n", ".", "-i", "FMT/GQ<20 | FMT/DP<10")
    normed = tmp / f"{tag}-norm.bcf"
    _bcftools("norm", "-m", "-any", "-Ob", "-o", normed, src)
    sub = tmp / f"{tag}-sub.bcf"
    _bcftools("view", "-s", ",".join(founders), "-Ob", "-o", sub, normed)
    tagged = tmp / f"{tag}-tagged.bcf"
    _bcftools("+fill-tags", "-Ob", "-o", tagged, sub, "--", "-t", "AC,AN")
    out = {}
    for line in _bcftools("query", "-f", "%CHROM\t%POS\t%ALT\t%AC\t%AN\n", tagged).splitlines():
        chrom, pos, alt, ac, an = line.split("\t")
        out[(chrom, int(pos), alt)] = (0 if ac == "." else int(ac), int(an))
    return out


@settings(
    max_examples=15,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(cohort=cohorts())
def test_invariants_hold_and_both_readers_agree_with_bcftools(
    tmp_path_factory: pytest.TempPathFactory, cohort
) -> None:  # type: ignore[no-untyped-def]
    sexes, records, trio = cohort
    tmp = tmp_path_factory.mktemp("prop")
    if not records:
        return
    multi = _load(tmp / "multi", sexes, records, trio, per_sample=False)
    single = _load(tmp / "single", sexes, records, trio, per_sample=True)
    variants, track = _tables(multi)
    variants_1, track_1 = _tables(single)
    assert check_an_track(track) == []
    if variants is not None:
        assert check_counts(variants) == []
        assert variants_1 is not None and variants.equals(variants_1)
    else:
        assert variants_1 is None
    assert track.equals(track_1)

    if shutil.which("bcftools") is None:
        return
    names = [f"S{i}" for i in range(len(sexes))]
    founders = names[:2] + names[3:] if trio else names
    vcf = tmp / "multi" / "all.vcf.gz"
    ours = {} if variants is None else {(r["chrom"], r["pos"], r["alt"]): r for r in variants.to_pylist()}
    for adj, suffix in ((False, "_raw"), (True, "")):
        peer = _peer(vcf, founders, adj, tmp)
        keep = _comparable(records, sexes, adj)
        for (chrom, pos, alt), (ac, an) in peer.items():
            if (chrom, pos) not in keep:
                continue
            assert _an_at(track, chrom, pos, f"an{suffix}") == an, (chrom, pos, alt, suffix)
            if alt != ".":
                row = ours.get((chrom, pos, alt))
                assert (0 if row is None else row[f"ac{suffix}"]) == ac, (chrom, pos, alt, suffix)
