"""HABREF and geographic referentials in a real PostgreSQL + PostGIS: atomic loads, idempotence, QC export.

Runs on its own scratch database ``sinp_geo_scratch`` (created with PostGIS for
this module, dropped afterwards), reached over TCP by a scratch role with a
random password; the shared databases (ckan, ckan_test, sinp_bench) are never
used. Creating them needs the PostgreSQL superuser: the OS user ``postgres``
(through ``su`` when the tests run as root). If PostgreSQL cannot be reached the
module fails, it does not skip.
"""

from __future__ import annotations

import dataclasses
import getpass
import os
import secrets
import shlex
import subprocess
import threading
import time

import numpy as np
import pytest
import shapely
import sqlalchemy as sa
from click.testing import CliRunner
from sqlalchemy.pool import NullPool

from ckanext.sinp import cli_referentials
from ckanext.sinp.referentials import geo, geo_store
from ckanext.sinp.referentials import taxref_store as store
from ckanext.sinp.referentials.geo_store import (
    COMMUNE_SPEC,
    DEPARTEMENT_SPEC,
    HABREF_SPEC,
    MAILLE_SPEC,
    SHIPPED_FILES,
    SPECS,
    GeoStoreError,
)
from ckanext.sinp.referentials.tabular import ReferentialFormatError
from tests.conftest import ROOT

SCRATCH = "sinp_geo_scratch"
HOST, PORT = "127.0.0.1", 5432
REFS = ROOT / "schemas" / "referentiels"
FILES = {name: REFS / relative for name, relative in SHIPPED_FILES.items()}
COUNTS = {
    "habref": 46,
    "communes": 34879,  # every commune actuelle of the COG 2026 (communes/generate.py)
    "departements": 8,
    "mailles": len(geo.read_mailles(FILES["mailles"]).records),
    "territoire": 1,
}
SPEC_BY_NAME = {spec.name: spec for spec in SPECS}
# the referentials of which the project ships a file (IGN's outlines are not shipped: test_geo_load loads
# synthetic ones)
LOADERS = {name: loader for name, loader in geo_store.LOADERS.items() if name in FILES}


class Interrupted(Exception):
    pass


# -- scratch database ----------------------------------------------------------------------
def _psql(sql: str, database: str = "postgres") -> None:
    """Run SQL as the PostgreSQL superuser through the unix socket (peer authentication)."""
    command = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", database, "-c", sql]
    if os.geteuid() == 0:
        command = ["su", "postgres", "-c", shlex.join(command)]
    elif getpass.getuser() != "postgres":
        raise RuntimeError("these tests create a scratch database: run them as root or as the postgres user")
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"psql failed ({done.returncode}) on {sql!r}: {done.stderr.strip()}")


def _drop_scratch() -> None:
    _psql(f"DROP DATABASE IF EXISTS {SCRATCH} WITH (FORCE)")
    _psql(f"DROP ROLE IF EXISTS {SCRATCH}")


def _engine(password: str, **connect_args) -> sa.Engine:
    url = sa.URL.create(
        "postgresql+psycopg2", username=SCRATCH, password=password, host=HOST, port=PORT, database=SCRATCH
    )
    return sa.create_engine(url, poolclass=NullPool, connect_args=connect_args)


@pytest.fixture(scope="module")
def scratch():
    """(engine, password) of a fresh PostGIS database owned by postgres, writable by a scratch role."""
    password = secrets.token_hex(16)
    _drop_scratch()
    _psql(f"CREATE ROLE {SCRATCH} LOGIN PASSWORD '{password}'")
    _psql(f"CREATE DATABASE {SCRATCH} OWNER postgres")
    _psql(
        f"CREATE EXTENSION postgis; GRANT USAGE, CREATE ON SCHEMA public TO {SCRATCH};"
        f" CREATE SCHEMA vide AUTHORIZATION {SCRATCH};",
        database=SCRATCH,
    )
    engine = _engine(password)
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT current_user")).scalar_one() == SCRATCH
        yield engine, password
    finally:
        engine.dispose()
        _drop_scratch()


@pytest.fixture(scope="module")
def engine(scratch):
    return scratch[0]


