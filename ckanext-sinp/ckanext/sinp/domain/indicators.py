"""The ORB indicators as data: their declarations (``schemas/indicators.yaml``), the regional list of
invasive alien species (``schemas/referentiels/eee``), and the pure rules every output shares.

Each indicator is declared once (code, French title, question, method, unit, sources, breakdowns,
chart, caveats, update rule, parameters) so that the computation, the API, the pages, the CSV and
the README say the same thing. The declarations are checked when loaded: a typo in the YAML (an
unknown theme, a missing French text, a duplicate code) stops the platform with a message that
names the indicator and the field, instead of publishing a page with a hole in it.

Also here, because every output applies them the same way:

- ``suppressed``: the small-count rule (a cell with some but fewer than ``threshold`` observations
  of a sensitive taxon is published as « secret »);
- ``csv_with_header``: the downloadable CSV, in the platform's dialect (``csvsafe``), preceded by
  ``# `` lines that carry the title, unit, method, edition, sources, caveats and licence, so that a
  file passed around on its own still says what it measures;
- ``edition_label``: the French name of an edition (« Édition courante », « Édition 2025 (figée) »).

Pure Python: no ``import ckan``, no SQL (the store, ``occurrences/indicators_store.py``, computes).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import io
import math
import pathlib
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import yaml

from ckanext.sinp.domain import csvsafe, reftable, taxref
from ckanext.sinp.domain.model import schemas_dir

DECLARATIONS = "indicators.yaml"
EEE_LIST = pathlib.PurePosixPath("referentiels/eee/liste_eee_bfc.csv")
LIVE = "courante"
LICENCE = "Licence Ouverte 2.0"

THEMES = {
    "connaissance": "État des connaissances",
    "qualite": "Qualité des données",
    "eee": "Espèces exotiques envahissantes",
    "metadonnees": "Métadonnées et partage des données",
}
VENTILATIONS = {
    "region": "Région",
    "departement": "Département",
    "groupe": "Groupe taxonomique",
    "annee": "Année",
    "niveau": "Niveau de validation",
    "maille": "Maille de 10 km",
    "taxon": "Taxon",
    "producteur": "Producteur",
    "objectif": "Objectif",
}
GRAPHIQUES = {"serie": "Évolution par année", "barres": "Barres", "carte": "Carte par maille de 10 km"}

# French column labels of a series (the rows of sinp_indicator_show), for the CSV and the tables
COLUMN_LABELS = {
    "annee": "Année",
    "departement": "Département",
    "groupe": "Groupe taxonomique",
    "cle": "Clé",
    "libelle": "Libellé",
    "valeur": "Valeur",
    "effectif": "Effectif",
    "secret": "Secret",
}

# the « cle » column by breakdown (indicators_store: niveau, maille, cd_ref, producteur:<id>, objectif:<code>)
KEY_LABELS = {
    "niveau": "Niveau de validation",
    "maille": "Maille de 10 km",
    "taxon": "Taxon (CD_REF)",
    "producteur": "Producteur",
    "objectif": "Objectif",
}

_CODE = re.compile(r"[a-z][a-z0-9_]*")
_COMMENT_SEPARATOR = re.compile(r"\s*" + re.escape(csvsafe.DELIMITER) + r"\s*")
_TEXT_FIELDS = ("titre", "question", "methode", "unite", "mise_a_jour")
_LIST_FIELDS = ("sources", "precautions")
_FIELDS = ("code", "theme", "graphique", "ventilations", "parametres") + _TEXT_FIELDS + _LIST_FIELDS
_TOP_LEVEL = ("version", "textes", "indicateurs")


class DeclarationError(ValueError):
    """The declarations file is wrong; the message (French) names the indicator and the field."""


class UnknownIndicatorError(LookupError):
    """No indicator has this code; the message (French) lists the known codes."""

    def __str__(self) -> str:  # LookupError would show the repr of the message
        return str(self.args[0]) if self.args else ""


class EeeListError(ValueError):
    """The regional EEE list is malformed; the message (French) names the line."""


class _ReadOnlyDict(dict):
    """The parameters of a cached, shared declaration: a plain dict for ``json.dumps`` and
    templates, but refusing changes (a caller editing it would change every later reader)."""

    def _refuse(self, *args, **kwargs):
        raise TypeError("les paramètres d'un indicateur ne se modifient pas (copier avec dict(...))")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = _refuse

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(tuple(sorted(self.items())))


# how the method's parameters read on the page (a key the platform does not know reads as itself)
PARAMETER_LABELS = {
    "seuil_taxons": lambda v: f"seuil : {v} taxons par maille",
    "periode_annees": lambda v: f"période : les {v} dernières années de l'édition",
    "precision_m": lambda v: f"géométrie précise : {v} m ou mieux",
    "statut_taxref": lambda v: (
        f"statut TAXREF en France métropolitaine : « {taxref.STATUTS_BIOGEO.get(str(v), v)} » ({v})"
    ),
}


def _with_parameters(name: str, text: str, parametres: dict) -> str:
    """The method reads with the values of its parameters: « {seuil_taxons} » → « 50 »."""

    def value(match: re.Match) -> str:
        key = match.group(1)
        if key not in parametres:
            raise DeclarationError(f"{name} : champ « methode » : paramètre « {key} » non déclaré dans « parametres ».")
        return str(parametres[key])

    return re.sub(r"\{([a-z_]+)\}", value, text)


def parameter_label(key: str, value) -> str:
    label = PARAMETER_LABELS.get(key)
    return label(value) if label else f"{key.replace('_', ' ')} : {value}"


@dataclasses.dataclass(frozen=True)
class Indicator:
    code: str
    theme: str
    titre: str
    question: str
    methode: str
    unite: str
    sources: tuple[str, ...]
    ventilations: tuple[str, ...]
    graphique: str
    precautions: tuple[str, ...]
    mise_a_jour: str
    parametres: Mapping[str, Any] = dataclasses.field(default_factory=_ReadOnlyDict)

    @property
    def theme_libelle(self) -> str:
        return THEMES[self.theme]

    @property
    def graphique_libelle(self) -> str:
        return GRAPHIQUES[self.graphique]

    @property
    def ventilations_libelles(self) -> dict[str, str]:
        return {v: VENTILATIONS[v] for v in self.ventilations}

    @property
    def cle_libelle(self) -> str:
        """What the « cle » column holds for this indicator (its breakdowns other than région,
        département, groupe and année), e.g. « Niveau de validation », « Producteur ou objectif »."""
        names = [KEY_LABELS[v] for v in self.ventilations if v in KEY_LABELS]
        if not names:
            return COLUMN_LABELS["cle"]
        return " ou ".join([names[0]] + [n[:1].lower() + n[1:] for n in names[1:]])

    @property
    def parametres_libelles(self) -> list[str]:
        """The parameters as a reader understands them (« seuil : 50 taxons par maille »)."""
        return [parameter_label(k, v) for k, v in self.parametres.items()]

    def as_dict(self) -> dict:
        """Plain JSON-ready data (lists, dicts) for the API and the JSON download."""
        return {
            "code": self.code,
            "theme": self.theme,
            "theme_libelle": self.theme_libelle,
            "titre": self.titre,
            "question": self.question,
            "methode": self.methode,
            "unite": self.unite,
            "sources": list(self.sources),
            "ventilations": list(self.ventilations),
            "graphique": self.graphique,
            "precautions": list(self.precautions),
            "mise_a_jour": self.mise_a_jour,
            "parametres": dict(self.parametres),
            "parametres_libelles": self.parametres_libelles,
            "cle_libelle": self.cle_libelle,
        }


# --- loading and checking the declarations ---------------------------------------------------------


def declarations_path() -> pathlib.Path:
    return schemas_dir() / DECLARATIONS


def load(path: str | pathlib.Path | None = None) -> dict[str, Indicator]:
    """Every declared indicator by code, in the order of the file (read once per process)."""
    return dict(_load(str(path or declarations_path())))


def get(code: str) -> Indicator:
    """The indicator ``code``; ``UnknownIndicatorError`` (French message) when none has it."""
    found = load().get(code) if isinstance(code, str) else None
    if found is None:
        shown = str(code)[:60]
        raise UnknownIndicatorError(f"Indicateur inconnu : « {shown} ». Indicateurs disponibles : {', '.join(load())}.")
    return found


def by_theme() -> list[tuple[str, str, list[Indicator]]]:
    """(theme, French label, indicators) in the order of ``THEMES``, empty themes left out: the
    list page's sections."""
    indicators = list(load().values())
    out = []
    for theme, label in THEMES.items():
        mine = [i for i in indicators if i.theme == theme]
        if mine:
            out.append((theme, label, mine))
    return out


