"""Data lifecycle: withdrawal, consent, releases, diff, prune, check and the changelog (issue 5)."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import shutil
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from variantdb.lifecycle import LifecycleError, export_research, set_research_opt_out, withdraw
from variantdb.load import load_batch, recover
from variantdb.loaders.cli import app
from variantdb.release.check import check_database
from variantdb.release.diff import diff_releases
from variantdb.release.files import read_current, read_release_meta
from variantdb.store.changelog import read_log
from variantdb.store.layout import release_path
from variantdb.store.registry import Registry

runner = CliRunner()
N_SAMPLES = 10


def release_tables(db: Path, release: str | None = None) -> dict[str, bytes]:
    """Every file of a release but ``release.json`` (which names the time and batches), by path."""
    root = release_path(db, release or read_current(db) or "")
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != "release.json"
    }


def split_manifest(manifest: Path, tag: str, drop: frozenset[str] | set[str] = frozenset()) -> list[Path]:
    """Write the cohort's manifest as two batches (first half, second half), leaving out ``drop``.

    The files go beside the manifest (its VCF paths are relative), named ``<tag>-b1.tsv``.
    """
    lines = manifest.read_text().splitlines()
    header, rows = lines[0], lines[1:]
    half = len(rows) // 2
    paths = []
    for name, part in (("b1", rows[:half]), ("b2", rows[half:])):
        kept = [r for r in part if r.split("\t")[0] not in drop]
        if kept:
            path = manifest.parent / f"{tag}-{name}.tsv"
            path.write_text("\n".join([header, *kept]) + "\n")
            paths.append(path)
    return paths


def build(manifest: Path, db: Path, drop: frozenset[str] | set[str] = frozenset()) -> Path:
    db.mkdir(parents=True)
    tag = hashlib.sha256(str(db).encode()).hexdigest()[:12]
    for part in split_manifest(manifest, tag, drop):
        name = part.stem.split("-")[-1]
        load_batch(db, part, reference=manifest.parent / "ref.fa", batch_name=name, workers=1)
    return db


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A seeded gVCF cohort (trios included, so gaps and founders matter); returns its manifest."""
    from benchmarks.cohort import generate_cohort

    return generate_cohort(
        tmp_path_factory.mktemp("lc_cohort"), N_SAMPLES, 120, 11, layout="single", gvcf=True
    )


@pytest.fixture(scope="module")
def sample_ids(cohort: Path) -> list[str]:
    return [line.split("\t")[0] for line in cohort.read_text().splitlines()[1:]]


