"""Actions of validation, sensitivity and diffusion:

- chefs de file: ``sinp_chef_de_file_set`` / ``_delete`` (sysadmins), ``sinp_chef_de_file_list``;
- validation: ``sinp_validation_set`` (one observation or a filtered selection, by a chef de file
  of the scope or a sysadmin), ``sinp_validation_history``, ``sinp_auto_validate``;
- sensitivity: ``sinp_sensitivity_rule_list``, ``sinp_sensitivity_set`` (manual decision);
- ``sinp_territory_taxa`` (taxa observed in a polygon, as the caller may see them);
- ``sinp_notification_list`` (what happened to the caller's organisations' data).
"""

from __future__ import annotations

import datetime as dt
import re

import ckan.model as model
import ckan.plugins.toolkit as tk
import sqlalchemy as sa

from ckanext.sinp import settings
from ckanext.sinp.domain import dates, geometry, protection
from ckanext.sinp.logic import access as sinp_access
from ckanext.sinp.logic import inputs, oracles
from ckanext.sinp.logic.records import index_packages, index_recorded, record_index_in
from ckanext.sinp.occurrences import aggregates, protection_store, store
from ckanext.sinp.referentials.common import get_referential_version


def _list(value, key: str = "ids") -> list[str]:
    return inputs.text_list(value, key)


def _reindex_private_jdd() -> None:
    """Chef de file scopes are permission labels of private records: reindex the private JDD holding
    occurrences and the private CA."""

    with model.meta.engine.connect() as conn:
        ids = protection_store.occurrence_package_ids(conn)
    private = [
        r[0]
        for r in model.Session.query(model.Package.id).filter(
            sa.or_(model.Package.id.in_(ids or [""]), model.Package.type == "ca"),
            model.Package.private.is_(True),
            model.Package.state == "active",
        )
    ]
    if private:
        index_packages(private)


# --- chefs de file --------------------------------------------------------------------------------


def sinp_chef_de_file_set(context, data_dict):
    """Makes an organisation a chef de file, or changes its scope (sysadmins).

    :param organization: id or name of the organisation
    :param groupes: GROUP2_INPN taxon groups (list or comma-separated), empty = all groups
    :param departements: INSEE codes of départements, empty = all
    """
    tk.check_access("sinp_chef_de_file_set", context, data_dict)
    org = model.Group.get(inputs.identifier(data_dict, "organization"))
    if org is None or not org.is_organization or org.state != "active":
        raise tk.ObjectNotFound("Organisation introuvable.")
    groupes, deps = _list(data_dict.get("groupes"), "groupes"), _list(data_dict.get("departements"), "departements")
    errors = {}
    known_groups = protection_store.known_groups(model.meta.engine)
    unknown = [g for g in groupes if known_groups and g not in known_groups]
    if unknown:
        errors["groupes"] = [
            f"Groupe(s) taxonomique(s) inconnu(s) du TAXREF chargé : {', '.join(unknown)} "
            f"(groupes connus : {', '.join(sorted(known_groups))})."
        ]
    bad = [d for d in deps if not re.match(r"^(\d{2}|2[AB]|97\d)$", d.upper())]
    if bad:
        errors["departements"] = [f"Code(s) de département invalide(s) : {', '.join(bad)} (ex. 21, 2A, 974)."]
    if errors:
        raise tk.ValidationError(errors)
    scope = protection.Scope(tuple(groupes), tuple(deps))
    with model.meta.engine.begin() as conn:
        protection_store.set_chef(conn, org.id, scope)
    _reindex_private_jdd()
    return {
        "organization": org.name,
        "organization_id": org.id,
        "title": org.title,
        "groupes": list(scope.groupes),
        "departements": list(scope.departements),
        "perimetre": scope.describe(),
    }


def sinp_chef_de_file_delete(context, data_dict):
    tk.check_access("sinp_chef_de_file_set", context, data_dict)
    org = model.Group.get(inputs.identifier(data_dict, "organization"))
    if org is None:
        raise tk.ObjectNotFound("Organisation introuvable.")
    with model.meta.engine.begin() as conn:
        protection_store.delete_chef(conn, org.id)
    _reindex_private_jdd()
    return {"organization": org.name, "deleted": True}


