"""Sample metadata: read and validate the manifest that travels with a batch.

A manifest is a TSV with a header row and one row per sample. Every value is
checked here, before any genotype is read, and every problem is reported with
the file, line, field and value, so an operator can fix them all in one go.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

from variantdb.errors import VariantdbError
from variantdb.genome import SEXES
from variantdb.schema import load_vocabulary

__all__ = [
    "FIELDS",
    "REQUIRED",
    "ManifestError",
    "SampleRecord",
    "looks_like_cpr",
    "read_manifest",
]

REQUIRED = ("sample_id", "vcf", "sex")
FIELDS = (
    *REQUIRED,
    "region",
    "patient_group",
    "family_id",
    "father_id",
    "mother_id",
    "technology",
    "capture_bed",
    "consent",
    "received",
)
CONSENT_VALUES = ("given", "research_opt_out")
TECHNOLOGIES = ("WGS", "WES", "panel")
_CPR = re.compile(r"^(\d{6}-?\d{4})$")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")


class ManifestError(VariantdbError, ValueError):
    """One or more invalid manifest values; ``problems`` lists each one."""

    def __init__(self, path: Path, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        shown = "\n  ".join(problems[:50])
        more = f"\n  ... and {len(problems) - 50} more" if len(problems) > 50 else ""
        super().__init__(f"{path}: {len(problems)} problem(s) in the manifest:\n  {shown}{more}")


@dataclass(frozen=True)
class SampleRecord:
    """One manifest row, validated. Paths are absolute."""

    sample_id: str
    vcf: Path
    sex: str
    region: str | None = None
    patient_group: str | None = None
    family_id: str | None = None
    father_id: str | None = None
    mother_id: str | None = None
    technology: str = "WGS"
    capture_bed: Path | None = None
    consent: str = "given"
    received: dt.date | None = None
    line: int = 0


def looks_like_cpr(value: str) -> bool:
    """Tell whether a value looks like a Danish CPR number (``DDMMYY-XXXX`` or 10 digits)."""
    return bool(_CPR.match(value.strip()))


def read_manifest(path: str | Path) -> list[SampleRecord]:
    """Read and validate a manifest.

    Parameters
    ----------
    path
        A TSV file with a header row. Required columns: ``sample_id``, ``vcf``
        (relative to the manifest's folder), ``sex`` (XX, XY, unknown). Optional:
        ``region``, ``patient_group`` (names from ``variantdb/data``), ``family_id``,
        ``father_id``, ``mother_id``, ``technology`` (WGS, WES, panel; default WGS),
        ``capture_bed``, ``consent`` (given, research_opt_out; default given; a withdrawn person is not loaded),
        ``received`` (YYYY-MM-DD).

    Raises
    ------
    ManifestError
        Listing every problem with line number, field and value.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ManifestError(path, ["the manifest file does not exist"]) from None
    except UnicodeDecodeError as e:
        raise ManifestError(path, [f"not UTF-8 text ({e.reason} at byte {e.start})"]) from None
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    if not lines:
        raise ManifestError(path, ["the manifest is empty; it needs a header row and one row per sample"])
    reader = csv.reader(lines, delimiter="\t")
    header = [h.strip() for h in next(reader)]
    problems: list[str] = []
    missing = [f for f in REQUIRED if f not in header]
    unknown = [h for h in header if h not in FIELDS]
    if missing:
        problems.append(f"header: missing required column(s) {', '.join(missing)} (header is {header})")
    if unknown:
        problems.append(f"header: unknown column(s) {', '.join(unknown)}; allowed: {', '.join(FIELDS)}")
    if len(set(header)) != len(header):
        problems.append("header: a column appears twice")
    if problems:
        raise ManifestError(path, problems)
    regions = load_vocabulary("regions")
    groups = load_vocabulary("patient_groups")
    records: list[SampleRecord] = []
    seen: dict[str, int] = {}
    for lineno, row in enumerate(reader, start=2):
        where = f"line {lineno}"
        if len(row) != len(header):
            problems.append(f"{where}: {len(row)} fields, the header has {len(header)}")
            continue
        values = {h: (v.strip() or None) for h, v in zip(header, row, strict=True)}
        rec, errs = _validate_row(path, values, regions, groups)
        problems += [f"{where}: {e}" for e in errs]
        if rec is None:
            continue
        if rec.sample_id in seen:
            problems.append(f"{where}: sample_id {rec.sample_id!r} already on line {seen[rec.sample_id]}")
        seen[rec.sample_id] = lineno
        records.append(dataclasses.replace(rec, line=lineno))
    if not records and not problems:
        problems.append("no samples: the manifest has a header but no rows")
    for r in records:
        for parent in ("father_id", "mother_id"):
            value = getattr(r, parent)
            if value is not None and value == r.sample_id:
                problems.append(f"line {r.line}: {parent} {value!r} is the sample itself")
    if problems:
        raise ManifestError(path, problems)
    return records


def _validate_row(
    manifest: Path, v: dict[str, str | None], regions: dict[str, str], groups: dict[str, str]
) -> tuple[SampleRecord | None, list[str]]:
    errs: list[str] = []
    sid = v.get("sample_id")
    if sid is None:
        errs.append("sample_id is empty")
    elif looks_like_cpr(sid):
        errs.append(f"sample_id {sid!r} looks like a Danish CPR number; only pseudonyms may be loaded")
    elif not _ID.match(sid):
        errs.append(
            f"sample_id {sid!r} must be 1-64 letters, digits or ._:- (starting with a letter or digit)"
        )
    for parent in ("father_id", "mother_id", "family_id"):
        value = v.get(parent)
        if value is not None and looks_like_cpr(value):
            errs.append(f"{parent} {value!r} looks like a Danish CPR number; only pseudonyms may be loaded")
        elif value is not None and not _ID.match(value):
            errs.append(f"{parent} {value!r} must be 1-64 letters, digits or ._:-")
    vcf = v.get("vcf")
    vcf_path = None
    if vcf is None:
        errs.append("vcf is empty")
    else:
        vcf_path = (manifest.parent / vcf).resolve()
        if not vcf_path.is_file():
            errs.append(f"vcf {vcf!r}: no such file ({vcf_path})")
    sex = v.get("sex")
    if sex not in SEXES:
        errs.append(f"sex {sex!r} is not one of {', '.join(SEXES)}")
    region = v.get("region")
    if region is not None and region not in regions:
        errs.append(f"region {region!r} is not one of {', '.join(regions)}")
    group = v.get("patient_group")
    if group is not None and group not in groups:
        errs.append(f"patient_group {group!r} is not one of {', '.join(groups)}")
    tech = v.get("technology") or "WGS"
    if tech not in TECHNOLOGIES:
        errs.append(f"technology {tech!r} is not one of {', '.join(TECHNOLOGIES)}")
    bed = v.get("capture_bed")
    bed_path = None
    if bed is not None:
        bed_path = (manifest.parent / bed).resolve()
        if not bed_path.is_file():
            errs.append(f"capture_bed {bed!r}: no such file ({bed_path})")
    consent = v.get("consent") or "given"
    if consent not in CONSENT_VALUES:
        errs.append(f"consent {consent!r} is not one of {', '.join(CONSENT_VALUES)}")
    received = None
    if v.get("received") is not None:
        try:
            received = dt.date.fromisoformat(str(v["received"]))
        except ValueError:
            errs.append(f"received {v['received']!r} is not a date (YYYY-MM-DD)")
    if errs or sid is None or vcf_path is None or sex is None:
        return None, errs
    return (
        SampleRecord(
            sample_id=sid,
            vcf=vcf_path,
            sex=sex,
            region=region,
            patient_group=group,
            family_id=v.get("family_id"),
            father_id=v.get("father_id"),
            mother_id=v.get("mother_id"),
            technology=tech,
            capture_bed=bed_path,
            consent=consent,
            received=received,
        ),
        [],
    )
