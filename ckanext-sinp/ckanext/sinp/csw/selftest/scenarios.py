"""The harvesters' request sequences (GeoNetwork, its GET fallback, udata, ckanext-spatial,
GetRecordById on a sample, filters) as the steps of ``Selftest``; ``Listing``: what one paging run saw."""

from __future__ import annotations

import collections
import dataclasses
import math
import uuid
from collections.abc import Callable

from lxml import etree

from .checks import (
    check_capabilities,
    find_iso_xsd,
    iso_schema,
    read_page,
    record_bbox,
    record_problems,
    record_title,
    summary_of,
    xsd_errors,
)
from .client import (
    UDATA_TYPES_FILTER,
    Client,
    CswError,
    anytext_filter,
    bbox_filter,
    getrecordbyid_body,
    getrecords_body,
    type_filter,
)
from .namespaces import (
    CRS_CRS84,
    CRS_EPSG4326,
    CSW,
    GMD,
    HARVESTED_TYPES,
    NS,
    child_elements,
    examples_of,
    is_local_url,
    localname,
    node_text,
    short,
    title_word,
)
from .results import Check, Report

# --- the self-test --------------------------------------------------------------------------------


@dataclasses.dataclass
class Listing:
    """What one harvester saw while paging."""

    ids: list = dataclasses.field(default_factory=list)  # in order, duplicates kept
    pages: dict = dataclasses.field(default_factory=lambda: collections.defaultdict(list))  # id -> page numbers
    types: dict = dataclasses.field(default_factory=dict)  # id -> hierarchyLevel
    stamps: dict = dataclasses.field(default_factory=dict)  # id -> dateStamp
    matched: int | None = None
    complete: bool = False  # ended on nextRecord=0
    failed: bool = False  # a request failed or a page was unreadable: the harvest would stop there

    @property
    def unique(self) -> list:
        return list(dict.fromkeys(self.ids))


