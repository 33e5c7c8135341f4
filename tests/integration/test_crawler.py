"""Crawler: every page reachable by following links from « / », for a visitor, a producer and a sysadmin.

Each visitor starts at « / » and follows the links of the pages it gets (same host, GET, breadth first,
at most PAGES pages and two query strings per path; logout, actions, downloads and machine formats
left out). On every page a person sees, the test fails, naming the page, on:

- English text of the interface (visible text, tooltips, placeholders, button values, confirmations):
  a list of English words that French does not use, and the English messages that the hostile-input
  suite already forbids; proper nouns and standard names (CKAN, CSW, DCAT, INSPIRE, TAXREF…) allowed;
- raw nomenclature codes where a label exists: a field of a CA or JDD page shown as its code
  (« 5.2 » for « Inventaire de répartition »), or a bare « true »/« false »/« None »;
- missing assets: a script, a stylesheet or an image of the page that does not answer 200, or that
  comes from another host (no CDN);
- broken links: a link of the page that answers an error.

The findings of the three crawls are grouped by area of the site (one test per area and kind), so
that the area at fault is named.
"""

from __future__ import annotations

import collections
import contextlib
import copy
import dataclasses
import json
import re
import time
import urllib.parse
import uuid

import pytest
from ckan.tests import factories
from lxml import html as lxml_html

from tests.integration.test_hostile_inputs import EMAIL, FORBIDDEN
from tests.integration.test_occurrence_deposits import rows, upload, wait_report
from tests.integration.test_sinp_records import CA, JDD, Api

PAGES = 70  # per visitor: every kind of page of this small site, in ~25 s
PER_PATH = 2  # query strings per path (facets and pages of a search are many)

# never followed: leaving, acting (CKAN and ckanext-harvest have GET links that act), downloads and
# machine formats (not pages), the other language
SKIP = re.compile(
    r"/_?logout|/logged_out|/(refresh|clear|abort|job/\w+/abort|delete|purge|revoke|unfollow|follow)(/|$|\?)"
    r"|/download(/|$)|/api/|/csw|/catalog\.|/dcat|\.(csv|pdf|xml|json|jsonld|rdf|ttl|n3|zip|geojson|xlsx?)(\?|$)"
    r"|^/en(/|$)|/webassets/|/base/|/uploads/|/dataset/\w+\.\w+$|/changes(_multiple)?(/|$)",
)
AREAS = (  # (area, path pattern): the first that matches
    ("moissonnage", r"^/harvest"),
    ("activite", r"/activity(/|$)|^/dashboard/?$"),
    ("administration", r"^/ckan-admin|^/chefs-de-file"),
    ("tableau-de-bord", r"^/dashboard"),
    ("comptes", r"^/user"),
    ("depots", r"/depot(/|$)|/resource(/|$)"),
    ("validation", r"/validation"),
    ("territoire", r"^/territoire"),
    ("organisations", r"^/(organization|group)"),
    ("fiches", r"^/(dataset|ca|jdd)(/|$)"),
    ("accueil", r"^/(about)?$"),
    ("autres", r""),
)
KINDS = ("anglais", "codes", "ressources", "liens")

# --- English ----------------------------------------------------------------------------------------

# words of an English interface that French does not use (« file », « content », « main », « public »,
# « active », « explore », « zoom », « sort », « rectangle », « close », « go » are French words too)
ENGLISH = re.compile(
    r"\b(the|and|with|without|your|you|this|that|these|those|there|here|is|are|was|were|has|have|been|will|"
    r"would|can|could|should|must|not|of|for|from|by|to|at|into|about|all|any|found|search|add|edit|update|"
    r"create|delete|remove|submit|save|cancel|skip|username|password|login|log in|sign in|sign up|register|"
    r"home|view|show|hide|activity|activities|dataset|datasets|organization|organizations|group|groups|"
    r"resource|resources|member|members|user|users|settings|profile|dashboard|followers?|following|news|"
    r"feed|license|harvest|harvesting|job|jobs|started|finished|error|errors|report|clear|new|next|previous|"
    r"filter|filters|sort by|order by|title|name|download|preview|manage|trash|powered|token|tokens|select|"
    r"yes|none|other|upload|uploaded|link|changes|changed|created|updated|deleted|published|private|draft|"
    r"state|last|modified|unknown|loading|please|sorry|welcome|help|back|more|less|map|draw|click|drag|"
    r"finish|undo|polygon|marker|layers?|read more|see all|no results|records?|frequency|language|weekly|monthly|daily)\b",
    re.IGNORECASE,
)
# proper nouns and standard names, and licence titles, that stay as they are
ALLOWED = re.compile(
    r"CKAN|CSW|DCAT|INSPIRE|GeoNetwork|TAXREF|Leaflet|OpenStreetMap|Markdown|GeoJSON|WKT|SINP|ISO ?19115|"
    r"ISO ?19139|Dublin Core|Creative Commons[\w ().-]*|Open Data Commons[\w ().-]*|Open Database License|"
    r"Open Licen[cs]e|Licence Ouverte|GNU[\w ().-]*|OData|API|ckan [a-z]+ [a-z]+",  # a command: « ckan clean activities »
)
HIDDEN_TAGS = {"script", "style", "noscript", "template", "code", "pre", "svg", "kbd", "samp"}
TEXT_ATTRIBUTES = ("title", "placeholder", "aria-label", "alt", "data-module-content", "data-module-heading")


