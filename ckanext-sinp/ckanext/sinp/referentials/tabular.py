"""Reading of the delimited text files of the referentials (HABREF, INSEE COG, grids).

Pure parsing shared by ``habref.py`` and ``geo.py``: no database, no ``import ckan``.

What it does for every file:

- source: a path, a ``.zip`` archive (one member chosen by name patterns), or an
  open binary/text file object;
- encoding detected: BOM (UTF-8, UTF-16), else strict UTF-8, else Windows-1252
  (cp1252, the usual re-save by a spreadsheet), else ISO-8859-1 (Latin-1, which
  accepts any byte); the label of the encoding used is kept for the reports;
- separator detected among ``;``, tabulation, ``|`` and ``,``: the one whose
  header contains the required columns (the most columns if several do);
- header names are case-insensitive (stored upper-case), their order is free;
- CSV quoting (``"…"``, ``""`` inside quotes, quoted fields may span lines);
- blank lines are ignored; empty fields and ``null``/``NULL`` mean "no value".

Every problem raises a :class:`ReferentialFormatError` (or a subclass given by
the caller) whose French message names the file, the line and the column.
"""

from __future__ import annotations

import codecs
import csv
import dataclasses
import io
import os
import re
import zipfile
from collections.abc import Iterator, Sequence

__all__ = [
    "SEPARATORS",
    "NULL_MARKERS",
    "ReferentialFormatError",
    "Layout",
    "DecodedText",
    "Row",
    "DelimitedTable",
    "load_text",
    "decode_bytes",
    "separator_label",
]

SEPARATORS = (";", "\t", "|", ",")
NULL_MARKERS = frozenset({"", "null", "NULL"})
_SEPARATOR_LABELS = {";": "« ; »", "\t": "tabulation", "|": "« | »", ",": "« , »"}
_INT_RE = re.compile(r"[-+]?[0-9]{1,10}\Z")
_PG_INT_MAX = 2**31 - 1


def separator_label(separator: str) -> str:
    """French name of a separator (« ; », tabulation…)."""
    return _SEPARATOR_LABELS.get(separator, f"« {separator} »")


class ReferentialFormatError(ValueError):
    """A referential file that cannot be read; French message with file, line and column."""

    def __init__(
        self, message: str, *, source: str | None = None, line_number: int | None = None, column: str | None = None
    ):
        self.message = message
        self.source = source
        self.line_number = line_number
        self.column = column
        super().__init__(self._text())

    def _text(self) -> str:
        where = []
        if self.source:
            where.append(f"fichier {self.source}")
        if self.line_number:
            where.append(f"ligne {self.line_number}")
        if self.column:
            where.append(f"colonne {self.column}")
        if not where:
            return self.message
        prefix = ", ".join(where)
        return f"{prefix[0].upper()}{prefix[1:]} : {self.message}"


@dataclasses.dataclass(frozen=True)
class Layout:
    """An accepted header: its name, the columns it must have, a French description."""

    name: str
    required: tuple[str, ...]
    description: str


@dataclasses.dataclass(frozen=True)
class DecodedText:
    """The whole text of a file, the label of its encoding and the name shown in messages."""

    text: str
    encoding: str
    name: str


# -- source and encoding ------------------------------------------------------------
def _pick_member(
    archive: zipfile.ZipFile, patterns: Sequence[str], name: str, kind: str, error: type[ReferentialFormatError]
) -> str:
    """The member of an archive matched by the first pattern that matches exactly one member."""
    members = [m for m in archive.namelist() if not m.endswith("/")]
    for pattern in patterns:
        found = [m for m in members if re.search(pattern, m, re.IGNORECASE)]
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise error(
                f"l'archive contient plusieurs fichiers {kind} ({', '.join(found)}) : extrayez celui à charger.",
                source=name,
            )
    listed = ", ".join(members[:10]) or "aucun fichier"
    raise error(f"l'archive ne contient pas de fichier {kind} (contenu : {listed}).", source=name)


def _read_source(
    source, member_patterns: Sequence[str] | None, kind: str, error: type[ReferentialFormatError]
) -> tuple[bytes | str, str]:
    """(raw content, display name) of a path, an archive member or a file object."""
    if hasattr(source, "read"):
        return source.read(), os.path.basename(str(getattr(source, "name", "") or "")) or "(flux)"
    path = os.fspath(source)
    name = os.path.basename(path)
    if not os.path.isfile(path):
        raise error(f"fichier {kind} introuvable : {path}")
    if member_patterns and zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            member = _pick_member(archive, member_patterns, name, kind, error)
            return archive.read(member), f"{name}!{member}"
    with open(path, "rb") as handle:
        return handle.read(), name


