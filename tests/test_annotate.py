"""Annotation (variantdb/annotate.py, ``variantdb annotate``, ``POST /v1/annotate``).

The fixture database is the lookup tests' one (``api_db``: a seeded cohort loaded
by the real loader, with a reference). The input VCF holds every record of that
cohort (multi-allelic ones, indels that are not left-aligned) plus variants the
release does not have, and every annotated value is checked against what
``GET /v1/variants/{id}`` answers.
"""

from __future__ import annotations

import gzip
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pysam
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from tests.api_helpers import assert_error
from variantdb.annotate import AnnotateError, annotate_vcf
from variantdb.api.main import create_app
from variantdb.genome import CONTIGS
from variantdb.loaders.cli import app
from variantdb.release.files import read_current
from variantdb.settings import Settings
from variantdb.variant import Reference

runner = CliRunner()
_FIELDS = "ac,an,af,faf95,faf99,homozygote_count,hemizygote_count"
_STRATUM_COUNTS = {"AC": "ac", "AN": "an", "nhomalt": "homozygote_count", "nhemi": "hemizygote_count"}


def _sites(api_cohort: Path) -> list[tuple[str, int, str, list[str]]]:
    """Return (chrom, pos, ref, alts) of every cohort record, plus absent SNVs next to some sites."""
    ref = Reference(api_cohort / "ref.fa")
    out: list[tuple[str, int, str, list[str]]] = []
    with pysam.VariantFile(str(api_cohort / "vcf" / "cohort.vcf.gz")) as vf:
        for i, rec in enumerate(vf):
            out.append((rec.chrom, rec.pos, rec.ref, list(rec.alts or ())))
            if i % 5 == 0:
                # An SNV one base on, not in the release (no cohort record there).
                base = ref.fetch(rec.chrom, rec.pos + 1, rec.pos + 1)
                if base in "ACGT":
                    out.append((rec.chrom, rec.pos + 1, base, ["ACGT"[("ACGT".index(base) + 1) % 4]]))
    ref.close()
    order = {c: i for i, c in enumerate(CONTIGS)}
    out.sort(key=lambda r: (order[r[0]], r[1]))
    # Drop a generated SNV that landed on a cohort position.
    seen: set[tuple[str, int]] = set()
    kept = []
    for r in out:
        if (r[0], r[1]) not in seen:
            kept.append(r)
            seen.add((r[0], r[1]))
    return kept


def _write_vcf(
    path: Path,
    sites: list[tuple[str, int, str, list[str]]],
    extra_header: str = "",
    contigs: list[str] | None = None,
) -> Path:
    names = contigs if contigs is not None else list(dict.fromkeys(s[0] for s in sites))
    lines = ["##fileformat=VCFv4.2", *(f"##contig=<ID={c}>" for c in names)]
    if extra_header:
        lines.append(extra_header)
    lines.append("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO")
    lines += [f"{c}\t{p}\t.\t{r}\t{','.join(a)}\t.\tPASS\t." for c, p, r, a in sites]
    text = "\n".join(lines) + "\n"
    if path.suffix == ".gz":
        plain = path.with_suffix("")
        plain.write_text(text)
        pysam.tabix_compress(str(plain), str(path), force=True)
        plain.unlink()
        pysam.tabix_index(str(path), preset="vcf", force=True)
    else:
        path.write_text(text)
    return path


