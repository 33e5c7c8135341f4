"""Streaming reader of the official TAXREF text files (v17 and v18 layouts).

Pure parsing: no database, no ``import ckan``. ``store.py`` loads what this
module yields into PostgreSQL.

The file (``TAXREFv18.txt`` inside ``TAXREF_v18_2025.zip``, see
``schemas/referentiels/taxref/README.md``):

- one header line, then one line per name; columns are found **by header
  name** (their order is not relied upon);
- separator: tabulation; text fields may be enclosed in double quotes
  (CSV-style, ``""`` inside a quoted field is a literal quote; a quoted field
  may span lines); empty fields and the literal ``null`` mean "no value";
- encoding: UTF-8, with or without a BOM; LF or CRLF line endings.

Layouts: v18 has 44 columns (``CD_BA``, ``NOMENCLATURAL_COMMENT`` and
``URL_INPN`` added); v17 has 41 (the same layout as v15 and v16). A header
with every required column but another column set is accepted too
(``format_version`` is then ``None``, unknown columns are ignored).

Encoding choice: a file that is not valid UTF-8 is **refused** with a French
message giving the line and the probable cause (a Latin-1/Windows-1252
re-save, e.g. by a spreadsheet), unless the caller names the encoding
explicitly (``encoding="cp1252"``). Guessing is not safe: every byte string
is valid Latin-1, and the official files are UTF-8.

Errors: a malformed line raises :class:`TaxrefFormatError` (French message,
line number). With ``collect_errors=True`` the bad lines are skipped and the
errors kept in ``reader.errors`` instead (header and encoding errors are
always raised). Blank lines are ignored.
"""

from __future__ import annotations

import codecs
import csv
import dataclasses
import operator
import os
import re
import unicodedata
import zipfile
from collections.abc import Iterator

__all__ = [
    "TERRITORY_COLUMNS",
    "V17_COLUMNS",
    "V18_COLUMNS",
    "REQUIRED_COLUMNS",
    "RECORD_FIELDS",
    "TaxrefFormatError",
    "TaxrefRecord",
    "TaxrefReader",
    "iter_taxref",
    "detect_format_version",
    "normalize",
    "vernacular_names",
    "search_keys",
]

# Biogeographic status columns, one per territory (FR = France métropolitaine)
TERRITORY_COLUMNS = (
    "FR",
    "GF",
    "MAR",
    "GUA",
    "SM",
    "SB",
    "SPM",
    "MAY",
    "EPA",
    "REU",
    "SA",
    "TA",
    "TAAF",
    "PF",
    "NC",
    "WF",
    "CLI",
)

# TAXREF v15, v16 and v17 (41 columns), order of the official file
V17_COLUMNS = (
    "REGNE",
    "PHYLUM",
    "CLASSE",
    "ORDRE",
    "FAMILLE",
    "SOUS_FAMILLE",
    "TRIBU",
    "GROUP1_INPN",
    "GROUP2_INPN",
    "GROUP3_INPN",
    "CD_NOM",
    "CD_TAXSUP",
    "CD_SUP",
    "CD_REF",
    "RANG",
    "LB_NOM",
    "LB_AUTEUR",
    "NOM_COMPLET",
    "NOM_COMPLET_HTML",
    "NOM_VALIDE",
    "NOM_VERN",
    "NOM_VERN_ENG",
    "HABITAT",
    *TERRITORY_COLUMNS,
    "URL",
)

# TAXREF v18 (44 columns), order of the official file
V18_COLUMNS = (
    "REGNE",
    "PHYLUM",
    "CLASSE",
    "ORDRE",
    "FAMILLE",
    "SOUS_FAMILLE",
    "TRIBU",
    "GROUP1_INPN",
    "GROUP2_INPN",
    "GROUP3_INPN",
    "CD_NOM",
    "CD_TAXSUP",
    "CD_SUP",
    "CD_REF",
    "CD_BA",
    "RANG",
    "LB_NOM",
    "LB_AUTEUR",
    "NOMENCLATURAL_COMMENT",
    "NOM_COMPLET",
    "NOM_COMPLET_HTML",
    "NOM_VALIDE",
    "NOM_VERN",
    "NOM_VERN_ENG",
    "HABITAT",
    *TERRITORY_COLUMNS,
    "URL",
    "URL_INPN",
)

# Without these a file is not a usable TAXREF file
REQUIRED_COLUMNS = (
    "CD_NOM",
    "CD_REF",
    "CD_SUP",
    "CD_TAXSUP",
    "RANG",
    "LB_NOM",
    "LB_AUTEUR",
    "NOM_COMPLET",
    "NOM_VALIDE",
    "NOM_VERN",
    "REGNE",
    "FR",
)

