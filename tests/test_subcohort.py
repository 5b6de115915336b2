"""Sub-cohorts at query time (variantdb.subcohort): checked against the stored strata and a fresh aggregation.

Three independent references, on a multi-sample VCF cohort and a gVCF cohort (no-call
intervals from reference blocks):

- every stored group and stratum (headline, raw, all, sex, region, patient group) of
  every variant equals the sub-cohort of the same filter;
- any other combination (technology, dates, parents, exclusions) equals the release
  code's own aggregation (``compute_an_track`` + ``aggregate_contig``) run over only
  the matching samples, chosen by a plain-Python predicate written here;
- a real load of only the samples of one region gives the same counts.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from variantdb.genome import CONTIGS
from variantdb.release.aggregate import aggregate_contig, call_files_for, compute_an_track, make_cohort
from variantdb.release.files import read_current
from variantdb.release.index import ReleaseIndex
from variantdb.schema import GAPS_SCHEMA, strata
from variantdb.settings import get_settings
from variantdb.store.layout import release_path
from variantdb.store.registry import Registry
from variantdb.subcohort import SubcohortFilterError, SubcohortIndex, make_filter

_FIELDS = ("ac", "an", "homozygote_count", "hemizygote_count", "n_carriers")


@pytest.fixture(scope="module")
def gvcf_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """40 single-sample gVCFs (reference blocks and gaps); every third sample's technology is WES."""
    from benchmarks.cohort import generate_cohort
    from variantdb.load import load_batch

    work = tmp_path_factory.mktemp("subcohort_gvcf")
    generate_cohort(work / "c", 40, 400, 11, layout="single", gvcf=True)
    manifest = work / "c" / "manifest.tsv"
    with open(manifest) as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    for i, r in enumerate(rows):
        r["technology"] = "WES" if i % 3 == 0 else "WGS"
    with open(manifest, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]), delimiter="\t")
        w.writeheader()
        w.writerows(rows)
    db = work / "db"
    # Small call bins: the carrier table is built bin by bin, across many bins (some indels
    # left-aligned across a bin edge), and must come out the same.
    settings = get_settings(call_bin_size=200)
    load_batch(db, manifest, reference=work / "c" / "ref.fa", batch_name="b1", workers=1, settings=settings)
    assert len(list((db / "calls" / "batch=b1" / "contig=chr1").iterdir())) > 10
    return db


def _interleaved_parts(cohort: Path, n: int, prefix: str) -> list[Path]:
    """Write the cohort's manifest as ``n`` manifests, part ``k`` holding every ``n``-th sample from ``k``."""
    with open(cohort / "manifest.tsv") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    parts = []
    for k in range(n):
        manifest = cohort / f"{prefix}{k}.tsv"
        with open(manifest, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(rows[0]), delimiter="\t")
            w.writeheader()
            w.writerows(rows[k::n])
        parts.append(manifest)
    return parts


