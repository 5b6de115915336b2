"""Sub-cohort counts: filters, per-batch carrier segments, queries.

A lab asks for combinations the release's strata did not foresee (XX founders in
one region with one patient group, exomes only, ...). The release writes
per-batch carrier segments beside its variant table (:mod:`.segments`); a query
masks the matching cohort rows (:mod:`.filters`) and sums their carriers and
no-call intervals (:mod:`.queries`).
"""

from variantdb.subcohort.filters import (
    FILTER_KEYS,
    ROLES,
    SUBCOHORT_FIELDS,
    SubcohortFilter,
    SubcohortFilterError,
    make_filter,
    parse_filter_args,
    subcohort_schema,
)
from variantdb.subcohort.queries import SubcohortIndex
from variantdb.subcohort.segments import (
    SUBCOHORT_VERSION,
    allele_hash,
    extend_subcohort,
    variant_keys,
    write_subcohort,
)

__all__ = [
    "FILTER_KEYS",
    "ROLES",
    "SUBCOHORT_FIELDS",
    "SUBCOHORT_VERSION",
    "SubcohortFilter",
    "SubcohortFilterError",
    "SubcohortIndex",
    "allele_hash",
    "extend_subcohort",
    "make_filter",
    "parse_filter_args",
    "subcohort_schema",
    "variant_keys",
    "write_subcohort",
]
