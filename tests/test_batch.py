"""Loading batches: counts on a tiny hand-checked cohort, and every bad input refused without a trace."""

from __future__ import annotations

import gzip
import os
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.batch_data import (
    CONTIGS,
    EXPECTED,
    MANIFEST,
    SAMPLES,
    G,
    make_batch,
    release_rows,
    tree_digest,
)
from tests.vcfdata import write_fasta, write_manifest, write_vcf
from variantdb.ingest.vcf import LoadError
from variantdb.load import load_batch
from variantdb.manifest import ManifestError
from variantdb.release.files import read_current, read_release_meta


def test_counts_match_hand_worked_table(tmp_path: Path) -> None:
    report = load_batch(tmp_path / "db", make_batch(tmp_path / "in"))
    assert release_rows(tmp_path / "db") == EXPECTED
    totals = report.as_dict()["totals"]
    assert totals["other_contigs"] == {"chr1_KI270706v1_random": 1}
    assert totals["skipped"]["star_alleles"] == 1
    assert totals["skipped"]["symbolic_alleles"] == 1


def test_strata_count_adj_founders_by_sex_and_region(tmp_path: Path) -> None:
    load_batch(tmp_path / "db", make_batch(tmp_path / "in"))
    cols = [
        "pos",
        "ac_sex_xx",
        "an_sex_xx",
        "ac_sex_xy",
        "an_sex_xy",
        "ac_region_sjaelland",
        "an_region_sjaelland",
    ]
    rows = release_rows(tmp_path / "db", cols)
    # chr1:100 A>C: M (XX) carries 1 of 2; F (XY) 1 of 2; U (Sjælland, XY) is a no-call.
    assert rows[0] == (100, 1, 2, 1, 2, 0, 0)
    # chrX: XY alleles F 1 + U 1 (both carriers); XX founders: M, 1 of 2.
    assert rows[3] == (5000000, 1, 2, 2, 2, 1, 1)


def test_absent_variant_has_an_from_the_track(tmp_path: Path) -> None:
    db = tmp_path / "db"
    load_batch(db, make_batch(tmp_path / "in"))
    track = pq.read_table(db / "releases" / "r0001" / "an.parquet").to_pylist()
    chr1 = [t for t in track if t["chrom"] == "chr1"]
    # Founders are diploid on chr1 everywhere but where U is a no-call (chr1:100).
    assert [(t["start"], t["end"], t["an"], t["an_raw"]) for t in chr1] == [
        (1, 99, 6, 6),
        (100, 100, 4, 4),
        (101, 199, 6, 6),
        (200, 200, 2, 6),
        (201, 248956422, 6, 6),
    ]


@pytest.mark.parametrize("compress", ["bgzip", "gzip", "none"])
def test_reads_bgzipped_plain_gzipped_and_uncompressed(tmp_path: Path, compress: str) -> None:
    manifest = make_batch(tmp_path / "in", compress=compress)
    load_batch(tmp_path / "db", manifest)
    assert release_rows(tmp_path / "db") == EXPECTED


def test_reads_bcf(tmp_path: Path) -> None:
    import pysam

    make_batch(tmp_path / "in")
    with pysam.VariantFile(str(tmp_path / "in" / "cohort.vcf.gz")) as src:
        with pysam.VariantFile(str(tmp_path / "in" / "cohort.bcf"), "wb", header=src.header) as dst:
            for rec in src:
                dst.write(rec)
    manifest = write_manifest(tmp_path / "in" / "bcf.tsv", [{**r, "vcf": "cohort.bcf"} for r in MANIFEST])
    load_batch(tmp_path / "db", manifest)
    assert release_rows(tmp_path / "db") == EXPECTED


