"""What a producer reads about a refused row, everywhere it is said (report page, JSON report,
erreurs.csv, lignes-refusees.csv): the line as the spreadsheet shows it (header = line 1), the
coordinates read for a geometry out of the territory and, when they look swapped, that they do;
and the attestation PDF names the depositor as a person of an organisation.

Real CKAN (in-process), PostgreSQL/PostGIS, Solr, Redis and a real `ckan jobs worker`.
"""

from __future__ import annotations

import csv
import io
import urllib.parse

from tests.integration.conftest import patient
from tests.integration.test_occurrence_deposits import deposit_env, rows, upload, wait_report  # noqa: F401

SWAPPED = "POINT(47.2 5.003)"  # latitude written first
HINT = "Latitude et longitude semblent inversées"
READ = "longitude 47.2, latitude 5.003 (EPSG:4326)"


def _csv(response) -> list[dict]:
    assert response.status_code == 200
    raw = response.get_data()
    assert raw.startswith(b"\xef\xbb\xbf") and b"\n" not in raw.replace(b"\r\n", b"")
    return list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"), newline=""), delimiter=";"))


def test_a_swapped_point_is_reported_on_its_spreadsheet_line_with_its_coordinates(deposit_env):  # noqa: F811
    app, api, user, org, jdd = deposit_env
    lines = rows(4).splitlines()
    lines[3] = lines[3].replace("POINT(5.0030 47.2)", SWAPPED)  # the 3rd observation: line 4 of the spreadsheet
    assert SWAPPED in lines[3]
    res = upload(app, user["token"], jdd["id"], ("\n".join(lines) + "\n").encode())
    report = wait_report(api, res["id"])
    assert report["rows_accepted"] == 3 and report["rows_rejected"] == 1
    [error] = report["errors"]
    assert (error["row"], error["code"], error["column"], error["value"]) == (4, "K18", "geometrie", READ)
    assert HINT in error["message"]
    headers = {"Authorization": user["token"]}
    base = f"/jdd/{jdd['name']}/depot/{res['id']}"

    as_json = app.get(f"{base}/rapport.json", headers=headers).json
    assert [e["row"] for e in as_json["errors"]] == [4] and "l'en-tête est la ligne 1" in as_json["row_numbering"]

    html = app.get(base, headers=headers).get_data(as_text=True)
    assert "Ligne du tableur" in html and "en-tête est la ligne 1, la première observation la ligne 2" in html
    assert "<td>4</td><td>geometrie</td><td>K18</td>" in html and READ in html and HINT in html

    [line] = _csv(app.get(f"{base}/erreurs.csv", headers=headers))
    assert line["numéro de ligne dans le tableur"] == "4" and line["valeur"] == READ
    assert line["règle"] == "K18" and line["catégorie"] == "Cohérence" and line["gravité"] == "bloquant"
    assert HINT in line["message"]

    [rejected] = _csv(app.get(f"{base}/lignes-refusees.csv", headers=headers))
    assert rejected["numéro de ligne dans le tableur"] == "4" and rejected["idOrigine"] == "OBS-3"
    assert rejected["geometrie"] == SWAPPED and "K18" in rejected["erreurs"]


def test_the_attestation_pdf_names_the_depositor_and_the_organisation(deposit_env):  # noqa: F811
    from pypdf import PdfReader

    app, api, user, org, jdd = deposit_env
    res = upload(app, user["token"], jdd["id"], rows(2).encode())
    report = wait_report(api, res["id"])
    pdf = app.get(urllib.parse.urlparse(report["receipt_url"]).path, headers={"Authorization": user["token"]})
    assert pdf.status_code == 200 and pdf.data[:5] == b"%PDF-"
    text = " ".join(PdfReader(io.BytesIO(pdf.data)).pages[0].extract_text().split())
    assert f"Déposant {user['fullname']} (LPO Bourgogne-Franche-Comté)" in text
    assert "Structure productrice LPO Bourgogne-Franche-Comté" in text


def test_the_report_page_reads_well_in_a_browser_down_to_390_px(deposit_env, browser, test_ckan_url):  # noqa: F811
    from selenium.webdriver.common.by import By

    from tests.conftest import ROOT

    app, api, user, org, jdd = deposit_env
    lines = rows(3).splitlines()
    lines[2] = lines[2].replace("POINT(5.0020 47.2)", SWAPPED)
    lines[3] = lines[3].replace(";60418;", ";999999999;")  # unknown to TAXREF
    res = upload(app, user["token"], jdd["id"], ("\n".join(lines) + "\n").encode())
    report = wait_report(api, res["id"])
    assert report["rows_rejected"] == 2
    browser.get(f"{test_ckan_url}/user/login")
    browser.find_element(By.ID, "field-login").send_keys(user["name"])
    browser.find_element(By.ID, "field-password").send_keys("correct123")  # CKAN's UserWithToken factory
    browser.find_element(By.CSS_SELECTOR, "form.form-horizontal button[type=submit], form button.btn-primary").click()
    patient(browser, 20).until(lambda b: "/user/login" not in b.current_url)
    shots = ROOT / "var" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    for width in (1280, 390):
        browser.set_window_size(width, 900)
        browser.get(f"{test_ckan_url}/jdd/{jdd['name']}/depot/{res['id']}")
        body = browser.find_element(By.TAG_NAME, "body").text
        assert "Ligne du tableur" in body and "Valeur lue" in body and HINT in body and READ in body
        cells = [c.text for c in browser.find_elements(By.CSS_SELECTOR, "table.sinp-errors tbody tr td:first-child")]
        assert cells == ["3", "4"]  # the 2nd and 3rd observations: lines 3 and 4 of the spreadsheet
        # nothing wider than the screen: the error table scrolls inside its own box
        assert browser.execute_script("return document.documentElement.scrollWidth") <= width
        height = browser.execute_script("return document.body.scrollHeight")
        browser.set_window_size(width, min(max(height, 900), 8000))
        browser.save_screenshot(str(shots / f"qc-report-{width}.png"))
        browser.get(test_ckan_url + urllib.parse.urlparse(report["receipt_html_url"]).path)
        assert user["fullname"] in browser.find_element(By.TAG_NAME, "body").text
        # long values (SHA-256, depositor and organisation) wrap: nothing wider than the screen
        assert browser.execute_script("return document.documentElement.scrollWidth") <= width
        browser.save_screenshot(str(shots / f"qc-attestation-{width}.png"))
