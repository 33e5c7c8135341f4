"""The deposit columns, read once from ``schemas/occurrence.yaml``.

Every consumer (rules, template CSV, the French column page, the occurrence store) reads
``columns()``; nothing here knows a column by heart except through that file.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import unicodedata

import yaml

from ckanext.sinp.domain import csvsafe, nomenclatures
from ckanext.sinp.domain.model import schemas_dir

TYPES = ("text", "uuid", "date", "time", "integer", "decimal", "code", "wkt", "url")
REFERENTIALS = ("taxref", "habref", "commune", "departement", "maille")
DEFAULT_MAX_LENGTH = 255


@dataclasses.dataclass(frozen=True)
class Column:
    name: str
    type: str
    label: str
    aliases: tuple = ()
    help: str = ""
    required: bool = False
    nomenclature: str | None = None
    referential: str | None = None
    multiple: str | None = None
    store: str | None = None
    min: float | None = None
    max: float | None = None
    allowed: tuple = ()
    max_length: int = DEFAULT_MAX_LENGTH
    composed_from: dict | None = None

    @property
    def sql(self) -> str:
        """Quoted SQL identifier of the raw (text) value."""
        return '"' + self.name + '"'


def normalize_header(name: str) -> str:
    """Header matching key: case, accents, spaces, '_' and '-' ignored; a BOM is dropped."""
    text = unicodedata.normalize("NFKD", name.replace("\ufeff", "")).encode("ascii", "ignore").decode()
    return re.sub(r"[\s_\-]+", "", text).lower()


@functools.cache
def _load(path: str) -> tuple[str, tuple[Column, ...]]:
    with open(path, encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    out = []
    for spec in data["columns"]:
        spec = dict(spec)
        if spec["type"] not in TYPES:
            raise ValueError(f"{spec['name']}: type inconnu {spec['type']!r}")
        if spec["type"] == "code":
            nomenclatures.get(spec["nomenclature"])  # fails on an unknown nomenclature
        if spec.get("referential") and spec["referential"] not in REFERENTIALS:
            raise ValueError(f"{spec['name']}: référentiel inconnu {spec['referential']!r}")
        spec["aliases"] = tuple(spec.get("aliases") or ())
        spec["allowed"] = tuple(spec.get("allowed") or ())
        out.append(Column(**spec))
    return str(data["version"]), tuple(out)


def _path() -> str:
    return str(schemas_dir() / "occurrence.yaml")


def columns() -> tuple[Column, ...]:
    return _load(_path())[1]


def version() -> str:
    return _load(_path())[0]


def by_name() -> dict[str, Column]:
    return {c.name: c for c in columns()}


@functools.cache
def _header_index(path: str) -> dict[str, str]:
    index: dict[str, str] = {}
    for col in _load(path)[1]:
        for name in (col.name,) + col.aliases:
            key = normalize_header(name)
            if key in index and index[key] != col.name:
                raise ValueError(f"en-tête {name!r} ambigu : {index[key]} et {col.name}")
            index[key] = col.name
    return index


def canonical(header: str) -> str | None:
    """The column a header names (its v2.0 name), or None when unknown."""
    return _header_index(_path()).get(normalize_header(header))


def store_columns() -> tuple[Column, ...]:
    return tuple(c for c in columns() if c.store)


TEMPLATE_EXAMPLE = {
    "idOrigine": "OBS-2024-0001",
    "statutObservation": "Pr",
    "nomCite": "Rhinolophus ferrumequinum",
    "cdNom": "60295",
    "dateDebut": "2024-05-01",
    "dateFin": "2024-05-01",
    "heureDebut": "21:00",
    "heureFin": "22:30",
    "observateur": "DUPONT Jean (CEN Bourgogne)",
    "geometrie": "POINT(4.8412 47.0253)",
    "natureObjetGeo": "St",
    "precisionGeometrie": "10",
    "denombrementMin": "12",
    "denombrementMax": "15",
    "objetDenombrement": "IND",
    "typeDenombrement": "Co",
    "dSPublique": "Pu",
    "statutSource": "Te",
    "organismeGestionnaireDonnee": "CEN Bourgogne",
    "occEtatBiologique": "2",
}
TEMPLATE_COLUMNS = (
    "idSINPOccTax",
    "idOrigine",
    "statutObservation",
    "nomCite",
    "cdNom",
    "dateDebut",
    "dateFin",
    "heureDebut",
    "heureFin",
    "observateur",
    "determinateur",
    "geometrie",
    "srid",
    "natureObjetGeo",
    "precisionGeometrie",
    "denombrementMin",
    "denombrementMax",
    "objetDenombrement",
    "typeDenombrement",
    "dSPublique",
    "statutSource",
    "referenceBiblio",
    "organismeGestionnaireDonnee",
    "dEEFloutage",
    "codeCommune",
    "nomCommune",
    "anneeRefCommune",
    "typeInfoGeoCommune",
    "codeMaille",
    "versionRefMaille",
    "typeInfoGeoMaille",
    "obsTechnique",
    "occEtatBiologique",
    "occSexe",
    "occStadeDeVie",
    "occStatutBiologique",
    "preuveExistante",
    "uRLPreuveNumerique",
    "commentaire",
)


def template_csv() -> str:
    """The deposit template in the platform's CSV dialect (``csvsafe``: « ; », UTF-8 with BOM, CRLF):
    the usual columns and one example row that passes every check."""
    return csvsafe.text(TEMPLATE_COLUMNS, [[TEMPLATE_EXAMPLE.get(c, "") for c in TEMPLATE_COLUMNS]])
