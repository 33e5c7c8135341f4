"""Pages and downloads of the SINP plugin."""

from __future__ import annotations

import csv
import io
import json

import ckan.model as model
import ckan.plugins.toolkit as tk
from flask import Blueprint, Response, send_file
from shapely.geometry import shape

from ckanext.sinp import jobs
from ckanext.sinp.domain import csvsafe, nomenclatures, protection
from ckanext.sinp.domain.occtax import columns, rules
from ckanext.sinp.guard import guard
from ckanext.sinp.logic import access, queries
from ckanext.sinp.logic.occurrence_actions import export_rows, mask_locating
from ckanext.sinp.occurrences import protection_store, receipt, store
from ckanext.sinp.outages import outages
from ckanext.sinp.visibility_views import visibility

sinp = Blueprint("sinp", __name__)


def _messages(err: tk.ValidationError) -> str:
    """The French messages of a validation error, as one line for a page or a flash."""
    return " ".join(str(m) for msgs in err.error_dict.values() for m in msgs)


def _xml_download(action, suffix, id):
    context = {"user": tk.g.user}
    try:
        xml = tk.get_action(action)(context, {"id": id})
    except (tk.ObjectNotFound, tk.NotAuthorized):
        return tk.abort(404, "Fiche introuvable.")
    except tk.ValidationError as err:
        return tk.abort(400, " ".join(str(m) for m in err.error_dict.get("id", [])))
    return Response(
        xml, mimetype="application/xml", headers={"Content-Disposition": f'inline; filename="{id}-{suffix}.xml"'}
    )


def mtd_xml(package_type, id):
    return _xml_download("sinp_mtd_export", "mtd", id)


def iso_xml(package_type, id):
    return _xml_download("sinp_iso_show", "iso19139", id)


for _type in ("ca", "jdd"):
    sinp.add_url_rule(
        f"/{_type}/<id>/mtd.xml", endpoint=f"{_type}_mtd_xml", view_func=mtd_xml, defaults={"package_type": _type}
    )
    sinp.add_url_rule(
        f"/{_type}/<id>/iso19139.xml", endpoint=f"{_type}_iso_xml", view_func=iso_xml, defaults={"package_type": _type}
    )


# --- occurrence deposits -----------------------------------------------------------------------------


def _report(resource_id, **params):
    context = {"user": tk.g.user}
    try:
        return tk.get_action("sinp_qc_report_show")(context, {"resource_id": resource_id, **params})
    except tk.ObjectNotFound:
        return tk.abort(404, "Aucun dépôt d'occurrences pour cette ressource.")
    except tk.NotAuthorized:
        return tk.abort(403, "Seuls le producteur du jeu de données et les administrateurs consultent ce rapport.")
    except tk.ValidationError as err:
        return tk.abort(400, _messages(err))


def deposit_report(id, resource_id):

    args = tk.request.args
    page = max(1, int(args.get("page", 1) or 1)) if str(args.get("page", "1")).isdigit() else 1
    per_page = 50
    filters = {k: args.get(k) for k in ("code", "column", "category") if args.get(k)}
    report = _report(resource_id, offset=(page - 1) * per_page, limit=per_page, **filters)
    if not isinstance(report, dict):
        return report
    pkg = tk.get_action("package_show")({"user": tk.g.user}, {"id": report["package_id"]})
    resource = next((r for r in pkg.get("resources", []) if r["id"] == resource_id), {})
    return tk.render(
        "sinp/deposit_report.html",
        {
            "report": report,
            "pkg": pkg,
            "resource": resource,
            "page": page,
            "per_page": per_page,
            "filters": filters,
            "rules": rules.BY_CODE,
            "categories": rules.CATEGORIES,
            "labels": {c.name: c.label for c in columns.columns()},
        },
    )


def deposit_report_json(id, resource_id):
    report = _report(resource_id, limit=0)
    if not isinstance(report, dict):
        return report
    return Response(json.dumps(report, ensure_ascii=False), mimetype="application/json")


def deposit_errors_csv(id, resource_id):

    report = _report(resource_id, limit=0)
    if not isinstance(report, dict):
        return report
    producer = access.is_producer(access.user_of({"user": tk.g.user}), model.Package.get(report["package_id"]))

    def rows():
        buf = io.StringIO()
        writer = csv.writer(buf, delimiter=";")
        writer.writerow(["ligne", "colonne", "code", "categorie", "gravite", "message", "valeur"])
        yield "\ufeff" + buf.getvalue()
        offset = 0
        while True:
            with model.meta.engine.connect() as conn:
                page, _ = store.errors_page(conn, resource_id, offset, 5000)
            if not page:
                break
            buf = io.StringIO()
            writer = csv.writer(buf, delimiter=";")
            for e in page:
                if not producer:
                    mask_locating(e)
                writer.writerow(
                    csvsafe.neutralise_row(
                        [
                            e["row"] or "",
                            e["column"] or "",
                            e["code"],
                            e["category"],
                            "bloquant" if e["blocking"] else "avertissement",
                            e["message"],
                            e["value"] or "",
                        ]
                    )
                )
            yield buf.getvalue()
            offset += len(page)

    return Response(
        rows(),
        mimetype="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="erreurs-{resource_id}.csv"'},
    )


