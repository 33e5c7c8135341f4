"""The ORB indicators (#17) against real PostgreSQL: computed from a generated occurrence set
integrated through the platform's own path (``store.integrate``: cd_ref, group, département,
10 km cell, sensitivity and public layer are the platform's), compared with the same indicators
recomputed in plain Python (``indicator_data.expected``); the protection rules (private JDD and
hidden rows never count, small sensitive cells secret); a frozen year that does not move when new
data arrives while the live edition does; the API's French 409s; the CLI.
"""

from __future__ import annotations

import copy
import datetime as dt
import subprocess
import uuid

import ckan.model as model
import pytest
import sqlalchemy as sa
from ckan.tests import factories

from ckanext.sinp.logic import indicator_actions
from ckanext.sinp.occurrences import indicators_store, store
from tests.integration import indicator_data as data
from tests.integration.conftest import scheduler_process
from tests.integration.test_sinp_records import CA, JDD, Api

THRESHOLD = 5  # ckanext.sinp.indicators.seuil_sensible's default


def _clear_indicators():
    indicators_store.ensure_tables(model.meta.engine)
    with model.meta.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM sinp_indicator_value"))
        conn.execute(sa.text("DELETE FROM sinp_indicator_edition"))


def _integrate(tmp_path, jdd: dict, rows: list, names: dict) -> None:
    engine = model.meta.engine
    resource_id = f"res-ind-{uuid.uuid4()}"
    with engine.begin() as conn:
        store.queue_deposit(conn, resource_id, jdd["id"], owner_org=jdd["owner_org"])
    accepted, errors = tmp_path / f"{resource_id}.csv", tmp_path / f"{resource_id}-errors.csv"
    data.write_csv(accepted, rows, resource_id, jdd["id"], jdd["owner_org"], names)
    errors.write_text("resource_id,seq,row,column,code,category,blocking,message,value\n", encoding="utf-8")
    assert store.integrate(engine, resource_id, accepted, errors, {"status": "done"}) == len(rows)


def _read_back(rows: list) -> None:
    """The columns the platform derived per row (public layer, sensitivity, 10 km cell)."""
    with model.meta.engine.connect() as conn:
        found = {
            r.id_sinp_occtax: r
            for r in conn.execute(
                sa.text("SELECT id_sinp_occtax, public_layer, sensi_niveau, maille_calc, dep FROM sinp_occurrence")
            )
        }
    for o in rows:
        r = found[o.uuid]
        assert r.dep == o.dep
        o.extra = {"layer": r.public_layer, "sensi": r.sensi_niveau, "maille": r.maille_calc}


@pytest.fixture
def world(app, clean_db, jobs_worker, tmp_path):
    """Two producers, each with a CA; three public JDD and a private one; ~2 200 observations."""
    _clear_indicators()
    return build_world(app, tmp_path)


def build_world(
    app,
    tmp_path,
    *,
    seed: int = 17,
    prefix: str = "ind",
    title: str = "Observations {kind}",
    producers: tuple[str, str] = ("LPO Bourgogne-Franche-Comté", "CEN Bourgogne-Franche-Comté"),
) -> dict:
    """The generated set (``indicator_data.generate(seed)``) integrated through the platform's path (on an
    emptied database): two producers each with a CA, the JDD of ``indicator_data.JDDS`` (``title`` with
    ``{kind}``); returns the API clients, the JDD, the CA, the organisations, the rows (read back) and the TAXREF names."""
    admin = factories.SysadminWithToken()
    api = Api(app, admin["token"])
    orgs = [factories.Organization(title=t) for t in producers]
    cas = [
        api.ok(
            "package_create",
            **{**copy.deepcopy(CA), "name": f"ca-{prefix}-{i}-{uuid.uuid4().hex[:6]}", "owner_org": o["id"]},
        )
        for i, o in enumerate(orgs)
    ]
    jdds = {}
    for kind, producer, public in data.JDDS:
        jdds[kind] = api.ok(
            "package_create",
            **{
                **copy.deepcopy(JDD),
                "name": f"jdd-{prefix}-{kind}-{uuid.uuid4().hex[:6]}",
                "title": title.format(kind=kind),
                "owner_org": orgs[producer]["id"],
                "cadre": cas[producer]["sinp_uuid"],
                "private": not public,
            },
        )
    names = data.taxref()
    rows = data.generate(seed)
    for kind, jdd in jdds.items():
        _integrate(tmp_path, jdd, [o for o in rows if o.jdd == kind], names)
    _read_back(rows)
    public = {k for k, _, p in data.JDDS if p}
    return {
        "app": app,
        "api": api,
        "anon": Api(app),
        "jdds": jdds,
        "cas": cas,
        "orgs": orgs,
        "rows": rows,
        "names": names,
        "public": public,
    }