@pytest.fixture(scope="module")
def loaded(engine):
    """Every shipped extract loaded once (TAXREF included), as the module's reference state."""
    results = {name: LOADERS[name](engine, FILES[name]) for name in LOADERS}
    results["taxref"] = store.load_taxref(engine, FILES["taxref"], "extrait-BFC-v18")
    return results


def _content(conn, spec) -> list:
    return list(
        conn.execute(sa.text(f"SELECT row_to_json(t)::text FROM {spec.table} t ORDER BY {spec.primary_key}")).scalars()
    )


def _state(engine, spec) -> tuple:
    """(table oid, rows, version row): everything a load may change."""
    with engine.connect() as conn:
        oid = conn.execute(sa.text(f"SELECT '{spec.table}'::regclass::oid")).scalar_one()
        return oid, _content(conn, spec), store.get_referential_version(conn, spec.name)


def _assert_unchanged(engine, spec, before) -> None:
    assert _state(engine, spec) == before
    assert not sa.inspect(engine).has_table(spec.staging)


def _reload_shipped(engine, name: str) -> None:
    LOADERS[name](engine, FILES[name])
    with engine.connect() as conn:
        assert conn.execute(sa.text(f"SELECT count(*) FROM {SPEC_BY_NAME[name].table}")).scalar_one() == COUNTS[name]


# -- tables ---------------------------------------------------------------------------------
def test_ensure_tables_creates_every_table_idempotently(engine):
    geo_store.ensure_tables(engine)
    geo_store.ensure_tables(engine)
    inspector = sa.inspect(engine)
    for spec in SPECS:
        assert inspector.has_table(spec.table), spec.table
        assert inspector.get_pk_constraint(spec.table)["name"] == f"{spec.table}_pkey"
        assert {i["name"] for i in inspector.get_indexes(spec.table)} >= {name for name, _, _ in spec.indexes}
    assert inspector.has_table("sinp_referential_version")
    with engine.connect() as conn:
        srids = conn.execute(
            sa.text(
                "SELECT f_table_name, f_geometry_column, srid, type FROM geometry_columns"
                " WHERE f_table_name IN ('sinp_maille10', 'sinp_territoire') ORDER BY 1, 2"
            )
        ).all()
    assert srids == [
        ("sinp_maille10", "geom_2154", 2154, "POLYGON"),
        ("sinp_maille10", "geom_4326", 4326, "POLYGON"),
        ("sinp_territoire", "geom", 4326, "MULTIPOLYGON"),
    ]


def test_without_postgis_the_geometry_tables_are_refused_in_french(engine, monkeypatch):
    monkeypatch.setattr(geo_store, "has_postgis", lambda conn: False)
    with pytest.raises(GeoStoreError) as info:
        geo_store.ensure_tables(engine)
    assert str(info.value) == (
        f"L'extension PostGIS n'est pas installée dans la base « {SCRATCH} » : un"
        " superutilisateur doit exécuter « CREATE EXTENSION postgis; » avant de créer la"
        " table sinp_maille10."
    )
    geo_store.ensure_tables(engine, geometry=False)  # the other tables do not need PostGIS


# -- loading ---------------------------------------------------------------------------------
def test_the_shipped_extracts_load(engine, loaded):
    for name in LOADERS:
        result = loaded[name]
        assert result.loaded is True and result.name == name and result.row_count == COUNTS[name], name
        spec = SPEC_BY_NAME[name]
        oid, rows, version = _state(engine, spec)
        assert len(rows) == COUNTS[name]
        assert version["version"] == result.version and version["row_count"] == COUNTS[name]
        assert version["sha256"] == store.file_sha256(FILES[name]) and version["source_file"] == FILES[name].name
        assert version["source_format"] == result.source_format
        assert not sa.inspect(engine).has_table(spec.staging)
    assert loaded["habref"].version == "HABREF 5.0"
    assert loaded["habref"].source_format == "HABREF (séparateur « ; », UTF-8, typologies de la table livrée)"
    assert loaded["communes"].source_format == "CSV simple, sans filtre régional (séparateur « ; », UTF-8)"
    assert loaded["territoire"].source_format == "GeoJSON WGS 84 (76 sommets)"


