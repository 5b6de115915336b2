"""The base class of the core's user-facing errors.

Every error the core raises for a user to read (a bad manifest, an unknown
release, a locked database ...) subclasses :class:`VariantdbError`, so the CLI
and the service catch one class and print its message, never a traceback. Each
also keeps the built-in base it always had (``ValueError``, ``LookupError``,
``RuntimeError``), so code catching those still works.
"""

from __future__ import annotations

__all__ = ["VariantdbError"]


class VariantdbError(Exception):
    """A user-facing error whose message names what was wrong and where.

    The message is what a user reads: it names the file, record, field or value
    at fault and, where there is one, what to do about it.
    """
