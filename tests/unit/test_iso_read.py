"""Reading ISO 19139 records of partner catalogues as CA / JDD (ckanext.sinp.domain.iso_read).

The main check is the round trip: what our own writer (domain.iso) publishes reads back to the
same SINP fields, for every field ISO 19139 can carry."""

from __future__ import annotations

import pytest

from ckanext.sinp.domain import iso, iso_read
from tests.unit.test_iso import CA, JDD, META_CA, ctx, jdd_ctx, with_

DEFAULTS_JDD = {"domaine_terrestre": "true", "domaine_marin": "false", "territoires": ["METROP"]}
DEFAULTS_CA = {"niveau_territorial": "6", "territoires": ["METROP"]}


def test_a_jdd_we_publish_reads_back_to_its_fields():
    xml = iso.to_iso19139("jdd", JDD, jdd_ctx())
    rec = iso_read.read_iso(xml, DEFAULTS_JDD)
    assert (rec.kind, rec.uuid, rec.parent) == ("jdd", JDD["sinp_uuid"], JDD["cadre"])
    assert rec.date_stamp == "2024-05-02T14:03:07Z"
    r = rec.record
    for name in (
        "title",
        "notes",
        "libelle_court",
        "type_donnees",
        "objectif_jdd",
        "methodes_recueil",
        "date_creation",
        "date_revision",
        "cadre",
        "sinp_uuid",
    ):
        assert r[name] == JDD[name], name
    assert {k: float(r[k]) for k in ("borne_ouest", "borne_est", "borne_sud", "borne_nord")} == {
        k: float(JDD[k]) for k in ("borne_ouest", "borne_est", "borne_sud", "borne_nord")
    }
    assert sorted(r["tag_string"].split(",")) == ["cavités", "hibernation"]
    assert r["contacts_jdd"] == [
        {"organisme": a["organisme"], "role": a["role"], **({"mail": a["mail"]} if "mail" in a else {})}
        for a in JDD["contacts_jdd"]
    ]
    assert r["contacts_base_production"] == [{"organisme": "SHNA", "mail": "base@shna.invalid", "role": "7"}]
    assert r["contact_plateforme"] == JDD["contact_plateforme"]
    assert rec.defaulted == ["domaine_terrestre", "domaine_marin", "territoires"]
    assert iso_read.problems(rec) == []


def test_a_ca_we_publish_reads_back_to_its_fields():
    xml = iso.to_iso19139("ca", CA, ctx())
    rec = iso_read.read_iso(xml, DEFAULTS_CA)
    assert (rec.kind, rec.uuid, rec.parent) == ("ca", CA["sinp_uuid"].upper(), META_CA["sinp_uuid"])
    r = rec.record
    for name in (
        "title",
        "notes",
        "objectifs",
        "volets_sinp",
        "date_lancement",
        "date_cloture",
        "date_creation_mtd",
        "date_maj_mtd",
        "precision_geographique",
    ):
        assert r[name] == CA[name], name
    assert [(a.get("organisme"), a["role"]) for a in r["acteurs"]] == [
        (a["organisme"], a["role"]) for a in CA["acteurs"]
    ]
    assert r["acteurs"][0]["nom_prenom"] == "DUPONT Marie"
    assert r["est_meta_cadre"] == "false"
    assert sorted(r["tag_string"].split(",")) == ["Morvan", "chiroptères", "gîtes"]
    assert iso_read.problems(rec) == []


PARTNER = """<?xml version="1.0" encoding="UTF-8"?>
<gmd:MD_Metadata xmlns:gmd="http://www.isotc211.org/2005/gmd" xmlns:gco="http://www.isotc211.org/2005/gco"
                 xmlns:gml="http://www.opengis.net/gml">
  <gmd:fileIdentifier><gco:CharacterString>urn:uuid:0b6a2c1e-47d8-4f2b-9a51-6f1e2d3c4b5a</gco:CharacterString></gmd:fileIdentifier>
  <gmd:parentIdentifier><gco:CharacterString>7d1e9c44-2f0b-4d7a-8c3e-5b6a7f8e9d01</gco:CharacterString></gmd:parentIdentifier>
  <gmd:hierarchyLevel><gmd:MD_ScopeCode codeList="x" codeListValue="dataset"/></gmd:hierarchyLevel>
  <gmd:contact><gmd:CI_ResponsibleParty>
    <gmd:organisationName><gco:CharacterString>CEN Franche-Comté</gco:CharacterString></gmd:organisationName>
    <gmd:role><gmd:CI_RoleCode codeList="x" codeListValue="pointOfContact"/></gmd:role>
  </gmd:CI_ResponsibleParty></gmd:contact>
  <gmd:dateStamp><gco:Date>2025-03-04</gco:Date></gmd:dateStamp>
  <gmd:identificationInfo><gmd:MD_DataIdentification>
    <gmd:citation><gmd:CI_Citation>
      <gmd:title><gco:CharacterString>Suivi des tourbières du Haut-Doubs par placettes permanentes</gco:CharacterString></gmd:title>
      <gmd:date><gmd:CI_Date><gmd:date><gco:Date>2019-06-01</gco:Date></gmd:date>
        <gmd:dateType><gmd:CI_DateTypeCode codeList="x" codeListValue="publication"/></gmd:dateType></gmd:CI_Date></gmd:date>
    </gmd:CI_Citation></gmd:citation>
    <gmd:abstract><gco:CharacterString>Relevés floristiques annuels.</gco:CharacterString></gmd:abstract>
    <gmd:pointOfContact><gmd:CI_ResponsibleParty>
      <gmd:organisationName><gco:CharacterString>CEN Franche-Comté</gco:CharacterString></gmd:organisationName>
      <gmd:role><gmd:CI_RoleCode codeList="x" codeListValue="owner"/></gmd:role>
    </gmd:CI_ResponsibleParty></gmd:pointOfContact>
    <gmd:pointOfContact><gmd:CI_ResponsibleParty>
      <gmd:individualName><gco:CharacterString>MARTIN Paul</gco:CharacterString></gmd:individualName>
      <gmd:role><gmd:CI_RoleCode codeList="x" codeListValue="custodian"/></gmd:role>
    </gmd:CI_ResponsibleParty></gmd:pointOfContact>
    <gmd:descriptiveKeywords><gmd:MD_Keywords>
      <gmd:keyword><gco:CharacterString>tourbières</gco:CharacterString></gmd:keyword>
      <gmd:keyword><gco:CharacterString>OCCURRENCES DE TAXONS</gco:CharacterString></gmd:keyword>
    </gmd:MD_Keywords></gmd:descriptiveKeywords>
    <gmd:extent><gmd:EX_Extent><gmd:geographicElement><gmd:EX_GeographicBoundingBox>
      <gmd:westBoundLongitude><gco:Decimal>6.1</gco:Decimal></gmd:westBoundLongitude>
      <gmd:eastBoundLongitude><gco:Decimal>6.6</gco:Decimal></gmd:eastBoundLongitude>
      <gmd:southBoundLatitude><gco:Decimal>46.8</gco:Decimal></gmd:southBoundLatitude>
      <gmd:northBoundLatitude><gco:Decimal>47.1</gco:Decimal></gmd:northBoundLatitude>
    </gmd:EX_GeographicBoundingBox></gmd:geographicElement></gmd:EX_Extent></gmd:extent>
  </gmd:MD_DataIdentification></gmd:identificationInfo>
</gmd:MD_Metadata>""".encode()


