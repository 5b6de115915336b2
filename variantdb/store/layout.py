"""Where every file of a database lives: the one home of the database's paths.

Layout of a database directory ``DB``::

    DB/registry.duckdb                              samples, batches, releases, keys
    DB/calls/batch=NAME/contig=C/bin=B/*.parquet    sparse non-reference calls of one load batch
    DB/gaps/batch=NAME/contig=C/*.parquet           per-sample no-call intervals of one load batch
    DB/staging/NAME/{calls,gaps}/                   a load in progress (not yet published)
    DB/pending/ID/{calls,gaps}/batch=NAME/          batches rewritten by a change published as ID
    DB/releases/ID/release.json                     metadata, strata, checksums
    DB/releases/ID/variants/C.parquet               sorted variant table, one file per contig
    DB/releases/ID/an.parquet                       AN track
    DB/releases/ID/index/                           memory-mapped lookup index
    DB/releases/ID/subcohort/                       sub-cohort structures
    DB/CURRENT                                      the live release id
    DB/access/                                      API keys, audit log, query budgets, browser sessions

Every other module asks this one for a path instead of joining names itself.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path

from variantdb.errors import VariantdbError

__all__ = [
    "KINDS",
    "RELEASE_ID",
    "ReleaseNotFoundError",
    "access_dir",
    "batch_dir",
    "current_file",
    "fsync_dir",
    "literal_paths",
    "pending_dir",
    "pending_root",
    "registry_file",
    "release_path",
    "releases_dir",
    "staging_root",
    "variants_file",
]

#: The per-batch folders of the raw store.
KINDS = ("calls", "gaps")
#: A release id: ``r`` and at least four digits.
RELEASE_ID = re.compile(r"^r\d{4,}$")


class ReleaseNotFoundError(VariantdbError, LookupError):
    """A release id that names no published release."""


def registry_file(db: Path) -> Path:
    """Return ``DB/registry.duckdb``."""
    return Path(db) / "registry.duckdb"


def access_dir(db: Path) -> Path:
    """Return ``DB/access``: API keys, the audit log, query budgets and browser sessions."""
    return Path(db) / "access"


def current_file(db: Path) -> Path:
    """Return ``DB/CURRENT``, the file naming the live release."""
    return Path(db) / "CURRENT"


def releases_dir(db: Path) -> Path:
    """Return ``DB/releases``."""
    return Path(db) / "releases"


def release_path(db: Path, release_id: str) -> Path:
    """Return the directory of a release, refusing ids that are not ``r`` + digits."""
    if not RELEASE_ID.match(release_id):
        raise ReleaseNotFoundError(f"{release_id!r} is not a release id (e.g. r0001)")
    return releases_dir(db) / release_id


def variants_file(release_dir: Path, chrom: str) -> Path:
    """Return the variant-table file of one contig in a release directory.

    Notes
    -----
    One plain file per contig (``variants/chr1.parquet``), with no ``key=value``
    folders: every reader (DuckDB, Polars, Spark, pyarrow) takes the folder as it
    is, and none sees ``chrom`` twice.
    """
    return Path(release_dir) / "variants" / f"{chrom}.parquet"


def batch_dir(db: Path, kind: str, batch: str) -> Path:
    """Return ``DB/<kind>/batch=<batch>`` (``kind`` is ``calls`` or ``gaps``)."""
    return Path(db) / kind / f"batch={batch}"


def staging_root(db: Path) -> Path:
    """Return ``DB/staging``, where loads in progress write."""
    return Path(db) / "staging"


def pending_root(db: Path) -> Path:
    """Return ``DB/pending``."""
    return Path(db) / "pending"


def pending_dir(db: Path, release_id: str) -> Path:
    """Return the folder where a change published as ``release_id`` stages rewritten batches."""
    return pending_root(db) / release_id


def fsync_dir(path: Path) -> None:
    """Make a folder's entries (files created, renamed or linked in it) durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_GLOB_CHARS = re.compile(r"[\[*?]")


def literal_paths(paths: Iterable[str | Path]) -> list[str]:
    """Return file paths as DuckDB's ``read_parquet`` reads them literally, never as glob patterns.

    DuckDB expands ``*``, ``?`` and ``[...]`` in every path it is given, even in
    a list, so a folder such as ``batch=b?`` or ``/data/db[2]`` would read other
    folders' files too. Each such character is written as a one-character class
    (``?`` as ``[?]``, ``[`` as ``[[]``), which matches only itself.
    """
    return [_GLOB_CHARS.sub(lambda m: f"[{m.group()}]", str(p)) for p in paths]
