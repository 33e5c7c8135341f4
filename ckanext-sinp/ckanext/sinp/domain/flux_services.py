"""The data flows of the map server (WMS, WFS, OGC API Features) as the metadata sees them: one
description per service, shared by its ISO 19139 service record (``iso_service``), the online
resources of a JDD's ISO record (``iso``) and DCAT (``dcat``). Pure data, no ``ckan`` import.

Three services, three records: a WMS view service, a WFS 2.0 download service and an OGC API
Features download service. INSPIRE describes one service (one connect point, one service type and
version) per record; GeoNetwork links a dataset to each service by its own ``operatesOn``, and a
client picks the protocol it speaks from the record's type and version.

``base`` is the public address of the platform's map (``ckanext.sinp.flux.public_url``, by default
``<ckan.site_url>/flux/sinp``: the reverse proxy of the README's production section); each service
answers at ``<base>/<path>``.
"""

from __future__ import annotations

import dataclasses
import uuid

# the layer a JDD's public observations are drawn in (occurrences/map_store.py, sinp_flux views)
OBSERVATIONS_LAYER = "observations_maille"
DEFAULT_PATH = "/flux/sinp"  # below ckan.site_url, when no public address is configured
# Bourgogne-Franche-Comté (west, south, east, north, WGS 84), when the territory outline is not loaded
DEFAULT_TERRITORY_BBOX = (2.84, 46.15, 7.15, 48.41)

SERVICE_TYPE_CODESPACE = "http://inspire.ec.europa.eu/metadata-codelist/SpatialDataServiceType"
CATEGORY_REGISTER = "http://inspire.ec.europa.eu/metadata-codelist/SpatialDataServiceCategory"
CATEGORY_THESAURUS = {
    "title": "Classification des services de données géographiques (règlement (CE) n° 1205/2008, partie D.4)",
    "uri": CATEGORY_REGISTER,
    "date": "2008-12-03",
}


@dataclasses.dataclass(frozen=True)
class FluxService:
    key: str
    path: str
    title: str
    abstract: str
    service_type: str  # INSPIRE SpatialDataServiceType: view | download
    version: str
    protocol: str  # online resource protocol GeoNetwork recognises (DocumentLink valid protocols)
    category: str  # INSPIRE SpatialDataServiceCategory
    operation: str
    capabilities_query: str
    standard: str  # the standard's name, for texts

    def url(self, base: str) -> str:
        return f"{base.rstrip('/')}/{self.path}"

    def capabilities_url(self, base: str) -> str:
        return self.url(base) + self.capabilities_query

    def layer_url(self, base: str, layer: str = OBSERVATIONS_LAYER) -> str:
        """Where a client reads ``layer``: the service's own address (the layer is named by the link's
        name), the collection's items for the OGC API."""
        return f"{self.url(base)}/collections/{layer}/items" if self.key == "ogcapi" else self.url(base)

    def layer_description(self, layer: str = OBSERVATIONS_LAYER) -> str:
        """What a JDD's link to ``layer`` in this service is (ISO online resource, DCAT distribution)."""
        return (
            f"{self.title} : couche {layer}, qui réunit les observations publiques de tous les jeux de "
            "données publiés, dont celui-ci."
        )

    def identifier(self, site_url: str) -> str:
        """The record's fileIdentifier: stable for a platform (its site URL) and a service."""
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{site_url.rstrip('/')}#service-{self.key}")).upper()

    @property
    def category_uri(self) -> str:
        return f"{CATEGORY_REGISTER}/{self.category}"


_DATA = (
    "les observations publiques de la faune, de la flore et de la fonge du SINP Bourgogne-Franche-Comté "
    "agrégées par maille de 10 km (données floutées des jeux de données publiés uniquement : aucune "
    "observation précise ni donnée non diffusable), l'emprise de chaque jeu de données publié et le "
    "territoire régional"
)

SERVICES = (
    FluxService(
        key="wms",
        path="wms",
        title="Service de visualisation (WMS) des observations publiques du SINP Bourgogne-Franche-Comté",
        abstract=f"Service de visualisation WMS 1.3.0 qui affiche {_DATA} (couches observations_maille, "
        "jdd_emprise et territoire ; EPSG:2154, EPSG:4326 et EPSG:3857).",
        service_type="view",
        version="1.3.0",
        protocol="OGC:WMS",
        category="infoMapAccessService",
        operation="GetCapabilities",
        capabilities_query="?SERVICE=WMS&REQUEST=GetCapabilities&VERSION=1.3.0",
        standard="WMS 1.3.0",
    ),
    FluxService(
        key="wfs",
        path="wfs",
        title="Service de téléchargement (WFS) des observations publiques du SINP Bourgogne-Franche-Comté",
        abstract=f"Service de téléchargement WFS 2.0 qui diffuse {_DATA} (couches observations_maille, "
        "jdd_emprise et territoire ; GML 3.2 et GeoJSON ; EPSG:2154 et EPSG:4326).",
        service_type="download",
        version="2.0.0",
        protocol="OGC:WFS",
        category="infoFeatureAccessService",
        operation="GetCapabilities",
        capabilities_query="?SERVICE=WFS&REQUEST=GetCapabilities&VERSION=2.0.0",
        standard="WFS 2.0",
    ),
    FluxService(
        key="ogcapi",
        path="ogcapi",
        title="Service de téléchargement (OGC API Features) des observations publiques du SINP Bourgogne-Franche-Comté",
        abstract=f"Service de téléchargement OGC API - Features (partie 1 : cœur) qui diffuse {_DATA} "
        "(collections observations_maille, jdd_emprise et territoire ; GeoJSON et pages HTML).",
        service_type="download",
        version="1.0.0",
        protocol="OGC:OGC-API-Features-items",
        category="infoFeatureAccessService",
        operation="landingPage",
        capabilities_query="/api?f=json",
        standard="OGC API - Features",
    ),
)


def default_base(site_url: str) -> str:
    return site_url.rstrip("/") + DEFAULT_PATH


def bbox_or_default(bbox) -> tuple:
    """A valid WGS 84 box (west, south, east, north), else the region's."""
    if bbox and all(v is not None for v in bbox):
        west, south, east, north = (float(v) for v in bbox)
        if -180 <= west <= east <= 180 and -90 <= south <= north <= 90:
            return (west, south, east, north)
    return DEFAULT_TERRITORY_BBOX
