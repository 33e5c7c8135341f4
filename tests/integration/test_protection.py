"""Sensitivity, diffusion and blurring, scientific validation by chefs de file, territory service.

Real CKAN (in-process), PostgreSQL/PostGIS, Solr, Redis and a real `ckan jobs worker`; the
sensitivity referential is the default one `make up` loads (schemas/referentiels/sensibilite).
One deposit holds a row per case of the blurring matrix; each test reads it as a given caller.
"""

from __future__ import annotations

import copy
import csv
import datetime as dt
import io
import json
import pathlib
import re
import uuid

import ckan.model as model
import pytest
import sqlalchemy as sa
from ckan.tests import factories
from shapely.geometry import Point, shape

from ckanext.sinp.domain import protection
from ckanext.sinp.occurrences import protection_store
from ckanext.sinp.referentials import taxref_store
from tests.integration.test_occurrence_deposits import upload, wait_report
from tests.integration.test_sinp_records import CA, JDD, Api

ROOT = pathlib.Path(__file__).resolve().parents[2]
DEFAULT_RULES = ROOT / "schemas" / "referentiels" / "sensibilite" / "sensibilite_bfc.csv"
HEADER = (
    "idOrigine;statutObservation;nomCite;cdNom;dateDebut;dateFin;observateur;geometrie;natureObjetGeo;"
    "dSPublique;statutSource;organismeGestionnaireDonnee;codeCommune;occStatutBiologique;"
    "diffusionNiveauPrecision;nomLieu;nomCommune;anneeRefCommune;typeInfoGeoCommune;dEEFloutage"
)
COMMUNES = {"21231": "Dijon", "25056": "Besançon"}
# idOrigine: (name, cd_nom, date, lon, lat, dSPublique, commune, statut bio, diffusion)
CASES = {
    "bat": ("Myotis myotis", 60418, "2024-06-10", 5.0412, 47.3215, "Pu", "21231", "3", ""),
    "old-bat": ("Myotis myotis", 60418, "2000-06-10", 5.0455, 47.3222, "Pu", "21231", "3", ""),
    "wolf": ("Canis lupus", 60577, "2026-03-01", 5.1013, 47.3017, "Pu", "21231", "", ""),
    "stork": ("Ciconia nigra", 2514, "2024-05-01", 6.0212, 47.2418, "Pu", "25056", "3", ""),
    "orchid": ("Cypripedium calceolus", 94041, "2024-06-01", 5.0533, 47.3344, "Pu", "21231", "", ""),
    "kite-pu": ("Milvus milvus", 2844, "2024-04-01", 5.0311, 47.3111, "Pu", "21231", "", ""),
    "kite-pr": ("Milvus milvus", 2844, "2024-04-02", 5.0322, 47.3122, "Pr", "21231", "", ""),
    "kite-pr2": ("Milvus milvus", 2844, "2024-04-03", 5.0333, 47.3133, "Pr", "21231", "", "2"),
    "kite-pr3": ("Milvus milvus", 2844, "2024-04-04", 5.0344, 47.3144, "Pr", "21231", "", "3"),
    "kite-pr4": ("Milvus milvus", 2844, "2024-04-05", 5.0355, 47.3155, "Pr", "21231", "", "4"),
    "kite-pr5": ("Milvus milvus", 2844, "2024-04-06", 5.0366, 47.3166, "Pr", "21231", "", "5"),
}
# what the public gets (GINCO matrix: strongest of sensitivity and private-data criteria)
EXPECTED_PUBLIC = {
    "bat": "maille",
    "old-bat": "precise",
    "wolf": "maille",
    "stork": "maille",
    "orchid": "commune",
    "kite-pu": "precise",
    "kite-pr": "commune",
    "kite-pr2": "maille",
    "kite-pr3": "departement",
    "kite-pr4": None,
    "kite-pr5": "precise",
}
EXPECTED_SENSI = {"bat": "2", "old-bat": "0", "wolf": "2", "stork": "2", "orchid": "1"}


def deposit_csv(cases=CASES) -> bytes:
    lines = [HEADER]
    for key, (name, cd_nom, date, lon, lat, ds, commune, status, diffusion) in cases.items():
        lines.append(
            f"{key};Pr;{name};{cd_nom};{date};{date};MARTIN Léa (LPO BFC);POINT({lon} {lat});St;{ds};Te;"
            f"LPO BFC;{commune};{status};{diffusion};Lieu-dit du {key};{COMMUNES[commune]};2024;2;NON"
        )
    return ("\n".join(lines) + "\n").encode()


