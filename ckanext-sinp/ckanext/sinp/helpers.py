"""Template helpers (names prefixed ``sinp_``; ``humanize_entity_type`` chains CKAN's own)."""

from __future__ import annotations

import ckan.model as model
import ckan.plugins.toolkit as tk
from ckan.lib.search.common import SearchError
from markupsafe import escape
from sqlalchemy.exc import SQLAlchemyError

from ckanext.sinp import form_helpers, settings
from ckanext.sinp.domain import dates, iso, nomenclatures
from ckanext.sinp.domain import model as sinp_model
from ckanext.sinp.logic import access
from ckanext.sinp.occurrences import protection_store, store

all_helpers = {}


def helper(func):
    all_helpers[func.__name__] = func
    return func


def _nomenclature_of(field) -> str | None:
    return (field.get("sinp") or {}).get("nomenclature")


@helper
def sinp_nomenclature_choices(field):
    """Choices of a coded field: the active values of its nomenclature, labelled « code – label »."""
    name = _nomenclature_of(field)
    if not name:
        return []
    return [{"value": c["value"], "label": c["label"]} for c in nomenclatures.get(name).choices()]


@helper
def sinp_nomenclature_label(nomenclature: str, code) -> str:
    if code in (None, ""):
        return ""
    label = nomenclatures.get(nomenclature).label_of(str(code))
    return label or str(code)


@helper
def sinp_ca_choices(field):
    """The cadres d'acquisition the current user may attach a JDD to: first an empty choice (the
    form never pre-selects a CA), then the CA of the user's own structures, then the others they
    may read, each named with its structure."""
    user = tk.g.user if tk.g else None
    try:
        result = tk.get_action("package_search")(
            {"user": user},
            {"fq": "dataset_type:ca", "include_private": True, "rows": 1000, "sort": "title_string asc"},
        )
        own = (
            {
                o["id"]
                for o in tk.get_action("organization_list_for_user")({"user": user}, {"permission": "create_dataset"})
            }
            if user
            else set()
        )
    except Exception:  # pragma: no cover - the form still renders, validation will explain
        return [{"value": "", "label": "— Choisir un cadre d'acquisition —"}]
    cas = [d for d in result["results"] if d.get("sinp_uuid")]
    mine = [{"value": d["sinp_uuid"], "label": d.get("title")} for d in cas if d.get("owner_org") in own]
    others = [
        {
            "value": d["sinp_uuid"],
            "label": f"{d.get('title')} — {(d.get('organization') or {}).get('title') or ''}".rstrip(" —"),
        }
        for d in cas
        if d.get("owner_org") not in own
    ]
    return [{"value": "", "label": "— Choisir un cadre d'acquisition —"}, *mine, *others]


@helper
def sinp_origin(pkg_dict: dict) -> dict | None:
    """« Origine de la fiche » of a harvested CA/JDD (``domain.iso.origin_view``), None otherwise."""
    return iso.origin_view(pkg_dict.get(iso.ORIGIN_FIELD), settings.resource_url_schemes())


@helper
def sinp_completeness(pkg_dict: dict) -> dict | None:
    kind = pkg_dict.get("type")
    if kind not in sinp_model.KINDS:
        return None
    return sinp_model.completeness(kind, pkg_dict)


@helper
def sinp_completeness_fields(dataset_type: str) -> list[dict]:
    """The fields the completeness counts (obligation O or R of the standard), for the live
    indicator of the form: [{"name", "label", "required", "repeating"}]."""
    if dataset_type not in sinp_model.KINDS:
        return []
    return [
        {
            "name": f.name,
            "label": f.label,
            "required": f.required,
            "repeating": bool(f.subfields),
            # filled by the platform when left empty (UUID, creation date): never « à compléter »
            "auto": f.name == "sinp_uuid" or f.default == "today",
        }
        for f in sinp_model.fields(dataset_type)
        if f.obligation in ("O", "R")
    ]


@helper
def sinp_ca_of(pkg_dict: dict) -> dict | None:
    """The CA of a JDD (None if the user may not see it)."""
    uuid = pkg_dict.get("cadre")
    if not uuid:
        return None
    result = tk.get_action("package_search")(
        {"user": tk.g.user if tk.g else None},
        {"fq": f'dataset_type:ca AND sinp_uuid:"{uuid}"', "include_private": True, "rows": 1},
    )
    return result["results"][0] if result["results"] else None


