"""Scientific validation: the chefs de file page (sysadmin) and a JDD's validation page."""

from __future__ import annotations

import re

import ckan.model as model
import ckan.plugins.toolkit as tk

from ckanext.sinp.domain import protection
from ckanext.sinp.domain.occtax import columns
from ckanext.sinp.logic import access as sinp_access
from ckanext.sinp.logic import protection_actions
from ckanext.sinp.occurrences import protection_store
from ckanext.sinp.views.blueprint import messages as _messages
from ckanext.sinp.views.blueprint import sinp


def chefs_de_file():
    """Sysadmins designate the chefs de file and their scopes."""
    context = {"user": tk.g.user}
    try:
        tk.check_access("sinp_chef_de_file_set", context, {})
    except tk.NotAuthorized:
        return tk.abort(403, "Seuls les administrateurs de la plateforme désignent les chefs de file.")
    if tk.request.method == "POST":
        form = tk.request.form
        try:
            if form.get("supprimer"):
                tk.get_action("sinp_chef_de_file_delete")(context, {"organization": form["supprimer"]})
                tk.h.flash_success("Chef de file retiré.")
            else:
                tk.get_action("sinp_chef_de_file_set")(
                    context,
                    {
                        "organization": form.get("organization"),
                        "groupes": form.getlist("groupes"),
                        "departements": form.get("departements", ""),
                    },
                )
                tk.h.flash_success("Chef de file enregistré.")
        except (tk.ValidationError, tk.ObjectNotFound) as err:
            msgs = err.error_dict.values() if isinstance(err, tk.ValidationError) else [[str(err)]]
            tk.h.flash_error(" ".join(str(m) for ms in msgs for m in ms))
        return tk.redirect_to("sinp.chefs_de_file")

    orgs = tk.get_action("organization_list")(context, {"all_fields": True})
    return tk.render(
        "sinp/chefs_de_file.html",
        {
            "chefs": tk.get_action("sinp_chef_de_file_list")(context, {}),
            "organizations": orgs,
            "groups": sorted(protection_store.known_groups(model.meta.engine)),
        },
    )


VALIDATION_FILTERS = ("cd_nom", "date_min", "date_max")
PAGE_SIZE = 200
UUID_LIKE = re.compile(r"[0-9A-Za-z-]{1,64}")
# what a row's ``niveauDiffusion`` code means, from the one table of restitution layers
LAYER_LABELS = {protection.LAYER_CODES[k]: label for k, label in protection.LAYER_LABELS.items()}


def _validation_problem(form) -> str | None:
    """Why a decision form cannot even be confirmed: no level chosen, or nothing ticked while the
    decision is for the ticked observations (the filter and the decision are two forms: filtering
    never validates; every decision is confirmed on a page naming its count and level)."""
    if not form.get("niv_val"):
        return "Choisissez le niveau de validation à enregistrer : rien n'a été modifié."
    if form.get("portee") not in ("cochees", "filtre"):
        return "Choisissez à quelles observations appliquer la décision : rien n'a été modifié."
    if form.get("portee") == "cochees" and not form.getlist("ids"):
        return (
            "Cochez au moins une observation, ou choisissez « toutes les observations du filtre » : "
            "rien n'a été modifié."
        )
    return None


def _jdd_for_validation(context, id):
    """The JDD (an unknown one and one the caller may not read: the same 404), then the right to
    validate; a French 404/403 page otherwise."""
    try:
        pkg = tk.get_action("package_show")(dict(context), {"id": id})
        tk.check_access("sinp_validation_set", context, {})
    except tk.NotAuthorized:
        return None, tk.abort(403, "Seuls les chefs de file (dans leur périmètre) et les administrateurs valident.")
    except tk.ObjectNotFound:
        return None, tk.abort(404, "Jeu de données introuvable.")
    return pkg, None


def _decision(form, pkg, filters) -> dict:
    data = {"jdd": pkg["id"], "niv_val": form["niv_val"], "commentaire": form.get("commentaire")}
    if form.get("portee") == "filtre":
        data.update(filters)
    else:
        data["ids"] = form.getlist("ids")
    return data


def _confirm(context, pkg, form, filters):
    """The page that names what the decision will do (« Valider 8 observations au niveau … ? »)
    before anything is written; nothing to change gives a French message instead."""
    data = _decision(form, pkg, filters)
    try:
        count = tk.get_action("sinp_validation_set")(context, {**data, "dry_run": True})
    except tk.ValidationError as err:
        tk.h.flash_error(_messages(err))
        return tk.redirect_to("sinp.validation", id=pkg["name"], **filters)
    except tk.NotAuthorized as err:
        tk.h.flash_error(str(err))
        return tk.redirect_to("sinp.validation", id=pkg["name"], **filters)
    if not count["count"]:
        tk.h.flash_error("Aucune observation de votre périmètre dans cette sélection : rien n'a été modifié.")
        return tk.redirect_to("sinp.validation", id=pkg["name"], **filters)
    return tk.render(
        "sinp/validation_confirm.html",
        {
            "pkg": pkg,
            "count": count["count"],
            "label": count["label"],
            "decision": data,
            "portee": form.get("portee"),
            "filters": filters,
            "organisme": protection_actions.validating_organisation(sinp_access.user_of(context)),
        },
    )


