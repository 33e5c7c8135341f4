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
