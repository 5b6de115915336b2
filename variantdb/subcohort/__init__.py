"""Sub-cohort counts: filters, per-batch carrier segments, queries and export."""
