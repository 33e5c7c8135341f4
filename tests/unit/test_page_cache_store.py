"""The anonymous page cache's store: generations, expiry, memory budget (#18 capacity)."""

from __future__ import annotations

from ckanext.sinp.page_cache.store import QUIET_TABLES, Entries, Entry


def entry(body=b"x" * 100, generation=1, expires=100.0):
    return Entry(body, [("Content-Type", "text/html")], generation, expires)


def test_an_entry_serves_only_its_generation_and_until_it_expires():
    entries = Entries(max_bytes=10_000, max_body=5_000)
    entries.put(("a",), entry(generation=1, expires=100.0))
    assert entries.get(("a",), 1, now=50.0).body == b"x" * 100
    assert entries.get(("a",), 2, now=50.0) is None  # something committed since
    assert len(entries) == 0  # and the stale copy is gone
    entries.put(("a",), entry(generation=2, expires=100.0))
    assert entries.get(("a",), 2, now=100.0) is None  # expired
    assert (entries.hits, entries.misses) == (1, 2)


def test_the_least_recently_used_goes_first_within_the_budget():
    one = entry().size
    entries = Entries(max_bytes=3 * one, max_body=one)
    for key in "abc":
        entries.put((key,), entry())
    assert entries.get(("a",), 1, now=0) is not None  # a is now the most recent
    entries.put(("d",), entry())
    assert entries.get(("b",), 1, now=0) is None
    assert [entries.get((k,), 1, now=0) is not None for k in "acd"] == [True, True, True]
    assert entries.bytes == 3 * one


def test_a_body_larger_than_the_limit_is_not_kept():
    entries = Entries(max_bytes=1_000_000, max_body=1_000)
    assert not entries.put(("big",), entry(body=b"y" * 2_000))
    assert len(entries) == 0 and entries.bytes == 0


def test_replacing_a_key_keeps_the_byte_count_exact():
    entries = Entries(max_bytes=1_000_000, max_body=100_000)
    entries.put(("a",), entry(body=b"1" * 500))
    entries.put(("a",), entry(body=b"2" * 50))
    assert entries.bytes == entry(body=b"2" * 50).size
    entries.clear()
    assert entries.bytes == 0 and len(entries) == 0


def test_tables_that_never_change_a_page_are_the_quiet_ones():
    # the outbox has its own trigger (a task that ends), the others change on reads or after a
    # change that already notified
    assert {"api_token", "sinp_outbox", "sinp_csw_record"} <= QUIET_TABLES
    assert not {"package", "resource", "sinp_occurrence", "member", "group"} & QUIET_TABLES


def test_a_write_to_a_quiet_table_is_not_a_change_of_what_pages_show():
    from types import SimpleNamespace

    from ckanext.sinp.page_cache import glue

    for sql, wrote in (
        ("INSERT INTO sinp_occurrence_summary (package_id, viewer, gen, payload) VALUES (1, 2, 3, 4)", False),
        ('UPDATE "sinp_occurrence_summary" SET gen = 1', False),
        ("INSERT INTO package (id) VALUES ('x')", True),
        ("UPDATE package SET title = 'x'", True),
        ("WITH d AS (DELETE FROM sinp_occurrence RETURNING 1) SELECT count(*) FROM d", True),
        ("SELECT 1", False),
    ):
        conn = SimpleNamespace(info={})
        glue._on_statement(conn, None, sql)
        assert conn.info.get("sinp_wrote", False) is wrote, sql
