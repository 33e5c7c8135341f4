"""HABREF and geographic referentials, pure: readers, encodings, separators, French errors, grid, territory,
the shipped extracts and the database-free QC dictionary."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest
import shapely

from ckanext.sinp.referentials import geo, habref
from ckanext.sinp.referentials.geo import GeoFormatError, GridCell
from ckanext.sinp.referentials.geo_store import SHIPPED_FILES, referentials_from_files
from ckanext.sinp.referentials.habref import HABREF_COLUMNS, HabrefFormatError
from ckanext.sinp.referentials.tabular import ReferentialFormatError
from tests.conftest import ROOT

SCHEMAS = ROOT / "schemas"
REFS = SCHEMAS / "referentiels"
HABREF_EXTRACT = REFS / SHIPPED_FILES["habref"]
COMMUNES_EXTRACT = REFS / SHIPPED_FILES["communes"]
DEPARTEMENTS_EXTRACT = REFS / SHIPPED_FILES["departements"]
MAILLES_EXTRACT = REFS / SHIPPED_FILES["mailles"]
TERRITORY_FILE = REFS / SHIPPED_FILES["territoire"]

PREFECTURES = {
    "21231": "Dijon",
    "25056": "Besançon",
    "39300": "Lons-le-Saunier",
    "58194": "Nevers",
    "70550": "Vesoul",
    "71270": "Mâcon",
    "89024": "Auxerre",
    "90010": "Belfort",
}
# Approximate town centres (longitude, latitude), all inside the region
TOWNS = {
    "Dijon": (5.0415, 47.3220),
    "Besançon": (6.0241, 47.2378),
    "Lons-le-Saunier": (5.5547, 46.6744),
    "Nevers": (3.1590, 46.9908),
    "Vesoul": (6.1544, 47.6222),
    "Mâcon": (4.8286, 46.3069),
    "Auxerre": (3.5673, 47.7986),
    "Belfort": (6.8628, 47.6397),
    "Cosne-Cours-sur-Loire": (2.9275, 47.4122),
    "Delle": (6.9989, 47.5075),
    "Saint-Claude": (5.8633, 46.3872),
    "Pontarlier": (6.3547, 46.9035),
    "Sens": (3.2833, 48.1975),
    "Luxeuil-les-Bains": (6.3814, 47.8169),
}
OUTSIDE = {
    "Paris": (2.35, 48.86),
    "Lyon": (4.835, 45.76),
    "Troyes": (4.08, 48.30),
    "Bâle": (7.59, 47.56),
    "Genève": (6.14, 46.20),
    "Moulins": (3.33, 46.57),
    "Bourges": (2.40, 47.08),
    "Langres": (5.33, 47.86),
    "Bourg-en-Bresse": (5.23, 46.21),
    "Mulhouse": (7.34, 47.75),
}

HETRAIE = {
    "CD_HAB": "14413",
    "FG_VALIDITE": "V",
    "CD_TYPO": "22",
    "LB_CODE": "41.13",
    "LB_HAB_FR": "Hêtraies neutrophiles",
    "LB_HAB_FR_COMPLET": "Hêtraies neutrophiles",
    "LB_HAB_EN": "Medio-European neutrophile beech forests",
    "NIVEAU": "4",
    "LB_NIVEAU": "Niveau 4",
    "CD_HAB_SUP": "14411",
    "PATH_CD_HAB": "14001.14041.14411.14413",
    "FRANCE": "true",
    "LB_DESCRIPTION": "Hêtraies de l'étage collinéen ; sols neutres",
}


def _quote(value: str, separator: str) -> str:
    if separator in value or '"' in value or "\n" in value:
        return '"' + value.replace('"', '""') + '"'
    return value


def make_csv(columns, rows, *, separator=";", encoding="utf-8", newline="\n", bom=False) -> bytes:
    lines = [separator.join(columns)]
    lines += [separator.join(_quote(str(row.get(c, "")), separator) for c in columns) for row in rows]
    data = (newline.join(lines) + newline).encode(encoding)
    return (b"\xef\xbb\xbf" + data) if bom else data


def write(tmp_path, name: str, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


# -- HABREF ---------------------------------------------------------------------------
def test_reads_a_habref_file_into_typed_records(tmp_path):
    path = write(tmp_path, "HABREF_50.csv", make_csv(HABREF_COLUMNS, [HETRAIE]))
    data = habref.read_habref(path)
    [record] = data.records
    assert (record.cd_hab, record.cd_typo, record.niveau, record.cd_hab_sup) == (14413, 22, 4, 14411)
    assert record.lb_code == "41.13" and record.lb_hab_fr == "Hêtraies neutrophiles"
    assert record.lb_description == "Hêtraies de l'étage collinéen ; sols neutres"  # quoted separator
    assert record.lb_auteur is None and record.line_number == 2
    assert (data.separator, data.encoding, data.absent_columns, data.ignored_columns) == (";", "UTF-8", (), ())
    assert data.acronyms[22] == "CORINEBIOTOPES"


@pytest.mark.parametrize("separator", [";", "\t", "|", ","])
def test_habref_separator_is_detected(tmp_path, separator):
    path = write(
        tmp_path, "h.csv", make_csv(HABREF_COLUMNS, [HETRAIE, dict(HETRAIE, CD_HAB="14414")], separator=separator)
    )
    data = habref.read_habref(path)
    assert data.separator == separator
    assert [r.cd_hab for r in data.records] == [14413, 14414]
    assert data.records[0].lb_description == HETRAIE["LB_DESCRIPTION"]


def test_habref_header_is_case_insensitive_and_in_any_order(tmp_path):
    columns = [c.lower() for c in reversed(HABREF_COLUMNS)] + ["COLONNE_EN_PLUS"]
    rows = [{c.lower(): v for c, v in HETRAIE.items()}]
    data = habref.read_habref(write(tmp_path, "h.csv", make_csv(columns, rows)))
    assert data.records[0].cd_hab == 14413 and data.records[0].lb_code == "41.13"
    assert data.ignored_columns == ("COLONNE_EN_PLUS",)


def test_habref_optional_columns_may_be_absent(tmp_path):
    data = habref.read_habref(write(tmp_path, "h.csv", make_csv(habref.REQUIRED_COLUMNS, [HETRAIE])))
    record = data.records[0]
    assert record.cd_hab == 14413 and record.niveau is None and record.lb_description is None
    assert set(data.absent_columns) == set(HABREF_COLUMNS) - set(habref.REQUIRED_COLUMNS)


@pytest.mark.parametrize(
    "encoding, bom, label",
    [
        ("utf-8", False, "UTF-8"),
        ("utf-8", True, "UTF-8 (avec BOM)"),
        ("cp1252", False, "Windows-1252"),
        ("utf-16", False, "UTF-16"),
    ],
)
def test_habref_encoding_is_detected(tmp_path, encoding, bom, label):
    row = dict(HETRAIE, LB_HAB_FR="Hêtraies à œillets ’neutrophiles’")
    path = write(tmp_path, "h.csv", make_csv(HABREF_COLUMNS, [row], encoding=encoding, bom=bom, newline="\r\n"))
    data = habref.read_habref(path)
    assert data.encoding == label
    assert data.records[0].lb_hab_fr == "Hêtraies à œillets ’neutrophiles’"
    assert data.records[0].lb_description == HETRAIE["LB_DESCRIPTION"]


def test_latin1_bytes_undefined_in_windows_1252_are_read_as_iso_8859_1(tmp_path):
    data = make_csv(HABREF_COLUMNS, [dict(HETRAIE, LB_HAB_EN="x")], encoding="latin-1").replace(b";x;", b";\x81;")
    result = habref.read_habref(write(tmp_path, "h.csv", data))
    assert result.encoding == "ISO-8859-1" and result.records[0].lb_hab_en == "\x81"
    assert result.records[0].lb_hab_fr == "Hêtraies neutrophiles"


def test_habref_file_object_and_multiline_quoted_field():
    row = dict(HETRAIE, LB_DESCRIPTION='Deux lignes ;\n« citées » et "entre guillemets"')
    data = make_csv(HABREF_COLUMNS, [row, dict(HETRAIE, CD_HAB="14414")])
    result = habref.read_habref(io.BytesIO(data))
    assert result.records[0].lb_description == 'Deux lignes ;\n« citées » et "entre guillemets"'
    assert result.records[1].line_number == 4  # the quoted field spans lines 2-3
    assert result.source == "(flux)"


def test_blank_lines_and_null_markers(tmp_path):
    data = b"\n" + make_csv(HABREF_COLUMNS, [dict(HETRAIE, LB_HAB_EN="null", CD_HAB_SUP="NULL")]) + b"\n;;\n\n"
    result = habref.read_habref(write(tmp_path, "h.csv", data))
    [record] = result.records
    assert record.lb_hab_en is None and record.cd_hab_sup is None and record.line_number == 3


def _habref_error(tmp_path, data: bytes, name="h.csv") -> str:
    with pytest.raises(HabrefFormatError) as info:
        habref.read_habref(write(tmp_path, name, data))
    assert isinstance(info.value, ReferentialFormatError)
    return str(info.value)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"CD_HAB": "abc"}, "Fichier h.csv, ligne 3, colonne CD_HAB : CD_HAB « abc » n'est pas un nombre entier."),
        ({"CD_HAB": ""}, "Fichier h.csv, ligne 3, colonne CD_HAB : CD_HAB est vide (valeur obligatoire)."),
        (
            {"CD_TYPO": "0"},
            "Fichier h.csv, ligne 3, colonne CD_TYPO : CD_TYPO vaut 0 : un entier supérieur ou égal à 1 est attendu.",
        ),
        ({"NIVEAU": "4,5"}, "Fichier h.csv, ligne 3, colonne NIVEAU : NIVEAU « 4,5 » n'est pas un nombre entier."),
        (
            {"FG_VALIDITE": ""},
            "Fichier h.csv, ligne 3, colonne FG_VALIDITE : FG_VALIDITE est vide (valeur obligatoire).",
        ),
        (
            {"CD_HAB": "99999999999"},
            "Fichier h.csv, ligne 3, colonne CD_HAB : CD_HAB « 99999999999 » n'est pas un nombre entier.",
        ),
    ],
)
def test_bad_values_give_french_errors_with_file_line_and_column(tmp_path, change, message):
    data = make_csv(HABREF_COLUMNS, [dict(HETRAIE, CD_HAB="1"), dict(HETRAIE, **change)])
    assert _habref_error(tmp_path, data) == message


def test_duplicate_cd_hab(tmp_path):
    data = make_csv(HABREF_COLUMNS, [HETRAIE, dict(HETRAIE, CD_HAB="2"), HETRAIE])
    assert _habref_error(tmp_path, data) == (
        "Fichier h.csv, ligne 4, colonne CD_HAB : CD_HAB 14413 en double (déjà présent ligne 2)."
    )


def test_missing_columns(tmp_path):
    data = b"CD_HAB;LB_CODE;NOM\n1;41.13;x\n"
    assert _habref_error(tmp_path, data) == (
        "Fichier h.csv, ligne 1 : en-tête non reconnu, colonnes obligatoires absentes : FG_VALIDITE, CD_TYPO,"
        " LB_HAB_FR. Colonnes lues (séparateur « ; ») : CD_HAB, LB_CODE, NOM. Attendu : fichier HABREF"
        " (HABREF_NN.csv) (colonnes obligatoires : CD_HAB, FG_VALIDITE, CD_TYPO, LB_CODE, LB_HAB_FR)."
    )


def test_wrong_number_of_fields(tmp_path):
    data = make_csv(HABREF_COLUMNS, [HETRAIE]) + b"1;V;22\n"
    assert _habref_error(tmp_path, data) == (
        "Fichier h.csv, ligne 3 : 3 champs au lieu des 14 de l'en-tête (séparateur « ; »)."
    )


def test_unclosed_quote(tmp_path):
    data = make_csv(HABREF_COLUMNS, [HETRAIE]) + b'2;V;22;41;"Hetraies;x;;;;;;;;;\n'
    message = _habref_error(tmp_path, data)
    assert message.startswith(
        "Fichier h.csv, ligne 3 : ligne illisible (fin du fichier atteinte à l'intérieur d'un champ entre guillemets)"
    )


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "Fichier h.csv : le fichier HABREF est vide (aucune ligne d'en-tête)."),
        (b"\n  \n", "Fichier h.csv : le fichier HABREF est vide (aucune ligne d'en-tête)."),
        (
            ";".join(HABREF_COLUMNS).encode() + b"\n",
            "Fichier h.csv : le fichier HABREF ne contient aucune ligne de données.",
        ),
        (
            b"CD_HAB;CD_HAB;FG_VALIDITE;CD_TYPO;LB_CODE;LB_HAB_FR\n",
            "Fichier h.csv, ligne 1 : colonnes en double dans l'en-tête : CD_HAB.",
        ),
        (
            b"CD_HAB;;FG_VALIDITE;CD_TYPO;LB_CODE;LB_HAB_FR\n",
            "Fichier h.csv, ligne 1 : colonne(s) sans nom dans l'en-tête (position 2).",
        ),
        (
            b"CD_HAB;FG_VALIDITE;CD_TYPO;LB_CODE;LB_HAB_FR\n1;V;\x0022;1;x\n",
            "Fichier h.csv, ligne 2 : caractère nul (octet 0x00) : ce n'est pas un fichier texte, ou il est encodé en"
            " UTF-16 sans marque d'ordre des octets.",
        ),
    ],
)
def test_file_level_errors(tmp_path, data, message):
    assert _habref_error(tmp_path, data) == message


def test_missing_file_error(tmp_path):
    with pytest.raises(HabrefFormatError, match="^fichier HABREF introuvable : .*absent.csv$"):
        habref.read_habref(tmp_path / "absent.csv")


TYPOREF_COLUMNS = ("CD_TYPO", "CD_TABLE", "LB_NOM_TYPO", "NOM_JEU_DONNEES")


def test_official_zip_with_typoref(tmp_path):
    archive = tmp_path / "HABREF_50.zip"
    typoref_rows = [
        {"CD_TYPO": "22", "CD_TABLE": "TYPO_CORINE_BIOTOPES", "LB_NOM_TYPO": "CORINE_biotopes"},
        {"CD_TYPO": "107", "CD_TABLE": "TYPO_EUNIS_2022", "LB_NOM_TYPO": "EUNIS"},
        {"CD_TYPO": "18", "CD_TABLE": "TYPO_PVF_1", "LB_NOM_TYPO": "Prodrome_des_végétations_de_France_(PVF1)"},
        {"CD_TYPO": "7", "CD_TABLE": "TYPO_AUTRE", "LB_NOM_TYPO": "Autre typologie"},
    ]
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("HABREF_50/HABREF_50.csv", make_csv(HABREF_COLUMNS, [HETRAIE]))
        z.writestr("HABREF_50/TYPOREF_50.csv", make_csv(TYPOREF_COLUMNS, typoref_rows))
        z.writestr("HABREF_50/LISEZMOI.txt", "rien")
    data = habref.read_habref(archive)
    assert data.source == "HABREF_50.zip!HABREF_50/HABREF_50.csv"
    assert [r.cd_typo for r in data.typoref] == [22, 107, 18, 7]
    # TYPOREF wins: EUNIS is 107 there, and 7 is another typology; HIC (8) keeps the shipped value
    assert data.acronyms == {22: "CORINEBIOTOPES", 107: "EUNIS", 18: "PVF1", 8: "HIC", 4: "CH", 17: "PHYTO_CH"}


def test_zip_prefers_the_nohtml_file_and_refuses_an_archive_without_habref(tmp_path):
    archive = tmp_path / "HABREF_50.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("HABREF_50.csv", make_csv(HABREF_COLUMNS, [dict(HETRAIE, LB_HAB_FR="<i>HTML</i>")]))
        z.writestr("HABREF_NOHTML_50.csv", make_csv(HABREF_COLUMNS, [HETRAIE]))
    data = habref.read_habref(archive)
    assert data.records[0].lb_hab_fr == "Hêtraies neutrophiles" and data.typoref is None
    other = tmp_path / "autre.zip"
    with zipfile.ZipFile(other, "w") as z:
        z.writestr("notes.txt", "rien")
    with pytest.raises(
        HabrefFormatError,
        match=r"^Fichier autre\.zip : l'archive ne contient pas de fichier HABREF"
        r" \(contenu : notes\.txt\)\.$",
    ):
        habref.read_habref(other)


def test_typoref_errors(tmp_path):
    path = write(tmp_path, "TYPOREF_50.csv", make_csv(TYPOREF_COLUMNS, [{"CD_TYPO": "x"}]))
    with pytest.raises(HabrefFormatError, match="^Fichier TYPOREF_50.csv, ligne 2, colonne CD_TYPO : CD_TYPO « x »"):
        habref.read_typoref(path)


def test_shipped_typology_table():
    acronyms = [t.acronym for t in habref.TYPOLOGIES]
    assert len(acronyms) == len(set(acronyms))
    numbers = [t.cd_typo for t in habref.TYPOLOGIES if t.cd_typo is not None]
    assert len(numbers) == len(set(numbers))
    assert {t.certainty for t in habref.TYPOLOGIES} == {"recoupé", "probable", "incertain"}
    assert all(t.cd_typo is None for t in habref.TYPOLOGIES if t.certainty == "incertain")
    assert habref.typology_by_acronym("corine_biotopes").cd_typo == 22
    assert habref.typology_by_acronym("EUNIS").cd_typo == 7 and habref.typology_by_acronym("EUNIS").certain
    assert habref.typology_by_acronym("PAL").cd_typo is None and not habref.typology_by_acronym("PAL").certain
    assert habref.typology_by_acronym("inconnue") is None
    assert habref.typology_acronyms() == {
        22: "CORINEBIOTOPES",
        7: "EUNIS",
        8: "HIC",
        4: "CH",
        18: "PVF1",
        17: "PHYTO_CH",
    }


@pytest.mark.parametrize(
    "name, label",
    [("HABREF_50.csv", "HABREF 5.0"), ("HABREF_NOHTML_70.csv", "HABREF 7.0"), ("habitats.csv", "habitats")],
)
def test_habref_default_version_label(name, label):
    assert habref.default_version_label(name) == label


# -- communes and départements ---------------------------------------------------------------
COG_COLUMNS = ("TYPECOM", "COM", "REG", "DEP", "CTCD", "ARR", "TNCC", "NCC", "NCCENR", "LIBELLE", "CAN", "COMPARENT")


def cog(typecom, com, reg, dep, libelle, parent=""):
    return {
        "TYPECOM": typecom,
        "COM": com,
        "REG": reg,
        "DEP": dep,
        "CTCD": f"{dep}D",
        "ARR": f"{dep}1",
        "TNCC": "0",
        "NCC": libelle.upper(),
        "NCCENR": libelle,
        "LIBELLE": libelle,
        "CAN": f"{dep}01",
        "COMPARENT": parent,
    }


COG_ROWS = [
    cog("COM", "21231", "27", "21", "Dijon"),
    cog("COMD", "21183", "", "21", "Commune déléguée", parent="21231"),
    cog("COM", "69123", "84", "69", "Lyon"),
    cog("ARM", "69381", "", "69", "Lyon 1er Arrondissement", parent="69123"),
    cog("COM", "2A004", "94", "2A", "Ajaccio"),
    cog("COM", "90010", "27", "90", "Belfort"),
    cog("COM", "97209", "02", "972", "Fort-de-France"),
]


def test_cog_communes_filtered_on_the_region(tmp_path):
    path = write(tmp_path, "v_commune_2024.csv", make_csv(COG_COLUMNS, COG_ROWS, separator=","))
    data = geo.read_communes(path)
    assert [(c.code, c.nom, c.departement, c.region) for c in data.records] == [
        ("21231", "Dijon", "21", "27"),
        ("90010", "Belfort", "90", "27"),
    ]
    assert (data.skipped_type, data.skipped_region, data.region) == (2, 3, "27")
    assert data.source_format == "COG INSEE, région 27 (séparateur « , », UTF-8)"
    everything = geo.read_communes(path, region=None)
    assert [c.code for c in everything.records] == ["21231", "69123", "2A004", "90010", "97209"]
    assert geo.read_communes(path, region="toutes").region is None


def test_cog_names_with_commas_are_quoted(tmp_path):
    rows = [cog("COM", "21001", "27", "21", "Nom, avec virgule")]
    data = geo.read_communes(write(tmp_path, "v.csv", make_csv(COG_COLUMNS, rows, separator=",")))
    assert data.records[0].nom == "Nom, avec virgule"


def test_admin_express_communes(tmp_path):
    columns = ("ID", "NOM_COM", "INSEE_COM", "INSEE_DEP", "INSEE_REG")
    rows = [
        {"ID": "C1", "NOM_COM": "Dijon", "INSEE_COM": "21231", "INSEE_DEP": "21", "INSEE_REG": "27"},
        {"ID": "C2", "NOM_COM": "Lyon", "INSEE_COM": "69123", "INSEE_DEP": "69", "INSEE_REG": "84"},
    ]
    data = geo.read_communes(write(tmp_path, "communes.csv", make_csv(columns, rows, separator="|")))
    assert [c.code for c in data.records] == ["21231"] and data.format == "IGN ADMIN EXPRESS"


def test_simple_communes_file_latin1_tab(tmp_path):
    rows = [{"code": "21154", "nom": "Châtillon-sur-Seine", "departement": "21"}]
    data = geo.read_communes(
        write(tmp_path, "c.csv", make_csv(("code", "nom", "departement"), rows, separator="\t", encoding="latin-1"))
    )
    assert data.records[0].nom == "Châtillon-sur-Seine" and data.encoding == "Windows-1252"
    assert data.region is None and data.source_format.startswith("CSV simple, sans filtre régional")


@pytest.mark.parametrize(
    "row, message",
    [
        (
            cog("COM", "2123", "27", "21", "Court"),
            "Fichier v.csv, ligne 2, colonne COM : « 2123 » n'est pas un code commune INSEE valide.",
        ),
        (
            cog("COM", "25056", "27", "21", "Besançon"),
            "Fichier v.csv, ligne 2, colonne COM : la commune 25056 n'appartient pas au département 21 (le code commune"
            " commence par celui du département).",
        ),
        (
            cog("COM", "21231", "27", "2", "Dijon"),
            "Fichier v.csv, ligne 2, colonne DEP : « 2 » n'est pas un code département valide.",
        ),
        (
            cog("COM", "21231", "27", "21", ""),
            "Fichier v.csv, ligne 2, colonne LIBELLE : LIBELLE est vide (valeur obligatoire).",
        ),
    ],
)
def test_communes_errors(tmp_path, row, message):
    with pytest.raises(GeoFormatError) as info:
        geo.read_communes(write(tmp_path, "v.csv", make_csv(COG_COLUMNS, [row], separator=",")))
    assert str(info.value) == message


def test_communes_duplicate_and_nothing_in_the_region(tmp_path):
    rows = [cog("COM", "21231", "27", "21", "Dijon"), cog("COM", "21231", "27", "21", "Dijon")]
    with pytest.raises(
        GeoFormatError,
        match=r"^Fichier v\.csv, ligne 3, colonne COM : code 21231 en double"
        r" \(déjà présent ligne 2\)\.$",
    ):
        geo.read_communes(write(tmp_path, "v.csv", make_csv(COG_COLUMNS, rows, separator=",")))
    other = write(tmp_path, "w.csv", make_csv(COG_COLUMNS, COG_ROWS[2:5], separator=","))
    with pytest.raises(GeoFormatError) as info:
        geo.read_communes(other)
    assert str(info.value) == (
        "Fichier w.csv : aucune commune de la région 27 dans ce fichier (régions présentes :"
        " 84, 94). Vérifiez l'option --region."
    )
    with pytest.raises(GeoFormatError, match="^code de région « 2 » invalide"):
        geo.read_communes(other, region="2")


def test_unknown_communes_header_lists_the_accepted_formats(tmp_path):
    with pytest.raises(GeoFormatError) as info:
        geo.read_communes(write(tmp_path, "c.csv", b"insee,libelle\n21231,Dijon\n"))
    message = str(info.value)
    assert message.startswith(
        "Fichier c.csv, ligne 1 : en-tête non reconnu. Colonnes lues (séparateur « , ») :"
        " INSEE, LIBELLE. Attendu : fichier COG de l'INSEE v_commune_AAAA.csv"
    )
    assert "CSV simple code;nom;departement (colonnes obligatoires : CODE, NOM, DEPARTEMENT)" in message


DEP_COLUMNS = ("DEP", "REG", "CHEFLIEU", "TNCC", "NCC", "NCCENR", "LIBELLE")


def test_cog_departements(tmp_path):
    rows = [
        {
            "DEP": "21",
            "REG": "27",
            "CHEFLIEU": "21231",
            "TNCC": "3",
            "NCC": "COTE D OR",
            "NCCENR": "Côte-d'Or",
            "LIBELLE": "Côte-d'Or",
        },
        {
            "DEP": "69",
            "REG": "84",
            "CHEFLIEU": "69123",
            "TNCC": "2",
            "NCC": "RHONE",
            "NCCENR": "Rhône",
            "LIBELLE": "Rhône",
        },
        {
            "DEP": "2A",
            "REG": "94",
            "CHEFLIEU": "2A004",
            "TNCC": "3",
            "NCC": "CORSE DU SUD",
            "NCCENR": "Corse-du-Sud",
            "LIBELLE": "Corse-du-Sud",
        },
    ]
    path = write(tmp_path, "v_departement_2024.csv", make_csv(DEP_COLUMNS, rows, separator=","))
    data = geo.read_departements(path)
    assert data.records == [geo.Departement("21", "Côte-d'Or", "27", "21231")]
    assert data.skipped_region == 2
    assert [d.code for d in geo.read_departements(path, region=None).records] == ["21", "69", "2A"]
    with pytest.raises(GeoFormatError, match="^Fichier v_departement_2024.csv : aucun département de la région 11"):
        geo.read_departements(path, region="11")


def test_simple_departements_and_errors(tmp_path):
    data = geo.read_departements(write(tmp_path, "d.csv", "code;nom\n21;Côte-d'Or\n58;Nièvre\n".encode()))
    assert [(d.code, d.nom, d.region, d.chef_lieu) for d in data.records] == [
        ("21", "Côte-d'Or", None, None),
        ("58", "Nièvre", None, None),
    ]
    with pytest.raises(GeoFormatError) as info:
        geo.read_departements(write(tmp_path, "e.csv", "code;nom\n210;Côte-d'Or\n".encode()))
    assert str(info.value) == "Fichier e.csv, ligne 2, colonne CODE : « 210 » n'est pas un code département valide."


# -- grid -----------------------------------------------------------------------------------------
def test_cell_code_of_the_documented_example():
    cell = geo.cell_for_l93(749648, 6956485)
    assert (cell.cd_sig, cell.code) == ("10kmL93E074N695", "E074N695")
    assert cell.bounds == (740000, 6950000, 750000, 6960000)
    assert cell.wkt == "POLYGON ((740000 6950000, 750000 6950000, 750000 6960000, 740000 6960000, 740000 6950000))"


@pytest.mark.parametrize(
    "x, y, code",
    [
        (740000, 6950000, "E074N695"),  # a corner belongs to the cell to its north-east
        (749999.99, 6959999.99, "E074N695"),
        (750000, 6960000, "E075N696"),
        (99999, 6100000, "E009N610"),  # leading zeros
    ],
)
def test_cell_boundaries(x, y, code):
    assert geo.cell_for_l93(x, y).code == code


def test_cell_of_a_wgs84_point():
    assert geo.cell_for_wgs84(5.0415, 47.3220).cd_sig == "10kmL93E085N669"  # Dijon


def test_parse_cell_codes():
    assert geo.parse_cell("10kmL93E074N695") == geo.parse_cell("E074N695") == GridCell(74, 695)
    for bad in ("10kmL93E74N695", "E074N695X", "5kmL93E0740N6945", "", "10kmL93e074n695"):
        with pytest.raises(ValueError, match="n'est pas un code de maille 10 km Lambert-93"):
            geo.parse_cell(bad)


def test_generated_grid_is_the_shipped_csv():
    territory = geo.read_territory(TERRITORY_FILE)
    cells = geo.cells_intersecting(territory.geometry)
    assert geo.mailles_csv(cells) == MAILLES_EXTRACT.read_text(encoding="utf-8")
    assert 500 < len(cells) < 650  # ≈ 47 800 km² + the cells cut by the border


def test_generator_command_writes_the_same_file(tmp_path, capsys):
    output = tmp_path / "mailles.csv"
    assert geo.main(["mailles", str(TERRITORY_FILE), str(output)]) == 0
    assert output.read_bytes() == MAILLES_EXTRACT.read_bytes()
    assert "mailles écrites dans" in capsys.readouterr().out
    assert geo.main(["mailles", str(tmp_path / "absent.geojson"), str(output)]) == 1
    assert "Contour refusé : fichier territoire (GeoJSON) introuvable" in capsys.readouterr().err


def test_generated_cells_all_share_area_with_the_territory_and_cover_it():
    territory = geo.read_territory(TERRITORY_FILE)
    area = geo.to_lambert93(territory.geometry)
    cells = geo.cells_intersecting(territory.geometry)
    assert all(area.intersection(c.polygon()).area > 0 for c in cells)
    union = shapely.union_all([c.polygon() for c in cells])
    assert union.contains(area.buffer(-1))
    for name, (lon, lat) in TOWNS.items():
        assert geo.cell_for_wgs84(lon, lat) in cells, name


def test_cells_of_a_small_square():
    # a 15 km x 15 km square (Lambert-93) across a grid node: the 4 cells it overlaps
    from pyproj import Transformer

    to_wgs = Transformer.from_crs(2154, 4326, always_xy=True)
    ring = [
        to_wgs.transform(x, y) for x, y in [(851000, 6691000), (866000, 6691000), (866000, 6706000), (851000, 6706000)]
    ]
    cells = geo.cells_intersecting(shapely.Polygon(ring))
    assert [c.code for c in cells] == ["E085N669", "E085N670", "E086N669", "E086N670"]
    point = shapely.Polygon(
        [
            to_wgs.transform(x, y)
            for x, y in [(855000, 6695000), (855100, 6695000), (855100, 6695100), (855000, 6695100)]
        ]
    )
    assert geo.cells_intersecting(point) == [GridCell(85, 669)]


MAILLE_COLUMNS = ("cd_sig", "code_10km", "wkt")


def test_read_mailles_with_and_without_wkt(tmp_path):
    cell = GridCell(85, 669)
    with_wkt = geo.read_mailles(
        write(
            tmp_path,
            "m.csv",
            make_csv(MAILLE_COLUMNS, [{"cd_sig": cell.cd_sig, "code_10km": cell.code, "wkt": cell.wkt}]),
        )
    )
    assert with_wkt.has_wkt and with_wkt.records[0].wkt == cell.wkt
    without = geo.read_mailles(write(tmp_path, "n.csv", b"CD_SIG,CODE_10KM\n10kmL93E085N669,E085N669\n"))
    assert not without.has_wkt and without.records == [geo.Maille("10kmL93E085N669", "E085N669", None)]


@pytest.mark.parametrize(
    "row, message",
    [
        (
            {"cd_sig": "10kmL93E085N669", "code_10km": "E085N670"},
            "Fichier m.csv, ligne 2, colonne CODE_10KM : CODE_10KM « E085N670 » ne correspond pas au CD_SIG 10kmL93E085N669"
            " (attendu : E085N669).",
        ),
        (
            {"cd_sig": "E085N669", "code_10km": "E085N669"},
            "Fichier m.csv, ligne 2, colonne CD_SIG : « E085N669 » n'est pas un CD_SIG de maille 10 km (attendu :"
            " 10kmL93E085N669).",
        ),
        (
            {"cd_sig": "1kmL93E742N6946", "code_10km": "E742N6946"},
            "Fichier m.csv, ligne 2, colonne CD_SIG : « 1kmL93E742N6946 » n'est pas un code de maille 10 km Lambert-93"
            " (attendu : 10kmL93E074N695 ou E074N695).",
        ),
        (
            {"cd_sig": "10kmL93E085N669", "code_10km": "E085N669", "wkt": GridCell(85, 670).wkt},
            "Fichier m.csv, ligne 2, colonne WKT : la géométrie (emprise 850000, 6700000, 860000, 6710000) n'est pas"
            " le carré de la maille E085N669 (850000, 6690000, 860000, 6700000, Lambert-93 EPSG:2154 attendu).",
        ),
        (
            {"cd_sig": "10kmL93E085N669", "code_10km": "E085N669", "wkt": "POINT (855000 6695000)"},
            "Fichier m.csv, ligne 2, colonne WKT : la géométrie est un Point, un polygone est attendu.",
        ),
        ({"cd_sig": "10kmL93E085N669", "code_10km": "E085N669", "wkt": "POLYGON ((850000 6690000"}, None),
    ],
)
def test_mailles_errors(tmp_path, row, message):
    with pytest.raises(GeoFormatError) as info:
        geo.read_mailles(write(tmp_path, "m.csv", make_csv(MAILLE_COLUMNS, [row])))
    if message is None:
        assert str(info.value).startswith("Fichier m.csv, ligne 2, colonne WKT : WKT illisible")
    else:
        assert str(info.value) == message


# -- territory --------------------------------------------------------------------------------------
def test_shipped_territory_is_a_valid_approximation_of_the_region():
    territory = geo.read_territory(TERRITORY_FILE)
    assert territory.nom == "Bourgogne-Franche-Comté"
    assert territory.geometry.is_valid and len(territory.geometry.geoms) == 1
    assert 40 <= territory.vertex_count - 1 <= 80  # the closing vertex repeats the first one
    xmin, ymin, xmax, ymax = territory.geometry.bounds
    assert xmin == pytest.approx(2.84, abs=0.05) and xmax == pytest.approx(7.15, abs=0.05)
    assert ymin == pytest.approx(46.15, abs=0.05) and ymax == pytest.approx(48.40, abs=0.05)
    assert 46_000 < geo.to_lambert93(territory.geometry).area / 1e6 < 50_000  # official: ≈ 47 800 km²
    for name, (lon, lat) in TOWNS.items():
        assert territory.contains(lon, lat), name
    for name, (lon, lat) in OUTSIDE.items():
        assert not territory.contains(lon, lat), name
    exterior = territory.geometry.geoms[0].exterior
    assert exterior.is_ccw  # RFC 7946: exterior rings counter-clockwise


def _geojson(tmp_path, document, name="t.geojson"):
    return write(tmp_path, name, json.dumps(document).encode())


SQUARE = {"type": "Polygon", "coordinates": [[[4, 47], [5, 47], [5, 48], [4, 48], [4, 47]]]}


def test_territory_accepts_bare_geometry_feature_and_several_features(tmp_path):
    assert geo.read_territory(_geojson(tmp_path, SQUARE)).geometry.area == pytest.approx(1)
    feature = {"type": "Feature", "properties": {"NOM": "Carré"}, "geometry": SQUARE}
    assert geo.read_territory(_geojson(tmp_path, feature)).nom == "Carré"
    other = {"type": "Polygon", "coordinates": [[[5, 47], [6, 47], [6, 48], [5, 48], [5, 47]]]}
    collection = {
        "type": "FeatureCollection",
        "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:OGC:1.3:CRS84"}},
        "features": [
            {"type": "Feature", "properties": {}, "geometry": SQUARE},
            {"type": "Feature", "properties": {}, "geometry": other},
        ],
    }
    merged = geo.read_territory(_geojson(tmp_path, collection))
    assert merged.geometry.area == pytest.approx(2) and len(merged.geometry.geoms) == 1


@pytest.mark.parametrize(
    "document, message",
    [
        (
            {
                "type": "Polygon",
                "coordinates": [[[749648, 6956485], [759648, 6956485], [759648, 6966485], [749648, 6956485]]],
            },
            "Fichier t.geojson : coordonnées hors des bornes de WGS 84 (x de 749648 à 759648, y de 6956485 à 6966485) :"
            " le contour semble être en Lambert-93 ou dans une autre projection. Reprojetez-le en WGS 84 (ogr2ogr"
            " -t_srs EPSG:4326 …).",
        ),
        (
            {"type": "Polygon", "coordinates": [[[4, 47], [5, 48], [5, 47], [4, 48], [4, 47]]]},
            "Fichier t.geojson : contour invalide (Self-intersection[4.5 47.5]) : corrigez-le, par exemple avec « Réparer"
            " les géométries » de QGIS ou ST_MakeValid de PostGIS.",
        ),
        (
            {
                "type": "Feature",
                "properties": {},
                "geometry": {"type": "LineString", "coordinates": [[4, 47], [5, 48]]},
            },
            "Fichier t.geojson : géométrie n° 1 de type « LineString » : seuls Polygon et MultiPolygon décrivent un"
            " territoire.",
        ),
        (
            {"type": "Feature", "properties": {}, "geometry": None},
            "Fichier t.geojson : aucune géométrie dans le fichier (Feature sans « geometry » ?).",
        ),
        (
            {"type": "Topology"},
            "Fichier t.geojson : objet GeoJSON de type « Topology » : une FeatureCollection, une Feature ou une géométrie"
            " Polygon/MultiPolygon est attendue.",
        ),
        (
            {"type": "FeatureCollection", "crs": {"type": "name", "properties": {"name": "EPSG:2154"}}, "features": []},
            "Fichier t.geojson : le fichier déclare le système de coordonnées « EPSG:2154 » : le contour doit être en"
            " WGS 84 (EPSG:4326). Reprojetez-le, par exemple : ogr2ogr -t_srs EPSG:4326 sortie.geojson entree.geojson",
        ),
    ],
)
def test_territory_errors(tmp_path, document, message):
    with pytest.raises(GeoFormatError) as info:
        geo.read_territory(_geojson(tmp_path, document))
    assert str(info.value) == message


def test_territory_json_syntax_error_gives_the_line(tmp_path):
    path = write(tmp_path, "t.geojson", b'{\n  "type": "Polygon",\n  "coordinates": [[[4, 47] [5, 47]]]\n}\n')
    with pytest.raises(GeoFormatError) as info:
        geo.read_territory(path)
    assert str(info.value) == (
        "Fichier t.geojson, ligne 3 : JSON invalide : Expecting ',' delimiter (caractère 28 de la ligne)."
    )


# -- shipped extracts ----------------------------------------------------------------------------------
def test_every_shipped_extract_is_readable():
    assert set(SHIPPED_FILES) == {"taxref", "habref", "communes", "departements", "mailles", "territoire"}
    for relative in SHIPPED_FILES.values():
        assert (REFS / relative).is_file(), relative
    for folder in ("habref", "communes", "departements", "mailles", "territoire"):
        readme = (REFS / folder / "README.md").read_text(encoding="utf-8")
        assert "incertain" in readme.lower() or "non vérifié" in readme.lower(), folder


def test_shipped_habref_extract():
    data = habref.read_habref(HABREF_EXTRACT)
    records = {r.cd_hab: r for r in data.records}
    assert 35 <= len(records) <= 60 and data.encoding == "UTF-8" and data.separator == ";"
    assert data.absent_columns == () and data.ignored_columns == ()
    assert {r.cd_typo for r in records.values()} == {7, 8, 22}
    for record in records.values():  # a consistent hierarchy inside the extract
        if record.cd_hab_sup is None:
            assert record.niveau == 1 and record.path_cd_hab == str(record.cd_hab)
        else:
            parent = records[record.cd_hab_sup]
            assert parent.cd_typo == record.cd_typo and record.niveau == parent.niveau + 1
            assert record.path_cd_hab == f"{parent.path_cd_hab}.{record.cd_hab}"
            assert record.lb_code.startswith(parent.lb_code.rstrip(".")) or record.cd_typo == 8
    by_code = {(r.cd_typo, r.lb_code): r.lb_hab_fr for r in records.values()}
    assert by_code[(22, "41.13")] == "Hêtraies neutrophiles"
    assert by_code[(7, "G1.63")] == "Hêtraies neutrophiles médio-européennes"
    assert by_code[(8, "9130")] == "Hêtraies de l'Asperulo-Fagetum"


def test_shipped_communes_and_departements():
    communes = geo.read_communes(COMMUNES_EXTRACT)
    names = {c.code: c.nom for c in communes.records}
    assert len(names) == 34879  # every commune of France (COG 2026, tests/unit/test_communes_referential.py)
    assert {code: names[code] for code in PREFECTURES} == PREFECTURES
    assert set(geo.DEPARTEMENTS_BFC) < {c.departement for c in communes.records}
    departements = geo.read_departements(DEPARTEMENTS_EXTRACT)
    assert [d.code for d in departements.records] == list(geo.DEPARTEMENTS_BFC)
    assert {d.region for d in departements.records} == {"27"}
    assert {d.chef_lieu for d in departements.records} == set(PREFECTURES)
    assert {d.code: d.nom for d in departements.records}["90"] == "Territoire de Belfort"


def test_shipped_mailles():
    data = geo.read_mailles(MAILLES_EXTRACT)
    assert data.has_wkt and data.separator == ";"
    assert [m.cd_sig for m in data.records] == sorted(m.cd_sig for m in data.records)
    assert "10kmL93E085N669" in {m.cd_sig for m in data.records}  # Dijon


# -- the QC dictionary without a database -------------------------------------------------------------------
def test_referentials_from_files():
    refs = referentials_from_files(SCHEMAS)
    assert set(refs) == {
        "cd_nom",
        "cd_hab",
        "communes",
        "departements",
        "mailles",
        "territory_wkt",
        "habitat_codes",
        "versions",
    }
    for key in ("cd_nom", "cd_hab"):
        array = refs[key]
        assert isinstance(array, np.ndarray) and array.dtype == np.int64
        assert np.all(np.diff(array) > 0)  # sorted, unique
    assert 60612 in refs["cd_nom"] and 349525 in refs["cd_nom"] and 14413 in refs["cd_hab"]
    assert set(PREFECTURES) <= set(refs["communes"]) and refs["communes"] == sorted(refs["communes"])
    assert refs["departements"] == list(geo.DEPARTEMENTS_BFC)
    assert len(refs["mailles"]) > 500 and refs["mailles"][0].startswith("10kmL93E")
    assert shapely.from_wkt(refs["territory_wkt"]).equals(geo.read_territory(TERRITORY_FILE).geometry)
    assert refs["habitat_codes"]["EUNIS"][:2] == ["E", "E2"] and "41.13" in refs["habitat_codes"]["CORINEBIOTOPES"]
    assert refs["versions"]["taxref"] == "extrait livré : TAXREFv18_extrait_BFC.txt"
    assert referentials_from_files(REFS)["communes"] == refs["communes"]  # the referentiels folder works too
