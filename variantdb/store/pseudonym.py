"""Pseudonymized sample ids: a keyed HMAC-SHA256 whose secret lives outside the database.

The registry never holds the ids a manifest gives (nor parent or family ids,
nor the VCF's path, often named after the person): it holds
``HMAC-SHA256(secret, id)`` in hex. Loading, the duplicate-sample
check, withdrawal and consent changes take the original id and hash it with the
same secret, so whoever holds the secret can find a person's record and nobody
holding only the database can tell whose it is.

The secret comes from the environment variable ``VARIANTDB_PSEUDONYM_KEY`` or,
failing that, from a key file: ``VARIANTDB_PSEUDONYM_KEY_FILE``, default
``~/.config/variantdb/pseudonym.key``, created with 32 random bytes and mode
0600 on first use. A key file inside the database directory is refused (the
secret must not travel with the data). The registry keeps a verifier, the HMAC
of a fixed string, never the secret, and a write with another secret is refused.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from variantdb.errors import VariantdbError
from variantdb.manifest import SampleRecord
from variantdb.settings import DEFAULT_PSEUDONYM_KEY_FILE, get_settings

__all__ = [
    "DEFAULT_KEY_FILE",
    "PseudonymKeyError",
    "Pseudonymizer",
    "load_pseudonymizer",
]

DEFAULT_KEY_FILE = DEFAULT_PSEUDONYM_KEY_FILE
_VERIFIER_MESSAGE = b"variantdb pseudonym key verifier v1"
_META_KEY = "pseudonym_verifier"


class PseudonymKeyError(VariantdbError, RuntimeError):
    """The pseudonym secret is missing, unsafe, or not the one the database was created with."""


@dataclasses.dataclass(frozen=True)
class Pseudonymizer:
    """Turn original sample ids into the pseudonyms the registry stores.

    Parameters
    ----------
    secret
        The HMAC key (bytes).
    source
        Where the secret came from, for messages (never the secret itself).
    """

    secret: bytes = dataclasses.field(repr=False)
    source: str

    def pseudonym(self, sample_id: str) -> str:
        """Return the stored form of an id: HMAC-SHA256 of its UTF-8 bytes, 64 hex digits."""
        return hmac.new(self.secret, sample_id.encode("utf-8"), hashlib.sha256).hexdigest()

    def vcf(self, path: str | Path) -> str:
        """Return the stored form of a VCF's path: the pseudonym of ``"vcf:" + path``.

        The same value the registry's ``samples.vcf`` holds, so a stored load
        report's file matches its samples for whoever holds the secret.
        """
        return self.pseudonym(f"vcf:{path}")

    def verifier(self) -> str:
        """Return the HMAC of a fixed string, which the registry keeps to recognise the secret."""
        return hmac.new(self.secret, _VERIFIER_MESSAGE, hashlib.sha256).hexdigest()

    def record(self, rec: SampleRecord) -> SampleRecord:
        """Return a manifest record with sample, parent and family ids and the VCF path pseudonymized.

        A genome's file is often named after the person (``NA12878.g.vcf.gz``,
        a hospital number): the registry keeps ``HMAC("vcf:" + path)`` instead,
        which whoever holds the secret and the manifest can match, and nobody else
        can read. Shared capture BEDs are kept as they are.
        """

        def p(value: str | None) -> str | None:
            return None if value is None else self.pseudonym(value)

        return dataclasses.replace(
            rec,
            sample_id=self.pseudonym(rec.sample_id),
            father_id=p(rec.father_id),
            mother_id=p(rec.mother_id),
            family_id=p(rec.family_id),
            vcf=Path(self.vcf(rec.vcf)),
        )

    def check_registry(self, con: object) -> None:
        """Refuse a secret other than the one the database was created with; record it on first use.

        Parameters
        ----------
        con
            A read-write DuckDB connection to the registry (with its ``meta`` table).

        Raises
        ------
        PseudonymKeyError
            The registry has a verifier from another secret, or holds samples but no verifier.
        """
        import duckdb

        assert isinstance(con, duckdb.DuckDBPyConnection)
        rows = con.execute("SELECT value FROM meta WHERE key = ?", [_META_KEY]).fetchall()
        if not rows:
            n = con.execute("SELECT count(*) FROM samples").fetchall()
            if n[0][0] > 0:
                raise PseudonymKeyError(
                    "the registry holds samples but no pseudonym verifier: it was created before sample "
                    "ids were pseudonymized; load its batches again into a new database"
                )
            con.execute("INSERT INTO meta VALUES (?, ?)", [_META_KEY, self.verifier()])
            return
        if not hmac.compare_digest(str(rows[0][0]), self.verifier()):
            raise PseudonymKeyError(
                f"the pseudonym secret from {self.source} is not the one this database was created with; "
                "set VARIANTDB_PSEUDONYM_KEY or VARIANTDB_PSEUDONYM_KEY_FILE to the database's secret "
                "(sample ids hashed with another secret would not match the stored ones)"
            )


def _key_file() -> Path:
    return get_settings().pseudonym_key_file.expanduser()


def load_pseudonymizer(db: Path | None = None, create: bool = True) -> Pseudonymizer:
    """Return the pseudonymizer of the configured secret.

    Parameters
    ----------
    db
        The database directory; a key file inside it is refused. Default None (not checked).
    create
        Create the key file (32 random bytes as hex, mode 0600, folder 0700) when it
        does not exist. Default True.

    Raises
    ------
    PseudonymKeyError
        No secret, an empty one, a key file readable by others or inside the database.
    """
    secret = get_settings().pseudonym_key
    if secret is not None:
        env = secret.get_secret_value()
        if not env.strip():
            raise PseudonymKeyError("VARIANTDB_PSEUDONYM_KEY is set but empty")
        return Pseudonymizer(env.strip().encode("utf-8"), "VARIANTDB_PSEUDONYM_KEY")
    path = _key_file()
    if db is not None:
        try:
            path.resolve().relative_to(Path(db).resolve())
        except ValueError:
            pass
        else:
            raise PseudonymKeyError(
                f"the pseudonym key file {path} is inside the database directory {db}; "
                "keep the secret apart from the data (VARIANTDB_PSEUDONYM_KEY_FILE)"
            )
    if not path.exists():
        if not create:
            raise PseudonymKeyError(
                f"no pseudonym key: {path} does not exist and VARIANTDB_PSEUDONYM_KEY is unset"
            )
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process created it first: read theirs
        else:
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32) + "\n")
                fh.flush()
                os.fsync(fh.fileno())
    mode = path.stat().st_mode
    if mode & 0o077:
        raise PseudonymKeyError(
            f"the pseudonym key file {path} is readable by others (mode {mode & 0o777:o}); chmod 600 it"
        )
    text = path.read_text().strip()
    if not text:
        raise PseudonymKeyError(f"the pseudonym key file {path} is empty")
    return Pseudonymizer(text.encode("utf-8"), str(path))
