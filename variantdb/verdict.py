"""Frequency verdicts per disease: whether a variant is too common to cause it.

A lab classifying a variant for a patient asks whether its frequency in the
population is compatible with the patient's disease. Whiffin et al. 2017
(Genet Med 19:1151, the CardioDB allele-frequency calculator) turn a disease's
genetic architecture (inheritance, prevalence, allelic and genetic contribution,
penetrance) into a *maximum credible population allele frequency*, and, for a
dataset of ``AN`` called alleles, into a *maximum tolerated allele count*. This
module computes both and the ACMG/AMP frequency criteria a variant meets:

- ``BA1``: faf95 of the highest-frequency region (gnomAD's grpmax faf95)
  above 0.05 (configurable).
- ``BS1``: that faf95 above the disease's maximum credible AF.
- ``PM2``: the observed count shows, at the architecture's confidence, that
  the variant is no more common than the maximum credible AF; this needs
  enough AN (see `compute_min_informative_an`).

The counts are the caller's: for a patient the lab wants them computed against
the population *excluding the patient's own patient group* (a variant common
among heart patients says little about a heart patient), so this module takes
``ac``, ``an`` and ``faf95_max_region`` as inputs and never reads a release.

The architectures per patient group are data, not code: a shipped, editable
TSV (``variantdb/data/disease_architectures.tsv``) read by
`read_disease_architectures`, overridable per request with `apply_overrides`.
``docs/verdicts.md`` explains the semantics for people.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, replace
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Final, overload

import numpy as np
from numpy.typing import ArrayLike, NDArray

from variantdb.errors import VariantdbError
from variantdb.schema import load_vocabulary

__all__ = [
    "ARCHITECTURE_COLUMNS",
    "BA1_FAF",
    "CONFIDENCES",
    "CRITERIA",
    "INHERITANCES",
    "OVERRIDE_PARAMETERS",
    "STATES",
    "DiseaseArchitecture",
    "Verdict",
    "VerdictArrays",
    "VerdictParameterError",
    "apply_overrides",
    "architecture_for",
    "compute_max_credible_af",
    "compute_max_tolerated_ac",
    "compute_min_informative_an",
    "compute_verdict",
    "compute_verdicts",
    "read_disease_architectures",
]

#: Modes of inheritance Whiffin et al. give a formula for.
INHERITANCES: Final = ("dominant", "recessive")
#: Confidences a maximum tolerated allele count may be computed at.
CONFIDENCES: Final = (0.95, 0.99)
#: ACMG/AMP BA1 threshold on the grpmax faf95 (ClinGen SVI, Ghosh et al. 2018, Hum Mutat 39:1525).
BA1_FAF: Final = 0.05
#: The ACMG/AMP frequency criteria a verdict can list, strongest first.
CRITERIA: Final = ("BA1", "BS1", "PM2")
#: Every verdict state and what it means, in order of precedence.
STATES: Final[dict[str, str]] = {
    "no_data": "no called alleles at this position (AN is 0): nothing can be said",
    "ba1": "BA1: the highest-frequency region's faf95 is above the BA1 threshold (stand-alone benign)",
    "bs1": "BS1: the highest-frequency region's faf95 is above the disease's maximum credible AF",
    "pm2": "PM2: the count shows the variant is no more common than the maximum credible AF",
    "insufficient_data": "AN too small: even absence would not show the variant is rare enough for PM2",
    "indeterminate": "neither too common (BS1) nor shown to be rare enough (PM2)",
}
#: Columns of the disease architecture table, in order.
ARCHITECTURE_COLUMNS: Final = (
    "patient_group",
    "disease",
    "inheritance",
    "prevalence",
    "allelic_contribution",
    "genetic_contribution",
    "penetrance",
    "ci",
    "source",
)
#: Per-request override parameters (the query names) and the architecture field each sets.
OVERRIDE_PARAMETERS: Final[dict[str, str]] = {
    "inheritance": "inheritance",
    "prevalence": "prevalence",
    "allelic": "allelic_contribution",
    "genetic": "genetic_contribution",
    "penetrance": "penetrance",
    "ci": "ci",
}

_INHERITANCE_ALIASES: Final = {
    "dominant": "dominant",
    "monoallelic": "dominant",
    "ad": "dominant",
    "recessive": "recessive",
    "biallelic": "recessive",
    "ar": "recessive",
}
_FRACTION_FIELDS: Final = {
    "prevalence": "prevalence",
    "allelic_contribution": "allelic contribution",
    "genetic_contribution": "genetic contribution",
    "penetrance": "penetrance",
}
_TABLE: Final = "data/disease_architectures.tsv"


class VerdictParameterError(VariantdbError, ValueError):
    """A disease-architecture parameter or a count that cannot be used.

    Attributes
    ----------
    parameter
        The parameter's name as the caller gave it (``"allelic"``,
        ``"prevalence"``, ``"an"``, ...).
    value
        The value that was refused, as given.
    reason
        What is wrong with it and what is allowed.
    """

    def __init__(self, parameter: str, value: object, reason: str, where: str | None = None) -> None:
        self.parameter = parameter
        self.value = value
        self.reason = reason
        prefix = f"{where}: " if where else ""
        super().__init__(f"{prefix}{parameter}={value!r}: {reason}")


# ---------------------------------------------------------------------------
# Parameters
# ---------------------------------------------------------------------------


def _parse_inheritance(parameter: str, value: object) -> str:
    text = value.strip().lower() if isinstance(value, str) else None
    if text is None or text not in _INHERITANCE_ALIASES:
        raise VerdictParameterError(parameter, value, "inheritance must be 'dominant' or 'recessive'")
    return _INHERITANCE_ALIASES[text]


def _parse_number(parameter: str, value: object) -> float:
    """Return ``value`` as a float; strings may be decimals or fractions such as ``"1/500"``."""
    if isinstance(value, bool):
        raise VerdictParameterError(parameter, value, "must be a number")
    if isinstance(value, int | float | np.integer | np.floating):
        number = float(value)
    elif isinstance(value, str):
        text = value.strip()
        try:
            if "/" in text:
                num, den = text.split("/", 1)
                number = float(num) / float(den)
            else:
                number = float(text)
        except (ValueError, ZeroDivisionError):
            raise VerdictParameterError(
                parameter, value, "must be a number such as 0.002 or a fraction such as 1/500"
            ) from None
    else:
        raise VerdictParameterError(parameter, value, "must be a number")
    if not math.isfinite(number):
        raise VerdictParameterError(parameter, value, "must be a finite number")
    return number


def _parse_fraction(parameter: str, value: object, label: str) -> float:
    number = _parse_number(parameter, value)
    if not 0 < number <= 1:
        raise VerdictParameterError(parameter, value, f"{label} must be in (0, 1]")
    return number


def _parse_ci(parameter: str, value: object) -> float:
    number = _parse_number(parameter, value)
    for ci in CONFIDENCES:
        if math.isclose(number, ci, rel_tol=0, abs_tol=1e-12):
            return ci
    raise VerdictParameterError(parameter, value, "confidence must be 0.95 or 0.99")


@dataclass(frozen=True)
class DiseaseArchitecture:
    """The genetic architecture of a disease, as Whiffin et al. 2017 describe it.

    Parameters
    ----------
    patient_group
        Code of the patient group this row belongs to (``variantdb/data/patient_groups.tsv``).
    disease
        The disease, for people.
    inheritance
        ``"dominant"`` or ``"recessive"`` (``"monoallelic"`` / ``"biallelic"``
        as the CardioDB calculator says, and ``"AD"`` / ``"AR"``, are accepted).
    prevalence
        Proportion of people affected (e.g. 0.002 for 1 in 500), in (0, 1].
    allelic_contribution
        The largest proportion of cases (dominant) or of disease alleles
        (recessive) that one variant explains, in (0, 1].
    genetic_contribution
        The largest proportion of cases one gene explains, in (0, 1].
    penetrance
        Probability that a carrier (dominant) or a biallelic person (recessive)
        is affected, in (0, 1].
    ci
        Confidence of the maximum tolerated allele count and of PM2: 0.95
        (default) or 0.99.
    source
        Where the values come from, for people.
    overridden
        Names of the parameters a request overrode (see `apply_overrides`);
        empty for a row as read from the table.

    Raises
    ------
    VerdictParameterError
        When a value is out of range; the error names the field.
    """

    patient_group: str
    disease: str
    inheritance: str
    prevalence: float
    allelic_contribution: float
    genetic_contribution: float
    penetrance: float
    ci: float = 0.95
    source: str = ""
    overridden: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "inheritance", _parse_inheritance("inheritance", self.inheritance))
        for name, label in _FRACTION_FIELDS.items():
            object.__setattr__(self, name, _parse_fraction(name, getattr(self, name), label))
        object.__setattr__(self, "ci", _parse_ci("ci", self.ci))

    @property
    def max_credible_af(self) -> float:
        """Whiffin et al.'s maximum credible population allele frequency (`compute_max_credible_af`)."""
        return compute_max_credible_af(
            self.inheritance,
            self.prevalence,
            self.allelic_contribution,
            self.genetic_contribution,
            self.penetrance,
        )

    @property
    def min_informative_an(self) -> int:
        """The smallest AN at which PM2 can be met (`compute_min_informative_an`)."""
        return compute_min_informative_an(self.max_credible_af, self.ci)

    def to_dict(self) -> dict[str, object]:
        """Return the parameters and the derived maximum credible AF, JSON-ready."""
        return {
            "patient_group": self.patient_group,
            "disease": self.disease,
            "inheritance": self.inheritance,
            "prevalence": self.prevalence,
            "allelic_contribution": self.allelic_contribution,
            "genetic_contribution": self.genetic_contribution,
            "penetrance": self.penetrance,
            "ci": self.ci,
            "source": self.source,
            "overridden": list(self.overridden),
            "max_credible_af": self.max_credible_af,
        }


