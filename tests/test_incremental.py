"""Tests of variantdb.release.incremental: adding a batch to a release equals rebuilding it, in any order."""

from __future__ import annotations

import csv
import hashlib
import json
import tempfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

import variantdb
from tests.batch_data import CONTIGS, EXPECTED, MANIFEST, RECORDS, SAMPLES, release_rows
from tests.release_helpers import assert_same_release, release_digest
from tests.vcfdata import write_manifest, write_vcf
from variantdb.load import load_batch
from variantdb.release.aggregate import compute_an_track, make_cohort, subset_cohort
from variantdb.release.files import read_release_meta
from variantdb.release.incremental import combine_tracks, incremental_base, plan_delta
from variantdb.release.meta import ReleaseMeta, ReleaseStratum
from variantdb.schema import GAPS_SCHEMA, GROUPS, strata
from variantdb.store.layout import release_path
from variantdb.store.registry import Registry


def split_vcf(folder: Path, ids: list[str], name: str) -> Path:
    """Write the hand-worked cohort of test_batch restricted to some samples; return the manifest."""
    folder.mkdir(parents=True, exist_ok=True)
    cols = [9 + SAMPLES.index(s) for s in ids]
    records = [" ".join(r.split()[:9] + [r.split()[c] for c in cols]) for r in RECORDS]
    write_vcf(folder / f"{name}.vcf.gz", ids, records, CONTIGS)
    rows = [{**r, "vcf": f"{name}.vcf.gz"} for r in MANIFEST if r["sample_id"] in ids]
    return write_manifest(folder / f"{name}.tsv", rows)


def part_manifest(cohort: Path, rows: list[int], name: str) -> Path:
    """Write a manifest of some rows (0-based, data lines) of a generated cohort's manifest."""
    lines = (cohort / "manifest.tsv").read_text().splitlines()
    path = cohort / f"{name}.tsv"
    path.write_text("\n".join([lines[0], *(lines[i + 1] for i in rows)]) + "\n")
    return path


def load_parts(
    db: Path, cohort: Path, parts: list[list[int]], tag: str, incremental: bool = True
) -> list[str]:
    """Load each part as one batch; return how each release was published."""
    out = []
    for k, rows in enumerate(parts):
        manifest = part_manifest(cohort, rows, f"{tag}{k}")
        report = load_batch(
            db, manifest, cohort / "ref.fa", batch_name=f"{tag}{k}", workers=1, incremental=incremental
        )
        out.append(report.publish)
    return out


# ---------------------------------------------------------------------------
# Fast: hand-worked counts, tracks, the base check.
# ---------------------------------------------------------------------------


def test_parents_arriving_after_their_child_give_the_hand_worked_table(tmp_path: Path) -> None:
    # C (child of F and M) and U come first: C is a founder then. F and M arrive
    # next, C stops being one, and its calls leave the founder columns.
    kids = split_vcf(tmp_path / "in", ["C", "U"], "kids")
    parents = split_vcf(tmp_path / "in", ["F", "M"], "parents")
    first = load_batch(tmp_path / "db", kids, batch_name="kids", workers=1)
    second = load_batch(tmp_path / "db", parents, batch_name="parents", workers=1)
    assert first.publish == "full: no previous release"
    assert second.publish == "incremental"
    assert release_rows(tmp_path / "db") == EXPECTED
    # One family (fam1) spans the batches: chrX 5000000 has founder carriers F, M of fam1
    # and U (a family of its own), so two families, not three; at 200 the adj carrier is
    # the child C, no founder: no family.
    families = release_rows(tmp_path / "db", ["pos", "n_carrier_families"])
    assert families == [(100, 1), (100, 1), (200, 0), (5000000, 2), (3000000, 1), (100, 1)]
    with Registry(tmp_path / "db") as reg:
        samples = reg.samples()
    old = samples.filter(pc.equal(samples.column("batch"), "kids"))
    delta = plan_delta(old, samples, tmp_path / "x", tmp_path / "y", tmp_path / "db")
    # The registry holds pseudonyms: C is the kids' batch sample with parents.
    (child,) = [r["sample_idx"] for r in old.to_pylist() if r["father_id"]]
    assert delta.founder_changed == (child,)
    assert delta.relatives == (child,)
    assert delta.minus_call_dirs == (tmp_path / "db" / "calls" / "batch=kids",)


