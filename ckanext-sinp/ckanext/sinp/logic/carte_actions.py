"""The public géo-visualiseur through CKAN (#16): actions ``sinp_carte`` (observations aggregated by
maille 10 km, commune or département), ``sinp_carte_taxons`` (the taxa of one cell) and
``sinp_taxon_fiche`` (a taxon's sheet: TAXREF names, map by maille, phenology, years, JDD).

What the public may see decides what is counted, for everybody (the page is the public's): the
published, active JDD (``access.active_jdd_ids(published=True)``) and, of their observations, those
whose diffusion allows the level (``occurrences/map_store.py``: maille ⇔ public layer ≤ 2, commune ⇔
≤ 1, département ⇔ ≤ 3; layer 4 « aucune diffusion » never). The counts come from the aggregate
tables that ``map_store`` keeps exact; no request reads the occurrence table.

The precise view (``vue=precise``, opt-in; the public view is the default): a signed-in user who may
see occurrences precisely somewhere (a member of a producing organisation, a chef de file, a
sysadmin: ``precise_access``) gets, for the occurrences ``store.Access.full_sql`` lets them see
precisely — the rule of every other door, from ``access.access_for`` —, the counts at every level
whatever their public diffusion, their organisation's private JDD and drafts included; and the
public layer for everything else. Anyone else asking it gets the public view (``vue: publique`` in the
answer), not a refusal: a shared address shows each visitor their own view, and nobody learns from
the answer more than what they may see. A precise answer is never cached (``_no_store``).

Every parameter is read strictly (``inputs``): a bad one is a ``ValidationError`` in French (409
through the API, 400 on the pages). An unknown taxon, producer or JDD and a private or draft JDD
give the same answer — no cell, no observation — so that « absent » and « interdit » look alike.
"""

from __future__ import annotations

import re
import threading
import time

import ckan.model as model
import ckan.plugins.toolkit as tk
import flask
import sqlalchemy as sa

from ckanext.sinp.domain import nomenclatures, taxref
from ckanext.sinp.logic import access, inputs
from ckanext.sinp.logic.strict_actions import with_input_guards
from ckanext.sinp.occurrences import map_store, store
from ckanext.sinp.referentials import taxref_store

NIVEAUX = ("maille", "commune", "departement")
NIVEAU_LIBELLES = {"maille": "maille de 10 km", "commune": "commune", "departement": "département"}
# what a level shows of an observation, by its diffusion (the page's caption says it)
NIVEAU_DIFFUSION = {
    "maille": "diffusées à la maille de 10 km ou plus précisément",
    "commune": "diffusées à la commune ou plus précisément",
    "departement": "diffusées au département ou plus précisément",
}
# the precise view: every level for what the caller may see precisely, the public layer for the rest
DIFFUSION_PRECISE = "que vos droits vous permettent de voir précisément, à tous les niveaux (les autres : {public})"
VUES = ("publique", "precise")
ANNEE_MIN, ANNEE_MAX = 1600, 2100
_DEPARTEMENT = re.compile(r"^(?:\d{2}|2[AB]|97\d)$")
_COMMUNE = re.compile(r"^(?:\d{5}|2[AB]\d{3})$")
_MAILLE = re.compile(r"^10kmL93E\d{3}N\d{3}$")
FILTER_KEYS = ("taxon", "groupe", "dep", "annee_min", "annee_max", "validation", "producteur", "jdd")

MOIS = ("janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août", "sept.", "oct.", "nov.", "déc.")


def _refuse(key: str, message: str):
    raise tk.ValidationError({key: [message]})


# --- the referentials the filters check against (a short cache: they change with a reload only) ------

_cache: dict = {}
_cache_lock = threading.Lock()
_CACHE_SECONDS = 300


def _cached(name: str, compute):
    now = time.monotonic()
    with _cache_lock:
        hit = _cache.get(name)
        if hit and now - hit[0] < _CACHE_SECONDS:
            return hit[1]
    value = compute()
    with _cache_lock:
        _cache[name] = (now, value)
    return value


