"""ckanext-dcat profile ``sinp``: the SINP identifiers, type, coverage, languages and contacts of CA/JDD
in DCAT-AP 3, conformant to the DCAT-AP 3.0 SHACL shapes (tests/integration/test_dcat_shacl.py).

Runs after ``euro_dcat_ap_3`` (``ckanext.dcat.rdf.profiles = euro_dcat_ap_3 sinp``) and rewrites
what that profile says differently (geometry, language, landing page…); the statements come from
ckanext.sinp.domain.dcat. Records that must not be republished (harvested records whose source
configuration says so, ``origine_iso.republier`` false) are left out of ``/catalog.*`` (the chained
catalogue actions) and their own serialisations answer 404 like a private record's.
"""

from __future__ import annotations

import ckan.model as model
import ckan.plugins.toolkit as tk
from flask import request
from rdflib import BNode, Literal, URIRef
from rdflib.namespace import RDF, RDFS, SKOS, XSD

from ckanext.dcat import logic as dcat_logic
from ckanext.dcat.processors import RDFSerializer
from ckanext.dcat.profiles.base import DCAT, DCT, FOAF, GSP, LOCN, VCARD, RDFProfile
from ckanext.dcat.utils import CONTENT_TYPES, dataset_uri
from ckanext.sinp import settings
from ckanext.sinp.csw import sync
from ckanext.sinp.domain import flux_services, iso, urls
from ckanext.sinp.domain.dcat import catalog_facts, data_service_facts, dcat_facts, file_type_uri, media_type_uri
from ckanext.sinp.logic import queries, visibility

MAIN_TYPES = (DCAT.Catalog, DCAT.Dataset, DCAT.Distribution, DCAT.DataService)
DCAT_ENDPOINTS = ("dcat.read_catalog", "dcat.read_dataset", "dcat.read_dataset_series")


