"""TAXREF in the real PostgreSQL test database: loading (idempotent, atomic), search, hierarchy.

Runs on CKAN's test database engine (``ckan.model.meta.engine``, database
``ckan_test``). The tables are dropped at the end of the module (re-created
empty if they existed before).
"""

from __future__ import annotations

import time

import ckan.model as model
import pytest
import sqlalchemy as sa

from ckanext.sinp.referentials import taxref_store as store
from ckanext.sinp.referentials.taxref import V17_COLUMNS, V18_COLUMNS, TaxrefFormatError, iter_taxref
from tests.conftest import ROOT

EXTRACT = ROOT / "schemas" / "referentiels" / "taxref" / "TAXREFv18_extrait_BFC.txt"
EXTRACT_ROWS = sum(1 for _ in iter_taxref(EXTRACT))
TABLES = ("sinp_taxref_staging", "sinp_taxref")


class Interrupted(Exception):
    pass


@pytest.fixture(scope="module")
def engine():
    return model.meta.engine


@pytest.fixture(scope="module")
def taxref_db(engine):
    """The extract loaded once for the module; the database is put back as it was afterwards.

    `make up` loads the shipped extract into the test database (``ckan sinp taxref-load``):
    that state is restored (same rows, same version row). Tables this module created are
    dropped; any other referential that was loaded is replaced by empty tables.
    """
    inspector = sa.inspect(engine)
    had_taxref = inspector.has_table("sinp_taxref")
    had_versions = inspector.has_table("sinp_referential_version")
    saved_version = None
    if had_versions:
        with engine.connect() as conn:
            saved_version = store.get_referential_version(conn)
    result = store.load_taxref(engine, EXTRACT, "extrait-BFC-v18", force=True)
    yield result
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE IF EXISTS sinp_taxref_staging"))
    if had_taxref and saved_version and saved_version["sha256"] == store.file_sha256(EXTRACT):
        store.load_taxref(engine, EXTRACT, saved_version["version"], force=True)
        with engine.begin() as conn:
            conn.execute(
                store.VERSION_TABLE.update().where(store.VERSION_TABLE.c.name == "taxref").values(**saved_version)
            )
        return
    with engine.begin() as conn:
        for table in TABLES:
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {table}"))
        if had_versions:
            conn.execute(store.VERSION_TABLE.delete().where(store.VERSION_TABLE.c.name == "taxref"))
        else:
            conn.execute(sa.text("DROP TABLE IF EXISTS sinp_referential_version"))
    if had_taxref:
        store.ensure_tables(engine)


@pytest.fixture
def conn(engine, taxref_db):
    with engine.connect() as connection:
        yield connection


def _state(engine):
    """(table oid, row count, version row) — what a load may change."""
    with engine.connect() as conn:
        oid = conn.execute(sa.text("SELECT 'sinp_taxref'::regclass::oid")).scalar_one()
        count = conn.execute(sa.text("SELECT count(*) FROM sinp_taxref")).scalar_one()
        return oid, count, store.get_referential_version(conn)


def _write_variant(path, change_line=None, extra_lines=()):
    lines = EXTRACT.read_bytes().decode("utf-8").split("\r\n")[:-1]
    if change_line:
        lines = [change_line(line) for line in lines]
    lines += list(extra_lines)
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("utf-8"))
    return path


def _synthetic_line(cd_nom):
    row = dict.fromkeys(V18_COLUMNS, "")
    row.update(
        REGNE="Animalia",
        CD_NOM=str(cd_nom),
        CD_REF=str(cd_nom),
        CD_SUP="195005",
        CD_TAXSUP="195005",
        RANG="ES",
        LB_NOM=f"Myotis synthetica{cd_nom}",
        LB_AUTEUR="Test, 2026",
        NOM_COMPLET=f"Myotis synthetica{cd_nom} Test, 2026",
        NOM_VERN=f"Murin de test {cd_nom}",
    )
    return "\t".join(row[c] for c in V18_COLUMNS)


# -- loading ---------------------------------------------------------------------
def test_extract_loads(engine, taxref_db):
    assert taxref_db.loaded is True
    assert taxref_db.row_count == EXTRACT_ROWS >= 150
    assert taxref_db.source_format == "TAXREF v18"
    assert (taxref_db.missing_cd_ref, taxref_db.missing_cd_sup) == (0, 0)
    _, count, version = _state(engine)
    assert count == EXTRACT_ROWS
    assert version["version"] == "extrait-BFC-v18" and version["row_count"] == EXTRACT_ROWS
    assert version["sha256"] == store.file_sha256(EXTRACT) and version["source_file"] == EXTRACT.name
    inspector = sa.inspect(engine)
    assert {i["name"] for i in inspector.get_indexes("sinp_taxref")} >= {
        "ix_sinp_taxref_cd_ref",
        "ix_sinp_taxref_cd_sup",
        "ix_sinp_taxref_nom_norm",
        "ix_sinp_taxref_search_tsv",
    }
    assert inspector.get_pk_constraint("sinp_taxref")["name"] == "sinp_taxref_pkey"
    assert not inspector.has_table("sinp_taxref_staging")


