"""The services that `make up` started answer as a user or a harvester sees them."""

from __future__ import annotations

import pytest
from lxml import etree

pytestmark = pytest.mark.stack

PLUGINS = {
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
}
NS = {
    "csw": "http://www.opengis.net/cat/csw/2.0.2",
    "ows": "http://www.opengis.net/ows",
    "xlink": "http://www.w3.org/1999/xlink",
}


def test_ckan_status_lists_the_plugins(stack, http):
    result = http.get(f"{stack['CKAN_URL']}/api/3/action/status_show", timeout=10).json()["result"]
    assert result["ckan_version"] == "2.12.0"
    assert PLUGINS <= set(result["extensions"])


def test_ckan_home_page_is_in_french(stack, http):
    page = http.get(stack["CKAN_URL"] + "/", timeout=20)
    assert page.status_code == 200
    assert 'lang="fr"' in page.text
    assert "Catalogue SINP Bourgogne-Franche-Comté" in page.text


def test_demo_datasets_are_searchable(stack, http):
    result = http.get(
        f"{stack['CKAN_URL']}/api/3/action/package_search", params={"q": "chiroptères"}, timeout=10
    ).json()["result"]
    assert "demo-inventaire-chiropteres-morvan" in [d["name"] for d in result["results"]]


def test_demo_datasets_are_found_by_map_search(stack, http):
    def names(bbox: str) -> set[str]:
        result = http.get(
            f"{stack['CKAN_URL']}/api/3/action/package_search", params={"ext_bbox": bbox, "rows": 100}, timeout=10
        ).json()["result"]
        return {d["name"] for d in result["results"]}

    # the Morvan box, west of Dijon: finds the Morvan dataset. The demo JDD hold observations blurred to the
    # département or hidden (demo-data's generated lots), so their published extents widen to cover what the
    # public may know of them (jobs.protect_extent): the Doubs JDD answers there too.
    assert "demo-inventaire-chiropteres-morvan" in names("3.9,47.0,4.2,47.3")
    # a box outside the region (Brittany) finds no demo dataset: the map search filters
    assert not {"demo-inventaire-chiropteres-morvan", "demo-odonates-doubs"} & names("-3.5,47.5,-3.0,48.0")


def test_admin_token_is_a_sysadmin_token(stack, http):
    me = http.get(
        f"{stack['CKAN_URL']}/api/3/action/user_show",
        params={"id": stack["SINP_ADMIN_USER"]},
        headers={"Authorization": stack["SINP_ADMIN_TOKEN"]},
        timeout=10,
    ).json()["result"]
    assert me["sysadmin"] is True


def test_solr_answers_select_and_has_the_spatial_fields(stack, http):
    select = http.get(f"{stack['SOLR_URL']}/select", params={"q": "*:*", "rows": 0, "wt": "json"}, timeout=10)
    assert select.json()["responseHeader"]["status"] == 0
    schema = http.get(f"{stack['SOLR_URL']}/schema", params={"wt": "json"}, timeout=10).json()["schema"]
    assert schema["name"] == "ckan-2.12"
    fields = {f["name"]: f for f in schema["fields"]}
    assert fields["spatial_geom"]["type"] == "location_rpt"
    assert {"bbox_area", "minx", "miny", "maxx", "maxy"} <= set(fields)


def _capabilities(http, url, **extra):
    params = {"service": "CSW", "version": "2.0.2", "request": "GetCapabilities", **extra}
    response = http.get(url, params=params, timeout=20)
    assert response.status_code == 200
    return etree.fromstring(response.content)


def test_csw_get_capabilities(stack, http):
    caps = _capabilities(http, stack["CSW_URL"])
    assert caps.tag == f"{{{NS['csw']}}}Capabilities"
    assert "2.0.2" in caps.xpath("string(//ows:ServiceIdentification/ows:ServiceTypeVersion)", namespaces=NS)
    operations = set(caps.xpath("//ows:OperationsMetadata/ows:Operation/@name", namespaces=NS))
    assert {"GetRecords", "GetRecordById"} <= operations
    # harvesters send their next requests to the URLs the capabilities declare
    hrefs = set(caps.xpath("//ows:Operation[@name='GetRecords']//ows:HTTP/*/@xlink:href", namespaces=NS))
    assert hrefs == {stack["CSW_URL"]}
    assert not caps.xpath("//ows:Operation[@name='Transaction']", namespaces=NS)


@pytest.mark.parametrize("key", ["config", "CONFIG", "Config", "cOnFiG"])
def test_csw_ignores_a_client_supplied_config(stack, http, tmp_path, key):
    """pycsw 2.6.2 loads ?config=<path>; our WSGI wrapper must drop it in any case."""
    hostile = tmp_path / "hostile.cfg"
    hostile.write_text(
        "[server]\nhome=/tmp\nurl=http://evil.invalid/csw\nmimetype=application/xml\n"
        "encoding=UTF-8\nlanguage=en-US\nmaxrecords=1\n"
        "[manager]\ntransactions=true\nallowed_ips=0.0.0.0/0\n"
        "[metadata:main]\nidentification_title=HOSTILE\n"
        "[repository]\ndatabase=sqlite:////tmp/hostile.db\ntable=records\n",
        encoding="utf-8",
    )
    reference = etree.tostring(_capabilities(http, stack["CSW_URL"]))
    for value in (str(hostile), "/etc/passwd", "../../etc/passwd"):
        caps = _capabilities(http, stack["CSW_URL"], **{key: value})
        assert etree.tostring(caps) == reference
        assert b"HOSTILE" not in etree.tostring(caps)
        assert b"evil.invalid" not in etree.tostring(caps)


@pytest.mark.parametrize("service", ["ckan-worker", "harvest-gather", "harvest-fetch", "solr", "pycsw"])
def test_background_services_stay_up_when_idle(repo_root, service):
    """The consumers block on Redis between jobs; they must survive being idle.

    pycsw logs the clients' malformed requests with a traceback and answers them with an OWS
    exception: for it, only gunicorn's own failure messages count.
    """
    import os

    pid = int((repo_root / "var" / "run" / f"{service}.pid").read_text())
    os.kill(pid, 0)  # raises if the process is gone
    log = (repo_root / "var" / "log" / f"{service}.log").read_text(errors="replace")
    since_start = log.rsplit("=== ", 1)[-1]
    fatal = (
        ("WORKER TIMEOUT", "Worker failed to boot", "Shutting down: Master") if service == "pycsw" else ("Traceback",)
    )
    assert not any(marker in since_start for marker in fatal), since_start[-2000:]