def deposit_rejected_csv(id, resource_id):

    report = _report(resource_id, limit=0)
    if not isinstance(report, dict):
        return report
    if not access.is_producer(access.user_of({"user": tk.g.user}), model.Package.get(report["package_id"])):
        return tk.abort(
            403, "Les lignes refusées (avec leurs localisations) sont réservées au producteur et aux administrateurs."
        )
    path = jobs.reports_dir(resource_id) / "rejets.csv"
    if not path.exists():
        return tk.abort(404, "Aucune ligne refusée, ou contrôle pas encore terminé.")
    return send_file(
        str(path), mimetype="text/csv", as_attachment=True, download_name=f"lignes-refusees-{resource_id}.csv"
    )


RECEIPT_NOT_FOUND = "Attestation introuvable."


def _receipt(token):
    """The attestation at its random token; an unknown token and one the caller may not see give
    the same 404 (the sequential number is printed in the attestation, never in its URL)."""

    with model.meta.engine.connect() as conn:
        deposit = store.get_deposit_by_receipt_token(conn, token)
    if deposit is None or deposit["status"] != "done":
        return None, tk.abort(404, RECEIPT_NOT_FOUND)
    context = {"user": tk.g.user}
    try:
        tk.check_access("sinp_qc_report_show", context, {"id": deposit["package_id"]})
        jdd = tk.get_action("package_show")(context, {"id": deposit["package_id"]})
    except (tk.NotAuthorized, tk.ObjectNotFound):
        return None, tk.abort(404, RECEIPT_NOT_FOUND)
    ca = None
    if jdd.get("cadre"):
        found = queries.packages_by_extra(model, "sinp_uuid", jdd["cadre"], "ca")
        if found:
            ca = {"title": found[0].title, "sinp_uuid": jdd["cadre"]}
    platform = tk.config.get("ckan.site_title") or "Plateforme SINP"
    return receipt.facts(deposit, jdd, ca, platform), None


def receipt_pdf(token):

    facts, error = _receipt(token)
    if error is not None:
        return error
    return Response(
        receipt.render_pdf(facts),
        mimetype="application/pdf",
        headers={"Content-Disposition": f'inline; filename="attestation-{facts["number"]}.pdf"'},
    )


def receipt_html(token):
    facts, error = _receipt(token)
    if error is not None:
        return error
    return tk.render("sinp/receipt.html", {"facts": facts, "token": token})


def deposit_rerun(id, resource_id):
    try:
        tk.get_action("sinp_qc_run")({"user": tk.g.user}, {"resource_id": resource_id})
    except tk.NotAuthorized:
        return tk.abort(403, "Seuls le producteur du jeu de données et les administrateurs relancent un contrôle.")
    except (tk.ObjectNotFound, tk.ValidationError):
        return tk.abort(404, "Aucun dépôt d'occurrences pour cette ressource.")
    tk.h.flash_success("Le contrôle est relancé.")
    return tk.redirect_to("sinp.deposit_report", id=id, resource_id=resource_id)


def apply_extent(id):
    try:
        tk.get_action("sinp_jdd_apply_extent")({"user": tk.g.user}, {"jdd": id})
    except tk.NotAuthorized:
        return tk.abort(403, "Seul le producteur du jeu de données modifie ses métadonnées.")
    except tk.ObjectNotFound:
        return tk.abort(404, "Jeu de données introuvable.")
    except tk.ValidationError as err:
        tk.h.flash_error(_messages(err))
        return tk.redirect_to("jdd.read", id=id)
    tk.h.flash_success("L'emprise calculée à partir des occurrences est appliquée aux métadonnées du jeu de données.")
    return tk.redirect_to("jdd.read", id=id)


def deposit_template_csv():
    """The deposit template: the usual columns and one example row (every column: /depot/colonnes)."""

    return Response(
        "\ufeff" + columns.template_csv(),
        mimetype="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="modele-depot-occurrences.csv"'},
    )


def deposit_columns():

    cols = []
    for col in columns.columns():
        codes = []
        if col.nomenclature:
            codes = nomenclatures.get(col.nomenclature).choices()
        cols.append({"column": col, "codes": codes})
    return tk.render(
        "sinp/deposit_columns.html",
        {
            "columns": cols,
            "rules": rules.RULES,
            "categories": rules.CATEGORIES,
            "version": columns.version(),
            "ruleset": rules.RULESET_VERSION,
        },
    )


