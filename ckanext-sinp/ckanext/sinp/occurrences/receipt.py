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


def depositor_text(full_name: str | None, user_name: str | None, organisation: str | None) -> str:
    """« Marie Léa (LPO Bourgogne-Franche-Comté) »: the person's full name (its user name when it has
    none) and its organisation."""
    who = (full_name or "").strip() or user_name or "—"
    return f"{who} ({organisation})" if organisation else who


def facts(deposit: dict, jdd: dict, ca: dict | None, platform: str, depositor: str | None = None) -> dict:
    """Everything the attestation states, as French labels and values. ``depositor``: the person as
    ``depositor_text`` writes it (else the deposit's user name)."""
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
                    ("Déposant", depositor or deposit.get("depositor") or "—"),
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


# layout of the PDF (mm): A4 with 15 mm margins, a label column and a value column; text wraps
# inside its column (long values such as the SHA-256 break anywhere), so nothing overlaps
MARGIN = 15
LABEL_WIDTH = 78
LINE_HEIGHT = 5


def render_pdf(data: dict) -> bytes:
    from fpdf import FPDF  # deferred: importing fpdf2 takes about 1 s (python -X importtime), only attestations need it
    from fpdf.fonts import FontFace

    pdf = FPDF(format="A4")
    pdf.set_margins(MARGIN, MARGIN, MARGIN)
    pdf.set_title(f"{data['title']} {data['number']}")
    pdf.set_author(data["platform"])
    pdf.set_lang("fr")
    regular, bold = _font_path("DejaVuSans.ttf"), _font_path("DejaVuSans-Bold.ttf")
    if regular and bold:
        pdf.add_font("DejaVu", "", regular)
        pdf.add_font("DejaVu", "B", bold)
        family = "DejaVu"
    else:  # core font: Latin-1 only
        family = "Helvetica"
    pdf.set_auto_page_break(True, margin=18)
    pdf.add_page()
    pdf.set_font(family, "B", 15)
    pdf.multi_cell(0, 8, data["title"], align="L", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(1)
    pdf.set_font(family, "", 11)
    pdf.multi_cell(
        0, 6, f"{data['platform']} — attestation n° {data['number']}", align="L", new_x="LMARGIN", new_y="NEXT"
    )
    pdf.ln(3)
    value_width = pdf.epw - LABEL_WIDTH
    heading = FontFace(emphasis="BOLD", fill_color=(230, 238, 232), size_pt=12)
    label = FontFace(emphasis="BOLD")
    for title, rows in data["sections"]:
        pdf.set_font(family, "", 10)
        with pdf.table(
            col_widths=(LABEL_WIDTH, value_width),
            width=pdf.epw,
            first_row_as_headings=False,
            line_height=LINE_HEIGHT,
            borders_layout="HORIZONTAL_LINES",
            padding=(0.8, 2, 0.8, 2),
            v_align="TOP",
            text_align="LEFT",
        ) as table:
            table.row().cell(title, colspan=2, style=heading)
            for name, value in rows:
                row = table.row()
                row.cell(name.strip(), style=label, padding=(0.8, 2, 0.8, 7 if name.startswith(" ") else 2))
                row.cell(str(value if value not in (None, "") else "—"))
        pdf.ln(3)
    pdf.set_font(family, "", 9)
    pdf.multi_cell(0, 5, data["footer"], align="L", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(1)
    pdf.multi_cell(
        0,
        5,
        f"Document généré le {dt.datetime.now(dt.timezone.utc).strftime('%d/%m/%Y à %H:%M UTC')}.",
        align="L",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    return bytes(pdf.output())
