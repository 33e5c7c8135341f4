"""Pure parts of the CSW self-test (ckanext.sinp.csw.selftest): capabilities, pages, records, requests.

No network except a closed local port; the XSDs are pycsw 2.6.2's (pycsw virtualenv, like test_iso)."""

from __future__ import annotations

import copy
import pathlib

import pytest
from lxml import etree

from ckanext.sinp.csw import selftest as st
from tests.conftest import ROOT

FIXTURES = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "iso"
NS = st.NS
CSW_XSD = sorted(
    ROOT.glob("var/venv/pycsw/lib*/python3*/site-packages/pycsw/core/schemas/ogc/csw/2.0.2/CSW-discovery.xsd")
)


# --- URLs, words, themes ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url, local",
    [
        ("http://127.0.0.1:8000/csw", True),
        ("http://localhost:8080/csw", True),
        ("http://[::1]/csw", True),
        ("http://10.0.3.4/csw", True),
        ("http://192.168.1.2/csw", True),
        ("http://0.0.0.0:8000/csw", True),
        ("http://pycsw:8000/csw", True),
        ("http://sinp.local/csw", True),
        ("https://sinp.example.fr/csw", False),
        ("https://8.8.8.8/csw", False),
        ("not a url", False),
    ],
)
def test_local_urls(url, local):
    assert st.is_local_url(url) is local


def test_inspire_themes_by_label_or_uri():
    assert len(st.INSPIRE_THEMES) == 34
    assert st.theme_of_keyword("Répartition des espèces", None) == "sd"
    assert st.theme_of_keyword("species distribution", None) == "sd"
    assert st.theme_of_keyword("n'importe quoi", "http://inspire.ec.europa.eu/theme/hb") == "hb"
    assert st.theme_of_keyword("chiroptères", None) is None


def test_title_word():
    assert st.title_word("Observations d'odonates de la vallée du Doubs") == "Observations"
    assert st.title_word("JDD 2024 n° 12") is None


# --- capabilities -----------------------------------------------------------------------------


def capabilities(
    href="https://sinp.example.fr/csw",
    operations=("GetRecords", "GetRecordById"),
    schemas=None,
    languages=("CQL_TEXT", "FILTER"),
    post_encoding=("XML", "SOAP"),
    inspire=True,
    versions=("2.0.2",),
):
    schemas = schemas if schemas is not None else (st.GMD, st.CSW)
    values = lambda vs: "".join(f"<ows:Value>{v}</ows:Value>" for v in vs)  # noqa: E731
    ops = ""
    for name in operations:
        params = ""
        if name == "GetRecords":
            params = (
                f'<ows:Parameter name="outputSchema">{values(schemas)}</ows:Parameter>'
                f'<ows:Parameter name="typeNames">{values(["csw:Record", "gmd:MD_Metadata"])}</ows:Parameter>'
                f'<ows:Parameter name="CONSTRAINTLANGUAGE">{values(languages)}</ows:Parameter>'
                f'<ows:Parameter name="outputFormat">{values(["application/xml"])}</ows:Parameter>'
            )
        ops += (
            f'<ows:Operation name="{name}"><ows:DCP><ows:HTTP><ows:Get xlink:href="{href}"/>'
            f'<ows:Post xlink:href="{href}"/></ows:HTTP></ows:DCP>{params}</ows:Operation>'
        )
    extended = f'<inspire_ds:ExtendedCapabilities xmlns:inspire_ds="{st.INSPIRE_DS}"/>' if inspire else ""
    return etree.fromstring(
        f'<csw:Capabilities xmlns:csw="{st.CSW}" xmlns:ows="http://www.opengis.net/ows" '
        f'xmlns:xlink="http://www.w3.org/1999/xlink" version="2.0.2"><ows:ServiceIdentification>'
        + "".join(f"<ows:ServiceTypeVersion>{v}</ows:ServiceTypeVersion>" for v in versions)
        + f"</ows:ServiceIdentification><ows:OperationsMetadata>{ops}"
        f'<ows:Constraint name="MaxRecordDefault"><ows:Value>100</ows:Value></ows:Constraint>'
        f'<ows:Constraint name="PostEncoding">{values(post_encoding)}</ows:Constraint>{extended}'
        f"</ows:OperationsMetadata></csw:Capabilities>"
    )


