"""Every threshold and limit, declared once.

The CLI, the docs and the ``/v1/releases`` metadata read these; a release
records the values it was built with. Each can be overridden by an environment
variable ``VARIANTDB_<NAME>`` (upper case), read when :func:`get_settings` is called.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field, fields

__all__ = ["Settings", "get_settings"]


@dataclass(frozen=True)
class Settings:
    """Thresholds and limits of loading and serving."""

    adj_min_gq: int = field(default=20, metadata={"doc": "adj: minimum genotype quality (GQ)"})
    adj_min_dp: int = field(default=10, metadata={"doc": "adj: minimum depth (DP, MIN_DP in gVCF blocks)"})
    adj_min_ab: float = field(
        default=0.2, metadata={"doc": "adj: minimum allele balance AD[alt]/DP of heterozygous calls"}
    )
    call_bin_size: int = field(
        default=10_000_000, metadata={"doc": "width in bp of the position bins partitioning stored calls"}
    )
    batch_rows: int = field(
        default=200_000, metadata={"doc": "calls buffered before a Parquet row group is written"}
    )
    aggregate_memory_mb: int = field(
        default=1024, metadata={"doc": "memory (MB) DuckDB may use when aggregating before it spills to disk"}
    )
    subcohort_merge_fanout: int = field(
        default=4,
        metadata={
            "doc": "the last this many sub-cohort segments are merged into one when none is of a larger size "
            "tier than the newest (0 or 1: never)"
        },
    )
    subcohort_merge_max_entries: int = field(
        default=1 << 26,
        metadata={"doc": "most carriers + no-call intervals the sub-cohort merges of one publish may move"},
    )
    max_batch_ids: int = field(default=10_000, metadata={"doc": "most variant ids in one batch request"})
    max_region_span: int = field(
        default=5_000_000, metadata={"doc": "largest region (bp) one region query may cover"}
    )
    page_size: int = field(default=100, metadata={"doc": "default page size of region and gene queries"})
    max_page_size: int = field(default=1000, metadata={"doc": "largest page size of region queries"})
    max_annotate_bytes: int = field(
        default=2 * 1024**3,
        metadata={"doc": "largest VCF (bytes, as uploaded) that POST /v1/annotate accepts"},
    )
    keep_releases: int = field(
        default=0,
        metadata={
            "doc": "releases kept after each publish (the newest ones; never the current); 0 keeps all"
        },
    )
    reload_interval: float = field(
        default=1.0,
        metadata={"doc": "seconds between checks of CURRENT (and of the API keys) by the service"},
    )
    small_count_threshold: int = field(
        default=5,
        metadata={"doc": "registered callers see counts from 1 to this minus 1 as '<N' (imprecise)"},
    )
    public_requests_per_minute: int = field(
        default=60, metadata={"doc": "rate limit of each client address without a key (0: none)"}
    )
    public_daily_queries: int = field(
        default=1000,
        metadata={"doc": "variant queries per UTC day of each client address without a key (0: none)"},
    )
    registered_requests_per_minute: int = field(
        default=600, metadata={"doc": "rate limit of each registered key (0: none)"}
    )
    registered_daily_queries: int = field(
        default=100_000, metadata={"doc": "variant queries per UTC day of each registered key (0: none)"}
    )
    controlled_requests_per_minute: int = field(
        default=60_000, metadata={"doc": "rate limit of each controlled key (0: none)"}
    )
    controlled_daily_queries: int = field(
        default=0, metadata={"doc": "variant queries per UTC day of each controlled key (0: none)"}
    )
    max_request_bytes: int = field(
        default=8 * 1024**2,
        metadata={"doc": "largest request body (bytes) of every route but POST /v1/annotate"},
    )

    def as_dict(self) -> dict[str, object]:
        """Return the settings as a plain dict (recorded in each release)."""
        return dataclasses.asdict(self)


def get_settings() -> Settings:
    """Return the settings, with ``VARIANTDB_<NAME>`` environment overrides applied."""
    overrides: dict[str, object] = {}
    for f in fields(Settings):
        raw = os.environ.get(f"VARIANTDB_{f.name.upper()}")
        if raw is not None:
            overrides[f.name] = float(raw) if isinstance(f.default, float) else int(raw)
    return Settings(**overrides)  # type: ignore[arg-type]  # values typed by their default
