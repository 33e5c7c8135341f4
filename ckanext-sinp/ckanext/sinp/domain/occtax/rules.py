"""The one catalogue of occurrence quality rules (digest §3.5, §3.6, §5.1).

Each rule is declared once here: its code, category, French message and, for the rules checked
row by row, the SQL condition (DuckDB) that makes a row fail it. The engine runs every row rule
as one set-wise statement over the whole file; the rules whose check needs something else than
the row (file structure, geometry library, referentials, the occurrence store) are marked with
their ``kind`` and run by the engine's dedicated step, still set-wise.

SQL vocabulary available to row rules (see ``engine``): for every column ``c`` of
``schemas/occurrence.yaml``, ``"c"`` is the trimmed text (NULL when empty or when the file has no
such column) and ``"c__t"`` its typed value (NULL when empty or malformed); ``"_observateur"`` and
``"_determinateur"`` are the effective persons (composed from DEPOBIO's identity + organisation
columns when needed); ``"_today"`` and ``"_jdd"`` are the date of the check and the UUID of the
deposit's JDD. A row with an unusable geometry fails C9 (geometry step); row rules only look at
whether a geometry is given.

Messages use ``{value}`` (the offending value), ``{detail}`` (computed by the check),
``{column}`` and ``{label}`` (the column's name and French label).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from ckanext.sinp.domain import nomenclatures
from ckanext.sinp.domain.occtax.columns import Column, by_name, columns

CATEGORIES = {
    "conformite": "Conformité",
    "coherence": "Cohérence",
    "referentiel": "Référentiels",
    "doublon": "Doublons",
}
RULESET_VERSION = "sinp-bfc-qc-2"


@dataclasses.dataclass(frozen=True)
class Check:
    """One failing condition of a row rule, reported on ``column``."""

    column: str | None
    condition: str
    value: str = "NULL"
    detail: str = "NULL"


@dataclasses.dataclass(frozen=True)
class Rule:
    code: str
    category: str
    title: str
    message: str
    kind: str = "row"  # file | row | geometry | referential | store
    blocking: bool = True
    checks: Callable[[frozenset], list[Check]] | None = None

    def render(self, column: str | None = None, value=None, detail=None) -> str:
        col = by_name().get(column) if column else None
        return self.message.format(
            value="" if value is None else value,
            detail="" if detail is None else detail,
            column=column or "",
            label=col.label if col else "",
        )


def q(name: str) -> str:
    return '"' + name + '"'


def t(name: str) -> str:
    return '"' + name + '__t"'


def _cols(kind: str | None = None, **where) -> list[Column]:
    out = []
    for c in columns():
        if kind and c.type != kind:
            continue
        if all(getattr(c, k) == v for k, v in where.items()):
            out.append(c)
    return out


def _sql_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


# --- row rules, generated from the column catalogue ------------------------------------------


def _required(present):
    out = []
    for c in _cols(required=True):
        if c.composed_from:
            out.append(Check(c.name, f'"_{c.name}" IS NULL'))
        else:
            out.append(Check(c.name, f"{q(c.name)} IS NULL"))
    return out


_TYPE_WORDS = {
    "integer": "un nombre entier",
    "decimal": "un nombre décimal",
    "date": "une date valide (AAAA-MM-JJ ou JJ/MM/AAAA)",
    "time": "une heure valide (HH:MM ou HH:MM:SS)",
    "uuid": "un UUID (8-4-4-4-12 caractères hexadécimaux)",
}


def _format(present):
    return [
        Check(c.name, f"{q(c.name)} IS NOT NULL AND {t(c.name)} IS NULL", q(c.name), _sql_str(_TYPE_WORDS[c.type]))
        for c in columns()
        if c.type in _TYPE_WORDS and c.name != "idSINPOccTax" and c.name in present
    ]


def _nomenclature(present):

    out = []
    for c in _cols("code"):
        if c.name not in present:
            continue
        codes = ", ".join(nomenclatures.get(c.nomenclature).codes())
        out.append(
            Check(
                c.name,
                f"{q(c.name)} IS NOT NULL AND {t(c.name)} IS NULL",
                q(c.name),
                _sql_str(f"{c.nomenclature} : {codes}"),
            )
        )
    return out


def _fmt_num(value) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _range(present):
    out = []
    for c in columns():
        if c.name not in present:
            continue
        if c.allowed:
            allowed = ", ".join(_fmt_num(a) for a in c.allowed)
            out.append(
                Check(
                    c.name,
                    f"{t(c.name)} IS NOT NULL AND {t(c.name)} NOT IN ({allowed})",
                    q(c.name),
                    _sql_str(f"valeurs admises : {allowed}"),
                )
            )
        elif c.min is not None or c.max is not None:
            parts, words = [], []
            if c.min is not None:
                parts.append(f"{t(c.name)} < {c.min}")
            if c.max is not None:
                parts.append(f"{t(c.name)} > {c.max}")
            if c.min is not None and c.max is not None:
                words = f"de {_fmt_num(c.min)} à {_fmt_num(c.max)}"
            elif c.min is not None:
                words = f"au moins {_fmt_num(c.min)}"
            else:
                words = f"au plus {_fmt_num(c.max)}"
            out.append(Check(c.name, f"{t(c.name)} IS NOT NULL AND ({' OR '.join(parts)})", q(c.name), _sql_str(words)))
    return out


def _length(present):
    return [
        Check(
            c.name,
            f"length({q(c.name)}) > {c.max_length}",
            f"left({q(c.name)}, 80) || '…'",
            f"CAST(length({q(c.name)}) AS VARCHAR) || ' caractères pour {c.max_length} au plus'",
        )
        for c in columns()
        if c.type in ("text", "url") and c.name in present
    ]


def _uuid_occ(present):
    return [Check("idSINPOccTax", '"idSINPOccTax" IS NOT NULL AND "idSINPOccTax__t" IS NULL', '"idSINPOccTax"')]


def _url(present):
    return [
        Check(c.name, f"{q(c.name)} IS NOT NULL AND {t(c.name)} IS NULL", q(c.name))
        for c in _cols("url")
        if c.name in present
    ]


def _dates_min(present):
    return [Check(c.name, f"{t(c.name)} < DATE '1900-01-01'", q(c.name)) for c in _cols("date") if c.name in present]


def _precision(present):
    return [
        Check(
            "precisionGeometrie",
            '"precisionGeometrie__t" IS NOT NULL AND "precisionGeometrie__t" <= 0',
            '"precisionGeometrie"',
        )
    ]


# "NOM Prénom (Organisme)", several separated by commas; "(Indépendant)" alone is an organisation.
PERSON_RE = r"[^,()]*[^\s,()][^,()]*\([^()]*[^\s()][^()]*\)"
PERSONS_RE = rf"\s*{PERSON_RE}(\s*,\s*{PERSON_RE})*\s*"


def _persons(present):
    return [
        Check(name, f"{q(name)} IS NOT NULL AND NOT regexp_full_match({q(name)}, {_sql_str(PERSONS_RE)})", q(name))
        for name in ("observateur", "determinateur")
        if name in present
    ]


def _jdd(present):
    return [
        Check(
            "idSINPJdd",
            '"idSINPJdd__t" IS NOT NULL AND "_jdd" IS NOT NULL AND "idSINPJdd__t" <> "_jdd"',
            '"idSINPJdd"',
            '"_jdd"',
        )
    ]


# --- coherence rules ----------------------------------------------------------------------------


def _k1(present):
    start = '("dateDebut__t" + COALESCE("heureDebut__t", TIME \'00:00\'))'
    end = '("dateFin__t" + COALESCE("heureFin__t", TIME \'23:59:59\'))'
    return [
        Check("dateFin", '"dateDebut__t" > "dateFin__t"', '"dateDebut" || \' > \' || "dateFin"'),
        Check(
            "heureFin",
            f'"dateDebut__t" = "dateFin__t" AND "heureDebut__t" IS NOT NULL AND "heureFin__t" IS NOT NULL '
            f"AND {start} > {end}",
            '"heureDebut" || \' > \' || "heureFin"',
        ),
    ]


def _k2(present):
    return [Check(c, f'{t(c)} > "_today"', q(c)) for c in ("dateDebut", "dateFin")]


def _k3(present):
    return [
        Check(
            "denombrementMax",
            '"denombrementMin__t" > "denombrementMax__t"',
            '"denombrementMin" || \' > \' || "denombrementMax"',
        )
    ]


def _k4(present):
    return [
        Check(f"{a}Max", f'"{a}Min__t" > "{a}Max__t"', f'"{a}Min" || \' > \' || "{a}Max"')
        for a in ("altitude", "profondeur")
    ]


def _k5(present):
    counts_zero = '(COALESCE("denombrementMin__t", 0) = 0 AND COALESCE("denombrementMax__t", 0) = 0)'
    any_count = '("denombrementMin__t" IS NOT NULL OR "denombrementMax__t" IS NOT NULL)'
    return [
        Check(
            "statutObservation",
            f"\"statutObservation__t\" = 'No' AND NOT {counts_zero}",
            '"statutObservation"',
            _sql_str("non observé (No) avec un dénombrement non nul"),
        ),
        Check(
            "statutObservation",
            f"\"statutObservation__t\" = 'Pr' AND {any_count} "
            'AND ("denombrementMin__t" = 0 OR "denombrementMax__t" = 0)',
            '"statutObservation"',
            _sql_str("présent (Pr) avec un dénombrement nul"),
        ),
    ]


def _k6(present):
    any_count = '("denombrementMin__t" IS NOT NULL OR "denombrementMax__t" IS NOT NULL)'
    return [
        Check(
            "objetDenombrement",
            f'{any_count} AND "objetDenombrement__t" IS NULL AND "objetDenombrement" IS NULL',
            "NULL",
            _sql_str("un dénombrement est donné sans objetDenombrement (NSP possible)"),
        ),
        Check(
            "objetDenombrement",
            f'NOT {any_count} AND "objetDenombrement__t" IS NOT NULL AND "objetDenombrement__t" <> \'NSP\'',
            '"objetDenombrement"',
            _sql_str("objetDenombrement est renseigné sans dénombrement (seul NSP est admis)"),
        ),
    ]


_ATTACHMENTS = (("Commune", "codeCommune"), ("Departement", "codeDepartement"), ("Maille", "codeMaille"))


def _georef_count() -> str:
    parts = ['CAST("geometrie" IS NOT NULL AS INTEGER)']
    for group, code in _ATTACHMENTS:
        parts.append(f"CAST(COALESCE(\"typeInfoGeo{group}__t\" = '1' AND {q(code)} IS NOT NULL, FALSE) AS INTEGER)")
    return "(" + " + ".join(parts) + ")"


def _k7(present):
    count = _georef_count()
    return [
        Check(
            "geometrie",
            f'{count} = 0 AND "geometrie" IS NULL',
            "NULL",
            _sql_str(
                "aucun géoréférencement : donnez une géométrie, ou un rattachement (commune, "
                "département ou maille) de typeInfoGeo 1"
            ),
        ),
        Check(
            "geometrie",
            f"{count} > 1",
            "NULL",
            _sql_str(
                "plusieurs géoréférencements : une seule géométrie ou un seul rattachement de "
                "typeInfoGeo 1 par observation"
            ),
        ),
    ]


GROUPS = {
    "Commune": ("codeCommune", "nomCommune", "anneeRefCommune", "typeInfoGeoCommune"),
    "Département": ("codeDepartement", "anneeRefDepartement", "typeInfoGeoDepartement"),
    "Maille": ("codeMaille", "versionRefMaille", "typeInfoGeoMaille"),
}


def _k8(present):
    out = []
    for group, members in GROUPS.items():
        given = " OR ".join(f"{q(m)} IS NOT NULL" for m in members)
        for m in members:
            out.append(Check(m, f"({given}) AND {q(m)} IS NULL", "NULL", _sql_str(f"groupe {group}")))
    out.append(
        Check("natureObjetGeo", '"geometrie" IS NOT NULL AND "natureObjetGeo" IS NULL', "NULL", _sql_str("géométrie"))
    )
    out.append(
        Check(
            "refHabitat",
            '("codeHabitat" IS NOT NULL OR "codeHabRef" IS NOT NULL) AND "refHabitat" IS NULL',
            "NULL",
            _sql_str("habitat"),
        )
    )
    return out


_PARALLEL = (("codeCommune", "nomCommune"), ("codeDepartement", "nomDepartement"))


def _k9(present):
    return [
        Check(
            b,
            f"{q(a)} IS NOT NULL AND {q(b)} IS NOT NULL AND "
            f"len(string_split({q(a)}, '|')) <> len(string_split({q(b)}, '|'))",
            f"{q(a)} || ' / ' || {q(b)}",
            _sql_str(f"{a} et {b}"),
        )
        for a, b in _PARALLEL
    ]


def _k10(present):
    return [Check("referenceBiblio", '"statutSource__t" = \'Li\' AND "referenceBiblio" IS NULL')]


def _k11(present):
    proof = '("uRLPreuveNumerique" IS NOT NULL OR "preuveNonNumerique" IS NOT NULL)'
    return [
        Check(
            "preuveExistante",
            f"\"preuveExistante__t\" = '1' AND NOT {proof}",
            '"preuveExistante"',
            _sql_str("preuveExistante vaut 1 (oui) sans preuve numérique ni non numérique"),
        ),
        Check(
            "preuveExistante",
            f"{proof} AND COALESCE(\"preuveExistante__t\", '') <> '1'",
            '"preuveExistante"',
            _sql_str("une preuve est indiquée mais preuveExistante ne vaut pas 1 (oui)"),
        ),
    ]


def _k12(present):
    return [
        Check(
            "codeHabitat",
            '"refHabitat" IS NOT NULL AND upper("refHabitat") <> \'HABREF\' AND "codeHabitat" IS NULL',
            '"refHabitat"',
            _sql_str("codeHabitat est obligatoire quand refHabitat n'est pas HABREF"),
        ),
        Check(
            "codeHabRef",
            'upper("refHabitat") = \'HABREF\' AND "codeHabitat" IS NULL AND "codeHabRef" IS NULL',
            '"refHabitat"',
            _sql_str("avec refHabitat HABREF, codeHabitat ou codeHabRef est obligatoire"),
        ),
    ]


def _k13(present):
    if "versionTAXREF" not in present:  # v2.0 files: versionTAXREF was removed from the standard
        return []
    return [Check("versionTAXREF", '"cdNom" IS NOT NULL AND "versionTAXREF" IS NULL')]


def _k14(present):
    return [Check("dEEFloutage", '"dSPublique__t" = \'Pr\' AND "dEEFloutage" IS NULL')]


def _k15(present):
    return [
        Check(c, f'"sensiNiveau__t" IS NOT NULL AND "sensiNiveau__t" <> \'0\' AND {q(c)} IS NULL', "NULL")
        for c in ("sensiDateAttribution", "sensiReferentiel", "sensiVersionReferentiel")
    ]


RULES: tuple[Rule, ...] = (
    # conformity: the file as a whole
    Rule("C1", "conformite", "Fichier lisible et non vide", "{detail}", kind="file"),
    Rule("C2", "conformite", "En-tête conforme", "{detail}", kind="file"),
    Rule("C3", "conformite", "Nombre de champs de la ligne", "{detail}", kind="file"),
    # conformity: each value
    Rule(
        "C4", "conformite", "Valeur obligatoire", "Valeur obligatoire manquante : {label} ({column}).", checks=_required
    ),
    Rule("C5", "conformite", "Type et format", "« {value} » n'est pas {detail} ({column}).", checks=_format),
    Rule(
        "C6",
        "conformite",
        "Code de nomenclature",
        "« {value} » n'est pas un code en vigueur de la nomenclature {detail} ({column}).",
        checks=_nomenclature,
    ),
    Rule(
        "C7",
        "conformite",
        "Bornes numériques",
        "{value} est hors des bornes admises pour {column} ({detail}).",
        checks=_range,
    ),
    Rule("C8", "conformite", "Longueur du texte", "Texte trop long pour {column} : {detail}.", checks=_length),
    Rule("C9", "conformite", "Géométrie WKT", "Géométrie refusée : {detail}.", kind="geometry"),
    Rule(
        "C10",
        "conformite",
        "Identifiant permanent (UUID)",
        "« {value} » n'est pas un UUID : laissez idSINPOccTax vide pour que la plateforme en attribue un.",
        checks=_uuid_occ,
    ),
    Rule(
        "C11",
        "referentiel",
        "Taxon dans TAXREF",
        "{column} {value} n'existe pas dans TAXREF{detail}.",
        kind="referential",
    ),
    Rule(
        "C12",
        "referentiel",
        "Habitat dans HABREF",
        "codeHabRef {value} n'existe pas dans HABREF{detail}.",
        kind="referential",
    ),
    Rule(
        "C13",
        "referentiel",
        "Code géographique connu",
        "Le code « {value} » ({column}) n'existe pas dans le référentiel {detail} de la plateforme.",
        kind="referential",
    ),
    Rule(
        "C14",
        "conformite",
        "URL de preuve",
        "« {value} » n'est pas une URL (http://, https:// ou ftp://).",
        checks=_url,
    ),
    Rule(
        "C15",
        "conformite",
        "Date plausible",
        "{value} : date antérieure au 1er janvier 1900 ({column}).",
        checks=_dates_min,
    ),
    Rule(
        "C16",
        "conformite",
        "Précision positive",
        "precisionGeometrie doit être un nombre de mètres strictement positif (« {value} »).",
        checks=_precision,
    ),
    Rule(
        "C17",
        "conformite",
        "Format des personnes",
        "« {value} » ne suit pas le format « NOM Prénom (Organisme) », plusieurs personnes séparées par des "
        "virgules ({column}).",
        checks=_persons,
    ),
    Rule(
        "C18",
        "conformite",
        "Jeu de données du dépôt",
        "idSINPJdd « {value} » n'est pas l'identifiant du jeu de données du dépôt ({detail}).",
        checks=_jdd,
    ),
    # coherence
    Rule("K1", "coherence", "Ordre des dates", "Le début est postérieur à la fin : {value}.", checks=_k1),
    Rule("K2", "coherence", "Date future", "{value} : date dans le futur ({column}).", checks=_k2),
    Rule(
        "K3",
        "coherence",
        "Ordre des dénombrements",
        "denombrementMin est supérieur à denombrementMax : {value}.",
        checks=_k3,
    ),
    Rule(
        "K4",
        "coherence",
        "Ordre des altitudes et profondeurs",
        "Minimum supérieur au maximum ({column}) : {value}.",
        checks=_k4,
    ),
    Rule("K5", "coherence", "Statut d'observation et dénombrement", "Statut d'observation {detail}.", checks=_k5),
    Rule("K6", "coherence", "Objet du dénombrement", "Dénombrement incohérent : {detail}.", checks=_k6),
    Rule("K7", "coherence", "Un seul géoréférencement", "Géoréférencement : {detail}.", checks=_k7),
    Rule(
        "K8",
        "coherence",
        "Groupes complets",
        "{column} est obligatoire dans le groupe « {detail} » dès qu'une de ses valeurs est donnée.",
        checks=_k8,
    ),
    Rule(
        "K9",
        "coherence",
        "Listes parallèles",
        "{detail} n'ont pas le même nombre de valeurs (séparées par « | ») : {value}.",
        checks=_k9,
    ),
    Rule(
        "K10",
        "coherence",
        "Référence bibliographique",
        "statutSource vaut Li (littérature) : referenceBiblio est obligatoire.",
        checks=_k10,
    ),
    Rule("K11", "coherence", "Preuve existante", "Preuve : {detail}.", checks=_k11),
    Rule("K12", "coherence", "Habitat", "Habitat « {value} » : {detail}.", checks=_k12),
    Rule(
        "K13",
        "coherence",
        "Version de TAXREF (v1.2.1)",
        "versionTAXREF est obligatoire quand cdNom est donné (fichier au standard v1.2.1).",
        checks=_k13,
    ),
    Rule(
        "K14",
        "coherence",
        "Floutage des données privées",
        "dSPublique vaut Pr (privée) : dEEFloutage est obligatoire.",
        checks=_k14,
    ),
    Rule(
        "K15",
        "coherence",
        "Sensibilité déclarée",
        "sensiNiveau est différent de 0 : {column} est obligatoire.",
        checks=_k15,
    ),
    Rule(
        "K18",
        "coherence",
        "Dans le territoire",
        "La géométrie est hors du territoire de la plateforme{detail}.",
        kind="geometry",
    ),
    # duplicates (§5.1)
    Rule("K16", "doublon", "Identifiant permanent unique", "idSINPOccTax {value} {detail}.", kind="store"),
    Rule("K17", "doublon", "Identifiant d'origine unique", "idOrigine « {value} » {detail}.", kind="store"),
    Rule(
        "D1",
        "doublon",
        "Observation répétée dans le fichier",
        "Même taxon, mêmes dates et heures, même géométrie et même observateur que la ligne {detail} "
        "(signalé, non bloquant).",
        kind="store",
        blocking=False,
    ),
    Rule(
        "D2",
        "doublon",
        "Observation déjà présente sur la plateforme",
        "{detail}. Signalé, non bloquant.",
        kind="store",
        blocking=False,
    ),
)

# D2 details (engine._duplicates). Against the data the depositor may see precisely (its producer's,
# a chef de file's scope, everything for a sysadmin): exact content, where it is. Against other
# producers' published data, compared at the granularity the public sees: nothing that locates it.
D2_EXACT = "Observation identique (taxon, dates et heures, géométrie, observateur) déjà présente dans {where}"
D2_FOREIGN = "Observation probablement déjà présente sur la plateforme (données d'un autre producteur)"
D2_FOREIGN_MORE = (
    "{n} autre(s) ligne(s) du fichier probablement déjà présente(s) sur la plateforme (données "
    "d'un autre producteur), non détaillée(s) : au plus {max} signalements de ce type par dépôt"
)

BY_CODE = {r.code: r for r in RULES}


def rule(code: str) -> Rule:
    return BY_CODE[code]


def row_checks(present: frozenset) -> list[tuple[Rule, Check]]:
    """Every (rule, check) pair of the row rules, for a file with the columns ``present``."""
    out = []
    for r in RULES:
        if r.kind == "row" and r.checks is not None:
            out.extend((r, c) for c in r.checks(present))
    return out
