"""The ORB indicators' pages (issue #17): the list by theme (/indicateurs), one indicator with its
chart, method, caveats, edition, filters and table (/indicateurs/<code>), its downloads (CSV with a
metadata header, JSON) and a chart-only page to put in a frame elsewhere (…/embed).

Everything comes from the actions ``sinp_indicator_list`` and ``sinp_indicator_show`` (no SQL here):
the page shows what the API gives, with the same protection. Charts are SVG written on the server
by ``domain/charts.py`` (no script, readable without JavaScript and in a partner's frame).
"""

from __future__ import annotations

import csv
import functools
import html
import json
import logging
import re

import ckan.plugins.toolkit as tk
import flask
from markupsafe import Markup

from ckanext.sinp.domain import charts
from ckanext.sinp.domain import indicators as declared
from ckanext.sinp.domain.model import schemas_dir
from ckanext.sinp.referentials import geo
from ckanext.sinp.views.blueprint import messages as _messages
from ckanext.sinp.views.blueprint import sinp

log = logging.getLogger(__name__)
LIVE = "courante"
FILTERS = ("departement", "groupe", "annee")
SECRET = charts.SECRET_LABEL
# the unit of the rows with a key where it is not the indicator's (the declaration's method says so):
# a maille's taxa under the coverage share, a taxon's observations under the number of EEE taxa
KEY_UNITS = {"couverture_mailles": "taxons", "eee_taxons": "observations"}


# --- reading the actions ------------------------------------------------------------------------


def _context() -> dict:
    return {"user": tk.g.user}


def _params() -> dict:
    """The edition and breakdown filters of the query string (empty ones dropped)."""
    out = {"edition": (tk.request.args.get("edition") or LIVE).strip()}
    for name in FILTERS:
        value = (tk.request.args.get(name) or "").strip()
        if value:
            out[name] = value
    return out


def _show(code: str, params: dict, page: bool = False) -> dict:
    """The indicator as the API gives it; unknown code: 404, bad edition or filter: 400 (French).

    ``page``: a TAXREF group that has no value in the edition (the API refuses it: it knows only
    the groups present) is no error on a page, whose filter offers every group: the page says
    there is nothing for it."""
    try:
        return tk.get_action("sinp_indicator_show")(_context(), {"code": code, **params})
    except tk.ObjectNotFound:
        return tk.abort(404, f"Indicateur inconnu : « {code} ».")
    except tk.ValidationError as err:
        if "code" in err.error_dict:
            return tk.abort(404, f"Indicateur inconnu : « {code} ».")
        if page and set(err.error_dict) == {"groupe"} and params.get("groupe") in _taxref_groups():
            others = {k: v for k, v in params.items() if k != "groupe"}
            result = _show(code, others)
            return {**result, "series": [], "vide": True}
        return tk.abort(400, _messages(err))


@functools.cache
def _departements() -> dict[str, str]:
    """Code → name of the region's départements (the shipped referential file)."""
    path = schemas_dir() / "referentiels" / "departements" / "departements_bfc.csv"
    try:
        return {d.code: d.nom for d in geo.read_departements(path).records}
    except (OSError, geo.GeoFormatError):
        log.exception("Référentiel des départements illisible : %s", path)
        return {}


@functools.cache
def _grid() -> tuple[str, ...]:
    """The region's 10 km cells (shipped grid), drawn grey under a map so that the gaps show."""
    path = schemas_dir() / "referentiels" / "mailles" / "mailles10km_bfc.csv"
    try:
        return tuple(m.cd_sig for m in geo.read_mailles(path).records)
    except (OSError, geo.GeoFormatError):
        log.exception("Grille des mailles illisible : %s", path)
        return ()


@functools.cache
def _taxref_groups() -> tuple[str, ...]:
    """The GROUP2_INPN groups as TAXREF spells them (shipped extract): the group filter's choices
    when the API does not say which groups have values."""
    path = schemas_dir() / "referentiels" / "taxref" / "TAXREFv18_extrait_BFC.txt"
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle, delimiter="\t")
            return tuple(sorted({(r.get("GROUP2_INPN") or "").strip() for r in reader} - {""}))
    except (OSError, csv.Error):
        log.exception("Extrait TAXREF illisible : %s", path)
        return ()


def departement_label(code: str | None) -> str:
    if not code:
        return "Région"
    name = _departements().get(code)
    return f"{name} ({code})" if name else code


def _edition_of(entry) -> str:
    return entry if isinstance(entry, str) else str(entry.get("edition"))


def edition_label(entry) -> str:
    """« Édition courante » or « Édition 2024 (figée) »."""
    edition = _edition_of(entry)
    if edition == LIVE:
        return "Édition courante"
    return f"Édition {edition} (figée)"


