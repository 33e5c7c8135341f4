"""Occurrence deposits: QC report, error and rejected-row CSVs, attestation, re-run, template and column guide."""

from __future__ import annotations

import json

import ckan.model as model
import ckan.plugins.toolkit as tk
from flask import Response, send_file

from ckanext.sinp import jobs
from ckanext.sinp.domain import csvsafe, nomenclatures
from ckanext.sinp.domain.occtax import columns, engine, rules
from ckanext.sinp.logic import access, queries
from ckanext.sinp.logic.occurrence_actions import MAX_LIMIT, mask_locating
from ckanext.sinp.occurrences import receipt, store
from ckanext.sinp.views.blueprint import messages as _messages
from ckanext.sinp.views.blueprint import sinp

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
    """The report with its first errors (``limit`` 1000 at most; every error: erreurs.csv)."""
    report = _report(resource_id, limit=MAX_LIMIT)
    if not isinstance(report, dict):
        return report
    report["row_numbering"] = ROW_NUMBERING
    return Response(json.dumps(report, ensure_ascii=False), mimetype="application/json")


ROW_NUMBERING = "numéro de ligne dans le tableur : l'en-tête est la ligne 1, la première observation la ligne 2"


def deposit_errors_csv(id, resource_id):

    report = _report(resource_id, limit=0)
    if not isinstance(report, dict):
        return report
    producer = access.is_producer(access.user_of({"user": tk.g.user}), model.Package.get(report["package_id"]))

    def rows():
        offset = 0
        while True:
            with model.meta.engine.connect() as conn:
                page, _ = store.errors_page(conn, resource_id, offset, 5000)
            if not page:
                break
            for e in page:
                if not producer:
                    mask_locating(e)
                yield [
                    e["row"],
                    e["column"],
                    e["code"],
                    rules.CATEGORIES.get(e["category"], e["category"]),
                    "bloquant" if e["blocking"] else "avertissement",
                    e["message"],
                    e["value"],
                ]
            offset += len(page)

    return Response(
        csvsafe.stream(engine.ERRORS_CSV_HEADER, rows()),
        mimetype=csvsafe.MIMETYPE,
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
    # written by the QC engine in the platform's CSV dialect (csvsafe.duckdb_copy)
    return send_file(
        str(path), mimetype=csvsafe.MIMETYPE, as_attachment=True, download_name=f"lignes-refusees-{resource_id}.csv"
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
    return receipt.facts(deposit, jdd, ca, platform, _depositor(deposit.get("depositor"), jdd.get("owner_org"))), None


def _depositor(user_name: str | None, owner_org: str | None) -> str | None:
    """The depositor as the attestation names it: full name and organisation (the JDD's when the
    person is one of its members, else the first of theirs by title)."""
    user = model.User.get(user_name) if user_name else None
    if user is None:
        return None
    orgs = sorted(user.get_groups("organization"), key=lambda o: (o.id != owner_org, o.title or o.name))
    return receipt.depositor_text(user.fullname, user.name, orgs[0].title if orgs else None)


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
        columns.template_csv(),
        mimetype=csvsafe.MIMETYPE,
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
