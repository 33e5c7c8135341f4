"""What the self-test reads in the responses: GetCapabilities, one GetRecords page, a record
summary, a full ISO 19139 record (INSPIRE / data.gouv.fr / IDéO BFC needs), and the ISO 19139 XSDs
(discovery, compilation, validation). Pure functions on parsed XML, no HTTP."""

from __future__ import annotations

import collections
import dataclasses
import functools
import glob
import importlib.util
import os
import pathlib
from urllib.parse import urlsplit

from lxml import etree

from .namespaces import (
    CSW,
    CSW_OLD,
    GMD,
    GMX,
    HARVESTED_TYPES,
    HREF,
    INSPIRE_DS,
    LANGUAGE,
    NS,
    TOPIC_CATEGORIES,
    child_elements,
    is_absolute_http,
    is_local_url,
    localname,
    node_text,
    parse_xml,
    short,
    theme_of_keyword,
)

# ISO 19139 XSDs as pycsw 2.6.2 ships them (tests/iso_xsd.py uses the same place)
XSD_SUBDIR = "plugins/profiles/apiso/schemas/ogc/iso/19139/20070417"
REPO_ROOT = pathlib.Path(__file__).resolve().parents[5]


# --- capabilities -------------------------------------------------------------------------------


@dataclasses.dataclass
class CapabilitiesResult:
    problems: list
    warnings: list
    detail: str = ""
    max_record_default: int | None = None


def param_values(op, global_, names: tuple) -> list | None:
    """Values of ows:Parameter (operation first, then OperationsMetadata), name matched without case."""
    wanted = {n.lower() for n in names}
    for scope in (op, global_):
        if scope is None:
            continue
        for param in scope.findall("{*}Parameter"):
            if (param.get("name") or "").lower() in wanted:
                return [(v.text or "").strip() for v in param.iter("{*}Value")]
    return None


def constraint_values(scope, name: str) -> list | None:
    if scope is None:
        return None
    for constraint in scope.findall("{*}Constraint"):
        if (constraint.get("name") or "").lower() == name.lower():
            return [(v.text or "").strip() for v in constraint.iter("{*}Value")]
    return None


