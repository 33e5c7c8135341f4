"""What those who may not read a record get of it through its history, its keywords, its
organisation's member list and the outputs of its JDD (issue 13, findings 4, 8 and 9).

- History: a JDD created private with the place of a lynx den in its title, notes and a resource,
  then cleaned and published (and one published, withdrawn, given the place, cleaned and published
  again; and a generic dataset created as a draft): anonymous and another producer get no trace of
  the private versions through any activity action or page, with CKAN's default configuration and
  with ``ckan.auth.public_activity_stream_detail`` on. The producer keeps its whole history.
- Keywords: a private JDD's keyword is absent from tag_list, tag_autocomplete, the autocomplete of
  the forms, tag_search, tag_show and the tag facet for anonymous and another producer; its
  producer and sysadmins still get it. ``member_list`` of the organisation lists only what the
  caller may read.
- A public JDD under a private CA publishes none of the CA's fields (dates, link, title) in ISO
  (``sinp_iso_show``, CSW), DCAT, the year facet and its page, until the CA is published; a CA
  made private again disappears from them (CSW row and index of the JDD redone).
"""

from __future__ import annotations

import copy
import json
import time
import uuid
from types import SimpleNamespace

import pytest
import requests
from ckan.tests import factories
from werkzeug.exceptions import HTTPException

from tests.integration.conftest import _wait_for_background_jobs
from tests.integration.test_sinp_records import CA, JDD, Api

SECRET_LAT, SECRET_LON = "47.28731", "4.91822"
SECRET_TITLE = f"Gîte du lynx ({SECRET_LAT}, {SECRET_LON})"
SECRET_NOTES = f"Gîte de mise bas du lynx, à {SECRET_LAT} N {SECRET_LON} E : à retirer avant publication."
CLEAN_TITLE = "Suivi du lynx dans le Jura"
CLEAN_NOTES = "Suivi par pièges photographiques ; localisations diffusées à la maille."
SECRET_TAG = "gîte secret lynx"
PUBLIC_TAG = "chiroptères hivernants"


def _secret_in(text: str) -> bool:
    return SECRET_LAT in text or SECRET_LON in text


@pytest.fixture
def people(app, clean_db, clean_index, jobs_worker):
    editor = factories.UserWithToken()
    org = factories.Organization(users=[{"name": editor["name"], "capacity": "editor"}], title="LPO BFC")
    other = factories.UserWithToken()
    factories.Organization(users=[{"name": other["name"], "capacity": "editor"}], title="CEN Franche-Comté")
    sysadmin = factories.SysadminWithToken()
    api = Api(app, editor["token"])
    ca = api.ok(
        "package_create",
        **{**copy.deepcopy(CA), "name": f"ca-{uuid.uuid4().hex[:8]}", "owner_org": org["id"], "private": False},
    )
    return SimpleNamespace(
        app=app,
        org=org,
        ca=ca,
        editor_user=editor,
        other_user=other,
        tokens={"anonymous": None, "other": other["token"], "editor": editor["token"], "sysadmin": sysadmin["token"]},
        api={
            "anonymous": Api(app),
            "other": Api(app, other["token"]),
            "editor": api,
            "sysadmin": Api(app, sysadmin["token"]),
        },
    )


def _jdd(people, **fields) -> dict:
    return {
        **copy.deepcopy(JDD),
        "name": f"jdd-{uuid.uuid4().hex[:8]}",
        "title": CLEAN_TITLE,
        "notes": CLEAN_NOTES,
        "owner_org": people.org["id"],
        "cadre": people.ca["sinp_uuid"],
        **fields,
    }


def _secret_resource_then_clean(people, pkg, who="editor", **publish) -> tuple[dict, dict]:
    """Adds a resource describing the place, cleans it and the record, then publishes (``publish``)."""
    api = people.api[who]
    res = api.ok(
        "resource_create",
        package_id=pkg["id"],
        url="https://example.org/fiche-gite.pdf",
        name="Fiche du gîte",
        description=SECRET_NOTES,
    )
    api.ok("resource_patch", id=res["id"], description="Fiche descriptive du suivi.")
    api.ok("package_patch", id=pkg["id"], title=CLEAN_TITLE, notes=CLEAN_NOTES, **publish)
    return pkg, res


def _private_then_public(people) -> tuple[dict, dict]:
    jdd = people.api["editor"].ok(
        "package_create", **_jdd(people, title=SECRET_TITLE, notes=SECRET_NOTES, private=True)
    )
    return _secret_resource_then_clean(people, jdd, private=False)


def _public_private_public(people) -> tuple[dict, dict]:
    api = people.api["editor"]
    jdd = api.ok("package_create", **_jdd(people, private=False))
    api.ok("package_patch", id=jdd["id"], private=True)
    api.ok("package_patch", id=jdd["id"], title=SECRET_TITLE, notes=SECRET_NOTES)
    return _secret_resource_then_clean(people, jdd, private=False)


