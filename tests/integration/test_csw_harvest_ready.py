"""What GeoNetwork (IDéO BFC), udata and ckanext-spatial need from our CSW (CSW_HARVESTERS.md §5),
the ISO record from CKAN, and hostile or absurd requests."""

from __future__ import annotations

import subprocess

import pytest
import requests
from lxml import etree

from tests.integration.test_csw_publication import NS, _ca, _full, _jdd, _records, _wait, producer  # noqa: F401
from tests.iso_xsd import iso19139_schema

GMD = "http://www.isotc211.org/2005/gmd"
OWS = "http://www.opengis.net/ows"


def _post(csw, body: str):
    response = requests.post(csw, data=body.encode("utf-8"), headers={"Content-Type": "application/xml"}, timeout=30)
    return response.status_code, etree.fromstring(response.content)


def _get_records_post(start=1, max_records=20, constraint="", type_names="gmd:MD_Metadata", esn="summary"):
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<csw:GetRecords xmlns:csw="http://www.opengis.net/cat/csw/2.0.2" xmlns:ogc="http://www.opengis.net/ogc"
    xmlns:gmd="http://www.isotc211.org/2005/gmd" xmlns:gml="http://www.opengis.net/gml"
    service="CSW" version="2.0.2" resultType="results" startPosition="{start}" maxRecords="{max_records}"
    outputSchema="http://www.isotc211.org/2005/gmd">
  <csw:Query typeNames="{type_names}">
    <csw:ElementSetName>{esn}</csw:ElementSetName>{constraint}
  </csw:Query>