@functools.cache
def _load(path: str) -> tuple[tuple[str, Indicator], ...]:
    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
    except OSError as err:
        raise DeclarationError(f"Déclarations des indicateurs illisibles ({path}) : {err.strerror}.")
    except yaml.YAMLError as err:
        raise DeclarationError(f"Déclarations des indicateurs ({path}) : YAML invalide ({err}).")
    return tuple((i.code, i) for i in parse(data))


def parse(data: Any) -> list[Indicator]:
    """The indicators of a parsed declarations document, every field checked (French errors
    naming the indicator and the field)."""
    if not isinstance(data, dict) or not isinstance(data.get("indicateurs"), list):
        raise DeclarationError("Déclarations des indicateurs : la clé « indicateurs » (une liste) est absente.")
    unknown = sorted(set(data) - set(_TOP_LEVEL))
    if unknown:
        raise DeclarationError(f"Déclarations des indicateurs : clé inconnue « {unknown[0]} ».")
    out: list[Indicator] = []
    seen: set[str] = set()
    for position, entry in enumerate(data["indicateurs"], start=1):
        indicator = _indicator(entry, position)
        if indicator.code in seen:
            raise DeclarationError(f"Indicateur « {indicator.code} » : code déclaré deux fois.")
        seen.add(indicator.code)
        out.append(indicator)
    if not out:
        raise DeclarationError("Déclarations des indicateurs : aucun indicateur déclaré.")
    return out