@tk.side_effect_free
def sinp_chef_de_file_list(context, data_dict):
    """The chefs de file and their scopes (public: who validates what is public information)."""
    tk.check_access("sinp_chef_de_file_list", context, data_dict)
    with model.meta.engine.connect() as conn:
        chefs = protection_store.chefs(conn)
    out = []
    for org_id, scope in chefs.items():
        org = model.Group.get(org_id)
        if org is None or org.state != "active":
            continue
        out.append(
            {
                "organization": org.name,
                "organization_id": org.id,
                "title": org.title,
                "groupes": list(scope.groupes),
                "departements": list(scope.departements),
                "perimetre": scope.describe(),
            }
        )
    return sorted(out, key=lambda c: c["title"] or c["organization"])


# --- validation ---------------------------------------------------------------------------------------


def _selected_jdd(context, ref):
    """The JDD a validation selection names. Unknown, and not readable by the caller (a private JDD
    for a chef de file out of its scope), give the same 404: the answer never names a record the
    caller may not read."""
    try:
        pkg = oracles.readable_jdd(context, ref)
        tk.check_access("sinp_occurrence_search", dict(context), {"id": pkg.id})
    except (tk.ObjectNotFound, tk.NotAuthorized):
        raise tk.ObjectNotFound("Jeu de données introuvable.")
    return pkg


def _selection(context, data_dict, user) -> tuple[str, dict, str]:
    """The SQL selection of a validation request and a French description of it."""
    params: dict = {}
    conds = []
    uuids = _list(data_dict.get("ids") or data_dict.get("id_sinp_occtax"))
    described = []
    if uuids:
        conds.append("upper(o.id_sinp_occtax) = ANY(:uuids)")
        params["uuids"] = [u.upper() for u in uuids]
        described.append(f"{len(uuids)} observation(s) désignée(s)")
    if data_dict.get("jdd"):
        pkg = _selected_jdd(context, data_dict["jdd"])
        conds.append("o.package_id = :pid")
        params["pid"] = pkg.id
        described.append(f"jeu de données « {pkg.title} »")
    if data_dict.get("cd_nom") not in (None, ""):
        params["cd_nom"] = inputs.integer(data_dict, "cd_nom", None)
        conds.append(
            "(o.cd_nom = :cd_nom OR o.cd_ref = (SELECT cd_ref FROM sinp_taxref WHERE cd_nom = :cd_nom))"
            if "sinp_taxref" in sa.inspect(model.meta.engine).get_table_names()
            else "o.cd_nom = :cd_nom"
        )
        described.append(f"taxon {params['cd_nom']}")
    bbox = inputs.bbox(data_dict.get("bbox"))
    if bbox:
        params.update(dict(zip(("w", "s", "e", "n"), bbox)))
        conds.append("ST_Intersects(o.geom, ST_MakeEnvelope(:w, :s, :e, :n, 4326))")
        described.append("emprise")
    for key, cond in (("date_min", "o.date_fin >= :date_min"), ("date_max", "o.date_debut <= :date_max")):
        value = inputs.date(data_dict, key)
        if value:
            params[key] = value
            conds.append(cond)
    if data_dict.get("niv_val_actuel") not in (None, ""):
        current = data_dict["niv_val_actuel"]
        params["current"] = (
            str(current) if type(current) is int else inputs.check_text(current, "niv_val_actuel", max_length=10)
        )
        conds.append("o.niv_val = :current")
    if not conds:
        raise tk.ValidationError({"ids": ["Désignez les observations (ids) ou un filtre (jdd, cd_nom, bbox, dates)."]})
    if not (context.get("ignore_auth") or user.sysadmin):
        scopes = list(sinp_access.chef_scopes(user).values())
        conds.append(protection_store.scope_sql(scopes, params))
        conds.append("o.package_id = ANY(:active_pids)")  # never a draft's observations
        params["active_pids"] = sinp_access.active_jdd_ids() or [""]
    return " AND ".join(conds), params, ", ".join(described)


def validating_organisation(user) -> str:
    """Who validates, as the history and the producer's notification name it: the chef de file
    structure(s) the user acts for; the platform for a sysadmin acting outside any."""
    if user is not None:
        scopes = sinp_access.chef_scopes(user)
        titles = sorted(g.title or g.name for g in user.get_groups("organization") if g.id in scopes)
        if titles:
            return ", ".join(titles)
    return "L'administration de la plateforme"


