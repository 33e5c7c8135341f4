"""INPN MTD XML import/export (ckanext.sinp.domain.mtd): fixtures written by hand in
tests/fixtures/mtd (fictitious Bourgogne-Franche-Comté content), round trips, validation
messages and hostile documents. Pure Python, no CKAN: runs in milliseconds."""

from __future__ import annotations

import copy
import pathlib
import select
import socket
import time

import pytest
from lxml import etree

from ckanext.sinp.domain import model, mtd, safexml

FIXTURES = pathlib.Path(__file__).resolve().parent.parent / "fixtures" / "mtd"
NS = {"gml": mtd.GML_NS, "m": mtd.MTD_NS}

VALID_FIXTURES = [
    "ca_chiropteres_morvan.xml",
    "jdd_comptages_hivernaux.xml",
    "collection_odonates_bfc.xml",
    "jdd_1_3_1.xml",
    "variantes_oafs_booleens.xml",
    "ca_meta_cadre_racine_nue.xml",
]
INVALID_FIXTURES = [
    "invalide_codes.xml",
    "invalide_sans_libelle_court.xml",
    "invalide_deux_contacts_principaux.xml",
    "invalide_dates.xml",
]

META = "978258FB-6A82-4475-AE18-CA20CB7965BD"
CA_MORVAN = "29A8E22C-6718-4786-850A-9E2722E41442"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def parse(name: str) -> list[mtd.MtdRecord]:
    return mtd.parse_document(fixture(name))


ACTOR_SUBFIELDS = {"nom_prenom", "organisme", "id_organisme", "mail", "role"}

FULL_CA = {
    "type": "ca",
    "title": "Inventaire des chiroptères du Morvan 2021-2025",
    "sinp_uuid": CA_MORVAN,
    "notes": "Suivi des gîtes d'hibernation et de mise bas :\ncaves, tunnels, combles d'églises.",
    "tag_string": "chiroptères,gîtes,Morvan",
    "objectifs": ["9", "8"],
    "volets_sinp": ["1", "3"],
    "est_meta_cadre": "false",
    "meta_cadre_parent": META,
    "niveau_territorial": "6",
    "territoires": ["METROP", "HORSFR"],
    "precision_geographique": "Massif du Morvan (Côte-d'Or, Nièvre, Saône-et-Loire, Yonne)",
    "type_financement": "3",
    "cible_ecologique": ["186233", "60345"],
    "description_cible": "Chiroptères (Chiroptera)",
    "date_lancement": "2021-03-01",
    "date_cloture": "2025-12-31",
    "acteurs": [
        {
            "nom_prenom": "MOREAU Élodie",
            "organisme": "Société d'histoire naturelle du Morvan",
            "id_organisme": "8BD820CF-EA07-4313-A232-747FBFAEFB53",
            "mail": "e.moreau@shn.invalid",
            "role": "1",
        },
        {
            "nom_prenom": "DURAND Paul",
            "organisme": "Région Bourgogne-Franche-Comté",
            "id_organisme": "7B1FB796-46D4-43ED-965E-633A65E5CD46",
            "mail": "p.durand@region.invalid",
            "role": "2",
        },
        {"organisme": "Parc naturel régional du Morvan", "role": "3"},
    ],
    "publications": [
        {
            "reference": "MOREAU É. 2024. Les gîtes à chiroptères du Morvan. SHN Morvan. 48 p.",
            "url": "https://example.org/gites.pdf",
        },
        {"reference": "DURAND P. & MOREAU É. 2025. Synthèse régionale & perspectives <2026>. 12 p."},
    ],
    "date_creation_mtd": "2021-02-15",
    "date_maj_mtd": "2024-01-08",
    "id_tps": "1234567",
    "attributs_additionnels": [{"nom": "ID_CREATEUR", "valeur": "4512"}, {"nom": "ID_INSTANCE", "valeur": "27"}],
}

