"""What a release holds: the typed model of ``release.json``.

Every reader of a release's metadata gets a :class:`ReleaseMeta`, and every
writer builds ``release.json`` through it, so a key has one name and one type.
Keys unknown to this code (a release written by a later version) are kept, and
keys a release written before lacks take their defaults, so every release ever
published still loads.

The JSON written (:meth:`ReleaseMeta.as_json`) has the keys in the order they
always had and only those the writer set, so ``release.json`` is byte for byte
what the untyped writer produced.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from variantdb.errors import VariantdbError

__all__ = [
    "ReleaseCoverage",
    "ReleaseDescription",
    "ReleaseMeta",
    "ReleaseMetaError",
    "ReleaseStratum",
    "parse_release_meta",
]


class ReleaseMetaError(VariantdbError, ValueError):
    """A ``release.json`` that is not a release's metadata (damaged, or edited by hand)."""


class ReleaseStratum(BaseModel):
    """One stratum a release counts (``release.json`` ``strata``)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    key: str = Field(description="column suffix of the stratum's counts, e.g. sex_xx")
    kind: str = Field(description="what the stratum splits by: sex, region or patient_group")
    value: str = Field(description="the manifest value the stratum holds, e.g. XX")
    label: str = Field(description="the stratum's name for people")


class ReleaseCoverage(BaseModel):
    """A release's coverage track (``release.json`` ``coverage``)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    file: str = Field(description="the track's file, relative to the release folder")
    n_samples: dict[str, int] = Field(description="samples counted: all, and per sequencing technology")
    definition: str = Field(description="what a covered sample is")


class ReleaseDescription(BaseModel):
    """What the loader says of a release before writing it: the part of ``release.json`` it chooses.

    :func:`variantdb.release.files.write_release` adds the rest (:class:`ReleaseMeta`).
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    created: str = Field(description="when the release was made, ISO 8601 UTC")
    code_version: str | None = Field(default=None, description="variantdb version that made the release")
    batches: list[str] = Field(default_factory=list, description="registry names of the batches counted")
    n_samples: int = Field(description="samples counted, relatives included")
    reference: str | None = Field(default=None, description="absolute path of the reference FASTA, or none")
    groups: dict[str, str] = Field(
        default_factory=dict, description="count column suffix of each genotype group and what it counts"
    )
    strata: list[ReleaseStratum] = Field(
        default_factory=list, description="the strata counted, in column order"
    )
    settings: dict[str, Any] = Field(default_factory=dict, description="the thresholds and limits in force")
    stats: dict[str, Any] | None = Field(
        default=None, description="genomes by sex, region, patient group, technology and month, or none"
    )

    def as_json(self) -> dict[str, Any]:
        """Return the metadata as ``release.json`` holds it: the keys set, in their order, unknown keys last."""
        return self.model_dump(mode="json", exclude_unset=True)


class ReleaseMeta(ReleaseDescription):
    """A release's ``release.json``."""

    id: str = Field(description="the release id, r0001 onwards")
    n_variants: int = Field(description="rows of the variant table")
    contigs: dict[str, int] = Field(
        default_factory=dict, description="variant rows per contig, in contig order"
    )
    checksums: dict[str, str] = Field(
        default_factory=dict,
        description="SHA-256 of every file of the release but release.json, by relative path",
    )
    coverage: ReleaseCoverage | None = Field(
        default=None, description="the coverage track, or none (releases written before it)"
    )


def parse_release_meta(text: str | bytes, where: str) -> ReleaseMeta:
    """Return the :class:`ReleaseMeta` of a ``release.json``'s text.

    Raises
    ------
    ReleaseMetaError
        Naming ``where`` (the file), each key at fault and its value, when the
        text is not JSON or a key has the wrong type.
    """
    try:
        return ReleaseMeta.model_validate_json(text)
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'the file'}: {err['msg']}"
            + (f" (found {err['input']!r})" if err["type"] != "missing" and err["loc"] else "")
            for err in e.errors()
        )
        raise ReleaseMetaError(
            f"{where} is not a release's metadata ({problems}); restore the release folder from a "
            "backup, or remove it and publish again"
        ) from None
