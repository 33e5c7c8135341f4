"""Scientific validation: the chefs de file page (sysadmin) and a JDD's validation page."""

from __future__ import annotations

import ckan.model as model
import ckan.plugins.toolkit as tk

from ckanext.sinp.domain import protection
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


def _validation_problem(form) -> str | None:
    """Why a validation form cannot be applied as it is: no level chosen, nothing ticked, or « all
    the observations of the filter » without the confirmation (the filter and the decision are two
    forms: filtering never validates)."""
    if not form.get("niv_val"):
        return "Choisissez le niveau de validation à enregistrer : rien n'a été modifié."
    if form.get("portee") == "filtre":
        if form.get("confirmation") != "oui":
            return (
                "Cochez la confirmation pour appliquer ce niveau à toutes les observations du filtre : "
                "rien n'a été modifié."
            )
    elif not form.getlist("ids"):
        return (
            "Cochez au moins une observation, ou choisissez « toutes les observations » et confirmez : "
            "rien n'a été modifié."
        )
    return None


def validation(id):
    """A chef de file validates the observations of a JDD inside its scope: the ticked ones, or all
    those of the filter after an explicit confirmation."""
    context = {"user": tk.g.user}
    try:  # first the record (an unknown JDD and one the caller may not read: the same 404), then the right
        pkg = tk.get_action("package_show")(dict(context), {"id": id})
        tk.check_access("sinp_validation_set", context, {})
    except tk.NotAuthorized:
        return tk.abort(403, "Seuls les chefs de file (dans leur périmètre) et les administrateurs valident.")
    except tk.ObjectNotFound:
        return tk.abort(404, "Jeu de données introuvable.")
    if tk.request.method == "POST":
        form = tk.request.form
        filters = {k: form[k] for k in VALIDATION_FILTERS if form.get(k)}
        problem = _validation_problem(form)
        if problem:
            tk.h.flash_error(problem)
            return tk.redirect_to("sinp.validation", id=id, **filters)
        data = {"jdd": pkg["id"], "niv_val": form["niv_val"], "commentaire": form.get("commentaire")}
        if form.get("portee") == "filtre":
            data.update(filters)
        else:
            data["ids"] = form.getlist("ids")
        try:
            done = tk.get_action("sinp_validation_set")(context, data)
            tk.h.flash_success(f"{done['updated']} observation(s) validée(s) « {done['label']} ».")
        except tk.ValidationError as err:
            tk.h.flash_error(_messages(err))
        except tk.NotAuthorized as err:
            tk.h.flash_error(str(err))
        return tk.redirect_to("sinp.validation", id=id, **filters)

    page = tk.get_action("sinp_occurrence_search")(
        context,
        {
            "jdd": pkg["id"],
            "limit": 200,
            **{k: v for k, v in tk.request.args.items() if k in VALIDATION_FILTERS and v},
        },
    )
    return tk.render(
        "sinp/validation.html",
        {"pkg": pkg, "page": page, "levels": protection.validation_levels(), "manual": protection.MANUAL_LEVELS},
    )


sinp.add_url_rule("/jdd/<id>/validation", view_func=validation, methods=["GET", "POST"])
sinp.add_url_rule("/ckan-admin/chefs-de-file", view_func=chefs_de_file, methods=["GET", "POST"])
