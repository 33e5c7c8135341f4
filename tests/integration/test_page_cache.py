"""The anonymous page cache (#18 capacity): a copy for visitors who are not logged in, ended by
any committed change, never a logged-in user's page, never a private record.

Real CKAN (in-process, the cache on as in production), PostgreSQL (its NOTIFY), Solr.
"""

from __future__ import annotations

import re
import time
import urllib.parse
import uuid

import ckan.model as model
import psycopg2
import sqlalchemy as sa
from ckan.common import config
from ckan.tests import factories
from flask_login.utils import encode_cookie

from ckanext.sinp.page_cache import glue
from tests.integration import test_sinp_records as records
from tests.integration.conftest import _wait_for_background_jobs
from tests.integration.test_sinp_records import _ca, _jdd

producer = records.producer

TOKEN = re.compile(r'name="_csrf_token" (?:value|content)="([^"]+)"')


def visitor(app):
    """A new browser: its own cookies."""
    return app.test_client()


def cache_of(response) -> str:
    return response.headers.get("X-Sinp-Cache")


def published_jdd(producer, **changes):
    api, org = producer
    ca = _ca(api, org, private=False)
    word = f"Sympetrum{uuid.uuid4().hex[:6]}"
    return api, _jdd(api, org, ca, private=False, title=f"Suivi des odonates {word}", **changes), word


def listening():
    deadline = time.monotonic() + 10
    while not glue.stats().get("listening") and time.monotonic() < deadline:
        glue._state["generation"].ready()
        time.sleep(0.05)
    assert glue.stats()["listening"], "the cache never listened to PostgreSQL"


def copy_served(browser, url, wait=15):
    """The answer to ``url`` once a copy is served. Writes of the background jobs that follow a
    publication (the CSW row, the search index) are committed by another process and end the
    copies made before them: under load they may land between two requests, so the page is asked
    again until those writes are over."""
    deadline = time.monotonic() + wait
    while True:
        browser.get(url)
        answer = browser.get(url)
        if cache_of(answer) == "hit" or time.monotonic() > deadline:
            return answer
        time.sleep(0.2)


def test_a_second_visitor_gets_the_copy_with_its_own_csrf_token_and_the_security_headers(app, producer):
    _api, jdd, word = published_jdd(producer)
    first, second = visitor(app), visitor(app)
    listening()
    url = f"/dataset/?q={word}"

    miss = first.get(url)
    hit = second.get(url)
    assert (cache_of(miss), cache_of(hit)) == ("miss", "hit")
    assert hit.status_code == 200 and jdd["title"] in hit.get_data(as_text=True)
    assert hit.headers["Content-Security-Policy"] and hit.headers["X-Content-Type-Options"] == "nosniff"

    mine = set(TOKEN.findall(hit.get_data(as_text=True)))
    theirs = set(TOKEN.findall(miss.get_data(as_text=True)))
    assert len(mine) == 1 and len(theirs) == 1 and mine != theirs  # each visitor has its own token
    assert "sinp-page-cache" not in hit.get_data(as_text=True)
    # and it is valid for this visitor's session: the login form says « wrong password », not « CSRF »
    login = second.post(
        "/user/login",
        data={"login": "personne", "password": "mauvais", "_csrf_token": mine.pop()},
        follow_redirects=False,
    )
    assert login.status_code != 400 and "CSRF" not in login.get_data(as_text=True)


def test_a_record_made_private_or_renamed_changes_every_anonymous_page_at_once(app, producer):
    api, jdd, word = published_jdd(producer)
    browser = visitor(app)
    listening()
    pages = {
        "page": f"/jdd/{jdd['name']}",
        "search": f"/dataset/?q={word}",
        "api": f"/api/3/action/package_search?q={word}",
    }
    for url in pages.values():
        again = copy_served(browser, url)
        assert cache_of(again) == "hit" and jdd["title"] in again.get_data(as_text=True), url

    api.ok("package_patch", id=jdd["id"], title=f"Inventaire des libellules {word}")
    for url in pages.values():
        answer = browser.get(url)
        assert cache_of(answer) == "miss" and "Inventaire des libellules" in answer.get_data(as_text=True), url

    api.ok("package_patch", id=jdd["id"], private=True)
    assert browser.get(pages["page"]).status_code == 404
    for url in (pages["search"], pages["api"]):
        assert "libellules" not in browser.get(url).get_data(as_text=True), url


def primed_visitor(app, url):
    """A visitor whose second request of ``url`` is answered from the cache (the worker listening)."""
    browser = visitor(app)
    listening()
    assert cache_of(copy_served(browser, url)) == "hit"
    return browser


