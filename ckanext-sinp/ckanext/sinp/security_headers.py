"""Security headers on every response of the CKAN app: Content-Security-Policy, nosniff, referrer policy.

The policy forbids inline scripts: the scripts of our pages are files served by CKAN's asset system
(``assets/``), and the values they show are set as text. A view that sets its own policy keeps it.
"""

from __future__ import annotations

import logging
from typing import Any

import ckan.plugins.toolkit as tk

log = logging.getLogger(__name__)
CSP_SETTING = "ckanext.sinp.csp"  # default policy: config_declaration.yaml


def headers(csp: str | None) -> dict[str, str]:
    """The headers to add: the policy (none when the setting is empty), nosniff, same-origin referrers."""
    out = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin"}
    policy = " ".join((csp or "").split())
    if policy:
        out["Content-Security-Policy"] = policy
    return out


def install(app: Any) -> Any:
    """Registers the headers on a Flask app (IMiddleware.make_middleware); returns the app."""
    if not hasattr(app, "after_request"):
        log.warning("%s : l'application n'est pas une application Flask, en-têtes de sécurité non ajoutés", CSP_SETTING)
        return app
    wanted = headers(tk.config.get(CSP_SETTING))

    def add_security_headers(response):
        for name, value in wanted.items():
            if name not in response.headers:
                response.headers[name] = value
        return response

    app.after_request(add_security_headers)
    return app
