"""Turning index rows into the JSON records of the API, without pydantic on the hot path.

The layout (which tuple position feeds which output field) is computed once per
release from the index's own field list, so a release built with another set
of strata is still served correctly. The shapes match :mod:`variantdb.api.models`; a test
validates real responses against those models.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from variantdb.frequency import af, faf, faf_max
from variantdb.release.index import ReleaseIndex
from variantdb.schema import QUALITY_FIELDS, strata

__all__ = ["ExcludedGroup", "RecordLayout"]

_GROUP_NAMES = {"": None, "_raw": "raw", "_all": "all"}
_COUNT = ("ac", "an", "homozygote_count", "hemizygote_count", "n_carriers")
_STRATUM = ("ac", "an", "homozygote_count", "hemizygote_count")


@dataclass(frozen=True)
class ExcludedGroup:
    """A patient group left out of the headline counts: its stratum's positions in the count tuples."""

    id: str  # stratum key, e.g. group_hereditary_heart
    value: str  # the manifest name
    counts: tuple[int, int, int, int]  # ac, an, homozygote_count, hemizygote_count
    an: int | None  # position in the AN-track tuple


class RecordLayout:
    """Positions of every output field in a release's count tuples, and the record builders."""

    def __init__(self, index: ReleaseIndex, described: list[dict[str, str]] | None = None) -> None:
        pos = {name: i for i, name in enumerate(index.fields)}
        # faf95 / faf99 are lambda(ac) / an: the generated builders index these lists by ac.
        self._faf: dict[str, list[float]] = index.faf_lambda
        an_pos = {name: i for i, name in enumerate(index.an_fields)}
        self.groups: list[tuple[str | None, tuple[int, ...], int | None]] = []
        for suffix, name in _GROUP_NAMES.items():
            if f"ac{suffix}" in pos:
                self.groups.append(
                    (name, tuple(pos[f"{c}{suffix}"] for c in _COUNT), an_pos.get(f"an{suffix}"))
                )
        # The release's own description of its strata wins over today's vocabulary.
        known = {s.key: {"id": s.key, "kind": s.kind, "value": s.value} for s in strata()}
        for d in described or []:
            if isinstance(d, dict) and {"key", "kind", "value"} <= d.keys():
                known[d["key"]] = {"id": d["key"], "kind": d["kind"], "value": d["value"]}
        keys = [f[3:] for f in index.fields if f.startswith("ac_") and f not in ("ac_raw", "ac_all")]
        self.strata: list[tuple[dict[str, str], tuple[int, ...], int | None]] = []
        for key in keys:
            info = known.get(key) or {"id": key, "kind": key.split("_", 1)[0], "value": key.split("_", 1)[-1]}
            self.strata.append((info, tuple(pos[f"{c}_{key}"] for c in _STRATUM), an_pos.get(f"an_{key}")))

        self._pos = pos
        self.seen = self._compile_seen(with_strata=True)
        self.seen_compact = self._compile_seen(with_strata=False)
        self._zero_an = (0,) * len(index.an_fields)
        self._unseen_full = self._compile_unseen(with_strata=True)
        self._unseen_compact = self._compile_unseen(with_strata=False)

    def _compile_seen(self, with_strata: bool) -> Callable[[tuple[int, ...]], dict[str, Any]]:
        """Generate the record builder of this layout as one dict display (as dataclasses does).

        One literal with constant tuple positions builds the ~100-field record about
        a third faster than loops over the layout, and it is on every lookup's path.
        Only ints and ``repr`` of the release's own stratum strings enter the source.
        """

        def counts(a: int, b: int, h: int, m: int, c: int | None) -> str:
            out = (
                f'"ac": t[{a}], "an": t[{b}], "af": (t[{a}] / t[{b}] if t[{b}] else None), '
                f'"homozygote_count": t[{h}], "hemizygote_count": t[{m}]'
            )
            out += f', "n_carriers": t[{c}]' if c is not None else ""
            return out + "".join(
                f', "{f}": (L{k}[t[{a}]] / t[{b}] if t[{b}] else None)' for k, f in enumerate(self._faf)
            )

        pos = self._pos
        items = []
        for name, (a, b, h, m, c), _ in self.groups:
            body = counts(a, b, h, m, c)
            items.append(body if name is None else f"{name!r}: {{{body}}}")
            if name is None:
                items += [f'"{q}": t[{pos[q]}]' if q in pos else f'"{q}": None' for q in QUALITY_FIELDS]
                pairs = "".join(
                    f"((L0[t[{sa}]] / t[{sb}] if t[{sb}] else None), {info['id'].removeprefix('region_')!r}), "
                    for info, (sa, sb, _, _), _ in self.strata
                    if info["id"].startswith("region_")
                )
                items.append(f"**_faf_max(({pairs}))")
        strata_src = [
            f'{{"id": {info["id"]!r}, "kind": {info["kind"]!r}, "value": {info["value"]!r}, '
            + counts(a, b, h, m, None)
            + "}"
            for info, (a, b, h, m), _ in self.strata
        ]
        if with_strata:
            items.append('"strata": [' + ", ".join(strata_src) + "]")
        src = "def seen(t):\n    return {" + ", ".join(items) + "}\n"
        namespace: dict[str, Any] = {f"L{k}": lam for k, lam in enumerate(self._faf.values())}
        namespace["_faf_max"] = faf_max
        exec(compile(src, "<variantdb.api.records.seen>", "exec"), namespace)
        fn: Callable[[tuple[int, ...]], dict[str, Any]] = namespace["seen"]
        fn.__doc__ = "Return the count part of a record of a variant in the release, from its count tuple."
        return fn

    def _compile_unseen(self, with_strata: bool) -> Callable[[tuple[int, ...]], dict[str, Any]]:
        """Generate the builder of an absent variant's counts from its AN-track tuple (see _compile_seen)."""

        def counts(i_an: int | None, carriers: bool) -> str:
            an = f"a[{i_an}]" if i_an is not None else "0"
            out = f'"ac": 0, "an": {an}, "af": (0.0 if {an} else None), "homozygote_count": 0, "hemizygote_count": 0'
            out += ', "n_carriers": 0' if carriers else ""
            return out + "".join(f', "{f}": (0.0 if {an} else None)' for f in self._faf)

        items = []
        for name, _, i_an in self.groups:
            body = counts(i_an, True)
            items.append(body if name is None else f"{name!r}: {{{body}}}")
            if name is None:
                items += [f'"{q}": 0' for q in QUALITY_FIELDS]
                called = " or ".join(
                    f"a[{j}]"
                    for info, _, j in self.strata
                    if info["id"].startswith("region_") and j is not None
                )
                items.append(
                    f'"faf95_max_region": (0.0 if ({called or "0"}) else None), "faf95_max_region_code": None'
                )
        if with_strata:
            strata_src = [
                f'{{"id": {info["id"]!r}, "kind": {info["kind"]!r}, "value": {info["value"]!r}, '
                + counts(i_an, False)
                + "}"
                for info, _, i_an in self.strata
            ]
            items.append('"strata": [' + ", ".join(strata_src) + "]")
        src = "def unseen(a):\n    return {" + ", ".join(items) + "}\n"
        namespace: dict[str, Any] = {}
        exec(compile(src, "<variantdb.api.records.unseen>", "exec"), namespace)
        fn: Callable[[tuple[int, ...]], dict[str, Any]] = namespace["unseen"]
        return fn

    def patient_groups(self) -> list[tuple[str, str]]:
        """Return ``(code, name)`` of every patient group stratum of the release."""
        return [
            (info["id"].removeprefix("group_"), info["value"])
            for info, _, _ in self.strata
            if info["kind"] == "patient_group"
        ]

    def find_group(self, text: str) -> ExcludedGroup | None:
        """Return the patient group stratum named by its code, key or name (any case), or None."""
        low = text.strip().lower()
        for info, idx, i_an in self.strata:
            if info["kind"] != "patient_group":
                continue
            if low in (info["id"].lower(), info["id"].removeprefix("group_").lower(), info["value"].lower()):
                a, b, h, m = idx
                return ExcludedGroup(info["id"], info["value"], (a, b, h, m), i_an)
        return None

    def without_group(
        self,
        counts: dict[str, Any],
        group: ExcludedGroup,
        t: tuple[int, ...] | None,
        an_t: tuple[int, ...] | None,
    ) -> None:
        """Replace the headline (adj founder) counts of a record by those of everyone outside a patient group.

        Parameters
        ----------
        counts
            A record built by :attr:`seen` / :meth:`unseen`; changed in place.
        group
            From :meth:`find_group`.
        t
            The variant's count tuple, or None for a variant not in the release.
        an_t
            The AN-track tuple at the position (used when ``t`` is None).

        Notes
        -----
        Each figure is the headline one minus the group's stratum (both adj
        founders): ``ac - ac_group``, ``an - an_group``, homozygotes and
        hemizygotes likewise. Carriers of a stratum are ``ac - homozygote_count``
        (a diploid carrier holds 1 or 2 copies, a haploid one 1), so
        ``n_carriers`` is derived exactly too; ``af`` and the faf are recomputed.
        The ``raw`` and ``all`` groups, the strata, ``faf95_max_region``,
        ``n_fail`` and ``n_carrier_families`` are left as stored.
        """
        _, (a, b, h, m, c), i_an = self.groups[0]
        ga, gb, gh, gm = group.counts
        if t is not None:
            ac, an = t[a] - t[ga], t[b] - t[gb]
            hom, hemi = t[h] - t[gh], t[m] - t[gm]
            carriers = t[c] - (t[ga] - t[gh])
        else:
            ac = hom = hemi = carriers = 0
            an_all = an_t[i_an] if an_t is not None and i_an is not None else 0
            an_group = an_t[group.an] if an_t is not None and group.an is not None else 0
            an = an_all - an_group
        counts["ac"] = ac
        counts["an"] = an
        counts["af"] = af(ac, an)
        for name, lam in self._faf.items():
            counts[name] = faf(lam, ac, an)
        counts["homozygote_count"] = hom
        counts["hemizygote_count"] = hemi
        counts["n_carriers"] = carriers

    def unseen(self, an_t: tuple[int, ...] | None, with_strata: bool = True) -> dict[str, Any]:
        """Return the count part of a record of a variant not in the release: AC 0, AN from the track.

        ``an_t`` None (no AN segment at the position) is answered as AN 0: no data here.
        ``with_strata`` False leaves the strata out. Default True.
        """
        a = self._zero_an if an_t is None else an_t
        return self._unseen_full(a) if with_strata else self._unseen_compact(a)
