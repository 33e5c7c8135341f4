"""The ORB indicator declarations (schemas/indicators.yaml) and the pure rules every output shares
(issue #17): the shipped file loads and says everything a reader needs in French, a wrong
declaration is refused with a message naming the indicator and the field, the small-count rule has
the right bounds, the CSV carries its metadata and cannot run formulas, the regional EEE list is
read with its source and date."""

from __future__ import annotations

import copy
import csv
import datetime as dt
import io
import json
import shutil

import pytest
import yaml

from ckanext.sinp.domain import csvsafe, indicators
from ckanext.sinp.referentials.taxref import iter_taxref
from tests.conftest import ROOT

DECLARATIONS = ROOT / "schemas" / "indicators.yaml"
EEE_DIR = ROOT / "schemas" / "referentiels" / "eee"
TAXREF_EXTRACT = ROOT / "schemas" / "referentiels" / "taxref" / "TAXREFv18_extrait_BFC.txt"

# the indicators the issue asks for, by theme (common design of #17)
REQUIRED = {
    "connaissance": {
        "observations",
        "taxons",
        "observateurs",
        "producteurs",
        "jdd",
        "nouveaux_taxons",
        "couverture_mailles",
    },
    "qualite": {"part_validees", "part_geometrie_precise", "delai_depot"},
    "eee": {"eee_taxons", "eee_mailles", "eee_front", "eee_premiere_mention"},
    "metadonnees": {"ca_jdd_producteur", "part_jdd_deposes", "completude"},
}
OCCURRENCE_SOURCE = "Occurrences de taxons publiques de la plateforme (standard Occurrences de taxons v2.0)"


def _valid_entry(**changes) -> dict:
    entry = {
        "code": "essai",
        "theme": "connaissance",
        "titre": "Indicateur d'essai",
        "question": "Combien d'essais ?",
        "methode": "Nombre d'essais comptés une fois.",
        "unite": "essais",
        "sources": ["Une source"],
        "ventilations": ["region", "annee"],
        "graphique": "serie",
        "precautions": ["Une précaution"],
        "mise_a_jour": "Chaque jour.",
    }
    entry.update(changes)
    return {k: v for k, v in entry.items() if v is not None}


def _error(entries) -> str:
    with pytest.raises(indicators.DeclarationError) as err:
        indicators.parse({"indicateurs": entries})
    return str(err.value)


# --- the shipped declarations ------------------------------------------------------------------------


def test_the_shipped_declarations_load_with_every_indicator_the_issue_asks_for():
    declared = indicators.load()
    for theme, codes in REQUIRED.items():
        assert codes <= set(declared), sorted(codes - set(declared))
        for code in codes:
            assert declared[code].theme == theme, code
    assert indicators.load(DECLARATIONS) == declared  # the default path is the repository's file
    assert indicators.declarations_path().resolve() == DECLARATIONS.resolve()


@pytest.mark.parametrize("code", sorted(set().union(*REQUIRED.values())))
def test_every_indicator_says_in_french_what_it_measures_and_how(code):
    ind = indicators.get(code)
    assert ind.titre[0].isupper() and len(ind.titre) >= 10
    assert ind.question.endswith("?") and len(ind.question) >= 30
    assert len(ind.methode) >= 80, "two or three sentences saying exactly what is counted"
    assert ind.unite and ind.mise_a_jour.startswith("Édition courante")
    assert ind.sources and all(len(s) > 10 for s in ind.sources)
    assert ind.precautions and all(len(p) > 20 for p in ind.precautions)
    assert set(ind.ventilations) <= set(indicators.VENTILATIONS)
    assert ind.graphique in indicators.GRAPHIQUES
    # the folded YAML leaves no line break or double space in what the pages and the CSV show
    for text in (ind.titre, ind.question, ind.methode, *ind.sources, *ind.precautions):
        assert "\n" not in text and "  " not in text
    if ind.theme != "metadonnees":
        assert OCCURRENCE_SOURCE in ind.sources
        # an aggregate over public data: the reader is told, and told about the suppressed cells
        assert any("public" in p for p in ind.precautions)
        assert any("secret" in p for p in ind.precautions)
    if ind.theme == "eee":
        assert any("espèces exotiques envahissantes" in s for s in ind.sources)
        assert "« J »" in ind.methode and "liste régionale" in ind.methode
        assert ind.parametres["statut_taxref"] == "J"