_INT_FIELDS = frozenset({"cd_nom", "cd_ref", "cd_sup", "cd_taxsup", "cd_ba", "habitat"})
_NOT_EMPTY_FIELDS = ("cd_nom", "cd_ref", "rang", "lb_nom")
_NULL_MARKERS = frozenset({"", "null", "NULL"})
_INT_RE = re.compile(r"-?[0-9]{1,10}\Z")
_PG_INT_MAX = 2**31 - 1


class TaxrefFormatError(ValueError):
    """A TAXREF file that cannot be read; French message, line number if known."""

    def __init__(self, message: str, line_number: int | None = None, column: str | None = None):
        self.message = message
        self.line_number = line_number
        self.column = column
        super().__init__(f"Ligne {line_number} : {message}" if line_number else message)


@dataclasses.dataclass(slots=True)
class TaxrefRecord:
    """One line of TAXREF, typed. Columns absent from the file's layout are None."""

    cd_nom: int
    cd_ref: int
    cd_sup: int | None
    cd_taxsup: int | None
    cd_ba: int | None
    rang: str
    lb_nom: str
    lb_auteur: str | None
    nomenclatural_comment: str | None
    nom_complet: str | None
    nom_complet_html: str | None
    nom_valide: str | None
    nom_vern: str | None
    nom_vern_eng: str | None
    regne: str | None
    phylum: str | None
    classe: str | None
    ordre: str | None
    famille: str | None
    sous_famille: str | None
    tribu: str | None
    group1_inpn: str | None
    group2_inpn: str | None
    group3_inpn: str | None
    habitat: int | None
    fr: str | None
    gf: str | None
    mar: str | None
    gua: str | None
    sm: str | None
    sb: str | None
    spm: str | None
    may: str | None
    epa: str | None
    reu: str | None
    sa: str | None
    ta: str | None
    taaf: str | None
    pf: str | None
    nc: str | None
    wf: str | None
    cli: str | None
    url: str | None
    url_inpn: str | None
    line_number: int = dataclasses.field(default=0, compare=False)

    @property
    def is_valid_name(self) -> bool:
        """True for a valid (reference) name, False for a synonym."""
        return self.cd_nom == self.cd_ref

    @property
    def statuts(self) -> dict:
        """Non-empty biogeographic statuses by territory column ({'FR': 'P', ...})."""
        return {col: getattr(self, col.lower()) for col in TERRITORY_COLUMNS if getattr(self, col.lower())}


# Data fields of TaxrefRecord, in declaration order (line_number excluded)
RECORD_FIELDS = tuple(f.name for f in dataclasses.fields(TaxrefRecord) if f.name != "line_number")


def detect_format_version(columns) -> int | None:
    """18 or 17 when the header is exactly that layout (any order), else None."""
    names = set(columns)
    if names == set(V18_COLUMNS):
        return 18
    if names == set(V17_COLUMNS):
        return 17
    return None


def _latin1_hint(raw: bytes) -> str:
    try:
        raw.decode("cp1252")
    except UnicodeDecodeError:
        return ""
    return (
        " Il semble avoir été réenregistré en Latin-1/Windows-1252 (par exemple par un tableur) :"
        " reconvertissez-le en UTF-8 (iconv -f WINDOWS-1252 -t UTF-8 TAXREFv18.txt > TAXREFv18-utf8.txt)"
        " ou indiquez explicitement son encodage."
    )


def _open_source(source):
    """(binary stream, should_close) for a path (.txt or the official .zip) or a file object."""
    if hasattr(source, "read"):
        return source, False
    path = os.fspath(source)
    if not os.path.exists(path):
        raise TaxrefFormatError(f"Fichier TAXREF introuvable : {path}")
    if zipfile.is_zipfile(path):
        archive = zipfile.ZipFile(path)
        members = [n for n in archive.namelist() if re.search(r"(^|/)TAXREFv\d+\.txt$", n, re.IGNORECASE)]
        if len(members) != 1:
            archive.close()
            found = ", ".join(members) or "aucun"
            raise TaxrefFormatError(
                f"L'archive {os.path.basename(path)} doit contenir exactement un fichier TAXREFvNN.txt"
                f" (trouvé : {found})."
            )
        stream = archive.open(members[0])
        # Close the archive with the member
        original_close = stream.close

        def close():
            original_close()
            archive.close()

        stream.close = close
        return stream, True
    return open(path, "rb"), True