def test_a_change_committed_by_another_process_ends_the_copies(app, producer):
    """Another web worker, the jobs worker or psql: only PostgreSQL's notification tells us."""
    _api, jdd, _word = published_jdd(producer)
    url = f"/api/3/action/package_show?id={jdd['id']}"
    browser = primed_visitor(app, url)

    outside = psycopg2.connect(
        sa.engine.make_url(model.meta.engine.url).set(drivername="postgresql").render_as_string(False)
    )
    try:
        with outside, outside.cursor() as cur:  # commits, outside this process's engine
            cur.execute(
                "UPDATE package SET title = %s, metadata_modified = now() AT TIME ZONE 'utc' WHERE id = %s",
                ("Titre changé ailleurs", jdd["id"]),
            )
    finally:
        outside.close()

    deadline, seen = time.monotonic() + 10, None
    while time.monotonic() < deadline:
        seen = browser.get(url).json["result"]["title"]
        if seen == "Titre changé ailleurs":
            break
        time.sleep(0.02)
    assert seen == "Titre changé ailleurs"


def test_a_write_of_this_process_through_any_engine_ends_the_copies_at_its_commit(app, producer):
    """CKAN puts a new engine in ``model.meta.engine`` whenever plugins are loaded (its
    ``with_plugins`` fixture does, after the app is made): this process's writes are seen at their
    commit through whichever engine, not only once PostgreSQL's notification has come (a race)."""
    _api, jdd, _word = published_jdd(producer)
    url = f"/api/3/action/package_show?id={jdd['id']}"
    browser = primed_visitor(app, url)

    generation = glue._state["generation"]
    engine = sa.create_engine(model.meta.engine.url)  # an engine made after the app, as CKAN does
    try:
        before = generation.value
        with engine.begin() as conn:  # a temporary table notifies nobody: only the commit hook can tell
            conn.execute(sa.text("CREATE TEMPORARY TABLE sinp_probe (x int) ON COMMIT DROP"))
            conn.execute(sa.text("INSERT INTO sinp_probe VALUES (1)"))
        assert generation.value != before
        with engine.begin() as conn:  # a read commits too, and moves nothing
            before = generation.value
            conn.execute(sa.text("SELECT 1"))
        assert generation.value == before
    finally:
        engine.dispose()

    with model.meta.engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE package SET title = :t, metadata_modified = now() AT TIME ZONE 'utc' WHERE id = :i"),
            {"t": "Titre changé par ce processus", "i": jdd["id"]},
        )
    answer = browser.get(url)  # at once: no waiting for the notification
    assert cache_of(answer) == "miss" and answer.json["result"]["title"] == "Titre changé par ce processus"


def test_logged_in_users_are_never_served_a_copy_and_their_pages_are_never_kept(app, producer):
    api, org = producer
    ca = _ca(api, org, private=False)
    word = f"Gomphus{uuid.uuid4().hex[:6]}"
    _jdd(api, org, ca, private=True, title=f"Gîtes confidentiels {word}")
    _wait_for_background_jobs()  # the jobs the creation queued write before the visits, not between them
    admin = factories.Sysadmin(password="correct123")
    url = f"/dataset/?q={word}"
    listening()

    as_admin = visitor(app)  # logs in through the form, as a browser does
    form = as_admin.get("/user/login").get_data(as_text=True)
    logged = as_admin.post(
        "/user/login",
        data={"login": admin["name"], "password": "correct123", "_csrf_token": TOKEN.search(form).group(1)},
    )
    assert logged.status_code == 200
    for _ in range(2):
        page = as_admin.get(url)
        assert cache_of(page) == "bypass" and "Gîtes confidentiels" in page.get_data(as_text=True)
    remembered = visitor(app)  # a « remember me » cookie, no session yet
    with app.flask_app.test_request_context():
        remembered.set_cookie(
            config["REMEMBER_COOKIE_NAME"],
            encode_cookie(admin["name"]),
            domain=urllib.parse.urlsplit(config["ckan.site_url"]).hostname,
        )
    page = remembered.get(url)
    assert cache_of(page) == "bypass" and "Gîtes confidentiels" in page.get_data(as_text=True)
    with_token = app.get(
        f"/api/3/action/package_search?q={word}&include_private=true", headers={"Authorization": api.token}
    )
    titles = [r["title"] for r in with_token.json["result"]["results"]]
    assert cache_of(with_token) == "bypass" and any("Gîtes confidentiels" in t for t in titles)

    anonymous = visitor(app)
    page = anonymous.get(url)  # nothing the logged-in visits saw was kept
    assert cache_of(page) == "miss" and "Gîtes confidentiels" not in page.get_data(as_text=True)
    page = copy_served(anonymous, url)  # a background job's write may end the first copy (the CI, once)
    assert cache_of(page) == "hit" and "Gîtes confidentiels" not in page.get_data(as_text=True)


def test_while_nobody_listens_nothing_is_served_from_the_cache(app, producer):
    _api, jdd, _word = published_jdd(producer)
    url = f"/jdd/{jdd['name']}"
    browser = primed_visitor(app, url)

    with model.meta.engine.begin() as conn:  # PostgreSQL drops the listener (a restart, a network cut)
        conn.execute(
            sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = 'sinp-page-cache' AND datname = current_database()"
            )
        )
    deadline = time.monotonic() + 5
    while glue.stats()["listening"] and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not glue.stats()["listening"]
    assert cache_of(browser.get(url)) == "bypass"
    listening()  # it connects again by itself; what was kept before may be stale: not served
    assert cache_of(browser.get(url)) == "miss"
    assert cache_of(browser.get(url)) == "hit"
