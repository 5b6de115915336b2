"""variantdb: a national variant and allele-frequency database."""

__version__ = "0.1.0"
__all__ = ["__version__"]