@helper
def sinp_jdd_of(pkg_dict: dict, rows: int = 1000) -> dict:
    """The JDD of a CA that the user may see: {"count": n, "results": [...]}."""
    uuid = pkg_dict.get("sinp_uuid")
    if not uuid:
        return {"count": 0, "results": []}
    return tk.get_action("package_search")(
        {"user": tk.g.user if tk.g else None},
        {
            "fq": f'dataset_type:jdd AND cadre:"{uuid}"',
            "include_private": True,
            "rows": rows,
            "sort": "title_string asc",
        },
    )


@helper
def sinp_int(value) -> str:
    """12 345 (French thousands separator)."""
    if value is None:
        return "—"
    return f"{int(value):,}".replace(",", "\u202f")


def _may_edit(package_id: str) -> bool:
    try:
        tk.check_access("package_update", {"user": tk.g.user}, {"id": package_id})
        return True
    except (tk.NotAuthorized, tk.ObjectNotFound):
        return False


@helper
def sinp_deposit_for(resource_id: str) -> dict | None:
    """The occurrence deposit of a resource, for those who may see it (producers, admins)."""

    with model.meta.engine.connect() as conn:
        deposit = store.get_deposit(conn, resource_id)
    if deposit is None or not _may_edit(deposit["package_id"]):
        return None
    return deposit


@helper
def sinp_occurrence_stats(pkg_dict: dict) -> dict | None:
    """Counts, dates, extent, taxon groups and validation of a JDD's occurrences, as the visitor
    may see them (blurred for the public); ``may_edit``: the producer (may apply the extent)."""
    if pkg_dict.get("type") != "jdd":
        return None
    try:
        stats = tk.get_action("sinp_occurrence_stats")({"user": tk.g.user}, {"jdd": pkg_dict["id"]})
    except (tk.NotAuthorized, tk.ObjectNotFound):
        return None
    if not stats.get("count"):
        return None
    stats["may_edit"] = _may_edit(pkg_dict["id"])
    try:
        tk.check_access("sinp_validation_set", {"user": tk.g.user}, {})
        stats["may_validate"] = True
    except tk.NotAuthorized:
        stats["may_validate"] = False
    return stats


@helper
def sinp_notifications(pkg_dict: dict, limit: int = 10) -> list[dict]:
    """The latest notifications about a JDD, for its producer."""
    try:
        notes = tk.get_action("sinp_notification_list")({"user": tk.g.user}, {"limit": 200})
    except tk.NotAuthorized:
        return []
    return [n for n in notes if n["package_id"] == pkg_dict.get("id")][:limit]


# --- dataset type labels: « Nouveau cadre d'acquisition », not CKAN's « Add Ca » ------------------------

TYPE_NOUNS = {"ca": ("cadre d'acquisition", "cadres d'acquisition"), "jdd": ("jeu de données", "jeux de données")}

# CKAN's purposes (ckan.lib.helpers.humanize_entity_type); {s}: singular, {p}: plural, {P}: plural capitalised
TYPE_LABELS = {
    "add link": "Nouveau {s}",
    "add association link": "Ajouter à un {s}",
    "breadcrumb": "{P}",
    "content tab": "{P}",
    "create label": "Nouveau {s}",
    "create title": "Nouveau {s}",
    "delete confirmation": "Voulez-vous vraiment supprimer ce {s} ?",
    "description placeholder": "Quelques mots sur ce {s}…",
    "edit label": "Modifier le {s}",
    "facet label": "{P}",
    "form label": "Formulaire du {s}",
    "main nav": "{P}",
    "my label": "Mes {p}",
    "view label": "Voir le {s}",
    "name placeholder": "Mon {s}",
    "no any objects": "Aucun {s} pour le moment.",
    "no associated label": "Aucun {s} associé.",
    "no description": "Ce {s} n'a pas de description.",
    "no label": "Aucun {s}",
    "page title": "{P}",
    "save label": "Enregistrer le {s}",
    "search placeholder": "Rechercher des {p}…",
    "you not member": "Vous n'êtes membre d'aucun {s}.",
    "user not member": "Cet utilisateur n'est membre d'aucun {s}.",
    "update label": "Enregistrer le {s}",
    "activity_record": "le {s}",  # « Léa Martin a modifié le jeu de données … »
}


def type_label(dataset_type: str, purpose: str) -> str:
    """The French label of a SINP dataset type for one of CKAN's purposes (« Nouveau jeu de données »)."""
    singular, plural = TYPE_NOUNS[dataset_type]
    template = TYPE_LABELS.get(purpose, "{S}")
    return template.format(
        s=singular, p=plural, S=singular[:1].upper() + singular[1:], P=plural[:1].upper() + plural[1:]
    )