def _jdd(api, org, ca, private, title="Suivi des chiroptères"):
    return api.ok(
        "package_create",
        **{
            **copy.deepcopy(JDD),
            "name": f"jdd-{uuid.uuid4().hex[:8]}",
            "title": title,
            "owner_org": org["id"],
            "cadre": ca["sinp_uuid"],
            "private": private,
        },
    )


@pytest.fixture
def world(app, clean_db, clean_index, jobs_worker):
    """A producer with a published and a private JDD (same deposit in both), a member of another
    producer, a chef de file for mammals in Côte-d'Or, one for birds in the Doubs, a sysadmin."""
    producer = factories.UserWithToken()
    org = factories.Organization(users=[{"name": producer["name"], "capacity": "editor"}], title="LPO BFC")
    api = Api(app, producer["token"])
    ca = api.ok(
        "package_create",
        **{**copy.deepcopy(CA), "name": f"ca-{uuid.uuid4().hex[:8]}", "owner_org": org["id"], "private": False},
    )
    public = _jdd(api, org, ca, private=False)
    private = _jdd(api, org, ca, private=True, title="Données privées de gîtes")
    res_public = upload(app, producer["token"], public["id"], deposit_csv())
    res_private = upload(app, producer["token"], private["id"], deposit_csv({f"p-{k}": v for k, v in CASES.items()}))
    for res in (res_public, res_private):
        report = wait_report(api, res["id"])
        assert report["status"] == "done" and report["rows_accepted"] == len(CASES), report

    other = factories.UserWithToken()
    factories.Organization(users=[{"name": other["name"], "capacity": "member"}], title="CEN Franche-Comté")
    sysadmin = factories.SysadminWithToken()
    admin = Api(app, sysadmin["token"])
    chef_in, chef_out = factories.UserWithToken(), factories.UserWithToken()
    org_in = factories.Organization(
        users=[{"name": chef_in["name"], "capacity": "editor"}], title="Groupe mammalogique de Bourgogne"
    )
    org_out = factories.Organization(
        users=[{"name": chef_out["name"], "capacity": "editor"}], title="Ligue ornithologique de l'Yonne"
    )
    admin.ok("sinp_chef_de_file_set", organization=org_in["name"], groupes=["Mammifères"], departements="21")
    admin.ok("sinp_chef_de_file_set", organization=org_out["name"], groupes=["Oiseaux"], departements=["89"])
    return {
        "app": app,
        "producer": api,
        "org": org,
        "public": public,
        "private": private,
        "res_public": res_public,
        "res_private": res_private,
        "anonymous": Api(app),
        "other": Api(app, other["token"]),
        "admin": admin,
        "chef_in": Api(app, chef_in["token"]),
        "chef_out": Api(app, chef_out["token"]),
        "chef_in_user": chef_in,
        "org_in": org_in,
    }


def by_origin(result) -> dict:
    return {f["properties"]["idOrigine"].removeprefix("p-"): f for f in result["features"]}


def search(api, jdd, **params):
    return api.ok("sinp_occurrence_search", jdd=jdd["id"], limit=1000, **params)


# --- sensitivity ----------------------------------------------------------------------------------


def test_sensitivity_is_computed_at_integration_and_matches_the_pure_rules(world):
    features = by_origin(search(world["producer"], world["public"]))
    for key, level in EXPECTED_SENSI.items():
        assert features[key]["properties"]["sensiNiveau"] == level, key
    for key in ("kite-pu", "kite-pr4"):
        assert features[key]["properties"]["sensiNiveau"] == "0"
    props = features["bat"]["properties"]
    assert props["sensiReferentiel"] and props["sensiVersionReferentiel"].startswith("BFC")
    assert props["sensiDateAttribution"] == dt.date.today().isoformat()
    # the wolf rule has a free-text condition ("tanière"): applied by precaution, alert for a decision
    assert "tanière" in features["wolf"]["properties"]["sensiAlerte"]
    # the bats' rule (status 3, condition "gîtes"): status given, the condition still to be checked
    assert features["bat"]["properties"]["sensiAlerte"] == "condition à vérifier : gîtes"
    assert features["old-bat"]["properties"]["sensiAlerte"] is None  # older than the rule's 20 years
    assert features["kite-pu"]["properties"]["sensiAlerte"] is None

    # the set-wise SQL and the pure rules of domain/protection.py agree on every row
    rules = protection.read_rules(DEFAULT_RULES.read_bytes())
    with model.meta.engine.connect() as conn:
        for key, feature in features.items():
            p = feature["properties"]
            lineage = {p["cdNom"]} | {a["cd_nom"] for a in taxref_store.ancestors(conn, p["cdNom"])}
            lineage |= {
                conn.execute(sa.text("SELECT cd_ref FROM sinp_taxref WHERE cd_nom = :c"), {"c": p["cdNom"]}).scalar()
            }
            obs = protection.Observation(
                lineage=frozenset(lineage),
                date_debut=dt.date.fromisoformat(p["dateDebut"]),
                date_fin=dt.date.fromisoformat(p["dateFin"]),
                departement=protection.observation_departement(p["codeDepartement"], p["codeCommune"]),
                statut_bio=p["occStatutBiologique"],
                comportement=p["occComportement"],
            )
            level, alerts = protection.sensitivity(rules, obs, dt.date.today())
            assert str(level) == p["sensiNiveau"], key
            assert bool(alerts) == bool(p["sensiAlerte"]), key