def check_capabilities(root, *, local_ok: bool) -> CapabilitiesResult:
    """What GeoNetwork and the others read in a GetCapabilities response (CSW_HARVESTERS.md §5.1).

    ``local_ok``: the tested URL itself is local, so local declared addresses are only warnings.
    """
    problems, warnings = [], []
    if localname(root) != "Capabilities":
        problems.append(f"la réponse n'est pas un csw:Capabilities (élément racine {localname(root) or '?'})")
        return CapabilitiesResult(problems, warnings)
    namespace = etree.QName(root).namespace
    if namespace == CSW_OLD:
        warnings.append(
            f"espace de noms {CSW_OLD} (ancien) au lieu de {CSW} : GeoNetwork l'accepte avec un avertissement"
        )
    elif namespace != CSW:
        problems.append(f"csw:Capabilities dans l'espace de noms {namespace!r} au lieu de {CSW}")

    versions = [(v.text or "").strip() for v in root.findall("{*}ServiceIdentification/{*}ServiceTypeVersion")]
    if "2.0.2" not in versions:
        problems.append(
            "ows:ServiceTypeVersion ne contient pas 2.0.2 (trouvé : "
            f"{', '.join(versions) or 'rien'}) : GeoNetwork préfère 2.0.2"
        )

    om = root.find("{*}OperationsMetadata")
    if om is None:
        problems.append("pas de ows:OperationsMetadata : aucune opération déclarée")
        return CapabilitiesResult(problems, warnings)
    ops = {op.get("name"): op for op in om.findall("{*}Operation")}
    global_soap_only = soap_only(constraint_values(om, "PostEncoding"))

    local_hrefs = collections.defaultdict(list)
    http_hrefs = set()
    for name in ("GetRecords", "GetRecordById"):
        op = ops.get(name)
        if op is None:
            problems.append(
                f"l'opération {name} n'est pas déclarée dans ows:OperationsMetadata : GeoNetwork "
                "arrête le moissonnage (« operation not found »)"
            )
            continue
        for method in ("Get", "Post"):
            elements = op.findall(f"{{*}}DCP/{{*}}HTTP/{{*}}{method}")
            if not elements:
                problems.append(
                    f"{name} : pas d'adresse ows:{method} dans ows:DCP (GeoNetwork utilise POST et se replie sur GET)"
                )
            for element in elements:
                href = (element.get(HREF) or "").strip()
                if not href:
                    problems.append(f"{name} : ows:{method} sans xlink:href")
                elif not is_absolute_http(href):
                    problems.append(
                        f"{name} : l'adresse déclarée en ows:{method} ({href}) n'est pas une URL http(s) absolue"
                    )
                elif is_local_url(href):
                    local_hrefs[href].append(f"{name} {method.upper()}")
                elif href.startswith("http://"):
                    http_hrefs.add(href)
        posts = op.findall("{*}DCP/{*}HTTP/{*}Post")
        if posts and all(
            soap_only(constraint_values(p, "PostEncoding"))
            or (
                constraint_values(p, "PostEncoding") is None
                and (
                    soap_only(constraint_values(op, "PostEncoding"))
                    or (constraint_values(op, "PostEncoding") is None and global_soap_only)
                )
            )
            for p in posts
        ):
            problems.append(f"{name} : POST déclaré en SOAP seulement (PostEncoding) : GeoNetwork ignore ce POST")
    for href, uses in local_hrefs.items():
        text = (
            f"l'adresse déclarée {href} ({', '.join(uses)}) est locale : les moissonneurs ne pourront pas "
            "la joindre (PYCSW_SERVER_URL doit être l'adresse publique https)"
        )
        (warnings if local_ok else problems).append(text)
    for href in sorted(http_hrefs):
        warnings.append(f"l'adresse déclarée {href} est en http : une adresse https publique est attendue")

    getrecords, byid = ops.get("GetRecords"), ops.get("GetRecordById")
    if getrecords is not None:
        schemas = param_values(getrecords, om, ("outputSchema",)) or []
        for schema, why in (
            (GMD, "premier choix de GeoNetwork, seul schéma moissonné par udata et ckanext-spatial"),
            (CSW, "Dublin Core"),
        ):
            if schema not in schemas:
                problems.append(f"GetRecords : le paramètre outputSchema ne liste pas {schema} ({why})")
        typenames = param_values(getrecords, om, ("typeNames", "typeName")) or []
        for typename in ("gmd:MD_Metadata", "csw:Record"):
            if typename not in typenames:
                problems.append(
                    f"GetRecords : le paramètre typeNames ne liste pas {typename} (GeoNetwork "
                    "abandonne les types inconnus)"
                )
        languages = {v.upper() for v in param_values(getrecords, om, ("ConstraintLanguage",)) or []}
        if "FILTER" not in languages:
            problems.append("GetRecords : ConstraintLanguage ne liste pas FILTER (filtres OGC en POST de GeoNetwork)")
        if not languages & {"CQL_TEXT", "CQL"}:
            problems.append("GetRecords : ConstraintLanguage ne liste pas CQL_TEXT (repli de GeoNetwork en GET)")
        formats = param_values(getrecords, om, ("outputFormat",))
        if formats is not None and "application/xml" not in formats:
            problems.append("GetRecords : outputFormat ne liste pas application/xml")
    if byid is not None:
        schemas = param_values(byid, om, ("outputSchema",))
        if schemas is not None and GMD not in schemas:
            problems.append(f"GetRecordById : le paramètre outputSchema ne liste pas {GMD}")

    max_default = None
    values = constraint_values(getrecords, "MaxRecordDefault") if getrecords is not None else None
    values = values if values is not None else constraint_values(om, "MaxRecordDefault")
    if values:
        try:
            max_default = int(values[0])
        except ValueError:
            pass
    if max_default is not None and max_default < 20:
        warnings.append(f"MaxRecordDefault = {max_default} (< 20) : GeoNetwork demande 20 fiches par page")

    if om.find(f"{{{INSPIRE_DS}}}ExtendedCapabilities") is None and om.find("{*}ExtendedCapabilities") is None:
        problems.append(
            "pas d'inspire_ds:ExtendedCapabilities : le service n'est pas décrit comme service de découverte INSPIRE"
        )

    hrefs = sorted(
        {(e.get(HREF) or "") for op in (getrecords, byid) if op is not None for e in op.findall("{*}DCP/{*}HTTP/*")}
        - {""}
    )
    detail = (
        f"versions {', '.join(versions) or '?'} ; opérations "
        f"{', '.join(n for n in ('GetRecords', 'GetRecordById') if n in ops) or 'aucune'}"
        + (f" ; adresse(s) déclarée(s) : {', '.join(hrefs)}" if hrefs else "")
    )
    return CapabilitiesResult(problems, warnings, detail, max_default)