def visible_texts(tree) -> list[str]:
    """The texts a person reads or hears on the page: text nodes (not scripts, code or styles),
    tooltips, placeholders, labels for screen readers, button values and confirmation texts."""
    texts = []
    title = tree.find(".//title")
    if title is not None and title.text:
        texts.append(title.text)
    for element in tree.iter():
        if not isinstance(element.tag, str):
            continue
        if element.tag in HIDDEN_TAGS or any(a.tag in HIDDEN_TAGS for a in element.iterancestors()):
            continue
        if element.text and element.text.strip():
            texts.append(element.text)
        for attribute in TEXT_ATTRIBUTES:
            if element.get(attribute):
                texts.append(element.get(attribute))
        if element.get("data-module-i18n"):  # the texts of a confirmation window (CKAN's confirm-action)
            with contextlib.suppress(ValueError, AttributeError):
                texts.extend(str(v) for v in json.loads(element.get("data-module-i18n")).values())
        if element.tag == "input" and element.get("type") in ("submit", "button", "reset"):  # a <button>: its content
            texts.append(element.get("value") or "")
    for element in tree.iter():
        if isinstance(element.tag, str) and element.tail and element.tail.strip():
            parent = element.getparent()
            if parent is not None and parent.tag not in HIDDEN_TAGS:
                texts.append(element.tail)
    return [" ".join(t.split()) for t in texts if t and t.strip()]


def english_in(text: str) -> str | None:
    """The English word or message of a text, or None."""
    if re.fullmatch(r"\S*/\S*", text):  # a path or an address (« /organization/ » before a URL field)
        return None
    text = ALLOWED.sub(" ", EMAIL.sub(" ", text))
    text = re.sub(r"https?://\S+|\S+\.(csv|pdf|xml|json)\b", " ", text)  # addresses and file names
    text = re.sub(r"« \w+ »", " ", text)  # a quoted term: a code of a standard (« series », « dataset »)
    found = ENGLISH.search(text) or FORBIDDEN.search(text)
    return found.group(0) if found else None


# --- raw codes --------------------------------------------------------------------------------------

RAW_VALUES = {"true", "false", "none", "null", "nan", "[]", "{}"}


def field_choices() -> dict[str, dict[str, str]]:
    """{label of a field or sub-field of the CA and JDD schemas: {code: label}}, for the fields with
    choices whose label differs from the code (the schemas' nomenclatures, one source of truth)."""
    from ckan.plugins import toolkit as tk
    from ckanext.scheming.helpers import scheming_field_choices, scheming_get_dataset_schema, scheming_language_text

    out: dict[str, dict[str, str]] = {}
    for dataset_type in ("ca", "jdd"):
        schema = scheming_get_dataset_schema(dataset_type)
        fields = list(schema["dataset_fields"])
        fields += [sub for f in schema["dataset_fields"] for sub in f.get("repeating_subfields") or []]
        for field in fields:
            if not (field.get("choices") or field.get("choices_helper")) or field.get("choices_helper", "").endswith(
                ("_ca_choices", "meta_cadre_choices")
            ):
                continue  # the CA pickers: choices of the user, not codes (the record shows the CA's title)
            choices = scheming_field_choices(field) or []
            codes = {
                str(c["value"]): scheming_language_text(c.get("label"))
                for c in choices
                if str(c["value"]) != scheming_language_text(c.get("label"))
            }
            if codes:
                out.setdefault(" ".join(tk.h.scheming_language_text(field["label"]).split()), {}).update(codes)
    return out