def _choices(result: dict) -> dict:
    """The départements and groups offered by the filters: those the API says have values, else
    every département of the region and the groups present in the rows."""
    offered = result.get("valeurs_filtres") or result.get("breakdown_values") or {}
    deps = offered.get("departement") or sorted(_departements())
    groups = offered.get("groupe") or _taxref_groups()
    return {
        "departements": [(code, departement_label(code)) for code in deps],
        "groupes": list(groups),
    }


# --- shaping the rows into a chart, a headline and a table -----------------------------------------


def _unit(value, unit: str) -> str:
    """« 1 taxon », « 2 taxons »: a one-word plural unit in the singular under 2."""
    if value is not None and abs(value) < 2 and " " not in unit and unit.endswith("s"):
        return unit[:-1]
    return unit


def _number(value, unit: str) -> str:
    if value is None:
        return "—"
    if unit.startswith("année"):
        return str(int(value))  # 2017, not 2 017
    return charts.fr_number(value, 1 if unit == "%" and not float(value).is_integer() else None)


def _cle_kind(rows: list[dict], ventilations=()) -> str | None:
    """What the rows' ``cle`` holds: a maille, a validation level, a taxon (cd_ref), a producer…"""
    keys = [r["cle"] for r in rows if r.get("cle")]
    if not keys:
        return None
    if all(charts.parse_maille(k) for k in keys):
        return "maille"
    if "niveau" in ventilations and all(len(k) <= 2 for k in keys):
        return "niveau"
    if all(k.isdigit() for k in keys):
        return "taxon"
    if all(k.startswith("producteur:") for k in keys):
        return "producteur"
    if all(k.startswith("objectif:") for k in keys):
        return "objectif"
    return "autre"


def _label_of(row: dict) -> str:
    return row.get("libelle") or row.get("cle") or ""


def headline(result: dict) -> dict | None:
    """The figure of an indicator in one line: the whole period's regional row (no key), else its
    latest year."""
    rows = result.get("series") or []
    plain = [r for r in rows if not r.get("cle")]
    if result.get("code") == "eee_premiere_mention" and rows:
        regional = [r for r in rows if r.get("cle") and not r.get("departement") and r.get("annee") is not None]
        if regional:  # the taxa recorded, and the latest year one was first recorded
            latest = max(r["annee"] for r in regional)
            text = f"{charts.fr_number(len(regional))} {_unit(len(regional), 'taxons')}"
            return {"text": text, "annee": latest, "secret": False}
    if not plain:
        return None
    whole = [r for r in plain if r.get("annee") is None]
    row = whole[0] if whole else max(plain, key=lambda r: r["annee"])
    unit = result.get("unite") or ""
    if row.get("secret"):
        return {"text": SECRET, "annee": row.get("annee"), "secret": True}
    value = row.get("valeur")
    return {"text": f"{_number(value, unit)} {_unit(value, unit)}".strip(), "annee": row.get("annee"), "secret": False}


def sparkline(result: dict) -> str | None:
    plain = sorted(
        (r for r in result.get("series") or [] if not r.get("cle") and r.get("annee") is not None),
        key=lambda r: r["annee"],
    )
    if len(plain) < 2:
        return None
    return charts.sparkline_svg(
        [None if r.get("secret") else r.get("valeur") for r in plain], title=f"Tendance : {result.get('titre')}"
    )


def _year_points(rows: list[dict]) -> list[charts.Point]:
    return [
        charts.Point(str(r["annee"]), None if r.get("secret") else r.get("valeur"), bool(r.get("secret")))
        for r in sorted(rows, key=lambda r: r["annee"])
    ]


