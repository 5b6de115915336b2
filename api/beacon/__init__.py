"""GA4GH Beacon v2 under ``/beacon/v2``: the router, the documents, the query translation."""

from variantdb.api.beacon.endpoints import router

__all__ = ["router"]
