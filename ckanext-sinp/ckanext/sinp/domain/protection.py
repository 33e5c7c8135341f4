"""Protection of occurrence data: sensitivity rules, diffusion levels and blurring, scientific
validation levels, chefs de file scopes (SINP_STANDARDS §5.4–5.6). Pure Python, no ``ckan``.

This module is the one place where these rules are written down:

- the **restitution layers** (precise geometry, commune, 10 km grid cell, département, nothing)
  and the fields each one hides (``HIDDEN_FIELDS``);
- the **blurring matrix** of the GINCO note of 22/06/2016: the applied layer is the strongest of
  the sensitivity criterion and the private-data criterion (``public_layer``);
- the **sensitivity referential** format (``read_rules``) and its matching semantics
  (``rule_applies`` / ``sensitivity``), which ``occurrences/protection_store.py`` executes
  set-wise in PostgreSQL (the integration tests compare both on the same observations);
- the **validation** vocabulary (levels, types, scales) and the automatic pre-validation criteria;
- the **chef de file scope** test.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re

from ckanext.sinp.domain import nomenclatures, reftable

# --- restitution layers -------------------------------------------------------------------------

PRECISE, COMMUNE, MAILLE, DEPARTEMENT, AUCUNE = 0, 1, 2, 3, 4
LAYER_CODES = {PRECISE: "precise", COMMUNE: "commune", MAILLE: "maille", DEPARTEMENT: "departement", AUCUNE: "aucune"}
LAYER_LABELS = {
    PRECISE: "Précise",
    COMMUNE: "Commune (et maille 10 km)",
    MAILLE: "Maille 10 km",
    DEPARTEMENT: "Département",
    AUCUNE: "Aucune diffusion",
}

# data whose origin is public (DS_PUBLIQUE): the producer's diffusion wish cannot blur it (§5.6).
# "NSP" (ne sait pas) and an empty value are treated as private, by precaution.
PUBLIC_ORIGINS = frozenset({"Pu", "Re", "Ac"})

# NIV_PRECIS (diffusionNiveauPrecision) → layer, for private data; empty = 0 "Standard" = commune
_PRIVATE_LAYER = {"5": PRECISE, "0": COMMUNE, "1": COMMUNE, "2": MAILLE, "3": DEPARTEMENT, "4": AUCUNE}

# Fields (standard names) hidden from a caller who gets a layer at least this coarse. Free-text
# place fields are hidden with the geometry: GINCO's note names them as a known leak.
_HIDE_FROM = {
    COMMUNE: (
        "geometrie",
        "precisionGeometrie",
        "nomLieu",
        "altitudeMin",
        "altitudeMax",
        "profondeurMin",
        "profondeurMax",
        "commentaire",
        "idSINPRegroupement",
    ),
    MAILLE: ("codeCommune", "nomCommune"),
    DEPARTEMENT: ("codeMaille",),
}


def hidden_fields(layer: int) -> frozenset[str]:
    """The fields a caller who gets ``layer`` must not see (all fields for ``AUCUNE``)."""
    out: set[str] = set()
    for level, fields in _HIDE_FROM.items():
        if layer >= level:
            out.update(fields)
    return frozenset(out)


def private_layer(ds_publique: str | None, diffusion: str | None) -> int:
    """The private-data criterion: the layer the producer's diffusion choice allows."""
    if (ds_publique or "") in PUBLIC_ORIGINS:
        return PRECISE
    return _PRIVATE_LAYER.get((diffusion or "0").strip() or "0", COMMUNE)


def sensitivity_layer(sensi_niveau: str | int | None) -> int:
    """SENSIBILITE 0–4 → the layer (the codes coincide; unknown = not sensitive)."""
    try:
        level = int(sensi_niveau) if sensi_niveau not in (None, "") else 0
    except (TypeError, ValueError):
        return AUCUNE  # an unreadable level protects
    return min(max(level, 0), AUCUNE)


def public_layer(sensi_niveau, ds_publique, diffusion) -> int:
    """What a caller without full access gets: the strongest of both criteria (GINCO matrix)."""
    return max(sensitivity_layer(sensi_niveau), private_layer(ds_publique, diffusion))