def test_good_capabilities():
    result = st.check_capabilities(capabilities(), local_ok=False)
    assert result.problems == [] and result.warnings == [] and result.max_record_default == 100
    assert "GetRecords, GetRecordById" in result.detail and "https://sinp.example.fr/csw" in result.detail


def test_local_declared_address_is_a_problem_unless_the_tested_url_is_local():
    local = "http://127.0.0.1:8000/csw"
    problem = (
        f"l'adresse déclarée {local} (GetRecords GET, GetRecords POST, GetRecordById GET, GetRecordById "
        "POST) est locale : les moissonneurs ne pourront pas la joindre (PYCSW_SERVER_URL doit être "
        "l'adresse publique https)"
    )
    assert st.check_capabilities(capabilities(href=local), local_ok=False).problems == [problem]
    result = st.check_capabilities(capabilities(href=local), local_ok=True)
    assert result.problems == [] and result.warnings == [problem]
    assert st.check_capabilities(capabilities(href="http://sinp.example.fr/csw"), local_ok=False).warnings == [
        "l'adresse déclarée http://sinp.example.fr/csw est en http : une adresse https publique est attendue"
    ]
    assert st.check_capabilities(capabilities(href="/csw"), local_ok=False).problems[0] == (
        "GetRecords : l'adresse déclarée en ows:Get (/csw) n'est pas une URL http(s) absolue"
    )


def test_broken_capabilities():
    result = st.check_capabilities(
        capabilities(
            operations=("GetRecords",),
            schemas=(st.CSW,),
            languages=("CQL",),
            post_encoding=("SOAP",),
            inspire=False,
            versions=("3.0.0",),
        ),
        local_ok=False,
    )
    assert result.problems == [
        "ows:ServiceTypeVersion ne contient pas 2.0.2 (trouvé : 3.0.0) : GeoNetwork préfère 2.0.2",
        "GetRecords : POST déclaré en SOAP seulement (PostEncoding) : GeoNetwork ignore ce POST",
        "l'opération GetRecordById n'est pas déclarée dans ows:OperationsMetadata : GeoNetwork arrête le "
        "moissonnage (« operation not found »)",
        f"GetRecords : le paramètre outputSchema ne liste pas {st.GMD} (premier choix de GeoNetwork, seul schéma "
        "moissonné par udata et ckanext-spatial)",
        "GetRecords : ConstraintLanguage ne liste pas FILTER (filtres OGC en POST de GeoNetwork)",
        "pas d'inspire_ds:ExtendedCapabilities : le service n'est pas décrit comme service de découverte INSPIRE",
    ]
    assert st.check_capabilities(etree.fromstring("<html/>"), local_ok=True).problems == [
        "la réponse n'est pas un csw:Capabilities (élément racine html)"
    ]


# --- pages --------------------------------------------------------------------------------------


def page(matched="5", returned="2", next_record="3", ids=("A", "B"), stamp=True):
    records = "".join(
        f"<gmd:MD_Metadata><gmd:fileIdentifier><gco:CharacterString>{i}</gco:CharacterString></gmd:fileIdentifier>"
        '<gmd:hierarchyLevel><gmd:MD_ScopeCode codeListValue="dataset"/></gmd:hierarchyLevel>'
        + ("<gmd:dateStamp><gco:DateTime>2026-01-01T00:00:00Z</gco:DateTime></gmd:dateStamp>" if stamp else "")
        + "</gmd:MD_Metadata>"
        for i in ids
    )
    attrs = " ".join(
        f'{k}="{v}"'
        for k, v in (
            ("numberOfRecordsMatched", matched),
            ("numberOfRecordsReturned", returned),
            ("nextRecord", next_record),
        )
        if v is not None
    )
    return etree.fromstring(
        f'<csw:GetRecordsResponse xmlns:csw="{st.CSW}" xmlns:gmd="{st.GMD}" '
        f'xmlns:gco="{st.GCO}"><csw:SearchResults {attrs}>{records}</csw:SearchResults>'
        "</csw:GetRecordsResponse>"
    )


