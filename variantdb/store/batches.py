"""The raw store (``calls/`` and ``gaps/``): rewriting batches without some samples, crash-safely.

A withdrawal must delete a person's calls and no-call intervals. The batch
folders that hold them are rewritten into ``DB/pending/<release>/`` first
(files without the person are hard-linked, not copied), the registry change is
committed, and only then is each folder swapped in: the old one is renamed into
the pending folder's ``trash/``, the new one into place. :func:`finish_pending`
does the swaps and is idempotent, so :func:`variantdb.load.recover` rolls a crash
after the commit forward and throws the pending folder away otherwise.

Layout::

    DB/pending/<release>/calls/batch=B/...   rewritten calls of batch B
    DB/pending/<release>/gaps/batch=B/...    rewritten no-call intervals
    DB/pending/<release>/trash/...           the replaced folders, deleted last
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Collection, Iterable
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from variantdb.store.layout import KINDS, batch_dir, fsync_dir, literal_paths, pending_dir, pending_root

__all__ = ["finish_pending", "stage_without", "stored_sample_idx"]


def stage_without(db: Path, release_id: str, batches: Iterable[str], sample_idx: Collection[int]) -> Path:
    """Write each batch's calls and gaps without the given samples into the pending folder.

    Parameters
    ----------
    db
        Database directory.
    release_id
        The release the change will publish; names the pending folder.
    batches
        The batches holding the samples.
    sample_idx
        Registry numbers of the samples to leave out.

    Returns
    -------
    Path
        The pending folder. A file without those samples is hard-linked; one that
        held only them is left out. Everything written is fsynced.
    """
    root = pending_dir(db, release_id)
    drop = np.array(sorted(sample_idx), dtype=np.int32)
    for batch in batches:
        for kind in KINDS:
            src = batch_dir(db, kind, batch)
            dst = batch_dir(root, kind, batch)
            dst.mkdir(parents=True, exist_ok=True)
            if not src.exists():
                continue
            for path in sorted(src.rglob("*.parquet")):
                out = dst / path.relative_to(src)
                out.parent.mkdir(parents=True, exist_ok=True)
                pf = pq.ParquetFile(path)
                table = pf.read()
                mask = pc.is_in(table.column("sample_idx"), value_set=pa.array(drop))
                n_drop = pc.sum(mask).as_py() or 0
                if n_drop == 0:
                    os.link(path, out)
                    continue
                if n_drop == table.num_rows:
                    continue
                kept = table.filter(pc.invert(mask))
                pq.write_table(kept, out, compression=_compression(pf))
                with open(out, "rb") as fh:
                    os.fsync(fh.fileno())
            for d in sorted({p for p in dst.rglob("*") if p.is_dir()} | {dst}, reverse=True):
                fsync_dir(d)
    fsync_dir(root)
    return root


def _compression(pf: pq.ParquetFile) -> str:
    meta = pf.metadata
    return str(meta.row_group(0).column(0).compression).lower() if meta.num_row_groups else "zstd"


def finish_pending(db: Path, known_releases: Collection[str]) -> list[str]:
    """Swap in the rewritten batches of committed changes; throw away the others.

    Parameters
    ----------
    db
        Database directory.
    known_releases
        Release ids the registry has recorded: a pending folder named after one of
        them belongs to a committed change and is rolled forward.

    Returns
    -------
    list of str
        What was done, one line per pending folder.
    """
    root = pending_root(db)
    done: list[str] = []
    if not root.exists():
        return done
    for folder in sorted(root.iterdir()):
        if folder.name not in known_releases:
            shutil.rmtree(folder, ignore_errors=True)
            done.append(f"discarded the uncommitted change {folder.name}")
            continue
        trash = folder / "trash"
        for kind in KINDS:
            staged = folder / kind
            if not staged.exists():
                continue
            for new in sorted(staged.iterdir()):
                final = Path(db) / kind / new.name
                old = trash / kind / new.name
                if final.exists():
                    old.parent.mkdir(parents=True, exist_ok=True)
                    if old.exists():  # a crash between renames of an earlier attempt
                        shutil.rmtree(old)
                    final.rename(old)
                final.parent.mkdir(parents=True, exist_ok=True)
                new.rename(final)
                fsync_dir(final.parent)
        shutil.rmtree(folder)
        done.append(f"finished the committed change {folder.name}")
    fsync_dir(root)
    return done


def stored_sample_idx(db: Path, kind: str, batch: str) -> set[int]:
    """Return the sample numbers present in one batch's calls or gaps."""
    files = sorted(str(p) for p in batch_dir(db, kind, batch).rglob("*.parquet"))
    if not files:
        return set()
    con = duckdb.connect()
    try:
        rows = con.execute(
            "SELECT DISTINCT sample_idx FROM read_parquet(?)", [literal_paths(files)]
        ).fetchall()
    finally:
        con.close()
    return {int(r[0]) for r in rows}
