"""The public géo-visualiseur (#16): /carte (observations by maille, commune or département, with
filters kept in the URL), its exports of the current view (/carte/export.csv, /carte/export.geojson)
and the taxon sheets (/taxon/<cd_ref>).

The precise view (``vue=precise``, kept in the URL, the level links, the form and the exports) is
offered by a switch to those who may see some occurrences precisely (``carte_actions.precise_access``);
anyone else asking it gets the public view, with a notice. Its answers are marked ``private,
no-store`` by the actions; the page cache never keeps a signed-in visitor's page.

Everything comes from the actions ``sinp_carte``, ``sinp_carte_taxons`` and ``sinp_taxon_fiche``
(logic/carte_actions.py): the page shows what the API gives, with the same protection. The page
reads without JavaScript (tables of cells, the taxa of a cell chosen by a link); the map by maille
is drawn by ``assets/js/sinp-carte.js`` (Leaflet as ckanext-spatial serves it) from the same action.
Charts of the taxon sheet are SVG written on the server by ``domain/charts.py``.
"""

from __future__ import annotations

import json
import re

import ckan.model as model
import ckan.plugins.toolkit as tk
import flask
from flask import Blueprint
from markupsafe import Markup

from ckanext.sinp.domain import charts, csvsafe
from ckanext.sinp.logic import carte_actions
from ckanext.sinp.referentials import taxref_store
from ckanext.sinp.views.blueprint import messages as _messages

carte = Blueprint("sinp_carte", __name__)

FILTERS = carte_actions.FILTER_KEYS
TABLE_ROWS = 200  # rows of a level's table on the page (the CSV has them all)
CSV_HEADER = ("niveau", "code", "nom", "nb_obs", "nb_taxons", "derniere_annee")


def _context() -> dict:
    return {"user": tk.g.user}


# --- the query string ------------------------------------------------------------------------------


def _args() -> dict:
    """The page's parameters as given (empty ones dropped; the validation levels may come as several
    check boxes or as one comma-separated value)."""
    out: dict = {}
    for name in ("niveau", "vue"):
        value = (tk.request.args.get(name) or "").strip()
        if value and not (name == "vue" and value.lower() == "publique"):  # the default view: not in the URL
            out[name] = value
    for name in FILTERS:
        if name == "validation":
            values = [v.strip() for raw in tk.request.args.getlist(name) for v in raw.split(",") if v.strip()]
            if values:
                out[name] = ",".join(values)
            continue
        value = (tk.request.args.get(name) or "").strip()
        if value:
            out[name] = value
    return out


def _resolve_taxon(args: dict) -> tuple[dict, dict | None, list[dict]]:
    """A taxon given by name (the form's text box) becomes its CD_REF: the best valid TAXREF name
    matching it. Returns the action's parameters, the taxon shown (or None) and other names
    matching the text (to choose another)."""
    text = args.get("taxon")
    if not text:
        return args, None, []
    with model.meta.engine.connect() as conn:
        if text.isascii() and text.isdigit() and len(text) <= 9:
            taxon = taxref_store.get_taxon(conn, int(text))
            if taxon and taxon["cd_ref"] != taxon["cd_nom"]:
                taxon = taxref_store.get_taxon(conn, taxon["cd_ref"]) or taxon
            return args, taxon, []
        if len(text) > 200:
            raise tk.ValidationError({"taxon": ["La recherche de taxon est limitée à 200 caractères."]})
        if text.lstrip("-").isdigit():  # « ² », « -4 », a code out of bounds: neither a name nor a CD_REF
            raise tk.ValidationError(
                {
                    "taxon": [
                        f"« {text[:60]} » n'est pas un CD_REF TAXREF (un nombre entier positif) ni un nom de taxon."
                    ]
                }
            )
        hits = taxref_store.search_taxa(conn, text, 6, valid_only=True)
    if not hits:
        raise tk.ValidationError(
            {
                "taxon": [
                    f"Aucun taxon de TAXREF ne correspond à « {text[:60]} » : vérifiez le nom, ou donnez son CD_REF."
                ]
            }
        )
    return {**args, "taxon": str(hits[0]["cd_ref"])}, hits[0], hits[1:]


