"""Protection of occurrence data (SINP_STANDARDS §5.4–5.6): the GINCO blurring matrix, the fields
each restitution layer hides, the sensitivity referential (reading and matching), the département
of an observation, chefs de file scopes and the validation vocabulary. Pure Python, no database.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools

import pytest

from ckanext.sinp.domain import protection
from ckanext.sinp.domain.occtax import columns
from ckanext.sinp.domain.protection import (
    AUCUNE,
    COMMUNE,
    DEPARTEMENT,
    MAILLE,
    PRECISE,
    Observation,
    RuleFileError,
    Scope,
    SensitivityRule,
)
from tests.conftest import ROOT

SHIPPED_RULES = ROOT / "schemas" / "referentiels" / "sensibilite" / "sensibilite_bfc.csv"
BFC_DEPARTEMENTS = {"21", "25", "39", "58", "70", "71", "89", "90"}
TODAY = dt.date(2026, 11, 28)
LAYERS = (PRECISE, COMMUNE, MAILLE, DEPARTEMENT, AUCUNE)

# --- the GINCO matrix, written from the standard's table (§5.6), not from the module -------------

# sensiNiveau → layer at best
SENSI_LAYER = {"0": PRECISE, "1": COMMUNE, "2": MAILLE, "3": DEPARTEMENT, "4": AUCUNE}
# diffusionNiveauPrecision of private data → layer at best (empty = 0 "Standard" = commune)
PRIVATE_LAYER = {
    "5": PRECISE,
    "1": COMMUNE,
    "0": COMMUNE,
    "": COMMUNE,
    None: COMMUNE,
    "2": MAILLE,
    "3": DEPARTEMENT,
    "4": AUCUNE,
}
PUBLIC_ORIGINS = ("Pu", "Re", "Ac")
PRIVATE_ORIGINS = ("Pr", "NSP", "", None)  # NSP and empty are private by precaution
DIFFUSIONS = ("0", "1", "2", "3", "4", "5", "", None)


# --- 1. blurring matrix ------------------------------------------------------------------------------


@pytest.mark.parametrize("origin", PUBLIC_ORIGINS)
@pytest.mark.parametrize("sensi, expected", sorted(SENSI_LAYER.items()))
@pytest.mark.parametrize("diffusion", DIFFUSIONS)
def test_public_data_follows_sensitivity_only(origin, sensi, expected, diffusion):
    # public data: the producer's diffusion wish cannot blur it; only the sensitivity counts
    assert protection.public_layer(sensi, origin, diffusion) == expected


@pytest.mark.parametrize("sensi, expected", [(0, PRECISE), (1, COMMUNE), (2, MAILLE), (3, DEPARTEMENT), (4, AUCUNE)])
def test_sensitivity_as_integer(sensi, expected):
    assert protection.public_layer(sensi, "Pu", None) == expected


@pytest.mark.parametrize(
    "diffusion, expected",
    [
        ("5", PRECISE),
        ("0", COMMUNE),
        ("1", COMMUNE),
        ("", COMMUNE),
        (None, COMMUNE),
        ("2", MAILLE),
        ("3", DEPARTEMENT),
        ("4", AUCUNE),
    ],
)
def test_private_data_not_sensitive_follows_diffusion(diffusion, expected):
    assert protection.public_layer("0", "Pr", diffusion) == expected


@pytest.mark.parametrize("origin", PRIVATE_ORIGINS)
@pytest.mark.parametrize("sensi", sorted(SENSI_LAYER))
@pytest.mark.parametrize("diffusion", DIFFUSIONS)
def test_private_data_strongest_of_both_criteria(origin, sensi, diffusion):
    expected = max(SENSI_LAYER[sensi], PRIVATE_LAYER[diffusion])
    assert protection.public_layer(sensi, origin, diffusion) == expected


@pytest.mark.parametrize("origin", ("NSP", "", None))
def test_nsp_and_empty_origin_are_private(origin):
    assert protection.public_layer("0", origin, "3") == DEPARTEMENT
    assert protection.public_layer("0", origin, "4") == AUCUNE
    assert protection.public_layer("0", origin, None) == COMMUNE
    assert protection.public_layer("0", origin, "5") == PRECISE


@pytest.mark.parametrize(
    "sensi, diffusion, expected",
    [
        ("1", "3", DEPARTEMENT),  # the private criterion is stronger
        ("3", "5", DEPARTEMENT),  # the sensitivity criterion is stronger
        ("2", "1", MAILLE),
        ("1", "2", MAILLE),
        ("2", "4", AUCUNE),
        ("4", "5", AUCUNE),
        ("0", "5", PRECISE),
        ("1", "5", COMMUNE),
    ],
)
def test_strongest_of_both_wins_examples(sensi, diffusion, expected):
    assert protection.public_layer(sensi, "Pr", diffusion) == expected


@pytest.mark.parametrize("sensi", sorted(SENSI_LAYER))
@pytest.mark.parametrize("diffusion", DIFFUSIONS)
def test_layer_visibility_rules_of_the_ginco_note(sensi, diffusion):
    """The note's second formulation: C needs sensi ≤ 1 and diffusion ∈ {null,0,1,5}; M needs
    sensi ≤ 2 and diffusion ∈ {null,0,1,2,5}; D needs sensi ≠ 4 and diffusion ≠ 4."""
    layer = protection.public_layer(sensi, "Pr", diffusion)
    d = diffusion or None
    assert (layer <= COMMUNE) == (int(sensi) <= 1 and d in (None, "0", "1", "5"))
    assert (layer <= MAILLE) == (int(sensi) <= 2 and d in (None, "0", "1", "2", "5"))
    assert (layer <= DEPARTEMENT) == (sensi != "4" and d != "4")


@pytest.mark.parametrize("sensi", (None, ""))
def test_missing_sensitivity_is_not_sensitive(sensi):
    assert protection.public_layer(sensi, "Pu", None) == PRECISE
    assert protection.public_layer(sensi, "Pr", "2") == MAILLE


@pytest.mark.parametrize("sensi", ("abc", "élevé", "2.5", "NSP", object()))
@pytest.mark.parametrize("origin, diffusion", [("Pu", None), ("Pr", "5"), ("Re", "0")])
def test_unreadable_sensitivity_protects(sensi, origin, diffusion):
    assert protection.public_layer(sensi, origin, diffusion) == AUCUNE


def test_sensitivity_out_of_range_is_clamped():
    assert protection.sensitivity_layer("9") == AUCUNE
    assert protection.sensitivity_layer(-1) == PRECISE
    assert protection.sensitivity_layer(" 3 ") == DEPARTEMENT


def test_unknown_private_diffusion_code_is_never_precise():
    assert protection.public_layer("0", "Pr", "9") >= COMMUNE
    assert protection.private_layer("Pr", " 2 ") == MAILLE


@pytest.mark.parametrize("layer", LAYERS)
def test_caller_layer(layer):
    assert protection.caller_layer(layer, full_access=True) == PRECISE
    assert protection.caller_layer(layer, full_access=False) == layer


def test_layer_codes_and_labels_cover_every_layer():
    assert set(protection.LAYER_CODES) == set(LAYERS)
    assert set(protection.LAYER_LABELS) == set(LAYERS)
    assert PRECISE < COMMUNE < MAILLE < DEPARTEMENT < AUCUNE


# --- 2. hidden fields -------------------------------------------------------------------------------

COMMUNE_HIDDEN = {
    "geometrie",
    "precisionGeometrie",
    "nomLieu",
    "commentaire",
    "altitudeMin",
    "altitudeMax",
    "profondeurMin",
    "profondeurMax",
}


def test_precise_hides_nothing():
    assert protection.hidden_fields(PRECISE) == frozenset()


def test_commune_hides_geometry_and_free_text():
    hidden = protection.hidden_fields(COMMUNE)
    assert COMMUNE_HIDDEN <= hidden
    # the commune layer still shows the commune, the grid cell and the département
    assert not hidden & {"codeCommune", "codeMaille", "codeDepartement"}


def test_maille_also_hides_commune_code():
    hidden = protection.hidden_fields(MAILLE)
    assert COMMUNE_HIDDEN | {"codeCommune"} <= hidden
    assert not hidden & {"codeMaille", "codeDepartement"}


def test_maille_also_hides_commune_name():
    # §5.6: "M also hides commune code/name"
    assert "nomCommune" in protection.hidden_fields(MAILLE)


def test_departement_also_hides_grid_code():
    hidden = protection.hidden_fields(DEPARTEMENT)
    assert COMMUNE_HIDDEN | {"codeCommune", "codeMaille"} <= hidden
    assert "codeDepartement" not in hidden


@pytest.mark.parametrize("finer, coarser", list(zip(LAYERS, LAYERS[1:])))
def test_hidden_fields_are_monotonic(finer, coarser):
    assert protection.hidden_fields(finer) <= protection.hidden_fields(coarser)


def test_each_blurring_layer_hides_strictly_more():
    for finer, coarser in zip((PRECISE, COMMUNE, MAILLE), (COMMUNE, MAILLE, DEPARTEMENT)):
        assert protection.hidden_fields(finer) < protection.hidden_fields(coarser)


def test_aucune_hides_at_least_what_departement_hides():
    assert protection.hidden_fields(DEPARTEMENT) <= protection.hidden_fields(AUCUNE)


def test_hidden_fields_are_standard_column_names():
    known = set(columns.by_name())
    for layer in LAYERS:
        assert protection.hidden_fields(layer) <= known, protection.hidden_fields(layer) - known


def test_never_hides_the_taxon_or_dates():
    for layer in LAYERS:
        assert not protection.hidden_fields(layer) & {"cdNom", "nomCite", "dateDebut", "dateFin"}


# --- 3. reading a sensitivity referential ----------------------------------------------------------

HEADER = "CD_NOM;NOM_CITE;CD_SENSIBILITE;DUREE;CD_DEP;DATE_MIN;DATE_MAX;STATUT_BIOLOGIQUE;COMPORTEMENT;AUTRE;LISTE"
GOOD_ROW = "2514;Ciconia nigra;2;10;21;;;3;;site de nidification;Bourgogne 2016"


def rules_file(*rows: str, header: str = HEADER) -> str:
    return "\n".join((header,) + rows) + "\n"


def read_error(data) -> str:
    with pytest.raises(RuleFileError) as info:
        protection.read_rules(data)
    assert isinstance(info.value, ValueError)
    return str(info.value)


def test_shipped_referential_reads():
    data = SHIPPED_RULES.read_bytes()
    data_lines = [line for line in data.decode("utf-8-sig").splitlines()[1:] if line.strip()]
    rules = protection.read_rules(data)
    assert len(rules) == len(data_lines) == 104
    assert {r.niveau for r in rules} <= {0, 1, 2, 3, 4}
    assert {r.departement for r in rules} == BFC_DEPARTEMENTS
    assert all(isinstance(r.cd_nom, int) for r in rules)


def test_shipped_referential_content():
    rules = protection.read_rules(SHIPPED_RULES.read_bytes())
    myotis = [r for r in rules if r.cd_nom == 195005]
    assert len(myotis) == 8
    assert {(r.niveau, r.duree, r.statuts_bio, r.autre) for r in myotis} == {(2, 20, ("3",), "gîtes")}
    euphydryas = [r for r in rules if r.cd_nom == 53856]
    assert {(r.niveau, r.duree) for r in euphydryas} == {(1, None)}
    assert all(r.date_min is None and r.date_max is None and r.comportements == () for r in rules)


def test_shipped_referential_applies_to_a_bat_roost():
    rules = protection.read_rules(SHIPPED_RULES.read_bytes())
    myotis_myotis = Observation(
        lineage=frozenset({60418, 195005, 186233}), date_debut=dt.date(2020, 6, 1), departement="21", statut_bio="3"
    )
    level, alerts = protection.sensitivity(rules, myotis_myotis, TODAY)
    assert level == 2
    assert alerts == ["condition à vérifier : gîtes"]
    hibernating = dataclasses.replace(myotis_myotis, statut_bio="4")
    assert protection.sensitivity(rules, hibernating, TODAY) == (0, [])


def test_full_row_is_read():
    rules = protection.read_rules(rules_file("195005;Myotis;3;20;25;04-01;07-31;3|4;7|9;gîtes;Touroult 2016"))
    assert rules == [
        SensitivityRule(
            cd_nom=195005,
            niveau=3,
            nom_cite="Myotis",
            duree=20,
            departement="25",
            date_min="04-01",
            date_max="07-31",
            statuts_bio=("3", "4"),
            comportements=("7", "9"),
            autre="gîtes",
            liste="Touroult 2016",
        )
    ]


def test_empty_optional_values():
    (rule,) = protection.read_rules(rules_file("60612;Lynx lynx;1;;;;;;;;"))
    assert rule == SensitivityRule(cd_nom=60612, niveau=1, nom_cite="Lynx lynx")


def test_only_required_columns():
    (rule,) = protection.read_rules("CD_NOM;CD_SENSIBILITE\n60577;2\n")
    assert (rule.cd_nom, rule.niveau, rule.duree, rule.departement) == (60577, 2, None, None)


def test_geonature_style_header():
    data = (
        "CD_NOM,NOM_CITE,CD_SENSIBILITE,DUREE,CD_DEPT,AUTRE,STATUT_BIOLOGIQUE,COMPORTEMENT,PERIMETRE,"
        "CD_DOC\n"
        '2514,Ciconia nigra,2,10,21,"site de nidification, aire",3,,Département,161372\n'
        "60612,Lynx lynx,2,1,1,,,,Département,161372\n"
    )
    rules = protection.read_rules(("\ufeff" + data).encode("utf-8"))
    assert [(r.cd_nom, r.niveau, r.duree, r.departement, r.autre, r.statuts_bio) for r in rules] == [
        (2514, 2, 10, "21", "site de nidification, aire", ("3",)),
        (60612, 2, 1, "01", "", ()),
    ]


def test_bom_with_semicolons_and_crlf():
    data = ("\ufeff" + HEADER + "\r\n" + GOOD_ROW + "\r\n").encode("utf-8")
    (rule,) = protection.read_rules(data)
    assert rule.cd_nom == 2514 and rule.liste == "Bourgogne 2016"


def test_text_input_and_lowercase_header():
    (rule,) = protection.read_rules("cd_nom;cd_sensibilite;cd_dept\n2514;3;89\n")
    assert (rule.cd_nom, rule.niveau, rule.departement) == (2514, 3, "89")


def test_old_national_header_aliases():
    data = (
        "cd_nom;nom_cite;codage;duree;perimetre;cd_sig;date_min;date_max;cd_occ_statut_biologique;autre\n"
        "2660;Pandion haliaetus;2;10;Département;INSEED58;;;3;site de nidification\n"
    )
    (rule,) = protection.read_rules(data)
    assert (rule.niveau, rule.departement, rule.statuts_bio) == (2, "58", ("3",))


def test_overseas_departement_codes():
    rules = protection.read_rules("CD_NOM;CD_SENSIBILITE;CD_DEP\n1;1;D3\n2;1;D4\n3;1;2a\n")
    assert [r.departement for r in rules] == ["973", "974", "2A"]


def test_extra_columns_are_ignored():
    (rule,) = protection.read_rules("CD_NOM;FOO;CD_SENSIBILITE;BAR\n2514;x;2;y\n")
    assert rule == SensitivityRule(cd_nom=2514, niveau=2)


def test_blank_lines_are_skipped_and_counted():
    rules = protection.read_rules(rules_file(GOOD_ROW, "", ";;;;;;;;;;", GOOD_ROW))
    assert len(rules) == 2
    message = read_error(rules_file("", "x;;2;;;;;;;;"))
    assert "Ligne 3" in message


def test_multiple_codes_are_deduplicated_and_ordered():
    (rule,) = protection.read_rules("CD_NOM;CD_SENSIBILITE;STATUT_BIOLOGIQUE;COMPORTEMENT\n1;2;13|3|3;9|7\n")
    assert rule.statuts_bio == ("3", "13")
    assert rule.comportements == ("7", "9")


@pytest.mark.parametrize("data", ["", "   \n\n", b"", "\ufeff", b"\xef\xbb\xbf\n"])
def test_error_empty_file(data):
    message = read_error(data)
    assert "vide" in message


def test_error_header_only():
    assert "aucune règle" in read_error(HEADER + "\n")


def test_error_missing_cd_nom_column():
    message = read_error("TAXON;NOM_CITE;CD_SENSIBILITE\n2514;Ciconia nigra;2\n")
    assert "CD_NOM" in message
    assert "obligatoires absentes" in message
    assert "TAXON" in message  # names the columns it read


def test_error_missing_level_column():
    message = read_error("CD_NOM;NOM_CITE\n2514;Ciconia nigra\n")
    assert "CD_SENSIBILITE" in message


@pytest.mark.parametrize(
    "row, column, value",
    [
        ("Ciconia;Ciconia nigra;2;10;21;;;3;;;", "CD_NOM", "Ciconia"),
        (";Ciconia nigra;2;10;21;;;3;;;", "CD_NOM", ""),
        ("2514.5;Ciconia nigra;2;10;21;;;3;;;", "CD_NOM", "2514.5"),
        ("2514;Ciconia nigra;7;10;21;;;3;;;", "CD_SENSIBILITE", "7"),
        ("2514;Ciconia nigra;;10;21;;;3;;;", "CD_SENSIBILITE", ""),
        ("2514;Ciconia nigra;-1;10;21;;;3;;;", "CD_SENSIBILITE", "-1"),
        ("2514;Ciconia nigra;2;dix;21;;;3;;;", "DUREE", "dix"),
        ("2514;Ciconia nigra;2;-5;21;;;3;;;", "DUREE", "-5"),
        ("2514;Ciconia nigra;2;10;21;13-40;12-31;3;;;", "DATE_MIN", "13-40"),
        ("2514;Ciconia nigra;2;10;21;04-01;02-30;3;;;", "DATE_MAX", "02-30"),
        ("2514;Ciconia nigra;2;10;21;1er avril;07-31;3;;;", "DATE_MIN", "1er avril"),
        ("2514;Ciconia nigra;2;10;21;2024-04-01;07-31;3;;;", "DATE_MIN", "2024-04-01"),
        ("2514;Ciconia nigra;2;10;21;;;99;;;", "STATUT_BIOLOGIQUE", "99"),
        ("2514;Ciconia nigra;2;10;21;;;3|Reproduction;;;", "STATUT_BIOLOGIQUE", "Reproduction"),
        ("2514;Ciconia nigra;2;10;21;;;3;Swarming;;", "COMPORTEMENT", "Swarming"),
    ],
)
def test_error_names_line_column_and_value(row, column, value):
    message = read_error(rules_file(GOOD_ROW, row))
    assert "Ligne 3" in message
    assert f"colonne {column}" in message
    assert f"« {value} »" in message


@pytest.mark.parametrize("date_min, date_max", [("04-01", ""), ("", "07-31")])
def test_error_date_min_without_date_max(date_min, date_max):
    message = read_error(rules_file(GOOD_ROW, f"2514;Ciconia nigra;2;10;21;{date_min};{date_max};3;;;"))
    assert "Ligne 3" in message
    assert "DATE_MIN" in message and "DATE_MAX" in message


@pytest.mark.parametrize("row", ["2514;Ciconia nigra;2;10;21;;;3;;", "2514;Ciconia nigra;2;10;21;;;3;;;;x"])
def test_error_ragged_row(row):
    message = read_error(rules_file(GOOD_ROW, row))
    assert "Ligne 3" in message
    assert "champs au lieu de 11" in message


def test_error_latin1_bytes():
    data = rules_file(GOOD_ROW, "94041;Sabot de Vénus;1;;21;;;;;;").encode("latin-1")
    message = read_error(data)
    assert "UTF-8" in message
    assert str(data.index(b"\xe9")) in message  # where the bad byte is


def test_error_is_reported_for_the_first_bad_line():
    message = read_error(rules_file(GOOD_ROW, GOOD_ROW, "x;;2;;;;;;;;", "y;;9;;;;;;;;"))
    assert message.startswith("Ligne 4, colonne CD_NOM")


# --- 4. matching -----------------------------------------------------------------------------------

GENUS, SPECIES, OTHER = 195005, 60418, 60577  # Myotis, Myotis myotis, Canis lupus
MYOTIS_MYOTIS = frozenset({SPECIES, GENUS, 9999})  # observed name, genus, family


def obs(**kw) -> Observation:
    kw.setdefault("lineage", MYOTIS_MYOTIS)
    kw.setdefault("date_debut", dt.date(2024, 5, 15))
    kw.setdefault("date_fin", kw["date_debut"])
    return Observation(**kw)


def rule(**kw) -> SensitivityRule:
    kw.setdefault("cd_nom", GENUS)
    kw.setdefault("niveau", 2)
    return SensitivityRule(**kw)


def applies(r, o):
    return protection.rule_applies(r, o, TODAY)


def test_rule_on_genus_applies_to_species():
    assert applies(rule(), obs()) == (True, [])


def test_rule_on_species_applies_to_the_species_itself():
    assert applies(rule(cd_nom=SPECIES), obs()) == (True, [])


def test_rule_does_not_apply_to_unrelated_taxon():
    assert applies(rule(), obs(lineage=frozenset({OTHER, 186240}))) == (False, [])
    # nor upwards: a rule on a species does not apply to an observation of its genus
    assert applies(rule(cd_nom=SPECIES), obs(lineage=frozenset({GENUS, 9999}))) == (False, [])


@pytest.mark.parametrize("year, expected", [(2026, True), (2017, True), (2016, True), (2015, False), (1990, False)])
def test_duration(year, expected):
    # applies when the observation year ≥ current year − duree (2026 − 10 = 2016)
    o = obs(date_debut=dt.date(year, 6, 1))
    assert applies(rule(duree=10), o)[0] is expected


def test_duration_uses_the_end_date():
    o = obs(date_debut=dt.date(2015, 12, 20), date_fin=dt.date(2016, 1, 5))
    assert applies(rule(duree=10), o)[0] is True


def test_duration_zero_is_the_current_year_only():
    assert applies(rule(duree=0), obs(date_debut=dt.date(2026, 1, 1)))[0] is True
    assert applies(rule(duree=0), obs(date_debut=dt.date(2025, 12, 31)))[0] is False


def test_no_duration_is_forever():
    assert applies(rule(duree=None), obs(date_debut=dt.date(1850, 1, 1)))[0] is True


def test_duration_without_date_applies_by_precaution():
    assert applies(rule(duree=1), obs(date_debut=None, date_fin=None))[0] is True


def test_departement_match_and_mismatch():
    assert applies(rule(departement="21"), obs(departement="21")) == (True, [])
    assert applies(rule(departement="21"), obs(departement="25")) == (False, [])
    assert applies(rule(departement=None), obs(departement="25")) == (True, [])


def test_unknown_departement_applies_with_alert():
    ok, alerts = applies(rule(departement="21"), obs(departement=None))
    assert ok is True
    assert len(alerts) == 1 and "département" in alerts[0]


@pytest.mark.parametrize(
    "day, expected",
    [
        (dt.date(2024, 5, 15), True),
        (dt.date(2024, 4, 1), True),  # bounds included
        (dt.date(2024, 7, 31), True),
        (dt.date(2024, 3, 31), False),
        (dt.date(2024, 8, 1), False),
        (dt.date(2024, 9, 1), False),
    ],
)
def test_period(day, expected):
    assert applies(rule(date_min="04-01", date_max="07-31"), obs(date_debut=day))[0] is expected


@pytest.mark.parametrize(
    "day, expected",
    [
        (dt.date(2024, 12, 25), True),
        (dt.date(2025, 1, 10), True),
        (dt.date(2024, 11, 1), True),
        (dt.date(2025, 2, 28), True),
        (dt.date(2024, 6, 1), False),
        (dt.date(2024, 10, 31), False),
        (dt.date(2025, 3, 1), False),
    ],
)
def test_period_spanning_new_year(day, expected):
    assert applies(rule(date_min="11-01", date_max="02-28"), obs(date_debut=day))[0] is expected


def test_period_read_from_file_applies():
    (r,) = protection.read_rules(f"CD_NOM;CD_SENSIBILITE;DATE_MIN;DATE_MAX\n{GENUS};3;11-01;02-28\n")
    assert applies(r, obs(date_debut=dt.date(2024, 12, 25))) == (True, [])
    assert applies(r, obs(date_debut=dt.date(2024, 6, 1))) == (False, [])


def test_status_criterion():
    r = rule(statuts_bio=("3",))
    assert applies(r, obs(statut_bio="3")) == (True, [])
    assert applies(r, obs(statut_bio="4")) == (False, [])


@pytest.mark.parametrize("status", [None, "", " ", "0", "1", "2"])
def test_unknown_status_applies_with_alert(status):
    ok, alerts = applies(rule(statuts_bio=("3",)), obs(statut_bio=status))
    assert ok is True
    assert len(alerts) == 1 and "statut biologique" in alerts[0]


def test_status_without_criterion_is_ignored():
    assert applies(rule(), obs(statut_bio="4")) == (True, [])
    assert applies(rule(), obs(statut_bio=None)) == (True, [])


def test_behaviour_criterion():
    r = rule(comportements=("7",))
    assert applies(r, obs(comportement="7")) == (True, [])
    assert applies(r, obs(comportement="9")) == (False, [])
    # "2" is Echouage, a real behaviour, not an unknown value
    assert applies(r, obs(comportement="2")) == (False, [])


@pytest.mark.parametrize("behaviour", [None, "", "0", "1"])
def test_unknown_behaviour_applies_with_alert(behaviour):
    ok, alerts = applies(rule(comportements=("7",)), obs(comportement=behaviour))
    assert ok is True
    assert len(alerts) == 1 and "comportement" in alerts[0]


def test_autre_applies_with_alert_containing_the_text():
    ok, alerts = applies(rule(autre="site de nidification"), obs())
    assert ok is True
    assert len(alerts) == 1 and "site de nidification" in alerts[0]


def test_autre_does_not_force_a_rule_that_does_not_match():
    assert applies(rule(autre="gîtes", departement="21"), obs(departement="58")) == (False, [])


def test_all_criteria_together_with_several_alerts():
    r = rule(
        departement="21",
        duree=20,
        date_min="04-01",
        date_max="07-31",
        statuts_bio=("3",),
        comportements=("7",),
        autre="gîtes",
    )
    ok, alerts = applies(r, obs(departement=None, statut_bio=None, comportement="0"))
    assert ok is True
    assert len(alerts) == 4
    assert any("département" in a for a in alerts)
    assert any("statut biologique" in a for a in alerts)
    assert any("comportement" in a for a in alerts)
    assert any("gîtes" in a for a in alerts)


def test_sensitivity_highest_level_wins_and_alerts_are_merged():
    rules = [
        rule(niveau=1, autre="gîtes"),
        rule(cd_nom=SPECIES, niveau=3, statuts_bio=("3",), autre="gîtes"),
        rule(niveau=2, departement="21", statuts_bio=("3", "4")),
        rule(cd_nom=OTHER, niveau=4),  # another taxon
        rule(niveau=4, departement="25"),  # another département
    ]
    level, alerts = protection.sensitivity(rules, obs(departement="21", statut_bio=None), TODAY)
    assert level == 3
    assert len(alerts) == len(set(alerts)) == 2
    assert any("gîtes" in a for a in alerts)
    assert any("statut biologique" in a for a in alerts)


def test_sensitivity_order_of_rules_does_not_matter():
    rules = [rule(niveau=1), rule(niveau=4, departement="21"), rule(niveau=2)]
    o = obs(departement="21")
    for perm in itertools.permutations(rules):
        assert protection.sensitivity(list(perm), o, TODAY) == (4, [])


def test_sensitivity_without_matching_rule():
    assert protection.sensitivity([], obs(), TODAY) == (0, [])
    assert protection.sensitivity([rule(cd_nom=OTHER, niveau=4)], obs(), TODAY) == (0, [])
    assert protection.sensitivity(iter([rule(duree=1)]), obs(date_debut=dt.date(2000, 1, 1)), TODAY) == (0, [])


def test_sensitivity_level_feeds_the_matrix():
    level, _ = protection.sensitivity([rule(niveau=3)], obs(), TODAY)
    assert protection.public_layer(level, "Pu", "5") == DEPARTEMENT


# --- 5. département of an observation -----------------------------------------------------------


@pytest.mark.parametrize(
    "code_departement, code_commune, expected",
    [
        ("21|58", "25056", "21"),  # codeDepartement wins, first value
        ("21", None, "21"),
        (" 58 |21", None, "58"),
        ("1", None, "01"),
        ("2a", None, "2A"),
        ("974", None, "974"),
        (None, "21231", "21"),
        ("", "21231|58194", "21"),
        ("  ", "25056", "25"),
        (None, "2A004", "2A"),
        (None, "2b033", "2B"),
        (None, "97411", "974"),
        (None, "97302", "973"),
        (None, "2123", None),
        (None, "212310", None),
        (None, "", None),
        (None, None, None),
        ("", "|21231", None),
    ],
)
def test_observation_departement(code_departement, code_commune, expected):
    assert protection.observation_departement(code_departement, code_commune) == expected


# --- 6. chef de file scope ----------------------------------------------------------------------------


def test_empty_scope_covers_everything():
    scope = Scope()
    assert scope.covers("Oiseaux", "21")
    assert scope.covers(None, None)
    assert scope.describe() == "tous groupes — tous départements"


def test_scope_with_groups_only():
    scope = Scope(groupes=("Mammifères", "Oiseaux"))
    assert scope.covers("Oiseaux", "90")
    assert scope.covers("Mammifères", None)
    assert not scope.covers("Insectes", "21")
    assert not scope.covers(None, "21")


def test_scope_with_departements_only():
    scope = Scope(departements=("21", "58"))
    assert scope.covers("Insectes", "58")
    assert scope.covers(None, "21")
    assert not scope.covers("Insectes", "25")
    assert not scope.covers("Insectes", None)


def test_scope_with_groups_and_departements():
    scope = Scope(groupes=("Oiseaux",), departements=("21",))
    assert scope.covers("Oiseaux", "21")
    assert not scope.covers("Oiseaux", "25")
    assert not scope.covers("Mammifères", "21")
    assert not scope.covers(None, "21")
    assert not scope.covers("Oiseaux", None)
    assert scope.describe() == "Oiseaux — 21"


# --- 7. validation -----------------------------------------------------------------------------------


def test_validation_levels():
    levels = protection.validation_levels()
    assert set(levels) == {"0", "1", "2", "3", "4", "5", "6"}
    assert levels["0"] == "En attente de validation"
    assert levels["2"] == "Probable"
    assert levels[protection.PENDING] == "En attente de validation"
    assert set(protection.MANUAL_LEVELS) <= set(levels)
    assert protection.DEFAULT_AUTO_LEVEL in levels


def test_validation_label():
    assert protection.validation_label(None) == "En attente de validation"
    assert protection.validation_label("") == "En attente de validation"
    assert protection.validation_label("1") == "Certain - très probable"
    assert protection.validation_label("9") == "9"


@pytest.mark.parametrize("previous, expected", [(None, "M"), ("", "M"), ("M", "M"), ("A", "C"), ("C", "C")])
def test_manual_type(previous, expected):
    assert protection.manual_type(previous) == expected
    assert expected in protection.VALIDATION_TYPES


def test_parse_criteria_default():
    assert protection.parse_criteria(None) == protection.DEFAULT_AUTO_CRITERIA
    assert protection.parse_criteria("") == protection.DEFAULT_AUTO_CRITERIA
    assert protection.parse_criteria("   ") == protection.DEFAULT_AUTO_CRITERIA
    assert set(protection.DEFAULT_AUTO_CRITERIA) <= set(protection.AUTO_CRITERIA)


def test_parse_criteria_subset():
    assert protection.parse_criteria("dans_territoire  date_plausible") == ("dans_territoire", "date_plausible")


def test_parse_criteria_unknown():
    with pytest.raises(ValueError) as info:
        protection.parse_criteria("date_plausible altitude")
    message = str(info.value)
    assert "inconnus" in message
    assert "altitude" in message
    assert "date_plausible" in message  # lists the known criteria
