"""The leak matrix: every role × every door × every state, asserting exactly who sees what.

Roles: anonymous, member of another producer, editor of the producer, chef de file in scope
(mammals of Côte-d'Or) and out of scope (birds of the Yonne), sysadmin.
States of a JDD holding deposited occurrences: published with sensitive data, private, draft,
deleted. Doors: package_show, package_search and its facet counts, the raw file's download URL,
sinp_qc_report_show, sinp_occurrence_search, exports, sinp_occurrence_stats, sinp_occurrence_map, sinp_mtd_export,
sinp_iso_show, the JDD page, CSW GetRecords and GetRecordById (a real pycsw on the test
database), DCAT (dataset and catalogue), activity streams, the territory service; the keywords
(tag_list, tag_autocomplete and the forms' autocomplete, the tag facet) and the organisation's
member_list; the history of two published JDD whose private versions held a secret place
(activity lists, activity_show/data/diff, the activity, changes and history pages); the
outputs of a public JDD under a private CA (ISO, CSW, DCAT, year facet, page); and the public
aggregates (#16, #17): the géo-visualiseur's actions sinp_carte (maille, commune, département;
by taxon, by JDD, unfiltered), sinp_carte_taxons and sinp_taxon_fiche, its pages /carte (a
cell's taxa), /carte/export.csv and .geojson and /taxon/<cd_ref>, both while the roll-ups are
stale (answered from the counts) and after map_store.refresh_public, and its precise view
(vue=precise: the same actions, the page and the CSV export as each role, who sees there precisely
what the other doors let it see); the map server (MapServer on
the test database): WMS GetFeatureInfo, WFS GetFeature with a bbox and PropertyIsEqualTo filters,
OGC API Features items with bbox, limit and filter; the ORB indicators (sinp_indicator_list,
sinp_indicator_show with each breakdown, the pages and CSV/JSON downloads) after computing the
live edition. Each state's observation lies in a 10 km cell of its own, so that a count of the
aggregates tells which state leaked; the sensitive observation must never count at the commune.

Each door is called for every role and state; the test collects every cell where a role sees
what it must not (a leak) or does not see what it must, then fails with the whole list.
"""

from __future__ import annotations

import copy
import json
import re
import time
import uuid

import ckan.model as model
import pytest
import requests
import sqlalchemy as sa
from ckan.tests import factories
from lxml import etree

from tests.fixtures import admin_express
from tests.integration.conftest import _wait_for_background_jobs
from tests.integration.test_flux import _get, _urls, _wfs_json
from tests.integration.test_occurrence_deposits import upload, wait_report
from tests.integration.test_protection import COMMUNES, HEADER
from tests.integration.test_sinp_records import CA, JDD, Api

ROLES = ("anonymous", "other", "editor", "chef_in", "chef_out", "sysadmin")
STATES = ("public", "private", "withdrawn", "draft", "deleted")
# who may see a JDD (its metadata, its occurrences) in each state
SEES = {
    "public": set(ROLES),
    "private": {"editor", "chef_in", "sysadmin"},
    "withdrawn": {"editor", "chef_in", "sysadmin"},  # published, then made private again
    "draft": {"editor", "sysadmin"},
    "deleted": {"editor", "sysadmin"},
}
# the raw deposited file (precise places, private and sensitive data): never the public
RAW = {state: SEES[state] - {"anonymous", "other", "chef_out"} for state in STATES}
# precise coordinates of the sensitive observation (a bat roost, sensitivity 2) of the public JDD
SECRET_LON, SECRET_LAT = "5.04123", "47.32157"
TAXA = {
    "public": ("Myotis myotis", 60418),
    "private": ("Rhinolophus ferrumequinum", 60295),
    "withdrawn": ("Plecotus auritus", 60518),
    "draft": ("Barbastella barbastellus", 60345),
    "deleted": ("Lynx lynx", 60612),
}
# a keyword of the private JDD only
PRIVATE_TAG = "gîte secret rhinolophe"
# the place of a lynx den, in the versions of two JDD recorded while they were private (then
# cleaned and published): only the producer and sysadmins may see those versions
HISTORY_LAT, HISTORY_LON = "47.28731", "4.91822"
HISTORY_NOTES = f"Gîte du lynx à {HISTORY_LAT} N {HISTORY_LON} E : à retirer avant publication."
# the period of the private CA: never in the outputs of the public JDD attached to it
PRIVATE_CA_START, PRIVATE_CA_END = "2012-05-14", "2013-10-02"
NS = {
    "gmd": "http://www.isotc211.org/2005/gmd",
    "gco": "http://www.isotc211.org/2005/gco",
    "csw": "http://www.opengis.net/cat/csw/2.0.2",
}


# where each state's observation is: a 10 km cell of its own (inside the territory service's polygon),
# so that a count of the public aggregates (the map, the data flows) tells which state leaked
PLACES = {
    "public": (SECRET_LON, SECRET_LAT),  # cell 10kmL93E085N669
    "private": ("4.93", "47.22"),  # 10kmL93E084N668
    "withdrawn": ("5.18", "47.22"),  # 10kmL93E086N668
    "draft": ("4.93", "47.43"),  # 10kmL93E084N670
    "deleted": ("5.18", "47.43"),  # 10kmL93E086N670
}