def _draft_then_active(people) -> tuple[dict, dict]:
    """A generic dataset saved as a draft (CKAN's two-stage form: a sysadmin here, CKAN lets only
    package admins set a state) with the place, then completed and made active."""
    ds = people.api["sysadmin"].ok(
        "package_create",
        type="dataset",
        name=f"ds-{uuid.uuid4().hex[:8]}",
        title=SECRET_TITLE,
        notes=SECRET_NOTES,
        owner_org=people.org["id"],
        private=False,
        state="draft",
    )
    assert ds["state"] == "draft"
    return _secret_resource_then_clean(people, ds, "sysadmin", state="active")


def _body(status_body) -> str:
    status, body = status_body
    return json.dumps(body, ensure_ascii=False) if status == 200 else ""


def _page(app, url, token) -> str:
    try:
        response = app.get(url, headers={"Authorization": token} if token else {})
    except HTTPException:  # a refusal that the test client raises instead of rendering (CKAN's 403 page)
        return ""
    return response.get_data(as_text=True) if response.status_code == 200 else ""


def _history_doors(people, pkg, res, role, activity_ids) -> dict[str, str]:
    """Every door of ckanext-activity, called as ``role``: door → what it answered (200 only)."""
    app, api, token = people.app, people.api[role], people.tokens[role]
    out = {
        "package_activity_list": _body(api.get("package_activity_list", id=pkg["id"], limit=100)),
        "recently_changed_packages_activity_list": _body(api.get("recently_changed_packages_activity_list", limit=100)),
        "organization_activity_list": _body(api.get("organization_activity_list", id=people.org["id"], limit=100)),
        "user_activity_list": _body(api.get("user_activity_list", id=people.editor_user["id"], limit=100)),
        "page /dataset/activity": _page(app, f"/dataset/activity/{pkg['name']}", token),
        "page /jdd/activity": _page(app, f"/jdd/activity/{pkg['name']}", token),
        "page /organization/activity": _page(app, f"/organization/activity/{people.org['name']}", token),
    }
    if token:
        out["dashboard_activity_list"] = _body(api.get("dashboard_activity_list", limit=100))
        out["page /dashboard"] = _page(app, "/dashboard/", token)
    for activity_id in activity_ids:
        out[f"activity_show {activity_id}"] = _body(api.get("activity_show", id=activity_id, include_data=False))
        out[f"activity_data_show {activity_id}"] = _body(
            api.get("activity_data_show", id=activity_id, object_type="package")
        )
        out[f"activity_diff {activity_id}"] = _body(
            api.get("activity_diff", id=activity_id, object_type="package", diff_type="unified")
        )
        out[f"page changes {activity_id}"] = _page(app, f"/dataset/changes/{activity_id}", token)
        out[f"page history {activity_id}"] = _page(app, f"/dataset/{pkg['name']}/history/{activity_id}", token)
        out[f"page resource history {activity_id}"] = _page(
            app, f"/dataset/{pkg['id']}/resources/{res['id']}/history/{activity_id}", token
        )
    if len(activity_ids) > 1:
        out["page changes_multiple"] = _page(
            app, f"/dataset/changes_multiple?old_id={activity_ids[-1]}&new_id={activity_ids[0]}", token
        )
    return out


@pytest.mark.parametrize("detail", [False, True], ids=["default", "public_activity_stream_detail"])
@pytest.mark.parametrize(
    "path",
    [_private_then_public, _public_private_public, _draft_then_active],
    ids=["private-then-public", "public-private-public", "draft-then-active"],
)
def test_the_private_versions_of_a_published_record_stay_private(people, path, detail, ckan_config, monkeypatch):
    monkeypatch.setitem(ckan_config, "ckan.auth.public_activity_stream_detail", detail)
    pkg, res = path(people)
    people.api["other"].ok("follow_dataset", id=pkg["id"])
    history = people.api["editor"].ok("package_activity_list", id=pkg["id"], limit=100)
    activity_ids = [a["id"] for a in history]
    # the producer keeps the whole history, the versions with the place included
    assert _secret_in(json.dumps(history, ensure_ascii=False)), history
    assert any(_secret_in(t) for t in _history_doors(people, pkg, res, "editor", activity_ids[:2]).values())
    leaks = []
    for role in ("anonymous", "other"):
        doors = _history_doors(people, pkg, res, role, activity_ids)
        assert doors["package_activity_list"], f"{role}: the public versions are listed"
        leaks += [f"{role}: {door}" for door, text in doors.items() if _secret_in(text)]
    assert not leaks, "\n".join(leaks)


