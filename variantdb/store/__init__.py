"""The database's stored state: raw calls and gaps, registry, changelog, pseudonyms."""