FULL_JDD = {
    "type": "jdd",
    "title": "Comptages hivernaux de chiroptères en gîtes souterrains du Morvan",
    "sinp_uuid": "86DFA25A-6D37-47EA-8351-FB7F416A7932",
    "cadre": CA_MORVAN,
    "libelle_court": "CHIRO_MORVAN_HIVER",
    "notes": "Comptages annuels des chauves-souris en hibernation.",
    "tag_string": "hibernation,gîtes souterrains",
    "type_donnees": "1",
    "objectif_jdd": "5.2",
    "domaine_terrestre": "true",
    "domaine_marin": "false",
    "territoires": ["METROP"],
    "precision_geographique": "Nièvre et Côte-d'Or",
    "borne_ouest": "3.85",
    "borne_est": "4.35",
    "borne_sud": "46.95",
    "borne_nord": "47.45",
    "methodes_recueil": ["1", "3"],
    "protocoles": [
        {
            "libelle": "Comptage hivernal en gîte souterrain",
            "description": "Deux observateurs, sans manipulation.",
            "url": "https://example.org/protocoles/comptage",
            "type": "1",
        },
        {
            "libelle": "Contrôle de cohérence régional",
            "description": "Doublons, dates, communes.",
            "url": "https://example.org/protocoles/coherence",
            "type": "3",
        },
    ],
    "contacts_jdd": [
        {
            "nom_prenom": "MOREAU Élodie",
            "organisme": "Société d'histoire naturelle du Morvan",
            "id_organisme": "8BD820CF-EA07-4313-A232-747FBFAEFB53",
            "mail": "e.moreau@shn.invalid",
            "role": "1",
        },
        {"organisme": "Société d'histoire naturelle du Morvan", "role": "6"},
    ],
    "contact_plateforme": [
        {
            "nom_prenom": "GIRARD Théo",
            "organisme": "Plateforme SINP BFC",
            "id_organisme": "ACE001BC-044B-40DA-8010-98F2A039FCEC",
            "mail": "sinp@bfc.invalid",
            "role": "8",
        },
    ],
    "contacts_base_production": [
        {
            "nom_prenom": "PETIT Léa",
            "organisme": "SHN Morvan",
            "id_organisme": "8BD820CF-EA07-4313-A232-747FBFAEFB53",
            "mail": "base@shn.invalid",
            "role": "7",
        },
        {"organisme": "Prestataire informatique", "role": "7"},
    ],
    "date_creation": "2021-02-20",
    "date_revision": "2024-03-02",
    "attributs_additionnels": [
        {"nom": "CODE_STATUT_DONNEES_SOURCE", "valeur": "Pr"},
        {"nom": "ID_INSTANCE", "valeur": "27"},
    ],
}
FULL = {"ca": FULL_CA, "jdd": FULL_JDD}


def roundtrip(kind: str, record: dict) -> mtd.MtdRecord:
    records = mtd.parse_document(mtd.to_xml(kind, record))
    assert len(records) == 1 and records[0].kind == kind and records[0].ignored == []
    return records[0]


# --- round trips -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", model.KINDS)
def test_full_records_fill_every_field_and_subfield_of_the_schema(kind):
    record = FULL[kind]
    assert {f.name for f in model.fields(kind)} <= set(record)
    for f in model.fields(kind):
        if f.subfields:
            filled = set().union(*(item.keys() for item in record[f.name]))
            assert filled == {s.name for s in f.subfields}, f.name
    assert mtd.validate_records([mtd.MtdRecord(kind, record["sinp_uuid"], record["title"], record, 1)]) == []


@pytest.mark.parametrize("kind", model.KINDS)
def test_round_trip_of_a_record_filling_every_field(kind):
    parsed = roundtrip(kind, FULL[kind])
    assert parsed.record == FULL[kind]
    assert parsed.uuid == FULL[kind]["sinp_uuid"] and parsed.title == FULL[kind]["title"]


@pytest.mark.parametrize("name", VALID_FIXTURES + INVALID_FIXTURES)
def test_fixture_parse_export_parse(name):
    first = parse(name)
    second = mtd.parse_document(mtd.to_xml_many([(r.kind, r.record) for r in first]))
    assert [(r.kind, r.uuid, r.record) for r in second] == [(r.kind, r.uuid, r.record) for r in first]
    assert all(r.ignored == [] for r in second)


# --- reading the fixtures ----------------------------------------------------------------------


