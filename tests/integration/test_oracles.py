"""No existence oracle: for whoever may not read a record, « it does not exist » and « you may not
see it » are the same answer — same status, same body (once the requested id is replaced by a
placeholder), never the record's title nor its other identifiers — on every door that takes an id:
CKAN's actions and pages, the SINP actions, the deposit's report and files, the exports, the MTD and
ISO documents, the attestation. The MTD import does not say what a UUID it may not use belongs to.

Real CKAN (in-process), PostgreSQL/PostGIS, Solr, Redis and a real `ckan jobs worker`.
"""

from __future__ import annotations

import copy
import re
import secrets
import uuid

import ckan.model as model
import pytest
import sqlalchemy as sa
from ckan.tests import factories

from tests.integration.test_occurrence_deposits import upload, wait_report
from tests.integration.test_sinp_records import CA, JDD, Api

CA_TITLE, JDD_TITLE = "Programme confidentiel Zéphyrine", "Inventaire secret du Quetzalcoatl"
HEADER = (
    "idOrigine;statutObservation;nomCite;cdNom;dateDebut;dateFin;observateur;geometrie;natureObjetGeo;"
    "dSPublique;statutSource;organismeGestionnaireDonnee"
)
ROWS = [
    "OBS-1;Pr;Myotis myotis;60418;2024-05-01;2024-05-01;MARTIN Léa (LPO BFC);POINT(5.04 47.32);St;Pu;Te;LPO BFC",
    "OBS-2;Pr;Myotis myotis;abc;2024-05-02;2024-05-02;MARTIN Léa (LPO BFC);POINT(5.05 47.33);St;Pu;Te;LPO BFC",
]

# (door, how it is called, the template of the id(s) it takes)
API_GET = [
    ("package_show", {"id": "{jdd_id}"}),
    ("package_show", {"id": "{jdd_name}"}),
    ("package_show", {"id": "{ca_id}"}),
    ("sinp_iso_show", {"id": "{jdd_uuid}"}),
    ("sinp_iso_show", {"id": "{ca_name}"}),
    ("sinp_mtd_export", {"id": "{ca_uuid}"}),
    ("sinp_mtd_export", {"id": "{jdd_id}"}),
    ("sinp_occurrence_search", {"jdd": "{jdd_id}"}),
    ("sinp_occurrence_search", {"jdd": "{jdd_uuid}"}),
    ("sinp_occurrence_stats", {"jdd": "{jdd_name}"}),
    ("sinp_qc_report_show", {"resource_id": "{res}"}),
    ("resource_show", {"id": "{res}"}),
    ("resource_view_list", {"id": "{res}"}),
    ("sinp_validation_history", {"id_sinp_occtax": "{obs}"}),
]
API_POST = [
    ("package_patch", {"id": "{jdd_id}", "title": "Piraté"}),
    ("package_update", {"id": "{ca_id}", "title": "Piraté"}),
    ("package_delete", {"id": "{ca_id}"}),
    ("resource_delete", {"id": "{res}"}),
    ("resource_patch", {"id": "{res}", "name": "piraté"}),
    ("resource_create", {"package_id": "{jdd_id}", "url": "https://exemple.fr/x.csv", "name": "x"}),
    ("sinp_qc_run", {"resource_id": "{res}"}),
    ("sinp_jdd_apply_extent", {"jdd": "{jdd_id}"}),
]
PAGES = [
    "/jdd/{jdd_name}",
    "/ca/{ca_name}",
    "/dataset/{jdd_name}",
    "/dataset/{ca_id}",
    "/dataset/{jdd_id}/resource/{res}",
    "/jdd/{jdd_name}/resource/{res}",
    "/dataset/{jdd_id}/resource/{res}/download/depot.csv",
    "/jdd/{jdd_name}/depot/{res}",
    "/jdd/{jdd_name}/depot/{res}/rapport.json",
    "/jdd/{jdd_name}/depot/{res}/erreurs.csv",
    "/jdd/{jdd_name}/depot/{res}/lignes-refusees.csv",
    "/jdd/{jdd_name}/validation",
    "/jdd/{jdd_name}/occurrences.csv",
    "/jdd/{jdd_name}/occurrences.geojson",
    "/ca/{ca_name}/mtd.xml",
    "/ca/{ca_name}/iso19139.xml",
    "/jdd/{jdd_name}/iso19139.xml",
    "/dataset/{jdd_name}.ttl",
    "/dataset/{ca_id}.rdf",
    "/depot/{token}/attestation.pdf",
    "/depot/{token}/attestation",
]
# per-request values of a page that are not about the record
VOLATILE = [
    re.compile(p)
    for p in (
        r'name="_csrf_token" value="[^"]*"',
        r'name="_csrf_token" content="[^"]*"',
        r'nonce="[^"]*"',
        r"nonce-[A-Za-z0-9+/=_-]+",
    )
]