</csw:GetRecords>"""


def _constraint(filter_xml: str) -> str:
    return f'<csw:Constraint version="1.1.0"><ogc:Filter>{filter_xml}</ogc:Filter></csw:Constraint>'


def _ids(root):
    return root.xpath("//gmd:MD_Metadata/gmd:fileIdentifier/gco:CharacterString/text()", namespaces=NS)


@pytest.fixture
def catalogue(producer, test_csw):  # noqa: F811
    api, org = producer
    ca = _ca(api, org, private=False)
    morvan = _jdd(api, org, ca, private=False, title="Gîtes du Morvan")
    doubs = _jdd(
        api,
        org,
        ca,
        private=False,
        title="Libellules du Doubs",
        borne_ouest="5.95",
        borne_est="6.85",
        borne_sud="47.2",
        borne_nord="47.55",
    )
    private = _jdd(api, org, ca, title="Relevés non publiés")
    _wait(lambda: len(_records(test_csw)[1]) == 3)
    return {"api": api, "ca": ca, "morvan": morvan, "doubs": doubs, "private": private}


def test_geonetwork_post_paging_twice_gives_identical_sets(catalogue, test_csw):
    runs = []
    for _ in range(2):
        seen, start = [], 1
        while True:
            status, root = _post(test_csw, _get_records_post(start=start, max_records=2))
            assert status == 200
            results = root.find("csw:SearchResults", NS)
            ids = _ids(root)
            assert results.get("numberOfRecordsMatched") == "3"
            assert results.get("numberOfRecordsReturned") == str(len(ids))
            # every summary record carries fileIdentifier and dateStamp
            for md in root.iterfind(".//gmd:MD_Metadata", NS):
                assert md.find("gmd:dateStamp", NS) is not None
            seen += ids
            if results.get("nextRecord") == "0":
                break
            start = int(results.get("nextRecord"))
        runs.append(seen)
    assert runs[0] == runs[1] and len(set(runs[0])) == 3
    assert catalogue["private"]["sinp_uuid"] not in runs[0]


@pytest.mark.parametrize("kind, expected", [("dataset", {"morvan", "doubs"}), ("series", {"ca"})])
def test_dc_type_filter_as_udata_sends_it(catalogue, test_csw, kind, expected):
    constraint = _constraint(
        f"<ogc:PropertyIsEqualTo><ogc:PropertyName>dc:type</ogc:PropertyName>"
        f"<ogc:Literal>{kind}</ogc:Literal></ogc:PropertyIsEqualTo>"
    )
    status, root = _post(test_csw, _get_records_post(constraint=constraint, type_names="csw:Record", esn="full"))
    assert status == 200
    assert set(_ids(root)) == {catalogue[k]["sinp_uuid"] for k in expected}


def test_bbox_anytext_identifier_and_modified_filters(catalogue, test_csw):
    bbox = _constraint(
        "<ogc:BBOX><ogc:PropertyName>ows:BoundingBox</ogc:PropertyName>"
        '<gml:Envelope srsName="urn:ogc:def:crs:EPSG::4326"><gml:lowerCorner>47.3 6.2</gml:lowerCorner>'
        "<gml:upperCorner>47.4 6.4</gml:upperCorner></gml:Envelope></ogc:BBOX>"
    )
    _, root = _post(test_csw, _get_records_post(constraint=bbox))
    assert catalogue["doubs"]["sinp_uuid"] in _ids(root) and catalogue["morvan"]["sinp_uuid"] not in _ids(root)

    anytext = _constraint(
        '<ogc:PropertyIsLike wildCard="%" singleChar="_" escapeChar="\\\\">'
        "<ogc:PropertyName>csw:AnyText</ogc:PropertyName><ogc:Literal>%Libellules%</ogc:Literal>"
        "</ogc:PropertyIsLike>"
    )
    _, root = _post(test_csw, _get_records_post(constraint=anytext))
    assert _ids(root) == [catalogue["doubs"]["sinp_uuid"]]

    ident = _constraint(
        f"<ogc:PropertyIsEqualTo><ogc:PropertyName>apiso:Identifier</ogc:PropertyName>"
        f"<ogc:Literal>{catalogue['morvan']['sinp_uuid']}</ogc:Literal></ogc:PropertyIsEqualTo>"
    )
    _, root = _post(test_csw, _get_records_post(constraint=ident))
    assert _ids(root) == [catalogue["morvan"]["sinp_uuid"]]

    modified = _constraint(
        "<ogc:PropertyIsGreaterThanOrEqualTo><ogc:PropertyName>apiso:Modified</ogc:PropertyName>"
        "<ogc:Literal>2000-01-01</ogc:Literal></ogc:PropertyIsGreaterThanOrEqualTo>"
    )
    _, root = _post(test_csw, _get_records_post(constraint=modified))
    assert len(_ids(root)) == 3
    future = modified.replace("2000-01-01", "2999-01-01")
    _, root = _post(test_csw, _get_records_post(constraint=future))
    assert _ids(root) == []


def test_get_record_by_id_by_post_and_for_unknown_or_private_ids(catalogue, test_csw):
    body = f"""<csw:GetRecordById xmlns:csw="http://www.opengis.net/cat/csw/2.0.2" service="CSW" version="2.0.2"
        outputSchema="{GMD}"><csw:Id>{catalogue["ca"]["sinp_uuid"]}</csw:Id>
        <csw:ElementSetName>full</csw:ElementSetName></csw:GetRecordById>"""
    status, root = _post(test_csw, body)
    assert status == 200 and [c.tag for c in root] == [f"{{{GMD}}}MD_Metadata"]
    for ident in (
        "00000000-0000-4000-8000-000000000000",
        catalogue["private"]["sinp_uuid"],
        catalogue["ca"]["sinp_uuid"].lower(),
    ):
        assert len(_full(test_csw, ident)) == 0


def test_capabilities_declare_what_harvesters_look_for(test_csw):
    caps = etree.fromstring(
        requests.get(
            test_csw, params={"service": "CSW", "version": "2.0.2", "request": "GetCapabilities"}, timeout=20
        ).content
    )
    ns = {"ows": OWS}
    params = {
        p.get("name"): set(
            caps.xpath(
                f"//ows:Operation[@name='GetRecords']/ows:Parameter[@name='{p.get('name')}']/ows:Value/text()",
                namespaces=ns,
            )
        )
        for p in caps.xpath("//ows:Operation[@name='GetRecords']/ows:Parameter", namespaces=ns)
    }
    assert {GMD, "http://www.opengis.net/cat/csw/2.0.2"} <= params["outputSchema"]
    assert {"gmd:MD_Metadata", "csw:Record"} <= params["typeNames"]
    assert {"FILTER", "CQL_TEXT"} <= params["CONSTRAINTLANGUAGE"] | params.get("ConstraintLanguage", set())
    for op in ("GetRecords", "GetRecordById"):
        assert caps.xpath(f"//ows:Operation[@name='{op}']//ows:Get/@*[local-name()='href']", namespaces=ns)
        assert caps.xpath(f"//ows:Operation[@name='{op}']//ows:Post/@*[local-name()='href']", namespaces=ns)
    assert caps.xpath("//*[local-name()='ExtendedCapabilities']")
    # the contact a harvester copies is the platform's, never a placeholder
    assert caps.xpath("//ows:ServiceContact//ows:ElectronicMailAddress/text()", namespaces=ns) == [
        "sinp@bourgogne-franche-comte.invalid"
    ]
    text = etree.tostring(caps, encoding="unicode")
    for placeholder in ("Adresse postale", "00000", "example.org", "+33-0-00"):
        assert placeholder not in text


def test_pycsw_refuses_to_start_without_the_contact_email(stack):
    check = """
