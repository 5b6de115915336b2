"""Building and reading releases: aggregation, AN and coverage tracks, index, files, checks."""
