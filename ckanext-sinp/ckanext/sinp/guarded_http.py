"""The one HTTP client of every server-side request (harvesters, any fetch of a URL given by a user).

A URL that a user typed makes the server call whatever it names; without care, that is a door into
the platform's own network (Solr's admin API, Redis, PostgreSQL, cloud metadata services). Rules:

* ``http`` and ``https`` only (``file``, ``gopher``, ``ftp``… refused);
* the host is resolved (every address, IPv4 and IPv6) and refused when any address is loopback,
  link-local, private, shared (100.64/10), multicast, reserved or unspecified, including IPv6
  addresses that embed such an IPv4 address (mapped, compatible, 6to4, NAT64) and odd spellings
  (``2130706433``, ``0x7f.1``, ``[::ffff:127.0.0.1]``, ``localhost.``);
* the stack's own service ports (``ckanext.sinp.http.blocked_ports``) are refused on every host;
* ``ckanext.sinp.http.allowed_hosts`` lists exceptions: a bare host skips the address check but
  still not the service ports; only an exact ``host:port`` entry opens a service port;
* the connection goes to the address that was checked (the host name is kept for the ``Host``
  header, TLS SNI and certificate check), so a DNS answer that changes between the check and the
  connection cannot reach another address;
* redirects are followed by hand (at most 5), each hop checked again; the body is streamed and
  cut at ``ckanext.sinp.http.max_bytes``; connect and read timeouts, and a deadline for the whole.

A refused address always gives the same message (``REFUSED``), whatever the port state: nothing is
sent to it. No import of CKAN here: ``Settings.from_config`` takes any mapping; ``settings()``
reads CKAN's configuration.
"""

from __future__ import annotations

import base64
import dataclasses
import ipaddress
import socket
import time
from collections.abc import Mapping
from urllib.parse import unquote, urljoin, urlsplit

import certifi
import ckan.plugins.toolkit as tk
import urllib3
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError, ProtocolError, ReadTimeoutError, SSLError
from urllib3.exceptions import HTTPError as Urllib3Error

REFUSED = "Adresse refusée : seuls les serveurs publics en http(s) peuvent être interrogés."
SCHEMES = ("http", "https")
DEFAULT_BLOCKED_PORTS = frozenset({5000, 5432, 6379, 8000, 8983})  # CKAN, PostgreSQL, Redis, pycsw, Solr
DEFAULT_MAX_BYTES = 50 * 1024 * 1024
DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_READ_TIMEOUT = 30.0
DEFAULT_DEADLINE = 300.0
MAX_REDIRECTS = 5
REDIRECTS = (301, 302, 303, 307, 308)
CHUNK = 64 * 1024
USER_AGENT = "ckanext-sinp (+https://github.com/)"
SHARED = ipaddress.ip_network("100.64.0.0/10")
NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))

KEYS = {
    "allowed_hosts": "ckanext.sinp.http.allowed_hosts",
    "blocked_ports": "ckanext.sinp.http.blocked_ports",
    "max_bytes": "ckanext.sinp.http.max_bytes",
    "connect_timeout": "ckanext.sinp.http.connect_timeout",
    "read_timeout": "ckanext.sinp.http.timeout",
    "deadline": "ckanext.sinp.http.deadline",
}


class GuardedHttpError(Exception):
    """A request refused or failed; the message is French and meant for the user. ``refused`` is
    true when the address itself was refused (the message is then always ``REFUSED``)."""

    def __init__(self, message: str, refused: bool = False):
        super().__init__(message)
        self.refused = refused


@dataclasses.dataclass(frozen=True)
class Settings:
    allowed_hosts: frozenset = frozenset()  # normalised host names / IP literals
    allowed_host_ports: frozenset = frozenset()  # (host, port)
    blocked_ports: frozenset = DEFAULT_BLOCKED_PORTS
    max_bytes: int = DEFAULT_MAX_BYTES
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    read_timeout: float = DEFAULT_READ_TIMEOUT
    deadline: float = DEFAULT_DEADLINE

    @classmethod
    def from_config(cls, config: Mapping) -> Settings:
        """Settings from a mapping holding the ``ckanext.sinp.http.*`` keys (absent: defaults)."""
        hosts, host_ports = parse_allowed_hosts(config.get(KEYS["allowed_hosts"]) or "")
        ports = config.get(KEYS["blocked_ports"])
        blocked = (
            DEFAULT_BLOCKED_PORTS if ports is None else frozenset(int(p) for p in str(ports).replace(",", " ").split())
        )
        return cls(
            allowed_hosts=hosts,
            allowed_host_ports=host_ports,
            blocked_ports=blocked,
            max_bytes=int(config.get(KEYS["max_bytes"]) or DEFAULT_MAX_BYTES),
            connect_timeout=float(config.get(KEYS["connect_timeout"]) or DEFAULT_CONNECT_TIMEOUT),
            read_timeout=float(config.get(KEYS["read_timeout"]) or DEFAULT_READ_TIMEOUT),
            deadline=float(config.get(KEYS["deadline"]) or DEFAULT_DEADLINE),
        )


