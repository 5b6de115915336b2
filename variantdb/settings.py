"""Every threshold, limit and deployment setting, declared once.

Each setting can be overridden by the environment variable
``VARIANTDB_<NAME>`` (upper case), read when :func:`get_settings` is called
(never frozen at import, so a process sees the environment of the moment). The
CLI, the service and the docs read these: ``docs/settings.md`` holds the table
:func:`settings_table` prints (``python -m variantdb.settings --markdown``), and
a release records the thresholds and limits it was built with
(:meth:`Settings.as_dict`). The deployment settings (the database the service
serves, the anonymous role, the operator, the pseudonym secret) are not
recorded; the pseudonym secret is never printed.
"""

from __future__ import annotations

import argparse
import sys
import types
import typing
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from variantdb.errors import VariantdbError

__all__ = [
    "DEFAULT_PSEUDONYM_KEY_FILE",
    "ENV_PREFIX",
    "Settings",
    "SettingsError",
    "env_name",
    "get_settings",
    "main",
    "settings_table",
]

ENV_PREFIX = "VARIANTDB_"

DEFAULT_PSEUDONYM_KEY_FILE = Path("~/.config/variantdb/pseudonym.key")


class SettingsError(VariantdbError, ValueError):
    """A ``VARIANTDB_*`` variable whose value is not of its setting's type."""