def _indicator(entry: Any, position: int) -> Indicator:
    if not isinstance(entry, dict):
        raise DeclarationError(f"Indicateur n° {position} : une entrée doit être un dictionnaire de champs.")
    code = entry.get("code")
    if not isinstance(code, str) or not _CODE.fullmatch(code):
        raise DeclarationError(
            f"Indicateur n° {position} : champ « code » absent ou invalide "
            f"(« {code} » ; attendu : minuscules, chiffres et « _ », ex. part_validees)."
        )
    name = f"Indicateur « {code} »"
    unknown = sorted(set(entry) - set(_FIELDS))
    if unknown:
        raise DeclarationError(f"{name} : champ inconnu « {unknown[0]} » (champs possibles : {', '.join(_FIELDS)}).")
    texts = {}
    for field in _TEXT_FIELDS:
        value = entry.get(field)
        if not isinstance(value, str) or not value.strip():
            raise DeclarationError(f"{name} : champ « {field} » absent ou vide (texte en français attendu).")
        texts[field] = " ".join(value.split())
    lists = {}
    for field in _LIST_FIELDS:
        value = entry.get(field)
        if not isinstance(value, list) or not value:
            raise DeclarationError(f"{name} : champ « {field} » absent ou vide (liste de textes en français attendue).")
        for item in value:
            if not isinstance(item, str) or not item.strip():
                raise DeclarationError(f"{name} : champ « {field} » : chaque élément doit être un texte non vide.")
        lists[field] = tuple(" ".join(item.split()) for item in value)
    theme = entry.get("theme")
    if theme not in THEMES:
        raise DeclarationError(f"{name} : champ « theme » : « {theme} » inconnu (possibles : {', '.join(THEMES)}).")
    graphique = entry.get("graphique")
    if graphique not in GRAPHIQUES:
        raise DeclarationError(
            f"{name} : champ « graphique » : « {graphique} » inconnu (possibles : {', '.join(GRAPHIQUES)})."
        )
    ventilations = entry.get("ventilations")
    if not isinstance(ventilations, list) or not ventilations:
        raise DeclarationError(f"{name} : champ « ventilations » absent ou vide (liste attendue).")
    for value in ventilations:
        if value not in VENTILATIONS:
            raise DeclarationError(
                f"{name} : champ « ventilations » : « {value} » inconnue (possibles : {', '.join(VENTILATIONS)})."
            )
    if len(set(ventilations)) != len(ventilations):
        raise DeclarationError(f"{name} : champ « ventilations » : une ventilation est citée deux fois.")
    parametres = entry.get("parametres") or {}
    if not isinstance(parametres, dict):
        raise DeclarationError(f"{name} : champ « parametres » : dictionnaire nom → valeur attendu.")
    for key, value in parametres.items():
        if not isinstance(key, str) or not _CODE.fullmatch(key):
            raise DeclarationError(f"{name} : champ « parametres » : nom de paramètre invalide « {key} ».")
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise DeclarationError(
                f"{name} : champ « parametres » : « {key} » doit être un nombre ou un texte (lu : {value!r})."
            )
        if isinstance(value, (int, float)) and (value < 0 or (isinstance(value, float) and not math.isfinite(value))):
            raise DeclarationError(f"{name} : champ « parametres » : « {key} » doit être un nombre positif.")
    texts["methode"] = _with_parameters(name, texts["methode"], parametres)
    return Indicator(
        code=code,
        theme=theme,
        graphique=graphique,
        ventilations=tuple(ventilations),
        parametres=_ReadOnlyDict(parametres),
        **texts,
        **lists,
    )