def _csv(state) -> bytes:
    name, cd_nom = TAXA[state]
    lon, lat = PLACES[state]
    lines = [
        HEADER,
        f"{state}-1;Pr;{name};{cd_nom};2024-06-10;2024-06-10;MARTIN Léa (LPO BFC);POINT({lon} {lat});St;"
        f"Pu;Te;LPO BFC;21231;3;;Gîte secret {state};{COMMUNES['21231']};2024;2;NON",
    ]
    if state == "public":  # and a plain, precise, public observation
        lines.append(
            "public-2;Pr;Milvus milvus;2844;2024-04-01;2024-04-01;MARTIN Léa (LPO BFC);POINT(5.0311 47.3111);"
            "St;Pu;Te;LPO BFC;21231;;;Champ;Dijon;2024;2;NON"
        )
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture
def matrix(app, clean_db, clean_index, jobs_worker, test_csw):
    editor = factories.UserWithToken()
    org = factories.Organization(users=[{"name": editor["name"], "capacity": "editor"}], title="LPO BFC")
    api = Api(app, editor["token"])
    ca = api.ok(
        "package_create",
        **{**copy.deepcopy(CA), "name": f"ca-{uuid.uuid4().hex[:8]}", "owner_org": org["id"], "private": False},
    )
    private_ca = api.ok(
        "package_create",
        **{
            **copy.deepcopy(CA),
            "name": f"ca-{uuid.uuid4().hex[:8]}",
            "title": "Programme privé",
            "owner_org": org["id"],
            "private": True,
            "date_lancement": PRIVATE_CA_START,
            "date_cloture": PRIVATE_CA_END,
        },
    )
    jdds, resources = {}, {}
    for state in STATES:
        extra = {"private": state == "private", **({"tag_string": PRIVATE_TAG} if state == "private" else {})}
        cadre = private_ca if state == "private" else ca
        jdd = api.ok(
            "package_create",
            **{
                **copy.deepcopy(JDD),
                "name": f"jdd-{state}-{uuid.uuid4().hex[:6]}",
                "title": f"Inventaire {state}",
                "owner_org": org["id"],
                "cadre": cadre["sinp_uuid"],
                **extra,
            },
        )
        res = upload(app, editor["token"], jdd["id"], _csv(state), name=f"{state}.csv")
        report = wait_report(api, res["id"])
        assert report["rows_accepted"] >= 1, report
        jdds[state], resources[state] = jdd, res
    under_private_ca = api.ok(
        "package_create",
        **{
            **copy.deepcopy(JDD),
            "title": "Inventaire public d'un programme privé",
            "private": False,
            "name": f"jdd-sous-ca-prive-{uuid.uuid4().hex[:6]}",
            "owner_org": org["id"],
            "cadre": private_ca["sinp_uuid"],
        },
    )
    history = {path: _publish_after_secret(api, org, ca, path) for path in ("private-public", "public-private-public")}
    sysadmin = factories.SysadminWithToken()
    admin = Api(app, sysadmin["token"])
    other = factories.UserWithToken()
    factories.Organization(users=[{"name": other["name"], "capacity": "member"}], title="CEN Franche-Comté")
    chefs = {}
    for key, title, group, dep in (
        ("chef_in", "Groupe mammalogique", "Mammifères", "21"),
        ("chef_out", "Ligue ornithologique", "Oiseaux", "89"),
    ):
        user = factories.UserWithToken()
        chef_org = factories.Organization(users=[{"name": user["name"], "capacity": "member"}], title=title)
        admin.ok("sinp_chef_de_file_set", organization=chef_org["name"], groupes=[group], departements=[dep])
        chefs[key] = user
    api.ok("package_delete", id=jdds["deleted"]["id"])
    api.ok("package_patch", id=jdds["withdrawn"]["id"], private=True)
    # a SINP record is never left in "draft" by our forms (validators make it active and private):
    # a draft can only come from elsewhere (CKAN's API on another schema, a migration) — made here
    # in the database, then reindexed and resynchronised as CKAN would
    pkg = model.Package.get(jdds["draft"]["id"])
    pkg.state = "draft"
    model.repo.commit_and_remove()
    from ckanext.sinp.csw import sync
    from ckanext.sinp.logic.records import index_packages

    index_packages([jdds["draft"]["id"]])
    sync.sync_packages([jdds["draft"]["id"]])
    _wait_for_background_jobs()
    tokens = {
        "anonymous": None,
        "other": other["token"],
        "editor": editor["token"],
        "chef_in": chefs["chef_in"]["token"],
        "chef_out": chefs["chef_out"]["token"],
        "sysadmin": sysadmin["token"],
    }
    # the CSW sync jobs ran after each commit: wait until the public records are served
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and jdds["public"]["sinp_uuid"] not in _csw_ids(test_csw):
        time.sleep(0.3)
    return {
        "app": app,
        "org": org,
        "ca": ca,
        "private_ca": private_ca,
        "jdds": jdds,
        "resources": resources,
        "tokens": tokens,
        "api": {role: Api(app, token) for role, token in tokens.items()},
        "csw": test_csw,
        "under_private_ca": under_private_ca,
        "history": history,
    }


def _publish_after_secret(api, org, ca, path) -> dict:
    """A JDD whose private versions (and its resource's) held a secret place, cleaned and published:
    created private (``private-public``) or published, withdrawn, then given the place."""
    jdd = api.ok(
        "package_create",
        **{
            **copy.deepcopy(JDD),
            "name": f"jdd-{path}-{uuid.uuid4().hex[:6]}",
            "title": "Suivi du lynx",
            "owner_org": org["id"],
            "cadre": ca["sinp_uuid"],
            "private": path == "private-public",
        },
    )
    if path == "public-private-public":
        api.ok("package_patch", id=jdd["id"], private=True)
    api.ok("package_patch", id=jdd["id"], notes=HISTORY_NOTES, title=f"Gîte du lynx ({HISTORY_LAT}, {HISTORY_LON})")
    res = api.ok(
        "resource_create",
        package_id=jdd["id"],
        url="https://example.org/fiche-gite.pdf",
        name="Fiche du gîte",
        description=HISTORY_NOTES,
    )
    api.ok("resource_patch", id=res["id"], description="Fiche descriptive du suivi.")
    api.ok(
        "package_patch", id=jdd["id"], notes="Suivi par pièges photographiques.", title="Suivi du lynx", private=False
    )
    return {**jdd, "resource_id": res["id"]}


def _csw_ids(csw) -> set[str]:
    params = {
        "service": "CSW",
        "version": "2.0.2",
        "request": "GetRecords",
        "typeNames": "gmd:MD_Metadata",
        "resultType": "results",
        "elementSetName": "brief",
        "outputSchema": NS["gmd"],
        "maxRecords": 100,
    }
    root = etree.fromstring(requests.get(csw, params=params, timeout=20).content)
    return set(root.xpath("//gmd:fileIdentifier/gco:CharacterString/text()", namespaces=NS))


def _headers(token):
    return {"Authorization": token} if token else {}