def test_get_taxon(conn):
    lynx = store.get_taxon(conn, 60612)
    assert lynx["lb_nom"] == "Lynx lynx" and lynx["nom_vern"] == "Lynx boréal, Lynx d'Eurasie"
    assert lynx["famille"] == "Felidae" and lynx["group2_inpn"] == "Mammifères" and lynx["fr"] == "P"
    assert lynx["habitat"] == 3 and lynx["is_valid"] is True
    synonym = store.get_taxon(conn, 125)
    assert synonym["is_valid"] is False and synonym["nom_valide"].startswith("Ichthyosaura alpestris")
    assert store.get_taxon(conn, 999999999) is None


def test_loading_the_same_file_again_changes_nothing(engine, taxref_db):
    before = _state(engine)
    result = store.load_taxref(engine, EXTRACT, "extrait-BFC-v18")
    assert result.loaded is False and result.row_count == EXTRACT_ROWS
    assert _state(engine) == before  # same table (oid), rows and version row (loaded_at included)


def test_a_changed_file_replaces_the_referential(engine, taxref_db, tmp_path):
    variant = _write_variant(
        tmp_path / "TAXREFv18.txt",
        change_line=lambda line: line.replace('"Lynx boréal, Lynx d\'Eurasie"', '"Lynx d\'Europe"'),
        extra_lines=[_synthetic_line(-1)],
    )
    old_oid = _state(engine)[0]
    progress = []
    try:
        result = store.load_taxref(engine, variant, "v18-modifie", progress=progress.append)
        assert result.loaded is True and result.row_count == EXTRACT_ROWS + 1
        assert progress[-1] == EXTRACT_ROWS + 1
        oid, count, version = _state(engine)
        assert oid != old_oid and count == EXTRACT_ROWS + 1
        assert version["version"] == "v18-modifie" and version["sha256"] == store.file_sha256(variant)
        with engine.connect() as conn:
            assert store.get_taxon(conn, 60612)["nom_vern"] == "Lynx d'Europe"
            assert [t["cd_nom"] for t in store.search_taxa(conn, "murin de test")] == [-1]
            assert store.search_taxa(conn, "boréal") == []
    finally:
        store.load_taxref(engine, EXTRACT, "extrait-BFC-v18")
    assert _state(engine)[1] == EXTRACT_ROWS
    with engine.connect() as conn:
        assert store.get_taxon(conn, -1) is None


def test_a_v17_file_loads_too(engine, taxref_db, tmp_path):
    keep = [i for i, c in enumerate(V18_COLUMNS) if c in V17_COLUMNS]
    lines = EXTRACT.read_bytes().decode("utf-8").split("\r\n")[:-1]
    v17 = tmp_path / "TAXREFv17.txt"
    v17.write_bytes("".join("\t".join(line.split("\t")[i] for i in keep) + "\n" for line in lines).encode())
    try:
        result = store.load_taxref(engine, v17, "v17-extrait")
        assert result.loaded and result.source_format == "TAXREF v17" and result.row_count == EXTRACT_ROWS
        with engine.connect() as conn:
            lynx = store.get_taxon(conn, 60612)
            assert lynx["url_inpn"] is None and lynx["nom_vern"] == "Lynx boréal, Lynx d'Eurasie"
            assert codes(store.search_taxa(conn, "sonneur a ventre")) == [212]
    finally:
        store.load_taxref(engine, EXTRACT, "extrait-BFC-v18")


def _assert_unchanged(engine, before):
    assert _state(engine) == before
    assert not sa.inspect(engine).has_table("sinp_taxref_staging")
    with engine.connect() as conn:
        assert store.get_taxon(conn, 60612)["nom_vern"] == "Lynx boréal, Lynx d'Eurasie"


