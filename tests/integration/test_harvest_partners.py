"""``sinp_csw`` on the partner corpus (tests/fixtures/iso_partners/, issue #19) served by a stock pycsw
2.6.2: every dataset / series / ISO 19115-2 record imported or refused with a French reason naming the
field, services attached as resources of the datasets they operate on, nothing lost (``origine_iso``,
« Origine de la fiche »), nothing invented in our ISO 19139 of the imported records, and a second job
that changes nothing. Real PostgreSQL, Solr, ckanext-harvest stages."""

from __future__ import annotations

import pathlib
import uuid as uuidlib

import pytest
from ckan.tests import factories, helpers
from lxml import etree
from remote_csw import remote_pycsw

from ckanext.sinp.csw import sync
from ckanext.sinp.domain import iso, iso_read
from ckanext.sinp_harvesters.csw import AUTO_CA_GUID, SinpCswHarvester, source_ca_uuid
from tests.integration.test_harvest_csw import DEFAULTS, gather_errors, harvest, show, source
from tests.iso_xsd import iso19139_schema

CORPUS = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "iso_partners"
NS = {"gmd": iso.GMD, "gco": iso.GCO, "gmx": iso.GMX, "xlink": iso.XLINK, "gml": iso.GML}

SERIES = "4A7E2C91-5D3B-4F08-B6C2-9E1D3A5F7B20"
CHIRO = "geobretagne_jdd_chiropteres_in_series.xml"
CC = "fr-000019182-CC20150517"
REFUSED = {  # guid -> what the refusal names
    "refused-hierarchylevel": "gmd:hierarchyLevel",
}


def corpus() -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(CORPUS.glob("*.xml"))}


def identifier(document: bytes) -> str:
    root = etree.fromstring(document)
    return (root.findtext("gmd:fileIdentifier/gco:CharacterString", namespaces=NS) or "").strip()


def level(document: bytes) -> str:
    root = etree.fromstring(document)
    found = root.xpath("string(gmd:hierarchyLevel/gmd:MD_ScopeCode/@codeListValue)", namespaces=NS).strip()
    return found or "dataset"


@pytest.fixture(scope="module")
def partner(stack, tmp_path_factory):
    documents = corpus()
    with remote_pycsw(documents, tmp_path_factory.mktemp("partners") / "csw", pathlib.Path(stack["PYCSW_VENV"])) as url:
        yield url, documents


@pytest.fixture
def org(clean_db, clean_index, jobs_worker):
    return factories.Organization(name="partenaires-bretagne", title="Catalogues partenaires")


def errors(results, stage=None) -> dict:
    return {
        guid: [e.message for e in r["errors"] if stage is None or e.stage == stage]
        for guid, r in results.items()
        if any(stage is None or e.stage == stage for e in r["errors"])
    }


def uuid_of(url: str, document: bytes) -> str:
    ident = identifier(document)
    bare = ident[9:] if ident.lower().startswith("urn:uuid:") else ident
    try:
        return str(uuidlib.UUID(bare)).upper()
    except ValueError:
        return iso_read.derived_uuid(url, ident)


def our_iso(pkg: dict) -> etree._Element:
    """Our ISO 19139 of a record, as the CSW sync renders it, checked against the ISO 19139 XSD."""
    xml = iso.to_iso19139(pkg["type"], pkg, sync.context_for(pkg))
    doc = etree.fromstring(xml)
    assert iso19139_schema().validate(doc), (pkg["title"], iso19139_schema().error_log)
    return doc


