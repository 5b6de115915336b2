"""The coverage track: samples with a confident call per position and technology.

Inline expected tables for the sweep, the AN track as an invariant (on diploid
contigs ``an_all`` is twice ``n_covered``), and bcftools' ``NS`` (samples with
data) per technology on a cohort of WGS, exome and panel samples as the peer.
"""

from __future__ import annotations

import glob
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.cohort import generate_cohort
from tests.capture_data import _capture_by_thirds, _write_beds
from tests.peers import _bcftools, _peer_plain
from variantdb.genome import CONTIG_LENGTHS
from variantdb.load import load_batch
from variantdb.release.coverage import COVERAGE_FILE, CoverageTrack, compute_coverage_track, coverage_schema
from variantdb.release.files import read_current, read_release_meta
from variantdb.release.meta import ReleaseMeta
from variantdb.schema import GAPS_SCHEMA
from variantdb.store.layout import release_path

DATA = Path(__file__).parent / "data"


def _covered(meta: ReleaseMeta) -> dict[str, int]:
    """Return the samples per technology a release's coverage entry records."""
    assert meta.coverage is not None
    return meta.coverage.n_samples


def _samples() -> pa.Table:
    return pa.table(
        {
            "sample_idx": pa.array([0, 1, 2], pa.int32()),
            "sex": ["XX", "XY", "unknown"],
            "technology": ["WGS", "WES", "panel"],
        }
    )


def _gaps(rows: list[tuple[int, str, int, int, bool]]) -> pa.Table:
    cols = list(zip(*rows, strict=True)) if rows else [[], [], [], [], []]
    return pa.Table.from_arrays(
        [pa.array(c, f.type) for c, f in zip(cols, GAPS_SCHEMA, strict=True)], schema=GAPS_SCHEMA
    )


def test_coverage_track_inline() -> None:
    gaps = _gaps(
        [
            (0, "chr22", 100, 199, True),
            (0, "chr22", 150, 250, False),  # overlaps the raw gap: the sample is out once
            (1, "chr22", 200, 300, True),
            (7, "chr22", 1, 1000, True),  # not in the release: ignored
        ]
    )
    got = compute_coverage_track("chr22", gaps, _samples())
    n = CONTIG_LENGTHS["chr22"]
    expected = pa.table(
        {
            "chrom": ["chr22"] * 5,
            "start": pa.array([1, 100, 200, 251, 301], pa.int32()),
            "end": pa.array([99, 199, 250, 300, n], pa.int32()),
            "n_covered": pa.array([3, 2, 1, 2, 3], pa.int32()),
            "n_covered_wgs": pa.array([1, 0, 0, 1, 1], pa.int32()),
            "n_covered_wes": pa.array([1, 1, 0, 0, 1], pa.int32()),
            "n_covered_panel": pa.array([1, 1, 1, 1, 1], pa.int32()),
        },
        schema=coverage_schema(),
    )
    assert got.equals(expected), got.to_pylist()


def test_coverage_follows_ploidy_on_chry() -> None:
    got = compute_coverage_track("chrY", _gaps([(1, "chrY", 3_000_000, 3_000_009, True)]), _samples())
    # Only the XY sample carries chrY outside its PARs (which are counted on chrX).
    by_pos = {r["start"]: r for r in got.to_pylist()}
    par1 = next(r for r in got.to_pylist() if r["start"] <= 100_000 <= r["end"])
    assert par1["n_covered"] == 0
    inside = next(r for r in got.to_pylist() if r["start"] <= 2_900_000 <= r["end"])
    assert (inside["n_covered"], inside["n_covered_wes"]) == (1, 1)
    assert by_pos[3_000_000]["n_covered"] == 0 and by_pos[3_000_000]["end"] == 3_000_009


@pytest.fixture(scope="module")
def gvcf_release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("cov_db")
    load_batch(db, DATA / "gvcf-1kg-chr22" / "manifest.tsv", batch_name="g")
    return release_path(db, read_current(db) or "")


