"""The imitation of the INPN MTD web services (tests/integration/support/mtd_server.py). No CKAN."""

from __future__ import annotations

import http.client
import sys
import time
import urllib.error
import urllib.request

import pytest

from ckanext.sinp.domain import mtd
from tests.conftest import ROOT

SUPPORT = ROOT / "tests" / "integration" / "support"
if str(SUPPORT) not in sys.path:
    sys.path.insert(0, str(SUPPORT))

from mtd_server import MtdServer, actor, ca_xml, jdd_xml  # noqa: E402

META = "978258FB-6A82-4475-AE18-CA20CB7965BD"
CA = "3731C93F-ABE0-4699-A88C-C4B1574212F0"
CA_OTHER = "29A8E22C-6718-4786-850A-9E2722E41442"
JDD_1 = "6401FE86-80CE-41D9-92F0-EFF543C7C6BA"
JDD_2 = "3F75F0A5-6F8D-4931-A93E-5BBBD5092E07"
BY_ID_CA = "/cadre/export/xml/GetRecordById?id="
BY_ID_JDD = "/cadre/jdd/export/xml/GetRecordById?id="
BY_INSTANCE_CA = "/cadre/export/xml/GetRecordsByInstanceId?id="
BY_INSTANCE_JDD = "/cadre/jdd/export/xml/GetRecordsByInstanceId?id="


def get(server, path, timeout=5):
    """(status, content type, body) of a GET on the server."""
    try:
        with urllib.request.urlopen(server.url + path, timeout=timeout) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as err:
        with err:
            return err.code, err.headers["Content-Type"], err.read()


@pytest.fixture
def server():
    with MtdServer() as srv:
        srv.add_ca(META, ca_xml(META, "Programme régional de connaissance", meta=True))
        srv.add_ca(
            CA,
            ca_xml(
                CA,
                "Atlas des libellules de Franche-Comté",
                parent=META,
                dateCloture="2025-12-31",
                acteurAutre=[actor("ca", "Région Bourgogne-Franche-Comté", "2")],
            ),
        )
        srv.add_ca(CA_OTHER, ca_xml(CA_OTHER, "Chiroptères du Morvan", instance="27"), user="99")
        srv.add_jdd(JDD_1, jdd_xml(JDD_1, CA, "Odonates : relevés d'imagos 2022-2024", instance="42"))
        srv.add_jdd(
            JDD_2, jdd_xml(JDD_2, CA, "Odonates : exuvies en tourbières", short="ODO_EXUVIES", bbox=None), instance="42"
        )
        yield srv


def test_instance_listing_parses_to_valid_records(server):
    status, content_type, body = get(server, BY_INSTANCE_CA + "42")
    assert (status, content_type) == (200, "application/xml; charset=UTF-8")
    assert body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<gml:FeatureCollection')
    cas = mtd.parse_document(body)
    assert [r.uuid for r in cas] == [META, CA]  # instance 27 left out
    _, _, body = get(server, BY_INSTANCE_JDD + "42")
    jdds = mtd.parse_document(body)
    assert [(r.uuid, r.record["cadre"]) for r in jdds] == [(JDD_1, CA), (JDD_2, CA)]
    records = cas + jdds
    assert mtd.validate_records(records) == []
    assert all(r.ignored == [] and r.version == "1.3.10" for r in records)
    assert mtd.missing_cas(records) == set()
    atlas = cas[1].record
    assert atlas["date_cloture"] == "2025-12-31" and atlas["meta_cadre_parent"] == META
    assert {"nom": "ID_INSTANCE", "valeur": "42"} in atlas["attributs_additionnels"]
    assert jdds[0].record["borne_nord"] == "47.9" and "borne_nord" not in jdds[1].record
    assert jdds[1].record["libelle_court"] == "ODO_EXUVIES"
    assert server.requests == [BY_INSTANCE_CA + "42", BY_INSTANCE_JDD + "42"]


def test_user_listing(server):
    _, _, body = get(server, "/cadre/export/xml/GetRecordsByUserId?id=99")
    assert [r.uuid for r in mtd.parse_document(body)] == [CA_OTHER]
    _, _, body = get(server, "/cadre/export/xml/GetRecordsByUserId?id=4512")  # ID_CREATEUR of ca_xml
    assert [r.uuid for r in mtd.parse_document(body)] == [META, CA]


