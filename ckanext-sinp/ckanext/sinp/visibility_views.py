"""Pages of other extensions that show a past version of a record without asking who may read it.

ckanext-activity's resource history page (``/dataset/<id>/resources/<resource id>/history/<activity
id>``) reads the activity straight from the database: a version recorded while the record was
private would be shown to whoever may read the record now. It gets the rule of the dataset's own
history page (``activity_show`` with the data).
"""

from __future__ import annotations

import ckan.plugins.toolkit as tk
from flask import Blueprint, request

visibility = Blueprint("sinp_visibility", __name__)

GUARDED_ENDPOINTS = {"activity.resource_history"}


@visibility.before_app_request
def guard_past_versions():
    if request.endpoint not in GUARDED_ENDPOINTS:
        return None
    user = tk.current_user
    context = {"user": getattr(user, "name", None) or "", "auth_user_obj": user}
    try:
        tk.check_access(
            "activity_show", context, {"id": (request.view_args or {}).get("activity_id"), "include_data": True}
        )
    except (tk.NotAuthorized, tk.ObjectNotFound, tk.ValidationError):
        return tk.abort(404, "Cette version de la ressource est introuvable.")
    return None