class SinpDCATProfile(RDFProfile):
    # --- graph helpers ---------------------------------------------------------------------------

    def _forget(self, node):
        """Removes the statements about ``node`` when nothing refers to it any more (and, in turn,
        those about the blank nodes it referred to): no orphan node is left behind."""
        if isinstance(node, Literal) or (None, None, node) in self.g:
            return
        for _s, p, o in list(self.g.triples((node, None, None))):
            self.g.remove((node, p, o))
            if isinstance(o, BNode):
                self._forget(o)

    def _unlink(self, subject, predicate):
        """Removes ``subject predicate *`` and whatever only these statements kept alive (never a
        catalogue, dataset or distribution: the catalogue is its own ``foaf:homepage``)."""
        for o in list(self.g.objects(subject, predicate)):
            self.g.remove((subject, predicate, o))
            if o != subject and not any((o, RDF.type, t) in self.g for t in MAIN_TYPES):
                self._forget(o)

    def _typed(self, subject, predicate, uri, rdf_type):
        node = URIRef(uri)
        self.g.add((subject, predicate, node))
        self.g.add((node, RDF.type, rdf_type))
        return node

    def _typed_values(self, subject, predicate, to_uri, rdf_type):
        """The values of ``predicate`` as typed URIs (``to_uri``); a value that is none is left out."""
        values = [to_uri(o) for o in self.g.objects(subject, predicate)]
        self._unlink(subject, predicate)
        for uri in dict.fromkeys(v for v in values if v):
            self._typed(subject, predicate, uri, rdf_type)

    def _drop_refused_links(self, dataset_ref):
        """A distribution whose access or download URL has a refused scheme (``javascript:``,
        ``file:``…; ``ckanext.sinp.resource_url_schemes``) is not published."""
        allowed = settings.resource_url_schemes()
        for dist in list(self.g.objects(dataset_ref, DCAT.distribution)):
            links = [str(o) for p in (DCAT.accessURL, DCAT.downloadURL) for o in self.g.objects(dist, p)]
            if any(not urls.link_allowed(link, allowed) for link in links):
                self.g.remove((dataset_ref, DCAT.distribution, dist))
                self._forget(dist)

    def _parent_ref(self, kind, record, ca, uuid):
        """The URI of the CA a JDD belongs to (or of a CA's meta-cadre) when the record's outputs
        may show it (``visibility.ca_shown_with``: the same rule for a CA's meta-cadre) and it is
        republished; None otherwise."""
        if not uuid:
            return None
        shown = ca if kind == "jdd" else visibility.ca_shown_with({**record, "type": "jdd", "cadre": uuid})
        if shown is None or not iso.republished(shown):
            return None
        for pkg in queries.packages_by_extra(model, "sinp_uuid", uuid, "ca"):
            if pkg.state == "active" and dict(pkg.extras or {}) == shown:
                return URIRef(dataset_uri({"id": pkg.id}))
        return None

    # --- the data flows (dcat:DataService) -----------------------------------------------------------

    def _data_services(self) -> list[tuple[URIRef, dict]]:
        """(node, facts) of each data flow, its statements added to the graph."""
        site_url = tk.config.get("ckan.site_url")
        out = []
        for service in flux_services.SERVICES:
            facts = data_service_facts(service, settings.flux_public_url(), site_url, settings.csw_url())
            node = URIRef(facts["uri"])
            self.g.add((node, RDF.type, DCAT.DataService))
            self.g.add((node, DCT.identifier, Literal(facts["identifier"])))
            self.g.add((node, DCT.title, Literal(facts["title"], lang="fr")))
            self.g.add((node, DCT.description, Literal(facts["description"], lang="fr")))
            for predicate in (DCAT.endpointURL, DCAT.endpointDescription):
                url = URIRef(facts["endpoint_url" if predicate == DCAT.endpointURL else "endpoint_description"])
                self.g.add((node, predicate, url))
                self.g.add((url, RDF.type, RDFS.Resource))
            out.append((node, facts))
        return out

    def _flux_distributions(self, dataset_ref, licence):
        """A served JDD (``sync.is_served``): one distribution per data flow, through its service."""
        for node, facts in self._data_services():
            self.g.add((node, DCAT.servesDataset, dataset_ref))
            dist = facts["distribution"]
            ref = URIRef(f"{dataset_ref}#{dist['fragment']}")
            self.g.add((dataset_ref, DCAT.distribution, ref))
            self.g.add((ref, RDF.type, DCAT.Distribution))
            self.g.add((ref, DCT.title, Literal(dist["title"], lang="fr")))
            self.g.add((ref, DCT.description, Literal(dist["description"], lang="fr")))
            access = URIRef(dist["access_url"])
            self.g.add((ref, DCAT.accessURL, access))
            self.g.add((access, RDF.type, RDFS.Resource))
            self.g.add((ref, DCAT.accessService, node))
            if licence:
                self._typed(ref, DCT.license, licence, DCT.LicenseDocument)

    # --- the catalogue ---------------------------------------------------------------------------

    def graph_from_catalog(self, catalog_dict, catalog_ref):
        g = self.g
        facts = catalog_facts(
            tk.config.get("ckan.site_url"), tk.config.get("ckan.locale_default"), settings.csw_contact()
        )
        self._unlink(catalog_ref, DCT.language)
        for uri in facts["languages"]:
            self._typed(catalog_ref, DCT.language, uri, DCT.LinguisticSystem)
        self._unlink(catalog_ref, FOAF.homepage)
        self._typed(catalog_ref, FOAF.homepage, facts["homepage"] + "/", FOAF.Document)
        publisher = facts["publisher"]
        self._unlink(catalog_ref, DCT.publisher)
        agent = self._typed(catalog_ref, DCT.publisher, publisher["uri"], FOAF.Agent)
        g.add((agent, FOAF.name, Literal(publisher["name"])))
        if publisher["email"]:
            g.add((agent, FOAF.mbox, URIRef(f"mailto:{publisher['email']}")))
        # the data flows, when they serve a public JDD (as the CSW publishes their records); each served
        # JDD of the page says ``dcat:servesDataset`` itself (``_flux_distributions``)
        with model.meta.engine.connect() as conn:
            served = sync.served_jdd(conn)
        if served:
            for node, _facts in self._data_services():
                g.add((catalog_ref, DCAT.service, node))

    # --- a CA or a JDD ---------------------------------------------------------------------------

    def graph_from_dataset(self, dataset_dict, dataset_ref):
        self._drop_refused_links(dataset_ref)
        kind = dataset_dict.get("type")
        if kind not in ("ca", "jdd"):
            return
        if not iso.republished(dataset_dict):  # the catalogue actions never pass one here
            raise tk.ObjectNotFound("Fiche introuvable.")
        ca = visibility.ca_shown_with(dataset_dict)  # a public JDD never shows a private CA's fields
        record = visibility.without_hidden_ca(dataset_dict, ca)
        facts = dcat_facts(kind, record, ca, tk.config.get("ckan.site_url"))
        g = self.g

        self._unlink(dataset_ref, DCT.identifier)
        g.add((dataset_ref, DCT.identifier, Literal(facts["identifier"])))
        self._unlink(dataset_ref, DCAT.landingPage)
        self._typed(dataset_ref, DCAT.landingPage, facts["landing_page"], FOAF.Document)

        concept = facts["type"]
        self._unlink(dataset_ref, DCT.type)
        node = self._typed(dataset_ref, DCT.type, concept["uri"], SKOS.Concept)
        g.add((node, SKOS.prefLabel, Literal(concept["label"], lang="fr")))
        scheme = URIRef(concept["scheme"])
        g.add((node, SKOS.inScheme, scheme))
        g.add((scheme, RDF.type, SKOS.ConceptScheme))
        g.add((scheme, DCT.title, Literal(concept["scheme_title"], lang="fr")))

        self._unlink(dataset_ref, DCT.language)
        for uri in facts["languages"]:
            self._typed(dataset_ref, DCT.language, uri, DCT.LinguisticSystem)

        for keyword in facts["keywords"]:
            g.add((dataset_ref, DCAT.keyword, Literal(keyword, lang="fr")))

        self._unlink(dataset_ref, DCT.isPartOf)
        parent = self._parent_ref(kind, record, ca, facts["parent"])
        if parent is not None:
            g.add((dataset_ref, DCT.isPartOf, parent))

        for dist in list(g.objects(dataset_ref, DCAT.distribution)):
            self._unlink(dist, DCT.license)
            if facts["licence"]:
                self._typed(dist, DCT.license, facts["licence"], DCT.LicenseDocument)
            self._typed_values(dist, DCAT.mediaType, media_type_uri, DCT.MediaType)
            self._typed_values(dist, DCT["format"], file_type_uri, DCT.MediaTypeOrExtent)
            for link in (DCAT.accessURL, DCAT.downloadURL):
                for url in g.objects(dist, link):
                    g.add((url, RDF.type, RDFS.Resource))

        if sync.is_served(dataset_dict):
            self._flux_distributions(dataset_ref, facts["licence"])

        if facts["temporal"]:
            start, end = facts["temporal"]
            period = BNode()
            self._unlink(dataset_ref, DCT.temporal)
            g.add((dataset_ref, DCT.temporal, period))
            g.add((period, RDF.type, DCT.PeriodOfTime))
            g.add((period, DCAT.startDate, Literal(start, datatype=XSD.date)))
            if end:
                g.add((period, DCAT.endDate, Literal(end, datatype=XSD.date)))

        self._spatial(dataset_ref, facts)

        for contact in facts["contacts"]:
            node = BNode()
            g.add((dataset_ref, DCAT.contactPoint, node))
            g.add((node, RDF.type, VCARD.Kind))
            if contact["name"]:
                g.add((node, VCARD.fn, Literal(contact["name"])))
            if contact["email"]:
                g.add((node, VCARD.hasEmail, URIRef(f"mailto:{contact['email']}")))

    def _spatial(self, dataset_ref, facts):
        """One ``dct:Location`` linked by ``dct:spatial``: the bounding box (``dcat:bbox``) and the
        geometry (``locn:geometry``, a ``locn:Geometry`` with its WKT) — the record's own geometry as
        ``euro_dcat_ap_3`` wrote it, or its bounding box. The nodes that profile made are removed."""
        g = self.g
        geometries = [
            o
            for ref in g.objects(dataset_ref, DCT.spatial)
            for o in g.objects(ref, LOCN.geometry)
            if isinstance(o, Literal) and o.datatype == GSP.wktLiteral
        ]
        self._unlink(dataset_ref, DCT.spatial)
        bbox = Literal(facts["bbox_wkt"], datatype=GSP.wktLiteral) if facts["bbox_wkt"] else None
        geometry = geometries[0] if geometries else bbox
        if geometry is None:
            return
        location = BNode()
        g.add((dataset_ref, DCT.spatial, location))
        g.add((location, RDF.type, DCT.Location))
        if bbox is not None:
            g.add((location, DCAT.bbox, bbox))
        shape = BNode()
        g.add((location, LOCN.geometry, shape))
        g.add((shape, RDF.type, LOCN.Geometry))
        g.add((shape, GSP.asWKT, geometry))


