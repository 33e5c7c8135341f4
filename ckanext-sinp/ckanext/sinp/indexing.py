"""What the SINP records add to the Solr index: facets with French labels, actor names for
full-text search, and the CA's period and volets inherited by its JDD."""
from __future__ import annotations

import datetime as dt
import json

import ckan.model as model

from ckanext.sinp.domain import model as sinp_model
from ckanext.sinp.domain import nomenclatures
from ckanext.sinp.logic import queries

TYPE_FACET = {"ca": "Cadre d'acquisition", "jdd": "Jeu de données"}
ACTOR_FIELDS = ("acteurs", "contacts_jdd", "contact_plateforme", "contacts_base_production")


def _labels(nomenclature, codes):
    nom = nomenclatures.get(nomenclature)
    return [nom.label_of(str(c)) or str(c) for c in sinp_model.as_list(codes)]


def _years(start, end) -> list[str]:
    try:
        first = sinp_model.parse_date(start).year
    except (TypeError, ValueError):
        return []
    try:
        last = sinp_model.parse_date(end).year if end else dt.date.today().year
    except (TypeError, ValueError):
        last = first
    return [str(y) for y in range(first, max(first, last) + 1)][:200]


def relabel_activities(package_id: str) -> None:
    """ckanext-activity stores a dataset's permission labels on each activity when it is created:
    a record published then withdrawn (made private, draft) would keep its past activities public.
    Each time a record is indexed (every change of it), its activities get its current labels."""
    import ckan.plugins as p
    import sqlalchemy as sa
    from ckan.lib.plugins import get_permission_labels

    pkg = model.Package.get(package_id)
    if pkg is None or not p.plugin_loaded("activity"):
        return
    labels = sorted(get_permission_labels().get_dataset_labels(pkg))
    with model.meta.engine.begin() as conn:
        conn.execute(sa.text("UPDATE activity SET permission_labels = :labels WHERE object_id = :id "
                             "AND permission_labels IS DISTINCT FROM CAST(:labels AS text[])"),
                     {"labels": labels, "id": package_id})


def before_dataset_index(pkg_dict: dict) -> dict:
    kind = pkg_dict.get("type")
    if kind not in sinp_model.KINDS:
        return pkg_dict
    if pkg_dict.get("id"):
        relabel_activities(pkg_dict["id"])
    record = dict(pkg_dict)
    for key, value in list(pkg_dict.items()):
        if isinstance(value, str) and value.startswith(("[", "{")) and key in sinp_model.field_map(kind):
            try:
                record[key] = json.loads(value)
            except ValueError:
                pass

    names = []
    for name in ACTOR_FIELDS:
        for actor in sinp_model.as_list(record.get(name)):
            if isinstance(actor, dict):
                names += [actor.get("nom_prenom") or "", actor.get("organisme") or ""]
    pkg_dict["extras_sinp_acteurs"] = " ".join(n for n in names if n)

    pkg_dict["vocab_sinp_type"] = [TYPE_FACET[kind]]
    pkg_dict["vocab_sinp_territoire"] = _labels("TERRITOIRE", record.get("territoires"))
    if kind == "ca":
        ca = record
    else:
        ca = queries.extras_of_uuid(model, record.get("cadre"), "ca") or {}
        pkg_dict["vocab_sinp_type_donnees"] = _labels("DATA_TYP", record.get("type_donnees"))
        pkg_dict["vocab_sinp_objectif_jdd"] = _labels("JDD_OBJECTIFS", record.get("objectif_jdd"))
    pkg_dict["vocab_sinp_volet"] = _labels("VOLET_SINP", ca.get("volets_sinp"))
    pkg_dict["vocab_sinp_annee"] = _years(ca.get("date_lancement"), ca.get("date_cloture"))

    # lists of dicts cannot go to Solr as they are: keep them as JSON text
    for f in sinp_model.fields(kind):
        if f.kind in ("actors", "publications", "protocols", "attributes") and f.name in pkg_dict \
                and not isinstance(pkg_dict[f.name], str):
            pkg_dict[f.name] = json.dumps(pkg_dict[f.name], ensure_ascii=False)
    for key in ("objectifs", "volets_sinp", "territoires", "methodes_recueil", "cible_ecologique"):
        if isinstance(pkg_dict.get(key), list):
            pkg_dict[key] = json.dumps(pkg_dict[key])
    return pkg_dict


def harvested_package_dict(package_dict: dict) -> dict:
    """ckanext-spatial's harvesters put the extent in the ``spatial`` extra; the generic
    ``dataset`` schema has a ``spatial`` field, and scheming refuses an extra with a field's name."""
    extras = package_dict.get("extras") or []
    for extra in list(extras):
        if extra.get("key") == "spatial":
            package_dict["spatial"] = extra.get("value")
            extras.remove(extra)
    return package_dict