def test_gvcf_counts_only_where_blocks_cover(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    fmt = "GT:GQ:DP:MIN_DP:AD"
    write_vcf(
        folder / "a.g.vcf.gz",
        ["A"],
        [
            f"chr1 1 . N <NON_REF> . . END=99 {fmt} 0/0:30:20:15:.",
            f"chr1 100 . A C,<NON_REF> 50 . . {fmt} 0/1:40:20:.:10,10,0",
            f"chr1 101 . C <NON_REF> . . END=150 {fmt} 0/0:5:3:2:.",
        ],
        {"chr1": 248956422},
    )
    write_vcf(
        folder / "b.g.vcf.gz",
        ["B"],
        [f"chr1 50 . A <NON_REF> . . END=120 {fmt} 0/0:50:30:25:."],
        {"chr1": 248956422},
    )
    manifest = write_manifest(
        folder / "m.tsv",
        [
            {"sample_id": "A", "vcf": "a.g.vcf.gz", "sex": "XX"},
            {"sample_id": "B", "vcf": "b.g.vcf.gz", "sex": "XY"},
        ],
    )
    load_batch(tmp_path / "db", manifest)
    assert release_rows(tmp_path / "db", ["pos", "ac", "an", "an_raw"]) == [(100, 1, 4, 4)]
    track = pq.read_table(tmp_path / "db" / "releases" / "r0001" / "an.parquet").to_pylist()
    got = [(t["start"], t["end"], t["an"], t["an_raw"]) for t in track if t["chrom"] == "chr1"]
    assert got == [(1, 49, 2, 2), (50, 100, 4, 4), (101, 120, 2, 4), (121, 150, 0, 2), (151, 248956422, 0, 0)]
    chr2 = [t for t in track if t["chrom"] == "chr2"]
    assert [(t["start"], t["an_raw"]) for t in chr2] == [(1, 0)]


def test_left_aligns_and_checks_ref_with_reference(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    seq = "G" * 9 + "CAAAAAT" + "G" * 84  # chr1:10 is C, chr1:11-15 AAAAA
    fasta = write_fasta(folder / "ref.fa", {"chr1": seq})
    # A deletion of one A written at the right end of the homopolymer.
    write_vcf(
        folder / "a.vcf.gz", ["A"], [f"chr1 15 . AT T 50 PASS . {G} 0/1:40:20:10,10"], {"chr1": 248956422}
    )
    manifest = write_manifest(folder / "m.tsv", [{"sample_id": "A", "vcf": "a.vcf.gz", "sex": "XX"}])
    load_batch(tmp_path / "db", manifest, reference=fasta)
    assert release_rows(tmp_path / "db", ["pos", "ref", "alt", "ac"]) == [(10, "CA", "C", 1)]


def test_ref_mismatch_with_reference_names_both_bases(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    fasta = write_fasta(folder / "ref.fa", {"chr1": "ACGT" * 25})
    write_vcf(
        folder / "a.vcf.gz", ["A"], [f"chr1 2 . G T 50 PASS . {G} 0/1:40:20:10,10"], {"chr1": 248956422}
    )
    manifest = write_manifest(folder / "m.tsv", [{"sample_id": "A", "vcf": "a.vcf.gz", "sex": "XX"}])
    with pytest.raises(LoadError, match=r"a\.vcf\.gz: record 1 \(chr1:2\).*REF G .*reference \(C\)"):
        load_batch(tmp_path / "db", manifest, reference=fasta)


# --- bad input: each refused with file, record and value named; nothing changes -------------


def _truncate(folder: Path) -> None:
    records = [
        f"chr1 {100 + i} . A C 50 PASS . {G} 0/1:40:20:10,10 0/0:40:20:20,0 0/0:40:20:20,0 0/0:40:20:20,0"
        for i in range(20000)
    ]
    write_vcf(folder / "cohort.vcf.gz", SAMPLES, records, CONTIGS)
    data = (folder / "cohort.vcf.gz").read_bytes()
    (folder / "cohort.vcf.gz").write_bytes(data[: len(data) // 2])


def _truncate_plain_gzip(folder: Path) -> None:
    records = [
        f"chr1 {100 + i} . A C 50 PASS . {G} 0/1:40:20:10,10 0/0:40:20:20,0 0/0:40:20:20,0 0/0:40:20:20,0"
        for i in range(20000)
    ]
    write_vcf(folder / "cohort.vcf.gz", SAMPLES, records, CONTIGS, compress="gzip")
    data = (folder / "cohort.vcf.gz").read_bytes()
    (folder / "cohort.vcf.gz").write_bytes(data[: len(data) // 2])


def _corrupt_gzip(folder: Path) -> None:
    data = bytearray(gzip.compress(b"##fileformat=VCFv4.2\n" * 1000))
    data[200:260] = b"\x00" * 60
    (folder / "cohort.vcf.gz").write_bytes(bytes(data))


BAD_INPUTS = {
    "truncated compression": (_truncate, r"cohort\.vcf\.gz: .*corrupt or truncated"),
    "truncated plain gzip": (_truncate_plain_gzip, r"cohort\.vcf\.gz: record \d+ .*corrupt or truncated"),
    "corrupt compression": (_corrupt_gzip, r"cohort\.vcf\.gz: cannot"),
    "broken header": (lambda f: (f / "cohort.vcf.gz").write_text("not a vcf\n"), r"cohort\.vcf\.gz: cannot"),
    "vcf sample not in manifest": (
        lambda f: write_vcf(f / "cohort.vcf.gz", [*SAMPLES, "X9"], [], CONTIGS),
        r"\['X9'\] are in the VCF header but not in the manifest",
    ),
    "manifest sample not in vcf": (
        lambda f: write_vcf(f / "cohort.vcf.gz", SAMPLES[:3], [], CONTIGS),
        r"manifest sample\(s\) \['U'\] are not in the VCF header",
    ),
    "wrong build": (
        lambda f: write_vcf(f / "cohort.vcf.gz", SAMPLES, [], {"chr1": 249250621}),
        r"contig chr1 has length 249250621, GRCh38 chr1 has 248956422",
    ),
    "non-ACGTN alt": (
        lambda f: write_vcf(
            f / "cohort.vcf.gz",
            SAMPLES,
            [f"chr1 5 . A Z 50 PASS . {G} 0/1:40:20:1,1 0/0:4:2:2,0 0/0:4:2:2,0 0/0:4:2:2,0"],
            CONTIGS,
        ),
        r"record 1 \(chr1:5\): field ALT: value 'Z'",
    ),
    "non-ACGTN ref": (
        lambda f: write_vcf(
            f / "cohort.vcf.gz",
            SAMPLES,
            [f"chr1 5 . R A 50 PASS . {G} 0/1:40:20:1,1 0/0:4:2:2,0 0/0:4:2:2,0 0/0:4:2:2,0"],
            CONTIGS,
        ),
        r"record 1 \(chr1:5\): field REF: value 'R'",
    ),
    "pos out of range": (
        lambda f: write_vcf(
            f / "cohort.vcf.gz",
            SAMPLES,
            [f"chrM 17000 . A C 50 PASS . {G} 1:40:20:1,1 0:4:2:2,0 0:4:2:2,0 0:4:2:2,0"],
            CONTIGS,
        ),
        r"record 1 \(chrM:17000\): field POS: value 17000 is outside GRCh38 chrM \(1-16569\)",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_is_refused_and_changes_nothing(tmp_path: Path, case: str) -> None:
    db = tmp_path / "db"
    good = make_batch(tmp_path / "first", manifest=[{**MANIFEST[0], "sample_id": "P1"}], records=[])
    write_vcf(
        tmp_path / "first" / "cohort.vcf.gz", ["P1"], [f"chr1 7 . A G 50 PASS . {G} 0/1:40:20:10,10"], CONTIGS
    )
    load_batch(db, good, batch_name="first")
    before = tree_digest(db)
    folder = tmp_path / "bad"
    manifest = make_batch(folder)
    make, message = BAD_INPUTS[case]
    make(folder)
    with pytest.raises(LoadError, match=message):
        load_batch(db, manifest, batch_name="second")
    after = tree_digest(db)
    assert {k: v for k, v in after.items() if not k.startswith("registry")} == {
        k: v for k, v in before.items() if not k.startswith("registry")
    }
    assert read_current(db) == "r0001"
    # A rerun once the input is fixed succeeds.
    make_batch(folder)
    load_batch(db, manifest, batch_name="second")
    assert read_current(db) == "r0002"
    assert read_release_meta(db, "r0002").n_samples == 5


def test_sample_already_loaded_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "db"
    load_batch(db, make_batch(tmp_path / "a"), batch_name="a")
    with pytest.raises(LoadError, match=r"sample id\(s\) already loaded: F \(batch a\)"):
        load_batch(db, make_batch(tmp_path / "b"), batch_name="b")
    with pytest.raises(LoadError, match="batch 'a' is already loaded"):
        load_batch(db, make_batch(tmp_path / "b"), batch_name="a")
    assert read_current(db) == "r0001"


@pytest.mark.parametrize("cpr", ["010190-1234", "0101901234"])
def test_cpr_number_as_sample_id_is_refused(tmp_path: Path, cpr: str) -> None:
    rows = [{**MANIFEST[0], "sample_id": cpr}, *MANIFEST[1:]]
    with pytest.raises(ManifestError, match=f"sample_id '{cpr}' looks like a Danish CPR number"):
        load_batch(tmp_path / "db", make_batch(tmp_path / "in", manifest=rows))
    assert not (tmp_path / "db" / "CURRENT").exists()


def test_cpr_number_in_vcf_header_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    manifest = make_batch(folder)
    write_vcf(folder / "cohort.vcf.gz", [*SAMPLES[:3], "1201851234"], [], CONTIGS)
    with pytest.raises(LoadError, match="header sample '1201851234' looks like a Danish CPR number"):
        load_batch(tmp_path / "db", manifest)


def test_single_sample_files_equal_one_multi_sample_file(tmp_path: Path) -> None:
    """The one-sample fast path and the vectorized path give byte-identical release tables."""
    import pysam

    multi = make_batch(tmp_path / "multi")
    load_batch(tmp_path / "db_multi", multi)
    folder = tmp_path / "single"
    folder.mkdir()
    rows = []
    for sample in SAMPLES:
        with pysam.VariantFile(str(tmp_path / "multi" / "cohort.vcf.gz")) as src:
            src.subset_samples([sample])
            with pysam.VariantFile(str(folder / f"{sample}.vcf.gz"), "wz", header=src.header) as dst:
                for rec in src:
                    dst.write(rec)
        rows.append({**next(r for r in MANIFEST if r["sample_id"] == sample), "vcf": f"{sample}.vcf.gz"})
    load_batch(tmp_path / "db_single", write_manifest(folder / "manifest.tsv", rows), workers=1)
    for db in ("db_multi", "db_single"):
        assert release_rows(tmp_path / db) == EXPECTED, db
    a = sorted((tmp_path / "db_multi" / "releases" / "r0001" / "variants").rglob("*.parquet"))
    b = sorted((tmp_path / "db_single" / "releases" / "r0001" / "variants").rglob("*.parquet"))
    assert [pq.read_table(x) for x in a] == [pq.read_table(x) for x in b]


# --- found in review: each a small reproduction ---------------------------------------------


def _one_contig(records: list[str], samples: list[str], folder: Path, name: str) -> Path:
    return write_vcf(folder / name, samples, records, {"chr1": 248956422, "chrX": 156040895})


def test_two_records_at_one_position_take_a_no_call_out_of_an_once(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    fmt = "GT:GQ:DP"
    # S2 fails adj (GQ 10) in both records at chr1:100: it leaves AN once (2 alleles), not twice.
    _one_contig(
        [
            f"chr1 100 . A G 50 PASS . {fmt} 1/0:40:30 0/0:10:30 0/1:40:30",
            f"chr1 100 . A T 50 PASS . {fmt} 0/1:40:30 0/0:10:30 0/0:40:30",
        ],
        ["S1", "S2", "S3"],
        folder,
        "m.vcf.gz",
    )
    # S4's three no-calls at one position remove its 2 alleles once: AN never goes negative.
    _one_contig(
        [f"chr1 100 . A {alt} 50 PASS . {fmt} ./.:.:." for alt in ("C", "G", "T")],
        ["S4"],
        folder,
        "s4.vcf.gz",
    )
    rows = [{"sample_id": s, "vcf": "m.vcf.gz", "sex": "XX"} for s in ("S1", "S2", "S3")]
    manifest = write_manifest(folder / "m.tsv", [*rows, {"sample_id": "S4", "vcf": "s4.vcf.gz", "sex": "XX"}])
    load_batch(tmp_path / "db", manifest)
    got = release_rows(tmp_path / "db", ["pos", "alt", "ac", "an", "an_raw"])
    assert got == [(100, "G", 2, 4, 6), (100, "T", 1, 4, 6)]


def test_two_records_normalizing_to_one_variant_count_the_sample_once(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    fmt = "GT:GQ:DP"
    _one_contig(
        [f"chr1 200 . AC GC 50 PASS . {fmt} 0/1:40:30", f"chr1 200 . A G 50 PASS . {fmt} 0/1:40:30"],
        ["S1"],
        folder,
        "a.vcf.gz",
    )
    load_batch(
        tmp_path / "db",
        write_manifest(folder / "m.tsv", [{"sample_id": "S1", "vcf": "a.vcf.gz", "sex": "XX"}]),
    )
    assert release_rows(tmp_path / "db", ["pos", "ref", "alt", "ac", "an", "n_carriers"]) == [
        (200, "A", "G", 1, 2, 1)
    ]


def test_gvcf_block_across_a_par_boundary_covers_both_sides(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    blocks = [
        "chrX 2781000 . A <NON_REF> . . END=2782000 GT:GQ:MIN_DP 0/0:40:30",
        "chrX 155701000 . A <NON_REF> . . END=155701500 GT:GQ:MIN_DP 0/0:40:30",
    ]
    _one_contig(blocks, ["U1"], folder, "u.g.vcf.gz")
    _one_contig(blocks, ["Y1"], folder, "y.g.vcf.gz")
    rows = [
        {"sample_id": "U1", "vcf": "u.g.vcf.gz", "sex": "unknown"},
        {"sample_id": "Y1", "vcf": "y.g.vcf.gz", "sex": "XY"},
    ]
    load_batch(tmp_path / "db", write_manifest(folder / "m.tsv", rows))
    track = pq.read_table(tmp_path / "db" / "releases" / "r0001" / "an.parquet").to_pylist()

    def an_at(pos: int) -> int:
        return next(t["an"] for t in track if t["chrom"] == "chrX" and t["start"] <= pos <= t["end"])

    # PAR1 ends at 2,781,479 and PAR2 starts at 155,701,383: both samples count 2 inside,
    # only the XY sample counts (1) outside.
    assert [an_at(p) for p in (2781400, 2781600, 155701300, 155701400)] == [4, 1, 1, 4]


def test_gvcf_without_records_on_loaded_contigs_has_no_data_anywhere(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    write_vcf(
        folder / "a.g.vcf.gz",
        ["A"],
        ["chrUn_KI270742v1 1 . N <NON_REF> . . END=186739 GT:GQ:MIN_DP 0/0:40:30"],
        {"chr1": 248956422, "chrUn_KI270742v1": 186739},
    )
    report = load_batch(
        tmp_path / "db",
        write_manifest(folder / "m.tsv", [{"sample_id": "A", "vcf": "a.g.vcf.gz", "sex": "XX"}]),
    )
    assert report.files[0].gvcf
    track = pq.read_table(tmp_path / "db" / "releases" / "r0001" / "an.parquet").to_pylist()
    assert {t["an_raw"] for t in track} == {0}


def _children(pid: int) -> dict[int, str]:
    """Return ``{pid: command line}`` of the live processes whose parent is ``pid`` (Linux /proc)."""
    out = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            state = stat.rsplit(")", 1)[1].split()[0]
            if ppid == pid and state != "Z":
                out[int(d.name)] = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, ValueError, IndexError):
            continue
    return out


def _reading(pid: int, folder: Path) -> bool:
    """Tell whether a process has a file under ``folder`` open (a worker at work, past its start-up)."""
    try:
        return any(os.readlink(fd).startswith(str(folder)) for fd in Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return False


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes from Linux /proc")
def test_workers_exit_when_the_load_is_killed(tmp_path: Path) -> None:
    """SIGKILL of ``load --workers 2`` leaves no reading worker running (they held ~170 MB each)."""
    import signal
    import subprocess
    import sys

    from benchmarks.cohort import generate_cohort

    manifest = generate_cohort(tmp_path / "in", 24, 4000, 3, layout="single", gvcf=True)
    argv = [sys.executable, "-m", "variantdb.loaders.cli", "load", "--db", str(tmp_path / "db")]
    argv += ["--manifest", str(manifest), "--workers", "2"]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers: dict[int, str] = {}
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            workers = {p: c for p, c in _children(proc.pid).items() if "spawn_main" in c}
            if len(workers) >= 2 and all(_reading(p, tmp_path / "in") for p in workers):
                break
            time.sleep(0.02)
        assert len(workers) >= 2, f"the load ended (exit {proc.poll()}) before its workers were seen reading"
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(_alive(p) for p in workers):
            time.sleep(0.05)
        left = [p for p in workers if _alive(p)]
        assert not left, f"worker(s) {left} still run after their load was killed"
    finally:
        if proc.poll() is None:
            proc.kill()
        for p in workers:
            if _alive(p):
                os.kill(p, signal.SIGKILL)