@pytest.fixture
def stricter_referential(world):
    """A referential with levels 3 and 4 (Milvus milvus: département; Cypripedium: nothing); the
    default one is put back afterwards."""
    content = (
        b"CD_NOM;NOM_CITE;CD_SENSIBILITE;DUREE;CD_DEP\n2844;Milvus milvus;3;;21\n94041;Cypripedium calceolus;4;;\n"
    )
    yield protection.read_rules(content)
    rules = protection.read_rules(DEFAULT_RULES.read_bytes())
    protection_store.load_rules(
        model.meta.engine, rules, "BFC, extrait de démonstration", DEFAULT_RULES.name, "restored"
    )


def test_a_new_referential_recomputes_sensitivity_levels_3_and_4(world, stricter_referential):
    result = protection_store.load_rules(model.meta.engine, stricter_referential, "test", "strict.csv", "x")
    assert result["rules"] == 2 and result["occurrences"] >= 2 * len(CASES)
    public = by_origin(search(world["anonymous"], world["public"]))
    assert "orchid" not in public  # level 4: not diffused at all
    kite = public["kite-pu"]
    assert kite["properties"]["niveauDiffusion"] == "departement" and kite["geometry"] is None
    assert kite["properties"]["codeDepartement"] == "21"
    assert kite["properties"]["codeCommune"] is None and kite["properties"]["codeMaille"] is None
    assert public["bat"]["properties"]["niveauDiffusion"] == "precise"  # the bats' rule is gone
    # the producer still sees everything, precisely
    mine = by_origin(search(world["producer"], world["public"]))
    assert mine["orchid"]["properties"]["sensiNiveau"] == "4" and mine["orchid"]["geometry"]["type"] == "Point"


# --- diffusion and blurring -----------------------------------------------------------------------


def _cell_of(feature):
    geom = shape(feature["geometry"])
    minx, miny, maxx, maxy = geom.bounds
    return geom.geom_type, maxx - minx, maxy - miny


@pytest.mark.parametrize("who", ["anonymous", "other", "chef_out"])
def test_what_the_public_gets_follows_the_matrix(world, who):
    features = by_origin(search(world[who], world["public"]))
    assert set(features) == {k for k, v in EXPECTED_PUBLIC.items() if v}
    for key, expected in EXPECTED_PUBLIC.items():
        if expected is None:
            continue
        p, geometry = features[key]["properties"], features[key]["geometry"]
        assert p["niveauDiffusion"] == expected, key
        lon, lat = CASES[key][3], CASES[key][4]
        if expected == "precise":
            assert geometry == {"type": "Point", "coordinates": [lon, lat]} and p["dEEFloutage"] == "NON"
            continue
        assert p["dEEFloutage"] == "OUI" and p["nomLieu"] is None and p["precisionGeometrie"] is None
        assert p["sensiAlerte"] if "sensiAlerte" in p else True
        assert "sensiAlerte" not in p  # alerts are for those who decide
        if expected in ("commune", "maille"):
            kind, width, height = _cell_of(features[key])
            assert kind == "Polygon" and 0.1 < width < 0.2 and 0.08 < height < 0.1  # a 10 km L93 cell
            assert shape(geometry).contains(Point(lon, lat))
            assert p["codeMaille"].startswith("10kmL93E")
        if expected == "commune":
            assert p["codeCommune"] == CASES[key][6]
        if expected == "maille":
            assert p["codeCommune"] is None
        if expected == "departement":
            assert geometry is None and p["codeMaille"] is None and p["codeCommune"] is None
            assert p["codeDepartement"] == "21"


