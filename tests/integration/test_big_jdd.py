"""Big JDD (#20 item 4): the occurrence exports are streamed from one server-side cursor and write
exactly what the export wrote before (same header, same cells, same blurring, for the public and
the producer); the JDD page's summaries can be computed before any visit (``aggregates.precompute``)
and are then exactly what the live rights decision gives.

Real CKAN in-process, PostgreSQL/PostGIS, Solr, Redis and a jobs worker (the ``world`` of
test_protection: a published JDD holding the blurring matrix). No timing is asserted.
"""

from __future__ import annotations

import csv
import io
import json

import ckan.model as model
import sqlalchemy as sa
from shapely.geometry import shape

from ckanext.sinp.domain import csvsafe
from ckanext.sinp.logic import access as sinp_access
from ckanext.sinp.occurrences import aggregates, export_stream, store
from tests.integration.test_protection import world  # noqa: F401 (fixture)


def _reference(access, package_id: str) -> tuple[str, list[dict]]:
    """The CSV text and the features of the export as it was written before #20 (pages of rows from
    ``store.search``, ``store.to_feature``, shapely's WKT, ``csvsafe.text``)."""
    with model.meta.engine.connect() as conn:
        _, rows = store.search(conn, access, package_ids=[package_id], limit=100_000)
    features = [store.to_feature(r) for r in rows]
    header = export_stream.csv_header()
    lines = [
        [shape(f["geometry"]).wkt if f["geometry"] else ""] + [f["properties"].get(c) for c in header[1:]]
        for f in features
    ]
    return csvsafe.text(header, lines), features


def _rows(text: str) -> tuple[str, list[str]]:
    assert text.startswith(csvsafe.BOM)
    lines = text[len(csvsafe.BOM) :].split("\r\n")
    assert lines[-1] == ""
    return lines[0], sorted(lines[1:-1])


def test_the_streamed_exports_write_what_the_export_wrote_before_for_the_public_and_the_producer(world):  # noqa: F811
    app, jdd = world["app"], world["public"]
    readers = {
        "public": ({}, sinp_access.access_for({"user": None}, [jdd["id"]])),
        "producer": (
            {"Authorization": world["producer"].token},
            store.Access(orgs=[jdd["owner_org"]], public_package_ids=[jdd["id"]]),
        ),
    }
    for who, (headers, access) in readers.items():
        expected_csv, expected_features = _reference(access, jdd["id"])
        response = app.get(f"/jdd/{jdd['name']}/occurrences.csv", headers=headers)
        assert response.status_code == 200, who
        assert response.headers["Content-Type"].startswith("text/csv")
        assert f'filename="occurrences-{jdd["name"]}.csv"' in response.headers["Content-Disposition"]
        got = response.get_data(as_text=True)
        # same header, same lines (the order of the lines is the database's)
        assert _rows(got) == _rows(expected_csv), who
        assert len(list(csv.reader(io.StringIO(got), delimiter=";"))) == len(expected_features) + 1

        response = app.get(f"/jdd/{jdd['name']}/occurrences.geojson", headers=headers)
        assert response.status_code == 200 and response.headers["Content-Type"].startswith("application/geo+json")
        collection = json.loads(response.get_data(as_text=True))
        assert collection["type"] == "FeatureCollection" and collection["total"] == len(expected_features)
        key = lambda f: f["properties"]["idOrigine"]  # noqa: E731
        assert sorted(collection["features"], key=key) == sorted(expected_features, key=key), who
    # the public's export is smaller than the producer's: what is hidden stays hidden
    public = _rows(app.get(f"/jdd/{jdd['name']}/occurrences.csv").get_data(as_text=True))[1]
    producer = _rows(
        app.get(f"/jdd/{jdd['name']}/occurrences.csv", headers=readers["producer"][0]).get_data(as_text=True)
    )[1]
    assert len(public) < len(producer)


def test_the_export_reads_in_batches_and_gives_its_connection_back_when_the_client_leaves(world):  # noqa: F811
    jdd = world["public"]
    access = store.Access(full=True)
    batches = list(export_stream.row_batches(model.meta.engine, access, jdd["id"], {}, batch=2))
    assert all(len(b) <= 2 for b in batches) and sum(len(b) for b in batches) > 2
    # a client that stops after the first chunk: the generator is closed, its transaction ends
    pool = model.meta.engine.pool
    chunks = export_stream.csv_chunks(export_stream.row_batches(model.meta.engine, access, jdd["id"], {}, batch=2))
    next(chunks)
    next(chunks)
    assert pool.checkedout() >= 1
    chunks.close()
    with model.meta.engine.connect() as conn:
        idle = conn.execute(
            sa.text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND state = 'idle in transaction' AND query LIKE '%ST_AsGeoJSON(q.out_geom, 7)%'"
            )
        ).scalar()
    assert idle == 0


def test_the_summaries_computed_before_any_visit_are_those_of_the_live_rights_decision(world):  # noqa: F811
    jdd = world["public"]
    anon = sinp_access.access_for({"user": None}, [jdd["id"]])
    full = store.Access(full=True)
    with model.meta.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM sinp_occurrence_summary WHERE package_id = :p"), {"p": jdd["id"]})
        assert aggregates.precompute(conn, jdd["id"]) == [aggregates.PUBLIC, aggregates.FULL]
    with model.meta.engine.connect() as conn:
        stored = dict(
            conn.execute(
                sa.text("SELECT viewer, computed_at FROM sinp_occurrence_summary WHERE package_id = :p"),
                {"p": jdd["id"]},
            ).all()
        )
        assert set(stored) == {aggregates.PUBLIC, aggregates.FULL}
        for access in (anon, full):
            payload = aggregates.summary(conn, access, jdd["id"])
            assert payload["stats"] == store.occurrence_stats(conn, access, jdd["id"])
            assert payload["cells"] == aggregates.cells(conn, access, jdd["id"])
        # read, not computed again: the stored rows are untouched by the views
        again = dict(
            conn.execute(
                sa.text("SELECT viewer, computed_at FROM sinp_occurrence_summary WHERE package_id = :p"),
                {"p": jdd["id"]},
            ).all()
        )
        assert again == stored
    # a JDD without occurrence: nothing to store
    with model.meta.engine.begin() as conn:
        assert aggregates.precompute(conn, "no-such-jdd") == []