def test_the_leak_matrix(matrix, aggregates):
    app, jdds, resources, apis, tokens = (matrix[k] for k in ("app", "jdds", "resources", "api", "tokens"))
    problems: list[str] = []

    def check(door, state, role, seen, allowed, required=None):
        required = allowed if required is None else required
        if seen and role not in allowed:
            problems.append(f"LEAK    {door:28} {state:8} {role}")
        elif not seen and role in required:
            problems.append(f"MISSING {door:28} {state:8} {role}")

    secret_texts: dict[str, list[str]] = {role: [] for role in ROLES}  # what each role received
    csw_ids = _csw_ids(matrix["csw"])
    catalog = app.get("/catalog.ttl").get_data(as_text=True)
    polygon = json.dumps(
        {"type": "Polygon", "coordinates": [[[4.9, 47.2], [5.2, 47.2], [5.2, 47.45], [4.9, 47.45], [4.9, 47.2]]]}
    )
    for role in ROLES:
        api, headers = apis[role], _headers(tokens[role])
        found = api.ok(
            "package_search",
            q="*:*",
            include_private=True,
            include_drafts=True,
            rows=1000,
            **{"facet.field": '["organization", "tags"]', "facet.limit": -1},
        )
        found_ids = {r["id"] for r in found["results"]}
        org_count = next(
            (f["count"] for f in found["search_facets"]["organization"]["items"] if f["name"] == matrix["org"]["name"]),
            0,
        )
        if org_count != sum(1 for r in found["results"] if r["owner_org"] == matrix["org"]["id"]):
            problems.append(f"LEAK    facet count organization    -        {role}")
        secret_texts[role].append(json.dumps(found))
        territory = api.ok("sinp_territory_taxa", polygone=polygon)
        secret_texts[role].append(json.dumps(territory))
        territory_taxa = {t["nom"] for t in territory["taxa"]}
        activity = api.ok("recently_changed_packages_activity_list", limit=100)
        activity_ids = {a["object_id"] for a in activity}
        secret_texts[role].append(json.dumps(activity))
        org_activity_ids = set()
        status, body = api.get("organization_activity_list", id=matrix["org"]["id"], limit=100)
        if status == 200:
            org_activity_ids = {a["object_id"] for a in body["result"]}
            secret_texts[role].append(json.dumps(body))
        # the private JDD's keyword: for those who may read it only
        tag_facet = {f["name"] for f in found["search_facets"]["tags"]["items"]}
        check("tags facet", "private", role, PRIVATE_TAG in tag_facet, SEES["private"])
        check("tag_list", "private", role, PRIVATE_TAG in api.ok("tag_list"), SEES["private"])
        check(
            "tag_autocomplete",
            "private",
            role,
            PRIVATE_TAG in api.ok("tag_autocomplete", q="rhinolophe"),
            SEES["private"],
        )
        util = app.get("/api/util/tag/autocomplete?incomplete=rhinolophe", headers=headers)
        check(
            "/api/util/tag/autocomplete",
            "private",
            role,
            PRIVATE_TAG in {t["Name"] for t in json.loads(util.get_data(as_text=True))["ResultSet"]["Result"]},
            SEES["private"],
        )
        status, _ = api.get("tag_show", id=PRIVATE_TAG)
        check("tag_show", "private", role, status == 200, SEES["private"])
        members = {m[0] for m in api.ok("member_list", id=matrix["org"]["id"], object_type="package")}
        for state in STATES:
            jdd, res = jdds[state], resources[state]
            sees = SEES[state]
            status, body = api.get("package_show", id=jdd["id"])
            check("package_show", state, role, status == 200, sees)
            if status == 200:
                secret_texts[role].append(json.dumps(body))
            check(
                "package_search",
                state,
                role,
                jdd["id"] in found_ids,
                set() if state == "deleted" else sees,
                set() if state in ("draft", "deleted") else None,
            )
            download = app.get(f"/dataset/{jdd['id']}/resource/{res['id']}/download/{state}.csv", headers=headers)
            check(
                "raw file download",
                state,
                role,
                download.status_code == 200,
                RAW[state],
                set() if state == "deleted" else None,
            )
            status, body = api.get("sinp_qc_report_show", resource_id=res["id"])
            check("sinp_qc_report_show", state, role, status == 200, RAW[state], set() if state == "deleted" else None)
            status, body = api.get("sinp_occurrence_search", jdd=jdd["id"])
            seen = status == 200 and body["result"]["total"] > 0
            check("sinp_occurrence_search", state, role, seen, sees, set() if state == "deleted" else None)
            if status == 200:
                secret_texts[role].append(json.dumps(body))
            export = app.get(f"/jdd/{jdd['name']}/occurrences.csv", headers=headers)
            seen = export.status_code == 200 and export.get_data(as_text=True).count("\n") > 1
            check("export CSV", state, role, seen, sees, set() if state == "deleted" else None)
            if export.status_code == 200:
                secret_texts[role].append(export.get_data(as_text=True))
            geojson = app.get(f"/jdd/{jdd['name']}/occurrences.geojson", headers=headers)
            seen = geojson.status_code == 200 and json.loads(geojson.get_data(as_text=True))["total"] > 0
            check("export GeoJSON", state, role, seen, sees, set() if state == "deleted" else None)
            if geojson.status_code == 200:
                secret_texts[role].append(geojson.get_data(as_text=True))
            status, body = api.get("sinp_occurrence_stats", jdd=jdd["id"])
            seen = status == 200 and body["result"]["count"] > 0
            check("sinp_occurrence_stats", state, role, seen, sees, set() if state == "deleted" else None)
            if status == 200:
                secret_texts[role].append(json.dumps(body))
            status, body = api.get("sinp_occurrence_map", jdd=jdd["id"])
            seen = status == 200 and body["result"]["total"] > 0
            check("sinp_occurrence_map", state, role, seen, sees, set() if state == "deleted" else None)
            if status == 200:
                secret_texts[role].append(json.dumps(body))
            for action in ("sinp_mtd_export", "sinp_iso_show"):
                status, body = api.get(action, id=jdd["id"])
                check(action, state, role, status == 200, sees)
                if status == 200:
                    secret_texts[role].append(json.dumps(body))
            page = app.get(f"/jdd/{jdd['name']}", headers=headers)
            check("JDD page", state, role, page.status_code == 200, sees)
            if page.status_code == 200:
                secret_texts[role].append(page.get_data(as_text=True))
            rdf = app.get(f"/dataset/{jdd['name']}.ttl", headers=headers)
            check("DCAT dataset", state, role, rdf.status_code == 200, sees)
            if rdf.status_code == 200:
                secret_texts[role].append(rdf.get_data(as_text=True))
            status, body = api.get("package_activity_list", id=jdd["id"])
            check(
                "package_activity_list",
                state,
                role,
                status == 200 and bool(body["result"]),
                sees,
                {"editor", "sysadmin"} if state in ("public", "private", "withdrawn") else set(),
            )
            check(
                "member_list",
                state,
                role,
                jdd["id"] in members,
                sees,
                sees if state in ("public", "private", "withdrawn") else set(),
            )
            if state in ("private", "withdrawn", "draft"):
                check("recently_changed activity", state, role, jdd["id"] in activity_ids, sees, set())
                check("organization_activity_list", state, role, jdd["id"] in org_activity_ids, sees, set())
            # anonymous doors, the same for everybody: CSW and the DCAT catalogue
            check("CSW GetRecords", state, role, jdd["sinp_uuid"] in csw_ids, {r for r in ROLES if state == "public"})
            check(
                "DCAT catalogue",
                state,
                role,
                jdd["sinp_uuid"] in catalog or jdd["name"] in catalog,
                {r for r in ROLES if state == "public"},
            )
            check(
                "territory service",
                state,
                role,
                TAXA[state][0] in territory_taxa,
                sees,
                set() if state == "deleted" else None,
            )
    # the private CA of the private JDD: its producer, the chef de file of the JDD's scope, sysadmins
    private_ca = matrix["private_ca"]
    for role in ROLES:
        status, _ = apis[role].get("package_show", id=private_ca["id"])
        check("package_show (CA)", "private", role, status == 200, SEES["private"])
        found = apis[role].ok("package_search", q="*:*", include_private=True, rows=1000)
        check(
            "package_search (CA)",
            "private",
            role,
            private_ca["id"] in {r["id"] for r in found["results"]},
            SEES["private"],
        )
    for state in STATES:
        record = requests.get(
            matrix["csw"],
            params={
                "service": "CSW",
                "version": "2.0.2",
                "request": "GetRecordById",
                "id": jdds[state]["sinp_uuid"],
                "outputSchema": NS["gmd"],
                "elementSetName": "full",
            },
            timeout=20,
        )
        served = jdds[state]["sinp_uuid"] in record.text
        check("CSW GetRecordById", state, "anonymous", served, {"anonymous"} if state == "public" else set())
        if served:
            for role in ROLES:
                secret_texts[role].append(record.text)
    secret_texts["anonymous"].append(catalog)
    _check_history(matrix, check, secret_texts)
    _check_jdd_under_private_ca(matrix, check, secret_texts)
    _check_precise_view(matrix, aggregates, check, secret_texts)  # roll-ups stale: from the counts
    _check_public_aggregates(matrix, aggregates, check)
    _check_precise_view(matrix, aggregates, check, secret_texts)  # roll-ups fresh: they and the added rows
    # the sensitive observation's precise coordinates reach only those with full access
    for role in ROLES:
        leaked = any(SECRET_LON in text or SECRET_LAT in text for text in secret_texts[role])
        check("precise sensitive location", "public", role, leaked, {"editor", "chef_in", "sysadmin"})
        leaked = any(HISTORY_LAT in text or HISTORY_LON in text for text in secret_texts[role])
        check("place in a private version", "history", role, leaked, HISTORY_SEES)
        leaked = any(PRIVATE_CA_START in text or PRIVATE_CA_END in text for text in secret_texts[role])
        check("private CA's period", "private", role, leaked, SEES["private"])
    assert not problems, "\n" + "\n".join(problems)


