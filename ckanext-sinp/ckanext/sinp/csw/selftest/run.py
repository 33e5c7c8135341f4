"""``run_selftest``: the entry point, every step of ``Selftest`` in the harvesters' order, each
guarded (a failure is a problem of the report, never an exception)."""

from __future__ import annotations

import time

import requests

from .results import Report
from .scenarios import Listing, Selftest


def run_selftest(
    csw_url: str,
    *,
    page_size: int = 20,
    sample: int | None = 50,
    timeout: float = 30,
    xsd_path=None,
    session: requests.Session | None = None,
) -> Report:
    """Replays the harvesters' requests against ``csw_url`` and returns a French report.

    page_size: GeoNetwork's maxRecords (20); sample: records fetched by GetRecordById (None: all);
    timeout: seconds per request; xsd_path: the ISO 19139 XSDs (gmd.xsd, or the directory holding
    gmd/ and gmx/; default: pycsw's copy); session: a requests.Session (headers, auth…).
    Never raises for what the endpoint does: every failure is a problem of the report.
    """
    began = time.monotonic()
    t = Selftest(csw_url, page_size, sample, timeout, xsd_path, session)
    t.guarded(t.check("capabilities", "GetCapabilities 2.0.2 (GET KVP, comme GeoNetwork)"), t.capabilities)
    gn = (
        t.guarded(
            t.check("geonetwork", f"GeoNetwork : pagination GetRecords (POST, summary, gmd, {t.page_size} par page)"),
            t.geonetwork,
        )
        or Listing()
    )
    t.guarded(
        t.check("stability", "GeoNetwork : second passage identique (stabilité de la pagination)"), t.stability, gn
    )
    t.guarded(
        t.check("geonetwork_get", "GeoNetwork : repli GET KVP (pagination et filtre CQL_TEXT)"), t.geonetwork_get, gn
    )
    byid = t.check("getrecordbyid", "GetRecordById (POST et GET) sur un échantillon")
    xsd = t.check("xsd", "Validité XSD ISO 19139 des fiches complètes")
    inspire = t.check("inspire", "Éléments INSPIRE des fiches complètes")
    t.guarded(byid, lambda check: t.by_id(check, xsd, inspire, gn))
    t.guarded(t.check("unknown_id", "GetRecordById d'un identifiant inconnu : réponse vide"), t.unknown_id)
    t.guarded(t.check("udata", "udata (data.gouv.fr) : GetRecords csw:Record, full, filtre dc:type"), t.udata, gn)
    t.guarded(
        t.check("ckanext_spatial", "ckanext-spatial : getrecords2 (csw:Record, brief, 10 par page)"),
        t.ckanext_spatial,
        gn,
    )
    t.guarded(t.check("anytext", "Filtre csw:AnyText sur un mot d'un titre"), t.anytext)
    t.guarded(t.check("bbox", "Filtre BBOX autour de l'emprise d'un jeu de données"), t.bbox, gn)
    t.report.stats["requêtes"] = t.client.count
    t.report.stats["durée"] = f"{time.monotonic() - began:.1f} s"
    return t.report
