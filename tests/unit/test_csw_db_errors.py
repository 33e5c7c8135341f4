"""The CSW answers 503, not 500, when a request lost PostgreSQL: which errors say so."""

from __future__ import annotations

import importlib.util

import psycopg2.errors
import sqlalchemy.exc

from tests.conftest import ROOT

_spec = importlib.util.spec_from_file_location("sinp_db_errors", ROOT / "pycsw_config" / "db_errors.py")
db_errors = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(db_errors)


def wrapped(original):
    try:
        try:
            raise original
        except Exception as err:
            raise sqlalchemy.exc.OperationalError("SELECT 1", {}, err) from err
    except Exception as outer:
        return outer


def test_a_restart_closing_the_connection_is_a_lost_database():
    # what a fast shutdown gives to the open connections: a subclass whose name is not OperationalError
    assert db_errors.lost_database(psycopg2.errors.AdminShutdown("terminating connection"))
    assert db_errors.lost_database(psycopg2.errors.CannotConnectNow("the database system is starting up"))
    assert db_errors.lost_database(wrapped(psycopg2.OperationalError("server closed the connection")))


def test_an_error_caused_by_a_lost_connection_is_a_lost_database():
    try:
        try:
            raise psycopg2.InterfaceError("connection already closed")
        except psycopg2.InterfaceError as err:
            raise RuntimeError("pycsw: could not load the repository") from err
    except RuntimeError as outer:
        assert db_errors.lost_database(outer)


def test_other_errors_are_not():
    assert not db_errors.lost_database(ValueError("bad filter"))
    assert not db_errors.lost_database(psycopg2.errors.SyntaxError("syntax error at or near"))
    assert not db_errors.lost_database(sqlalchemy.exc.ProgrammingError("SELECT", {}, Exception("no table")))
    assert not db_errors.lost_database(None)
