"""Releases: immutable, self-describing directories, and the CURRENT pointer.

A release is written under a temporary name, checksummed, fsynced and renamed
into place; ``CURRENT`` names the live one and is replaced atomically (write
new file, fsync, rename, fsync the directory), so a reader sees the old release
or the new one, never a mixture.

Where each file lives: :mod:`variantdb.store.layout`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from variantdb.genome import CONTIGS
from variantdb.release.meta import ReleaseDescription, ReleaseMeta, parse_release_meta
from variantdb.store.layout import (
    RELEASE_ID,
    ReleaseNotFoundError,
    current_file,
    fsync_dir,
    release_path,
    releases_dir,
    variants_file,
)
from variantdb.timestamps import format_utc

__all__ = [
    "checksums",
    "file_sha256",
    "linked_checksums",
    "list_releases",
    "next_release_id",
    "read_current",
    "read_release_meta",
    "set_current",
    "write_release",
    "write_release_meta",
]


def read_current(db: Path) -> str | None:
    """Return the id of the live release, or None before the first release."""
    try:
        text = current_file(db).read_text().strip()
    except FileNotFoundError:
        return None
    return text or None


def set_current(db: Path, release_id: str) -> None:
    """Point ``CURRENT`` at a release atomically."""
    db = Path(db)
    if not (release_path(db, release_id) / "release.json").exists():
        raise ReleaseNotFoundError(f"release {release_id} is not published in {db}")
    tmp = db / f".CURRENT.{os.getpid()}"
    with open(tmp, "w") as fh:
        fh.write(release_id + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, current_file(db))
    fsync_dir(db)


def list_releases(db: Path) -> list[str]:
    """Return the ids of published releases, oldest first."""
    root = releases_dir(db)
    if not root.exists():
        return []
    return sorted(
        p.name for p in root.iterdir() if RELEASE_ID.match(p.name) and (p / "release.json").exists()
    )


def next_release_id(db: Path) -> str:
    """Return the id the next release will take."""
    existing = [int(r[1:]) for r in list_releases(db)]
    return f"r{(max(existing) + 1 if existing else 1):04d}"


def read_release_meta(db: Path, release_id: str) -> ReleaseMeta:
    """Return a release's ``release.json``, its ``created`` time in the one format (``...T08:15:00Z``).

    Releases published before that format wrote ``+00:00``; they read the same as new ones.
    """
    path = release_path(db, release_id) / "release.json"
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ReleaseNotFoundError(f"release {release_id} is not published in {db}") from None
    meta = parse_release_meta(text, str(path))
    with contextlib.suppress(ValueError):
        created = format_utc(meta.created)
        if created != meta.created:
            meta = meta.model_copy(update={"created": created})
    return meta


def write_release_meta(path: Path, meta: ReleaseMeta) -> None:
    """Write ``release.json`` (``path``) from ``meta`` and fsync it; the caller renames it into place."""
    with open(path, "w") as fh:
        json.dump(meta.as_json(), fh, indent=1, ensure_ascii=False)
        fh.flush()
        os.fsync(fh.fileno())


def checksums(root: Path, reuse: dict[str, str] | None = None) -> dict[str, str]:
    """Return the SHA-256 of every file under ``root`` but ``release.json``, by relative path.

    Parameters
    ----------
    root
        A release directory.
    reuse
        Checksums known already, by relative path (files hard-linked from the
        previous release, see :func:`linked_checksums`): not read again. Default None.
    """
    reuse = reuse or {}
    out = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.name != "release.json":
            rel = str(path.relative_to(root))
            out[rel] = reuse[rel] if rel in reuse else file_sha256(path)
    return out


def linked_checksums(root: Path, previous: Path) -> dict[str, str]:
    """Return the recorded checksums of the files of ``root`` that are hard links of the same path in ``previous``.

    A sub-cohort segment carried over is such a link: same inode, so the
    checksum ``previous``'s ``release.json`` records is the file's.
    """
    meta_path = previous / "release.json"
    if not meta_path.exists():
        return {}
    known = parse_release_meta(meta_path.read_text(), str(meta_path)).checksums
    return {rel: sha for rel, sha in known.items() if _same_file(root / rel, previous / rel)}


def file_sha256(path: Path) -> str:
    """Return the SHA-256 of one file, hex."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _same_file(path: Path, other: Path) -> bool:
    """Return True when both exist and are the same inode (a hard link)."""
    try:
        return os.path.samefile(path, other)
    except OSError:
        return False


