"""The hostile-input suite (issue 13): every hostile input gets a French 4xx, never a 500, and
writes nothing.

Each case is one request — to our actions and CKAN's (API POST with a JSON body, GET with a
query string), to pages (hostile path or query), to uploads (resource_create, MTD import) or to
the CSW (a real pycsw on the test database). For each case the test asserts what a caller sees:

- a 4xx (the expected one where the policy is ours: 400 malformed request, 409 refused
  parameter, 403/404), or an OWS ExceptionReport for the CSW;
- a French message, without English CKAN/Python error text, traceback or internal names
  (``fq``, ``permission_labels``, ``psycopg``, ``sqlalchemy``…);
- no error logged with a traceback while the request ran;
- nothing written: counts of packages, resources, activities, tags, occurrences, deposits, CSW
  records, validations, notifications and chefs de file are the same before and after.

The data (a producer, a public CA and JDD holding a checked deposit, a private JDD) is built
once per module by the first test.
"""

from __future__ import annotations

import copy
import dataclasses
import io
import logging
import pathlib
import re
import urllib.parse
import uuid
from typing import Any

import ckan.model as model
import pytest
import requests
import sqlalchemy as sa
from ckan.tests import factories

from tests.integration.test_occurrence_deposits import rows, upload, wait_report
from tests.integration.test_sinp_records import CA, JDD, Api

MTD_FIXTURES = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "mtd"
COUNTED = (
    "package",
    "resource",
    "activity",
    "tag",
    "package_tag",
    "member",
    "sinp_occurrence",
    "sinp_deposit",
    "sinp_csw_record",
    "sinp_validation",
    "sinp_notification",
    "sinp_chef_de_file",
)
FRENCH = (
    "introuvable",
    "refus",
    "invalide",
    "attend",
    "doit",
    "paramètre",
    "caractère",
    "connectez",
    "requête",
    "manquant",
    "entier",
    "n'est pas",
    "accès",
    "vous",
    "hors",
    "texte",
    "espace de noms",
    "document",
    "valeur",
    "polygone",
    "géométrie",
    "date",
    "adresse",
    "page",
    "identifiant",
    "action",
    "liste",
    "trop",
    "fichier",
    "structure",
    "cadre",
    "jeu de données",
    "entité",
    "bbox",
    "mal formé",
    "autoris",
    "seul",
    "aucun",
    "coordonnées",
    "inconnu",
    "vide",
)
FORBIDDEN = re.compile(
    r"Traceback|Internal Server Error|Integrity Error|psycopg|sqlalchemy|"
    r"['\"]?\bfq\b['\"]?\s*[:=]|permission_labels|capacity:public|"
    r"Missing value|Not found|Access denied|Bad request|Search error|SOLR returned|JSON Error|"
    r"\bException\b|not authorized|\bis not\b|\bmust be\b|\bInvalid\b|Error decoding|"
    r"Please use|not known",
    re.IGNORECASE,
)

NUL = "abc\x00def"
SURROGATE = "abc\ud800"
CONTROL = "abc\x1b[31mdef"
RTL = "\u202egpj.exe"
LONG = "a" * 20_000
SQL = "' OR 1=1; DROP TABLE package; --"
PATH = "../../../../etc/passwd"
WORLD = "POLYGON((-180 -90, 180 -90, 180 90, -180 90, -180 -90))"
FAR = "POLYGON((100 10, 101 10, 101 11, 100 11, 100 10))"
TYPES = {"list": ["x"], "dict": {"a": "b"}, "number": 12345, "bool": True}


class R:
    """A value of the module's data, filled in when the case runs (``R("jdd")`` → the JDD's name)."""

    def __init__(self, key: str):
        self.key = key

    def __repr__(self):
        return f"R({self.key})"


@dataclasses.dataclass
class Case:
    id: str
    kind: str  # post, get, page, form, upload, csw_get, csw_post
    target: str  # action, path or CSW request
    data: Any = None  # JSON body, query dict, form fields
    role: str = "anonymous"  # anonymous, editor, other, sysadmin
    status: int | tuple | None = None  # expected status (None: any 4xx)
    raw_query: str | None = None  # a query string sent as written (percent-encoded NUL…)
    field: str | None = None  # the parameter a 409 must name


