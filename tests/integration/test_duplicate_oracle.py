"""Duplicate check D2 is not a location oracle, and a validation selection never names a record the
caller may not read (issue 13, findings 3 and 7).

Producer A publishes a JDD holding a sensitive lynx (Lynx lynx in the Doubs: level 2, blurred to its
10 km cell) and other rows at each public layer, and keeps a private JDD. Producer B knows what the
public knows of the lynx (taxon, date, observer, cell) and deposits 121 candidate points around it,
then copies of A's rows. Real CKAN, PostgreSQL/PostGIS, Solr, Redis and `ckan jobs worker`; the
default sensitivity referential that `make up` loads.
"""

from __future__ import annotations

import copy
import csv
import io
import json
import uuid

import pytest
from ckan.tests import factories
from shapely.geometry import Point, shape

from tests.integration.test_occurrence_deposits import upload, wait_report
from tests.integration.test_sinp_records import CA, JDD, Api

COLUMNS = (
    "idOrigine",
    "statutObservation",
    "nomCite",
    "cdNom",
    "dateDebut",
    "dateFin",
    "observateur",
    "geometrie",
    "natureObjetGeo",
    "dSPublique",
    "statutSource",
    "organismeGestionnaireDonnee",
    "codeCommune",
    "nomCommune",
    "anneeRefCommune",
    "typeInfoGeoCommune",
    "diffusionNiveauPrecision",
    "dEEFloutage",
)
OBSERVER = "BERNARD Paul (Indépendant)"
LYNX = {
    "nomCite": "Lynx lynx",
    "cdNom": "60612",
    "dateDebut": "2026-06-15",
    "dateFin": "2026-06-15",
    "geometrie": "POINT(6.0537 47.2614)",
}
TRUE_LON, TRUE_LAT = "6.0537", "47.2614"
KITE = {"nomCite": "Milvus milvus", "cdNom": "2844"}
# A's published rows: idOrigine → fields (public layer in the comment)
PUBLISHED = {
    "lynx": LYNX,  # sensitivity 2: the 10 km cell
    "kite-precise": {**KITE, "dateDebut": "2026-04-01", "dateFin": "2026-04-01", "geometrie": "POINT(6.0112 47.2511)"},
    "kite-dep": {
        **KITE,
        "dateDebut": "2026-04-03",
        "dateFin": "2026-04-03",
        "geometrie": "POINT(6.0233 47.2533)",
        "dSPublique": "Pr",
        "diffusionNiveauPrecision": "3",
    },  # the département only
    "kite-none": {
        **KITE,
        "dateDebut": "2026-04-04",
        "dateFin": "2026-04-04",
        "geometrie": "POINT(6.0244 47.2544)",
        "dSPublique": "Pr",
        "diffusionNiveauPrecision": "4",
    },  # not diffused
}
SECRET = {**KITE, "dateDebut": "2026-04-05", "dateFin": "2026-04-05", "geometrie": "POINT(6.0355 47.2555)"}
PUBLISHED_TITLE = "Suivi du lynx boréal, sites de reproduction"
PRIVATE_TITLE = "Gîtes confidentiels du Groupe Lynx"
A_ORG = "Groupe Lynx Jura"
FOREIGN = "Observation probablement déjà présente sur la plateforme (données d'un autre producteur)"
MAX_FOREIGN = 20  # ckanext.sinp.qc.d2_max_foreign (default)


def row(origin: str, fields: dict, commune: bool = True) -> dict:
    out = {
        "idOrigine": origin,
        "statutObservation": "Pr",
        "observateur": OBSERVER,
        "natureObjetGeo": "St",
        "dSPublique": "Pu",
        "statutSource": "Te",
        "organismeGestionnaireDonnee": "Réseau Loup-Lynx",
        "dEEFloutage": "NON",
        **fields,
    }
    if commune:
        out.update(
            {"codeCommune": "25056", "nomCommune": "Besançon", "anneeRefCommune": "2024", "typeInfoGeoCommune": "2"}
        )
    return out