def soap_only(values) -> bool:
    return bool(values) and all(v.upper() == "SOAP" for v in values)


# --- one GetRecords page ------------------------------------------------------------------------


@dataclasses.dataclass
class Page:
    matched: int | None = None
    returned: int | None = None
    next: int | None = None
    records: list = dataclasses.field(default_factory=list)
    problems: list = dataclasses.field(default_factory=list)
    capped: bool = False  # fewer records than asked although more remain


def int_attr(element, name: str, problems: list) -> int | None:
    value = element.get(name)
    if value is None:
        problems.append(f"attribut {name} absent de csw:SearchResults (GeoNetwork abandonne le moissonnage)")
        return None
    try:
        return int(value.strip())
    except ValueError:
        problems.append(f"{name}={value!r} n'est pas un entier (GeoNetwork abandonne le moissonnage)")
        return None


def read_page(root, *, start: int, max_records: int | None) -> Page:
    """Counts and records of a GetRecordsResponse, with what is wrong with them (CSW_HARVESTERS.md §5.2).

    ``start``: the startPosition asked (1 when the request had none); ``max_records``: the
    maxRecords asked (None when the request had none).
    """
    page = Page()
    if localname(root) != "GetRecordsResponse":
        page.problems.append(f"la réponse n'est pas un csw:GetRecordsResponse (élément racine {localname(root)})")
        return page
    if etree.QName(root).namespace != CSW:
        page.problems.append(f"réponse dans l'espace de noms {etree.QName(root).namespace} au lieu de {CSW}")
    results = root.find("{*}SearchResults")
    if results is None:
        page.problems.append("pas de csw:SearchResults dans la réponse")
        return page
    page.records = child_elements(results)
    page.matched = int_attr(results, "numberOfRecordsMatched", page.problems)
    page.returned = int_attr(results, "numberOfRecordsReturned", page.problems)
    page.next = int_attr(results, "nextRecord", page.problems)
    n = len(page.records)
    if page.returned is not None and page.returned != n:
        page.problems.append(f"numberOfRecordsReturned={page.returned} alors que la page contient {n} fiche(s)")
    if max_records is not None and n > max_records:
        page.problems.append(f"{n} fiches renvoyées pour maxRecords={max_records}")
    if page.matched is None or page.next is None:
        return page
    expected_next = start + n
    if page.next == 0:
        if expected_next - 1 < page.matched and page.matched > 0:
            page.problems.append(
                f"nextRecord=0 (dernière page) alors que seules les fiches 1 à {expected_next - 1} "
                f"sur {page.matched} ont été parcourues : les suivantes ne seraient jamais vues"
            )
        return page
    if page.next > page.matched:
        page.problems.append(
            f"nextRecord={page.next} dépasse numberOfRecordsMatched={page.matched} (les moissonneurs s'arrêtent là)"
        )
    elif page.next < start:
        page.problems.append(
            f"nextRecord={page.next} est inférieur à startPosition={start} (les moissonneurs s'arrêtent là)"
        )
    elif n == 0:
        page.problems.append(f"aucune fiche renvoyée alors que nextRecord={page.next} (les moissonneurs s'arrêtent là)")
    elif page.next == start:
        page.problems.append(f"nextRecord={page.next} égale startPosition : la pagination ne progresse pas")
    elif page.next != expected_next:
        page.problems.append(
            f"nextRecord={page.next} au lieu de {expected_next} (startPosition + fiches "
            "renvoyées) : des fiches seraient sautées ou répétées"
        )
    if max_records is not None and 0 < n < max_records and page.next == expected_next:
        page.capped = True
    return page


@dataclasses.dataclass
class Summary:
    identifier: str | None
    date_stamp: str | None
    hierarchy: str | None
    tag: str