def test_the_breakdowns_and_charts_fit_what_each_indicator_counts():
    declared = indicators.load()
    occurrence_based = [i for i in declared.values() if i.theme != "metadonnees"]
    for ind in occurrence_based:
        assert "region" in ind.ventilations
    assert declared["couverture_mailles"].graphique == "carte"
    assert "maille" in declared["couverture_mailles"].ventilations
    assert "niveau" in declared["part_validees"].ventilations
    for code in ("observations", "taxons", "observateurs", "producteurs", "jdd", "eee_taxons", "eee_mailles"):
        assert {"region", "departement", "groupe", "annee"} <= set(declared[code].ventilations), code
    for code in ("eee_taxons", "eee_mailles", "eee_front", "eee_premiere_mention"):
        assert "taxon" in declared[code].ventilations, code
    assert {"producteur", "objectif"} <= set(declared["ca_jdd_producteur"].ventilations)
    assert declared["delai_depot"].unite == "jours"
    assert declared["part_validees"].unite == "%"


def test_the_parameters_the_orb_may_change_are_declared_with_the_agreed_defaults():
    coverage = indicators.get("couverture_mailles")
    assert dict(coverage.parametres) == {"seuil_taxons": 50, "periode_annees": 10}
    assert any("choix de l'ORB" in p for p in coverage.precautions)
    assert any("ONB" in p for p in indicators.get("eee_taxons").precautions)  # the national reference
    assert indicators.get("part_geometrie_precise").parametres["precision_m"] == 100
    with pytest.raises(TypeError):
        coverage.parametres["seuil_taxons"] = 10  # a shared, cached declaration is not edited
    assert indicators.get("couverture_mailles").parametres["seuil_taxons"] == 50


def test_the_parameters_read_as_labels_on_the_page_never_as_codes():
    assert indicators.get("couverture_mailles").parametres_libelles == [
        "seuil : 50 taxons par maille",
        "période : les 10 dernières années de l'édition",
    ]
    assert indicators.get("part_geometrie_precise").parametres_libelles == ["géométrie précise : 100 m ou mieux"]
    assert indicators.get("eee_mailles").parametres_libelles == [
        "statut TAXREF en France métropolitaine : « Introduit envahissant » (J)"
    ]
    assert indicators.parameter_label("seuil_x", 3) == "seuil x : 3"  # one the platform does not know yet
    coverage = indicators.get("couverture_mailles").methode
    assert "les 10 dernières années" in coverage and "atteignent 50 taxons" in coverage and "{" not in coverage


def test_an_indicator_is_plain_json_for_the_api():
    data = indicators.get("couverture_mailles").as_dict()
    assert json.loads(json.dumps(data, ensure_ascii=False)) == data
    assert data["theme_libelle"] == "État des connaissances"
    assert data["parametres"] == {"seuil_taxons": 50, "periode_annees": 10}
    assert data["parametres_libelles"][0] == "seuil : 50 taxons par maille"
    assert data["cle_libelle"] == "Maille de 10 km"
    assert isinstance(data["sources"], list) and isinstance(data["precautions"], list)


def test_the_themes_come_in_their_order_for_the_list_page():
    sections = indicators.by_theme()
    assert [s[0] for s in sections] == ["connaissance", "qualite", "eee", "metadonnees"]
    assert sections[2][1] == "Espèces exotiques envahissantes"
    assert [i.code for i in sections[1][2]] == ["part_validees", "part_geometrie_precise", "delai_depot"]
    assert indicators.VENTILATIONS["groupe"] == "Groupe taxonomique"


def test_an_unknown_code_is_refused_in_french_with_the_known_codes():
    with pytest.raises(indicators.UnknownIndicatorError) as err:
        indicators.get("biodiversite_totale")
    message = str(err.value)
    assert message.startswith("Indicateur inconnu : « biodiversite_totale ».")
    assert "observations" in message and "completude" in message
    with pytest.raises(indicators.UnknownIndicatorError):
        indicators.get(None)