class TaxrefReader:
    """Iterate over the typed records of a TAXREF file.

    ``source``: a path (``.txt``, or the official ``.zip`` containing exactly one
    ``TAXREFvNN.txt``), or an open binary (or text) file object.

    Use as a context manager (closes the file it opened)::

        with TaxrefReader(path) as reader:
            print(reader.format_version)      # 18, 17 or None
            for record in reader:
                ...

    After the header is read: ``columns`` (upper-case header names),
    ``format_version``, ``ignored_columns``. During iteration: ``lines_read``
    (physical lines, header included), ``records_read``. With
    ``collect_errors=True``, ``errors`` lists the :class:`TaxrefFormatError` of
    the skipped lines (at most ``max_errors``, then the reading stops with an
    error).
    """

    def __init__(self, source, *, encoding: str = "utf-8", collect_errors: bool = False, max_errors: int = 1000):
        self.source = source
        self.encoding = encoding
        self.collect_errors = collect_errors
        self.max_errors = max_errors
        self.errors: list[TaxrefFormatError] = []
        self.columns: tuple = ()
        self.format_version: int | None = None
        self.ignored_columns: tuple = ()
        self.lines_read = 0
        self.records_read = 0
        self._stream = None
        self._should_close = False
        self._rows = None
        self._text_names: tuple = ()
        self._text_values = None
        self._int_index: list = []
        self._absent: tuple = ()
        self._iterating = False

    # -- opening / closing -------------------------------------------------
    def __enter__(self) -> TaxrefReader:
        self.open()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def open(self) -> TaxrefReader:
        if self._stream is None:
            self._stream, self._should_close = _open_source(self.source)
            try:
                self._read_header()
            except BaseException:
                self.close()
                raise
        return self

    def close(self) -> None:
        if self._stream is not None and self._should_close:
            self._stream.close()
        self._stream = None

    # -- lines -------------------------------------------------------------
    def _lines(self) -> Iterator[str]:
        encoding = self.encoding
        for raw in self._stream:
            self.lines_read += 1
            number = self.lines_read
            if isinstance(raw, bytes):
                if number == 1 and raw.startswith(codecs.BOM_UTF8):
                    raw = raw[len(codecs.BOM_UTF8) :]
                try:
                    text = raw.decode(encoding)
                except UnicodeDecodeError as exc:
                    raise TaxrefFormatError(
                        f"le fichier n'est pas encodé en {encoding.upper()} (octet 0x{raw[exc.start]:02X},"
                        f" caractère {exc.start + 1}). Les fichiers TAXREF officiels sont en UTF-8."
                        + _latin1_hint(raw),
                        number,
                    ) from None
            else:
                text = raw.lstrip("\ufeff") if number == 1 else raw
            yield text

    def _read_header(self) -> None:
        self._rows = csv.reader(self._lines(), delimiter="\t", quotechar='"', doublequote=True, strict=False)
        try:
            header = next(self._rows)
        except StopIteration:
            raise TaxrefFormatError("Le fichier TAXREF est vide (aucune ligne d'en-tête).", 1) from None
        except csv.Error as exc:
            raise TaxrefFormatError(f"en-tête illisible ({exc}).", 1) from None
        columns = tuple(c.strip().strip('"').upper() for c in header)
        while columns and not columns[-1]:
            columns = columns[:-1]
        if len(columns) == 1 and (";" in columns[0] or "," in columns[0]):
            raise TaxrefFormatError(
                "l'en-tête ne contient pas de tabulation : TAXREF est séparé par des tabulations"
                " (ce fichier semble séparé par des « ; » ou des « , »).",
                1,
            )
        unnamed = [str(i + 1) for i, c in enumerate(columns) if not c]
        if unnamed:
            raise TaxrefFormatError(f"colonne(s) sans nom dans l'en-tête (position {', '.join(unnamed)}).", 1)
        duplicates = sorted({c for c in columns if columns.count(c) > 1})
        if duplicates:
            raise TaxrefFormatError(f"colonnes en double dans l'en-tête : {', '.join(duplicates)}.", 1)
        missing = [c for c in REQUIRED_COLUMNS if c not in columns]
        if missing:
            raise TaxrefFormatError(
                f"colonnes obligatoires absentes de l'en-tête : {', '.join(missing)}."
                " Ce n'est pas un fichier TAXREF (TAXREFvNN.txt) au format v17 ou v18.",
                1,
            )
        self.columns = columns
        self.format_version = detect_format_version(columns)
        known = {f.upper() for f in RECORD_FIELDS}
        self.ignored_columns = tuple(c for c in columns if c not in known)
        position = {c: i for i, c in enumerate(columns)}
        present = [(name, position[name.upper()]) for name in RECORD_FIELDS if name.upper() in position]
        text_fields = [(n, i) for n, i in present if n not in _INT_FIELDS]
        self._text_names = tuple(n for n, _ in text_fields)
        self._text_values = operator.itemgetter(*(i for _, i in text_fields))
        self._int_index = [(n, i) for n, i in present if n in _INT_FIELDS]
        self._absent = tuple(name for name in RECORD_FIELDS if name.upper() not in position)

    # -- records -----------------------------------------------------------
    def __iter__(self) -> Iterator[TaxrefRecord]:
        self.open()
        if self._iterating:
            raise RuntimeError("TaxrefReader ne se parcourt qu'une fois.")
        self._iterating = True
        return self._records()

    def _records(self) -> Iterator[TaxrefRecord]:
        rows = self._rows
        ncols = len(self.columns)
        while True:
            start = self.lines_read + 1
            try:
                row = next(rows)
            except StopIteration:
                return
            except csv.Error as exc:
                raise TaxrefFormatError(
                    f"ligne illisible ({exc}) ; un guillemet ouvrant sans guillemet fermant"
                    f" à partir de la ligne {start} est la cause la plus probable.",
                    start,
                ) from None
            if not row or (len(row) == 1 and not row[0].strip()):
                continue  # blank line
            try:
                if len(row) != ncols:
                    if len(row) > ncols and not any(v.strip() for v in row[ncols:]):
                        row = row[:ncols]  # trailing empty fields
                    else:
                        span = (
                            f" (lignes {start} à {self.lines_read} : un guillemet mal fermé ?)"
                            if self.lines_read > start
                            else ""
                        )
                        raise TaxrefFormatError(f"{len(row)} champs au lieu des {ncols} de l'en-tête{span}.", start)
                record = self._record(row, start)
            except TaxrefFormatError as error:
                if not self.collect_errors:
                    raise
                self.errors.append(error)
                if len(self.errors) > self.max_errors:
                    raise TaxrefFormatError(
                        f"plus de {self.max_errors} lignes en erreur : lecture abandonnée.", start
                    ) from None
                continue
            self.records_read += 1
            yield record

    def _record(self, row: list, line_number: int) -> TaxrefRecord:
        values = dict(
            zip(self._text_names, [None if v in _NULL_MARKERS else v for v in map(str.strip, self._text_values(row))])
        )
        values.update(dict.fromkeys(self._absent))
        for name, index in self._int_index:
            value = row[index].strip()
            if value in _NULL_MARKERS:
                values[name] = None
            elif _INT_RE.match(value) and abs(int(value)) <= _PG_INT_MAX:
                values[name] = int(value)
            else:
                raise TaxrefFormatError(
                    f"{name.upper()} « {value[:40]} » n'est pas un nombre entier.", line_number, name.upper()
                )
        for name in _NOT_EMPTY_FIELDS:
            if values[name] is None:
                raise TaxrefFormatError(f"{name.upper()} est vide.", line_number, name.upper())
        return TaxrefRecord(**values, line_number=line_number)