@pytest.fixture(scope="module")
def base_db(cohort: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The whole cohort loaded as two batches (releases r0001, r0002)."""
    return build(cohort, tmp_path_factory.mktemp("lc_base") / "db")


@pytest.fixture
def db(base_db: Path, tmp_path: Path) -> Path:
    """A private copy of ``base_db``."""
    out = tmp_path / "db"
    shutil.copytree(base_db, out)
    return out


@pytest.mark.slow
@seed(20261122)
@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(data=st.data())
def test_withdrawing_any_subset_equals_never_loading_it(
    data: st.DataObject,
    cohort: Path,
    sample_ids: list[str],
    base_db: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    drop = data.draw(st.sets(st.sampled_from(sample_ids), min_size=1, max_size=N_SAMPLES - 1), label="drop")
    in_two_steps = data.draw(st.booleans(), label="in_two_steps")
    work = tmp_path_factory.mktemp("withdraw")
    db = work / "db"
    shutil.copytree(base_db, db)
    ordered = sorted(drop)
    steps = [ordered[: len(ordered) // 2], ordered[len(ordered) // 2 :]] if in_two_steps else [ordered]
    for step in steps:
        if step:
            withdraw(db, step, reason="test")
    fresh = build(cohort, work / "fresh" / "db", drop)
    assert release_tables(db) == release_tables(fresh)
    assert read_release_meta(db, read_current(db) or "").n_samples == N_SAMPLES - len(drop)
    report = check_database(db)
    assert report.ok, report.problems


def stored_idx(db: Path) -> set[int]:
    con = duckdb.connect()
    files = [str(p) for kind in ("calls", "gaps") for p in (db / kind).rglob("*.parquet")]
    return {r[0] for r in con.execute("SELECT DISTINCT sample_idx FROM read_parquet(?)", [files]).fetchall()}


def test_withdraw_deletes_the_persons_rows_and_logs_it(db: Path, sample_ids: list[str]) -> None:
    person = sample_ids[0]
    with Registry(db) as reg:
        samples = reg.samples().to_pylist()
    key = Path(os.environ["VARIANTDB_PSEUDONYM_KEY_FILE"]).read_text().strip().encode()
    pseudonym = hmac.new(key, person.encode(), hashlib.sha256).hexdigest()
    idx = next(s["sample_idx"] for s in samples if s["sample_id"] == pseudonym)
    assert idx in stored_idx(db)
    result = runner.invoke(
        app,
        [
            "withdraw",
            "--db",
            str(db),
            "--sample",
            person,
            "--reason",
            "consent revoked",
            "--operator",
            "dpo",
            "--yes",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "published release r0003" in result.output
    assert idx not in stored_idx(db)
    assert not any((db / "pending").iterdir())
    with Registry(db) as reg:
        row = reg.con.execute("SELECT withdrawn FROM samples WHERE sample_idx = ?", [idx]).fetchall()[0]
        log = read_log(reg.con)
    assert row == (True,)
    assert [(e["action"], e["operator"], e["subject"], e["reason"]) for e in log[-2:]] == [
        ("withdraw", "dpo", pseudonym, "consent revoked"),
        ("release", "dpo", "r0003", None),
    ]
    # Again: a no-op, not an error, and no new release.
    result = runner.invoke(app, ["withdraw", "--db", str(db), "--sample", person, "--yes"])
    assert result.exit_code == 0, result.output
    assert f"already withdrawn: {person}" in result.output
    assert read_current(db) == "r0003"


def test_withdraw_unknown_id_changes_nothing(db: Path, sample_ids: list[str]) -> None:
    before = release_tables(db)
    result = runner.invoke(
        app, ["withdraw", "--db", str(db), "--sample", sample_ids[1], "--sample", "NOPE-1", "--yes"]
    )
    assert result.exit_code == 1
    assert "no sample 'NOPE-1'" in result.output
    assert "Traceback" not in result.output
    assert read_current(db) == "r0002"
    assert release_tables(db) == before
    assert len(stored_idx(db)) == N_SAMPLES


def test_failure_before_commit_rolls_back(
    db: Path, sample_ids: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import variantdb.lifecycle as lifecycle

    files = {p: p.read_bytes() for p in sorted((db / "calls").rglob("*.parquet"))}
    real = lifecycle.publish_release

    def broken(*args: object, **kwargs: object) -> object:
        real(*args, **kwargs)  # type: ignore[arg-type]
        raise OSError("disk full")

    monkeypatch.setattr(lifecycle, "publish_release", broken)
    with pytest.raises(OSError, match="disk full"):
        withdraw(db, [sample_ids[2]])
    assert read_current(db) == "r0002"
    assert sorted(p.name for p in (db / "releases").iterdir()) == ["r0001", "r0002"]
    assert {p: p.read_bytes() for p in sorted((db / "calls").rglob("*.parquet"))} == files
    assert not (db / "pending").exists() or not any((db / "pending").iterdir())
    assert check_database(db).ok


def test_crash_after_commit_rolls_forward(
    db: Path, sample_ids: list[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import variantdb.lifecycle as lifecycle
    import variantdb.store.batches as store

    clean = tmp_path / "clean"
    shutil.copytree(db, clean)
    withdraw(clean, [sample_ids[3]])
    real_rename = Path.rename
    calls = {"n": 0}

    def crash_on_second_rename(self: Path, target: Path) -> Path:  # type: ignore[override]
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt  # stands for the process dying between two renames of the swap
        return real_rename(self, target)

    monkeypatch.setattr(store.Path, "rename", crash_on_second_rename)
    with pytest.raises(KeyboardInterrupt):
        withdraw(db, [sample_ids[3]])
    monkeypatch.setattr(store.Path, "rename", real_rename)
    assert lifecycle is not None
    # Committed but not swapped: readers still see r0002; the check names the interrupted write.
    assert read_current(db) == "r0002"
    assert not check_database(db).ok
    recover(db)
    assert read_current(db) == "r0003"
    assert check_database(db).ok, check_database(db).problems
    assert release_tables(db) == release_tables(clean)
    assert stored_idx(db) == stored_idx(clean)


def test_registry_stores_only_pseudonyms(base_db: Path, sample_ids: list[str]) -> None:
    with Registry(base_db) as reg:
        rows = reg.samples(include_withdrawn=True).to_pylist()
    stored = {r["sample_id"] for r in rows}
    assert not stored & set(sample_ids)
    assert all(len(s) == 64 and int(s, 16) >= 0 for s in stored)
    parents = {r["father_id"] for r in rows} | {r["mother_id"] for r in rows}
    assert parents - {None} <= stored  # parents hashed alike, so founders are still told
    # The stored load reports name each file by the pseudonym samples.vcf holds, never its path.
    with Registry(base_db) as reg:
        reports = [json.loads(r[0]) for r in reg.con.execute("SELECT report FROM batches").fetchall()]
        text = " ".join(str(r) for r in reg.con.execute("SELECT * FROM batches").fetchall())
    files = [f for r in reports for f in r["files"]]
    assert files and all("path" not in f for f in files)
    assert {f["vcf"] for f in files} == {r["vcf"] for r in rows}
    assert ".vcf" not in text
    assert check_database(base_db).ok


def test_check_flags_clear_vcf_paths_and_withdrawal_scrubs_them(
    db: Path, cohort: Path, sample_ids: list[str]
) -> None:
    """A database written before reports were pseudonymized: check says where, a withdrawal cleans it."""
    from variantdb.manifest import read_manifest
    from variantdb.store.pseudonym import load_pseudonymizer

    pseudonyms = load_pseudonymizer(db, create=False)
    clear = {pseudonyms.vcf(r.vcf): str(r.vcf) for r in read_manifest(cohort)}
    with Registry(db) as reg:
        vcfs = {r["vcf"] for r in reg.samples(include_withdrawn=True).to_pylist()}
        for name, text in reg.con.execute("SELECT name, report FROM batches").fetchall():
            old = json.loads(text)
            for f in old["files"]:
                f["path"] = clear[f.pop("vcf")]  # as a load stored it before
            reg.con.execute("UPDATE batches SET report = ? WHERE name = ?", [json.dumps(old), name])
    report = check_database(db)
    flagged = [p for p in report.problems if "stored in clear" in p]
    assert len(flagged) == 2 and not set(report.problems) - set(flagged), report.problems
    assert "registry batches.report (name b1): 5 VCF path(s) stored in clear" in flagged[0]
    assert "files[0].path" in flagged[0] and "a withdrawal or the next load" in flagged[0]
    assert not any(p in " ".join(report.problems) for p in clear.values())  # says where, not the name
    result = runner.invoke(app, ["check", "--db", str(db)])
    assert result.exit_code == 1 and "stored in clear" in result.output

    withdraw(db, [sample_ids[0]], reason="test")
    with Registry(db) as reg:
        text = " ".join(r[0] for r in reg.con.execute("SELECT report FROM batches").fetchall())
        files = [
            f
            for r in reg.con.execute("SELECT report FROM batches").fetchall()
            for f in json.loads(r[0])["files"]
        ]
    assert not any(p in text for p in clear.values()) and ".vcf" not in text
    assert {f["vcf"] for f in files} == vcfs
    assert check_database(db).ok, check_database(db).problems


def test_research_export_leaves_out_opted_out_samples(
    db: Path, cohort: Path, sample_ids: list[str], tmp_path: Path
) -> None:
    out_before = tmp_path / "clinical.parquet"
    runner.invoke(app, ["export", "--db", str(db), "--format", "parquet", "-o", str(out_before)])
    opted = {sample_ids[0], sample_ids[6]}
    result = runner.invoke(
        app,
        [
            "consent",
            "--db",
            str(db),
            "--research-opt-out",
            "--reason",
            "letter",
            *[a for s in sorted(opted) for a in ("--sample", s)],
        ],
    )
    assert result.exit_code == 0, result.output
    assert f"{sample_ids[0]}: given -> research_opt_out" in result.output
    research = tmp_path / "research.parquet"
    result = runner.invoke(
        app, ["export", "--db", str(db), "--format", "parquet", "-o", str(research), "--purpose", "research"]
    )
    assert result.exit_code == 0, result.output
    assert f"{N_SAMPLES - 2} samples counted, 2 research opt-out(s) left out" in result.output
    fresh = build(cohort, tmp_path / "fresh" / "db", opted)
    expected = tmp_path / "expected.parquet"
    runner.invoke(app, ["export", "--db", str(fresh), "--format", "parquet", "-o", str(expected)])
    assert pq.read_table(research).equals(pq.read_table(expected))
    # The clinical export and the release are untouched; undoing the opt-out restores the full counts.
    clinical = tmp_path / "clinical2.parquet"
    runner.invoke(app, ["export", "--db", str(db), "--format", "parquet", "-o", str(clinical)])
    assert pq.read_table(clinical).equals(pq.read_table(out_before))
    set_research_opt_out(db, sorted(opted), False)
    again = tmp_path / "research2.parquet"
    export_research(db, "parquet", again)
    assert pq.read_table(again).equals(pq.read_table(out_before))
    with Registry(db) as reg:
        actions = [(e["action"], e["details"].get("to")) for e in read_log(reg.con, action="consent")]
    assert actions == [("consent", "research_opt_out")] * 2 + [("consent", "given")] * 2


def test_consent_of_withdrawn_sample_is_refused(db: Path, sample_ids: list[str]) -> None:
    withdraw(db, [sample_ids[4]])
    with pytest.raises(LifecycleError, match="withdrew consent altogether"):
        set_research_opt_out(db, [sample_ids[4]], True)


def test_diff_matches_a_comparison_of_the_two_tables(db: Path, sample_ids: list[str]) -> None:
    withdraw(db, sample_ids[:3])

    def table(rel: str) -> dict[tuple[str, int, str, str], float | None]:
        t = pa.concat_tables(
            pq.read_table(p) for p in sorted((release_path(db, rel) / "variants").glob("*.parquet"))
        )
        return {(r["chrom"], r["pos"], r["ref"], r["alt"]): r["af"] for r in t.to_pylist()}

    old, new = table("r0002"), table("r0003")
    for threshold in (0.0, 0.05):
        got = diff_releases(db, "r0002", "r0003", threshold).to_pylist()
        by_change: dict[str, set[tuple[str, int, str, str]]] = {
            "added": set(),
            "removed": set(),
            "af_changed": set(),
        }
        for r in got:
            by_change[r["change"]].add((r["chrom"], r["pos"], r["ref"], r["alt"]))
        assert by_change["added"] == set(new) - set(old)
        assert by_change["removed"] == set(old) - set(new)
        changed = {
            k
            for k in set(old) & set(new)
            if old[k] != new[k] and (old[k] is None or new[k] is None or abs(new[k] - old[k]) > threshold)  # type: ignore[operator]
        }
        assert by_change["af_changed"] == changed
        assert len(got) == sum(len(v) for v in by_change.values())
    assert by_change["removed"] and by_change["af_changed"]
    result = runner.invoke(app, ["diff", "--db", str(db), "r0002", "r0003", "--af-threshold", "0.05"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0].startswith("change\tchrom\tpos\tref\talt")
    assert len(result.stdout.splitlines()) == len(got) + 1
    result = runner.invoke(app, ["diff", "--db", str(db), "r0002", "r0099"])
    assert result.exit_code == 1 and "release r0099 is not published" in result.output


def test_releases_lists_and_prune_keeps_current(
    db: Path, sample_ids: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    result = runner.invoke(app, ["releases", "--db", str(db), "--json"])
    assert result.exit_code == 0, result.output
    listed = json.loads(result.stdout)
    assert [(r["id"], r["samples"], r["batches"], r["current"]) for r in listed] == [
        ("r0001", N_SAMPLES // 2, ["b1"], False),
        ("r0002", N_SAMPLES, ["b1", "b2"], True),
    ]
    monkeypatch.setenv("VARIANTDB_KEEP_RELEASES", "2")
    report = withdraw(db, [sample_ids[5]])
    assert report.pruned == ["r0001"]
    assert sorted(p.name for p in (db / "releases").iterdir()) == ["r0002", "r0003"]
    result = runner.invoke(app, ["prune", "--db", str(db), "--keep", "1", "--reason", "space", "--yes"])
    assert result.exit_code == 0, result.output
    assert "pruned r0002" in result.output
    assert sorted(p.name for p in (db / "releases").iterdir()) == ["r0003"]
    assert read_current(db) == "r0003"
    with Registry(db) as reg:
        assert [r["id"] for r in reg.releases()] == ["r0003"]
        pruned = [(e["subject"], e["reason"]) for e in read_log(reg.con, action="prune")]
    assert pruned == [("r0001", None), ("r0002", "space")]
    assert check_database(db).ok
    # A query pinning a pruned release is told so; the kept one still answers.
    from fastapi.testclient import TestClient

    from variantdb.api.main import create_app

    assert diff_releases(db, "r0003", "r0003").num_rows == 0  # a release does not differ from itself
    with TestClient(create_app(db)) as client:
        gone = client.get("/v1/variants/chr1-1000-A-C", params={"release": "r0002"})
        assert gone.status_code == 404 and gone.json()["error"]["code"] == "release_not_found"
        kept = client.get("/v1/variants/chr1-1000-A-C", params={"release": "r0003"})
        assert kept.status_code == 200 and kept.json()["release"] == "r0003"


def test_running_service_stops_serving_a_pruned_release(db: Path, sample_ids: list[str]) -> None:
    """A release pinned (and cached) by a running service answers 404 within a second of its pruning."""
    import time

    from fastapi.testclient import TestClient

    from variantdb.api.main import create_app

    with TestClient(create_app(db)) as client:
        for rid in ("r0001", "r0002"):
            held = client.get("/v1/variants/chr1-1000-A-C", params={"release": rid})
            assert held.status_code == 200 and held.json()["release"] == rid
        # r0002 holds the person's genotypes; the withdrawal publishes r0003 without them.
        withdraw(db, [sample_ids[0]], reason="test")
        result = runner.invoke(app, ["prune", "--db", str(db), "--keep", "1", "--yes"])
        assert result.exit_code == 0, result.output
        deadline = time.monotonic() + 1.0
        answers: dict[str, int] = {}
        while True:
            answers = {
                rid: client.get("/v1/variants/chr1-1000-A-C", params={"release": rid}).status_code
                for rid in ("r0001", "r0002")
            }
            if set(answers.values()) == {404} or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert answers == {"r0001": 404, "r0002": 404}
        for rid in ("r0001", "r0002"):
            for path in (f"/v1/variants/chr1-1000-A-C?release={rid}", f"/v1/releases/{rid}"):
                gone = client.get(path)
                assert gone.status_code == 404, path
                assert gone.json()["error"]["code"] == "release_not_found", gone.json()
        kept = client.get("/v1/variants/chr1-1000-A-C", params={"release": "r0003"})
        assert kept.status_code == 200 and kept.json()["release"] == "r0003"


def test_check_finds_corruption_leftovers_and_tampering(db: Path, sample_ids: list[str]) -> None:
    result = runner.invoke(app, ["check", "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert "ok:" in result.output
    withdraw(db, [sample_ids[0]])
    # A flipped byte in the release.
    victim = next((release_path(db, "r0003") / "variants").glob("*.parquet"))
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF
    victim.write_bytes(bytes(data))
    # Rows of the withdrawn sample back in the store.
    with Registry(db) as reg:
        idx, batch = reg.con.execute("SELECT sample_idx, batch FROM samples WHERE withdrawn").fetchall()[0]
    some = next((db / "calls" / f"batch={batch}").rglob("*.parquet"))
    t = pq.read_table(some)
    pq.write_table(
        t.slice(0, 1).set_column(
            t.schema.get_field_index("sample_idx"), "sample_idx", pa.array([idx], pa.int32())
        ),
        some.with_name("zz.parquet"),
    )
    # An edited changelog entry.
    with Registry(db) as reg:
        reg.con.execute("UPDATE changelog SET reason = 'nothing to see' WHERE action = 'withdraw'")
    result = runner.invoke(app, ["check", "--db", str(db)])
    assert result.exit_code == 1
    assert f"release r0003: file variants/{victim.name} has SHA-256" in result.output
    assert f"calls/batch={batch} still holds rows of withdrawn sample {idx}" in result.output
    assert "was altered after it was written" in result.output
    assert "Traceback" not in result.output
    result = runner.invoke(app, ["check", "--db", str(db), "--release", "r0002"])
    assert "checked release r0002" in result.output
    assert "release r0002: file" not in result.output


def test_log_filters_by_action_and_time(db: Path) -> None:
    result = runner.invoke(app, ["log", "--db", str(db)])
    assert result.exit_code == 0, result.output
    rows = [line.split("\t") for line in result.stdout.splitlines()]
    assert rows[0] == ["seq", "time_utc", "action", "operator", "subject", "reason", "details"]
    assert [(r[0], r[2], r[4]) for r in rows[1:]] == [
        ("1", "load", "b1"),
        ("2", "release", "r0001"),
        ("3", "load", "b2"),
        ("4", "release", "r0002"),
    ]
    result = runner.invoke(app, ["log", "--db", str(db), "--action", "load", "--since", "2000-01-01"])
    assert [line.split("\t")[4] for line in result.stdout.splitlines()[1:]] == ["b1", "b2"]
    result = runner.invoke(app, ["log", "--db", str(db), "--since", "2999-01-01"])
    assert result.stdout.splitlines()[1:] == []
    result = runner.invoke(app, ["log", "--db", str(db), "--action", "drop"])
    assert result.exit_code == 1 and "not one of load" in result.output