def groupes() -> list[str]:
    """The GROUP2_INPN groups of the TAXREF loaded on the platform, alphabetically."""

    def compute():
        with model.meta.engine.connect() as c:
            rows = c.execute(
                sa.text(
                    "SELECT DISTINCT group2_inpn FROM sinp_taxref WHERE group2_inpn IS NOT NULL AND group2_inpn <> ''"
                )
            )
            return sorted((r[0] for r in rows), key=lambda g: (g.casefold(), g))

    return _cached("groupes", compute)


def departements() -> dict[str, str]:
    """Code → name of the départements of the platform's referential."""

    def compute():
        with model.meta.engine.connect() as c:
            return {r.code: r.nom for r in c.execute(sa.text("SELECT code, nom FROM sinp_departement ORDER BY code"))}

    return _cached("departements", compute)


def niveaux_validation() -> list[tuple[str, str]]:
    """(code, label) of the validation levels (STATUT_VALID)."""
    nomenclature = nomenclatures.get("STATUT_VALID")
    return [(code, nomenclature.label_of(code) or code) for code in nomenclature.codes()]


# --- parameters -----------------------------------------------------------------------------------


def niveau_of(data_dict: dict, default: str = "maille") -> str:
    niveau = inputs.text(data_dict, "niveau", default, max_length=40).strip().lower()
    niveau = {"département": "departement", "mailles": "maille"}.get(niveau, niveau)
    if niveau not in NIVEAUX:
        _refuse(
            "niveau",
            f"Niveau inconnu : « {inputs.quote(niveau)} » (maille, commune ou departement).",
        )
    return niveau


def vue_of(data_dict: dict) -> str:
    """The view asked: ``publique`` (default) or ``precise``."""
    vue = inputs.text(data_dict, "vue", "publique", max_length=40).strip().lower() or "publique"
    vue = {"précise": "precise", "public": "publique", "publique": "publique"}.get(vue, vue)
    if vue not in VUES:
        _refuse("vue", f"Vue inconnue : « {inputs.quote(vue)} » (publique ou precise).")
    return vue


def precise_access(context) -> store.Access | None:
    """The caller's ``store.Access`` when they may see some occurrences precisely (sysadmin, member
    of an organisation, chef de file), else None (anonymous, a user of no organisation)."""
    acc = access.access_for(context, None)
    return acc if acc.sees_some_precisely else None


def filterable_jdd_ids(acc: store.Access | None) -> list[str]:
    """The JDD a view may be filtered on (the others are « absent »): the published ones; in the precise
    view also those ``acc`` sees precisely (its organisations' private JDD and drafts, every JDD but the
    deleted ones for a sysadmin, the active JDD for a chef de file — counted in its scope only)."""
    pub = access.active_jdd_ids(published=True)
    if acc is None:
        return pub
    params: dict = {}
    rows = model.Session.execute(
        sa.text(f"SELECT id FROM ({map_store.VISIBLE_JDD_SQL}) AS j WHERE {acc.jdd_sql(params)}"), params
    )
    return sorted({*pub, *(r[0] for r in rows)})


def _no_store() -> None:
    """A precise answer is its caller's alone: never kept by a browser or a shared cache (CKAN marks an
    API answer ``public``; ``__no_cache__`` makes it ``private``) — the page cache keeps anonymous answers
    only, and an anonymous visitor never gets the precise view."""
    if not flask.has_request_context():
        return
    flask.request.environ["__no_cache__"] = True

    @flask.after_this_request
    def _private(response):
        response.headers["Cache-Control"] = "private, no-store"
        response.vary.add("Cookie")
        response.vary.add("Authorization")
        return response


def _view(context, data_dict) -> tuple[str, store.Access | None, list[str]]:
    """(view served, the caller's access in the precise view or None, the JDD filterable)."""
    acc = precise_access(context) if vue_of(data_dict) == "precise" else None
    if acc is not None:
        _no_store()
    return ("precise" if acc is not None else "publique"), acc, filterable_jdd_ids(acc)


def _code_of(niveau: str, data_dict: dict) -> str:
    code = inputs.identifier(data_dict, "code")
    if niveau == "departement":
        code = code.upper()
        ok = _DEPARTEMENT.match(code)
        example = "un code de département comme 21, 25 ou 2A"
    elif niveau == "commune":
        code = code.upper()
        ok = _COMMUNE.match(code)
        example = "un code INSEE de commune à 5 caractères, comme 21231"
    else:
        ok = _MAILLE.match(code)
        example = "un code de maille comme 10kmL93E085N670"
    if not ok:
        _refuse("code", f"Code de {NIVEAU_LIBELLES[niveau]} invalide : « {inputs.quote(code)} » ({example}).")
    return code