def test_producer_chef_in_scope_and_sysadmin_see_precise_geometries(world):
    for who in ("producer", "admin"):
        features = by_origin(search(world[who], world["public"]))
        assert set(features) == set(CASES)
        assert all(f["properties"]["niveauDiffusion"] == "precise" for f in features.values())
        assert features["wolf"]["properties"]["sensiAlerte"]
    chef = by_origin(search(world["chef_in"], world["public"]))
    # mammals of Côte-d'Or are in its scope: precise; the rest as the public gets it
    for key in ("bat", "old-bat", "wolf"):
        assert chef[key]["properties"]["niveauDiffusion"] == "precise", key
    assert chef["orchid"]["properties"]["niveauDiffusion"] == "commune"
    assert chef["kite-pr3"]["properties"]["niveauDiffusion"] == "departement"
    birds = by_origin(search(world["chef_out"], world["public"]))  # birds of the Yonne: none here
    assert birds["stork"]["properties"]["niveauDiffusion"] == "maille"
    assert birds["bat"]["properties"]["niveauDiffusion"] == "maille"


def corner_point(cell):
    """A point inside a (transformed, not axis-aligned) cell, near its first vertex."""
    vx, vy = cell.exterior.coords[0]
    c = cell.centroid
    return vx + 0.1 * (c.x - vx), vy + 0.1 * (c.y - vy)


def test_a_bbox_finds_blurred_data_only_by_its_blurred_area(world):
    lon, lat = CASES["bat"][3], CASES["bat"][4]
    anonymous = world["anonymous"]
    cell = shape(by_origin(search(anonymous, world["public"]))["bat"]["geometry"])
    x, y = corner_point(cell)
    assert abs(x - lon) > 0.01 or abs(y - lat) > 0.01
    # a small box in the cell's corner, far from the precise point, finds it as well as one around it
    corner = f"{x - 0.0005},{y - 0.0005},{x + 0.0005},{y + 0.0005}"
    around = f"{lon - 0.0005},{lat - 0.0005},{lon + 0.0005},{lat + 0.0005}"
    found_corner = by_origin(search(anonymous, world["public"], bbox=corner))
    found_around = by_origin(search(anonymous, world["public"], bbox=around))
    assert "bat" in found_corner and "bat" in found_around
    # the producer's search is precise: the corner box does not hold the bat
    assert "bat" not in by_origin(search(world["producer"], world["public"], bbox=corner))
    # département-level data has no geometry: no box finds it publicly
    assert "kite-pr3" not in found_around


def test_exports_apply_the_same_blurring(world):
    app, jdd = world["app"], world["public"]
    csv_text = app.get(f"/jdd/{jdd['name']}/occurrences.csv").get_data(as_text=True)
    rows = {r["idOrigine"]: r for r in csv.DictReader(io.StringIO(csv_text.lstrip("\ufeff")), delimiter=";")}
    assert set(rows) == {k for k, v in EXPECTED_PUBLIC.items() if v}
    for key, expected in EXPECTED_PUBLIC.items():
        if expected is None:
            continue
        assert rows[key]["niveauDiffusion"] == expected
        lon = f"{CASES[key][3]}"
        if expected != "precise":
            assert lon not in rows[key]["geometrie"] and rows[key]["nomLieu"] == ""
    assert rows["bat"]["geometrie"].startswith("POLYGON") and rows["kite-pr3"]["geometrie"] == ""
    # nowhere in the export is a precise coordinate of a blurred row
    for key, expected in EXPECTED_PUBLIC.items():
        if expected not in ("precise",):
            assert f"{CASES[key][3]} {CASES[key][4]}" not in csv_text and str(CASES[key][3]) not in csv_text
    geojson = json.loads(app.get(f"/jdd/{jdd['name']}/occurrences.geojson").get_data(as_text=True))
    assert geojson["total"] == len(rows)
    assert by_origin(geojson) == by_origin(search(world["anonymous"], jdd))
    # the producer's export is precise and complete
    token = world["producer"].token
    mine = app.get(f"/jdd/{jdd['name']}/occurrences.csv", headers={"Authorization": token}).get_data(as_text=True)
    assert "kite-pr4" in mine and f"POINT ({CASES['bat'][3]} {CASES['bat'][4]})" in mine