def settings() -> Settings:
    """The settings of the running CKAN (``ckanext.sinp.http.*``)."""

    return Settings.from_config(tk.config)


def normalize_host(host: str) -> str:
    """Lower case, no trailing dot, no IPv6 brackets, IDNA (ASCII) for international names."""
    host = host.strip().strip("[]").rstrip(".").lower()
    try:
        return host.encode("idna").decode("ascii") if not host.isascii() else host
    except UnicodeError:
        return host


def parse_allowed_hosts(text: str) -> tuple[frozenset, frozenset]:
    """``"csw.partenaire.fr 127.0.0.1:8001 [::1]:9000"`` -> ({hosts}, {(host, port)})."""
    hosts, host_ports = set(), set()
    for entry in str(text).split():
        if entry.startswith("[") and "]:" in entry:
            host, port = entry[1:].split("]:", 1)
        elif entry.count(":") == 1:
            host, port = entry.split(":", 1)
        else:
            host, port = entry, ""
        if port:
            host_ports.add((normalize_host(host), int(port)))
        else:
            hosts.add(normalize_host(host))
    return frozenset(hosts), frozenset(host_ports)


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if any(ip in net for net in NAT64):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if int(ip) >> 32 == 0 and int(ip) > 1:  # IPv4-compatible (::a.b.c.d, deprecated)
        return ipaddress.IPv4Address(int(ip))
    return None


