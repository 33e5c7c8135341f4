"""The SINP nomenclatures: generated from the official data, complete, readable in French."""

from __future__ import annotations

import importlib.util
import json

import pytest

from ckanext.sinp.domain import nomenclatures
from ckanext.sinp.domain.nomenclatures import NomenclatureError
from tests.conftest import ROOT

NOMENCLATURES_DIR = ROOT / "schemas" / "nomenclatures"


def _generator():
    spec = importlib.util.spec_from_file_location("sinp_nomenclatures_generate", NOMENCLATURES_DIR / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _numbers(first, last):
    return [str(i) for i in range(first, last + 1)]


# Active codes of the lists used by the metadata standard 1.3.10 (SINP_STANDARDS.md §1.6).
METADATA_LISTS = {
    "VOLET_SINP": _numbers(1, 3),
    "NIVEAU_TERRITORIAL": _numbers(1, 7),
    "TYPE_FINANCEMENT": _numbers(1, 4),
    "CA_OBJECTIFS": _numbers(8, 11),
    "ROLE_ACTEUR": _numbers(1, 8),
    "TERRITOIRE": [
        "BLM",
        "CLI",
        "EPA",
        "GLP",
        "GUF",
        "HORSFR",
        "MAF",
        "METROP",
        "MTQ",
        "MYT",
        "NCL",
        "PYF",
        "REU",
        "SPM",
        "SUBANT",
        "TADL",
        "WLF",
    ],
    "DATA_TYP": _numbers(1, 5),
    "RESOURCE_TYP": _numbers(1, 2),
    "JDD_OBJECTIFS": [
        "1.1",
        "1.2",
        "1.3",
        "1.4",
        "1.5",
        "2.1",
        "2.2",
        "2.3",
        "2.4",
        "2.5",
        "3.1",
        "3.2",
        "3.3",
        "3.4",
        "3.5",
        "3.6",
        "3.7",
        "4.1",
        "4.2",
        "5.1",
        "5.2",
        "5.3",
        "5.4",
        "5.5",
        "6.1",
        "6.2",
        "6.3",
        "6.4",
        "7.1",
        "7.2",
    ],
    "METHO_RECUEIL": _numbers(1, 12),
    "TYPE_PROTOCOLE": _numbers(0, 4),
    "SAMPLING_PLAN_TYP": _numbers(1, 8),
    "SAMPLING_UNITS_TYP": _numbers(1, 6),
    "DS_PUBLIQUE": ["NSP", "Pr", "Pu"],
    "STATUT_SOURCE": ["Co", "Li", "NSP", "Te"],
}

# A few occurrence lists (§3.4) and the validation levels (§5.4).
OCCURRENCE_LISTS = {
    "STATUT_OBS": ["NSP", "No", "Pr"],
    "NAT_OBJ_GEO": ["In", "NSP", "St"],
    "DEE_FLOU": ["NON", "NSP", "OUI"],
    "TYP_DENBR": ["Ca", "Co", "Es", "NSP"],
    "SEXE": _numbers(0, 6),
    "STADE_VIE": _numbers(0, 27),
    "METH_OBS": _numbers(0, 27),
    "OCC_COMPORTEMENT": _numbers(0, 23),
    "STATUT_BIO": ["0", "1", "2", "3", "4", "5", "9", "13"],
    "SENSIBILITE": _numbers(0, 4),
    "NIV_PRECIS": _numbers(0, 5),
    "STATUT_VALID": _numbers(0, 6),
}


@pytest.mark.parametrize("mnemonic, codes", sorted({**METADATA_LISTS, **OCCURRENCE_LISTS}.items()))
def test_lists_have_the_codes_of_the_standard(mnemonic, codes):
    assert sorted(nomenclatures.get(mnemonic).codes()) == sorted(codes)


@pytest.mark.parametrize(
    "mnemonic, code, label",
    [
        ("ROLE_ACTEUR", "1", "Contact principal"),
        ("ROLE_ACTEUR", "8", "Point de contact pour les métadonnées"),
        ("TERRITOIRE", "METROP", "Métropole"),
        ("CA_OBJECTIFS", "8", "Inventaires et cartographie"),
        ("CA_OBJECTIFS", "11", "Multiples ou autres"),
        ("JDD_OBJECTIFS", "3.6", "Inventaire pour étude d'impact"),
        ("NIVEAU_TERRITORIAL", "5", "Régional terrestre, ou sous-région marine"),
        ("STATUT_VALID", "1", "Certain - très probable"),
        ("STATUT_VALID", "0", "En attente de validation"),
        ("DS_PUBLIQUE", "Pu", "Publique"),
    ],
)
def test_french_labels(mnemonic, code, label):
    assert nomenclatures.get(mnemonic).label_of(code) == label


def test_types_and_metadata_of_a_type():
    available = nomenclatures.types()
    assert available == sorted(available)
    assert set(METADATA_LISTS) | set(OCCURRENCE_LISTS) <= set(available)
    role = nomenclatures.get("ROLE_ACTEUR")
    assert (role.type, role.label) == ("ROLE_ACTEUR", "Role de l'Acteur")
    assert role.source == "pypnnomenclature 1.7.0, migrations/data/nomenclatures_inpn_data.sql"
    assert nomenclatures.get("DATA_TYP").default == "1"


def test_choices_have_the_shape_of_ckanext_scheming():
    choices = nomenclatures.get("TYPE_FINANCEMENT").choices()
    assert choices[0] == {"value": "1", "label": "Publique"}
    assert [c["value"] for c in choices] == ["1", "2", "3", "4"]
    assert len(nomenclatures.get("CA_OBJECTIFS").choices(active_only=False)) == 11


def test_check_accepts_valid_codes_and_integers():
    role = nomenclatures.get("ROLE_ACTEUR")
    role.check("1")
    role.check(1)
    assert role.is_valid(8) and "2" in role
    assert not role.is_valid("01") and role.label_of("12") is None


def test_unknown_code_message_is_french_and_lists_the_codes():
    with pytest.raises(NomenclatureError) as err:
        nomenclatures.get("ROLE_ACTEUR").check("12")
    message = str(err.value)
    assert message.startswith(
        "Le code « 12 » n'existe pas dans la nomenclature "
        "« Role de l'Acteur » (ROLE_ACTEUR). Codes possibles : "
        "1 (Contact principal), 2 (Financeur), "
    )
    assert "8 (Point de contact pour les métadonnées)." in message
    assert isinstance(err.value, ValueError)


def test_long_lists_are_cut_short_in_messages():
    with pytest.raises(NomenclatureError, match=r"… \(133 codes au total\)\.$") as err:
        nomenclatures.get("TECHNIQUE_OBS").check("999")
    assert len(str(err.value)) < 600


def test_empty_code_and_unknown_type():
    with pytest.raises(NomenclatureError, match="Aucun code n'est indiqué pour la nomenclature"):
        nomenclatures.get("TERRITOIRE").check("")
    with pytest.raises(KeyError) as err:
        nomenclatures.get("ROLE_ACTOR")
    assert str(err.value).startswith("Nomenclature inconnue : « ROLE_ACTOR ». Nomenclatures disponibles : ")


def test_frozen_ca_objectives_are_readable_but_not_accepted():
    objectives = nomenclatures.get("CA_OBJECTIFS")
    assert objectives.codes(active_only=False) == _numbers(1, 11)
    for code in _numbers(1, 7):
        assert not objectives.is_valid(code)
        assert objectives.is_valid(code, allow_inactive=True)
        objectives.check(code, allow_inactive=True)
        # The data gives no correspondence from 1-7 to 8-11: none is invented.
        assert nomenclatures.current_ca_objectif(code) is None
    assert objectives.label_of("1") == "Inventaire espèce"
    assert objectives.value("7").status == "Gelé"
    for code in _numbers(8, 11):
        assert nomenclatures.current_ca_objectif(code) == code
    with pytest.raises(NomenclatureError, match="« 12 » n'existe pas"):
        nomenclatures.current_ca_objectif("12")
    with pytest.raises(NomenclatureError) as err:
        objectives.check("3")
    assert str(err.value) == (
        "Le code « 3 » (Inventaire logique espace) de la nomenclature « Objectif du cadre "
        "d'acquisition » (CA_OBJECTIFS) est gelé et n'est plus accepté. Codes possibles : "
        "8 (Inventaires et cartographie), 9 (Suivi/surveillance dans le temps), "
        "10 (Expérimentation/recherche), 11 (Multiples ou autres)."
    )


def test_other_frozen_values():
    origin = nomenclatures.get("DS_PUBLIQUE")
    assert origin.is_valid("Re", allow_inactive=True) and not origin.is_valid("Ac")
    assert origin.current_code("Ac") == origin.current_code("Re") == "Pu"
    with pytest.raises(NomenclatureError) as err:
        origin.check("Ac")
    assert str(err.value).endswith("est gelé et n'est plus accepté. Utilisez « Pu » (Publique).")
    status = nomenclatures.get("STATUT_BIO")
    assert status.is_valid("6", allow_inactive=True) and not status.is_valid("6")
    assert status.current_code("6") is None
    assert not nomenclatures.get("TYP_EN").is_valid("CNP")  # "Gelé" upstream


def test_natural_order_of_codes():
    assert nomenclatures.get("METHO_RECUEIL").codes() == _numbers(1, 12)
    assert nomenclatures.get("JDD_OBJECTIFS").codes() == METADATA_LISTS["JDD_OBJECTIFS"]
    habitat = nomenclatures.get("TECHNIQUE_COLLECT_HAB").codes()
    assert habitat.index("8.4") < habitat.index("8.4.1") < habitat.index("8.5") < habitat.index("10")
    key = _generator().natural_key
    assert sorted(["1.10", "1.2", "10", "2", "NSP", "1"], key=key) == ["1", "1.2", "1.10", "2", "10", "NSP"]
    for mnemonic in nomenclatures.types():
        codes = nomenclatures.get(mnemonic).codes(active_only=False)
        assert codes == sorted(codes, key=key), mnemonic


def test_files_are_well_formed():
    files = sorted(NOMENCLATURES_DIR.glob("*.json"))
    assert [p.stem for p in files] == nomenclatures.types()
    for path in files:
        raw = path.read_bytes()
        data = json.loads(raw.decode("utf-8"))
        assert raw == (json.dumps(data, ensure_ascii=False, indent=2) + "\n").encode("utf-8"), path.name
        assert data["type"] == path.stem
        assert data["label"] and data["source"].startswith("pypnnomenclature 1.7.0")
        codes = [v["code"] for v in data["values"]]
        assert codes and len(codes) == len(set(codes)), path.name
        for value in data["values"]:
            assert value["label"] and isinstance(value["active"], bool)
            assert value["broader"] is None or value["broader"] in codes


def test_schemas_dir_can_be_overridden(tmp_path, monkeypatch):
    (tmp_path / "nomenclatures").mkdir()
    (tmp_path / "nomenclatures" / "ESSAI.json").write_text(
        json.dumps(
            {
                "type": "ESSAI",
                "label": "Essai",
                "values": [{"code": "A", "label": "Alpha", "active": True}],
            }
        ),
        encoding="utf-8",
    )
    monkeypatch.setenv("SINP_SCHEMAS_DIR", str(tmp_path))
    nomenclatures.clear_cache()
    try:
        assert nomenclatures.types() == ["ESSAI"]
        assert nomenclatures.get("ESSAI").choices() == [{"value": "A", "label": "Alpha"}]
    finally:
        monkeypatch.delenv("SINP_SCHEMAS_DIR")
        nomenclatures.clear_cache()
    assert "ROLE_ACTEUR" in nomenclatures.types()


def test_regeneration_is_stable_and_matches_the_committed_files(tmp_path):
    """Needs the pinned wheel: taken from var/cache/wheels, downloaded from PyPI when absent."""
    generator = _generator()
    first, second = tmp_path / "first", tmp_path / "second"
    assert generator.main(["--output-dir", str(first)]) == 0
    assert generator.main(["--output-dir", str(second)]) == 0
    committed = {p.name: p.read_bytes() for p in NOMENCLATURES_DIR.glob("*.json")}
    for out in (first, second):
        generated = {p.name: p.read_bytes() for p in out.glob("*.json")}
        assert sorted(generated) == sorted(committed)
        changed = [name for name in committed if generated[name] != committed[name]]
        assert not changed, f"regenerate with schemas/nomenclatures/generate.py: {changed}"
