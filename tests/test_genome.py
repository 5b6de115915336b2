from __future__ import annotations

import itertools

import pytest

from variantdb.genome import (
    CONTIG_LENGTHS,
    CONTIGS,
    UnknownContigError,
    canonical_contig,
    is_par,
    ploidy,
    ploidy_segments,
)


@pytest.mark.parametrize(
    ("alias", "canonical"),
    [
        ("chr1", "chr1"),
        ("1", "chr1"),
        ("NC_000001.11", "chr1"),
        ("CM000663.2", "chr1"),
        ("x", "chrX"),
        ("MT", "chrM"),
        ("chrM", "chrM"),
        ("NC_012920.1", "chrM"),
        ("23", None),
        ("chr1_KI270706v1_random", None),
        ("chrUn_GL000220v1", None),
        ("hs37d5", None),
    ],
)
def test_canonical_contig(alias: str, canonical: str | None) -> None:
    if canonical is None:
        with pytest.raises(UnknownContigError, match="not a GRCh38 primary contig"):
            canonical_contig(alias)
    else:
        assert canonical_contig(alias) == canonical


def test_par_boundaries_are_one_based_inclusive() -> None:
    assert [is_par("chrX", p) for p in (10000, 10001, 2781479, 2781480)] == [False, True, True, False]
    assert [is_par("chrX", p) for p in (155701382, 155701383, 156030895, 156030896)] == [
        False,
        True,
        True,
        False,
    ]
    assert not is_par("chr1", 10001)


@pytest.mark.parametrize(
    ("contig", "pos", "xx", "xy", "unknown"),
    [
        ("chr7", 1, 2, 2, 2),
        ("chrX", 5_000_000, 2, 1, 0),
        ("chrX", 10001, 2, 2, 2),
        ("chrY", 3_000_000, 0, 1, 0),
        ("chrY", 10001, 0, 0, 0),
        ("chrM", 100, 1, 1, 1),
    ],
)
def test_ploidy(contig: str, pos: int, xx: int, xy: int, unknown: int) -> None:
    assert (ploidy("XX", contig, pos), ploidy("XY", contig, pos), ploidy("unknown", contig, pos)) == (
        xx,
        xy,
        unknown,
    )


def test_ploidy_segments_tile_every_contig() -> None:
    for contig in CONTIGS:
        segs = ploidy_segments(contig)
        assert segs[0][0] == 1 and segs[-1][1] == CONTIG_LENGTHS[contig]
        assert all(a[1] + 1 == b[0] for a, b in itertools.pairwise(segs))
    assert [(s, e, p["XY"]) for s, e, p in ploidy_segments("chrX")] == [
        (1, 10000, 1),
        (10001, 2781479, 2),
        (2781480, 155701382, 1),
        (155701383, 156030895, 2),
        (156030896, 156040895, 1),
    ]