def test_ca_document():
    [rec] = parse("ca_chiropteres_morvan.xml")
    assert (rec.kind, rec.uuid, rec.position, rec.version, rec.ignored) == ("ca", CA_MORVAN, 1, "1.3.10", [])
    assert rec.title == "Inventaire des chiroptères du Morvan 2021-2025"
    r = rec.record
    assert r["type"] == "ca" and r["sinp_uuid"] == CA_MORVAN
    assert r["tag_string"] == "chiroptères,gîtes,Morvan"
    assert r["objectifs"] == ["9", "8"] and r["volets_sinp"] == ["1"] and r["territoires"] == ["METROP"]
    assert r["est_meta_cadre"] == "false" and r["meta_cadre_parent"] == META
    assert r["cible_ecologique"] == ["186233", "60345", "60418"]
    assert (r["date_lancement"], r["date_cloture"]) == ("2021-03-01", "2025-12-31")
    assert r["acteurs"] == [
        {
            "nom_prenom": "MOREAU Élodie",
            "mail": "e.moreau@shn-morvan.invalid",
            "organisme": "Société d'histoire naturelle du Morvan (fictive)",
            "id_organisme": "8BD820CF-EA07-4313-A232-747FBFAEFB53",
            "role": "1",
        },
        {
            "organisme": "Région Bourgogne-Franche-Comté",
            "id_organisme": "7B1FB796-46D4-43ED-965E-633A65E5CD46",
            "role": "2",
        },
        {"organisme": "Parc naturel régional du Morvan", "role": "3"},
    ]
    assert r["publications"][0]["url"] == "https://example.org/shn-morvan/gites-2021-2023.pdf"
    assert r["attributs_additionnels"] == [
        {"nom": "ID_CREATEUR", "valeur": "4512"},
        {"nom": "ID_INSTANCE", "valeur": "27"},
    ]
    assert (r["date_creation_mtd"], r["date_maj_mtd"]) == ("2021-02-15", "2024-01-08")
    assert mtd.validate_records([rec]) == []
    assert mtd.missing_cas([rec]) == {META}  # its méta-cadre, to be found in the catalogue


def test_jdd_document_with_a_feature_member_root():
    [rec] = parse("jdd_comptages_hivernaux.xml")
    r = rec.record
    assert rec.kind == "jdd" and r["cadre"] == CA_MORVAN and r["libelle_court"] == "CHIRO_MORVAN_HIVER"
    assert (r["borne_nord"], r["borne_sud"], r["borne_est"], r["borne_ouest"]) == ("47.45", "46.95", "4.35", "3.85")
    assert (r["domaine_marin"], r["domaine_terrestre"]) == ("false", "true")
    assert r["methodes_recueil"] == ["1"]
    assert r["protocoles"][0]["type"] == "1" and r["protocoles"][0]["libelle"].startswith("Comptage hivernal")
    assert [a["role"] for a in r["contacts_jdd"]] == ["1", "6"]
    assert r["contact_plateforme"][0]["nom_prenom"] == "GIRARD Théo"
    assert r["contacts_base_production"] == [
        {
            "organisme": "Société d'histoire naturelle du Morvan (fictive)",
            "mail": "base@shn-morvan.invalid",
            "role": "7",
        }
    ]
    assert r["attributs_additionnels"] == [{"nom": "CODE_STATUT_DONNEES_SOURCE", "valeur": "Pr"}]
    assert mtd.validate_records([rec]) == []
    assert mtd.missing_cas([rec]) == {CA_MORVAN}


def test_collection_orders_meta_cadre_then_ca_then_jdd():
    records = parse("collection_odonates_bfc.xml")
    assert [(r.kind, r.position) for r in records] == [("ca", 4), ("ca", 2), ("jdd", 1), ("jdd", 3)]
    assert records[0].uuid == META and records[0].record["est_meta_cadre"] == "true"
    assert records[1].record["meta_cadre_parent"] == META
    assert {r.record["cadre"] for r in records[2:]} == {records[1].uuid}
    assert records[3].record["protocoles"][1] == {"libelle": "Contrôle de cohérence de l'atlas", "type": "3"}
    assert mtd.validate_records(records) == []
    assert mtd.missing_cas(records) == set()


def test_old_1_3_1_names():
    [rec] = parse("jdd_1_3_1.xml")
    assert rec.version == "1.3.1" and rec.ignored == []
    assert rec.uuid == "D170E865-C089-4F25-BB5E-F057E61600F4" == rec.record["sinp_uuid"]
    assert rec.record["cadre"] == "BBC6A196-C5B8-4A09-A3AB-71EDC4DB735C"
    assert rec.title == rec.record["title"] == "Flore des pelouses calcaires de la Côte dijonnaise (2015-2017)"
    assert rec.record["date_creation"] == "2015-04-10"
    assert mtd.validate_records([rec]) == []