def test_habref_rows_and_typology_acronyms(engine, loaded):
    with engine.connect() as conn:
        row = conn.execute(sa.text("SELECT * FROM sinp_habref WHERE cd_typo = 8 AND lb_code = '91E0'")).mappings().one()
        acronyms = dict(conn.execute(sa.text("SELECT cd_typo, min(typo_acronyme) FROM sinp_habref GROUP BY 1")).all())
    assert row["lb_hab_fr"].startswith("Forêts alluviales à Alnus glutinosa") and row["typo_acronyme"] == "HIC"
    assert row["lb_description"] == "Habitat prioritaire ; aulnaies-frênaies des bords de cours d'eau et des sources."
    assert (row["niveau"], row["cd_hab_sup"], row["fg_validite"]) == (3, 2091, "V")
    assert acronyms == {7: "EUNIS", 8: "HIC", 22: "CORINEBIOTOPES"}


def test_geometries(engine, loaded):
    with engine.connect() as conn:
        maille = conn.execute(
            sa.text(
                "SELECT ST_SRID(geom_2154), ST_SRID(geom_4326), ST_Area(geom_2154), ST_AsText(geom_2154)"
                " FROM sinp_maille10 WHERE cd_sig = '10kmL93E085N669'"
            )
        ).one()
        assert maille == (
            2154,
            4326,
            1e8,
            "POLYGON((850000 6690000,860000 6690000,860000 6700000,850000 6700000,850000 6690000))",
        )
        outside = conn.execute(
            sa.text(
                "SELECT count(*) FROM sinp_maille10 m, sinp_territoire t WHERE NOT ST_Intersects(m.geom_4326, t.geom)"
                " OR m.geom_4326 IS NULL"
            )
        ).scalar_one()
        assert outside == 0
        territory = conn.execute(
            sa.text(
                "SELECT nom, ST_IsValid(geom), ST_SRID(geom), ST_Contains(geom, ST_SetSRID(ST_MakePoint(5.0415, 47.3220),"
                " 4326)), ST_Contains(geom, ST_SetSRID(ST_MakePoint(4.835, 45.76), 4326)),"
                " ST_Area(ST_Transform(geom, 2154)) / 1e6 FROM sinp_territoire"
            )
        ).one()
        assert territory[:5] == ("Bourgogne-Franche-Comté", True, 4326, True, False)
        assert 46_000 < territory[5] < 50_000
        dijon = conn.execute(
            sa.text(
                "SELECT m.cd_sig FROM sinp_maille10 m"
                " WHERE ST_Contains(m.geom_2154, ST_Transform(ST_SetSRID(ST_MakePoint(5.0415, 47.3220), 4326), 2154))"
            )
        ).scalar_one()
        assert dijon == geo.cell_for_wgs84(5.0415, 47.3220).cd_sig


@pytest.mark.parametrize("name", list(LOADERS))
def test_loading_the_same_file_again_changes_nothing(engine, loaded, name):
    spec = SPEC_BY_NAME[name]
    before = _state(engine, spec)
    result = LOADERS[name](engine, FILES[name])
    assert result.loaded is False and result.row_count == COUNTS[name]
    _assert_unchanged(engine, spec, before)  # same table (oid), rows and version row (loaded_at included)


@pytest.mark.parametrize("name", list(LOADERS))
def test_a_forced_reload_gives_the_same_content(engine, loaded, name):
    spec = SPEC_BY_NAME[name]
    oid, rows, version = _state(engine, spec)
    result = LOADERS[name](engine, FILES[name], force=True)
    assert result.loaded is True
    new_oid, new_rows, new_version = _state(engine, spec)
    assert new_oid != oid and new_rows == rows
    assert {k: v for k, v in new_version.items() if k != "loaded_at"} == {
        k: v for k, v in version.items() if k != "loaded_at"
    }


def test_a_new_version_label_alone_is_recorded_without_reloading(engine, loaded):
    before = _state(engine, DEPARTEMENT_SPEC)
    try:
        result = geo_store.load_departements(engine, FILES["departements"], "COG 2025")
        assert result.loaded is False and result.version == "COG 2025"
        oid, rows, version = _state(engine, DEPARTEMENT_SPEC)
        assert (oid, rows) == before[:2] and version["version"] == "COG 2025"
    finally:
        geo_store.load_departements(engine, FILES["departements"], before[2]["version"])
    assert _state(engine, DEPARTEMENT_SPEC) == before