def sinp_validation_set(context, data_dict):
    """Records a manual validation decision (chef de file of the scope, or sysadmin) on one
    observation or on every observation of a filtered selection inside the caller's scope.

    :param ids: idSINPOccTax (one or a list), or filters: ``jdd``, ``cd_nom`` (and its synonyms),
        ``bbox``, ``date_min``, ``date_max``, ``niv_val_actuel`` (only those at this level)
    :param niv_val: 1 Certain – très probable, 2 Probable, 3 Douteux, 4 Invalide, 5 Non réalisable
    :param commentaire: comment (kept in the history)
    :param dry_run: only count what the decision would change (nothing is written; ``niv_val``
        may then be absent): {"count": n, "label"}
    :param attendu: the count the caller confirmed; when the selection no longer holds exactly
        that many observations nothing is changed (409): a decision never surprises
    :returns: {"updated": n, "niv_val", "label", "organisme", "packages": [...]}
    """
    tk.check_access("sinp_validation_set", context, data_dict)
    user = sinp_access.user_of(context)
    level = str(data_dict.get("niv_val") or "").strip()
    dry_run = data_dict.get("dry_run") in (True, "true", "1", "oui")
    if not (dry_run and not level) and level not in protection.MANUAL_LEVELS:
        raise tk.ValidationError(
            {
                "niv_val": [
                    "Niveau de validation attendu : 1 (Certain - très probable), "
                    "2 (Probable), 3 (Douteux), 4 (Invalide) ou 5 (Non réalisable)."
                ]
            }
        )
    comment = (inputs.text(data_dict, "commentaire", "", max_length=5000)).strip() or None
    where, params, described = _selection(context, data_dict, user)
    uuids = _list(data_dict.get("ids") or data_dict.get("id_sinp_occtax"))
    expected = inputs.integer(data_dict, "attendu", None, 0) if data_dict.get("attendu") not in (None, "") else None
    organisme = validating_organisation(user)
    validator = (user.fullname or user.name) if user else "Administrateur"
    with model.meta.engine.begin() as conn:
        found = protection_store.count_occurrences(conn, where, params)
        if uuids and found < len({u.upper() for u in uuids}):
            raise tk.NotAuthorized(
                "Certaines observations désignées n'existent pas ou sont hors de votre "
                "périmètre de chef de file : aucune n'a été modifiée."
            )
        if dry_run:
            return {
                "count": found,
                "niv_val": level or None,
                "label": protection.validation_label(level) if level else None,
            }
        if expected is not None and found != expected:
            raise tk.ValidationError(
                {
                    "attendu": [
                        f"La sélection compte maintenant {found} observation(s), et non les {expected} "
                        "que vous avez confirmées (des données ont changé entre-temps) : rien n'a été "
                        "modifié, vérifiez puis confirmez à nouveau."
                    ]
                }
            )
        changed = protection_store.validate(
            conn,
            where=f"{where}",
            params=params,
            level=level,
            validateur=validator,
            organisme=organisme,
            comment=comment,
        )
        by_package: dict[str, int] = {}
        for _, pid in changed:
            by_package[pid] = by_package.get(pid, 0) + 1
        label = protection.validation_label(level)
        when = dates.french_datetime(dt.datetime.now(dt.timezone.utc), settings.display_zone())
        for pid, n in by_package.items():
            pkg = model.Package.get(pid)
            protection_store.notify(
                conn,
                pkg.owner_org if pkg else None,
                pid,
                f"{organisme} a validé {n} observation{'s' if n > 1 else ''} du jeu de données "
                f"« {pkg.title if pkg else pid} » au niveau « {label} » le {when} ({validator})"
                + (f" : {comment}" if comment else "")
                + ".",
            )
    return {
        "updated": len(changed),
        "niv_val": level,
        "label": protection.validation_label(level),
        "organisme": organisme,
        "selection": described,
        "packages": sorted(by_package),
    }


def observation_to_validate(context, jdd_id: str, uuid: str) -> dict:
    """One observation of a JDD as the validation detail page shows it (a GeoJSON Feature, precise):
    only for a caller who reads it precisely (a chef de file of its scope, the producer, a
    sysadmin). Unknown, of another JDD, or seen blurred only: the same ObjectNotFound."""
    access = sinp_access.access_for(context, [jdd_id])
    with model.meta.engine.connect() as conn:
        _, rows = store.search(
            conn,
            access,
            package_ids=[jdd_id],
            limit=1,
            where="upper(o.id_sinp_occtax) = :u",
            extra={"u": (uuid or "").strip().upper()[:100]},
        )
    if not rows or not rows[0].get("full_access"):
        raise tk.ObjectNotFound("Observation introuvable.")
    return store.to_feature(rows[0])


