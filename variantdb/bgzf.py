"""Tell a BGZF file (bgzipped VCF, BCF) that was cut short.

htslib reads a truncated BGZF file up to the cut with only a warning, and a
region query over a stale index may never reach it; the 28-byte end-of-file
block that every complete BGZF file ends with is the reliable sign.
"""

from __future__ import annotations

from pathlib import Path

from variantdb.errors import VariantdbError

__all__ = ["TruncatedFileError", "check_bgzf_eof"]

_BGZF_EOF = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")


class TruncatedFileError(VariantdbError, ValueError):
    """A BGZF file without its end-of-file block."""


def check_bgzf_eof(path: Path) -> None:
    """Refuse a BGZF file that lacks the end-of-file block; other files pass.

    Raises
    ------
    TruncatedFileError
        Naming the file.
    """
    with open(path, "rb") as fh:
        head = fh.read(18)
        if len(head) < 18 or head[:4] != b"\x1f\x8b\x08\x04" or head[12:14] != b"BC":
            return  # not BGZF: plain gzip or text, read to the end by the parser
        fh.seek(0, 2)
        size = fh.tell()
        fh.seek(max(0, size - len(_BGZF_EOF)))
        if fh.read() != _BGZF_EOF:
            raise TruncatedFileError(
                f"{path}: corrupt or truncated input: the BGZF end-of-file block is missing "
                "(the file was cut short; copy it again)"
            )
