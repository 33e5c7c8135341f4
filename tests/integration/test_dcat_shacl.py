"""DCAT-AP 3 output of the catalogue and of each CA/JDD: 0 violations of the DCAT-AP 3.0 SHACL shapes that
ckanext-dcat validates its own output with, and the facts a harvester of our catalogue relies on.

The shapes (``dcat-ap_3_shacl_shapes.ttl``, 2,321 lines) live in ckanext-dcat's source tree
(``ckanext/dcat/tests/shacl/``) but not in its PyPI distribution, so this project cannot install them:
the SHACL test takes them from ``$SINP_DCAT_AP3_SHAPES`` (a path to that file) or from an installed
ckanext-dcat that ships them, and is skipped (saying so) otherwise. Everything else here always runs.
"""

from __future__ import annotations

import os
from pathlib import Path

import ckan.plugins.toolkit as tk
import pytest
from rdflib import BNode, Graph, Literal, URIRef
from rdflib.namespace import RDF, SKOS

from tests.integration.test_sinp_records import _ca, _jdd, producer  # noqa: F401

DCAT = "http://www.w3.org/ns/dcat#"
DCT = "http://purl.org/dc/terms/"
FOAF = "http://xmlns.com/foaf/0.1/"
LOCN = "http://www.w3.org/ns/locn#"
GSP = "http://www.opengis.net/ont/geosparql#"
SH = "http://www.w3.org/ns/shacl#"
FRA = URIRef("http://publications.europa.eu/resource/authority/language/FRA")
FORMATS = {"ttl": "turtle", "rdf": "xml", "jsonld": "json-ld"}
MIMETYPES = {"ttl": "text/turtle", "rdf": "application/rdf+xml", "jsonld": "application/ld+json"}


def u(ns: str, name: str) -> URIRef:
    return URIRef(ns + name)


def _shapes_path() -> Path | None:
    given = os.environ.get("SINP_DCAT_AP3_SHAPES")
    if given:
        return Path(given)
    import ckanext.dcat

    shipped = Path(ckanext.dcat.__file__).parent / "tests" / "shacl" / "dcat-ap_3_shacl_shapes.ttl"
    return shipped if shipped.exists() else None


@pytest.fixture(scope="module")
def shapes():
    path = _shapes_path()
    if path is None:
        pytest.skip(
            "formes SHACL DCAT-AP 3 absentes : ckanext-dcat ne les distribue pas sur PyPI ; "
            "SINP_DCAT_AP3_SHAPES=<chemin de dcat-ap_3_shacl_shapes.ttl> pour les utiliser"
        )
    assert path.exists(), f"SINP_DCAT_AP3_SHAPES : {path} introuvable"
    return Graph().parse(path, format="turtle")


@pytest.fixture
def published(app, producer):  # noqa: F811
    """A public CA, a public JDD under it (bbox, the CA's period, a link, no licence), a public JDD
    with a licence and a private JDD."""
    api, org = producer
    ca = _ca(api, org, private=False)
    jdd = _jdd(api, org, ca, private=False)
    api.ok(
        "resource_create",
        package_id=jdd["id"],
        url="https://donnees.example.org/chiropteres.csv",
        name="Comptages",
        format="CSV",
    )
    licensed = _jdd(api, org, ca, private=False, title="Jeu sous licence ouverte", license_id="etalab-2.0")
    api.ok("resource_create", package_id=licensed["id"], url="https://donnees.example.org/l.csv", name="L")
    private = _jdd(api, org, ca, title="Jeu privé à ne pas publier")
    return {"app": app, "api": api, "ca": ca, "jdd": jdd, "licensed": licensed, "private": private}


def _get(app, path: str) -> tuple[Graph, str]:
    response = app.get(path)
    assert response.status_code == 200, (path, response.status_code)
    fmt = path.rsplit(".", 1)[1]
    assert response.headers["Content-Type"] == f"{MIMETYPES[fmt]}; charset=utf-8", path
    text = response.get_data(as_text=True)
    return Graph().parse(data=text, format=FORMATS[fmt]), text


def _uri(app, record) -> URIRef:
    return URIRef(f"{tk.config.get('ckan.site_url').rstrip('/')}/dataset/{record['id']}")


def _documents(published):
    for fmt in FORMATS:
        yield f"/catalog.{fmt}"
        for key in ("ca", "jdd", "licensed"):
            yield f"/dataset/{published[key]['name']}.{fmt}"


