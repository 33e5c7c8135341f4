"""Service metadata of the data flows (#16): the WMS, WFS and OGC API Features services described by
INSPIRE ISO 19139 service records, published by our CSW (a real pycsw 2.6.2 on the test database),
linked from the ISO records of the JDD they serve and described in DCAT as ``dcat:DataService``.

A small world: one CA, two published JDD with observations (integrated through the platform's path,
``store.integrate``), a private JDD with observations and a published JDD without any. The records
are written by the scheduler's CSW sweep (``sync.remove_orphans``, run here in-process) and by the
real ``ckan jobs worker`` after each change; a withdrawal leaves ``operatesOn`` in its own transaction.
"""

from __future__ import annotations

import copy
import uuid

import ckan.model as model
import ckan.plugins.toolkit as tk
import pytest
from ckan.tests import factories
from lxml import etree
from owslib import fes
from owslib.csw import CatalogueServiceWeb
from owslib.iso import MD_Metadata
from rdflib import Graph, URIRef
from rdflib.namespace import RDF

from ckanext.sinp import settings
from ckanext.sinp.csw import sync
from ckanext.sinp.domain import flux_services
from ckanext.sinp.occurrences import map_store
from tests.integration import indicator_data as data
from tests.integration.test_csw_publication import _full, _wait
from tests.integration.test_indicators import _integrate
from tests.integration.test_sinp_records import CA, JDD, Api

GMD = "http://www.isotc211.org/2005/gmd"
SRV = "http://www.isotc211.org/2005/srv"
DCAT = "http://www.w3.org/ns/dcat#"
NS = {"csw": "http://www.opengis.net/cat/csw/2.0.2", "gmd": GMD, "srv": SRV, "dc": "http://purl.org/dc/elements/1.1/"}
FLOW_PROTOCOLS = {s.protocol for s in flux_services.SERVICES}


def _record(csw, identifier) -> etree._Element | None:
    return _full(csw, identifier).find("gmd:MD_Metadata", NS)


def _operates_on(csw, identifier) -> set[str] | None:
    """The uuidref of the service record's operatesOn; None when the record is not served."""
    record = _record(csw, identifier)
    if record is None:
        return None
    return {o.get("uuidref") for o in record.iterfind(".//srv:operatesOn", NS)}


def _protocols(csw_url, identifier) -> set[str]:
    """The protocols of the online resources of a record (ISO), empty when it is not served."""
    csw = CatalogueServiceWeb(csw_url, timeout=30)
    csw.getrecordbyid([identifier], outputschema=GMD)
    record = csw.records.get(identifier)
    if record is None or record.distribution is None:
        return set()
    return {o.protocol for o in record.distribution.online}


def _service_ids() -> dict:
    return {s.key: s.identifier(tk.config.get("ckan.site_url")) for s in flux_services.SERVICES}


@pytest.fixture
def world(app, clean_db, clean_index, jobs_worker, tmp_path, test_csw):
    engine = model.meta.engine
    map_store.ensure_tables(engine, settings.flux_reader_role())
    admin = factories.SysadminWithToken()
    api = Api(app, admin["token"])
    org = factories.Organization(title="Conservatoire botanique de Franche-Comté")

    def create(kind, **changes):
        base = CA if kind == "ca" else JDD
        record = {**copy.deepcopy(base), "name": f"{kind}-flux-{uuid.uuid4().hex[:8]}", "owner_org": org["id"]}
        return api.ok("package_create", **{**record, **changes})

    ca = create("ca", private=False)
    jdds = {
        "a": create("jdd", cadre=ca["sinp_uuid"], private=False, title="Flore des pelouses calcaires"),
        "b": create("jdd", cadre=ca["sinp_uuid"], private=False, title="Bryophytes des tourbières"),
        "prive": create("jdd", cadre=ca["sinp_uuid"], private=True, title="Jeu privé des stations secrètes"),
        "vide": create("jdd", cadre=ca["sinp_uuid"], private=False, title="Jeu publié sans observation"),
    }
    names = data.taxref()
    common = [o for o in data.generate(16) if o.cd_nom not in data.SENSITIVE]
    for i, key in enumerate(("a", "b", "prive")):
        _integrate(tmp_path, jdds[key], common[i * 25 : (i + 1) * 25], names)
    # the JDD rows are in the CSW (the worker's sync after each creation), then the scheduler's sweep
    _wait(lambda: all(_record(test_csw, jdds[k]["sinp_uuid"]) is not None for k in ("a", "b", "vide")))
    sync.remove_orphans()
    return {"api": api, "app": app, "csw": test_csw, "jdds": jdds, "ca": ca, "ids": _service_ids()}


