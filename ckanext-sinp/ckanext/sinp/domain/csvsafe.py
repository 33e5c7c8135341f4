"""The one CSV dialect of the platform, and cells a spreadsheet would run as formulas neutralised.

**Dialect.** Every CSV the platform gives people (occurrence export, deposit template, errors,
rejected rows) is written here, in one dialect that Excel, LibreOffice and Google Sheets open
without an import dialog: « ; » between cells, ``"`` around a cell that holds a « ; », a ``"`` or
a line break (doubled inside), UTF-8 with a byte-order mark (BOM) in front, CRLF at the end of
every line. Python writers use ``text`` / ``stream`` (or ``writer``), DuckDB writes through
``duckdb_copy``. CSV files that only machines read (the accepted rows copied into PostGIS, the
duplicate candidates) are not for people and keep DuckDB's plain comma format.

**Formula injection** (OWASP « CSV injection » rule): every cell passes through this rule,
written once here: in Python (``neutralise``, ``neutralise_row``) and as a DuckDB/PostgreSQL
``CASE`` expression generated from the same constants (``neutralise_sql``).

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

import csv
import io
import os
import pathlib
import re
import shutil
from collections.abc import Iterable, Iterator
from typing import Any

# the dialect (see the module's docstring)
DELIMITER = ";"
QUOTE = '"'
LINE_TERMINATOR = "\r\n"
BOM = "\ufeff"
MIMETYPE = "text/csv"  # Flask adds « ; charset=utf-8 » to a text/* type

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


# --- the writer ------------------------------------------------------------------------------------


def writer(buf) -> Any:
    """A ``csv.writer`` in the platform's dialect (cells are written as given: see ``stream``)."""
    return csv.writer(buf, delimiter=DELIMITER, quotechar=QUOTE, lineterminator=LINE_TERMINATOR)


def stream(header: Iterable[str], rows: Iterable[Iterable[Any]], batch: int = 1000) -> Iterator[str]:
    """The CSV text of ``header`` and ``rows`` in chunks (BOM and header first, then ``batch`` rows at
    a time), every cell neutralised; ``None`` is an empty cell. For a streamed HTTP response."""
    buf = io.StringIO()
    out = writer(buf)
    out.writerow(neutralise_row(header))
    yield BOM + buf.getvalue()
    buf.seek(0)
    buf.truncate()
    n = 0
    for row in rows:
        out.writerow(neutralise_row("" if v is None else v for v in row))
        n += 1
        if n == batch:
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
            n = 0
    if n:
        yield buf.getvalue()


def text(header: Iterable[str], rows: Iterable[Iterable[Any]]) -> str:
    """The whole CSV text (BOM included) of ``header`` and ``rows``."""
    return "".join(stream(header, rows))


def duckdb_copy(con, sql: str, target) -> None:
    """The result of ``sql`` (cells already neutralised with ``neutralise_sql``) written by DuckDB to
    ``target`` in the platform's dialect, header included. DuckDB writes no BOM: it writes the body
    next to ``target`` and the BOM and the body are then put together (one sequential copy)."""
    target = pathlib.Path(target)
    body = target.with_name(target.name + ".body")
    path = str(body).replace("'", "''")
    con.execute(
        f"COPY ({sql}) TO '{path}' (HEADER, DELIMITER '{DELIMITER}', QUOTE '{QUOTE}', "
        f"ESCAPE '{QUOTE}', NEW_LINE '{LINE_TERMINATOR}')"
    )
    try:
        with open(target, "wb") as out, open(body, "rb") as src:
            out.write(BOM.encode("utf-8"))
            shutil.copyfileobj(src, out, 1024 * 1024)
    finally:
        os.unlink(body)