def chart(result: dict, params: dict, width: int = 640) -> str:
    """The indicator's chart, by its ``graphique`` and the shape of its rows. ``width``: of the
    drawing (the page carries a wide one and a narrow one for phones, where the wide one's text
    would be too small once scaled down)."""
    height = 320 if width >= 600 else 300
    size = {"width": width, "height": height}
    rows = result.get("series") or []
    title, unit, kind = result.get("titre") or "", result.get("unite") or "", result.get("graphique")
    plain = [r for r in rows if not r.get("cle")]
    keyed = [r for r in rows if r.get("cle")]
    yearly = [r for r in plain if r.get("annee") is not None]
    cle_kind = _cle_kind(keyed, result.get("ventilations") or ())
    if cle_kind == "maille":
        years = sorted({r["annee"] for r in keyed if r.get("annee") is not None})
        shown = [r for r in keyed if r.get("annee") == (years[-1] if years else None)]
        cells = [charts.Cell(r["cle"], r.get("valeur"), bool(r.get("secret"))) for r in shown]
        unit = KEY_UNITS.get(result.get("code"), unit)
        return charts.maille_map_svg(cells, title=title, unit=unit, grid=_grid(), width=width)
    if result.get("code") == "eee_premiere_mention":
        per_year: dict[str, float] = {}
        for r in keyed:
            if not r.get("secret") and r.get("annee") is not None:
                per_year[str(r["annee"])] = per_year.get(str(r["annee"]), 0) + 1
        points = [charts.Point(y, n) for y, n in sorted(per_year.items())]
        return charts.bar_svg({"Taxons signalés pour la première fois": points}, title=title, unit="taxons", **size)
    if kind == "barres" and cle_kind == "niveau" and any(r.get("annee") is not None for r in keyed):
        series: dict[str, list[charts.Point]] = {}
        for r in sorted(keyed, key=lambda r: r.get("cle") or ""):
            if r.get("annee") is not None:
                series.setdefault(_label_of(r), []).append(
                    charts.Point(str(r["annee"]), None if r.get("secret") else r.get("valeur"), bool(r.get("secret")))
                )
        for points in series.values():
            points.sort(key=lambda p: p.x)
        total = 100.0 if unit == "%" else None  # the levels' shares add up to 100 %
        return charts.bar_svg(series, title=title, unit=unit, stacked=True, total=total, **size)
    if yearly:
        draw = charts.bar_svg if kind == "barres" else charts.line_svg
        return draw({"": _year_points(yearly)}, title=title, unit=unit, **size)
    if keyed:
        if result.get("code") == "ca_jdd_producteur":
            points_jdd = [charts.Point(_label_of(r), r.get("valeur"), bool(r.get("secret"))) for r in keyed]
            points_ca = [charts.Point(_label_of(r), r.get("effectif"), bool(r.get("secret"))) for r in keyed]
            return charts.bar_svg(
                {"Jeux de données": points_jdd, "Cadres d'acquisition": points_ca}, title=title, unit="fiches", **size
            )
        points = [charts.Point(_label_of(r), r.get("valeur"), bool(r.get("secret"))) for r in keyed]
        return charts.bar_svg({"": points}, title=title, unit=unit, **size)
    return charts.bar_svg(
        {"": [charts.Point("Toute la période", r.get("valeur"), r.get("secret")) for r in plain]},
        title=title,
        unit=unit,
        **size,
    )


def _value_cell(row: dict, unit: str, key_unit: str | None) -> str:
    """A value of the table; with its unit when a keyed row counts something else than the header's."""
    if key_unit and row.get("cle") and row.get("valeur") is not None:
        return f"{_number(row['valeur'], key_unit)} {key_unit}"
    return _number(row.get("valeur"), unit)


def _cle_header(code) -> str:
    """The header of the « other breakdown » column (the declaration names what it holds)."""
    try:
        return declared.get(code).cle_libelle
    except LookupError:
        return "Détail"


def table(result: dict) -> dict:
    """The rows as the page's table shows them: French labels, French numbers, « secret »."""
    rows = result.get("series") or []
    unit = result.get("unite") or ""
    kind = _cle_kind(rows, result.get("ventilations") or ())
    body = []
    for r in rows:
        secret = bool(r.get("secret"))
        body.append(
            {
                "annee": "Toute la période" if r.get("annee") is None else str(r["annee"]),
                "cle": (_label_of(r) + (f" ({r['cle']})" if kind == "taxon" and r.get("libelle") else ""))
                if r.get("cle")
                else "Ensemble",
                "valeur": SECRET if secret else _value_cell(r, unit, KEY_UNITS.get(result.get("code"))),
                "effectif": SECRET if secret else charts.fr_number(r.get("effectif")),
                "secret": secret,
            }
        )
    return {
        "has_cle": kind is not None,
        "cle_label": _cle_header(result.get("code")),
        "rows": body,
    }


def _chart_unit(result: dict) -> str:
    """The unit the chart draws: a map draws its cells' values (a coverage map: taxa per maille)."""
    unit = result.get("unite") or ""
    if result.get("graphique") == "carte":
        return KEY_UNITS.get(result.get("code"), unit)
    return unit


def _svg(svg: str | None):
    """A chart for a template: ``domain/charts.py`` wrote it and escaped every text in it (tested
    in tests/unit/test_charts.py), so it goes into the page as markup; nothing else does."""
    return Markup(svg) if svg else None


# --- pages --------------------------------------------------------------------------------------