def _stored(edition: str) -> dict:
    with model.meta.engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT code, annee, departement, groupe, cle, valeur, effectif, secret "
                "FROM sinp_indicator_value WHERE edition = :e"
            ),
            {"e": edition},
        ).all()
    out = {}
    for r in rows:
        key = (r.code, r.annee, r.departement, r.groupe, r.cle)
        assert key not in out, key  # one row per cell
        out[key] = "secret" if r.secret else r.valeur
        if r.secret:
            assert r.valeur is None and r.effectif is None
    return out


def _compare(stored: dict, wanted: dict) -> None:
    wrong = {}
    for key, value in wanted.items():
        got = stored.get(key, "absent")
        if isinstance(value, float) and isinstance(got, float):
            if abs(value - got) > 1e-6:
                wrong[key] = (value, got)
        elif got != value:
            wrong[key] = (value, got)
    assert not wrong, f"{len(wrong)} of {len(wanted)} cells differ (expected, stored): {list(wrong.items())[:10]}"
    # and nothing more for the indicators compared as a whole
    for code in ("observations", "taxons", "observateurs", "nouveaux_taxons", "part_validees", "delai_depot"):
        extra = {k for k in stored if k[0] == code} - {k for k in wanted if k[0] == code}
        assert not extra, f"{code}: cells not expected {sorted(extra, key=str)[:10]}"


def test_indicators_computed_from_the_store_match_an_independent_computation(world):
    rows, names = world["rows"], world["names"]
    result = indicator_actions.compute_edition()
    assert result["edition"] == "courante" and result["rows"] > 1000
    seen = data.visible(rows, world["public"])
    wanted = data.expected(seen, names, THRESHOLD)
    stored = _stored("courante")
    _compare(stored, wanted)
    # the set is what it claims: several groups, years, départements, blurred and hidden rows, EEE spreading
    assert {o.extra["layer"] for o in rows} == {0, 1, 2, 3, 4}
    assert len({names[o.cd_nom]["groupe"] for o in seen}) >= 6 and len({o.dep for o in seen}) == 4
    assert any(o.statut == "No" for o in seen) and any(names[o.cd_nom]["rang"] == "GN" for o in seen)
    assert sum(v for k, v in wanted.items() if k[0] == "eee_front") >= 20  # new mailles year after year
    # the private JDD and the hidden rows never count
    total = stored[("observations", None, None, None, None)]
    assert total == len(seen) < len(rows)
    private = [o for o in rows if o.jdd == "prive"]
    hidden = [o for o in rows if o.extra["layer"] == 4 and o.jdd != "prive"]
    assert private and hidden and total == len(rows) - len(private) - len(hidden)
    # a cell with a few observations of a sensitive taxon is secret, at every level it is small
    secrets = [k for k, v in wanted.items() if v == "secret"]
    assert secrets and all(stored[k] == "secret" for k in secrets)
    assert stored[("observations", None, None, "Insectes", None)] != "secret"  # many sensitive: shown


def test_the_api_serves_an_indicator_with_its_method_and_refuses_bad_parameters_in_french(world):
    indicator_actions.compute_edition()
    anon = world["anon"]
    status, body = anon.get("sinp_indicator_list")
    assert status == 200, body
    listed = {i["code"]: i for i in body["result"]}
    assert {"observations", "eee_front", "completude"} <= set(listed)
    assert listed["observations"]["editions"] == ["courante"] and listed["eee_front"]["theme"] == "eee"
    status, body = anon.get("sinp_indicator_show", code="observations", departement="25")
    assert status == 200, body
    shown = body["result"]
    assert shown["unite"] == "observations" and shown["methode"] and shown["precautions"]
    assert shown["edition"]["edition"] == "courante" and shown["edition"]["frozen"] is False
    seen = [o for o in data.visible(world["rows"], world["public"]) if o.dep == "25"]
    by_year = {r["annee"]: r for r in shown["series"]}
    assert {r["departement"] for r in shown["series"]} == {"25"}
    assert by_year[None]["valeur"] == len(seen)
    for year in {o.date.year for o in seen}:
        row = by_year[year]
        assert row["secret"] or row["valeur"] == sum(1 for o in seen if o.date.year == year)
    # completeness: the mean of what each public record's page shows (domain.model.completeness)
    from ckanext.sinp.domain import model as sinp_model

    found = (
        model.Session.query(model.Package)
        .filter(
            model.Package.type.in_(("ca", "jdd")), model.Package.state == "active", model.Package.private.is_(False)
        )
        .all()
    )
    assert len(found) >= 3  # the public JDD (and the CA if published); the private JDD does not count
    shares = []
    for record in found:
        done = sinp_model.completeness(record.type, world["api"].ok("package_show", id=record.id))
        shares.append(done["filled"] / done["total"])
    status, body = anon.get("sinp_indicator_show", code="completude")
    assert status == 200, body
    (whole,) = [r for r in body["result"]["series"] if r["cle"] is None]
    n = len(found)
    assert whole["effectif"] == n and abs(whole["valeur"] - 100 * sum(shares) / n) < 1e-6, (whole, shares)
    for params, key, words in (
        ({"code": "inconnu"}, "code", "Indicateur inconnu"),
        ({"code": "observations", "edition": "2019"}, "edition", "pas été calculée"),
        ({"code": "observations", "edition": "demain"}, "edition", "Édition inconnue"),
        ({"code": "observations", "departement": "75"}, "departement", "Département inconnu"),
        ({"code": "observations", "departement": "zz"}, "departement", "Département inconnu"),
        ({"code": "observations", "groupe": "Dragons"}, "groupe", "Groupe taxonomique inconnu"),
        ({"code": "completude", "departement": "21"}, "departement", "ne se ventile pas"),
        ({"code": "observations", "annee": "deux mille"}, "annee", "nombre entier"),
        ({}, "code", "manquant"),
    ):
        status, body = anon.get("sinp_indicator_show", **params)
        assert status == 409, (params, body)
        assert words in body["error"][key][0], (params, body)