def test_a_bad_line_keeps_the_old_referential(engine, taxref_db, tmp_path):
    before = _state(engine)
    variant = _write_variant(tmp_path / "TAXREFv18.txt", extra_lines=[_synthetic_line(-1), "Animalia\tpas assez"])
    with pytest.raises(TaxrefFormatError) as info:
        store.load_taxref(engine, variant, "v18-casse")
    assert str(info.value) == f"Ligne {EXTRACT_ROWS + 3} : 2 champs au lieu des 44 de l'en-tête."
    _assert_unchanged(engine, before)


def test_a_duplicate_cd_nom_keeps_the_old_referential(engine, taxref_db, tmp_path):
    before = _state(engine)
    variant = _write_variant(tmp_path / "TAXREFv18.txt", extra_lines=[_synthetic_line(60612)])
    with pytest.raises(TaxrefFormatError, match=rf"^Ligne {EXTRACT_ROWS + 2} : CD_NOM 60612 en double"):
        store.load_taxref(engine, variant, "v18-double")
    _assert_unchanged(engine, before)


def test_an_interruption_during_the_copy_keeps_the_old_referential(engine, taxref_db, tmp_path):
    """25 000 rows; the progress callback stops the load after 10 000 rows were sent by COPY."""
    before = _state(engine)
    variant = _write_variant(tmp_path / "TAXREFv18.txt", extra_lines=[_synthetic_line(-n) for n in range(1, 25001)])
    seen = []

    def progress(rows):
        seen.append(rows)
        if rows >= 10000:
            raise Interrupted("arrêt demandé")

    with pytest.raises(Interrupted):
        store.load_taxref(engine, variant, "v18-interrompu", progress=progress)
    assert seen == [10000]
    _assert_unchanged(engine, before)


def test_a_database_error_before_the_swap_keeps_the_old_referential(engine, taxref_db, tmp_path, monkeypatch):
    before = _state(engine)
    variant = _write_variant(tmp_path / "TAXREFv18.txt", extra_lines=[_synthetic_line(-1)])
    monkeypatch.setitem(store._INDEXES, "ix_sinp_taxref_bad", "(colonne_inexistante)")
    with pytest.raises(sa.exc.ProgrammingError, match="colonne_inexistante"):
        store.load_taxref(engine, variant, "v18-erreur-sql")
    _assert_unchanged(engine, before)


def test_searches_keep_working_during_a_load(engine, taxref_db, tmp_path):
    """The live table is only locked by the final swap: a search during the COPY answers at once."""
    import threading

    variant = _write_variant(tmp_path / "TAXREFv18.txt", extra_lines=[_synthetic_line(-n) for n in range(1, 25001)])
    answered = []
    stop = threading.Event()

    def progress(rows):
        if rows == 10000 and not answered:

            def search():
                with engine.connect() as conn:
                    started = time.monotonic()
                    answered.append((store.search_taxa(conn, "lynx")[0]["cd_nom"], time.monotonic() - started))
                stop.set()

            threading.Thread(target=search).start()
            stop.wait(10)
            raise Interrupted("fin du test")

    with pytest.raises(Interrupted):
        store.load_taxref(engine, variant, "v18-concurrent", progress=progress)
    assert answered and answered[0][0] == 194728 and answered[0][1] < 5  # genus Lynx first


# -- search ----------------------------------------------------------------------
def codes(results):
    return [r["cd_nom"] for r in results]


@pytest.mark.parametrize("query", ["Sonneur à ventre jaune", "sonneur a ventre", "SONNEUR À VENTRE", "ventre jau"])
def test_search_vernacular_accent_and_case_insensitive(conn, query):
    assert codes(store.search_taxa(conn, query))[0] == 212


@pytest.mark.parametrize("query", ["Grand-duc", "grand duc", "GRAND-DUC D'EUROPE", "duc"])
def test_search_hyphen_and_apostrophe(conn, query):
    assert 3493 in codes(store.search_taxa(conn, query))


def test_search_accented_query_against_accented_name(conn):
    assert codes(store.search_taxa(conn, "écureuil")) == [61153]
    assert codes(store.search_taxa(conn, "ecureuil")) == [61153]
    assert codes(store.search_taxa(conn, "chevêche"))[:2] == [3511, 3507]  # Chevêche d'Athéna, Chevêchette


def test_search_by_genus_prefix(conn):
    results = store.search_taxa(conn, "myot", limit=50)
    assert results[0]["cd_nom"] == 195005 and results[0]["rang"] == "GN"
    species = results[1:]
    assert len(species) == 9 and all(r["lb_nom"].startswith("Myotis ") for r in species)
    assert set(results[0]) >= {
        "cd_nom",
        "cd_ref",
        "nom_complet",
        "nom_valide",
        "nom_vern",
        "rang",
        "group2_inpn",
        "is_valid",
    }


