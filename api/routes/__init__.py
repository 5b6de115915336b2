"""One router module per resource; :mod:`api.main` includes them all."""
