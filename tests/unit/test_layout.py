"""The repository keeps the layout other tools rely on, and its scripts parse."""

from __future__ import annotations

import configparser
import subprocess
from importlib.metadata import entry_points

import pytest

from tests.conftest import ROOT

REQUIRED_PLUGINS = [
    "sinp",
    "sinp_spatial_harvest",
    "sinp_mtd",
    "sinp_csw",
    "scheming_datasets",
    "spatial_metadata",
    "spatial_query",
    "harvest",
    "dcat",
    "activity",
]


@pytest.mark.parametrize(
    "path",
    [
        "ckanext-sinp/ckanext/sinp/plugin.py",
        "pycsw_config",
        "harvesters",
        "schemas",
        "tests",
        "setup.py",
        "docker-compose.yml",
        "README.md",
        ".ci/run",
        "Makefile",
        "bench",
    ],
)
def test_top_level_layout(path):
    assert (ROOT / path).exists(), path


def test_setup_registers_the_sinp_plugin():
    plugins = {ep.name: ep.value for ep in entry_points(group="ckan.plugins")}
    assert plugins["sinp"] == "ckanext.sinp.plugin:SinpPlugin"


@pytest.mark.parametrize("target", ["run", "up", "down", "test", "status"])
def test_make_targets_exist(target):
    result = subprocess.run(["make", "-n", "-C", str(ROOT), target], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("script", sorted(p.name for p in (ROOT / "stack").glob("*.sh")))
def test_stack_scripts_parse(script):
    result = subprocess.run(["bash", "-n", str(ROOT / "stack" / script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_ckan_options_enable_the_required_plugins():
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(ROOT / "stack" / "ckan-options.ini", encoding="utf-8")
    plugins = parser["app:main"]["ckan.plugins"].split()
    assert plugins == REQUIRED_PLUGINS
    assert parser["app:main"]["ckan.locale_default"] == "fr"
