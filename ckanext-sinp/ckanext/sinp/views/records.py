"""Record downloads: a CA's or JDD's MTD XML and ISO 19139 document."""

from __future__ import annotations

import ckan.plugins.toolkit as tk
from flask import Response

from ckanext.sinp.views.blueprint import sinp


def _xml_download(action, suffix, id):
    context = {"user": tk.g.user}
    try:
        xml = tk.get_action(action)(context, {"id": id})
    except (tk.ObjectNotFound, tk.NotAuthorized):
        return tk.abort(404, "Fiche introuvable.")
    except tk.ValidationError as err:
        return tk.abort(400, " ".join(str(m) for m in err.error_dict.get("id", [])))
    return Response(
        xml, mimetype="application/xml", headers={"Content-Disposition": f'inline; filename="{id}-{suffix}.xml"'}
    )


def mtd_xml(package_type, id):
    return _xml_download("sinp_mtd_export", "mtd", id)


def iso_xml(package_type, id):
    return _xml_download("sinp_iso_show", "iso19139", id)


for _type in ("ca", "jdd"):
    sinp.add_url_rule(
        f"/{_type}/<id>/mtd.xml", endpoint=f"{_type}_mtd_xml", view_func=mtd_xml, defaults={"package_type": _type}
    )
    sinp.add_url_rule(
        f"/{_type}/<id>/iso19139.xml", endpoint=f"{_type}_iso_xml", view_func=iso_xml, defaults={"package_type": _type}
    )
