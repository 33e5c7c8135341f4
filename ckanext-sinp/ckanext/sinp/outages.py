"""Answers while a service is down: a French 503 with ``Retry-After``, never a 500 or a half-page.

When PostgreSQL, Solr or Redis does not answer, CKAN lets the error through (a page: HTML 500)
or turns it into a JSON 500 (``Internal Server Error``, ``Search Index Error``, ``Search
Connection Error``). Here:

- an answer 500 (an API one: ``Internal Server Error``, ``Search Index Error``, ``Search
  Connection Error``; any page) is checked against the services (``unavailable``, a quick probe
  of each); when one is down it becomes a 503 whose message names what is unavailable: JSON for
  the API, a self-contained French page otherwise (no template: rendering one needs the
  database);
- a view that raised a database, search or queue error goes straight to that check (CKAN would
  first try to render its 500 page);
- nothing else changes: a 500 while every service answers stays a 500 (a bug to fix).

The CSW (pycsw, its own process) does the same in ``pycsw_config/wsgi.py``.
"""

from __future__ import annotations

import html
import json
import logging

import ckan.lib.search as search
import ckan.model as model
import psycopg2
import sqlalchemy as sa
from ckan.lib.redis import connect_to_redis
from flask import Blueprint, Response, g, has_request_context, request
from sqlalchemy import event
from sqlalchemy import exc as sa_exc

log = logging.getLogger(__name__)

outages = Blueprint("sinp_outages", __name__)

RETRY_AFTER_S = 30
SERVICES = {
    "postgresql": "la base de données",
    "solr": "le moteur de recherche",
    "redis": "la file des travaux d'arrière-plan",
}
_API_500_TYPES = ("Internal Server Error", "Search Index Error", "Search Connection Error")


def _postgres_up() -> bool:
    try:
        with model.meta.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        return True
    except Exception:  # any failure to get an answer is "down"
        return False


def _solr_up() -> bool:
    try:
        search.make_connection().search(q="*:*", rows=0)
        return True
    except Exception:
        return False


def redis_up() -> bool:
    try:
        return bool(connect_to_redis().ping())
    except Exception:
        return False


PROBES = {"postgresql": _postgres_up, "solr": _solr_up, "redis": redis_up}


def unavailable() -> list[str]:
    """The services that do not answer now (names of ``SERVICES``)."""
    return [name for name, probe in PROBES.items() if not probe()]


def message(down: list[str]) -> str:
    what = " et ".join(SERVICES[name] for name in down) or "un service de la plateforme"
    return (
        f"Service momentanément indisponible : {what} ne répond pas. Rien n'a été modifié par cette "
        f"requête si elle a échoué ; réessayez dans {RETRY_AFTER_S} secondes."
    )


def api_503(down: list[str]) -> Response:
    body = {
        "help": None,
        "success": False,
        "error": {"__type": "Service Unavailable", "message": message(down), "services": down},
    }
    response = Response(json.dumps(body, ensure_ascii=False), status=503, mimetype="application/json")
    response.headers["Retry-After"] = str(RETRY_AFTER_S)
    return response


PAGE = """<!DOCTYPE html>
<html lang="fr"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Service momentanément indisponible — SINP Bourgogne-Franche-Comté</title>
<style>body{{font-family:system-ui,sans-serif;max-width:40em;margin:4em auto;padding:0 1em;color:#222}}
h1{{font-size:1.6em}}</style></head>
<body><main><h1>Service momentanément indisponible</h1>
<p>{message}</p>
<p>La page se rechargera d'elle-même ; vous pouvez aussi <a href="">réessayer</a>. Si l'indisponibilité
dure, l'équipe de la plateforme en est informée.</p></main></body></html>
"""


def page_503(down: list[str]) -> Response:
    text = message(down).removeprefix("Service momentanément indisponible : ")
    body = PAGE.format(message=html.escape(text[:1].upper() + text[1:]))
    response = Response(body, status=503, mimetype="text/html")
    response.headers["Retry-After"] = str(RETRY_AFTER_S)
    response.headers["Refresh"] = str(RETRY_AFTER_S)
    return response


def _is_api() -> bool:
    return request.path.startswith("/api/")


def lost_database(error: BaseException | None) -> bool:
    """True when ``error`` or what caused it is a lost connection to PostgreSQL (psycopg2's
    ``OperationalError`` / ``InterfaceError`` and subclasses such as ``AdminShutdown``, given by a
    restart to the connections it closes; SQLAlchemy's wrappers of them)."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, _LOST):
            return True
        error = error.__cause__ or error.__context__
    return False


_LOST = (
    psycopg2.OperationalError,
    psycopg2.InterfaceError,
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.DisconnectionError,
)


def _database_failed(context) -> None:
    """SQLAlchemy's ``handle_error``: the request lost PostgreSQL (connection refused, closed,
    « the database system is starting up »). Remembered for the request, because PostgreSQL may
    answer again by the time the 500 is checked (a restart takes about 2 s)."""
    if has_request_context() and lost_database(context.original_exception):
        g.sinp_database_failed = True


def watch_database(engine) -> None:
    if not event.contains(engine, "handle_error", _database_failed):
        event.listen(engine, "handle_error", _database_failed)


def _down() -> list[str]:
    down = unavailable()
    if g.get("sinp_database_failed") and "postgresql" not in down:
        down.insert(0, "postgresql")
    return down


@outages.after_app_request
def outage_answer(response):
    """A 500 while a service is down becomes a 503: JSON for the API, the French page otherwise
    (CKAN's views turn a Solr failure into ``abort(500)``; its 500 page needs the database)."""
    if response.status_code != 500:
        return response
    if _is_api():
        if response.mimetype != "application/json":
            return response
        try:
            kind = (json.loads(response.get_data()).get("error") or {}).get("__type")
        except (ValueError, AttributeError):
            return response
        if kind not in _API_500_TYPES:
            return response
    down = _down()
    if not down:
        return response
    log.warning("%s : 503, services indisponibles : %s", request.path, down)
    return api_503(down) if _is_api() else page_503(down)


def _outage(err):
    down = _down()
    if not down and lost_database(err):
        down = ["postgresql"]  # lost during the request; it may answer again by now (a restart)
    if not down:
        raise err  # every service answers: a bug, CKAN's 500 as before
    log.warning("%s : 503, services indisponibles : %s (%s)", request.path, down, type(err).__name__)
    return api_503(down) if _is_api() else page_503(down)


for _error in (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.DisconnectionError,
    # any other database error (e.g. a session left unusable by a lost statement): a 503 when
    # PostgreSQL was lost in this request or does not answer, else CKAN's 500 as before
    sa_exc.SQLAlchemyError,
    psycopg2.Error,
    search.SolrConnectionError,
    search.SearchIndexError,
    search.SearchError,
):
    outages.app_errorhandler(_error)(_outage)


class ServiceUnavailable(Exception):
    def __init__(self, down: list[str]):
        super().__init__(message(down))
        self.down = down


@outages.app_errorhandler(ServiceUnavailable)
def service_unavailable(err):
    return api_503(err.down) if _is_api() else page_503(err.down)
