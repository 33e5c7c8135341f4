"""Actions ``sinp_mtd_import`` and ``sinp_mtd_export``: INPN MTD XML in and out.

The mapping itself is ckanext.sinp.domain.mtd (pure); this module only resolves records against
the catalogue, checks rights and writes through CKAN's own actions, all in one transaction.
"""

from __future__ import annotations

import logging

import ckan.plugins.toolkit as tk

from ckanext.sinp.domain import mtd
from ckanext.sinp.logic import inputs, oracles, queries
from ckanext.sinp.logic import records as writer
from ckanext.sinp.logic.validators import READABLE_CA_CACHE

log = logging.getLogger(__name__)

MAX_BYTES = 50 * 1024 * 1024


def _read_input(data_dict) -> bytes:
    upload = data_dict.get("upload")
    if upload is not None and hasattr(upload, "read"):
        data = upload.read(MAX_BYTES + 1)
        if len(data) > MAX_BYTES:
            raise tk.ValidationError({"upload": [f"Le document dépasse {MAX_BYTES // (1024 * 1024)} Mo."]})
        return data
    text = data_dict.get("xml")
    if not text:
        raise tk.ValidationError(
            {"xml": ["Fournissez le document MTD : paramètre « xml » (texte) ou fichier « upload »."]}
        )
    if not isinstance(text, (str, bytes)):
        raise tk.ValidationError(
            {"xml": [f"« xml » doit être le texte du document MTD, pas {inputs.type_name(text)}."]}
        )
    return text.encode("utf-8") if isinstance(text, str) else text


def sinp_mtd_import(context, data_dict):
    """Imports the CA and JDD of one INPN MTD XML document into ``owner_org``.

    :param xml: the document as text (or ``upload``: the document as a file)
    :param owner_org: the producer structure (organisation id or name) the records belong to
    :returns: ``{"records": [{"id", "uuid", "type", "action": "created"|"updated"}], "errors": [],
        "warnings": [...]}`` (warnings: keywords that CKAN's tag rules made us rewrite)

    A record is matched by its SINP UUID: importing the same document twice creates nothing.
    The document is refused as a whole (HTTP 409, French messages naming the record and the
    field) if any record is invalid; nothing is stored then.
    """
    owner_org = inputs.identifier(data_dict, "owner_org")
    tk.check_access("sinp_mtd_import", context, data_dict)
    model = context["model"]
    raw = _read_input(data_dict)
    try:
        records = mtd.parse_document(raw, max_bytes=MAX_BYTES)
    except mtd.MtdError as err:
        raise tk.ValidationError({"xml": [str(err)]})
    messages = mtd.validate_records(records)
    for uuid, users in sorted(mtd.missing_references(records).items()):
        # a CA the caller may not read is reported as an unknown one (no existence oracle)
        if any(oracles.may_read(context, ca.id) for ca in queries.packages_by_extra(model, "sinp_uuid", uuid, "ca")):
            continue
        for rec, field in users:
            role = "méta-cadre parent" if field.name == "meta_cadre_parent" else "cadre d'acquisition"
            messages.append(
                f"{rec.label} — {field.label} : le {role} {uuid} n'est ni dans le document "
                "ni dans le catalogue (parmi les fiches que vous pouvez consulter)."
            )
    if messages:
        raise tk.ValidationError({"xml": messages})

    org = model.Group.get(owner_org)
    if org is None:
        raise tk.ValidationError({"owner_org": [f"Structure productrice inconnue : {owner_org}."]})

    results, touched, warnings = [], [], []
    for rec in records:
        warnings += writer.clean_keywords(rec.record, rec.label)
    stored = queries.packages_by_uuid(model, [rec.uuid for rec in records])
    readable_ca = {}  # shared by the records' validation (same user, same transaction)
    try:
        for rec in records:
            existing = stored.get(rec.uuid, [])
            if existing and not oracles.may_read(context, existing[0].id):
                # a record the caller may not read: the same answer whatever it is, and where
                raise tk.ValidationError(
                    {"xml": [f"{_label(rec)} {rec.uuid} (« {rec.title} ») : {oracles.uuid_unusable(rec.uuid)}"]}
                )
            write_context = {
                "model": model,
                "session": model.Session,
                "user": context.get("user"),
                "ignore_auth": context.get("ignore_auth", False),
                READABLE_CA_CACHE: readable_ca,
            }
            try:
                result, action = writer.write_record(
                    write_context, rec.kind, rec.record, org.id, existing[0] if existing else None
                )
            except writer.KindChanged as err:
                raise tk.ValidationError({"xml": [str(err)]})
            except tk.ValidationError as err:
                raise tk.ValidationError({"xml": _describe(rec, err)})
            touched.append(result)
            results.append({"id": result, "uuid": rec.uuid, "type": rec.kind, "action": action})
        index_tasks = writer.record_index(model.Session, touched)  # in the records' transaction
        model.repo.commit()
    except Exception:
        model.Session.rollback()
        raise
    # index after the commit, in batches, with one Solr commit for the whole document; Solr down:
    # the records are saved and the outbox indexes them once it answers
    if touched and not writer.index_recorded(index_tasks):
        warnings.append(
            "Les fiches sont enregistrées ; le moteur de recherche ne répond pas : elles apparaîtront "
            "dans la recherche dès son retour (indexation automatique différée)."
        )
    return {"records": results, "errors": [], "warnings": warnings}


def _label(rec) -> str:
    return "Cadre d'acquisition" if rec.kind == "ca" else "Jeu de données"


def _describe(rec, err) -> list[str]:
    label = _label(rec)
    out = []
    for field, msgs in (err.error_dict or {}).items():
        for msg in msgs if isinstance(msgs, list) else [msgs]:
            out.append(f"{label} {rec.uuid} (« {rec.title} ») — {field} : {msg}")
    return out or [f"{label} {rec.uuid} (« {rec.title} ») : {err}"]


@tk.side_effect_free
def sinp_mtd_export(context, data_dict):
    """The record ``id`` (a package id or name, or a SINP UUID) as an INPN MTD XML document (text)."""
    package_id = resolve(context, inputs.identifier(data_dict, "id"))
    tk.check_access("sinp_mtd_export", context, {"id": package_id})
    pkg = tk.get_action("package_show")(context, {"id": package_id})
    if pkg.get("type") not in ("ca", "jdd"):
        raise tk.ValidationError({"id": ["Seuls les cadres d'acquisition et jeux de données s'exportent en MTD."]})
    return mtd.to_xml(pkg["type"], pkg).decode("utf-8")


def resolve(context, ref: str) -> str:
    """The package id of ``ref`` (id, name or SINP UUID) when the caller may read it; unknown or
    not readable: the same 404 « Fiche introuvable. » (``oracles``)."""
    return oracles.readable_package(context, ref).id
