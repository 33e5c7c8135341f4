"""The ORB indicators through CKAN (#17): actions ``sinp_indicator_list`` / ``sinp_indicator_show``
and the glue that computes an edition (``ckan sinp indicators-compute``, the scheduler's refresh).

What the public may see decides what is counted: the published, active JDD (``access.active_jdd_ids``,
as for an anonymous visitor) and, of the metadata, the public, active CA and JDD, read with one
query over CKAN's ``package`` table (never a ``package_show`` per record). The computation itself
is ``occurrences/indicators_store.py``; the declarations (titles, methods, caveats) are
``schemas/indicators.yaml`` (``domain/indicators.py``).
"""

from __future__ import annotations

import json
import logging
import re

import ckan.model as model
import ckan.plugins.toolkit as tk
import sqlalchemy as sa

from ckanext.sinp import settings
from ckanext.sinp.domain import model as sinp_model
from ckanext.sinp.domain import nomenclatures
from ckanext.sinp.logic import access, inputs
from ckanext.sinp.logic.strict_actions import with_input_guards
from ckanext.sinp.occurrences import indicators_store as store
from ckanext.sinp.occurrences.protection_store import BFC_DEPARTEMENTS

log = logging.getLogger(__name__)

OBJECTIVES = {"ca": ("objectifs", "CA_OBJECTIFS"), "jdd": ("objectif_jdd", "JDD_OBJECTIFS")}
_DEPARTEMENT = re.compile(r"^(?:\d{2}|2[AB]|97\d)$")


def _declarations():
    from ckanext.sinp.domain import indicators  # the declarations (schemas/indicators.yaml)

    return indicators


# --- what the computation reads from CKAN ------------------------------------------------------------


def _codes(value) -> list[str]:
    """A stored multi-valued field (a JSON list in a text) or a single code, as a list of codes."""
    if value in (None, ""):
        return []
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return [value]
    if isinstance(value, list):
        return [str(v) for v in value if v not in (None, "")]
    return [str(value)]


def _completeness(kind: str, record: dict) -> float | None:
    """The share (0–1) of the standard's required and recommended fields that the record fills: the
    completeness its page and form show (``domain.model.completeness``, one definition)."""
    done = sinp_model.completeness(kind, record)
    return done["filled"] / done["total"] if done["total"] else None


def metadata_rows(conn) -> list[dict]:
    """The public, active CA and JDD with what the metadata indicators need (one query)."""
    package, group = model.Package.__table__, model.Group.__table__
    query = (
        sa.select(
            package.c.id,
            package.c.type,
            package.c.owner_org,
            group.c.title.label("organisation"),
            package.c.metadata_created,
            package.c.metadata_modified,
            package.c.license_id,
            package.c.title,
            package.c.notes,
            package.c.extras,
        )
        .select_from(package.outerjoin(group, group.c.id == package.c.owner_org))
        .where(package.c.type.in_(("ca", "jdd")), package.c.state == "active", package.c.private.is_(False))
    )
    out = []
    for row in conn.execute(query).mappings():
        extras = row["extras"] or {}
        if isinstance(extras, str):
            extras = json.loads(extras)
        fields = {**extras, "license_id": row["license_id"], "title": row["title"], "notes": row["notes"]}
        key, nomenclature = OBJECTIVES[row["type"]]
        labels = nomenclatures.get(nomenclature)
        out.append(
            {
                "id": row["id"],
                "type": row["type"],
                "owner_org": row["owner_org"],
                "organisation": row["organisation"],
                "objectifs": [(code, labels.label_of(code) or code) for code in _codes(extras.get(key))],
                "created": row["metadata_created"],
                "modified": row["metadata_modified"].isoformat() if row["metadata_modified"] else None,
                "completude": _completeness(row["type"], fields),
            }
        )
    return out


def public_jdd_ids() -> list[str]:
    """The JDD whose occurrences the public may see (published, active): as for an anonymous visitor."""
    return access.active_jdd_ids(published=True)


def compute_edition(edition: str = store.LIVE, progress=None) -> dict:
    """Computes (and for a year, freezes) an edition from what the public may see now."""
    engine = model.meta.engine
    pub = public_jdd_ids()
    with engine.connect() as conn:
        rows = metadata_rows(conn)
    try:
        return store.compute(engine, edition, pub, rows, settings.indicators_threshold(), progress)
    finally:
        model.Session.remove()


def refresh_live() -> dict | None:
    """The scheduler's step: recomputes the live edition when its data changed since it was computed
    (None when nothing changed)."""
    engine = model.meta.engine
    pub = public_jdd_ids()
    with engine.connect() as conn:
        rows = metadata_rows(conn)
        current = store.fingerprint(conn, pub, rows)
        if current == store.stored_fingerprint(conn):
            model.Session.remove()
            return None
    try:
        result = store.compute(engine, store.LIVE, pub, rows, settings.indicators_threshold())
    finally:
        model.Session.remove()
    return {"edition": result["edition"], "rows": result["rows"]}


# --- actions -----------------------------------------------------------------------------------------


def _edition_dict(row: dict | None, edition: str) -> dict:
    if row is None:
        return {"edition": edition, "computed_at": None, "frozen": False}
    return {
        "edition": row["edition"],
        "computed_at": row["computed_at"].isoformat() if row["computed_at"] else None,
        "frozen": bool(row["frozen"]),
    }