sinp.add_url_rule("/depot/modele.csv", view_func=deposit_template_csv)
sinp.add_url_rule("/depot/colonnes", view_func=deposit_columns)
sinp.add_url_rule("/jdd/<id>/depot/<resource_id>/relancer", view_func=deposit_rerun, methods=["POST"])
sinp.add_url_rule("/jdd/<id>/emprise-depuis-les-donnees", view_func=apply_extent, methods=["POST"])
sinp.add_url_rule("/jdd/<id>/depot/<resource_id>", view_func=deposit_report)
sinp.add_url_rule("/jdd/<id>/depot/<resource_id>/rapport.json", view_func=deposit_report_json)
sinp.add_url_rule("/jdd/<id>/depot/<resource_id>/erreurs.csv", view_func=deposit_errors_csv)
sinp.add_url_rule("/jdd/<id>/depot/<resource_id>/lignes-refusees.csv", view_func=deposit_rejected_csv)
sinp.add_url_rule("/depot/<token>/attestation.pdf", view_func=receipt_pdf)
sinp.add_url_rule("/depot/<token>/attestation", view_func=receipt_html)


# --- occurrences: exports, territory, chefs de file, validation ----------------------------------------


def _export(id, fmt):

    params = {k: v for k, v in tk.request.args.items() if k in ("bbox", "cd_nom", "date_min", "date_max")}
    try:
        pkg, total, features = export_rows({"user": tk.g.user}, {"jdd": id, **params})
    except tk.ObjectNotFound:
        return tk.abort(404, "Jeu de données introuvable.")
    except tk.NotAuthorized:
        return tk.abort(403, "Vous n'avez pas accès aux occurrences de ce jeu de données.")
    except tk.ValidationError as err:
        return tk.abort(400, _messages(err))
    name = f"occurrences-{pkg.name}"
    if fmt == "geojson":

        def chunks():
            yield '{"type": "FeatureCollection", "total": %d, "features": [' % total
            for i, feature in enumerate(features):
                yield ("," if i else "") + json.dumps(feature, ensure_ascii=False)
            yield "]}"

        return Response(
            chunks(),
            mimetype="application/geo+json",
            headers={"Content-Disposition": f'attachment; filename="{name}.geojson"'},
        )

    names = [c.name for c in columns.store_columns() if c.name != "geometrie"]
    extra = [
        "codeDepartement",
        "idSINPJdd",
        "nivVal",
        "statutValidation",
        "typVal",
        "echVal",
        "validateur",
        "dateCtrl",
        "sensiNiveau",
        "sensiDateAttribution",
        "sensiReferentiel",
        "sensiVersionReferentiel",
        "dEEFloutage",
        "niveauDiffusion",
    ]
    header = ["geometrie"] + names + [c for c in extra if c not in names]

    def rows():
        buf = io.StringIO()
        writer = csv.writer(buf, delimiter=";")
        writer.writerow(header)
        yield "\ufeff" + buf.getvalue()
        for feature in features:
            buf = io.StringIO()
            writer = csv.writer(buf, delimiter=";")
            props = feature["properties"]
            geom = shape(feature["geometry"]).wkt if feature["geometry"] else ""
            writer.writerow(
                csvsafe.neutralise_row([geom] + ["" if props.get(c) is None else props.get(c) for c in header[1:]])
            )
            yield buf.getvalue()

    return Response(
        rows(),
        mimetype="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


def export_csv(id):
    return _export(id, "csv")


def export_geojson(id):
    return _export(id, "geojson")


def territory():
    """ "Enjeux biodiversité sur un territoire de projet": draw or upload a polygon."""
    result, error, polygon = None, None, ""
    if tk.request.method == "POST":
        upload = tk.request.files.get("fichier")
        polygon = (
            upload.read(2_000_001).decode("utf-8", "replace")
            if upload and upload.filename
            else tk.request.form.get("polygone", "")
        )
        try:
            result = tk.get_action("sinp_territory_taxa")({"user": tk.g.user}, {"polygone": polygon})
        except tk.ValidationError as err:
            error = _messages(err)
    return tk.render("sinp/territory.html", {"result": result, "error": error, "polygon": polygon})


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


sinp.add_url_rule("/jdd/<id>/occurrences.csv", view_func=export_csv)
sinp.add_url_rule("/jdd/<id>/occurrences.geojson", view_func=export_geojson)
sinp.add_url_rule("/jdd/<id>/validation", view_func=validation, methods=["GET", "POST"])
sinp.add_url_rule("/territoire", view_func=territory, methods=["GET", "POST"])
sinp.add_url_rule("/ckan-admin/chefs-de-file", view_func=chefs_de_file, methods=["GET", "POST"])


def get_blueprints():

    return [sinp, guard, visibility, outages]  # guard: the request guard (NUL bytes, bad JSON, paging) of every request