def caller_layer(public: int, full_access: bool) -> int:
    """Producers (members of the JDD's organisation), chefs de file of the scope and sysadmins see
    everything precisely; everyone else gets the public layer."""
    return PRECISE if full_access else public


# --- sensitivity referential ----------------------------------------------------------------------

RULE_COLUMNS = (
    "CD_NOM",
    "NOM_CITE",
    "CD_SENSIBILITE",
    "DUREE",
    "CD_DEP",
    "DATE_MIN",
    "DATE_MAX",
    "STATUT_BIOLOGIQUE",
    "COMPORTEMENT",
    "AUTRE",
    "LISTE",
)
_ALIASES = {
    "CD_DEPT": "CD_DEP",
    "CODAGE": "CD_SENSIBILITE",
    "CD_OCC_STATUT_BIOLOGIQUE": "STATUT_BIOLOGIQUE",
    "CD_SIG": "CD_DEP",
}
REQUIRED_RULE_COLUMNS = ("CD_NOM", "CD_SENSIBILITE")
# values that say "the status/behaviour is not known": a rule with a criterion applies by precaution
UNKNOWN_STATUS = frozenset({"", "0", "1", "2"})
UNKNOWN_BEHAVIOUR = frozenset({"", "0", "1"})
_MMDD = re.compile(r"^(\d{2})-(\d{2})$")


class RuleFileError(ValueError):
    """A sensitivity referential that cannot be read (French message with the line)."""


@dataclasses.dataclass(frozen=True)
class SensitivityRule:
    cd_nom: int
    niveau: int
    nom_cite: str = ""
    duree: int | None = None
    departement: str | None = None
    date_min: str | None = None  # MM-DD
    date_max: str | None = None
    statuts_bio: tuple[str, ...] = ()
    comportements: tuple[str, ...] = ()
    autre: str = ""
    liste: str = ""


def _dep(code: str) -> str | None:
    code = (code or "").strip().upper()
    if not code:
        return None
    if code.startswith("INSEED"):  # CD_SIG of a département, e.g. INSEED21
        code = code[6:]
    code = {"D3": "973", "D4": "974"}.get(code, code)
    if code.isdigit() and len(code) == 1:
        code = "0" + code
    return code


def _codes(value: str, nomenclature: str, line: int, column: str) -> tuple[str, ...]:
    out = []
    nom = nomenclatures.get(nomenclature)
    for part in re.split(r"[|,]", value or ""):
        part = part.strip()
        if not part:
            continue
        if part not in nom:
            raise RuleFileError(
                f"Ligne {line}, colonne {column} : « {part} » n'est pas un code de la nomenclature {nomenclature}."
            )
        out.append(part)
    return tuple(sorted(set(out), key=lambda c: (len(c), c)))


def _mmdd(value: str, line: int, column: str) -> str | None:
    value = (value or "").strip()
    if not value:
        return None
    match = _MMDD.match(value)
    if not match:
        raise RuleFileError(
            f"Ligne {line}, colonne {column} : « {value} » n'est pas une date de l'année au format MM-JJ."
        )
    try:
        dt.date(2000, int(match.group(1)), int(match.group(2)))
    except ValueError:
        raise RuleFileError(f"Ligne {line}, colonne {column} : « {value} » n'est pas un jour de l'année.")
    return value