@pytest.fixture(scope="module")
def multi_db(gvcf_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The gVCF cohort loaded as three batches (every third sample each, so families span
    batches and children arrive before their parents): a release of three segments, the
    last two published incrementally."""
    from variantdb.load import load_batch

    work = tmp_path_factory.mktemp("subcohort_multi")
    cohort = gvcf_db.parent / "c"
    db = work / "db"
    settings = get_settings(call_bin_size=200)
    for k, manifest in enumerate(_interleaved_parts(cohort, 3, "part")):
        report = load_batch(
            db, manifest, reference=cohort / "ref.fa", batch_name=f"p{k}", workers=1, settings=settings
        )
        assert report.publish == ("incremental" if k else "full: no previous release")
    assert len(SubcohortIndex(_release(db)).segments) == 3
    return db


@pytest.fixture(scope="module", params=["vcf", "gvcf", "multi"])
def db(request: pytest.FixtureRequest) -> Path:
    """The session API database (multi-sample VCF), the gVCF one, and the gVCF one in three batches."""
    name = {"vcf": "api_db", "gvcf": "gvcf_db", "multi": "multi_db"}[request.param]
    path: Path = request.getfixturevalue(name)
    return path


@pytest.fixture(scope="module", params=["gvcf", "multi"])
def gdb(request: pytest.FixtureRequest) -> Path:
    """The gVCF cohort in one batch and in three."""
    path: Path = request.getfixturevalue(f"{request.param}_db")
    return path


def _release(db: Path) -> Path:
    rid = read_current(db)
    assert rid is not None
    return release_path(db, rid)


def _table(rd: Path) -> pa.Table:
    ix = ReleaseIndex.open(rd)
    order = sorted(ix.meta["contig_rows"], key=lambda c: ix.meta["contig_rows"][c][0])
    return pa.concat_tables([pq.read_table(rd / "variants" / f"{c}.parquet") for c in order])


def _all_rows(sc: SubcohortIndex, t: pa.Table, f: Any) -> dict[str, np.ndarray]:
    recs = sc.counts(f, list(range(t.num_rows)), t.column("chrom").to_pylist(), t.column("pos").to_pylist())
    return {k: np.array([r[k] for r in recs]) for k in (*_FIELDS, "n_carrier_families")}


def test_every_stored_group_and_stratum_equals_the_subcohort(db: Path) -> None:
    rd = _release(db)
    sc = SubcohortIndex(rd)
    t = _table(rd)
    assert sc.n_variants == t.num_rows > 100
    cases: list[tuple[Any, str]] = [
        (make_filter(), ""),
        (make_filter(raw=True), "_raw"),
        (make_filter(role=["all"]), "_all"),
    ]
    cases += [(make_filter(**{s.kind: [s.value]}), f"_{s.key}") for s in strata()]
    for f, suffix in cases:
        got = _all_rows(sc, t, f)
        for name in _FIELDS:
            col = name + suffix
            if col in t.column_names:
                np.testing.assert_array_equal(got[name], t.column(col).to_numpy(), err_msg=f"{col} {f}")
    # The release's families are those of its headline carriers (adj founders): the default filter.
    got = _all_rows(sc, t, make_filter())
    np.testing.assert_array_equal(got["n_carrier_families"], t.column("n_carrier_families").to_numpy())
    # Not every figure is trivially zero: the strata split real counts.
    assert got["ac"].sum() > 0 and got["an"].min() >= 0


def test_an_is_the_same_by_point_batch_and_region_and_matches_the_track(db: Path) -> None:
    rd = _release(db)
    sc = SubcohortIndex(rd)
    ix = ReleaseIndex.open(rd)
    rng = np.random.default_rng(3)
    t = _table(rd)
    f = make_filter()
    m = sc.mask(f)
    for chrom in dict.fromkeys(t.column("chrom").to_pylist()):
        pos = np.array(
            [
                p
                for c, p in zip(t.column("chrom").to_pylist(), t.column("pos").to_pylist(), strict=True)
                if c == chrom
            ]
        )
        # Variant positions and positions between them (no variant: AN still defined).
        probe = np.unique(np.concatenate([pos, pos + 1, rng.integers(pos.min(), pos.max() + 2, 50)]))
        track = np.array([ix.an_at(chrom, int(p))["an"] for p in probe])  # type: ignore[index]
        shuffled = rng.permutation(len(probe))
        for method in ("point", "sweep", None):
            together = sc.an_at(m, chrom, probe, method)
            np.testing.assert_array_equal(together, track, err_msg=f"{chrom} {method}")
            np.testing.assert_array_equal(sc.an_at(m, chrom, probe[shuffled], method), track[shuffled])
        one_by_one = np.array([sc.an_at(m, chrom, np.array([p]))[0] for p in probe])
        np.testing.assert_array_equal(one_by_one, track)


def _matches(r: dict[str, Any], founder: bool, parent: bool, f: dict[str, Any]) -> bool:
    """The filter semantics, written out plainly over registry rows."""
    if "sex" in f and r["sex"] not in f["sex"]:
        return False
    if "region" in f and r["region"] not in f["region"]:
        return False
    if "patient_group" in f and r["patient_group"] not in f["patient_group"]:
        return False
    if "exclude_patient_group" in f and r["patient_group"] in f["exclude_patient_group"]:
        return False
    if "technology" in f and r["technology"] not in f["technology"]:
        return False
    role = f.get("role", ["founder"])
    if "all" not in role and not (
        ("founder" in role and founder)
        or ("non_founder" in role and not founder)
        or ("parent" in role and parent)
    ):
        return False
    if "received_from" in f and (
        r["received"] is None or r["received"] < dt.date.fromisoformat(f["received_from"])
    ):
        return False
    return not (
        "received_to" in f
        and (r["received"] is None or r["received"] > dt.date.fromisoformat(f["received_to"]))
    )


def _fresh_aggregation(
    db: Path, keep: list[dict[str, Any]]
) -> dict[tuple[str, int, str, str], dict[str, int]]:
    """Counts of only the kept samples by the release's own aggregation code (group ``_all``: adj, all kept)."""
    # Every kept sample a founder: the group ``_all`` is unchanged by founder flags, and the
    # release's families (those of its founder carriers) are then the families of all kept carriers.
    cohort = make_cohort(pa.Table.from_pylist([{**r, "father_id": None, "mother_id": None} for r in keep]))
    con = duckdb.connect()
    con.register("cohort", cohort.table)
    out: dict[tuple[str, int, str, str], dict[str, int]] = {}
    call_dirs = sorted((db / "calls").iterdir())
    gap_dirs = sorted((db / "gaps").iterdir())
    for chrom in CONTIGS:
        gf = call_files_for(gap_dirs, chrom)
        gaps = pq.ParquetDataset(gf, schema=GAPS_SCHEMA).read() if gf else GAPS_SCHEMA.empty_table()
        track = compute_an_track(chrom, gaps, cohort)
        table = aggregate_contig(con, chrom, call_files_for(call_dirs, chrom), track, cohort)
        for row in table.to_pylist():
            out[(row["chrom"], row["pos"], row["ref"], row["alt"])] = {
                **{k: row[k + "_all"] for k in _FIELDS},
                "n_carrier_families": row["n_carrier_families"],
            }
        out[(chrom, -1, "", "")] = {"track": track}  # type: ignore[dict-item]
    return out


_COMBINATIONS: list[dict[str, Any]] = [
    {"sex": ["XX"], "technology": ["WGS"], "role": ["all"]},
    {"technology": ["WES"], "received_from": "2026-03-01", "role": ["all"]},
    {"region": ["Midtjylland", "Syddanmark"], "received_to": "2026-08-31", "role": ["all"]},
    {"exclude_patient_group": ["Hereditary cancer"], "sex": ["XY"], "role": ["all"]},
    {"role": ["parent"]},
    {"role": ["non_founder"], "sex": ["XX", "XY"]},
]


@pytest.mark.parametrize("spec", _COMBINATIONS, ids=lambda s: ",".join(sorted(s)))
def test_any_combination_equals_a_fresh_aggregation_of_only_its_samples(
    gdb: Path, spec: dict[str, Any]
) -> None:
    gvcf_db = gdb
    rd = _release(gvcf_db)
    sc = SubcohortIndex(rd)
    t = _table(rd)
    with Registry(gvcf_db, read_only=True) as reg:
        rows = reg.samples().to_pylist()
    ids = {r["sample_id"] for r in rows}
    founder = {r["sample_id"]: r["father_id"] not in ids and r["mother_id"] not in ids for r in rows}
    parents = {r[k] for r in rows for k in ("father_id", "mother_id")} & ids
    keep = [r for r in rows if _matches(r, founder[r["sample_id"]], r["sample_id"] in parents, spec)]
    assert 0 < len(keep) < len(rows), spec
    f = make_filter(**spec)
    assert sc.mask(f).n == len(keep)
    expected = _fresh_aggregation(gvcf_db, keep)
    got = _all_rows(sc, t, f)
    keys = list(
        zip(
            t.column("chrom").to_pylist(),
            t.column("pos").to_pylist(),
            t.column("ref").to_pylist(),
            t.column("alt").to_pylist(),
            strict=True,
        )
    )
    n_seen = 0
    for i, k in enumerate(keys):
        exp = expected.get(k)
        if exp is None:  # no kept sample carries it: AC 0, AN from the kept samples' track
            assert got["ac"][i] == 0 and got["n_carriers"][i] == 0, k
            track = expected[(k[0], -1, "", "")]["track"]
            starts = track.column("start").to_numpy()
            seg = np.searchsorted(starts, k[1], side="right") - 1
            assert got["an"][i] == track.column("an_all")[int(seg)].as_py(), k
            continue
        n_seen += 1
        assert {name: int(got[name][i]) for name in (*_FIELDS, "n_carrier_families")} == exp, k
    assert n_seen > 20


def test_a_load_of_only_one_regions_samples_gives_the_same_counts(gvcf_db: Path, tmp_path: Path) -> None:
    from variantdb.load import load_batch

    manifest = next((gvcf_db.parent / "c").glob("manifest.tsv"))
    with open(manifest) as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    region = "Hovedstaden"
    kept_ids = {r["sample_id"] for r in rows if r["region"] == region}
    sub = [r for r in rows if r["sample_id"] in kept_ids]
    assert 3 < len(sub) < len(rows)
    # Parents outside the subset are not in it: blank them so the manifest stays valid.
    for r in sub:
        for k in ("father_id", "mother_id"):
            if r[k] not in kept_ids:
                r[k] = ""
    sub_manifest = manifest.parent / "manifest-one-region.tsv"
    with open(sub_manifest, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]), delimiter="\t")
        w.writeheader()
        w.writerows(sub)
    fresh = tmp_path / "fresh"
    load_batch(fresh, sub_manifest, reference=manifest.parent / "ref.fa", batch_name="sub", workers=1)
    ft = _table(_release(fresh))
    fix = ReleaseIndex.open(_release(fresh))
    sc = SubcohortIndex(_release(gvcf_db))
    t = _table(_release(gvcf_db))
    got = _all_rows(sc, t, make_filter(region=[region], role=["all"]))
    fresh_rows = {(r["chrom"], r["pos"], r["ref"], r["alt"]): r for r in ft.to_pylist()}
    for i, row in enumerate(t.select(["chrom", "pos", "ref", "alt"]).to_pylist()):
        k = (row["chrom"], row["pos"], row["ref"], row["alt"])
        exp = fresh_rows.get(k)
        if exp is None:
            assert got["ac"][i] == 0, k
            assert got["an"][i] == fix.an_at(row["chrom"], row["pos"])["an_all"], k  # type: ignore[index]
        else:
            assert {n: int(got[n][i]) for n in _FIELDS} == {n: exp[n + "_all"] for n in _FIELDS}, k


