"""``store.integrate`` at the store level (#20): one pass over the staging table, the history of the
automatic pre-validation written from the rows inserted, the session settings of the integration
confined to its transaction."""

from __future__ import annotations

import uuid

import ckan.model as model
import pytest
import sqlalchemy as sa

from ckanext.sinp.domain import protection
from ckanext.sinp.occurrences import store

HEADER = (
    "id_sinp_occtax,id_origine,nom_cite,cd_nom,date_debut,date_fin,geom,code_departement,row_number,"
    "resource_id,package_id,owner_org"
)


@pytest.fixture
def deposit(clean_db, tmp_path):
    engine = model.meta.engine
    resource_id, package_id = f"res-{uuid.uuid4()}", f"pkg-{uuid.uuid4()}"
    with engine.begin() as conn:
        store.queue_deposit(conn, resource_id, package_id, owner_org="org-a")
        has_taxref = conn.execute(sa.text("SELECT to_regclass('sinp_taxref') IS NOT NULL")).scalar()
        cd_ref = (
            conn.execute(sa.text("SELECT cd_ref FROM sinp_taxref WHERE cd_nom = 60418")).scalar()
            if has_taxref
            else None
        ) or 60418
        # a validated Myotis myotis of another deposit in the Doubs: the taxon is known there
        conn.execute(
            sa.text(
                "INSERT INTO sinp_occurrence (resource_id, package_id, id_sinp_occtax, cd_nom, cd_ref, dep, niv_val) "
                "VALUES ('res-other', 'pkg-other', :u, 60418, :r, '25', '1')"
            ),
            {"u": str(uuid.uuid4()).upper(), "r": cd_ref},
        )
    known, unknown = str(uuid.uuid4()).upper(), str(uuid.uuid4()).upper()
    accepted = tmp_path / "accepted.csv"
    accepted.write_text(
        HEADER
        + "\n"
        + f"{known},A1,Myotis myotis,60418,2024-05-01,2024-05-01,SRID=4326;POINT(6.02 47.24),25,1,"
        + f"{resource_id},{package_id},org-a\n"
        + f"{unknown},A2,Parus major,3764,2024-05-01,2024-05-01,SRID=4326;POINT(6.02 47.24),25,2,"
        + f"{resource_id},{package_id},org-a\n",
        encoding="utf-8",
    )
    errors = tmp_path / "errors.csv"
    errors.write_text("resource_id,seq,row,column,code,category,blocking,message,value\n", encoding="utf-8")
    return engine, resource_id, package_id, accepted, errors, known, unknown


def _settings(engine):
    with engine.connect() as conn:
        return {name: conn.execute(sa.text(f"SHOW {name}")).scalar() for name in store.INTEGRATION_SETTINGS}


def test_integration_writes_the_rows_and_the_history_of_the_automatic_pre_validation(deposit):
    engine, resource_id, package_id, accepted, errors, known, unknown = deposit
    before = _settings(engine)
    criteria = protection.DEFAULT_AUTO_CRITERIA
    assert store.integrate(engine, resource_id, accepted, errors, {"status": "done"}, criteria, "2") == 2
    with engine.connect() as conn:
        rows = {
            r.id_sinp_occtax: r
            for r in conn.execute(
                sa.text(
                    "SELECT id_sinp_occtax, niv_val, typ_val, ech_val, validateur, comm_val, dep, maille_calc, "
                    "public_layer, date_ctrl IS NOT NULL AS dated FROM sinp_occurrence WHERE resource_id = :r"
                ),
                {"r": resource_id},
            )
        }
        history = conn.execute(
            sa.text(
                "SELECT id_sinp_occtax, package_id, niv_val, typ_val, ech_val, validateur, comm_val, previous_niv_val "
                "FROM sinp_validation ORDER BY id"
            )
        ).all()
    comment = "Critères : " + ", ".join(criteria)
    auto = rows[known]
    assert (auto.niv_val, auto.typ_val, auto.ech_val, auto.validateur, auto.comm_val, auto.dated) == (
        "2",
        "A",
        "2",
        "Validation automatique",
        comment,
        True,
    )
    assert (auto.dep, auto.maille_calc[:8]) == ("25", "10kmL93E")
    pending = rows[unknown]
    assert (pending.niv_val, pending.typ_val, pending.validateur, pending.dated) == ("0", None, None, False)
    # one history row, for the row pre-validated now only
    assert [tuple(h) for h in history] == [(known, package_id, "2", "A", "2", "Validation automatique", comment, "0")]
    # the integration's work_mem and jit were SET LOCAL: the pooled connections keep the server's
    assert _settings(engine) == before


def test_integrating_again_replaces_the_rows_and_adds_no_history_without_criteria(deposit):
    engine, resource_id, package_id, accepted, errors, known, unknown = deposit
    store.integrate(engine, resource_id, accepted, errors, {"status": "done"})
    assert store.integrate(engine, resource_id, accepted, errors, {"status": "done"}) == 2
    with engine.connect() as conn:
        levels = conn.execute(
            sa.text("SELECT niv_val, count(*) FROM sinp_occurrence WHERE resource_id = :r GROUP BY 1"),
            {"r": resource_id},
        ).all()
        assert levels == [("0", 2)]
        assert conn.execute(sa.text("SELECT count(*) FROM sinp_validation")).scalar() == 0
        assert conn.execute(sa.text("SELECT count(*) FROM sinp_occurrence")).scalar() == 3