def _organisation_id(name: str) -> str | None:
    """An active organisation, by name or id (None: no such organisation)."""
    group = model.Session.query(model.Group.id).filter(
        sa.or_(model.Group.name == name, model.Group.id == name),
        model.Group.is_organization.is_(True),
        model.Group.state == "active",
    )
    row = group.first()
    return row[0] if row else None


def _public_jdd(name: str, pub: list[str]) -> str | None:
    """A JDD of ``pub`` (the published ones, or those of the precise view), by name or id (None:
    unknown, or one the view does not count — private, draft or deleted alike)."""
    row = (
        model.Session.query(model.Package.id)
        .filter(sa.or_(model.Package.name == name, model.Package.id == name), model.Package.type == "jdd")
        .first()
    )
    return row[0] if row and row[0] in set(pub) else None


def _taxon_ref(conn, code: int) -> int | None:
    """The valid name (CD_REF) of a TAXREF code (a synonym's CD_NOM is resolved), or None."""
    taxon = taxref_store.get_taxon(conn, code)
    return int(taxon["cd_ref"]) if taxon else None


def read_filters(conn, data_dict: dict, pub: list[str]) -> tuple[map_store.Filtres, dict, bool]:
    """The filters of ``data_dict`` as ``map_store.Filtres``, their echo (as read) and whether they
    name something the public cannot see or that does not exist (then nothing is counted)."""
    echo: dict = {}
    nothing = False
    filtres = map_store.Filtres()
    cd = inputs.integer(data_dict, "taxon", None, 1)
    if cd is not None:
        echo["taxon"] = cd
        ref = _taxon_ref(conn, cd)
        if ref is None:
            nothing = True
        else:
            filtres.cd_refs = sorted({ref, *map_store.descendants(conn, ref)})
    groupe = inputs.text(data_dict, "groupe", None, max_length=100)
    if groupe is not None and groupe.strip():
        groupe = groupe.strip()
        known = groupes()
        if known and groupe not in known:
            _refuse(
                "groupe",
                f"Groupe taxonomique inconnu : « {inputs.quote(groupe)} » (un groupe INPN comme "
                f"{', '.join(known[:3])}…).",
            )
        echo["groupe"] = filtres.groupe = groupe
    dep = inputs.text(data_dict, "dep", None, max_length=10)
    if dep is not None and dep.strip():
        dep = dep.strip().upper()
        if not _DEPARTEMENT.match(dep):
            _refuse("dep", f"Département invalide : « {inputs.quote(dep)} » (un code comme 21, 25, 39 ou 2A).")
        echo["dep"] = filtres.dep = dep
    annee_min = inputs.integer(data_dict, "annee_min", None, ANNEE_MIN, ANNEE_MAX)
    annee_max = inputs.integer(data_dict, "annee_max", None, ANNEE_MIN, ANNEE_MAX)
    if annee_min is not None and annee_max is not None and annee_min > annee_max:
        _refuse("annee_min", f"Période vide : l'année de début ({annee_min}) est après l'année de fin ({annee_max}).")
    if annee_min is not None:
        echo["annee_min"] = filtres.annee_min = annee_min
    if annee_max is not None:
        echo["annee_max"] = filtres.annee_max = annee_max
    levels = inputs.text_list(data_dict.get("validation"), "validation", max_items=20, max_length=10)
    if levels:
        codes = dict(niveaux_validation())
        for level in levels:
            if level not in codes:
                _refuse(
                    "validation",
                    f"Niveau de validation inconnu : « {inputs.quote(level)} » (codes "
                    f"{', '.join(f'{c} {label}' for c, label in codes.items())}).",
                )
        echo["validation"] = filtres.niv_val = sorted(set(levels))
    producteur = inputs.optional_identifier(data_dict, "producteur")
    if producteur is not None:
        echo["producteur"] = producteur
        org = _organisation_id(producteur)
        if org is None:
            nothing = True
        filtres.producteur = org
    jdd = inputs.optional_identifier(data_dict, "jdd")
    if jdd is not None:
        echo["jdd"] = jdd
        package_id = _public_jdd(jdd, pub)
        if package_id is None:
            nothing = True
        filtres.jdd = package_id
    return filtres, echo, nothing


