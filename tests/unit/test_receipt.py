"""The attestation de réception: its facts and its PDF (no database)."""

import datetime as dt

from ckanext.sinp.occurrences import receipt


def _facts():
    deposit = {
        "receipt_number": "SINP-BFC-2026-000042",
        "producer": "LPO Bourgogne-Franche-Comté",
        "depositor": "mlea",
        "queued_at": dt.datetime(2026, 11, 28, 9, 30, tzinfo=dt.timezone.utc),
        "finished_at": dt.datetime(2026, 11, 28, 9, 31, tzinfo=dt.timezone.utc),
        "file_name": "chiroptères.csv",
        "file_size": 1572864,
        "sha256": "ab" * 32,
        "rows_received": 12345,
        "rows_accepted": 12000,
        "rows_rejected": 345,
        "summary": {"rows_rejected_by_category": {"conformite": 300, "doublon": 45}, "warnings_total": 3},
    }
    jdd = {"title": "Comptages hivernaux", "sinp_uuid": "4A7B8C9D-1111-4222-8333-944455556666", "cadre": "X"}
    return receipt.facts(deposit, jdd, {"title": "Suivi des chiroptères", "sinp_uuid": "X"}, "SINP BFC")


def test_facts_state_the_file_and_the_counts_in_french():
    rows = dict(row for _, section in _facts()["sections"] for row in section)
    assert rows["Taille"] == "1,5 Mo (1 572 864 octets)"
    assert rows["Lignes reçues"] == "12 345" and rows["Lignes refusées"] == "345"
    assert rows["  dont refusées pour doublons"] == "45"
    assert rows["Date du dépôt"] == "28/11/2026 à 09:30 UTC"


def test_pdf_is_a_pdf():
    pdf = receipt.render_pdf(_facts())
    assert pdf.startswith(b"%PDF-") and len(pdf) > 1000


# --- the PDF as rendered: text positions read back from the PDF (pypdf), widths measured with the
# same fonts (fpdf2): no two texts overlap, every text stays on the page, values share one column


def _long_facts():
    deposit = {
        "receipt_number": "SINP-BFC-2026-000043",
        "producer": "Conservatoire d'espaces naturels de Bourgogne-Franche-Comté — antenne de Besançon",
        "depositor": "mlea",
        "queued_at": dt.datetime(2026, 11, 28, 9, 30, tzinfo=dt.timezone.utc),
        "finished_at": dt.datetime(2026, 11, 28, 9, 31, tzinfo=dt.timezone.utc),
        "file_name": "inventaire_chiropteres_gites_hivernaux_doubs_jura_2019_2025_version_finale_corrigee.csv",
        "file_size": 812,
        "sha256": "0123456789abcdef" * 4,
        "rows_received": 3,
        "rows_accepted": 2,
        "rows_rejected": 1,
        "summary": {"rows_rejected_by_category": {"referentiels": 1}, "warnings_total": 0},
    }
    jdd = {
        "title": "Suivi des gîtes d'hibernation des chiroptères dans les cavités souterraines du massif jurassien "
        "et de la vallée du Doubs, protocole régional harmonisé (2019-2025)",
        "sinp_uuid": "4A7B8C9D-1111-4222-8333-944455556666",
    }
    depositor = receipt.depositor_text("Marie-Léa Fontaine-Duval", "mlea", "LPO Bourgogne-Franche-Comté")
    return receipt.facts(deposit, jdd, None, "SINP Bourgogne-Franche-Comté", depositor)


def _runs(pdf: bytes) -> list[dict]:
    import io

    from fpdf import FPDF
    from pypdf import PdfReader

    measure = FPDF(unit="pt")
    measure.add_font("DejaVu", "", receipt._font_path("DejaVuSans.ttf"))
    measure.add_font("DejaVu", "B", receipt._font_path("DejaVuSans-Bold.ttf"))
    runs = []
    for number, page in enumerate(PdfReader(io.BytesIO(pdf)).pages):

        def visit(text, cm, tm, font, size, number=number):
            if not text.strip():
                return
            bold = "Bold" in str((font or {}).get("/BaseFont", ""))
            measure.set_font("DejaVu", "B" if bold else "", size)
            x, y = tm[4] + cm[4], tm[5] + cm[5]
            runs.append(
                {
                    "page": number,
                    "text": text.strip(),
                    "x": x,
                    "y": y,
                    "size": size,
                    "w": measure.get_string_width(text),
                }
            )

        page.extract_text(visitor_text=visit)
    return runs


def test_pdf_labels_and_values_never_overlap_and_long_values_wrap():
    data = _long_facts()
    runs = _runs(receipt.render_pdf(data))
    page_width, margin = 595.28, receipt.MARGIN * 72 / 25.4
    for a in runs:
        assert margin - 1 <= a["x"] and a["x"] + a["w"] <= page_width - margin + 1, a["text"]
    for i, a in enumerate(runs):
        for b in runs[i + 1 :]:
            if a["page"] != b["page"]:
                continue
            apart_x = a["x"] + a["w"] <= b["x"] + 0.5 or b["x"] + b["w"] <= a["x"] + 0.5
            apart_y = abs(a["y"] - b["y"]) >= 0.9 * min(a["size"], b["size"])
            assert apart_x or apart_y, (a["text"], b["text"])
    # every value in one column right of the labels; the long title wraps inside it
    value_x = margin + receipt.LABEL_WIDTH * 72 / 25.4
    labels = {label for _, rows in data["sections"] for label, _ in rows}
    for run in runs:
        if run["text"] in {label.strip() for label in labels}:
            assert run["x"] + run["w"] <= value_x
    title = data["sections"][0][1][0][1]
    values = [r for r in runs if abs(r["x"] - value_x) < 8]  # in drawing order: the title comes first
    lines = [r for i, r in enumerate(values) if len(" ".join(v["text"] for v in values[:i])) < len(title)]
    assert len(lines) >= 2 and " ".join(r["text"] for r in lines) == title  # wrapped, in its column, whole
    text = " ".join(" ".join(r["text"] for r in runs).split())
    assert "Marie-Léa Fontaine-Duval (LPO Bourgogne-Franche-Comté)" in text


def test_the_depositor_is_a_person_and_an_organisation():
    assert receipt.depositor_text("Marie Léa", "mlea", "LPO BFC") == "Marie Léa (LPO BFC)"
    assert receipt.depositor_text("", "mlea", None) == "mlea"  # no full name: the user name
    rows = dict(row for _, section in _long_facts()["sections"] for row in section)
    assert rows["Déposant"] == "Marie-Léa Fontaine-Duval (LPO Bourgogne-Franche-Comté)"
