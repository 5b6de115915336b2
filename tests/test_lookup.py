"""The bulk batch path (records_for_ids) answers exactly what one id at a time answers."""

from __future__ import annotations

from pathlib import Path

import orjson
import pyarrow.parquet as pq
import pytest

from variantdb.api.deps import _open_release
from variantdb.api.errors import APIError
from variantdb.api.lookup import excluded_group, record_for_query, records_for_ids
from variantdb.release.files import read_current


@pytest.mark.parametrize(("strata", "exclude"), [(True, None), (False, None), (True, "hereditary_heart")])
def test_records_for_ids_equal_one_at_a_time(api_db: Path, strata: bool, exclude: str | None) -> None:
    release_id = read_current(api_db)
    assert release_id is not None
    rel = _open_release(api_db, release_id)
    table = pq.read_table(sorted((rel.path / "variants").glob("*.parquet"))[0]).slice(0, 60)
    ids = [f"{r['chrom']}-{r['pos']}-{r['ref']}-{r['alt']}" for r in table.to_pylist()]
    # Absent alleles at stored positions, positions outside any segment, and bad ids, interleaved.
    ids += [f"{i.rsplit('-', 2)[0]}-{i.rsplit('-', 2)[1]}-N" for i in ids[:20]]
    ids += ["chr1:1 A>G", "NC_000001.11:99:A:G", "22-50000000-C-T", "nonsense", "chrZ-1-A-G", ids[0]]
    group = excluded_group(rel, exclude)

    def one(text: str) -> object:
        try:
            return record_for_query(rel, text, strata=strata, exclude=group)
        except APIError as e:
            return (e.status, e.code, e.message)

    got = [
        (r.status, r.code, r.message) if isinstance(r, APIError) else r
        for r in records_for_ids(rel, ids, strata=strata, exclude=group)
    ]
    want = [one(t) for t in ids]
    assert got == want
    # Same bytes as served, key order included.
    assert orjson.dumps(got) == orjson.dumps(want)
    assert sum(isinstance(g, tuple) for g in got) >= 2
    assert any(isinstance(g, dict) and g["seen"] for g in got)
    assert any(isinstance(g, dict) and not g["seen"] for g in got)