def test_the_public_page_stats_and_published_extent_are_generalised(world):
    app, jdd = world["app"], world["public"]
    stats = world["anonymous"].ok("sinp_occurrence_stats", jdd=jdd["id"])
    assert stats["count"] == len([v for v in EXPECTED_PUBLIC.values() if v]) and stats["blurred"] >= 6
    assert "alerts" in stats and stats["alerts"] == 0  # alerts are not counted for the public
    producer_stats = world["producer"].ok("sinp_occurrence_stats", jdd=jdd["id"])
    assert producer_stats["count"] == len(CASES) and producer_stats["alerts"] >= 1
    # after integration the JDD's published extent was widened to include the blurred areas
    shown = world["anonymous"].ok("package_show", id=jdd["id"])
    w, s, e, n = (float(shown[k]) for k in ("borne_ouest", "borne_sud", "borne_est", "borne_nord"))
    bat_cell = shape(by_origin(search(world["anonymous"], jdd))["bat"]["geometry"])
    assert w <= bat_cell.bounds[0] + 1e-6 and s <= bat_cell.bounds[1] + 1e-6
    iso = app.get(f"/jdd/{jdd['name']}/iso19139.xml").get_data(as_text=True)
    assert f"<gco:Decimal>{shown['borne_ouest']}" in iso or f"{float(shown['borne_ouest'])}" in iso
    page = app.get(f"/jdd/{jdd['name']}").get_data(as_text=True)
    assert ("diffusées floutées" in page or "diffusée floutée" in page) and "occurrences.csv" in page


def test_the_qc_report_is_for_producer_chefs_of_the_scope_with_locations_masked(world):
    app, producer = world["app"], world["producer"]
    bad = (
        HEADER + "\nbad-commune;Pr;Myotis myotis;60418;2024-06-10;2024-06-10;MARTIN Léa;POINT(5.04 47.32);St;Pu;Te;"
        "LPO;21999;3;;Gîte de l'église;Dijon;2024;2;NON\n"
    ).encode()
    res = upload(app, producer.token, world["public"]["id"], bad, name="erreur.csv")
    report = wait_report(producer, res["id"])
    commune_errors = [e for e in report["errors"] if e["column"] == "codeCommune"]
    assert commune_errors and commune_errors[0]["value"] == "21999"
    chef = world["chef_in"].ok("sinp_qc_report_show", resource_id=res["id"])
    assert {e["value"] for e in chef["errors"] if e["column"] == "codeCommune"} == {"(masqué)"}
    assert "21999" not in json.dumps(chef)
    for who in ("anonymous", "other", "chef_out"):
        assert world[who].get("sinp_qc_report_show", resource_id=res["id"])[0] == 403


# --- access to private data -----------------------------------------------------------------------


def test_a_private_jdd_is_for_its_producer_the_chefs_of_its_scope_and_sysadmins(world):
    private = world["private"]
    for who in ("anonymous", "other", "chef_out"):
        # who may not read it gets the 404 of an unknown id (no existence oracle)
        assert world[who].get("package_show", id=private["id"])[0] == 404, who
        assert world[who].get("sinp_occurrence_search", jdd=private["id"])[0] == 404, who
        found = world[who].ok("package_search", q="*:*", include_private=True, rows=100)
        assert private["id"] not in {r["id"] for r in found["results"]}, who
    for who in ("producer", "chef_in", "admin"):
        assert world[who].ok("package_show", id=private["id"])["id"] == private["id"], who
        found = world[who].ok("package_search", q="*:*", include_private=True, rows=100)
        assert private["id"] in {r["id"] for r in found["results"]}, who
    # the chef de file sees the observations of its scope only (precisely), not the others
    chef = by_origin(search(world["chef_in"], private))
    assert set(chef) == {"bat", "old-bat", "wolf"}
    assert all(f["properties"]["niveauDiffusion"] == "precise" for f in chef.values())
    # its private resources too (download URL checks resource_show)
    assert world["chef_in"].ok("resource_show", id=world["res_private"]["id"])["id"] == world["res_private"]["id"]
    assert world["other"].get("resource_show", id=world["res_private"]["id"])[0] == 404
    # a chef de file no longer covering the data loses access
    world["admin"].ok("sinp_chef_de_file_delete", organization=world["org_in"]["name"])
    assert world["chef_in"].get("package_show", id=private["id"])[0] == 404
    found = world["chef_in"].ok("package_search", q="*:*", include_private=True, rows=100)
    assert private["id"] not in {r["id"] for r in found["results"]}


# --- validation -----------------------------------------------------------------------------------


def _uuid(world, key, jdd="public"):
    return by_origin(search(world["producer"], world[jdd]))[key]["properties"]["idSINPOccTax"]