def read_rules(data: bytes | str) -> list[SensitivityRule]:
    """Reads a sensitivity referential (CSV, ``;`` or ``,``, UTF-8 with or without BOM; columns
    found by name, see ``schemas/referentiels/sensibilite/README.md``). Every line is checked;
    the first error stops the reading with a French message naming the line."""
    lines = reftable.rows(data, RuleFileError)
    header = [(_ALIASES.get(h.strip().upper(), h.strip().upper())) for h in next(lines)[1]]
    missing = [c for c in REQUIRED_RULE_COLUMNS if c not in header]
    if missing:
        raise RuleFileError(
            f"Colonnes obligatoires absentes : {', '.join(missing)} (colonnes lues : {', '.join(header)})."
        )
    index = {name: i for i, name in enumerate(header)}
    rules = []
    for line, row in lines:

        def get(name, row=row):
            return row[index[name]].strip() if name in index else ""

        try:
            cd_nom = int(get("CD_NOM"))
        except ValueError:
            raise RuleFileError(f"Ligne {line}, colonne CD_NOM : « {get('CD_NOM')} » n'est pas un code TAXREF.")
        level = get("CD_SENSIBILITE")
        if level not in ("0", "1", "2", "3", "4"):
            raise RuleFileError(
                f"Ligne {line}, colonne CD_SENSIBILITE : « {level} » n'est pas un niveau de sensibilité (0 à 4)."
            )
        duree = get("DUREE")
        if duree and not duree.isdigit():
            raise RuleFileError(f"Ligne {line}, colonne DUREE : « {duree} » n'est pas un nombre d'années.")
        date_min, date_max = _mmdd(get("DATE_MIN"), line, "DATE_MIN"), _mmdd(get("DATE_MAX"), line, "DATE_MAX")
        if (date_min is None) != (date_max is None):
            raise RuleFileError(f"Ligne {line} : DATE_MIN et DATE_MAX vont ensemble (toutes deux ou aucune).")
        rules.append(
            SensitivityRule(
                cd_nom=cd_nom,
                niveau=int(level),
                nom_cite=get("NOM_CITE"),
                duree=int(duree) if duree else None,
                departement=_dep(get("CD_DEP")),
                date_min=date_min,
                date_max=date_max,
                statuts_bio=_codes(get("STATUT_BIOLOGIQUE"), "STATUT_BIO", line, "STATUT_BIOLOGIQUE"),
                comportements=_codes(get("COMPORTEMENT"), "OCC_COMPORTEMENT", line, "COMPORTEMENT"),
                autre=get("AUTRE"),
                liste=get("LISTE"),
            )
        )
    if not rules:
        raise RuleFileError("Le fichier ne contient aucune règle.")
    return rules


def observation_departement(code_departement: str | None, code_commune: str | None) -> str | None:
    """The département of an observation: ``codeDepartement`` (first value), else the INSEE code of
    its (first) commune (``2A``/``2B`` and ``97x`` handled)."""
    dep = (code_departement or "").split("|")[0].strip()
    if dep:
        return _dep(dep)
    commune = (code_commune or "").split("|")[0].strip().upper()
    if len(commune) != 5:
        return None
    return commune[:3] if commune.startswith("97") else commune[:2]


def _in_period(day: dt.date, date_min: str, date_max: str) -> bool:
    mmdd = day.strftime("%m-%d")
    if date_min <= date_max:
        return date_min <= mmdd <= date_max
    return mmdd >= date_min or mmdd <= date_max  # the period spans the new year


@dataclasses.dataclass(frozen=True)
class Observation:
    """What a sensitivity rule looks at. ``lineage``: the CD_NOM of the observed name, of its valid
    name and of every taxon above it (the rules of a supra-specific taxon apply to descendants)."""

    lineage: frozenset[int]
    date_debut: dt.date | None = None
    date_fin: dt.date | None = None
    departement: str | None = None
    statut_bio: str | None = None
    comportement: str | None = None


def rule_applies(rule: SensitivityRule, obs: Observation, today: dt.date) -> tuple[bool, list[str]]:
    """Whether ``rule`` applies to ``obs`` and, if so, the reasons for an alert (manual decision)."""
    if rule.cd_nom not in obs.lineage:
        return False, []
    alerts = []
    year = obs.date_fin or obs.date_debut
    if rule.duree is not None and year is not None and year.year < today.year - rule.duree:
        return False, []
    if rule.departement:
        if obs.departement is None:
            alerts.append("département de l'observation inconnu")
        elif obs.departement != rule.departement:
            return False, []
    if rule.date_min and obs.date_debut is not None and not _in_period(obs.date_debut, rule.date_min, rule.date_max):
        return False, []
    if rule.statuts_bio:
        status = (obs.statut_bio or "").strip()
        if status in UNKNOWN_STATUS:
            alerts.append("statut biologique non renseigné")
        elif status not in rule.statuts_bio:
            return False, []
    if rule.comportements:
        behaviour = (obs.comportement or "").strip()
        if behaviour in UNKNOWN_BEHAVIOUR:
            alerts.append("comportement non renseigné")
        elif behaviour not in rule.comportements:
            return False, []
    if rule.autre:
        alerts.append(f"condition à vérifier : {rule.autre}")
    return True, alerts


