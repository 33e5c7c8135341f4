"""``sinp-qc-check``: the local occurrence check, run as its own process, loads no CKAN and gives the
report of ``engine.run`` (the one ``ckan sinp qc-check`` writes without ``--jdd``)."""

from __future__ import annotations

import json
import pathlib
import shutil
import subprocess
import sys

import pytest

from ckanext.sinp.domain.model import schemas_dir
from ckanext.sinp.domain.occtax import columns, engine
from ckanext.sinp.referentials import geo_store
from ckanext.sinp.referentials import qc_command as command

FIXTURES = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "occtax"
# runs the command's main() in a fresh interpreter, then says which ckan modules it loaded
PROBE = (
    "import json, sys\n"
    "from ckanext.sinp.referentials import qc_command as command\n"
    "code = command.main(sys.argv[1:])\n"
    "print(json.dumps(sorted(m for m in sys.modules if m == 'ckan' or m.startswith('ckan.'))))\n"
    "sys.exit(code)\n"
)


def _probe(*args):
    return subprocess.run([sys.executable, "-c", PROBE, *map(str, args)], capture_output=True, text=True, timeout=300)


def _comparable(report: dict) -> dict:
    out = dict(report)
    out.pop("duration_s")
    return out


def test_report_is_the_engines_and_no_ckan_is_loaded(tmp_path):
    target = tmp_path / "rapport.json"
    proc = _probe(FIXTURES / "gold.csv", "--report", target)
    assert proc.returncode == 1, proc.stderr  # rows refused: non-zero, as ckan sinp qc-check
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []  # no ckan module
    assert "Traceback" not in proc.stderr
    written = json.loads(target.read_text(encoding="utf-8"))
    refs = engine.Referentials.from_dict(geo_store.referentials_from_files(schemas_dir()))
    with engine.run(FIXTURES / "gold.csv", refs, engine.Options(file_name="gold.csv")) as result:
        expected = result.report(limit=None)
    expected["status"] = "done"
    assert _comparable(written) == json.loads(json.dumps(_comparable(expected), default=str))
    expected_gold = json.loads((FIXTURES / "gold_expected.json").read_text(encoding="utf-8"))
    assert sorted((e["row"], e["code"], e["column"]) for e in written["errors"]) == sorted(
        tuple(e) for e in expected_gold["errors"]
    )
    # what is printed: the summary line, the counts by rule, the first errors, in French
    assert f"{written['rows_received']} lignes reçues, {written['rows_accepted']} acceptées" in proc.stdout
    assert f"Rapport complet : {target}" in proc.stdout
    lines = [line for line, _ in command.summary_lines(written, str(target))]
    assert all(line in proc.stdout for line in lines)


def test_a_clean_file_exits_zero_with_the_installed_script(tmp_path):
    script = pathlib.Path(sys.executable).parent / "sinp-qc-check"
    if not script.exists():
        pytest.skip("console script not installed (pip install -e .)")
    path = tmp_path / "modele.csv"
    path.write_text(columns.template_csv(), encoding="utf-8")
    proc = subprocess.run([str(script), str(path), "--srid", "4326"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 lignes reçues, 1 acceptées, 0 refusées" in proc.stdout


@pytest.mark.parametrize(
    "args, words",
    [
        (["{tmp}/absent.csv"], "n'existe pas"),
        (["{tmp}"], "est un dossier"),
        ([], "indiquez le fichier"),
        (["{gold}", "--srid", "3857"], "--srid vaut 4326"),
        (["{gold}", "--report", "{tmp}/absent/r.json"], "le rapport ne peut pas être écrit"),
        (["{gold}", "--referentiels", "{tmp}/absent"], "référentiels"),
    ],
)
def test_bad_input_is_a_french_message_and_exit_2(tmp_path, args, words):
    args = [a.format(tmp=tmp_path, gold=FIXTURES / "gold.csv") for a in args]
    proc = _probe(*args)
    assert proc.returncode == 2
    assert words in proc.stderr
    assert "Traceback" not in proc.stderr and "Error" not in proc.stderr


def test_an_empty_file_is_refused_with_exit_1(tmp_path):
    path = tmp_path / "vide.csv"
    path.write_bytes(b"")
    proc = _probe(path)
    assert proc.returncode == 1
    assert "fichier · C1 · Le fichier est vide." in proc.stdout


def test_shipped_layout_is_accepted_by_referentiels(tmp_path):
    base = tmp_path / "refs"
    shutil.copytree(schemas_dir() / "referentiels", base)
    proc = _probe(FIXTURES / "gold.csv", "--referentiels", base)
    assert proc.returncode == 1 and "lignes reçues" in proc.stdout, proc.stderr
