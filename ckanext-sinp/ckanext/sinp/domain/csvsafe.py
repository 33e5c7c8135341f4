"""CSV cells that a spreadsheet would run as formulas, neutralised (OWASP « CSV injection » rule).

Every CSV the platform produces (occurrence export, deposit errors, rejected rows) passes its
cells through this rule, written once here: in Python (``neutralise``, ``neutralise_row``) and
as a DuckDB/PostgreSQL ``CASE`` expression generated from the same constants (``neutralise_sql``).

The rule: a **text** cell whose first character is ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return gets a single quote ``'`` in front (Excel, LibreOffice and Google Sheets then show it as
text and never evaluate it). Numbers are left alone so that coordinates, altitudes and depths stay
numbers: a value of a numeric type (int, float, Decimal) is never touched, and neither is a text
that is entirely a decimal number (``-4.5``, ``+12``, ``-1,5``, ``-3e-2``): a spreadsheet reads
such a cell as a number, not as a formula. Anything else starting with a trigger (``-4.5+cmd|…``,
``=1+1``, ``@SUM(A1)``, ``-`` alone) is neutralised. The rule is idempotent: a neutralised cell
starts with ``'``, which is not a trigger.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

# first characters that make a spreadsheet evaluate a cell (OWASP)
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
PREFIX = "'"
# a whole cell that is a decimal number (point or comma, optional exponent): read as a number.
# Written in the syntax shared by Python's ``re`` and RE2 (DuckDB) — one pattern for both writers.
NUMBER_PATTERN = r"[+-]?([0-9]+([.,][0-9]*)?|[.,][0-9]+)([eE][+-]?[0-9]+)?"
_NUMBER = re.compile(NUMBER_PATTERN)


def is_dangerous(value: Any) -> bool:
    """Whether ``value`` is a text cell that a spreadsheet could evaluate as a formula."""
    return isinstance(value, str) and value[:1] in FORMULA_TRIGGERS and _NUMBER.fullmatch(value) is None


def neutralise(value: Any) -> Any:
    """``value`` with ``'`` in front when it is a dangerous text cell; anything else unchanged."""
    return PREFIX + value if is_dangerous(value) else value


def neutralise_row(values: Iterable[Any]) -> list[Any]:
    """Every cell of a row through ``neutralise`` (for ``csv.writer.writerow``)."""
    return [neutralise(v) for v in values]


def _sql_char(char: str) -> str:
    return f"chr({ord(char)})" if not char.isprintable() else "'" + char.replace("'", "''") + "'"


def neutralise_sql(expression: str) -> str:
    """The same rule as a SQL ``CASE`` over a text ``expression`` (DuckDB: ``left``, ``chr`` and
    ``regexp_full_match``). NULL stays NULL."""
    triggers = ", ".join(_sql_char(c) for c in FORMULA_TRIGGERS)
    prefix = _sql_char(PREFIX)
    return (
        f"CASE WHEN left({expression}, 1) IN ({triggers}) "
        f"AND NOT regexp_full_match({expression}, '{NUMBER_PATTERN}') "
        f"THEN {prefix} || {expression} ELSE {expression} END"
    )