def test_incremental_equals_full_rebuild_on_the_hand_worked_cohort(tmp_path: Path) -> None:
    a = split_vcf(tmp_path / "in", ["C", "U"], "a")
    b = split_vcf(tmp_path / "in", ["M", "F"], "b")
    for db, incremental in ((tmp_path / "inc", True), (tmp_path / "full", False)):
        load_batch(db, a, batch_name="a", workers=1, incremental=incremental)
        load_batch(db, b, batch_name="b", workers=1, incremental=incremental)
    assert_same_release(release_digest(tmp_path / "inc"), release_digest(tmp_path / "full"))


def _samples(n: int, sexes: list[str], parents: list[int]) -> pa.Table:
    """Registry-like sample rows: sample i's father (or mother, by the parent's sex) is parents[i] (-1: none)."""
    ids = [f"S{i}" for i in range(n)]
    father = [ids[p] if p >= 0 and sexes[p] == "XY" else None for p in parents]
    mother = [ids[p] if p >= 0 and sexes[p] != "XY" else None for p in parents]
    return pa.table(
        {
            "sample_idx": pa.array(range(n), pa.int32()),
            "sample_id": ids,
            "sex": sexes,
            "region": ["Hovedstaden" if i % 2 else "Sjælland" for i in range(n)],
            "patient_group": [None] * n,
            "family_id": [f"fam{min(i, p)}" if p >= 0 else None for i, p in enumerate(parents)],
            "father_id": father,
            "mother_id": mother,
        }
    )


@seed(5)
@settings(max_examples=60, deadline=None)
@given(
    st.integers(2, 8).flatmap(
        lambda n: st.tuples(
            st.lists(st.sampled_from(["XX", "XY", "unknown"]), min_size=n, max_size=n),
            st.lists(st.booleans(), min_size=n, max_size=n),
            st.lists(
                st.tuples(
                    st.integers(0, n - 1),
                    st.sampled_from(["chr1", "chrX", "chrY"]),
                    st.integers(1, 3_000_000),
                    st.integers(0, 400_000),
                    st.booleans(),
                ),
                max_size=12,
            ),
        )
    )
)
def test_track_of_a_cohort_is_the_sum_of_its_parts(case: tuple[list[str], list[bool], list[Any]]) -> None:
    sexes, in_first, gaps = case
    n = len(sexes)
    # Sample 1 is the child of sample 0 when there are two or more: founders differ by subset.
    samples = _samples(n, sexes, [-1, 0, *([-1] * (n - 2))][:n])
    cohort = make_cohort(samples)
    gap_table = pa.table(
        {
            "sample_idx": pa.array([g[0] for g in gaps], pa.int32()),
            "chrom": [g[1] for g in gaps],
            "start": pa.array([g[2] for g in gaps], pa.int32()),
            "end": pa.array([g[2] + g[3] for g in gaps], pa.int32()),
            "raw": [g[4] for g in gaps],
        },
        schema=GAPS_SCHEMA,
    )
    first = np.flatnonzero(in_first)
    second = np.flatnonzero(~np.array(in_first))
    for chrom in ("chr1", "chrX", "chrY"):
        rows = gap_table.filter(pc.equal(gap_table.column("chrom"), chrom))
        whole = compute_an_track(chrom, rows, cohort)
        parts = [(compute_an_track(chrom, rows, subset_cohort(cohort, idx)), 1) for idx in (first, second)]
        assert combine_tracks(chrom, parts).equals(whole)
        # And taking a part away again leaves the other.
        assert combine_tracks(chrom, [(whole, 1), (parts[0][0], -1)]).equals(parts[1][0])


def test_combine_tracks_merges_equal_neighbours() -> None:
    cols = {c: [2, 2] for c in ["an", "an_raw", "an_all"] + [f"an_{s.key}" for s in strata()]}
    a = pa.table({"chrom": ["chrM", "chrM"], "start": [1, 101], "end": [100, 16569], **cols})
    cols_b = {c: [1, 0] for c in cols}
    b = pa.table({"chrom": ["chrM", "chrM"], "start": [1, 51], "end": [50, 16569], **cols_b})
    out = combine_tracks("chrM", [(a, 1), (b, -1)])
    assert out.select(["start", "end", "an"]).to_pylist() == [
        {"start": 1, "end": 50, "an": 1},
        {"start": 51, "end": 16569, "an": 2},
    ]


