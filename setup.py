"""ckanext-sinp: SINP metadata catalogue (CKAN 2.12 extension, harvesters, schemas).

The extension code lives in ``ckanext-sinp/`` (package ``ckanext.sinp``); the
harvesters in ``harvesters/`` (package ``ckanext.sinp_harvesters``).
"""

import importlib.util
import pathlib

from setuptools import find_namespace_packages, setup
from setuptools.command.build_py import build_py

MSGFMT = pathlib.Path(__file__).resolve().parent / "ckanext-sinp" / "ckanext" / "sinp" / "i18n" / "msgfmt.py"


def compile_catalogues() -> None:
    """Our .po compiled to the .mo that CKAN loads (ckanext/sinp/i18n/msgfmt.py, loaded by path: plain Python)."""
    spec = importlib.util.spec_from_file_location("sinp_msgfmt", MSGFMT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.compile_catalogues()


class BuildPyWithCatalogs(build_py):
    """build_py (also run by `pip install -e`) compiles the message catalogues first."""

    def run(self):
        compile_catalogues()
        super().run()


setup(
    name="ckanext-sinp",
    version="0.1.0",
    description="Catalogue de métadonnées SINP (cadres d'acquisition, jeux de données) pour CKAN 2.12",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="AGPL-3.0-or-later",
    python_requires=">=3.10",
    # the harvesters live in the top-level harvesters/ folder, installed as ckanext.sinp_harvesters
    # schemas/ and pycsw_config/ are data that the installed package reads (not the checkout's layout)
    package_dir={
        "": "ckanext-sinp",
        "ckanext.sinp_harvesters": "harvesters",
        "ckanext.sinp_schemas": "schemas",
        "ckanext.sinp_pycsw_config": "pycsw_config",
    },
    packages=find_namespace_packages("ckanext-sinp", include=["ckanext.*"])
    + ["ckanext.sinp_harvesters", "ckanext.sinp_schemas", "ckanext.sinp_pycsw_config"],
    include_package_data=True,
    package_data={
        "ckanext.sinp": [
            "config_declaration.yaml",
            "demo/*.json",
            "templates/**/*",
            "assets/**/*",
            "i18n/*/LC_MESSAGES/*",
            "i18n/*.pot",  # the messages of the JavaScript (CKAN builds /api/i18n/<lang> from them)
        ],
        "ckanext.sinp_schemas": ["*.yaml", "*.json", "*.md", "**/*"],
        "ckanext.sinp_pycsw_config": ["*.cfg", "*.md"],
    },
    zip_safe=False,
    cmdclass={"build_py": BuildPyWithCatalogs},
    entry_points={
        # the occurrence check without CKAN (domain only): ckanext/sinp/referentials/qc_command.py
        "console_scripts": [
            "sinp-qc-check = ckanext.sinp.referentials.qc_command:entry_point",
        ],
        "ckan.plugins": [
            "sinp = ckanext.sinp.plugin:SinpPlugin",
            "sinp_spatial_harvest = ckanext.sinp.plugin:SinpSpatialHarvestPlugin",
            "sinp_mtd = ckanext.sinp_harvesters.mtd:SinpMtdHarvester",
            "sinp_csw = ckanext.sinp_harvesters.csw:SinpCswHarvester",
        ],
        "ckan.rdf.profiles": [
            "sinp = ckanext.sinp.dcat_profile:SinpDCATProfile",
        ],
        "babel.extractors": [
            "ckan = ckan.lib.extract:extract_ckan",
        ],
    },
    message_extractors={
        "ckanext-sinp/ckanext": [
            ("**.py", "python", None),
            ("**.js", "javascript", None),
            ("**/templates/**.html", "ckan", None),
        ],
    },
)
