"""The registry: samples, batches and releases, in an embedded DuckDB file.

Only the one writing process (a load, a withdrawal) opens it read-write, under
an exclusive lock file; readers such as the service never touch it and read
the release files instead.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from variantdb.errors import VariantdbError
from variantdb.manifest import SampleRecord
from variantdb.store import changelog
from variantdb.store.layout import registry_file

__all__ = [
    "BATCH_NAME",
    "BATCH_NAME_RULE",
    "VCF_NAME",
    "DatabaseLockedError",
    "Registry",
    "pseudonymize_report",
    "write_lock",
]

#: A batch name: it becomes a folder (``calls/batch=<name>``) and a path DuckDB reads, so no glob,
#: separator, space or ``=`` may appear in it.
BATCH_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
BATCH_NAME_RULE = (
    "1 to 64 characters: letters A-Z a-z, digits 0-9, '_', '-' and '.', beginning with a letter or digit"
)

#: A VCF, gVCF or BCF file name (or its index) inside a string: what the registry never stores in clear.
VCF_NAME = re.compile(r"[^\s/\\'\"]+\.(?:g?vcf|bcf)(?:\.b?gz)?(?:\.(?:tbi|csi))?(?![\w.])", re.IGNORECASE)

_DDL = (
    """
CREATE TABLE IF NOT EXISTS samples (
    sample_idx INTEGER PRIMARY KEY,
    sample_id VARCHAR NOT NULL UNIQUE,
    batch VARCHAR NOT NULL,
    vcf VARCHAR NOT NULL,
    sex VARCHAR NOT NULL,
    region VARCHAR,
    patient_group VARCHAR,
    family_id VARCHAR,
    father_id VARCHAR,
    mother_id VARCHAR,
    technology VARCHAR NOT NULL,
    capture_bed VARCHAR,
    consent VARCHAR NOT NULL,
    received DATE,
    withdrawn BOOLEAN NOT NULL DEFAULT false
);
CREATE TABLE IF NOT EXISTS batches (
    name VARCHAR PRIMARY KEY,
    loaded_at TIMESTAMP NOT NULL,
    manifest VARCHAR NOT NULL,
    n_samples INTEGER NOT NULL,
    report JSON
);
CREATE TABLE IF NOT EXISTS releases (
    id VARCHAR PRIMARY KEY,
    created_at TIMESTAMP NOT NULL,
    n_samples INTEGER NOT NULL,
    n_variants BIGINT NOT NULL,
    batches JSON NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
    key VARCHAR PRIMARY KEY,
    value VARCHAR NOT NULL
);
"""
    + changelog.DDL
)


def pseudonymize_report(report: dict[str, Any], vcf: Callable[[str], str]) -> dict[str, Any]:
    """Return a load report as the registry stores it: each file's path replaced by its pseudonym.

    A genome's file is often named after the person, so the stored report keeps
    ``vcf`` (:meth:`variantdb.store.pseudonym.Pseudonymizer.vcf` of the path, the value
    ``samples.vcf`` holds) instead of ``path``, and any note quoting the path
    quotes the pseudonym. Reports already stored this way come back unchanged.

    Parameters
    ----------
    report
        A load report as :meth:`variantdb.load.LoadReport.as_dict` gives it.
    vcf
        The pseudonym of a VCF path.
    """
    out = dict(report)
    files = []
    for f in report.get("files") or []:
        f = dict(f)
        if "path" in f:
            clear = str(f.pop("path"))
            hidden = vcf(clear)
            f = {"vcf": hidden, **f}
            if isinstance(f.get("notes"), list):
                f["notes"] = [str(n).replace(clear, hidden) for n in f["notes"]]
        files.append(f)
    out["files"] = files
    return out


class DatabaseLockedError(VariantdbError, RuntimeError):
    """Another process is writing to the database."""


@contextmanager
def write_lock(db: Path) -> Iterator[None]:
    """Hold the database's exclusive writer lock (``DB/.lock``) for the block."""
    db.mkdir(parents=True, exist_ok=True)
    fd = os.open(db / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DatabaseLockedError(
                f"{db} is being written by another process (a load or withdrawal); try again when it ends"
            ) from None
        yield
    finally:
        os.close(fd)


class Registry:
    """Samples, batches and releases of one database.

    Parameters
    ----------
    db
        The database directory; the registry is ``db/registry.duckdb``.
    read_only
        Open without write access. Default False.
    """

    def __init__(self, db: Path, read_only: bool = False) -> None:
        self.db = Path(db)
        path = registry_file(self.db)
        if read_only and not path.exists():
            raise FileNotFoundError(f"{self.db} is not a variantdb database (no registry.duckdb)")
        self.con = duckdb.connect(str(path), read_only=read_only)
        if not read_only:
            self.con.execute(_DDL)

    def close(self) -> None:
        """Close the connection."""
        self.con.close()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def next_sample_idx(self) -> int:
        """Return the first unused sample number."""
        row = self.con.execute("SELECT coalesce(max(sample_idx) + 1, 0) FROM samples").fetchone()
        assert row is not None
        return int(row[0])

    def existing_sample_ids(self, ids: Sequence[str]) -> dict[str, str]:
        """Return ``{sample_id: batch}`` for those of ``ids`` already loaded."""
        rows = self.con.execute(
            "SELECT sample_id, batch FROM samples WHERE list_contains(?, sample_id)", [list(ids)]
        ).fetchall()
        return {r[0]: r[1] for r in rows}

    def has_batch(self, name: str) -> bool:
        """Tell whether a batch of that name is loaded."""
        return self.con.execute("SELECT count(*) FROM batches WHERE name = ?", [name]).fetchone() == (1,)

    def batch_names(self) -> list[str]:
        """Return loaded batch names, oldest first."""
        return [
            r[0] for r in self.con.execute("SELECT name FROM batches ORDER BY loaded_at, name").fetchall()
        ]

    def samples(self, include_withdrawn: bool = False) -> pa.Table:
        """Return the samples table as Arrow, ordered by sample number."""
        sql = (
            "SELECT * FROM samples ORDER BY sample_idx"
            if include_withdrawn
            else "SELECT * FROM samples WHERE NOT withdrawn ORDER BY sample_idx"
        )
        return self.con.sql(sql).to_arrow_table()

    def add_batch(
        self,
        name: str,
        manifest: Path,
        records: Sequence[SampleRecord],
        first_idx: int,
        report: dict[str, Any],
        release: dict[str, Any] | None,
        operator: str | None = None,
        vcf: Callable[[str], str] | None = None,
    ) -> None:
        """Record a batch, its samples and the release that includes it, in one transaction.

        ``operator`` (default :func:`variantdb.store.changelog.current_operator`) goes in the changelog.
        With ``vcf`` (the pseudonym of a VCF path) the report's file paths are
        stored as pseudonyms, and so are those of reports stored before
        (:meth:`scrub_report_paths`).
        """
        if vcf is not None:
            report = pseudonymize_report(report, vcf)
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        self.con.execute("BEGIN TRANSACTION")
        try:
            self.con.executemany(
                "INSERT INTO samples VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, false)",
                [
                    [
                        first_idx + i,
                        r.sample_id,
                        name,
                        str(r.vcf),
                        r.sex,
                        r.region,
                        r.patient_group,
                        r.family_id,
                        r.father_id,
                        r.mother_id,
                        r.technology,
                        None if r.capture_bed is None else str(r.capture_bed),
                        r.consent,
                        r.received,
                    ]
                    for i, r in enumerate(records)
                ],
            )
            self.con.execute(
                "INSERT INTO batches VALUES (?, ?, ?, ?, ?)",
                [name, now, str(manifest), len(records), json.dumps(report, default=str)],
            )
            changelog.append(
                self.con,
                "load",
                subject=name,
                details={"samples": len(records), "manifest": str(manifest)},
                operator=operator,
            )
            if release is not None:
                self.add_release(release, _in_transaction=True, operator=operator)
            if vcf is not None:
                self.scrub_report_paths(vcf)
            self.con.execute("COMMIT")
        except BaseException:
            self.con.execute("ROLLBACK")
            raise

    def scrub_report_paths(self, vcf: Callable[[str], str]) -> list[str]:
        """Replace the VCF paths of every stored load report by their pseudonyms; return the batches changed.

        Databases written before reports were pseudonymized hold the paths in
        clear; a withdrawal or a load calls this (in its transaction) so none remain.
        """
        changed = []
        for name, text in self.con.execute("SELECT name, report FROM batches ORDER BY name").fetchall():
            if text is None:
                continue
            report = json.loads(text)
            clean = pseudonymize_report(report, vcf)
            if clean != report:
                self.con.execute(
                    "UPDATE batches SET report = ? WHERE name = ?", [json.dumps(clean, default=str), name]
                )
                changed.append(name)
        return changed

    def add_release(
        self, release: dict[str, Any], _in_transaction: bool = False, operator: str | None = None
    ) -> None:
        """Record a published release (and its changelog entry; call inside a transaction)."""
        changelog.append(
            self.con,
            "release",
            subject=release["id"],
            details={
                "n_samples": release["n_samples"],
                "n_variants": release["n_variants"],
                "batches": release["batches"],
            },
            operator=operator,
        )
        self.con.execute(
            "INSERT INTO releases VALUES (?, ?, ?, ?, ?)",
            [
                release["id"],
                release["created"],
                release["n_samples"],
                release["n_variants"],
                json.dumps(release["batches"]),
            ],
        )

    def releases(self) -> list[dict[str, Any]]:
        """Return recorded releases, oldest first."""
        cur = self.con.execute(
            "SELECT id, created_at, n_samples, n_variants, batches FROM releases ORDER BY id"
        )
        return [
            {"id": r[0], "created": r[1], "n_samples": r[2], "n_variants": r[3], "batches": json.loads(r[4])}
            for r in cur.fetchall()
        ]

    def summary(self) -> dict[str, Any]:
        """Return counts for ``variantdb info``."""

        def one(sql: str) -> Any:
            row = self.con.execute(sql).fetchone()
            return None if row is None else row[0]

        return {
            "samples": one("SELECT count(*) FROM samples WHERE NOT withdrawn"),
            "withdrawn": one("SELECT count(*) FROM samples WHERE withdrawn"),
            "batches": [
                {"name": r[0], "loaded_at": r[1], "n_samples": r[2]}
                for r in self.con.execute(
                    "SELECT name, loaded_at, n_samples FROM batches ORDER BY loaded_at"
                ).fetchall()
            ],
            "releases": self.releases(),
        }