def deposit(rows: list[dict]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, delimiter=";", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def grid(n: int = 11, step_lon: float = 0.013, step_lat: float = 0.009) -> list[tuple[float, float]]:
    """n x n candidate points around the lynx (≈ 1 km apart: the grid spans about one 10 km cell)."""
    half = n // 2
    return [
        (float(TRUE_LON) + (i - half) * step_lon, float(TRUE_LAT) + (j - half) * step_lat)
        for i in range(n)
        for j in range(n)
    ]


def _jdd(api, org, ca, private: bool, title: str):
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


def _ca(api, org):
    return api.ok(
        "package_create",
        **{**copy.deepcopy(CA), "name": f"ca-{uuid.uuid4().hex[:8]}", "owner_org": org["id"], "private": False},
    )


@pytest.fixture
def world(app, clean_db, clean_index, jobs_worker):
    a_user, b_user, chef_user = factories.UserWithToken(), factories.UserWithToken(), factories.UserWithToken()
    out_user = factories.UserWithToken()
    a_org = factories.Organization(users=[{"name": a_user["name"], "capacity": "editor"}], title=A_ORG)
    # the chef de file's member is also an editor of B (it may deposit there)
    b_org = factories.Organization(
        users=[{"name": b_user["name"], "capacity": "editor"}, {"name": chef_user["name"], "capacity": "editor"}],
        title="Bureau d'études Faune",
    )
    chef_org = factories.Organization(
        users=[{"name": chef_user["name"], "capacity": "editor"}], title="Pôle mammifères du Doubs"
    )
    out_org = factories.Organization(
        users=[{"name": out_user["name"], "capacity": "editor"}], title="Ligue ornithologique de l'Yonne"
    )
    sysadmin = factories.SysadminWithToken()
    admin = Api(app, sysadmin["token"])
    admin.ok("sinp_chef_de_file_set", organization=chef_org["name"], groupes=["Mammifères"], departements=["25"])
    admin.ok("sinp_chef_de_file_set", organization=out_org["name"], groupes=["Oiseaux"], departements=["89"])
    a, b = Api(app, a_user["token"]), Api(app, b_user["token"])
    a_ca, b_ca = _ca(a, a_org), _ca(b, b_org)
    published = _jdd(a, a_org, a_ca, private=False, title=PUBLISHED_TITLE)
    private = _jdd(a, a_org, a_ca, private=True, title=PRIVATE_TITLE)
    b_jdd = _jdd(b, b_org, b_ca, private=True, title="Inventaires du bureau d'études")
    res_published = upload(app, a.token, published["id"], deposit([row(k, v) for k, v in PUBLISHED.items()]))
    res_private = upload(app, a.token, private["id"], deposit([row("secret", SECRET)]))
    for res, n in ((res_published, len(PUBLISHED)), (res_private, 1)):
        report = wait_report(a, res["id"])
        assert report["status"] == "done" and report["rows_accepted"] == n, report
    features = {
        f["properties"]["idOrigine"]: f
        for f in Api(app).ok("sinp_occurrence_search", jdd=published["id"], limit=100)["features"]
    }
    assert features["lynx"]["properties"]["niveauDiffusion"] == "maille"  # what the public knows: the cell
    assert features["kite-precise"]["properties"]["niveauDiffusion"] == "precise"
    assert features["kite-dep"]["properties"]["niveauDiffusion"] == "departement"
    assert "kite-none" not in features
    mine = a.ok("sinp_occurrence_search", jdd=published["id"], limit=100)["features"]
    return {
        "app": app,
        "a": a,
        "b": b,
        "admin": admin,
        "chef": Api(app, chef_user["token"]),
        "chef_out": Api(app, out_user["token"]),
        "a_org": a_org,
        "published": published,
        "private": private,
        "b_jdd": b_jdd,
        "res_published": res_published,
        "res_private": res_private,
        "cell": shape(features["lynx"]["geometry"]),
        "a_ids": {f["properties"]["idSINPOccTax"] for f in mine},
    }


def b_deposit(world, rows, name="candidats.csv", who="b"):
    api = world[who]
    res = upload(world["app"], api.token, world["b_jdd"]["id"], deposit(rows), name=name)
    report = wait_report(world["b"], res["id"], limit=1000)
    assert report["status"] == "done", report
    return res, report


def d2(report) -> list[dict]:
    return [e for e in report["errors"] if e["code"] == "D2"]


def secrets_of_a(world) -> list[str]:
    """What B must not learn about A's records from its own report."""
    out = [PUBLISHED_TITLE, PRIVATE_TITLE, A_ORG, TRUE_LON, TRUE_LAT, world["a_org"]["name"], world["a_org"]["id"]]
    for key in ("published", "private"):
        out += [world[key]["id"], world[key]["name"], world[key]["sinp_uuid"]]
    out += [world["res_published"]["id"], world["res_private"]["id"], *world["a_ids"]]
    return out


def report_pages(world, res) -> dict[str, str]:
    """The report as B reads it: the API, the errors CSV, the HTML page and its JSON."""
    app, headers, name = world["app"], {"Authorization": world["b"].token}, world["b_jdd"]["name"]
    base = f"/jdd/{name}/depot/{res['id']}"
    pages = {
        "api": json.dumps(world["b"].ok("sinp_qc_report_show", resource_id=res["id"], limit=1000), ensure_ascii=False)
    }
    for key, path in (("csv", f"{base}/erreurs.csv"), ("html", base), ("json", f"{base}/rapport.json")):
        response = app.get(path, headers=headers)
        assert response.status_code == 200, path
        pages[key] = response.get_data(as_text=True)
    return pages


def assert_names_nothing_of_a(world, res) -> dict[str, str]:
    pages = report_pages(world, res)
    for where, text in pages.items():
        for secret in secrets_of_a(world):
            assert secret not in text, (where, secret)
    return pages


# --- finding 3: the « 121 candidates » attack -------------------------------------------------------


def test_121_candidates_around_a_blurred_lynx_learn_only_its_public_cell(world):
    points = grid()
    inside = [i for i, (lon, lat) in enumerate(points, 2) if world["cell"].intersects(Point(lon, lat))]
    true_row = points.index((float(TRUE_LON), float(TRUE_LAT))) + 2  # spreadsheet line (header = 1)
    assert true_row in inside and 1 < len(inside) < len(points)  # the grid crosses the cell's edges
    rows = [
        row(f"C-{i}", {**LYNX, "geometrie": f"POINT({lon:.4f} {lat:.4f})"}, commune=False)
        for i, (lon, lat) in enumerate(points, 1)
    ]
    res, report = b_deposit(world, rows)
    assert report["rows_accepted"] == len(points)  # D2 is a warning: nothing refused
    flags = d2(report)
    flagged = [e["row"] for e in flags if e["row"] is not None]
    summary = [e for e in flags if e["row"] is None]
    # every candidate inside the public cell is a probable duplicate, in file order, at most 20 named
    # rows and the others counted: the exact point is never singled out
    assert flagged == inside[:MAX_FOREIGN] and flagged != [true_row]
    if len(inside) > MAX_FOREIGN:
        assert [s["message"] for s in summary] == [
            f"{len(inside) - MAX_FOREIGN} autre(s) ligne(s) du fichier probablement déjà présente(s) sur la "
            f"plateforme (données d'un autre producteur), non détaillée(s) : au plus {MAX_FOREIGN} signalements de "
            "ce type par dépôt. Signalé, non bloquant."
        ]
    else:
        assert summary == []
    for e in flags:
        assert not e["blocking"] and e["value"] is None and e["column"] is None
        assert e["message"].startswith(FOREIGN) or e["row"] is None
    assert report["counts"]["D2"] == len(flags) <= MAX_FOREIGN + 1
    pages = assert_names_nothing_of_a(world, res)
    assert FOREIGN in pages["csv"] and "probablement déjà présente sur la plateforme" in pages["html"]


def test_copies_of_a_rows_are_compared_only_as_the_public_sees_them(world):
    rows = [
        row("copie-precise", PUBLISHED["kite-precise"]),  # public precise: same point
        row("voisine", {**PUBLISHED["kite-precise"], "geometrie": "POINT(6.0113 47.2511)"}),  # 8 m away
        row("copie-dep", {**PUBLISHED["kite-dep"], "geometrie": "POINT(6.3 47.1)"}, commune=False),  # département
        row("copie-aucune", PUBLISHED["kite-none"]),  # not diffused: not compared
        row("copie-privee", SECRET),
    ]  # private JDD: not compared
    res, report = b_deposit(world, rows, name="copies.csv")
    assert [(e["row"], e["message"]) for e in d2(report)] == [
        (2, f"{FOREIGN}. Signalé, non bloquant."),
        (4, f"{FOREIGN}. Signalé, non bloquant."),
    ]
    assert report["rows_accepted"] == len(rows)
    assert_names_nothing_of_a(world, res)


def test_only_the_producer_gets_the_exact_match_whoever_deposits(world):
    moved = f"POINT({float(TRUE_LON) + 0.001:.4f} {TRUE_LAT})"  # in the lynx's cell, not on it
    rows = [row("s-secret", SECRET), row("s-lynx", LYNX), row("s-lynx-moved", {**LYNX, "geometrie": moved})]
    anonymous = f"{FOREIGN}. Signalé, non bloquant."
    # the report of a deposit on B's JDD is read by B's members: a chef de file whose scope holds the
    # lynx, or a sysadmin, depositing there widens nothing — the lynx and the moved point are only
    # compared as the public sees them (its cell), A's private row not at all
    res, report = b_deposit(world, rows[1:], name="chef.csv", who="chef")
    assert [(e["row"], e["message"]) for e in d2(report)] == [(2, anonymous), (3, anonymous)]
    assert_names_nothing_of_a(world, res)
    world["b"].ok("resource_delete", id=res["id"])
    res, report = b_deposit(world, rows, name="admin.csv", who="admin")
    assert [(e["row"], e["message"]) for e in d2(report)] == [(3, anonymous), (4, anonymous)]
    assert_names_nothing_of_a(world, res)
    world["b"].ok("resource_delete", id=res["id"])
    # A deposits its private row again in its published JDD: the detailed D2 names its own JDD
    a = world["a"]
    res = upload(
        world["app"], a.token, world["published"]["id"], deposit([row("secret-bis", SECRET)]), name="encore.csv"
    )
    [flag] = d2(wait_report(a, res["id"]))
    assert flag["message"] == (
        "Observation identique (taxon, dates et heures, géométrie, observateur) déjà "
        f"présente dans le jeu de données « {PRIVATE_TITLE} ». Signalé, non bloquant."
    )


# --- finding 7: a validation selection names only readable records --------------------------------


def test_a_validation_selection_never_names_a_jdd_the_chef_may_not_read(world):
    private = world["private"]
    status, body = world["chef_out"].post("sinp_validation_set", jdd=private["id"], niv_val="2")
    unknown_status, unknown = world["chef_out"].post("sinp_validation_set", jdd=str(uuid.uuid4()), niv_val="2")
    assert status == unknown_status == 404
    assert body["error"] == unknown["error"] and "Jeu de données introuvable." in body["error"]["message"]
    for ref in (private["name"], private["sinp_uuid"]):
        assert world["chef_out"].post("sinp_validation_set", jdd=ref, niv_val="2")[1] == body
    assert PRIVATE_TITLE not in json.dumps(body, ensure_ascii=False)
    # a JDD it may read is named (its title is public) and nothing outside its scope changes
    done = world["chef_out"].ok("sinp_validation_set", jdd=world["published"]["id"], niv_val="2")
    assert done["updated"] == 0 and done["selection"] == f"jeu de données « {PUBLISHED_TITLE} »"
    # the producer's private JDD stays named for those who read it
    done = world["admin"].ok("sinp_validation_set", jdd=private["id"], niv_val="2")
    assert done["updated"] == 1 and PRIVATE_TITLE in done["selection"]