def apply_overrides(
    architecture: DiseaseArchitecture,
    *,
    inheritance: str | None = None,
    prevalence: float | str | None = None,
    allelic: float | str | None = None,
    genetic: float | str | None = None,
    penetrance: float | str | None = None,
    ci: float | str | None = None,
) -> DiseaseArchitecture:
    """Return ``architecture`` with the parameters a request sets replaced.

    Parameters
    ----------
    architecture
        The row to start from (usually `architecture_for` the patient's group).
    inheritance, prevalence, allelic, genetic, penetrance, ci
        The request's values, named as in the query string
        (``?inheritance=&prevalence=&allelic=&genetic=&penetrance=&ci=``);
        ``None`` (default) keeps the row's value. Numbers may be given as
        strings, decimals (``"0.002"``) or fractions (``"1/500"``).

    Returns
    -------
    DiseaseArchitecture
        A new architecture; ``overridden`` lists the parameters set here (query
        names, in `OVERRIDE_PARAMETERS` order, added to any already overridden).

    Raises
    ------
    VerdictParameterError
        Naming the query parameter and its value: inheritance not dominant or
        recessive, prevalence / allelic / genetic / penetrance outside (0, 1],
        ci not 0.95 or 0.99.
    """
    given = {
        "inheritance": inheritance,
        "prevalence": prevalence,
        "allelic": allelic,
        "genetic": genetic,
        "penetrance": penetrance,
        "ci": ci,
    }
    changes: dict[str, object] = {}
    for parameter, value in given.items():
        if value is None:
            continue
        field = OVERRIDE_PARAMETERS[parameter]
        if parameter == "inheritance":
            changes[field] = _parse_inheritance(parameter, value)
        elif parameter == "ci":
            changes[field] = _parse_ci(parameter, value)
        else:
            changes[field] = _parse_fraction(parameter, value, _FRACTION_FIELDS[field])
    if not changes:
        return architecture
    names = [p for p in OVERRIDE_PARAMETERS if given[p] is not None]
    overridden = tuple(dict.fromkeys([*architecture.overridden, *names]))
    return replace(architecture, **changes, overridden=overridden)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------
