"""Dates in French (domain/dates.py): « 1er décembre 2026 à 14 h 05 », never « décembre 1, 2026 »."""

from __future__ import annotations

import datetime as dt

from ckanext.sinp.domain import dates


def test_dates_read_as_in_french():
    assert dates.french_date("2026-12-01") == "1er décembre 2026"
    assert dates.french_date(dt.date(2025, 8, 15)) == "15 août 2025"
    assert dates.french_date("") == "" and dates.french_date(None) == "" and dates.french_date("demain") == ""


def test_times_are_shown_in_the_display_zone():
    utc = dt.datetime(2026, 12, 1, 13, 5, tzinfo=dt.timezone.utc)  # 14 h 05 in Paris (winter)
    assert dates.french_datetime(utc) == "1er décembre 2026 à 14 h 05"
    assert dates.french_datetime(utc.isoformat()) == "1er décembre 2026 à 14 h 05"
    assert dates.french_datetime(dt.datetime(2026, 7, 14, 8, 0)) == "14 juillet 2026 à 10 h 00"  # naive = UTC, summer
    assert dates.french_datetime(utc, "Nowhere/Atlantis") == "1er décembre 2026 à 14 h 05"  # unknown zone: Paris
    assert dates.french_datetime("2026-03-02") == "2 mars 2026"