@tk.side_effect_free
def sinp_validation_history(context, data_dict):
    """Every validation decision of an observation (who, when, level, type, scale, comment)."""
    uuid = inputs.identifier(data_dict, "id_sinp_occtax").upper()
    with model.meta.engine.connect() as conn:
        row = protection_store.occurrence_by_uuid(conn, uuid)
    if row is None:
        raise tk.ObjectNotFound("Observation introuvable.")
    # the history reveals who looked at the observation: same readers as the precise observation
    access = sinp_access.access_for(context, [row[0]])
    with model.meta.engine.connect() as conn:
        sql, params = store.blurred(
            conn, access, package_ids=[row[0]], where="upper(o.id_sinp_occtax) = :u", extra={"u": uuid}
        )
        visible = protection_store.full_access(conn, sql, params)
        if visible is None:
            raise tk.ObjectNotFound("Observation introuvable.")
        if not visible[0]:
            raise tk.NotAuthorized(
                "L'historique de validation est réservé au producteur, aux chefs de file du "
                "périmètre et aux administrateurs."
            )
        history = protection_store.history(conn, row[1])
    out = []
    for h in history:
        out.append(
            {
                "niv_val": h["niv_val"],
                "label": protection.validation_label(h["niv_val"]),
                "typ_val": h["typ_val"],
                "type": protection.VALIDATION_TYPES.get(h["typ_val"]),
                "ech_val": h["ech_val"],
                "echelle": protection.VALIDATION_SCALES.get(h["ech_val"]),
                "validateur": h["validateur"],
                "organisme": h["organisme"],
                "date_ctrl": h["date_ctrl"].isoformat(),
                "commentaire": h["comm_val"],
                "niv_val_precedent": h["previous_niv_val"],
            }
        )
    return out


def auto_options():
    return settings.auto_validation()


def sinp_auto_validate(context, data_dict):
    """Runs the automatic pre-validation again (sysadmins), on a JDD or everywhere: observations
    still "en attente" that pass every configured criterion get the configured level (type A).
    Manual decisions are never changed."""
    tk.check_access("sinp_auto_validate", context, data_dict)
    criteria, level = auto_options()
    where, params = "", {}
    if data_dict.get("jdd"):
        pkg = oracles.readable_jdd(context, data_dict["jdd"])
        where, params = "o.package_id = :pid", {"pid": pkg.id}
    with model.meta.engine.begin() as conn:
        n = protection_store.auto_validate(conn, criteria, level, where, params) if criteria else 0
    return {"updated": n, "criteria": list(criteria), "niv_val": level}


# --- sensitivity ---------------------------------------------------------------------------------------


@tk.side_effect_free
def sinp_sensitivity_rule_list(context, data_dict):
    """The loaded sensitivity referential (public: it says which taxa are protected, not where)."""
    tk.check_access("sinp_sensitivity_rule_list", context, data_dict)

    with model.meta.engine.connect() as conn:
        rules = protection_store.list_rules(conn)
        version = get_referential_version(conn, protection_store.REFERENTIAL_NAME)
    return {
        "version": (version or {}).get("version"),
        "loaded_at": version["loaded_at"].isoformat() if version else None,
        "rules": [
            {
                "cd_nom": r["cd_nom"],
                "nom": r.get("lb_nom") or r.get("nom_cite"),
                "niveau": r["niveau"],
                "duree": r["duree"],
                "departement": r["departement"],
                "date_min": r["date_min"],
                "date_max": r["date_max"],
                "statuts_bio": r["statuts_bio"],
                "comportements": r["comportements"],
                "autre": r["autre"],
                "liste": r["liste"],
            }
            for r in rules
        ],
    }