class Selftest:
    def __init__(self, csw_url, page_size, sample, timeout, xsd_path, session):
        self.url = csw_url
        self.page_size = max(1, int(page_size))
        self.sample = sample
        self.xsd_path = xsd_path
        self.client = Client(csw_url, timeout, session)
        self.local = is_local_url(csw_url)
        self.report = Report(csw_url)
        self.full: dict = {}  # id -> gmd:MD_Metadata (GetRecordById POST)
        self.paging_anomalies: set = set()  # what the GeoNetwork run found, not repeated by the others

    def check(self, key: str, label: str) -> Check:
        check = Check(key, label)
        self.report.checks.append(check)
        return check

    def guarded(self, check: Check, step: Callable, *args):
        try:
            return step(check, *args)
        except CswError as exc:
            check.problem(str(exc))
        except Exception as exc:  # a bug of the self-test or an unexpected answer: reported, not raised
            check.problem(f"erreur inattendue du contrôle : {exc.__class__.__name__} : {short(exc)}")
        return None

    # -- GetCapabilities

    def capabilities(self, check: Check):
        root = self.client.get(
            "GetCapabilities (GET KVP, comme GeoNetwork)",
            {"SERVICE": "CSW", "REQUEST": "GetCapabilities", "VERSION": "2.0.2"},
        )
        result = check_capabilities(root, local_ok=self.local)
        for p in result.problems:
            check.problem(f"GetCapabilities : {p}")
        for w in result.warnings:
            check.warning(f"GetCapabilities : {w}")
        check.detail = result.detail
        if not self.url.lower().startswith("https://") and not self.local:
            check.warning(f"l'adresse testée {self.url} n'est pas en https")

    # -- paging

    def listing(
        self,
        check: Check,
        label: str,
        send: Callable[[int], object],
        *,
        max_records: int | None,
        require_stamp: bool,
        reference: bool = False,
    ) -> Listing:
        """Pages like GeoNetwork and udata: startPosition 1, then nextRecord, with their stop rules
        (nextRecord 0, > matched, < startPosition, or no record returned).

        ``reference``: the GeoNetwork run; the other runs do not repeat its paging anomalies one by
        one (they are the same pages), they count them.
        """
        listing = Listing()
        start, number, capped = 1, 0, False
        bad_children, no_id, no_stamp = collections.Counter(), [], []
        limit, repeated = 10_000, 0

        def emit(where: str, text: str) -> None:
            nonlocal repeated
            if reference:
                self.paging_anomalies.add(text)
            elif text in self.paging_anomalies:
                repeated += 1
                return
            check.problem(f"{where} : {text}")

        while True:
            number += 1
            what = f"{label[:-1]}, startPosition={start})" if label.endswith(")") else f"{label}, startPosition={start}"
            try:
                root = send(start)
            except CswError as exc:
                check.problem(str(exc) + " : le moissonnage échouerait ici")
                listing.failed = True
                return listing
            page = read_page(root, start=start, max_records=max_records)
            for p in page.problems:
                emit(what, p)
            if page.matched is None or page.next is None or page.returned is None:
                listing.failed = True
                return listing
            if listing.matched is None:
                listing.matched = page.matched
                limit = math.ceil(page.matched / max(1, len(page.records) or 1)) + 3
            elif page.matched != listing.matched:
                check.problem(
                    f"{what} : numberOfRecordsMatched passe de {listing.matched} à {page.matched} en "
                    "cours de pagination (une modification pendant le test peut l'expliquer : relancer)"
                )
            capped = capped or page.capped
            for record in page.records:
                summary = summary_of(record)
                if summary.identifier is None:
                    if summary.tag != f"{{{GMD}}}MD_Metadata":
                        bad_children[etree.QName(summary.tag).text] += 1
                    else:
                        no_id.append(start)
                    continue
                listing.ids.append(summary.identifier)
                listing.pages[summary.identifier].append(number)
                listing.types.setdefault(summary.identifier, summary.hierarchy)
                listing.stamps.setdefault(summary.identifier, summary.date_stamp)
                if require_stamp and not summary.date_stamp:
                    no_stamp.append(summary.identifier)
            nxt = page.next
            if nxt == 0 or nxt > page.matched or not page.records or nxt <= start:
                listing.complete = nxt == 0
                break
            if number >= limit:
                check.problem(f"{label} : plus de {limit} pages pour {listing.matched} fiches annoncées : arrêt")
                break
            start = nxt
        if capped and max_records and reference:
            check.warning(
                f"{label} : le serveur renvoie moins de fiches par page que maxRecords={max_records} "
                "(plafond du serveur) : plus de requêtes par moissonnage"
            )
        for tag, count in bad_children.items():
            emit(label, f"{count} enfant(s) {tag} au lieu de gmd:MD_Metadata dans csw:SearchResults")
        if no_id:
            emit(
                label,
                f"{len(no_id)} fiche(s) sans gmd:fileIdentifier (pages commençant à "
                f"{', '.join(map(str, sorted(set(no_id))))}) : GeoNetwork les ignore",
            )
        if no_stamp:
            emit(
                label,
                f"{len(no_stamp)} fiche(s) résumée(s) sans gmd:dateStamp ({examples_of(no_stamp)}) : "
                "GeoNetwork ne peut pas savoir si elles ont changé",
            )
        twice = {i: pages for i, pages in listing.pages.items() if len(pages) > 1}
        if twice:
            examples = [f"{i} (pages {', '.join(map(str, p))})" for i, p in twice.items()]
            emit(label, f"{len(twice)} identifiant(s) renvoyé(s) plusieurs fois : {examples_of(examples)}")
        if listing.matched is not None and len(listing.unique) != listing.matched:
            emit(
                label,
                f"{len(listing.unique)} fiche(s) distincte(s) vue(s) pour {listing.matched} annoncée(s) "
                "(numberOfRecordsMatched) : GeoNetwork supprime de sa copie les fiches qu'il ne voit pas",
            )
        if repeated:
            check.problem(
                f"{label} : {repeated} anomalie(s) de pagination identique(s) à celles du moissonnage "
                "GeoNetwork (voir plus haut)"
            )
        return listing

    def geonetwork(self, check: Check) -> Listing:
        def send(start):
            return self.client.post(
                f"GetRecords POST (GeoNetwork, startPosition={start})",
                getrecords_body(
                    type_names="gmd:MD_Metadata", element_set="summary", start=start, max_records=self.page_size
                ),
            )

        listing = self.listing(
            check, "GetRecords POST (GeoNetwork)", send, max_records=self.page_size, require_stamp=True, reference=True
        )
        counts = collections.Counter(listing.types.get(i) or "type inconnu" for i in listing.unique)
        check.detail = (
            f"{listing.matched if listing.matched is not None else '?'} fiche(s) annoncée(s), "
            f"{len(listing.unique)} vue(s) en pages de {self.page_size}"
            + (" (" + ", ".join(f"{n} {t}" for t, n in sorted(counts.items())) + ")" if counts else "")
        )
        if listing.matched == 0:
            check.warning("le catalogue ne publie aucune fiche : un moissonneur supprimerait toutes ses copies")
        self.report.stats["fiches"] = len(listing.unique)
        return listing

    def stability(self, check: Check, first: Listing) -> None:
        def send(start):
            return self.client.post(
                f"GetRecords POST (GeoNetwork, second passage, startPosition={start})",
                getrecords_body(
                    type_names="gmd:MD_Metadata", element_set="summary", start=start, max_records=self.page_size
                ),
            )

        second = self.listing(
            check, "GetRecords POST (GeoNetwork, second passage)", send, max_records=self.page_size, require_stamp=True
        )
        if not second.failed:
            self.compare(
                check,
                "GetRecords POST (GeoNetwork, second passage)",
                first.ids,
                second.ids,
                order=True,
                reference="au premier passage",
            )
        check.detail = f"{len(second.unique)} fiche(s) au second passage"

    def compare(
        self,
        check: Check,
        label: str,
        expected: list,
        seen: list,
        *,
        order: bool,
        reference: str = "par GeoNetwork",
        extra: bool = True,
    ) -> None:
        """``seen`` against ``expected`` (the GeoNetwork run): missing, extra, and order when asked."""
        seen_set, expected_set = set(seen), set(expected)
        missing = [i for i in dict.fromkeys(expected) if i not in seen_set]
        more = [i for i in dict.fromkeys(seen) if i not in expected_set]
        if missing:
            check.problem(f"{label} : il manque {len(missing)} fiche(s) vue(s) {reference} : {examples_of(missing)}")
        if more and extra:
            check.problem(f"{label} : {len(more)} fiche(s) en plus de celles vues {reference} : {examples_of(more)}")
        if order and not missing and not more and list(expected) != list(seen):
            check.problem(
                f"{label} : mêmes fiches mais dans un autre ordre : le tri n'est pas stable, des "
                "fiches seraient vues deux fois ou jamais"
            )

    def geonetwork_get(self, check: Check, gn: Listing) -> None:
        base = {
            "service": "CSW",
            "version": "2.0.2",
            "request": "GetRecords",
            "resultType": "results",
            "namespace": f"xmlns(csw={CSW}),xmlns(gmd={GMD})",
            "outputSchema": GMD,
            "elementSetName": "summary",
            "typeNames": "gmd:MD_Metadata",
        }

        def send(start):
            return self.client.get(
                f"GetRecords GET KVP (repli GeoNetwork, startPosition={start})",
                {**base, "startPosition": start, "maxRecords": self.page_size},
            )

        listing = self.listing(
            check, "GetRecords GET KVP (repli GeoNetwork)", send, max_records=self.page_size, require_stamp=True
        )
        if not listing.failed:
            self.compare(check, "GetRecords GET KVP", gn.ids, listing.ids, order=True)
        cql = {
            **base,
            "constraintLanguage": "CQL_TEXT",
            "constraint_language_version": "1.1.0",
            "constraint": "dc:type = 'dataset'",
            "maxRecords": 1,
            "resultType": "hits",
        }
        expected = sum(1 for i in gn.unique if gn.types.get(i) == "dataset")
        try:
            root = self.client.get("GetRecords GET KVP avec filtre CQL_TEXT dc:type = 'dataset'", cql)
            results = root.find("{*}SearchResults")
            matched = int(results.get("numberOfRecordsMatched")) if results is not None else None
            if matched != expected:
                check.problem(
                    f"GetRecords GET KVP avec filtre CQL_TEXT dc:type = 'dataset' : {matched} fiche(s) au "
                    f"lieu des {expected} jeux de données vus par GeoNetwork"
                )
        except CswError as exc:
            check.problem(str(exc))
        except (TypeError, ValueError):
            check.problem("GetRecords GET KVP avec filtre CQL_TEXT : numberOfRecordsMatched absent ou non entier")
        check.detail = f"{len(listing.unique)} fiche(s) en GET ; filtre CQL : {expected} jeu(x) de données attendu(s)"

    # -- GetRecordById

    def sample_ids(self, gn: Listing) -> list:
        ids = gn.unique
        if self.sample is None or len(ids) <= self.sample:
            chosen = list(ids)
        else:
            n = max(1, int(self.sample))
            chosen = [ids[i * len(ids) // n] for i in range(n)]
        for kind in ("dataset", "series"):
            if not any(gn.types.get(i) == kind for i in chosen):
                chosen += [i for i in ids if gn.types.get(i) == kind][:1]
        return chosen

    def by_id(self, check: Check, xsd: Check, inspire: Check, gn: Listing) -> None:
        ids = self.sample_ids(gn)
        if not ids:
            check.warning("aucune fiche à demander : contrôle sans objet")
            xsd.warning("aucune fiche : validation sans objet")
            inspire.warning("aucune fiche : contrôle sans objet")
            return
        base = find_iso_xsd(self.xsd_path)
        schema = None
        if base is None:
            xsd.warning("schémas ISO 19139 introuvables (xsd_path, ou pycsw installé) : validation XSD non faite")
        else:
            try:
                schema = iso_schema(base)
            except etree.XMLSchemaParseError as exc:
                xsd.warning(f"schémas ISO 19139 de {base} illisibles ({short(exc)}) : validation XSD non faite")
        record_problems_by_message = collections.defaultdict(list)
        record_warnings_by_message = collections.defaultdict(list)
        invalid, valid, fetched = [], 0, 0
        stamp_mismatch, get_differs = [], []
        failures = collections.defaultdict(list)  # message with the id replaced -> [(id, message)]
        for identifier in ids:
            errors = []
            post = self.fetch_by_id(errors, identifier, "POST")
            get = self.fetch_by_id(errors, identifier, "GET")
            for message in errors:
                failures[message.replace(identifier, "…")].append((identifier, message))
            if (
                post is not None
                and get is not None
                and etree.tostring(post, method="c14n") != etree.tostring(get, method="c14n")
            ):
                get_differs.append(identifier)
            md = post if post is not None else get
            if md is None:
                continue
            fetched += 1
            self.full[identifier] = md
            summary_stamp = gn.stamps.get(identifier)
            full_stamp = node_text(md.find("gmd:dateStamp", NS))
            if summary_stamp and full_stamp and summary_stamp != full_stamp:
                stamp_mismatch.append(f"{identifier} ({summary_stamp} / {full_stamp})")
            if schema is not None:
                errors = xsd_errors(schema, md)
                if errors:
                    invalid.append((identifier, errors))
                else:
                    valid += 1
            problems, warnings = record_problems(md, local_ok=self.local)
            for p in problems:
                record_problems_by_message[p].append(identifier)
            for w in warnings:
                record_warnings_by_message[w].append(identifier)
        for same in failures.values():
            others = [i for i, _ in same[1:]]
            check.problem(
                same[0][1]
                + (f" — de même pour {len(others)} autre(s) fiche(s) : {examples_of(others)}" if others else "")
            )
        if get_differs:
            check.problem(
                f"GetRecordById : GET et POST ne renvoient pas le même document pour {len(get_differs)} "
                f"fiche(s) : {examples_of(get_differs)}"
            )
        if stamp_mismatch:
            check.problem(
                "GetRecordById : le dateStamp de la fiche complète diffère de celui du résumé GetRecords "
                f"pour {len(stamp_mismatch)} fiche(s) ({examples_of(stamp_mismatch)}) : GeoNetwork décide "
                "des mises à jour sur le résumé"
            )
        check.detail = f"{fetched} fiche(s) sur {len(ids)} demandée(s) obtenue(s) en POST et en GET"
        for identifier, errors in invalid[:10]:
            xsd.problem(f"GetRecordById {identifier} : fiche non valide ISO 19139 (XSD) : {' ; '.join(errors)}")
        if len(invalid) > 10:
            xsd.problem(f"… et {len(invalid) - 10} autre(s) fiche(s) non valide(s)")
        if schema is not None:
            xsd.detail = f"{valid} fiche(s) valide(s) sur {valid + len(invalid)} (schémas {base})"
        if not fetched:
            xsd.warning("aucune fiche complète obtenue : validation non faite")
            inspire.warning("aucune fiche complète obtenue : contrôle non fait")
        for message, which in record_problems_by_message.items():
            inspire.problem(f"GetRecordById : {message} : {len(which)} fiche(s) ({examples_of(which)})")
        for message, which in record_warnings_by_message.items():
            inspire.warning(f"GetRecordById : {message} : {len(which)} fiche(s) ({examples_of(which)})")
        inspire.detail = f"{fetched} fiche(s) complète(s) examinée(s)"
        self.report.stats["fiches complètes examinées"] = fetched

    def _get_record_by_id(self, what: str, identifier: str, method: str):
        """GetRecordById (full, gmd) by POST or GET; raises CswError."""
        if method == "POST":
            return self.client.post(what, getrecordbyid_body(identifier))
        return self.client.get(
            what,
            {
                "service": "CSW",
                "version": "2.0.2",
                "request": "GetRecordById",
                "id": identifier,
                "outputSchema": GMD,
                "elementSetName": "full",
            },
        )

    def fetch_by_id(self, errors: list, identifier: str, method: str):
        """The gmd:MD_Metadata of GetRecordById (POST or GET), or None; what is wrong goes to ``errors``."""
        what = f"GetRecordById {method} id={identifier}"
        try:
            root = self._get_record_by_id(what, identifier, method)
        except CswError as exc:
            errors.append(str(exc))
            return None
        if localname(root) != "GetRecordByIdResponse" or etree.QName(root).namespace != CSW:
            errors.append(f"{what} : la réponse n'est pas un csw:GetRecordByIdResponse ({root.tag})")
            return None
        children = child_elements(root)
        if len(children) != 1:
            errors.append(
                f"{what} : {len(children)} élément(s) dans la réponse au lieu d'exactement un gmd:MD_Metadata"
            )
            if not children:
                return None
        md = children[0]
        if md.tag != f"{{{GMD}}}MD_Metadata":
            errors.append(f"{what} : le premier élément de la réponse est {etree.QName(md).text}, pas gmd:MD_Metadata")
            return None
        found = node_text(md.find("gmd:fileIdentifier", NS))
        if found != identifier:
            errors.append(f"{what} : fileIdentifier « {found or 'absent'} » au lieu de l'identifiant demandé")
        return md

    def unknown_id(self, check: Check) -> None:
        identifier = f"SINP-SELFTEST-INCONNU-{uuid.uuid4().hex.upper()}"
        for method in ("POST", "GET"):
            what = f"GetRecordById {method} d'un identifiant inconnu ({identifier})"
            try:
                root = self._get_record_by_id(what, identifier, method)
            except CswError as exc:
                check.problem(
                    f"{exc} : une réponse vide est attendue (GeoNetwork compte la fiche comme "
                    "irrécupérable et continue)"
                )
                continue
            if localname(root) != "GetRecordByIdResponse":
                check.problem(f"{what} : la réponse n'est pas un csw:GetRecordByIdResponse ({root.tag})")
            elif child_elements(root):
                check.problem(f"{what} : la réponse n'est pas vide ({len(child_elements(root))} élément(s))")
        check.detail = "csw:GetRecordByIdResponse vide attendu en POST et en GET"

    # -- udata

    def udata(self, check: Check, gn: Listing) -> None:
        def send_all(start):
            return self.client.post(
                f"GetRecords POST (udata CSW-ISO-19139, startPosition={start})",
                getrecords_body(
                    type_names="csw:Record",
                    element_set="full",
                    start=start,
                    filter_xml=UDATA_TYPES_FILTER,
                    extra=' maxPosition="10"',
                ),
            )

        label = "GetRecords POST (udata CSW-ISO-19139, dc:type dataset|service|series)"
        everything = self.listing(check, label, send_all, max_records=None, require_stamp=False)
        harvestable = [i for i in gn.unique if gn.types.get(i) in HARVESTED_TYPES]
        skipped = [i for i in gn.unique if gn.types.get(i) not in HARVESTED_TYPES]
        if skipped:
            check.warning(
                f"{len(skipped)} fiche(s) d'un type autre que dataset, series ou service ne seraient pas "
                f"moissonnées par data.gouv.fr : {examples_of(skipped)}"
            )
        if not everything.failed:
            self.compare(check, label, harvestable, everything.ids, order=False)
        parts = [
            "requête exacte de udata : " + ("échec" if everything.failed else f"{len(everything.unique)} fiche(s)")
        ]
        for kind in ("dataset", "series"):

            def send(start, kind=kind):
                return self.client.post(
                    f"GetRecords POST (udata, dc:type = {kind}, startPosition={start})",
                    getrecords_body(
                        type_names="csw:Record",
                        element_set="full",
                        start=start,
                        max_records=self.page_size,
                        filter_xml=type_filter(kind),
                    ),
                )

            label_kind = f"GetRecords POST (udata, dc:type = {kind})"
            listing = self.listing(check, label_kind, send, max_records=self.page_size, require_stamp=False)
            expected = [i for i in gn.unique if gn.types.get(i) == kind]
            if not listing.failed:
                self.compare(check, label_kind, expected, listing.ids, order=False, extra=False)
            wrong = [i for i in listing.unique if gn.types.get(i) != kind]
            if wrong:
                check.problem(
                    f"{label_kind} : {len(wrong)} fiche(s) renvoyée(s) dont GeoNetwork n'a pas vu le "
                    f"hierarchyLevel {kind} : {examples_of(wrong)}"
                )
            parts.append(
                f"{listing.matched if listing.matched is not None else '?'} {kind} (GeoNetwork : {len(expected)})"
            )
        check.detail = " ; ".join(parts)

    # -- ckanext-spatial

    def ckanext_spatial(self, check: Check, gn: Listing) -> None:
        step = 10
        details = []
        for method in ("POST", "GET"):
            label = f"getrecords2 {method} (ckanext-spatial, csw:Record, brief, {step} par page)"
            seen, start, matched, pages = [], 0, 0, 0
            while True:
                pages += 1
                what = f"GetRecords {method} (ckanext-spatial, startPosition={start or 'absent'})"
                try:
                    if method == "POST":
                        root = self.client.post(
                            what,
                            getrecords_body(
                                type_names="csw:Record",
                                element_set="brief",
                                start=start or None,
                                max_records=step,
                                extra=' outputFormat="application/xml"',
                            ),
                        )
                    else:
                        params = {
                            "service": "CSW",
                            "version": "2.0.2",
                            "request": "GetRecords",
                            "resultType": "results",
                            "typeNames": "csw:Record",
                            "elementSetName": "brief",
                            "outputSchema": GMD,
                            "maxRecords": step,
                        }
                        if start:
                            params["startPosition"] = start
                        root = self.client.get(what, params)
                except CswError as exc:
                    check.problem(f"{exc} : ckanext-spatial arrêterait le moissonnage (CswError)")
                    break
                page = read_page(root, start=start or 1, max_records=step)
                if page.matched is None:
                    check.problem(f"{what} : numberOfRecordsMatched absent ou non entier")
                    break
                matched = matched or page.matched
                ids = [s.identifier for s in map(summary_of, page.records) if s.identifier]
                if len(ids) != len(page.records):
                    check.problem(f"{what} : {len(page.records) - len(ids)} fiche(s) sans gmd:fileIdentifier")
                seen += ids
                if not page.records:
                    break
                start += step
                if start >= matched + 1 or pages > matched // step + 3:
                    break
            missing = [i for i in gn.unique if i not in set(seen)]
            extra = [i for i in dict.fromkeys(seen) if i not in set(gn.unique)]
            if missing:
                check.problem(
                    f"{label} : {len(missing)} fiche(s) vue(s) par GeoNetwork jamais vue(s) : {examples_of(missing)}"
                )
            if extra:
                check.problem(f"{label} : {len(extra)} fiche(s) inconnue(s) de GeoNetwork : {examples_of(extra)}")
            details.append(f"{method} : {len(set(seen))} fiche(s)")
        check.detail = " ; ".join(details)

    # -- filters

    def find(self, what: str, filter_xml: str, target: str) -> tuple[bool, int | None]:
        """Whether ``target`` is among the records matching ``filter_xml`` (pages of 100)."""
        start, matched = 1, None
        for _ in range(50):
            root = self.client.post(
                f"{what} (startPosition={start})",
                getrecords_body(
                    type_names="gmd:MD_Metadata",
                    element_set="brief",
                    start=start,
                    max_records=100,
                    filter_xml=filter_xml,
                ),
            )
            page = read_page(root, start=start, max_records=100)
            if page.problems and page.matched is None:
                raise CswError(f"{what} : {page.problems[0]}")
            matched = page.matched
            if any(summary_of(r).identifier == target for r in page.records):
                return True, matched
            if not page.next or page.next <= start or not page.records:
                break
            start = page.next
        return False, matched

    def anytext(self, check: Check) -> None:
        candidates = [(title_word(record_title(md)), identifier) for identifier, md in self.full.items()]
        candidates = [(w, i) for w, i in candidates if w]
        if not candidates:
            check.warning("aucune fiche complète avec un titre exploitable : contrôle sans objet")
            return
        word, identifier = max(candidates, key=lambda c: len(c[0]))
        what = f"GetRecords POST avec filtre csw:AnyText PropertyIsLike « %{word}% »"
        found, matched = self.find(what, anytext_filter(word), identifier)
        if not found:
            check.problem(
                f"{what} : la fiche {identifier}, dont le titre contient ce mot, n'est pas trouvée "
                f"({matched if matched is not None else '?'} fiche(s) trouvée(s))"
            )
        check.detail = (
            f"« {word} » → {matched if matched is not None else '?'} fiche(s), dont {identifier}"
            if found
            else f"« {word} »"
        )

    def bbox(self, check: Check, gn: Listing) -> None:
        candidates = [(i, record_bbox(md)) for i, md in self.full.items() if gn.types.get(i, "dataset") == "dataset"]
        candidates = [(i, b) for i, b in candidates if b]
        if not candidates:
            check.warning("aucun jeu de données avec une emprise parmi les fiches examinées : contrôle sans objet")
            return
        identifier, (west, south, east, north) = candidates[0]
        margin = 0.01
        box = (round(west - margin, 6), round(south - margin, 6), round(east + margin, 6), round(north + margin, 6))
        found_any = []
        for crs, order in ((CRS_EPSG4326, "latitude puis longitude"), (CRS_CRS84, "longitude puis latitude")):
            what = f"GetRecords POST avec filtre BBOX ({crs}, {order})"
            found, matched = self.find(what, bbox_filter(box, crs), identifier)
            if found:
                found_any.append(crs)
            else:
                check.problem(
                    f"{what} autour de l'emprise de {identifier} ({west}, {south}, {east}, {north}) : "
                    f"fiche non trouvée ({matched if matched is not None else '?'} fiche(s) trouvée(s))"
                )
        check.detail = f"emprise de {identifier} : trouvée avec {', '.join(found_any) or 'aucun CRS'}"