def test_the_partner_corpus_is_imported_faithfully_and_a_second_job_changes_nothing(app, partner, org):
    url, documents = partner
    src = source(
        org, url, cadre="auto", page_size=10, defaults={**DEFAULTS, "type_donnees": "1", "objectif_jdd": "1.2"}
    )
    results = harvest(src)
    by_file = {name: uuid_of(url, doc) for name, doc in documents.items() if identifier(doc)}
    levels = {name: level(doc) for name, doc in documents.items()}

    # --- every record: imported, attached (services) or refused with a French reason naming the field
    refused = errors(results, "Import")
    assert set(refused) == {identifier(documents["refused_hierarchylevel_application.xml"])}, refused
    assert "gmd:hierarchyLevel" in refused[identifier(documents["refused_hierarchylevel_application.xml"])][0]
    lines = gather_errors(src)
    assert any("sans identifiant (gmd:fileIdentifier)" in m for m in lines), lines
    assert any("même identifiant (9D4C2B1A-8E7F-4A6B-9C5D-3E2F1A0B9C8D)" in m for m in lines), lines
    imported = {
        name
        for name, uuid in by_file.items()
        if levels[name] not in ("service", "application") and show(uuid) is not None
    }
    expected = {
        name
        for name in by_file
        if levels[name] not in ("service", "application") and name != "duplicate_identifier_a_lowercase.xml"
    }
    assert imported | {"duplicate_identifier_a_lowercase.xml"} >= expected, expected - imported
    assert results[AUTO_CA_GUID]["report_status"] == "added"

    # the source's own CA, from its GetCapabilities; JDD without a series join it
    auto = show(source_ca_uuid(url))
    assert auto["type"] == "ca" and auto["title"]
    cc = show(by_file[f"cnig_cc_carte_communale_{CC}.xml"])
    assert cc["cadre"] == auto["sinp_uuid"]
    assert show(by_file[CHIRO])["cadre"] == SERIES
    unknown_parent = show(by_file["parent_unknown_jdd_flore_patrimoniale.xml"])
    assert unknown_parent["cadre"] == auto["sinp_uuid"]
    info = errors(results, "Information")
    assert any(
        "rattaché au cadre d'acquisition de la source" in m
        for m in info[identifier(documents["parent_unknown_jdd_flore_patrimoniale.xml"])]
    )

    # --- field by field: the original identifier and what the source said are kept
    origin = cc["origine_iso"]
    assert origin["identifiant"] == CC and origin["catalogue"] == url and origin["republier"] is True
    assert origin["fiche"].endswith(
        f"id={CC}&outputSchema=http%3A%2F%2Fwww.isotc211.org%2F2005%2Fgmd&elementSetName=full"
    )
    assert origin["themes_inspire"] and origin["categories"]
    assert {r["url"] for r in cc["resources"]} >= {r["url"] for r in origin["ressources"]}
    formats = {r["format"] for r in cc["resources"]}
    assert {"WMS", "WFS"} <= formats, formats

    lineage = show(by_file["geobretagne_zones_humides_finistere_long_lineage.xml"])["origine_iso"]["genealogie"]
    assert len(lineage) > 2000

    flemish = show(by_file["flemish_geonetwork_habitatkaart_dut.xml"])["origine_iso"]
    assert flemish["langue_fiche"] == "dut" and "fre" not in flemish.get("langues", [])

    saprox = show(by_file["long_alternate_title_saproxyliques.xml"])
    assert len(saprox["libelle_court"]) <= 30
    assert len(saprox["origine_iso"]["titre_alternatif"][0]) > 200

    mi = show(by_file["mi_metadata_sentinel2_l2a_tile_eng.xml"])
    assert mi["origine_iso"]["norme"] == "ISO 19115-2"

    marine = show(by_file["marine_ie_dataset_1135_eng_gml31_open_end.xml"])["origine_iso"]
    assert marine["identifiant"] == "ie.marine.data:dataset.1135" and marine["periode"]["fin"] == "ouvert"

    # --- services: resources of the datasets of this source they operate on
    wms_targets = ["8F1C5A2E", "C3D9E8F1"]
    for prefix in wms_targets:
        pkg = next(show(u) for u in by_file.values() if u.startswith(prefix))
        assert any(r["format"] == "WMS" for r in pkg["resources"]), (prefix, pkg["resources"])
    assert not errors(results, "Import").get(identifier(documents["service_wms_operateson_uuidref.xml"]))

    # --- the record page shows the origin and the incompleteness
    page = app.get(f"/jdd/{cc['name']}").get_data(as_text=True)
    assert "Origine de la fiche" in page and CC in page and "Complétude de la fiche" in page
    assert "Fiche ISO 19139 dans le catalogue source" in page

    # --- our ISO 19139 of every imported record: XSD-valid, the source's identifier, nothing invented
    for name in sorted(imported):
        pkg = show(by_file[name])
        doc = our_iso(pkg)
        text = etree.tostring(doc, encoding="unicode")
        source_doc = documents[name].decode("utf-8", errors="replace") if b"8859" not in documents[name][:60] else ""
        assert (
            doc.findtext("gmd:fileIdentifier/gco:CharacterString", namespaces=NS) == pkg["origine_iso"]["identifiant"]
        )
        if source_doc and "Licence Ouverte" not in source_doc and "etalab" not in source_doc.lower():
            assert "Licence Ouverte" not in text and "etalab" not in text, name
        if source_doc and "noLimitations" not in source_doc and "Pas de restriction" not in source_doc:
            assert "Pas de restriction d'accès public" not in text, name
        languages = doc.xpath("//gmd:LanguageCode/@codeListValue", namespaces=NS)
        assert set(languages) <= set(pkg["origine_iso"].get("langues", [])) | {
            pkg["origine_iso"].get("langue_fiche")
        }, name
        dates = doc.xpath("//gmd:identificationInfo/*/gmd:citation/*/gmd:date/*/gmd:date/*/text()", namespaces=NS)
        assert set(dates) <= set(pkg["origine_iso"].get("dates", {}).values()), name
        assert "biota" not in doc.xpath("//gmd:topicCategory/*/text()", namespaces=NS) or "biota" in pkg[
            "origine_iso"
        ].get("categories", []), name

    no_licence = show(by_file["no_licence_no_constraint_chiropteres_cen.xml"])
    doc = our_iso(no_licence)
    assert not doc.xpath("//gmd:resourceConstraints", namespaces=NS)

    # --- the origin cannot be forged nor lost through the API (a producer's or sysadmin's edit)
    chiro = show(by_file[CHIRO])
    helpers.call_action(
        "package_patch",
        context={"user": factories.Sysadmin()["name"]},
        id=chiro["id"],
        origine_iso={"identifiant": "falsifié", "republier": False},
    )
    assert show(chiro["sinp_uuid"])["origine_iso"] == chiro["origine_iso"]

    # --- a second job changes nothing
    before = {u: (p["metadata_modified"], len(p["resources"])) for u in by_file.values() if (p := show(u))}
    again = harvest(src)
    assert {g: r["report_status"] for g, r in again.items() if r["report_status"] != "not modified"} == {
        identifier(documents["refused_hierarchylevel_application.xml"]): "errored"
    }
    after = {u: (p["metadata_modified"], len(p["resources"])) for u in by_file.values() if (p := show(u))}
    assert after == before