def test_unknown_values_are_refused_naming_field_and_value() -> None:
    with pytest.raises(SubcohortFilterError, match="region 'Atlantis' is not known") as e:
        make_filter(region=["Atlantis"])
    assert e.value.field == "region"
    with pytest.raises(SubcohortFilterError, match="technology 'nanopore'"):
        make_filter(technology=["nanopore"])
    with pytest.raises(SubcohortFilterError, match="role 'proband'"):
        make_filter(role=["proband"])
    with pytest.raises(SubcohortFilterError, match="received_from '2026-13-01' is not a date"):
        make_filter(received_from="2026-13-01")
    with pytest.raises(SubcohortFilterError, match="before received_from"):
        make_filter(received_from="2026-05-01", received_to="2026-04-01")


def test_values_are_matched_by_name_or_code_in_any_case() -> None:
    a = make_filter(
        region=["midtjylland"], patient_group=["HEREDITARY CANCER"], sex=["xx"], technology=["wes"]
    )
    assert a.region == ("Midtjylland",) and a.sex == ("XX",) and a.technology == ("WES",)
    assert a.patient_group == ("Hereditary cancer",)
    assert make_filter(region=["Midtjylland,Nordjylland"]).region == ("Midtjylland", "Nordjylland")
    assert make_filter(sex=[]) == make_filter()