def test_old_names_win_in_a_1_3_1_document_and_new_names_otherwise():
    both = (
        '<jdd:JeuDeDonnees xmlns:jdd="http://inpn.mnhn.fr/mtd"{}>'
        "<jdd:identifiantJdd>86DFA25A-6D37-47EA-8351-FB7F416A7932</jdd:identifiantJdd>"
        "<jdd:libelle>Nouveau</jdd:libelle><jdd:nomComplet>Ancien</jdd:nomComplet></jdd:JeuDeDonnees>"
    )
    [new] = mtd.parse_document(both.format(""))
    assert new.title == "Nouveau" and new.ignored == ["nomComplet"]
    old_location = (
        ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        'xsi:schemaLocation="http://inpn.mnhn.fr mtd_jdd_1_3_1.xsd"'
    )
    [old] = mtd.parse_document(both.format(old_location))
    assert old.title == "Ancien" and old.ignored == ["libelle"] and old.version == "1.3.1"


def test_variants_oafs_prefix_booleans_datetimes_aliases_and_unknown_elements():
    ca, jdd = parse("variantes_oafs_booleens.xml")
    assert ca.uuid == "9F089556-BB3F-443E-AED5-44A091B096BA"
    assert ca.record["objectifs"] == ["5", "9"]  # <objectif>, 5 is frozen since 1.3.10
    assert ca.record["est_meta_cadre"] == "false"  # 0
    assert (ca.record["date_lancement"], ca.record["date_cloture"]) == ("2019-02-01", "2023-10-31")
    assert ca.record["date_creation_mtd"] == "2019-01-20"
    assert ca.record["tag_string"] == "amphibiens,mares,Bresse"
    assert ca.record["acteurs"] == [
        {
            "nom_prenom": "BERTHET Lucie",
            "organisme": "Association de sauvegarde des mares bressanes (fictive)",
            "role": "1",
        }
    ]  # role inferred from acteurPrincipal
    assert ca.ignored == ["codeDispositif", "acteurPrincipal/ActeurType/telephone"]
    assert jdd.record["cadre"] == ca.uuid  # http://oafs.fr/meta/ca/ removed, upper-case
    assert (jdd.record["domaine_marin"], jdd.record["domaine_terrestre"]) == ("false", "true")
    assert jdd.record["tag_string"] == "amphibiens,écoute nocturne"
    assert jdd.record["attributs_additionnels"] == [{"nom": "ID_INSTANCE", "valeur": "27"}]
    assert jdd.ignored == ["typeDonneesCollectees"]
    assert mtd.validate_records([ca, jdd]) == []  # frozen codes accepted on import
    assert mtd.missing_cas([ca, jdd]) == set()


def test_bare_meta_cadre_root_with_boolean_1():
    [rec] = parse("ca_meta_cadre_racine_nue.xml")
    assert rec.record["est_meta_cadre"] == "true"
    assert rec.record["acteurs"] == [{"organisme": "Agence de l'eau Rhône Méditerranée Corse", "role": "1"}]
    assert mtd.validate_records([rec]) == []


def test_str_input_and_legacy_encodings():
    text = fixture("ca_meta_cadre_racine_nue.xml").decode("utf-8")
    latin = text.replace('encoding="UTF-8"', 'encoding="ISO-8859-1"')
    assert mtd.parse_document(latin)[0].title == "Observatoire de la biodiversité des zones humides de Bourgogne"
    assert mtd.parse_document(latin.encode("iso-8859-1"))[0].title.endswith(
        "biodiversité des zones humides de Bourgogne"
    )


def test_keywords_split_and_deduplicated():
    doc = (
        '<ca:CadreAcquisition xmlns:ca="http://inpn.mnhn.fr/mtd">'
        "<ca:identifiantCadre>29a8e22c-6718-4786-850a-9e2722e41442</ca:identifiantCadre>"
        "<ca:motCle>mares, amphibiens</ca:motCle><ca:motCle>Bresse</ca:motCle><ca:motCle>mares</ca:motCle>"
        "<ca:motCle/><ca:dateCloture/></ca:CadreAcquisition>"
    )
    [rec] = mtd.parse_document(doc)
    assert rec.record["tag_string"] == "mares,amphibiens,Bresse"
    assert rec.uuid == CA_MORVAN and rec.ignored == ["dateCloture"]  # not where the schema puts it


