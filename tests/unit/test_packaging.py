"""The built package carries what it reads at run time (issue 14): a wheel install or the Docker
image finds the schemas, the nomenclatures, the referential extracts, pycsw's mappings, the
templates and the scripts without the repository's layout."""

from __future__ import annotations

import pathlib
import shutil
import subprocess
import sys
import zipfile

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_the_wheel_holds_the_data_the_package_reads(tmp_path):
    # built from a copy of the sources: setuptools writes build/ and *.egg-info beside setup.py
    source = tmp_path / "src"
    for part in ("ckanext-sinp", "harvesters", "schemas", "pycsw_config"):
        shutil.copytree(
            ROOT / part, source / part, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "*.mo")
        )  # .mo: built by the wheel
    for part in ("setup.py", "README.md"):
        shutil.copy(ROOT / part, source / part)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(source)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("ckanext_sinp-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {
        "ckanext/sinp_schemas/ca.yaml",
        "ckanext/sinp_schemas/jdd.yaml",
        "ckanext/sinp_schemas/dataset.yaml",
        "ckanext/sinp_schemas/presets.yaml",
        "ckanext/sinp_schemas/occurrence.yaml",
        "ckanext/sinp_schemas/licenses.json",
        "ckanext/sinp_pycsw_config/mappings.py",
        "ckanext/sinp/config_declaration.yaml",
        "ckanext/sinp/assets/webassets.yml",
        "ckanext/sinp_harvesters/csw.py",
        "ckanext/sinp/i18n/fr/LC_MESSAGES/ckanext-sinp.mo",  # compiled by setup.py's build_py
        "ckanext/sinp/i18n/ckanext-sinp.pot",  # the JavaScript's messages
    }
    assert expected <= names, sorted(expected - names)
    for folder in ("schemas/nomenclatures", "schemas/referentiels"):
        files = {p.relative_to(ROOT / "schemas").as_posix() for p in (ROOT / folder).rglob("*") if p.is_file()}
        missing = {f for f in files if f"ckanext/sinp_schemas/{f}" not in names and "__pycache__" not in f}
        assert not missing, sorted(missing)[:5]
    assert any(n.startswith("ckanext/sinp/templates/") and n.endswith(".html") for n in names)