def test_the_sample_table_holds_no_identifier(db: Path) -> None:
    t = pq.read_table(_release(db) / "subcohort" / "samples.parquet")
    assert set(t.column_names) == {
        "sex",
        "region",
        "patient_group",
        "technology",
        "founder",
        "parent",
        "received",
        "family",
    }
    with Registry(db, read_only=True) as reg:
        ids = set(reg.samples().column("sample_id").to_pylist())
    text = (_release(db) / "subcohort" / "samples.parquet").read_bytes()
    assert not any(i.encode() in text for i in ids)


def test_a_variant_not_in_the_release_has_ac_zero_and_the_an_there(db: Path) -> None:
    rd = _release(db)
    sc = SubcohortIndex(rd)
    ix = ReleaseIndex.open(rd)
    v = ix.variant_at(0)
    rec = sc.counts(make_filter(), [None], [v.chrom], [v.pos])[0]
    assert rec["ac"] == 0 and rec["n_carriers"] == 0 and rec["af"] in (0.0, None)
    assert rec["an"] == ix.an_at(v.chrom, v.pos)["an"]  # type: ignore[index]


def test_call_bins_with_overlapping_spans_are_counted_together(tmp_path: Path) -> None:
    from variantdb.subcohort.segments import _call_groups

    spans = {"bin=0": (5, 15), "bin=1": (12, 30), "bin=2": (40, 50)}
    files = []
    for name, (lo, hi) in spans.items():
        (tmp_path / name).mkdir()
        path = tmp_path / name / "part.parquet"
        pq.write_table(pa.table({"pos": pa.array([lo, hi], pa.int32())}), path)
        files.append(str(path))
    groups = _call_groups(duckdb.connect(), files)
    assert [(lo, hi, len(fs)) for lo, hi, fs in groups] == [(5, 30, 2), (40, 50, 1)]


