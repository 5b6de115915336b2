"""The variantdb HTTP service (FastAPI): lookups, regions, genes, releases, stats, health and metrics."""
