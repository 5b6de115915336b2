"""AN and AC from the 50 chr22 gVCFs of ``tests/data/gvcf-1kg-chr22`` computed by Hail, as a peer.

Run with Hail's own interpreter (Hail 0.2, Java 17), not the project venv::

    /tmp/hailenv/bin/python benchmarks/peers/hail_gvcf_an.py \
        --out tests/data/gvcf-1kg-chr22-hail/hail_an.tsv --tmp /tmp/coverage/hail

What it does, step by step, as gnomAD builds its frequencies from gVCFs:

1. ``hl.vds.new_combiner`` combines the gVCFs into a VariantDataset (reference
   blocks with GQ, DP and MIN_DP kept).
2. ``hl.vds.to_dense_mt`` densifies it: at every variant site, each sample gets
   its variant entry there, or the reference block covering the site, or
   nothing (a missing entry: no call).
3. Per sample and site, ``adj`` as gnomAD's ``annotate_adj``: GQ >= 20,
   DP >= 10 (MIN_DP for reference blocks, whose DP field is the block's median),
   and for heterozygous calls an allele balance AD/DP >= 0.2 for every alt allele
   carried.
4. ``hl.agg.call_stats`` gives AC per allele and AN per site over the adj entries
   (``adj``) and over every called entry (``raw``).
5. Each alt allele is written as one row, minimally represented
   (``hl.min_rep``), with the site's AN: ``chrom pos ref alt ac an ac_raw an_raw``.
   ``*`` and ``<NON_REF>`` alleles are not written.

The TSV is small (one row per alt allele) and committed, so the test that
compares it with variantdb's counts needs neither Hail nor Java.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import hail as hl

_DATA = Path(__file__).resolve().parents[2] / "tests" / "data" / "gvcf-1kg-chr22"


def main(argv: list[str] | None = None) -> int:
    """Combine, densify, count and write the TSV."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=_DATA, help="folder of *.g.vcf.gz (default: %(default)s)")
    p.add_argument("--out", type=Path, required=True, help="TSV to write")
    p.add_argument("--tmp", type=Path, default=Path("/tmp/hail_gvcf_an"), help="scratch folder")
    p.add_argument("--cores", type=int, default=1, help="Spark local cores (default 1)")
    args = p.parse_args(argv)

    gvcfs = sorted(str(x) for x in args.data.glob("*.g.vcf.gz"))
    if not gvcfs:
        sys.exit(f"no *.g.vcf.gz under {args.data}")
    if args.tmp.exists():
        shutil.rmtree(args.tmp)
    args.tmp.mkdir(parents=True)
    hl.init(
        master=f"local[{args.cores}]",
        tmp_dir=str(args.tmp / "hail-tmp"),
        local_tmpdir=str(args.tmp / "hail-local"),
        quiet=True,
        log=str(args.tmp / "hail.log"),
    )
    hl.default_reference("GRCh38")
    vds_path = str(args.tmp / "combined.vds")
    combiner = hl.vds.new_combiner(
        output_path=vds_path,
        temp_path=str(args.tmp / "combiner-tmp"),
        gvcf_paths=gvcfs,
        intervals=[hl.eval(hl.parse_locus_interval("chr22", reference_genome="GRCh38"))],
        reference_genome="GRCh38",
        gvcf_reference_entry_fields_to_keep=["GQ", "DP", "MIN_DP"],
        use_exome_default_intervals=False,
    )
    combiner.run()
    vds = hl.vds.read_vds(vds_path)
    mt = hl.vds.to_dense_mt(vds)

    gt = hl.vds.lgt_to_gt(mt.LGT, mt.LA)
    # Reference blocks have MIN_DP (their DP is the block's median); variant calls only DP.
    dp = hl.coalesce(mt.MIN_DP, mt.DP)
    # LAD is indexed by local allele: position k of LA holds global allele LA[k].
    ab_ok = hl.if_else(
        hl.is_defined(mt.LAD) & gt.is_het() & (dp > 0),
        hl.all(
            hl.range(1, hl.len(mt.LA)).map(
                lambda k: ~mt.LGT.contains_allele(k) | (mt.LAD[k] / dp >= 0.2)  # type: ignore[no-any-return]
            )
        ),
        ~(gt.is_het() & hl.is_defined(mt.LAD)),
    )
    adj = hl.is_defined(gt) & (mt.GQ >= 20) & (dp >= 10) & ab_ok
    mt = mt.annotate_rows(
        raw=hl.agg.call_stats(gt, mt.alleles),
        adj=hl.agg.filter(adj, hl.agg.call_stats(gt, mt.alleles)),
    )
    rows = mt.rows()
    rows = rows.annotate(
        alt_rows=hl.range(1, hl.len(rows.alleles))
        .filter(lambda i: (rows.alleles[i] != "*") & (rows.alleles[i] != "<NON_REF>"))
        .map(
            lambda i: hl.struct(
                rep=hl.min_rep(rows.locus, [rows.alleles[0], rows.alleles[i]]),
                ac=rows.adj.AC[i],
                an=rows.adj.AN,
                ac_raw=rows.raw.AC[i],
                an_raw=rows.raw.AN,
            )
        )
    )
    rows = rows.explode("alt_rows")
    rows = rows.key_by()
    out = rows.select(
        chrom=rows.alt_rows.rep.locus.contig,
        pos=rows.alt_rows.rep.locus.position,
        ref=rows.alt_rows.rep.alleles[0],
        alt=rows.alt_rows.rep.alleles[1],
        site_pos=rows.locus.position,
        ac=rows.alt_rows.ac,
        an=rows.alt_rows.an,
        ac_raw=rows.alt_rows.ac_raw,
        an_raw=rows.alt_rows.an_raw,
    )
    records = out.collect()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w") as fh:
        fh.write(
            f"# made by benchmarks/peers/hail_gvcf_an.py with Hail {hl.version()} from {len(gvcfs)} gVCFs\n"
        )
        fh.write("chrom\tpos\tref\talt\tsite_pos\tac\tan\tac_raw\tan_raw\n")
        for r in sorted(records, key=lambda r: (r.pos, r.ref, r.alt, r.site_pos)):
            fh.write(
                f"{r.chrom}\t{r.pos}\t{r.ref}\t{r.alt}\t{r.site_pos}\t{r.ac}\t{r.an}\t{r.ac_raw}\t{r.an_raw}\n"
            )
    print(f"wrote {len(records)} rows to {args.out}")
    hl.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