def summary_of(record) -> Summary:
    """fileIdentifier, dateStamp and hierarchyLevel of a gmd:MD_Metadata from a GetRecords page."""
    if record.tag != f"{{{GMD}}}MD_Metadata":
        return Summary(None, None, None, record.tag)
    identifier = node_text(record.find("gmd:fileIdentifier", NS)) or None
    stamp = node_text(record.find("gmd:dateStamp", NS)) or None
    scope = record.find("gmd:hierarchyLevel/gmd:MD_ScopeCode", NS)
    hierarchy = (scope.get("codeListValue") or node_text(scope)) if scope is not None else None
    return Summary(identifier, stamp, hierarchy or None, record.tag)


# --- a full ISO record --------------------------------------------------------------------------


def metadata_language(md) -> str:
    language = md.find("gmd:language", NS)
    if language is None:
        return ""
    code = language.find("gmd:LanguageCode", NS)
    if code is not None:
        return (code.get("codeListValue") or node_text(code)).strip()
    return node_text(language)


def identification_bbox(ident) -> tuple | None:
    if ident is None:
        return None
    for box in ident.findall("gmd:extent//gmd:EX_GeographicBoundingBox", NS):
        try:
            west, east, south, north = (
                float(node_text(box.find(f"gmd:{name}", NS)))
                for name in ("westBoundLongitude", "eastBoundLongitude", "southBoundLatitude", "northBoundLatitude")
            )
        except ValueError:
            continue
        return west, south, east, north
    return None


def record_bbox(md) -> tuple | None:
    """(west, south, east, north) of the first geographic bounding box of a record, or None."""
    return identification_bbox(md.find("gmd:identificationInfo/*", NS))


def record_title(md) -> str:
    return node_text(md.find("gmd:identificationInfo/*/gmd:citation/gmd:CI_Citation/gmd:title", NS))


