"""Sample metadata: read and validate the manifest that travels with a batch.

A manifest is a TSV with a header row and one row per sample. Every value is
checked here, before any genotype is read, and every problem is reported with
the file, line, field and value, so an operator can fix them all in one go.

A row's values are checked by one pydantic model (:class:`ManifestRow`), whose
validators word each problem; the header, the row lengths, duplicate samples and
parents naming the sample itself are checked by :func:`read_manifest`.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
)
from pydantic_core import ErrorDetails, PydanticCustomError

from variantdb.errors import VariantdbError
from variantdb.schema import CONSENT_VALUES, SEXES, TECHNOLOGIES, load_vocabulary

__all__ = [
    "FIELDS",
    "REQUIRED",
    "ManifestError",
    "ManifestRow",
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
    records: list[SampleRecord] = []
    seen: dict[str, int] = {}
    for lineno, row in enumerate(reader, start=2):
        where = f"line {lineno}"
        if len(row) != len(header):
            problems.append(f"{where}: {len(row)} fields, the header has {len(header)}")
            continue
        values = {h: (v.strip() or None) for h, v in zip(header, row, strict=True)}
        valid, errs = _validate_row(path, values)
        problems += [f"{where}: {e}" for e in errs]
        if valid is None:
            continue
        if valid.sample_id in seen:
            problems.append(f"{where}: sample_id {valid.sample_id!r} already on line {seen[valid.sample_id]}")
        seen[valid.sample_id] = lineno
        records.append(valid.to_record(lineno))
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


def _problem(info: ValidationInfo, value: object, says: str) -> PydanticCustomError:
    """Return the error of one value: the field, the value as written, and what is wrong or to do."""
    return PydanticCustomError("manifest", "{problem}", {"problem": f"{info.field_name} {value!r}{says}"})


def _pseudonym(value: str, info: ValidationInfo) -> str:
    if looks_like_cpr(value):
        raise _problem(info, value, " looks like a Danish CPR number; only pseudonyms may be loaded")
    if not _ID.match(value):
        start = " (starting with a letter or digit)" if info.field_name == "sample_id" else ""
        raise _problem(info, value, f" must be 1-64 letters, digits or ._:-{start}")
    return value


def _file(value: str, info: ValidationInfo) -> Path:
    """Resolve a path relative to the manifest's folder (the validation context's ``folder``); it must be a file."""
    folder = Path(info.context["folder"]) if info.context else Path.cwd()
    path = (folder / value).resolve()
    if not path.is_file():
        raise _problem(info, value, f": no such file ({path})")
    return path


def _one_of(allowed: Callable[[], Iterable[str]]) -> AfterValidator:
    def check(value: str, info: ValidationInfo) -> str:
        names = list(allowed())
        if value not in names:
            raise _problem(info, value, f" is not one of {', '.join(names)}")
        return value

    return AfterValidator(check)


def _date(value: str, info: ValidationInfo) -> dt.date:
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise _problem(info, value, " is not a date (YYYY-MM-DD)") from None


_Pseudonym = Annotated[str, AfterValidator(_pseudonym)]
# The checks of a path or date run on the text as written, and return the parsed value.
_File = Annotated[Path, BeforeValidator(_file)]
_Date = Annotated[dt.date, BeforeValidator(_date)]


class ManifestRow(BaseModel):
    """One manifest row as written (values stripped, empty cells left out), validated field by field.

    Validate with ``context={"folder": <the manifest's folder>}``: ``vcf`` and
    ``capture_bed`` are relative to it. Each error's message names the field and
    the value as written (:func:`read_manifest` adds the file and line). Fields are
    declared in the order their problems are reported.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    sample_id: _Pseudonym = Field(description="the sample's pseudonym")
    father_id: _Pseudonym | None = Field(default=None, description="the father's sample_id, if loaded")
    mother_id: _Pseudonym | None = Field(default=None, description="the mother's sample_id, if loaded")
    family_id: _Pseudonym | None = Field(default=None, description="the family's pseudonym")
    vcf: _File = Field(description="the VCF or gVCF, relative to the manifest's folder")
    sex: Annotated[str, _one_of(lambda: SEXES)] = Field(description="karyotypic sex: XX, XY or unknown")
    region: Annotated[str, _one_of(lambda: load_vocabulary("regions"))] | None = Field(
        default=None, description="Danish region (variantdb/data/regions.tsv)"
    )
    patient_group: Annotated[str, _one_of(lambda: load_vocabulary("patient_groups"))] | None = Field(
        default=None, description="patient group (variantdb/data/patient_groups.tsv)"
    )
    technology: Annotated[str, _one_of(lambda: TECHNOLOGIES)] = Field(
        default="WGS", description="sequencing technology"
    )
    capture_bed: _File | None = Field(default=None, description="the capture BED of a WES or panel sample")
    consent: Annotated[str, _one_of(lambda: CONSENT_VALUES)] = Field(
        default="given", description="research consent; a withdrawn person is not loaded"
    )
    received: _Date | None = Field(default=None, description="date the sample was received, YYYY-MM-DD")

    def to_record(self, line: int) -> SampleRecord:
        """Return the validated row as the :class:`SampleRecord` the loader reads (paths absolute)."""
        return SampleRecord(
            sample_id=self.sample_id,
            vcf=self.vcf,
            sex=self.sex,
            region=self.region,
            patient_group=self.patient_group,
            family_id=self.family_id,
            father_id=self.father_id,
            mother_id=self.mother_id,
            technology=self.technology,
            capture_bed=self.capture_bed,
            consent=self.consent,
            received=self.received,
            line=line,
        )


def _validate_row(manifest: Path, values: dict[str, str | None]) -> tuple[ManifestRow | None, list[str]]:
    """Return a row's model, or None and its problems (each naming the field and value)."""
    written = {k: v for k, v in values.items() if v is not None}
    try:
        return ManifestRow.model_validate(written, context={"folder": manifest.parent}), []
    except ValidationError as e:
        return None, [_message(err) for err in e.errors(include_url=False)]


def _message(err: ErrorDetails) -> str:
    field = ".".join(str(p) for p in err["loc"])
    if err["type"] == "missing":
        return f"{field} is empty" + (f"; use one of {', '.join(SEXES)}" if field == "sex" else "")
    if err["type"] == "manifest":
        return err["msg"]
    return f"{field} {err['input']!r}: {err['msg']}"