def decode_bytes(data: bytes, name: str, error: type[ReferentialFormatError]) -> tuple[str, str]:
    """(text, encoding label): BOM, else UTF-8, else Windows-1252, else ISO-8859-1."""
    if data.startswith(codecs.BOM_UTF8):
        try:
            return data[len(codecs.BOM_UTF8) :].decode("utf-8"), "UTF-8 (avec BOM)"
        except UnicodeDecodeError as exc:
            raise error(
                f"le fichier commence par une marque UTF-8 (BOM) mais contient un octet"
                f" invalide en UTF-8 (0x{data[exc.start + 3]:02X}, position {exc.start + 4}).",
                source=name,
            ) from None
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16"), "UTF-16"
        except UnicodeDecodeError:
            raise error(
                "le fichier commence par une marque UTF-16 (BOM) mais n'est pas de l'UTF-16 valide.", source=name
            ) from None
    for codec, label in (("utf-8", "UTF-8"), ("cp1252", "Windows-1252")):
        try:
            return data.decode(codec), label
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1"), "ISO-8859-1"


def load_text(
    source,
    *,
    kind: str,
    error: type[ReferentialFormatError] = ReferentialFormatError,
    member_patterns: Sequence[str] | None = None,
) -> DecodedText:
    """Read and decode a whole file (path, archive member or file object)."""
    raw, name = _read_source(source, member_patterns, kind, error)
    if isinstance(raw, str):
        return DecodedText(raw.lstrip("\ufeff"), "texte (déjà décodé)", name)
    text, encoding = decode_bytes(raw, name, error)
    return DecodedText(text, encoding, name)


# -- rows ---------------------------------------------------------------------------
_CSV_ERRORS = (
    ("unexpected end of data", "fin du fichier atteinte à l'intérieur d'un champ entre guillemets"),
    ("expected after", "un guillemet fermant doit être suivi du séparateur ou d'une fin de ligne"),
    ("field larger than field limit", "champ trop long (plus de 131 072 caractères)"),
    ("new-line character seen in unquoted field", "fin de ligne isolée (CR) dans un champ sans guillemets"),
)


def _csv_error_text(error: csv.Error) -> str:
    """French wording of the errors of Python's ``csv`` module."""
    message = str(error)
    return next((french for english, french in _CSV_ERRORS if english in message), "format CSV invalide")


class Row:
    """One data line: values by upper-case column name, with typed accessors raising French errors."""

    __slots__ = ("values", "line_number", "_table")

    def __init__(self, values: dict[str, str], line_number: int, table: DelimitedTable):
        self.values = values
        self.line_number = line_number
        self._table = table

    def has(self, column: str) -> bool:
        return column in self.values

    def text(self, column: str, *, required: bool = False) -> str | None:
        """Stripped value, or None for an absent column or a null marker."""
        value = self.values.get(column)
        if value is None or value in NULL_MARKERS:
            if required:
                raise self.error(f"{column} est vide (valeur obligatoire).", column)
            return None
        return value

    def integer(self, column: str, *, required: bool = False, minimum: int | None = None) -> int | None:
        """Integer value (PostgreSQL ``integer`` range), None when empty and not required."""
        value = self.text(column, required=required)
        if value is None:
            return None
        if not _INT_RE.match(value) or abs(int(value)) > _PG_INT_MAX:
            raise self.error(f"{column} « {value[:40]} » n'est pas un nombre entier.", column)
        number = int(value)
        if minimum is not None and number < minimum:
            raise self.error(f"{column} vaut {number} : un entier supérieur ou égal à {minimum} est attendu.", column)
        return number

    def error(self, message: str, column: str | None = None) -> ReferentialFormatError:
        return self._table.error(message, self.line_number, column)


