"""Strict reading of request parameters: what every action of the plugin accepts, in one place.

HTTP status of each class of bad input (CKAN's conventions, which our actions follow):

- **400** « requête mal formée » — the request cannot be read at all: a NUL byte or a lone UTF-16
  surrogate anywhere (URL path, query string, form, JSON body), a ``page`` that is not a positive
  integer. Answered by the request guard (``ckanext.sinp.guard``) before any action or page runs.
- **409** « Validation Error » — a parameter is refused: wrong type (a list, an object, a number
  or a boolean where a text is expected…), out of its bounds (offset, limit, lengths), not
  parseable (date, bbox, polygon, a boolean other than true/false), a control character in a
  text. ``tk.ValidationError`` with a French message naming the parameter; nothing is written.
- **403** not allowed, **404** an identifier that names nothing the caller may see.

Booleans (``private`` and the boolean fields of the schemas) accept JSON ``true``/``false``,
the texts ``true``/``false`` in any case (CKAN's forms send ``True``/``False``), ``1``/``0``;
nothing else (« oui », « on », « maybe »… are refused, never read as false).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Any

import ckan.plugins.toolkit as tk

from ckanext.sinp.domain import model as sinp_model

MAX_ID_LENGTH = 255
MAX_TEXT_LENGTH = 100_000
MAX_INTEGER = 2_147_483_647  # PostgreSQL integer: bounds offsets, limits and codes sent to SQL
MAX_PAGE = 1_000_000

# C0 controls but tab, newline and carriage return; DEL; lone surrogates (JSON "\ud800")
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SURROGATE = re.compile("[\ud800-\udfff]")
# bidirectional overrides and isolates: refused in identifiers (they disguise what is displayed)
_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")
_INTEGER = re.compile(r"^\s*[+-]?\d{1,30}\s*$")


def _refuse(key: str, message: str):
    raise tk.ValidationError({key: [message]})


def quote(value: Any, limit: int = 60) -> str:
    """``value`` shortened and stripped of control characters, to quote it in a message."""
    text = value if isinstance(value, str) else repr(value)
    text = _SURROGATE.sub("\ufffd", _CONTROL.sub("\ufffd", text))
    return text if len(text) <= limit else text[:limit] + "…"


def type_name(value: Any) -> str:
    """A French name for the JSON type of ``value``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "un booléen"
    if isinstance(value, (int, float)):
        return "un nombre"
    if isinstance(value, (list, tuple)):
        return "une liste"
    if isinstance(value, dict):
        return "un objet"
    if isinstance(value, (bytes, bytearray)):
        return "des octets"
    return "une valeur d'un autre type"


def string_problem(value: str, *, identifier: bool = False) -> str | None:
    """Why a text is refused (French), or None."""
    if "\x00" in value:
        return "contient un caractère nul (NUL)"
    if _SURROGATE.search(value):
        return "contient un caractère Unicode invalide (demi-paire de substitution isolée)"
    if _CONTROL.search(value) or (identifier and ("\n" in value or "\r" in value or "\t" in value)):
        return "contient un caractère de contrôle"
    if identifier and _BIDI.search(value):
        return "contient un caractère de contrôle de direction d'écriture"
    return None


def check_text(value: Any, key: str, *, max_length: int = MAX_TEXT_LENGTH, identifier: bool = False) -> str:
    """``value`` if it is a text without NUL or control characters and at most ``max_length`` long."""
    if isinstance(value, (bytes, bytearray)):
        try:
            value = bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            _refuse(key, f"« {key} » n'est pas un texte UTF-8 valide.")
    if not isinstance(value, str):
        _refuse(key, f"« {key} » doit être un texte (chaîne de caractères), pas {type_name(value)}.")
    problem = string_problem(value, identifier=identifier)
    if problem:
        _refuse(key, f"« {key} » {problem} : retirez-le.")
    if len(value) > max_length:
        _refuse(key, f"« {key} » est trop long ({len(value)} caractères, {max_length} au plus).")
    return value


def check_identifier(value: Any, key: str) -> str:
    """An identifier (id, name, UUID): a non-empty one-line text of at most 255 characters."""
    value = check_text(value, key, max_length=MAX_ID_LENGTH, identifier=True).strip()
    if not value:
        _refuse(key, f"« {key} » est vide : indiquez un identifiant.")
    return value


def identifier(data_dict: dict, key: str) -> str:
    """The required identifier ``key`` of ``data_dict`` (replaces ``tk.get_or_bust``)."""
    if data_dict.get(key) in (None, ""):
        _refuse(key, f"Paramètre « {key} » manquant : indiquez un identifiant.")
    return check_identifier(data_dict[key], key)


def optional_identifier(data_dict: dict, key: str) -> str | None:
    if data_dict.get(key) in (None, ""):
        return None
    return check_identifier(data_dict[key], key)