def test_meta_cadre_chains_and_cycles_are_ordered_without_looping():
    def ca(uuid, parent=None):
        parent_xml = f"<ca:idMetaCadreParent>{parent}</ca:idMetaCadreParent>" if parent else ""
        return (
            f"<gml:featureMember><ca:CadreAcquisition><ca:identifiantCadre>{uuid}</ca:identifiantCadre>"
            f"{parent_xml}</ca:CadreAcquisition></gml:featureMember>"
        )

    a, b, c = (f"{n}0000000-0000-4000-8000-000000000000" for n in "ABC")
    doc = (
        '<gml:FeatureCollection xmlns:gml="http://www.opengis.net/gml/3.2" xmlns:ca="http://inpn.mnhn.fr/mtd">'
        + ca(c, b)
        + ca(b, a)
        + ca(a)
        + "</gml:FeatureCollection>"
    )
    assert [r.uuid for r in mtd.parse_document(doc)] == [a, b, c]
    cycle = doc.replace(ca(a), ca(a, c))
    assert sorted(r.uuid for r in mtd.parse_document(cycle)) == [a, b, c]


# --- validation messages -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, expected",
    [
        (
            "invalide_codes.xml",
            [
                "Jeu de données E68170A8-EFA6-4B5F-A741-C802083DFDD9 (« Captures au filet de chiroptères en forêt de "
                "Bertranges ») — Type de données : Le code « 9 » n'existe pas",
                "— Territoires : Le code « BFC » n'existe pas",
                "— Points de contact du jeu de données : Points de contact du jeu de données n° 2 : Le code « 12 »",
            ],
        ),
        (
            "invalide_sans_libelle_court.xml",
            [
                "Jeu de données E9F01218-DEF2-4262-B12E-16DB1A74E673 (« Captures au filet ») — Libellé court : "
                "Champ obligatoire du standard SINP : « Libellé court ».",
            ],
        ),
        (
            "invalide_deux_contacts_principaux.xml",
            [
                "Cadre d'acquisition B49726B6-EA76-4BF6-837E-82C1CD125842 (« Inventaire des orchidées du Jura ») — "
                "Acteurs : Un cadre d'acquisition doit avoir exactement un contact principal",
            ],
        ),
        (
            "invalide_dates.xml",
            [
                "— Date de clôture : La date de clôture est antérieure à la date de lancement.",
            ],
        ),
    ],
)
def test_invalid_documents(name, expected):
    messages = mtd.validate_records(parse(name))
    assert len(messages) == len(expected), messages
    for message, fragment in zip(messages, expected):
        assert fragment in message


def test_two_main_contacts_on_export_keep_one_acteur_principal():
    [rec] = parse("invalide_deux_contacts_principaux.xml")
    root = etree.fromstring(mtd.to_xml("ca", rec.record))
    assert len(root.findall(".//m:acteurPrincipal", NS)) == 1
    assert root.findtext(".//m:acteurAutre/m:ActeurType/m:roleActeur", namespaces=NS) == "1"


def test_duplicate_uuids_and_parent_that_is_not_a_meta_cadre():
    records = parse("collection_odonates_bfc.xml")
    meta, ca, jdd1, jdd2 = records
    not_meta = copy.deepcopy(meta)
    not_meta.record["est_meta_cadre"] = "false"
    twice = copy.deepcopy(jdd2)
    twice.position = 5
    messages = mtd.validate_records([not_meta, ca, jdd1, jdd2, twice])
    assert messages == [
        f"Jeu de données {jdd2.uuid} (« {jdd2.title} ») — Identifiant SINP (UUID) : l'identifiant "
        f"{jdd2.uuid} figure 2 fois dans le document (enregistrements n° 3, 5).",
        f"Cadre d'acquisition {ca.uuid} (« Atlas des libellules de Franche-Comté ») — Méta-cadre parent : "
        f"Cadre d'acquisition {META} (« {meta.title} ») n'est pas un méta-cadre (estMetaCadre vaut false).",
    ]


def test_missing_cas_lists_cadres_and_parent_meta_cadres_not_in_the_document():
    records = parse("collection_odonates_bfc.xml")
    without_meta = records[1:]
    assert mtd.missing_cas(without_meta) == {META}
    assert mtd.missing_cas(records[2:]) == {records[1].uuid}
    details = mtd.missing_references(records[1:])
    assert [(rec.uuid, f.name) for rec, f in details[META]] == [(records[1].uuid, "meta_cadre_parent")]
    assert mtd.validate_records(without_meta) == []  # not an error here: the caller looks it up


def test_malformed_uuid_is_reported_by_validation():
    doc = (
        '<jdd:JeuDeDonnees xmlns:jdd="http://inpn.mnhn.fr/mtd"><jdd:identifiantJdd>pas-un-uuid</jdd:identifiantJdd>'
        "<jdd:identifiantCadre>pas-un-cadre</jdd:identifiantCadre></jdd:JeuDeDonnees>"
    )
    records = mtd.parse_document(doc)
    messages = mtd.validate_records(records)
    assert any("— Identifiant SINP (UUID) : « PAS-UN-UUID » n'est pas un UUID valide" in m for m in messages)
    assert any("— Cadre d'acquisition : « PAS-UN-CADRE » n'est pas un UUID valide" in m for m in messages)
    assert mtd.missing_cas(records) == set()