def test_a_frozen_year_does_not_move_when_new_data_arrives_and_the_live_edition_does(world, tmp_path, stack):
    assert indicator_actions.refresh_live() is not None  # never computed: computed now
    assert indicator_actions.refresh_live() is None  # nothing changed since
    indicator_actions.compute_edition("2020")
    frozen, live = _stored("2020"), _stored("courante")
    rows = world["rows"]
    seen_2020 = data.visible(rows, world["public"], year=2020)
    # the edition of 2020: observed up to 31/12/2020 and deposited up to then
    assert len(seen_2020) < len(data.visible(rows, world["public"]))
    _compare(frozen, data.expected(seen_2020, world["names"], THRESHOLD))
    assert not any(k[1] and k[1] > 2020 for k in frozen)  # nothing observed after the edition's year
    # new data observed in 2019, deposited today, in a public JDD
    rng_rows = data.generate(seed=2019)
    new = [o for o in rng_rows if o.date.year == 2019][:40]
    for o in new:
        o.jdd, o.ds_publique, o.diffusion, o.cd_nom = "a1", "Pu", "", 3764
        o.created = dt.datetime.now(dt.timezone.utc)
    _integrate(tmp_path, world["jdds"]["a1"], new, world["names"])
    assert indicator_actions.refresh_live() is not None  # the data changed: recomputed
    after = _stored("courante")
    _read_back(new)
    _compare(after, data.expected(data.visible(rows + new, world["public"]), world["names"], THRESHOLD))
    assert after[("observations", 2019, None, None, None)] == live[("observations", 2019, None, None, None)] + len(new)
    assert _stored("2020") == frozen
    with pytest.raises(indicators_store.EditionError, match="figée"):
        indicator_actions.compute_edition("2020")
    with pytest.raises(indicators_store.EditionError, match="année terminée"):
        indicator_actions.compute_edition(str(dt.date.today().year))
    # the command line: a year computed once with its progress bar, then refused
    command = [stack["CKAN_BIN"], "-c", stack["CKAN_TEST_INI"], "sinp", "indicators-compute", "--edition", "2024"]
    first = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    assert "Édition « 2024 » calculée" in first.stdout
    again = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert again.returncode == 1 and "figée" in again.stderr
    status, body = world["anon"].get("sinp_indicator_show", code="eee_premiere_mention", edition="2024")
    assert status == 200 and body["result"]["edition"]["frozen"] is True
    assert [e["edition"] for e in body["result"]["editions"]] == ["courante", "2024", "2020"]


def test_the_scheduler_recomputes_the_live_edition_after_its_period_when_the_data_changed(world, stack, tmp_path):
    with scheduler_process(stack, tmp_path, indicators_every=3) as wait:
        output = wait("indicators:")
    # not at start: the first pass (the reconcile) says its result before the indicators are computed
    assert output.index("reconcile:") < output.index("indicators:")
    assert "'edition': 'courante'" in output
    seen = data.visible(world["rows"], world["public"])
    assert _stored("courante")[("observations", None, None, None, None)] == len(seen)
    # nothing changed since: the next checks compute nothing
    assert indicator_actions.refresh_live() is None