def sensitivity(rules, obs: Observation, today: dt.date) -> tuple[int, list[str]]:
    """The level (highest among matching rules, 0 when none) and the alert reasons.

    Rules applied by precaution (unknown département/status/behaviour, free-text condition) count
    at their level; their reasons are an alert only when they raise the level above what the
    certain rules give (otherwise the decision does not depend on them)."""
    matched = []
    for rule in rules:
        applies, reasons = rule_applies(rule, obs, today)
        if applies:
            matched.append((rule.niveau, reasons))
    if not matched:
        return 0, []
    level = max(n for n, _ in matched)
    decided = max((n for n, reasons in matched if not reasons), default=-1)
    alerts: list[str] = []
    for n, reasons in matched:
        if n > decided:
            alerts += [r for r in reasons if r not in alerts]
    return level, alerts


# --- scientific validation ----------------------------------------------------------------------

PENDING = "0"
VALIDATION_TYPES = {"A": "Automatique", "M": "Manuelle", "C": "Combinée"}
VALIDATION_SCALES = {"1": "Producteur", "2": "Plateforme régionale", "3": "Plateforme nationale"}
MANUAL_LEVELS = ("1", "2", "3", "4", "5")


def validation_levels() -> dict[str, str]:
    """STATUT_VALID codes → labels (0 en attente, 1 certain … 5 non réalisable, 6 inconnu)."""
    nom = nomenclatures.get("STATUT_VALID")
    return {code: nom.label_of(code) for code in nom.codes()}


def validation_label(code: str | None) -> str:
    return validation_levels().get(code or PENDING, code or "")


def manual_type(previous_type: str | None) -> str:
    """A manual decision following an automatic one is "combinée"; otherwise "manuelle"."""
    return "C" if previous_type in ("A", "C") else "M"


# automatic pre-validation: each criterion is a documented name the SQL implements
AUTO_CRITERIA = {
    "date_plausible": "Dates plausibles : début après le 1er janvier 1800, fin au plus tard aujourd'hui.",
    "dans_territoire": "Localisation dans le territoire de la plateforme (département de Bourgogne-Franche-Comté "
    "ou géométrie dans le contour régional).",
    "taxon_connu_departement": "Taxon (CD_REF) déjà observé dans le même département dans une donnée validée "
    "« certain » ou « probable » d'un autre dépôt.",
}
DEFAULT_AUTO_CRITERIA = ("date_plausible", "dans_territoire", "taxon_connu_departement")
DEFAULT_AUTO_LEVEL = "2"


def parse_criteria(value: str | None) -> tuple[str, ...]:
    names = tuple((value or "").split()) or DEFAULT_AUTO_CRITERIA
    unknown = [n for n in names if n not in AUTO_CRITERIA]
    if unknown:
        raise ValueError(
            f"Critères de validation automatique inconnus : {', '.join(unknown)} (connus : {', '.join(AUTO_CRITERIA)})."
        )
    return names


# --- chefs de file -----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Scope:
    """A chef de file's scope: taxon groups (GROUP2_INPN) and départements; empty = all."""

    groupes: tuple[str, ...] = ()
    departements: tuple[str, ...] = ()

    def covers(self, groupe: str | None, departement: str | None) -> bool:
        """Unknown group or département is outside a scope that names groups or départements."""
        if self.groupes and groupe not in self.groupes:
            return False
        if self.departements and departement not in self.departements:
            return False
        return True

    def describe(self) -> str:
        groups = ", ".join(self.groupes) or "tous groupes"
        deps = ", ".join(self.departements) or "tous départements"
        return f"{groups} — {deps}"