# who may see the versions of a published JDD recorded while it was private (it holds no occurrence:
# no chef de file covers it)
HISTORY_SEES = {"editor", "sysadmin"}


def _check_history(matrix, check, secret_texts) -> None:
    """Every activity door, for the JDD published after private versions that held a secret place."""
    app, apis, tokens = matrix["app"], matrix["api"], matrix["tokens"]
    for path, jdd in matrix["history"].items():
        every = apis["sysadmin"].ok("package_activity_list", id=jdd["id"], limit=100)
        private_ids = {a["id"] for a in every if a["data"]["package"].get("private")}
        assert private_ids and len(private_ids) < len(every), every
        for role in ROLES:
            api, headers = apis[role], _headers(tokens[role])
            status, body = api.get("package_activity_list", id=jdd["id"], limit=100)
            listed = {a["id"] for a in body["result"]} if status == 200 else set()
            check("package_activity_list", path, role, bool(listed - private_ids), set(ROLES))
            check("package_activity_list (private)", path, role, bool(listed & private_ids), HISTORY_SEES)
            if status == 200:
                secret_texts[role].append(json.dumps(body))
            for activity in every:
                private = activity["id"] in private_ids
                for action, params in (
                    ("activity_show", {"include_data": False}),
                    ("activity_data_show", {"object_type": "package"}),
                    ("activity_diff", {"object_type": "package", "diff_type": "unified"}),
                ):
                    status, body = api.get(action, id=activity["id"], **params)
                    if status == 200:
                        secret_texts[role].append(json.dumps(body))
                    if private and action == "activity_show":
                        check("activity_show (private)", path, role, status == 200, HISTORY_SEES)
                    elif private:
                        check(f"{action} (private)", path, role, status == 200, HISTORY_SEES, set())
                for url in (
                    f"/dataset/changes/{activity['id']}",
                    f"/dataset/{jdd['name']}/history/{activity['id']}",
                    f"/dataset/{jdd['id']}/resources/{jdd['resource_id']}/history/{activity['id']}",
                ):
                    page = app.get(url, headers=headers)
                    if page.status_code == 200:
                        secret_texts[role].append(page.get_data(as_text=True))
            for url in (f"/dataset/activity/{jdd['name']}", f"/jdd/activity/{jdd['name']}"):
                page = app.get(url, headers=headers)
                if page.status_code == 200:
                    secret_texts[role].append(page.get_data(as_text=True))


