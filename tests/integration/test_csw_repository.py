"""The CSW repository table: created by `ckan sinp init-db`, read by pycsw through a read-only role."""

from __future__ import annotations

import subprocess

import ckan.model as model
import pytest
import sqlalchemy as sa
from lxml import etree

from ckanext.sinp.csw import repository

NS = {
    "csw": "http://www.opengis.net/cat/csw/2.0.2",
    "gmd": "http://www.isotc211.org/2005/gmd",
    "gco": "http://www.isotc211.org/2005/gco",
}
GMD = "http://www.isotc211.org/2005/gmd"
UUID = "5B0D1A22-3C4D-4E5F-8A9B-0C1D2E3F4A5B"

ISO = f"""<gmd:MD_Metadata xmlns:gmd="{GMD}" xmlns:gco="http://www.isotc211.org/2005/gco">
  <gmd:fileIdentifier><gco:CharacterString>{UUID}</gco:CharacterString></gmd:fileIdentifier>
  <gmd:hierarchyLevel><gmd:MD_ScopeCode codeList="http://standards.iso.org/iso/19139/resources/gmxCodelists.xml#MD_ScopeCode" codeListValue="dataset">dataset</gmd:MD_ScopeCode></gmd:hierarchyLevel>
  <gmd:dateStamp><gco:DateTime>2026-11-28T10:00:00Z</gco:DateTime></gmd:dateStamp>
</gmd:MD_Metadata>"""


def _row(**extra):
    return {
        "identifier": UUID,
        "xml": ISO,
        "anytext": "Inventaire des pelouses calcaires de Bourgogne",
        "title": "Inventaire des pelouses calcaires",
        "type": "dataset",
        "date_modified": "2026-11-28T10:00:00Z",
        "wkt_geometry": "POLYGON((4 47,5 47,5 48,4 48,4 47))",
        **extra,
    }


@pytest.fixture
def empty_table(clean_db):
    yield
    with model.meta.engine.begin() as conn:
        conn.execute(sa.text("TRUNCATE sinp_csw_record"))


def test_init_db_is_idempotent(stack):
    for _ in range(2):
        result = subprocess.run(
            [stack["CKAN_BIN"], "-c", stack["CKAN_TEST_INI"], "sinp", "init-db"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        assert "Table du dépôt CSW prête" in result.stdout


def test_table_has_the_names_pycsw_hard_codes():
    inspector = sa.inspect(model.meta.engine)
    columns = {c["name"] for c in inspector.get_columns("sinp_csw_record")}
    assert set(repository.column_names().values()) <= columns
    assert {"wkb_geometry", "anytext_tsvector"} <= columns
    assert "fts_gin_idx" in {i["name"] for i in inspector.get_indexes("sinp_csw_record")}


def test_the_csw_role_can_read_but_not_write(stack, empty_table):
    with model.meta.engine.begin() as conn:
        repository.upsert_record(conn, _row())
    reader = sa.create_engine(stack["CSW_TEST_DB_URL"])
    try:
        with reader.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM sinp_csw_record")).scalar() == 1
        with pytest.raises(sa.exc.ProgrammingError, match="permission denied"):
            with reader.begin() as conn:
                conn.execute(sa.text("DELETE FROM sinp_csw_record"))
        with pytest.raises(sa.exc.ProgrammingError, match="permission denied"):
            with reader.begin() as conn:
                conn.execute(sa.text('SELECT * FROM "user"'))
    finally:
        reader.dispose()


def _get(http, url, **params):
    response = http.get(url, params={"service": "CSW", "version": "2.0.2", **params}, timeout=20)
    assert response.status_code == 200
    return etree.fromstring(response.content)


def test_a_row_is_served_by_pycsw_and_disappears_when_deleted(test_csw, http, empty_table):
    with model.meta.engine.begin() as conn:
        repository.upsert_record(conn, _row())
    records = _get(
        http,
        test_csw,
        request="GetRecords",
        typeNames="gmd:MD_Metadata",
        resultType="results",
        elementSetName="summary",
        outputSchema=GMD,
        maxRecords=20,
    )
    results = records.find("csw:SearchResults", NS)
    assert (
        results.get("numberOfRecordsMatched"),
        results.get("numberOfRecordsReturned"),
        results.get("nextRecord"),
    ) == ("1", "1", "0")
    assert records.xpath("string(//gmd:fileIdentifier/gco:CharacterString)", namespaces=NS) == UUID

    found = _get(
        http,
        test_csw,
        request="GetRecords",
        typeNames="gmd:MD_Metadata",
        resultType="results",
        elementSetName="brief",
        outputSchema=GMD,
        constraintLanguage="CQL_TEXT",
        constraint="csw:AnyText like '%pelouses calcaires%'",
    )
    assert found.find("csw:SearchResults", NS).get("numberOfRecordsMatched") == "1"

    full = _get(http, test_csw, request="GetRecordById", id=UUID, outputSchema=GMD, elementSetName="full")
    assert [child.tag for child in full] == [f"{{{GMD}}}MD_Metadata"]

    with model.meta.engine.begin() as conn:
        assert repository.delete_record(conn, UUID) == 1
    gone = _get(http, test_csw, request="GetRecordById", id=UUID, outputSchema=GMD, elementSetName="full")
    assert len(gone) == 0