@pytest.fixture
def world(app, clean_db, clean_index, jobs_worker):
    producer = factories.UserWithToken()
    org = factories.Organization(users=[{"name": producer["name"], "capacity": "editor"}], title="LPO BFC")
    api = Api(app, producer["token"])
    ca = api.ok(
        "package_create",
        **{
            **copy.deepcopy(CA),
            "name": f"ca-{uuid.uuid4().hex[:8]}",
            "title": CA_TITLE,
            "owner_org": org["id"],
            "private": True,
        },
    )
    jdd = api.ok(
        "package_create",
        **{
            **copy.deepcopy(JDD),
            "name": f"jdd-{uuid.uuid4().hex[:8]}",
            "title": JDD_TITLE,
            "owner_org": org["id"],
            "cadre": ca["sinp_uuid"],
            "private": True,
        },
    )
    res = upload(app, producer["token"], jdd["id"], ("\n".join([HEADER, *ROWS]) + "\n").encode(), name="depot.csv")
    report = wait_report(api, res["id"])
    assert (report["rows_accepted"], report["rows_rejected"]) == (1, 1), report
    with model.meta.engine.connect() as conn:
        obs = conn.execute(
            sa.text("SELECT id_sinp_occtax FROM sinp_occurrence WHERE resource_id = :r"), {"r": res["id"]}
        ).scalar()
    secret = {
        "jdd_id": jdd["id"],
        "jdd_name": jdd["name"],
        "jdd_uuid": jdd["sinp_uuid"],
        "ca_id": ca["id"],
        "ca_name": ca["name"],
        "ca_uuid": ca["sinp_uuid"],
        "res": res["id"],
        "obs": obs,
        "token": report["receipt_url"].split("/depot/")[1].split("/")[0],
    }
    unknown = {
        "jdd_id": str(uuid.uuid4()),
        "jdd_name": f"jdd-{uuid.uuid4().hex[:8]}",
        "jdd_uuid": str(uuid.uuid4()).upper(),
        "ca_id": str(uuid.uuid4()),
        "ca_name": f"ca-{uuid.uuid4().hex[:8]}",
        "ca_uuid": str(uuid.uuid4()).upper(),
        "res": str(uuid.uuid4()),
        "obs": str(uuid.uuid4()).upper(),
        "token": secrets.token_urlsafe(16),
    }
    other = factories.UserWithToken()
    factories.Organization(users=[{"name": other["name"], "capacity": "editor"}], title="CEN Franche-Comté")
    return {
        "app": app,
        "producer": producer,
        "org": org,
        "secret": secret,
        "unknown": unknown,
        "roles": {"anonyme": {}, "éditeur d'un autre producteur": {"Authorization": other["token"]}},
        "other": Api(app, other["token"]),
    }


def _fill(template, values):
    if isinstance(template, dict):
        return {k: _fill(v, values) for k, v in template.items()}
    return template.format(**values)


def _normalised(text, values):
    for pattern in VOLATILE:
        text = pattern.sub("", text)
    for key, value in sorted(values.items(), key=lambda kv: -len(kv[1])):
        text = text.replace(value, f"<{key}>").replace(value.lower(), f"<{key}>")
    return text


def _doors(app, headers):
    for action, params in API_GET:
        yield (
            f"GET {action} {params}",
            True,
            lambda v, a=action, p=params: app.get(f"/api/3/action/{a}", query_string=_fill(p, v), headers=headers),
        )
    for action, params in API_POST:
        yield (
            f"POST {action} {params}",
            True,
            lambda v, a=action, p=params: app.post(f"/api/3/action/{a}", json=_fill(p, v), headers=headers),
        )
    for page in PAGES:
        yield f"page {page}", False, lambda v, p=page: app.get(_fill(p, v), headers=headers)


