"""The anonymous page cache, on CKAN's Flask app (``IMiddleware.make_middleware``).

A visitor who is not logged in (no session user, no remember cookie, no API token: CKAN's own
``identify_user`` has run before us) and asks ``GET`` for a page or an API read gets the copy
of that same answer rendered for another visitor, if one was made in the current generation
(``store``: any committed write, by any process, ends the generation) and less than ``ttl``
seconds ago (a Solr index rebuilt in place changes no table). What differs between visitors is
put back: the CSRF token of the page is the visitor's own (Flask-WTF's, the session cookie set
as without the cache), the security headers and CKAN's cache headers are added after us.

Never stored: a logged-in user's answer; an answer other than 200; a file or stream; an answer
that set anything in the session but the CSRF token (a flash message, a ``came_from``…); an
answer rendered while the generation moved; the user, dashboard and administration pages.
``X-Sinp-Cache: hit|miss|bypass`` says what happened.
"""

from __future__ import annotations

import logging
import re
import time

import ckan.plugins.toolkit as tk
import sqlalchemy as sa
from flask import current_app, g, request, session
from flask_login import current_user
from flask_wtf.csrf import generate_csrf

from ckanext.sinp.page_cache.store import QUIET_TABLES, Entries, Entry, Generation

log = logging.getLogger(__name__)

CSRF_PLACEHOLDER = b"\x00sinp-page-cache-csrf\x00"
VARY = ("Accept", "HX-Request", "HX-Target", "HX-Trigger", "X-Requested-With")
NEVER = ("/user", "/dashboard", "/ckan-admin", "/api/i18n", "/webassets", "/base/", "/_debug")
SESSION_KEYS = frozenset({"_csrf_token", "_permanent", "_fresh"})
KEPT_HEADERS = frozenset({"content-type", "content-disposition", "content-language", "content-security-policy", "link"})

_WRITES = re.compile(r"\b(INSERT|UPDATE|DELETE|MERGE)\b", re.IGNORECASE)  # in a WITH: a data-modifying CTE
_TARGET = re.compile(r'\s*(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+"?(\w+)', re.IGNORECASE)
_state: dict = {}
_generations: dict = {}


def settings() -> dict:
    return {
        "ttl": float(tk.config.get("ckanext.sinp.page_cache.ttl")),
        "max_bytes": int(tk.config.get("ckanext.sinp.page_cache.max_bytes")),
        "max_body": int(tk.config.get("ckanext.sinp.page_cache.max_body")),
    }


def install(app, engine):
    """Adds the cache to ``app`` (a Flask app) unless ``ttl`` is 0; returns the app."""
    conf = settings()
    if conf["ttl"] <= 0 or not hasattr(app, "before_request"):
        return app
    # one listener per process and database, however many apps and engines are made (CKAN makes
    # both again for each app: its tests make one per test)
    dsn = sa.engine.make_url(engine.url).set(drivername="postgresql").render_as_string(hide_password=False)
    generation = _generations.get(dsn)
    if generation is None:
        generation = _generations[dsn] = Generation(dsn)
    if not sa.event.contains(sa.engine.Engine, "commit", _on_commit):
        _watch_own_writes()
    _state.update(generation=generation, entries=Entries(conf["max_bytes"], conf["max_body"]), ttl=conf["ttl"])
    app.before_request(_serve)
    app.after_request(_keep)
    return app


def _watch_own_writes() -> None:
    """This process's own writes move the generation at their commit, without waiting for the
    notification (a test, or a visitor of this worker right after an edit, sees the change at
    once). CKAN commits on reads too (``system_info``): only a transaction that wrote counts.

    The hooks are on SQLAlchemy's ``Engine`` class: every engine of the process, including the ones
    made after the app. CKAN makes a new engine and puts it in ``model.meta.engine`` each time its
    configuration is applied again (``environment.update_config``, when plugins are loaded: CKAN's
    ``with_plugins`` test fixture does it after the ``app`` fixture has made the app); a hook on the
    app's engine alone then misses the writes made through the new one, and the next request
    depended on PostgreSQL's notification arriving first (a race that failed CI once).
    A commit on another database moves the generation too: a copy less, never a stale one."""
    for event, listener in (
        ("before_cursor_execute", _on_statement),
        ("commit", _on_commit),
        ("rollback", _on_rollback),
    ):
        sa.event.listen(sa.engine.Engine, event, listener)


def _on_statement(conn, _cursor, sql, *_args):
    head = sql.lstrip()[:6].upper()
    if not head.startswith(("SELECT", "SHOW", "SET", "WITH", "BEGIN")) or (
        head.startswith("WITH") and _WRITES.search(sql)
    ):
        target = _TARGET.match(sql)
        if target and target.group(1).lower() in QUIET_TABLES:
            return  # derived figures stored by a read (the occurrence summary): not a change of what pages show
        conn.info["sinp_wrote"] = True


def _on_commit(conn):
    if conn.info.pop("sinp_wrote", False) and "generation" in _state:
        _state["generation"].bump()


def _on_rollback(conn):
    conn.info.pop("sinp_wrote", None)


def stats() -> dict:
    entries = _state.get("entries")
    if entries is None:
        return {"enabled": False}
    return {
        "enabled": True,
        "listening": _state["generation"].listening,
        "entries": len(entries),
        "bytes": entries.bytes,
        "hits": entries.hits,
        "misses": entries.misses,
    }


def _key() -> tuple | None:
    if request.method != "GET" or request.path.startswith(NEVER):
        return None
    if not current_user.is_anonymous:
        return None
    if request.headers.get("Authorization") or request.headers.get("X-CKAN-API-Key"):
        return None
    if set(session.keys()) - SESSION_KEYS:  # flash messages to show, a login under way…
        return None
    return (request.url, *(request.headers.get(name, "") for name in VARY))


def _serve():
    key = _key()
    g.sinp_page_cache = None
    if key is None:
        return None
    generation = _state["generation"]
    if not generation.ready():
        return None
    generation.catch_up()
    if not generation.listening:
        return None
    entry = _state["entries"].get(key, generation.value)
    if entry is None:
        g.sinp_page_cache = (key, generation.value)
        return None
    body = entry.body
    if entry.csrf:
        body = body.replace(CSRF_PLACEHOLDER, generate_csrf().encode())
    response = current_app.response_class(body, status=200, headers=entry.headers)
    response.headers["X-Sinp-Cache"] = "hit"
    return response


def _keep(response):
    started = g.get("sinp_page_cache")
    if "X-Sinp-Cache" in response.headers:
        return response
    if started is None:
        response.headers["X-Sinp-Cache"] = "bypass"
        return response
    response.headers["X-Sinp-Cache"] = "miss"
    key, generation_at_start = started
    generation = _state["generation"]
    if (
        response.status_code != 200
        or response.direct_passthrough
        or response.is_streamed
        or generation.value != generation_at_start
        or not generation.listening
        or set(session.keys()) - SESSION_KEYS
        or response.headers.get("Set-Cookie")
    ):
        return response
    body = response.get_data()
    token = g.get(current_app.config.get("WTF_CSRF_FIELD_NAME") or "csrf_token")
    csrf = bool(token) and token.encode() in body
    if csrf:
        body = body.replace(token.encode(), CSRF_PLACEHOLDER)
    headers = [(k, v) for k, v in response.headers.items() if k.lower() in KEPT_HEADERS]
    _state["entries"].put(key, Entry(body, headers, generation_at_start, time.monotonic() + _state["ttl"], csrf))
    return response