def test_a_chef_de_file_validates_in_scope_one_or_in_bulk_with_history_and_notification(world):
    chef = world["chef_in"]
    bat = _uuid(world, "bat")
    done = chef.ok("sinp_validation_set", ids=[bat], niv_val="1", commentaire="Photo du gîte vérifiée")
    assert done["updated"] == 1 and done["label"] == "Certain - très probable"
    # in bulk over a filtered selection: every Myotis myotis of both JDD (in scope)
    bulk = chef.ok("sinp_validation_set", cd_nom=60418, niv_val="2", niv_val_actuel="0", commentaire="Lot 2024")
    assert bulk["updated"] == 3  # old-bat + p-bat + p-old-bat; the first bat is no longer "en attente"
    props = by_origin(search(world["producer"], world["public"]))["bat"]["properties"]
    assert (props["nivVal"], props["typVal"], props["echVal"]) == ("1", "M", "2")
    assert props["statutValidation"] == "Certain - très probable" and props["validateur"]
    # a later decision is kept in the history with the previous level
    chef.ok("sinp_validation_set", ids=bat, niv_val="3", commentaire="Doute sur l'identification")
    history = chef.ok("sinp_validation_history", id_sinp_occtax=bat)
    assert [(h["niv_val"], h["typ_val"], h["commentaire"]) for h in history] == [
        ("1", "M", "Photo du gîte vérifiée"),
        ("3", "M", "Doute sur l'identification"),
    ]
    assert history[1]["niv_val_precedent"] == "1" and history[0]["organisme"] == "Groupe mammalogique de Bourgogne"
    # out of scope: a bird chef de file cannot touch mammals, nothing changes
    status, body = world["chef_out"].post("sinp_validation_set", ids=[bat], niv_val="4")
    assert status == 403 and "périmètre" in body["error"]["message"]
    assert world["chef_out"].ok("sinp_validation_set", cd_nom=60418, niv_val="4")["updated"] == 0
    for who in ("producer", "other", "anonymous"):
        assert world[who].post("sinp_validation_set", ids=[bat], niv_val="4")[0] == 403
    assert by_origin(search(world["producer"], world["public"]))["bat"]["properties"]["nivVal"] == "3"
    # the producer is notified
    notes = world["producer"].ok("sinp_notification_list")
    assert any("Certain - très probable" in n["message"] and "Photo du gîte vérifiée" in n["message"] for n in notes)
    # naming the validating structure, the date in French
    assert any(
        n["message"].startswith("Groupe mammalogique de Bourgogne a validé 1 observation du jeu de données")
        and re.search(r" le \d{1,2}(er)? [a-zéû]+ \d{4} à \d{1,2} h \d{2} ", n["message"])
        for n in notes
    ), notes
    assert world["other"].ok("sinp_notification_list") == []
    page = world["app"].get(f"/jdd/{world['public']['name']}", headers={"Authorization": world["producer"].token})
    assert "Photo du gîte vérifiée" in page.get_data(as_text=True)
    assert "Photo du gîte vérifiée" not in world["app"].get(f"/jdd/{world['public']['name']}").get_data(as_text=True)
    # the history is not for the public
    assert world["anonymous"].get("sinp_validation_history", id_sinp_occtax=bat)[0] in (403, 404)
    # bad level: French error
    status, body = chef.post("sinp_validation_set", ids=[bat], niv_val="9")
    assert status == 409 and "Niveau de validation" in body["error"]["niv_val"][0]


def test_automatic_pre_validation_uses_known_taxa_and_never_overwrites_manual_decisions(world):
    admin, producer, app = world["admin"], world["producer"], world["app"]
    kite = _uuid(world, "kite-pu")
    admin.ok("sinp_validation_set", ids=kite, niv_val="1", commentaire="Référence régionale")
    # a new deposit of Milvus milvus in Côte-d'Or: the taxon is now known there → Probable, type A
    new = {"new-kite": CASES["kite-pu"], "new-stork": CASES["stork"]}
    res = upload(app, producer.token, world["public"]["id"], deposit_csv(new), name="complement.csv")
    assert wait_report(producer, res["id"])["rows_accepted"] == 2
    features = by_origin(search(producer, world["public"]))
    assert (features["new-kite"]["properties"]["nivVal"], features["new-kite"]["properties"]["typVal"]) == ("2", "A")
    assert features["new-stork"]["properties"]["nivVal"] == "0"  # never validated in the Doubs: stays pending
    # a manual decision after the automatic one is "combinée"; re-running the automatic one keeps it
    world["chef_in"]  # (birds are not its scope)
    admin.ok("sinp_validation_set", ids=features["new-kite"]["properties"]["idSINPOccTax"], niv_val="3")
    admin.ok("sinp_auto_validate", jdd=world["public"]["id"])
    props = by_origin(search(producer, world["public"]))["new-kite"]["properties"]
    assert (props["nivVal"], props["typVal"]) == ("3", "C")
    assert producer.post("sinp_auto_validate")[0] == 403