def test_get_record_by_id_is_case_insensitive(server):
    status, _, body = get(server, BY_ID_JDD + JDD_2.lower())
    records = mtd.parse_document(body)
    assert status == 200 and [r.uuid for r in records] == [JDD_2]
    assert mtd.validate_records(records) == []
    _, _, body = get(server, BY_ID_CA + CA)
    assert [r.title for r in mtd.parse_document(body)] == ["Atlas des libellules de Franche-Comté"]
    _, _, body = get(server, BY_ID_CA + JDD_1)  # a JDD is not a CA
    assert b"featureMember" not in body


def test_empty_instance_and_unknown_id(server):
    for path in (BY_INSTANCE_JDD + "1234", BY_ID_CA + "00000000-0000-0000-0000-000000000000"):
        status, content_type, body = get(server, path)
        assert (status, content_type) == (200, "application/xml; charset=UTF-8")
        assert b"<gml:FeatureCollection" in body and b"featureMember" not in body
        with pytest.raises(mtd.MtdError, match="Aucun cadre"):
            mtd.parse_document(body)


def test_bad_requests(server):
    assert get(server, "/cadre/export/xml/GetRecordById")[0] == 400
    assert get(server, "/cadre/export/xml/Nothing?id=1")[0] == 404
    with pytest.raises(urllib.error.HTTPError) as outside:  # outside the base path
        urllib.request.urlopen(server.url.removesuffix("/mtd") + "/other", timeout=5)
    outside.value.close()
    assert outside.value.code == 404
    assert server.requests[-1] == "/other"


def test_fail_times_then_always(server):
    server.fail("/cadre/jdd/export", 503, times=2)
    assert [get(server, BY_INSTANCE_JDD + "42")[0] for _ in range(3)] == [503, 503, 200]
    assert get(server, BY_INSTANCE_CA + "42")[0] == 200  # other prefix
    server.fail("/mtd/cadre/export/xml/GetRecordById")  # base path accepted, always, 500
    results = [get(server, BY_ID_CA + CA) for _ in range(3)]
    assert [r[0] for r in results] == [500] * 3 and results[0][1].startswith("text/html")
    server.reset_faults()
    assert get(server, BY_ID_CA + CA)[0] == 200


def test_delay_does_not_block_others_and_stop_is_prompt():
    srv = MtdServer().start()
    srv.add_ca(CA, ca_xml(CA, "Cadre lent"))
    srv.delay(BY_INSTANCE_CA, 30)
    host, port = srv.url.split("/")[2].split(":")
    slow = http.client.HTTPConnection(host, int(port), timeout=0.5)
    try:
        with pytest.raises(TimeoutError):
            slow.request("GET", "/mtd" + BY_INSTANCE_CA + "42")
            slow.getresponse()
    finally:
        slow.close()
    started = time.monotonic()
    assert get(srv, BY_ID_CA + CA)[0] == 200
    assert time.monotonic() - started < 1
    srv.stop()  # the delayed request is still sleeping
    assert time.monotonic() - started < 2


def test_short_delay(server):
    server.delay(BY_ID_CA, 0.3)
    started = time.monotonic()
    status, _, body = get(server, BY_ID_CA + CA)
    assert status == 200 and CA.encode() in body and time.monotonic() - started >= 0.3


def test_override(server):
    hostile = (ROOT / "tests" / "fixtures" / "mtd" / "hostile_billion_laughs.xml").read_bytes()
    server.override(BY_INSTANCE_CA, hostile)
    server.override(BY_ID_CA, b"<gml:FeatureCollection><oops", status=200)
    status, content_type, body = get(server, BY_INSTANCE_CA + "42")
    assert (status, content_type, body) == (200, "application/xml; charset=UTF-8", hostile)
    with pytest.raises(mtd.MtdError, match="DOCTYPE|ENTITY"):
        mtd.parse_document(body)
    with pytest.raises(mtd.MtdError, match="mal formé"):
        mtd.parse_document(get(server, BY_ID_CA + CA)[2])
    server.override(BY_ID_CA, b"", status=502)  # the most recent override wins
    assert get(server, BY_ID_CA + CA)[:1] == (502,)


def test_remove(server):
    server.remove(JDD_1.lower())
    _, _, body = get(server, BY_INSTANCE_JDD + "42")
    assert [r.uuid for r in mtd.parse_document(body)] == [JDD_2]
    assert b"featureMember" not in get(server, BY_ID_JDD + JDD_1)[2]
    server.add_jdd(JDD_1, jdd_xml(JDD_1, CA, "Titre modifié"))  # no ID_INSTANCE: not listed
    assert [r.uuid for r in mtd.parse_document(get(server, BY_INSTANCE_JDD + "42")[2])] == [JDD_2]
    assert [r.title for r in mtd.parse_document(get(server, BY_ID_JDD + JDD_1)[2])] == ["Titre modifié"]
