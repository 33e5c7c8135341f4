"""Occurrence deposits end to end: a CSV uploaded to a JDD is checked by a real `ckan jobs worker`,
its accepted rows land in PostGIS, the producer reads the report and the attestation.

Real CKAN (in-process), PostgreSQL/PostGIS, Solr, Redis and worker; the referentials are the
extracts `make up` loads into the test database.
"""

from __future__ import annotations

import copy
import html
import io
import json
import pathlib
import time
import uuid

import ckan.model as model
import pytest
import sqlalchemy as sa
from ckan.tests import factories

from tests.integration.test_sinp_records import CA, JDD, Api

FIXTURES = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "occtax"
HEADER = (
    "idOrigine;statutObservation;nomCite;cdNom;dateDebut;dateFin;observateur;geometrie;natureObjetGeo;"
    "dSPublique;statutSource;organismeGestionnaireDonnee"
)


def rows(n: int, start: int = 1, lon: float = 5.0) -> str:
    lines = [HEADER]
    for i in range(start, start + n):
        lines.append(
            f"OBS-{i};Pr;Myotis myotis;60418;2024-05-{1 + i % 28:02d};2024-05-{1 + i % 28:02d};"
            f"MARTIN Léa (LPO BFC);POINT({lon + i / 1000:.4f} 47.2);St;Pu;Te;LPO BFC"
        )
    return "\n".join(lines) + "\n"


@pytest.fixture
def deposit_env(app, clean_db, clean_index, jobs_worker):
    user = factories.UserWithToken()
    org = factories.Organization(
        users=[{"name": user["name"], "capacity": "editor"}], title="LPO Bourgogne-Franche-Comté"
    )
    api = Api(app, user["token"])
    ca = api.ok("package_create", **{**copy.deepcopy(CA), "name": f"ca-{uuid.uuid4().hex[:8]}", "owner_org": org["id"]})
    jdd = api.ok(
        "package_create",
        **{
            **copy.deepcopy(JDD),
            "name": f"jdd-{uuid.uuid4().hex[:8]}",
            "owner_org": org["id"],
            "cadre": ca["sinp_uuid"],
        },
    )
    return app, api, user, org, jdd


def upload(app, token, package_id, content: bytes, name="observations.csv", resource_id=None, **extra):
    data = {"name": name, "format": "CSV", "upload": (io.BytesIO(content), name), **extra}
    if resource_id:
        data["id"] = resource_id
        action = "resource_update"
    else:
        data["package_id"] = package_id
        action = "resource_create"
    response = app.post(
        f"/api/3/action/{action}", data=data, headers={"Authorization": token}, content_type="multipart/form-data"
    )
    assert response.status_code == 200, response.json
    return response.json["result"]


def wait_report(api, resource_id, timeout=90, **params):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, body = api.get("sinp_qc_report_show", resource_id=resource_id, **params)
        if status == 200 and body["result"]["status"] in ("done", "error"):
            return body["result"]
        time.sleep(0.3)
    raise AssertionError(f"deposit {resource_id} not checked in {timeout}s: {body}")


def occurrences(resource_id=None, package_id=None) -> int:
    with model.meta.engine.connect() as conn:
        if resource_id:
            return conn.execute(
                sa.text("SELECT count(*) FROM sinp_occurrence WHERE resource_id = :r"), {"r": resource_id}
            ).scalar()
        return conn.execute(
            sa.text("SELECT count(*) FROM sinp_occurrence WHERE package_id = :p"), {"p": package_id}
        ).scalar()


