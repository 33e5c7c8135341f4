"""The territory service (/territoire): what the platform knows inside a drawn or pasted area; and
the images of the maps' Leaflet styles (/carte/images/…), served from ckanext-spatial's copies."""

from __future__ import annotations

import functools
import importlib.resources

import ckan.plugins.toolkit as tk
import flask

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


@functools.cache
def _map_images() -> dict:
    """Image name → folder: the images that Leaflet's and Leaflet.draw's styles (bundled by
    ckanext-spatial, whose bundle does not carry them) refer to, newest vendored version first."""
    vendor = importlib.resources.files("ckanext.spatial") / "assets" / "js" / "vendor"
    out: dict = {}
    for library in ("leaflet", "leaflet.draw"):
        versions = sorted((p for p in (vendor / library).iterdir() if p.is_dir()), key=lambda p: p.name, reverse=True)
        for version in versions:
            images = version / "images"
            if images.is_dir():
                for image in images.iterdir():
                    out.setdefault(image.name, str(images))
    return out


def map_image(name: str):
    """One of those images (the CSS ``sinp-maps.css`` points at them); anything else: 404."""
    folder = _map_images().get(name)
    if folder is None:
        return tk.abort(404, "Image de carte inconnue.")
    return flask.send_from_directory(folder, name, max_age=7 * 86400)


sinp.add_url_rule("/territoire", view_func=territory, methods=["GET", "POST"])
sinp.add_url_rule("/carte/images/<name>", view_func=map_image)