def test_a_good_page_and_its_records():
    result = st.read_page(page(), start=1, max_records=20)
    assert (result.matched, result.returned, result.next, result.problems) == (5, 2, 3, [])
    assert result.capped  # 2 records for maxRecords=20 while 3 remain: the server caps pages
    summary = st.summary_of(result.records[0])
    assert (summary.identifier, summary.date_stamp, summary.hierarchy) == ("A", "2026-01-01T00:00:00Z", "dataset")
    last = st.read_page(page(next_record="0", ids=("E",), returned="1"), start=5, max_records=2)
    assert last.problems == [] and not last.capped


@pytest.mark.parametrize(
    "kwargs, start, expected",
    [
        (
            {"matched": None},
            1,
            "attribut numberOfRecordsMatched absent de csw:SearchResults (GeoNetwork abandonne le moissonnage)",
        ),
        (
            {"returned": "deux"},
            1,
            "numberOfRecordsReturned='deux' n'est pas un entier (GeoNetwork abandonne le moissonnage)",
        ),
        ({"returned": "3"}, 1, "numberOfRecordsReturned=3 alors que la page contient 2 fiche(s)"),
        (
            {"next_record": "0"},
            1,
            "nextRecord=0 (dernière page) alors que seules les fiches 1 à 2 sur 5 ont été "
            "parcourues : les suivantes ne seraient jamais vues",
        ),
        ({"next_record": "9"}, 1, "nextRecord=9 dépasse numberOfRecordsMatched=5 (les moissonneurs s'arrêtent là)"),
        ({"next_record": "2"}, 3, "nextRecord=2 est inférieur à startPosition=3 (les moissonneurs s'arrêtent là)"),
        ({"next_record": "3"}, 3, "nextRecord=3 égale startPosition : la pagination ne progresse pas"),
        (
            {"next_record": "4"},
            1,
            "nextRecord=4 au lieu de 3 (startPosition + fiches renvoyées) : des fiches seraient sautées ou répétées",
        ),
        (
            {"next_record": "3", "ids": (), "returned": "0"},
            1,
            "aucune fiche renvoyée alors que nextRecord=3 (les moissonneurs s'arrêtent là)",
        ),
    ],
)
def test_page_problems(kwargs, start, expected):
    assert expected in st.read_page(page(**kwargs), start=start, max_records=20).problems


def test_too_many_records_and_wrong_root():
    assert "2 fiches renvoyées pour maxRecords=1" in st.read_page(page(), start=1, max_records=1).problems
    assert st.read_page(
        etree.fromstring(f'<csw:GetRecordByIdResponse xmlns:csw="{st.CSW}"/>'), start=1, max_records=1
    ).problems == ["la réponse n'est pas un csw:GetRecordsResponse (élément racine GetRecordByIdResponse)"]


# --- full records -------------------------------------------------------------------------------


@pytest.fixture
def jdd():
    return etree.parse(str(FIXTURES / "jdd.xml")).getroot()


@pytest.fixture
def ca():
    return etree.parse(str(FIXTURES / "ca.xml")).getroot()


def test_our_records_have_every_inspire_element(jdd, ca):
    assert st.record_problems(jdd) == ([], [])
    assert st.record_problems(ca) == ([], ["pas d'emprise géographique (EX_GeographicBoundingBox) pour une série"])
    assert st.record_bbox(jdd) == (3.85, 46.95, 4.35, 47.45)
    assert st.record_title(jdd) == "Comptages hivernaux de chiroptères en cavités"


def _remove(md, path):
    for element in md.xpath(path, namespaces=NS):
        element.getparent().remove(element)
    return md