@helper
@tk.chained_helper
def humanize_entity_type(next_helper, entity_type: str, object_type: str, purpose: str):
    """CKAN's labels of a dataset type (« Add Ca », « Search Jdds… »), in French for the SINP types."""
    if entity_type == "package" and object_type in TYPE_NOUNS:
        return type_label(object_type, purpose)
    return next_helper(entity_type, object_type, purpose)


@helper
@tk.chained_helper
def linked_user(next_helper, user, maxlength: int = 0, avatar: int = 20):
    """CKAN's link to a user's page (activity lines, members), only for who may read that page: others
    get the name alone, not a link to a 403."""
    user_obj = user if isinstance(user, model.User) else model.User.get(str(user))
    if user_obj is not None and not tk.h.check_access("user_show", {"id": user_obj.id}):
        name = user_obj.display_name
        return escape(name[:maxlength] + "…" if maxlength and len(name) > maxlength else name)  # lines are |safe
    return next_helper(user, maxlength, avatar)


@helper
@tk.chained_helper
def render_datetime(next_helper, datetime_, date_format=None, with_hours=False, with_seconds=False):
    """CKAN's dates (activity, resources, tokens, records) in French: « 1er décembre 2026 à 14 h 05 »,
    not CKAN's « décembre 1, 2026, 13:05 (UTC) »; an explicit format or another language: CKAN's."""
    if not date_format and tk.h.lang() == "fr":
        text = sinp_datetime(datetime_) if with_hours or with_seconds else sinp_date(datetime_)
        if text:
            return text
    return next_helper(datetime_, date_format, with_hours, with_seconds)


# --- home page -------------------------------------------------------------------------------------


@helper
def sinp_portal_figures() -> dict:
    """Public figures of the catalogue for the home page, the same for every visitor (published
    records only, whoever asks): CA, JDD, producer structures and the observations the public may see
    (published JDD, not hidden). ``available`` is False when the search index does not answer: the page
    still renders and says the figures are momentarily unavailable (never a false zero)."""
    out = {"available": True, "ca": 0, "jdd": 0, "producers": 0, "observations": None}
    try:
        result = tk.get_action("package_search")(
            {"user": tk.g.user if tk.g else None},
            {
                "fq": "dataset_type:(ca OR jdd)",
                "include_private": False,
                "rows": 0,
                "facet.field": '["dataset_type", "organization"]',
                "facet.limit": -1,
            },
        )
    except (SearchError, tk.ValidationError):  # Solr down or refusing: the home page still renders
        out["available"] = False
        return out
    facets = result.get("facets") or {}
    types = facets.get("dataset_type") or {}
    out["ca"], out["jdd"] = types.get("ca", 0), types.get("jdd", 0)
    out["producers"] = len([n for n in (facets.get("organization") or {}).values() if n])
    try:
        with model.meta.engine.connect() as conn:
            out["observations"] = store.published_count(conn, access.active_jdd_ids(published=True))
    except SQLAlchemyError:  # the store unreadable (or not created yet): the figure is not shown
        out["observations"] = None
    return out


@helper
def sinp_recent_records(limit: int = 5) -> list[dict]:
    """The latest published CA and JDD (public records only, whoever asks)."""
    try:
        result = tk.get_action("package_search")(
            {"user": tk.g.user if tk.g else None},
            {
                "fq": "dataset_type:(ca OR jdd)",
                "include_private": False,
                "rows": limit,
                "sort": "metadata_modified desc",
            },
        )
    except (SearchError, tk.ValidationError):  # Solr down: the section is not shown
        return []
    return result["results"]


@helper
def sinp_csw_capabilities_url() -> str:
    """The CSW GetCapabilities request that harvesters start with (the configured public CSW URL)."""
    url = settings.csw_url() or ""
    return f"{url}{'&' if '?' in url else '?'}service=CSW&version=2.0.2&request=GetCapabilities" if url else ""


@helper
def sinp_contact() -> dict:
    """The platform's contact (the metadata point of contact of the CSW records): {"name", "email"}."""
    return settings.csw_contact()


@helper
def sinp_region_extent() -> str:
    """The platform's territory as the maps' starting view: « [[sud, ouest], [nord, est]] » (JSON)."""
    with model.meta.engine.connect() as conn:
        west, south, east, north = protection_store.region_bbox(conn)
    return f"[[{south:.4f}, {west:.4f}], [{north:.4f}, {east:.4f}]]"


@helper
def sinp_datetime(value) -> str:
    """« 1er décembre 2026 à 14 h 05 » (CKAN's own gives « décembre 1, 2026 »)."""
    return dates.french_datetime(value, settings.display_zone())


@helper
def sinp_date(value) -> str:
    """« 1er décembre 2026 »."""
    return dates.french_date(value)


def get_helpers():
    return {**all_helpers, **form_helpers.all_helpers}
