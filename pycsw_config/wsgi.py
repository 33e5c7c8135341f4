"""WSGI entry point of the SINP CSW endpoint (pycsw 2.6.2).

Serve with gunicorn from pycsw's own virtualenv (Python 3.11, pycsw 2.6.2,
SQLAlchemy 1.4), on the loopback interface, behind the public reverse proxy:

    <pycsw venv>/bin/gunicorn --chdir <repo>/pycsw_config wsgi:application \\
        -b 127.0.0.1:8000 --workers 2 --max-requests 200 --max-requests-jitter 20

(pycsw 2.6.2 leaks per request; this module removes the bulk of it, see
_cached_init, but keep --max-requests.) It answers on ``/csw`` and ``/`` (404 elsewhere).

Environment (read once, when the worker imports this module; a missing or
invalid value stops the worker from booting):

  PYCSW_SERVER_URL    required. Public absolute URL of the endpoint as
                      harvesters must call it, e.g. https://sinp.example.fr/csw.
                      Written in every ows:DCP xlink:href of GetCapabilities.
  PYCSW_DATABASE_URL  required. SQLAlchemy 1.4 URL of a READ-ONLY role, e.g.
                      postgresql://sinp_csw_reader:secret@127.0.0.1:5432/ckan
                      (the role needs only SELECT on the table; see
                      ckanext.sinp.csw.repository.grant_reader).
  PYCSW_SET__<SECTION>__<OPTION>
                      optional. Overrides one option of pycsw.cfg; SECTION is
                      the section name upper-cased with ':' written '_'
                      (METADATA_MAIN, METADATA_INSPIRE, SERVER, REPOSITORY),
                      e.g. PYCSW_SET__METADATA_MAIN__CONTACT_EMAIL=sinp@example.fr
                      or PYCSW_SET__SERVER__LOGLEVEL=WARNING together with
                      PYCSW_SET__SERVER__LOGFILE=/dev/stderr.
  PYCSW_MAX_POST_BYTES
                      optional, default 1048576. Larger POST bodies get 413.

pycsw.cfg (beside this file) may use ${NAME} placeholders; they are filled
from the environment, ${PYCSW_CONFIG_DIR} being the directory of this file
(so ``[repository] mappings`` is always the absolute path of mappings.py).

Security: pycsw 2.6.2's own ``pycsw.wsgi`` loads whatever configuration file
a client names with ``?config=<path>`` (in any letter case, since it lower-cases
the query string). This wrapper never takes a configuration path from the
request nor from the WSGI environ (pycsw's PYCSW_CONFIG / PYCSW_ROOT are not
used): it builds the configuration object itself and hands it to
``pycsw.server.Csw``. On top of that, every query parameter whose decoded
name contains "config" (any case) is removed from QUERY_STRING before pycsw
parses it. A startPosition or maxRecords that is not a non-negative integer (or a
startPosition of more than 9 digits) gets an OWS ExceptionReport
(InvalidParameterValue) here: pycsw 2.6.2 converts maxRecords with an
unguarded int() (``maxRecords=1e20`` was a 500). A huge maxRecords is capped.

Paging order: pycsw 2.6.2 applies no ORDER BY unless the client sends SortBy,
and has no stable-sort option. This module patches
``pycsw.core.repository.Repository.query`` so that every GetRecords query
ends its ORDER BY with the record identifier (unique): pages are disjoint and
complete, which harvesters that delete unseen records depend on. The page is
selected by identifier first (cheap deep pages), and the repository binding
(table reflection, PostGIS probes) is done once per worker, not per request.

Wildcard searches: ``sinp_wildcards`` (beside this file) replaces pycsw's
``fes1.parse`` so that a ``PropertyIsLike`` on AnyText, Title or Abstract is an
accent- and case-insensitive LIKE honouring the filter's wildCard, singleChar
and escapeChar (pycsw 2.6.2 sent ``%chiropt%`` to full-text search, which found
nothing). It is active once the table has the folded columns
(``ckan sinp init-db``); before that, pycsw's own translation runs.
"""

import configparser
import importlib.util
import io
import os
import re
import runpy
from urllib.parse import unquote_plus, urlsplit

import pycsw
from pycsw import server
from pycsw.core import config as pycsw_config
from pycsw.core import repository as pycsw_repository
from pycsw.core import util as pycsw_util
from pycsw.ogc.fes import fes1 as pycsw_fes1
from sqlalchemy.sql import text