def _apply(context, pkg, form, filters):
    data = {**_decision(form, pkg, filters), "attendu": form.get("attendu")}
    try:
        done = tk.get_action("sinp_validation_set")(context, data)
        n = done["updated"]
        tk.h.flash_success(
            f"{tk.h.sinp_int(n)} observation{'s' if n > 1 else ''} validée{'s' if n > 1 else ''} au niveau "
            f"« {done['label']} » par {done['organisme']}. Le producteur en est notifié."
        )
    except tk.ValidationError as err:
        tk.h.flash_error(_messages(err))
    except tk.NotAuthorized as err:
        tk.h.flash_error(str(err))
    return tk.redirect_to("sinp.validation", id=pkg["name"], **filters)


def validation(id):
    """A chef de file validates the observations of a JDD inside its scope: the ticked ones, or all
    those of the filter; always after a confirmation that names the count and the level."""
    context = {"user": tk.g.user}
    pkg, refused = _jdd_for_validation(context, id)
    if refused is not None:
        return refused
    if tk.request.method == "POST":
        form = tk.request.form
        filters = {k: form[k] for k in VALIDATION_FILTERS if form.get(k)}
        problem = _validation_problem(form)
        if problem:
            tk.h.flash_error(problem)
            return tk.redirect_to("sinp.validation", id=pkg["name"], **filters)
        if form.get("etape") == "appliquer" and form.get("attendu"):  # only after the confirmation page
            return _apply(context, pkg, form, filters)
        return _confirm(context, pkg, form, filters)

    filters = {k: v for k, v in tk.request.args.items() if k in VALIDATION_FILTERS and v}
    try:
        page = tk.get_action("sinp_occurrence_search")(context, {"jdd": pkg["id"], "limit": PAGE_SIZE, **filters})
        modifiable = tk.get_action("sinp_validation_set")(context, {"jdd": pkg["id"], "dry_run": True, **filters})
    except tk.ValidationError as err:
        return tk.abort(400, f"Filtre incorrect : {_messages(err)}")
    return tk.render(
        "sinp/validation.html",
        {
            "pkg": pkg,
            "page": page,
            "filters": filters,
            "modifiable": modifiable["count"],
            "page_size": PAGE_SIZE,
            "levels": protection.validation_levels(),
            "manual": protection.MANUAL_LEVELS,
            "layers": LAYER_LABELS,
        },
    )


SHOWN_APART = {"idSINPOccTax", "nomCite", "cdNom", "dateDebut", "dateFin", "geometrie"}


def _described(props: dict) -> list[tuple[str, str]]:
    """The filled fields of an observation in the standard's order, labelled as in the column
    guide, coded values by their nomenclature label."""
    out = []
    for col in columns.store_columns():
        value = props.get(col.name)
        if col.name in SHOWN_APART or value in (None, ""):
            continue
        if col.nomenclature:
            value = tk.h.sinp_nomenclature_label(col.nomenclature, value)
        out.append((col.label, str(value)))
    return out


def validation_observation(id, obs):
    """One observation as its validator sees it (precise), with its validation history: who (the
    validating organisation and person), when, level, type, comment."""
    context = {"user": tk.g.user}
    pkg, refused = _jdd_for_validation(context, id)
    if refused is not None:
        return refused
    if not UUID_LIKE.fullmatch(obs or ""):
        return tk.abort(404, "Observation introuvable.")
    try:
        feature = protection_actions.observation_to_validate(context, pkg["id"], obs)
        history = tk.get_action("sinp_validation_history")(
            context, {"id_sinp_occtax": feature["properties"]["idSINPOccTax"]}
        )
    except (tk.ObjectNotFound, tk.NotAuthorized, tk.ValidationError):
        return tk.abort(404, "Observation introuvable.")  # absent and forbidden look alike
    props = feature["properties"]
    return tk.render(
        "sinp/validation_detail.html",
        {
            "pkg": pkg,
            "obs": props,
            "fields": _described(props),
            "geometry": feature["geometry"],
            "history": list(reversed(history)),  # newest first
            "levels": protection.validation_levels(),
            "layers": LAYER_LABELS,
        },
    )


sinp.add_url_rule("/jdd/<id>/validation", view_func=validation, methods=["GET", "POST"])
sinp.add_url_rule("/jdd/<id>/validation/<obs>", view_func=validation_observation)
sinp.add_url_rule("/ckan-admin/chefs-de-file", view_func=chefs_de_file, methods=["GET", "POST"])