@pytest.mark.parametrize(
    "path, expected",
    [
        ("gmd:dateStamp", "pas de gmd:dateStamp"),
        ("gmd:language", "pas de langue des métadonnées (gmd:language)"),
        (
            "gmd:contact//gmd:contactInfo",
            "le contact des métadonnées n'a pas d'adresse électronique (electronicMailAddress)",
        ),
        ("gmd:identificationInfo/*/gmd:abstract", "pas de résumé (gmd:abstract)"),
        (
            "gmd:identificationInfo/*/gmd:descriptiveKeywords[.//gmd:thesaurusName]",
            "pas de mot-clé du thésaurus « GEMET - INSPIRE themes, version 1.0 »",
        ),
        ("gmd:identificationInfo/*/gmd:topicCategory", "pas de catégorie thématique (gmd:topicCategory)"),
        (
            "gmd:identificationInfo/*/gmd:extent//gmd:geographicElement",
            "pas d'emprise géographique (EX_GeographicBoundingBox)",
        ),
        (
            "gmd:identificationInfo/*/gmd:resourceConstraints[.//gmd:accessConstraints]//gmd:otherConstraints",
            "contrainte d'accès sans otherConstraints (valeur INSPIRE LimitationsOnPublicAccess)",
        ),
        (
            "gmd:identificationInfo/*/gmd:resourceConstraints[.//gmd:useConstraints]",
            "pas de condition d'utilisation ni de licence (useConstraints / useLimitation)",
        ),
        ("gmd:distributionInfo", "pas de ressource en ligne (distributionInfo/transferOptions/onLine/linkage)"),
        ("gmd:dataQualityInfo//gmd:lineage", "pas de généalogie (lineage/statement)"),
        (
            "gmd:dataQualityInfo//gmd:report",
            "pas de conformité citant le règlement (UE) n° 1089/2010 (DQ_ConformanceResult)",
        ),
    ],
)
def test_missing_inspire_elements(jdd, path, expected):
    problems, _ = st.record_problems(_remove(jdd, path))
    assert expected in problems


def test_temporal_reference_keyword_theme_and_local_links(jdd):
    md = _remove(copy.deepcopy(jdd), "gmd:identificationInfo/*/gmd:extent//gmd:temporalElement")
    assert st.record_problems(md) == ([], [])  # the citation dates are enough
    md = _remove(md, "gmd:identificationInfo/*/gmd:citation/*/gmd:date")
    assert "ni étendue temporelle ni date de référence (création, publication, révision)" in st.record_problems(md)[0]

    md = copy.deepcopy(jdd)
    for keyword in md.xpath("//gmd:keyword/gmx:Anchor", namespaces=NS):
        keyword.text, keyword.attrib[st.HREF] = "Faune", "http://example.org/faune"
    assert "aucun mot-clé du thésaurus GEMET - INSPIRE themes n'est un thème INSPIRE connu" in st.record_problems(md)[0]

    md = copy.deepcopy(jdd)
    for url in md.xpath("//gmd:linkage/gmd:URL", namespaces=NS):
        url.text = url.text.replace("https://sinp.example.fr", "http://127.0.0.1:5000")
    local = (
        "ressource en ligne à une adresse locale (http://127.0.0.1:5000/…) : injoignable par les "
        "utilisateurs (ckan.site_url)"
    )
    assert local in st.record_problems(md)[0]
    assert st.record_problems(md, local_ok=True) == ([], [local])


def test_resource_contact_without_email_is_a_warning(jdd):
    md = _remove(jdd, "gmd:identificationInfo/*/gmd:pointOfContact//gmd:contactInfo")
    assert st.record_problems(md) == (
        [],
        ["aucun responsable de la ressource (pointOfContact) n'a d'adresse électronique, exigée par INSPIRE"],
    )


def test_xsd_of_pycsw_is_found_and_validates(jdd):
    base = st.find_iso_xsd()
    assert base is not None and (base / "gmd" / "gmd.xsd").is_file(), "pycsw 2.6.2 venv missing (make install)"
    assert st.find_iso_xsd(base / "gmd" / "gmd.xsd") == base and st.find_iso_xsd(base) == base
    schema = st.iso_schema(base)
    assert st.xsd_errors(schema, jdd) == []
    ident = jdd.find("gmd:identificationInfo/gmd:MD_DataIdentification", NS)
    ident.insert(0, ident.find("gmd:abstract", NS))  # abstract before citation: out of schema order
    errors = st.xsd_errors(schema, jdd)
    assert errors and "abstract" in errors[0]