# --- the rules every output shares ---------------------------------------------------------------


def suppressed(sensitive_count: int | None, threshold: int) -> bool:
    """Whether a cell is published as « secret »: it holds some observations of a sensitive taxon,
    but fewer than ``threshold`` (a small count would point at where the species lives; none at
    all reveals nothing, and many are lost in the aggregate)."""
    return sensitive_count is not None and 0 < sensitive_count < threshold


def edition_label(edition: str | int | None) -> str:
    """« Édition courante » for the live edition, « Édition 2025 (figée) » for a year."""
    value = LIVE if edition is None else str(edition).strip()
    if value == LIVE:
        return "Édition courante"
    if len(value) == 4 and value.isdigit():
        return f"Édition {value} (figée)"
    raise ValueError(f"Édition inconnue : « {value[:40]} » (« {LIVE} » ou une année, par exemple 2024).")


def format_number(value: Any) -> str:
    """A value as a French spreadsheet reads it: integers as is, decimals with a comma and at
    most two digits (« 12,5 »); ``None`` empty. Not for display on pages (no thousands spaces)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "oui" if value else "non"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return ""
        rounded = round(value, 2)
        if rounded == int(rounded):
            return str(int(rounded))
        return f"{rounded:.2f}".rstrip("0").replace(".", ",")
    return str(value)


def csv_with_header(
    indicator: Indicator,
    edition_label: str,
    rows: Iterable[Mapping[str, Any]],
    columns: Sequence[str | tuple[str, str]],
) -> str:
    """The CSV download of one indicator: BOM, then ``# `` lines (title, unit, method, parameters,
    edition, sources, caveats, licence), then the header row with French labels and one row per
    value, in the platform's dialect (« ; », CRLF, formulas neutralised: ``csvsafe``).

    ``columns``: keys of the rows (``annee``, ``valeur``…: labels from ``COLUMN_LABELS``, the unit
    added to « Valeur », « cle » named by ``Indicator.cle_libelle``) or ``(key, label)`` pairs.
    A secret cell is written « oui » in « Secret » with its value and count empty."""
    header: list[tuple[str, str]] = []
    for column in columns:
        key, label = column if isinstance(column, tuple) else (column, COLUMN_LABELS.get(column, column))
        if key == "valeur" and not isinstance(column, tuple):
            label = f"{label} ({indicator.unite})"
        if key == "cle" and not isinstance(column, tuple):
            label = indicator.cle_libelle
        header.append((key, label))
    buf = io.StringIO()
    out = csvsafe.writer(buf)
    comments = [
        f"Indicateur : {indicator.titre}",
        f"Unité : {indicator.unite}",
        f"Méthode : {indicator.methode}",
    ]
    if indicator.parametres:
        comments.append("Paramètres : " + ", ".join(f"{k} = {v}" for k, v in indicator.parametres.items()))
    comments.append(f"Édition : {edition_label}")
    comments += [f"Source : {s}" for s in indicator.sources]
    comments += [f"Précaution : {p}" for p in indicator.precautions]
    comments.append(f"Licence : {LICENCE}")
    for line in comments:
        # one cell that a reader skipping « # » lines (pandas comment="#", R, csvkit) drops whole: a
        # « ; » would split it and quoting would hide the « # », so « ; » becomes « , »
        buf.write("# " + _COMMENT_SEPARATOR.sub(", ", " ".join(line.split())) + csvsafe.LINE_TERMINATOR)
    out.writerow(csvsafe.neutralise_row(label for _, label in header))
    for row in rows:
        secret = bool(row.get("secret"))
        cells = []
        for key, _ in header:
            value = row.get(key)
            if secret and key in ("valeur", "effectif"):
                value = None
            if key == "secret":
                value = "oui" if secret else "non"
            cells.append(format_number(value))
        out.writerow(csvsafe.neutralise_row(cells))
    return csvsafe.BOM + buf.getvalue()


# --- the regional list of invasive alien species -------------------------------------------------

EEE_COLUMNS = ("cd_nom", "nom_scientifique", "groupe", "categorie", "source", "date")


@dataclasses.dataclass(frozen=True)
class EeeTaxon:
    cd_nom: int
    nom_scientifique: str
    groupe: str
    categorie: str
    source: str
    date: str  # AAAA-MM-JJ: the date of the list the line comes from


def eee_list_path() -> pathlib.Path:
    return schemas_dir() / EEE_LIST


def eee_list(path: str | pathlib.Path | None = None) -> tuple[EeeTaxon, ...]:
    """The regional EEE list (the shipped illustrative one unless ``path`` names another file in
    the same format, see ``schemas/referentiels/eee/README.md``). The indicator's EEE taxa are
    TAXREF's « introduit envahissant » (FR = J) plus these."""
    return _eee_list(str(path or eee_list_path()))