def test_a_changed_habref_file_replaces_the_referential(engine, loaded, tmp_path):
    text = FILES["habref"].read_text(encoding="utf-8")
    text = text.replace(";Hêtraies neutrophiles;", ";Hêtraies à Aspérule;", 1)
    variant = tmp_path / "HABREF_70.csv"
    variant.write_text(text + "99001;V;22;41.131;Hêtraies sur calcaire;;;;5;Niveau 5;14413;;true;\n", encoding="utf-8")
    old_oid = _state(engine, HABREF_SPEC)[0]
    progress = []
    try:
        result = geo_store.load_habref(engine, variant, progress=progress.append)
        assert result.loaded is True and result.row_count == 47 and result.version == "HABREF 7.0"
        assert progress[-1] == 47
        with engine.connect() as conn:
            names = dict(
                conn.execute(sa.text("SELECT cd_hab, lb_hab_fr FROM sinp_habref WHERE cd_hab IN (14413, 99001)")).all()
            )
        assert names == {14413: "Hêtraies à Aspérule", 99001: "Hêtraies sur calcaire"}
        assert _state(engine, HABREF_SPEC)[0] != old_oid
    finally:
        _reload_shipped(engine, "habref")


def _cog_file(tmp_path):
    columns = ("TYPECOM", "COM", "REG", "DEP", "CTCD", "ARR", "TNCC", "NCC", "NCCENR", "LIBELLE", "CAN", "COMPARENT")
    rows = [
        ("COM", "21231", "27", "21", "Dijon"),
        ("COMD", "21183", "", "21", "Déléguée"),
        ("COM", "69123", "84", "69", "Lyon"),
        ("COM", "90010", "27", "90", "Belfort"),
        ("COM", "2A004", "94", "2A", "Ajaccio"),
    ]
    lines = [",".join(columns)] + [f"{t},{c},{r},{d},,,0,{n.upper()},{n},{n},," for t, c, r, d, n in rows]
    path = tmp_path / "v_commune_2024.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_cog_communes_are_filtered_and_another_region_reloads(engine, loaded, tmp_path):
    path = _cog_file(tmp_path)
    try:
        result = geo_store.load_communes(engine, path)
        assert (result.loaded, result.row_count, result.skipped, result.version) == (True, 2, 3, "COG 2024")
        assert result.source_format == "COG INSEE, région 27 (séparateur « , », UTF-8)"
        assert geo_store.load_communes(engine, path).loaded is False
        everything = geo_store.load_communes(engine, path, region=None)  # same file, other option: reloaded
        assert everything.loaded is True and everything.row_count == 4
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT code, nom, departement, region FROM sinp_commune ORDER BY code")).all()
        assert rows == [
            ("21231", "Dijon", "21", "27"),
            ("2A004", "Ajaccio", "2A", "94"),
            ("69123", "Lyon", "69", "84"),
            ("90010", "Belfort", "90", "27"),
        ]
    finally:
        _reload_shipped(engine, "communes")


def test_mailles_without_wkt_have_no_geometry(engine, loaded, tmp_path):
    path = tmp_path / "mailles.csv"
    path.write_text("CD_SIG;CODE_10KM\n10kmL93E085N669;E085N669\n10kmL93E074N695;E074N695\n", encoding="utf-8")
    try:
        result = geo_store.load_mailles(engine, path)
        assert result.loaded and result.source_format == "grille INPN 10 km L93 (séparateur « ; », UTF-8)"
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text("SELECT cd_sig, geom_2154 IS NULL, geom_4326 IS NULL FROM sinp_maille10 ORDER BY 1")
            ).all()
        assert rows == [("10kmL93E074N695", True, True), ("10kmL93E085N669", True, True)]
    finally:
        _reload_shipped(engine, "mailles")


