"""The SINP nomenclatures (code lists), read from the generated files of schemas/nomenclatures.

Pure Python, standard library only. The JSON files are generated from the official data by
schemas/nomenclatures/generate.py (see the README there); this module only reads them.

    role = get("ROLE_ACTEUR")
    role.label_of("1")          # 'Contact principal'
    role.choices()              # [{"value": "1", "label": "Contact principal"}, …]
    role.check("12")            # raises NomenclatureError: « Le code « 12 » n'existe pas … »

Where the files are: ``$SINP_SCHEMAS_DIR/nomenclatures`` when that variable is set (it points at
the ``schemas`` directory), otherwise ``schemas/nomenclatures`` of the source tree that holds
``ckanext-sinp/``. Files are read once and cached (see ``clear_cache``).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import pathlib

ENV_VAR = "SINP_SCHEMAS_DIR"

# Error messages list every active code of short lists; long lists are cut after _SHOWN codes.
_MAX_LISTED = 12
_SHOWN = 8
_MAX_LABEL = 40


class NomenclatureError(ValueError):
    """A code that a nomenclature does not accept; the message is meant for the user, in French."""


class UnknownNomenclature(KeyError):
    """A nomenclature type (mnemonic) for which no file exists."""

    def __str__(self) -> str:  # KeyError would show the repr of the message
        return str(self.args[0]) if self.args else ""


@dataclasses.dataclass(frozen=True)
class NomenclatureValue:
    code: str
    label: str
    definition: str | None = None
    status: str | None = None
    active: bool = True
    hierarchy: str | None = None
    broader: str | None = None
    mnemonic: str | None = None
    authority: str | None = None
    source: str | None = None
    note: str | None = None


class Nomenclature:
    """One nomenclature type and its values, in the order of the file (natural order of codes)."""

    def __init__(self, data: dict):
        self.type: str = data["type"]
        self.label: str = data["label"]
        self.definition: str | None = data.get("definition")
        self.authority: str | None = data.get("authority")
        self.status: str | None = data.get("status")
        self.default: str | None = data.get("default")
        self.source: str | None = data.get("source")
        fields = {f.name for f in dataclasses.fields(NomenclatureValue)}
        self.values: list[NomenclatureValue] = [
            NomenclatureValue(**{k: v for k, v in value.items() if k in fields}) for value in data["values"]
        ]
        self._by_code = {v.code: v for v in self.values}

    def __repr__(self) -> str:
        return f"<Nomenclature {self.type} ({len(self.values)} valeurs)>"

    def __contains__(self, code) -> bool:
        return self.is_valid(code)

    def value(self, code) -> NomenclatureValue | None:
        """The value with this code, active or not; None when the code does not exist."""
        return self._by_code.get(_as_code(code))

    def codes(self, active_only: bool = True) -> list[str]:
        return [v.code for v in self.values if v.active or not active_only]

    def is_valid(self, code, allow_inactive: bool = False) -> bool:
        """True when the code exists and is active (or, with allow_inactive, frozen)."""
        value = self.value(code)
        return value is not None and (value.active or allow_inactive)

    def label_of(self, code) -> str | None:
        """The French label of a code, also for frozen codes (to display old documents)."""
        value = self.value(code)
        return value.label if value else None

    def choices(self, active_only: bool = True) -> list[dict]:
        """[{"value": code, "label": label}], the shape of ckanext-scheming's `choices`."""
        return [{"value": v.code, "label": v.label} for v in self.values if v.active or not active_only]

    def current_code(self, code) -> str | None:
        """The code to use today for `code`.

        An active code is returned unchanged. A frozen code is mapped only when the source data
        gives its successor, i.e. an active broader value (DS_PUBLIQUE Ac and Re -> Pu); otherwise
        None (e.g. CA_OBJECTIFS 1 to 7: the data gives no correspondence to 8 to 11). Raises
        NomenclatureError for a code that never existed.
        """
        value = self.value(code)
        if value is None:
            raise NomenclatureError(self._unknown_message(code))
        if value.active:
            return value.code
        broader = self._by_code.get(value.broader) if value.broader else None
        return broader.code if broader is not None and broader.active else None

    def check(self, code, allow_inactive: bool = False) -> None:
        """Raises NomenclatureError (French message) unless `code` is a valid code of this list."""
        if code is None or _as_code(code).strip() == "":
            raise NomenclatureError(f"Aucun code n'est indiqué pour la nomenclature {self._name()}.")
        value = self.value(code)
        if value is None:
            raise NomenclatureError(self._unknown_message(code))
        if not value.active and not allow_inactive:
            message = (
                f"Le code « {value.code} » ({_short(value.label)}) de la nomenclature "
                f"{self._name()} est gelé et n'est plus accepté."
            )
            successor = self.current_code(value.code)
            if successor is not None:
                message += f" Utilisez « {successor} » ({_short(self.label_of(successor))})."
            else:
                message += f" Codes possibles : {self._listing()}."
            raise NomenclatureError(message)

    # -- messages

    def _name(self) -> str:
        return f"« {self.label} » ({self.type})"

    def _listing(self) -> str:
        active = [v for v in self.values if v.active]
        shown = active if len(active) <= _MAX_LISTED else active[:_SHOWN]
        text = ", ".join(f"{v.code} ({_short(v.label)})" for v in shown)
        if len(shown) < len(active):
            text += f", … ({len(active)} codes au total)"
        return text

    def _unknown_message(self, code) -> str:
        return (
            f"Le code « {_as_code(code)} » n'existe pas dans la nomenclature {self._name()}. "
            f"Codes possibles : {self._listing()}."
        )


