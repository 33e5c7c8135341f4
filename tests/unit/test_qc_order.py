"""Row numbers stay right on a file DuckDB reads in several buffers and threads: every error is
reported on the line of the row that has it (the scan keeps the file order its ordinals rely on;
a TAXREF look-up joined inside the scan once lost it)."""

from __future__ import annotations

import pathlib
import sys

from ckanext.sinp.domain.model import schemas_dir
from ckanext.sinp.domain.occtax import engine
from ckanext.sinp.referentials import geo_store

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "bench"))
import occtax_data  # noqa: E402  (the benchmark's generator: OBS-<n> on data row n, 1 % planted errors)

ROWS = 300_000


def test_errors_are_on_the_line_of_their_row(tmp_path):
    path = tmp_path / "grand.csv"
    occtax_data.generate(ROWS, path)
    refs = engine.Referentials.from_dict(geo_store.referentials_from_files(schemas_dir()))
    with engine.run(path, refs, engine.Options()) as result:
        report = result.report(limit=None)
        origin = dict(result.con.execute("SELECT m._rn, b.origin FROM base b JOIN kmap m USING (_k)").fetchall())
    assert report["rows_received"] == ROWS and len(origin) == ROWS
    assert all(origin[line] == f"OBS-{line - 1}" for line in origin)
    with open(path, encoding="utf-8") as fh:
        lines = fh.read().splitlines()
    for error in report["errors"]:
        if error["code"] == "C11":  # the look-up's value is the file's code on that line
            assert lines[error["row"] - 1].split(";")[4] == error["value"]