import wsgi
env = {"PYCSW_SERVER_URL": "https://csw.example.fr/csw", "PYCSW_DATABASE_URL": "postgresql://r@db/ckan"}
try:
    wsgi.load_configuration(env)
except wsgi.ConfigurationError as err:
    print("refused:", err)
config = wsgi.load_configuration({**env, "SINP_CONTACT_EMAIL": "sinp@region.fr"})
print("main:", config["metadata:main"]["contact_email"], "inspire:", config["metadata:inspire"]["contact_email"])
"""
    out = subprocess.run(
        [f"{stack['PYCSW_VENV']}/bin/python", "-c", check],
        cwd=stack["PYCSW_CONFIG_DIR"],
        env={  # the module reads a complete configuration when imported
            "PATH": "/usr/bin:/bin",
            "PYCSW_SERVER_URL": "https://csw.example.fr/csw",
            "PYCSW_DATABASE_URL": "postgresql://r@db/ckan",
            "SINP_CONTACT_EMAIL": "sinp@example.fr",
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert "refused: [metadata:main] contact_email uses ${SINP_CONTACT_EMAIL}" in out
    assert "main: sinp@region.fr inspire: sinp@region.fr" in out


# --- the ISO record from CKAN ---------------------------------------------------------------------


def test_sinp_iso_show_honours_access_rules(app, catalogue):
    api = catalogue["api"]
    status, body = api.get("sinp_iso_show", id=catalogue["morvan"]["sinp_uuid"])
    assert status == 200
    doc = etree.fromstring(body["result"].encode("utf-8"))
    iso19139_schema().assertValid(etree.ElementTree(doc))
    assert (
        doc.xpath("string(gmd:fileIdentifier/gco:CharacterString)", namespaces=NS) == catalogue["morvan"]["sinp_uuid"]
    )
    # the producer may see its private record's ISO; the public may not
    assert api.get("sinp_iso_show", id=catalogue["private"]["name"])[0] == 200
    assert app.get("/api/3/action/sinp_iso_show", query_string={"id": catalogue["private"]["name"]}).status_code == 404
    page = app.get(f"/jdd/{catalogue['morvan']['name']}/iso19139.xml")
    assert page.status_code == 200 and b"gmd:MD_Metadata" in page.data
    assert app.get(f"/jdd/{catalogue['private']['name']}/iso19139.xml").status_code == 404


# --- hostile or absurd requests ---------------------------------------------------------------------


def _exception(root):
    """An OWS ExceptionReport (OWS 1.0 for CSW 2.0.2; 2.0 when the request shows no version)."""
    return etree.QName(root).localname == "ExceptionReport" and "opengis.net/ows" in etree.QName(root).namespace


@pytest.mark.parametrize(
    "body",
    [
        "<csw:GetRecords xmlns:csw='http://www.opengis.net/cat/csw/2.0.2'><unclosed>",
        "pas du XML du tout",
    ],
)
def test_malformed_xml_gets_a_clean_ows_exception(test_csw, body):
    status, root = _post(test_csw, body)
    assert status in (200, 400) and _exception(root)


def test_external_entities_are_not_resolved(test_csw):
    body = """<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<csw:GetRecordById xmlns:csw="http://www.opengis.net/cat/csw/2.0.2" service="CSW" version="2.0.2">
  <csw:Id>&xxe;</csw:Id></csw:GetRecordById>"""
    response = requests.post(test_csw, data=body.encode(), headers={"Content-Type": "application/xml"}, timeout=30)
    assert b"root:" not in response.content


def test_huge_max_records_is_bounded_and_negative_start_is_refused(catalogue, test_csw):
    params = {
        "service": "CSW",
        "version": "2.0.2",
        "request": "GetRecords",
        "typeNames": "gmd:MD_Metadata",
        "resultType": "results",
        "elementSetName": "summary",
        "outputSchema": GMD,
    }
    root = etree.fromstring(requests.get(test_csw, params={**params, "maxRecords": 10**9}, timeout=30).content)
    results = root.find("csw:SearchResults", NS)
    assert results is not None and int(results.get("numberOfRecordsReturned")) <= 100
    response = requests.get(test_csw, params={**params, "startPosition": -5}, timeout=30)
    root = etree.fromstring(response.content)
    results = root.find("csw:SearchResults", NS)
    assert _exception(root) or (results is not None and int(results.get("numberOfRecordsReturned")) <= 3)
