"""One router module per resource; :mod:`variantdb.api.main` includes them all."""
