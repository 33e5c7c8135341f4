"""The request guard: refuses, before any action or page runs, what no part of CKAN can read.

A Flask ``before_app_request`` hook (registered with our blueprints, so that it needs no
IMiddleware of its own) answers in French, as JSON for the API and as an error page otherwise:

- 400 when the URL path, a query-string or form value (or key), an uploaded file's name or any
  text of a JSON body holds a NUL byte or a lone UTF-16 surrogate (PostgreSQL cannot store or
  compare them: CKAN answered 500), when a JSON body does not decode, when the action is unknown;
- 400 for a page whose ``page`` is not an integer between 1 and 1 000 000;
- 409 (« Validation Error », as CKAN) for an API call whose ``offset``, ``limit``, ``start``,
  ``rows`` or ``page`` is not an integer between 0 and 2 147 483 647 (CKAN's core actions passed
  ``1e20`` to PostgreSQL or Solr).

Status codes of every class of bad input: ``ckanext.sinp.logic.inputs``.
"""

from __future__ import annotations

import json
import re

import ckan.plugins.toolkit as tk
from flask import Blueprint, Response, request
from werkzeug.exceptions import BadRequest

from ckanext.sinp.logic import inputs

guard = Blueprint("sinp_guard", __name__)

PAGING_KEYS = ("offset", "limit", "start", "rows", "page")
_ACTION_PATH = re.compile(r"^/api/(?:\d/)?action/([^/]+)/?$")
_FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")


def _api_error(status: int, error: dict) -> Response:
    body = {"help": None, "success": False, "error": error}
    return Response(json.dumps(body, ensure_ascii=False), status=status, mimetype="application/json")


def _bad_request(message: str):
    if request.path.startswith("/api/"):
        return _api_error(400, {"__type": "Bad Request", "message": message})
    return tk.abort(400, message)


def _multi_problem(multi, where: str) -> str | None:
    for key, values in multi.lists():
        for text in [key, *values]:
            found = inputs.bad_string_path(text)
            if found:
                return f"Le paramètre « {inputs.quote(key)} » {where} {found[1]} : la requête est refusée."
    return None


def _body() -> tuple[dict | None, str | None]:
    """The decoded JSON body of an API call (None when there is none) and why it is refused."""
    if request.method not in ("POST", "PUT", "PATCH") or request.mimetype in _FORM_TYPES:
        return None, None
    if not request.get_data(cache=True):
        return None, None
    if not request.is_json:
        return None, (
            "Le corps de la requête doit être un objet JSON (en-tête Content-Type: application/json) ou un formulaire."
        )
    try:
        body = request.get_json(cache=True)
    except BadRequest:
        return None, "Le corps de la requête n'est pas du JSON valide (UTF-8) : corrigez-le."
    if not isinstance(body, dict):
        return None, "Le corps de la requête doit être un objet JSON ({…}), pas une liste ni une valeur seule."
    return body, None


def _paging_errors(values: dict) -> dict:
    errors = {}
    for key in PAGING_KEYS:
        if key in values:
            try:
                inputs.integer(values, key, None, 0)
            except tk.ValidationError as err:
                errors.update(err.error_dict)
    return errors


@guard.before_app_request
def refuse_malformed():
    found = inputs.bad_string_path(request.path)
    if found:
        return _bad_request(f"L'adresse demandée {found[1]} : elle ne désigne aucune page.")
    problem = _multi_problem(request.args, "de l'adresse")
    if problem:
        return _bad_request(problem)
    if request.method in ("POST", "PUT", "PATCH") and request.mimetype in _FORM_TYPES:
        problem = _multi_problem(request.form, "du formulaire")
        for field, upload in request.files.items(multi=True):
            if problem is None and upload.filename and inputs.bad_string_path(upload.filename):
                problem = f"Le nom du fichier envoyé (« {inputs.quote(field)} ») contient un caractère invalide."
        if problem:
            return _bad_request(problem)

    api = _ACTION_PATH.match(request.path)
    if api:
        return _check_api_call(api.group(1))
    page = request.args.get("page")
    if page is not None and not (page.isdigit() and 1 <= int(page) <= inputs.MAX_PAGE):
        return _bad_request(
            f"Numéro de page invalide (« {inputs.quote(page)} ») : un entier entre 1 et {inputs.MAX_PAGE}."
        )
    return None


def _check_api_call(name: str):
    try:
        action = tk.get_action(name)
    except (KeyError, AttributeError):
        return _bad_request(f"Action inconnue : « {inputs.quote(name)} ».")
    if request.method == "GET" and not getattr(action, "side_effect_free", False):
        return _bad_request(f"L'action « {name} » modifie des données : appelez-la en POST.")
    body, problem = _body()
    if problem:
        return _bad_request(problem)
    if body is not None:
        found = inputs.bad_string_path(body)
        if found:
            return _bad_request(f"« {inputs.quote(found[0])} » {found[1]} : la requête est refusée.")
    values = body if body is not None else (request.form if request.method == "POST" else request.args)
    errors = _paging_errors(values.to_dict() if hasattr(values, "to_dict") else values)
    if errors:
        return _api_error(409, {"__type": "Validation Error", **errors})
    return None


# --- CKAN's API errors in French ---------------------------------------------------------------------

# prefixes that CKAN's action API puts before an error's message, untranslated in CKAN 2.12's catalogue
API_PREFIXES = (
    ("Not found: ", "Introuvable : "),
    ("Not found", "Introuvable"),
    ("Access denied: ", "Accès refusé : "),
    ("Access denied", "Accès refusé"),
    ("Bad request: ", "Requête refusée : "),
    ("Bad request", "Requête refusée"),
)
# whole messages: CKAN's bare « Not found » is translated « Indisponible »
API_MESSAGES = {"Indisponible": "Introuvable : vérifiez l'identifiant demandé."}


@guard.after_app_request
def french_api_errors(response: Response) -> Response:
    """The message of an API refusal (4xx) without CKAN's English prefix."""
    if not (
        request.path.startswith("/api/")
        and 400 <= response.status_code < 500
        and response.mimetype == "application/json"
        and not response.direct_passthrough
    ):
        return response
    try:
        body = json.loads(response.get_data())
    except ValueError:
        return response
    error = body.get("error") if isinstance(body, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    if not isinstance(message, str):
        return response
    french = API_MESSAGES.get(message)
    for english, prefix in API_PREFIXES if french is None else ():
        if message.startswith(english):
            french = prefix + message[len(english) :]
            break
    if french is not None:
        error["message"] = french
        response.set_data(json.dumps(body, ensure_ascii=False))
    return response


# --- CKAN's exceptions that a view lets through (CKAN answered 500) --------------------------------


def _refusal(status: int, kind: str, message: str):
    if request.path.startswith("/api/"):
        return _api_error(status, {"__type": kind, "message": message})
    return tk.abort(status, message)


@guard.app_errorhandler(tk.NotAuthorized)
def not_authorized(err):
    return _refusal(403, "Authorization Error", "Accès refusé : connectez-vous avec un compte qui en a le droit.")


@guard.app_errorhandler(tk.ObjectNotFound)
def not_found(err):
    return _refusal(404, "Not Found Error", "Introuvable : vérifiez l'identifiant demandé.")


@guard.app_errorhandler(tk.ValidationError)
def invalid(err):
    messages = " ".join(
        str(m) for msgs in (err.error_dict or {}).values() for m in (msgs if isinstance(msgs, list) else [msgs])
    )
    if request.path.startswith("/api/"):
        return _api_error(409, {"__type": "Validation Error", **(err.error_dict or {})})
    return tk.abort(409, messages or "Paramètres invalides.")
