"""The SINP plugin's blueprint, shared by the page modules of this package."""

from __future__ import annotations

import ckan.plugins.toolkit as tk
from flask import Blueprint

from ckanext.sinp import dcat_profile

sinp = Blueprint("sinp", __name__)
sinp.after_app_request(dcat_profile.with_charset)  # /catalog.ttl… say charset=utf-8


def messages(err: tk.ValidationError) -> str:
    """The French messages of a validation error, as one line for a page or a flash."""
    return " ".join(str(m) for msgs in err.error_dict.values() for m in msgs)
