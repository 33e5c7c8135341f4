"""What a CA or JDD says in DCAT-AP, derived from the model (pure: no ``ckan`` import)."""

from __future__ import annotations

from ckanext.sinp.domain import model, nomenclatures


def dcat_facts(kind: str, record: dict, ca: dict | None, site_url: str) -> dict:
    """The DCAT statements of a SINP record.

    ``ca`` is the record's cadre d'acquisition (for a JDD), whose period is the JDD's temporal
    coverage. Returns identifier, landing page, temporal (start, end), bbox (west, south, east,
    north), keywords (French labels of the coded fields and the record's own keywords) and the
    contact points (actors of role 1).
    """
    period_source = record if kind == "ca" else (ca or {})
    start, end = period_source.get("date_lancement"), period_source.get("date_cloture")
    bbox = None
    if kind == "jdd" and model.bbox_geometry(record):
        bbox = tuple(model.parse_decimal(record[k]) for k in ("borne_ouest", "borne_sud", "borne_est", "borne_nord"))
    keywords = []
    for f in model.fields(kind):
        if f.kind in ("code", "codes") and f.nomenclature in (
            "VOLET_SINP",
            "DATA_TYP",
            "JDD_OBJECTIFS",
            "CA_OBJECTIFS",
            "METHO_RECUEIL",
        ):
            nom = nomenclatures.get(f.nomenclature)
            keywords += [nom.label_of(str(c)) or str(c) for c in model.as_list(record.get(f.name))]
    contacts_field = "acteurs" if kind == "ca" else "contacts_jdd"
    contacts = [
        {"name": a.get("organisme") or a.get("nom_prenom"), "email": a.get("mail")}
        for a in model.as_list(record.get(contacts_field))
        if isinstance(a, dict) and str(a.get("role")) == model.MAIN_CONTACT_ROLE
    ]
    return {
        "identifier": record.get("sinp_uuid"),
        "landing_page": f"{site_url.rstrip('/')}/{kind}/{record.get('name')}",
        "type_label": model.TYPE_LABELS[kind],
        "temporal": (start or None, end or None) if start else None,
        "bbox": bbox,
        "keywords": [k.strip() for k in keywords if k and k.strip()],
        "contacts": contacts,
        "parent": record.get("cadre") if kind == "jdd" else record.get("meta_cadre_parent"),
    }