def _check_jdd_under_private_ca(matrix, check, secret_texts) -> None:
    """A public JDD under a private CA: none of the CA's fields in its ISO, CSW, DCAT or year facet;
    its page links the CA only for those who may read the CA."""
    app, apis, tokens = matrix["app"], matrix["api"], matrix["tokens"]
    jdd, ca = matrix["under_private_ca"], matrix["private_ca"]
    traces = (PRIVATE_CA_START, PRIVATE_CA_END, ca["sinp_uuid"])
    csw = requests.get(
        matrix["csw"],
        params={
            "service": "CSW",
            "version": "2.0.2",
            "request": "GetRecordById",
            "id": jdd["sinp_uuid"],
            "outputSchema": NS["gmd"],
            "elementSetName": "full",
        },
        timeout=20,
    ).text
    check("CSW (JDD under private CA)", "public", "anonymous", jdd["sinp_uuid"] in csw, set(ROLES))
    for role in ROLES:
        api, headers = apis[role], _headers(tokens[role])
        status, iso = api.get("sinp_iso_show", id=jdd["id"])
        found = api.ok("package_search", fq=f'id:"{jdd["id"]}"', **{"facet.field": '["vocab_sinp_annee"]'})
        outputs = {
            "sinp_iso_show": json.dumps(iso) if status == 200 else "",
            "CSW GetRecordById": csw,
            "DCAT dataset": app.get(f"/dataset/{jdd['name']}.ttl", headers=headers).get_data(as_text=True),
            "year facet": json.dumps(found["search_facets"]),
        }
        check(
            "JDD under private CA",
            "public",
            role,
            bool(outputs["sinp_iso_show"]) and bool(found["results"]),
            set(ROLES),
        )
        for door, text in outputs.items():
            seen = any(t in text for t in traces) or '"2012"' in text or '"2013"' in text
            check(f"{door} (under private CA)", "public", role, seen, set(), set())
            secret_texts[role].append(text)
        page = app.get(f"/jdd/{jdd['name']}", headers=headers).get_data(as_text=True)
        check(
            "JDD page (under private CA)",
            "public",
            role,
            ca["sinp_uuid"] in page or ca["title"] in page,
            SEES["private"],
        )


# --- the public aggregates (#16 géo-visualiseur and data flows, #17 ORB indicators) -----------------

CARTE_LEVELS = ("maille", "commune", "departement")
# the roles the public aggregates are asked as (_check_public_aggregates says why these two)
AGGREGATE_ROLES = ("anonymous", "sysadmin")
PUBLIC_COMMUNE, PUBLIC_DEP = "21231", "21"


@pytest.fixture
def aggregates(matrix, stack, tmp_path):
    """What the public aggregates need on top of the matrix's world: the map server's URLs, each
    state's 10 km cell and taxon (CD_REF), the sensitive observation's place in Lambert-93. Afterwards
    the roll-ups and the live indicators forget this world (the map server reads the test database)."""
    from ckanext.sinp import settings
    from ckanext.sinp.occurrences import indicators_store, map_store
    from ckanext.sinp.referentials import geo_store

    engine = model.meta.engine
    map_store.ensure_tables(engine, settings.flux_reader_role())
    indicators_store.ensure_tables(engine)
    with engine.connect() as conn:
        cells, refs = {}, {}
        for state, (lon, lat) in PLACES.items():
            x, y = conn.execute(
                sa.text("SELECT ST_X(p), ST_Y(p) FROM ST_Transform(ST_SetSRID(ST_MakePoint(:x, :y), 4326), 2154) p"),
                {"x": float(lon), "y": float(lat)},
            ).one()
            cells[state] = f"10kmL93E{int(x // 10000):03d}N{int(y // 10000):03d}"
            if state == "public":
                secret_2154 = (x, y)
            cd_nom = TAXA[state][1]
            refs[state] = (
                conn.execute(sa.text("SELECT cd_ref FROM sinp_taxref WHERE cd_nom = :c"), {"c": cd_nom}).scalar()
                or cd_nom
            )
        layers = dict(
            conn.execute(
                sa.text("SELECT package_id, max(public_layer) FROM sinp_occurrence WHERE package_id = :p GROUP BY 1"),
                {"p": matrix["jdds"]["public"]["id"]},
            ).all()
        )
    assert len(set(cells.values())) == len(STATES), cells  # a cell per state
    # the outlines of every state's commune (Dijon) and département (Côte-d'Or): the map server's layers
    # by commune and département serve them (synthetic shapes, tests/fixtures/admin_express.py)
    outlines = admin_express.write_gpkg(
        tmp_path / "contours.gpkg",
        communes=[c for c in admin_express.COMMUNES if c[0] == PUBLIC_COMMUNE],
        departements=[d for d in admin_express.DEPARTEMENTS if d[0] == PUBLIC_DEP],
    )
    for kind in ("communes", "departements"):
        geo_store.load_contours(engine, outlines, kind=kind)
    yield {
        "cells": cells,
        "refs": refs,
        "secret_2154": secret_2154,
        "public_layer": layers[matrix["jdds"]["public"]["id"]],
        **_urls(stack),
    }
    with engine.begin() as conn:
        conn.execute(
            sa.text("DELETE FROM sinp_occurrence WHERE package_id = ANY(:ids)"),
            {"ids": [j["id"] for j in matrix["jdds"].values()]},
        )
        map_store.refresh_public(conn, force=True)
        conn.execute(sa.text("DELETE FROM sinp_indicator_value WHERE edition = :e"), {"e": indicators_store.LIVE})
        conn.execute(sa.text("DELETE FROM sinp_indicator_edition WHERE edition = :e"), {"e": indicators_store.LIVE})
        for spec in geo_store.CONTOUR_SPECS.values():
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {spec.table}"))
        conn.execute(sa.text("DELETE FROM sinp_referential_version WHERE name LIKE 'contours%'"))


