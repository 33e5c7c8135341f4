"""Occurrence exports of a JDD (CSV, GeoJSON), as the reader's rights allow."""

from __future__ import annotations

import json

import ckan.plugins.toolkit as tk
from flask import Response
from shapely.geometry import shape

from ckanext.sinp.domain import csvsafe
from ckanext.sinp.domain.occtax import columns
from ckanext.sinp.logic.occurrence_actions import export_rows
from ckanext.sinp.views.blueprint import messages as _messages
from ckanext.sinp.views.blueprint import sinp

# --- occurrences: exports, territory, chefs de file, validation ----------------------------------------


def _export(id, fmt):

    params = {k: v for k, v in tk.request.args.items() if k in ("bbox", "cd_nom", "date_min", "date_max")}
    try:
        pkg, total, features = export_rows({"user": tk.g.user}, {"jdd": id, **params})
    except tk.ObjectNotFound:
        return tk.abort(404, "Jeu de données introuvable.")
    except tk.NotAuthorized:
        return tk.abort(403, "Vous n'avez pas accès aux occurrences de ce jeu de données.")
    except tk.ValidationError as err:
        return tk.abort(400, _messages(err))
    name = f"occurrences-{pkg.name}"
    if fmt == "geojson":

        def chunks():
            yield '{"type": "FeatureCollection", "total": %d, "features": [' % total
            for i, feature in enumerate(features):
                yield ("," if i else "") + json.dumps(feature, ensure_ascii=False)
            yield "]}"

        return Response(
            chunks(),
            mimetype="application/geo+json",
            headers={"Content-Disposition": f'attachment; filename="{name}.geojson"'},
        )

    names = [c.name for c in columns.store_columns() if c.name != "geometrie"]
    extra = [
        "codeDepartement",
        "idSINPJdd",
        "nivVal",
        "statutValidation",
        "typVal",
        "echVal",
        "validateur",
        "dateCtrl",
        "sensiNiveau",
        "sensiDateAttribution",
        "sensiReferentiel",
        "sensiVersionReferentiel",
        "dEEFloutage",
        "niveauDiffusion",
    ]
    header = ["geometrie"] + names + [c for c in extra if c not in names]

    def rows():
        for feature in features:
            props = feature["properties"]
            geom = shape(feature["geometry"]).wkt if feature["geometry"] else ""
            yield [geom] + [props.get(c) for c in header[1:]]

    return Response(
        csvsafe.stream(header, rows()),
        mimetype=csvsafe.MIMETYPE,
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


def export_csv(id):
    return _export(id, "csv")


def export_geojson(id):
    return _export(id, "geojson")


sinp.add_url_rule("/jdd/<id>/occurrences.csv", view_func=export_csv)
sinp.add_url_rule("/jdd/<id>/occurrences.geojson", view_func=export_geojson)