def sinp_sensitivity_set(context, data_dict):
    """Manual sensitivity decision on one observation (an alert's answer): chef de file of the
    scope or sysadmin. It is kept when the referential changes.

    :param id_sinp_occtax: the observation
    :param sensi_niveau: 0–4
    :param commentaire: why
    """
    tk.check_access("sinp_validation_set", context, data_dict)
    user = sinp_access.user_of(context)
    level = str(data_dict.get("sensi_niveau", "")).strip()
    if level not in ("0", "1", "2", "3", "4"):
        raise tk.ValidationError({"sensi_niveau": ["Niveau de sensibilité attendu : 0 à 4."]})
    uuid = inputs.identifier(data_dict, "id_sinp_occtax").upper()
    comment = inputs.text(data_dict, "commentaire", "", max_length=5000).strip()
    params = {"u": uuid, "level": level, "ref": f"Décision manuelle : {comment or 'sans commentaire'}"}
    where = "upper(o.id_sinp_occtax) = :u"
    if not (context.get("ignore_auth") or user.sysadmin):
        where += " AND " + protection_store.scope_sql(list(sinp_access.chef_scopes(user).values()), params)
        where += " AND o.package_id = ANY(:active_pids)"
        params["active_pids"] = sinp_access.active_jdd_ids() or [""]
    with model.meta.engine.begin() as conn:
        done = protection_store.set_sensitivity(conn, where, params)
        if not done:
            raise tk.NotAuthorized("Observation introuvable ou hors de votre périmètre de chef de file.")
        protection_store.update_public_layer(conn, "o.id = :id", {"id": done[0]})
        # the JDD's search entry holds the names of the taxa the public may see: it follows the decision
        jdd = conn.execute(sa.text("SELECT package_id FROM sinp_occurrence WHERE id = :id"), {"id": done[0]}).scalar()
        tasks = record_index_in(conn, [jdd])
    index_recorded(tasks)
    return {"id_sinp_occtax": uuid, "sensi_niveau": level}


# --- territory service -------------------------------------------------------------------------------------


def _polygon_wkt(value) -> str:
    """A polygon given as GeoJSON or WKT in WGS 84 (``geometry.parse_polygon``), clipped to the
    region (``geometry.clip_to_bbox``), as WKT; a French 409 on ``polygone`` otherwise."""
    try:
        with model.meta.engine.connect() as conn:
            region = protection_store.region_bbox(conn)
        return geometry.clip_to_bbox(geometry.parse_polygon(value), region).wkt
    except geometry.GeometryError as err:
        raise tk.ValidationError({"polygone": [str(err)]})


@tk.side_effect_free
def sinp_territory_taxa(context, data_dict):
    """Biodiversity stakes of a project area: the taxa observed in a polygon, with counts, last
    year seen, validation levels and protection/sensitivity flags, as the caller may see them (a
    blurred observation is counted when its blurred area meets the polygon; the count of such
    observations is given apart).

    :param polygone: GeoJSON (geometry / Feature / FeatureCollection) or WKT, WGS 84
    :returns: {"taxa": [...], "total_observations", "observations_floutees", "polygone_aire_km2"}
    """
    tk.check_access("sinp_territory_taxa", context, data_dict)
    wkt = _polygon_wkt(data_dict.get("polygone") or data_dict.get("polygon"))
    access = sinp_access.access_for(context, None)
    with model.meta.engine.connect() as conn:
        aggregates.without_jit(conn)  # #20: JIT compilation was most of the time of /territoire
        sql, params = store.blurred(conn, access, package_ids=None, polygon_wkt=wkt)
        rows, sensitive_taxa, area, levels = protection_store.territory_taxa(conn, sql, params, wkt)
    taxa = []
    for r in rows:
        taxa.append(
            {
                "cd_ref": r["cd_ref"],
                "nom": r["nom"],
                "nom_vern": r["nom_vern"],
                "groupe": r["groupe"],
                "observations": r["observations"],
                "derniere_annee": r["derniere_annee"],
                "validees": r["validees"],
                "niveaux_validation": sorted(r["niveaux_presents"] or []),
                "sensible": r["cd_ref"] in sensitive_taxa or (r["sensibilite_max"] or 0) > 0,
                "observations_floutees": r["floutees"],
            }
        )
    return {
        "taxa": taxa,
        "total_observations": sum(t["observations"] for t in taxa),
        "observations_floutees": sum(t["observations_floutees"] for t in taxa),
        "validation": [
            {"code": c, "label": protection.validation_label(c), "count": n} for c, n in sorted(levels.items())
        ],
        "polygone_aire_km2": round(area or 0, 3),
    }


# --- notifications -------------------------------------------------------------------------------------------


@tk.side_effect_free
def sinp_notification_list(context, data_dict):
    """Notifications for the caller's organisations (validation of their data), newest first."""
    user = sinp_access.user_of(context)
    if user is None:
        raise tk.NotAuthorized("Connectez-vous pour voir vos notifications.")
    with model.meta.engine.connect() as conn:
        rows = protection_store.notifications(
            conn, sinp_access.user_org_ids(user), inputs.integer(data_dict, "limit", 50, 1, 500)
        )
    return [{"message": r["message"], "package_id": r["package_id"], "created": r["created"].isoformat()} for r in rows]
