"""What the SINP records add to the Solr index: facets with French labels, actor names and the
names of the taxa the public may see in a JDD's data for full-text search, and the CA's period and
volets inherited by its JDD."""

from __future__ import annotations

import datetime as dt
import json
import logging

import ckan.model as model
import ckan.plugins as p
import sqlalchemy as sa
from ckan.lib.plugins import get_permission_labels

from ckanext.sinp.domain import model as sinp_model
from ckanext.sinp.domain import nomenclatures
from ckanext.sinp.logic import queries, visibility
from ckanext.sinp.logic.records import index_packages
from ckanext.sinp.occurrences import store
from ckanext.sinp.outbox import runner

log = logging.getLogger(__name__)

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


class _AsRecorded:
    """A package as it was when an activity recorded it private (or draft): what the permission
    labels plugins need (``get_dataset_labels``) of it."""

    def __init__(self, pkg, private: bool, state: str):
        self.id, self.type, self.owner_org, self.creator_user_id = pkg.id, pkg.type, pkg.owner_org, pkg.creator_user_id
        self.extras, self.private, self.state = pkg.extras, private, state


# the version an activity recorded, from its snapshot of the package (``data.package``)
_SNAPSHOT = "CAST(a.data AS jsonb) -> 'package'"
_PUBLIC_TIME = f"({_SNAPSHOT} ->> 'private' = 'false' AND {_SNAPSHOT} ->> 'state' = 'active')"
_PRIVATE_TIME = f"({_SNAPSHOT} ->> 'private' = 'true' AND {_SNAPSHOT} ->> 'state' = 'active')"


def relabel_activities(package_id: str) -> None:
    """ckanext-activity stores a dataset's permission labels on each activity when it is created,
    and filters every activity list and ``activity_show`` on them. Each time a record is indexed
    (every change of it), its activities get labels that follow what each version was:

    - a version recorded while the record was public and active gets the record's current labels
      (a record published then withdrawn hides its whole history);
    - a version recorded while it was private keeps labels that only those who could read it then
      match: its organisation's members, its creator, the chefs de file of its scope (a record
      created private with notes to clean, then published, does not publish its first version);
    - a draft or deleted version, or one without a snapshot: its organisation's members and creator."""

    pkg = model.Package.get(package_id)
    if pkg is None or not p.plugin_loaded("activity"):
        return
    labeller = get_permission_labels()
    current = sorted(labeller.get_dataset_labels(pkg))
    creator = [f"creator-{pkg.creator_user_id}"] if pkg.creator_user_id else []
    if pkg.state == "active" and pkg.private:  # what it is now is what it was while private
        private = sorted(set(current + creator))
    elif pkg.state == "active":
        private = sorted(set(labeller.get_dataset_labels(_AsRecorded(pkg, True, "active")) + creator))
    else:  # a draft or deleted record is read by its organisation only, whatever it was
        private = current
    hidden = sorted(set(labeller.get_dataset_labels(_AsRecorded(pkg, True, "draft")) + creator))
    with model.meta.engine.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE activity SET permission_labels = n.labels FROM ("
                f"  SELECT a.id, CASE WHEN {_PUBLIC_TIME} THEN CAST(:current AS text[])"
                f"                    WHEN {_PRIVATE_TIME} THEN CAST(:private AS text[])"
                "                     ELSE CAST(:hidden AS text[]) END AS labels"
                "  FROM activity a WHERE a.object_id = :id AND a.activity_type LIKE '%package') n "
                "WHERE activity.id = n.id AND activity.permission_labels IS DISTINCT FROM n.labels"
            ),
            {"current": current, "private": private, "hidden": hidden, "id": package_id},
        )


def public_taxon_names(package_id: str) -> list[str]:
    """The names (as cited, TAXREF scientific and vernacular names, valid name) of the taxa of a
    JDD's occurrences as the public sees them (``store.blurred`` for a visitor of the published
    JDD): a taxon whose presence is not diffused (public layer « aucune ») is not named. Read in
    the session's transaction: a deposit deleted with its resource is already gone."""
    conn = model.Session.connection()
    occurrences, taxref = conn.execute(
        sa.text("SELECT to_regclass('sinp_occurrence'), to_regclass('sinp_taxref')")
    ).one()
    if occurrences is None:
        return []
    sql, params = store.blurred(conn, store.Access(public_package_ids=[package_id]), package_ids=[package_id])
    columns, join = "s.nom_cite", ""
    if taxref is not None:
        columns += ", t.lb_nom, t.nom_vern, v.lb_nom, v.nom_vern"
        join = "LEFT JOIN sinp_taxref t ON t.cd_nom = s.cd_nom LEFT JOIN sinp_taxref v ON v.cd_nom = t.cd_ref"
    rows = conn.execute(
        sa.text(f"SELECT {columns} FROM (SELECT DISTINCT cd_nom, nom_cite FROM ({sql}) AS b) AS s {join}"), params
    )
    return sorted({name.strip() for row in rows for name in row if name and name.strip()})


