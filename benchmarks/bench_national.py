"""National rehearsal (issue 14): a genome centre's month, end to end, each step beside its peers.

Genomes come from :mod:`benchmarks.simulate` (msprime + stdpopsim, ``HomSap``
``OutOfAfrica_2T12``, EUR, 1.3 variants per kb, indels in the reference), written
as single-sample gVCFs and VCFs for a window of chr22. In one run:

1. **first load** of ``--samples`` gVCFs: ``variantdb load`` beside ``bcftools
   merge -m all --gvcf | +fill-tags`` and (VCFs) ``afquery create-db``;
2. **a monthly batch** of ``--monthly`` more gVCFs added: ours loads the new batch
   only; a peer has no incremental form, so it merges every file again;
3. **a withdrawal** of one person: ``variantdb withdraw`` beside re-merging
   without them;
4. **single lookups** (in-process record, and the bare index search) beside
   tabix on the peer's sites VCF and DuckDB on the release Parquet;
5. **a batch lookup** of every released variant (at most 10,000 ids) beside
   ``bcftools view -R`` and a DuckDB join;
6. **annotation of one genome** (a monthly sample's VCF): ``variantdb annotate``
   beside ``bcftools annotate`` with the exported sites VCF;
7. **sub-cohort queries** (XX samples): ours per variant and for every variant
   at once, beside ``bcftools view -S | +fill-tags`` over the merged file;
8. **disk per genome**: the database, the peer's merged BCF, afquery's database
   and the input gVCFs.

Every external tool runs in a fresh wrapper (:func:`benchmarks.bench_load.measure`)
that reports wall time and peak RSS. Ratios are ``peer / ours`` (above 1: we
are faster). Results go to ``benchmarks/results_national.json`` and, with
``--write-results``, to the "National rehearsal" section of RESULTS.md.

    python -m benchmarks.bench_national --work /tmp/national --samples 100 --monthly 25 --length 2000000
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.bench_load import _du, machine, measure, merge_fill_tags, write_section

HERE = Path(__file__).resolve().parent
_BIN = Path(sys.executable).parent


def _vdb() -> str:
    return str(_BIN / "variantdb")


def _afquery() -> str | None:
    path = _BIN / "afquery"
    return str(path) if path.exists() else shutil.which("afquery")


def _split_manifest(src: Path, first: int, out_a: Path, out_b: Path) -> tuple[list[str], list[str]]:
    """Write the first ``first`` samples of a manifest to ``out_a`` and the rest to ``out_b``."""
    lines = src.read_text().splitlines()
    header, rows = lines[0], lines[1:]
    base = src.parent
    # Paths in the simulator's manifests are relative to it; make them absolute for any cwd.
    rows = ["\t".join([r.split("\t")[0], str(base / r.split("\t")[1]), *r.split("\t")[2:]]) for r in rows]
    out_a.write_text("\n".join([header, *rows[:first]]) + "\n")
    out_b.write_text("\n".join([header, *rows[first:]]) + "\n")
    return [r.split("\t")[1] for r in rows[:first]], [r.split("\t")[1] for r in rows[first:]]


def _peer_merge(files: list[str], ref: Path, work: Path, name: str) -> tuple[float, float, Path]:
    listing = work / f"{name}.txt"
    listing.write_text("".join(f"{f}\n" for f in files))
    out = work / f"{name}.bcf"
    s, rss = measure(
        merge_fill_tags(listing, out, f"bcftools merge -m all --gvcf {ref}"), work / f"{name}.log"
    )
    return s, rss, out


def _timed(fn: Any, reps: int = 3) -> float:
    """Best wall time of ``reps`` calls, in seconds."""
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def run(work: Path, n_first: int, n_monthly: int, length: int, seed: int) -> dict[str, Any]:
    """Simulate the cohort, run every step and its peers; return the figures."""
    import duckdb
    import pysam

    from benchmarks.simulate import simulate_cohort
    from variantdb.api.deps import _open_release
    from variantdb.api.lookup import record_for_variant, records_for_ids
    from variantdb.release.files import read_current
    from variantdb.store.layout import release_path
    from variantdb.subcohort import SubcohortIndex, make_filter
    from variantdb.variant import format_variant_id

    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    res: dict[str, Any] = {"machine": machine(), "load_avg_start": os.getloadavg()[0]}
    cohort = work / "cohort"
    t0 = time.perf_counter()
    info = simulate_cohort(cohort, n_first + n_monthly, length, seed, gvcf=True)
    res["simulate_s"] = time.perf_counter() - t0
    res["data"] = {
        "genomes": n_first + n_monthly,
        "first": n_first,
        "monthly": n_monthly,
        "window_bp": length,
        "seed": seed,
        **{k: v for k, v in info.items() if isinstance(v, int | float | str)},
    }
    ref = cohort / "ref.fa"
    g_first, g_month = _split_manifest(
        cohort / "manifest-gvcf.tsv", n_first, work / "first-gvcf.tsv", work / "monthly-gvcf.tsv"
    )
    _v_first, _ = _split_manifest(cohort / "manifest.tsv", n_first, work / "first-vcf.tsv", work / "m.tsv")
    gvcf_lines = sum(
        1 for f in g_first for line in pysam.BGZFile(f) if not line.startswith(b"#")
    )  # records the first load reads
    res["data"]["first_gvcf_records"] = gvcf_lines
    db = work / "db"
    steps: dict[str, Any] = {}

    # 1. first load
    s, rss = measure(
        [_vdb(), "load", "--db", str(db), "--manifest", str(work / "first-gvcf.tsv"), "--reference", str(ref),
         "--batch", "b1", "--quiet"],
        work / "load-first.log",
    )  # fmt: skip
    p_s, p_rss, _merged_first = _peer_merge(g_first, ref, work, "bcftools-first")
    steps["first_load"] = {"ours_s": s, "ours_rss_mb": rss, "bcftools_s": p_s, "bcftools_rss_mb": p_rss}
    afq = _afquery()
    if afq:
        from benchmarks.bench_load import _afquery_manifest

        afq_db = work / "afquery-db"
        try:
            a_s, a_rss = measure(
                [afq, "create-db", "--manifest", str(_afquery_manifest(work / "first-vcf.tsv", work / "afq.tsv")),
                 "--output-dir", str(afq_db), "--genome-build", "GRCh38", "--threads", str(os.cpu_count() or 1), "--force"],
                work / "afquery.log",
            )  # fmt: skip
            steps["first_load"].update(
                {"afquery_s": a_s, "afquery_rss_mb": a_rss, "afquery_bytes": _du(afq_db)}
            )
        except (RuntimeError, ValueError) as e:
            steps["first_load"]["afquery_error"] = str(e)[-300:]

    # The fixed cost of a load (start-up, registry, publishing a tiny release): one genome into an empty
    # database, so that per-genome costs can be taken net of it when scaled up.
    one = work / "one-gvcf.tsv"
    one.write_text("\n".join((work / "first-gvcf.tsv").read_text().splitlines()[:2]) + "\n")
    s1, _ = measure(
        [_vdb(), "load", "--db", str(work / "db-one"), "--manifest", str(one), "--reference", str(ref),
         "--batch", "one", "--quiet"],
        work / "load-one.log",
    )  # fmt: skip
    steps["first_load"]["ours_one_genome_s"] = s1
    shutil.rmtree(work / "db-one")

    # 2. the monthly batch
    s, rss = measure(
        [_vdb(), "load", "--db", str(db), "--manifest", str(work / "monthly-gvcf.tsv"), "--reference",
         str(ref), "--batch", "b2", "--quiet"],
        work / "load-monthly.log",
    )  # fmt: skip
    p_s, p_rss, _merged_all = _peer_merge(g_first + g_month, ref, work, "bcftools-all")
    steps["monthly_batch"] = {"ours_s": s, "ours_rss_mb": rss, "bcftools_s": p_s, "bcftools_rss_mb": p_rss}

    # 3. a withdrawal (the first sample of the first batch)
    who = (work / "first-gvcf.tsv").read_text().splitlines()[1].split("\t")[0]
    s, rss = measure([_vdb(), "withdraw", "--db", str(db), "--sample", who], work / "withdraw.log")
    p_s, p_rss, merged = _peer_merge(g_first[1:] + g_month, ref, work, "bcftools-withdrawn")
    steps["withdrawal"] = {"ours_s": s, "ours_rss_mb": rss, "bcftools_s": p_s, "bcftools_rss_mb": p_rss}

    # The peer's answer file: sites only, bgzipped and indexed, as tabix and bcftools read it.
    sites = work / "peer-sites.vcf.gz"
    subprocess.run(["bcftools", "view", "-G", "-Oz", "-o", str(sites), str(merged)], check=True)
    subprocess.run(["tabix", "-f", "-p", "vcf", str(sites)], check=True)

    rid = read_current(db)
    assert rid is not None
    rel = _open_release(db, rid)
    rel_dir = release_path(db, rid)
    ix = rel.index
    variants = [ix.variant_at(i) for i in range(len(ix))]
    res["data"]["released_variants"] = len(variants)
    rng = random.Random(seed)
    probe = rng.sample(variants, min(2000, len(variants)))

    # 4. single lookups
    ours_find = _timed(lambda: [ix.find(*v) for v in probe]) / len(probe)
    ours_rec = _timed(lambda: [record_for_variant(rel, v, "") for v in probe]) / len(probe)
    tbx = pysam.TabixFile(str(sites))

    def tabix_all() -> None:
        for v in probe:
            for line in tbx.fetch(v.chrom, v.pos - 1, v.pos):
                f = line.split("\t", 8)
                if int(f[1]) == v.pos and f[3] == v.ref and v.alt in f[4].split(","):
                    break

    tabix_s = _timed(tabix_all) / len(probe)
    con = duckdb.connect()
    # The release's Parquet as a view: paths go to DuckDB as arguments, never into SQL text.
    con.register(
        "variants", con.read_parquet([str(p) for p in sorted((rel_dir / "variants").glob("*.parquet"))])
    )
    stmt = "SELECT * FROM variants WHERE chrom = ? AND pos = ? AND ref = ? AND alt = ?"
    few = probe[:50]
    con.execute(stmt, list(few[0])).fetchall()
    duck_s = _timed(lambda: [con.execute(stmt, list(v)).fetchall() for v in few], 1) / len(few)
    steps["single_lookup"] = {
        "ours_find_us": ours_find * 1e6,
        "ours_record_us": ours_rec * 1e6,
        "tabix_us": tabix_s * 1e6,
        "duckdb_us": duck_s * 1e6,
        "probes": len(probe),
    }

    # 5. a batch lookup
    batch = [format_variant_id(v) for v in rng.sample(variants, min(10_000, len(variants)))]
    ours_b = _timed(lambda: records_for_ids(rel, batch, strata=True))
    regions = work / "batch-regions.tsv"
    regions.write_text("".join(f"{v.chrom}\t{v.pos}\n" for v in map(_parse_id, batch)))
    bv_s, _bv_rss = measure(["bcftools", "view", "-R", str(regions), "-Ou", "-o", "/dev/null", str(sites)],
                           work / "bcftools-view-R.log")  # fmt: skip
    ids_tbl = _ids_table(batch)
    con.register("ids", ids_tbl)
    join = "SELECT v.* FROM ids JOIN variants v USING (chrom, pos, ref, alt)"
    duck_b = _timed(lambda: con.execute(join).fetchall(), 2)
    steps["batch_lookup"] = {
        "ids": len(batch),
        "ours_ms": ours_b * 1e3,
        "bcftools_view_R_ms": bv_s * 1e3,
        "duckdb_join_ms": duck_b * 1e3,
    }

    # 6. annotation of one genome
    genome = Path(_split_manifest(cohort / "manifest.tsv", n_first, work / "x.tsv", work / "y.tsv")[1][0])
    exported = work / "export-sites.vcf.gz"
    subprocess.run([_vdb(), "export", "--db", str(db), "--format", "vcf", "-o", str(exported)], check=True)
    out_o = work / "annot.variantdb.vcf.gz"
    s, rss = measure([_vdb(), "annotate", "--db", str(db), str(genome), "-o", str(out_o), "--quiet"],
                     work / "annotate.log")  # fmt: skip
    out_b = work / "annot.bcftools.vcf.gz"
    b_s, b_rss = measure(
        f"bcftools annotate -a {exported} -c INFO/AC,INFO/AN,INFO/AF -Oz -o {out_b} {genome} "
        f"&& tabix -f -p vcf {out_b}",
        work / "annotate-bcftools.log",
    )
    steps["annotate_one_genome"] = {
        "records": sum(1 for line in pysam.BGZFile(str(genome)) if not line.startswith(b"#")),
        "ours_s": s,
        "ours_rss_mb": rss,
        "bcftools_s": b_s,
        "bcftools_rss_mb": b_rss,
    }

    # 7. sub-cohort queries: XX samples
    sc = SubcohortIndex(rel_dir)
    f = make_filter(sex=["XX"])
    sub_probe = probe[:500]
    rows = ix.find_many(sub_probe)
    one_s = _timed(
        lambda: [sc.counts(f, [r], [v.chrom], [v.pos]) for v, r in zip(sub_probe, rows, strict=True)]
    )
    all_rows = list(range(len(variants)))
    every_s = _timed(
        lambda: sc.counts(f, all_rows, [v.chrom for v in variants], [v.pos for v in variants]), 1
    )
    xx = [
        line.split("\t")[0]
        for line in (work / "first-gvcf.tsv").read_text().splitlines()[2:]
        + (work / "monthly-gvcf.tsv").read_text().splitlines()[1:]
        if line.split("\t")[2] == "XX"
    ]
    samples_txt = work / "xx.txt"
    samples_txt.write_text("".join(f"{x}\n" for x in xx))
    s_s, _s_rss = measure(
        f"set -o pipefail; bcftools view -S {samples_txt} --force-samples -Ou {merged} | "
        f"bcftools +fill-tags -Ou -o /dev/null -- -t AC,AN",
        work / "subcohort-bcftools.log",
    )
    steps["subcohort_xx"] = {
        "samples": len(xx),
        "ours_per_variant_us": one_s / len(sub_probe) * 1e6,
        "ours_every_variant_s": every_s,
        "bcftools_every_variant_s": s_s,
        "variants": len(variants),
    }

    # 8. disk per genome
    n_now = n_first + n_monthly - 1
    steps["disk_per_genome"] = _disk(db, rel_dir, merged, g_first + g_month, n_now)
    if "afquery_bytes" in steps["first_load"]:
        steps["disk_per_genome"]["afquery_db_bytes"] = steps["first_load"]["afquery_bytes"] / n_first
    res["steps"] = steps
    res["ratios"] = _ratios(steps)
    res["load_avg_end"] = os.getloadavg()[0]
    return res


def _disk(db: Path, rel_dir: Path, merged: Path, inputs: list[str], n_now: int) -> dict[str, float]:
    """Bytes per genome: what grows with genomes (calls, gaps) apart from the release and the registry."""
    calls_gaps = _du(db / "calls") + _du(db / "gaps")
    return {
        "genomes": n_now,
        "ours_db_bytes": _du(db) / n_now,
        "ours_calls_gaps_bytes": calls_gaps / n_now,
        "ours_release_bytes": _du(rel_dir) / n_now,
        "bcftools_merged_bcf_bytes": _du(merged) / n_now,
        "input_gvcf_bytes": sum(_du(Path(p)) for p in inputs) / len(inputs),
    }


def _parse_id(text: str) -> Any:
    from variantdb.variant import parse_variant_id

    return parse_variant_id(text)


def _ids_table(ids: list[str]) -> Any:
    import pyarrow as pa

    vs = [_parse_id(t) for t in ids]
    return pa.table(
        {
            "chrom": [v.chrom for v in vs],
            "pos": pa.array([v.pos for v in vs], pa.int32()),
            "ref": [v.ref for v in vs],
            "alt": [v.alt for v in vs],
        }
    )


def _ratios(steps: dict[str, Any]) -> dict[str, float]:
    """``peer / ours`` for every step: above 1, variantdb is faster."""
    out: dict[str, float] = {}

    def put(name: str, peer: float | None, ours: float) -> None:
        if peer is not None and ours > 0:
            out[name] = peer / ours

    fl = steps["first_load"]
    put("first_load_vs_bcftools", fl["bcftools_s"], fl["ours_s"])
    put("first_load_vs_afquery", fl.get("afquery_s"), fl["ours_s"])
    put("monthly_vs_bcftools_remerge", steps["monthly_batch"]["bcftools_s"], steps["monthly_batch"]["ours_s"])
    put("withdrawal_vs_bcftools_remerge", steps["withdrawal"]["bcftools_s"], steps["withdrawal"]["ours_s"])
    sl = steps["single_lookup"]
    put("single_lookup_vs_tabix", sl["tabix_us"], sl["ours_record_us"])
    put("single_lookup_vs_duckdb", sl["duckdb_us"], sl["ours_record_us"])
    bl = steps["batch_lookup"]
    put("batch_vs_bcftools_view_R", bl["bcftools_view_R_ms"], bl["ours_ms"])
    put("batch_vs_duckdb_join", bl["duckdb_join_ms"], bl["ours_ms"])
    an = steps["annotate_one_genome"]
    put("annotate_vs_bcftools", an["bcftools_s"], an["ours_s"])
    sc = steps["subcohort_xx"]
    put("subcohort_every_variant_vs_bcftools", sc["bcftools_every_variant_s"], sc["ours_every_variant_s"])
    d = steps["disk_per_genome"]
    put(
        "disk_vs_bcftools_merged",
        d["bcftools_merged_bcf_bytes"],
        d["ours_calls_gaps_bytes"] + d["ours_release_bytes"],
    )
    return out


def render(res: dict[str, Any], command: str) -> str:
    """The RESULTS.md section of one run."""
    st, r, d, m = res["steps"], res["ratios"], res["data"], res["machine"]

    def f(x: float | None, nd: int = 2) -> str:
        return "" if x is None else f"{x:,.{nd}f}"

    lines = [
        "## National rehearsal",
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} with:",
        "",
        f"```\n{command}\n```",
        "",
        f"{m['nproc']} CPUs ({m['cpu']}), {m['ram']} RAM, {m['os']}, {m['bcftools']}, afquery {m['afquery']}; "
        f"1-minute load average {res['load_avg_start']:.1f} at the start, {res['load_avg_end']:.1f} at the end "
        "(the machine is shared: ratios within this run are the figures to read).",
        "",
        f"Data: {d['genomes']} simulated European genomes (msprime/stdpopsim, seed {d['seed']}) over "
        f"{d['window_bp']:,} bp of chr22, as gVCFs ({d['first_gvcf_records']:,} gVCF records in the first "
        f"{d['first']}); first load {d['first']}, monthly batch {d['monthly']}, one withdrawal; "
        f"{d['released_variants']:,} variants released.",
        "",
        "| step | variantdb | peer | peer / ours |",
        "| --- | ---: | ---: | ---: |",
    ]
    fl = st["first_load"]
    lines.append(
        f"| first load ({d['first']} gVCFs) | {f(fl['ours_s'])} s, {f(fl['ours_rss_mb'], 0)} MB | "
        f"bcftools merge --gvcf \\| +fill-tags {f(fl['bcftools_s'])} s | {f(r.get('first_load_vs_bcftools'))} |"
    )
    if "afquery_s" in fl:
        lines.append(
            f"| first load, afquery create-db (VCFs) | | {f(fl['afquery_s'])} s | "
            f"{f(r.get('first_load_vs_afquery'))} |"
        )
    mb, wd = st["monthly_batch"], st["withdrawal"]
    lines += [
        f"| monthly batch (+{d['monthly']}) | {f(mb['ours_s'])} s | re-merge all {f(mb['bcftools_s'])} s | "
        f"{f(r.get('monthly_vs_bcftools_remerge'))} |",
        f"| withdraw one person | {f(wd['ours_s'])} s | re-merge without them {f(wd['bcftools_s'])} s | "
        f"{f(r.get('withdrawal_vs_bcftools_remerge'))} |",
    ]
    sl, bl = st["single_lookup"], st["batch_lookup"]
    lines += [
        f"| single lookup, record (index find alone {f(sl['ours_find_us'])} µs) | {f(sl['ours_record_us'])} µs | "
        f"tabix {f(sl['tabix_us'])} µs; DuckDB {f(sl['duckdb_us'], 0)} µs | "
        f"{f(r.get('single_lookup_vs_tabix'))}; {f(r.get('single_lookup_vs_duckdb'), 0)} |",
        f"| batch lookup ({bl['ids']:,} ids, full records) | {f(bl['ours_ms'], 1)} ms | bcftools view -R "
        f"{f(bl['bcftools_view_R_ms'], 1)} ms; DuckDB join {f(bl['duckdb_join_ms'], 1)} ms | "
        f"{f(r.get('batch_vs_bcftools_view_R'))}; {f(r.get('batch_vs_duckdb_join'))} |",
    ]
    an, sc, dk = st["annotate_one_genome"], st["subcohort_xx"], st["disk_per_genome"]
    lines += [
        f"| annotate one genome ({an['records']:,} records) | {f(an['ours_s'])} s | bcftools annotate "
        f"{f(an['bcftools_s'])} s | {f(r.get('annotate_vs_bcftools'))} |",
        f"| sub-cohort XX ({sc['samples']} samples), every variant | {f(sc['ours_every_variant_s'], 3)} s "
        f"({f(sc['ours_per_variant_us'], 0)} µs one at a time) | bcftools view -S \\| +fill-tags "
        f"{f(sc['bcftools_every_variant_s'])} s | {f(r.get('subcohort_every_variant_vs_bcftools'))} |",
        f"| disk per genome (calls + gaps + current release; whole database with its 3 releases and registry "
        f"{f(dk['ours_db_bytes'] / 1e3, 0)} kB) | {f((dk['ours_calls_gaps_bytes'] + dk['ours_release_bytes']) / 1e3, 0)} kB "
        f"| merged BCF {f(dk['bcftools_merged_bcf_bytes'] / 1e3, 0)} kB"
        + (f"; afquery {f(dk['afquery_db_bytes'] / 1e3, 0)} kB" if "afquery_db_bytes" in dk else "")
        + f"; input gVCF {f(dk['input_gvcf_bytes'] / 1e3, 0)} kB | {f(r.get('disk_vs_bcftools_merged'))} |",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command line; see the module docstring."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--work", type=Path, default=Path("/tmp/national"))
    p.add_argument("--samples", type=int, default=100, help="genomes of the first load")
    p.add_argument("--monthly", type=int, default=25, help="genomes of the monthly batch")
    p.add_argument("--length", type=int, default=2_000_000, help="chr22 window in bases")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", type=Path, default=HERE / "results_national.json")
    p.add_argument("--write-results", action="store_true", help="replace RESULTS.md's national section")
    p.add_argument("--render", type=Path, help="only write RESULTS.md's section from a results JSON")
    a = p.parse_args(argv)
    if a.render:
        res = json.loads(a.render.read_text())
        write_section(HERE / "RESULTS.md", render(res, res["command"]), "## National rehearsal")
        return 0
    res = run(a.work, a.samples, a.monthly, a.length, a.seed)
    command = "python -m benchmarks.bench_national " + " ".join(sys.argv[1:] if argv is None else argv)
    res["command"] = command
    a.out.write_text(json.dumps(res, indent=1, default=str) + "\n")
    print(json.dumps(res["ratios"], indent=1))
    if a.write_results:
        write_section(HERE / "RESULTS.md", render(res, command), "## National rehearsal")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