@pytest.fixture(scope="module")
def patient(api_cohort: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A sites-only VCF of every cohort record plus absent SNVs, bgzipped."""
    return _write_vcf(tmp_path_factory.mktemp("annotate") / "patient.vcf.gz", _sites(api_cohort))


@pytest.fixture(scope="module")
def annotated(api_db: Path, patient: Path) -> Path:
    """The patient VCF annotated through the CLI with every stratum and the NGC_ prefix."""
    out = patient.parent / "annotated.vcf.gz"
    result = runner.invoke(
        app,
        [
            "annotate",
            "--db",
            str(api_db),
            str(patient),
            "-o",
            str(out),
            "--fields",
            _FIELDS,
            "--strata",
            "all",
            "--prefix",
            "NGC_",
        ],
    )
    assert result.exit_code == 0, result.output
    return out


def _values(rec: Any, name: str) -> list[Any]:
    v = rec.info.get(name)
    return list(v) if isinstance(v, tuple) else [v] * len(rec.alts or ())


def _lookup(client: TestClient, rec: Any, alt: str) -> dict[str, Any]:
    resp = client.get(f"/v1/variants/{rec.chrom}-{rec.pos}-{rec.ref}-{alt}")
    assert resp.status_code == 200, resp.text
    return resp.json()  # type: ignore[no-any-return]


def _check_against_api(
    client: TestClient, rec: Any, k: int, alt: str, prefix: str = "NGC_"
) -> dict[str, Any]:
    """Check one ALT of an annotated record against the lookup endpoint; return the endpoint's record.

    AN is per record (``Number=1``, as gnomAD): the smallest of the record's ALTs' ANs.
    """
    wants = [_lookup(client, rec, a) for a in rec.alts or ()]
    want = wants[k]
    where = f"{rec.chrom}:{rec.pos} {rec.ref}>{alt}"
    for info, key in (
        ("AC", "ac"),
        ("nhomalt", "homozygote_count"),
        ("nhemi", "hemizygote_count"),
    ):
        assert _values(rec, prefix + info)[k] == want[key], (where, info)
    assert _values(rec, prefix + "AN")[k] == min(w["an"] for w in wants), where
    for info, key in (("AF", "af"), ("faf95", "faf95"), ("faf99", "faf99")):
        got = _values(rec, prefix + info)[k]
        if want[key] is None:
            assert got is None, (where, info)
        else:
            assert got == pytest.approx(want[key], rel=1e-5, abs=1e-7), (where, info)
    for s in want["strata"]:
        for info, key in _STRATUM_COUNTS.items():
            got = _values(rec, f"{prefix}{info}_{s['id']}")[k]
            if info == "AN":
                ans = [t["an"] for w in wants for t in w["strata"] if t["id"] == s["id"]]
                assert got == min(ans), (where, s["id"], info)
            else:
                assert got == s[key], (where, s["id"], info)
        for info, key in (("AF", "af"), ("faf95", "faf95"), ("faf99", "faf99")):
            got = _values(rec, f"{prefix}{info}_{s['id']}")[k]
            want_v = s[key]
            assert got == (None if want_v is None else pytest.approx(want_v, rel=1e-5, abs=1e-7)), (
                where,
                s["id"],
                info,
            )
    return want  # type: ignore[no-any-return]


def test_every_annotated_value_equals_the_lookup_endpoint(annotated: Path, api_client: TestClient) -> None:
    seen = absent = multi = 0
    with pysam.VariantFile(str(annotated)) as vf:
        for rec in vf:
            alts = rec.alts or ()
            multi += len(alts) > 1
            for k, alt in enumerate(alts):
                want = _check_against_api(api_client, rec, k, alt)
                if want["seen"]:
                    seen += 1
                else:
                    absent += 1
                    assert _values(rec, "NGC_AC")[k] == 0
                    # the AN track, not "no data"
                    assert want["an"] > 0 and (len(alts) > 1 or _values(rec, "NGC_AN")[k] == want["an"])
    assert seen > 300 and absent > 50 and multi > 10, (seen, absent, multi)


def test_multiallelic_records_get_one_value_per_alt(annotated: Path, patient: Path) -> None:
    with pysam.VariantFile(str(patient)) as src, pysam.VariantFile(str(annotated)) as out:
        pairs = list(zip(src, out, strict=True))
    assert any(len(a.alts or ()) > 2 for a, _ in pairs)
    for a, b in pairs:
        assert (a.chrom, a.pos, a.ref, a.alts) == (b.chrom, b.pos, b.ref, b.alts)
        for name in ("NGC_AC", "NGC_AN", "NGC_AF", "NGC_AC_sex_xx"):
            assert len(_values(b, name)) == len(a.alts or ())


def test_header_names_the_release_and_describes_each_field(annotated: Path, api_db: Path) -> None:
    release = read_current(api_db)
    with pysam.VariantFile(str(annotated)) as vf:
        header = vf.header
        text = str(header)
        assert f"##variantdb_release={release}" in text
        for name in (
            "NGC_AC",
            "NGC_AN",
            "NGC_AF",
            "NGC_nhomalt",
            "NGC_nhemi",
            "NGC_AC_sex_xy",
            "NGC_AF_region_hovedstaden",
        ):
            meta = header.info[name]
            assert meta.number == (1 if name == "NGC_AN" else "A"), name
            assert meta.type == ("Float" if "_AF" in name else "Integer"), name
            assert f"release {release}" in meta.description, name
    assert Path(f"{annotated}.tbi").exists()


def test_bcftools_reads_the_output(annotated: Path, patient: Path) -> None:
    if shutil.which("bcftools") is None:
        pytest.skip("bcftools is not on the PATH (Debian: apt-get install bcftools)")
    body = subprocess.run(
        ["bcftools", "view", "-H", str(annotated)], capture_output=True, text=True, check=True
    )
    n_in = subprocess.run(
        ["bcftools", "view", "-H", str(patient)], capture_output=True, text=True, check=True
    )
    assert len(body.stdout.splitlines()) == len(n_in.stdout.splitlines()) > 400
    q = subprocess.run(
        [
            "bcftools",
            "query",
            "-f",
            "%CHROM\t%POS\t%INFO/NGC_AC\t%INFO/NGC_AN\n",
            "-r",
            "chr1",
            str(annotated),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert q.stdout.strip()
    assert all(line.split("\t")[3] != "." for line in q.stdout.splitlines())


def test_default_fields_and_plain_output_without_prefix(api_db: Path, patient: Path, tmp_path: Path) -> None:
    out = tmp_path / "plain.vcf"
    report = annotate_vcf(api_db, patient, out)
    assert report.records > 400 and report.found > 300 and report.absent > 50 and not report.not_annotated
    with pysam.VariantFile(str(out)) as vf:
        assert {"AC", "AN", "AF", "nhomalt"} <= set(vf.header.info)
        assert "nhemi" not in vf.header.info and not any(k.startswith("AC_") for k in vf.header.info)
    assert not Path(f"{out}.tbi").exists()


def test_input_info_of_the_same_name_is_replaced(
    api_db: Path, tmp_path: Path, api_client: TestClient
) -> None:
    src = _write_vcf(
        tmp_path / "gatk.vcf",
        [("chr1", 1, "N", ["A"])],
        '##INFO=<ID=AC,Number=A,Type=Integer,Description="GATK: allele count in genotypes">',
    )
    out = tmp_path / "out.vcf"
    report = annotate_vcf(api_db, src, out)
    assert report.replaced_info == ["AC"]
    with pysam.VariantFile(str(out)) as vf:
        assert "variantdb" in vf.header.info["AC"].description
        assert next(iter(vf)).info["AC"] == (0,)


def test_undeclared_contig_is_refused(api_db: Path, tmp_path: Path) -> None:
    src = _write_vcf(
        tmp_path / "undeclared.vcf", [("chr1", 10, "N", ["A"]), ("chr2", 10, "N", ["A"])], contigs=["chr1"]
    )
    with pytest.raises(AnnotateError, match="does not declare"):
        annotate_vcf(api_db, src, tmp_path / "o.vcf")


def test_alleles_that_cannot_be_looked_up_are_left_missing(
    api_db: Path, api_cohort: Path, tmp_path: Path
) -> None:
    with pysam.VariantFile(str(api_cohort / "vcf" / "cohort.vcf.gz")) as vf:
        rec = next(iter(vf))
    wrong_ref = "ACGT"[("ACGT".index(rec.ref[0]) + 1) % 4]
    sites = [
        (rec.chrom, rec.pos, rec.ref, [rec.alts[0], "*", "<DEL>"]),
        (rec.chrom, rec.pos + 3, wrong_ref + "A", [wrong_ref]),  # REF disagrees with the reference
        ("chrUn_KI270302v1", 5, "A", ["C"]),
    ]
    src = _write_vcf(
        tmp_path / "odd.vcf",
        sorted(sites[:2], key=lambda s: s[1]) + sites[2:],
        contigs=[rec.chrom, "chrUn_KI270302v1"],
    )
    out = tmp_path / "odd.out.vcf"
    report = annotate_vcf(api_db, src, out)
    assert report.not_annotated == {
        "symbolic_or_star_alleles": 2,
        "invalid_alleles_or_ref_mismatch": 1,
        "other_contigs": 1,
    }
    with pysam.VariantFile(str(out)) as vf:
        recs = list(vf)
    first = next(r for r in recs if r.pos == rec.pos)
    ac = _values(first, "AC")
    assert isinstance(ac[0], int) and ac[1:] == [None, None]
    assert all("AC" not in r.info for r in recs if r.pos != rec.pos)


def test_cli_refuses_unknown_fields_and_strata(api_db: Path, patient: Path, tmp_path: Path) -> None:
    out = tmp_path / "x.vcf.gz"
    result = runner.invoke(
        app, ["annotate", "--db", str(api_db), str(patient), "-o", str(out), "--fields", "ac,bogus"]
    )
    assert result.exit_code == 1 and "bogus" in result.output and "choose from" in result.output
    result = runner.invoke(
        app, ["annotate", "--db", str(api_db), str(patient), "-o", str(out), "--strata", "planet"]
    )
    assert result.exit_code == 1 and "planet" in result.output
    result = runner.invoke(
        app, ["annotate", "--db", str(api_db), str(patient), "-o", str(out), "--prefix", "9x"]
    )
    assert result.exit_code == 1 and "prefix" in result.output


def test_truncated_and_non_vcf_input_are_refused(api_db: Path, patient: Path, tmp_path: Path) -> None:
    cut = tmp_path / "cut.vcf.gz"
    cut.write_bytes(patient.read_bytes()[:-100])
    with pytest.raises(AnnotateError, match="truncated"):
        annotate_vcf(api_db, cut, tmp_path / "o.vcf")
    junk = tmp_path / "junk.vcf"
    junk.write_text("this is not a VCF\n")
    with pytest.raises(AnnotateError, match="not a readable VCF"):
        annotate_vcf(api_db, junk, tmp_path / "o.vcf")


def test_wrong_build_is_refused(api_db: Path, tmp_path: Path) -> None:
    src = tmp_path / "hg19.vcf"
    src.write_text(
        "##fileformat=VCFv4.2\n##contig=<ID=chr1,length=249250621>\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
        "chr1\t10\t.\tA\tC\t.\t.\t.\n"
    )
    with pytest.raises(AnnotateError, match="not on GRCh38"):
        annotate_vcf(api_db, src, tmp_path / "o.vcf")


# --- HTTP -----------------------------------------------------------------------


def test_http_annotate_round_trips_bgzipped(
    api_client: TestClient, patient: Path, annotated: Path, tmp_path: Path
) -> None:
    resp = api_client.post(
        "/v1/annotate",
        params={"fields": _FIELDS, "strata": "all", "prefix": "NGC_"},
        content=patient.read_bytes(),
        headers={"content-type": "application/gzip"},
    )
    assert resp.status_code == 200, resp.text[:500]
    assert resp.headers["content-type"] == "application/gzip"
    got = tmp_path / "http.vcf.gz"
    got.write_bytes(resp.content)
    with pysam.VariantFile(str(got)) as a, pysam.VariantFile(str(annotated)) as b:
        assert str(a.header) == str(b.header)
        for x, y in zip(a, b, strict=True):
            assert str(x) == str(y)


def test_http_annotate_plain_vcf_gives_plain_vcf(api_client: TestClient, patient: Path, api_db: Path) -> None:
    text = gzip.decompress(patient.read_bytes())
    resp = api_client.post("/v1/annotate", content=text, headers={"content-type": "text/vcf"})
    assert resp.status_code == 200, resp.text[:500]
    assert resp.headers["content-type"].startswith("text/vcf")
    assert resp.headers["x-variantdb-release"] == read_current(api_db)
    body = resp.text.splitlines()
    assert any(line.startswith("##INFO=<ID=AC,Number=A") for line in body)
    assert len([ln for ln in body if not ln.startswith("#")]) == len(
        [ln for ln in text.decode().splitlines() if not ln.startswith("#")]
    )


@pytest.mark.parametrize(
    "body",
    [b"not a vcf at all\n", b"\x1f\x8b\x08\x04broken gzip", b"##fileformat=VCFv4.2\n#CHROM\tPOS\n1\tx\n"],
    ids=["text", "broken-gzip", "bad-record"],
)
def test_http_malformed_upload_is_400(api_client: TestClient, body: bytes) -> None:
    err = assert_error(api_client.post("/v1/annotate", content=body), 400, "invalid_vcf")
    assert "upload" in err["message"] and "/tmp" not in err["message"]


def test_http_empty_upload_and_bad_options_are_4xx(api_client: TestClient, patient: Path) -> None:
    assert_error(api_client.post("/v1/annotate", content=b""), 400, "invalid_vcf")
    assert_error(
        api_client.post("/v1/annotate", params={"fields": "nope"}, content=patient.read_bytes()), 400
    )
    assert_error(
        api_client.post("/v1/annotate", params={"release": "r9999"}, content=patient.read_bytes()), 404
    )


def test_http_upload_over_the_limit_is_413(api_db: Path, patient: Path) -> None:
    with TestClient(create_app(api_db, Settings(max_annotate_bytes=1000))) as client:
        err = assert_error(
            client.post("/v1/annotate", content=patient.read_bytes()), 413, "payload_too_large"
        )
    assert "max_annotate_bytes" in err["message"]


def test_verdict_fields_equal_the_lookup_endpoint(
    api_db: Path, patient: Path, api_client: TestClient, tmp_path: Path
) -> None:
    out = tmp_path / "verdicts.vcf.gz"
    result = CliRunner().invoke(
        app,
        [
            "annotate",
            "--db",
            str(api_db),
            str(patient),
            "-o",
            str(out),
            "--patient-group",
            "hereditary_heart",
            "--prefix",
            "X_",
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    states: set[str] = set()
    with pysam.VariantFile(str(out)) as vf:
        assert vf.header.info["X_maxCredibleAF"].number == 1
        assert {vf.header.info[f"X_{n}"].number for n in ("maxTolAC", "ACMG_freq", "freqVerdict")} == {"A"}
        for n, rec in enumerate(vf):
            if n % 7:
                continue
            for k, alt in enumerate(rec.alts or ()):
                want = api_client.get(
                    f"/v1/variants/{rec.chrom}-{rec.pos}-{rec.ref}-{alt}",
                    params={"patient_group": "hereditary_heart"},
                ).json()["verdicts"][0]
                assert rec.info["X_maxCredibleAF"] == pytest.approx(want["max_credible_af"], rel=1e-6)
                assert _values(rec, "X_maxTolAC")[k] == want["max_tolerated_ac"]
                assert _values(rec, "X_ACMG_freq")[k] == ("&".join(want["criteria"]) or "none")
                assert _values(rec, "X_freqVerdict")[k] == want["state"]
                states.add(want["state"])
    assert len(states) >= 2, states
    if shutil.which("bcftools"):
        q = subprocess.run(
            ["bcftools", "query", "-f", "%X_maxCredibleAF\t%X_maxTolAC\t%X_ACMG_freq\n", str(out)],
            capture_output=True,
            text=True,
            check=True,
        )
        assert q.stderr == "" and q.stdout.strip()


def test_verdict_options_are_checked(api_db: Path, patient: Path, tmp_path: Path) -> None:
    out = tmp_path / "x.vcf"
    for args in (["--patient-group", "astronauts"], ["--disease", "scurvy"]):
        result = CliRunner().invoke(
            app, ["annotate", "--db", str(api_db), str(patient), "-o", str(out), *args]
        )
        assert result.exit_code != 0 and args[1] in result.output, result.output


def test_http_annotate_verdicts_equal_the_cli(
    api_db: Path, patient: Path, api_client: TestClient, tmp_path: Path
) -> None:
    cli_out = tmp_path / "cli.vcf"
    args = [
        "annotate",
        "--db",
        str(api_db),
        str(patient),
        "-o",
        str(cli_out),
        "--patient-group",
        "hereditary_heart",
    ]
    assert CliRunner().invoke(app, [*args, "--quiet"]).exit_code == 0
    resp = api_client.post(
        "/v1/annotate",
        params={"patient_group": "hereditary_heart"},
        content=gzip.decompress(patient.read_bytes()),
        headers={"content-type": "text/vcf"},
    )
    assert resp.status_code == 200, resp.text[:500]
    got = tmp_path / "http.vcf"
    got.write_bytes(resp.content)
    with pysam.VariantFile(str(got)) as a, pysam.VariantFile(str(cli_out)) as b:
        assert "freqVerdict" in a.header.info
        for x, y in zip(a, b, strict=True):
            assert x.info.get("freqVerdict") == y.info.get("freqVerdict")
            assert x.info.get("maxTolAC") == y.info.get("maxTolAC")
    bad = api_client.post(
        "/v1/annotate",
        params={"disease": "Hypertrophic cardiomyopathy", "penetrance": "2"},
        content=b"x",
        headers={"content-type": "text/vcf"},
    )
    assert_error(bad, 422, "invalid_request")
    assert "penetrance" in bad.json()["error"]["message"]


def test_text_output_equals_the_record_writer(api_db: Path, api_cohort: Path, tmp_path: Path) -> None:
    """The VCF writer (htslib's record text plus the INFO fields) writes what pysam's BCF writer holds.

    SNVs in lower case, with an N REF and with a REF the reference contradicts take the
    chunk's vectorized REF check; a wrong one is reported like any other bad REF.
    """
    with pysam.VariantFile(str(api_cohort / "vcf" / "cohort.vcf.gz")) as vf:
        recs = [r for r, _ in zip(vf, range(40), strict=False)]
    snv = next(r for r in recs if len(r.ref) == 1 and r.alts and len(r.alts) == 1 and len(r.alts[0]) == 1)
    wrong = "ACGT"[("ACGT".index(snv.ref) + 1) % 4]
    other = next(b for b in "ACGT" if b not in (snv.ref, wrong))
    sites = [(r.chrom, r.pos, r.ref, list(r.alts or ())) for r in recs if r.pos != snv.pos]
    sites += [
        (snv.chrom, snv.pos, snv.ref.lower(), [snv.alts[0].lower()]),
        (snv.chrom, snv.pos, wrong, [other]),  # REF disagrees with the reference
        (snv.chrom, snv.pos, "N", [other]),
    ]
    sites.sort(key=lambda s: s[1])
    src = _write_vcf(tmp_path / "mixed.vcf", sites)
    vcf, bcf = tmp_path / "out.vcf", tmp_path / "out.bcf"
    report = annotate_vcf(api_db, src, vcf, strata=["all"])
    assert report.not_annotated["invalid_alleles_or_ref_mismatch"] == 1
    assert annotate_vcf(api_db, src, bcf, strata=["all"]).as_dict() | {"output": "", "seconds": 0} == (
        report.as_dict() | {"output": "", "seconds": 0}
    )
    with pysam.VariantFile(str(vcf)) as a, pysam.VariantFile(str(bcf)) as b:
        text, records = [str(r) for r in a], [str(r) for r in b]
    assert text == records
    lower = next(t for t in text if f"\t{snv.pos}\t" in t and f"\t{snv.ref.lower()}\t" in t)
    assert ";AC=" in lower or "\tAC=" in lower
    bad = next(t for t in text if f"\t{snv.pos}\t.\t{wrong}\t" in t)
    assert "AC=" not in bad
