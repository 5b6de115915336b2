"""Sub-cohort benchmark: counts for any sample filter, beside ``afquery query`` on the same cohort and filters.

Two stages:

``peer``
    A seeded cohort (``benchmarks.cohort``: single-sample VCFs, no no-calls, every
    sample male or female) loaded by ``variantdb load`` and by ``afquery
    create-db``. For every filter both tools know (none, sex, phenotype =
    patient group, an excluded group, sex and group together) every variant
    present in both is compared: AC, AN and homozygous-alt counts must be
    identical. Then both are timed on the same variants and filters: afquery's
    Python API in-process (its fastest path) and its CLI (one process per query,
    as a script runs it), ours in-process.

``scale``
    60,000 samples: stored calls and no-call intervals are generated straight
    into ``calls/`` and ``gaps/`` (Parquet, ``CALLS_SCHEMA``/``GAPS_SCHEMA``)
    with a realistic allele-frequency spectrum (``benchmarks.cohort._draw_afs``'s
    log-uniform law plus 3% common variants) and published by the real
    ``publish_release``. Single, batch and region queries are timed per
    variant for several filters. afquery is not run at this size: its
    ``create-db`` reads VCFs, and 60,000 of them do not fit this 2-CPU machine's
    time budget; its figures come from the ``peer`` stage.

    python -m benchmarks.bench_subcohort peer --work /tmp/subcohort/peer --samples 2000 --sites 5000
    python -m benchmarks.bench_subcohort scale --work /tmp/subcohort/scale --samples 60000 --variants 5000
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import itertools
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from variantdb.genome import PARS
from variantdb.release.files import read_current
from variantdb.release.index import ReleaseIndex
from variantdb.schema import CALLS_SCHEMA, GAPS_SCHEMA, load_vocabulary
from variantdb.store.layout import release_path
from variantdb.subcohort import SubcohortFilter, SubcohortIndex, make_filter

_OUT = Path(__file__).parent / "results_subcohort.jsonl"
_AFQ = str(Path(sys.executable).parent / "afquery")


def _emit(record: dict[str, Any]) -> None:
    record = {"time": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"), **record}
    print(json.dumps(record, indent=1, default=str))
    with open(_OUT, "a") as fh:
        fh.write(json.dumps(record, default=str) + "\n")


def _du(path: Path) -> int:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def _machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "load_average": os.getloadavg()[0],
        "afquery": subprocess.run([_AFQ, "--version"], capture_output=True, text=True).stdout.strip(),
    }


# ------------------------------------------------------------------ peer: identity and speed beside afquery


#: Filters both tools know: (label, afquery keyword arguments, variantdb filter without role/raw).
def _peer_filters(groups: list[str]) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    codes = load_vocabulary("patient_groups")
    g1, g2 = groups[0], groups[1]
    return [
        ("everyone", {}, {}),
        ("female", {"sex": "female"}, {"sex": ["XX"]}),
        ("male", {"sex": "male"}, {"sex": ["XY"]}),
        (f"group {codes[g1]}", {"phenotype": [codes[g1]]}, {"patient_group": [g1]}),
        (f"not group {codes[g1]}", {"phenotype": ["^" + codes[g1]]}, {"exclude_patient_group": [g1]}),
        (
            f"female, group {codes[g1]} or {codes[g2]}",
            {"sex": "female", "phenotype": [codes[g1], codes[g2]]},
            {"sex": ["XX"], "patient_group": [g1, g2]},
        ),
    ]


def _vdb_filter(spec: dict[str, Any]) -> SubcohortFilter:
    # afquery counts every sample and every called genotype: role all, raw.
    return make_filter(**spec, role=["all"], raw=True)


def stage_peer(work: Path, n_samples: int, n_sites: int, seed: int, n_timed: int, n_cli: int) -> None:
    """Compare and time variantdb and afquery on one cohort."""
    from afquery.database import Database

    from benchmarks.cohort import generate_cohort
    from variantdb.load import load_batch

    work.mkdir(parents=True, exist_ok=True)
    cohort = work / "cohort"
    if not (cohort / "manifest.tsv").exists():
        generate_cohort(
            cohort, n_samples, n_sites, seed, layout="single", unknown_sex_fraction=0.0, nocall_rate=0.0
        )
    db = work / "vdb"
    load_s = None
    if read_current(db) is None:
        shutil.rmtree(db, ignore_errors=True)
        t0 = time.perf_counter()
        load_batch(db, cohort / "manifest.tsv", reference=cohort / "ref.fa", batch_name="b1")
        load_s = time.perf_counter() - t0
    codes = load_vocabulary("patient_groups")
    with open(cohort / "manifest.tsv") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    afq_manifest = work / "afquery_manifest.tsv"
    with open(afq_manifest, "w") as w:
        w.write("sample_name\tsex\ttech_name\tvcf_path\tphenotype_codes\n")
        for r in rows:
            sex = "male" if r["sex"] == "XY" else "female"
            w.write(
                f"{r['sample_id']}\t{sex}\tWGS\t{(cohort / r['vcf']).resolve()}\t{codes[r['patient_group']]}\n"
            )
    afq_db = work / "afq"
    create_s = None
    if not (afq_db / "manifest.json").exists():
        shutil.rmtree(afq_db, ignore_errors=True)
        t0 = time.perf_counter()
        subprocess.run(
            [_AFQ, "create-db", "--manifest", str(afq_manifest), "--output-dir", str(afq_db),
             "--genome-build", "GRCh38", "--threads", "2"],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        create_s = time.perf_counter() - t0
    rd = release_path(db, read_current(db) or "")
    sc = SubcohortIndex(rd)
    ix = ReleaseIndex.open(rd)
    variants = [ix.variant_at(r) for r in range(len(ix))]
    adb = Database(str(afq_db))
    by_count = sorted(codes, key=lambda g: -sum(r["patient_group"] == g for r in rows))
    filters = _peer_filters(by_count)

    # 1. identity, every variant both tools hold
    identity = []
    for label, afq_kw, spec in filters:
        f = _vdb_filter(spec)
        ours = sc.counts(f, list(range(len(ix))), [v.chrom for v in variants], [v.pos for v in variants])
        theirs = adb.query_batch_multi([(v.chrom, v.pos, v.ref, v.alt) for v in variants], **afq_kw)
        got = {(r.variant.chrom, r.variant.pos, r.variant.ref, r.variant.alt): r for r in theirs}
        same = {"ac": 0, "an": 0, "hom": 0}
        missing = {"ac_0_in_subcohort": 0, "indel_not_left_aligned": 0, "other": 0}
        compared = 0
        diffs: list[dict[str, Any]] = []
        for v, o in zip(variants, ours, strict=True):
            key = (v.chrom.removeprefix("chr"), v.pos, v.ref, v.alt)
            a = got.get(key) or got.get((v.chrom, v.pos, v.ref, v.alt))
            if a is None:
                # afquery keeps alleles as written (no left-alignment) and leaves out variants
                # no matching sample carries.
                missing[
                    "ac_0_in_subcohort"
                    if o["ac"] == 0
                    else "indel_not_left_aligned"
                    if len(v.ref) + len(v.alt) > 2
                    else "other"
                ] += 1
                continue
            compared += 1
            ours_hom = o["homozygote_count"] + o["hemizygote_count"]
            ok = {"ac": o["ac"] == a.AC, "an": o["an"] == a.AN, "hom": ours_hom == a.N_HOM_ALT}
            for k, good in ok.items():
                same[k] += good
            if not all(ok.values()) and len(diffs) < 5:
                diffs.append({"variant": f"{v.chrom}-{v.pos}-{v.ref}-{v.alt}", "ours": [o["ac"], o["an"], ours_hom],
                              "afquery": [a.AC, a.AN, a.N_HOM_ALT]})  # fmt: skip
        identity.append(
            {
                "filter": label,
                "n_samples": sc.mask(f).n,
                "variants_ours": len(variants),
                "compared": compared,
                "identical_ac": same["ac"],
                "identical_an": same["an"],
                "identical_hom": same["hom"],
                "not_in_afquery": missing,
                "examples_of_differences": diffs,
            }
        )

    # 2. speed, the same variants and filters
    rng = np.random.default_rng(7)
    pick = [variants[i] for i in rng.choice(len(variants), size=min(n_timed, len(variants)), replace=False)]
    timing = []
    for label, afq_kw, spec in filters:
        f = _vdb_filter(spec)
        t0 = time.perf_counter()
        sc.mask(f)
        mask_ms = (time.perf_counter() - t0) * 1e3
        t0 = time.perf_counter()
        for v in pick:
            row = ix.find(v.chrom, v.pos, v.ref, v.alt)
            sc.counts(f, [row], [v.chrom], [v.pos])
        ours_us = (time.perf_counter() - t0) / len(pick) * 1e6
        adb.query(pick[0].chrom, pick[0].pos, ref=pick[0].ref, alt=pick[0].alt, **afq_kw)
        t0 = time.perf_counter()
        for v in pick:
            adb.query(v.chrom, v.pos, ref=v.ref, alt=v.alt, **afq_kw)
        afq_us = (time.perf_counter() - t0) / len(pick) * 1e6
        cli = []
        for v in pick[:n_cli]:
            args = [_AFQ, "query", "--db", str(afq_db), "--locus", f"{v.chrom}:{v.pos}", "--ref", v.ref,
                    "--alt", v.alt, "--format", "json"]  # fmt: skip
            if "sex" in afq_kw:
                args += ["--sex", afq_kw["sex"]]
            for p in afq_kw.get("phenotype", []):
                args += ["--phenotype", p]
            t0 = time.perf_counter()
            subprocess.run(args, check=True, capture_output=True)
            cli.append(time.perf_counter() - t0)
        timing.append(
            {
                "filter": label,
                "variantdb_mask_ms": round(mask_ms, 3),
                "variantdb_single_us": round(ours_us, 1),
                "afquery_api_single_us": round(afq_us, 1),
                "afquery_cli_single_ms": round(statistics.fmean(cli) * 1e3, 1) if cli else None,
                "api_ratio": round(afq_us / ours_us, 1),
            }
        )
    _emit(
        {
            "stage": "peer",
            "command": " ".join(sys.argv),
            "machine": _machine(),
            "samples": n_samples,
            "sites": n_sites,
            "variantdb_variants": len(variants),
            "variantdb_load_s": load_s,
            "afquery_create_db_s": create_s,
            "timed_variants": len(pick),
            "cli_queries_per_filter": n_cli,
            "identity": identity,
            "timing": timing,
        }
    )


# ------------------------------------------------------------------ scale: 60,000 samples


def _synthetic_samples(rng: np.random.Generator, n: int) -> pa.Table:
    regions = list(load_vocabulary("regions"))
    groups = list(load_vocabulary("patient_groups"))
    sex = rng.choice(["XX", "XY", "unknown"], size=n, p=[0.495, 0.495, 0.01])
    tech = rng.choice(["WGS", "WES", "panel"], size=n, p=[0.8, 0.15, 0.05])
    ids = [f"P{i:06d}" for i in range(n)]
    father: list[str | None] = [None] * n
    mother: list[str | None] = [None] * n
    family: list[str | None] = [None] * n
    # Trios: every 10th sample is a child of the two samples before it.
    for i in range(2, n, 10):
        father[i], mother[i] = ids[i - 2], ids[i - 1]
        family[i] = family[i - 1] = family[i - 2] = f"F{i:06d}"
    start = dt.date(2024, 1, 1)
    received = [start + dt.timedelta(days=int(d)) for d in rng.integers(0, 730, n)]
    return pa.table(
        {
            "sample_idx": pa.array(np.arange(n), pa.int32()),
            "sample_id": ids,
            "batch": ["synth"] * n,
            "vcf": [""] * n,
            "sex": sex.tolist(),
            "region": rng.choice(regions, size=n).tolist(),
            "patient_group": rng.choice(groups, size=n).tolist(),
            "family_id": family,
            "father_id": father,
            "mother_id": mother,
            "technology": tech.tolist(),
            "capture_bed": [None] * n,
            "consent": ["given"] * n,
            "received": pa.array(received, pa.date32()),
            "withdrawn": [False] * n,
        }
    )


def _synthetic_calls(
    rng: np.random.Generator, samples: pa.Table, chrom: str, n_var: int, span: int
) -> pa.Table:
    from benchmarks.cohort import _draw_afs

    n = samples.num_rows
    sex = np.array(samples.column("sex").to_pylist())
    haploid_sex = sex == "XY"
    pos = np.sort(rng.choice(np.arange(100_000, 100_000 + span), size=n_var, replace=False))
    if chrom == "chrX":
        pos = pos + PARS["chrX"][0][1]  # outside PAR1
    af = _draw_afs(rng, n_var, np.ones(n_var, dtype=np.int64), n)[:, 0]
    bases = np.array(list("ACGT"))
    cols: dict[str, list[np.ndarray]] = {
        k: [] for k in ("sample_idx", "pos", "ref", "alt", "dosage", "ploidy")
    }
    for i in range(n_var):
        p = af[i]
        carrier_p = 1 - (1 - p) ** 2
        k = rng.binomial(n, carrier_p)
        if k == 0:
            k = 1
        who = rng.choice(n, size=k, replace=False)
        ploidy = np.where((chrom == "chrX") & haploid_sex[who], 1, 2).astype(np.int8)
        hom = rng.random(k) < p / (2 - p)
        dosage = np.where(ploidy == 1, 1, np.where(hom, 2, 1)).astype(np.int8)
        r = rng.integers(0, 4)
        cols["sample_idx"].append(who.astype(np.int32))
        cols["pos"].append(np.full(k, pos[i], np.int32))
        cols["ref"].append(np.full(k, bases[r]))
        cols["alt"].append(np.full(k, bases[(r + 1 + rng.integers(0, 3)) % 4]))
        cols["dosage"].append(dosage)
        cols["ploidy"].append(ploidy)
    flat = {k: np.concatenate(v) for k, v in cols.items()}
    m = len(flat["pos"])
    return pa.table(
        {
            "sample_idx": flat["sample_idx"],
            "chrom": pa.array([chrom] * m, pa.string()),
            "pos": flat["pos"],
            "ref": flat["ref"].astype(str),
            "alt": flat["alt"].astype(str),
            "dosage": flat["dosage"],
            "ploidy": flat["ploidy"],
            "adj": rng.random(m) < 0.95,
            "filter_pass": rng.random(m) < 0.98,
            "gq": pa.array(rng.integers(5, 99, m).astype(np.int16)),
            "dp": pa.array(rng.integers(5, 60, m).astype(np.int32)),
            "ad_alt": pa.array(rng.integers(2, 30, m).astype(np.int32)),
        },
        schema=CALLS_SCHEMA,
    )


def _synthetic_gaps(rng: np.random.Generator, n: int, chrom: str, span: int, per_sample: int) -> pa.Table:
    base = 100_000 + (PARS["chrX"][0][1] if chrom == "chrX" else 0)
    m = n * per_sample
    start = rng.integers(base, base + span, m)
    length = rng.geometric(1 / 300, m)
    return pa.table(
        {
            "sample_idx": np.repeat(np.arange(n, dtype=np.int32), per_sample),
            "chrom": pa.array([chrom] * m, pa.string()),
            "start": start.astype(np.int32),
            "end": (start + length - 1).astype(np.int32),
            "raw": rng.random(m) < 0.5,
        },
        schema=GAPS_SCHEMA,
    )


def _scale_filters() -> list[tuple[str, SubcohortFilter]]:
    return [
        ("default (founders, adj)", make_filter()),
        ("sex XX", make_filter(sex=["XX"])),
        ("region + patient group", make_filter(region=["Midtjylland"], patient_group=["Hereditary cancer"])),
        (
            "XY, WGS, received 2025",
            make_filter(sex=["XY"], technology=["WGS"], received_from="2025-01-01", received_to="2025-12-31"),
        ),
        ("parents, raw", make_filter(role=["parent"], raw=True)),
        (
            "all but one group, all samples",
            make_filter(exclude_patient_group=["Hereditary cancer"], role=["all"]),
        ),
    ]


def stage_scale(
    work: Path, n_samples: int, n_variants: int, span: int, gaps_per_sample: int, seed: int, batches: int = 1
) -> None:
    """Publish a synthetic release of ``n_samples`` from stored calls, then time sub-cohort queries.

    ``batches`` > 1 stores the samples as that many batches (contiguous ranges), so
    the release has as many sub-cohort segments: the queries then search each.
    """
    from variantdb.load import publish_release
    from variantdb.release.aggregate import make_cohort
    from variantdb.settings import get_settings
    from variantdb.subcohort import write_subcohort

    rng = np.random.default_rng(seed)
    db = work / "db"
    rd = release_path(db, "r0001")
    samples = _synthetic_samples(rng, n_samples)
    names = [f"synth{k:03d}" for k in range(batches)]
    bounds = np.linspace(0, n_samples, batches + 1).astype(np.int64)
    calls_dirs = [db / "calls" / f"batch={b}" for b in names]
    gaps_dirs = [db / "gaps" / f"batch={b}" for b in names]
    build: dict[str, Any] = {"batches": batches}
    fresh = (rd / "release.json").exists() and len(
        json.loads((rd / "subcohort" / "subcohort.json").read_text()).get("segments", [])
    ) == batches
    if not fresh:
        shutil.rmtree(db, ignore_errors=True)
        t0 = time.perf_counter()
        n_calls = 0
        for chrom, k in (("chr1", n_variants), ("chrX", max(1, n_variants // 10))):
            calls = _synthetic_calls(rng, samples, chrom, k, span)
            gaps = _synthetic_gaps(rng, n_samples, chrom, span, gaps_per_sample)
            n_calls += calls.num_rows
            for b, (lo, hi) in enumerate(itertools.pairwise(bounds)):
                for table, dirs, sub in ((calls, calls_dirs, "bin=0"), (gaps, gaps_dirs, "")):
                    idx = table.column("sample_idx").to_numpy()
                    part = dirs[b] / f"contig={chrom}" / sub
                    part.mkdir(parents=True, exist_ok=True)
                    pq.write_table(table.filter((idx >= lo) & (idx < hi)), part / "part.parquet")
        build["generate_s"] = round(time.perf_counter() - t0, 1)
        build["calls"] = n_calls
        t0 = time.perf_counter()
        publish_release(db, "r0001", samples, calls_dirs, gaps_dirs, names, get_settings(), None)
        build["publish_s"] = round(time.perf_counter() - t0, 1)
        # The sub-cohort part alone: rebuild it into a scratch copy of the release's variant tables.
        scratch = work / "scratch"
        shutil.rmtree(scratch, ignore_errors=True)
        shutil.copytree(rd / "variants", scratch / "variants")
        t0 = time.perf_counter()
        write_subcohort(scratch, samples, make_cohort(samples), calls_dirs, gaps_dirs)
        build["write_subcohort_s"] = round(time.perf_counter() - t0, 1)
        shutil.rmtree(scratch)
    build["release_mb"] = round(_du(rd) / 1e6, 1)
    build["subcohort_mb"] = round(_du(rd / "subcohort") / 1e6, 1)
    sc = SubcohortIndex(rd)
    ix = ReleaseIndex.open(rd)
    build["n_variants"] = len(ix)
    build["n_carriers"] = sc.meta["n_carriers"]
    build["n_gaps"] = sc.meta["n_gaps"]
    variants = [ix.variant_at(r) for r in range(len(ix))]
    pick = [variants[i] for i in rng.choice(len(variants), size=min(2000, len(variants)), replace=False)]
    batch = [variants[i] for i in rng.choice(len(variants), size=min(1000, len(variants)), replace=False)]
    every = make_filter(role=["all"], raw=True)
    carriers = np.array(
        [
            r["n_carriers"]
            for r in sc.counts(
                every, list(range(len(ix))), [v.chrom for v in variants], [v.pos for v in variants]
            )
        ]
    )
    results = []
    for label, f in _scale_filters():
        t0 = time.perf_counter()
        m = sc.mask(f)
        mask_ms = (time.perf_counter() - t0) * 1e3
        lat = []
        for v in pick:
            t1 = time.perf_counter()
            row = ix.find(v.chrom, v.pos, v.ref, v.alt)
            sc.counts(f, [row], [v.chrom], [v.pos])
            lat.append(time.perf_counter() - t1)
        lat_a = np.array(lat) * 1e3
        # the most-carried variant: the worst case of a single query
        worst_row = int(np.argmax(carriers))
        wv = variants[worst_row]
        t1 = time.perf_counter()
        for _ in range(20):
            sc.counts(f, [worst_row], [wv.chrom], [wv.pos])
        worst_ms = (time.perf_counter() - t1) / 20 * 1e3
        t1 = time.perf_counter()
        rows = ix.find_many(batch)
        sc.counts(f, rows, [v.chrom for v in batch], [v.pos for v in batch])
        batch_ms = (time.perf_counter() - t1) * 1e3
        lo, hi = ix.region_rows("chr1", 100_000, 100_000 + 1_000_000)
        t1 = time.perf_counter()
        sc.region_counts(f, "chr1", lo, hi, [variants[r].pos for r in range(lo, hi)])
        region_ms = (time.perf_counter() - t1) * 1e3
        results.append(
            {
                "filter": label,
                "n_samples": m.n,
                "mask_build_ms": round(mask_ms, 2),
                "single_mean_ms": round(float(lat_a.mean()), 3),
                "single_p50_ms": round(float(np.percentile(lat_a, 50)), 3),
                "single_p99_ms": round(float(np.percentile(lat_a, 99)), 3),
                "single_max_ms": round(float(lat_a.max()), 3),
                "most_carried_variant_ms": round(worst_ms, 3),
                "most_carried_variant_carriers": int(carriers[worst_row]),
                "batch_1000_per_variant_ms": round(batch_ms / len(batch), 4),
                "region_1mb_variants": hi - lo,
                "region_1mb_per_variant_ms": round(region_ms / max(1, hi - lo), 4),
            }
        )
    http = _http_latency(db, pick)
    _emit(
        {
            "stage": "scale",
            "http": http,
            "command": " ".join(sys.argv),
            "machine": _machine(),
            "samples": n_samples,
            "span_bp": span,
            "gaps_per_sample_per_contig": gaps_per_sample,
            "carriers_per_variant_mean": round(float(carriers.mean()), 1),
            "carriers_per_variant_median": float(np.median(carriers)),
            "build": build,
            "queries": results,
        }
    )


def _http_latency(db: Path, variants: list[Any]) -> dict[str, Any]:
    """Time GET /v1/subcohort/variants/{id} with a filter through uvicorn on loopback (one keep-alive client)."""
    from urllib.parse import quote

    from benchmarks.bench_lookup import Server, _bench_key, keepalive
    from variantdb.release.files import set_current
    from variantdb.variant import format_variant_id

    if read_current(db) is None:
        set_current(db, "r0001")
    # Sub-cohorts need a controlled key (issue 6); its rate limit raised out of the way.
    headers = _bench_key(db)
    srv = Server(
        "variantdb.api.main:create_app_from_env",
        {"VARIANTDB_DB": str(db), "VARIANTDB_CONTROLLED_REQUESTS_PER_MINUTE": str(10**9)},
    )
    try:
        out: dict[str, Any] = {}
        for label, query in (("sex=XX&region=Midtjylland", "?sex=XX&region=Midtjylland"), ("no filter", "")):
            paths = ["/v1/subcohort/variants/" + quote(format_variant_id(v)) + query for v in variants]
            out[label] = {k: round(v, 3) for k, v in keepalive(srv.port, paths, 2000, headers).items()}
        plain = ["/v1/variants/" + quote(format_variant_id(v)) for v in variants]
        out["plain /v1/variants (reference)"] = {
            k: round(v, 3) for k, v in keepalive(srv.port, plain, 2000, headers).items()
        }
        return out
    finally:
        srv.stop()


def main(argv: list[str] | None = None) -> None:
    """Run one stage from the command line."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="stage", required=True)
    p = sub.add_parser("peer")
    p.add_argument("--work", type=Path, default=Path("/tmp/subcohort/peer"))
    p.add_argument("--samples", type=int, default=2000)
    p.add_argument("--sites", type=int, default=5000)
    p.add_argument("--seed", type=int, default=5)
    p.add_argument("--timed", type=int, default=500)
    p.add_argument("--cli", type=int, default=10)
    s = sub.add_parser("scale")
    s.add_argument("--work", type=Path, default=Path("/tmp/subcohort/scale"))
    s.add_argument("--samples", type=int, default=60_000)
    s.add_argument("--variants", type=int, default=5000)
    s.add_argument("--span", type=int, default=5_000_000)
    s.add_argument("--gaps-per-sample", type=int, default=20)
    s.add_argument("--seed", type=int, default=3)
    s.add_argument("--batches", type=int, default=1, help="store the samples as this many batches (segments)")
    a = ap.parse_args(argv)
    if a.stage == "peer":
        stage_peer(a.work, a.samples, a.sites, a.seed, a.timed, a.cli)
    else:
        stage_scale(a.work, a.samples, a.variants, a.span, a.gaps_per_sample, a.seed, a.batches)


if __name__ == "__main__":
    main()