def _query(params: dict, **changes) -> dict:
    out = {**params, **changes}
    return {k: v for k, v in out.items() if v not in (None, "")}


def _url(endpoint: str, params: dict, **changes) -> str:
    return tk.url_for(endpoint, **_query(params, **changes))


# --- choices of the form -------------------------------------------------------------------------


def _choices(params: dict, pub: list[str]) -> dict:
    """Départements, groups, validation levels, producers and JDD offered by the filters: the
    producers and JDD are those of the view (``pub``: published, active JDD; in the precise view also
    those the user sees precisely)."""
    jdd, producers = [], []
    if pub:
        rows = (
            model.Session.query(model.Package.name, model.Package.title, model.Group.name, model.Group.title)
            .outerjoin(model.Group, model.Group.id == model.Package.owner_org)
            .filter(model.Package.id.in_(pub))
            .order_by(model.Package.title)
            .all()
        )
        seen = {}
        for name, title, org_name, org_title in rows:
            if org_name:
                seen[org_name] = org_title or org_name
            if not params.get("producteur") or params.get("producteur") == org_name:
                jdd.append((name, title or name))
        producers = sorted(seen.items(), key=lambda kv: kv[1].casefold())
    deps = carte_actions.departements()
    return {
        "niveaux": [(n, carte_actions.NIVEAU_LIBELLES[n].capitalize()) for n in carte_actions.NIVEAUX],
        "groupes": carte_actions.groupes(),
        "departements": [(code, f"{nom} ({code})") for code, nom in deps.items()],
        "validation": carte_actions.niveaux_validation(),
        "producteurs": producers,
        "jdd": jdd,
    }


def _describe(params: dict, taxon: dict | None, choices: dict) -> list[str]:
    """The filters in effect, in words (the page's summary)."""
    out = []
    if taxon:
        out.append(f"taxon : {taxon.get('nom_valide') or taxon.get('nom_complet')} et ses taxons inférieurs")
    if params.get("groupe"):
        out.append(f"groupe : {params['groupe']}")
    if params.get("dep"):
        out.append(f"département : {dict(choices['departements']).get(params['dep'], params['dep'])}")
    if params.get("annee_min") and params.get("annee_max"):
        out.append(f"années {params['annee_min']} à {params['annee_max']}")
    elif params.get("annee_min"):
        out.append(f"depuis {params['annee_min']}")
    elif params.get("annee_max"):
        out.append(f"jusqu'en {params['annee_max']}")
    if params.get("validation"):
        labels = dict(choices["validation"])
        out.append("validation : " + ", ".join(labels.get(c, c) for c in params["validation"].split(",")))
    if params.get("producteur"):
        out.append(f"producteur : {dict(choices['producteurs']).get(params['producteur'], params['producteur'])}")
    if params.get("jdd"):
        out.append(f"jeu de données : {dict(choices['jdd']).get(params['jdd'], params['jdd'])}")
    return out


# --- pages --------------------------------------------------------------------------------------


def _carte_result(args: dict) -> tuple[dict, dict, dict | None, list[dict]]:
    params, taxon, others = _resolve_taxon(args)
    result = tk.get_action("sinp_carte")(_context(), dict(params))
    return params, result, taxon, others


def _views(params: dict, acc, asked: str | None, served: str) -> dict:
    """The switch between the public and the precise view (shown to those who may see precisely), and
    what the precise view holds, in words."""
    out: dict = {"servie": served, "demandee_refusee": asked == "precise" and served != "precise"}
    if acc is None:
        return {**out, "offerte": False}
    if acc.full:
        who = "toutes les observations de la plateforme (administrateur), y compris des jeux de données privés ou en brouillon"
    else:
        parts = []
        if acc.orgs:
            parts.append(
                "les observations des jeux de données de votre organisation, y compris privés ou en brouillon"
                if len(acc.orgs) == 1
                else "les observations des jeux de données de vos organisations, y compris privés ou en brouillon"
            )
        for scope in acc.scopes:
            groups = ", ".join(scope.groupes) or "tous les groupes"
            deps = ", ".join(scope.departements) or "tous les départements"
            parts.append(f"comme chef de file, celles des jeux de données actifs pour {groups} ({deps})")
        who = " ; ".join(parts)
    no_view = {k: v for k, v in params.items() if k != "vue"}
    return {
        **out,
        "offerte": True,
        "contenu": who,
        "publique": _url("sinp_carte.carte_page", no_view),
        "precise": _url("sinp_carte.carte_page", no_view, vue="precise"),
    }


