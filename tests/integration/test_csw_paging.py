"""Unfiltered GetRecords at scale (issue #20 item 5): the changes table that gives pycsw the exact count
without scanning the table, its upgrade in place, and pages that stay disjoint and complete while
records come and go (pycsw_config/wsgi.py: identifier checkpoints checked against the table's token)."""

from __future__ import annotations

import ckan.model as model
import pytest
import requests
import sqlalchemy as sa
from lxml import etree

from ckanext.sinp import settings
from ckanext.sinp.csw import repository

NS = {"csw": "http://www.opengis.net/cat/csw/2.0.2", "gmd": "http://www.isotc211.org/2005/gmd"}
GMD = NS["gmd"]
CHANGES = repository.load_mappings()["CHANGES_TABLE"]


def _row(identifier: str, **extra) -> dict:
    xml = (
        f'<gmd:MD_Metadata xmlns:gmd="{GMD}" xmlns:gco="http://www.isotc211.org/2005/gco">'
        f"<gmd:fileIdentifier><gco:CharacterString>{identifier}</gco:CharacterString></gmd:fileIdentifier>"
        "</gmd:MD_Metadata>"
    )
    return {
        "identifier": identifier,
        "xml": xml,
        "anytext": f"Inventaire {identifier}",
        "title": f"Inventaire {identifier}",
        "type": "dataset",
        "date_modified": "2026-12-02T10:00:00Z",
        "wkt_geometry": "POLYGON((4 47,5 47,5 48,4 48,4 47))",
        **extra,
    }


def _counts(conn) -> tuple[int, int]:
    """(sum of the changes table, count(*) of the record table)."""
    total = conn.execute(sa.text(f"SELECT coalesce(sum(n), 0)::bigint FROM {CHANGES}")).scalar()
    return total, conn.execute(sa.text("SELECT count(*) FROM sinp_csw_record")).scalar()


@pytest.fixture
def empty_table(clean_db):
    engine = model.meta.engine
    repository.ensure_table(engine)
    repository.grant_reader(engine, settings.csw_reader_role())
    with engine.begin() as conn:
        conn.execute(sa.text("TRUNCATE sinp_csw_record"))
    yield engine
    with engine.begin() as conn:
        conn.execute(sa.text("TRUNCATE sinp_csw_record"))


def test_the_changes_table_counts_the_rows_through_every_kind_of_write(empty_table):
    with empty_table.begin() as conn:
        assert _counts(conn) == (0, 0)
        for i in range(45):  # one statement each: the writers fold the rows of the changes table
            repository.upsert_record(conn, _row(f"PAGING-{i:03d}"))
        assert _counts(conn) == (45, 45)
        assert conn.execute(sa.text(f"SELECT count(*) FROM {CHANGES}")).scalar() <= 1 + 32
        repository.upsert_record(conn, _row("PAGING-000", title="Modifié"))  # an update adds no row
        assert _counts(conn) == (45, 45)
        assert repository.delete_record(conn, "PAGING-001") == 1
        conn.execute(sa.text("DELETE FROM sinp_csw_record WHERE identifier LIKE 'PAGING-01%'"))
        assert _counts(conn) == (34, 34)
    with empty_table.connect() as conn:
        tx = conn.begin()
        repository.upsert_record(conn, _row("PAGING-ROLLED-BACK"))
        tx.rollback()
        assert _counts(conn) == (34, 34)  # the count moves with the rows, in their transaction
    with empty_table.begin() as conn:
        conn.execute(sa.text("TRUNCATE sinp_csw_record"))
        assert _counts(conn) == (0, 0)


def test_ensure_table_adds_the_changes_table_to_a_filled_table_in_place(empty_table):
    with empty_table.begin() as conn:
        for i in range(7):
            repository.upsert_record(conn, _row(f"UPGRADE-{i}"))
        # the table as an older version created it: no changes table, no triggers
        for event in ("insert", "delete", "truncate"):
            conn.execute(sa.text(f"DROP TRIGGER {CHANGES}_{event} ON sinp_csw_record"))
        conn.execute(sa.text(f"DROP TABLE {CHANGES}"))
        repository.upsert_record(conn, _row("UPGRADE-7"))
    repository.ensure_table(empty_table)
    repository.ensure_table(empty_table)  # idempotent: counted once
    repository.grant_reader(empty_table, settings.csw_reader_role())
    with empty_table.begin() as conn:
        assert _counts(conn) == (8, 8)
        repository.upsert_record(conn, _row("UPGRADE-8"))
        assert _counts(conn) == (9, 9)


def _list(csw_url: str) -> tuple[list[str], set[str]]:
    """Every page of 20 as GeoNetwork asks them: ([identifier, ...], {numberOfRecordsMatched})."""
    seen, matched, start = [], set(), 1
    with requests.Session() as http:
        while True:
            body = f"""<?xml version="1.0" encoding="UTF-8"?>
<csw:GetRecords xmlns:csw="{NS["csw"]}" xmlns:gmd="{GMD}" service="CSW" version="2.0.2"
    resultType="results" startPosition="{start}" maxRecords="20" outputSchema="{GMD}">
  <csw:Query typeNames="gmd:MD_Metadata"><csw:ElementSetName>summary</csw:ElementSetName></csw:Query>
</csw:GetRecords>"""
            response = http.post(csw_url, data=body.encode(), headers={"Content-Type": "application/xml"}, timeout=60)
            assert response.status_code == 200
            results = etree.fromstring(response.content).find("csw:SearchResults", NS)
            assert results is not None, response.text[:500]
            matched.add(results.get("numberOfRecordsMatched"))
            ids = results.xpath("gmd:MD_Metadata/gmd:fileIdentifier/*/text()", namespaces=NS)
            assert len(ids) == int(results.get("numberOfRecordsReturned"))
            seen += ids
            next_record = int(results.get("nextRecord"))
            if next_record == 0:
                return seen, matched
            start = next_record


def test_every_page_listed_once_while_records_come_and_go(test_csw, empty_table):
    with empty_table.begin() as conn:
        for i in range(0, 120, 2):
            repository.upsert_record(conn, _row(f"LIST-{i:03d}"))
    seen, matched = _list(test_csw)
    assert seen == sorted(seen) and len(seen) == 60 and matched == {"60"}

    # records added before, between and after the listed ones, others removed: the next listing sees
    # exactly the new state (checkpoints read before the change are not used for it)
    with empty_table.begin() as conn:
        for identifier in ("LIST-", "LIST-001", "LIST-051", "LIST-999"):
            repository.upsert_record(conn, _row(identifier))
        for identifier in ("LIST-000", "LIST-040", "LIST-118"):
            assert repository.delete_record(conn, identifier) == 1
        expected = sorted(conn.execute(sa.text("SELECT identifier FROM sinp_csw_record")).scalars())
    for _ in range(2):  # the second listing may use checkpoints read during the first one
        seen, matched = _list(test_csw)
        assert seen == expected and matched == {"61"}