def indicators():
    """/indicateurs: every indicator by theme, with its question, trend and latest figure."""
    listed = tk.get_action("sinp_indicator_list")(_context(), {})
    themes: dict[str, dict] = {}
    for item in listed:
        try:
            result = tk.get_action("sinp_indicator_show")(_context(), {"code": item["code"]})
        except (tk.ValidationError, tk.ObjectNotFound):
            result = dict(item, series=[])
        theme = themes.setdefault(item["theme"], {"libelle": item.get("theme_libelle") or item["theme"], "items": []})
        theme["items"].append(
            {**item, "question": result.get("question"), "headline": headline(result), "spark": _svg(sparkline(result))}
        )
    return tk.render("sinp/indicators.html", {"themes": list(themes.values())})


def _urls(code: str, params: dict) -> dict:
    query = {k: v for k, v in params.items() if v and not (k == "edition" and v == LIVE)}
    return {
        "csv": tk.url_for("sinp.indicator_csv", code=code, **query),
        "json": tk.url_for("sinp.indicator_json", code=code, **query),
        "embed": tk.url_for("sinp.indicator_embed", code=code, _external=True, **query),
        "page": tk.url_for("sinp.indicator", code=code, _external=True, **query),
    }


def indicator(code: str):
    """/indicateurs/<code>: the chart, what it answers and how, its caveats, the table."""
    params = _params()
    result = _show(code, params, page=True)
    urls = _urls(code, params)
    title = html.escape(result.get("titre") or code, quote=False).replace('"', "&quot;")  # readable: d'acquisition
    snippet = (
        f'<iframe src="{html.escape(urls["embed"])}" title="{title}" width="100%" height="420" '
        'style="border:0" loading="lazy"></iframe>'
    )
    return tk.render(
        "sinp/indicators_show.html",
        {
            "ind": result,
            "params": params,
            "chart": _svg(chart(result, params)),
            "chart_narrow": _svg(chart(result, params, width=360)),
            "chart_unit": _chart_unit(result),
            "table": table(result),
            "choices": _choices(result),
            "editions": [(_edition_of(e), edition_label(e)) for e in result.get("editions") or [LIVE]],
            "edition_label": edition_label(params["edition"]),
            "place": departement_label(params.get("departement")),
            "urls": urls,
            "snippet": snippet,
        },
    )


def indicator_embed(code: str):
    """The chart alone, to show in a frame on another site: the policy lets any page frame it
    (``frame-ancestors *``); every other page of the site stays framed only by itself."""
    params = _params()
    result = _show(code, params, page=True)
    html = tk.render(
        "sinp/indicators_embed.html",
        {
            "ind": result,
            "chart": _svg(chart(result, params)),
            "chart_narrow": _svg(chart(result, params, width=360)),
            "edition_label": edition_label(params["edition"]),
            "place": departement_label(params.get("departement")),
            "urls": _urls(code, params),
        },
    )
    response = flask.make_response(html)
    policy = " ".join((tk.config.get("ckanext.sinp.csp") or "").split())
    if policy:
        policy = re.sub(r"frame-ancestors[^;]*", "frame-ancestors *", policy)
        if "frame-ancestors" not in policy:
            policy += "; frame-ancestors *"
        response.headers["Content-Security-Policy"] = policy
    return response


def indicator_json(code: str):
    """The indicator as the API returns it (method, units, edition, series), as a file."""
    result = _show(code, _params())
    body = json.dumps(result, ensure_ascii=False, default=str, indent=1)
    return flask.Response(body, mimetype="application/json")


def indicator_csv(code: str):
    """The table as CSV (« ; », UTF-8 with BOM), with the indicator's metadata in `# ` lines first."""
    params = _params()
    result = _show(code, params)
    columns = ("annee", "departement", "groupe", "cle", "libelle", "valeur", "effectif", "secret")
    text = declared.csv_with_header(
        declared.get(code), declared.edition_label(params["edition"]), result.get("series") or [], columns
    )
    suffix = "-".join(v for k, v in sorted(params.items()) if k != "edition" or v != LIVE)
    suffix = re.sub(r"[^A-Za-z0-9_-]+", "_", suffix)  # a header value: ASCII only
    name = f"indicateur-{code}" + (f"-{suffix}" if suffix else "")
    return flask.Response(
        text, mimetype="text/csv", headers={"Content-Disposition": f'attachment; filename="{name}.csv"'}
    )


sinp.add_url_rule("/indicateurs", view_func=indicators)
sinp.add_url_rule("/indicateurs/<code>.csv", view_func=indicator_csv)
sinp.add_url_rule("/indicateurs/<code>.json", view_func=indicator_json)
sinp.add_url_rule("/indicateurs/<code>/embed", view_func=indicator_embed)
sinp.add_url_rule("/indicateurs/<code>", view_func=indicator)