def test_every_serialisation_conforms_to_the_dcat_ap_3_shapes(published, shapes):
    from pyshacl import validate

    app = published["app"]
    problems = []
    for path in _documents(published):
        graph, _ = _get(app, path)
        conforms, results, _text = validate(graph, shacl_graph=shapes)
        for result in results.subjects(u(SH, "resultSeverity"), None):
            severity = str(results.value(result, u(SH, "resultSeverity"))).split("#")[-1]
            problems.append(
                f"{path}: {severity} {results.value(result, u(SH, 'resultPath'))} "
                f"{results.value(result, u(SH, 'resultMessage'))} ({results.value(result, u(SH, 'focusNode'))})"
            )
        assert conforms or problems, path
    assert problems == []


def test_the_catalogue_says_what_a_harvester_needs(published):
    app, ca, jdd, private = (published[k] for k in ("app", "ca", "jdd", "private"))
    for fmt in FORMATS:
        graph, text = _get(app, f"/catalog.{fmt}")
        catalog = next(graph.subjects(RDF.type, u(DCAT, "Catalog")))
        # the publisher: the platform, named, with the metadata contact's e-mail
        publisher = graph.value(catalog, u(DCT, "publisher"))
        assert isinstance(publisher, URIRef) and (publisher, RDF.type, u(FOAF, "Agent")) in graph
        assert graph.value(publisher, u(FOAF, "name")) == Literal("Plateforme régionale SINP Bourgogne-Franche-Comté")
        assert graph.value(publisher, u(FOAF, "mbox")) == URIRef("mailto:sinp@bourgogne-franche-comte.invalid")
        assert list(graph.objects(catalog, u(DCT, "language"))) == [FRA]
        assert (FRA, RDF.type, u(DCT, "LinguisticSystem")) in graph
        homepage = graph.value(catalog, u(FOAF, "homepage"))
        assert (homepage, RDF.type, u(FOAF, "Document")) in graph
        # public records listed, the private JDD nowhere
        listed = set(graph.objects(catalog, u(DCAT, "dataset")))
        assert {_uri(app, ca), _uri(app, jdd)} <= listed
        assert _uri(app, private) not in listed and private["title"] not in text and private["id"] not in text
        assert private["sinp_uuid"] not in text


def test_a_jdd_is_part_of_its_ca_with_typed_values_and_one_linked_location(published):
    app, ca, jdd = (published[k] for k in ("app", "ca", "jdd"))
    for fmt in FORMATS:
        graph, _ = _get(app, f"/dataset/{jdd['name']}.{fmt}")
        ref = _uri(app, jdd)
        assert graph.value(ref, u(DCT, "isPartOf")) == _uri(app, ca)
        assert list(graph.objects(ref, u(DCT, "identifier"))) == [Literal(jdd["sinp_uuid"])]
        kind = graph.value(ref, u(DCT, "type"))
        assert isinstance(kind, URIRef) and (kind, RDF.type, SKOS.Concept) in graph
        assert graph.value(kind, SKOS.prefLabel) == Literal("jeu de données", lang="fr")
        assert (graph.value(kind, SKOS.inScheme), RDF.type, SKOS.ConceptScheme) in graph
        landing = graph.value(ref, u(DCAT, "landingPage"))
        assert str(landing).endswith(f"/jdd/{jdd['name']}") and (landing, RDF.type, u(FOAF, "Document")) in graph
        assert list(graph.objects(ref, u(DCT, "language"))) == [FRA]
        # dct:spatial: one Location, with the bbox and the geometry; no Location left unlinked
        locations = set(graph.subjects(RDF.type, u(DCT, "Location")))
        assert locations == set(graph.objects(ref, u(DCT, "spatial"))) and len(locations) == 1
        location = locations.pop()
        assert str(graph.value(location, u(DCAT, "bbox"))).startswith("POLYGON((3.85 46.95")
        geometry = graph.value(location, u(LOCN, "geometry"))
        assert isinstance(geometry, BNode) and (geometry, RDF.type, u(LOCN, "Geometry")) in graph
        wkt = graph.value(geometry, u(GSP, "asWKT"))
        assert wkt.datatype == u(GSP, "wktLiteral") and "3.85" in str(wkt)
        # the CA's period
        period = graph.value(ref, u(DCT, "temporal"))
        assert str(graph.value(period, u(DCAT, "startDate"))) == "2021-03-01"
        # a distribution, but no licence: the JDD has none
        (distribution,) = graph.objects(ref, u(DCAT, "distribution"))
        media_type = URIRef("https://www.iana.org/assignments/media-types/text/csv")
        assert graph.value(distribution, u(DCAT, "mediaType")) == media_type
        assert (media_type, RDF.type, u(DCT, "MediaType")) in graph
        assert list(graph.triples((None, u(DCT, "license"), None))) == []