def text(data_dict: dict, key: str, default: str | None = None, *, max_length: int = MAX_TEXT_LENGTH) -> str | None:
    """The optional text ``key`` of ``data_dict`` (``default`` when absent, null or empty)."""
    value = data_dict.get(key)
    if value in (None, ""):
        return default
    return check_text(value, key, max_length=max_length)


def text_list(value: Any, key: str, *, max_items: int = 10_000, max_length: int = MAX_ID_LENGTH) -> list[str]:
    """A list of short texts given as a list or as comma/semicolon-separated text; empty ones dropped."""
    if value in (None, ""):
        return []
    if isinstance(value, str):
        value = check_text(value, key, max_length=max_items * (max_length + 1)).replace(";", ",").split(",")
    elif not isinstance(value, (list, tuple)):
        _refuse(key, f"« {key} » doit être une liste ou un texte séparé par des virgules, pas {type_name(value)}.")
    if len(value) > max_items:
        _refuse(key, f"« {key} » : {max_items} valeurs au plus.")
    out = []
    for item in value:
        if isinstance(item, int) and not isinstance(item, bool):
            item = str(item)
        item = check_text(item, key, max_length=max_length, identifier=True).strip()
        if item:
            out.append(item)
    return out


def integer(data_dict: dict, key: str, default: int | None, minimum: int = 0, maximum: int | None = None) -> int | None:
    """The integer ``key`` of ``data_dict`` between ``minimum`` and ``maximum`` (2 147 483 647 when
    None): an integer, an integral number, or its decimal text; never a boolean or an exponent."""
    value = data_dict.get(key)
    if value in (None, ""):
        return default
    maximum = MAX_INTEGER if maximum is None else maximum
    number = None
    if isinstance(value, bool):
        number = None
    elif isinstance(value, int):
        number = value
    elif isinstance(value, float) and math.isfinite(value) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and _INTEGER.match(value):
        number = int(value)
    if number is None:
        _refuse(key, f"« {key} » doit être un nombre entier, pas « {quote(value)} ».")
    if number < minimum or number > maximum:
        _refuse(key, f"« {key} » doit être un nombre entier entre {minimum} et {maximum}.")
    return number


def boolean(value: Any, key: str) -> bool:
    """``value`` as a boolean: true/false (JSON or text, any case) or 1/0; anything else refused."""
    try:
        return sinp_model.parse_boolean(value)
    except ValueError:
        _refuse(key, f"« {key} » attend true ou false (ou 1 / 0), pas « {quote(value)} ».")


def bad_string_path(value: Any, path: str = "", depth: int = 0) -> tuple[str, str] | None:
    """(where, why) of the first text in a decoded JSON value (keys included) that holds a NUL
    byte or a lone surrogate — what no action can store or look up — or None."""
    if depth > 100:
        return path or "(racine)", "est imbriqué trop profondément"
    if isinstance(value, str):
        if "\x00" in value:
            return path or "(racine)", "contient un caractère nul (NUL)"
        if _SURROGATE.search(value):
            return path or "(racine)", "contient un caractère Unicode invalide (demi-paire de substitution isolée)"
        return None
    if isinstance(value, dict):
        for k, v in value.items():
            found = bad_string_path(k, path or "(clé)", depth + 1) if isinstance(k, str) else None
            found = found or bad_string_path(v, f"{path}.{k}" if path else str(k), depth + 1)
            if found:
                return found
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            found = bad_string_path(v, f"{path}[{i}]", depth + 1)
            if found:
                return found
    return None


def check_strings(data_dict: dict) -> None:
    """Refuses (409) a data dict holding a NUL byte or a lone surrogate anywhere: the guard of
    every ``sinp_*`` action, also when it is called from Python rather than over HTTP."""
    found = bad_string_path(data_dict)
    if found:
        where, why = found
        _refuse(where.split(".")[0].split("[")[0] or "(clé)", f"« {where} » {why} : retirez-le.")


def date(data_dict: dict, key: str):
    """The date ``key`` (AAAA-MM-JJ) of a request, or None; anything else a French 409."""
    value = data_dict.get(key)
    if not value:
        return None
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise tk.ValidationError({key: [f"« {quote(value)} » n'est pas une date AAAA-MM-JJ."]})


def bbox(value):
    """A bounding box ``ouest,sud,est,nord`` (text or list, WGS 84 degrees) as a tuple, or None;
    anything else a French 409 on ``bbox``."""
    if not value:
        return None
    parts = value if isinstance(value, list) else str(value).split(",")
    try:
        w, s, e, n = (float(p) for p in parts)
    except (TypeError, ValueError):
        raise tk.ValidationError({"bbox": ["bbox attend ouest,sud,est,nord en degrés (WGS 84)."]})
    if not (-180 <= w < e <= 180 and -90 <= s < n <= 90):
        raise tk.ValidationError({"bbox": ["bbox : ouest < est et sud < nord, en degrés (WGS 84)."]})
    return w, s, e, n
