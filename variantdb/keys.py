"""API keys: created, listed and revoked by the CLI, verified by the service.

A key reads ``vdb_<id>_<secret>``: the 12-hex-digit ``id`` is public (``keys
list`` and the audit log name it, and it finds the key's record in O(1)); the
secret is 43 URL-safe characters (256 bits) and is printed once, at creation.
Only a salted scrypt hash of the whole key is stored, in ``DB/access/keys.json``,
outside ``registry.duckdb`` (the service never opens the registry). The file
is rewritten whole under an exclusive lock and replaced atomically (write, fsync,
rename), so a reader sees the old or the new file, never half of one, and the
service notices a change by the file's identity (inode, size, mtime).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import json
import os
import re
import secrets
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from variantdb.errors import VariantdbError
from variantdb.store.layout import access_dir
from variantdb.timestamps import now_utc

__all__ = [
    "KEY_ROLES",
    "ApiKey",
    "KeyStore",
    "KeyStoreError",
    "access_dir",
    "hash_key",
    "parse_key",
]

#: Roles a key may carry (``public`` is the role of having no key).
KEY_ROLES = ("registered", "controlled", "admin")

_KEY = re.compile(r"^vdb_(?P<id>[0-9a-f]{12})_(?P<secret>[A-Za-z0-9_-]{43})$")
_ID = re.compile(r"^[0-9a-f]{12}$")
# scrypt cost: 16 MiB and ~50 ms per hash; the service verifies a key once and caches it.
_N, _R, _P, _DKLEN = 2**14, 8, 1, 32


class KeyStoreError(VariantdbError, ValueError):
    """A key command was given something invalid (unknown id, bad role, unreadable key file)."""


@dataclass(frozen=True)
class ApiKey:
    """One stored key: its public id, label, role, times, and the salted hash of the key."""

    id: str
    name: str
    role: str
    created: str
    revoked: str | None
    salt: str
    hash: str
    n: int = _N
    r: int = _R
    p: int = _P

    def public(self) -> dict[str, Any]:
        """Return what ``keys list`` shows: no salt, no hash."""
        return {
            "id": self.id,
            "name": self.name,
            "role": self.role,
            "created": self.created,
            "revoked": self.revoked,
        }


def parse_key(text: str) -> str | None:
    """Return the public id of a well-formed key, or None when ``text`` is not one."""
    m = _KEY.match(text)
    return m["id"] if m else None


def hash_key(key: str, salt: bytes, n: int = _N, r: int = _R, p: int = _P) -> bytes:
    """Return the scrypt hash of a whole key with a salt."""
    return hashlib.scrypt(key.encode(), salt=salt, n=n, r=r, p=p, maxmem=64 * 1024 * 1024, dklen=_DKLEN)


def _now() -> str:
    return now_utc()


class KeyStore:
    """The keys of one database (``DB/access/keys.json``).

    Parameters
    ----------
    db
        The database directory.
    """

    def __init__(self, db: Path) -> None:
        self.dir = access_dir(db)
        self.path = self.dir / "keys.json"
        self._lock_path = self.dir / "keys.lock"

    # --- reading ------------------------------------------------------------------------

    def load(self) -> dict[str, ApiKey]:
        """Return every key by id (an absent file is no keys).

        Raises
        ------
        KeyStoreError
            When the file is not a key file this module wrote.
        """
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        try:
            data = json.loads(raw)
            keys = [ApiKey(**k) for k in data["keys"]]
        except (ValueError, KeyError, TypeError) as e:
            raise KeyStoreError(f"{self.path}: not a variantdb key file ({e})") from None
        return {k.id: k for k in keys}

    def stamp(self) -> tuple[int, int, int] | None:
        """Return the key file's identity (inode, size, mtime ns), or None when absent: it changes with the keys."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    @staticmethod
    def verify(key: str, stored: ApiKey) -> bool:
        """Return True when ``key`` hashes to the stored hash (constant-time comparison)."""
        got = hash_key(key, bytes.fromhex(stored.salt), stored.n, stored.r, stored.p)
        return hmac.compare_digest(got, bytes.fromhex(stored.hash))

    # --- writing ------------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[dict[str, ApiKey]]:
        self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            keys = self.load()
            yield keys
            self._write(keys)
        finally:
            os.close(fd)

    def _write(self, keys: dict[str, ApiKey]) -> None:
        tmp = self.path.with_name(f".keys.{os.getpid()}.tmp")
        body = json.dumps({"keys": [asdict(k) for k in keys.values()]}, indent=1).encode()
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, body)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.path)
        dfd = os.open(self.dir, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)

    def create(self, role: str, name: str) -> tuple[str, ApiKey]:
        """Create a key; return the key (shown once, never stored) and its record.

        Raises
        ------
        KeyStoreError
            For a role other than registered, controlled or admin, or an empty name.
        """
        if role not in KEY_ROLES:
            raise KeyStoreError(f"role {role!r} is not one of {', '.join(KEY_ROLES)} (public needs no key)")
        name = name.strip()
        if not name or len(name) > 200 or any(ord(c) < 32 for c in name):
            raise KeyStoreError(
                "--name must be 1-200 printable characters, e.g. the lab or person the key is for"
            )
        with self._locked() as keys:
            kid = secrets.token_hex(6)
            while kid in keys:
                kid = secrets.token_hex(6)
            key = f"vdb_{kid}_{secrets.token_urlsafe(32)}"
            salt = secrets.token_bytes(16)
            rec = ApiKey(kid, name, role, _now(), None, salt.hex(), hash_key(key, salt).hex())
            keys[kid] = rec
        return key, rec

    def revoke(self, key_id: str) -> ApiKey:
        """Revoke a key by its id; revoking a revoked key keeps its first revocation time.

        Raises
        ------
        KeyStoreError
            When no key has this id.
        """
        if not _ID.match(key_id):
            raise KeyStoreError(
                f"{key_id[:40]!r} is not a key id (12 hex digits, as `variantdb keys list` shows)"
            )
        with self._locked() as keys:
            rec = keys.get(key_id)
            if rec is None:
                raise KeyStoreError(f"no key has id {key_id}; see `variantdb keys list`")
            if rec.revoked is None:
                rec = ApiKey(**{**asdict(rec), "revoked": _now()})
                keys[key_id] = rec
        return rec
