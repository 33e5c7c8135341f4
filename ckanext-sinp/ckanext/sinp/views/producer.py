"""The producer's guided path: deposit page, explicit publication, dashboard lists, account request.

- ``/jdd/<id>/deposer``: the SINP deposit page (a CSV of occurrences, with the template and the
  column guide at hand); the upload is CKAN's ``resource_create`` (or ``resource_patch`` for a
  corrected file), whose hook queues the check; then the deposit report (live progress, report).
  CKAN's stock « new resource » form of a JDD leads there too (``?autre=1`` keeps it, for a
  document that is not a deposit).
- ``/ca|jdd/<id>/publication``: « Publier » / « Retirer la publication », said in words, confirmed,
  POST with CSRF; the decision is CKAN's ``package_patch`` (``private``) and its auth.
- ``/dataset/new``: not a SINP record, the producer is sent to ``/jdd/new``.
- ``/user/register`` when self-registration is off: how to ask for an account, not a 403.
"""

from __future__ import annotations

import ckan.model as model
import ckan.plugins.toolkit as tk
import sqlalchemy as sa
from flask import request
from werkzeug.datastructures import FileStorage

from ckanext.sinp.helpers import helper
from ckanext.sinp.logic import access
from ckanext.sinp.occurrences import store
from ckanext.sinp.views.blueprint import messages as _messages
from ckanext.sinp.views.blueprint import sinp

NOT_FOUND = {"ca": "Cadre d'acquisition introuvable.", "jdd": "Jeu de données introuvable."}

STATUS_LABELS = {
    "pending": "En attente du contrôle",
    "running": "Contrôle en cours",
    "done": "Contrôlé",
    "error": "Échec du contrôle",
    "interrupted": "Contrôle interrompu",
}


def _editable(dataset_type: str, id: str) -> dict:
    """The record for one who may edit it; « absent » and « forbidden » give the same 404."""
    context = {"user": tk.g.user}
    try:
        pkg = tk.get_action("package_show")(context, {"id": id})
        if pkg.get("type") != dataset_type:
            raise tk.ObjectNotFound()
        tk.check_access("package_update", context, {"id": pkg["id"]})
    except (tk.ObjectNotFound, tk.NotAuthorized):
        return tk.abort(404, NOT_FOUND[dataset_type])
    return pkg


# --- deposit -----------------------------------------------------------------------------------------


def _deposits_of(package_id: str) -> list[dict]:
    with model.meta.engine.connect() as conn:
        rows = conn.execute(
            sa.select(store.DEPOSIT)
            .where(store.DEPOSIT.c.package_id == package_id)
            .order_by(store.DEPOSIT.c.queued_at.desc())
        ).mappings()
        return [dict(r) for r in rows]


def deposit_new(id):
    pkg = _editable("jdd", id)
    if not isinstance(pkg, dict):
        return pkg
    resources = {r["id"]: r for r in pkg.get("resources", [])}
    deposits = [
        dict(d, resource=resources[d["resource_id"]]) for d in _deposits_of(pkg["id"]) if d["resource_id"] in resources
    ]
    replace_id = request.values.get("remplace") or ""
    replaced = next((d for d in deposits if d["resource_id"] == replace_id), None)
    if replace_id and replaced is None:
        return tk.abort(404, "Ce dépôt n'existe pas dans ce jeu de données.")
    extra = {"pkg": pkg, "deposits": deposits, "replaced": replaced, "status_labels": STATUS_LABELS, "error": None}
    if request.method == "GET":
        return tk.render("sinp/deposit_new.html", extra)

    upload = request.files.get("upload")
    if not isinstance(upload, FileStorage) or not upload.filename:
        extra["error"] = "Choisissez le fichier CSV de vos observations avant d'envoyer : rien n'a été déposé."
        return tk.render("sinp/deposit_new.html", extra), 400
    if not upload.filename.lower().endswith(".csv"):
        extra["error"] = (
            f"« {upload.filename} » n'est pas un fichier CSV : enregistrez votre tableau au format CSV "
            "(séparateur « ; », UTF-8), par exemple à partir du modèle. Rien n'a été déposé."
        )
        return tk.render("sinp/deposit_new.html", extra), 400
    name = (request.form.get("name") or "").strip() or upload.filename
    context = {"user": tk.g.user}
    try:
        if replaced is not None:
            resource = tk.get_action("resource_patch")(
                context, {"id": replaced["resource_id"], "upload": upload, "format": "CSV", "url_type": "upload"}
            )
        else:
            resource = tk.get_action("resource_create")(
                context,
                {"package_id": pkg["id"], "name": name[:200], "format": "CSV", "upload": upload, "url_type": "upload"},
            )
    except tk.NotAuthorized:
        return tk.abort(404, NOT_FOUND["jdd"])
    except tk.ValidationError as err:
        extra["error"] = f"{_messages(err)} Rien n'a été déposé."
        return tk.render("sinp/deposit_new.html", extra), 400
    tk.h.flash_success("Fichier reçu : son contrôle commence. Cette page se met à jour toute seule jusqu'au rapport.")
    return tk.redirect_to("sinp.deposit_report", id=pkg["name"], resource_id=resource["id"])


