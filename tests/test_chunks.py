"""The one-sample column reader (ingest/chunks.py) judges every record as the record reader does."""

from __future__ import annotations

from pathlib import Path

import pyarrow.dataset as ds
import pytest

import variantdb.ingest.chunks as chunks
import variantdb.ingest.vcf as vcfmod
from tests.vcfdata import write_vcf
from variantdb.ingest.vcf import LoadError, PartWriter, read_vcf
from variantdb.manifest import SampleRecord
from variantdb.schema import CALLS_SCHEMA, GAPS_SCHEMA
from variantdb.settings import Settings

CONTIGS = {"chr1": 248956422, "chrX": 156040895}

VCF = [
    "chr1 100 . A C . PASS . GT:GQ:DP:AD 0/1:30:20:10,10",
    "chr1 200 . A G . LowQual . GT:GQ:DP:AD 1/1:10:20:0,20",
    "chr1 300 . A C . . . GT:GQ:DP:AD 0/1:30:20:19,1",
    "chr1 400 . ACAC A,AC . . . GT:GQ:DP:AD 1/2:50:30:2,14,14",
    "chr1 500 . A C,*,<DEL> . . . GT:GQ:DP:AD 0/1:50:30:15,15,0,0",
    "chr1 600 . A . . . . GT:GQ:DP ./.:40:5",
    "chr1 700 . g t . . . GT:GQ:DP:AD ./1:40:30:10,10",
    "chr1 800 . A T . . . GT:GQ:DP:AD 0/1/1:40:30:10,10",
    "chr1 900 . A * . . . GT:GQ:DP:AD 0/1:40:30:10,10",
    "chr1 1000 . C CA . . . GT:GQ:DP:AD 1|0:99:9:4,5",
    "chrX 2000000 . A G . . . GT:GQ:DP:AD 0/1:60:30:15,15",
    "chrX 5000000 . A G . . . GT:GQ:DP:AD 1/1:60:30:0,30",
    "chrX 5000100 . A G . . . GT:GQ:DP:AD 0/1:60:30:15,15",
    "chrX 5000200 . A G . . . GT:GQ:DP:AD 1:60:30:0,30",
    "chr9_KI270719v1_random 5 . A G . . . GT:GQ:DP:AD 0/1:60:30:15,15",
]

GVCF = [
    "chr1 1 . N <NON_REF> . . END=99 GT:GQ:DP:MIN_DP 0/0:50:30:25",
    "chr1 100 . A C,<NON_REF> . . . GT:GQ:DP:AD 0/1:30:20:10,10,0",
    "chr1 101 . A <NON_REF> . . END=150 GT:GQ:DP:MIN_DP 0/0:10:30:25",
    "chr1 151 . A <NON_REF> . . END=180 GT:GQ:DP:MIN_DP 0/0:50:30:5",
    "chr1 200 . AT A,<NON_REF> . . . GT:GQ:DP:AD 1/1:30:20:0,20,0",
    "chr1 201 . T <NON_REF> . . END=400 GT:GQ:DP:MIN_DP ./.:0:0:0",
    "chr1 401 . T C,G,<NON_REF> . . . GT:GQ:DP:AD 1/2:30:20:0,10,10,0",
    "chrX 100 . T <NON_REF> . . END=3000000 GT:GQ:DP:MIN_DP 0/0:50:30:25",
    "chrX 3000001 . T C,<NON_REF> . . . GT:GQ:DP:AD 1/1:50:30:0,30,0",
]


def _read(tmp: Path, name: str, records: list[str], sex: str, columns: bool) -> tuple[dict, list, list]:
    path = write_vcf(tmp / f"{name}.vcf.gz", ["S1"], records, CONTIGS)
    out = tmp / f"{name}-{columns}"
    calls = PartWriter(out / "calls", CALLS_SCHEMA, "t", 1_000_000, 1000)
    gaps = PartWriter(out / "gaps", GAPS_SCHEMA, "t", None, 1000)
    sample = SampleRecord(sample_id="S1", vcf=str(path), sex=sex)
    report = read_vcf(path, [sample], {"S1": 7}, calls, gaps, Settings())
    calls.close()
    gaps.close()

    def rows(kind: str) -> list:
        if not (out / kind).exists():
            return []
        table = ds.dataset(out / kind, partitioning="hive").to_table()
        return sorted(tuple(r.values()) for r in table.to_pylist())

    return report.as_dict() | {"path": ""}, rows("calls"), rows("gaps")


@pytest.mark.parametrize("sex", ["XX", "XY", "unknown"])
@pytest.mark.parametrize("name", ["vcf", "gvcf"])
def test_column_reader_judges_as_the_record_reader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, sex: str
) -> None:
    records = VCF if name == "vcf" else GVCF
    monkeypatch.setattr(chunks, "CHUNK_RECORDS", 3)
    used = []
    real = chunks._Context.judge_chunk

    def spy(self: chunks._Context, rb: object, report: object) -> None:
        used.append(1)
        real(self, rb, report)  # type: ignore[arg-type]

    monkeypatch.setattr(chunks._Context, "judge_chunk", spy)
    fast = _read(tmp_path, name, records, sex, True)
    assert used, "the column reader was not used"
    monkeypatch.setattr(vcfmod, "_columns_ok", lambda path, vcf: False)
    slow = _read(tmp_path, name, records, sex, False)
    assert fast == slow
    assert fast[1], "no calls were read"


def test_dot_gq_in_a_later_chunk_is_judged_by_the_record_reader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = [*VCF[:4], "chr1 450 . A C . . . GT:GQ:DP:AD 0/1:.:30:15,15", *VCF[4:8]]
    monkeypatch.setattr(chunks, "CHUNK_RECORDS", 2)
    resumed = []
    real = vcfmod._read_records

    def spy(*args: object, **kwargs: object) -> None:
        resumed.append(args[-1].done)  # type: ignore[attr-defined]
        real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(vcfmod, "_read_records", spy)
    fast = _read(tmp_path, "dot", records, "XX", True)
    assert resumed == [4]  # two chunks of two records read in columns, the rest by records
    monkeypatch.setattr(vcfmod, "_columns_ok", lambda path, vcf: False)
    slow = _read(tmp_path, "dot", records, "XX", False)
    assert fast == slow


def test_error_in_a_later_chunk_names_the_record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chunks, "CHUNK_RECORDS", 2)
    records = [*VCF[:3], "chr1 2000 . A C . . . GT:GQ:DP:AD 2/2:40:30:15,15"]
    with pytest.raises(LoadError, match=r"record 4 \(chr1:2000\): sample 'S1': field GT: value '2/2'"):
        _read(tmp_path, "bad", records, "XX", True)
