"""Dates as a French reader expects them: « 1er décembre 2026 à 14 h 05 ». Pure Python, no ``ckan``.

CKAN's own formatting gives « décembre 1, 2026 »; the pages and messages of the validation (and
any other page that wants it, through the ``sinp_datetime`` helper) use these functions.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MONTHS = (
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
)
DEFAULT_ZONE = "Europe/Paris"


def _zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or DEFAULT_ZONE)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_ZONE)


def parse(value) -> dt.date | dt.datetime | None:
    """A date or datetime from itself or its ISO text; None for anything else (never an error)."""
    if isinstance(value, (dt.date, dt.datetime)):
        return value
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    try:
        return dt.datetime.fromisoformat(text) if ("T" in text or " " in text) else dt.date.fromisoformat(text)
    except ValueError:
        return None


def french_date(value) -> str:
    """« 1er décembre 2026 », « 12 mars 2025 »; '' when there is no date."""
    day = parse(value)
    if day is None:
        return ""
    return f"{'1er' if day.day == 1 else day.day} {MONTHS[day.month - 1]} {day.year}"


def french_datetime(value, zone: str | None = DEFAULT_ZONE) -> str:
    """« 1er décembre 2026 à 14 h 05 » in ``zone`` (an aware datetime is converted, a naive one is
    taken as UTC, as PostgreSQL and CKAN store them); a date alone gives the date."""
    moment = parse(value)
    if moment is None:
        return ""
    if not isinstance(moment, dt.datetime):
        return french_date(moment)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    moment = moment.astimezone(_zone(zone))
    return f"{french_date(moment)} à {moment.hour} h {moment.minute:02d}"
