"""The territory service (/territoire): what the platform knows inside a drawn or pasted area."""

from __future__ import annotations

import ckan.plugins.toolkit as tk

from ckanext.sinp.views.blueprint import messages as _messages
from ckanext.sinp.views.blueprint import sinp


def territory():
    """ "Enjeux biodiversité sur un territoire de projet": draw or upload a polygon."""
    result, error, polygon = None, None, ""
    if tk.request.method == "POST":
        upload = tk.request.files.get("fichier")
        polygon = (
            upload.read(2_000_001).decode("utf-8", "replace")
            if upload and upload.filename
            else tk.request.form.get("polygone", "")
        )
        try:
            result = tk.get_action("sinp_territory_taxa")({"user": tk.g.user}, {"polygone": polygon})
        except tk.ValidationError as err:
            error = _messages(err)
    return tk.render("sinp/territory.html", {"result": result, "error": error, "polygon": polygon})


sinp.add_url_rule("/territoire", view_func=territory, methods=["GET", "POST"])
