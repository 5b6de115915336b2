"""Answering a sub-cohort question from the structures :mod:`variantdb.subcohort.segments` wrote.

A query masks the cohort rows that match the filter, sums the codes of the
variant's carriers in every segment, and takes AN as the ploidy of the masked
samples minus that of the masked samples with a gap at the position.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from variantdb.frequency import FAF_CONFIDENCE, af, faf_lambda
from variantdb.genome import CONTIG_INDEX, CONTIGS, ploidy_segments
from variantdb.schema import SEXES
from variantdb.subcohort.filters import SubcohortFilter
from variantdb.subcohort.segments import (
    _ADJ,
    _CACHE,
    _CODE_DOSAGE,
    _CODE_HEMI,
    _CODE_HOM,
    _DIR,
    _KINDS,
    _LEVELS,
    _NCODES,
    _SHIFTS,
    SUBCOHORT_VERSION,
)

__all__ = ["SubcohortIndex"]


def _mmap(path: Path) -> np.ndarray:
    """Memory-map an ``.npy`` read-only as a plain ndarray (np.memmap's indexing costs a few µs a call)."""
    arr: np.ndarray = np.load(path, mmap_mode="r").view(np.ndarray)
    return arr


@dataclass(frozen=True)
class _Mask:
    """A filter resolved against one release's samples."""

    sel: np.ndarray  # bool per cohort row
    by_sex: np.ndarray  # int64 [3]: matching samples of each sex (SEXES order)
    sex: np.ndarray  # int8 per cohort row
    adj: bool

    @property
    def n(self) -> int:
        return int(self.by_sex.sum())


@dataclass(frozen=True)
class _Segment:
    """One batch's memory-mapped carriers and no-call bins."""

    key: np.ndarray
    hash: np.ndarray
    offsets: np.ndarray
    crows: np.ndarray
    codes: np.ndarray
    gaps: dict[str, tuple[np.ndarray, ...]]
    maxdup: int

    @property
    def n(self) -> int:
        return len(self.key)


class SubcohortIndex:
    """A release's sub-cohort structures, memory-mapped read-only; safe to share between threads.

    Parameters
    ----------
    release_dir
        ``DB/releases/<id>`` with ``subcohort/`` written by :func:`write_subcohort`.

    Raises
    ------
    FileNotFoundError
        The release was published without sub-cohort structures.
    ValueError
        They are of another version (republish the release).
    """

    def __init__(self, release_dir: Path | str) -> None:
        d = Path(release_dir) / _DIR
        meta_path = d / "subcohort.json"
        if not meta_path.exists():
            raise FileNotFoundError(f"{d}: this release has no sub-cohort structures (published before them)")
        self.meta: dict[str, Any] = json.loads(meta_path.read_text())
        if self.meta.get("version") != SUBCOHORT_VERSION:
            raise ValueError(
                f"{d}: sub-cohort version {self.meta.get('version')}, expected {SUBCOHORT_VERSION}"
            )
        t = pq.read_table(d / "samples.parquet")
        self.samples = t
        self.n_samples = t.num_rows
        self._sex = np.array([SEXES.index(s) for s in t.column("sex").to_pylist()], dtype=np.int8)
        self._cols = {
            name: np.array(t.column(name).to_pylist(), dtype=object)
            for name in ("region", "patient_group", "technology")
        }
        self._founder = t.column("founder").to_numpy(zero_copy_only=False).astype(bool)
        self._parent = t.column("parent").to_numpy(zero_copy_only=False).astype(bool)
        rec = t.column("received")
        days = rec.cast(pa.int32()).fill_null(-(2**31)).to_numpy()
        self._received = days.astype(np.int64)
        self._family = t.column("family").to_numpy().astype(np.int64)
        self._n_families = int(self._family.max()) + 1 if self.n_samples else 1
        # Carriers of a family counted once: only samples sharing their family need a distinct count.
        self._shared_family = np.bincount(self._family, minlength=self._n_families)[self._family] > 1
        self.variant_key = _mmap(d / "variant_key.npy")
        self.variant_hash = _mmap(d / "variant_hash.npy")
        self.segments = []
        for s in self.meta["segments"]:
            sd = d / s["dir"]
            self.segments.append(
                _Segment(
                    key=_mmap(sd / "key.npy"),
                    hash=_mmap(sd / "hash.npy"),
                    offsets=_mmap(sd / "offsets.npy"),
                    crows=_mmap(sd / "crows.npy"),
                    codes=_mmap(sd / "codes.npy"),
                    gaps={
                        kind: tuple(
                            _mmap(sd / f"gaps_{kind}_{n}.npy") for n in ("key", "start", "end", "row")
                        )
                        for kind in _KINDS
                    },
                    maxdup=int(s["maxdup"]),
                )
            )
        self._ploidy: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for chrom in CONTIGS:
            segs = ploidy_segments(chrom)
            self._ploidy[chrom] = (
                np.array([s for s, _, _ in segs], dtype=np.int64),
                np.array([[p[s] for s in SEXES] for _, _, p in segs], dtype=np.int64),
            )
        self._masks: OrderedDict[SubcohortFilter, _Mask] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def n_variants(self) -> int:
        """Number of variant rows of the release the structures were written for."""
        return len(self.variant_key)

    # -- masks

    def mask(self, f: SubcohortFilter) -> _Mask:
        """Return the samples a filter matches (cached: the last 256 filters)."""
        with self._lock:
            m = self._masks.get(f)
            if m is not None:
                self._masks.move_to_end(f)
                return m
        m = self._build_mask(f)
        with self._lock:
            self._masks[f] = m
            while len(self._masks) > _CACHE:
                self._masks.popitem(last=False)
        return m

    def _build_mask(self, f: SubcohortFilter) -> _Mask:
        sel = np.ones(self.n_samples, dtype=bool)
        if f.sex is not None:
            sel &= np.isin(self._sex, [SEXES.index(s) for s in f.sex])
        for name in ("region", "patient_group", "technology"):
            want = getattr(f, name)
            if want is not None:
                sel &= np.isin(self._cols[name], list(want))
        if f.exclude_patient_group is not None:
            sel &= ~np.isin(self._cols["patient_group"], list(f.exclude_patient_group))
        roles = f.role or ("founder",)
        if "all" not in roles:
            r = np.zeros(self.n_samples, dtype=bool)
            if "founder" in roles:
                r |= self._founder
            if "non_founder" in roles:
                r |= ~self._founder
            if "parent" in roles:
                r |= self._parent
            sel &= r
        epoch = dt.date(1970, 1, 1)
        if f.received_from is not None:
            sel &= self._received >= (f.received_from - epoch).days
        if f.received_to is not None:
            sel &= (self._received <= (f.received_to - epoch).days) & (self._received != -(2**31))
        by_sex = np.bincount(self._sex[sel], minlength=len(SEXES)).astype(np.int64)
        return _Mask(sel, by_sex, self._sex, not f.raw)

    # -- counts

    def counts(
        self, f: SubcohortFilter, rows: Sequence[int | None], chroms: Sequence[str], positions: Sequence[int]
    ) -> list[dict[str, Any]]:
        """Return the sub-cohort record of each variant.

        Parameters
        ----------
        f
            The filter.
        rows
            Each variant's row in the release (None: not in the release, AC 0).
        chroms, positions
            Each variant's canonical contig and 1-based position (for AN).

        Returns
        -------
        list of dict
            :data:`SUBCOHORT_FIELDS` per variant, in order.
        """
        m = self.mask(f)
        present = np.array([r if r is not None else -1 for r in rows], dtype=np.int64)
        ac, hom, hemi, car, fam = self._carrier_sums(m, present)
        an = np.zeros(len(present), dtype=np.int64)
        chrom_arr = np.array(chroms, dtype=object)
        pos_arr = np.asarray(positions, dtype=np.int64)
        for chrom in dict.fromkeys(chroms):
            sel = np.flatnonzero(chrom_arr == chrom)
            an[sel] = self.an_at(m, chrom, pos_arr[sel])
        return _records(ac, an, hom, hemi, car, fam)

    def region_counts(
        self, f: SubcohortFilter, chrom: str, lo: int, hi: int, positions: np.ndarray | Sequence[int]
    ) -> list[dict[str, Any]]:
        """Return the records of the consecutive variant rows ``[lo, hi)`` of one contig (positions given)."""
        m = self.mask(f)
        ac, hom, hemi, car, fam = self._carrier_sums(m, np.arange(lo, hi, dtype=np.int64))
        an = self.an_at(m, chrom, np.asarray(positions, dtype=np.int64))
        return _records(ac, an, hom, hemi, car, fam)

    def _carriers(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return every carrier of the rows (-1: absent) in all segments: (query index, cohort row, code)."""
        k = len(rows)
        owners: list[np.ndarray] = []
        crows: list[np.ndarray] = []
        codes: list[np.ndarray] = []
        if k == 1:
            # One variant (the common request): scalar searches, no temporary arrays.
            row = int(rows[0])
            if row >= 0:
                q, qh = self.variant_key[row], self.variant_hash[row]
                for seg in self.segments:
                    i = int(seg.key.searchsorted(q))
                    for c in range(i, min(i + seg.maxdup, seg.n)):
                        if seg.key[c] != q:
                            break
                        if seg.hash[c] == qh:
                            lo, hi = int(seg.offsets[c]), int(seg.offsets[c + 1])
                            crows.append(seg.crows[lo:hi])
                            codes.append(seg.codes[lo:hi])
                            break
            if not crows:
                return (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.uint8))
            c_all = np.concatenate(crows) if len(crows) > 1 else crows[0]
            return (
                np.zeros(len(c_all), np.int64),
                c_all,
                np.concatenate(codes) if len(codes) > 1 else codes[0],
            )
        valid = rows >= 0
        r = np.where(valid, rows, 0)
        if self.n_variants == 0 or not valid.any():
            return (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.uint8))
        qs = self.variant_key[r]
        qh = self.variant_hash[r]
        for seg in self.segments:
            if seg.n == 0:
                continue
            first = np.searchsorted(seg.key, qs)
            at = np.full(k, -1, dtype=np.int64)
            for j in range(seg.maxdup):
                cand = np.minimum(first + j, seg.n - 1)
                at = np.where(valid & (seg.key[cand] == qs) & (seg.hash[cand] == qh), cand, at)
            which = np.flatnonzero(at >= 0)
            if len(which) == 0:
                continue
            begin = seg.offsets[at[which]].astype(np.int64)
            lens = seg.offsets[at[which] + 1].astype(np.int64) - begin
            total = int(lens.sum())
            gather = np.repeat(begin - np.concatenate([[0], np.cumsum(lens)[:-1]]), lens) + np.arange(total)
            owners.append(np.repeat(which, lens))
            crows.append(seg.crows[gather])
            codes.append(seg.codes[gather])
        if not owners:
            return (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.uint8))
        return np.concatenate(owners), np.concatenate(crows), np.concatenate(codes)

    def _carrier_sums(self, m: _Mask, rows: np.ndarray) -> tuple[np.ndarray, ...]:
        """Return AC, homozygotes, hemizygotes, carriers and carrier families per row (-1: absent, zeros)."""
        k = len(rows)
        owner, samples, codes = self._carriers(rows)
        if len(samples) == 0:
            return tuple(np.zeros(k, dtype=np.int64) for _ in range(5))
        ok = m.sel[samples]
        if m.adj:
            ok &= (codes & _ADJ) != 0
        c = codes[ok]
        s = owner[ok]
        who = samples[ok]
        # One histogram of the code byte per variant gives every count at once.
        hist = np.bincount(s * _NCODES + c, minlength=k * _NCODES).reshape(k, _NCODES)
        # Families: a carrier alone in its family is one; the others are counted once per family.
        shared = self._shared_family[who]
        fam = np.bincount(s[~shared], minlength=k).astype(np.int64)
        if shared.any():
            distinct = np.unique(s[shared] * self._n_families + self._family[who[shared]])
            fam += np.bincount(distinct // self._n_families, minlength=k)
        ac = hist @ _CODE_DOSAGE
        hom = hist @ _CODE_HOM
        hemi = hist @ _CODE_HEMI
        car = hist.sum(axis=1)
        return ac, hom, hemi, car, fam

    def an_at(self, m: _Mask, chrom: str, positions: np.ndarray, method: str | None = None) -> np.ndarray:
        """Return the AN of the masked samples at 1-based positions of one contig.

        Parameters
        ----------
        m
            :meth:`mask` of a filter.
        chrom
            Canonical contig.
        positions
            1-based, any order, repeats allowed.
        method
            ``"point"`` or ``"sweep"`` to force a way of finding the gaps (tests);
            default None: the cheaper one, per segment.

        Notes
        -----
        AN = sum over sexes of (matching samples of that sex - those with a gap at
        the position) x the ploidy of that sex there (PARs, chrY, chrM). The gaps
        are found per position (the bins holding it, seven slices) when the
        positions are few or far apart, and by one sweep over the intervals of the
        span when they are many and close (a region); summed over the segments.
        """
        p = np.asarray(positions, dtype=np.int64)
        if len(p) == 0:
            return np.zeros(0, dtype=np.int64)
        seg_starts, ploidy = self._ploidy[chrom]
        pl = ploidy[np.searchsorted(seg_starts, p, side="right") - 1]  # (k, 3)
        kind = "adj" if m.adj else "raw"
        if len(p) == 1 and method is None:
            missing = self._gap_counts_one(m, kind, CONTIG_INDEX[chrom], int(p[0]))[None, :]
        else:
            missing = np.zeros((len(p), len(SEXES)), dtype=np.int64)
            for seg in self.segments:
                _gap_counts(seg.gaps[kind], m, CONTIG_INDEX[chrom], p, method, missing)
        an: np.ndarray = ((m.by_sex[None, :] - missing) * pl).sum(axis=1)
        return an

    def _gap_counts_one(self, m: _Mask, kind: str, cidx: int, pos: int) -> np.ndarray:
        """Return per sex the matching samples with a gap at one position (the bins holding it, per segment).

        The common request, one variant, with as few numpy calls per segment as
        possible: a release has one segment per batch.
        """
        point_keys = (np.int64(cidx) << 48) | (_LEVELS << 40) | (np.int64(pos) >> _SHIFTS)
        found: list[np.ndarray | list[int]] = []
        for seg in self.segments:
            keys, starts, ends, rows = seg.gaps[kind]
            if len(keys) == 0:
                continue
            lo = keys.searchsorted(point_keys, side="left").tolist()
            hi = keys.searchsorted(point_keys, side="right").tolist()
            for a, b in zip(lo, hi, strict=True):
                if b - a > 16:
                    found.append(rows[a:b][(starts[a:b] <= pos) & (ends[a:b] >= pos)])
                elif b > a:  # a few intervals: plain Python beats numpy's per-call cost
                    found.append(
                        [
                            r
                            for st, en, r in zip(
                                starts[a:b].tolist(), ends[a:b].tolist(), rows[a:b].tolist(), strict=True
                            )
                            if st <= pos <= en
                        ]
                    )
        if not found:
            return np.zeros(len(SEXES), dtype=np.int64)
        who = np.concatenate([np.asarray(f, dtype=np.int64) for f in found])
        who = who[m.sel[who]]
        return np.bincount(m.sex[who], minlength=len(SEXES)).astype(np.int64)


def _gap_counts(
    gaps: tuple[np.ndarray, ...], m: _Mask, cidx_: int, p: np.ndarray, method: str | None, out: np.ndarray
) -> None:
    """Add, per position and sex, the matching samples of one segment with a gap there to ``out``."""
    keys, starts, ends, rows = gaps
    k = len(p)
    if len(keys) == 0:
        return
    cidx = np.int64(cidx_)
    levels = np.arange(len(_SHIFTS), dtype=np.int64)
    # Per-position cost: the bins holding each position.
    point_keys = (cidx << 48) | (levels[None, :] << 40) | (p[:, None] >> _SHIFTS[None, :])
    plo = np.searchsorted(keys, point_keys.ravel(), side="left")
    phi = np.searchsorted(keys, point_keys.ravel(), side="right")
    point_cost = int((phi - plo).sum())
    if point_cost == 0 and method != "sweep":
        return
    # Sweep cost: every bin between the first and last position, per level.
    pmin, pmax = int(p.min()), int(p.max())
    span_lo = np.searchsorted(keys, (cidx << 48) | (levels << 40) | (pmin >> _SHIFTS), side="left")
    span_hi = np.searchsorted(keys, (cidx << 48) | (levels << 40) | (pmax >> _SHIFTS), side="right")
    sweep_cost = int((span_hi - span_lo).sum()) + 4 * k
    if method == "point" or (method is None and point_cost <= sweep_cost):
        lens = phi - plo
        total = int(lens.sum())
        if total == 0:
            return
        owner = np.repeat(np.repeat(np.arange(k), len(_SHIFTS)), lens)
        gather = np.repeat(plo - np.concatenate([[0], np.cumsum(lens)[:-1]]), lens) + np.arange(total)
        s, e, r = starts[gather], ends[gather], rows[gather]
        pp = p[owner]
        hit = (s <= pp) & (pp <= e)
        hit &= m.sel[r]
        np.add.at(out, (owner[hit], m.sex[r[hit]]), 1)
        return
    idx = np.concatenate([np.arange(a, b) for a, b in zip(span_lo, span_hi, strict=True)])
    s, e, r = starts[idx].astype(np.int64), ends[idx].astype(np.int64), rows[idx]
    keep = (e >= pmin) & (s <= pmax) & m.sel[r]
    s, e, sx = s[keep], e[keep], m.sex[r[keep]].astype(np.int64)
    order = np.argsort(p, kind="stable")
    ps = p[order]
    i_s = np.searchsorted(ps, s, side="left")
    i_e = np.searchsorted(ps, e, side="right")
    for c in range(len(SEXES)):
        w = sx == c
        if not w.any():
            continue
        diff = np.bincount(i_s[w], minlength=k + 1) - np.bincount(i_e[w], minlength=k + 1)
        out[order, c] += np.cumsum(diff)[:k]


def _records(
    ac: np.ndarray, an: np.ndarray, hom: np.ndarray, hemi: np.ndarray, car: np.ndarray, fam: np.ndarray
) -> list[dict[str, Any]]:
    lam = {name: faf_lambda(ac, ci) for name, ci in FAF_CONFIDENCE.items()}
    out = []
    for i in range(len(ac)):
        a, n = int(ac[i]), int(an[i])
        out.append(
            {
                "ac": a,
                "an": n,
                "af": af(a, n),
                **{name: float(lam[name][i]) / n if n else None for name in FAF_CONFIDENCE},
                "homozygote_count": int(hom[i]),
                "hemizygote_count": int(hemi[i]),
                "n_carriers": int(car[i]),
                "n_carrier_families": int(fam[i]),
            }
        )
    return out