def _carte_doors(matrix, agg, role) -> tuple[dict, list[str]]:
    """The géo-visualiseur's actions and pages as ``role``: {(door, state): seen} (seen: the state's
    taxon or JDD is counted) and the texts received. For the public JDD, ``sensible (commune)`` tells
    whether its sensitive observation was counted at the commune level."""
    app, jdds, api, headers = matrix["app"], matrix["jdds"], matrix["api"][role], _headers(matrix["tokens"][role])
    cells, refs = agg["cells"], agg["refs"]
    seen: dict = {}
    texts: list[str] = []

    def add(door, state, value):
        seen[(door, state)] = seen.get((door, state), False) or bool(value)

    totals = {}
    for niveau in CARTE_LEVELS:
        whole = api.ok("sinp_carte", niveau=niveau)
        texts.append(json.dumps(whole))
        totals[niveau] = whole["total_obs"]
        codes = {c["code"] for c in whole["cellules"]}
        for state in STATES:
            by_taxon = api.ok("sinp_carte", niveau=niveau, taxon=refs[state])
            by_jdd = api.ok("sinp_carte", niveau=niveau, jdd=jdds[state]["id"])
            texts += [json.dumps(by_taxon), json.dumps(by_jdd)]
            if niveau == "commune" and state == "public":  # its sensitive observation is blurred to the maille
                add("sinp_carte commune", state, by_jdd["total_obs"])  # the plain observation
                add("sensible (commune)", state, by_taxon["total_obs"] or by_jdd["total_obs"] > 1)
            else:
                add(f"sinp_carte {niveau}", state, by_taxon["total_obs"] or by_jdd["total_obs"])
            if niveau == "maille":
                add("sinp_carte maille", state, cells[state] in codes)
            for fmt in ("csv", "geojson") if niveau == "maille" else ("csv",):  # the same cells as GeoJSON
                for query in (f"taxon={refs[state]}", f"jdd={jdds[state]['name']}"):
                    export = app.get(f"/carte/export.{fmt}?niveau={niveau}&{query}", headers=headers)
                    assert export.status_code == 200, (niveau, query, export.status_code)
                    body = export.get_data(as_text=True)
                    texts.append(body)
                    counted = body.count("\n") > 1 if fmt == "csv" else bool(json.loads(body)["features"])
                    if niveau == "commune" and state == "public" and query.startswith("taxon="):
                        add("sensible (commune)", state, counted)
                    else:
                        add(f"/carte/export.{fmt}", state, counted)
    # the cells: the sensitive observation's (each level) and each state's maille
    for niveau, code in (("maille", cells["public"]), ("commune", PUBLIC_COMMUNE), ("departement", PUBLIC_DEP)):
        taxa = api.ok("sinp_carte_taxons", niveau=niveau, code=code)
        texts.append(json.dumps(taxa))
        listed = {t["cd_ref"] for t in taxa["taxons"]}
        for state in STATES:
            if niveau == "commune" and state == "public":
                add("sensible (commune)", state, refs[state] in listed)
            else:
                add("sinp_carte_taxons", state, refs[state] in listed)
    for state in STATES:
        taxa = api.ok("sinp_carte_taxons", niveau="maille", code=cells[state])
        texts.append(json.dumps(taxa))
        listed = {t["cd_ref"] for t in taxa["taxons"]}
        # a state's own cell holds nothing public: any taxon there is a leak
        add("sinp_carte_taxons", state, refs[state] in listed if state == "public" else listed)
        page = app.get(f"/carte?cellule={cells[state]}", headers=headers)
        assert page.status_code == 200, (state, page.status_code)
        texts.append(page.get_data(as_text=True))
        add("/carte (cellule)", state, TAXA[state][0] in page.get_data(as_text=True))
        fiche = api.ok("sinp_taxon_fiche", cd_ref=refs[state])
        texts.append(json.dumps(fiche))
        add(
            "sinp_taxon_fiche",
            state,
            fiche["total_obs"] or fiche["mailles"] or sum(fiche["mois"]) or fiche["annees"] or fiche["jdd"],
        )
        page = app.get(f"/taxon/{refs[state]}", headers=headers)
        assert page.status_code == 200, (state, page.status_code)
        texts.append(page.get_data(as_text=True))
        add("/taxon page", state, jdds[state]["name"] in page.get_data(as_text=True))
    # every count of the unfiltered map is the public JDD's: 2 observations, 1 at the commune level
    expected = {"maille": 2, "commune": 1, "departement": 2}
    for niveau in CARTE_LEVELS:
        add(f"sinp_carte {niveau} total", "-", totals[niveau] != expected[niveau])
    return seen, texts


# the géo-visualiseur's precise view (vue=precise): what each role sees precisely, as the other doors
# decide (the producer's members, the chef de file of the scope — active JDD only —, sysadmins); the
# sensitive observation of the public JDD counts at the commune for them only
PRECISE_SENSITIVE = {"editor", "chef_in", "sysadmin"}


def _check_precise_view(matrix, agg, check, secret_texts) -> None:
    """The precise view of ``sinp_carte`` (each level, unfiltered, by JDD, by taxon), of
    ``sinp_carte_taxons`` (each state's cell), of the page (a cell's taxa) and of the exports, for
    every role: a state's observation counts for the roles that see it (``SEES``), never for the others;
    the public JDD's sensitive observation counts at the commune for ``PRECISE_SENSITIVE`` only."""
    app, jdds = matrix["app"], matrix["jdds"]
    cells, refs = agg["cells"], agg["refs"]
    for role in ROLES:
        api, headers = matrix["api"][role], _headers(matrix["tokens"][role])
        seen: dict = {}
        texts: list[str] = []

        def add(door, state, value, seen=seen):
            seen[(door, state)] = seen.get((door, state), False) or bool(value)

        for niveau in CARTE_LEVELS:
            whole = api.ok("sinp_carte", niveau=niveau, vue="precise")
            texts.append(json.dumps(whole))
            codes = {c["code"] for c in whole["cellules"]}
            for state in STATES:
                by_taxon = api.ok("sinp_carte", niveau=niveau, taxon=refs[state], vue="precise")
                by_jdd = api.ok("sinp_carte", niveau=niveau, jdd=jdds[state]["id"], vue="precise")
                texts += [json.dumps(by_taxon), json.dumps(by_jdd)]
                if state == "public" and niveau == "commune":  # the sensitive observation is the taxon's
                    add("precise sensible (commune)", state, by_taxon["total_obs"])
                    add("precise sinp_carte commune", state, by_jdd["total_obs"])  # the plain observation
                else:
                    add(f"precise sinp_carte {niveau}", state, by_taxon["total_obs"] or by_jdd["total_obs"])
                if niveau == "maille" and state != "public":
                    add("precise sinp_carte maille", state, cells[state] in codes)
                export = app.get(
                    f"/carte/export.csv?niveau={niveau}&vue=precise&jdd={jdds[state]['name']}", headers=headers
                )
                assert export.status_code == 200, (role, niveau, state, export.status_code)
                assert "public" not in export.headers.get("Cache-Control", "") or role == "anonymous"
                texts.append(export.get_data(as_text=True))
                counted = export.get_data(as_text=True).count("\n") > 1
                if not (state == "public" and niveau == "commune"):
                    add("precise /carte/export.csv", state, counted)
        for state in STATES:
            taxa = api.ok("sinp_carte_taxons", niveau="maille", code=cells[state], vue="precise")
            texts.append(json.dumps(taxa))
            add("precise sinp_carte_taxons", state, refs[state] in {t["cd_ref"] for t in taxa["taxons"]})
            page = app.get(f"/carte?vue=precise&cellule={cells[state]}", headers=headers)
            assert page.status_code == 200, (role, state, page.status_code)
            texts.append(page.get_data(as_text=True))
            add("precise /carte (cellule)", state, TAXA[state][0] in page.get_data(as_text=True))
        taxa = api.ok("sinp_carte_taxons", niveau="commune", code=PUBLIC_COMMUNE, vue="precise")
        texts.append(json.dumps(taxa))
        add("precise sensible (commune)", "public", refs["public"] in {t["cd_ref"] for t in taxa["taxons"]})
        for (door, state), value in seen.items():
            if door == "precise sensible (commune)":
                check(door, state, role, value, PRECISE_SENSITIVE)
            else:  # a deleted JDD's observations are gone with it: required of nobody
                check(door, state, role, value, SEES[state], set() if state == "deleted" else None)
        secret_texts[role] += texts