def record_problems(md, *, local_ok: bool = False) -> tuple[list, list]:
    """(problems, warnings) of one full ISO 19139 record against what INSPIRE TG 2.0, data.gouv.fr
    and IDéO BFC need (CSW_HARVESTERS.md §5.4). Messages name no identifier (they are aggregated)."""
    problems, warnings = [], []
    if md.tag != f"{{{GMD}}}MD_Metadata":
        return [f"l'élément n'est pas un gmd:MD_Metadata ({md.tag})"], []
    if not node_text(md.find("gmd:fileIdentifier", NS)):
        problems.append("pas de gmd:fileIdentifier")
    language = metadata_language(md)
    if not language:
        problems.append("pas de langue des métadonnées (gmd:language)")
    elif not LANGUAGE.match(language):
        problems.append(f"langue des métadonnées « {language} » : un code ISO 639-2 de 3 lettres est attendu (fre)")
    scope = md.find("gmd:hierarchyLevel/gmd:MD_ScopeCode", NS)
    hierarchy = (scope.get("codeListValue") or node_text(scope)) if scope is not None else ""
    if hierarchy not in HARVESTED_TYPES:
        problems.append(
            f"gmd:hierarchyLevel « {hierarchy or 'absent'} » : dataset ou series attendu (data.gouv.fr "
            "ne moissonne que dataset, series et service)"
        )
    contacts = md.findall("gmd:contact/gmd:CI_ResponsibleParty", NS)
    if not contacts:
        problems.append("pas de contact des métadonnées (gmd:contact)")
    elif not any(node_text(c.find("gmd:contactInfo//gmd:electronicMailAddress", NS)) for c in contacts):
        problems.append("le contact des métadonnées n'a pas d'adresse électronique (electronicMailAddress)")
    elif not any(node_text(c.find("gmd:organisationName", NS)) for c in contacts):
        problems.append("le contact des métadonnées n'a pas de nom d'organisme (organisationName)")
    if not node_text(md.find("gmd:dateStamp", NS)):
        problems.append("pas de gmd:dateStamp")

    ident = md.find("gmd:identificationInfo/*", NS)
    if ident is None:
        problems.append("pas de gmd:identificationInfo")
        return problems, warnings
    citation = ident.find("gmd:citation/gmd:CI_Citation", NS)
    if citation is None or not node_text(citation.find("gmd:title", NS)):
        problems.append("pas de titre (citation/title)")
    if not node_text(ident.find("gmd:abstract", NS)):
        problems.append("pas de résumé (gmd:abstract)")
    if citation is None or not node_text(citation.find("gmd:identifier/*/gmd:code", NS)):
        problems.append("pas d'identificateur de ressource unique (citation/identifier/code)")
    parties = ident.findall("gmd:pointOfContact/gmd:CI_ResponsibleParty", NS)
    if not parties:
        problems.append("pas de responsable de la ressource (gmd:pointOfContact)")
    elif not any(node_text(p.find("gmd:contactInfo//gmd:electronicMailAddress", NS)) for p in parties):
        warnings.append(
            "aucun responsable de la ressource (pointOfContact) n'a d'adresse électronique, exigée par INSPIRE"
        )

    if hierarchy in ("dataset", "series"):
        inspire_blocks, theme_found, undated = 0, False, False
        for keywords in ident.findall("gmd:descriptiveKeywords/gmd:MD_Keywords", NS):
            thesaurus = keywords.find("gmd:thesaurusName/gmd:CI_Citation", NS)
            title = node_text(thesaurus.find("gmd:title", NS)).casefold() if thesaurus is not None else ""
            if "inspire" not in title or not ("theme" in title or "thème" in title):
                continue
            inspire_blocks += 1
            if not node_text(thesaurus.find("gmd:date/gmd:CI_Date/gmd:date", NS)):
                undated = True
            for keyword in keywords.findall("gmd:keyword", NS):
                anchor = keyword.find("gmx:Anchor", NS)
                if theme_of_keyword(node_text(keyword), anchor.get(HREF) if anchor is not None else None):
                    theme_found = True
        if not inspire_blocks:
            problems.append("pas de mot-clé du thésaurus « GEMET - INSPIRE themes, version 1.0 »")
        elif not theme_found:
            problems.append("aucun mot-clé du thésaurus GEMET - INSPIRE themes n'est un thème INSPIRE connu")
        if undated:
            problems.append("thésaurus GEMET - INSPIRE themes sans date de publication")
        topics = [node_text(t) for t in ident.findall("gmd:topicCategory/gmd:MD_TopicCategoryCode", NS)]
        if not topics:
            problems.append("pas de catégorie thématique (gmd:topicCategory)")
        elif not all(t in TOPIC_CATEGORIES for t in topics):
            unknown = ", ".join(t for t in topics if t not in TOPIC_CATEGORIES)
            problems.append(f"catégorie thématique inconnue : {unknown}")
        bbox = identification_bbox(ident)
        if bbox is None:
            text = "pas d'emprise géographique (EX_GeographicBoundingBox)"
            (problems if hierarchy == "dataset" else warnings).append(
                text + ("" if hierarchy == "dataset" else " pour une série")
            )
        else:
            west, south, east, north = bbox
            if not (-180 <= west <= east <= 180 and -90 <= south <= north <= 90):
                problems.append(
                    f"emprise géographique incohérente (ouest {west}, est {east}, sud {south}, nord {north})"
                )
        temporal = (
            ident.findall("gmd:extent//gmd:temporalElement//gml:TimePeriod", NS)
            + ident.findall("gmd:extent//gmd:temporalElement//gml:TimeInstant", NS)
            + ident.findall("gmd:extent//gmd:temporalElement//gml311:TimePeriod", NS)
            + ident.findall("gmd:extent//gmd:temporalElement//gml311:TimeInstant", NS)
        )
        dates = [
            d
            for d in (citation.findall("gmd:date/gmd:CI_Date", NS) if citation is not None else [])
            if node_text(d.find("gmd:date", NS))
        ]
        if not temporal and not dates:
            problems.append("ni étendue temporelle ni date de référence (création, publication, révision)")

    legal = ident.findall("gmd:resourceConstraints/gmd:MD_LegalConstraints", NS)
    access = [c for c in legal if c.find("gmd:accessConstraints", NS) is not None]
    if not access:
        problems.append("pas de contrainte d'accès (MD_LegalConstraints/accessConstraints)")
    elif not any(node_text(c.find("gmd:otherConstraints", NS)) for c in access):
        problems.append("contrainte d'accès sans otherConstraints (valeur INSPIRE LimitationsOnPublicAccess)")
    constraints = ident.findall("gmd:resourceConstraints/*", NS)
    if not any(
        c.find("gmd:useConstraints", NS) is not None or node_text(c.find("gmd:useLimitation", NS)) for c in constraints
    ):
        problems.append("pas de condition d'utilisation ni de licence (useConstraints / useLimitation)")

    links = [node_text(u) for u in md.findall("gmd:distributionInfo//gmd:CI_OnlineResource/gmd:linkage/gmd:URL", NS)]
    links = [u for u in links if u]
    if not links:
        problems.append("pas de ressource en ligne (distributionInfo/transferOptions/onLine/linkage)")
    for url in links:
        if not is_absolute_http(url):
            problems.append(f"ressource en ligne qui n'est pas une URL http(s) absolue : {url}")
        elif is_local_url(url):
            text = (
                f"ressource en ligne à une adresse locale ({urlsplit(url).scheme}://{urlsplit(url).netloc}/…) : "
                "injoignable par les utilisateurs (ckan.site_url)"
            )
            (warnings if local_ok else problems).append(text)

    quality = md.findall("gmd:dataQualityInfo/gmd:DQ_DataQuality", NS)
    if not any(node_text(q.find("gmd:lineage/gmd:LI_Lineage/gmd:statement", NS)) for q in quality):
        problems.append("pas de généalogie (lineage/statement)")
    results = [
        r
        for q in quality
        for r in q.findall(".//gmd:DQ_ConformanceResult", NS)
        if "1089/2010" in node_text(r.find("gmd:specification/gmd:CI_Citation/gmd:title", NS))
    ]
    if not results:
        problems.append("pas de conformité citant le règlement (UE) n° 1089/2010 (DQ_ConformanceResult)")
    elif not all(r.find("gmd:pass", NS) is not None for r in results):
        problems.append("conformité au règlement 1089/2010 sans gmd:pass")
    return list(dict.fromkeys(problems)), list(dict.fromkeys(warnings))