def raw_codes_in(tree, choices: dict[str, dict[str, str]]) -> list[str]:
    """Fields of a record page shown as a code (« Objectif du jeu de données : 5.2 ») or a raw value."""
    found = []
    pairs = [(row.find("th"), row.find("td")) for row in tree.xpath("//tr[th and td]")]
    pairs += [(dt, dt.getnext()) for dt in tree.xpath("//dl/dt") if dt.getnext() is not None]
    for label_element, value_element in pairs:
        label = " ".join(label_element.text_content().split())
        items = [li.text_content() for li in value_element.iter("li")] or [value_element.text_content()]
        for item in (" ".join(i.split()) for i in items):
            if item.lower() in RAW_VALUES:
                found.append(f"{label} : {item!r}")
            elif item in choices.get(label, {}):
                found.append(f"{label} : {item!r} au lieu de « {choices[label][item]} »")
    return found


# --- crawling ---------------------------------------------------------------------------------------


@dataclasses.dataclass
class Finding:
    area: str
    kind: str
    visitor: str
    page: str
    detail: str

    def __str__(self):
        return f"[{self.visitor}] {self.page} : {self.detail}"


def area_of(path: str) -> str:
    return next(name for name, pattern in AREAS if re.search(pattern, path))


class Crawler:
    def __init__(self, app, hosts: set[str], choices):
        self.app, self.hosts, self.choices = app, hosts, choices
        self.findings: list[Finding] = []
        self.assets: dict[str, int | str] = {}  # checked once for every visitor
        self.visited: dict[str, list[str]] = {}

    def local(self, base: str, href: str) -> str | None:
        """The path and query of a link to this site, or None (another host, an anchor, mailto:…)."""
        url = urllib.parse.urljoin("http://localhost" + base, href.strip())
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or parts.netloc not in self.hosts:
            return None
        return parts.path + (f"?{parts.query}" if parts.query else "")

    def crawl(self, visitor: str, headers: dict[str, str]) -> None:
        queue = collections.deque([("/", "(départ)")])
        seen, per_path, pages = {"/"}, collections.Counter(), []
        while queue and len(pages) < PAGES:
            url, referrer = queue.popleft()
            response = self.app.get(url, headers=headers)
            if response.status_code in (301, 302, 303, 307, 308):
                target = self.local(url, response.headers.get("Location", ""))
                if target and target not in seen and not SKIP.search(target):
                    seen.add(target)
                    queue.appendleft((target, referrer))
                continue
            area = area_of(urllib.parse.urlsplit(url).path)
            if response.status_code != 200:
                self.findings.append(
                    Finding(area, "liens", visitor, url, f"répond {response.status_code} (lien de {referrer})")
                )
                continue
            if "text/html" not in response.headers.get("Content-Type", ""):
                continue
            pages.append(url)
            tree = lxml_html.fromstring(response.get_data(as_text=True))
            self.check_page(visitor, url, area, tree, headers)
            for href in tree.xpath("//a/@href"):
                target = self.local(url, href)
                if not target or target in seen or SKIP.search(target):
                    continue
                path = urllib.parse.urlsplit(target).path
                if "?" in target and per_path[path] >= PER_PATH:
                    continue
                per_path[path] += "?" in target
                seen.add(target)
                queue.append((target, url))
        self.visited[visitor] = pages

    def check_page(self, visitor, url, area, tree, headers) -> None:
        english = sorted({f"{english_in(t)!r} dans « {t[:160]} »" for t in visible_texts(tree) if english_in(t)})
        for detail in english:
            self.findings.append(Finding(area, "anglais", visitor, url, detail))
        if re.match(r"^/(ca|jdd)/[^/?]+$", url):
            for detail in raw_codes_in(tree, self.choices):
                self.findings.append(Finding(area, "codes", visitor, url, detail))
        sources = tree.xpath("//script/@src|//img/@src|//link[contains(@rel, 'stylesheet')]/@href")
        for source in sources:
            if source.startswith("data:"):
                continue
            target = self.local(url, source)
            if target is None:
                self.findings.append(Finding(area, "ressources", visitor, url, f"{source} : autre hôte (CDN ?)"))
                continue
            if target not in self.assets:
                self.assets[target] = self.app.get(target, headers=headers).status_code
            if self.assets[target] != 200:
                self.findings.append(Finding(area, "ressources", visitor, url, f"{target} : {self.assets[target]}"))


# --- the site and the three visitors -----------------------------------------------------------------

_CRAWL: dict[str, Crawler] = {}