# --- publication -------------------------------------------------------------------------------------


def publication(dataset_type: str, id: str):
    pkg = _editable(dataset_type, id)
    if not isinstance(pkg, dict):
        return pkg
    extra = {"pkg": pkg, "dataset_type": dataset_type, "error": None}
    if request.method == "GET":
        return tk.render("sinp/publish.html", extra)
    decision = request.form.get("decision")
    if decision not in ("publier", "retirer"):
        extra["error"] = "Choisissez « Publier » ou « Retirer la publication » : rien n'a été modifié."
        return tk.render("sinp/publish.html", extra), 400
    try:
        tk.get_action("package_patch")({"user": tk.g.user}, {"id": pkg["id"], "private": decision == "retirer"})
    except tk.NotAuthorized:
        return tk.abort(404, NOT_FOUND[dataset_type])
    except tk.ValidationError as err:
        extra["error"] = f"{_messages(err)} Rien n'a été modifié."
        return tk.render("sinp/publish.html", extra), 400
    if decision == "publier":
        tk.h.flash_success("La fiche est publiée : le public la voit et IDéO BFC la moissonnera par le CSW.")
    else:
        tk.h.flash_success("La publication est retirée : la fiche n'est plus visible que de votre structure.")
    return tk.redirect_to(f"{dataset_type}.read", id=pkg["name"])


def ca_publication(id):
    return publication("ca", id)


def jdd_publication(id):
    return publication("jdd", id)


# --- the stock pages a SINP producer is not sent to --------------------------------------------------


@sinp.before_app_request
def producer_detours():
    endpoint = request.endpoint
    if endpoint == "dataset.new":
        return tk.redirect_to("jdd.new", **request.args.to_dict())
    if endpoint == "jdd_resource.new" and request.method == "GET" and not request.args.get("autre"):
        return tk.redirect_to("sinp.deposit_new", id=(request.view_args or {}).get("id"))
    if endpoint == "user.register":
        try:
            tk.check_access("user_create", {"user": tk.g.user})
        except tk.NotAuthorized:
            return tk.render("sinp/account_request.html", {"contact": tk.h.sinp_contact()})
    return None


# --- the producer's dashboard ------------------------------------------------------------------------


@helper
def sinp_my_records(limit: int = 20) -> dict:
    """The CA and JDD of the user's organisations (private ones included) and their latest deposits,
    for « Mes cadres, mes jeux de données, mes dépôts »: {"ca": [...], "jdd": [...], "deposits": [...]}."""

    user = access.user_of({"user": tk.g.user})
    orgs = access.user_org_ids(user)
    out = {"ca": [], "jdd": [], "deposits": [], "ca_count": 0, "jdd_count": 0}
    if not orgs:
        return out
    owners = " OR ".join(f'"{o}"' for o in orgs)
    for kind in ("ca", "jdd"):
        found = tk.get_action("package_search")(
            {"user": tk.g.user},
            {
                "fq": f"+dataset_type:{kind} +owner_org:({owners})",
                "include_private": True,
                "rows": limit,
                "sort": "metadata_modified desc",
            },
        )
        out[kind], out[f"{kind}_count"] = found["results"], found["count"]
    packages = {
        p.id: p
        for p in model.Session.query(model.Package).filter(
            model.Package.type == "jdd", model.Package.state == "active", model.Package.owner_org.in_(orgs)
        )
    }
    if not packages:
        return out
    with model.meta.engine.connect() as conn:
        rows = conn.execute(
            sa.select(store.DEPOSIT)
            .where(store.DEPOSIT.c.package_id.in_(list(packages)))
            .order_by(store.DEPOSIT.c.queued_at.desc())
            .limit(10)
        ).mappings()
        deposits = [dict(r) for r in rows]
    for d in deposits:
        resource = model.Resource.get(d["resource_id"])
        pkg = packages[d["package_id"]]
        d.update(
            package_name=pkg.name,
            package_title=pkg.title,
            resource_name=(resource.name if resource is not None else None) or d.get("file_name") or "",
            status_label=STATUS_LABELS.get(d["status"], d["status"]),
        )
    out["deposits"] = deposits
    return out


sinp.add_url_rule("/jdd/<id>/deposer", view_func=deposit_new, methods=["GET", "POST"])
sinp.add_url_rule("/jdd/<id>/publication", view_func=jdd_publication, methods=["GET", "POST"])
sinp.add_url_rule("/ca/<id>/publication", view_func=ca_publication, methods=["GET", "POST"])
