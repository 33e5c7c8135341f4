"""Reading the partner corpus (tests/fixtures/iso_partners/, issue #19) with
ckanext.sinp.domain.iso_read: every record read as a CA, a JDD or a service, or refused with a French
message naming the element; what the source says beyond the SINP fields kept whole in
``origine_iso``; nothing invented."""

from __future__ import annotations

import json
import pathlib

import pytest
from lxml import etree

from ckanext.sinp.domain import iso_read

CORPUS = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "iso_partners"
SOURCE = "https://geobretagne.fr/geonetwork/srv/fre/csw"
OTHER_SOURCE = "https://www.geoportail-urbanisme.gouv.fr/csw"
INSPIRE_THEMES = "http://www.eionet.europa.eu/gemet/inspire_themes"
NO_LIMITATIONS = "http://inspire.ec.europa.eu/metadata-codelist/LimitationsOnPublicAccess/noLimitations"
DEFAULTS_JDD = {
    "type_donnees": "1",
    "objectif_jdd": "1.1",
    "domaine_terrestre": "true",
    "domaine_marin": "false",
    "territoires": ["METROP"],
}

ZONES_HUMIDES = "8F1C5A2E-3B7D-4C19-9E6A-2D4F7B8C1A05"
SERIES = "4A7E2C91-5D3B-4F08-B6C2-9E1D3A5F7B20"

# file -> kind, or the element named by the refusal
EXPECTED = {
    "all_ci_rolecodes_laisses_de_mer.xml": "jdd",
    "cnig_cc_carte_communale_fr-000019182-CC20150517.xml": "jdd",
    "cnig_plu_rennes_fr-213502388-35238_PLU_20190624.xml": "jdd",
    "cnig_scot_pays_de_rennes_fr-200040715-scot_20150529.xml": "jdd",
    "cnig_sup_ac1_monuments_fr-130007669-ac1-20231115.xml": "jdd",
    "de_geodatenkatalog_schutzgebiete_ger_no_end.xml": "jdd",
    "duplicate_identifier_a_lowercase.xml": "jdd",
    "duplicate_identifier_b_urn_uppercase.xml": "jdd",
    "flemish_geonetwork_habitatkaart_dut.xml": "jdd",
    "geobretagne_jdd_chiropteres_in_series.xml": "jdd",
    "geobretagne_jdd_loutre_in_series.xml": "jdd",
    "geobretagne_multilingual_fre_eng_phoques.xml": "jdd",
    "geobretagne_series_atlas_mammiferes.xml": "ca",
    "geobretagne_zones_humides_finistere_long_lineage.xml": "jdd",
    "isogeo_urn_haies_bocageres.xml": "jdd",
    "latin1_encoding_frayeres_elorn.xml": "jdd",
    "licence_uselimitation_useconstraints_odonates.xml": "jdd",
    "long_alternate_title_saproxyliques.xml": "jdd",
    "marine_ie_dataset_1135_eng_gml31_open_end.xml": "jdd",
    "mi_metadata_sentinel2_l2a_tile_eng.xml": "jdd",
    "mi_metadata_spot6_ortho_bretagne_fre.xml": "jdd",
    "nilreason_elements_amphibiens.xml": "jdd",
    "no_hierarchylevel_herbiers_zosteres.xml": "jdd",
    "no_licence_no_constraint_chiropteres_cen.xml": "jdd",
    "nongeographicdataset_liste_rouge_oiseaux.xml": "jdd",
    "ns06agg_nordic_aggregate_eng.xml": "jdd",
    "parent_unknown_jdd_flore_patrimoniale.xml": "jdd",
    "refused_empty_fileidentifier.xml": "gmd:fileIdentifier",
    "refused_hierarchylevel_application.xml": "gmd:hierarchyLevel",
    "service_atom_download_fr-130007669-atom.xml": "service",
    "service_wfs_operateson_xlink_href.xml": "service",
    "service_wms_operateson_uuidref.xml": "service",
    "urn_uuid_prefix_mares_cotes_armor.xml": "jdd",
}


def doc(name: str) -> bytes:
    return (CORPUS / name).read_bytes()