class DelimitedTable:
    """The header and the rows of a delimited text file, separator and layout detected.

    ``layouts``: the accepted headers, in order of preference; the first one
    whose required columns are all present (with some separator) is used.
    Attributes after construction: ``columns`` (upper-case names), ``separator``,
    ``layout``, ``encoding``, ``name``, ``header_line``.
    """

    def __init__(
        self,
        decoded: DecodedText,
        layouts: Sequence[Layout],
        *,
        kind: str,
        error: type[ReferentialFormatError] = ReferentialFormatError,
    ):
        self.name = decoded.name
        self.encoding = decoded.encoding
        self.kind = kind
        self._error_class = error
        self._check_nul(decoded.text)
        self._lines = io.StringIO(decoded.text, newline="")
        self.header_line, header = self._first_line()
        self.separator, self.layout, self.columns = self._detect(header, layouts)

    def error(self, message: str, line_number: int | None = None, column: str | None = None) -> ReferentialFormatError:
        return self._error_class(message, source=self.name, line_number=line_number, column=column)

    # -- header --------------------------------------------------------------------
    def _check_nul(self, text: str) -> None:
        position = text.find("\x00")
        if position >= 0:
            line = text.count("\n", 0, position) + 1
            raise self.error(
                "caractère nul (octet 0x00) : ce n'est pas un fichier texte, ou il est"
                " encodé en UTF-16 sans marque d'ordre des octets.",
                line,
            )

    def _first_line(self) -> tuple[int, str]:
        number = 0
        for line in self._lines:
            number += 1
            if line.strip():
                return number, line.rstrip("\r\n")
        raise self.error(f"le fichier {self.kind} est vide (aucune ligne d'en-tête).")

    @staticmethod
    def _split_header(header: str, separator: str) -> tuple[str, ...]:
        try:
            cells = next(csv.reader([header], delimiter=separator, quotechar='"'))
        except (csv.Error, StopIteration):
            cells = header.split(separator)
        columns = tuple(c.strip().strip('"').strip().upper() for c in cells)
        while columns and not columns[-1]:
            columns = columns[:-1]
        return columns

    def _detect(self, header: str, layouts: Sequence[Layout]) -> tuple[str, Layout, tuple[str, ...]]:
        split = {sep: self._split_header(header, sep) for sep in SEPARATORS}
        for layout in layouts:
            fits = [
                (len(cols), -SEPARATORS.index(sep), sep)
                for sep, cols in split.items()
                if set(layout.required) <= set(cols)
            ]
            if fits:
                separator = max(fits)[2]
                columns = split[separator]
                self._check_header(columns)
                return separator, layout, columns
        raise self.error(self._unknown_header_message(split, layouts), self.header_line)

    def _unknown_header_message(self, split: dict[str, tuple[str, ...]], layouts: Sequence[Layout]) -> str:
        separator = max(SEPARATORS, key=lambda sep: (len(split[sep]), -SEPARATORS.index(sep)))
        found = split[separator]
        shown = ", ".join(found[:12]) + (" …" if len(found) > 12 else "")
        expected = " ; ou ".join(
            f"{layout.description} (colonnes obligatoires : {', '.join(layout.required)})" for layout in layouts
        )
        if len(layouts) == 1:
            missing = [c for c in layouts[0].required if c not in found]
            return (
                f"en-tête non reconnu, colonnes obligatoires absentes : {', '.join(missing)}."
                f" Colonnes lues (séparateur {separator_label(separator)}) : {shown}."
                f" Attendu : {expected}."
            )
        return (
            f"en-tête non reconnu. Colonnes lues (séparateur {separator_label(separator)}) : {shown}."
            f" Attendu : {expected}."
        )

    def _check_header(self, columns: tuple[str, ...]) -> None:
        unnamed = [str(i + 1) for i, c in enumerate(columns) if not c]
        if unnamed:
            raise self.error(f"colonne(s) sans nom dans l'en-tête (position {', '.join(unnamed)}).", self.header_line)
        duplicates = sorted({c for c in columns if columns.count(c) > 1})
        if duplicates:
            raise self.error(f"colonnes en double dans l'en-tête : {', '.join(duplicates)}.", self.header_line)

    # -- rows ------------------------------------------------------------------------
    def rows(self) -> Iterator[Row]:
        """The data rows (blank lines skipped), each with the number of its first line."""
        reader = csv.reader(self._lines, delimiter=self.separator, quotechar='"', doublequote=True, strict=True)
        ncols = len(self.columns)
        consumed = self.header_line
        while True:
            start = consumed + 1
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise self.error(
                    f"ligne illisible ({_csv_error_text(exc)}) ; un guillemet mal fermé à partir"
                    f" de la ligne {start} est la cause la plus probable.",
                    start,
                ) from None
            consumed = self.header_line + reader.line_num
            if not cells or all(not c.strip() for c in cells):
                continue
            if len(cells) != ncols:
                cells = self._fit(cells, ncols, start, consumed)
            yield Row({c: v.strip() for c, v in zip(self.columns, cells)}, start, self)

    def _fit(self, cells: list[str], ncols: int, start: int, end: int) -> list[str]:
        if len(cells) > ncols and not any(c.strip() for c in cells[ncols:]):
            return cells[:ncols]  # trailing separators
        span = f" (lignes {start} à {end} : un guillemet mal fermé ?)" if end > start else ""
        raise self.error(
            f"{len(cells)} champs au lieu des {ncols} de l'en-tête (séparateur"
            f" {separator_label(self.separator)}){span}.",
            start,
        )
