"""Issue 13, findings 1 and 11: server-side requests through harvest sources, and resource links.

Harvest sources are administered by sysadmins only; a source URL must name a public http(s)
server (or one allow-listed in ``ckanext.sinp.http.allowed_hosts``), at creation and at each
request (redirects included); the job report says nothing about an internal address; nobody but
sysadmins sees source URLs. Resource links are http, https or ftp only. A local listening socket
stands for Solr or Redis: it records every connection, so « nothing reached it » is observed, not
inferred from logs."""

from __future__ import annotations

import contextlib
import http.server
import io
import json
import socket
import threading
import uuid as uuidlib

import ckan.model as model
import ckan.plugins.toolkit as tk
import pytest
from ckan.lib import search
from ckan.tests import factories, helpers
from ckanext.harvest.model import HarvestGatherError, HarvestSource
from ckanext.harvest.tests.factories import HarvestJobObj
from ckanext.harvest.tests.lib import run_harvest_job
from recorder import Recorder

from ckanext.sinp_harvesters.csw import SinpCswHarvester
from ckanext.sinp_harvesters.mtd import SinpMtdHarvester
from tests.integration.test_sinp_records import CA, Api, _ca, _jdd

REFUSED = "Adresse refusée : seuls les serveurs publics en http(s) peuvent être interrogés."
SECRET = "zq7jetonpartenaire"


@pytest.fixture
def solr_standin():
    with Recorder() as rec:
        yield rec