def test_a_withdrawn_record_hides_its_whole_history(people):
    api = people.api["editor"]
    jdd = api.ok("package_create", **_jdd(people, private=False))
    api.ok("package_patch", id=jdd["id"], notes="Version publiée puis retirée.")
    api.ok("package_patch", id=jdd["id"], private=True)
    for role in ("anonymous", "other"):
        status, _ = people.api[role].get("package_activity_list", id=jdd["id"])
        assert status in (403, 404)
        listed = people.api[role].ok("recently_changed_packages_activity_list", limit=100)
        assert jdd["id"] not in {a["object_id"] for a in listed}


# --- keywords and member lists ---------------------------------------------------------------


@pytest.fixture
def tagged(people):
    api = people.api["editor"]
    private = api.ok("package_create", **_jdd(people, private=True, tag_string=SECRET_TAG))
    public = api.ok("package_create", **_jdd(people, private=False, tag_string=PUBLIC_TAG))
    return SimpleNamespace(private=private, public=public)


def _tag_doors(people, role) -> dict[str, str]:
    api, token = people.api[role], people.tokens[role]
    found = api.ok("package_search", q="*:*", include_private=True, rows=100, **{"facet.field": '["tags"]'})
    return {
        "tag_list": _body(api.get("tag_list")),
        "tag_list all_fields": _body(api.get("tag_list", all_fields=True)),
        "tag_list query": _body(api.get("tag_list", query="secret")),
        "tag_autocomplete": _body(api.get("tag_autocomplete", q="secret")),
        "tag_search": _body(api.get("tag_search", q="secret")),
        "tag_show": _body(api.get("tag_show", id=SECRET_TAG)),
        "/api/util/tag/autocomplete": json.dumps(
            json.loads(_page(people.app, "/api/util/tag/autocomplete?incomplete=secret", token)), ensure_ascii=False
        ),
        "package_search tags facet": json.dumps(found["search_facets"].get("tags"), ensure_ascii=False),
    }


def test_private_keywords_are_listed_only_to_those_who_may_read_their_records(people, tagged):
    for role in ("anonymous", "other"):
        doors = _tag_doors(people, role)
        leaks = [door for door, text in doors.items() if SECRET_TAG in text]
        assert not leaks, f"{role}: {leaks}"
        assert PUBLIC_TAG in doors["tag_list"] and PUBLIC_TAG in doors["package_search tags facet"]
        assert people.api[role].ok("tag_autocomplete", q="hivern") == [PUBLIC_TAG]
        assert people.api[role].get("tag_show", id=SECRET_TAG)[0] == 404
    for role in ("editor", "sysadmin"):
        doors = _tag_doors(people, role)
        missing = [door for door, text in doors.items() if SECRET_TAG not in text]
        assert not missing, f"{role}: {missing}"
    # paging counts only what the caller may see
    assert people.api["anonymous"].ok("tag_search", q="e", limit=1)["count"] == 1
    assert people.api["editor"].ok("tag_search", q="e", limit=1)["count"] == 2
    status, body = people.api["anonymous"].get("tag_autocomplete", q="lynx", limit="beaucoup")
    assert status == 409 and "limit" in body["error"], body


def test_an_organisation_lists_only_the_datasets_the_caller_may_read(people, tagged):
    for role, expected in (
        ("anonymous", {tagged.public["id"], people.ca["id"]}),
        ("other", {tagged.public["id"], people.ca["id"]}),
        ("editor", {tagged.public["id"], tagged.private["id"], people.ca["id"]}),
        ("sysadmin", {tagged.public["id"], tagged.private["id"], people.ca["id"]}),
    ):
        members = people.api[role].ok("member_list", id=people.org["id"], object_type="package")
        assert {m[0] for m in members} == expected, role
        everything = people.api[role].ok("member_list", id=people.org["id"])
        assert {m[0] for m in everything if m[1] == "package"} == expected, role
        org = people.api[role].ok("organization_show", id=people.org["id"], include_datasets=True)
        assert {d["id"] for d in org["packages"]} <= expected, role
        assert (tagged.private["id"] in {d["id"] for d in org["packages"]}) == (tagged.private["id"] in expected)


# --- a public JDD under a private CA ---------------------------------------------------------

CA_START, CA_END = "2012-05-14", "2013-10-02"


def _csw_record(csw, identifier) -> str:
    return requests.get(
        csw,
        params={
            "service": "CSW",
            "version": "2.0.2",
            "request": "GetRecordById",
            "id": identifier,
            "outputSchema": "http://www.isotc211.org/2005/gmd",
            "elementSetName": "full",
        },
        timeout=20,
    ).text