# -- failures leave the previous content --------------------------------------------------------------
BAD_FILES = {
    "habref": (
        "HABREF_50.csv",
        lambda text: text + "abc;V;22;1;x;;;;;;;;;\n",
        "ligne 48, colonne CD_HAB : CD_HAB « abc » n'est pas un nombre entier.",
    ),
    "communes": (
        "communes.csv",
        lambda text: text + "2123;Court;21\n",
        f"ligne {COUNTS['communes'] + 2}, colonne CODE : « 2123 » n'est pas un code commune INSEE valide.",
    ),
    "departements": (
        "departements.csv",
        lambda text: text + "21;Côte-d'Or;27;21231\n",
        "ligne 10, colonne CODE : code 21 en double (déjà présent ligne 2).",
    ),
    "mailles": (
        "mailles.csv",
        lambda text: text + "10kmL93E001N001;E001N001;" + geo.GridCell(1, 2).wkt + "\n",
        "colonne WKT : la géométrie (emprise 10000, 20000, 20000, 30000)",
    ),
    "territoire": (
        "territoire.geojson",
        lambda text: text.replace("[2.97, 48.08]", "[7.5, 46.0]", 1),
        "contour invalide (Self-intersection",
    ),
}


@pytest.mark.parametrize("name", list(BAD_FILES))
def test_a_bad_file_keeps_the_previous_referential(engine, loaded, tmp_path, name):
    file_name, change, message = BAD_FILES[name]
    spec = SPEC_BY_NAME[name]
    before = _state(engine, spec)
    path = tmp_path / file_name
    path.write_text(change(FILES[name].read_text(encoding="utf-8")), encoding="utf-8")
    with pytest.raises(ReferentialFormatError) as info:
        LOADERS[name](engine, path)
    assert str(info.value).startswith(f"Fichier {file_name}") and message in str(info.value)
    _assert_unchanged(engine, spec, before)


def _many_communes(tmp_path, count: int):
    lines = ["code;nom;departement"]
    for n in range(count):
        departement = f"{1 + n // 999:02d}"
        lines.append(f"{departement}{1 + n % 999:03d};Commune {n};{departement}")
    path = tmp_path / "communes_nombreuses.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_an_interruption_during_the_copy_keeps_the_previous_referential(engine, loaded, tmp_path):
    before = _state(engine, COMMUNE_SPEC)
    seen = []

    def progress(rows):
        seen.append(rows)
        if rows >= 2000:
            raise Interrupted("arrêt demandé")

    with pytest.raises(Interrupted):
        geo_store.load_communes(engine, _many_communes(tmp_path, 5000), progress=progress)
    assert seen == [1000, 2000]
    _assert_unchanged(engine, COMMUNE_SPEC, before)


def test_a_database_error_before_the_swap_keeps_the_previous_referential(engine, loaded, tmp_path, monkeypatch):
    before = _state(engine, COMMUNE_SPEC)
    broken = dataclasses.replace(COMMUNE_SPEC, indexes=(("ix_sinp_commune_bad", "(colonne_inexistante)", False),))
    monkeypatch.setattr(geo_store, "COMMUNE_SPEC", broken)
    with pytest.raises(sa.exc.ProgrammingError, match="colonne_inexistante"):
        geo_store.load_communes(engine, _many_communes(tmp_path, 10))
    _assert_unchanged(engine, COMMUNE_SPEC, before)


def test_reads_are_not_blocked_during_a_load(engine, loaded, tmp_path):
    """The live table is only locked by the final swap: a query during the COPY answers at once."""
    answered = []

    def progress(rows):
        if not answered:
            with engine.connect() as conn:
                conn.execute(sa.text("SET statement_timeout = '5s'"))
                started = time.monotonic()
                answered.append(
                    (
                        conn.execute(sa.text("SELECT count(*) FROM sinp_commune")).scalar_one(),
                        time.monotonic() - started,
                    )
                )
            raise Interrupted("fin du test")

    with pytest.raises(Interrupted):
        geo_store.load_communes(engine, _many_communes(tmp_path, 3000), progress=progress)
    assert answered[0][0] == COUNTS["communes"] and answered[0][1] < 5


def test_concurrent_loads_of_a_referential_are_serialised(engine, loaded):
    """A second load waits for the advisory lock of the first one, then finds the file already loaded."""
    results = []
    with engine.connect() as holder:
        with holder.begin():
            holder.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": geo_store._lock_key("departements")})
            worker = threading.Thread(
                target=lambda: results.append(geo_store.load_departements(engine, FILES["departements"]))
            )
            worker.start()
            worker.join(1.0)
            assert worker.is_alive() and results == []  # waiting for the lock
    worker.join(30)
    assert not worker.is_alive() and results[0].loaded is False


