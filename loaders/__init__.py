"""Loaders: read VCF/gVCF batches into calls and gaps, publish releases, and the ``variantdb`` CLI."""