@tk.side_effect_free
def sinp_indicator_list(context, data_dict):
    """The ORB indicators, in their declaration order, with the editions computed.

    :returns: list of {code, theme, theme_libelle, titre, unite, graphique, editions}
    """
    tk.check_access("sinp_indicator_list", context, data_dict)
    declared = _declarations()
    with model.meta.engine.connect() as conn:
        names = [e["edition"] for e in store.editions(conn)]
    return [
        {
            "code": ind.code,
            "theme": ind.theme,
            "theme_libelle": declared.THEMES.get(ind.theme, ind.theme),
            "titre": ind.titre,
            "unite": ind.unite,
            "graphique": ind.graphique,
            "editions": names,
        }
        for ind in declared.load().values()
    ]


def _refuse(key: str, message: str):
    raise tk.ValidationError({key: [message]})


@tk.side_effect_free
def sinp_indicator_show(context, data_dict):
    """One indicator: its declaration (question, method, unit, sources, caveats) and the values of
    one edition, for the region or one breakdown.

    :param code: the indicator's code (``sinp_indicator_list``)
    :param edition: ``courante`` (default) or a frozen year
    :param departement: a département code (its rows; absent: the region's)
    :param groupe: a GROUP2_INPN group (its rows; absent: all groups)
    :param annee: one year only
    :param cle: one key only (a validation level, a maille, a cd_ref, ``producteur:<id>``…)
    :returns: the declaration, ``edition`` {edition, computed_at, frozen}, ``editions`` and
        ``series``: [{annee, departement, groupe, cle, libelle, valeur, effectif, secret}]
    """
    tk.check_access("sinp_indicator_show", context, data_dict)
    declared = _declarations()
    code = inputs.identifier(data_dict, "code")
    indicators = declared.load()
    if code not in indicators:
        _refuse("code", f"Indicateur inconnu : « {inputs.quote(code)} » (voir sinp_indicator_list).")
    ind = indicators[code]
    raw = data_dict.get("edition")
    if isinstance(raw, int) and not isinstance(raw, bool):
        raw = str(raw)  # a year sent as a JSON number
    try:
        edition = store.parse_edition(inputs.text({"edition": raw}, "edition", store.LIVE, max_length=40))
    except store.EditionError as err:
        _refuse("edition", str(err))
    filters: dict = {}
    ventilations = set(ind.ventilations or ())
    with model.meta.engine.connect() as conn:
        editions = store.editions(conn)
        by_name = {e["edition"]: e for e in editions}
        if edition != store.LIVE and edition not in by_name:
            _refuse("edition", f"L'édition {edition} n'a pas été calculée (éditions disponibles : {_names(editions)}).")
        known = store.breakdown_values(conn, edition)
        dep = inputs.text(data_dict, "departement", None, max_length=10)
        if dep not in (None, ""):
            dep = dep.strip().upper()
            if not _DEPARTEMENT.match(dep) or (dep not in BFC_DEPARTEMENTS and dep not in known["departement"]):
                _refuse("departement", f"Département inconnu : « {inputs.quote(dep)} » (un code comme 21, 25, 39…).")
            if "departement" not in ventilations:
                _refuse("departement", f"L'indicateur « {ind.titre} » ne se ventile pas par département.")
            filters["departement"] = dep
        groupe = inputs.text(data_dict, "groupe", None, max_length=100)
        if groupe not in (None, ""):
            if "groupe" not in ventilations:
                _refuse("groupe", f"L'indicateur « {ind.titre} » ne se ventile pas par groupe taxonomique.")
            if groupe not in known["groupe"]:
                _refuse("groupe", f"Groupe taxonomique inconnu dans cette édition : « {inputs.quote(groupe)} ».")
            filters["groupe"] = groupe
        if data_dict.get("annee") not in (None, ""):
            filters["annee"] = inputs.integer(data_dict, "annee", None, 1800, 2100)
        cle = inputs.text(data_dict, "cle", None, max_length=200)
        if cle not in (None, ""):
            filters["cle"] = cle
        values = store.series(conn, code, edition, filters)
    return {
        **ind.as_dict(),  # the declaration, as the JSON download gives it
        "edition": _edition_dict(by_name.get(edition), edition),
        "editions": [_edition_dict(e, e["edition"]) for e in editions],
        "series": values,
    }


def _names(editions: list[dict]) -> str:
    return ", ".join(e["edition"] for e in editions) or "aucune"


@tk.auth_allow_anonymous_access
def sinp_indicator_list_auth(context, data_dict):
    """Aggregates over what the public may see: anyone."""
    return {"success": True}


@tk.auth_allow_anonymous_access
def sinp_indicator_show_auth(context, data_dict):
    return {"success": True}


def get_actions() -> dict:
    """The two actions with the plugin's input guards (only them: ``with_input_guards`` also adds
    guarded core actions, which the registry already provides)."""
    actions = {"sinp_indicator_list": sinp_indicator_list, "sinp_indicator_show": sinp_indicator_show}
    return {name: func for name, func in with_input_guards(actions).items() if name in actions}


def get_auth_functions() -> dict:
    return {"sinp_indicator_list": sinp_indicator_list_auth, "sinp_indicator_show": sinp_indicator_show_auth}
