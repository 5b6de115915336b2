"""Benchmarks of variantdb and the synthetic cohort generator they and the tests share."""
