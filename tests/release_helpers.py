"""Helpers shared by several test files (moved from test_incremental.py); no tests here."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from variantdb.release.files import read_current, read_release_meta
from variantdb.store.layout import release_path

# release.json fields that name the release or the moment it was made, or list batch
# names in load order: the only things two equal releases may differ in.
META_EXCLUDED = ("id", "created", "batches")


# The folder of the sub-cohort structures in a release (variantdb.subcohort).
SUBCOHORT_DIR = "subcohort"


def release_digest(db: Path, release: str | None = None, numbered: bool = True) -> dict[str, Any]:
    """Return the SHA-256 of every file of a release, and its release.json without naming fields.

    ``numbered=False`` leaves out ``subcohort/``: its per-sample structures are
    laid out by registry sample number, which depends on the order samples were
    loaded in (the counts they give do not).
    """
    release = release or read_current(db)
    assert release is not None
    root = release_path(db, release)

    def kept(name: str) -> bool:
        return numbered or not name.startswith(f"{SUBCOHORT_DIR}/")

    out: dict[str, Any] = {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != "release.json" and kept(str(p.relative_to(root)))
    }
    meta = read_release_meta(db, release)
    out["release.json"] = {k: v for k, v in meta.as_json().items() if k not in META_EXCLUDED}
    out["release.json"]["checksums"] = {k: v for k, v in meta.checksums.items() if kept(k)}
    return out


def assert_same_release(got: dict[str, Any], want: dict[str, Any]) -> None:
    differ = sorted(k for k in set(got) | set(want) if got.get(k) != want.get(k))
    assert not differ, f"files differ: {differ}"