def test_a_release_that_is_no_safe_base_is_named() -> None:
    samples = _samples(3, ["XX", "XY", "XX"], [-1, -1, -1])
    meta = ReleaseMeta(
        id="r0003",
        created="2026-11-22T00:00:00+00:00",
        n_variants=0,
        code_version=variantdb.__version__,
        strata=[ReleaseStratum(key=s.key, kind=s.kind, value=s.value, label=s.label) for s in strata()],
        groups=GROUPS,
        n_samples=3,
        batches=["b", "a"],
    )
    assert incremental_base(meta, samples, ["a", "b"]) is None
    assert incremental_base(None, samples, ["a"]) == "no previous release"
    assert "code version 0.0.0-old" in str(
        incremental_base(meta.model_copy(update={"code_version": "0.0.0-old"}), samples, ["a", "b"])
    )
    assert "counts 4 samples, the registry 3" in str(
        incremental_base(meta.model_copy(update={"n_samples": 4}), samples, ["a", "b"])
    )
    assert "other batches" in str(incremental_base(meta, samples, ["a", "b", "c"]))
    assert "other strata" in str(
        incremental_base(meta.model_copy(update={"strata": []}), samples, ["a", "b"])
    )


def test_full_rebuild_when_the_previous_release_differs_from_the_registry(tmp_path: Path) -> None:
    # A release whose sample count is not the registry's (as after a withdrawal that
    # was recorded but not published) must not be built on.
    a = split_vcf(tmp_path / "in", ["C", "U"], "a")
    b = split_vcf(tmp_path / "in", ["M", "F"], "b")
    db = tmp_path / "db"
    load_batch(db, a, batch_name="a", workers=1)
    meta_path = release_path(db, "r0001") / "release.json"
    meta = json.loads(meta_path.read_text())
    meta_path.write_text(json.dumps({**meta, "n_samples": 7}))
    report = load_batch(db, b, batch_name="b", workers=1)
    assert report.publish == "full: release r0001 counts 7 samples, the registry 2"
    assert release_rows(db) == EXPECTED


# ---------------------------------------------------------------------------
# Slow: generated cohorts (families, chrX PAR and non-PAR, chrY, chrM, gVCFs).
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cohorts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from benchmarks.cohort import generate_cohort

    root = tmp_path_factory.mktemp("incremental_cohorts")
    generate_cohort(root / "vcf", 16, 150, 11, layout="single", trio_fraction=0.4, duo_fraction=0.25)
    generate_cohort(root / "gvcf", 14, 120, 12, layout="single", gvcf=True, trio_fraction=0.45)
    # Every third sample of the VCF cohort is an exome: AN and coverage only inside
    # its capture BED (the first half of each contig the FASTA holds, 0-based half-open).
    fai = [line.split("\t")[:2] for line in (root / "vcf" / "ref.fa.fai").read_text().splitlines()]
    (root / "vcf" / "exome.bed").write_text(
        "".join(f"{c}\t0\t{int(n) // 2}\n" for c, n in fai if c != "chrM")
    )
    manifest = root / "vcf" / "manifest.tsv"
    with open(manifest) as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    for k, r in enumerate(rows):
        r["technology"], r["capture_bed"] = ("WES", "exome.bed") if k % 3 == 0 else ("WGS", "")
    with open(manifest, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]), delimiter="\t", lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    return {"vcf": root / "vcf", "gvcf": root / "gvcf"}