@pytest.fixture(scope="module")
def capture_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Plain single-sample VCFs where a third of the samples are exomes and a third panels, with capture BEDs."""
    import pysam

    from benchmarks.cohort import generate_cohort
    from variantdb.load import load_batch

    work = tmp_path_factory.mktemp("subcohort_capture")
    manifest = generate_cohort(work / "c", 30, 300, 17, layout="single", trio_fraction=0.3)
    # The FASTA holds the windows the sites are drawn from (N elsewhere): the exome BED takes the
    # first half of every window, the panel BED the middle third (0-based half-open).
    exome, panel = [], []
    with pysam.FastaFile(str(work / "c" / "ref.fa")) as fa:
        for chrom in fa.references:
            seq = np.frombuffer(fa.fetch(chrom).encode(), dtype=np.uint8)
            called = np.flatnonzero(seq != ord("N"))
            if len(called) == 0:
                continue
            breaks = np.flatnonzero(np.diff(called) > 1)
            for lo, hi in zip(
                np.r_[called[0], called[breaks + 1]], np.r_[called[breaks], called[-1]], strict=True
            ):
                exome.append(f"{chrom}\t{lo}\t{lo + (hi - lo) // 2}")
                panel.append(f"{chrom}\t{lo + (hi - lo) // 3}\t{lo + 2 * (hi - lo) // 3}")
    (work / "c" / "exome.bed").write_text("\n".join(exome) + "\n")
    (work / "c" / "panel.bed").write_text("\n".join(panel) + "\n")
    with open(manifest) as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    for i, r in enumerate(rows):
        r["technology"], r["capture_bed"] = [("WGS", ""), ("WES", "exome.bed"), ("panel", "panel.bed")][i % 3]
    with open(manifest, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]), delimiter="\t")
        w.writeheader()
        w.writerows(rows)
    db = work / "db"
    load_batch(db, manifest, reference=work / "c" / "ref.fa", batch_name="b1", workers=1)
    return db


def test_capture_beds_count_in_every_stratum_and_technology(capture_db: Path) -> None:
    rd = _release(capture_db)
    sc = SubcohortIndex(rd)
    t = _table(rd)
    for f, suffix in [
        (make_filter(), ""),
        (make_filter(raw=True), "_raw"),
        (make_filter(role=["all"]), "_all"),
    ]:
        got = _all_rows(sc, t, f)
        for name in _FIELDS:
            np.testing.assert_array_equal(
                got[name], t.column(name + suffix).to_numpy(), err_msg=name + suffix
            )
    with Registry(capture_db, read_only=True) as reg:
        rows = reg.samples().to_pylist()
    ans = {}
    for tech in ("WGS", "WES", "panel"):
        keep = [r for r in rows if r["technology"] == tech]
        expected = _fresh_aggregation(capture_db, keep)
        got = _all_rows(sc, t, make_filter(technology=[tech], role=["all"]))
        keys = t.select(["chrom", "pos", "ref", "alt"]).to_pylist()
        for i, k in enumerate(keys):
            exp = expected.get((k["chrom"], k["pos"], k["ref"], k["alt"]))
            if exp is not None:
                assert {n: int(got[n][i]) for n in _FIELDS} == {n: exp[n] for n in _FIELDS}, (tech, k)
        ans[tech] = int(got["an"].sum())
    # A capture BED leaves its samples out of AN outside it: a panel covers less than an exome, an exome
    # less than a genome (ten samples each).
    assert ans["panel"] < ans["WES"] < ans["WGS"]


def test_allele_hash_is_md5_and_duckdb_agrees() -> None:
    from variantdb.subcohort.segments import _hash_probe, allele_hash

    assert allele_hash("A", "G") == int("e154f54fbba4c72e", 16)  # md5("A>G"), first 8 bytes
    assert _hash_probe(duckdb.connect()) == allele_hash("A", "G")
    con = duckdb.connect()
    alleles = [("A", "G"), ("ACGT", "A"), ("T", "TTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTT"), ("N", "*")]
    got = con.sql(
        "SELECT ('0x' || md5(ref || '>' || alt)[1:16])::UBIGINT AS h FROM (SELECT unnest($1) AS ref,"
        " unnest($2) AS alt)",
        params=[[a for a, _ in alleles], [b for _, b in alleles]],
    ).fetchall()
    assert [int(h) for (h,) in got] == [allele_hash(a, b) for a, b in alleles]


def test_alleles_whose_keys_collide_are_told_apart_by_the_full_hash(tmp_path: Path) -> None:
    """Two insertions at one position whose keys (position + 31 hash bits) are equal, in two
    batches and one: each keeps its own carriers (the lookup steps over equal keys)."""
    from variantdb.load import publish_release
    from variantdb.schema import CALLS_SCHEMA
    from variantdb.subcohort import allele_hash, variant_keys

    a1, a2 = "AAACCTCTTTG", "AAAGCGCTATA"  # found by search: equal top 31 bits of the hash
    h1, h2 = allele_hash("A", a1), allele_hash("A", a2)
    assert (
        h1 != h2
        and variant_keys(0, np.array([1000]), np.array([h1], np.uint64))[0]
        == variant_keys(0, np.array([1000]), np.array([h2], np.uint64))[0]
    )
    samples = pa.table(
        {
            "sample_idx": pa.array(range(4), pa.int32()),
            "sample_id": [f"S{i}" for i in range(4)],
            "batch": ["b0", "b0", "b1", "b1"],
            "vcf": [""] * 4,
            "sex": ["XX", "XY", "XX", "XY"],
            "region": [None] * 4,
            "patient_group": [None] * 4,
            "family_id": [None] * 4,
            "father_id": [None] * 4,
            "mother_id": [None] * 4,
            "technology": ["WGS"] * 4,
            "capture_bed": [None] * 4,
            "consent": ["given"] * 4,
            "received": pa.array([None] * 4, pa.date32()),
            "withdrawn": [False] * 4,
        }
    )
    # (sample, alt, dosage): a1 carried by samples 0, 2 (2 hom); a2 by 1, 2, 3; a third allele by 3.
    calls = [(0, a1, 1), (1, a2, 1), (2, a1, 2), (2, a2, 1), (3, a2, 1), (3, "C", 1)]
    dirs = []
    for b, who in (("b0", (0, 1)), ("b1", (2, 3))):
        part = tmp_path / "calls" / f"batch={b}" / "contig=chr1" / "bin=0"
        part.mkdir(parents=True)
        rows = [c for c in calls if c[0] in who]
        pq.write_table(
            pa.table(
                {
                    "sample_idx": pa.array([r[0] for r in rows], pa.int32()),
                    "chrom": ["chr1"] * len(rows),
                    "pos": pa.array([1000] * len(rows), pa.int32()),
                    "ref": ["A"] * len(rows),
                    "alt": [r[1] for r in rows],
                    "dosage": pa.array([r[2] for r in rows], pa.int8()),
                    "ploidy": pa.array([2] * len(rows), pa.int8()),
                    "adj": [True] * len(rows),
                    "filter_pass": [True] * len(rows),
                    "gq": pa.array([None] * len(rows), pa.int16()),
                    "dp": pa.array([None] * len(rows), pa.int32()),
                    "ad_alt": pa.array([None] * len(rows), pa.int32()),
                },
                schema=CALLS_SCHEMA,
            ),
            part / "part.parquet",
        )
        dirs.append(tmp_path / "calls" / f"batch={b}")
    gaps = [tmp_path / "gaps" / "batch=b0", tmp_path / "gaps" / "batch=b1"]
    publish_release(tmp_path / "db", "r0001", samples, dirs, gaps, ["b0", "b1"], get_settings(), None)
    rd = release_path(tmp_path / "db", "r0001")
    sc = SubcohortIndex(rd)
    assert [s["maxdup"] for s in sc.meta["segments"]] == [2, 2]
    t = _table(rd)
    got = _all_rows(sc, t, make_filter(role=["all"]))
    by_alt = {
        alt: {k: int(v[i]) for k, v in got.items()} for i, alt in enumerate(t.column("alt").to_pylist())
    }
    assert by_alt[a1] == {
        "ac": 3,
        "an": 8,
        "homozygote_count": 1,
        "hemizygote_count": 0,
        "n_carriers": 2,
        "n_carrier_families": 2,
    }
    assert by_alt[a2]["ac"] == 3 and by_alt[a2]["n_carriers"] == 3
    assert by_alt["C"]["ac"] == 1
    for name in _FIELDS:  # and the batch path (several rows at once) agrees with one row at a time
        one = [
            sc.counts(make_filter(role=["all"]), [i], ["chr1"], [1000])[0][name] for i in range(t.num_rows)
        ]
        assert one == list(got[name]), name
        assert one == t.column(name + "_all").to_pylist(), name


def test_merged_segments_equal_one_segment_written_from_all_their_batches(
    multi_db: Path, tmp_path: Path
) -> None:
    """Merging the three batches' segments (in small key ranges) gives the bytes of one segment
    written from the three batches' files at once."""
    from variantdb.subcohort.segments import _merge_segments, _start_output, _write_segment

    rd = _release(multi_db)
    segs = [rd / "subcohort" / s["dir"] for s in SubcohortIndex(rd).meta["segments"]]
    assert len(segs) == 3
    merged = _merge_segments(segs, tmp_path / "merged", chunk=7)
    with Registry(multi_db, read_only=True) as reg:
        samples = reg.samples()
        batches = reg.batch_names()
    con = _start_output(tmp_path / "out", samples, make_cohort(samples), 256)
    try:
        written = _write_segment(
            con,
            tmp_path / "written",
            [multi_db / "calls" / f"batch={b}" for b in batches],
            [multi_db / "gaps" / f"batch={b}" for b in batches],
            make_cohort(samples),
        )
    finally:
        con.close()
    assert merged == written and merged["n_carriers"] > 1000 and merged["n_gaps"]["adj"] > 100
    names = sorted(p.name for p in (tmp_path / "written").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "merged").iterdir())
    for name in names:
        assert (tmp_path / "merged" / name).read_bytes() == (tmp_path / "written" / name).read_bytes(), name


