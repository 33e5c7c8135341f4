"""TAXREF parser: official v17/v18 layouts, encodings, French errors, the shipped extract."""

from __future__ import annotations

import ast
import io
import zipfile

import pytest

from ckanext.sinp.referentials.taxref import (
    RECORD_FIELDS,
    V17_COLUMNS,
    V18_COLUMNS,
    TaxrefFormatError,
    TaxrefReader,
    iter_taxref,
    normalize,
    search_keys,
    vernacular_names,
)
from tests.conftest import ROOT

EXTRACT = ROOT / "schemas" / "referentiels" / "taxref" / "TAXREFv18_extrait_BFC.txt"

LYNX = {
    "REGNE": "Animalia",
    "PHYLUM": "Chordata",
    "CLASSE": "Mammalia",
    "ORDRE": "Carnivora",
    "FAMILLE": "Felidae",
    "GROUP1_INPN": "Chordés",
    "GROUP2_INPN": "Mammifères",
    "CD_NOM": "60612",
    "CD_TAXSUP": "194728",
    "CD_SUP": "194728",
    "CD_REF": "60612",
    "RANG": "ES",
    "LB_NOM": "Lynx lynx",
    "LB_AUTEUR": "(Linnaeus, 1758)",
    "NOM_COMPLET": "Lynx lynx (Linnaeus, 1758)",
    "NOM_COMPLET_HTML": "<i>Lynx lynx</i> (Linnaeus, 1758)",
    "NOM_VALIDE": "Lynx lynx (Linnaeus, 1758)",
    "NOM_VERN": "Lynx boréal, Lynx d'Eurasie",
    "NOM_VERN_ENG": "Eurasian Lynx",
    "HABITAT": "3",
    "FR": "P",
    "URL": "https://inpn.mnhn.fr/espece/cd_nom/60612",
    "URL_INPN": "https://inpn.mnhn.fr/espece/cd_nom/60612",
    "CD_BA": "",
}


def make_file(columns, rows, *, newline="\n", bom=False, quote=False, encoding="utf-8") -> bytes:
    def cell(value):
        return f'"{value}"' if quote and value and not value.isdigit() else value

    lines = ["\t".join(columns)] + ["\t".join(cell(row.get(c, "")) for c in columns) for row in rows]
    data = (newline.join(lines) + newline).encode(encoding)
    return (b"\xef\xbb\xbf" + data) if bom else data


def read_all(data: bytes, **options):
    with TaxrefReader(io.BytesIO(data), **options) as reader:
        return reader, list(reader)


def test_column_lists_match_the_official_layouts():
    assert len(V17_COLUMNS) == 41 and len(V18_COLUMNS) == 44
    assert set(V18_COLUMNS) - set(V17_COLUMNS) == {"CD_BA", "NOMENCLATURAL_COMMENT", "URL_INPN"}
    assert {c.lower() for c in V18_COLUMNS} == set(RECORD_FIELDS)


def test_reads_a_v18_file_into_typed_records():
    reader, records = read_all(make_file(V18_COLUMNS, [LYNX]))
    assert reader.format_version == 18
    [lynx] = records
    assert (lynx.cd_nom, lynx.cd_ref, lynx.cd_sup, lynx.cd_taxsup, lynx.habitat) == (60612, 60612, 194728, 194728, 3)
    assert lynx.cd_ba is None and lynx.nomenclatural_comment is None
    assert lynx.nom_vern == "Lynx boréal, Lynx d'Eurasie"
    assert lynx.fr == "P" and lynx.statuts == {"FR": "P"}
    assert lynx.group2_inpn == "Mammifères" and lynx.is_valid_name
    assert lynx.line_number == 2


def test_reads_a_v17_file_and_leaves_v18_only_columns_empty():
    reader, [lynx] = read_all(make_file(V17_COLUMNS, [LYNX]))
    assert reader.format_version == 17
    assert lynx.cd_nom == 60612 and lynx.url_inpn is None and lynx.cd_ba is None
    assert lynx.url == "https://inpn.mnhn.fr/espece/cd_nom/60612"


def test_columns_are_found_by_name_not_position():
    shuffled = tuple(reversed(V18_COLUMNS))
    reader, [lynx] = read_all(make_file(shuffled, [LYNX]))
    assert reader.format_version == 18 and lynx.lb_nom == "Lynx lynx" and lynx.cd_ref == 60612


def test_unknown_layout_with_the_required_columns_is_accepted():
    columns = V17_COLUMNS + ("NOUVELLE_COLONNE",)
    reader, [lynx] = read_all(make_file(columns, [dict(LYNX, NOUVELLE_COLONNE="x")]))
    assert reader.format_version is None and reader.ignored_columns == ("NOUVELLE_COLONNE",)
    assert lynx.cd_nom == 60612


@pytest.mark.parametrize(
    "options",
    [
        {"bom": True},
        {"newline": "\r\n"},
        {"bom": True, "newline": "\r\n", "quote": True},
        {"quote": True},
    ],
)
def test_bom_crlf_and_quoted_fields(options):
    reader, [lynx] = read_all(make_file(V18_COLUMNS, [LYNX], **options))
    assert reader.columns[0] == "REGNE"
    assert lynx.regne == "Animalia" and lynx.url_inpn.endswith("/60612") and lynx.lb_nom == "Lynx lynx"


