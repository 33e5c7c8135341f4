"""The guarded HTTP client (ckanext/sinp/guarded_http.py) against tiny local servers. No CKAN."""

from __future__ import annotations

import contextlib
import gzip
import http.server
import socket
import sys
import threading

import pytest

from ckanext.sinp import guarded_http as gh
from tests.conftest import ROOT

SUPPORT = ROOT / "tests" / "integration" / "support"
if str(SUPPORT) not in sys.path:
    sys.path.insert(0, str(SUPPORT))

from recorder import Recorder  # noqa: E402

REFUSED = "Adresse refusée : seuls les serveurs publics en http(s) peuvent être interrogés."


@contextlib.contextmanager
def server(routes: dict):
    """An http.server on 127.0.0.1 answering ``routes``: path -> (status, headers, body)."""
    seen = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def _answer(self):
            length = int(self.headers.get("Content-Length") or 0)
            seen.append((self.command, self.path, self.headers.get("Host"), self.rfile.read(length)))
            status, headers, body = routes.get(self.path, (404, {}, b"absent"))
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            if "Content-Length" not in headers:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _answer

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd.server_address[1], seen
    finally:
        httpd.shutdown()
        httpd.server_close()


def settings(allowed: str = "", **kw) -> gh.Settings:
    return gh.Settings.from_config({"ckanext.sinp.http.allowed_hosts": allowed, **kw})


def refused(url: str, conf: gh.Settings | None = None) -> gh.GuardedHttpError:
    with pytest.raises(gh.GuardedHttpError) as err:
        gh.check_url(url, conf or settings())
    return err.value


# --- address classes and spellings ---------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://127.1.2.3:8080/x",
        "http://localhost/",
        "http://localhost./",
        "http://LOCALHOST/",
        "http://api.localhost/",
        "http://2130706433/",
        "http://0x7f.1/",
        "http://0177.0.0.1/",
        "http://127.1/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::ffff:7f00:1]/",
        "http://[::127.0.0.1]/",
        "http://[64:ff9b::7f00:1]/",
        "http://[2002:7f00:1::]/",
        "http://0.0.0.0/",
        "http://0/",
        "http://[::]/",  # unspecified
        "http://10.1.2.3/",
        "http://172.16.0.1/",
        "http://192.168.1.1/",
        "http://[fd00::1]/",  # private
        "http://169.254.169.254/latest/meta-data/",
        "http://[fe80::1]/",  # link-local (cloud metadata)
        "http://100.64.0.1/",
        "http://100.127.255.254/",  # shared (carrier-grade NAT)
        "http://224.0.0.1/",
        "http://239.255.255.250/",
        "http://[ff02::1]/",  # multicast
        "http://240.0.0.1/",
        "http://255.255.255.255/",
        "http://192.0.2.1/",
        "http://198.18.0.1/",  # reserved, test
        "https://[::ffff:10.0.0.1]:443/",
    ],
)
def test_every_internal_address_is_refused_with_the_same_message(url):
    err = refused(url)
    assert str(err) == REFUSED and err.refused


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "gopher://127.0.0.1:6379/_INFO",
        "ftp://ftp.example.org/",
        "dict://127.0.0.1:6379/",
        "javascript:alert(1)",
        "//example.org/",
        "ldap://x/",
    ],
)
def test_only_http_and_https_are_accepted(url):
    err = refused(url)
    assert err.refused and "seules les adresses http:// et https:// sont acceptées" in str(err)


@pytest.mark.parametrize("port", [8983, 6379, 5432, 5000, 8000])
def test_the_stack_s_service_ports_are_refused_even_on_a_public_address(port):
    assert str(refused(f"http://8.8.8.8:{port}/solr/admin/info/system")) == REFUSED


def test_a_public_address_passes_and_keeps_its_path_and_query():
    target = gh.check_url("https://8.8.8.8/csw?service=CSW&request=GetCapabilities#frag", settings())
    assert target.addresses == ("8.8.8.8",) and target.port == 443
    assert target.path == "/csw?service=CSW&request=GetCapabilities" and target.host_header == "8.8.8.8"


def test_empty_or_unreadable_urls_are_explained_in_french():
    assert "Adresse vide" in str(refused(""))
    assert "n'est pas une URL http(s) lisible" in str(refused("http://host:port/"))
    assert "Serveur introuvable" in str(refused("http://nom-inexistant.invalid/"))


# --- allow-list ----------------------------------------------------------------------------------


def test_a_bare_allowed_host_opens_the_host_but_not_the_service_ports():
    conf = settings("127.0.0.1 csw.intranet.invalid")
    assert gh.check_url("http://127.0.0.1:8001/csw", conf).addresses == ("127.0.0.1",)
    assert str(refused("http://127.0.0.1:8983/solr", conf)) == REFUSED
    assert str(refused("http://127.0.0.1:6379/", conf)) == REFUSED
    # another spelling of the allowed address is not the allowed host
    assert str(refused("http://2130706433:8001/", conf)) == REFUSED
    assert str(refused("http://localhost:8001/", conf)) == REFUSED


def test_only_an_exact_host_port_entry_opens_a_service_port():
    conf = settings("127.0.0.1:8000 [::1]:9000")
    assert gh.check_url("http://127.0.0.1:8000/csw", conf).port == 8000
    assert str(refused("http://127.0.0.1:8001/", conf)) == REFUSED  # that entry is for port 8000 only
    assert gh.check_url("http://[::1]:9000/", conf).host == "::1"
    assert str(refused("http://[::1]:9001/", conf)) == REFUSED