def test_unknown_and_forbidden_records_look_alike_on_every_door(world):
    app, secret, unknown = world["app"], world["secret"], world["unknown"]
    problems, checked = [], 0
    for role, headers in world["roles"].items():
        for door, is_api, call in _doors(app, headers):
            checked += 1
            private, absent = call(secret), call(unknown)
            private_body, absent_body = private.get_data(as_text=True), absent.get_data(as_text=True)
            if private.status_code != 404 or absent.status_code != 404:
                problems.append(f"{role:30} {door}: {private.status_code} (privé) / {absent.status_code} (inconnu)")
                continue
            if _normalised(private_body, secret) != _normalised(absent_body, unknown):
                problems.append(
                    f"{role:30} {door}: réponses différentes\n  {private_body[:300]}\n  {absent_body[:300]}"
                )
            # the record's title and its other identifiers never; an API answer not even the id asked for
            leaked = [
                v
                for v in (CA_TITLE, JDD_TITLE, *secret.values())
                if v in private_body and (is_api or v not in private.request.url)
            ]
            if leaked:
                problems.append(f"{role:30} {door}: révèle {leaked}")
    assert not problems, "\n" + "\n".join(problems)
    assert checked == 2 * (len(API_GET) + len(API_POST) + len(PAGES))


def test_the_producer_still_reads_everything_and_a_reader_who_may_not_write_gets_403(world):
    app, secret = world["app"], world["secret"]
    headers = {"Authorization": world["producer"]["token"]}
    for action, params in API_GET:
        response = app.get(f"/api/3/action/{action}", query_string=_fill(params, secret), headers=headers)
        assert response.status_code == 200, (action, response.json)
    for page in PAGES:  # the validation page is for chefs de file: the producer reads the JDD, 403
        expected = 403 if page.endswith("/validation") else 200
        assert app.get(_fill(page, secret), headers=headers).status_code == expected, page
    # once published, another producer reads the JDD and may not change it: 403, not 404
    Api(app, world["producer"]["token"]).ok("package_patch", id=secret["ca_id"], private=False)
    Api(app, world["producer"]["token"]).ok("package_patch", id=secret["jdd_id"], private=False)
    other = world["other"]
    assert other.post("package_patch", id=secret["jdd_id"], title="Piraté")[0] == 403
    assert other.post("package_delete", id=secret["ca_id"])[0] == 403
    assert other.post("sinp_qc_run", resource_id=secret["res"])[0] == 403
    assert other.get("sinp_qc_report_show", resource_id=secret["res"])[0] == 403
    assert other.get("package_show", id=secret["jdd_id"])[0] == 200


def test_the_mtd_import_does_not_reveal_what_an_unreadable_uuid_belongs_to(world):
    from tests.integration.test_mtd_actions import _xml

    app, other = world["app"], world["other"]
    producer = Api(app, world["producer"]["token"])
    collection = _xml("collection_odonates_bfc.xml")
    mine = producer.ok("sinp_mtd_import", xml=collection, owner_org=world["org"]["name"])["records"]  # private
    producer.ok("sinp_mtd_import", xml=_xml("ca_chiropteres_morvan.xml"), owner_org=world["org"]["name"])
    titles = [producer.ok("package_show", id=r["id"])["title"] for r in mine]
    other_org = other.ok("organization_list_for_user", permission="create_dataset")[0]

    status, body = other.post("sinp_mtd_import", xml=collection, owner_org=other_org["name"])
    assert status == 409, body
    text = " ".join(body["error"]["xml"])
    assert f"L'identifiant SINP {mine[0]['uuid']} ne peut pas être utilisé" in text
    for hidden in ["déjà un", "autre enregistrement", "LPO BFC", *(r["id"] for r in mine), *titles[1:]]:
        assert hidden not in text, hidden
    # a JDD whose CA exists but may not be read: told exactly as for a CA that does not exist
    status, body = other.post("sinp_mtd_import", xml=_xml("jdd_comptages_hivernaux.xml"), owner_org=other_org["name"])
    assert status == 409 and "n'est ni dans le document ni dans le catalogue" in " ".join(body["error"]["xml"])
    # the producer, who may read its records, re-imports them: an update, as before
    again = producer.ok("sinp_mtd_import", xml=collection, owner_org=world["org"]["name"])["records"]
    assert {(r["id"], r["action"]) for r in again} == {(r["id"], "updated") for r in mine}
    # a record created by hand with a taken UUID: precise for who may read the other record, vague otherwise
    data = {**copy.deepcopy(CA), "name": f"ca-{uuid.uuid4().hex[:8]}", "sinp_uuid": mine[0]["uuid"]}
    status, body = producer.post("package_create", **data, owner_org=world["org"]["id"])
    assert status == 409 and "déjà celui d'un autre enregistrement" in body["error"]["sinp_uuid"][0]
    status, body = other.post("package_create", **data, owner_org=other_org["id"])
    assert status == 409 and "ne peut pas être utilisé" in body["error"]["sinp_uuid"][0], body