# --- actions -----------------------------------------------------------------------------------------


def _feature(cell: dict) -> dict:
    return {
        "type": "Feature",
        "id": cell["code"],
        "geometry": cell.get("geometry"),
        "properties": {k: v for k, v in cell.items() if k != "geometry"},
    }


def _cell(cell: dict) -> dict:
    return {
        "code": cell["code"],
        "nom": cell.get("nom") or cell["code"],
        "nb_obs": int(cell.get("nb_obs") or 0),
        "nb_taxons": int(cell.get("nb_taxons") or 0),
        "derniere_annee": cell.get("derniere_annee") or None,
        **({"geometry": cell.get("geometry")} if "geometry" in cell else {}),
    }


@tk.side_effect_free
def sinp_carte(context, data_dict):
    """Public observations aggregated by cell of a level, as the public may see them.

    :param niveau: ``maille`` (default), ``commune`` or ``departement``
    :param taxon: a TAXREF code (its valid name and every taxon below it)
    :param groupe: a GROUP2_INPN group (« Oiseaux »…)
    :param dep: a département code
    :param annee_min: first year (observation's start date)
    :param annee_max: last year
    :param validation: validation levels (STATUT_VALID codes, comma-separated)
    :param producteur: an organisation's name (or id)
    :param jdd: a JDD's name (or id)
    :param vue: ``publique`` (default) or ``precise`` (what the caller may see precisely at every
        level, the public layer for the rest; the public view for a caller with no such right)
    :returns: {niveau, vue (the view served), filtres, cellules: [{code, nom, nb_obs, nb_taxons,
        derniere_annee}] (most observations first), nb_cellules, total_obs, max_obs, a_jour (false: the
        roll-ups of ``agregats_du`` answered, later deposits and publications may be missing), ``geojson``: a
        FeatureCollection (EPSG:4326, same properties) of the cells that have a shape — every maille, the
        communes and départements whose outline is loaded (``geo-load contours-…``)}
    """
    tk.check_access("sinp_carte", context, data_dict)
    niveau = niveau_of(data_dict)
    vue, acc, pub = _view(context, data_dict)
    with model.meta.engine.connect() as conn:
        filtres, echo, nothing = read_filters(conn, data_dict, pub)
        state = map_store.rollup_state(conn)  # once: the date said is that of the plan that answered
        if nothing or not pub:
            raw = []
        else:  # map_store counts the published JDD (the rule of ``pub``): its roll-ups serve when fresh
            raw = map_store.cells(conn, niveau, filtres, None, acc, state=state)
        date = map_store.freshness(conn, filtres, acc, state=state)
    cells = [_cell(c) for c in raw if c.get("code") not in (None, "", 0)]
    cells.sort(key=lambda c: (-c["nb_obs"], c["code"]))
    result = {
        "niveau": niveau,
        "niveau_libelle": NIVEAU_LIBELLES[niveau],
        "vue": vue,
        "diffusion": DIFFUSION_PRECISE.format(public=NIVEAU_DIFFUSION[niveau])
        if acc is not None
        else NIVEAU_DIFFUSION[niveau],
        "filtres": echo,
        "nb_cellules": len(cells),
        "total_obs": sum(c["nb_obs"] for c in cells),
        "max_obs": max((c["nb_obs"] for c in cells), default=0),
        "derniere_annee": max((c["derniere_annee"] or 0 for c in cells), default=0) or None,
        # false while the roll-ups serve with changes pending: what was deposited, validated or published
        # after ``agregats_du`` may be missing until the next refresh (never anything no longer public)
        "a_jour": date["a_jour"],
        "agregats_du": date["agregats_du"].isoformat() if date["agregats_du"] else None,
    }
    # the cells that have a shape (every maille; a commune or département whose outline is loaded)
    result["geojson"] = {"type": "FeatureCollection", "features": [_feature(c) for c in cells if c.get("geometry")]}
    result["cellules"] = [{k: v for k, v in c.items() if k != "geometry"} for c in cells]
    return result


