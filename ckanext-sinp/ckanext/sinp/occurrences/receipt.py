"""Attestation de réception of a deposit: the facts (pure) and the PDF (fpdf2).

The same ``facts`` feed the HTML page (a CKAN template) and the PDF, so both always say the same.
"""

from __future__ import annotations

import datetime as dt
import os

from ckanext.sinp.domain.occtax.rules import CATEGORIES, RULESET_VERSION

FONT_DIRS = ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/dejavu")


def _size(n: int | None) -> str:
    """« 1,5 Mo (1 572 864 octets) » or « 812 octets »."""
    if n is None:
        return "—"
    value, unit = float(n), "octets"
    for next_unit in ("Ko", "Mo", "Go"):
        if value < 1024:
            break
        value, unit = value / 1024, next_unit
    if unit == "octets":
        return f"{n} octets"
    return f"{value:.1f} {unit}".replace(".", ",") + f" ({_n(n)} octets)"


def _when(value) -> str:
    if not value:
        return "—"
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if value.tzinfo is not None:
        value = value.astimezone(dt.timezone.utc)
    return value.strftime("%d/%m/%Y à %H:%M UTC")


def facts(deposit: dict, jdd: dict, ca: dict | None, platform: str) -> dict:
    """Everything the attestation states, as French labels and values."""
    summary = deposit.get("summary") or {}
    rejected = summary.get("rows_rejected_by_category") or {}
    return {
        "platform": platform,
        "number": deposit.get("receipt_number"),
        "title": "Attestation de réception d'un dépôt de données d'occurrences de taxons",
        "sections": [
            (
                "Jeu de données",
                [
                    ("Titre", jdd.get("title")),
                    ("Identifiant SINP (UUID)", jdd.get("sinp_uuid")),
                ],
            ),
            (
                "Cadre d'acquisition",
                [
                    ("Titre", (ca or {}).get("title") or "—"),
                    ("Identifiant SINP (UUID)", (ca or {}).get("sinp_uuid") or jdd.get("cadre") or "—"),
                ],
            ),
            (
                "Dépôt",
                [
                    ("Structure productrice", deposit.get("producer") or "—"),
                    ("Déposant", deposit.get("depositor") or "—"),
                    ("Date du dépôt", _when(deposit.get("queued_at"))),
                    ("Date du contrôle", _when(deposit.get("finished_at"))),
                    ("Fichier", deposit.get("file_name") or "—"),
                    ("Taille", _size(deposit.get("file_size"))),
                    ("Empreinte SHA-256", deposit.get("sha256") or "—"),
                ],
            ),
            (
                "Résultat du contrôle",
                [
                    ("Lignes reçues", _n(deposit.get("rows_received"))),
                    ("Lignes acceptées et intégrées", _n(deposit.get("rows_accepted"))),
                    ("Lignes refusées", _n(deposit.get("rows_rejected"))),
                ]
                + [
                    (f"  dont refusées pour {label.lower()}", _n(rejected.get(code, 0)))
                    for code, label in CATEGORIES.items()
                ]
                + [
                    ("Avertissements (non bloquants)", _n(summary.get("warnings_total") or 0)),
                    (
                        "Version des règles de contrôle",
                        (summary.get("ruleset") or {}).get("version") or RULESET_VERSION,
                    ),
                    ("Modèle de colonnes", (summary.get("ruleset") or {}).get("columns") or "—"),
                ],
            ),
        ],
        "footer": (
            "Cette attestation certifie la réception du fichier identifié par son empreinte SHA-256 et le "
            "résultat de ses contrôles de conformité, de cohérence, de référentiels et de doublons. Elle ne "
            "vaut pas validation scientifique des données."
        ),
    }


def _n(value) -> str:
    return "—" if value is None else f"{int(value):,}".replace(",", " ")


def _font_path(name: str) -> str | None:
    for directory in FONT_DIRS:
        path = os.path.join(directory, name)
        if os.path.exists(path):
            return path
    return None


def render_pdf(data: dict) -> bytes:
    from fpdf import FPDF  # deferred: importing fpdf2 takes about 1 s (python -X importtime), only attestations need it

    pdf = FPDF(format="A4")
    pdf.set_title(f"{data['title']} {data['number']}")
    pdf.set_author(data["platform"])
    regular, bold = _font_path("DejaVuSans.ttf"), _font_path("DejaVuSans-Bold.ttf")
    if regular and bold:
        pdf.add_font("DejaVu", "", regular)
        pdf.add_font("DejaVu", "B", bold)
        family = "DejaVu"
    else:  # core font: Latin-1 only
        family = "Helvetica"
    pdf.add_page()
    pdf.set_auto_page_break(True, margin=18)
    pdf.set_font(family, "B", 15)
    pdf.multi_cell(0, 8, data["title"])
    pdf.ln(1)
    pdf.set_font(family, "", 11)
    pdf.multi_cell(0, 6, f"{data['platform']} — attestation n° {data['number']}")
    pdf.ln(3)
    for heading, rows in data["sections"]:
        pdf.set_font(family, "B", 12)
        pdf.set_fill_color(230, 238, 232)
        pdf.cell(0, 8, heading, new_x="LMARGIN", new_y="NEXT", fill=True)
        pdf.set_font(family, "", 10)
        for label, value in rows:
            pdf.set_font(family, "B", 10)
            pdf.cell(62, 6, label)
            pdf.set_font(family, "", 10)
            pdf.multi_cell(0, 6, str(value if value not in (None, "") else "—"), new_x="LMARGIN", new_y="NEXT")
        pdf.ln(2)
    pdf.ln(2)
    pdf.set_font(family, "", 9)
    pdf.multi_cell(0, 5, data["footer"])
    pdf.ln(1)
    pdf.multi_cell(0, 5, f"Document généré le {dt.datetime.now(dt.timezone.utc).strftime('%d/%m/%Y à %H:%M UTC')}.")
    return bytes(pdf.output())