def test_quoted_field_with_tab_quote_and_newline():
    row = dict(LYNX, NOMENCLATURAL_COMMENT='"Dit ""boréal""\tsur\ndeux lignes"')
    data = make_file(V18_COLUMNS, [row, dict(LYNX, CD_NOM="60613")])
    _, records = read_all(data)
    assert records[0].nomenclatural_comment == 'Dit "boréal"\tsur\ndeux lignes'
    assert records[1].line_number == 4  # the quoted field spans lines 2-3


def test_null_markers_and_blank_lines():
    data = make_file(V18_COLUMNS, [dict(LYNX, NOM_VERN_ENG="null", CD_SUP="NULL")]) + b"\n\n"
    _, [lynx] = read_all(data)
    assert lynx.nom_vern_eng is None and lynx.cd_sup is None


def test_the_official_zip_is_read_directly(tmp_path):
    archive = tmp_path / "TAXREF_v18_2025.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("TAXREFv18.txt", make_file(V18_COLUMNS, [LYNX]))
        z.writestr("rangs_note.csv", "RANG;DETAIL\n")
    assert [r.cd_nom for r in iter_taxref(archive)] == [60612]


def test_zip_without_taxref_file_is_refused(tmp_path):
    archive = tmp_path / "autre.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("lisezmoi.txt", "rien")
    with pytest.raises(TaxrefFormatError, match="exactement un fichier TAXREFvNN.txt"):
        list(iter_taxref(archive))


@pytest.mark.parametrize(
    "change, message",
    [
        ({"CD_NOM": "abc"}, "Ligne 3 : CD_NOM « abc » n'est pas un nombre entier."),
        ({"CD_REF": ""}, "Ligne 3 : CD_REF est vide."),
        ({"CD_SUP": "12.5"}, "Ligne 3 : CD_SUP « 12.5 » n'est pas un nombre entier."),
        ({"HABITAT": "terrestre"}, "Ligne 3 : HABITAT « terrestre » n'est pas un nombre entier."),
        ({"LB_NOM": "  "}, "Ligne 3 : LB_NOM est vide."),
        ({"CD_NOM": "99999999999"}, "Ligne 3 : CD_NOM « 99999999999 » n'est pas un nombre entier."),
    ],
)
def test_bad_line_gives_a_french_error_with_its_line_number(change, message):
    data = make_file(V18_COLUMNS, [LYNX, dict(LYNX, **change)])
    with pytest.raises(TaxrefFormatError) as info:
        read_all(data)
    assert str(info.value) == message
    assert info.value.line_number == 3


def test_wrong_number_of_fields():
    data = make_file(V18_COLUMNS, [LYNX]) + b"Animalia\tChordata\n"
    with pytest.raises(TaxrefFormatError, match=r"^Ligne 3 : 2 champs au lieu des 44 de l'en-tête\.$"):
        read_all(data)


def test_trailing_empty_fields_are_tolerated():
    data = make_file(V18_COLUMNS, [LYNX]).replace(b"\n", b"\t\t\n")
    _, [lynx] = read_all(data)
    assert lynx.cd_nom == 60612


def test_collect_errors_skips_bad_lines_and_keeps_the_errors():
    data = make_file(V18_COLUMNS, [LYNX, dict(LYNX, CD_NOM="x"), dict(LYNX, CD_NOM="60613")])
    reader, records = read_all(data, collect_errors=True)
    assert [r.cd_nom for r in records] == [60612, 60613]
    assert [(e.line_number, e.column) for e in reader.errors] == [(3, "CD_NOM")]


def test_collect_errors_gives_up_after_max_errors():
    data = make_file(V18_COLUMNS, [dict(LYNX, CD_NOM="x")] * 4)
    with pytest.raises(TaxrefFormatError, match="plus de 2 lignes en erreur"):
        read_all(data, collect_errors=True, max_errors=2)


def test_latin1_file_is_refused_with_a_french_explanation():
    data = make_file(V18_COLUMNS, [LYNX], encoding="cp1252")
    with pytest.raises(TaxrefFormatError) as info:
        read_all(data)
    message = str(info.value)
    assert message.startswith("Ligne 2 : le fichier n'est pas encodé en UTF-8 (octet 0xE9")
    assert "Latin-1/Windows-1252" in message and "iconv" in message


def test_latin1_file_is_read_when_the_encoding_is_given():
    _, [lynx] = read_all(make_file(V18_COLUMNS, [LYNX], encoding="cp1252"), encoding="cp1252")
    assert lynx.nom_vern == "Lynx boréal, Lynx d'Eurasie" and lynx.group1_inpn == "Chordés"


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "Le fichier TAXREF est vide"),
        (b"CD_NOM;CD_REF;LB_NOM\n1;1;x\n", "séparé par des « ; »"),
        (b"CD_NOM\tLB_NOM\n1\tx\n", "colonnes obligatoires absentes de l'en-tête : CD_REF, CD_SUP"),
        ("\t".join(V18_COLUMNS + ("CD_NOM",)).encode() + b"\n", "colonnes en double dans l'en-tête : CD_NOM"),
    ],
)
def test_header_errors(data, message):
    with pytest.raises(TaxrefFormatError, match=message):
        read_all(data)