def _pedigree(cohort: Path) -> list[dict[str, str]]:
    lines = (cohort / "manifest.tsv").read_text().splitlines()
    header = lines[0].split("\t")
    return [dict(zip(header, line.split("\t"), strict=True)) for line in lines[1:]]


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["vcf", "gvcf"])
def test_incremental_equals_full_rebuild_when_families_span_batches(
    cohorts: dict[str, Path], kind: str, tmp_path: Path
) -> None:
    cohort = cohorts[kind]
    rows = _pedigree(cohort)
    is_child = [bool(r["father_id"] or r["mother_id"]) for r in rows]
    is_father = [any(r["sample_id"] == o["father_id"] for o in rows) for r in rows]
    is_mother = [any(r["sample_id"] == o["mother_id"] for o in rows) for r in rows]
    assert sum(is_child) >= 2
    assert sum(is_father) >= 1
    assert sum(is_mother) >= 1
    # Batch 0: children and half the unrelated. Batch 1: fathers, so children stop
    # being founders. Batch 2: mothers and the rest, so families that already have
    # members on both sides get one more (no founder flag changes for trios).
    unrelated = [i for i in range(len(rows)) if not (is_child[i] or is_father[i] or is_mother[i])]
    parts = [
        [i for i in range(len(rows)) if is_child[i]] + unrelated[::2],
        [i for i in range(len(rows)) if is_father[i]],
        [i for i in range(len(rows)) if is_mother[i]] + unrelated[1::2],
    ]
    inc, full = tmp_path / "inc", tmp_path / "full"
    modes = load_parts(inc, cohort, parts, "p")
    assert modes == ["full: no previous release", "incremental", "incremental"]
    load_parts(full, cohort, parts, "p", incremental=False)
    for release in ("r0001", "r0002", "r0003"):
        assert_same_release(release_digest(inc, release), release_digest(full, release))
        assert read_release_meta(inc, release).batches == read_release_meta(full, release).batches
    # The children stopped being founders when their parents came.
    meta = read_release_meta(inc, "r0003")
    assert meta.stats is not None and meta.coverage is not None
    assert meta.stats["n_founders"] == meta.n_samples - sum(is_child)
    assert (read_release_meta(inc, "r0001").stats or {})["n_founders"] == len(parts[0])
    assert (meta.coverage.n_samples["WES"] > 0) == (kind == "vcf")
    table = pq.read_table(release_path(inc, "r0003") / "variants")
    assert table.num_rows > 50
    assert {"chrX", "chrY"} <= set(table.column("chrom").to_pylist())


