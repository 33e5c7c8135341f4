"""Shared set-up of the benchmarks: CKAN in-process on the test configuration, and BENCHMARKS.md.

The benchmarks write to the *test* database and Solr core (var/test.ini), never to the demo
catalogue; do not run them while `make test` runs.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import pathlib
import platform
import re
import statistics
import subprocess

ROOT = pathlib.Path(__file__).resolve().parent.parent
BENCHMARKS = ROOT / "BENCHMARKS.md"


@contextlib.contextmanager
def ckan_app(ini: str | None = None):
    from ckan.cli import CKANConfigLoader
    from ckan.config.middleware import make_app

    ini = ini or str(ROOT / "var" / "test.ini")
    app = make_app(CKANConfigLoader(ini).get_config())
    with app._wsgi_app.test_request_context():
        yield app


def stack_env() -> dict:
    """var/stack.env (written by `make up`) as a dict."""
    env = {}
    for line in (ROOT / "var" / "stack.env").read_text(encoding="utf-8").splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            env[key] = value
    return env


def reset_catalogue():
    """Empties the test catalogue (database rows and Solr core), keeping the tables."""
    import ckan.lib.search as search
    import ckan.model as model
    from ckan.tests import helpers

    model.repo.tables_created_and_initialised = True
    helpers.reset_db()
    search.clear_all()


def percentiles(samples: list[float]) -> dict:
    ordered = sorted(samples)

    def pct(p):
        return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]

    return {"p50": statistics.median(ordered), "p95": pct(95), "min": ordered[0], "max": ordered[-1], "n": len(ordered)}


def machine() -> str:
    return f"{os.cpu_count()} cores, Python {platform.python_version()}, {dt.date.today().isoformat()}"


def psql(sql: str, db: str = "postgres") -> None:
    """Runs ``sql`` as the postgres superuser (the benches' scratch databases and roles)."""
    subprocess.run(
        ["su", "postgres", "-c", f'psql -v ON_ERROR_STOP=1 -q -d {db} -c "{sql}"'],
        check=True,
        cwd="/",
        capture_output=True,
    )


def scratch_database(name: str) -> str:
    """A new, empty PostGIS database ``name`` owned by a role of the same name (both dropped first):
    the URL to reach it. ``drop_scratch_database(name)`` removes both."""
    drop_scratch_database(name)
    psql(f"CREATE ROLE {name} LOGIN PASSWORD '{name}'")
    psql(f"CREATE DATABASE {name} OWNER {name}")
    psql("CREATE EXTENSION postgis", name)
    return f"postgresql://{name}:{name}@127.0.0.1:{os.environ.get('PGPORT', '5432')}/{name}"


def drop_scratch_database(name: str) -> None:
    psql(f"DROP DATABASE IF EXISTS {name}")
    psql(f"DROP ROLE IF EXISTS {name}")


def write_section(name: str, body: str) -> None:
    """Replaces the section ``name`` of BENCHMARKS.md (between markers) with ``body``."""
    text = (
        BENCHMARKS.read_text(encoding="utf-8")
        if BENCHMARKS.exists()
        else "# Benchmarks\n\nFigures written by the scripts in `bench/` (see bench/README.md). Re-run a script to update its section.\n"
    )
    start, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    block = f"{start}\n{body.rstrip()}\n{end}"
    if start in text:
        text = re.sub(re.escape(start) + r".*?" + re.escape(end), lambda m: block, text, flags=re.S)
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    BENCHMARKS.write_text(text, encoding="utf-8")