def carte_page():
    """/carte: the observations the public may see, aggregated by maille, commune or département (or
    the precise view, ``vue=precise``, for those who may see precisely)."""
    args = _args()
    error, result, taxon, others, cell = None, None, None, [], None
    params = dict(args)
    try:
        asked = carte_actions.vue_of(args)
    except tk.ValidationError as err:
        asked, error = None, _messages(err)
        params.pop("vue", None)
    acc = carte_actions.precise_access(_context())
    if acc is None or asked != "precise":
        params.pop("vue", None)
    try:
        if error is None:
            params, result, taxon, others = _carte_result(params)
        code = (tk.request.args.get("cellule") or "").strip()
        if code and result:
            cell = tk.get_action("sinp_carte_taxons")(_context(), {**params, "niveau": result["niveau"], "code": code})
    except tk.ValidationError as err:
        error = _messages(err)
    niveau = (result or {}).get("niveau") or (
        params.get("niveau") if params.get("niveau") in carte_actions.NIVEAUX else "maille"
    )
    served = (result or {}).get("vue") or ("precise" if params.get("vue") else "publique")
    choices = _choices(params, carte_actions.filterable_jdd_ids(acc if served == "precise" else None))
    api_params = _query(params, niveau=niveau)
    page_params = _query(params, niveau=None if niveau == "maille" else niveau)
    extra = {
        "error": error,
        "result": result,
        "niveau": niveau,
        "params": params,
        "args": args,
        "taxon": taxon,
        "autres_taxons": others,
        "cell": cell,
        "choices": choices,
        "filtres_texte": _describe(params, taxon, choices),
        "vues": _views(params, acc, asked, served),
        "rows": (result or {}).get("cellules", [])[:TABLE_ROWS],
        "api_query": json.dumps(api_params, ensure_ascii=False),
        "urls": {
            "csv": _url("sinp_carte.export_csv", api_params),
            "geojson": _url("sinp_carte.export_geojson", api_params),
            "levels": {
                n: _url("sinp_carte.carte_page", page_params, niveau=None if n == "maille" else n)
                for n in carte_actions.NIVEAUX
            },
            "page": _url("sinp_carte.carte_page", page_params),
            "api": tk.url_for("api.action", ver=3, logic_function="sinp_carte"),
            "api_taxons": tk.url_for("api.action", ver=3, logic_function="sinp_carte_taxons"),
            "api_taxon_search": tk.url_for("api.action", ver=3, logic_function="sinp_taxon_search"),
            "taxon_base": tk.url_for("sinp_carte.taxon_page", cd_ref=0)[:-1],
        },
        "cell_url": lambda code: _url("sinp_carte.carte_page", page_params, cellule=code) + "#sinp-carte-taxons",
        "taxon_url": lambda cd: tk.url_for("sinp_carte.taxon_page", cd_ref=cd),
        "fr": charts.fr_number,
    }
    html = tk.render("sinp/carte.html", extra)
    return (html, 400) if error else html


def _export_result() -> dict:
    try:
        return _carte_result(_args())[1]
    except tk.ValidationError as err:
        return tk.abort(400, _messages(err))


def _download(result: dict, body: str, mimetype: str, ext: str):
    """An export of the current view as an attachment named after its level and filters."""
    parts = [result["niveau"], *(str(v) for _, v in sorted(result.get("filtres", {}).items()))]
    if result.get("vue") == "precise":
        parts.append("vue-precise")
    name = re.sub(r"[^A-Za-z0-9_-]+", "_", "-".join(parts)).strip("_")[:120]  # a header value: ASCII only
    return flask.Response(
        body, mimetype=mimetype, headers={"Content-Disposition": f'attachment; filename="carte-{name}.{ext}"'}
    )