def test_coverage_is_half_of_an_all_on_a_diploid_contig(gvcf_release: Path) -> None:
    cov = pq.read_table(gvcf_release / COVERAGE_FILE).to_pydict()
    an = pq.read_table(gvcf_release / "an.parquet").to_pydict()
    track = CoverageTrack(
        gvcf_release,
        _covered(read_release_meta(gvcf_release.parent.parent, gvcf_release.name)),
    )
    starts = sorted(
        {s for c, s in zip(cov["chrom"], cov["start"], strict=True) if c == "chr22"}
        | {s for c, s in zip(an["chrom"], an["start"], strict=True) if c == "chr22"}
    )
    assert len(starts) > 500
    an_starts = np.array([s for c, s in zip(an["chrom"], an["start"], strict=True) if c == "chr22"])
    an_all = np.array([v for c, v in zip(an["chrom"], an["an_all"], strict=True) if c == "chr22"])
    for pos in starts:
        got = track.at("chr22", pos)
        assert got is not None
        assert an_all[np.searchsorted(an_starts, pos, side="right") - 1] == 2 * got["all"], pos
    assert max(track.at("chr22", p)["all"] for p in starts) > 20  # type: ignore[index]


def test_summary_and_segments(gvcf_release: Path) -> None:
    track = CoverageTrack(gvcf_release, {"all": 50, "WGS": 50, "WES": 0, "panel": 0})
    t = pq.read_table(gvcf_release / COVERAGE_FILE).to_pylist()
    rows = [r for r in t if r["chrom"] == "chr22" and r["end"] >= 10_600_000 and r["start"] <= 10_700_000]
    start, end = 10_600_000, 10_700_000
    widths = [min(r["end"], end) - max(r["start"], start) + 1 for r in rows]
    mean = sum(w * r["n_covered"] for w, r in zip(widths, rows, strict=True)) / (end - start + 1)
    at_least = sum(w for w, r in zip(widths, rows, strict=True) if r["n_covered"] >= 10) / (end - start + 1)
    every = sum(w for w, r in zip(widths, rows, strict=True) if r["n_covered"] == 50) / (end - start + 1)
    s_all, s_wgs, s_wes, _ = track.summary("chr22", start, end, min_samples=10)
    assert s_all.technology == "all" and s_all.mean == pytest.approx(mean)
    assert s_all.fraction_at_least == pytest.approx(at_least) and 0 < at_least < 1
    assert s_all.fraction_all == pytest.approx(every)
    assert (s_all.min, s_all.max) == (min(r["n_covered"] for r in rows), max(r["n_covered"] for r in rows))
    assert s_wgs.mean == s_all.mean and s_wes.mean == 0 and s_wes.fraction_all == 0
    total, page = track.segments("chr22", start, end, offset=2, limit=3)
    assert total == len(rows) and len(page) == 3
    assert page[0]["start"] == rows[2]["start"] and page[0]["covered"]["all"] == rows[2]["n_covered"]
    first = track.segments("chr22", start, end, 0, 1)[1][0]
    assert first["start"] == start  # clipped to the region


# --------------------------------------------------------------------------- against bcftools


def _ns_by_pos(
    vcf: Path, samples: list[str], bed: Path | None, tmp: Path, tag: str
) -> dict[tuple[str, int], int]:
    """bcftools' NS (samples with a GT) per position over ``samples``, records inside ``bed`` only."""
    src = vcf
    if bed is not None:
        src = tmp / f"ns-{tag}.bcf"
        _bcftools("view", "-T", bed, "-Ob", "-o", src, vcf)
    sub = tmp / f"ns-{tag}-sub.bcf"
    _bcftools("view", "-s", ",".join(samples), "-Ob", "-o", sub, src)
    text = _bcftools("+fill-tags", sub, "--", "-t", "NS")
    out: dict[tuple[str, int], int] = {}
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        f = line.split("\t")
        ns = next(int(x[3:]) for x in f[7].split(";") if x.startswith("NS="))
        out[(f[0], int(f[1]))] = max(out.get((f[0], int(f[1])), 0), ns)
    return out