def fill(value, env):
    if isinstance(value, R):
        return env[value.key]
    if isinstance(value, str) and "@{" in value:  # "/jdd/@{jdd}/depot" → the JDD's name
        return re.sub(r"@\{(\w+)\}", lambda m: str(env[m.group(1)]), value)
    if isinstance(value, dict):
        return {k: fill(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [fill(v, env) for v in value]
    return value


# --- the corpus --------------------------------------------------------------------------------------

CASES: list[Case] = []


def case(*args, **kwargs):
    CASES.append(Case(*args, **kwargs))


def confusion(action, key, base, role="anonymous", nul_status=400, types=TYPES, null_status=None):
    """Type confusion and NUL for one string parameter of an action (POST JSON)."""
    for name, value in types.items():
        case(f"{action}-{key}-{name}", "post", action, {**base, key: value}, role, 409, field=key)
    case(f"{action}-{key}-nul", "post", action, {**base, key: NUL}, role, nul_status)
    case(f"{action}-{key}-surrogate", "post", action, {**base, key: SURROGATE}, role, 400)
    if null_status:
        case(f"{action}-{key}-null", "post", action, {**base, key: None}, role, null_status, field=key)


# our read actions: every identifier and text parameter
OCC = {"jdd": R("jdd")}
confusion("sinp_occurrence_search", "jdd", {}, null_status=409)
for key in ("bbox", "date_min", "date_max", "cd_nom", "limit", "offset"):
    confusion("sinp_occurrence_search", key, OCC, types={"dict": {"a": "b"}, "list": [["x"]]})
for key, values in {
    "offset": {"exp": 1e20, "huge": "99999999999999999999", "negative": -1, "float": 1.5, "bool": True, "text": "abc"},
    "limit": {"huge": 10**12, "negative": -5, "over": 1001, "exp": "1e3"},
    "bbox": {
        "letters": "a,b,c,d",
        "three": "0,0,1",
        "inverted": "6,48,5,47",
        "world+": "-200,-100,200,100",
        "nan": "nan,nan,nan,nan",
        "inf": "-inf,0,inf,1",
        "sql": SQL,
    },
    "date_min": {"month13": "2024-13-01", "words": "hier", "sql": SQL, "long": LONG},
    "cd_nom": {"exp": "1e3", "huge": 99999999999, "negative": -3, "text": "Lynx"},
}.items():
    for name, value in values.items():
        case(f"sinp_occurrence_search-{key}-{name}", "post", "sinp_occurrence_search", {**OCC, key: value}, status=409)
for name, value in {"rtl": RTL, "control": CONTROL, "long": LONG}.items():
    case(f"sinp_occurrence_search-jdd-{name}", "post", "sinp_occurrence_search", {"jdd": value}, status=409)
for name, value in {"sql": SQL, "path": PATH, "unknown": str(uuid.uuid4())}.items():
    case(f"sinp_occurrence_search-jdd-{name}", "post", "sinp_occurrence_search", {"jdd": value}, status=404)
    case(f"sinp_occurrence_stats-jdd-{name}", "post", "sinp_occurrence_stats", {"jdd": value}, status=404)
    case(f"sinp_occurrence_map-jdd-{name}", "post", "sinp_occurrence_map", {"jdd": value}, status=404)
confusion("sinp_occurrence_stats", "jdd", {}, null_status=409)
confusion("sinp_occurrence_map", "jdd", {}, null_status=409)

confusion("sinp_qc_report_show", "resource_id", {}, role="editor", null_status=409)
for key in ("code", "column", "category"):
    confusion(
        "sinp_qc_report_show",
        key,
        {"resource_id": R("resource")},
        role="editor",
        types={"list": ["x"], "dict": {"a": "b"}},
    )
case(
    "sinp_qc_report_show-offset-exp",
    "post",
    "sinp_qc_report_show",
    {"resource_id": R("resource"), "offset": 1e20},
    "editor",
    409,
)
case(
    "sinp_qc_report_show-limit-huge",
    "post",
    "sinp_qc_report_show",
    {"resource_id": R("resource"), "limit": 10**9},
    "editor",
    409,
)
case(
    "sinp_qc_report_show-code-long",
    "post",
    "sinp_qc_report_show",
    {"resource_id": R("resource"), "code": LONG},
    "editor",
    409,
)
case("sinp_qc_report_show-resource_id-sql", "post", "sinp_qc_report_show", {"resource_id": SQL}, "editor", 404)

for action in ("sinp_mtd_export", "sinp_iso_show"):
    confusion(action, "id", {}, null_status=409)
    for name, value in {"sql": SQL, "path": PATH}.items():
        case(f"{action}-id-{name}", "post", action, {"id": value}, status=404)
    case(f"{action}-id-long", "post", action, {"id": LONG}, status=409)
    case(f"{action}-id-rtl", "post", action, {"id": RTL}, status=409)
confusion("sinp_validation_history", "id_sinp_occtax", {}, null_status=409)
case("sinp_validation_history-id-sql", "post", "sinp_validation_history", {"id_sinp_occtax": SQL}, status=404)
confusion("sinp_taxon_search", "q", {}, types={"list": ["x"], "dict": {"a": "b"}, "number": 5})
case("sinp_taxon_search-q-long", "post", "sinp_taxon_search", {"q": LONG}, status=409)
case("sinp_taxon_search-limit-exp", "post", "sinp_taxon_search", {"q": "lyn", "limit": 1e20}, status=409)
case("sinp_taxon_search-limit-zero", "post", "sinp_taxon_search", {"q": "lyn", "limit": 0}, status=409)

# the géo-visualiseur (#16) and the ORB indicators (#17): public aggregates, open to anyone. A number
# is a fine value of a code (taxon, year, edition): only lists, objects and booleans are confused
NOT_A_NUMBER = {"list": ["x"], "dict": {"a": "b"}, "bool": True}
for key in ("niveau", "taxon", "groupe", "dep", "annee_min", "annee_max", "validation", "producteur", "jdd"):
    confusion("sinp_carte", key, {}, types=NOT_A_NUMBER)
for name, value in {
    "niveau-sql": {"niveau": SQL},
    "niveau-long": {"niveau": LONG},
    "taxon-text": {"taxon": "Lynx"},
    "taxon-negative": {"taxon": -4},
    "taxon-exp": {"taxon": 1e20},
    "taxon-huge": {"taxon": "9" * 40},
    "dep-sql": {"dep": SQL},
    "annee-range": {"annee_min": 2020, "annee_max": 2010},
    "annee-huge": {"annee_max": 10**12},
    "validation-bad": {"validation": "9"},
    "groupe-long": {"groupe": LONG},
    "jdd-rtl": {"jdd": RTL},
    "producteur-long": {"producteur": LONG},
}.items():
    case(f"sinp_carte-{name}", "post", "sinp_carte", value, status=409)
confusion("sinp_carte_taxons", "code", {"niveau": "departement"}, null_status=409)
confusion("sinp_carte_taxons", "niveau", {"code": "21"}, types=NOT_A_NUMBER)
for name, value in {"sql": SQL, "path": PATH, "long": LONG, "rtl": RTL, "maille": "E085N670"}.items():
    case(f"sinp_carte_taxons-code-{name}", "post", "sinp_carte_taxons", {"niveau": "maille", "code": value}, status=409)
confusion("sinp_taxon_fiche", "cd_ref", {}, types=NOT_A_NUMBER, null_status=409)
for name, value in {"text": "Lynx", "negative": -1, "exp": 1e20, "huge": "9" * 40, "sql": SQL}.items():
    case(f"sinp_taxon_fiche-cd_ref-{name}", "post", "sinp_taxon_fiche", {"cd_ref": value}, status=409)
case("sinp_taxon_fiche-cd_ref-unknown", "post", "sinp_taxon_fiche", {"cd_ref": 999999999}, status=404)
confusion("sinp_indicator_show", "code", {}, null_status=409)
for key in ("edition", "departement", "groupe", "annee", "cle"):
    confusion("sinp_indicator_show", key, {"code": "observations"}, types=NOT_A_NUMBER)
for name, value in {
    "code-sql": {"code": SQL},
    "code-path": {"code": PATH},
    "code-long": {"code": LONG},
    "edition-uncomputed": {"code": "observations", "edition": "2019"},
    "edition-words": {"code": "observations", "edition": "demain"},
    "departement-sql": {"code": "observations", "departement": SQL},
    "groupe-long": {"code": "observations", "groupe": LONG},
    "annee-exp": {"code": "observations", "annee": 1e20},
    "cle-long": {"code": "observations", "cle": LONG},
}.items():
    case(f"sinp_indicator_show-{name}", "post", "sinp_indicator_show", value, status=409)
case("sinp_indicator_list-nul", "post", "sinp_indicator_list", {"edition": NUL}, status=400)

# the territory service: malformed, non-polygon and out-of-region geometries
for name, value in {
    "garbage": "pas un polygone",
    "line": "LINESTRING(5 47, 6 48)",
    "point": "POINT(5 47)",
    "open": "POLYGON((5 47, 6 47, 6 48))",
    "lambert93": "POLYGON((850000 6700000, 860000 6700000, 860000 6710000, 850000 6700000))",
    "far": FAR,
    "geojson-bad": '{"type": "Polygon", "coordinates": "x"}',
    "geojson-point": '{"type": "Point", "coordinates": [5, 47]}',
    "geojson-empty-fc": '{"type": "FeatureCollection"}',
    "json-list": "[1, 2, 3]",
    "object-bad": {"type": "Polygon", "coordinates": [[["a", "b"]]]},
    "list": [1, 2],
    "number": 42,
    "sql": SQL,
    "empty": "",
    "huge-coordinates": "POLYGON((1e308 0, 2e308 0, 0 1e308, 1e308 0))",
    "nan": "POLYGON((nan 0, 1 0, 1 1, nan 0))",
}.items():
    case(f"sinp_territory_taxa-{name}", "post", "sinp_territory_taxa", {"polygone": value}, status=409)
case("sinp_territory_taxa-nul", "post", "sinp_territory_taxa", {"polygone": "POLYGON((5 47\x00))"}, status=400)

# our write actions: a hostile parameter next to valid ones writes nothing
VALID = {"niv_val": "2", "jdd": R("jdd")}
for key in ("jdd", "commentaire", "niv_val_actuel"):
    confusion("sinp_validation_set", key, VALID, role="sysadmin", types={"list": ["x"], "dict": {"a": "b"}})
confusion(
    "sinp_validation_set", "ids", {"niv_val": "2"}, role="sysadmin", types={"dict": {"a": "b"}, "nested": [["x"]]}
)
for name, value in {
    "cd_nom-exp": {"cd_nom": 1e20},
    "bbox-bad": {"bbox": "x"},
    "date-bad": {"date_min": "2024-02-30"},
    "niv_val-bad": {"niv_val": "9"},
    "niv_val-list": {"niv_val": ["2"]},
}.items():
    case(f"sinp_validation_set-{name}", "post", "sinp_validation_set", {**VALID, **value}, "sysadmin", 409)
case("sinp_validation_set-anonymous", "post", "sinp_validation_set", VALID, "anonymous", 403)
for key in ("id_sinp_occtax", "commentaire"):
    confusion(
        "sinp_sensitivity_set",
        key,
        {"id_sinp_occtax": R("occurrence"), "sensi_niveau": "2"},
        role="sysadmin",
        types={"list": ["x"], "dict": {"a": "b"}},
    )
case(
    "sinp_sensitivity_set-level-bad",
    "post",
    "sinp_sensitivity_set",
    {"id_sinp_occtax": R("occurrence"), "sensi_niveau": "9"},
    "sysadmin",
    409,
)
for key in ("organization", "groupes", "departements"):
    confusion(
        "sinp_chef_de_file_set",
        key,
        {"organization": R("org")},
        role="sysadmin",
        types={"dict": {"a": "b"}, "nested": [["x"]]} if key != "organization" else TYPES,
    )
case(
    "sinp_chef_de_file_set-departement-bad",
    "post",
    "sinp_chef_de_file_set",
    {"organization": R("org"), "departements": ["999", SQL]},
    "sysadmin",
    409,
)
case("sinp_chef_de_file_set-anonymous", "post", "sinp_chef_de_file_set", {"organization": R("org")}, "anonymous", 403)
confusion("sinp_qc_run", "resource_id", {}, role="editor")
confusion("sinp_jdd_apply_extent", "jdd", {}, role="editor")
confusion("sinp_auto_validate", "jdd", {}, role="sysadmin", types={"list": ["x"], "dict": {"a": "b"}})
case("sinp_notification_list-limit-exp", "post", "sinp_notification_list", {"limit": 1e20}, "editor", 409)

# MTD import: hostile XML and parameters
MTD_OK = {"owner_org": R("org")}
for fixture in ("hostile_billion_laughs", "hostile_entite_parametre", "hostile_xxe_fichier", "mal_forme", "pas_mtd"):
    case(
        f"sinp_mtd_import-{fixture}",
        "post",
        "sinp_mtd_import",
        {**MTD_OK, "xml": (MTD_FIXTURES / f"{fixture}.xml").read_text(encoding="utf-8")},
        "editor",
        409,
    )
UUID = "29A8E22C-6718-4786-850A-9E2722E41442"
for name, xml in {
    "namespace-evil": f'<ca:CadreAcquisition xmlns:ca="urn:evil"><ca:identifiantCadre>{UUID}</ca:identifiantCadre>'
    "<ca:libelle>Cadre</ca:libelle></ca:CadreAcquisition>",
    "element-evil": f'<ca:CadreAcquisition xmlns:ca="http://inpn.mnhn.fr/mtd" xmlns:e="urn:evil"><ca:identifiantCadre>'
    f"{UUID}</ca:identifiantCadre><e:libelle>Cadre</e:libelle></ca:CadreAcquisition>",
    "xinclude": '<ca:CadreAcquisition xmlns:ca="http://inpn.mnhn.fr/mtd" xmlns:xi="http://www.w3.org/2001/XInclude">'
    f"<ca:identifiantCadre>{UUID}</ca:identifiantCadre><ca:description><xi:include "
    'href="file:///etc/passwd" parse="text"/></ca:description></ca:CadreAcquisition>',
    "deep": "<a>" * 5000 + "</a>" * 5000,
    "empty-root": "<gml:FeatureCollection xmlns:gml='http://www.opengis.net/gml/3.2'/>",
    "not-xml": '{"json": true}',
    "sql": SQL,
    "bom-garbage": "\ufeff\ufeff<<>>",
}.items():
    case(f"sinp_mtd_import-{name}", "post", "sinp_mtd_import", {**MTD_OK, "xml": xml}, "editor", 409)
confusion("sinp_mtd_import", "owner_org", {"xml": "<x/>"}, role="editor", null_status=409)
confusion("sinp_mtd_import", "xml", MTD_OK, role="editor", types={"list": ["x"], "dict": {"a": "b"}, "number": 1})
case("sinp_mtd_import-anonymous", "post", "sinp_mtd_import", {**MTD_OK, "xml": "<x/>"}, "anonymous", 403)

# CKAN's core actions: identifiers, search syntax, package writes
for action in (
    "package_show",
    "resource_show",
    "organization_show",
    "group_show",
    "user_show",
    "package_activity_list",
    "member_list",
    "package_collaborator_list",
):
    for name, value in TYPES.items():
        case(f"{action}-id-{name}", "post", action, {"id": value}, "sysadmin", 409)
    case(f"{action}-id-nul", "post", action, {"id": NUL}, "sysadmin", 400)
    case(f"{action}-id-long", "post", action, {"id": LONG}, "sysadmin", 409)
for action in ("package_show", "resource_show", "organization_show"):
    case(f"{action}-id-surrogate", "post", action, {"id": SURROGATE}, "sysadmin", 400)
    case(f"{action}-id-sql", "post", action, {"id": SQL}, "sysadmin", 404)
    case(f"{action}-id-rtl", "post", action, {"id": RTL}, "sysadmin", 409)
for name, q in {
    "quote": '"',
    "field-paren": "title:(",
    "field-bracket": "title:[",
    "field-quote": 'title:"x',
    "range": "metadata_modified:[* TO",
    "brace": "{!",
    "colon": ":",
    "wildcards": "*:*:*",
    "local-params": "{!lucene q.op=AND df=permission_labels}x",
    "field-regex": "name:/[/",
    "field-boost": "title:x^^^2",
    "and-paren": "title:x AND (y",
}.items():
    case(f"package_search-q-{name}", "post", "package_search", {"q": q}, "editor", (400, 409))
for name, data in {
    "fq-paren": {"fq": "("},
    "sort-sql": {"sort": SQL},
    "rows-exp": {"rows": 1e20},
    "start-huge": {"start": 10**20},
    "start-negative": {"start": -1},
    "rows-text": {"rows": "abc"},
    "q-list": {"q": ["x"]},
    "q-dict": {"q": {"a": "b"}},
    "fq-dict": {"fq": {"a": "b"}},
    "facet-field-bad": {"facet.field": "not json"},
}.items():
    case(f"package_search-{name}", "post", "package_search", data, "editor", (400, 409))
case("package_search-q-nul", "post", "package_search", {"q": NUL}, "editor", 400)

NEW_JDD = {**copy.deepcopy(JDD), "name": "jdd-hostile", "owner_org": R("org"), "cadre": R("ca_uuid")}
for value in ("oui", "vrai", "privé", "on", "maybe", "yes", "non", "2", 2, ["true"], {"a": 1}):
    case(
        f"package_create-private-{type(value).__name__}-{value}",
        "post",
        "package_create",
        {**NEW_JDD, "private": value},
        "editor",
        409,
        field="private",
    )
for key in ("title", "notes", "libelle_court"):
    for name, value in {"list": ["Titre"], "dict": {"fr": "Titre"}, "number": 12345}.items():
        case(
            f"package_create-{key}-{name}", "post", "package_create", {**NEW_JDD, key: value}, "editor", 409, field=key
        )
for name, value in {
    "text": "CEN",
    "dict": {"organisme": "CEN", "role": "1"},
    "list-of-texts": ["CEN"],
    "number": 5,
    "nested": [{"organisme": ["CEN"], "role": "1"}],
}.items():
    case(
        f"package_create-contacts_jdd-{name}",
        "post",
        "package_create",
        {**NEW_JDD, "contacts_jdd": value},
        "editor",
        409,
        field="contacts_jdd" if name != "nested" else "contacts_jdd.organisme",
    )
for name, value in TYPES.items():
    case(
        f"package_create-owner_org-{name}",
        "post",
        "package_create",
        {**NEW_JDD, "owner_org": value},
        "editor",
        409,
        field="owner_org",
    )
for key, value in {
    "domaine_terrestre": "oui",
    "domaine_marin": "maybe",
    "territoires": {"a": "b"},
    "borne_ouest": ["3"],
    "resources": "x",
    "tags": "x",
    "extras": {"a": "b"},
    "name": ["x"],
    "cadre": ["x"],
}.items():
    case(f"package_create-{key}-bad", "post", "package_create", {**NEW_JDD, key: value}, "editor", 409, field=key)
for key in ("name", "title", "notes"):
    case(f"package_create-{key}-nul", "post", "package_create", {**NEW_JDD, key: NUL}, "editor", 400)
    case(f"package_create-{key}-control", "post", "package_create", {**NEW_JDD, key: CONTROL}, "editor", 409, field=key)
case("package_create-name-rtl", "post", "package_create", {**NEW_JDD, "name": RTL}, "editor", 409, field="name")
case("package_create-anonymous", "post", "package_create", NEW_JDD, "anonymous", 403)
for value in ("oui", "on", "maybe", "privé"):
    case(
        f"package_patch-private-{value}",
        "post",
        "package_patch",
        {"id": R("private_jdd"), "private": value},
        "editor",
        409,
        field="private",
    )
case(
    "package_patch-title-list",
    "post",
    "package_patch",
    {"id": R("private_jdd"), "title": ["x"]},
    "editor",
    409,
    field="title",
)
case("package_patch-id-list", "post", "package_patch", {"id": ["x"], "title": "x"}, "editor", 409, field="id")
case(
    "package_patch-other-producer",
    "post",
    "package_patch",
    {"id": R("private_jdd"), "private": False},
    "other",
    (403, 404),
)
for action in ("package_collaborator_create", "package_collaborator_delete"):
    case(
        f"{action}-anonymous",
        "post",
        action,
        {"id": R("jdd"), "user_id": R("editor_name"), "capacity": "editor"},
        "anonymous",
        403,
    )
case(
    "package_collaborator_create-user-list",
    "post",
    "package_collaborator_create",
    {"id": R("jdd"), "user_id": ["x"], "capacity": "editor"},
    "sysadmin",
    409,
)
case(
    "resource_create-package_id-list",
    "post",
    "resource_create",
    {"package_id": ["x"], "url": "http://a.b"},
    "editor",
    409,
)
case("resource_create-name-dict", "post", "resource_create", {"package_id": R("jdd"), "name": {"a": 1}}, "editor", 409)
case("resource_create-anonymous", "post", "resource_create", {"package_id": R("jdd"), "name": "x"}, "anonymous", 403)
case("unknown-action", "post", "sinp_n_existe_pas", {}, "anonymous", 400)
case("unknown-action-nul", "post", "package_show\x00", {}, "anonymous", 400)
case("get-on-a-write-action", "get", "package_create", {"name": "x"}, "editor", 400)

# API GET with query strings written as a client sends them
for name, query in {
    "package_show-nul": ("package_show", "id=%00"),
    "package_show-nul-middle": ("package_show", "id=abc%00def"),
    "resource_show-nul": ("resource_show", "id=%00"),
    "organization_show-nul": ("organization_show", "id=%00"),
    "package_search-nul": ("package_search", "q=%00"),
    "package_search-paren": ("package_search", "q=title:(((&rows=1"),
    "package_search-start-huge": ("package_search", "start=99999999999999999999"),
    "package_search-rows-exp": ("package_search", "rows=1e20"),
    "package_activity_list-offset": ("package_activity_list", "id=@{jdd}&offset=1e20"),
    "package_activity_list-limit": ("package_activity_list", "id=@{jdd}&limit=99999999999"),
    "occurrence_search-offset-exp": ("sinp_occurrence_search", "jdd=@{jdd}&offset=1e20"),
    "occurrence_search-offset-huge": ("sinp_occurrence_search", "jdd=@{jdd}&offset=99999999999999999999"),
    "occurrence_search-limit-negative": ("sinp_occurrence_search", "jdd=@{jdd}&limit=-1"),
    "occurrence_search-nul": ("sinp_occurrence_search", "jdd=%00"),
    "occurrence_search-bbox-nul": ("sinp_occurrence_search", "jdd=@{jdd}&bbox=1,2,3,4%00"),
    "occurrence_search-repeated-jdd": ("sinp_occurrence_search", "jdd=@{jdd}&jdd=@{jdd}"),
    "occurrence_stats-nul": ("sinp_occurrence_stats", "jdd=%00"),
    "mtd_export-nul": ("sinp_mtd_export", "id=%00"),
    "iso_show-nul": ("sinp_iso_show", "id=%00"),
    "iso_show-repeated-id": ("sinp_iso_show", "id=a&id=b"),
    "validation_history-nul": ("sinp_validation_history", "id_sinp_occtax=%00"),
    "qc_report_show-nul": ("sinp_qc_report_show", "resource_id=%00"),
    "qc_report_show-code-nul": ("sinp_qc_report_show", "resource_id=@{resource}&code=%00"),
    "qc_report_show-offset": ("sinp_qc_report_show", "resource_id=@{resource}&offset=1e20"),
    "territory-world-nul": ("sinp_territory_taxa", "polygone=%00"),
    "territory-far": ("sinp_territory_taxa", "polygone=" + urllib.parse.quote(FAR)),
    "user_autocomplete-anonymous-action": ("user_autocomplete", "q=adm"),
}.items():
    action, query = query
    role = "editor" if action in ("sinp_qc_report_show",) else "anonymous"
    case(f"get-{name}", "get", action, None, role, None, raw_query=query)

# pages
for name, path in {
    "jdd-nul": "/jdd/%00",
    "ca-nul": "/ca/%00",
    "dataset-nul": "/dataset/%00",
    "jdd-nul-middle": "/jdd/a%00b",
    "attestation-pdf-nul": "/depot/%00/attestation.pdf",
    "attestation-nul": "/depot/%00/attestation",
    "report-code-nul": "/jdd/@{jdd}/depot/@{resource}?code=%00",
    "report-page-huge": "/jdd/@{jdd}/depot/@{resource}?page=99999999999999999999",
    "report-page-negative": "/jdd/@{jdd}/depot/@{resource}?page=-1",
    "report-page-text": "/jdd/@{jdd}/depot/@{resource}?page=abc",
    "report-resource-nul": "/jdd/@{jdd}/depot/%00",
    "report-json-nul": "/jdd/@{jdd}/depot/%00/rapport.json",
    "errors-csv-nul": "/jdd/@{jdd}/depot/@{resource}/erreurs.csv?x=%00",
    "dataset-page-huge": "/dataset/?page=99999999999999999999",
    "dataset-page-zero": "/dataset/?page=0",
    "dataset-q-nul": "/dataset/?q=%00",
    "organization-page-huge": "/organization/?page=99999999999999999999",
    "group-page-huge": "/group/?page=99999999999999999999",
    "activity-page-huge": "/dataset/activity/@{jdd}?page=99999999999999999999",
    "export-csv-bbox": "/jdd/@{jdd}/occurrences.csv?bbox=a,b,c,d",
    "export-csv-date": "/jdd/@{jdd}/occurrences.csv?date_min=2024-13-01",
    "export-csv-cd_nom": "/jdd/@{jdd}/occurrences.csv?cd_nom=1e99",
    "export-geojson-bbox-nul": "/jdd/@{jdd}/occurrences.geojson?bbox=%00",
    "export-csv-jdd-nul": "/jdd/%00/occurrences.csv",
    "mtd-xml-nul": "/jdd/%00/mtd.xml",
    "iso-xml-nul": "/ca/%00/iso19139.xml",
    "validation-nul": "/jdd/@{jdd}/validation?cd_nom=%00",
    "chefs-de-file-anonymous": "/ckan-admin/chefs-de-file",
    "user-autocomplete-anonymous": "/api/2/util/user/autocomplete?q=adm",
    "util-user-autocomplete-anonymous": "/api/util/user/autocomplete?q=adm",
    "search-q-nul-key": "/dataset/?%00=x",
    "static-nul": "/base/%00.css",
    "carte-niveau-nul": "/carte?niveau=%00",
    "carte-niveau-unknown": "/carte?niveau=hexagone",
    "carte-annee-text": "/carte?annee_min=deux%20mille",
    "carte-cellule-script": "/carte?cellule=%3Cscript%3E",
    "carte-export-csv-taxon-nul": "/carte/export.csv?taxon=%00",
    "carte-export-csv-annees": "/carte/export.csv?annee_min=2020&annee_max=2010",
    "carte-export-geojson-dep": "/carte/export.geojson?dep=" + urllib.parse.quote(SQL),
    "taxon-huge": "/taxon/99999999999999999999",
    "taxon-unknown": "/taxon/999999999",
    "indicateur-unknown": "/indicateurs/inconnu",
    "indicateur-edition": "/indicateurs/observations?edition=demain",
    "indicateur-csv-departement": "/indicateurs/observations.csv?departement=zz",
    "indicateur-json-annee": "/indicateurs/observations.json?annee=deux%20mille",
    "indicateur-groupe-nul": "/indicateurs/observations?groupe=%00",
}.items():
    case(f"page-{name}", "page", path, None, "anonymous", 400 if "%00" in path or "page=" in path else None)
case("page-report-other-producer", "page", "/jdd/@{jdd}/depot/@{resource}", None, "other", (403, 404))
# form posts (the territory form, the chefs de file form) with NUL
case("form-territory-nul", "form", "/territoire", {"polygone": "POLYGON((5 47\x00))"}, "anonymous", 400)
case("form-chefs-nul", "form", "/ckan-admin/chefs-de-file", {"organization": NUL}, "sysadmin", 400)

# uploads (multipart) with hostile fields
for name, fields in {
    "package_id-nul": {"package_id": NUL, "name": "x.csv"},
    "name-nul": {"package_id": R("jdd"), "name": "x\x00.csv"},
    "format-nul": {"package_id": R("jdd"), "name": "x.csv", "format": "CSV\x00"},
    "package_id-unknown": {"package_id": str(uuid.uuid4()), "name": "x.csv"},
    "srid-nul": {"package_id": R("jdd"), "name": "x.csv", "srid": "2154\x00"},
}.items():
    case(f"upload-{name}", "upload", "resource_create", fields, "editor", None)
case("upload-anonymous", "upload", "resource_create", {"package_id": R("jdd"), "name": "x.csv"}, "anonymous", 403)
case(
    "upload-other-producer", "upload", "resource_create", {"package_id": R("jdd"), "name": "x.csv"}, "other", (403, 404)
)
case("upload-mtd-hostile", "upload", "sinp_mtd_import", {"owner_org": R("org")}, "editor", 409)

# the CSW (a real pycsw): hostile requests get an OWS ExceptionReport
CSW = {
    "service": "CSW",
    "version": "2.0.2",
    "request": "GetRecords",
    "typeNames": "csw:Record",
    "resultType": "results",
    "elementSetName": "brief",
}
for name, extra in {
    "constraint-unbalanced": {
        "constraintLanguage": "CQL_TEXT",
        "constraint_language_version": "1.1.0",
        "constraint": "dc:title like '%",
    },
    "constraint-sql": {
        "constraintLanguage": "CQL_TEXT",
        "constraint_language_version": "1.1.0",
        "constraint": "dc:title = 'x'); DROP TABLE sinp_csw_record; --",
    },
    "constraint-nul": {
        "constraintLanguage": "CQL_TEXT",
        "constraint_language_version": "1.1.0",
        "constraint": "dc:title like 'a\x00'",
    },
    "constraint-unknown-property": {
        "constraintLanguage": "CQL_TEXT",
        "constraint_language_version": "1.1.0",
        "constraint": "evil:password = 'x'",
    },
    "constraint-filter-garbage": {
        "constraintLanguage": "FILTER",
        "constraint_language_version": "1.1.0",
        "constraint": "<ogc:Filter><<<",
    },
    "start-huge": {"startPosition": "99999999999999999999"},
    "start-negative": {"startPosition": "-1"},
    "start-text": {"startPosition": "abc"},
    "max-negative": {"maxRecords": "-5"},
    "max-text": {"maxRecords": "1e20"},
    "output-schema-evil": {"outputSchema": "urn:evil"},
    "type-names-evil": {"typeNames": "evil:Thing"},
    "element-set-evil": {"elementSetName": "everything"},
    "result-type-evil": {"resultType": "all"},
    "request-evil": {"request": "DropEverything"},
    "version-evil": {"version": "9.9.9"},
    "service-evil": {"service": "WMS"},
    "output-format-evil": {"outputFormat": "application/x-evil"},
    "sort-evil": {"sortBy": "evil:field:A"},
    "config-file": {"config": "/etc/passwd", "request": "Nope"},
}.items():
    # a constraint pycsw can read, however odd, gets an answer (never SQL run): 200, not an exception
    answered = name in ("constraint-unbalanced", "constraint-sql")
    case(f"csw-getrecords-{name}", "csw_get", "GetRecords", {**CSW, **extra}, status=200 if answered else None)
case(
    "csw-getrecordbyid-no-id",
    "csw_get",
    "GetRecordById",
    {"service": "CSW", "version": "2.0.2", "request": "GetRecordById"},
)
case(
    "csw-getrecordbyid-schema-evil",
    "csw_get",
    "GetRecordById",
    {"service": "CSW", "version": "2.0.2", "request": "GetRecordById", "id": "x", "outputSchema": "urn:evil"},
)
case(
    "csw-describe-evil",
    "csw_get",
    "DescribeRecord",
    {"service": "CSW", "version": "2.0.2", "request": "DescribeRecord", "typeName": "evil:Thing"},
    status=200,
)
case(
    "csw-getdomain-evil",
    "csw_get",
    "GetDomain",
    {"service": "CSW", "version": "2.0.2", "request": "GetDomain", "PropertyName": "evil'; --"},
    status=200,
)
for name, value in {"max-float": "1.5", "max-huge": "99999999999999999999", "start-exp": "1e3"}.items():
    key = "maxRecords" if name.startswith("max") else "startPosition"
    # a huge maxRecords is only greedy: capped, it gets a page (harvesters send maxRecords=1000000000)
    case(
        f"csw-getrecords-{name}",
        "csw_get",
        "GetRecords",
        {**CSW, key: value},
        status=200 if name == "max-huge" else None,
    )
CSW_POST = '<?xml version="1.0"?>\n'
for name, body in {
    "xxe": CSW_POST + '<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><csw:GetRecords '
    'xmlns:csw="http://www.opengis.net/cat/csw/2.0.2" service="CSW" version="2.0.2">&x;'
    "</csw:GetRecords>",
    "malformed": CSW_POST + "<csw:GetRecords <<<",
    "transaction": CSW_POST + '<csw:Transaction xmlns:csw="http://www.opengis.net/cat/csw/2.0.2" service="CSW" '
    'version="2.0.2"><csw:Delete><csw:Constraint version="1.1.0"><csw:CqlText>'
    "dc:title like '%'</csw:CqlText></csw:Constraint></csw:Delete></csw:Transaction>",
    "harvest": CSW_POST + '<csw:Harvest xmlns:csw="http://www.opengis.net/cat/csw/2.0.2" service="CSW" '
    'version="2.0.2"><csw:Source>http://127.0.0.1:8983/solr/admin/info/system</csw:Source>'
    "<csw:ResourceType>http://www.isotc211.org/2005/gmd</csw:ResourceType></csw:Harvest>",
    "unknown-root": CSW_POST + '<evil:Request xmlns:evil="urn:evil"/>',
    "max-records-huge": CSW_POST + '<csw:GetRecords xmlns:csw="http://www.opengis.net/cat/csw/2.0.2" service="CSW" '
    'version="2.0.2" startPosition="99999999999999999999" resultType="results">'
    '<csw:Query typeNames="csw:Record"><csw:ElementSetName>brief</csw:ElementSetName>'
    "</csw:Query></csw:GetRecords>",
}.items():
    case(f"csw-post-{name}", "csw_post", "POST", body)

IDS = [c.id for c in CASES]
assert len(IDS) == len(set(IDS)), [i for i in IDS if IDS.count(i) > 1]


# --- running a case ----------------------------------------------------------------------------------


def counts() -> dict[str, int]:
    select = ", ".join(f"(SELECT count(*) FROM {table}) AS {table}" for table in COUNTED)
    with model.meta.engine.connect() as conn:
        return dict(conn.execute(sa.text(f"SELECT {select}")).mappings().one())


def _texts(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [t for k, v in value.items() if k != "__type" for t in _texts(v)]
    if isinstance(value, list):
        return [t for v in value for t in _texts(v)]
    return []


EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


def assert_french(text: str, where: str) -> None:
    text = EMAIL.sub("", text)  # a configured address (« sinp@….invalid ») is no English word
    assert text.strip(), f"{where}: no message"
    assert not FORBIDDEN.search(text), (
        f"{where}: English or internal text: {FORBIDDEN.search(text).group(0)!r} in {text[:500]!r}"
    )
    assert any(word in text.lower() for word in FRENCH), f"{where}: no French message in {text[:500]!r}"


def _page_message(html: str) -> str:
    """The error message of a CKAN error page (or the flash/error block of a form)."""
    from lxml import html as lxml_html

    tree = lxml_html.fromstring(html)
    blocks = tree.xpath(
        "//div[contains(@class, 'module-content')]|//div[contains(@class, 'error-explanation')]"
        "|//div[contains(@class, 'alert')]"
    )
    return " ".join(b.text_content() for b in blocks) or tree.text_content()


def run(app, env, c: Case, csw_url: str | None = None):
    headers = {"Authorization": env["tokens"][c.role]} if env["tokens"].get(c.role) else {}
    data = fill(c.data, env)
    if c.kind == "post":
        return app.post(f"/api/3/action/{c.target}", json=data, headers=headers)
    if c.kind == "get":
        query = c.raw_query
        if query is not None:
            query = fill(query, env)
        else:
            query = urllib.parse.urlencode(data or {})
        return app.get(f"/api/3/action/{c.target}?{query}", headers=headers)
    if c.kind == "page":
        return app.get(fill(c.target, env), headers=headers)
    if c.kind == "form":
        return app.post(c.target, data=data, headers=headers, content_type="application/x-www-form-urlencoded")
    if c.kind == "upload":
        filename = "observations.csv"
        content = rows(2).encode()
        if c.target == "sinp_mtd_import":
            filename, content = "mtd.xml", (MTD_FIXTURES / "hostile_xxe_fichier.xml").read_bytes()
        field = "upload"
        return app.post(
            f"/api/3/action/{c.target}",
            data={**data, field: (io.BytesIO(content), filename)},
            headers=headers,
            content_type="multipart/form-data",
        )
    if c.kind == "csw_get":
        return requests.get(csw_url, params=data, timeout=30)
    if c.kind == "csw_post":
        return requests.post(
            csw_url, data=data.encode("utf-8"), headers={"Content-Type": "application/xml"}, timeout=30
        )
    raise AssertionError(c.kind)


@pytest.fixture(scope="module")
def env_cache():
    return {}


@pytest.fixture
def env(app, env_cache, request):
    """The module's data, built by the first test that asks for it."""
    if env_cache:
        return env_cache
    request.getfixturevalue("clean_db")
    request.getfixturevalue("clean_index")
    request.getfixturevalue("jobs_worker")
    editor = factories.UserWithToken()
    org = factories.Organization(users=[{"name": editor["name"], "capacity": "editor"}], title="LPO BFC")
    other = factories.UserWithToken()
    factories.Organization(users=[{"name": other["name"], "capacity": "editor"}], title="CEN Franche-Comté")
    sysadmin = factories.SysadminWithToken()
    api = Api(app, editor["token"])
    ca = api.ok(
        "package_create",
        **{**copy.deepcopy(CA), "name": f"ca-{uuid.uuid4().hex[:8]}", "owner_org": org["id"], "private": False},
    )
    jdd = api.ok(
        "package_create",
        **{
            **copy.deepcopy(JDD),
            "name": f"jdd-{uuid.uuid4().hex[:8]}",
            "owner_org": org["id"],
            "cadre": ca["sinp_uuid"],
            "private": False,
        },
    )
    private_jdd = api.ok(
        "package_create",
        **{
            **copy.deepcopy(JDD),
            "name": f"jdd-prive-{uuid.uuid4().hex[:8]}",
            "owner_org": org["id"],
            "cadre": ca["sinp_uuid"],
        },
    )
    resource = upload(app, editor["token"], jdd["id"], rows(3).encode())
    report = wait_report(api, resource["id"])
    assert report["status"] == "done" and report["rows_accepted"] == 3, report
    with model.meta.engine.connect() as conn:
        occurrence = conn.execute(
            sa.text("SELECT id_sinp_occtax FROM sinp_occurrence WHERE resource_id = :r LIMIT 1"), {"r": resource["id"]}
        ).scalar()
    from tests.integration.conftest import _wait_for_background_jobs

    _wait_for_background_jobs()
    env_cache.update(
        {
            "tokens": {
                "anonymous": None,
                "editor": editor["token"],
                "other": other["token"],
                "sysadmin": sysadmin["token"],
            },
            "org": org["name"],
            "ca_uuid": ca["sinp_uuid"],
            "jdd": jdd["name"],
            "jdd_id": jdd["id"],
            "private_jdd": private_jdd["name"],
            "resource": resource["id"],
            "occurrence": occurrence,
            "editor_name": editor["name"],
            "report": report,
        }
    )
    return env_cache


def _check_status(c: Case, status: int) -> None:
    assert status < 500, f"{c.id}: server error {status}"
    assert 400 <= status < 500, f"{c.id}: {status}, expected a refusal"
    if isinstance(c.status, int):
        assert status == c.status, f"{c.id}: {status}, expected {c.status}"
    elif isinstance(c.status, tuple):
        assert status in c.status, f"{c.id}: {status}, expected one of {c.status}"


def check_case(app, env, c: Case, caplog) -> None:
    before = counts()
    caplog.clear()
    with caplog.at_level(logging.ERROR):
        response = run(app, env, c)
    _check_status(c, response.status_code)
    if response.content_type and response.content_type.startswith("application/json"):
        body = response.json
        assert body["success"] is False, c.id
        assert_french(" ".join(_texts(body["error"])), c.id)
        if c.field:
            assert c.field in body["error"], f"{c.id}: the error does not name {c.field}: {body['error']}"
    else:
        assert_french(_page_message(response.get_data(as_text=True)), c.id)
    tracebacks = [r for r in caplog.records if r.levelno >= logging.ERROR and r.exc_info]
    assert not tracebacks, f"{c.id}: error logged with a traceback: {tracebacks[0].getMessage()[:300]}"
    assert counts() == before, f"{c.id}: something was written"


def check_csw_case(env, csw, c: Case) -> None:
    before = counts()
    response = run(None, env, c, csw)
    assert response.status_code < 500, f"{c.id}: server error {response.status_code}"
    if c.status == 200:  # an answer (an empty one) rather than an exception is fine
        assert "Response" in response.text or "ExceptionReport" in response.text, f"{c.id}: {response.text[:300]}"
    else:
        assert "ExceptionReport" in response.text, f"{c.id}: {response.status_code} {response.text[:300]}"
    assert not re.search(r"Traceback|psycopg|sqlalchemy|/etc/passwd|root:", response.text), (
        f"{c.id}: {response.text[:500]}"
    )
    assert counts() == before, f"{c.id}: something was written"


def _groups(cases: list[Case], size: int = 35) -> dict[str, list[Case]]:
    """The cases in groups of ``size``, named by the doors they call (one test per group: CKAN's
    test fixtures reload every plugin for each test, 2 s; a group runs its cases in one)."""
    groups = {}
    for start in range(0, len(cases), size):
        members = cases[start : start + size]
        doors = dict.fromkeys(c.target.removeprefix("sinp_") if c.kind in ("post", "get") else c.kind for c in members)
        groups[f"{start // size + 1:02d}-{'-'.join(doors)[:70]}"] = members
    return groups


GROUPS = _groups([c for c in CASES if not c.kind.startswith("csw")])
CSW_CASES = [c for c in CASES if c.kind.startswith("csw")]


@pytest.mark.parametrize("group", list(GROUPS))
def test_hostile_inputs_are_refused_in_french_and_write_nothing(app, env, group, caplog):
    failures = []
    for c in GROUPS[group]:
        try:
            check_case(app, env, c, caplog)
        except AssertionError as err:
            failures.append(str(err).split("\nassert")[0])
    assert not failures, f"{len(failures)} of {len(GROUPS[group])} cases:\n" + "\n".join(failures)


def test_hostile_csw_requests_get_an_ows_exception(env, test_csw):
    failures = []
    for c in CSW_CASES:
        try:
            check_csw_case(env, test_csw, c)
        except AssertionError as err:
            failures.append(str(err).split("\nassert")[0])
    assert not failures, f"{len(failures)} of {len(CSW_CASES)} cases:\n" + "\n".join(failures)


def test_the_corpus_is_large_enough():
    assert len(CASES) >= 200, len(CASES)


# --- findings of the probe that are not refusals ---------------------------------------------------------


def test_private_stays_private_after_a_non_boolean(app, env):
    """Finding 5: « oui », « vrai », « privé », « on », « maybe » published the record (stored false)."""
    api = Api(app, env["tokens"]["editor"])
    for value in ("oui", "vrai", "privé", "on", "maybe"):
        status, body = api.post("package_patch", id=env["private_jdd"], private=value)
        assert status == 409 and "private" in body["error"], body
        assert "true" in body["error"]["private"][0] and "false" in body["error"]["private"][0]
    assert model.Package.get(env["private_jdd"]).private is True
    for value, expected in ((True, True), ("True", True), ("false", False), ("1", True), (0, False)):
        assert api.ok("package_patch", id=env["private_jdd"], private=value)["private"] is expected
    api.ok("package_patch", id=env["private_jdd"], private=True)


def test_a_whole_world_polygon_is_clipped_to_the_region(app, env):
    """Finding 12: PostGIS « Antipodal edge » (500) on sinp_territory_taxa and /territoire."""
    api = Api(app, env["tokens"]["editor"])
    result = api.ok("sinp_territory_taxa", polygone=WORLD)
    assert 0 < result["polygone_aire_km2"] < 500_000  # the region's bounding box, not the Earth
    assert result["total_observations"] == 3
    page = app.post("/territoire", data={"polygone": WORLD}, headers={"Authorization": env["tokens"]["editor"]})
    assert page.status_code == 200 and "Myotis myotis" in page.get_data(as_text=True)


def test_a_solr_syntax_error_does_not_echo_the_permission_labels(app, env):
    """Finding 12: package_search with an unbalanced query echoed the internal fq and the caller's labels."""
    status, body = Api(app, env["tokens"]["editor"]).post("package_search", q="title:(")
    assert status == 409 and body["error"]["q"] == [
        "Requête de recherche invalide : vérifiez les parenthèses, "
        "guillemets, crochets et opérateurs (ou mettez le texte "
        "cherché entre guillemets)."
    ]
    page = app.get("/dataset/?q=title:(")
    assert page.status_code == 200 and "permission_labels" not in page.get_data(as_text=True)


def test_a_title_sent_as_a_list_is_not_stored_as_json_text(app, env):
    api = Api(app, env["tokens"]["editor"])
    status, body = api.post("package_create", **{**fill(NEW_JDD, env), "name": "jdd-titre-liste", "title": ["A", "B"]})
    assert status == 409 and "texte" in body["error"]["title"][0]
    assert model.Package.get("jdd-titre-liste") is None


@pytest.mark.parametrize(
    "content, name",
    [
        (b"\x00\x01\x02\x03" * 1000, "binaire.csv"),
        (b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n", "document.csv"),
        (rows(2).replace("Myotis myotis", "Myotis\x00myotis").encode(), "nul.csv"),
        ("idOrigine;nomCite\n=cmd|' /C calc'!A0;\ud800\n".encode("utf-8", "surrogatepass"), "surrogate.csv"),
        (b"\xff\xfe" + "colonne\n".encode("utf-16-le") * 10, "utf16.csv"),
    ],
    ids=["binary", "pdf", "nul-in-a-cell", "lone-surrogate", "utf16"],
)
def test_a_hostile_deposit_is_refused_by_the_check_and_integrates_nothing(app, env, content, name):
    """Uploads: a deposit whose content is hostile is accepted for checking, then refused by the
    check in French; no occurrence is integrated and the worker does not fail."""
    before = counts()["sinp_occurrence"]
    api = Api(app, env["tokens"]["editor"])
    resource = upload(app, env["tokens"]["editor"], env["jdd_id"], content, name=name)
    try:
        report = wait_report(api, resource["id"])
        assert report["status"] in ("done", "error"), report
        assert report["rows_accepted"] in (0, None), report
        message = report["error_message"] or " ".join(e["message"] for e in report["errors"])
        assert_french(message, name)
        assert counts()["sinp_occurrence"] == before
    finally:
        api.ok("resource_delete", id=resource["id"])