def test_search_prefix_of_any_word(conn):
    assert codes(store.search_taxa(conn, "ferrum")) == [60295]
    assert codes(store.search_taxa(conn, "grand rhino")) == [60295]
    assert codes(store.search_taxa(conn, "rhinolophe petit")) == [60313]


def test_search_by_cd_nom(conn):
    [lynx] = store.search_taxa(conn, "60612")
    assert lynx["lb_nom"] == "Lynx lynx" and lynx["is_valid"] is True
    assert store.search_taxa(conn, " 125 ")[0]["is_valid"] is False
    assert store.search_taxa(conn, "4242424242") == [] and store.search_taxa(conn, "31") == []
    # digits that are not ASCII (a superscript, Arabic-Indic, full-width) are no code: no match, no error
    for q in ("²", "٦٠٦١٢", "６０６１２", "-²"):
        assert store.search_taxa(conn, q) == [], q


def test_synonyms_come_after_valid_names(conn):
    results = store.search_taxa(conn, "triturus")
    valid = [r["is_valid"] for r in results]
    assert valid == sorted(valid, reverse=True) and False in valid and True in valid
    assert codes(results)[:2] == [198221, 139]  # genus, then Triturus cristatus
    assert set(codes(results)) >= {125, 154}  # Triturus alpestris, T. helveticus (synonyms)
    alpestris = store.search_taxa(conn, "alpestris")
    assert codes(alpestris) == [444430, 125]
    assert codes(store.search_taxa(conn, "triturus", valid_only=True)) == [198221, 139]


def test_exact_name_before_longer_names(conn):
    assert codes(store.search_taxa(conn, "lynx")) == [194728, 60612]  # genus Lynx, then Lynx lynx
    assert codes(store.search_taxa(conn, "orchis"))[0] == 195776


def test_search_filters_and_limits(conn):
    assert all(r["regne"] == "Plantae" for r in store.search_taxa(conn, "orchis", regne="Plantae"))
    assert store.search_taxa(conn, "orchis", regne="Animalia") == []
    assert len(store.search_taxa(conn, "p", limit=5)) == 0  # one letter: nothing
    assert len(store.search_taxa(conn, "pi", limit=5)) == 5
    assert store.search_taxa(conn, "") == [] and store.search_taxa(conn, "  -- ") == []
    assert store.search_taxa(conn, "zzzz") == []


def test_search_latency_on_the_extract(conn):
    started = time.perf_counter()
    for query in ("myot", "grand", "pi", "sonneur", "60612"):
        store.search_taxa(conn, query)
    assert (time.perf_counter() - started) / 5 < 0.2


# -- hierarchy -------------------------------------------------------------------
def test_descendants_of_a_genus(conn):
    myotis = store.descendants(conn, 195005)
    assert len(myotis) == 9 and {d["depth"] for d in myotis} == {1}
    assert all(d["lb_nom"].startswith("Myotis ") for d in myotis)
    assert 60418 in codes(myotis)
    with_self = store.descendants(conn, 195005, include_self=True)
    assert codes(with_self)[0] == 195005 and with_self[0]["depth"] == 0


def test_descendants_of_a_family_include_genera_species_and_synonyms(conn):
    family = store.descendants(conn, 186245)  # Salamandridae
    by_code = {d["cd_nom"]: d for d in family}
    assert by_code[198221]["rang"] == "GN" and by_code[198221]["depth"] == 1  # Triturus
    assert by_code[139]["depth"] == 2  # Triturus cristatus
    assert by_code[125]["is_valid"] is False and by_code[125]["cd_ref"] == 444430  # synonym of a descendant
    assert 125 not in codes(store.descendants(conn, 186245, include_synonyms=False))
    order = store.descendants(conn, 186233)  # Chiroptera: 3 families, 8 genera, 23 species
    assert {d["rang"] for d in order} == {"FM", "GN", "ES"} and len(order) == 34


def test_descendants_from_a_synonym_code_and_unknown_code(conn):
    assert codes(store.descendants(conn, 4586)) == []  # a species: no children
    assert store.descendants(conn, 999999999) == []
    assert codes(store.descendants(conn, 125, include_self=True)) == [444430, 125]


def test_ancestors(conn):
    chain = [a["lb_nom"] for a in store.ancestors(conn, 60418)]
    assert chain == ["Myotis", "Vespertilionidae", "Chiroptera", "Mammalia", "Chordata", "Animalia", "Biota"]
    assert [a["lb_nom"] for a in store.ancestors(conn, 125)][:2] == ["Ichthyosaura", "Salamandridae"]
