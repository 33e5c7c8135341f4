"""A referential table deposited as CSV (sensitivity rules, regional EEE list…): the reading every such
file shares, with French errors naming the line.

``rows(data, error, subject=…, line_prefix=…)`` decodes UTF-8 (with or without BOM), refuses an empty
file, finds the separator (« ; » or « , » when ``separators`` allows both), and yields the header then
``(line number, cells)`` for every non-blank line, each checked to have as many cells as the header.
What the columns mean is the caller's.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator


def rows(
    data: bytes | str,
    error: type[Exception],
    *,
    subject: str = "Le fichier",
    line_prefix: str = "Ligne",
    separators: tuple[str, ...] = (";", ","),
) -> Iterator[tuple[int, list[str]]]:
    """Yields ``(1, header)`` then ``(line, cells)``; raises ``error`` with a French message.

    ``subject`` opens the whole-file messages (« Le fichier n'est pas en UTF-8 »), ``line_prefix``
    the line messages (« Ligne 4 : 5 champs au lieu de 6. »)."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError as err:
            pronoun = "la" if subject.lower().startswith("la ") else "le"
            raise error(
                f"{subject} n'est pas en UTF-8 (octet invalide en position {err.start}) : "
                f"réenregistrez-{pronoun} en UTF-8."
            )
    data = data.lstrip("\ufeff")
    if not data.strip():
        raise error(f"{subject} est vide.")
    first = data.splitlines()[0]
    sep = max(separators, key=first.count) if len(separators) > 1 else separators[0]
    reader = csv.reader(io.StringIO(data), delimiter=sep)
    header = next(reader)
    yield 1, header
    for line, row in enumerate(reader, start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise error(f"{line_prefix} {line} : {len(row)} champs au lieu de {len(header)}.")
        yield line, row