def test_a_chef_de_file_settles_a_sensitivity_alert_and_the_decision_survives_a_new_referential(world):
    wolf = _uuid(world, "wolf")
    world["chef_in"].ok("sinp_sensitivity_set", id_sinp_occtax=wolf, sensi_niveau="3", commentaire="Tanière confirmée")
    rules = protection.read_rules(DEFAULT_RULES.read_bytes())
    protection_store.load_rules(model.meta.engine, rules, "BFC, extrait de démonstration", DEFAULT_RULES.name, "reload")
    props = by_origin(search(world["producer"], world["public"]))["wolf"]["properties"]
    assert props["sensiNiveau"] == "3" and props["sensiAlerte"] is None
    assert "Tanière confirmée" in props["sensiReferentiel"]
    assert (
        by_origin(search(world["anonymous"], world["public"]))["wolf"]["properties"]["niveauDiffusion"] == "departement"
    )
    assert world["chef_out"].post("sinp_sensitivity_set", id_sinp_occtax=wolf, sensi_niveau="0")[0] == 403


# --- chefs de file management ----------------------------------------------------------------------


def test_chefs_de_file_are_managed_by_sysadmins_in_the_ui(world):
    app = world["app"]
    assert app.get("/ckan-admin/chefs-de-file", headers={"Authorization": world["producer"].token}).status_code == 403
    page = app.get("/ckan-admin/chefs-de-file", headers={"Authorization": world["admin"].token})
    assert page.status_code == 200 and "Groupe mammalogique de Bourgogne" in page.get_data(as_text=True)
    listed = world["anonymous"].ok("sinp_chef_de_file_list")
    assert {(c["title"], tuple(c["groupes"]), tuple(c["departements"])) for c in listed} == {
        ("Groupe mammalogique de Bourgogne", ("Mammifères",), ("21",)),
        ("Ligue ornithologique de l'Yonne", ("Oiseaux",), ("89",)),
    }
    status, body = world["admin"].post(
        "sinp_chef_de_file_set", organization=world["org"]["name"], groupes=["Dragons"], departements="2x1"
    )
    assert status == 409 and "Dragons" in body["error"]["groupes"][0] and "2x1" in body["error"]["departements"][0]
    assert world["producer"].post("sinp_chef_de_file_set", organization=world["org"]["name"])[0] == 403


# --- territory service -----------------------------------------------------------------------------


def test_the_territory_service_lists_taxa_respecting_blurring(world):
    lon, lat = CASES["bat"][3], CASES["bat"][4]
    polygon = {
        "type": "Polygon",
        "coordinates": [
            [
                [lon - 0.02, lat - 0.02],
                [lon + 0.02, lat - 0.02],
                [lon + 0.02, lat + 0.02],
                [lon - 0.02, lat + 0.02],
                [lon - 0.02, lat - 0.02],
            ]
        ],
    }
    public = world["anonymous"].ok("sinp_territory_taxa", polygone=json.dumps(polygon))
    taxa = {t["nom"]: t for t in public["taxa"]}
    bats = taxa["Myotis myotis"]
    assert bats["sensible"] is True and bats["observations"] == 2 and bats["observations_floutees"] == 1
    assert bats["derniere_annee"] == 2024 and taxa["Milvus milvus"]["observations"] == 4  # pu, pr (cell), pr2, pr5
    assert "kite-pr4" not in json.dumps(public)
    mine = world["producer"].ok("sinp_territory_taxa", polygone=json.dumps(polygon))
    mine_taxa = {t["nom"]: t for t in mine["taxa"]}
    assert mine_taxa["Milvus milvus"]["observations"] == 12  # both JDD, every row (private JDD included)
    # a polygon of the cell's corner, away from the precise point: blurred rows are in, precise ones out
    cell = shape(by_origin(search(world["anonymous"], world["public"]))["bat"]["geometry"])
    x, y = corner_point(cell)
    corner = (
        f"POLYGON(({x - 0.002} {y - 0.002}, {x + 0.002} {y - 0.002}, {x + 0.002} {y + 0.002}, "
        f"{x - 0.002} {y + 0.002}, {x - 0.002} {y - 0.002}))"
    )
    blurred_only = {t["nom"]: t for t in world["anonymous"].ok("sinp_territory_taxa", polygone=corner)["taxa"]}
    assert (
        blurred_only["Myotis myotis"]["observations"] == 1
        and blurred_only["Myotis myotis"]["observations_floutees"] == 1
    )
    status, body = world["anonymous"].post(
        "sinp_territory_taxa", polygone="POLYGON((749648 6956485, 1 2, 3 4, 749648 6956485))"
    )
    assert status == 409 and "WGS 84" in body["error"]["polygone"][0]
    status, body = world["anonymous"].post("sinp_territory_taxa", polygone="pas un polygone")
    assert status == 409 and "illisible" in body["error"]["polygone"][0]
    page = world["app"].post("/territoire", data={"polygone": json.dumps(polygon)})
    assert (
        page.status_code == 200
        and "Myotis myotis" in page.get_data(as_text=True)
        and "espèce sensible" in page.get_data(as_text=True)
    )