def test_settings_read_from_configuration():
    conf = settings(
        " Csw.Example.FR.  10.0.0.5:8983 ",
        **{"ckanext.sinp.http.blocked_ports": "1234 5678", "ckanext.sinp.http.max_bytes": "10"},
    )
    assert conf.allowed_hosts == {"csw.example.fr"} and conf.allowed_host_ports == {("10.0.0.5", 8983)}
    assert conf.blocked_ports == {1234, 5678} and conf.max_bytes == 10
    assert gh.Settings.from_config({}).blocked_ports == {5000, 5432, 6379, 8000, 8983}
    assert gh.Settings.from_config({}).max_bytes == 50 * 1024 * 1024


# --- requests against local servers ----------------------------------------------------------------


def test_a_request_to_an_allowed_server_gets_its_answer_and_sends_the_host_name():
    with server({"/csw": (200, {"Content-Type": "application/xml"}, b"<ok/>")}) as (port, seen):
        with gh.GuardedClient(settings(f"127.0.0.1:{port}")) as client:
            response = client.post(f"http://127.0.0.1:{port}/csw", data=b"<GetRecords/>")
    assert response.status == 200 and response.content == b"<ok/>"
    assert seen == [("POST", "/csw", f"127.0.0.1:{port}", b"<GetRecords/>")]


def test_a_refused_address_is_never_contacted():
    with Recorder() as solr:
        for url in (
            f"http://127.0.0.1:{solr.port}/solr/admin/cores?action=UNLOAD&core=ckan",
            f"http://2130706433:{solr.port}/",
            f"http://[::ffff:127.0.0.1]:{solr.port}/",
        ):
            with pytest.raises(gh.GuardedHttpError) as err:
                gh.GuardedClient(settings()).get(url)
            assert str(err.value) == REFUSED
        assert solr.connections == 0


def test_each_redirect_is_checked_again():
    with (
        Recorder() as solr,
        server(
            {
                "/csw": (302, {"Location": f"http://127.0.0.1:{solr.port}/solr/admin"}, b""),
                "/rel": (301, {"Location": "/csw"}, b""),
            }
        ) as (port, seen),
    ):
        client = gh.GuardedClient(settings(f"127.0.0.1:{port}"))  # the first hop only is allowed
        with pytest.raises(gh.GuardedHttpError) as err:
            client.get(f"http://127.0.0.1:{port}/rel")
        assert str(err.value) == REFUSED  # the message does not say where the redirect went
        assert [s[1] for s in seen] == ["/rel", "/csw"] and solr.connections == 0


def test_redirects_are_followed_up_to_five_and_a_303_becomes_a_get():
    routes = {f"/r{i}": (307, {"Location": f"/r{i + 1}"}, b"") for i in range(5)}
    routes["/r5"] = (303, {"Location": "/end"}, b"")
    routes["/end"] = (200, {}, b"fin")
    routes["/loop"] = (302, {"Location": "/loop"}, b"")
    with server(routes) as (port, seen):
        client = gh.GuardedClient(settings(f"127.0.0.1:{port}"))
        response = client.post(f"http://127.0.0.1:{port}/r1", data=b"corps")
        assert response.content == b"fin" and response.url.endswith("/end")
        assert [(m, p) for m, p, _, _ in seen][-2:] == [("POST", "/r5"), ("GET", "/end")]
        with pytest.raises(gh.GuardedHttpError) as err:
            client.get(f"http://127.0.0.1:{port}/loop")
        assert "Trop de redirections (plus de 5)" in str(err.value)


def test_a_response_larger_than_the_limit_is_cut_in_french():
    big = b"x" * 5000
    with server(
        {
            "/big": (200, {}, big),
            "/chunked": (200, {"Content-Length": "10"}, b"0123456789"),
            "/gz": (200, {"Content-Encoding": "gzip"}, gzip.compress(big)),
        }
    ) as (port, _):
        client = gh.GuardedClient(settings(f"127.0.0.1:{port}", **{"ckanext.sinp.http.max_bytes": "1000"}))
        for path in ("/big", "/gz"):  # declared size, and a small compressed body that inflates beyond
            with pytest.raises(gh.GuardedHttpError) as err:
                client.get(f"http://127.0.0.1:{port}{path}")
            assert "Réponse trop volumineuse : plus de 1000 octets" in str(err.value)
            assert "ckanext.sinp.http.max_bytes" in str(err.value)
        assert client.get(f"http://127.0.0.1:{port}/chunked").content == b"0123456789"


def test_an_unreachable_allowed_server_is_reported_in_french():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: connection refused
        with pytest.raises(gh.GuardedHttpError) as err:
            gh.GuardedClient(settings(f"127.0.0.1:{port}")).get(f"http://127.0.0.1:{port}/")
    assert str(err.value).startswith("Serveur injoignable") and not err.value.refused


def test_the_connection_goes_to_the_checked_address(monkeypatch):
    """DNS rebinding: the name first resolves to a public address, then to 127.0.0.1. The client
    connects to the address it checked and never resolves the name again."""
    answers = iter(["93.184.216.34"])
    lookups, connects = [], []
    real = socket.getaddrinfo

    def fake_getaddrinfo(host, port, *args, **kwargs):
        if host == "rebind.example":
            lookups.append(host)
            address = next(answers, "127.0.0.1")
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]
        return real(host, port, *args, **kwargs)

    def fake_create_connection(address, *args, **kwargs):
        connects.append(address)
        raise OSError("no network in tests")

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    monkeypatch.setattr("urllib3.util.connection.create_connection", fake_create_connection)
    monkeypatch.setattr("urllib3.connection.connection.create_connection", fake_create_connection, raising=False)
    with pytest.raises(gh.GuardedHttpError) as err:
        gh.GuardedClient(settings()).get("http://rebind.example/csw")
    assert str(err.value).startswith("Serveur injoignable")
    assert lookups == ["rebind.example"] and connects == [("93.184.216.34", 80)]