def iter_taxref(source, **options) -> Iterator[TaxrefRecord]:
    """Yield the records of a TAXREF file (see :class:`TaxrefReader` for options)."""
    with TaxrefReader(source, **options) as reader:
        yield from reader


# -- search normalisation ---------------------------------------------------
_FOLD = str.maketrans(
    {
        "œ": "oe",
        "Œ": "OE",
        "æ": "ae",
        "Æ": "AE",
        "ß": "ss",
        "ø": "o",
        "Ø": "O",
        "ł": "l",
        "Ł": "L",
        "đ": "d",
        "Đ": "D",
        "þ": "th",
        "Þ": "TH",
        "ı": "i",
    }
)
_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def normalize(text: str | None) -> str:
    """Lower-case ASCII words separated by one space: accents, ligatures and punctuation removed.

    ``"Grand-duc d'Europe"`` → ``"grand duc d europe"``; ``"Œdicnème"`` → ``"oedicneme"``.
    The same function normalises the stored names and the search queries.
    """
    if not text:
        return ""
    text = unicodedata.normalize("NFKD", text.translate(_FOLD))
    text = text.encode("ascii", "ignore").decode("ascii").lower()
    return _NON_ALNUM.sub(" ", text).strip()


def vernacular_names(nom_vern: str | None) -> list:
    """The French names of a NOM_VERN field (TAXREF separates them with commas)."""
    if not nom_vern:
        return []
    return [name.strip() for name in nom_vern.split(",") if name.strip()]


def search_keys(record: TaxrefRecord) -> tuple:
    """(normalised LB_NOM, normalised vernacular names joined by ';') for the search columns."""
    names = (normalize(name) for name in vernacular_names(record.nom_vern))
    return normalize(record.lb_nom), ";".join(name for name in names if name)