# --- export -----------------------------------------------------------------------------------


def _children(element):
    return [etree.QName(c).localname for c in element if isinstance(c.tag, str)]


@pytest.mark.parametrize("kind", model.KINDS)
def test_export_structure_and_element_order(kind):
    data = mtd.to_xml(kind, FULL[kind])
    assert data.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n')
    assert "Élodie".encode() in data
    root = etree.fromstring(data)
    assert root.tag == f"{{{mtd.GML_NS}}}FeatureCollection"
    assert root.nsmap == {"gml": mtd.GML_NS, kind: mtd.MTD_NS}
    [member] = root
    assert member.tag == f"{{{mtd.GML_NS}}}featureMember"
    [element] = member
    assert element.tag == f"{{{mtd.MTD_NS}}}{mtd.RECORD_ELEMENTS[kind]}" and element.prefix == kind
    names = list(dict.fromkeys(_children(element)))
    sequence = mtd.SEQUENCES[mtd.RECORD_ELEMENTS[kind]]
    assert names == [n for n in sequence if n in names]
    assert set(names) == set(sequence) - {"objectif"}  # every element of the skeleton is written
    for actor in element.iter(f"{{{mtd.MTD_NS}}}ActeurType"):
        children = _children(actor)
        assert children == [n for n in mtd.SEQUENCES["ActeurType"] if n in children]


def test_every_element_of_the_schemas_has_a_place_in_the_sequences():
    def walk(slot):
        sequence = mtd.SEQUENCES.get(slot.name, ())
        for name, child in slot.children.items():
            assert name in sequence or len(slot.children) == 1, (slot.name, name)
            if child.field is None:
                walk(child)
            for sub in child.field.subfields if child.field else ():
                holder = mtd.ACTOR_ELEMENT if child.field.kind == "actors" else name
                assert sub.mtd in mtd.SEQUENCES[holder], (holder, sub.mtd)

    for kind in model.KINDS:
        walk(mtd._layout(kind))


def test_ca_export_details():
    root = etree.fromstring(mtd.to_xml("ca", FULL_CA))
    ca = root.find("gml:featureMember/m:CadreAcquisition", NS)
    assert ca.findtext("m:estMetaCadre", namespaces=NS) == "false"
    assert [e.text for e in ca.findall("m:objectifCadre", NS)] == ["9", "8"]
    assert ca.findtext("m:cibleEcologiqueOuGeologique", namespaces=NS) == "186233;60345"
    assert [e.text for e in ca.findall("m:motCle", NS)] == ["chiroptères", "gîtes", "Morvan"]
    assert _children(ca.find("m:ReferenceTemporelle", NS)) == ["dateLancement", "dateCloture"]
    [main] = ca.findall("m:acteurPrincipal/m:ActeurType", NS)
    assert main.findtext("m:roleActeur", namespaces=NS) == "1"
    assert [a.findtext("m:roleActeur", namespaces=NS) for a in ca.findall("m:acteurAutre/m:ActeurType", NS)] == [
        "2",
        "3",
    ]
    assert len(ca.findall("m:referenceBiblio", NS)) == 1
    assert len(ca.findall("m:referenceBiblio/m:Publication", NS)) == 2
    assert [_children(a) for a in ca.findall("m:attributsAdditionnels/m:AttributAdditionnel", NS)] == [
        ["nomAttribut", "valeurAttribut"]
    ] * 2


def test_jdd_export_details():
    jdd = etree.fromstring(mtd.to_xml("jdd", FULL_JDD)).find("gml:featureMember/m:JeuDeDonnees", NS)
    assert _children(jdd.find("m:empriseGeographique/m:BoundingBox", NS)) == [
        "borneNord",
        "borneSud",
        "borneEst",
        "borneOuest",
    ]
    names = _children(jdd)
    assert names.index("empriseGeographique") < names.index("methodeRecueil") < names.index("protocoles")
    assert [e.text for e in jdd.findall("m:methodeRecueil", NS)] == ["1", "3"]
    assert len(jdd.findall("m:pointContactJdd/m:ActeurType", NS)) == 2
    assert len(jdd.findall("m:pointContactJdd", NS)) == 2  # one property element per actor
    assert len(jdd.findall("m:BaseProduction", NS)) == 1
    assert len(jdd.findall("m:BaseProduction/m:contactBaseProduction/m:ActeurType", NS)) == 2
    assert _children(jdd.find("m:protocoles/m:ProtocoleType", NS)) == [
        "libelleProtocole",
        "descriptionProtocole",
        "url",
        "typeProtocole",
    ]


