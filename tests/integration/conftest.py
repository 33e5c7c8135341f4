"""Integration fixtures: real PostgreSQL, Solr, Redis, CKAN worker and pycsw.

The in-process CKAN (CKAN's pytest plugin, ``--ckan-ini=var/test.ini``) uses the
``ckan_test`` database, the ``ckan_test`` Solr core and Redis database 1, so the
tests never touch the demo catalogue. Tests marked ``stack`` talk over HTTP to
the services that `make up` started.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time

import ckan.model as model
import pytest
import requests
import sqlalchemy as sa
from ckan.tests import helpers

from tests.conftest import ROOT, read_stack_env

# Functions that a worker process must import live in support/ under a top-level
# name: inside CKAN processes `tests` resolves to ckan.tests.
SUPPORT = ROOT / "tests" / "integration" / "support"
if str(SUPPORT) not in sys.path:
    sys.path.insert(0, str(SUPPORT))


@pytest.fixture(scope="session")
def stack():
    return read_stack_env()


@pytest.fixture
def clean_db():
    """Empty CKAN's tables (and ours) without dropping them.

    CKAN's own ``clean_db`` drops every table it reflects on its first call,
    PostGIS's ``spatial_ref_sys`` and the plugins' tables included; the test
    database is migrated by `make up`, so deleting rows is enough and faster.
    """
    empty_database()


def empty_database() -> None:
    """What ``clean_db`` does, for the fixtures that build a world once per module."""
    _wait_for_background_jobs()
    model.repo.tables_created_and_initialised = True
    helpers.reset_db()
    with model.meta.engine.begin() as conn:
        conn.execute(
            sa.text(
                "TRUNCATE sinp_csw_record, sinp_occurrence, sinp_qc_error, sinp_deposit, sinp_outbox, "
                "sinp_chef_de_file, sinp_validation, sinp_notification"
            )
        )
    # the site user, created now rather than concurrently by a job of the worker
    helpers.call_action("get_site_user", context={"ignore_auth": True})


def _wait_for_background_jobs(timeout: float = 60) -> None:
    """Jobs of a previous test (CSW sync…) finish before the database is emptied under them."""
    from ckan.lib import jobs
    from rq.registry import StartedJobRegistry

    queue = jobs.get_queue()
    started = StartedJobRegistry(queue=queue)
    deadline = time.monotonic() + timeout
    while (queue.count or started.count) and time.monotonic() < deadline:
        time.sleep(0.1)


def _wait_for_line(log_path, needle, proc, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited ({proc.returncode}); see {log_path}")
        if log_path.exists() and needle in log_path.read_text(errors="replace"):
            return
        time.sleep(0.2)
    raise RuntimeError(f"'{needle}' not seen in {log_path} after {timeout}s")


SCHEDULER_STEPS = ("harvest_every", "csw_orphans_every", "indicators_every", "carte_every")


@contextlib.contextmanager
def scheduler_process(stack, tmp_path, interval: int = 30, **periods):
    """A real ``ckan sinp scheduler`` on the test configuration, each periodic step given in
    ``periods`` (``carte_every=3``…) and every other one off; yields ``wait(needle, timeout)``, which
    returns the log once ``needle`` appears in it. Stopped on exit."""
    ini = tmp_path / "scheduler.ini"
    lines = [f"ckanext.sinp.scheduler.{step} = {periods.pop(step, 0)}" for step in SCHEDULER_STEPS]
    assert not periods, f"unknown scheduler steps: {periods}"
    ini.write_text(f"[app:main]\nuse = config:{stack['CKAN_TEST_INI']}\n" + "\n".join(lines) + "\n")
    log_path = tmp_path / "scheduler.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [stack["CKAN_BIN"], "-c", str(ini), "sinp", "scheduler", "--interval", str(interval)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(os.environ, PYTHONUNBUFFERED="1"),
            cwd=ROOT,
        )

    def wait(needle: str, timeout: float = 120) -> str:
        _wait_for_line(log_path, needle, proc, timeout)
        return log_path.read_text(errors="replace")

    try:
        yield wait
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture(scope="session")
def jobs_worker(stack, tmp_path_factory):
    """A real `ckan jobs worker` process on the test configuration."""
    log_path = tmp_path_factory.mktemp("worker") / "worker.log"
    env = dict(os.environ, PYTHONPATH=str(SUPPORT))
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [stack["CKAN_BIN"], "-c", stack["CKAN_TEST_INI"], "jobs", "worker"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=ROOT,
        )
    try:
        _wait_for_line(log_path, "has started on queue", proc, 60)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture
def http():
    session = requests.Session()
    yield session
    session.close()


def pytest_collection_modifyitems(items):
    """Every integration test runs with the plugins of the test configuration.

    CKAN's pytest plugin unloads all plugins before the tests; its
    ``with_plugins`` mark loads those of ``ckan.plugins`` again for a test.
    """
    for item in items:
        if "/tests/integration/" in str(item.path) and not item.get_closest_marker("with_plugins"):
            item.add_marker(pytest.mark.with_plugins)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def _server(name, command, env, health_url, log_path, timeout=90):
    """Runs a real server process until the block ends; waits until ``health_url`` answers 200."""
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ, **env))
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited ({proc.returncode}); see {log_path}")
            try:
                if requests.get(health_url, timeout=2).ok:
                    break
            except requests.RequestException:  # not listening yet, or still loading
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not answer within {timeout} s; see {log_path}")
            time.sleep(0.3)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="session")
def test_csw(stack, tmp_path_factory):
    """A second, real pycsw 2.6.2 (gunicorn) serving the test database's table.

    Yields its public URL. It runs the same WSGI wrapper and configuration as
    the stack's pycsw, with the read-only role.
    """
    port = free_port()
    url = f"http://127.0.0.1:{port}/csw"
    command = [
        f"{stack['PYCSW_VENV']}/bin/gunicorn",
        "--chdir",
        stack["PYCSW_CONFIG_DIR"],
        "wsgi:application",
        "--no-control-socket",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        "1",
        "--max-requests",
        "200",
    ]
    env = {
        "PYCSW_SERVER_URL": url,
        "PYCSW_DATABASE_URL": stack["CSW_TEST_DB_URL"],
        "SINP_CONTACT_EMAIL": "sinp@bourgogne-franche-comte.invalid",
    }
    health = f"{url}?service=CSW&request=GetCapabilities&version=2.0.2"
    with _server("test pycsw", command, env, health, tmp_path_factory.mktemp("pycsw") / "pycsw.log"):
        yield url


@pytest.fixture(scope="session")
def test_ckan_url(stack, tmp_path_factory):
    """A real CKAN web server (gunicorn) on the test configuration, for browser tests."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [
        f"{stack['CKAN_VENV']}/bin/gunicorn",
        "ckanext.sinp.wsgi:application",
        "--no-control-socket",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        "1",
        "--timeout",
        "120",
    ]
    env = {"CKAN_INI": stack["CKAN_TEST_INI"], "CKAN_SITE_URL": url}
    with _server(
        "test CKAN", command, env, f"{url}/api/3/action/status_show", tmp_path_factory.mktemp("ckan-web") / "ckan.log"
    ):
        yield url