def test_coverage_equals_bcftools_ns_per_technology(tmp_path: Path) -> None:
    manifest = generate_cohort(tmp_path / "cohort", 15, 300, 43, layout="single", trio_fraction=0.3)
    ref = tmp_path / "cohort" / "ref.fa"
    work = tmp_path / "peer"
    work.mkdir()
    peer_adj = _peer_plain(manifest, ref, work, adj=True)
    exome, panel = _write_beds(peer_adj, tmp_path / "cohort")
    ids, tech = _capture_by_thirds(manifest)
    db = tmp_path / "db"
    load_batch(db, manifest, reference=ref, batch_name="b1")
    rel = release_path(db, read_current(db) or "")
    track = CoverageTrack(rel, _covered(read_release_meta(db, rel.name)))
    # bcftools reads the panel BED's plain contig names as written; give it chr names.
    panel_chr = work / "panel-chr.bed"
    panel_chr.write_text("".join(f"chr{x}\n" for x in panel.read_text().splitlines() if x))
    exome_plain = work / "exome.bed"
    exome_plain.write_text(
        "".join(f"{x}\n" for x in exome.read_text().splitlines() if not x.startswith("track"))
    )
    groups = {"WGS": None, "WES": exome_plain, "panel": panel_chr}
    ns = {
        t: _ns_by_pos(peer_adj, [s for s in ids if tech.get(s, ("WGS", ""))[0] == t], bed, work, t)
        for t, bed in groups.items()
    }
    positions = sorted({k for d in ns.values() for k in d if k[0] not in ("chrX", "chrY", "chrM")})
    assert len(positions) > 100
    diffs = []
    for chrom, pos in positions:
        got = track.at(chrom, pos)
        assert got is not None
        want = {t: ns[t].get((chrom, pos), 0) for t in groups}
        if {t: got[t] for t in groups} != want or got["all"] != sum(want.values()):
            diffs.append(f"{chrom}:{pos} ours {got} bcftools {want}")
    assert not diffs, f"{len(diffs)} of {len(positions)} positions differ:\n" + "\n".join(diffs[:10])
    assert sum(ns["WES"].values()) > 0 and sum(ns["panel"].values()) > 0
    assert glob.glob(str(rel / COVERAGE_FILE))


# --------------------------------------------------------------------------- property: equals a brute-force count

_gap = st.tuples(st.integers(0, 3), st.integers(1, 16_569), st.integers(0, 300), st.booleans())


@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(
    st.lists(_gap, max_size=12), st.lists(st.sampled_from(["WGS", "WES", "panel"]), min_size=4, max_size=4)
)
def test_coverage_track_equals_brute_force_on_chrm(
    gaps: list[tuple[int, int, int, bool]], techs: list[str]
) -> None:
    length = CONTIG_LENGTHS["chrM"]
    samples = pa.table(
        {
            "sample_idx": pa.array([0, 1, 2, 3], pa.int32()),
            "sex": ["XX", "XY", "unknown", "XY"],
            "technology": techs,
        }
    )
    rows = [(s, "chrM", a, min(a + w, length), raw) for s, a, w, raw in gaps]
    got = compute_coverage_track("chrM", _gaps(rows), samples)
    covered = np.ones((4, length + 1), dtype=bool)  # chrM: ploidy 1 whatever the sex
    for s, _, a, b, _ in rows:
        covered[s, a : b + 1] = False
    expected = covered[:, 1:].sum(axis=0)
    by_tech = {
        t: covered[[i for i in range(4) if techs[i] == t], 1:].sum(axis=0) for t in ("WGS", "WES", "panel")
    }
    starts = got.column("start").to_numpy()
    ends = got.column("end").to_numpy()
    assert starts[0] == 1 and ends[-1] == length and (starts[1:] == ends[:-1] + 1).all()
    expanded = np.repeat(got.column("n_covered").to_numpy(), ends - starts + 1)
    assert (expanded == expected).all()
    for t, col in (("WGS", "n_covered_wgs"), ("WES", "n_covered_wes"), ("panel", "n_covered_panel")):
        assert (np.repeat(got.column(col).to_numpy(), ends - starts + 1) == by_tech[t]).all()
    # Merged: no two neighbours carry the same counts.
    values = np.stack([got.column(c).to_numpy() for c in got.column_names[3:]], axis=1)
    assert not (values[1:] == values[:-1]).all(axis=1).any()