def test_export_of_a_ckan_package_dict():
    """What package_show returns: tags as dicts, codes as JSON text, Python values, extra keys."""
    package = {
        "id": "0b7c…",
        "name": "inventaire",
        "owner_org": "cen",
        "resources": [],
        "type": "ca",
        "title": "Inventaire",
        "sinp_uuid": CA_MORVAN.lower(),
        "notes": "Description",
        "tags": [{"name": "chiroptères"}, {"name": "Morvan"}],
        "objectifs": '["9"]',
        "territoires": "METROP",
        "est_meta_cadre": True,
        "date_lancement": "2021-03-01T00:00:00",
        "niveau_territorial": 6,
        "acteurs": [{"organisme": "Région", "role": "2", "mail": ""}, {"organisme": "CEN", "role": "1"}],
    }
    [rec] = mtd.parse_document(mtd.to_xml("ca", package))
    assert rec.record == {
        "type": "ca",
        "title": "Inventaire",
        "sinp_uuid": CA_MORVAN,
        "notes": "Description",
        "tag_string": "chiroptères,Morvan",
        "objectifs": ["9"],
        "territoires": ["METROP"],
        "est_meta_cadre": "true",
        "date_lancement": "2021-03-01",
        "niveau_territorial": "6",
        "acteurs": [{"organisme": "CEN", "role": "1"}, {"organisme": "Région", "role": "2"}],
    }


def test_decimals_are_written_without_exponent():
    record = dict(FULL_JDD, borne_ouest="0.00001", borne_est=7)
    box = etree.fromstring(mtd.to_xml("jdd", record)).find(".//m:BoundingBox", NS)
    assert box.findtext("m:borneOuest", namespaces=NS) == "0.00001"
    assert box.findtext("m:borneEst", namespaces=NS) == "7.0"
    [rec] = mtd.parse_document(mtd.to_xml("jdd", record))
    assert (rec.record["borne_ouest"], rec.record["borne_est"]) == ("1e-05", "7.0")  # str(float)


def test_to_xml_many_with_both_kinds():
    data = mtd.to_xml_many([("ca", FULL_CA), ("jdd", FULL_JDD)])
    root = etree.fromstring(data)
    assert root.nsmap == {"gml": mtd.GML_NS}
    assert [m[0].prefix for m in root] == ["ca", "jdd"]
    assert b"<ca:identifiantCadre>" in data and b"<jdd:identifiantJdd>" in data
    records = mtd.parse_document(data)
    assert [r.record for r in records] == [FULL_CA, FULL_JDD]
    with pytest.raises(mtd.MtdError):
        mtd.to_xml("dataset", {})


# --- bad and hostile input ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, fragment",
    [
        (
            "invalide_sans_uuid.xml",
            "Jeu de données n° 1 du document (« Écoutes ultrasonores au col de la Croix de "
            "la Serre ») : identifiant manquant (élément identifiantJdd).",
        ),
        ("mal_forme.xml", "XML mal formé, ligne 8 : "),
        (
            "pas_mtd.xml",
            "Aucun cadre d'acquisition ni jeu de données dans ce document (élément racine « GetRecordsResponse »)",
        ),
    ],
)
def test_unreadable_documents(name, fragment):
    with pytest.raises(mtd.MtdError) as err:
        parse(name)
    assert fragment in str(err.value)


@pytest.mark.parametrize("data", [b"", b"   \n", "", b"<a>&eacute;</a>", b"\x00\x01\x02", 42, None])
def test_empty_or_garbage(data):
    with pytest.raises(mtd.MtdError):
        mtd.parse_document(data)


def test_size_limit():
    data = fixture("ca_chiropteres_morvan.xml")
    assert mtd.parse_document(data, max_bytes=len(data))
    for value in (data, data.decode("utf-8")):
        with pytest.raises(mtd.MtdError, match="Le document dépasse .* Mo"):
            mtd.parse_document(value, max_bytes=len(data) - 1)
    with pytest.raises(mtd.MtdError, match=r"^Le document dépasse 50 Mo"):
        mtd.parse_document(b" " * (50 * 1024 * 1024 + 1))