def is_public_address(address: str) -> bool:
    """True for an address that is globally routable and none of the refused classes."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded is not None and not is_public_address(str(embedded)):
            return False
    if isinstance(ip, ipaddress.IPv4Address) and ip in SHARED:
        return False
    return ip.is_global and not (
        ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_reserved or ip.is_unspecified
    )


@dataclasses.dataclass(frozen=True)
class Target:
    """A checked URL: where to connect (``addresses``) and what to ask for."""

    url: str
    scheme: str
    host: str  # normalised, without brackets
    port: int
    path: str  # path and query
    addresses: tuple
    auth: str | None = None  # "user:password" from the URL

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"


def _resolve(host: str, port: int) -> tuple:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, OSError):
        raise GuardedHttpError(
            f"Serveur introuvable : le nom « {host} » ne correspond à aucune adresse ; vérifiez l'URL."
        ) from None
    addresses = []
    for info in infos:
        address = info[4][0]
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise GuardedHttpError(
            f"Serveur introuvable : le nom « {host} » ne correspond à aucune adresse ; vérifiez l'URL."
        )
    return tuple(addresses)


def check_url(url: str, conf: Settings | None = None) -> Target:
    """The target of ``url`` if the rules allow it; raises GuardedHttpError (French) otherwise.
    Resolves the host: call it again right before connecting."""
    conf = conf if conf is not None else settings()
    if not isinstance(url, str) or not url.strip():
        raise GuardedHttpError("Adresse vide : indiquez une URL commençant par https:// ou http://.")
    url = url.strip()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise GuardedHttpError(f"Adresse invalide : « {url} » n'est pas une URL http(s) lisible.") from None
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        shown = f"« {scheme} »" if scheme else "sans protocole"
        raise GuardedHttpError(
            f"Adresse refusée : seules les adresses http:// et https:// sont acceptées (adresse {shown}).", refused=True
        )
    host = normalize_host(parts.hostname or "")
    if not host:
        raise GuardedHttpError(f"Adresse invalide : « {url} » ne nomme aucun serveur.")
    port = port or (443 if scheme == "https" else 80)
    exact = (host, port) in conf.allowed_host_ports
    if port in conf.blocked_ports and not exact:
        raise GuardedHttpError(REFUSED, refused=True)
    allowed = exact or host in conf.allowed_hosts
    if not allowed and (host == "localhost" or host.endswith(".localhost")):
        raise GuardedHttpError(REFUSED, refused=True)
    addresses = _resolve(host, port)
    if not allowed and not all(is_public_address(a) for a in addresses):
        raise GuardedHttpError(REFUSED, refused=True)
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    auth = None
    if parts.username is not None:
        auth = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
    return Target(url=url, scheme=scheme, host=host, port=port, path=path, addresses=addresses, auth=auth)


@dataclasses.dataclass
class Response:
    url: str  # the last URL (after redirects)
    status: int
    headers: dict
    content: bytes


class GuardedClient:
    """``with GuardedClient() as client: client.get(url).content``. Connections are kept per checked
    address; every request checks its URL (and each redirect) again."""

    def __init__(self, conf: Settings | None = None, user_agent: str = USER_AGENT):
        self.settings = conf if conf is not None else settings()
        self.user_agent = user_agent
        self._pools: dict = {}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()

    def get(self, url: str, **kwargs) -> Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, data: bytes | None = None, **kwargs) -> Response:
        return self.request("POST", url, data=data, **kwargs)

    def request(
        self,
        method: str,
        url: str,
        data: bytes | None = None,
        headers: dict | None = None,
        timeout: float | None = None,
    ) -> Response:
        """The response (any status but a redirect), body read in full within the limits."""
        read_timeout = float(timeout) if timeout else self.settings.read_timeout
        deadline = time.monotonic() + max(self.settings.deadline, read_timeout)
        method = method.upper()
        body = data.encode("utf-8") if isinstance(data, str) else data
        first = check_url(url, self.settings)
        target = first
        for _ in range(MAX_REDIRECTS + 1):
            response = self._send(
                target,
                method,
                body,
                headers or {},
                read_timeout,
                deadline,
                send_auth=target.auth is not None and target.host == first.host,
            )
            location = response.headers.get("location")
            if response.status not in REDIRECTS or not location:
                return self._read(target, response, deadline, read_timeout)
            response.close()  # the body of a redirect is not read
            response.release_conn()
            if response.status == 303 or (response.status in (301, 302) and method == "POST"):
                method, body = "GET", None
            target = check_url(urljoin(target.url, location), self.settings)
        raise GuardedHttpError(f"Trop de redirections (plus de {MAX_REDIRECTS}) depuis {url}.")

    # --- one hop ---------------------------------------------------------------------------------

    def _pool(self, target: Target, address: str):
        key = (target.scheme, address, target.port, target.host)
        pool = self._pools.get(key)
        if pool is None:
            if target.scheme == "https":
                literal = _is_ip_literal(target.host)
                pool = urllib3.HTTPSConnectionPool(
                    address,
                    target.port,
                    maxsize=1,
                    cert_reqs="CERT_REQUIRED",
                    ca_certs=certifi.where(),
                    server_hostname=None if literal else target.host,
                    assert_hostname=target.host,
                )
            else:
                pool = urllib3.HTTPConnectionPool(address, target.port, maxsize=1)
            self._pools[key] = pool
        return pool

    def _send(
        self, target: Target, method: str, body, headers: dict, read_timeout: float, deadline: float, send_auth: bool
    ):
        all_headers = {
            "User-Agent": self.user_agent,
            "Accept": "*/*",
            "Accept-Encoding": "gzip, deflate",
            **headers,
            "Host": target.host_header,
        }
        if send_auth:
            all_headers["Authorization"] = "Basic " + base64.b64encode(target.auth.encode("utf-8")).decode("ascii")
        last = None
        for address in target.addresses:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                total = max(self.settings.deadline, read_timeout)
                raise GuardedHttpError(f"Pas de réponse dans le délai total de {total:g} s ({target.url}).")
            timeout = urllib3.Timeout(
                connect=min(self.settings.connect_timeout, read_timeout, remaining), read=min(read_timeout, remaining)
            )
            try:
                return self._pool(target, address).urlopen(
                    method,
                    target.path,
                    body=body,
                    headers=all_headers,
                    redirect=False,
                    retries=False,
                    preload_content=False,
                    decode_content=True,
                    timeout=timeout,
                    assert_same_host=False,
                )
            except (NewConnectionError, ConnectTimeoutError) as err:
                last = err  # next address of the same (checked) host
            except ReadTimeoutError:
                raise GuardedHttpError(f"Pas de réponse en {read_timeout:g} s ({target.url}).") from None
            except SSLError:
                raise GuardedHttpError(
                    f"Connexion sécurisée impossible : le certificat TLS du serveur est refusé ({target.url})."
                ) from None
            except (Urllib3Error, OSError):
                raise GuardedHttpError(f"Serveur injoignable ({target.url}).") from None
        if not isinstance(last, NewConnectionError):
            raise GuardedHttpError(f"Pas de réponse en {read_timeout:g} s ({target.url}).")
        raise GuardedHttpError(f"Serveur injoignable ({target.url}).")

    def _read(self, target: Target, response, deadline: float, read_timeout: float) -> Response:
        limit = self.settings.max_bytes
        too_big = GuardedHttpError(
            f"Réponse trop volumineuse : plus de {_size(limit)} ({target.url}) ; la limite "
            "est le réglage ckanext.sinp.http.max_bytes."
        )
        try:
            declared = int(response.headers.get("content-length") or 0)
        except ValueError:
            declared = 0
        chunks, size, complete = [], 0, False
        try:
            if declared > limit:
                raise too_big
            for chunk in response.stream(CHUNK, decode_content=True):
                size += len(chunk)
                if size > limit:
                    raise too_big
                if time.monotonic() > deadline:
                    raise GuardedHttpError(
                        f"Réponse trop lente : pas terminée dans le délai total de "
                        f"{max(self.settings.deadline, read_timeout):g} s ({target.url})."
                    )
                chunks.append(chunk)
            complete = True
        except ReadTimeoutError:
            raise GuardedHttpError(f"Pas de réponse en {read_timeout:g} s ({target.url}).") from None
        except (ProtocolError, Urllib3Error, OSError):
            raise GuardedHttpError(f"Réponse interrompue par le serveur ({target.url}).") from None
        finally:
            if not complete:
                response.close()  # the connection is not reused with unread data on it
            response.release_conn()
        return Response(
            url=target.url, status=response.status, headers=dict(response.headers), content=b"".join(chunks)
        )


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False


def _size(n: int) -> str:
    return f"{n / 1024 / 1024:g} Mio" if n >= 1024 * 1024 else f"{n} octets"