def _cell_name(conn, niveau: str, code: str) -> str:
    if niveau == "commune":
        row = conn.execute(sa.text("SELECT nom FROM sinp_commune WHERE code = :c"), {"c": code}).first()
    elif niveau == "departement":
        row = conn.execute(sa.text("SELECT nom FROM sinp_departement WHERE code = :c"), {"c": code}).first()
    else:
        row = None
    return row[0] if row else code


@tk.side_effect_free
def sinp_carte_taxons(context, data_dict):
    """The taxa of one cell, as the public may see them, with the filters of ``sinp_carte``.

    :param niveau: ``maille`` (default), ``commune`` or ``departement``
    :param code: the cell's code (maille CD_SIG, commune INSEE code, département code)
    :param vue: ``publique`` (default) or ``precise``, as for ``sinp_carte``
    :returns: {niveau, vue, code, nom, filtres, taxons: [{cd_ref, nom_valide, nom_vern, groupe,
        nb_obs, derniere_annee, sensible}] (most observations first), nb_taxons, total_obs}
    """
    tk.check_access("sinp_carte_taxons", context, data_dict)
    niveau = niveau_of(data_dict)
    code = _code_of(niveau, data_dict)
    vue, acc, pub = _view(context, data_dict)
    with model.meta.engine.connect() as conn:
        filtres, echo, nothing = read_filters(conn, data_dict, pub)
        raw = [] if nothing or not pub else map_store.cell_taxa(conn, niveau, code, filtres, None, acc)
        nom = _cell_name(conn, niveau, code)
    taxa = [
        {
            "cd_ref": int(t["cd_ref"]),
            "nom_valide": t.get("nom_valide") or str(t["cd_ref"]),
            "nom_vern": t.get("nom_vern") or "",
            "groupe": t.get("groupe") or "",
            "nb_obs": int(t.get("nb_obs") or 0),
            "derniere_annee": t.get("derniere_annee") or None,
            "sensible": bool(t.get("sensible")),
        }
        for t in raw
        if t.get("cd_ref")
    ]
    return {
        "niveau": niveau,
        "vue": vue,
        "code": code,
        "nom": nom,
        "filtres": echo,
        "taxons": taxa,
        "nb_taxons": len(taxa),
        "total_obs": sum(t["nb_obs"] for t in taxa),
    }


def _jdd_of(summary_jdd: list[dict], pub: list[str]) -> list[dict]:
    """The JDD holding the taxon with their title and name (published, active ones only)."""
    counts = {j["package_id"]: int(j.get("nb_obs") or 0) for j in summary_jdd if j.get("package_id") in set(pub)}
    if not counts:
        return []
    rows = (
        model.Session.query(model.Package.id, model.Package.name, model.Package.title, model.Group.title)
        .outerjoin(model.Group, model.Group.id == model.Package.owner_org)
        .filter(model.Package.id.in_(list(counts)), model.Package.private.is_(False), model.Package.state == "active")
        .all()
    )
    out = [
        {"package_id": pid, "name": name, "titre": title or name, "producteur": org or "", "nb_obs": counts[pid]}
        for pid, name, title, org in rows
    ]
    out.sort(key=lambda j: (-j["nb_obs"], j["titre"].casefold()))
    return out


