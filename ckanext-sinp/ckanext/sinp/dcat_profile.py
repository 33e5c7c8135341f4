"""ckanext-dcat profile ``sinp``: the SINP identifiers, coverage and contacts of CA/JDD in DCAT-AP.

Runs after ``euro_dcat_ap_3`` (``ckanext.dcat.rdf.profiles = euro_dcat_ap_3 sinp``); the
statements come from ckanext.sinp.domain.dcat.
"""

from __future__ import annotations

import ckan.plugins.toolkit as tk
from rdflib import BNode, Literal, URIRef
from rdflib.namespace import RDF, XSD

from ckanext.dcat.profiles.base import DCAT, DCT, GSP, VCARD, RDFProfile
from ckanext.sinp import settings
from ckanext.sinp.domain import urls
from ckanext.sinp.domain.dcat import dcat_facts
from ckanext.sinp.logic import visibility


class SinpDCATProfile(RDFProfile):
    def _drop_refused_links(self, dataset_ref):
        """A distribution whose access or download URL has a refused scheme (``javascript:``,
        ``file:``…; ``ckanext.sinp.resource_url_schemes``) is not published."""
        allowed = settings.resource_url_schemes()
        for dist in list(self.g.objects(dataset_ref, DCAT.distribution)):
            links = [str(o) for p in (DCAT.accessURL, DCAT.downloadURL) for o in self.g.objects(dist, p)]
            if any(not urls.link_allowed(link, allowed) for link in links):
                self.g.remove((dataset_ref, DCAT.distribution, dist))
                self.g.remove((dist, None, None))

    def graph_from_dataset(self, dataset_dict, dataset_ref):
        self._drop_refused_links(dataset_ref)
        kind = dataset_dict.get("type")
        if kind not in ("ca", "jdd"):
            return
        ca = visibility.ca_shown_with(dataset_dict)  # a public JDD never shows a private CA's fields
        record = visibility.without_hidden_ca(dataset_dict, ca)
        facts = dcat_facts(kind, record, ca, tk.config.get("ckan.site_url"))
        g = self.g

        g.remove((dataset_ref, DCT.identifier, None))
        g.add((dataset_ref, DCT.identifier, Literal(facts["identifier"])))
        g.remove((dataset_ref, DCAT.landingPage, None))
        g.add((dataset_ref, DCAT.landingPage, URIRef(facts["landing_page"])))
        g.add((dataset_ref, DCT.type, Literal(facts["type_label"], lang="fr")))
        for keyword in facts["keywords"]:
            g.add((dataset_ref, DCAT.keyword, Literal(keyword, lang="fr")))
        if facts["parent"]:
            g.add((dataset_ref, DCT.isPartOf, Literal(facts["parent"])))

        if facts["temporal"]:
            start, end = facts["temporal"]
            period = BNode()
            g.remove((dataset_ref, DCT.temporal, None))
            g.add((dataset_ref, DCT.temporal, period))
            g.add((period, RDF.type, DCT.PeriodOfTime))
            g.add((period, DCAT.startDate, Literal(start, datatype=XSD.date)))
            if end:
                g.add((period, DCAT.endDate, Literal(end, datatype=XSD.date)))

        if facts["bbox"]:
            w, s, e, n = facts["bbox"]
            location = BNode()
            g.remove((dataset_ref, DCT.spatial, None))
            g.add((dataset_ref, DCT.spatial, location))
            g.add((location, RDF.type, DCT.Location))
            g.add(
                (
                    location,
                    DCAT.bbox,
                    Literal(f"POLYGON(({w} {s},{e} {s},{e} {n},{w} {n},{w} {s}))", datatype=GSP.wktLiteral),
                )
            )

        for contact in facts["contacts"]:
            node = BNode()
            g.add((dataset_ref, DCAT.contactPoint, node))
            g.add((node, RDF.type, VCARD.Kind))
            if contact["name"]:
                g.add((node, VCARD.fn, Literal(contact["name"])))
            if contact["email"]:
                g.add((node, VCARD.hasEmail, URIRef(f"mailto:{contact['email']}")))
