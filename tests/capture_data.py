"""Helpers shared by several test files (moved from test_capture.py); no tests here."""

from __future__ import annotations

import csv
from pathlib import Path

from tests.peers import (
    _bcftools,
)
from variantdb.manifest import read_manifest


def _add_columns(manifest: Path, tech: dict[str, tuple[str, str]]) -> None:
    """Add technology and capture_bed columns to a generated manifest."""
    with open(manifest) as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    for r in rows:
        r["technology"], r["capture_bed"] = tech.get(r["sample_id"], ("WGS", ""))
    with open(manifest, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]), delimiter="\t", lineterminator="\n")
        w.writeheader()
        w.writerows(rows)


def _capture_by_thirds(manifest: Path) -> tuple[list[str], dict[str, tuple[str, str]]]:
    """Make every third sample (from the first) an exome, the next a panel, the third WGS (no BED).

    Returns the sample ids and the (technology, BED) of those given one.
    """
    ids = [r.sample_id for r in read_manifest(manifest)]
    tech = {
        s: ("WES", "exome.bed") if i % 3 == 0 else ("panel", "panel.bed")
        for i, s in enumerate(ids)
        if i % 3 < 2
    }
    _add_columns(manifest, tech)
    return ids, tech


def _write_beds(peer: Path, out: Path) -> tuple[Path, Path]:
    """An exome-like BED over alternate blocks of sites, and a panel BED of a few blocks (plain contig names)."""
    positions: dict[str, list[int]] = {}
    for line in _bcftools("query", "-f", "%CHROM\t%POS\n", peer).splitlines():
        chrom, pos = line.split("\t")
        positions.setdefault(chrom, []).append(int(pos))
    exome, panel = ["track name=exome"], []
    for chrom, pos in positions.items():
        sites = sorted(set(pos))
        blocks = [sites[i : i + 7] for i in range(0, len(sites), 7)]
        for k, block in enumerate(blocks):
            if k % 2 == 0 and chrom != "chrM":
                # 0-based half-open: [first - 1, last) holds first..last (1-based); the
                # second interval overlaps the first, so they are merged.
                exome.append(f"{chrom}\t{block[0] - 1}\t{block[-1]}")
                exome.append(f"{chrom}\t{block[len(block) // 2] - 1}\t{block[-1]}")
            if k in (1, 4) and chrom in ("chr1", "chr7", "chrX"):
                panel.append(f"{chrom.removeprefix('chr')}\t{block[1] - 1}\t{block[-2]}")
    (out / "exome.bed").write_text("\n".join(exome) + "\n")
    (out / "panel.bed").write_text("\n".join(panel) + "\n")
    return out / "exome.bed", out / "panel.bed"