def write_release(
    db: Path,
    release_id: str,
    variants: Iterable[pa.Table],
    an_track: pa.Table | Callable[[], pa.Table],
    meta: ReleaseDescription | Mapping[str, Any],
    *,
    make_current: bool = True,
    extra: Callable[[Path], object] | None = None,
    previous: Path | None = None,
) -> Path:
    """Write a release directory, build its index, and publish it.

    Parameters
    ----------
    db
        The database directory.
    release_id
        ``r`` followed by digits, see :func:`next_release_id`.
    variants
        The variant table (``schema.variants_schema()``) as tables of one contig
        each, in contig order, each sorted by (pos, ref, alt).
    an_track
        The AN track (``schema.an_schema()``), sorted by contig and start, or a
        function returning it, called once ``variants`` is consumed (so a
        producer can build both in one streaming pass).
    meta
        Metadata recorded in ``release.json`` (samples, batches, thresholds ...), a
        :class:`~variantdb.release.meta.ReleaseDescription` or the same as a mapping
        (validated by it); ``id``, ``n_variants``, ``contigs`` and ``checksums`` are added here.
    make_current
        Switch ``CURRENT`` to the new release. Default True.
    extra
        Called with the release directory once the variant tables and the AN
        track are written, before the index and checksums: writes further files
        into the release (the sub-cohort structures). Default None.
    previous
        The release this one extends: files hard-linked from it keep their recorded
        checksums and are not read or synced again (see :func:`linked_checksums`). Default None.

    Notes
    -----
    On any error (a producer refusing a table included) the release folder is
    removed and ``CURRENT`` is left as it was.
    """
    db = Path(db)
    final = release_path(db, release_id)
    if final.exists():
        raise FileExistsError(f"release {release_id} already exists in {db}")
    tmp = final.parent / f".tmp-{release_id}"
    if tmp.exists():
        shutil.rmtree(tmp)
    try:
        return _write_release(
            db, release_id, variants, an_track, meta, make_current, extra, previous, final, tmp
        )
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)  # nothing half-written is left behind
        raise


def _write_release(
    db: Path,
    release_id: str,
    variants: Iterable[pa.Table],
    an_track: pa.Table | Callable[[], pa.Table],
    meta: ReleaseDescription | Mapping[str, Any],
    make_current: bool,
    extra: Callable[[Path], object] | None,
    previous: Path | None,
    final: Path,
    tmp: Path,
) -> Path:
    from variantdb.release.index import build_index

    (tmp / "variants").mkdir(parents=True)
    n_variants = 0
    contigs: dict[str, int] = {}
    for table in variants:
        if table.num_rows == 0:
            continue
        chrom = table.column("chrom")[0].as_py()
        if chrom not in CONTIGS:
            raise ValueError(f"unknown contig {chrom!r} in release table")
        pq.write_table(table, variants_file(tmp, chrom), row_group_size=1 << 17, compression="zstd")
        n_variants += table.num_rows
        contigs[chrom] = table.num_rows
    track = an_track() if callable(an_track) else an_track
    pq.write_table(track, tmp / "an.parquet", compression="zstd")
    if extra is not None:
        extra(tmp)
    build_index(tmp)
    linked = {} if previous is None else linked_checksums(tmp, previous)
    described = meta.as_json() if isinstance(meta, ReleaseDescription) else dict(meta)
    written = ReleaseMeta.model_validate(
        {
            **described,
            "id": release_id,
            "n_variants": n_variants,
            "contigs": contigs,
            "checksums": checksums(tmp, linked),
        }
    )
    write_release_meta(tmp / "release.json", written)
    for path in tmp.rglob("*"):  # linked files are durable already: the previous release synced them
        if path.is_file() and str(path.relative_to(tmp)) not in linked:
            with open(path, "rb") as fh:
                os.fsync(fh.fileno())
    # The folders' entries too (hard links carried over are entries only), deepest first.
    for folder in sorted((p for p in tmp.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
        fsync_dir(folder)
    fsync_dir(tmp)
    os.replace(tmp, final)
    fsync_dir(final.parent)
    if make_current:
        set_current(db, release_id)
    return final