@tk.side_effect_free
def sinp_taxon_fiche(context, data_dict):
    """A taxon's sheet: its TAXREF names and statuses, and what the public may see of its
    observations (those of the taxon and of every taxon below it): map by maille, observations per
    month and per year, the JDD that hold them.

    :param cd_ref: a TAXREF code (a synonym's CD_NOM gives its valid name's sheet)
    :returns: {cd_ref, cd_nom, nom_valide, nom_vern, rang, rang_libelle, groupe, …, total_obs,
        mailles: [{code, nb_obs, nb_taxons, derniere_annee}], mois: [12 counts], annees: [{annee,
        nb_obs}], jdd: [{package_id, name, titre, producteur, nb_obs}]}
    """
    tk.check_access("sinp_taxon_fiche", context, data_dict)
    if data_dict.get("cd_ref") in (None, ""):
        _refuse("cd_ref", "Paramètre « cd_ref » manquant : indiquez un code TAXREF.")
    cd = inputs.integer(data_dict, "cd_ref", None, 1)
    pub = access.active_jdd_ids(published=True)
    with model.meta.engine.connect() as conn:
        asked = taxref_store.get_taxon(conn, cd)
        if asked is None:
            raise tk.ObjectNotFound(f"Taxon inconnu : aucun nom de TAXREF n'a le code {cd}.")
        taxon = (
            asked if asked["cd_ref"] == asked["cd_nom"] else (taxref_store.get_taxon(conn, asked["cd_ref"]) or asked)
        )
        ref = int(taxon["cd_ref"])
        refs = sorted({ref, *map_store.descendants(conn, ref)})
        summary = map_store.taxon_summary(conn, refs, None) if pub else {}
    mailles = [
        {k: v for k, v in _cell(c).items() if k != "geometry"}
        for c in summary.get("mailles") or []
        if c.get("code") not in (None, "")
    ]
    mailles.sort(key=lambda c: (-c["nb_obs"], c["code"]))
    mois = [int(n or 0) for n in (summary.get("mois") or [0] * 12)][:12]
    mois += [0] * (12 - len(mois))
    annees = sorted(
        (
            {"annee": int(a["annee"]), "nb_obs": int(a["nb_obs"] or 0)}
            for a in summary.get("annees") or []
            if a.get("annee")
        ),
        key=lambda a: a["annee"],
    )
    jdd = _jdd_of(summary.get("jdd") or [], pub)
    habitat = taxon.get("habitat")
    fr = (taxon.get("fr") or "").strip()
    return {
        "cd_ref": ref,
        "cd_nom": int(asked["cd_nom"]),
        "synonyme": asked["cd_nom"] != asked["cd_ref"],
        "nom_cite": asked.get("nom_complet") or asked.get("lb_nom"),
        "nom_valide": taxon.get("nom_valide") or taxon.get("nom_complet") or taxon.get("lb_nom"),
        "lb_nom": taxon.get("lb_nom"),
        "lb_auteur": taxon.get("lb_auteur") or "",
        "nom_vern": taxon.get("nom_vern") or "",
        "nom_vern_eng": taxon.get("nom_vern_eng") or "",
        "rang": taxon.get("rang"),
        "rang_libelle": taxref.RANGS.get(taxon.get("rang") or "", taxon.get("rang") or ""),
        "classification": [
            (label, taxon.get(key))
            for key, label in (
                ("regne", "Règne"),
                ("phylum", "Embranchement"),
                ("classe", "Classe"),
                ("ordre", "Ordre"),
                ("famille", "Famille"),
            )
            if taxon.get(key)
        ],
        "group1_inpn": taxon.get("group1_inpn") or "",
        "groupe": taxon.get("group2_inpn") or "",
        "group3_inpn": taxon.get("group3_inpn") or "",
        "statut_fr": fr,
        "statut_fr_libelle": taxref.STATUTS_BIOGEO.get(fr, fr),
        "habitat": habitat,
        "habitat_libelle": taxref.HABITATS.get(habitat, "") if habitat is not None else "",
        "url_inpn": taxon.get("url_inpn") or "",
        "nb_taxons_inclus": len(refs),
        "total_obs": sum(j["nb_obs"] for j in jdd),
        "mailles": mailles,
        "mois": mois,
        "annees": annees,
        "jdd": jdd,
    }


@tk.auth_allow_anonymous_access
def sinp_carte_auth(context, data_dict):
    """Aggregates of what the public may see: anyone."""
    return {"success": True}


@tk.auth_allow_anonymous_access
def sinp_carte_taxons_auth(context, data_dict):
    return {"success": True}


@tk.auth_allow_anonymous_access
def sinp_taxon_fiche_auth(context, data_dict):
    return {"success": True}


def get_actions() -> dict:
    """The three actions with the plugin's input guards (only them)."""
    actions = {"sinp_carte": sinp_carte, "sinp_carte_taxons": sinp_carte_taxons, "sinp_taxon_fiche": sinp_taxon_fiche}
    return {name: func for name, func in with_input_guards(actions).items() if name in actions}


def get_auth_functions() -> dict:
    return {
        "sinp_carte": sinp_carte_auth,
        "sinp_carte_taxons": sinp_carte_taxons_auth,
        "sinp_taxon_fiche": sinp_taxon_fiche_auth,
    }
