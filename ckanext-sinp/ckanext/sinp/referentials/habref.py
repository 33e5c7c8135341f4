"""Reader of the official HABREF files (habitat referential of PatriNat, version 5.0 layout).

Pure parsing: no database, no ``import ckan``. ``geo_store.py`` loads what this
module returns into PostgreSQL. Format documented in
``schemas/referentiels/habref/README.md``.

- ``HABREF_50.csv`` (or ``HABREF_NOHTML_50.csv``, or the official ``HABREF_50.zip``
  holding one of them): one line per habitat, columns found **by header name**,
  case-insensitive, in any order: ``CD_HAB, FG_VALIDITE, CD_TYPO, LB_CODE,
  LB_HAB_FR, LB_HAB_FR_COMPLET, LB_HAB_EN, LB_AUTEUR, NIVEAU, LB_NIVEAU,
  CD_HAB_SUP, PATH_CD_HAB, FRANCE, LB_DESCRIPTION`` (the first five are required,
  the others are read when present, unknown columns are ignored);
- ``TYPOREF_50.csv`` (optional, read from the same archive when present): one line
  per typology, ``CD_TYPO, CD_TABLE, LB_NOM_TYPO`` (+ metadata columns, ignored);
- separator (``;`` in the official files, tabulation, ``|`` or ``,``) and encoding
  (UTF-8, Windows-1252, Latin-1) are detected (see ``tabular.py``).

Typologies: HABREF gives every habitat a ``CD_TYPO`` (its typology: CORINE
Biotopes, EUNIS…). The occurrence standard names typologies by an acronym
(``refHabitat``: ``CORINEBIOTOPES``, ``EUNIS``, ``HIC``…). :data:`TYPOLOGIES` is
the table acronym → ``CD_TYPO`` shipped with the code, each entry marked with how
sure it is; a TYPOREF file, when given, takes precedence (matched on
``CD_TABLE`` / ``LB_NOM_TYPO``).
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from collections.abc import Iterable

from .tabular import DelimitedTable, Layout, ReferentialFormatError, load_text

__all__ = [
    "HABREF_COLUMNS",
    "REQUIRED_COLUMNS",
    "HabrefFormatError",
    "HabrefRecord",
    "HabrefFile",
    "Typology",
    "TYPOLOGIES",
    "TyporefRow",
    "read_habref",
    "read_typoref",
    "typology_by_acronym",
    "typology_acronyms",
    "default_version_label",
]

# Every column of the HABREF table, order of the official file
HABREF_COLUMNS = (
    "CD_HAB",
    "FG_VALIDITE",
    "CD_TYPO",
    "LB_CODE",
    "LB_HAB_FR",
    "LB_HAB_FR_COMPLET",
    "LB_HAB_EN",
    "LB_AUTEUR",
    "NIVEAU",
    "LB_NIVEAU",
    "CD_HAB_SUP",
    "PATH_CD_HAB",
    "FRANCE",
    "LB_DESCRIPTION",
)
REQUIRED_COLUMNS = ("CD_HAB", "FG_VALIDITE", "CD_TYPO", "LB_CODE", "LB_HAB_FR")
TYPOREF_REQUIRED_COLUMNS = ("CD_TYPO", "CD_TABLE", "LB_NOM_TYPO")

_HABREF_LAYOUT = Layout("habref", REQUIRED_COLUMNS, "fichier HABREF (HABREF_NN.csv)")
_TYPOREF_LAYOUT = Layout("typoref", TYPOREF_REQUIRED_COLUMNS, "fichier TYPOREF (TYPOREF_NN.csv)")
# Archive members, by preference: the "NOHTML" variant (labels without HTML tags) first
_HABREF_MEMBERS = (r"(^|/)HABREF_NOHTML_\d+\.(csv|txt)$", r"(^|/)HABREF_\d+\.(csv|txt)$")
_TYPOREF_MEMBERS = (r"(^|/)TYPOREF_\d+\.(csv|txt)$",)


class HabrefFormatError(ReferentialFormatError):
    """A HABREF (or TYPOREF) file that cannot be read: French message with file, line, column."""


@dataclasses.dataclass(frozen=True, slots=True)
class HabrefRecord:
    """One habitat of HABREF, typed. Columns absent from the file are None."""

    cd_hab: int
    fg_validite: str
    cd_typo: int
    lb_code: str | None
    lb_hab_fr: str | None
    lb_hab_fr_complet: str | None
    lb_hab_en: str | None
    lb_auteur: str | None
    niveau: int | None
    lb_niveau: str | None
    cd_hab_sup: int | None
    path_cd_hab: str | None
    france: str | None
    lb_description: str | None
    line_number: int = dataclasses.field(default=0, compare=False)


# Data fields of HabrefRecord, in declaration order (line_number excluded)
RECORD_FIELDS = tuple(f.name for f in dataclasses.fields(HabrefRecord) if f.name != "line_number")


@dataclasses.dataclass(frozen=True)
class Typology:
    """A habitat typology: acronym of the occurrence standard (``refHabitat``) and its HABREF ``CD_TYPO``.

    ``certainty``: ``"recoupé"`` (the same ``CD_TYPO`` in at least two independent
    public sources), ``"probable"`` (one source), ``"incertain"`` (``cd_typo`` is
    None: not known; load TYPOREF to resolve it).
    """

    acronym: str
    cd_typo: int | None
    cd_table: str | None
    label: str
    certainty: str
    note: str = ""

    @property
    def certain(self) -> bool:
        return self.certainty == "recoupé"


# Acronyms of the occurrence standard (CodeRefHabitatValue) and their HABREF typology.
# CD_TYPO values come from third-party public code written against HABREF 5.0 to 7.0
# (queries, test doubles, documentation); PatriNat's TYPOREF file is the authority.
TYPOLOGIES: tuple[Typology, ...] = (
    Typology(
        "HABREF",
        None,
        None,
        "Référentiel HABREF (toutes typologies : le CD_HAB suffit)",
        "recoupé",
        "pas une typologie : refHabitat = HABREF veut dire que codeHabRef porte le CD_HAB",
    ),
    Typology("CORINEBIOTOPES", 22, "TYPO_CORINE_BIOTOPES", "CORINE Biotopes", "recoupé"),
    Typology("EUNIS", 7, None, "EUNIS Habitats", "recoupé", "CD_TABLE non vérifié"),
    Typology("HIC", 8, "TYPO_HIC", "Habitats d'intérêt communautaire (directive Habitats, annexe I)", "recoupé"),
    Typology("CH", 4, "TYPO_CH", "Cahiers d'habitats Natura 2000", "recoupé"),
    Typology("PVF1", 18, None, "Prodrome des végétations de France (PVF1)", "probable"),
    Typology("PHYTO_CH", 17, "TYPO_PHYTO_CH", "Unités phytosociologiques des cahiers d'habitats", "probable"),
    Typology(
        "PVF2",
        None,
        None,
        "Prodrome des végétations de France, déclinaison PVF2",
        "incertain",
        "CD_TYPO 28 possible (une seule source, sans libellé)",
    ),
    Typology("PVF", None, None, "Prodrome des végétations de France (ancien acronyme, équivaut à PVF1)", "incertain"),
    Typology("PAL", None, None, "Classification paléarctique (typologie PAL_PHYSIS_2001 de HABREF)", "incertain"),
    Typology("BRYOSOCIO", None, None, "Synopsis bryosociologique", "incertain"),
    Typology("SYNSYSTEME_EUROPEEN", None, None, "Classification phytosociologique européenne", "incertain"),
    Typology("GMRC", None, None, "Géomorphologie des récifs coralliens", "incertain"),
    Typology("BBMEDFR", None, None, "Biocénoses benthiques de Méditerranée", "incertain"),
    Typology("ANTMER", None, None, "Habitats marins des Antilles (HABITATS_ANTILLES)", "incertain"),
    Typology("GUYMER", None, None, "Habitats marins de Guyane (HABITATS_GUYANE)", "incertain"),
    Typology("REUMER", None, None, "Habitats marins de La Réunion (HABITATS_REUNION)", "incertain"),
    Typology("PALSPM", None, None, "Habitats de Saint-Pierre-et-Miquelon", "incertain"),
)


@dataclasses.dataclass(frozen=True)
class TyporefRow:
    """One line of TYPOREF (the columns the referential needs)."""

    cd_typo: int
    cd_table: str | None
    lb_nom_typo: str | None
    line_number: int = dataclasses.field(default=0, compare=False)


@dataclasses.dataclass
class HabrefFile:
    """What ``read_habref`` read: the records and how the file was understood."""

    records: list[HabrefRecord]
    source: str
    encoding: str
    separator: str
    ignored_columns: tuple[str, ...]
    absent_columns: tuple[str, ...]
    typoref: list[TyporefRow] | None = None

    @property
    def acronyms(self) -> dict[int, str]:
        """``CD_TYPO`` → acronym, from TYPOREF when read, else from :data:`TYPOLOGIES`."""
        return typology_acronyms(self.typoref)


# -- reading --------------------------------------------------------------------------
def _record(row, absent: frozenset[str]) -> HabrefRecord:
    values = {}
    for name in RECORD_FIELDS:
        column = name.upper()
        if column in absent:
            values[name] = None
        elif name in ("cd_hab", "cd_typo"):
            values[name] = row.integer(column, required=True, minimum=1)
        elif name in ("niveau", "cd_hab_sup"):
            values[name] = row.integer(column, minimum=0)
        else:
            values[name] = row.text(column, required=name == "fg_validite")
    return HabrefRecord(**values, line_number=row.line_number)


def _read_records(table: DelimitedTable) -> list[HabrefRecord]:
    absent = frozenset(c for c in HABREF_COLUMNS if c not in table.columns)
    seen: dict[int, int] = {}
    records = []
    for row in table.rows():
        record = _record(row, absent)
        first = seen.setdefault(record.cd_hab, record.line_number)
        if first != record.line_number:
            raise row.error(f"CD_HAB {record.cd_hab} en double (déjà présent ligne {first}).", "CD_HAB")
        records.append(record)
    if not records:
        raise table.error("le fichier HABREF ne contient aucune ligne de données.")
    return records


def read_habref(source, *, typoref=None) -> HabrefFile:
    """Read a HABREF file (``.csv``, or the official ``.zip``) into typed records.

    ``typoref``: a TYPOREF file (path or file object) to read too; when ``source``
    is an archive that holds ``TYPOREF_NN.csv`` it is read from there by default.
    Raises :class:`HabrefFormatError` (French message, file, line, column).
    """
    decoded = load_text(source, kind="HABREF", error=HabrefFormatError, member_patterns=_HABREF_MEMBERS)
    table = DelimitedTable(decoded, [_HABREF_LAYOUT], kind="HABREF", error=HabrefFormatError)
    records = _read_records(table)
    typoref_rows = None
    if typoref is not None:
        typoref_rows = read_typoref(typoref)
    elif "!" in decoded.name:  # read from an archive: its TYPOREF, if any
        typoref_rows = _typoref_from_archive(source)
    return HabrefFile(
        records=records,
        source=decoded.name,
        encoding=decoded.encoding,
        separator=table.separator,
        ignored_columns=tuple(c for c in table.columns if c not in HABREF_COLUMNS),
        absent_columns=tuple(c for c in HABREF_COLUMNS if c not in table.columns),
        typoref=typoref_rows,
    )


def _typoref_from_archive(path) -> list[TyporefRow] | None:
    try:
        return read_typoref(path)
    except HabrefFormatError as error:
        if "ne contient pas de fichier TYPOREF" in error.message:
            return None
        raise


def read_typoref(source) -> list[TyporefRow]:
    """Read a TYPOREF file (``.csv`` or an archive holding ``TYPOREF_NN.csv``)."""
    decoded = load_text(source, kind="TYPOREF", error=HabrefFormatError, member_patterns=_TYPOREF_MEMBERS)
    table = DelimitedTable(decoded, [_TYPOREF_LAYOUT], kind="TYPOREF", error=HabrefFormatError)
    rows, seen = [], {}
    for row in table.rows():
        cd_typo = row.integer("CD_TYPO", required=True, minimum=1)
        first = seen.setdefault(cd_typo, row.line_number)
        if first != row.line_number:
            raise row.error(f"CD_TYPO {cd_typo} en double (déjà présent ligne {first}).", "CD_TYPO")
        rows.append(TyporefRow(cd_typo, row.text("CD_TABLE"), row.text("LB_NOM_TYPO"), row.line_number))
    if not rows:
        raise table.error("le fichier TYPOREF ne contient aucune ligne de données.")
    return rows


# -- typologies ---------------------------------------------------------------------------
def _key(text: str | None) -> str:
    """Upper-case ASCII letters and digits only: ``"CORINE_biotopes"`` → ``"CORINEBIOTOPES"``."""
    if not text:
        return ""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^A-Z0-9]", "", text.upper())


def typology_by_acronym(acronym: str) -> Typology | None:
    """The shipped typology of an acronym (case and punctuation ignored), or None."""
    wanted = _key(acronym)
    return next((t for t in TYPOLOGIES if _key(t.acronym) == wanted), None)


def _typoref_acronym(row: TyporefRow) -> str | None:
    """Acronym of a TYPOREF line, matched on CD_TABLE (``TYPO_<acronym>``) or LB_NOM_TYPO."""
    keys = {_key(row.cd_table), _key(row.lb_nom_typo)}
    keys |= {k[len("TYPO") :] for k in keys if k.startswith("TYPO")}
    keys |= {_key(inner) for inner in re.findall(r"\(([^)]*)\)", row.lb_nom_typo or "")}
    keys.discard("")
    for typology in TYPOLOGIES:
        if typology.acronym == "HABREF":
            continue
        if _key(typology.acronym) in keys or (typology.cd_table and _key(typology.cd_table) in keys):
            return typology.acronym
    return None


def typology_acronyms(typoref: Iterable[TyporefRow] | None = None) -> dict[int, str]:
    """``CD_TYPO`` → acronym of the occurrence standard.

    Without TYPOREF: the entries of :data:`TYPOLOGIES` that have a ``cd_typo``
    ("recoupé" and "probable"). With TYPOREF: its lines matched by ``CD_TABLE`` or
    ``LB_NOM_TYPO``, completed by the shipped entries whose ``CD_TYPO`` TYPOREF
    does not use otherwise.
    """
    mapping = {t.cd_typo: t.acronym for t in TYPOLOGIES if t.cd_typo is not None}
    if typoref is None:
        return mapping
    resolved: dict[int, str] = {}
    for row in typoref:
        acronym = _typoref_acronym(row)
        if acronym:
            resolved[row.cd_typo] = acronym
    taken = set(resolved.values())
    known = {row.cd_typo for row in typoref}
    for cd_typo, acronym in mapping.items():
        if acronym not in taken and cd_typo not in resolved and cd_typo not in known:
            resolved[cd_typo] = acronym
    return resolved


def default_version_label(file_name: str) -> str:
    """``HABREF_50.csv`` → ``"HABREF 5.0"``; otherwise the file name without extension."""
    match = re.search(r"HABREF(?:_NOHTML)?_(\d)(\d)", file_name, re.IGNORECASE)
    if match:
        return f"HABREF {match.group(1)}.{match.group(2)}"
    return re.sub(r"\.(csv|txt|zip)$", "", file_name.split("!")[0], flags=re.IGNORECASE)
