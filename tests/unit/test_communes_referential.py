"""The commune referential generated from Etalab's COG list (schemas/referentiels/communes/generate.py):
the generator on a small fixture shaped like the package's JSON (written here, not copied), and the
committed files (every commune of France, readable by the loader, consistent with source.json)."""

from __future__ import annotations

import importlib.util
import io
import json
import tarfile

import pytest

from ckanext.sinp.referentials import geo
from tests.conftest import ROOT

REFS = ROOT / "schemas" / "referentiels"
COMMUNES = REFS / "communes" / "communes_france.csv"
DEPARTEMENTS = REFS / "departements" / "departements_bfc.csv"
SOURCE = REFS / "communes" / "source.json"


def _generator():
    spec = importlib.util.spec_from_file_location("sinp_communes_generate", REFS / "communes" / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _commune(code, nom, dep, region, kind="commune-actuelle", **more):
    return {"code": code, "nom": nom, "departement": dep, "region": region, "type": kind, "zone": "metro", **more}


FIXTURE_COMMUNES = [
    _commune("90010", "Belfort", "90", "27", codesPostaux=["90000"], population=45000),
    _commune("21231", "Dijon", "21", "27", siren="212100000"),
    _commune("94038", "L'Haÿ-les-Roses", "94", "11"),
    _commune("2B033", "Bastia", "2B", "94"),
    _commune("97411", "Saint-Denis", "974", "04", zone="drom"),
    _commune("39001", "Ancienne commune", "39", "27", kind="commune-deleguee", chefLieu="39002"),
    _commune("25002", "Hameau", "25", "27", kind="commune-associee", chefLieu="25003"),
    _commune("75101", "Paris 1er Arrondissement", "75", "11", kind="arrondissement-municipal", commune="75056"),
    _commune("98735", "Papeete", "987", "COM", zone="com"),
]
FIXTURE_DEPARTEMENTS = [
    {"code": "25", "region": "27", "chefLieu": "25056", "nom": "Doubs", "zone": "metro"},
    {"code": "21", "region": "27", "chefLieu": "21231", "nom": "Côte-d'Or", "zone": "metro"},
    {"code": "94", "region": "11", "chefLieu": "94028", "nom": "Val-de-Marne", "zone": "metro"},
    {"code": "90", "region": "27", "chefLieu": "90010", "nom": "Territoire de Belfort", "zone": "metro"},
]


def test_the_generator_keeps_the_communes_actuelles_of_the_known_departements():
    files = _generator().build(FIXTURE_COMMUNES, FIXTURE_DEPARTEMENTS)
    assert files["communes/communes_france.csv"] == (
        "code;nom;departement\n"
        "21231;Dijon;21\n"
        "2B033;Bastia;2B\n"
        "90010;Belfort;90\n"
        "94038;L'Haÿ-les-Roses;94\n"
        "97411;Saint-Denis;974\n"
    )
    assert files["departements/departements_bfc.csv"] == (
        "code;nom;region;chef_lieu\n21;Côte-d'Or;27;21231\n25;Doubs;27;25056\n90;Territoire de Belfort;27;90010\n"
    )
    source = json.loads(files["communes/source.json"])
    assert source["communes"]["gardees"] == 5 and source["communes"]["region_bfc"] == 2
    assert source["communes"]["ecartees"] == {
        "arrondissement-municipal": 1,
        "commune-actuelle du département 987": 1,
        "commune-associee": 1,
        "commune-deleguee": 1,
    }
    assert source["version"] == "6.0.0" and "Licence Ouverte" in source["licence"]


def test_regeneration_is_stable_and_independent_of_the_order(tmp_path):
    generator = _generator()
    first = generator.build(FIXTURE_COMMUNES, FIXTURE_DEPARTEMENTS)
    second = generator.build(list(reversed(FIXTURE_COMMUNES)), list(reversed(FIXTURE_DEPARTEMENTS)))
    assert first == second
    generator.write(first, tmp_path / "a")
    generator.write(second, tmp_path / "b")
    for relative in first:
        assert (tmp_path / "a" / relative).read_bytes() == (tmp_path / "b" / relative).read_bytes()
    # and the loader reads what it wrote
    read = geo.read_communes(tmp_path / "a" / "communes" / "communes_france.csv")
    assert [c.code for c in read.records] == ["21231", "2B033", "90010", "94038", "97411"]


def test_the_tarball_is_read_as_npm_packs_it_and_another_one_is_refused(tmp_path):
    generator = _generator()
    tarball = tmp_path / generator.TARBALL_NAME
    with tarfile.open(tarball, "w:gz") as tar:
        for member, content in (
            (generator.COMMUNES_MEMBER, FIXTURE_COMMUNES),
            (generator.DEPARTEMENTS_MEMBER, FIXTURE_DEPARTEMENTS),
        ):
            data = json.dumps(content).encode("utf-8")
            info = tarfile.TarInfo(member)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    assert generator.read_members(tarball) == (FIXTURE_COMMUNES, FIXTURE_DEPARTEMENTS)
    with pytest.raises(SystemExit, match="sha256"):
        generator.main(["--tarball", str(tarball), "--output-dir", str(tmp_path / "out")])
    with pytest.raises(SystemExit, match="sha256"):
        generator.ensure_tarball(tmp_path)  # the cached file is not the pinned one
    assert not (tmp_path / "out").exists()


def test_a_malformed_entry_stops_the_generator():
    generator = _generator()
    with pytest.raises(SystemExit, match="incohérent ou en double"):
        generator.build([*FIXTURE_COMMUNES, _commune("21231", "Dijon bis", "21", "27")], FIXTURE_DEPARTEMENTS)
    with pytest.raises(SystemExit, match="nom inattendu"):
        generator.build([_commune("21231", "Dijon;Chenôve", "21", "27")], FIXTURE_DEPARTEMENTS)


# -- the committed files ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def communes():
    return geo.read_communes(COMMUNES)


def test_the_committed_file_holds_every_commune_of_france(communes):
    records = communes.records
    source = json.loads(SOURCE.read_text(encoding="utf-8"))
    assert len(records) == source["communes"]["gardees"] == 34879
    assert communes.region is None and communes.skipped_region == 0  # no region column: loaded whole
    codes = [c.code for c in records]
    assert len(set(codes)) == len(codes) and codes == sorted(codes)
    names = {c.code: (c.nom, c.departement) for c in records}
    assert names["21231"] == ("Dijon", "21") and names["25056"] == ("Besançon", "25")
    assert names["90010"] == ("Belfort", "90") and names["71270"] == ("Mâcon", "71")
    assert names["75056"] == ("Paris", "75") and names["2A004"] == ("Ajaccio", "2A")
    assert names["13055"] == ("Marseille", "13") and names["97209"][1] == "972"
    assert names["94038"] == ("L'Haÿ-les-Roses", "94")
    assert "75101" not in names  # arrondissement municipal
    bfc = [c for c in records if c.departement in geo.DEPARTEMENTS_BFC]
    assert len(bfc) == source["communes"]["region_bfc"] == 3685
    assert COMMUNES.read_bytes().count(b"\r") == 0 and COMMUNES.read_bytes().endswith(b"\n")


def test_the_departements_file_is_the_generated_one():
    source = json.loads(SOURCE.read_text(encoding="utf-8"))
    read = geo.read_departements(DEPARTEMENTS)
    assert [d.code for d in read.records] == list(geo.DEPARTEMENTS_BFC) and source["departements"]["gardes"] == 8
    assert {d.code: d.chef_lieu for d in read.records}["21"] == "21231"