@pytest.fixture
def browser(tmp_path):
    """Debian's headless Chromium driven by Selenium through Debian's chromedriver."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1280,2000",
        f"--user-data-dir={tmp_path / 'chromium'}",
        "--lang=fr",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # console, CSP violations included
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.implicitly_wait(5)
    yield driver
    driver.quit()


def patient(browser, timeout: float = 20):
    """A WebDriverWait that reads the page again when it was replaced while being read: after a click
    that submits a form (or a script that redraws a list), an element found a moment before is stale.
    Stop 36's CI failed on that once (a race of the test, not of the platform). Every browser wait
    of the suite goes through here."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(browser, timeout, ignored_exceptions=(StaleElementReferenceException,))


def wait_until(browser, predicate, timeout: float = 20):
    return patient(browser, timeout).until(predicate)


def body_text(browser) -> str:
    """The visible text of the page that is there once it stops being replaced under the reader."""
    from selenium.webdriver.common.by import By

    return wait_until(browser, lambda b: b.find_element(By.TAG_NAME, "body").text, timeout=10)


def search_count(expected: int, **params) -> int:
    """package_search's count once Solr shows ``expected`` (harvested records are committed within
    1 s, not at once), or the last count after 10 s."""
    deadline = time.monotonic() + 10
    while True:
        count = helpers.call_action("package_search", **params)["count"]
        if count == expected or time.monotonic() > deadline:
            return count
        time.sleep(0.2)