def _as_code(code) -> str:
    return code if isinstance(code, str) else str(code)


def _short(label: str | None) -> str:
    label = " ".join((label or "").split())
    return label if len(label) <= _MAX_LABEL else label[: _MAX_LABEL - 1].rstrip() + "…"


# --------------------------------------------------------------------------- files


def nomenclatures_dir() -> pathlib.Path:
    """The directory of the <TYPE>.json files (see the module docstring)."""
    return _nomenclatures_dir(os.environ.get(ENV_VAR))


@functools.cache
def _nomenclatures_dir(env: str | None) -> pathlib.Path:
    """Resolved once per value of the environment variable (a record page asks ~40 times)."""
    if env:
        return pathlib.Path(env) / "nomenclatures"
    here = pathlib.Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "ckanext-sinp").is_dir() and (parent / "schemas").is_dir():
            return parent / "schemas" / "nomenclatures"
    raise RuntimeError(
        f"Répertoire des nomenclatures introuvable depuis {here} : "
        f"définissez {ENV_VAR} (chemin du répertoire « schemas » du dépôt)."
    )


@functools.cache
def _types_in(directory: pathlib.Path) -> tuple[str, ...]:
    if not directory.is_dir():
        raise RuntimeError(f"Répertoire des nomenclatures absent : {directory}")
    return tuple(sorted(p.stem for p in directory.glob("*.json")))


@functools.cache
def _load(directory: pathlib.Path, mnemonic: str) -> Nomenclature:
    with open(directory / f"{mnemonic}.json", encoding="utf-8") as f:
        return Nomenclature(json.load(f))


def types() -> list[str]:
    """The mnemonics of every available nomenclature, sorted."""
    return list(_types_in(nomenclatures_dir()))


def get(type_mnemonic: str) -> Nomenclature:
    """The nomenclature with this mnemonic (e.g. "ROLE_ACTEUR"); UnknownNomenclature (a KeyError)
    with a French message when there is none."""
    directory = nomenclatures_dir()
    if type_mnemonic not in _types_in(directory):
        raise UnknownNomenclature(
            f"Nomenclature inconnue : « {type_mnemonic} ». "
            f"Nomenclatures disponibles : {', '.join(_types_in(directory))}."
        )
    return _load(directory, type_mnemonic)


def clear_cache() -> None:
    """Forgets the files read so far (after regenerating them or changing SINP_SCHEMAS_DIR)."""
    _types_in.cache_clear()
    _load.cache_clear()


def current_ca_objectif(code) -> str | None:
    """The current CA_OBJECTIFS code for a code found in an MTD export.

    Codes 8 to 11 (metadata standard 1.3.10) are returned unchanged. The former codes 1 to 7 are
    frozen and the source data gives no correspondence to 8 to 11, so None is returned for them:
    callers that must read older documents accept them with
    ``get("CA_OBJECTIFS").is_valid(code, allow_inactive=True)`` and keep them as they are.
    Raises NomenclatureError for a code that never existed.
    """
    return get("CA_OBJECTIFS").current_code(code)
