"""The two portal defects that could hurt data (#15, « Harmful now »).

- Validation page: filtering and validating were one form, one « Valider » button, and the level
  defaulted to « Certain »: typing a cd_nom to filter validated every observation of it.
- JDD form: the CA picker listed every CA and pre-selected another producer's.

Real CKAN (in-process), PostgreSQL, Solr and worker (the world of test_protection).
"""

from __future__ import annotations

import copy
import html
import re
import uuid

import ckan.model as model
import sqlalchemy as sa
from ckan.tests import factories

from tests.integration import test_protection as protection
from tests.integration.test_sinp_records import CA, Api

world = protection.world  # a producer's public JDD with a deposit, chefs de file, a sysadmin

BAT = "60418"  # Myotis myotis: in the deposit, Mammifères, Côte-d'Or (the chef « in » scope)


def levels(jdd_id) -> dict:
    with model.meta.engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT id_sinp_occtax, niv_val FROM sinp_occurrence WHERE package_id = :p"), {"p": jdd_id}
        )
        return {r[0]: r[1] for r in rows}


def test_filtering_never_validates_and_every_decision_is_confirmed_with_its_count_and_level(world):
    app, jdd = world["app"], world["public"]
    token = world["chef_in_user"]["token"]
    url = f"/jdd/{jdd['name']}/validation"
    before = levels(jdd["id"])
    with model.meta.engine.connect() as conn:
        bats = {
            r[0]
            for r in conn.execute(
                sa.text("SELECT id_sinp_occtax FROM sinp_occurrence WHERE package_id = :p AND cd_nom::text = :c"),
                {"p": jdd["id"], "c": BAT},
            )
        }
    n = len(bats)
    assert n >= 2  # the bats of the deposit, all in the chef de file's scope (mammals, Côte-d'Or)

    page = app.get(url, query_string={"cd_nom": BAT}, headers={"Authorization": token})
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert '<form method="get"' in text and ">Filtrer</button>" in text  # filtering is its own form
    assert '<option value="" selected>— Choisir un niveau —</option>' in text  # no level pre-chosen
    assert ">Valider</button>" not in text
    assert "Tout sélectionner (cette page)" in text  # the page's select-all, distinct from…
    assert re.search(rf"toutes les {n} observations du filtre\s+de votre périmètre", text)  # …all of the filter

    # the old mistake: a cd_nom typed and the decision form sent without choosing anything
    for form in (
        {"cd_nom": BAT},  # no level
        {"cd_nom": BAT, "niv_val": "1"},  # no scope chosen
        {"cd_nom": BAT, "niv_val": "1", "portee": "cochees"},  # nothing ticked
    ):
        answer = app.post(url, data=form, headers={"Authorization": token}, follow_redirects=False)
        assert answer.status_code == 302 and f"cd_nom={BAT}" in answer.headers["Location"], form  # back to the filter
        assert levels(jdd["id"]) == before, form

    # a decision first shows what it will do, and changes nothing
    decision = {"cd_nom": BAT, "niv_val": "1", "portee": "filtre", "commentaire": "Vu en main"}
    asked = app.post(url, data=decision, headers={"Authorization": token})
    question = html.unescape(asked.get_data(as_text=True))
    assert asked.status_code == 200
    assert f"Valider {n} observations au niveau « Certain - très probable » ?" in question
    assert "Groupe mammalogique de Bourgogne" in question and "Vu en main" in question
    assert levels(jdd["id"]) == before

    # the count confirmed no longer matches: nothing changes
    stale = app.post(
        url,
        data={**decision, "etape": "appliquer", "attendu": str(n + 5)},
        headers={"Authorization": token},
        follow_redirects=True,
    )
    assert "rien n'a été modifié" in html.unescape(stale.get_data(as_text=True))
    assert levels(jdd["id"]) == before

    confirmed = app.post(
        url,
        data={**decision, "etape": "appliquer", "attendu": str(n)},
        headers={"Authorization": token},
        follow_redirects=False,
    )
    assert confirmed.status_code == 302
    after = levels(jdd["id"])
    changed = {k for k in after if after[k] != before[k]}
    assert changed <= bats and all(after[k] == "1" for k in bats)  # the filtered taxon, only it
    done = html.unescape(app.get(url, headers={"Authorization": token}).get_data(as_text=True))
    assert (
        f"{n} observations validées au niveau « Certain - très probable » par Groupe mammalogique de Bourgogne" in done
    )


def test_the_ca_picker_preselects_nothing_and_lists_the_producers_own_ca_first(app, clean_db, clean_index):
    producer = factories.UserWithToken()
    mine = factories.Organization(users=[{"name": producer["name"], "capacity": "editor"}], title="CEN Bourgogne")
    other = factories.UserWithToken()
    theirs = factories.Organization(users=[{"name": other["name"], "capacity": "editor"}], title="LPO BFC")
    # another producer's public CA, alphabetically first
    Api(app, other["token"]).ok(
        "package_create",
        **{
            **copy.deepcopy(CA),
            "name": f"ca-{uuid.uuid4().hex[:6]}",
            "title": "Atlas des oiseaux",
            "owner_org": theirs["id"],
            "private": False,
        },
    )
    own = Api(app, producer["token"]).ok(
        "package_create",
        **{
            **copy.deepcopy(CA),
            "name": f"ca-{uuid.uuid4().hex[:6]}",
            "title": "Suivi des pelouses",
            "owner_org": mine["id"],
        },
    )
    text = app.get("/jdd/new", headers={"Authorization": producer["token"]}).get_data(as_text=True)
    select = re.search(r'<select[^>]*name="cadre".*?</select>', text, re.S).group(0)
    options = [
        (value, attrs, html.unescape(label))
        for value, attrs, label in re.findall(r'<option value="([^"]*)"([^>]*)>\s*([^<]*?)\s*</option>', select)
    ]
    assert options[0][0] == "" and options[0][2] == "— Choisir un cadre d'acquisition —"
    assert not any("selected" in attrs for value, attrs, _label in options if value)
    assert [label for _v, _a, label in options[1:]] == ["Suivi des pelouses", "Atlas des oiseaux — LPO BFC"]
    assert options[1][0] == own["sinp_uuid"]