def test_services_are_published_with_their_public_jdd_and_linked_both_ways(world):
    csw_url, jdds, ids = world["csw"], world["jdds"], world["ids"]
    public = {jdds["a"]["sinp_uuid"], jdds["b"]["sinp_uuid"]}
    _wait(lambda: _operates_on(csw_url, ids["wms"]) == public)

    csw = CatalogueServiceWeb(csw_url, timeout=30)
    service_type = fes.PropertyIsEqualTo("dc:type", "service")
    # csw:Record (Dublin Core): three records of type service
    csw.getrecords2(constraints=[service_type], esn="full", maxrecords=50)
    assert csw.results["matches"] == 3
    assert {r.type for r in csw.records.values()} == {"service"}
    assert set(csw.records) == set(ids.values())
    # gmd: the stored INSPIRE service records
    csw.getrecords2(constraints=[service_type], esn="full", outputschema=GMD, maxrecords=50)
    kinds = {}
    for identifier, md in csw.records.items():
        assert isinstance(md, MD_Metadata) and md.hierarchy == "service"
        ident = md.identification[0]
        kinds[identifier] = (ident.type, ident.version)
        assert {o["uuidref"] for o in ident.operateson} == public
        assert all(o["href"].startswith(settings.csw_url() + "?") for o in ident.operateson)
        assert jdds["prive"]["sinp_uuid"].encode() not in md.xml
        (operation,) = ident.operations
        (connect,) = operation["connectpoint"]
        assert connect.url.startswith(settings.flux_public_url() + "/")
        assert "localhost" not in connect.url
    assert kinds == {
        ids["wms"]: ("view", "1.3.0"),
        ids["wfs"]: ("download", "2.0.0"),
        ids["ogcapi"]: ("download", "1.0.0"),
    }
    # GetRecordById, ISO
    csw.getrecordbyid([ids["wfs"]], outputschema=GMD)
    assert csw.records[ids["wfs"]].identification[0].type == "download"

    # the JDD's own record links to the flows (written again by the worker once the services serve it:
    # a job after the services' rows, not with them); the JDD without observations does not
    _wait(lambda: FLOW_PROTOCOLS <= _protocols(csw_url, jdds["a"]["sinp_uuid"]))
    csw.getrecordbyid([jdds["a"]["sinp_uuid"]], outputschema=GMD)
    online = {o.protocol: o for o in csw.records[jdds["a"]["sinp_uuid"]].distribution.online}
    assert FLOW_PROTOCOLS <= set(online)
    assert online["OGC:WMS"].name == online["OGC:WFS"].name == "observations_maille"
    assert online["OGC:WMS"].url == settings.flux_public_url() + "/wms"
    csw.getrecordbyid([jdds["vide"]["sinp_uuid"]], outputschema=GMD)
    assert not FLOW_PROTOCOLS & {o.protocol for o in csw.records[jdds["vide"]["sinp_uuid"]].distribution.online}

    # DCAT: the JDD's distributions through the services, the catalogue lists them
    app = world["app"]
    graph = Graph().parse(data=app.get(f"/dataset/{jdds['a']['name']}.ttl").get_data(as_text=True), format="turtle")
    services = set(graph.subjects(RDF.type, URIRef(DCAT + "DataService")))
    assert len(services) == 3
    dataset = next(graph.subjects(RDF.type, URIRef(DCAT + "Dataset")))
    through = {
        graph.value(d, URIRef(DCAT + "accessService")) for d in graph.objects(dataset, URIRef(DCAT + "distribution"))
    }
    assert services <= through
    for node in services:
        assert (node, URIRef(DCAT + "servesDataset"), dataset) in graph
        assert str(graph.value(node, URIRef(DCAT + "endpointURL"))).startswith(settings.flux_public_url())
        assert graph.value(node, URIRef(DCAT + "endpointDescription")) is not None
    empty = Graph().parse(data=app.get(f"/dataset/{jdds['vide']['name']}.ttl").get_data(as_text=True), format="turtle")
    assert not set(empty.subjects(RDF.type, URIRef(DCAT + "DataService")))
    catalog = Graph().parse(data=app.get("/catalog.ttl").get_data(as_text=True), format="turtle")
    root = next(catalog.subjects(RDF.type, URIRef(DCAT + "Catalog")))
    assert set(catalog.objects(root, URIRef(DCAT + "service"))) == services


def test_a_withdrawn_jdd_leaves_operates_on_at_once_and_no_public_jdd_withdraws_the_records(world):
    api, csw_url, jdds, ids = world["api"], world["csw"], world["jdds"], world["ids"]
    a, b = jdds["a"]["sinp_uuid"], jdds["b"]["sinp_uuid"]
    _wait(lambda: _operates_on(csw_url, ids["wms"]) == {a, b})

    # made private: gone from every service record when the action returns (its own transaction)
    api.ok("package_patch", id=jdds["b"]["id"], private=True)
    for identifier in ids.values():
        assert _operates_on(csw_url, identifier) == {a}
    # published again: back after the sync
    api.ok("package_patch", id=jdds["b"]["id"], private=False)
    _wait(lambda: all(_operates_on(csw_url, i) == {a, b} for i in ids.values()))
    # deleted, then the last one withdrawn: no public JDD served, no service record
    api.ok("package_delete", id=jdds["a"]["id"])
    assert _operates_on(csw_url, ids["ogcapi"]) == {b}
    api.ok("package_patch", id=jdds["b"]["id"], private=True)
    for identifier in ids.values():
        assert _operates_on(csw_url, identifier) is None