def read(name: str, defaults=None, source_url=SOURCE) -> iso_read.IsoRecord:
    return iso_read.read_iso(doc(name), defaults, source_url=source_url)


def test_every_corpus_file_has_an_expected_outcome():
    assert sorted(p.name for p in CORPUS.glob("*.xml")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_partner_record_is_read_or_refused_naming_the_field(name):
    expected = EXPECTED[name]
    if expected.startswith("gmd:"):
        with pytest.raises(iso_read.IsoError) as err:
            read(name)
        assert expected in str(err.value)
        assert "Fiche" in str(err.value)  # French, for the harvest report
        return
    rec = read(name)
    assert rec.kind == expected
    assert rec.title and rec.source_identifier
    origin = rec.record["origine_iso"]
    assert origin["identifiant"] == rec.source_identifier
    json.dumps(rec.record)  # stored as JSON by the harvester
    # the same record read twice: the same result
    assert read(name).record == rec.record
    if rec.kind != "service":
        assert rec.record["sinp_uuid"] == rec.uuid
        assert iso_read.model.UUID_RE.match(rec.uuid) and rec.uuid == rec.uuid.upper()
        # nothing of the SINP standard that ISO does not carry is invented: no licence, no language field
        assert not {"license_id", "license_title", "language"} & set(rec.record)
        score, missing = iso_read.completeness(rec)
        assert 0 < score < 100 and missing
        assert all(any(label in m for m in iso_read.problems(rec)) for label in missing)


def test_a_cnig_record_with_a_non_uuid_identifier():
    name = "cnig_cc_carte_communale_fr-000019182-CC20150517.xml"
    rec = read(name)
    assert rec.source_identifier == "fr-000019182-CC20150517"
    # UUID v5 of source URL + identifier: the same on every harvest, another for another source
    assert rec.uuid == iso_read.derived_uuid(SOURCE, "fr-000019182-CC20150517") == read(name).uuid
    assert rec.uuid != read(name, source_url=OTHER_SOURCE).uuid
    assert rec.uuid[14] == "5"  # version 5
    assert any("fr-000019182-CC20150517" in n and "n'est pas un UUID" in n for n in rec.notes)
    assert rec.parent is None and "cadre" not in rec.record

    r = rec.record
    assert r["title"] == "Carte communale de Saint-Aubin-des-Landes"
    assert r["date_creation"] == "2015-05-17"
    assert "date_revision" not in r
    o = r["origine_iso"]
    assert (o["norme"], o["niveau"], o["date_fiche"], o["langue_fiche"], o["langues"]) == (
        "ISO 19139",
        "dataset",
        "2015-09-14T09:12:31",
        "fre",
        ["fre"],
    )
    assert o["dates"] == {"creation": "2015-05-17", "publication": "2015-09-14"}
    assert o["themes_inspire"] == [
        {
            "libelle": "Usage des sols",
            "uri": "http://inspire.ec.europa.eu/theme/lu",
            "thesaurus": "GEMET - INSPIRE themes, version 1.0",
            "thesaurus_uri": INSPIRE_THEMES,
            "thesaurus_date": "2008-06-01",
        }
    ]
    # every keyword block with its thesaurus (GEMET Anchors, CNIG, places, INSPIRE spatial scope)
    assert [(k["mot"], k["uri"], k["thesaurus"], k["thesaurus_date"]) for k in o["mots_cles"][:2]] == [
        (
            "plan d'occupation des sols",
            "http://www.eionet.europa.eu/gemet/concept/6337",
            "GEMET - Concepts, version 2.4",
            "2012-07-20",
        ),
        ("urbanisme", "http://www.eionet.europa.eu/gemet/concept/8847", "GEMET - Concepts, version 2.4", "2012-07-20"),
    ]
    assert {k["thesaurus"] for k in o["mots_cles"]} == {
        "GEMET - Concepts, version 2.4",
        "Thèmes CNIG - Documents d'urbanisme",
        "Champ géographique",
        "",
    }
    scope = next(k for k in o["mots_cles"] if k["thesaurus"] == "Champ géographique")
    assert scope["thesaurus_uri"] == "http://inspire.ec.europa.eu/metadata-codelist/SpatialScope"
    assert [k["mot"] for k in o["mots_cles"] if k["type"] == "place"] == [
        "Saint-Aubin-des-Landes",
        "Ille-et-Vilaine",
        "Bretagne",
    ]
    assert o["categories"] == ["planningCadastre"]
    assert o["contraintes"] == {
        "limitations": ["Licence Ouverte / Open Licence version 2.0"],
        "acces": ["otherRestrictions"],
        "usage": ["otherRestrictions"],
        "autres": [
            {"texte": "Pas de restriction d'accès public", "uri": NO_LIMITATIONS, "concerne": "acces"},
            {
                "texte": "Licence Ouverte / Open Licence version 2.0",
                "uri": "https://www.etalab.gouv.fr/licence-ouverte-open-licence",
                "concerne": "usage",
            },
        ],
    }
    assert [(x["protocole"], x["fonction"]) for x in o["ressources"]] == [
        ("OGC:WMS", "browsing"),
        ("OGC:WFS", "download"),
        ("ATOM", "download"),
        ("WWW:DOWNLOAD-1.0-http--download", "download"),
        ("WWW:LINK-1.0-http--link", "information"),
    ]
    assert o["ressources"][0] == {
        "url": "https://data.geopf.fr/wms-v/ows?SERVICE=WMS&REQUEST=GetCapabilities",
        "protocole": "OGC:WMS",
        "nom": "du_35250",
        "description": "Service de visualisation WMS du Géoportail de l'urbanisme",
        "fonction": "browsing",
    }
    assert o["identifiants_ressource"] == [
        {"code": "https://www.geoportail-urbanisme.gouv.fr/document/by-id/fr-000019182-CC20150517", "espace": ""}
    ]
    assert o["echelle"] == "5000"
    assert o["formats"] == [{"nom": "CNIG CC", "version": "v2022"}, {"nom": "ESRI Shapefile", "version": "1.0"}]
    assert "periode" not in o and "titre_alternatif" not in o  # the source says nothing of them


def test_a_geobretagne_record_keeps_its_whole_lineage_and_parties():
    name = "geobretagne_zones_humides_finistere_long_lineage.xml"
    rec = read(name)
    assert rec.uuid == ZONES_HUMIDES  # a UUID stays itself, upper case, whatever the source
    assert read(name, source_url=OTHER_SOURCE).uuid == ZONES_HUMIDES
    o = rec.record["origine_iso"]
    statement = etree.fromstring(doc(name)).findtext(
        ".//{*}LI_Lineage/{*}statement/{http://www.isotc211.org/2005/gco}CharacterString"
    )
    assert len(statement) > 2000
    assert o["genealogie"] == statement.strip()
    assert o["genealogie"].startswith("L'inventaire permanent") and o["genealogie"].endswith("sont exclus.")
    assert "\n\nÉtape 2 - Prospection" in o["genealogie"]
    assert o["periode"] == {"debut": "2005-03-01", "fin": "2023-12-31"}
    assert o["categories"] == ["environment", "inlandWaters", "biota"]
    assert [(t["libelle"], t["uri"]) for t in o["themes_inspire"]] == [
        ("Habitats et biotopes", "http://inspire.ec.europa.eu/theme/hb"),
        ("Hydrographie", "http://inspire.ec.europa.eu/theme/hy"),
    ]
    themes = next(k for k in o["mots_cles"] if k["mot"] == "Eau")
    assert (themes["thesaurus"], themes["thesaurus_uri"]) == (
        "Thèmes GéoBretagne",
        "https://geobretagne.fr/thesaurus/themes",
    )
    assert [(p["organisme"], p["role_iso"], p["role_sinp"], p["portee"]) for p in o["parties"]] == [
        ("Conseil départemental du Finistère", "pointOfContact", "1", "metadonnees"),
        ("Conseil départemental du Finistère", "owner", "6", "ressource"),
        ("Forum des Marais Atlantiques", "custodian", "7", "ressource"),
        ("Agence de l'eau Loire-Bretagne", "principalInvestigator", "4", "ressource"),
    ]
    assert o["parties"][2]["personne"] == "Antenne Bretagne"
    assert o["parties"][2]["mail"] == "fma-bretagne@forum-zones-humides.org"
    r = rec.record
    assert (r["date_creation"], r["date_revision"]) == ("2005-03-01", "2024-02-19")
    assert r["contacts_base_production"] == [
        {
            "organisme": "Forum des Marais Atlantiques",
            "nom_prenom": "Antenne Bretagne",
            "mail": o["parties"][2]["mail"],
            "role": "7",
        }
    ]
    assert [(a["organisme"], a["role"]) for a in r["contacts_jdd"]] == [
        ("Conseil départemental du Finistère", "1"),  # the owner, designated main contact (noted)
        ("Agence de l'eau Loire-Bretagne", "4"),
    ]
    assert (r["borne_ouest"], r["borne_nord"]) == ("-5.1413", "48.7533")


def test_a_flemish_record_in_dutch_stays_dutch():
    rec = read("flemish_geonetwork_habitatkaart_dut.xml")
    o = rec.record["origine_iso"]
    assert (o["langue_fiche"], o["langues"]) == ("dut", ["dut"])
    assert "fre" not in json.dumps(o)
    assert [(t["libelle"], t["uri"]) for t in o["themes_inspire"]] == [
        ("Habitats en biotopen", "http://inspire.ec.europa.eu/theme/hb"),
        ("Bodembedekking", "http://inspire.ec.europa.eu/theme/lc"),
    ]
    assert o["titre_alternatif"] == ["BWK 2023"]
    assert rec.record["libelle_court"] == "BWK 2023"  # an alternate title of ≤ 30 characters, as it is
    assert o["identifiants_ressource"][1] == {"code": "BWK_2023", "espace": "https://www.inbo.be/"}
    assert o["dates"] == {"publication": "2023-09-01", "creation": "1978-01-01"}
    assert o["contraintes"]["autres"][0] == {
        "texte": "Geen beperkingen op publieke toegang",
        "uri": NO_LIMITATIONS,
        "concerne": "acces",
    }
    assert o["contraintes"]["autres"][1]["texte"] == "Modellicentie Gratis Hergebruik"
    assert [(p["organisme"], p["role_iso"], p["role_sinp"]) for p in o["parties"]][-1] == (
        "Digitaal Vlaanderen",
        "distributor",
        "5",
    )


def test_an_english_record_with_a_gml31_period_open_at_its_end():
    name = "marine_ie_dataset_1135_eng_gml31_open_end.xml"
    rec = read(name)
    assert rec.source_identifier == "ie.marine.data:dataset.1135"
    assert rec.uuid == iso_read.derived_uuid(SOURCE, "ie.marine.data:dataset.1135")
    o = rec.record["origine_iso"]
    assert (o["langue_fiche"], o["langues"]) == ("eng", ["eng"])
    assert o["periode"] == {"debut": "1999-05-01", "fin": "ouvert"}  # indeterminatePosition="now"
    assert o["identifiants_ressource"] == [{"code": "ie.marine.data:dataset.1135", "espace": "ie.marine.data"}]
    nerc = next(k for k in o["mots_cles"] if k["mot"] == "Bird counts")
    assert nerc == {
        "mot": "Bird counts",
        "uri": "http://vocab.nerc.ac.uk/collection/P02/current/BRDA/",
        "type": "theme",
        "thesaurus": "SeaDataNet Parameter Discovery Vocabulary",
        "thesaurus_uri": "http://vocab.nerc.ac.uk/collection/P02/current/",
        "thesaurus_date": "2021-03-01",
    }
    assert o["categories"] == ["biota", "oceans"]
    # open ends elsewhere: end unknown, end element missing, end element empty
    assert read("licence_uselimitation_useconstraints_odonates.xml").record["origine_iso"]["periode"] == {
        "debut": "2008-01-01",
        "fin": "ouvert",
    }
    assert read("de_geodatenkatalog_schutzgebiete_ger_no_end.xml").record["origine_iso"]["periode"] == {
        "debut": "2024-01-01",
        "fin": "",
    }
    assert read("no_licence_no_constraint_chiropteres_cen.xml").record["origine_iso"]["periode"] == {
        "debut": "2010-11-15",
        "fin": "",
    }


def test_a_long_alternate_title_is_kept_whole_and_the_short_title_derived():
    rec = read("long_alternate_title_saproxyliques.xml")
    (alternate,) = rec.record["origine_iso"]["titre_alternatif"]
    assert len(alternate) == 240 and alternate.endswith("« pièges à interception et vitres » 2014-2020")
    short = rec.record["libelle_court"]
    assert short == "Programme régional" and len(short) <= iso_read.SHORT_TITLE_MAX
    assert any(n.startswith("Libellé court déduit du titre alternatif") and "240 caractères" in n for n in rec.notes)


def test_parties_keep_their_iso_role_in_every_common_role_code():
    rec = read("all_ci_rolecodes_laisses_de_mer.xml")
    parties = rec.record["origine_iso"]["parties"]
    resource = [(p["role_iso"], p["role_sinp"]) for p in parties if p["portee"] == "ressource"]
    assert resource == [
        ("resourceProvider", "5"),
        ("custodian", "7"),
        ("owner", "6"),
        ("user", ""),
        ("distributor", "5"),
        ("originator", "3"),
        ("pointOfContact", "1"),
        ("principalInvestigator", "4"),
        ("processor", ""),
        ("publisher", "5"),
        ("author", "6"),
    ]
    assert [(p["organisme"], p["role_iso"]) for p in parties if p["portee"] == "metadonnees"] == [
        ("Observatoire de l'environnement en Bretagne", "pointOfContact"),
        ("GéoBretagne", "distributor"),
    ]
    assert parties[2]["poste"] == "Direction du climat, de l'environnement, de l'eau et de la biodiversité"
    assert parties[8]["personne"] == "Anne Morvan"
    # a role with no SINP equivalent is not made a SINP actor
    actors = rec.record["contacts_jdd"] + rec.record["contacts_base_production"]
    assert len(actors) == 9
    assert "Communes littorales" not in json.dumps(actors, ensure_ascii=False)
    assert "Hytec Consultants" not in json.dumps(actors, ensure_ascii=False)
    assert [a["organisme"] for a in actors if a["role"] == "1"] == ["Observatoire de l'environnement en Bretagne"]


@pytest.mark.parametrize(
    "name, identifier",
    [
        ("mi_metadata_sentinel2_l2a_tile_eng.xml", "S2A_MSIL2A_20230615T105031_N0509_R051_T30UVU_20230615T170425"),
        ("mi_metadata_spot6_ortho_bretagne_fre.xml", "f2a3b4c5-d6e7-4f80-9a1b-2c3d4e5f6a7b"),
    ],
)
def test_iso_19115_2_records_are_read(name, identifier):
    rec = read(name)
    assert rec.kind == "jdd" and rec.source_identifier == identifier
    o = rec.record["origine_iso"]
    assert o["norme"] == "ISO 19115-2"
    assert o["categories"] == ["imageryBaseMapsEarthCover"]
    assert o["themes_inspire"][0]["uri"] == "http://inspire.ec.europa.eu/theme/oi"
    if name.startswith("mi_metadata_sentinel2"):
        assert rec.uuid == iso_read.derived_uuid(SOURCE, identifier)
        assert o["resolution"] == "10 m"
        assert o["periode"] == {"debut": "2023-06-15T10:50:31Z", "fin": "2023-06-15T10:50:31Z"}
        assert rec.record["date_creation"] == "2023-06-15"
    else:
        assert rec.uuid == identifier.upper()
        assert o["contraintes"]["usage"] == ["copyright", "license"]
        assert o["contraintes"]["autres"][0]["uri"].endswith("/INSPIRE_Directive_Article13_1d")
    # inside a CSW GetRecordById response, as a harvester receives it
    wrapped = (
        b'<csw:GetRecordByIdResponse xmlns:csw="http://www.opengis.net/cat/csw/2.0.2">'
        + etree.tostring(etree.fromstring(doc(name)))
        + b"</csw:GetRecordByIdResponse>"
    )
    assert iso_read.read_iso(wrapped, source_url=SOURCE).record == rec.record


def test_services_say_which_datasets_they_serve_and_where():
    wms = read("service_wms_operateson_uuidref.xml")
    assert (wms.kind, wms.uuid, wms.parent) == ("service", "1F2E3D4C-5B6A-4978-8A9B-0C1D2E3F4A5B", None)
    assert wms.operates_on == [ZONES_HUMIDES, "C3D9E8F1-2A4B-4C6D-8E0F-1A2B3C4D5E6F"]
    o = wms.record["origine_iso"]
    assert o["niveau"] == "service" and o["type_service"] == "view"
    assert o["services"] == [
        {
            "titre": "Service WMS des données environnement du Conseil départemental du Finistère",
            "type": "WMS",
            "version": "1.3.0",
            "url": "https://geobretagne.fr/geoserver/cd29/wms?SERVICE=WMS&REQUEST=GetCapabilities",
            "protocole": "OGC:WMS",
        }
    ]
    assert [op["nom"] for op in o["operations"]] == ["GetCapabilities", "GetMap"]
    assert iso_read.problems(wms) == [] and iso_read.completeness(wms) == (100, [])

    wfs = read("service_wfs_operateson_xlink_href.xml")
    # xlink:href to GetRecordById: the id= (or ID=) parameter, a UUID upper case
    assert wfs.operates_on == ["fr-213502388-35238_PLU_20190624", ZONES_HUMIDES]
    (service,) = wfs.record["origine_iso"]["services"]
    assert (service["type"], service["version"], service["url"], service["protocole"]) == (
        "WFS",
        "2.0.0",
        "https://data.geopf.fr/wfs/ows?SERVICE=WFS&REQUEST=GetCapabilities",  # the GetCapabilities connect point
        "",
    )
    assert [op["nom"] for op in wfs.record["origine_iso"]["operations"]] == [
        "GetCapabilities",
        "DescribeFeatureType",
        "GetFeature",
    ]
    # the identifiers it names lead to the SINP UUIDs of those datasets, read from the same source
    plu = read("cnig_plu_rennes_fr-213502388-35238_PLU_20190624.xml")
    assert iso_read.sinp_identifier(wfs.operates_on[0], SOURCE) == plu.uuid

    atom = read("service_atom_download_fr-130007669-atom.xml")
    assert atom.operates_on == ["fr-130007669-ac1-20231115"]
    (service,) = atom.record["origine_iso"]["services"]
    assert (service["type"], service["protocole"]) == ("ATOM", "ATOM")
    assert atom.uuid == iso_read.derived_uuid(SOURCE, "fr-130007669-atom-sup")


def test_a_series_and_its_datasets():
    ca = read("geobretagne_series_atlas_mammiferes.xml")
    assert (ca.kind, ca.uuid) == ("ca", SERIES)
    assert ca.record["origine_iso"]["titre_alternatif"] == ["Atlas mammifères Bretagne"]
    assert (ca.record["date_lancement"], ca.record["date_cloture"]) == ("2010-01-01", "2022-12-31")
    assert ca.record["date_creation_mtd"] == "2010-01-15"
    for name in ("geobretagne_jdd_chiropteres_in_series.xml", "geobretagne_jdd_loutre_in_series.xml"):
        jdd = read(name)
        assert jdd.parent == jdd.record["cadre"] == SERIES
    unknown = read("parent_unknown_jdd_flore_patrimoniale.xml")
    assert unknown.parent == "F0E1D2C3-B4A5-4C6D-8E7F-90A1B2C3D4E5"
    assert unknown.record["origine_iso"]["identifiant_parent"] == "f0e1d2c3-b4a5-4c6d-8e7f-90a1b2c3d4e5"


def test_identifier_shapes():
    a = read("duplicate_identifier_a_lowercase.xml")
    b = read("duplicate_identifier_b_urn_uppercase.xml")
    assert a.uuid == b.uuid == "9D4C2B1A-8E7F-4A6B-9C5D-3E2F1A0B9C8D"  # one SINP record for the harvester
    assert (a.source_identifier, b.source_identifier) == (
        "9d4c2b1a-8e7f-4a6b-9c5d-3e2f1a0b9c8d",
        "urn:uuid:9D4C2B1A-8E7F-4A6B-9C5D-3E2F1A0B9C8D",
    )
    assert read("urn_uuid_prefix_mares_cotes_armor.xml").uuid == "71C0E5D2-4F3A-4B1C-8D9E-0F1A2B3C4D5E"
    isogeo = read("isogeo_urn_haies_bocageres.xml")
    # a URN is not a UUID, even with one inside: derived from the whole identifier
    assert isogeo.uuid == iso_read.derived_uuid(SOURCE, "urn:isogeo:metadata:uuid:0c8f3f5e-2d1a-4b6c-9e7f-8a9b0c1d2e3f")
    assert isogeo.record["origine_iso"]["date_fiche"] == "2023-03-28T15:04:11.203+02:00"
    assert read("ns06agg_nordic_aggregate_eng.xml").uuid == iso_read.derived_uuid(SOURCE, "NS06agg")
    assert iso_read.derived_uuid(None, "NS06agg") == iso_read.derived_uuid("", "NS06agg")


def test_levels_encodings_and_nil_reasons():
    assert read("no_hierarchylevel_herbiers_zosteres.xml").record["origine_iso"]["niveau"] == "dataset"
    non_geo = read("nongeographicdataset_liste_rouge_oiseaux.xml")
    assert (non_geo.kind, non_geo.record["origine_iso"]["niveau"]) == ("jdd", "nonGeographicDataset")
    assert "borne_ouest" not in non_geo.record

    latin = read("latin1_encoding_frayeres_elorn.xml")
    assert latin.title == "Frayères à saumon de l'Élorn - Été 2011"
    assert "àâäçéèêëîïôöùûüÿæ" in latin.record["notes"]
    assert latin.record["origine_iso"]["jeu_caracteres"] == "8859part1"
    # as a CSW response carries it (re-serialised in UTF-8, no declaration of its own): the same texts
    served = etree.tostring(etree.fromstring(doc("latin1_encoding_frayeres_elorn.xml")), encoding="unicode")
    assert iso_read.read_iso(served, source_url=SOURCE).record == latin.record
    assert iso_read.read_iso(served.encode("utf-8"), source_url=SOURCE).record == latin.record

    nil = read("nilreason_elements_amphibiens.xml")
    o = nil.record["origine_iso"]
    # elements with gco:nilReason say nothing: no empty constraint, lineage or mail
    assert not {"contraintes", "genealogie", "periode"} & set(o)
    assert all(p["mail"] == "" for p in o["parties"])
    assert o["formats"] == [{"nom": "inconnu", "version": ""}]

    bare = read("no_licence_no_constraint_chiropteres_cen.xml").record["origine_iso"]
    assert not {"contraintes", "ressources", "genealogie"} & set(bare)


def test_nothing_invented_and_completeness():
    # a record without any date: no date of the day, problems() lists it
    root = etree.fromstring(doc("ns06agg_nordic_aggregate_eng.xml"))
    for date in root.findall(".//{*}CI_Citation/{*}date"):
        date.getparent().remove(date)
    rec = iso_read.read_iso(etree.tostring(root), DEFAULTS_JDD, source_url=SOURCE)
    assert "date_creation" not in rec.record and "dates" not in rec.record["origine_iso"]
    messages = iso_read.problems(rec)
    assert any("Date de création de la fiche" in m for m in messages), messages
    assert any("Cadre d'acquisition" in m for m in messages)
    score, missing = iso_read.completeness(rec)
    assert missing == ["Cadre d'acquisition", "Date de création de la fiche"]
    assert 0 < score < 100

    # the German record: a publication date only, taken as creation date and said so
    german = read("de_geodatenkatalog_schutzgebiete_ger_no_end.xml")
    assert german.record["date_creation"] == "2024-01-01"
    assert any(n.startswith("Date de création : la date de publication") for n in german.notes)

    # with the source's defaults and a CA, a partner record is complete
    plu = read("cnig_plu_rennes_fr-213502388-35238_PLU_20190624.xml", {**DEFAULTS_JDD, "cadre": SERIES})
    assert "cadre" not in plu.record  # cadre is not a default: the harvester gives it
    plu.record["cadre"] = SERIES
    assert iso_read.problems(plu) == []
    assert iso_read.completeness(plu) == (100, [])
    assert plu.record["libelle_court"] == "PLU Rennes"
    assert plu.defaulted == list(DEFAULTS_JDD)