def before_dataset_index(pkg_dict: dict) -> dict:
    if pkg_dict.get("id"):  # every dataset type: the history of a generic dataset is no less private
        relabel_activities(pkg_dict["id"])
    kind = pkg_dict.get("type")
    if kind not in sinp_model.KINDS:
        return pkg_dict
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
    if kind == "jdd" and pkg_dict.get("id"):  # copied to the text field: a JDD found by its taxa
        pkg_dict["extras_sinp_taxons"] = " ; ".join(public_taxon_names(pkg_dict["id"]))

    pkg_dict["vocab_sinp_type"] = [TYPE_FACET[kind]]
    pkg_dict["vocab_sinp_territoire"] = _labels("TERRITOIRE", record.get("territoires"))
    if kind == "ca":
        ca = record
    else:
        ca = visibility.ca_shown_with(record) or {}  # a public JDD never shows a private CA's period
        pkg_dict["vocab_sinp_type_donnees"] = _labels("DATA_TYP", record.get("type_donnees"))
        pkg_dict["vocab_sinp_objectif_jdd"] = _labels("JDD_OBJECTIFS", record.get("objectif_jdd"))
    pkg_dict["vocab_sinp_volet"] = _labels("VOLET_SINP", ca.get("volets_sinp"))
    pkg_dict["vocab_sinp_annee"] = _years(ca.get("date_lancement"), ca.get("date_cloture"))

    # lists of dicts cannot go to Solr as they are: keep them as JSON text
    for f in sinp_model.fields(kind):
        if (
            f.kind in ("actors", "publications", "protocols", "attributes")
            and f.name in pkg_dict
            and not isinstance(pkg_dict[f.name], str)
        ):
            pkg_dict[f.name] = json.dumps(pkg_dict[f.name], ensure_ascii=False)
    for key in ("objectifs", "volets_sinp", "territoires", "methodes_recueil", "cible_ecologique"):
        if isinstance(pkg_dict.get(key), list):
            pkg_dict[key] = json.dumps(pkg_dict[key])
    return pkg_dict


REINDEX_TASK = "reindex_jdd_of_ca"


def mark_children(pkg_dict: dict) -> None:
    """A JDD's index inherits its CA's period and volets when it may show them
    (``visibility.ca_shown_with``): after a change of a CA (its dates, its visibility), its JDD are
    reindexed once the transaction has committed (an outbox task, recorded in the transaction)."""
    if pkg_dict.get("type") == "ca" and pkg_dict.get("id"):
        runner.defer(REINDEX_TASK, pkg_dict["id"])


def register_tasks() -> None:
    runner.register(
        runner.Task(
            REINDEX_TASK,
            lambda items: reindex_jdd_of_ca([key for key, _ in items]),
            "Réindexation des JDD d'un cadre d'acquisition",
        )
    )


def reindex_jdd_of_ca(ca_ids: list[str]) -> int:
    """Reindexes the JDD (deleted ones aside) of the CA ``ca_ids`` (a background job)."""

    ids = []
    for ca_id in ca_ids:
        ca = model.Package.get(ca_id)
        uuid = (ca.extras or {}).get("sinp_uuid") if ca is not None else None
        ids += [p.id for p in queries.packages_by_extra(model, "cadre", uuid, "jdd")]
    if ids:
        index_packages(sorted(set(ids)))
    model.Session.remove()
    return len(ids)


def harvested_package_dict(package_dict: dict) -> dict:
    """ckanext-spatial's harvesters put the extent in the ``spatial`` extra; the generic
    ``dataset`` schema has a ``spatial`` field, and scheming refuses an extra with a field's name."""
    extras = package_dict.get("extras") or []
    for extra in list(extras):
        if extra.get("key") == "spatial":
            package_dict["spatial"] = extra.get("value")
            extras.remove(extra)
    return package_dict