def test_a_known_licence_is_said_on_the_distributions_and_a_ca_has_none(published):
    app, ca, licensed = (published[k] for k in ("app", "ca", "licensed"))
    graph, _ = _get(app, f"/dataset/{licensed['name']}.ttl")
    (dist,) = graph.objects(_uri(app, licensed), u(DCAT, "distribution"))
    licence = graph.value(dist, u(DCT, "license"))
    assert isinstance(licence, URIRef) and str(licence).startswith("http")
    assert (licence, RDF.type, u(DCT, "LicenseDocument")) in graph
    graph, _ = _get(app, f"/dataset/{ca['name']}.ttl")
    assert list(graph.triples((None, u(DCT, "license"), None))) == []
    assert graph.value(_uri(app, ca), u(DCT, "isPartOf")) is None  # no meta-cadre
    assert graph.value(graph.value(_uri(app, ca), u(DCT, "type")), SKOS.prefLabel) == Literal(
        "cadre d'acquisition", lang="fr"
    )


def test_a_private_jdd_answers_404_in_every_format(published):
    app, private = published["app"], published["private"]
    for fmt in FORMATS:
        assert app.get(f"/dataset/{private['name']}.{fmt}").status_code == 404


HARVESTED_ORIGIN = {"identifiant": "fr-partner-0001", "langues": ["dut", "ger", "xx1"], "republier": True}


def _harvested(published, origin, **changes) -> dict:
    """A public JDD under the CA with the ``origine_iso`` that only a harvester may write."""
    from ckan.tests import helpers

    from ckanext.sinp.logic.validators import HARVESTED_ORIGIN as HARVESTER_CONTEXT

    api, ca = published["api"], published["ca"]
    jdd = _jdd(api, {"id": ca["owner_org"]}, ca, private=False, **changes)
    context = {HARVESTER_CONTEXT: True, "user": helpers.call_action("get_site_user")["name"]}
    return helpers.call_action("package_patch", context=context, id=jdd["id"], origine_iso=origin)


def test_a_harvested_record_says_its_source_languages_or_none(published):
    app = published["app"]
    harvested = _harvested(published, HARVESTED_ORIGIN)
    assert harvested["origine_iso"]["langues"] == ["dut", "ger", "xx1"]
    graph, _ = _get(app, f"/dataset/{harvested['name']}.ttl")
    languages = set(graph.objects(_uri(app, harvested), u(DCT, "language")))
    authority = "http://publications.europa.eu/resource/authority/language/"
    assert languages == {URIRef(authority + "NLD"), URIRef(authority + "DEU")}
    silent = _harvested(published, {**HARVESTED_ORIGIN, "langues": []})
    graph, _ = _get(app, f"/dataset/{silent['name']}.ttl")
    assert list(graph.objects(_uri(app, silent), u(DCT, "language"))) == []


def test_a_record_not_to_republish_is_neither_in_the_catalogue_nor_served(published):
    app = published["app"]
    hidden = _harvested(published, {**HARVESTED_ORIGIN, "republier": False}, title="Jeu moissonné à ne pas republier")
    assert hidden["origine_iso"]["republier"] is False and hidden["private"] is False
    for fmt in FORMATS:
        _graph, text = _get(app, f"/catalog.{fmt}")
        assert hidden["id"] not in text and hidden["title"] not in text and hidden["sinp_uuid"] not in text
        assert published["jdd"]["title"] in text
        assert app.get(f"/dataset/{hidden['name']}.{fmt}").status_code == 404
        assert app.get(f"/dataset/{published['jdd']['name']}.{fmt}").status_code == 200


def test_the_shapes_file_is_the_one_ckanext_dcat_uses():
    """A path given by SINP_DCAT_AP3_SHAPES must be DCAT-AP 3.0.0's shapes, not any Turtle file."""
    path = _shapes_path()
    if path is None:
        pytest.skip("formes SHACL DCAT-AP 3 absentes (voir le docstring du module)")
    text = path.read_text(encoding="utf-8")
    assert "https://semiceu.github.io/DCAT-AP/releases/3.0.0/shacl/dcat-ap-SHACL.ttl#dcat:DatasetShape" in text