def test_a_clean_deposit_is_integrated_with_report_search_and_attestation(deposit_env):
    app, api, user, org, jdd = deposit_env
    content = rows(30).encode("utf-8")
    res = upload(app, user["token"], jdd["id"], content)
    report = wait_report(api, res["id"])
    assert report["status"] == "done" and report["errors"] == [] and report["errors_total"] == 0
    assert (report["rows_received"], report["rows_accepted"], report["rows_rejected"]) == (30, 30, 0)
    # the attestation's URL carries a random token, not the sequential number printed in it
    token = report["receipt_url"].split("/depot/")[1].split("/")[0]
    assert report["receipt_url"].endswith(f"/depot/{token}/attestation.pdf") and len(token) >= 22
    assert report["receipt_number"] not in report["receipt_url"]
    assert occurrences(res["id"]) == 30

    found = api.ok("sinp_occurrence_search", jdd=jdd["sinp_uuid"], bbox="4.9,47.1,5.012,47.3", limit=5)
    assert found["type"] == "FeatureCollection" and found["total"] == 12 and len(found["features"]) == 5
    props = found["features"][0]["properties"]
    assert props["nomCite"] == "Myotis myotis" and props["cdNom"] == 60418 and props["idSINPJdd"] == jdd["sinp_uuid"]
    assert props["statutValidation"] == "En attente de validation" and props["nivVal"] == "0"
    assert len(props["idSINPOccTax"]) == 36
    assert found["features"][0]["geometry"]["type"] == "Point"
    assert api.ok("sinp_occurrence_search", jdd=jdd["name"], date_min="2024-05-27")["total"] == 2

    pdf = app.get(f"/depot/{token}/attestation.pdf", headers={"Authorization": user["token"]})
    assert pdf.status_code == 200 and pdf.headers["Content-Type"] == "application/pdf" and pdf.data[:5] == b"%PDF-"
    page = app.get(f"/depot/{token}/attestation", headers={"Authorization": user["token"]})
    assert report["receipt_number"] in page.get_data(as_text=True)
    # the depositor is a person of an organisation, not a user name
    assert f"{user['fullname']} (LPO Bourgogne-Franche-Comté)" in html.unescape(page.get_data(as_text=True))
    assert user["fullname"] and user["fullname"] != user["name"]
    import hashlib

    assert hashlib.sha256(content).hexdigest() in page.get_data(as_text=True)
    assert jdd["sinp_uuid"] in page.get_data(as_text=True)

    report_page = app.get(f"/jdd/{jdd['name']}/depot/{res['id']}", headers={"Authorization": user["token"]})
    assert report_page.status_code == 200 and "Rapport de contrôle du dépôt" in report_page.get_data(as_text=True)

    stats = api.ok("sinp_occurrence_stats", jdd=jdd["id"])
    assert stats["count"] == 30 and stats["date_min"] == "2024-05-01" and stats["bbox"][0] == pytest.approx(5.001)
    # Myotis myotis falls under the bats' sensitivity rule (level 2, 10 km cell): the extent applied
    # to the published metadata covers the cells, not the precise points
    patched = api.ok("sinp_jdd_apply_extent", jdd=jdd["id"])
    west, east = float(patched["borne_ouest"]), float(patched["borne_est"])
    assert west < 5.001 - 0.01 and east > 5.03 + 0.01


def test_the_gold_file_is_reported_exactly_and_only_accepted_rows_are_stored(deposit_env):
    app, api, user, org, jdd = deposit_env
    expected = json.loads((FIXTURES / "gold_expected.json").read_text(encoding="utf-8"))
    res = upload(app, user["token"], jdd["id"], (FIXTURES / "gold.csv").read_bytes(), name="gold.csv")
    report = wait_report(api, res["id"], limit=1000)
    # K2 (future dates) depends on today's date, far from 2099: same as with the fixed date
    assert sorted((e["row"], e["code"], e["column"]) for e in report["errors"]) == sorted(
        tuple(e) for e in expected["errors"]
    )
    assert report["rows_accepted"] == expected["rows_accepted"] == occurrences(res["id"])
    assert report["rows_rejected_by_category"]["doublon"] == 4
    page = api.ok("sinp_qc_report_show", resource_id=res["id"], code="K17", limit=1)
    assert page["errors_total"] == 2 and len(page["errors"]) == 1 and page["errors"][0]["category"] == "doublon"
    rejected = app.get(
        f"/jdd/{jdd['name']}/depot/{res['id']}/lignes-refusees.csv", headers={"Authorization": user["token"]}
    )
    assert rejected.status_code == 200
    text = rejected.get_data(as_text=True)
    assert text.startswith("\ufeffnuméro de ligne dans le tableur;") and text.count("\r\n") == 21
    assert "GOLD-05" in text and "C11" in text


def test_replacing_the_file_replaces_the_rows_and_deleting_removes_them(deposit_env):
    app, api, user, org, jdd = deposit_env
    res = upload(app, user["token"], jdd["id"], rows(10).encode())
    assert wait_report(api, res["id"])["rows_accepted"] == 10
    first_receipt = api.ok("sinp_qc_report_show", resource_id=res["id"])["receipt_number"]
    upload(app, user["token"], jdd["id"], rows(4, start=100).encode(), resource_id=res["id"])
    deadline = time.monotonic() + 60
    while occurrences(res["id"]) != 4 and time.monotonic() < deadline:
        time.sleep(0.3)
    report = wait_report(api, res["id"])
    assert report["rows_accepted"] == 4 and occurrences(res["id"]) == 4
    assert report["receipt_number"] == first_receipt  # one deposit per resource, one number

    other = upload(app, user["token"], jdd["id"], rows(3, start=200).encode(), name="autres.csv")
    assert wait_report(api, other["id"])["rows_accepted"] == 3
    api.ok("resource_delete", id=res["id"])
    assert occurrences(res["id"]) == 0 and occurrences(package_id=jdd["id"]) == 3
    api.ok("package_delete", id=jdd["id"])
    assert occurrences(package_id=jdd["id"]) == 0


