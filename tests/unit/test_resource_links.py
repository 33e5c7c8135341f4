"""Resource links (issue 13, finding 11): only http, https, ftp are stored and published
(ckanext/sinp/domain/urls.py; ISO 19139 skips any other). No CKAN."""

from __future__ import annotations

import pytest

from ckanext.sinp.domain import iso, urls
from tests.unit.test_iso import JDD, RESOURCES, ctx


@pytest.mark.parametrize(
    "url, ok",
    [
        ("https://www.exemple.fr/donnees.csv", True),
        ("HTTP://exemple.fr", True),
        ("ftp://ftp.exemple.fr/a.zip", True),
        ("javascript:alert(1)", False),
        ("JaVaScRiPt:alert(1)", False),
        (" javascript:alert(1)", False),
        ("java\tscript://x", False),
        ("file:///etc/passwd", False),
        ("data:text/html,<script>x</script>", False),
        ("vbscript:msgbox(1)", False),
        ("//exemple.fr/a", False),
        ("https://", False),
        ("http:/exemple.fr", False),
        ("mailto:a@exemple.fr", False),
        ("https://exemple.fr/\x00", False),
        ("donnees.csv", False),
        (None, False),
    ],
)
def test_resource_links_accept_http_https_ftp_only(url, ok):
    assert urls.link_allowed(url) is ok


def test_resource_link_schemes_are_configurable():
    assert urls.parse_schemes("https") == ("https",) and urls.parse_schemes("") == urls.DEFAULT_SCHEMES
    assert not urls.link_allowed("http://exemple.fr", urls.parse_schemes("https"))
    assert "http://, https://, ftp://" in urls.refusal("javascript:x")


def test_iso_19139_skips_links_of_a_refused_scheme():
    hostile = [
        {"name": "Piège", "url": "javascript:alert(document.domain)", "format": "HTML"},
        {"name": "Mot de passe", "url": "file:///etc/passwd", "format": "TXT"},
        {"name": "Données", "url": "data:text/html;base64,PHNjcmlwdD4=", "format": ""},
    ]
    xml = iso.to_iso19139("jdd", JDD, ctx(resources=RESOURCES + hostile)).decode("utf-8")
    assert RESOURCES[0]["url"] in xml and "sites.geojson" in xml
    for word in ("javascript", "file:", "data:", "Piège", "Mot de passe"):
        assert word not in xml
    only_https = iso.to_iso19139("jdd", JDD, ctx(resources=RESOURCES, resource_schemes=("ftp",))).decode("utf-8")
    assert "obs.csv" not in only_https
