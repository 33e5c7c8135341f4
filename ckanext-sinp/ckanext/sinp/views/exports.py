"""Occurrence exports of a JDD (CSV, GeoJSON), as the reader's rights allow, streamed as the rows
come from the database (``occurrences/export_stream.py``)."""

from __future__ import annotations

import ckan.plugins.toolkit as tk
from flask import Response

from ckanext.sinp.domain import csvsafe
from ckanext.sinp.logic.occurrence_actions import export_rows
from ckanext.sinp.occurrences import export_stream
from ckanext.sinp.views.blueprint import messages as _messages
from ckanext.sinp.views.blueprint import sinp

# --- occurrences: exports, territory, chefs de file, validation ----------------------------------------


def _export(id, fmt):

    params = {k: v for k, v in tk.request.args.items() if k in ("bbox", "cd_nom", "date_min", "date_max")}
    try:
        pkg, total, batches = export_rows({"user": tk.g.user}, {"jdd": id, **params})
    except tk.ObjectNotFound:
        return tk.abort(404, "Jeu de données introuvable.")
    except tk.NotAuthorized:
        return tk.abort(403, "Vous n'avez pas accès aux occurrences de ce jeu de données.")
    except tk.ValidationError as err:
        return tk.abort(400, _messages(err))
    name = f"occurrences-{pkg.name}"
    if fmt == "geojson":
        return Response(
            export_stream.geojson_chunks(total, batches),
            mimetype="application/geo+json",
            headers={"Content-Disposition": f'attachment; filename="{name}.geojson"'},
        )
    return Response(
        export_stream.csv_chunks(batches),
        mimetype=csvsafe.MIMETYPE,
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


def export_csv(id):
    return _export(id, "csv")


def export_geojson(id):
    return _export(id, "geojson")


sinp.add_url_rule("/jdd/<id>/occurrences.csv", view_func=export_csv)
sinp.add_url_rule("/jdd/<id>/occurrences.geojson", view_func=export_geojson)