def test_attestations_are_at_random_tokens_also_for_deposits_made_before_them(world, stack):
    """A database created before the tokens: `ckan sinp init-db` adds the column and gives every
    existing attestation a token; the sequential number is in the attestation, not in its URL."""
    import subprocess

    from ckanext.sinp.occurrences import store

    app, secret = world["app"], world["secret"]
    headers = {"Authorization": world["producer"]["token"]}
    try:
        with model.meta.engine.begin() as conn:
            number = conn.execute(
                sa.text("SELECT receipt_number FROM sinp_deposit WHERE resource_id = :r"), {"r": secret["res"]}
            ).scalar()
            conn.execute(sa.text("ALTER TABLE sinp_deposit DROP COLUMN receipt_token"))
        result = subprocess.run(
            [stack["CKAN_BIN"], "-c", stack["CKAN_TEST_INI"], "sinp", "init-db"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
    finally:
        store.ensure_tables(model.meta.engine)  # never leave the shared test database without the column
    with model.meta.engine.connect() as conn:
        token = conn.execute(
            sa.text("SELECT receipt_token FROM sinp_deposit WHERE resource_id = :r"), {"r": secret["res"]}
        ).scalar()
    assert token and token != secret["token"] and len(token) >= 22 and number not in token
    page = app.get(f"/depot/{token}/attestation", headers=headers)
    assert page.status_code == 200 and number in page.get_data(as_text=True)
    assert app.get(f"/depot/{number}/attestation", headers=headers).status_code == 404  # numbers are no URL
    assert app.get(f"/depot/{secret['token']}/attestation.pdf", headers=headers).status_code == 404
    pdf = app.get(f"/depot/{token}/attestation.pdf", headers=headers)
    assert pdf.status_code == 200 and f"attestation-{number}.pdf" in pdf.headers["Content-Disposition"]


# CKAN's other read actions that take a dataset id (issue 13, the doors left after the probe)
CKAN_ID_DOORS = [
    ("dataset_follower_count", {"id": "{jdd_id}"}),
    ("dataset_follower_list", {"id": "{jdd_name}"}),
    ("package_collaborator_list", {"id": "{jdd_id}"}),
    ("package_relationships_list", {"id": "{jdd_id}"}),
    ("package_relationships_list", {"id": "{ca_id}", "id2": "{jdd_id}"}),
    ("package_activity_list", {"id": "{jdd_id}"}),
]


def test_ckan_read_actions_that_take_a_dataset_id_do_not_tell_private_from_unknown(world):
    app, secret, unknown = world["app"], world["secret"], world["unknown"]
    problems = []
    for role, headers in world["roles"].items():
        for action, params in CKAN_ID_DOORS:
            answers = [
                app.get(f"/api/3/action/{action}", query_string=_fill(params, values), headers=headers)
                for values in (secret, unknown)
            ]
            statuses = [a.status_code for a in answers]
            bodies = [_normalised(a.get_data(as_text=True), v) for a, v in zip(answers, (secret, unknown))]
            # the same answer: 404, or the 403 that anonymous callers get of the collaborator actions
            if statuses[0] != statuses[1] or statuses[0] not in (403, 404) or bodies[0] != bodies[1]:
                problems.append(f"{role:30} {action} {params}: {statuses}\n  {bodies[0][:200]}\n  {bodies[1][:200]}")
            elif statuses[0] == 404 and "Fiche introuvable." not in bodies[0]:
                problems.append(f"{role:30} {action}: {bodies[0][:200]}")
    assert not problems, "\n" + "\n".join(problems)
    # the producer still gets its answers
    producer = Api(app, world["producer"]["token"])
    assert producer.ok("dataset_follower_count", id=secret["jdd_id"]) == 0
    assert producer.ok("package_relationships_list", id=secret["jdd_id"]) == []
    assert any(a["object_id"] == secret["jdd_id"] for a in producer.ok("package_activity_list", id=secret["jdd_id"]))
