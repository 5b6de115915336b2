"""Cross-check a database loaded from a simulated cohort against the bcftools pipeline.

For the files :mod:`benchmarks.simulate` writes, the raw counts of the release
(``ac_raw``, ``an_raw``: every call, no adj) must equal what bcftools gives on
the same files::

    bcftools merge -0 -m all        | bcftools norm -m -any -f ref.fa | bcftools +fill-tags   (VCFs)
    bcftools merge -m all --gvcf ref.fa | bcftools norm -m -any -f ref.fa | bcftools +fill-tags   (gVCFs)
    bcftools norm -m -any -f ref.fa multi.vcf.gz | bcftools +fill-tags                       (one multi-sample VCF)

Every variant is compared (not a sample of sites), keyed by (POS, REF, ALT)
after both sides normalized; VCF ``POS`` is 1-based on both sides.

Example::

    python benchmarks/crosscheck_simulated.py --cohort /tmp/nat --db /tmp/x --layout vcf
"""

from __future__ import annotations

import argparse
import subprocess
from collections.abc import Sequence
from pathlib import Path

import duckdb

from variantdb.manifest import read_manifest

__all__ = ["bcftools_counts", "compare", "main"]


def bcftools_counts(cohort: Path, layout: str, work: Path) -> Path:
    """Run the peer pipeline for ``layout`` (vcf, gvcf, multi); return a TSV of POS, REF, ALT, AC, AN."""
    ref = cohort / "ref.fa"
    work.mkdir(parents=True, exist_ok=True)
    norm = f"bcftools norm -m -any -f {ref} -Ou"
    fill = "bcftools +fill-tags -Ou - -- -t AC,AN"
    if layout == "multi":
        head = f"bcftools view -Ou {cohort / 'multi.vcf.gz'}"
    else:
        manifest = cohort / ("manifest-gvcf.tsv" if layout == "gvcf" else "manifest.tsv")
        listing = work / f"{layout}-files.txt"
        listing.write_text("".join(f"{r.vcf}\n" for r in read_manifest(manifest)))
        gvcf = f"--gvcf {ref}" if layout == "gvcf" else "-0"
        head = f"bcftools merge -m all {gvcf} -l {listing} -Ou"
    out = work / f"bcftools-{layout}.tsv"
    query = "bcftools query -i 'ALT!=\"<*>\" && ALT!=\"<NON_REF>\" && AC>0' -f '%POS\\t%REF\\t%ALT\\t%AC\\t%AN\\n'"
    cmd = f"set -o pipefail; {head} | {norm} - | {fill} | {query} - > {out}"
    subprocess.run(["bash", "-c", cmd], check=True)
    return out


def compare(db: Path, peer_tsv: Path) -> dict[str, int]:
    """Compare the release's raw AC/AN with the peer's; return counts of agreeing and differing variants."""
    release = (db / "CURRENT").read_text().strip()
    variants = db / "releases" / release / "variants" / "chr22.parquet"
    con = duckdb.connect()
    con.execute(
        """create table peer as select * from read_csv(?, delim='\t', header=false,
            columns={'pos': 'BIGINT', 'ref': 'VARCHAR', 'alt': 'VARCHAR', 'ac': 'BIGINT', 'an': 'BIGINT'})""",
        [str(peer_tsv)],
    )
    con.execute(
        "create table ours as select pos, ref, alt, ac_raw as ac, an_raw as an from read_parquet(?)",
        [str(variants)],
    )
    row = con.execute(
        """select
             count(*) filter (where o.pos is not null and p.pos is not null),
             count(*) filter (where o.pos is not null and p.pos is not null and o.ac = p.ac and o.an = p.an),
             count(*) filter (where o.ac <> p.ac),
             count(*) filter (where o.an <> p.an),
             count(*) filter (where p.pos is null),
             count(*) filter (where o.pos is null)
           from ours o full outer join peer p using (pos, ref, alt)"""
    ).fetchone()
    assert row is not None
    keys = ("both", "agree", "ac_differs", "an_differs", "only_variantdb", "only_bcftools")
    result = dict(zip(keys, (int(x) for x in row), strict=True))
    result["examples_differing"] = con.execute(
        """select o.pos, o.ref, o.alt, o.ac, p.ac, o.an, p.an from ours o full outer join peer p using (pos, ref, alt)
           where o.ac is distinct from p.ac or o.an is distinct from p.an order by 1 limit 5"""
    ).fetchall()  # type: ignore[assignment]
    return result


def main(argv: Sequence[str] | None = None) -> int:
    """Command line; exits 1 when any variant differs."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cohort", type=Path, required=True, help="folder written by benchmarks/simulate.py")
    p.add_argument("--db", type=Path, required=True, help="database loaded from the same layout")
    p.add_argument("--layout", choices=("vcf", "gvcf", "multi"), default="vcf")
    p.add_argument("--work", type=Path, default=None, help="scratch folder (default: <db>-crosscheck)")
    args = p.parse_args(argv)
    work = args.work or Path(f"{args.db}-crosscheck")
    peer = bcftools_counts(args.cohort, args.layout, work)
    result = compare(args.db, peer)
    print(args.layout, result)
    ok = result["agree"] == result["both"] and not result["only_variantdb"] and not result["only_bcftools"]
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