# --- the catalogue actions: without the records that are not republished ---------------------------


def _catalog_action(name):
    """``dcat_catalog_show`` / ``dcat_catalog_search`` as ckanext-dcat 2.4.4 writes them, without the
    records that must not be republished (``iso.republished``)."""

    @tk.chained_action
    @tk.side_effect_free
    def action(original_action, context, data_dict):
        tk.check_access(name, context, data_dict)
        query = dcat_logic._search_ckan_datasets(context, data_dict)
        datasets = [d for d in query["results"] if iso.republished(d)]
        serializer = RDFSerializer(profiles=data_dict.get("profiles"))
        return serializer.serialize_catalog(
            {},
            datasets,
            _format=data_dict.get("format"),
            pagination_info=dcat_logic._pagination_info(query, data_dict),
        )

    action.__name__ = name
    return action


def get_actions() -> dict:
    return {name: _catalog_action(name) for name in ("dcat_catalog_show", "dcat_catalog_search")}


def with_charset(response):
    """The RDF answers of ckanext-dcat's endpoints say their encoding (``charset=utf-8``)."""
    if request.endpoint in DCAT_ENDPOINTS and response.mimetype in CONTENT_TYPES.values():
        if "charset" not in (response.headers.get("Content-Type") or ""):
            response.headers["Content-Type"] = f"{response.mimetype}; charset=utf-8"
    return response