# The table
# ---------------------------------------------------------------------------


def read_disease_architectures(path: Path | str | None = None) -> tuple[DiseaseArchitecture, ...]:
    """Read the table of disease architectures per patient group.

    Parameters
    ----------
    path
        A TSV with a header row of `ARCHITECTURE_COLUMNS` (any order). Default
        ``None``: the table shipped in ``variantdb/data/disease_architectures.tsv``
        (read once per process). Blank lines and lines starting with ``#`` are
        skipped.

    Returns
    -------
    tuple of DiseaseArchitecture
        In file order. The first row of a patient group is its default (see
        `architecture_for`).

    Raises
    ------
    VerdictParameterError
        Naming the file, line, column and value: a missing or unknown column,
        a value out of range, a patient group that is not a code of
        ``variantdb/data/patient_groups.tsv``, or the same (patient group,
        disease) twice.
    """
    if path is None:
        return _shipped_architectures()
    p = Path(path)
    return _parse_table(p.read_text(encoding="utf-8"), str(p))


@cache
def _shipped_architectures() -> tuple[DiseaseArchitecture, ...]:
    text = resources.files("variantdb").joinpath(_TABLE).read_text(encoding="utf-8")
    return _parse_table(text, f"variantdb/{_TABLE}")


def _parse_table(text: str, name: str) -> tuple[DiseaseArchitecture, ...]:
    lines = [
        (n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip() and not line.startswith("#")
    ]
    if not lines:
        raise VerdictParameterError("header", "", "the table is empty", where=name)
    header_line, header = lines[0]
    columns = header.split("\t")
    missing = [c for c in ARCHITECTURE_COLUMNS if c not in columns]
    unknown = [c for c in columns if c not in ARCHITECTURE_COLUMNS]
    if missing or unknown:
        raise VerdictParameterError(
            "header",
            header,
            f"missing columns {missing}, unknown columns {unknown}; expected {', '.join(ARCHITECTURE_COLUMNS)}",
            where=f"{name} line {header_line}",
        )
    groups = set(load_vocabulary("patient_groups").values())
    out: list[DiseaseArchitecture] = []
    seen: set[tuple[str, str]] = set()
    reader = csv.DictReader([line for _, line in lines], delimiter="\t", quoting=csv.QUOTE_NONE)
    for (n, _), row in zip(lines[1:], reader, strict=True):
        where = f"{name} line {n}"
        if None in row or any(v is None for v in row.values()):
            raise VerdictParameterError(
                "row", "\t".join(map(str, row.values())), "wrong number of columns", where
            )
        group = row["patient_group"].strip()
        if group not in groups:
            raise VerdictParameterError(
                "patient_group", group, f"not a patient group code; known: {', '.join(sorted(groups))}", where
            )
        disease = row["disease"].strip()
        if not disease:
            raise VerdictParameterError("disease", row["disease"], "must not be empty", where)
        if (group, disease.lower()) in seen:
            raise VerdictParameterError("disease", disease, f"listed twice for patient group {group}", where)
        seen.add((group, disease.lower()))
        try:
            fractions = {
                name: _parse_fraction(name, row[name], label) for name, label in _FRACTION_FIELDS.items()
            }
            out.append(
                DiseaseArchitecture(
                    patient_group=group,
                    disease=disease,
                    inheritance=_parse_inheritance("inheritance", row["inheritance"]),
                    prevalence=fractions["prevalence"],
                    allelic_contribution=fractions["allelic_contribution"],
                    genetic_contribution=fractions["genetic_contribution"],
                    penetrance=fractions["penetrance"],
                    ci=_parse_ci("ci", row["ci"]),
                    source=row["source"].strip(),
                )
            )
        except VerdictParameterError as e:
            raise VerdictParameterError(e.parameter, e.value, e.reason, where) from None
    return tuple(out)


def architecture_for(
    patient_group: str,
    disease: str | None = None,
    *,
    architectures: tuple[DiseaseArchitecture, ...] | None = None,
) -> DiseaseArchitecture:
    """Return the disease architecture of a patient group.

    Parameters
    ----------
    patient_group
        The group's code (``"hereditary_heart"``) or name as in the manifest
        (``"Hereditary heart disease"``).
    disease
        Which of the group's rows, by disease name (case-insensitive). Default
        ``None``: the group's first row in the table.
    architectures
        The table to look in. Default ``None``: the shipped table.

    Raises
    ------
    VerdictParameterError
        ``patient_group`` or ``disease`` not in the table; the message lists
        what is.
    """
    rows = read_disease_architectures() if architectures is None else architectures
    code = load_vocabulary("patient_groups").get(patient_group, patient_group)
    mine = [a for a in rows if a.patient_group == code]
    if not mine:
        known = sorted({a.patient_group for a in rows})
        raise VerdictParameterError(
            "patient_group", patient_group, f"no disease architecture; known groups: {', '.join(known)}"
        )
    if disease is None:
        return mine[0]
    for a in mine:
        if a.disease.lower() == disease.strip().lower():
            return a
    raise VerdictParameterError(
        "disease", disease, f"not listed for {code}; listed: {'; '.join(a.disease for a in mine)}"
    )


# ---------------------------------------------------------------------------
# Formulas
# ---------------------------------------------------------------------------


@overload
def compute_max_credible_af(
    inheritance: str,
    prevalence: float,
    allelic_contribution: float,
    genetic_contribution: float,
    penetrance: float,
) -> float: ...
@overload
def compute_max_credible_af(
    inheritance: str,
    prevalence: ArrayLike,
    allelic_contribution: ArrayLike,
    genetic_contribution: ArrayLike,
    penetrance: ArrayLike,
) -> NDArray[np.float64]: ...
def compute_max_credible_af(
    inheritance: str,
    prevalence: ArrayLike,
    allelic_contribution: ArrayLike,
    genetic_contribution: ArrayLike,
    penetrance: ArrayLike,
) -> float | NDArray[np.float64]:
    """Return Whiffin et al.'s maximum credible population allele frequency.

    Parameters
    ----------
    inheritance
        ``"dominant"`` or ``"recessive"``.
    prevalence, allelic_contribution, genetic_contribution, penetrance
        As in `DiseaseArchitecture`; numbers or arrays (broadcast together).
        Not range-checked here (`DiseaseArchitecture` checks them).

    Returns
    -------
    float or numpy.ndarray
        A float when every input is a scalar, else a float64 array:

        - dominant: ``prevalence * allelic * genetic / (2 * penetrance)``
          (one disease allele per case, two alleles per person);
        - recessive: ``sqrt(prevalence) * allelic * sqrt(genetic) / sqrt(penetrance)``
          (Hardy-Weinberg: cases are ``q**2 * penetrance``).

    Notes
    -----
    Whiffin et al. 2017, Genet Med 19:1151, and the CardioDB calculator
    (``server.R`` of jamesware/alleleFrequencyApp), whose ``monoallelic`` and
    ``biallelic`` are dominant and recessive here.
    """
    mode = _parse_inheritance("inheritance", inheritance)
    prev = np.asarray(prevalence, dtype=np.float64)
    allelic = np.asarray(allelic_contribution, dtype=np.float64)
    genetic = np.asarray(genetic_contribution, dtype=np.float64)
    pen = np.asarray(penetrance, dtype=np.float64)
    if mode == "dominant":
        out = prev * allelic * genetic / (2 * pen)
    else:
        out = np.sqrt(prev) * allelic * np.sqrt(genetic) / np.sqrt(pen)
    return float(out) if out.ndim == 0 else out


@overload
def compute_max_tolerated_ac(an: int, max_af: float, ci: float = ...) -> int: ...
@overload
def compute_max_tolerated_ac(an: ArrayLike, max_af: ArrayLike, ci: float = ...) -> NDArray[np.int64]: ...
def compute_max_tolerated_ac(an: ArrayLike, max_af: ArrayLike, ci: float = 0.95) -> int | NDArray[np.int64]:
    """Return the maximum allele count compatible with a true allele frequency of ``max_af``.

    Parameters
    ----------
    an
        Allele number(s): called alleles at the position, >= 0.
    max_af
        The maximum credible allele frequency (`compute_max_credible_af`), in [0, 1].
    ci
        One-sided confidence, in (0, 1); default 0.95 (the architectures use
        0.95 or 0.99).

    Returns
    -------
    int or numpy.ndarray
        An int when ``an`` and ``max_af`` are scalars, else an int64 array:
        the ``ci`` quantile of a Poisson distribution with mean ``an * max_af``,
        i.e. the smallest ``k`` with ``P(X <= k) >= ci``. 0 where ``an * max_af``
        is 0.

    Notes
    -----
    This is the CardioDB calculator's definition (``qpois(CI, popSize * maxAF)``
    in R, ``scipy.stats.poisson.ppf(ci, an * max_af)`` here; both return the
    smallest ``k`` reaching the probability). An observed ``AC`` above it is
    unlikely (probability < ``1 - ci``) if the true AF were ``max_af``. With the
    faf of gnomAD / Hail (`variantdb.release.aggregate.compute_faf`), for ``AC >= 2``,
    ``faf > max_af`` exactly when ``AC > compute_max_tolerated_ac(AN, max_af, ci)``
    at the same confidence.
    """
    from scipy.stats import poisson

    if not 0 < ci < 1:
        raise VerdictParameterError("ci", ci, "confidence must be in (0, 1)")
    n = np.asarray(an, dtype=np.float64)
    af = np.asarray(max_af, dtype=np.float64)
    if (n < 0).any() or np.isnan(n).any():
        raise VerdictParameterError("an", an, "allele numbers must be >= 0")
    if ((af < 0) | (af > 1)).any() or np.isnan(af).any():
        raise VerdictParameterError("max_af", max_af, "allele frequencies must be in [0, 1]")
    mean = n * af
    out = np.where(mean > 0, poisson.ppf(ci, np.where(mean > 0, mean, 1.0)), 0.0).astype(np.int64)
    return int(out) if out.ndim == 0 else out


def _absent_lambda(ci: float) -> float:
    """Return the Poisson mean above which seeing no allele has probability < ``1 - ci``."""
    from scipy.special import gammainccinv

    return float(gammainccinv(1.0, 1.0 - ci))


def compute_min_informative_an(max_af: float, ci: float = 0.95) -> int:
    """Return the smallest AN at which absence shows a variant is no more common than ``max_af``.

    Parameters
    ----------
    max_af
        The maximum credible allele frequency, in (0, 1].
    ci
        Confidence, in (0, 1); default 0.95.

    Returns
    -------
    int
        The smallest ``AN`` with ``AN * max_af >= -ln(1 - ci)``: about
        ``3.0 / max_af`` at 0.95 and ``4.6 / max_af`` at 0.99 (the "rule of
        three"). Below it even an absent variant could be as common as
        ``max_af`` with probability above ``1 - ci``, so PM2 cannot be met.
    """
    if not 0 < max_af <= 1:
        raise VerdictParameterError("max_af", max_af, "allele frequency must be in (0, 1]")
    if not 0 < ci < 1:
        raise VerdictParameterError("ci", ci, "confidence must be in (0, 1)")
    lam = _absent_lambda(ci)
    an = math.ceil(lam / max_af)
    # The float predicate used by compute_verdicts decides; step to its boundary.
    while an > 0 and (an - 1) * max_af >= lam:
        an -= 1
    while an * max_af < lam:
        an += 1
    return an


# ---------------------------------------------------------------------------
# Verdicts
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """The frequency verdict on one variant for one disease.

    Attributes
    ----------
    ac, an, faf95_max_region
        The counts used, as given: computed by the caller against the
        population excluding the patient's own group. ``faf95_max_region`` is
        None when unknown (no region with called alleles).
    architecture
        The disease architecture used, with any request overrides.
    ba1_faf
        The BA1 threshold used.
    max_credible_af
        Whiffin et al.'s maximum credible population AF for the architecture.
    max_tolerated_ac
        The ``architecture.ci`` Poisson quantile of ``an * max_credible_af``.
    min_informative_an
        The smallest AN at which PM2 can be met.
    af_upper
        The highest true AF compatible with observing ``ac`` in ``an`` at
        ``architecture.ci`` (one-sided upper bound); None when ``an`` is 0.
    criteria
        The ACMG/AMP criteria met, from `CRITERIA` in that order (BA1 and BS1
        may both be met; PM2 never with either).
    state
        One key of `STATES`.
    """

    ac: int
    an: int
    faf95_max_region: float | None
    architecture: DiseaseArchitecture
    ba1_faf: float
    max_credible_af: float
    max_tolerated_ac: int
    min_informative_an: int
    af_upper: float | None
    criteria: tuple[str, ...]
    state: str

    def to_dict(self) -> dict[str, object]:
        """Return the verdict and its inputs, JSON-ready (criteria as a list, the architecture nested)."""
        return {
            "state": self.state,
            "criteria": list(self.criteria),
            "max_credible_af": self.max_credible_af,
            "max_tolerated_ac": self.max_tolerated_ac,
            "min_informative_an": self.min_informative_an,
            "af_upper": self.af_upper,
            "ac": self.ac,
            "an": self.an,
            "faf95_max_region": self.faf95_max_region,
            "ba1_faf": self.ba1_faf,
            "architecture": self.architecture.to_dict(),
        }


@dataclass(frozen=True, eq=False)
class VerdictArrays:
    """Frequency verdicts on many variants for one disease, one array element per variant.

    Attributes
    ----------
    architecture, ba1_faf, max_credible_af, min_informative_an
        As in `Verdict`, shared by every variant.
    max_tolerated_ac
        int64.
    af_upper
        float64, NaN where ``an`` is 0.
    ba1, bs1, pm2
        bool: the criterion is met.
    state
        str: a key of `STATES`.
    """

    architecture: DiseaseArchitecture
    ba1_faf: float
    max_credible_af: float
    min_informative_an: int
    max_tolerated_ac: NDArray[np.int64]
    af_upper: NDArray[np.float64]
    ba1: NDArray[np.bool_]
    bs1: NDArray[np.bool_]
    pm2: NDArray[np.bool_]
    state: NDArray[np.str_]

    def __len__(self) -> int:
        return len(self.state)

    def criteria(self, i: int) -> tuple[str, ...]:
        """Return the criteria variant ``i`` meets, in `CRITERIA` order."""
        met = (self.ba1[i], self.bs1[i], self.pm2[i])
        return tuple(c for c, m in zip(CRITERIA, met, strict=True) if m)


def _as_counts(name: str, value: ArrayLike) -> NDArray[np.int64]:
    a = np.asarray(value)
    if a.dtype == object or a.dtype.kind not in "iuf":
        raise VerdictParameterError(name, value, "must be whole numbers")
    if a.dtype.kind == "f" and (~np.isfinite(a) | (a != np.round(a))).any():
        raise VerdictParameterError(name, value, "must be whole numbers")
    if (a < 0).any():
        raise VerdictParameterError(name, value, "must be >= 0")
    return a.astype(np.int64)


def compute_verdicts(
    ac: ArrayLike,
    an: ArrayLike,
    faf95_max_region: ArrayLike,
    architecture: DiseaseArchitecture,
    *,
    ba1_faf: float = BA1_FAF,
) -> VerdictArrays:
    """Return the frequency verdicts on many variants for one disease (the numpy form).

    Parameters
    ----------
    ac, an
        Alternate allele count and allele number per variant, computed by the
        caller against the population excluding the patient's own patient
        group (``0 <= ac <= an``). ``an`` is the AN at the position even where
        the variant is absent.
    faf95_max_region
        faf95 of the highest-frequency region per variant, from the same
        population (gnomAD's grpmax faf95; the release's ``faf95_max_region``).
        NaN (or None) where unknown: BA1 and BS1 are then not met, except that
        an absent variant (``ac == 0``) has faf95 0 by definition.
    architecture
        The disease architecture (`architecture_for`, `apply_overrides`).
    ba1_faf
        BA1 threshold on ``faf95_max_region``; default 0.05 (ClinGen SVI).

    Returns
    -------
    VerdictArrays
        Per variant, in order of precedence (`STATES`):

        - ``no_data`` where ``an`` is 0;
        - BA1 where ``faf95_max_region > ba1_faf``;
        - BS1 where ``faf95_max_region > max_credible_af``;
        - PM2 where neither holds and ``P(X <= ac) <= 1 - ci`` for
          ``X ~ Poisson(an * max_credible_af)``: had the variant been as common
          as the disease allows, a count this low would be unlikely. For
          ``ac == 0`` this is ``an >= min_informative_an``;
        - ``insufficient_data`` where ``an < min_informative_an``: even absence
          would not show rarity;
        - ``indeterminate`` otherwise: enough AN, neither too common nor shown
          to be rare enough.

    Raises
    ------
    VerdictParameterError
        Counts that are negative, not whole, ``ac > an``, a faf outside
        [0, 1], a ``ba1_faf`` outside (0, 1], or inputs that do not broadcast.
    """
    from scipy.special import gammainccinv

    if not 0 < ba1_faf <= 1:
        raise VerdictParameterError("ba1_faf", ba1_faf, "BA1 threshold must be in (0, 1]")
    ac_a = _as_counts("ac", ac)
    an_a = _as_counts("an", an)
    faf = np.array(faf95_max_region, dtype=np.float64)
    try:
        shape = np.broadcast_shapes(ac_a.shape, an_a.shape, faf.shape)
    except ValueError:
        raise VerdictParameterError(
            "ac", ac, "ac, an and faf95_max_region must have the same length"
        ) from None
    shape = shape or (1,)
    ac_a = np.broadcast_to(ac_a, shape).ravel()
    an_a = np.broadcast_to(an_a, shape).ravel()
    faf = np.broadcast_to(faf, shape).ravel()
    if (ac_a > an_a).any():
        raise VerdictParameterError("ac", ac, "an allele count cannot exceed its allele number (an)")
    if ((faf < 0) | (faf > 1)).any():
        raise VerdictParameterError("faf95_max_region", faf95_max_region, "must be in [0, 1] (or NaN)")

    max_af = architecture.max_credible_af
    ci = architecture.ci
    has_data = an_a > 0
    mean = an_a * max_af
    # Gammainccinv(ac + 1, 1 - ci) is the Poisson mean at which P(X <= ac) = 1 - ci.
    lam_upper = gammainccinv(ac_a + 1.0, 1.0 - ci)
    af_upper = np.divide(lam_upper, an_a, out=np.full(len(an_a), np.nan), where=has_data)
    faf = np.where(np.isnan(faf) & (ac_a == 0) & has_data, 0.0, faf)
    with np.errstate(invalid="ignore"):
        ba1 = has_data & (faf > ba1_faf)
        bs1 = has_data & (faf > max_af)
    enough = mean >= _absent_lambda(ci)
    pm2 = has_data & ~ba1 & ~bs1 & (lam_upper <= mean)
    state = np.select(
        [~has_data, ba1, bs1, pm2, ~enough],
        ["no_data", "ba1", "bs1", "pm2", "insufficient_data"],
        default="indeterminate",
    )
    return VerdictArrays(
        architecture=architecture,
        ba1_faf=float(ba1_faf),
        max_credible_af=max_af,
        min_informative_an=architecture.min_informative_an,
        max_tolerated_ac=compute_max_tolerated_ac(an_a, max_af, ci),
        af_upper=af_upper,
        ba1=ba1,
        bs1=bs1,
        pm2=pm2,
        state=state.astype(np.str_),
    )


def compute_verdict(
    ac: int,
    an: int,
    faf95_max_region: float | None,
    architecture: DiseaseArchitecture,
    *,
    ba1_faf: float = BA1_FAF,
) -> Verdict:
    """Return the frequency verdict on one variant for one disease.

    Parameters
    ----------
    ac, an
        Alternate allele count and allele number, computed by the caller
        against the population excluding the patient's own patient group.
    faf95_max_region
        faf95 of the highest-frequency region (grpmax faf95) in the same
        population; None when unknown.
    architecture
        The disease architecture (`architecture_for`, `apply_overrides`).
    ba1_faf
        BA1 threshold; default 0.05.

    Returns
    -------
    Verdict
        See `compute_verdicts` for the rules; this is its one-variant form.
    """
    faf = np.nan if faf95_max_region is None else faf95_max_region
    v = compute_verdicts([ac], [an], [faf], architecture, ba1_faf=ba1_faf)
    upper = float(v.af_upper[0])
    return Verdict(
        ac=int(ac),
        an=int(an),
        faf95_max_region=None if faf95_max_region is None else float(faf95_max_region),
        architecture=architecture,
        ba1_faf=v.ba1_faf,
        max_credible_af=v.max_credible_af,
        max_tolerated_ac=int(v.max_tolerated_ac[0]),
        min_informative_an=v.min_informative_an,
        af_upper=None if math.isnan(upper) else upper,
        criteria=v.criteria(0),
        state=str(v.state[0]),
    )