@pytest.mark.slow
@seed(20261122)
# No shrinking: one example loads five batches, and the drawn split is printed on failure.
@settings(
    max_examples=3,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_batch_order_does_not_matter(cohorts: dict[str, Path], data: st.DataObject) -> None:
    kind = data.draw(st.sampled_from(["vcf", "gvcf"]), label="kind")
    cohort = cohorts[kind]
    n = len(_pedigree(cohort))
    in_a = data.draw(
        st.lists(st.booleans(), min_size=n, max_size=n).filter(lambda m: 0 < sum(m) < n), label="A"
    )
    a = [i for i in range(n) if in_a[i]]
    b = [i for i in range(n) if not in_a[i]]
    with tempfile.TemporaryDirectory(dir=cohort) as tmp:
        work = Path(tmp)
        assert load_parts(work / "ab", cohort, [a, b], "ab")[1] == "incremental"
        assert load_parts(work / "ba", cohort, [b, a], "ba")[1] == "incremental"
        load_parts(work / "one", cohort, [a + b], "one")
        ab = release_digest(work / "ab", numbered=False)
        assert_same_release(release_digest(work / "ba", numbered=False), ab)
        assert_same_release(release_digest(work / "one", numbered=False), ab)
        assert any(k.startswith("variants/") for k in ab)


def test_cli_load_says_how_the_release_was_built(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from variantdb.loaders.cli import app

    runner = CliRunner()
    db = str(tmp_path / "db")
    a = split_vcf(tmp_path / "in", ["C", "U"], "a")
    b = split_vcf(tmp_path / "in", ["M"], "b")
    c = split_vcf(tmp_path / "in", ["F"], "c")
    outputs = []
    for manifest, extra in ((a, []), (b, []), (c, ["--full-rebuild"])):
        result = runner.invoke(app, ["load", "--db", db, "--manifest", str(manifest), *extra])
        assert result.exit_code == 0, result.output
        outputs.append(result.output)
    assert "release built: full: no previous release" in outputs[0]
    assert "release built: incremental" in outputs[1]
    assert "release built: full: asked for" in outputs[2]
    assert release_rows(tmp_path / "db") == EXPECTED


def test_subcohort_structures_are_extended_not_rebuilt(
    cohorts: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second batch's sub-cohort files come from the previous release plus the batch alone,
    and equal a full build (``write_subcohort`` over every batch is not called)."""
    import variantdb.load

    cohort = cohorts["gvcf"]
    n = len(_pedigree(cohort))
    parts = [list(range(0, n, 2)), list(range(1, n, 2))]
    inc, full = tmp_path / "inc", tmp_path / "full"
    load_parts(inc, cohort, parts[:1], "s")

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the sub-cohort structures were rebuilt from every batch")

    monkeypatch.setattr(variantdb.load, "write_subcohort", refuse)
    manifest = part_manifest(cohort, parts[1], "s1")
    report = load_batch(inc, manifest, cohort / "ref.fa", batch_name="s1", workers=1)
    assert report.publish == "incremental"
    monkeypatch.undo()
    load_parts(full, cohort, parts, "s", incremental=False)
    got, want = release_digest(inc, "r0002"), release_digest(full, "r0002")
    assert any(k.startswith("subcohort/") for k in want)
    assert_same_release(got, want)


def test_earlier_batches_segments_are_linked_not_copied_or_read(tmp_path: Path) -> None:
    """An incremental publish hard-links the earlier batches' sub-cohort segments (same inode),
    takes their checksums from the previous release.json, and `check` still verifies them."""
    from typer.testing import CliRunner

    from variantdb.loaders.cli import app
    from variantdb.release import files as release_mod

    parts = [split_vcf(tmp_path / "in", ids, f"p{k}") for k, ids in enumerate((["C", "U"], ["F"], ["M"]))]
    db = tmp_path / "db"
    for k, manifest in enumerate(parts[:2]):
        load_batch(db, manifest, batch_name=f"p{k}", workers=1)
    hashed: list[str] = []
    real = hashlib.sha256

    class Spy:
        def __init__(self) -> None:
            self._h = real()

        def update(self, b: bytes) -> None:
            self._h.update(b)

        def hexdigest(self) -> str:
            hashed.append("x")
            return self._h.hexdigest()

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(release_mod, "hashlib", SimpleNamespace(sha256=Spy))
        report = load_batch(db, parts[2], batch_name="p2", workers=1)
    assert report.publish == "incremental"
    prev, new = release_path(db, "r0002") / "subcohort", release_path(db, "r0003") / "subcohort"
    linked = sorted(p.relative_to(prev) for p in (prev / "segments").rglob("*") if p.is_file())
    assert len(linked) > 10
    for rel in linked:
        assert (new / rel).samefile(prev / rel), rel
    meta3 = read_release_meta(db, "r0003")
    assert len(hashed) == len(meta3.checksums) - len(linked)
    assert sorted(p.name for p in (new / "segments").iterdir()) == ["0000", "0001", "0002"]
    result = CliRunner().invoke(app, ["check", "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert release_rows(db) == EXPECTED


def test_a_previous_release_with_older_subcohort_structures_is_extended_by_a_full_write(
    tmp_path: Path,
) -> None:
    """A database whose current release has sub-cohort structures of an older version (published before the
    per-batch segments) still loads incrementally; the structures are then written from every batch."""
    from variantdb.subcohort import SubcohortIndex

    parts = [split_vcf(tmp_path / "in", ids, f"p{k}") for k, ids in enumerate((["C", "U"], ["F", "M"]))]
    db, fresh = tmp_path / "db", tmp_path / "fresh"
    load_batch(db, parts[0], batch_name="p0", workers=1)
    meta_path = release_path(db, "r0001") / "subcohort" / "subcohort.json"
    meta_path.write_text(json.dumps({**json.loads(meta_path.read_text()), "version": 1}))
    report = load_batch(db, parts[1], batch_name="p1", workers=1)
    assert report.publish == "incremental"
    for k, manifest in enumerate(parts):
        load_batch(fresh, manifest, batch_name=f"p{k}", workers=1, incremental=False)
    assert_same_release(release_digest(db, "r0002"), release_digest(fresh, "r0002"))
    assert len(SubcohortIndex(release_path(db, "r0002")).segments) == 2