# the layers the map server's GetFeatureInfo is asked on (every layer of data)
FLUX_QUERIED = ("observations_maille", "observations_commune", "observations_departement", "jdd_emprise")


def _flux_doors(matrix, agg) -> tuple[dict, list[str]]:
    """The map server's WMS GetFeatureInfo, WFS GetFeature (bbox, PropertyIsEqualTo) and OGC API
    items (bbox, limit, filter): {(door, state): seen} (seen: the state's cell or JDD is served)."""
    jdds, cells = matrix["jdds"], agg["cells"]
    seen: dict = {}
    texts: list[str] = []

    def add(door, state, value):
        seen[(door, state)] = seen.get((door, state), False) or bool(value)

    def served(body: str, state: str) -> bool:
        return cells[state] in body or jdds[state]["name"] in body or f"Inventaire {state}<" in body

    x, y = agg["secret_2154"]
    for state in STATES:
        e, n = (int(v) * 10000 for v in re.fullmatch(r"10kmL93E(\d+)N(\d+)", cells[state]).groups())
        # GetFeatureInfo (enabled by the map file) at the middle of the state's cell, every layer
        info = _get(
            agg["wms"],
            SERVICE="WMS",
            VERSION="1.3.0",
            REQUEST="GetFeatureInfo",
            LAYERS=",".join(FLUX_QUERIED),
            QUERY_LAYERS=",".join(FLUX_QUERIED),
            STYLES="," * (len(FLUX_QUERIED) - 1),
            CRS="EPSG:2154",
            BBOX=f"{e},{n},{e + 10000},{n + 10000}",
            WIDTH=10,
            HEIGHT=10,
            I=5,
            J=5,
            INFO_FORMAT="application/vnd.ogc.gml",
            FEATURE_COUNT=50,
        )
        assert info.status_code == 200 and "msGMLOutput" in info.text, info.text[:300]
        texts.append(info.text)
        add("WMS GetFeatureInfo", state, served(info.text, state))
        # WFS: a bbox inside the state's cell (around the sensitive point for the public JDD), and
        # PropertyIsEqualTo on the cell's code, the JDD's name and its title
        bx, by = (x, y) if state == "public" else (e + 5000, n + 5000)
        queries = [
            ("observations_maille", {"BBOX": f"{bx - 100},{by - 100},{bx + 100},{by + 100},EPSG:2154"}),
            ("jdd_emprise", {"BBOX": f"{bx - 100},{by - 100},{bx + 100},{by + 100},EPSG:2154"}),
        ]
        for typename, prop, value in (
            ("observations_maille", "cd_sig", cells[state]),
            ("jdd_emprise", "jdd", jdds[state]["name"]),
            ("jdd_emprise", "titre", jdds[state]["title"]),
        ):
            queries.append(
                (
                    typename,
                    {
                        "FILTER": f"<Filter><PropertyIsEqualTo><ValueReference>{prop}</ValueReference>"
                        f"<Literal>{value}</Literal></PropertyIsEqualTo></Filter>"
                    },
                )
            )
        for typename, params in queries:
            features = _wfs_json({"urls": agg}, typename, **params)  # GeoJSON, as test_flux asks
            texts.append(json.dumps(features))
            add("WFS GetFeature", state, features["features"])
        # OGC API Features: items in a bbox (EPSG:4326) around the place, with a limit and a filter
        # (CQL2 text; a server that ignores it answers the unfiltered items: none may be the state's)
        lon, lat = (float(v) for v in PLACES[state])
        for collection, condition in (
            ("observations_maille", f"cd_sig='{cells[state]}'"),
            ("jdd_emprise", f"jdd='{jdds[state]['name']}'"),
        ):
            for params in (
                {"bbox": f"{lon - 0.005},{lat - 0.005},{lon + 0.005},{lat + 0.005}", "limit": 10},
                {"limit": 1000, "filter": condition, "filter-lang": "cql2-text"},
            ):
                response = _get(f"{agg['ogcapi']}/collections/{collection}/items", f="json", **params)
                texts.append(response.text)
                if response.status_code == 200:
                    add("OGC API items", state, served(response.text, state))
    # the layers by commune and département: every state's observation is in Dijon (Côte-d'Or); only
    # the published JDD's count there — its plain observation at the commune (the sensitive one is
    # blurred to the maille), both at the département. More is a leak (of some state: the counts do not
    # say which), a sensitive observation counted at the commune too.
    lon, lat = (float(v) for v in PLACES["public"])
    for layer, prop, code, public in (
        ("observations_commune", "insee_com", PUBLIC_COMMUNE, 1),
        ("observations_departement", "insee_dep", PUBLIC_DEP, 2),
    ):
        bodies = [
            _wfs_json({"urls": agg}, layer),
            _wfs_json(
                {"urls": agg},
                layer,
                FILTER=f"<Filter><PropertyIsEqualTo><ValueReference>{prop}</ValueReference>"
                f"<Literal>{code}</Literal></PropertyIsEqualTo></Filter>",
            ),
        ]
        for params in (
            {"bbox": f"{lon - 0.005},{lat - 0.005},{lon + 0.005},{lat + 0.005}", "limit": 10},
            {"limit": 1000, "filter": f"{prop}='{code}'", "filter-lang": "cql2-text"},
        ):
            response = _get(f"{agg['ogcapi']}/collections/{layer}/items", f="json", **params)
            if response.status_code == 200:
                bodies.append(response.json())
        for body in bodies:
            texts.append(json.dumps(body))
            counts = [f["properties"]["nb_obs"] for f in body["features"] if f["properties"][prop] == code]
            door = "WFS GetFeature" if "numberMatched" not in body else "OGC API items"
            add(door, "public", counts == [public])
            for state in STATES[1:]:
                add(door, state, any(n > public for n in counts))
            if layer == "observations_commune":
                add("sensible (commune)", "public", any(n > public for n in counts))
    return seen, texts