@pytest.mark.parametrize(
    "name", ["hostile_xxe_fichier.xml", "hostile_billion_laughs.xml", "hostile_entite_parametre.xml"]
)
def test_hostile_documents_are_refused_quickly(name):
    start = time.perf_counter()
    with pytest.raises(mtd.MtdError, match="Document refusé : il contient une déclaration <!DOCTYPE>") as err:
        parse(name)
    assert time.perf_counter() - start < 0.5
    assert "root:" not in str(err.value)


def test_entity_declaration_without_doctype_and_utf16_doctype_are_refused():
    with pytest.raises(mtd.MtdError, match="<!ENTITY>"):
        mtd.parse_document(b'<!ENTITY x SYSTEM "file:///etc/passwd"><a/>')
    utf16 = fixture("hostile_xxe_fichier.xml").decode("utf-8").replace("UTF-8", "UTF-16").encode("utf-16")
    with pytest.raises(mtd.MtdError, match="Document refusé"):
        mtd.parse_document(utf16)


@pytest.fixture
def listening_port():
    """A local TCP port that listens without accepting: a connection attempt would show."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(5)
    server.setblocking(False)
    yield server, server.getsockname()[1]
    server.close()


def _no_connection(server) -> bool:
    readable, _, _ = select.select([server], [], [], 0)  # a local handshake is immediate
    return not readable


HOSTILE_TEMPLATES = [
    '<!DOCTYPE ca:CadreAcquisition [<!ENTITY e SYSTEM "{url}">]>'
    '<ca:CadreAcquisition xmlns:ca="http://inpn.mnhn.fr/mtd"><ca:identifiantCadre>'
    "29A8E22C-6718-4786-850A-9E2722E41442</ca:identifiantCadre><ca:libelle>&e;</ca:libelle></ca:CadreAcquisition>",
    '<!DOCTYPE ca:CadreAcquisition SYSTEM "{url}"><ca:CadreAcquisition xmlns:ca="http://inpn.mnhn.fr/mtd">'
    "<ca:identifiantCadre>29A8E22C-6718-4786-850A-9E2722E41442</ca:identifiantCadre></ca:CadreAcquisition>",
    '<!DOCTYPE x [<!ENTITY % p SYSTEM "{url}"> %p;]><x/>',
]


@pytest.mark.parametrize("template", HOSTILE_TEMPLATES)
@pytest.mark.parametrize("precheck", [True, False])
def test_no_file_or_network_access(template, precheck, listening_port, monkeypatch):
    """Refused by the check before parsing; and, with that check disabled, the parser itself
    neither reads the file nor opens the connection (the DOCTYPE is then refused after parsing)."""
    if not precheck:
        monkeypatch.setattr(safexml, "_refuse_dtd", lambda raw, label: None)
    server, port = listening_port
    for url in ("file:///etc/passwd", f"http://127.0.0.1:{port}/secret"):
        with pytest.raises(mtd.MtdError) as err:
            mtd.parse_document(template.format(url=url).encode())
        assert "root:" not in str(err.value)
    assert _no_connection(server)


def test_the_lxml_parser_settings_alone_do_not_resolve_entities(listening_port):
    server, port = listening_port
    parser = etree.XMLParser(**mtd._PARSER_OPTIONS)
    for url in ("file:///etc/passwd", f"http://127.0.0.1:{port}/secret"):
        try:
            root = etree.fromstring(HOSTILE_TEMPLATES[0].format(url=url).encode(), parser)
        except etree.XMLSyntaxError:
            continue
        assert "root:" not in "".join(root.itertext())
    assert _no_connection(server)


def test_xinclude_is_not_processed():
    doc = (
        '<ca:CadreAcquisition xmlns:ca="http://inpn.mnhn.fr/mtd" xmlns:xi="http://www.w3.org/2001/XInclude">'
        "<ca:identifiantCadre>29A8E22C-6718-4786-850A-9E2722E41442</ca:identifiantCadre>"
        '<ca:description><xi:include href="file:///etc/passwd" parse="text"/></ca:description>'
        "</ca:CadreAcquisition>"
    )
    with pytest.raises(mtd.MtdError, match="XInclude") as refused:  # not MTD: the document is refused
        mtd.parse_document(doc)
    assert "root:" not in str(refused.value)


def test_the_connection_detector_sees_a_connection(listening_port):
    server, port = listening_port
    assert _no_connection(server)
    with socket.create_connection(("127.0.0.1", port)):
        assert not _no_connection(server)