# --- a wrong declaration is refused, naming the indicator and the field --------------------------


@pytest.mark.parametrize(
    "changes, expected",
    [
        ({"theme": "biodiversite"}, "Indicateur « essai » : champ « theme » : « biodiversite » inconnu"),
        ({"graphique": "camembert"}, "Indicateur « essai » : champ « graphique » : « camembert » inconnu"),
        (
            {"ventilations": ["region", "commune"]},
            "Indicateur « essai » : champ « ventilations » : « commune » inconnue",
        ),
        ({"ventilations": ["annee", "annee"]}, "champ « ventilations » : une ventilation est citée deux fois"),
        ({"ventilations": []}, "Indicateur « essai » : champ « ventilations » absent ou vide"),
        ({"question": None}, "Indicateur « essai » : champ « question » absent ou vide (texte en français attendu)"),
        ({"methode": "   "}, "Indicateur « essai » : champ « methode » absent ou vide"),
        ({"unite": 3}, "Indicateur « essai » : champ « unite » absent ou vide"),
        ({"mise_a_jour": None}, "Indicateur « essai » : champ « mise_a_jour » absent ou vide"),
        ({"precautions": []}, "Indicateur « essai » : champ « precautions » absent ou vide"),
        (
            {"sources": ["ok", ""]},
            "Indicateur « essai » : champ « sources » : chaque élément doit être un texte non vide",
        ),
        ({"precaution": ["faute de frappe"]}, "Indicateur « essai » : champ inconnu « precaution »"),
        (
            {"parametres": {"seuil": True}},
            "Indicateur « essai » : champ « parametres » : « seuil » doit être un nombre",
        ),
        ({"parametres": {"seuil": -1}}, "« seuil » doit être un nombre positif"),
        ({"parametres": [50]}, "champ « parametres » : dictionnaire nom → valeur attendu"),
        (
            {"methode": "Au moins {seuil} taxons."},
            "Indicateur « essai » : champ « methode » : paramètre « seuil » non déclaré dans « parametres »",
        ),
        ({"code": "Part-Validees"}, "Indicateur n° 1 : champ « code » absent ou invalide (« Part-Validees »"),
        ({"code": None}, "Indicateur n° 1 : champ « code » absent ou invalide"),
    ],
)
def test_a_wrong_declaration_names_the_indicator_and_the_field(changes, expected):
    assert expected in _error([_valid_entry(**changes)])


def test_a_duplicate_code_is_refused():
    assert _error([_valid_entry(), _valid_entry(titre="Autre")]) == "Indicateur « essai » : code déclaré deux fois."


def test_the_file_itself_must_be_a_list_of_indicators(tmp_path):
    assert "la clé « indicateurs » (une liste) est absente" in _error_of({"indicators": []})
    assert "aucun indicateur déclaré" in _error_of({"indicateurs": []})
    assert "clé inconnue « indicatuers »" in _error_of({"indicateurs": [_valid_entry()], "indicatuers": []})
    broken = tmp_path / "indicators.yaml"
    broken.write_text("indicateurs: [\n", encoding="utf-8")
    with pytest.raises(indicators.DeclarationError, match="YAML invalide"):
        indicators.load(broken)
    with pytest.raises(indicators.DeclarationError, match="illisibles"):
        indicators.load(tmp_path / "absent.yaml")


def _error_of(document) -> str:
    with pytest.raises(indicators.DeclarationError) as err:
        indicators.parse(document)
    return str(err.value)


def test_every_shipped_indicator_passes_the_checks_again_after_a_round_trip(tmp_path):
    # the shipped file, with one indicator broken, is refused: the checks run on the real entries
    data = yaml.safe_load(DECLARATIONS.read_text(encoding="utf-8"))
    assert len(indicators.parse(data)) == len(indicators.load())
    broken = copy.deepcopy(data)
    entry = next(e for e in broken["indicateurs"] if e["code"] == "eee_front")
    del entry["question"]
    path = tmp_path / "indicators.yaml"
    path.write_text(yaml.safe_dump(broken, allow_unicode=True), encoding="utf-8")
    with pytest.raises(indicators.DeclarationError, match=r"Indicateur « eee_front » : champ « question » absent"):
        indicators.load(path)


