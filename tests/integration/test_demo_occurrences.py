"""``ckan sinp demo-data`` fills the map and the indicators: the generated observations land in the
demo's JDD through the store write of a deposit, the public roll-ups count them (never those of the
private JDD nor the hidden ones), the live indicators are computed, and a second run changes nothing.
On the test database, emptied before and after (the demo's records purged)."""

from __future__ import annotations

import subprocess

import ckan.model as model
import pytest
import sqlalchemy as sa
from ckan.tests import factories, helpers

from ckanext.sinp import settings
from ckanext.sinp.demo import deposits, occurrences
from tests.integration.conftest import _wait_for_background_jobs
from tests.integration.test_carte import _empty_tables

PRIVATE = deposits.TARGETS["prive"]
PUBLISHED = sorted({name for name in deposits.TARGETS.values() if name != PRIVATE})


def _run(stack) -> str:
    command = [stack["CKAN_BIN"], "-c", stack["CKAN_TEST_INI"], "sinp", "demo-data"]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def _counts() -> dict:
    with model.meta.engine.connect() as conn:
        by_layer = conn.execute(
            sa.text(
                "SELECT p.name, o.public_layer, count(*) FROM sinp_occurrence o JOIN package p ON p.id = o.package_id"
                " GROUP BY 1, 2"
            )
        ).all()
        public = dict(conn.execute(sa.text("SELECT niveau, sum(nb_obs) FROM sinp_carte_public GROUP BY niveau")).all())
        taxa = conn.execute(
            sa.text("SELECT cd_ref, bool_or(sensible) FROM sinp_carte_public_taxon GROUP BY cd_ref")
        ).all()
        indicator = conn.execute(
            sa.text(
                "SELECT valeur FROM sinp_indicator_value WHERE edition = 'courante' AND code = 'observations'"
                " AND annee IS NULL AND departement IS NULL AND groupe IS NULL AND cle IS NULL"
            )
        ).scalar()
    return {"by_layer": sorted(by_layer), "public": public, "taxa": dict(taxa), "indicator": indicator}


@pytest.fixture(scope="module")
def demo(stack, jobs_worker):
    """The demo command run twice on the emptied test database; everything removed afterwards."""
    helpers._get_test_app()
    _wait_for_background_jobs()
    model.repo.tables_created_and_initialised = True
    helpers.reset_db()
    _empty_tables()
    factories.Sysadmin(name=settings.demo_admin_user())
    model.Session.remove()
    first = _run(stack)
    after_first = _counts()
    second = _run(stack)
    yield {"first": first, "second": second, "after_first": after_first, "after_second": _counts()}
    model.Session.remove()
    _wait_for_background_jobs()
    helpers.reset_db()
    _empty_tables()
    with model.meta.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM sinp_indicator_value"))
        conn.execute(sa.text("DELETE FROM sinp_indicator_edition"))


def test_the_demo_observations_are_on_the_map_and_in_the_indicators(demo):
    counts = demo["after_first"]
    generated = deposits.rows()
    stored = {(name, layer): n for name, layer, n in counts["by_layer"]}
    assert sum(stored.values()) == len(generated) > 3000
    assert {name for name, _ in stored} == set(deposits.TARGETS.values())
    published = {
        layer: sum(n for (name, lay), n in stored.items() if lay == layer and name in PUBLISHED) for layer in range(5)
    }
    # the map counts the published JDD at the levels their diffusion allows; the private JDD never
    assert counts["public"]["departement"] == sum(published[layer] for layer in range(4))
    assert counts["public"]["maille"] == published[0] + published[1] + published[2]
    assert 0 < counts["public"]["maille"] < counts["public"]["departement"] < len(generated)
    assert 0 < counts["public"]["commune"] < counts["public"]["departement"]  # named by the COG list
    assert counts["indicator"] == sum(published[layer] for layer in range(4))
    # invasive alien taxa and a sensitive species are on the map
    names = occurrences.taxref()
    for cd_nom in (*occurrences.EEE, *occurrences.SENSITIVE):
        assert names[cd_nom]["cd_ref"] in counts["taxa"], cd_nom
    assert counts["taxa"][names[occurrences.SENSITIVE[0]]["cd_ref"]] is True
    assert "observations de démonstration" in demo["first"] and "visibles du public sur la carte" in demo["first"]


def test_a_second_run_changes_nothing(demo):
    assert demo["after_second"] == demo["after_first"]
    assert demo["second"].count("inchangées") == len(deposits.TARGETS)
    assert "(0 écrites maintenant)" in demo["second"]


def test_a_changed_generator_may_move_observations_between_lots(demo, monkeypatch):
    """An observation the generator now puts in another lot (same JDD or another) keeps its
    identifier, unique in the store: the changed lots are replaced as a whole, nothing fails."""
    generated = deposits.rows()
    a1 = next(o for o in generated if o.jdd == "a1")
    b1 = next(o for o in generated if o.jdd == "b1")
    a1.jdd, b1.jdd = "a2", "a1"  # within the Morvan JDD, and from the Doubs JDD to the Morvan JDD
    monkeypatch.setattr(deposits, "rows", lambda: generated)
    lines = []
    outcome = deposits.load(settings.demo_admin_user(), echo=lines.append)
    assert outcome["rows"] == len(generated)
    assert sum("intégrées" in line for line in lines) == 3 and sum("inchangées" in line for line in lines) == 1
    with model.meta.engine.connect() as conn:
        where = {
            uuid: conn.execute(
                sa.text(
                    "SELECT r.name FROM sinp_occurrence o JOIN resource r ON r.id = o.resource_id"
                    " WHERE o.id_sinp_occtax = :u"
                ),
                {"u": uuid},
            ).scalar_one()
            for uuid in (a1.uuid, b1.uuid)
        }
        total = conn.execute(sa.text("SELECT count(*) FROM sinp_occurrence")).scalar_one()
    assert where == {a1.uuid: deposits.resource_name("a2"), b1.uuid: deposits.resource_name("a1")}
    assert total == len(generated)
