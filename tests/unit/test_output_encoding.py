"""Output encoding and the Content-Security-Policy, read from the files (no service, no ckan import).

Our templates hold no inline script, no inline event handler, no ``javascript:`` URL and no ``|safe`` on data;
our scripts never write data into HTML; every asset a template names is declared; the default policy
forbids inline scripts. The browser test (tests/integration/test_xss_csp.py) checks the same live.
"""

from __future__ import annotations

import re

import pytest
import yaml

from tests.conftest import ROOT

PACKAGE = ROOT / "ckanext-sinp" / "ckanext" / "sinp"
TEMPLATES = sorted((PACKAGE / "templates").rglob("*.html"))
SCRIPTS = sorted((PACKAGE / "assets" / "js").glob("*.js"))


def _markup(path) -> str:
    """A template without its Jinja comments (which may quote what they replaced)."""
    return re.sub(r"\{#.*?#\}", "", path.read_text(encoding="utf-8"), flags=re.S)


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: str(p.relative_to(PACKAGE / "templates")))
def test_a_template_holds_no_inline_script_nor_raw_data(path):
    text = _markup(path)
    assert not re.search(r"<script\b", text, re.I), "inline <script>: move it to assets/js and use {% asset %}"
    assert not re.search(r"\son[a-z]+\s*=", text, re.I), "inline event handler: use a module of assets/js"
    assert not re.search(r"\bhx-on", text), "hx-on needs eval, refused by the policy"
    assert "javascript:" not in text
    assert not re.search(r"\|\s*safe\b|\bMarkup\(|h\.literal\(", text), "data written as HTML"


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.name)
def test_a_script_writes_data_as_text_only(path):
    text = path.read_text(encoding="utf-8")
    for sink in (
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
        "new Function",
        'setTimeout("',
        ".html(",
    ):
        assert sink not in text, f"{path.name} uses {sink}"
    # a Leaflet popup or tooltip gets a DOM node (or a function returning one), never a string built from data
    for call in re.findall(r"\.bind(?:Popup|Tooltip)\(([^)]*)\)", text):
        assert not re.search(r"[\"'+]", call), call


def test_every_asset_named_by_a_template_is_declared_with_existing_files():
    bundles = yaml.safe_load((PACKAGE / "assets" / "webassets.yml").read_text(encoding="utf-8"))
    for name, bundle in bundles.items():
        for item in bundle["contents"]:
            assert (PACKAGE / "assets" / item).is_file(), (name, item)
    named = {m for path in TEMPLATES for m in re.findall(r"\{%\s*asset\s+'ckanext-sinp/([a-z_]+)'", _markup(path))}
    assert named and named <= set(bundles), named - set(bundles)


def test_the_default_policy_forbids_inline_scripts_and_plugins():
    declaration = yaml.safe_load((PACKAGE / "config_declaration.yaml").read_text(encoding="utf-8"))
    [option] = [o for g in declaration["groups"] for o in g["options"] if o["key"] == "ckanext.sinp.csp"]
    directives = {d.split()[0]: d.split()[1:] for d in option["default"].split(";") if d.strip()}
    assert directives["script-src"] == ["'self'"]
    assert directives["object-src"] == ["'none'"] and directives["default-src"] == ["'self'"]
    assert directives["base-uri"] == ["'self'"] and directives["frame-ancestors"] == ["'self'"]
    assert "'unsafe-eval'" not in option["default"]