# --- small counts of sensitive taxa ------------------------------------------------------------------


@pytest.mark.parametrize(
    "sensitive, threshold, secret",
    [
        (0, 5, False),  # no sensitive observation: nothing to hide
        (1, 5, True),
        (4, 5, True),
        (5, 5, False),  # the threshold itself is enough to be published
        (6, 5, False),
        (None, 5, False),
        (1, 1, False),  # threshold 1: nothing is ever suppressed
        (1, 0, False),
        (9, 10, True),
    ],
)
def test_a_cell_is_secret_only_with_some_but_fewer_sensitive_observations_than_the_threshold(
    sensitive, threshold, secret
):
    assert indicators.suppressed(sensitive, threshold) is secret


def test_the_edition_is_named_in_french():
    assert indicators.edition_label("courante") == "Édition courante"
    assert indicators.edition_label(None) == "Édition courante"
    assert indicators.edition_label("2025") == "Édition 2025 (figée)"
    assert indicators.edition_label(2024) == "Édition 2024 (figée)"
    with pytest.raises(ValueError, match="Édition inconnue : « 25 »"):
        indicators.edition_label("25")


# --- the CSV download --------------------------------------------------------------------------------

COLUMNS = ["annee", "departement", "groupe", "cle", "libelle", "valeur", "effectif", "secret"]


def _rows():
    return [
        {"annee": 2023, "departement": "21", "groupe": "Oiseaux", "valeur": 1234.0, "effectif": 1234, "secret": False},
        {"annee": 2024, "departement": "25", "groupe": "Mammifères", "valeur": 12.345, "effectif": 8, "secret": False},
        {"annee": 2024, "departement": "39", "groupe": "Mammifères", "valeur": None, "effectif": None, "secret": True},
        {"annee": None, "cle": "producteur:x", "libelle": '=HYPERLINK("http://exemple.invalid")', "valeur": -4.5},
    ]


def _split(text: str) -> tuple[list[str], list[list[str]]]:
    assert text.startswith(csvsafe.BOM)
    lines = text[len(csvsafe.BOM) :].split("\r\n")
    assert lines[-1] == ""  # every line ends with CRLF
    comments = [line for line in lines if line.startswith("# ")]
    body = [line for line in lines[:-1] if not line.startswith("# ")]
    assert lines[: len(comments)] == comments  # the comment lines come first
    return comments, list(csv.reader(io.StringIO("\n".join(body)), delimiter=";"))


def test_the_csv_starts_with_what_the_figures_mean_then_french_column_labels():
    ind = indicators.get("couverture_mailles")
    text = indicators.csv_with_header(ind, indicators.edition_label("2025"), _rows(), COLUMNS)
    comments, table = _split(text)
    assert comments[:5] == [
        f"# Indicateur : {ind.titre}",
        "# Unité : %",
        "# Méthode : " + ind.methode.replace(" ; ", ", "),
        "# Paramètres : seuil_taxons = 50, periode_annees = 10",
        "# Édition : Édition 2025 (figée)",
    ]
    assert [c for c in comments if c.startswith("# Source : ")] == [
        "# Source : " + s.replace(" ; ", ", ") for s in ind.sources
    ]
    assert len([c for c in comments if c.startswith("# Précaution : ")]) == len(ind.precautions)
    assert comments[-1] == "# Licence : Licence Ouverte 2.0"
    assert table[0] == [
        "Année",
        "Département",
        "Groupe taxonomique",
        "Maille de 10 km",  # what « cle » holds for this indicator
        "Libellé",
        "Valeur (%)",
        "Effectif",
        "Secret",
    ]
    assert table[1] == ["2023", "21", "Oiseaux", "", "", "1234", "1234", "non"]
    assert table[2] == ["2024", "25", "Mammifères", "", "", "12,35", "8", "non"]  # French decimal comma
    assert table[3] == ["2024", "39", "Mammifères", "", "", "", "", "oui"]  # secret: no value, no count


