"""Row numbers stay right on a file DuckDB reads in several vectors and threads: every error is
reported on the line of the row that has it (the scan keeps the file order its ordinals rely on)."""

from __future__ import annotations

import numpy as np

from ckanext.sinp.domain.occtax import engine

REFS = engine.Referentials(cd_nom=np.array([60295], dtype=np.int64))
HEADER = (
    "idOrigine;statutObservation;nomCite;cdNom;dateDebut;dateFin;observateur;geometrie;natureObjetGeo;"
    "dSPublique;statutSource;organismeGestionnaireDonnee"
)
ROWS = 120_000


def test_errors_are_on_the_line_of_their_row(tmp_path):
    lines = [HEADER]
    for i in range(ROWS):
        cd_nom = "4" if i % 997 == 0 else "60295"  # C11 (not in TAXREF)
        date = "2024-02-30" if i % 1009 == 0 else "2024-05-01"  # C5 (from the mask pass)
        lines.append(
            f"L{i + 2};Pr;Rhinolophus ferrumequinum;{cd_nom};{date};2024-05-01;DUPONT Jean (CEN);POINT(5.04 47.32);St;Pu;Te;CEN"
        )
    path = tmp_path / "grand.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with engine.run(path, REFS, engine.Options()) as result:
        report = result.report(limit=None)
        origin = dict(result.con.execute("SELECT m._rn, b.origin FROM base b JOIN kmap m USING (_k)").fetchall())
    by_code = {}
    for error in report["errors"]:
        by_code.setdefault(error["code"], []).append(error["row"])
    assert sorted(by_code["C11"]) == [i + 2 for i in range(ROWS) if i % 997 == 0]
    assert sorted(by_code["C5"]) == [i + 2 for i in range(ROWS) if i % 1009 == 0]
    assert all(origin[row] == f"L{row}" for row in by_code["C11"] + by_code["C5"])
    assert report["rows_received"] == ROWS