# --- requests -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def csw_schema():
    assert CSW_XSD, "pycsw 2.6.2 venv missing (make install)"
    return etree.XMLSchema(file=str(CSW_XSD[0]))


def test_request_bodies_are_valid_csw_as_pycsw_checks_them(csw_schema):
    bodies = [
        st.getrecords_body(type_names="gmd:MD_Metadata", element_set="summary", start=21, max_records=20),
        st.getrecords_body(
            type_names="csw:Record", element_set="full", start=1, max_records=20, filter_xml=st.type_filter("series")
        ),
        st.getrecords_body(
            type_names="csw:Record", element_set="brief", max_records=10, extra=' outputFormat="application/xml"'
        ),
        st.getrecords_body(
            type_names="gmd:MD_Metadata",
            element_set="brief",
            start=1,
            max_records=100,
            filter_xml=st.anytext_filter("vallée & <Doubs>"),
        ),
        st.getrecords_body(
            type_names="gmd:MD_Metadata",
            element_set="brief",
            start=1,
            max_records=100,
            filter_xml=st.bbox_filter((3.85, 46.95, 4.35, 47.45), st.CRS_EPSG4326),
        ),
        st.getrecordbyid_body("5C2D8E1F-4A3B-4C6D-9E8F-0A1B2C3D4E5F"),
    ]
    for body in bodies:
        assert csw_schema.validate(etree.fromstring(body)), (body, csw_schema.error_log)
    envelope = etree.fromstring(bodies[4]).find(".//{http://www.opengis.net/gml}Envelope")
    assert [c.text for c in envelope] == ["46.95 3.85", "47.45 4.35"]  # EPSG::4326: latitude first
    # udata's own request carries a non-standard maxPosition that pycsw 2.6.2's validation rejects
    udata = st.getrecords_body(
        type_names="csw:Record",
        element_set="full",
        start=1,
        filter_xml=st.UDATA_TYPES_FILTER,
        extra=' maxPosition="10"',
    )
    assert not csw_schema.validate(etree.fromstring(udata))
    assert "maxPosition" in str(csw_schema.error_log)


def test_exception_reports_and_unreachable_endpoints_are_french_errors():
    report = etree.fromstring(
        '<ows:ExceptionReport xmlns:ows="http://www.opengis.net/ows"><ows:Exception '
        'exceptionCode="NoApplicableCode"><ows:ExceptionText>boom</ows:ExceptionText>'
        "</ows:Exception></ows:ExceptionReport>"
    )
    assert st.exception_text(report) == "NoApplicableCode : boom"
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = st.Client(f"http://127.0.0.1:{port}/csw", timeout=2)
    with pytest.raises(st.CswError, match=r"^GetCapabilities \(test\) : connexion impossible"):
        client.get("GetCapabilities (test)", {})


# --- report ---------------------------------------------------------------------------------------


def test_report_text_and_checks():
    report = st.Report("https://sinp.example.fr/csw")
    good, bad = st.Check("a", "Premier contrôle", "tout va bien"), st.Check("b", "Second contrôle")
    good.warning("attention")
    bad.problem("ça casse")
    bad.problem("ça casse")  # once
    report.checks += [good, bad]
    assert [tuple(c) for c in report.checks] == [
        ("Premier contrôle", True, "tout va bien"),
        ("Second contrôle", False, ""),
    ]
    label, ok, detail = report.checks[1]
    assert (label, ok, detail) == ("Second contrôle", False, "")
    assert not report.ok and report.problems == ["ça casse"] and report.warnings == ["attention"]
    assert report.to_text().splitlines() == [
        "Auto-contrôle de moissonnage du CSW https://sinp.example.fr/csw",
        "✓ Premier contrôle — tout va bien",
        "    ⚠ attention",
        "✗ Second contrôle",
        "    ✗ ça casse",
        "Résultat : 1 problème(s) dans 1 contrôle(s) sur 2, 1 avertissement(s).",
    ]
    bad.problems.clear()
    assert report.ok and report.to_text().endswith(
        "Résultat : prêt pour le moissonnage (2 contrôles réussis, 1 avertissement(s))."
    )