def test_the_key_column_is_named_by_what_it_holds():
    labels = {code: ind.cle_libelle for code, ind in indicators.load().items()}
    assert labels["part_validees"] == "Niveau de validation"
    assert labels["eee_mailles"] == "Taxon (CD_REF)"
    assert labels["ca_jdd_producteur"] == "Producteur ou objectif"
    assert labels["observations"] == "Clé"  # no other breakdown: the column stays empty
    assert indicators.get("part_validees").as_dict()["cle_libelle"] == "Niveau de validation"


def test_the_csv_cannot_run_a_formula_and_keeps_negative_numbers():
    text = indicators.csv_with_header(indicators.get("ca_jdd_producteur"), "Édition courante", _rows(), COLUMNS)
    _, table = _split(text)
    assert table[0][3] == "Producteur ou objectif"
    assert table[4][4] == '\'=HYPERLINK("http://exemple.invalid")'
    assert table[4][5] == "-4,5"  # a number, not a formula
    assert table[4][3] == "producteur:x"


def test_a_secret_cell_never_leaks_its_value_even_if_the_row_carries_one():
    rows = [{"annee": 2024, "valeur": 3.0, "effectif": 3, "secret": True}]
    _, table = _split(indicators.csv_with_header(indicators.get("taxons"), "Édition courante", rows, COLUMNS))
    assert table[1] == ["2024", "", "", "", "", "", "", "oui"]


def test_a_separator_or_quote_in_a_declared_text_keeps_each_comment_line_whole():
    ind = indicators.Indicator(
        code="essai",
        theme="qualite",
        titre='Titre "cité" ; avec séparateur',
        question="Pourquoi ?",
        methode="Première phrase ; deuxième phrase.",
        unite="jours",
        sources=("Source A ; B",),
        ventilations=("region",),
        graphique="serie",
        precautions=("=1+1 n'est pas une formule ici",),
        mise_a_jour="Jamais.",
    )
    text = indicators.csv_with_header(ind, "Édition courante", [{"annee": 2020, "valeur": 7}], [("annee", "An")])
    comments, table = _split(text)
    assert comments[0] == '# Indicateur : Titre "cité", avec séparateur'
    assert comments[2] == "# Méthode : Première phrase, deuxième phrase."
    assert "# Source : Source A, B" in comments
    assert "# Précaution : =1+1 n'est pas une formule ici" in comments  # behind « # », never first in a cell
    assert not any(line.startswith("Paramètres") for line in comments)
    assert table == [["An"], ["2020"]]  # (key, label) pairs name columns as given


def test_a_reader_that_skips_comment_lines_gets_the_table():
    text = indicators.csv_with_header(indicators.get("observations"), "Édition courante", _rows(), COLUMNS)
    body = "".join(line for line in io.StringIO(text.lstrip(csvsafe.BOM), newline="") if not line.startswith("#"))
    rows = list(csv.DictReader(io.StringIO(body, newline=""), delimiter=";"))
    assert len(rows) == 4 and rows[0]["Valeur (observations)"] == "1234" and rows[2]["Secret"] == "oui"


# --- the regional list of invasive alien species -----------------------------------------------------


def test_the_shipped_eee_list_names_its_source_and_date_and_exists_in_the_taxref_extract():
    taxa = indicators.eee_list()
    assert {t.cd_nom: t.nom_scientifique for t in taxa} == {
        117096: "Reynoutria japonica",
        81569: "Ambrosia artemisiifolia",
        77390: "Trachemys scripta",
    }
    for taxon in taxa:
        assert "non officielle" in taxon.source
        assert dt.date.fromisoformat(taxon.date) <= dt.date.today()
        assert taxon.groupe and taxon.categorie
    extract = {r.cd_nom: r for r in iter_taxref(TAXREF_EXTRACT)}
    for taxon in taxa:
        record = extract[taxon.cd_nom]
        assert record.lb_nom == taxon.nom_scientifique and record.group2_inpn == taxon.groupe
    # the union with TAXREF's « J »: the list adds what TAXREF does not mark as invasive
    assert extract[77390].fr == "I" and extract[117096].fr == extract[81569].fr == "J"
    assert indicators.eee_list_path().resolve() == (EEE_DIR / "liste_eee_bfc.csv").resolve()