def test_unclosed_quote_is_reported():
    second_line = make_file(V18_COLUMNS, [LYNX]).split(b"\n", 1)[1]
    data = make_file(V18_COLUMNS, [dict(LYNX, NOM_VERN='"Lynx boréal')]) + second_line
    with pytest.raises(TaxrefFormatError, match=r"^Ligne 2 : .*guillemet"):
        read_all(data)


def test_missing_file():
    with pytest.raises(TaxrefFormatError, match="Fichier TAXREF introuvable"):
        list(iter_taxref("/nonexistent/TAXREFv18.txt"))


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Grand-duc d'Europe", "grand duc d europe"),
        ("Œdicnème criard", "oedicneme criard"),
        ("  ÉCUREUIL   roux ", "ecureuil roux"),
        ("Quercus × rosacea", "quercus rosacea"),
        ("Pelophylax kl. esculentus", "pelophylax kl esculentus"),
        (None, ""),
    ],
)
def test_normalize(text, expected):
    assert normalize(text) == expected


def test_search_keys_split_vernacular_names():
    assert vernacular_names("Lynx boréal, Lynx d'Eurasie") == ["Lynx boréal", "Lynx d'Eurasie"]
    _, [lynx] = read_all(make_file(V18_COLUMNS, [LYNX]))
    assert search_keys(lynx) == ("lynx lynx", "lynx boreal;lynx d eurasie")


# -- the shipped extract ---------------------------------------------------------
@pytest.fixture(scope="module")
def extract():
    with TaxrefReader(EXTRACT) as reader:
        records = list(reader)
        assert reader.format_version == 18
        assert reader.errors == []
    return {r.cd_nom: r for r in records}, records


def test_extract_parses_fully(extract):
    by_code, records = extract
    assert len(records) >= 150
    assert len(by_code) == len(records), "CD_NOM en double"
    raw_lines = EXTRACT.read_bytes().split(b"\r\n")
    assert raw_lines[-1] == b"" and len(raw_lines) - 2 == len(records)  # CRLF, one line per record


def test_extract_references_are_internal(extract):
    by_code, records = extract
    for record in records:
        for field in ("cd_ref", "cd_sup", "cd_taxsup"):
            code = getattr(record, field)
            assert code is None or code in by_code, f"{record.lb_nom}: {field} {code} absent de l'extrait"
        assert by_code[record.cd_ref].is_valid_name, f"{record.lb_nom}: CD_REF vers un synonyme"
        assert record.nom_valide == by_code[record.cd_ref].nom_complet


def test_extract_every_valid_taxon_reaches_biota(extract):
    by_code, records = extract
    for record in records:
        if not record.is_valid_name:
            continue
        seen, node = set(), record
        while node.cd_sup is not None:
            assert node.cd_nom not in seen, f"cycle sous {record.lb_nom}"
            seen.add(node.cd_nom)
            node = by_code[node.cd_sup]
        assert node.lb_nom == "Biota", record.lb_nom


def test_extract_contents(extract):
    by_code, records = extract
    ranks = {r.rang for r in records}
    assert {"KD", "PH", "CL", "OR", "FM", "GN", "ES"} <= ranks
    species = [r for r in records if r.rang == "ES" and r.is_valid_name]
    assert len(species) >= 150
    synonyms = [r for r in records if not r.is_valid_name]
    assert len(synonyms) >= 5
    assert {r.group2_inpn for r in species} >= {
        "Mammifères",
        "Oiseaux",
        "Amphibiens",
        "Reptiles",
        "Insectes",
        "Angiospermes",
    }
    # Codes asked for by the catalogue's sensitivity rules, with accented French names
    assert by_code[60295].lb_nom == "Rhinolophus ferrumequinum" and by_code[60295].nom_vern == "Grand rhinolophe"
    assert by_code[60612].lb_nom == "Lynx lynx"
    assert by_code[3493].nom_vern == "Grand-duc d'Europe"
    assert by_code[212].nom_vern == "Sonneur à ventre jaune"
    assert by_code[125].cd_ref == 444430  # Triturus alpestris -> Ichthyosaura alpestris
    assert by_code[195005].rang == "GN" and by_code[60418].cd_sup == 195005  # Myotis > Myotis myotis
    for r in records:
        expected = f"{r.lb_nom} {r.lb_auteur}" if r.lb_auteur else r.lb_nom
        assert r.nom_complet == expected, r.cd_nom


def test_modules_do_not_import_ckan():
    for path in (ROOT / "ckanext-sinp" / "ckanext" / "sinp" / "referentials").glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
        imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        assert not {name for name in imported if name == "ckan" or name.startswith("ckan.")}, path