class Settings(BaseSettings):
    """Thresholds and limits of loading and serving, and the deployment's settings.

    ``Settings()`` reads the ``VARIANTDB_<NAME>`` environment variables;
    keyword arguments win over them.
    """

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="forbid")

    # --- thresholds and limits: recorded in each release ----------------------------------
    adj_min_gq: int = Field(20, description="adj: minimum genotype quality (GQ)")
    adj_min_dp: int = Field(10, description="adj: minimum depth (DP, MIN_DP in gVCF blocks)")
    adj_min_ab: float = Field(0.2, description="adj: minimum allele balance AD[alt]/DP of heterozygous calls")
    call_bin_size: int = Field(
        10_000_000, description="width in bp of the position bins partitioning stored calls"
    )
    batch_rows: int = Field(200_000, description="calls buffered before a Parquet row group is written")
    aggregate_memory_mb: int = Field(
        1024, description="memory (MB) DuckDB may use when aggregating before it spills to disk"
    )
    subcohort_merge_fanout: int = Field(
        4,
        description="the last this many sub-cohort segments are merged into one when none is of a larger "
        "size tier than the newest (0 or 1: never)",
    )
    subcohort_merge_max_entries: int = Field(
        1 << 26, description="most carriers + no-call intervals the sub-cohort merges of one publish may move"
    )
    max_batch_ids: int = Field(10_000, description="most variant ids in one batch request")
    max_region_span: int = Field(5_000_000, description="largest region (bp) one region query may cover")
    page_size: int = Field(100, description="default page size of region and gene queries")
    max_page_size: int = Field(1000, description="largest page size of region queries")
    max_annotate_bytes: int = Field(
        2 * 1024**3, description="largest VCF (bytes, as uploaded) that POST /v1/annotate accepts"
    )
    keep_releases: int = Field(
        0,
        description="releases kept after each publish (the newest ones; never the current); 0 keeps all; "
        "also the default of `variantdb prune --keep`",
    )
    reload_interval: float = Field(
        1.0, description="seconds between checks of CURRENT (and of the API keys) by the service"
    )
    small_count_threshold: int = Field(
        5, description="registered callers see counts from 1 to this minus 1 as '<N' (imprecise)"
    )
    public_requests_per_minute: int = Field(
        60, description="rate limit of each client address without a key (0: none)"
    )
    public_daily_queries: int = Field(
        1000, description="variant queries per UTC day of each client address without a key (0: none)"
    )
    registered_requests_per_minute: int = Field(
        600, description="rate limit of each registered key (0: none)"
    )
    registered_daily_queries: int = Field(
        100_000, description="variant queries per UTC day of each registered key (0: none)"
    )
    controlled_requests_per_minute: int = Field(
        60_000, description="rate limit of each controlled key (0: none)"
    )
    controlled_daily_queries: int = Field(
        0, description="variant queries per UTC day of each controlled key (0: none)"
    )
    max_request_bytes: int = Field(
        8 * 1024**2, description="largest request body (bytes) of every route but POST /v1/annotate"
    )

    # --- the deployment: not recorded in a release ------------------------------------------
    session_max_age: int = Field(
        8 * 3600,
        exclude=True,
        description="seconds a browser session lasts from sign-in (POST /signin); it also ends on "
        "sign-out and when its key is revoked",
    )
    proxy_user_header: str | None = Field(
        None,
        exclude=True,
        description="the request header in which a trusted reverse proxy names the signed-in user, e.g. "
        "X-Remote-User; the user gets the role of the unrevoked key whose name is the user name; unset: off",
    )
    trusted_proxies: str = Field(
        "127.0.0.1,::1",
        exclude=True,
        description="comma-separated client addresses whose `proxy_user_header` is believed; "
        "the header from any other address is ignored",
    )
    db: Path | None = Field(
        None,
        exclude=True,
        description="the database directory the service serves "
        "(`variantdb.api.main:create_app_from_env`; `variantdb serve --db` sets it for its workers)",
    )
    anonymous_role: str = Field(
        "public",
        exclude=True,
        description="the role of a caller without an API key: public, registered or controlled "
        "(a closed network may serve everyone inside it at a higher role)",
    )
    operator: str | None = Field(
        None,
        exclude=True,
        description="who acts, for the changelog, when a command has no `--operator`; unset: the OS user",
    )
    pseudonym_key: SecretStr | None = Field(
        None,
        exclude=True,
        description="the secret sample ids are pseudonymized with (HMAC-SHA256); "
        "when unset, read from `pseudonym_key_file`. Never printed",
    )
    pseudonym_key_file: Path = Field(
        DEFAULT_PSEUDONYM_KEY_FILE,
        exclude=True,
        description="the file holding the pseudonym secret when `pseudonym_key` is unset; created "
        "(32 random bytes, mode 0600) on first use; refused inside the database directory",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Read keyword arguments, then the environment; no ``.env`` or secrets directory."""
        return init_settings, env_settings

    @field_validator("db", "operator", "proxy_user_header", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        return None if value == "" else value

    @field_validator("pseudonym_key_file", mode="before")
    @classmethod
    def _empty_is_default(cls, value: Any) -> Any:
        return DEFAULT_PSEUDONYM_KEY_FILE if value in ("", None) else value

    def as_dict(self) -> dict[str, object]:
        """Return the thresholds and limits as a plain dict (recorded in each release).

        The deployment settings (``db``, ``anonymous_role``, ``operator``, the
        pseudonym secret and its file) are left out.
        """
        return self.model_dump()


def get_settings(**overrides: Any) -> Settings:
    """Return the settings, with ``VARIANTDB_<NAME>`` environment overrides applied.

    The environment is read on every call. Keyword arguments win over the environment.

    Raises
    ------
    SettingsError
        A variable's value is not of its setting's type (a ``ValueError``).
    """
    try:
        return Settings(**overrides)
    except ValidationError as e:
        problems = []
        for err in e.errors():
            name = str(err["loc"][0]) if err["loc"] else "?"
            secret = (
                name in Settings.model_fields
                and _type_name(Settings.model_fields[name].annotation) == "secret"
            )
            given = "" if secret else f" = {err.get('input')!r}"
            problems.append(f"{env_name(name)}{given}: {err['msg']}")
        raise SettingsError("bad setting: " + "; ".join(problems) + " (see docs/settings.md)") from None


def env_name(name: str) -> str:
    """Return the environment variable of setting ``name``: ``VARIANTDB_<NAME>``."""
    return f"{ENV_PREFIX}{name.upper()}"


def _type_name(annotation: Any) -> str:
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if isinstance(annotation, types.UnionType) and len(args) == 1:
        annotation = args[0]
    return {int: "int", float: "float", str: "str", Path: "path", SecretStr: "secret"}.get(
        annotation, str(annotation)
    )


def _default(value: Any) -> str:
    if value is None:
        return "unset"
    if isinstance(value, bool) or not isinstance(value, int):
        return f"`{value}`"
    return f"`{value:,}`"


def settings_table() -> str:
    """Return the Markdown table of every setting: name, variable, type, default, recorded, description.

    ``docs/settings.md`` holds it verbatim (a test checks that).
    """
    rows = [
        "| setting | environment variable | type | default | recorded in a release | description |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, f in Settings.model_fields.items():
        recorded = "no" if f.exclude else "yes"
        doc = (f.description or "").replace("|", "\\|")
        rows.append(
            f"| `{name}` | `{env_name(name)}` | {_type_name(f.annotation)} | {_default(f.default)} "
            f"| {recorded} | {doc} |"
        )
    return "\n".join(rows) + "\n"


def main(argv: list[str] | None = None) -> int:
    """``python -m variantdb.settings``: print the settings in effect (secrets masked), or ``--markdown``."""
    parser = argparse.ArgumentParser(prog="python -m variantdb.settings", description=main.__doc__)
    parser.add_argument(
        "--markdown", action="store_true", help="print the reference table of docs/settings.md"
    )
    args = parser.parse_args(argv)
    if args.markdown:
        sys.stdout.write(settings_table())
        return 0
    s = get_settings()
    for name in Settings.model_fields:
        value = getattr(s, name)
        sys.stdout.write(f"{env_name(name)}={'' if value is None else value}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