def test_the_eee_readme_says_the_list_is_illustrative_dated_and_what_is_missing():
    readme = " ".join((EEE_DIR / "README.md").read_text(encoding="utf-8").split())
    assert "liste illustrative assemblée à la main" in readme and "pas une liste officielle" in readme
    assert "CBNFC-ORI" in readme and "DREAL" in readme  # what production loads instead
    assert indicators.eee_list()[0].date in readme
    assert "Procambarus clarkii" in readme and "aucun code n'a été inventé" in readme


def test_the_eee_list_is_found_through_the_schemas_folder_of_an_installed_package(tmp_path, monkeypatch):
    # an installed package (wheel, Docker image) reads schemas/ from SINP_SCHEMAS_DIR or its package data
    copy_dir = tmp_path / "schemas"
    shutil.copytree(ROOT / "schemas", copy_dir, ignore=shutil.ignore_patterns("__pycache__"))
    lines = (copy_dir / "referentiels" / "eee" / "liste_eee_bfc.csv").read_text(encoding="utf-8").splitlines()
    (copy_dir / "referentiels" / "eee" / "liste_eee_bfc.csv").write_text("\n".join(lines[:2]) + "\n", "utf-8")
    monkeypatch.setenv("SINP_SCHEMAS_DIR", str(copy_dir))
    assert indicators.eee_list_path() == copy_dir / "referentiels" / "eee" / "liste_eee_bfc.csv"
    assert [t.cd_nom for t in indicators.eee_list()] == [117096]
    assert len(indicators.load()) == len(indicators.load(DECLARATIONS))


HEADER = "cd_nom;nom_scientifique;groupe;categorie;source;date"


def test_an_eee_list_is_read_with_a_bom_crlf_quoted_cells_and_extra_columns():
    data = (
        "\ufeffCD_NOM;Nom_Scientifique;groupe;categorie;source;date;remarque\r\n"
        '117096;Reynoutria japonica;Angiospermes;EEE avérée;"CBNFC-ORI ; liste 2024";2024-06-30;x\r\n'
        "\r\n"
        "77390;Trachemys scripta;Reptiles;;Règlement (UE) 2016/1141;2016-07-13;\r\n"
    ).encode("utf-8")
    taxa = indicators.read_eee_list(data)
    assert taxa[0] == indicators.EeeTaxon(
        117096, "Reynoutria japonica", "Angiospermes", "EEE avérée", "CBNFC-ORI ; liste 2024", "2024-06-30"
    )
    assert taxa[1].categorie == "" and taxa[1].date == "2016-07-13"


@pytest.mark.parametrize(
    "data, expected",
    [
        ("", "La liste des EEE est vide."),
        ("cd_nom;nom_scientifique;source\n1;X;S\n", "Liste des EEE : colonnes absentes : groupe, categorie, date"),
        (HEADER + "\nabc;X;G;C;S;2024-01-01\n", "Liste des EEE, ligne 2 : cd_nom « abc » n'est pas un code TAXREF."),
        (HEADER + "\n1;X;G;C;S;2024-01-01\n1;Y;G;C;S;2024-01-01\n", "Liste des EEE, ligne 3 : cd_nom 1 déjà listé."),
        (HEADER + "\n1;X;G;C;;2024-01-01\n", "Liste des EEE, ligne 2 : colonne « source » vide."),
        (HEADER + "\n1;X;G;C;S;\n", "Liste des EEE, ligne 2 : colonne « date » vide."),
        (HEADER + "\n1;X;G;C;S;31/12/2024\n", "ligne 2 : date « 31/12/2024 » invalide (format AAAA-MM-JJ attendu)."),
        (HEADER + "\n1;X;G;C;S\n", "Liste des EEE, ligne 2 : 5 champs au lieu de 6."),
        (HEADER + "\n", "La liste des EEE ne contient aucun taxon."),
        (b"cd_nom;nom\xe9\n", "n'est pas en UTF-8"),
    ],
)
def test_a_malformed_eee_list_is_refused_naming_the_line(data, expected):
    with pytest.raises(indicators.EeeListError) as err:
        indicators.read_eee_list(data)
    assert expected in str(err.value)


def test_a_missing_eee_list_file_is_a_clear_error(tmp_path):
    with pytest.raises(indicators.EeeListError, match="Liste régionale des EEE illisible"):
        indicators.eee_list(tmp_path / "absente.csv")