@pytest.mark.slow
def test_segments_are_merged_by_tier_and_incremental_equals_full_rebuild(
    gvcf_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Six batches with fanout 2: the trailing segments of one size tier are merged as batches
    arrive; a full rebuild applies the same merges (identical files) and the counts still equal
    every stored stratum."""
    from tests.release_helpers import assert_same_release, release_digest
    from variantdb.load import load_batch

    monkeypatch.setenv("VARIANTDB_SUBCOHORT_MERGE_FANOUT", "2")
    cohort = gvcf_db.parent / "c"
    parts = _interleaved_parts(cohort, 6, "six")
    inc, full = tmp_path / "inc", tmp_path / "full"
    for k, manifest in enumerate(parts):
        r = load_batch(inc, manifest, reference=cohort / "ref.fa", batch_name=f"s{k}", workers=1)
        assert r.publish == ("incremental" if k else "full: no previous release")
        load_batch(
            full, manifest, reference=cohort / "ref.fa", batch_name=f"s{k}", workers=1, incremental=False
        )
    sc = SubcohortIndex(_release(inc))
    assert sc.meta["merge"] == [2, 1 << 26]
    assert 1 <= len(sc.segments) < 6
    assert_same_release(release_digest(inc), release_digest(full))
    t = _table(_release(inc))
    for f, suffix in [(make_filter(), ""), (make_filter(raw=True), "_raw"), (make_filter(sex=["XX"]), "_XX")]:
        got = _all_rows(sc, t, f)
        for name in _FIELDS:
            if name + suffix in t.column_names:
                np.testing.assert_array_equal(
                    got[name], t.column(name + suffix).to_numpy(), err_msg=name + suffix
                )


def _run_policy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sizes: list[int], fanout: int, max_entries: int
) -> tuple[list[int], list[int]]:
    """Apply the merge policy after each of ``sizes`` (segment weights); return the final weights and the
    entries merged by each publish. The merge itself is summed, not done (it is tested above)."""
    import variantdb.subcohort.segments as sub

    work = [0]

    def fake_merge(srcs: list[Path], dst: Path, chunk: int = 1 << 20) -> dict[str, Any]:
        dst.mkdir(parents=True)
        n = sum(json.loads((s / "segment.json").read_text())["n_carriers"] for s in srcs)
        work[0] += n
        meta = {"n_variants": 1, "n_carriers": n, "n_gaps": {"adj": 0, "raw": 0}, "maxdup": 1}
        (dst / "segment.json").write_text(json.dumps(meta))
        return meta

    monkeypatch.setattr(sub, "_merge_segments", fake_merge)
    segments: list[dict[str, Any]] = []
    merged = []
    for size in sizes:
        rel = sub._segment_dir(len(segments))
        meta = {"n_variants": 1, "n_carriers": size, "n_gaps": {"adj": 0, "raw": 0}, "maxdup": 1}
        (tmp_path / rel).mkdir(parents=True)
        (tmp_path / rel / "segment.json").write_text(json.dumps(meta))
        segments.append({"dir": rel, **meta})
        work[0] = 0
        sub._compact(tmp_path, segments, fanout, max_entries)
        merged.append(work[0])
    return [s["n_carriers"] for s in segments], merged


def test_the_merge_policy_keeps_segments_few_and_each_publish_bounded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Equal batches: segments stay logarithmic (here 40 batches -> 4 segments: 16, 16, 4, 4).
    final, _ = _run_policy(tmp_path / "a", monkeypatch, [100] * 40, 4, 1 << 40)
    assert final == [1600, 1600, 400, 400]
    # Batches that alternate in size still merge (the small ones join the run of the big ones).
    final, _ = _run_policy(tmp_path / "b", monkeypatch, [1000, 10] * 20, 4, 1 << 40)
    assert len(final) <= 8 and sum(final) == 20 * 1010
    # No publish merges more than max_entries in all, cascades included.
    final, merged = _run_policy(tmp_path / "c", monkeypatch, [1] * 16, 2, 8)
    assert max(merged) <= 8 and sum(final) == 16
    # Segments too big to merge within the bound stay; smaller ones after them still merge.
    final, merged = _run_policy(tmp_path / "d", monkeypatch, [40] * 4 + [10] * 4, 4, 64)
    assert final == [40, 40, 40, 40, 40] and max(merged) <= 64