def _wait_csw(csw, identifier, present: bool, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while True:
        _wait_for_background_jobs()
        text = _csw_record(csw, identifier)
        if (CA_START in text) == present or time.monotonic() > deadline:
            return text
        time.sleep(0.3)


def _ca_outputs(people, jdd, role) -> dict[str, str]:
    """Every output of the JDD, as ``role`` gets it."""
    app, api, token = people.app, people.api[role], people.tokens[role]
    found = api.ok(
        "package_search",
        fq=f'id:"{jdd["id"]}"',
        include_private=True,
        **{"facet.field": '["vocab_sinp_annee", "vocab_sinp_volet"]'},
    )
    return {
        "sinp_iso_show": _body(api.get("sinp_iso_show", id=jdd["id"])),
        "DCAT dataset": _page(app, f"/dataset/{jdd['name']}.ttl", token),
        "DCAT catalogue": _page(app, "/catalog.ttl", token),
        "JDD page": _page(app, f"/jdd/{jdd['name']}", token),
        "year facet": json.dumps(found["search_facets"], ensure_ascii=False),
        "package_search": json.dumps(found["results"], ensure_ascii=False),
    }


def _ca_traces(text: str, ca: dict) -> list[str]:
    """What of the CA ``text`` shows: its dates, its identifier, its title, its years as facet values."""
    return [t for t in (CA_START, CA_END, ca["sinp_uuid"], ca["title"], '"2012"', '"2013"') if t in text]


def test_a_public_jdd_under_a_private_ca_publishes_none_of_the_ca(people, test_csw):
    api = people.api["editor"]
    ca = api.ok(
        "package_create",
        **{
            **copy.deepcopy(CA),
            "name": f"ca-{uuid.uuid4().hex[:8]}",
            "private": True,
            "title": "Programme confidentiel des carrières",
            "owner_org": people.org["id"],
            "date_lancement": CA_START,
            "date_cloture": CA_END,
        },
    )
    jdd = api.ok("package_create", **_jdd(people, private=False, cadre=ca["sinp_uuid"]))
    csw = _wait_csw(test_csw, jdd["sinp_uuid"], present=False)
    assert jdd["sinp_uuid"] in csw
    assert not _ca_traces(csw, ca), "CSW"
    for role in ("anonymous", "other", "editor"):
        outputs = _ca_outputs(people, jdd, role)
        assert outputs["sinp_iso_show"] and outputs["DCAT dataset"] and outputs["JDD page"], role
        if role == "editor":  # the producer reads its CA: its page links it, the public outputs do not
            outputs.pop("JDD page")
        leaks = {
            door: _ca_traces(text, ca)
            for door, text in outputs.items()
            if door != "package_search" and _ca_traces(text, ca)
        }
        assert not leaks, f"{role}: {leaks}"
    assert "n'est pas accessible" in _ca_outputs(people, jdd, "anonymous")["JDD page"]

    # the CA published: the JDD shows its period, link and title; withdrawn again: all gone
    api.ok("package_patch", id=ca["id"], private=False)
    csw = _wait_csw(test_csw, jdd["sinp_uuid"], present=True)
    assert CA_START in csw and ca["sinp_uuid"] in csw
    outputs = _ca_outputs(people, jdd, "anonymous")
    assert CA_START in outputs["sinp_iso_show"]
    # DCAT-AP 3: dct:isPartOf is the CA's URI (its dataset URI), no longer its bare UUID
    assert ca["id"] in outputs["DCAT dataset"] or f"/ca/{ca['name']}" in outputs["DCAT dataset"]
    assert '"2012"' in outputs["year facet"] and ca["title"] in outputs["JDD page"]
    api.ok("package_patch", id=ca["id"], private=True)
    csw = _wait_csw(test_csw, jdd["sinp_uuid"], present=False)
    assert jdd["sinp_uuid"] in csw and not _ca_traces(csw, ca)
    outputs = _ca_outputs(people, jdd, "anonymous")
    leaks = {
        door: _ca_traces(text, ca)
        for door, text in outputs.items()
        if door != "package_search" and _ca_traces(text, ca)
    }
    assert not leaks


def test_a_private_jdd_keeps_the_period_of_its_organisations_private_ca(people):
    api = people.api["editor"]
    ca = api.ok(
        "package_create",
        **{
            **copy.deepcopy(CA),
            "name": f"ca-{uuid.uuid4().hex[:8]}",
            "private": True,
            "owner_org": people.org["id"],
            "date_lancement": CA_START,
            "date_cloture": CA_END,
        },
    )
    jdd = api.ok("package_create", **_jdd(people, private=True, cadre=ca["sinp_uuid"]))
    outputs = _ca_outputs(people, jdd, "editor")
    assert CA_START in outputs["sinp_iso_show"] and '"2012"' in outputs["year facet"]
    assert ca["title"] in outputs["JDD page"]