def _site(app) -> dict[str, dict[str, str]]:
    """A producer's structure with a published CA, a published JDD holding a small deposit and a private
    JDD; a sysadmin. People and structures have French names, like the demo's."""
    # no picture (CKAN's factories give each one on another host) and names like the demo's, not
    # « organization-abcd-1234 »
    suffix = uuid.uuid4().hex[:8]
    # and a French « about » (CKAN's factories write a random English sentence, shown on the user and
    # dashboard pages: found or not by the English check depending on the words drawn)
    producer = factories.UserWithToken(
        fullname="Léa Martin", image_url="", about="Chargée d'études au conservatoire, saisie des inventaires."
    )
    org = factories.Organization(
        name=f"cen-bfc-{suffix}",
        users=[{"name": producer["name"], "capacity": "editor"}],
        title="CEN Bourgogne-Franche-Comté",
        description="Conservatoire d'espaces naturels de Bourgogne-Franche-Comté.",
        image_url="",
    )
    sysadmin = factories.SysadminWithToken(
        fullname="Administrateur de la plateforme", image_url="", about="Administration de la plateforme régionale."
    )
    api = Api(app, producer["token"])
    ca = api.ok("package_create", **{**copy.deepcopy(CA), "name": f"ca-{suffix}", "owner_org": org["id"]})
    api.ok("package_patch", id=ca["id"], private=False)
    jdd = api.ok(
        "package_create",
        **{**copy.deepcopy(JDD), "name": f"jdd-{suffix}", "owner_org": org["id"], "cadre": ca["sinp_uuid"]},
    )
    api.ok(
        "package_create",
        **{
            **copy.deepcopy(JDD),
            "name": f"jdd-brouillon-{suffix}",
            "title": "Relevés en cours de saisie",
            "owner_org": org["id"],
            "cadre": ca["sinp_uuid"],
        },
    )
    resource = upload(app, producer["token"], jdd["id"], rows(5).encode("utf-8"))
    wait_report(api, resource["id"])
    api.ok("package_patch", id=jdd["id"], private=False)
    return {
        "anonyme": {},
        "producteur": {"Authorization": producer["token"]},
        "administrateur": {"Authorization": sysadmin["token"]},
    }


@pytest.fixture
def crawl(request, app) -> Crawler:
    """The three crawls, made once for the module's tests (the first test builds the site)."""
    if "done" not in _CRAWL:
        for name in ("clean_db", "clean_index", "jobs_worker"):
            request.getfixturevalue(name)
        from ckan.plugins import toolkit as tk

        visitors = _site(app)
        host = urllib.parse.urlsplit(tk.config["ckan.site_url"]).netloc
        with app.flask_app.test_request_context():
            choices = field_choices()
        crawler = Crawler(app, {"localhost", host}, choices)
        started = time.monotonic()
        for visitor, headers in visitors.items():
            crawler.crawl(visitor, headers)
        crawler.seconds = time.monotonic() - started
        _CRAWL["done"] = crawler
    return _CRAWL["done"]


def test_the_crawl_reaches_the_pages_of_each_visitor(crawl):
    visited = crawl.visited
    assert {"/", "/ca/", "/jdd/", "/user/login", "/about"} <= set(visited["anonyme"]), visited["anonyme"]
    assert any(re.match(r"^/jdd/jdd-\w+$", p) for p in visited["anonyme"]), visited["anonyme"]
    assert any(p.startswith("/dashboard") for p in visited["producteur"]), visited["producteur"]
    assert any(re.match(r"^/jdd/jdd-brouillon-\w+$", p) for p in visited["producteur"]), visited["producteur"]
    assert not any("brouillon" in p for p in visited["anonyme"])
    assert any(p.startswith("/harvest") for p in visited["administrateur"]), visited["administrateur"]
    assert any(p.startswith("/ckan-admin") for p in visited["administrateur"]), visited["administrateur"]
    assert all(len(pages) >= 20 for pages in visited.values()), {v: len(p) for v, p in visited.items()}
    assert crawl.seconds < 150


# areas owned by other parts of issue #15 that still fail at the crawler's deadline (strict: an area
# that passes must leave this list)
KNOWN: dict = {}  # (area, kind) → why a finding is still expected: none left


@pytest.mark.parametrize(
    "area,kind",
    [
        pytest.param(a, k, marks=pytest.mark.xfail(strict=True, reason=KNOWN[a, k]) if (a, k) in KNOWN else ())
        for a, _ in AREAS
        for k in KINDS
    ],
)
def test_every_page_is_french_with_labels_assets_and_links(crawl, area, kind):
    found = [f for f in crawl.findings if f.area == area and f.kind == kind]
    assert not found, f"{len(found)} problème(s) « {kind} » dans « {area} » :\n" + "\n".join(str(f) for f in found[:60])