@contextlib.contextmanager
def redirecting_server(location: str):
    """A partner server whose every answer is a redirect to ``location``."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def _redirect(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(302)
            self.send_header("Location", location)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_POST = _redirect

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield httpd.server_address[1]
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def org(clean_db, clean_index, jobs_worker):  # the worker drains the CSW jobs that clean_db waits for
    return factories.Organization(name="partenaire-ssrf", title="Partenaire")


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def create_source(org, url, source_type="sinp_csw", user=None):
    config = {"instance_id": "42"} if source_type == "sinp_mtd" else {"defaults": {"territoires": ["METROP"]}}
    return helpers.call_action(
        "harvest_source_create",
        context={"user": user or factories.Sysadmin()["name"]},
        url=url,
        name=f"source-{uuidlib.uuid4().hex[:10]}",
        title="Source de test",
        source_type=source_type,
        owner_org=org["id"],
        config=json.dumps(config),
    )


def harvest(source_id, source_type="sinp_csw"):
    harvester = SinpMtdHarvester() if source_type == "sinp_mtd" else SinpCswHarvester()
    return run_harvest_job(HarvestJobObj(source=HarvestSource.get(source_id), run=False), harvester)


def gather_errors(source_id) -> list[str]:
    return [
        e.message
        for e in model.Session.query(HarvestGatherError).join(HarvestGatherError.job).filter_by(source_id=source_id)
    ]


def harvest_source_count() -> int:
    return model.Session.query(model.Package).filter(model.Package.type == "harvest").count()


# --- who administers harvest sources ------------------------------------------------------------


@pytest.fixture
def members(app, org):
    editor, admin = factories.UserWithToken(), factories.UserWithToken()
    for user, capacity in ((editor, "editor"), (admin, "admin")):
        helpers.call_action("organization_member_create", id=org["id"], username=user["name"], role=capacity)
    sysadmin = factories.SysadminWithToken()
    return {
        "editor": Api(app, editor["token"]),
        "admin": Api(app, admin["token"]),
        "anonymous": Api(app),
        "sysadmin": Api(app, sysadmin["token"]),
    }


def test_only_sysadmins_create_run_or_clear_harvest_sources(org, members):
    body = {
        "url": "http://127.0.0.1:18001/csw",
        "name": "source-editeur",
        "title": "Source",
        "source_type": "sinp_csw",
        "owner_org": org["id"],
        "config": "{}",
    }
    for role in ("editor", "admin", "anonymous"):
        status, answer = members[role].post("harvest_source_create", **body)
        assert status == 403, (role, answer)
        assert (
            "Seuls les administrateurs de la plateforme peuvent créer une source de moissonnage"
            in answer["error"]["message"]
        )
        status, answer = members[role].post("package_create", type="harvest", **body)  # the form's way
        assert status == 403, (role, answer)
    assert harvest_source_count() == 0

    source = members["sysadmin"].ok("harvest_source_create", **body)
    calls = [
        ("harvest_source_update", {**body, "id": source["id"], "url": "http://127.0.0.1:18002/csw"}),
        ("harvest_source_patch", {"id": source["id"], "title": "Autre"}),
        ("package_patch", {"id": source["id"], "url": "http://127.0.0.1:18003/csw"}),
        ("harvest_job_create", {"source_id": source["id"]}),
        ("harvest_source_clear", {"id": source["id"]}),
        ("harvest_source_reindex", {"id": source["id"]}),
        ("harvest_source_job_history_clear", {"id": source["id"]}),
        ("harvest_sources_job_history_clear", {}),
        ("harvest_jobs_run", {}),
        ("harvest_abort_failed_jobs", {"life_span": "0"}),
        ("harvest_objects_import", {"source_id": source["id"]}),
        ("harvest_source_delete", {"id": source["id"]}),
        ("package_delete", {"id": source["id"]}),
        ("harvest_job_list", {"source_id": source["id"]}),
        ("harvest_job_list", {}),
    ]  # without source_id: was a 500
    for role in ("editor", "admin", "anonymous"):
        for action, data in calls:
            status, answer = members[role].post(action, **data)
            assert status == 403, (role, action, answer)
            assert "Seuls les administrateurs de la plateforme peuvent" in answer["error"]["message"], answer
    assert HarvestSource.get(source["id"]).url == "http://127.0.0.1:18001/csw"
    assert model.Package.get(source["id"]).state == "active"
    assert members["sysadmin"].ok("harvest_job_create", source_id=source["id"], run=False)["status"] == "New"
    assert len(members["sysadmin"].ok("harvest_job_list")) == 1


# --- source URLs at creation ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "url, message",
    [
        ("http://127.0.0.1:8983/solr/admin/info/system", REFUSED),
        ("http://127.0.0.1:8983/solr/ckan/select?q=*:*", REFUSED),
        ("http://127.0.0.1:6379", REFUSED),
        ("http://localhost:5432/", REFUSED),
        ("http://2130706433:8983/solr/admin/cores", REFUSED),
        ("http://[::ffff:127.0.0.1]:8983/", REFUSED),
        ("http://169.254.169.254/latest/meta-data/", REFUSED),
        ("http://10.0.0.8/csw", REFUSED),
        ("file:///etc/passwd", "seules les adresses http:// et https:// sont acceptées (adresse « file »)"),
        (
            "gopher://127.0.0.1:6379/_FLUSHALL",
            "seules les adresses http:// et https:// sont acceptées (adresse « gopher »)",
        ),
    ],
)
def test_a_sysadmin_cannot_create_a_source_at_an_internal_or_non_http_url(org, url, message):
    with pytest.raises(tk.ValidationError) as err:
        create_source(org, url)
    assert list(err.value.error_dict) == ["url"]
    assert (
        message in err.value.error_dict["url"][0]
        and "URL de la source de moissonnage" in err.value.error_dict["url"][0]
    )
    assert harvest_source_count() == 0


def test_the_api_answers_409_on_url_and_an_update_is_checked_too(app, org, members):
    body = {
        "url": "http://127.0.0.1:8983/solr/admin/cores?action=UNLOAD&core=ckan",
        "name": "source-solr",
        "title": "Source",
        "source_type": "sinp_csw",
        "owner_org": org["id"],
        "config": "{}",
    }
    status, answer = members["sysadmin"].post("harvest_source_create", **body)
    assert status == 409 and answer["error"]["url"] == [f"{REFUSED} (URL de la source de moissonnage)"]
    source = members["sysadmin"].ok("harvest_source_create", **{**body, "url": "http://127.0.0.1:18010/csw"})
    status, answer = members["sysadmin"].post("harvest_source_patch", id=source["id"], url="http://127.0.0.1:6379/")
    assert status == 409 and REFUSED in answer["error"]["url"][0]
    assert HarvestSource.get(source["id"]).url == "http://127.0.0.1:18010/csw"


@pytest.mark.ckan_config("ckanext.sinp.http.allowed_hosts", "")
def test_without_the_allow_list_loopback_is_refused_on_any_port(org):
    with pytest.raises(tk.ValidationError) as err:
        create_source(org, "http://127.0.0.1:18020/csw")
    assert err.value.error_dict["url"] == [f"{REFUSED} (URL de la source de moissonnage)"]


# --- source URLs at fetch time -------------------------------------------------------------------


@pytest.mark.parametrize("source_type", ["sinp_csw", "sinp_mtd"])
def test_a_source_whose_name_later_resolves_to_an_internal_address_reaches_nothing(
    org, solr_standin, monkeypatch, source_type
):
    """DNS rebinding: the name resolved to a public address when the source was created, it now
    resolves to 127.0.0.1. The job reports the refusal, the same for an open and a closed port,
    and nothing connects to the listening socket."""
    real = socket.getaddrinfo
    answer = {"address": "93.184.216.34"}

    def resolver(host, port, *args, **kwargs):
        if isinstance(host, str) and host.endswith(".partenaire.test"):
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answer["address"], port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    open_source = create_source(org, f"http://csw.partenaire.test:{solr_standin.port}/solr/admin/cores", source_type)
    closed_source = create_source(org, f"http://mtd.partenaire.test:{closed_port()}/mtd", source_type)
    answer["address"] = "127.0.0.1"

    for source in (open_source, closed_source):
        assert harvest(source["id"], source_type) == {}
    reports = [gather_errors(s["id"]) for s in (open_source, closed_source)]
    first = "GetRecords (à partir du n° 1)" if source_type == "sinp_csw" else "Liste des cadres d'acquisition"
    assert reports[0] == reports[1] == [f"{first} : {REFUSED} Rien n'a été importé ni retiré."]
    assert solr_standin.connections == 0


def test_a_redirect_from_an_allowed_partner_to_solr_is_refused(org, solr_standin, ckan_config, monkeypatch):
    target = f"http://127.0.0.1:{solr_standin.port}/solr/admin/cores?action=UNLOAD&core=ckan"
    with redirecting_server(target) as port:
        monkeypatch.setitem(ckan_config, "ckanext.sinp.http.allowed_hosts", f"127.0.0.1:{port}")  # first hop only
        source = create_source(org, f"http://127.0.0.1:{port}/csw")
        assert harvest(source["id"]) == {}
    assert gather_errors(source["id"]) == [f"GetRecords (à partir du n° 1) : {REFUSED} Rien n'a été importé ni retiré."]
    assert solr_standin.connections == 0


# --- who sees source URLs -------------------------------------------------------------------------


def test_source_urls_and_configurations_are_for_sysadmins_only(app, org, members):
    url = f"http://127.0.0.1:18030/csw?token={SECRET}"
    source = members["sysadmin"].ok(
        "harvest_source_create",
        url=url,
        name="source-secrete",
        title="Catalogue du partenaire",
        source_type="sinp_csw",
        owner_org=org["id"],
        config=json.dumps({"anytext": SECRET}),
    )
    assert SECRET in members["sysadmin"].ok("harvest_source_show", id=source["id"])["url"]

    for role in ("anonymous", "editor"):
        api = members[role]
        headers = {"Authorization": api.token} if api.token else {}
        answers = {
            "harvest_source_show": api.get("harvest_source_show", id=source["id"]),
            "harvest_source_show_status": api.get("harvest_source_show_status", id=source["id"]),
            "harvest_source_list": api.get("harvest_source_list"),
            "package_show": api.get("package_show", id=source["id"]),
            "package_search": api.get("package_search", fq="dataset_type:harvest"),
            "package_search_q": api.get("package_search", q=SECRET, fq="dataset_type:harvest"),
            "show_by_url": api.get("harvest_source_show", url=url),
        }
        assert answers["harvest_source_show"][0] == 200 and answers["harvest_source_show"][1]["result"]["url"] == ""
        assert answers["package_search"][1]["result"]["count"] == 1
        assert answers["package_search_q"][1]["result"]["count"] == 0
        assert answers["show_by_url"][0] == 404
        for name, (_status, body) in answers.items():
            assert SECRET not in json.dumps(body), (role, name)
        for path in ("/harvest", f"/harvest/{source['name']}", f"/harvest/about/{source['name']}"):
            page = app.get(path, headers=headers)
            assert page.status_code == 200, (role, path)
            text = page.get_data(as_text=True)
            assert "Catalogue du partenaire" in text and SECRET not in text and "127.0.0.1:18030" not in text, (
                role,
                path,
            )


# --- resource links (finding 11) ------------------------------------------------------------------

HOSTILE_LINKS = [
    "javascript:alert(document.domain)",
    "file:///etc/passwd",
    "data:text/html,<script>x</script>",
    "JaVaScRiPt:alert(1)",
    "vbscript:msgbox(1)",
]


@pytest.fixture
def producer(app, clean_db, clean_index, jobs_worker):
    user = factories.UserWithToken()
    org = factories.Organization(users=[{"name": user["name"], "capacity": "editor"}], title="CEN BFC")
    return Api(app, user["token"]), org


@pytest.mark.parametrize("link", HOSTILE_LINKS)
def test_resource_links_other_than_http_https_ftp_are_refused_in_french(producer, link):
    api, org = producer
    ca = _ca(api, org)
    jdd = _jdd(api, org, ca)
    dataset = api.ok(
        "package_create", name=f"jeu-{uuidlib.uuid4().hex[:8]}", title="Jeu générique", owner_org=org["id"]
    )
    for package in (ca, jdd, dataset):
        status, answer = api.post("resource_create", package_id=package["id"], url=link, name="Lien")
        assert status == 409, answer
        assert answer["error"]["url"][0].startswith(
            "Lien refusé : l'adresse d'une ressource commence par http://, https://, ftp://"
        ), answer
        assert api.ok("package_show", id=package["id"])["resources"] == []
    status, answer = api.post(
        "package_create",
        **{**CA, "name": f"ca-{uuidlib.uuid4().hex[:8]}", "owner_org": org["id"], "resources": [{"url": link}]},
    )
    assert status == 409 and "Lien refusé" in json.dumps(answer["error"]["resources"], ensure_ascii=False)
    good = api.ok("resource_create", package_id=ca["id"], url="https://www.exemple.fr/donnees.csv", name="Bon")
    status, answer = api.post("resource_patch", id=good["id"], url=link)
    assert status == 409 and answer["error"]["url"][0].startswith("Lien refusé")
    assert api.ok("resource_show", id=good["id"])["url"] == "https://www.exemple.fr/donnees.csv"


def test_accepted_links_and_uploads(app, producer):
    api, org = producer
    ca = _ca(api, org)
    for link in ("https://www.exemple.fr/a.csv", "http://exemple.fr/b", "ftp://ftp.exemple.fr/c.zip"):
        assert api.ok("resource_create", package_id=ca["id"], url=link, name="Lien")["url"] == link
    uploaded = app.post(
        "/api/3/action/resource_create",
        headers={"Authorization": api.token},
        data={"package_id": ca["id"], "name": "Notes", "upload": (io.BytesIO(b"notes de terrain"), "notes.txt")},
    )
    assert uploaded.status_code == 200, uploaded.json
    assert uploaded.json["result"]["url"].startswith("http") and uploaded.json["result"]["url_type"] == "upload"


def test_a_legacy_hostile_link_is_neither_shown_nor_published_and_its_download_is_no_500(app, producer):
    """A link stored before the rule (written straight into the database): no page, API, ISO 19139
    or DCAT output shows it, and its download answers 404 instead of a 500."""
    api, org = producer
    ca = _ca(api, org, private=False)
    good = api.ok("resource_create", package_id=ca["id"], url="https://www.exemple.fr/donnees.csv", name="Bon")
    legacy = model.Resource(package_id=ca["id"], url="javascript:alert(document.domain)", name="Piège ancien")
    legacy.position = 1
    model.Session.add(legacy)
    model.Session.commit()
    search.rebuild(ca["id"])
    search.commit()
    shown = api.ok("package_show", id=ca["id"])
    assert {r["name"]: r.get("url") for r in shown["resources"]}.get("Bon") == good["url"]
    assert "javascript" not in json.dumps(shown)
    status, body = Api(app).get("package_search", q=f"id:{ca['id']}")
    assert status == 200 and "javascript" not in json.dumps(body)
    download = app.get(f"/ca/{ca['name']}/resource/{legacy.id}/download")
    assert download.status_code == 404
    for path in (
        f"/ca/{ca['name']}/iso19139.xml",
        f"/dataset/{ca['name']}.rdf",
        f"/ca/{ca['name']}",
        f"/ca/{ca['name']}/resource/{legacy.id}",
    ):
        page = app.get(path)
        assert page.status_code == 200, path
        assert "javascript:" not in page.get_data(as_text=True), path