def test_postgis_missing_refuses_a_geometry_load_and_changes_nothing(engine, loaded, monkeypatch):
    before = _state(engine, MAILLE_SPEC)
    monkeypatch.setattr(geo_store, "has_postgis", lambda conn: False)
    with pytest.raises(GeoStoreError, match="CREATE EXTENSION postgis"):
        geo_store.load_mailles(engine, FILES["mailles"], force=True)
    _assert_unchanged(engine, MAILLE_SPEC, before)


# -- what the QC reads -------------------------------------------------------------------------------
def test_qc_referentials_match_the_shipped_files(engine, loaded):
    from_db = geo_store.qc_referentials(engine)
    from_files = geo_store.referentials_from_files(ROOT / "schemas")
    assert set(from_db) == set(from_files)
    for key in ("cd_nom", "cd_hab"):
        assert from_db[key].dtype == np.int64 and np.array_equal(from_db[key], from_files[key]), key
    for key in ("communes", "departements", "mailles", "habitat_codes"):
        assert from_db[key] == from_files[key], key
    assert shapely.from_wkt(from_db["territory_wkt"]).equals(shapely.from_wkt(from_files["territory_wkt"]))
    assert from_db["versions"] == {
        "taxref": "extrait-BFC-v18",
        "habref": "HABREF 5.0",
        "communes": "communes_france",
        "departements": "departements_bfc",
        "mailles": "mailles10km_bfc",
        "territoire": "bourgogne-franche-comte",
    }
    assert 60612 in from_db["cd_nom"] and "21231" in from_db["communes"] and "10kmL93E085N669" in from_db["mailles"]


def test_qc_referentials_of_an_empty_database(scratch):
    _, password = scratch
    empty = _engine(password, options="-c search_path=vide")
    try:
        refs = geo_store.qc_referentials(empty)
    finally:
        empty.dispose()
    assert refs["cd_nom"].dtype == np.int64 and refs["cd_nom"].size == 0 and refs["cd_hab"].size == 0
    assert (refs["communes"], refs["departements"], refs["mailles"], refs["territory_wkt"], refs["habitat_codes"]) == (
        [],
        [],
        [],
        None,
        {},
    )
    assert refs["versions"] == dict.fromkeys(geo_store.REFERENTIAL_NAMES)


# -- command line ---------------------------------------------------------------------------------------
def test_cli_commands(engine, loaded, monkeypatch, tmp_path):
    monkeypatch.setattr(cli_referentials, "get_engine", lambda: engine)
    runner = CliRunner()
    again = runner.invoke(cli_referentials.habref_load, [str(FILES["habref"])])
    assert again.exit_code == 0, again.output
    assert "Ce fichier est déjà chargé (46 habitats, version HABREF 5.0) : rien à faire." in again.output

    bad = tmp_path / "communes.csv"
    bad.write_text("code;nom;departement\n2123;Court;21\n", encoding="utf-8")
    before = _state(engine, COMMUNE_SPEC)
    refused = runner.invoke(cli_referentials.geo_load, ["communes", str(bad)])
    assert refused.exit_code == 1
    assert (
        "Fichier refusé : Fichier communes.csv, ligne 2, colonne CODE : « 2123 » n'est pas un code commune"
        " INSEE valide."
    ) in refused.output
    _assert_unchanged(engine, COMMUNE_SPEC, before)

    try:
        forced = runner.invoke(
            cli_referentials.geo_load,
            ["departements", str(FILES["departements"]), "--force", "--version-label", "départements BFC"],
        )
        assert forced.exit_code == 0, forced.output
        assert "8 départements chargés (départements BFC) en" in forced.output
        cog = runner.invoke(cli_referentials.geo_load, ["communes", str(_cog_file(tmp_path)), "--region", "toutes"])
        assert cog.exit_code == 0, cog.output
        assert "4 communes chargées (COG 2024) en" in cog.output
        assert "1 ligne(s) du fichier écartée(s) (autre région ou autre type)" in cog.output
    finally:
        _reload_shipped(engine, "communes")
        geo_store.load_departements(engine, FILES["departements"], force=True)