def test_a_strict_source_refuses_incomplete_records_naming_the_field(partner, org):
    url, _documents = partner
    src = source(org, url, strict=True, cadre="auto", type="series", page_size=10)
    results = harvest(src)
    refused = errors(results, "Import")
    assert refused, results
    messages = [m for ms in refused.values() for m in ms]
    assert any("Objectifs" in m or "objectifs" in m for m in messages), messages
    assert all("defaults" in m for m in messages), messages
    assert show(SERIES) is None


def test_the_source_configuration_keys_of_issue_19_are_checked_in_french(org):
    harvester = SinpCswHarvester()
    for config, message in [
        ('{"cadre": "oui"}', "« cadre » vaut « auto »"),
        ('{"cadre": "0C4E7B8A-1111-4222-8333-944455556666"}', "aucun cadre d'acquisition d'identifiant"),
        ('{"strict": "yes"}', "« strict » vaut true ou false"),
        ('{"republish": 1}', "« republish » vaut true ou false"),
    ]:
        with pytest.raises(ValueError) as err:
            harvester.validate_config(config)
        assert message in str(err.value), (config, str(err.value))
    assert harvester.validate_config('{"cadre": "auto", "strict": false, "republish": false}')


def test_our_csw_serves_a_republished_record_under_the_source_identifier_and_never_a_withheld_one(
    stack, org, tmp_path, test_csw
):
    """Item 6: a catalogue that harvests both us and the partner (IDéO BFC may) sees one record: ours
    carries the partner's own fileIdentifier — and keeps it through the orphan sweep and a full
    rebuild (rows are keyed by it, not by the derived UUID); a source configured ``"republish":
    false`` has nothing served by our CSW."""
    from tests.integration.test_csw_publication import _full, _records, _wait

    documents = corpus()
    shared = {CC + ".xml": documents["cnig_cc_carte_communale_fr-000019182-CC20150517.xml"]}
    withheld = {"cen.xml": documents["no_licence_no_constraint_chiropteres_cen.xml"]}
    venv = pathlib.Path(stack["PYCSW_VENV"])
    with (
        remote_pycsw(shared, tmp_path / "a", venv) as url_a,
        remote_pycsw(withheld, tmp_path / "b", venv) as url_b,
    ):
        published = source(org, url_a, cadre="auto")
        private_source = source(org, url_b, cadre="auto", republish=False)
        for src in (published, private_source):
            assert not errors(harvest(src), "Import")
    derived = iso_read.derived_uuid(url_a, CC)
    jdd = show(derived)
    assert jdd["origine_iso"]["republier"] is True
    cen = show(uuid_of(url_b, withheld["cen.xml"]))
    assert cen["origine_iso"]["republier"] is False and not cen["private"]  # public on the portal

    served = _wait(lambda: (ids := set(_records(test_csw)[1])) and CC in ids and ids)
    assert derived not in served and cen["sinp_uuid"] not in served
    assert not {cen["origine_iso"]["identifiant"], cen["sinp_uuid"]} & served
    record = _full(test_csw, CC)
    assert record.xpath("string(//gmd:fileIdentifier/gco:CharacterString)", namespaces=NS) == CC

    # the orphan sweep and the hourly rebuild know the row by the source's identifier
    assert CC not in sync.remove_orphans()["removed"]
    report = sync.rebuild(dry_run=True)
    assert CC not in report["removed"] and CC not in report["added"]
    assert cen["origine_iso"]["identifiant"] not in report["added"]
    assert CC in set(_records(test_csw)[1])

    # deleted: the row keyed by the source's identifier goes in the same transaction
    helpers.call_action("package_delete", context={"user": factories.Sysadmin()["name"]}, id=jdd["id"])
    assert not len(_full(test_csw, CC))