def _indicator_doors(matrix, agg, role) -> tuple[dict, list[str]]:
    """The ORB indicators as ``role`` (list, show with each breakdown, the CSV and JSON downloads):
    {(door, state): seen} (seen: the state's taxon, cell or JDD in a row, or its JDD counted)."""
    app, jdds, api, headers = matrix["app"], matrix["jdds"], matrix["api"][role], _headers(matrix["tokens"][role])
    seen: dict = {}
    texts: list[str] = []

    def add(door, state, value):
        seen[(door, state)] = seen.get((door, state), False) or bool(value)

    listed = api.ok("sinp_indicator_list")
    texts.append(json.dumps(listed))
    rows: list[dict] = []
    for indicator in listed:
        code = indicator["code"]
        region = api.ok("sinp_indicator_show", code=code)
        texts.append(json.dumps(region))
        rows += [{**r, "code": code} for r in region["series"]]
        for key, value in (
            ("departement", PUBLIC_DEP),
            ("groupe", "Mammifères"),
            ("groupe", "Oiseaux"),
            ("annee", 2024),
        ):
            if key in region["ventilations"]:  # each breakdown the indicator offers
                shown = api.ok("sinp_indicator_show", code=code, **{key: value})
                texts.append(json.dumps(shown))
                rows += [{**r, "code": code} for r in shown["series"]]
        for ext in ("csv", "json"):
            download = app.get(f"/indicateurs/{code}.{ext}", headers=headers)
            assert download.status_code == 200, (code, ext, download.status_code)
            texts.append(download.get_data(as_text=True))
        page = app.get(f"/indicateurs/{code}", headers=headers)
        assert page.status_code == 200, (code, page.status_code)
        texts.append(page.get_data(as_text=True))
    for state in STATES:
        traces = {str(agg["refs"][state]), agg["cells"][state], jdds[state]["id"], jdds[state]["name"]}
        add(
            "sinp_indicator_show",
            state,
            any(r["cle"] in traces or TAXA[state][0] in (r["libelle"] or "") for r in rows)
            or any(jdds[state]["name"] in t or f"Inventaire {state}<" in t for t in texts),
        )
    # the producer's JDD and CA (the public JDD, the one under a private CA and the two published
    # after private versions; the public CA): none of the other states' JDD, not the private CA
    producer = f"producteur:{matrix['org']['id']}"
    by_code = {(r["code"], r["cle"]): r for r in rows if r["annee"] is None and r["departement"] is None}
    counted = by_code.get(("ca_jdd_producteur", producer)) or {}
    add("ca_jdd_producteur", "public", (counted.get("valeur"), counted.get("effectif")) == (4, 1))
    deposited = by_code.get(("part_jdd_deposes", producer)) or {}
    add("part_jdd_deposes", "public", deposited.get("effectif") == 1 and deposited.get("valeur") == 25.0)
    # the public JDD's bird (not sensitive: its figures are shown) is counted
    birds = [r for r in rows if r["code"] == "observations" and r["groupe"] == "Oiseaux" and r["annee"] is None]
    add("observations (Oiseaux)", "public", birds and all(r["valeur"] == 1 for r in birds))
    return seen, texts


def _check_public_aggregates(matrix, agg, check) -> None:
    """The géo-visualiseur, the data flows and the indicators count what the public may see, the same
    for every role: a state's taxon, cell or JDD never, the public JDD's always (else the check would
    be vacuous), its sensitive observation never at the commune level, its precise place never.

    These doors take no user (their auth functions allow anyone; the actions count the published
    JDD whoever asks): they are called as the anonymous visitor and as a sysadmin, whose rights hold
    every other role's (a door that let the caller's rights in would show it to the sysadmin first),
    and the verdicts are the same for every role. The map's actions and pages are called twice: while
    the roll-ups are stale (they answer from the counts) and after one ``map_store.refresh_public``
    (from the roll-ups); the indicators after one computation of the live edition. The map server
    has no user at all: its doors are called once, as the anonymous visitor."""
    from ckanext.sinp.logic import indicator_actions
    from ckanext.sinp.occurrences import map_store

    assert agg["public_layer"] == 2, agg  # the sensitive observation is diffused at the maille
    engine = model.meta.engine
    texts: dict[str, list[str]] = {role: [] for role in ROLES}

    def verdicts(seen: dict, role: str, phase: str = "") -> None:
        for (door, state), value in seen.items():
            allowed = {role} if state == "public" and door != "sensible (commune)" else set()
            check(f"{door}{phase}", state, role, value, allowed)

    with engine.connect() as conn:
        assert not map_store.is_fresh(conn)  # the deposits changed the counts: stale roll-ups
    for role in AGGREGATE_ROLES:
        seen, received = _carte_doors(matrix, agg, role)
        verdicts(seen, role, " (comptes)")
        texts[role] += received
    with engine.begin() as conn:
        map_store.refresh_public(conn, force=True)
    indicator_actions.compute_edition()
    with engine.connect() as conn:
        assert map_store.is_fresh(conn)
    for role in AGGREGATE_ROLES:
        seen, received = _carte_doors(matrix, agg, role)
        verdicts(seen, role, " (agrégats)")
        texts[role] += received
        seen, received = _indicator_doors(matrix, agg, role)
        verdicts(seen, role)
        texts[role] += received
    seen, received = _flux_doors(matrix, agg)
    verdicts(seen, "anonymous")
    texts["anonymous"] += received
    for role in AGGREGATE_ROLES:
        leaked = any(SECRET_LON in text or SECRET_LAT in text for text in texts[role])
        check("precise location (aggregates)", "public", role, leaked, set())