# --- XSD --------------------------------------------------------------------------------------


def xsd_base(path: pathlib.Path) -> pathlib.Path | None:
    """The directory holding gmd/gmd.xsd, from a path to gmd.xsd or to one of its parents."""
    path = pathlib.Path(path)
    if path.is_file() and path.name == "gmd.xsd":
        return path.parent.parent
    for candidate in (path, path / "20070417", path / XSD_SUBDIR):
        if (candidate / "gmd" / "gmd.xsd").is_file():
            return candidate
    return None


def find_iso_xsd(xsd_path=None) -> pathlib.Path | None:
    """Directory of the ISO 19139 XSDs: ``xsd_path``, else pycsw's copy (repository venv, importable
    pycsw)."""
    if xsd_path:
        return xsd_base(pathlib.Path(xsd_path))
    candidates = sorted(
        glob.glob(
            str(REPO_ROOT / "var" / "venv" / "pycsw" / "lib*" / "python3*" / "site-packages" / "pycsw" / XSD_SUBDIR)
        )
    )
    try:
        spec = importlib.util.find_spec("pycsw")
    except (ImportError, ValueError):
        spec = None
    if spec is not None and spec.submodule_search_locations:
        candidates += [os.path.join(p, XSD_SUBDIR) for p in spec.submodule_search_locations]
    for candidate in candidates:
        base = xsd_base(pathlib.Path(candidate))
        if base is not None:
            return base
    return None


@functools.lru_cache(maxsize=4)
def iso_schema(base: pathlib.Path) -> etree.XMLSchema:
    """ISO 19139 (gmd + gmx) compiled from local files (no network)."""
    imports = [f'<xs:import namespace="{GMD}" schemaLocation="{(base / "gmd" / "gmd.xsd").as_uri()}"/>']
    if (base / "gmx" / "gmx.xsd").is_file():
        imports.append(f'<xs:import namespace="{GMX}" schemaLocation="{(base / "gmx" / "gmx.xsd").as_uri()}"/>')
    wrapper = (
        '<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" elementFormDefault="qualified">'
        + "".join(imports)
        + "</xs:schema>"
    )
    return etree.XMLSchema(etree.fromstring(wrapper.encode(), base_url=str(base / "wrapper.xsd")))


def xsd_errors(schema: etree.XMLSchema, md, limit: int = 3) -> list:
    """The first XSD errors of a record (validated as a document of its own)."""
    document = etree.ElementTree(parse_xml(etree.tostring(md)))
    if schema.validate(document):
        return []
    return [f"ligne {e.line} : {short(e.message, 160)}" for e in list(schema.error_log)[:limit]]