def test_a_chef_de_file_gets_the_errors_csv_masked_and_not_the_rejected_rows(world):
    app, producer = world["app"], world["producer"]
    bad = (
        HEADER + "\nbad-commune;Pr;Myotis myotis;60418;2024-06-10;2024-06-10;MARTIN Léa (LPO);POINT(5.04 47.32);St;"
        "Pu;Te;LPO;21999;3;;Gîte de l'église;Dijon;2024;2;NON\n"
    ).encode()
    res = upload(app, producer.token, world["public"]["id"], bad, name="erreur.csv")
    wait_report(producer, res["id"])
    base = f"/jdd/{world['public']['name']}/depot/{res['id']}"
    chef = {"Authorization": world["chef_in"].token}
    errors = app.get(f"{base}/erreurs.csv", headers=chef)
    assert (
        errors.status_code == 200
        and "21999" not in errors.get_data(as_text=True)
        and "(masqué)" in errors.get_data(as_text=True)
    )
    assert app.get(f"{base}/lignes-refusees.csv", headers=chef).status_code == 403
    assert "21999" in app.get(f"{base}/erreurs.csv", headers={"Authorization": producer.token}).get_data(as_text=True)
    assert app.get(f"{base}/lignes-refusees.csv", headers={"Authorization": producer.token}).status_code == 200
    html = app.get(base, headers=chef).get_data(as_text=True)
    assert "21999" not in html


def test_the_producer_cannot_publish_an_extent_narrower_than_the_blurred_areas(world):
    producer, jdd = world["producer"], world["public"]
    lon, lat = CASES["bat"][3], CASES["bat"][4]
    # a tight box around the roost typed in the form: widened to the blurred areas on save
    saved = producer.ok(
        "package_patch",
        id=jdd["id"],
        borne_ouest=f"{lon - 0.001}",
        borne_est=f"{lon + 0.001}",
        borne_sud=f"{lat - 0.001}",
        borne_nord=f"{lat + 0.001}",
    )
    cell = shape(by_origin(search(world["anonymous"], jdd))["bat"]["geometry"])
    assert float(saved["borne_ouest"]) <= cell.bounds[0] + 1e-6 and float(saved["borne_nord"]) >= cell.bounds[3] - 1e-6
    assert str(lon) not in json.dumps(world["anonymous"].ok("package_show", id=jdd["id"]))
    iso = world["app"].get(f"/jdd/{jdd['name']}/iso19139.xml").get_data(as_text=True)
    dcat = world["app"].get(f"/dataset/{jdd['name']}.ttl").get_data(as_text=True)
    assert str(lon) not in iso and str(lon) not in dcat and f"{lon - 0.001}" not in iso


def test_the_sensitivity_load_command_refuses_a_bad_file_and_keeps_the_referential(stack, clean_db, tmp_path):
    import subprocess

    with model.meta.engine.connect() as conn:
        before = conn.execute(sa.text("SELECT count(*) FROM sinp_sensitivity_rule")).scalar()
    bad = tmp_path / "sensibilite.csv"
    bad.write_text("CD_NOM;CD_SENSIBILITE;DUREE\n2514;2;10\n60577;7;\n", encoding="utf-8")
    result = subprocess.run(
        [stack["CKAN_BIN"], "-c", stack["CKAN_TEST_INI"], "sinp", "sensitivity-load", str(bad)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1
    assert (
        "Fichier refusé : Ligne 3, colonne CD_SENSIBILITE : « 7 » n'est pas un niveau de sensibilité" in result.stderr
    )
    with model.meta.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM sinp_sensitivity_rule")).scalar() == before == 104