HERE = os.path.dirname(os.path.abspath(__file__))
CONFIG_FILE = os.path.join(HERE, "pycsw.cfg")
MAPPINGS_FILE = os.path.join(HERE, "mappings.py")


def _sibling_module(name):
    """A module of this directory, by path (whatever sys.path holds)."""
    spec = importlib.util.spec_from_file_location(name, os.path.join(HERE, name + ".py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


sinp_wildcards = _sibling_module("sinp_wildcards")
lost_database = _sibling_module("db_errors").lost_database

PYCSW_VERSION = "2.6.2"
SET_PREFIX = "PYCSW_SET__"
SERVED_PATHS = ("/", "/csw")

_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class ConfigurationError(RuntimeError):
    """The endpoint cannot start with this configuration."""


# --------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------


def _expand(value, variables, where):
    def repl(match):
        name = match.group(1)
        if not variables.get(name):
            raise ConfigurationError("%s uses ${%s}, which is not set in the environment" % (where, name))
        return variables[name]

    return _PLACEHOLDER.sub(repl, value)


def _check_server_url(url):
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigurationError("PYCSW_SERVER_URL must be an absolute http(s) URL, got %r" % url)
    if parts.query or parts.fragment:
        raise ConfigurationError("PYCSW_SERVER_URL must have no query string nor fragment")


def load_configuration(environ=None):
    """Return {section: {option: value}} from pycsw.cfg and ``environ``.

    ``environ`` defaults to os.environ. Raises ConfigurationError.
    """
    environ = dict(os.environ if environ is None else environ)

    for name in ("PYCSW_SERVER_URL", "PYCSW_DATABASE_URL"):
        if not environ.get(name, "").strip():
            raise ConfigurationError("%s is not set" % name)
        environ[name] = environ[name].strip()
    _check_server_url(environ["PYCSW_SERVER_URL"])
    environ["PYCSW_CONFIG_DIR"] = HERE

    parser = configparser.ConfigParser(interpolation=None)
    with open(CONFIG_FILE, encoding="utf-8") as fh:
        parser.read_file(fh)

    settings = {}
    for section in parser.sections():
        settings[section] = {
            option: _expand(value, environ, "[%s] %s" % (section, option)) for option, value in parser.items(section)
        }

    # PYCSW_SET__<SECTION>__<OPTION> overrides
    by_env_name = {s.replace(":", "_").upper(): s for s in settings}
    for name, value in sorted(environ.items()):
        if not name.startswith(SET_PREFIX):
            continue
        section_key, sep, option = name[len(SET_PREFIX) :].partition("__")
        if not sep or not option or section_key not in by_env_name:
            raise ConfigurationError(
                "%s: expected %s<SECTION>__<OPTION> with SECTION one of %s"
                % (name, SET_PREFIX, ", ".join(sorted(by_env_name)))
            )
        settings[by_env_name[section_key]][option.lower()] = value

    # Read-only endpoint, whatever the overrides say.
    settings.setdefault("manager", {})["transactions"] = "false"

    _check_consistency(settings)
    return settings


def _check_consistency(settings):
    """Fail early on what pycsw would only report request by request."""
    _check_server_url(settings["server"]["url"])

    mappings_path = settings["repository"].get("mappings", "")
    if not os.path.isabs(mappings_path) or not os.path.isfile(mappings_path):
        raise ConfigurationError(
            "[repository] mappings must be the absolute path of an existing "
            'file (pycsw treats a value without "/" as a module name): %r' % mappings_path
        )
    mappings = runpy.run_path(mappings_path)

    expected_keys = set(pycsw_config.StaticContext().md_core_model["mappings"])
    missing = expected_keys - set(mappings["MD_CORE_MODEL"]["mappings"])
    if missing:
        raise ConfigurationError("%s lacks pycsw keys: %s" % (mappings_path, ", ".join(sorted(missing))))

    table = settings["repository"].get("table")
    if table != mappings["TABLE_NAME"]:
        raise ConfigurationError("[repository] table=%r but mappings.TABLE_NAME=%r" % (table, mappings["TABLE_NAME"]))

    # pycsw queries plainto_tsquery('<language name>', ...) with the name it
    # derives from [server] language; the table's tsvector uses FTS_CONFIG.
    code = settings["server"].get("language", "en").split("-")[0]
    fts = pycsw_config.StaticContext().languages.get(code, "english")
    if fts != mappings["FTS_CONFIG"]:
        raise ConfigurationError(
            "[server] language=%s makes pycsw search with %r but the table "
            "is indexed with %r (mappings.FTS_CONFIG)"
            % (settings["server"].get("language"), fts, mappings["FTS_CONFIG"])
        )


def new_config_parser(settings):
    """A fresh ConfigParser per request (pycsw mutates it)."""
    parser = configparser.ConfigParser(interpolation=None)
    for section, options in settings.items():
        parser.add_section(section)
        for option, value in options.items():
            parser.set(section, option, value)
    return parser


# --------------------------------------------------------------------------
# Stable paging order (pycsw 2.6.2 Repository.query + identifier tie-breaker)
# --------------------------------------------------------------------------


# --------------------------------------------------------------------------
# Unfiltered pages (what a harvester lists): exact count and deep pages without scanning
# --------------------------------------------------------------------------

# one identifier out of CHECKPOINT_STEP, in paging order, is kept per worker
CHECKPOINT_STEP = 500
# after a change of the table, checkpoints are computed again at most this often (meanwhile pages use
# the plain query): a catalogue being written to costs no more per request than without checkpoints
CHECKPOINT_REBUILD_EVERY_S = 2.0
_CHECKPOINTS = {}


def _unread_columns(repository):
    """Loader options leaving out of GetRecords pages the columns pycsw never writes into a record:
    the full-text vector, the folded copies, the geometry and AnyText (half of a row's bytes;
    reading them cost ~3.5 ms per page of 20, measured). Deferred, not dropped: were one of them
    read, SQLAlchemy would load it then."""
    from sqlalchemy.orm import defer

    mappings = _MAPPINGS["MD_CORE_MODEL"]["mappings"]
    names = [
        _MAPPINGS["FTS_COLUMN"],
        _MAPPINGS["GEOMETRY_COLUMN"],
        mappings["pycsw:AnyText"],
        *_MAPPINGS["FOLDED_COLUMNS"].values(),
    ]
    columns = repository.dataset.__table__.c
    return [defer(getattr(repository.dataset, name)) for name in names if name in columns]


def _changes_subquery(changes_table):
    """(total, token) of the changes table (``CHANGES_TABLE`` of the mappings): total = rows of the
    record table, token = the (id, xmin) of its rows, which changes whenever a row is added or removed
    (ids are never reused, and a restored database gives its rows new xmins)."""
    from sqlalchemy import BigInteger, Text

    quoted = '"%s"' % changes_table.replace('"', '""')
    return (
        text(
            "SELECT coalesce(sum(n), 0)::bigint AS total, "
            "coalesce(string_agg(id::text || ':' || xmin::text, ',' ORDER BY id), '') AS token FROM " + quoted
        )
        .columns(total=BigInteger, token=Text)
        .subquery("sinp_changes")
    )


def _rebuild_checkpoints(self, identifier):
    """{token, total, ids, at}: every CHECKPOINT_STEP-th identifier in paging order, read in one
    statement (one snapshot) with the token of that state."""
    import time

    from sqlalchemy import func, select

    changes = _changes_subquery(self._sinp_changes)
    position = func.row_number().over(order_by=identifier).label("position")
    numbered = select(identifier.label("identifier"), position).subquery("numbered")
    ids = (
        select(numbered.c.identifier)
        .where((numbered.c.position - 1) % CHECKPOINT_STEP == 0)
        .order_by(numbered.c.identifier)
        .scalar_subquery()
    )
    row = self.session.execute(
        select(changes.c.total, changes.c.token, func.array(ids).label("ids")).select_from(changes)
    ).one()
    state = {"token": row.token, "total": row.total, "ids": list(row.ids or []), "at": time.monotonic()}
    _CHECKPOINTS[self._sinp_changes] = state
    return state


def _checkpoint_page(self, state, identifier, maxrecords, startposition):
    """[total, records] of the unfiltered page, from the identifier checkpoint before it, in one
    statement (one snapshot) that also reads the token: None when the table changed since ``state``."""
    ids = state["ids"]
    page_ids = self.session.query(identifier).order_by(identifier)
    rest = startposition
    if ids:
        k = min(startposition // CHECKPOINT_STEP, len(ids) - 1)
        page_ids = page_ids.filter(identifier >= ids[k])
        rest = startposition - k * CHECKPOINT_STEP
    page_ids = page_ids.limit(maxrecords).offset(rest).subquery()
    changes = _changes_subquery(self._sinp_changes)
    rows = (
        self.session.query(changes.c.total, changes.c.token, self.dataset)
        .select_from(changes)
        .outerjoin(self.dataset, identifier.in_(page_ids.select()))
        .options(*_unread_columns(self))
        .order_by(identifier)
        .all()
    )
    if not rows or rows[0][1] != state["token"]:
        return None
    return [str(rows[0][0]), [record for _total, _token, record in rows if record is not None]]


def _unfiltered_page(self, identifier, maxrecords, startposition):
    """[total, records] of an unfiltered page in identifier order, or None (plain query then)."""
    import time

    from sqlalchemy.exc import ProgrammingError

    try:
        state = _CHECKPOINTS.get(self._sinp_changes)
        if state is None:
            state = _rebuild_checkpoints(self, identifier)
        page = _checkpoint_page(self, state, identifier, maxrecords, startposition)
        if page is None and time.monotonic() - state["at"] >= CHECKPOINT_REBUILD_EVERY_S:
            page = _checkpoint_page(self, _rebuild_checkpoints(self, identifier), identifier, maxrecords, startposition)
    except ProgrammingError:  # the changes table went (dropped, no longer granted): pycsw's own count
        _CHECKPOINTS.pop(self._sinp_changes, None)
        return None
    return page


def _stable_query(self, constraint, sortby=None, typenames=None, maxrecords=10, startposition=0):
    """pycsw 2.6.2 ``Repository.query``, stable and cheap on deep pages.

    Same results as pycsw's own method plus the identifier as last sort key.
    The page is one statement::

        SELECT t.* FROM t
         WHERE t.identifier IN (SELECT identifier FROM t WHERE <filter>
                                 ORDER BY <sort>, identifier
                                 LIMIT :maxrecords OFFSET :startposition)
         ORDER BY <sort>, identifier

    The inner SELECT only reads identifiers (and the sort key): without a
    SortBy it is an index-only scan of the primary key, so skipping 60 000
    rows costs a few milliseconds instead of reading 60 000 full rows (XML,
    full-text vector) as ``SELECT t.* ... OFFSET 60000`` does (measured:
    8 ms against 152 ms). One statement, hence one snapshot: a page never
    mixes two states of the table.

    Unfiltered, without SortBy (how harvesters list the catalogue): the total
    is the sum of the changes table (``CHANGES_TABLE`` in the mappings, kept by
    statement triggers of the CKAN side) instead of ``count(*)`` over every
    row, and the page starts from the nearest of the identifiers this worker
    keeps every CHECKPOINT_STEP positions (``_unfiltered_page``), instead of
    skipping up to 100 000 index entries; the statement reads the table's
    token too, and the checkpoints serve only the state they were read in.
    """
    mappings = self.context.md_core_model["mappings"]
    identifier = getattr(self.dataset, mappings["pycsw:Identifier"])
    if (
        "where" not in constraint
        and sortby is None
        and self.filter is None
        and not pycsw_util.ranking_pass
        and getattr(self, "_sinp_changes", None)
    ):
        page = _unfiltered_page(self, identifier, maxrecords, startposition)
        if page is not None:
            return page

    if "where" in constraint:
        query = (
            self.session.query(self.dataset)
            .filter(text(constraint["where"]))
            .params(self._create_values(constraint["values"]))
        )
    else:
        query = self.session.query(self.dataset)

    total = self._get_repo_filter(query).count()

    from sqlalchemy import func

    order = []
    if pycsw_util.ranking_pass:  # spatial ranking (off unless configured)
        order.append(
            func.get_spatial_overlay_rank(
                getattr(self.dataset, mappings["pycsw:BoundingBox"]), pycsw_util.ranking_query_geometry
            ).desc()
        )
        pycsw_util.ranking_pass = False
        pycsw_util.ranking_query_geometry = ""

    if sortby is not None:
        column = getattr(self.dataset, sortby["propertyname"])
        if sortby.get("spatial"):
            column = func.get_geometry_area(column)
        order.append(column.desc() if sortby["order"] == "DESC" else column)

    # The tie-breaker: identifier is the primary key, hence unique.
    order.append(identifier)

    page_ids = (
        self._get_repo_filter(query)
        .with_entities(identifier)
        .order_by(*order)
        .limit(maxrecords)
        .offset(startposition)
        .subquery()
    )
    page = (
        self.session.query(self.dataset)
        .filter(identifier.in_(page_ids.select()))
        .options(*_unread_columns(self))
        .order_by(*order)
    )
    return [str(total), page.all()]


# --------------------------------------------------------------------------
# Per-worker repository binding (pycsw 2.6.2 Repository.__init__)
# --------------------------------------------------------------------------

_ORIGINAL_INIT = pycsw_repository.Repository.__init__
_BINDINGS = {}
# whether the table of the current request's repository has the folded columns (sinp_wildcards)
_FOLDED = {"ready": False}
_BOUND_ATTRIBUTES = ("engine", "dataset", "dbtype", "postgis_geometry_column", "fts", "_sinp_changes")


def _readable_changes_table(repository):
    """``CHANGES_TABLE`` of the mappings if this role may read it (``ckan sinp init-db`` creates it
    and grants it), else None: an older table is served with pycsw's count and offset."""
    name = _MAPPINGS.get("CHANGES_TABLE")
    if not name or not repository.dbtype.startswith("postgresql"):
        return None
    with repository.engine.connect() as conn:
        readable = conn.execute(
            text("SELECT has_table_privilege(to_regclass(:t), 'SELECT')"), {"t": '"%s"' % name.replace('"', '""')}
        ).scalar()
    return name if readable else None


def _cached_init(self, database, context, app_root=None, table="records", repo_filter=None):
    """pycsw's ``Repository.__init__``, doing its database work once per worker.

    pycsw 2.6.2 builds its repository for every request: it reflects the table
    into a new mapped class (a dozen catalogue queries) and probes PostGIS,
    ``geometry_columns`` and the full-text index, ~17 ms per request on
    PostgreSQL (measured), and the new class per request kept memory growing.
    The table's shape changes only with a migration of the extension, which
    restarts the service (``make up``). The first request of a worker runs
    pycsw's own code; the others reuse the engine, the mapped class and what
    was detected, with a new session and the request's context.
    """
    key = (database, table, app_root)
    bound = _BINDINGS.get(key)
    if bound is None:
        _ORIGINAL_INIT(self, database, context, app_root=app_root, table=table, repo_filter=repo_filter)
        self._sinp_changes = _readable_changes_table(self)
        _BINDINGS[key] = {name: getattr(self, name) for name in _BOUND_ATTRIBUTES}
        _FOLDED[key] = set(_MAPPINGS["FOLDED_COLUMNS"].values()) <= set(self.dataset.__table__.c.keys())
        _FOLDED["ready"] = _FOLDED[key]
        return
    _FOLDED["ready"] = _FOLDED[key]
    from sqlalchemy.orm import create_session

    self.context = context
    self.filter = repo_filter
    for name, value in bound.items():
        setattr(self, name, value)
    self.session = create_session(self.engine)

    # pycsw's queryables, from the request's context (as pycsw does it).
    self.queryables = {}
    for tname in self.context.model["typenames"]:
        for qname, qvalues in self.context.model["typenames"][tname]["queryables"].items():
            self.queryables[qname] = dict(qvalues)
    self.queryables["_all"] = {}
    for qbl in list(self.queryables):
        self.queryables["_all"].update(self.queryables[qbl])
    self.queryables["_all"].update(self.context.md_core_model["mappings"])


def _install_engine(database_url):
    """Pre-register pycsw's engine (``Repository.create_engine`` memoizes by URL).

    No pre-ping (a ``SELECT 1`` round trip before every query): a connection that a
    PostgreSQL restart closed fails its first statement, SQLAlchemy then drops the
    pool's connections and ``application`` runs the request once more on a new one
    (so a restart still costs no failed request). AUTOCOMMIT: pycsw only reads, and
    each of its statements already ran in its own transaction (one connection
    checkout per query); without it, every checkout ended with a ROLLBACK round
    trip. The compiled-statement cache is kept small: with the mapped class built
    once per worker (``_cached_init``) its entries no longer pin a class per
    request, and the statements vary mostly with the filter text of the request.
    """
    from sqlalchemy import create_engine, event

    engine = create_engine(database_url, query_cache_size=100, isolation_level="AUTOCOMMIT")
    event.listen(engine, "handle_error", _database_failed)
    pycsw_repository.Repository._engines[database_url] = engine


class _CachedSchemaEtree:
    """``lxml.etree`` for pycsw's CSW modules, with ``XMLSchema(file=...)`` built once per worker.

    pycsw 2.6.2 validates every POST body (and every Filter) against CSW-discovery.xsd /
    filter.xsd by compiling the XSD tree again (``etree.XMLSchema(file=...)``): about a quarter of a
    GetRecords request (measured, see BENCHMARKS.md). The files are pycsw's own and never change
    while the worker runs; a compiled schema validates the same way each time."""

    def __init__(self, etree):
        self._etree = etree
        self._schemas = {}

    def XMLSchema(self, etree=None, file=None, **kwargs):  # noqa: N802 - lxml's name
        if etree is not None or kwargs or file is None:
            return self._etree.XMLSchema(etree, file=file, **kwargs)
        schema = self._schemas.get(file)
        if schema is None:
            schema = self._schemas[file] = self._etree.XMLSchema(file=file)
        return schema

    def __getattr__(self, name):
        return getattr(self._etree, name)


def _install_schema_cache():
    from pycsw.ogc.csw import csw2, csw3

    for module in (csw2, csw3):
        if not isinstance(module.etree, _CachedSchemaEtree):
            module.etree = _CachedSchemaEtree(module.etree)


def _install_mappings_cache(mappings_file):
    """pycsw 2.6.2 loads ``[repository] mappings`` with ``imp.load_source`` for every request
    (reads and compiles the file: ~1 ms). This worker loads it once; each request gets its own
    copy of ``MD_CORE_MODEL`` (pycsw may modify what it is given)."""
    import copy
    import imp  # pycsw 2.6.2 imports it too (deprecated; removed in Python 3.12)
    import types

    original = getattr(imp.load_source, "__wrapped__", imp.load_source)
    path = os.path.realpath(mappings_file)
    loaded = {}

    def load_source(name, pathname, *args):
        if args or os.path.realpath(pathname) != path:
            return original(name, pathname, *args)
        if "module" not in loaded:
            loaded["module"] = original(name, pathname)
        module = types.ModuleType(loaded["module"].__name__)
        module.__dict__.update(copy.deepcopy({k: v for k, v in vars(loaded["module"]).items() if k.isupper()}))
        return module

    load_source.__wrapped__ = original
    imp.load_source = load_source


def _query_ids(self, ids):
    """pycsw 2.6.2 ``Repository.query_ids`` (GetRecordById), without the columns no record shows
    (``_unread_columns``: half of a row's bytes)."""
    column = getattr(self.dataset, self.context.md_core_model["mappings"]["pycsw:Identifier"])
    query = self.session.query(self.dataset).filter(column.in_(ids)).options(*_unread_columns(self))
    return self._get_repo_filter(query).all()


def _install_nspath_cache():
    """pycsw's ``util.nspath_eval`` ('gmd:MD_Metadata' -> '{http://...gmd}MD_Metadata'), remembered.

    Called ~90 times per record of a summary page (a fifth of its rendering, measured); the
    answer depends only on the expression and the URIs of its prefixes, checked at every use."""
    original = getattr(pycsw_util.nspath_eval, "__wrapped__", pycsw_util.nspath_eval)
    cache = {}

    def nspath_eval(xpath, nsmap):
        hit = cache.get(xpath)
        if hit is not None:
            result, used = hit
            if all(nsmap.get(prefix) == uri for prefix, uri in used):
                return result
        result = original(xpath, nsmap)
        if len(cache) < 4096:
            prefixes = [node.split(":")[0] for node in xpath.split("/") if node.count(":") == 1]
            cache[xpath] = (result, tuple((prefix, nsmap[prefix]) for prefix in prefixes))
        return result

    nspath_eval.__wrapped__ = original
    pycsw_util.nspath_eval = nspath_eval


def _install_stable_sort():
    if pycsw.__version__ != PYCSW_VERSION:
        raise ConfigurationError(
            "wsgi.py patches pycsw %s; found pycsw %s: review _stable_query and sinp_wildcards"
            % (PYCSW_VERSION, pycsw.__version__)
        )
    pycsw_repository.Repository.query = _stable_query
    pycsw_repository.Repository.query_ids = _query_ids
    pycsw_repository.Repository.__init__ = _cached_init
    sinp_wildcards.install(pycsw_fes1, _MAPPINGS, enabled=lambda: _FOLDED["ready"])


# --------------------------------------------------------------------------
# Request handling
# --------------------------------------------------------------------------


def strip_config_params(query_string):
    """Remove every parameter whose decoded name contains 'config' (any case)."""
    kept = []
    for part in query_string.split("&"):
        if not part:
            continue
        name = unquote_plus(part.split("=", 1)[0])
        if "config" in name.lower():
            continue
        kept.append(part)
    return "&".join(kept)


# paging parameters (KVP names, lower-cased as pycsw reads them) that pycsw 2.6.2 converts with
# an unguarded int(): maxRecords=1e20 was a 500
PAGING_PARAMS = ("startposition", "maxrecords")


def invalid_paging(query_string):
    """(name, value) of the first startPosition / maxRecords that is not a non-negative integer
    of at most 9 digits, or None."""
    for part in query_string.split("&"):
        name, _, value = part.partition("=")
        name = unquote_plus(name).strip().lower()
        value = unquote_plus(value).strip()
        if name not in PAGING_PARAMS:
            continue
        digits = value.isascii() and value.isdigit()
        # a huge maxRecords is only greedy: it is capped (``cap_max_records``), as pycsw caps it
        if not digits or (name == "startposition" and len(value) > 9) or len(value) > 100:
            return name, value
    return None


def cap_max_records(query_string, cap=999999999):
    """The query string with a maxRecords above ``cap`` set to ``cap`` (pycsw then applies its own
    ``maxrecords``): a harvester asking for ``maxRecords=1000000000`` gets a page, not an error."""
    parts = []
    for part in query_string.split("&"):
        name, sep, value = part.partition("=")
        if unquote_plus(name).strip().lower() == "maxrecords":
            value_text = unquote_plus(value).strip()
            if value_text.isascii() and value_text.isdigit() and int(value_text) > cap:
                part = name + sep + str(cap)
        parts.append(part)
    return "&".join(parts)


def _exception_report(start_response, code, locator, text, status="200 OK", extra_headers=()):
    """An OWS 1.0 ExceptionReport, as pycsw 2.6.2 answers CSW 2.0.2 errors (HTTP 200)."""
    from xml.sax.saxutils import escape, quoteattr

    body = (
        '<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n'
        '<ows:ExceptionReport xmlns:ows="http://www.opengis.net/ows" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" version="1.2.0" '
        'xsi:schemaLocation="http://www.opengis.net/ows '
        'http://schemas.opengis.net/ows/1.0.0/owsExceptionReport.xsd">'
        "<ows:Exception exceptionCode=%s locator=%s><ows:ExceptionText>%s</ows:ExceptionText>"
        "</ows:Exception></ows:ExceptionReport>" % (quoteattr(code), quoteattr(locator), escape(text))
    ).encode("utf-8")
    start_response(
        status, [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))] + list(extra_headers)
    )
    return [body]


RETRY_AFTER_S = 30
# a gunicorn sync worker serves one request at a time: whether this request lost PostgreSQL
_REQUEST = {"database_failed": False}


def _database_failed(context):
    """SQLAlchemy's ``handle_error``: the request lost PostgreSQL (refused, closed, starting up);
    remembered because it may answer again by the time pycsw's report is checked."""
    if lost_database(context.original_exception):
        _REQUEST["database_failed"] = True


# what pycsw's report says when the query failed because PostgreSQL went away (a restart, a crash):
# the database may already answer again when the report is checked
_DATABASE_FAILURE = re.compile(
    rb"OperationalError|InterfaceError|server closed the connection|terminating connection|"
    rb"the database system is|could not connect|Connection refused|connection already closed"
)


def database_answers(database_url=None):
    """True when the repository's database answers ``SELECT 1`` (pycsw's pooled engine)."""
    from sqlalchemy import text

    engine = pycsw_repository.Repository._engines[database_url or SETTINGS["repository"]["database"]]
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return True
    except Exception:  # any failure to get an answer means unavailable
        return False


def _unavailable(start_response):
    """PostgreSQL does not answer: an OWS exception with HTTP 503 and Retry-After (pycsw answered
    HTTP 200 with « Could not load repository » or a failed query, which harvesters take for an
    empty or broken catalogue)."""
    return _exception_report(
        start_response,
        "NoApplicableCode",
        "service",
        "Service temporairement indisponible : la base du catalogue ne répond pas ; réessayez dans "
        "%d secondes (service temporarily unavailable, retry later)." % RETRY_AFTER_S,
        status="503 Service Unavailable",
        extra_headers=[("Retry-After", str(RETRY_AFTER_S))],
    )


def _plain(start_response, status, message, extra_headers=()):
    body = (message + "\n").encode("utf-8")
    start_response(
        status,
        [("Content-Type", "text/plain; charset=UTF-8"), ("Content-Length", str(len(body)))] + list(extra_headers),
    )
    return [body]


def _max_post_bytes():
    try:
        return int(os.environ.get("PYCSW_MAX_POST_BYTES", 1024 * 1024))
    except ValueError:
        return 1024 * 1024


SETTINGS = load_configuration()
_MAPPINGS = runpy.run_path(SETTINGS["repository"]["mappings"])
MAX_POST_BYTES = _max_post_bytes()
_install_stable_sort()
_install_engine(SETTINGS["repository"]["database"])
_install_schema_cache()
_install_nspath_cache()
_install_mappings_cache(SETTINGS["repository"]["mappings"])


_GETRECORDS_TAG = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?GetRecords\b[^>]*>")
_MAX_POSITION = re.compile(rb"""\s+maxPosition\s*=\s*(?:"[^"]*"|'[^']*')""")


def normalize_post_body(body):
    """Request bodies that real harvesters send but CSW-discovery.xsd refuses, made valid.

    udata (data.gouv.fr) sends a non-standard ``maxPosition`` attribute on
    ``csw:GetRecords``; pycsw 2.6.2 validates POST bodies against the schema and
    answers with an ExceptionReport, so data.gouv.fr could not harvest us. The
    attribute is dropped from the GetRecords start tag (text only: the body is
    not parsed here).
    """
    match = _GETRECORDS_TAG.search(body)
    if match is None or b"maxPosition" not in match.group(0):
        return body
    tag = _MAX_POSITION.sub(b"", match.group(0))
    return body[: match.start()] + tag + body[match.end() :]


def _dispatch(env):
    """(status, contents, csw) of pycsw's answer to ``env``, or None when the request lost
    PostgreSQL (the query failed: refused, closed, starting up)."""
    _REQUEST["database_failed"] = False
    csw = server.Csw(new_config_parser(SETTINGS), env)
    try:
        status, contents = csw.dispatch_wsgi()
    except Exception as error:  # pycsw lets some database errors through: unavailable, or a real bug
        if _REQUEST["database_failed"] or lost_database(error) or not database_answers():
            return None
        raise
    finally:
        repo = getattr(csw, "repository", None)
        session = getattr(repo, "session", None)
        if session is not None:
            try:
                session.close()  # give the connection back to the pool now
            except Exception:  # a connection already lost: nothing to give back
                pass
    head = contents[:4000] if isinstance(contents, bytes) else str(contents)[:4000].encode()
    # a statement lost PostgreSQL: whatever pycsw made of it (« Invalid query syntax », an empty answer…)
    lost = _REQUEST["database_failed"]
    if lost or (
        b'exceptionCode="NoApplicableCode"' in head and (_DATABASE_FAILURE.search(head) or not database_answers())
    ):
        return None
    return status, contents, csw


def application(environ, start_response):
    """WSGI application."""
    path = environ.get("PATH_INFO") or "/"
    if path != "/" and path.rstrip("/") not in SERVED_PATHS:
        return _plain(start_response, "404 Not Found", "Not Found")

    method = environ.get("REQUEST_METHOD", "GET").upper()
    if method not in ("GET", "HEAD", "POST"):
        return _plain(start_response, "405 Method Not Allowed", "Method Not Allowed", [("Allow", "GET, HEAD, POST")])

    if method == "POST":
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > MAX_POST_BYTES:
            return _plain(start_response, "413 Payload Too Large", "Request body too large")
        body = normalize_post_body(environ["wsgi.input"].read(length) if length else b"")

    # pycsw reads QUERY_STRING, wsgi.input, REQUEST_METHOD, CONTENT_LENGTH and
    # the URL parts from this mapping; give it a sanitised copy.
    env = dict(environ)
    env["QUERY_STRING"] = strip_config_params(environ.get("QUERY_STRING", ""))
    paging = invalid_paging(env["QUERY_STRING"])
    if paging is not None:
        return _exception_report(
            start_response,
            "InvalidParameterValue",
            paging[0],
            "Invalid %s: a non-negative integer is expected" % paging[0],
        )
    env["QUERY_STRING"] = cap_max_records(env["QUERY_STRING"])
    env["REQUEST_METHOD"] = "GET" if method == "HEAD" else method
    for key in ("PYCSW_CONFIG", "PYCSW_ROOT", "local.app_root"):
        env.pop(key, None)
    if method == "POST":
        env["CONTENT_LENGTH"] = str(len(body))

    for attempt in (1, 2):
        if method == "POST":
            env["wsgi.input"] = io.BytesIO(body)
        outcome = _dispatch(env)
        # a pooled connection closed by a PostgreSQL restart fails its first statement (no
        # pre-ping): SQLAlchemy has dropped the pool, the request runs once more on a new connection
        if outcome is not None or attempt == 2 or not database_answers():
            break
    if outcome is None:
        return _unavailable(start_response)
    status, contents, csw = outcome

    headers = [("Content-Type", str(csw.contenttype)), ("Content-Length", str(len(contents)))]
    start_response(status, headers)
    if method == "HEAD":
        return [b""]
    return [contents]