def export_csv():
    """The cells of the current view as CSV (the platform's dialect: BOM, « ; », formulas neutralised)."""
    result = _export_result()
    rows = [
        (result["niveau"], c["code"], c["nom"], c["nb_obs"], c["nb_taxons"], c["derniere_annee"])
        for c in result["cellules"]
    ]
    return _download(result, csvsafe.text(CSV_HEADER, rows), csvsafe.MIMETYPE, "csv")


def export_geojson():
    """The cells of the current view as GeoJSON (EPSG:4326): polygons for the mailles and for the communes
    and départements whose outline is loaded; a null geometry for the others."""
    result = _export_result()
    shapes = {f["id"]: f["geometry"] for f in result["geojson"]["features"]}
    collection = {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "id": c["code"], "geometry": shapes.get(c["code"]), "properties": c}
            for c in result["cellules"]
        ],
    }
    body = {
        **collection,
        "niveau": result["niveau"],
        "filtres": result.get("filtres", {}),
        "total_obs": result["total_obs"],
    }
    return _download(result, json.dumps(body, ensure_ascii=False), "application/geo+json", "geojson")


def _grid() -> tuple[str, ...]:
    from ckanext.sinp.views import indicators  # the region's shipped 10 km grid (drawn grey under the map)

    return indicators._grid()


def _svg(svg: str | None):
    """SVG that ``domain/charts.py`` wrote and escaped (tests/unit/test_charts.py): markup."""
    return Markup(svg) if svg else None


def taxon_page(cd_ref: int):
    """/taxon/<cd_ref>: a taxon's sheet, from what the public may see."""
    try:
        fiche = tk.get_action("sinp_taxon_fiche")(_context(), {"cd_ref": cd_ref})
    except tk.ObjectNotFound:
        return tk.abort(404, f"Taxon inconnu : aucun nom de TAXREF n'a le code {cd_ref}.")
    except tk.ValidationError as err:
        return tk.abort(404 if cd_ref > 0 else 400, _messages(err))
    if fiche["cd_ref"] != cd_ref:
        return tk.redirect_to(tk.url_for("sinp_carte.taxon_page", cd_ref=fiche["cd_ref"]))
    name = fiche["lb_nom"] or fiche["nom_valide"]
    cells = [charts.Cell(c["code"], c["nb_obs"]) for c in fiche["mailles"]]
    months = [charts.Point(m, n) for m, n in zip(carte_actions.MOIS, fiche["mois"], strict=True)]
    years = [charts.Point(str(a["annee"]), a["nb_obs"]) for a in fiche["annees"]]

    def drawings(width: int) -> dict:
        return {
            "carte": _svg(
                charts.maille_map_svg(
                    cells,
                    title=f"Observations de {name} par maille de 10 km",
                    unit="observations",
                    grid=_grid(),
                    width=width,
                )
            ),
            "mois": _svg(
                charts.bar_svg(
                    {"": months},
                    title=f"Observations de {name} par mois",
                    unit="observations",
                    width=width,
                    height=280 if width >= 600 else 260,
                )
            )
            if fiche["total_obs"]
            else None,
            "annees": _svg(
                charts.bar_svg(
                    {"": years},
                    title=f"Observations de {name} par année",
                    unit="observations",
                    width=width,
                    height=280 if width >= 600 else 260,
                )
            )
            if years
            else None,
        }

    return tk.render(
        "sinp/taxon.html",
        {
            "fiche": fiche,
            "wide": drawings(640),
            "narrow": drawings(360),
            "carte_url": tk.url_for("sinp_carte.carte_page", taxon=fiche["cd_ref"]),
            "fr": charts.fr_number,
            "mois": list(zip(carte_actions.MOIS, fiche["mois"], strict=True)),
        },
    )


carte.add_url_rule("/carte", view_func=carte_page, endpoint="carte_page")
carte.add_url_rule("/carte/export.csv", view_func=export_csv, endpoint="export_csv")
carte.add_url_rule("/carte/export.geojson", view_func=export_geojson, endpoint="export_geojson")
carte.add_url_rule("/taxon/<int:cd_ref>", view_func=taxon_page, endpoint="taxon_page")