@functools.cache
def _eee_list(path: str) -> tuple[EeeTaxon, ...]:
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as err:
        raise EeeListError(f"Liste régionale des EEE illisible ({path}) : {err.strerror}.")
    return read_eee_list(data)


def read_eee_list(data: bytes | str) -> tuple[EeeTaxon, ...]:
    """Reads a regional EEE list (« ; », UTF-8 with or without BOM, columns found by name); every
    line checked, the first error stops the reading with a French message naming the line."""
    lines = reftable.rows(
        data, EeeListError, subject="La liste des EEE", line_prefix="Liste des EEE, ligne", separators=(";",)
    )
    header = [h.strip().lower() for h in next(lines)[1]]
    missing = [c for c in EEE_COLUMNS if c not in header]
    if missing:
        raise EeeListError(
            f"Liste des EEE : colonnes absentes : {', '.join(missing)} (colonnes lues : {', '.join(header)})."
        )
    index = {name: header.index(name) for name in EEE_COLUMNS}
    out: list[EeeTaxon] = []
    seen: set[int] = set()
    for line, row in lines:
        values = {name: row[i].strip() for name, i in index.items()}
        try:
            cd_nom = int(values["cd_nom"])
        except ValueError:
            raise EeeListError(f"Liste des EEE, ligne {line} : cd_nom « {values['cd_nom']} » n'est pas un code TAXREF.")
        if cd_nom in seen:
            raise EeeListError(f"Liste des EEE, ligne {line} : cd_nom {cd_nom} déjà listé.")
        seen.add(cd_nom)
        for name in ("nom_scientifique", "source", "date"):
            if not values[name]:
                raise EeeListError(f"Liste des EEE, ligne {line} : colonne « {name} » vide.")
        try:
            dt.date.fromisoformat(values["date"])
        except ValueError:
            raise EeeListError(
                f"Liste des EEE, ligne {line} : date « {values['date']} » invalide (format AAAA-MM-JJ attendu)."
            )
        out.append(EeeTaxon(cd_nom=cd_nom, **{k: v for k, v in values.items() if k != "cd_nom"}))
    if not out:
        raise EeeListError("La liste des EEE ne contient aucun taxon.")
    return tuple(out)