def test_a_partner_record_without_sinp_labels():
    rec = iso_read.read_iso(PARTNER)
    r = rec.record
    assert rec.uuid == "0B6A2C1E-47D8-4F2B-9A51-6F1E2D3C4B5A" and r["cadre"] == "7D1E9C44-2F0B-4D7A-8C3E-5B6A7F8E9D01"
    assert r["libelle_court"] == "Suivi des tourbières du"
    assert r["date_creation"] == "2019-06-01"  # publication date, no creation date
    assert r["type_donnees"] == "1"  # « Occurrences de taxons », whatever the case
    assert r["tag_string"] == "tourbières"
    assert r["contacts_jdd"] == [
        {"organisme": "CEN Franche-Comté", "role": "1"}
    ]  # owner -> 6 -> the only contact: main
    assert r["contacts_base_production"] == [{"nom_prenom": "MARTIN Paul", "role": "7"}]
    assert any("Libellé court déduit" in n for n in rec.notes)
    messages = iso_read.problems(rec)
    assert any("Objectif du jeu de données" in m and "« defaults »" in m for m in messages), messages
    assert all(m.startswith("Jeu de données 0B6A2C1E-47D8-4F2B-9A51-6F1E2D3C4B5A") for m in messages)
    complete = iso_read.read_iso(PARTNER, {**DEFAULTS_JDD, "objectif_jdd": "1.1", "cadre": "ignored"})
    assert complete.record["cadre"] == "7D1E9C44-2F0B-4D7A-8C3E-5B6A7F8E9D01"
    assert iso_read.problems(complete) == []


@pytest.mark.parametrize(
    "doc, message",
    [
        (b"<gmd:MD_Metadata xmlns:gmd='http://www.isotc211.org/2005/gmd'><gmd:fileIdentifier>", "XML mal formé"),
        (b'<!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>', "DTD ou entité"),
        (b"<html><body>Erreur</body></html>", "n'est pas une fiche ISO 19139"),
        # services are read (kind "service") and non-UUID identifiers get a derived UUID (issue #19)
        (PARTNER.replace(b'codeListValue="dataset"', b'codeListValue="application"'), "niveau « application »"),
        (PARTNER.replace(b"urn:uuid:0b6a2c1e-47d8-4f2b-9a51-6f1e2d3c4b5a", b" "), "gmd:fileIdentifier est vide"),
        (b"", "vide"),
    ],
    ids=["malformed", "dtd", "not-iso", "application-level", "empty-identifier", "empty"],
)
def test_unreadable_records_are_refused_in_french(doc, message):
    with pytest.raises(iso_read.IsoError) as err:
        iso_read.read_iso(doc)
    assert message in str(err.value)


def test_a_ca_with_two_main_contacts_keeps_the_first_one_main():
    two = [{"organisme": "A", "role": "1"}, {"organisme": "B", "role": "1"}, {"organisme": "C", "role": "2"}]
    doc = iso.to_iso19139("ca", with_(CA, acteurs=two), ctx())
    for labelled in (doc, doc.replace(b"Contact principal", b"Responsable")):
        rec = iso_read.read_iso(labelled, DEFAULTS_CA)
        assert [(a["organisme"], a["role"]) for a in rec.record["acteurs"]] == [("A", "1"), ("B", "4"), ("C", "2")]
        assert any(n.startswith("Contact « B » enregistré comme maître d'œuvre (rôle 4)") for n in rec.notes)
        assert iso_read.problems(rec) == []


def test_defaults_are_checked():
    assert iso_read.check_defaults({"territoires": ["METROP"], "objectif_jdd": "1.1"}) == []
    messages = iso_read.check_defaults({"inconnu": 1, "sinp_uuid": "x", "objectif_jdd": "9.9"})
    assert len(messages) == 3
    assert any("9.9" in m and "JDD_OBJECTIFS" in m for m in messages)
    assert iso_read.check_defaults([1]) == ['« defaults » doit être un objet JSON : {"nom du champ": valeur}.']