def test_the_same_rows_deposited_again_elsewhere_are_duplicates(deposit_env):
    app, api, user, org, jdd = deposit_env
    res = upload(app, user["token"], jdd["id"], rows(5).encode())
    assert wait_report(api, res["id"])["rows_accepted"] == 5
    again = upload(app, user["token"], jdd["id"], rows(5).encode(), name="encore.csv")
    report = wait_report(api, again["id"])
    codes = {(e["code"], e["row"]) for e in report["errors"]}
    # spreadsheet lines: header = line 1, the five observations are lines 2 to 6
    assert {("K17", i) for i in range(2, 7)} <= codes and {("D2", i) for i in range(2, 7)} <= codes
    assert report["rows_accepted"] == 0 and occurrences(again["id"]) == 0


BAD_INPUTS = [
    (b"", "vide"),
    (HEADER.encode() + b"\n", "aucune ligne de données"),
    (b"\x00\x01\x02binary\x00" * 50, "octets nuls"),
    (rows(3).replace(";", "#").encode(), "séparateur"),
    (("couleur;" + rows(2).splitlines()[0] + "\nrouge;" + rows(2).splitlines()[1] + "\n").encode(), "Colonne inconnue"),
]


@pytest.mark.parametrize(
    "content,message", BAD_INPUTS, ids=["empty", "header-only", "binary", "separator", "unknown-column"]
)
def test_bad_files_get_a_french_report_and_nothing_is_integrated(deposit_env, content, message):
    app, api, user, org, jdd = deposit_env
    res = upload(app, user["token"], jdd["id"], content)
    report = wait_report(api, res["id"])
    assert report["status"] == "done" and report["rows_accepted"] == 0
    assert any(message in e["message"] for e in report["errors"]), report["errors"]
    assert occurrences(package_id=jdd["id"]) == 0
    ok = upload(app, user["token"], jdd["id"], rows(2).encode(), name="correct.csv")  # the worker is healthy
    assert wait_report(api, ok["id"])["rows_accepted"] == 2


def test_ragged_rows_and_latin1_are_reported_per_row(deposit_env):
    app, api, user, org, jdd = deposit_env
    lines = rows(4).replace("LPO BFC", "Société d'histoire naturelle d'Autun").splitlines()
    lines[2] = lines[2] + ";en trop"
    res = upload(app, user["token"], jdd["id"], ("\n".join(lines) + "\n").encode("cp1252"))
    report = wait_report(api, res["id"])
    assert report["file"]["encoding"].startswith("Windows-1252")
    assert [(e["row"], e["code"]) for e in report["errors"]] == [
        (3, "C3")
    ]  # the 2nd data row: the spreadsheet's line 3
    assert report["rows_accepted"] == 3
    with model.meta.engine.connect() as conn:
        names = {r[0] for r in conn.execute(sa.text("SELECT DISTINCT organisme_gestionnaire FROM sinp_occurrence"))}
    assert names == {"Société d'histoire naturelle d'Autun"}


def test_reports_and_occurrences_are_for_the_producer_only(deposit_env):
    app, api, user, org, jdd = deposit_env
    res = upload(app, user["token"], jdd["id"], rows(2).encode())
    report = wait_report(api, res["id"])
    stranger = Api(app, factories.UserWithToken()["token"])
    anonymous = Api(app)
    # the JDD is private: for those who may not read it, its deposit does not exist (404, as an unknown id)
    for who in (stranger, anonymous):
        assert who.get("sinp_qc_report_show", resource_id=res["id"])[0] == 404
        assert who.get("sinp_occurrence_search", jdd=jdd["id"])[0] == 404
        assert who.post("sinp_qc_run", resource_id=res["id"])[0] == 404
    assert app.get("/depot/" + report["receipt_url"].split("/depot/", 1)[1]).status_code == 404
    assert app.get(f"/jdd/{jdd['name']}/depot/{res['id']}").status_code == 404
    assert api.ok("sinp_qc_run", resource_id=res["id"])["status"] in ("pending", "running", "done")
    assert wait_report(api, res["id"])["rows_accepted"] == 2


def test_integration_is_all_or_nothing(deposit_env, tmp_path):
    """A failure while writing the accepted rows leaves the previous rows of the deposit in place."""
    from ckanext.sinp.occurrences import store

    app, api, user, org, jdd = deposit_env
    res = upload(app, user["token"], jdd["id"], rows(6).encode())
    assert wait_report(api, res["id"])["rows_accepted"] == 6
    from ckanext.sinp.domain.occtax import columns

    names = [c.store for c in columns.store_columns()] + list(store.ROW_CONSTANTS)
    valid = {
        "id_sinp_occtax": str(uuid.uuid4()).upper(),
        "nom_cite": "Myotis myotis",
        "resource_id": res["id"],
        "package_id": jdd["id"],
        "owner_org": org["id"],
    }
    broken = tmp_path / "accepted.csv"
    broken.write_text(
        ",".join(names) + "\n" + ",".join(valid.get(n, "") for n in names) + "\n" + "trop,peu,de,champs\n",
        encoding="utf-8",
    )  # COPY fails on the 2nd row
    errors = tmp_path / "errors.csv"
    errors.write_text("resource_id,seq,row,column,code,category,blocking,message,value\n", encoding="utf-8")
    with pytest.raises(Exception):  # noqa: B017 — whatever the database driver raises on the bad row
        store.integrate(model.meta.engine, res["id"], broken, errors, {"status": "done"})
    assert occurrences(res["id"]) == 6
    assert api.ok("sinp_qc_report_show", resource_id=res["id"])["rows_accepted"] == 6


def test_the_template_and_the_column_page_are_public(app, clean_db):
    template = app.get("/depot/modele.csv")
    assert template.status_code == 200 and template.headers["Content-Type"].startswith("text/csv")
    header = template.get_data(as_text=True).lstrip("\ufeff").splitlines()[0].split(";")
    assert header[:4] == ["idSINPOccTax", "idOrigine", "statutObservation", "nomCite"]
    page = app.get("/depot/colonnes").get_data(as_text=True)
    from ckanext.sinp.domain.occtax import columns

    for col in columns.columns():
        assert f'id="{col.name}"' in page
    assert "Pr</code> Présent" in page and "obsNomOrg" in page


def test_qc_check_command_reports_like_the_deposit_and_stores_nothing(stack, clean_db, tmp_path):
    import subprocess

    expected = json.loads((FIXTURES / "gold_expected.json").read_text(encoding="utf-8"))
    out = tmp_path / "rapport.json"
    result = subprocess.run(
        [
            stack["CKAN_BIN"],
            "-c",
            stack["CKAN_TEST_INI"],
            "sinp",
            "qc-check",
            str(FIXTURES / "gold.csv"),
            "--report",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1, result.stderr  # rows were rejected
    assert "22 lignes reçues, 2 acceptées, 20 refusées." in result.stdout
    assert "K18  Cohérence    Dans le territoire : 1" in result.stdout
    report = json.loads(out.read_text(encoding="utf-8"))
    assert sorted((e["row"], e["code"], e["column"]) for e in report["errors"]) == sorted(
        tuple(e) for e in expected["errors"]
    )
    with model.meta.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM sinp_occurrence")).scalar() == 0
        assert conn.execute(sa.text("SELECT count(*) FROM sinp_deposit")).scalar() == 0


def test_a_deposit_in_lambert93_is_chosen_per_resource(deposit_env):
    app, api, user, org, jdd = deposit_env
    text = (
        HEADER
        + "\nOBS-1;Pr;Myotis myotis;60418;2024-05-01;2024-05-01;MARTIN Léa (LPO BFC);POINT(853000 6692000);St;Pu;Te;LPO BFC\n"
    )
    res = upload(app, user["token"], jdd["id"], text.encode(), srid="2154")
    assert wait_report(api, res["id"])["rows_accepted"] == 1
    feature = api.ok("sinp_occurrence_search", jdd=jdd["id"])["features"][0]
    lon, lat = feature["geometry"]["coordinates"]
    assert 5.0 < lon < 5.2 and 47.2 < lat < 47.4
    wrong = upload(app, user["token"], jdd["id"], text.encode(), name="b.csv", srid="27572")
    report = wait_report(api, wrong["id"])
    assert report["status"] == "error" and "2154" in report["error_message"]
