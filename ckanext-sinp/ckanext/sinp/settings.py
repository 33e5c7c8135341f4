"""The plugin's settings (``ckanext.sinp.*`` in CKAN's configuration), read in one place.

Each key, its default and its meaning are declared once, in ``config_declaration.yaml`` (CKAN
applies the declared defaults); these functions give the values their types. The guarded HTTP
client reads its own group (``ckanext.sinp.http.*``: ``guarded_http.settings``) and the security
headers theirs (``ckanext.sinp.csp``), each from the same declaration.
"""

from __future__ import annotations

import ckan.plugins.toolkit as tk

from ckanext.sinp.domain import dates, flux_services, protection, urls


def _get(key: str):
    return tk.config.get(f"ckanext.sinp.{key}")


def qc_limits() -> dict:
    """The limits of the occurrence check (``domain.occtax.engine.Options`` keywords)."""
    return {
        "max_bytes": int(_get("qc.max_bytes")),
        "territory_tolerance_m": float(_get("qc.territory_tolerance_m")),
        "memory_limit": str(_get("qc.memory_limit")),
        "d2_max_foreign": int(_get("qc.d2_max_foreign")),
    }


def qc_job_timeout() -> int:
    """Seconds one deposit check may run (RQ job timeout)."""
    return int(_get("qc.job_timeout"))


def outbox_timing() -> dict:
    """Delays (seconds) and attempts of the background-task outbox (``outbox.runner``)."""
    return {
        "stale_after": int(_get("outbox.stale_after")),
        "requeue_after": int(_get("outbox.requeue_after")),
        "deposit_attempts": int(_get("outbox.deposit_attempts")),
        "max_attempts": int(_get("outbox.max_attempts")),
    }


def scheduler_harvest_every() -> int:
    return int(_get("scheduler.harvest_every"))


def scheduler_csw_orphans_every() -> int:
    return int(_get("scheduler.csw_orphans_every"))


def scheduler_indicators_every() -> int:
    return int(_get("scheduler.indicators_every"))


def indicators_threshold() -> int:
    """Below this many observations of a sensitive taxon (but some), an indicator's cell is secret."""
    return int(_get("indicators.seuil_sensible"))


def display_zone() -> str:
    """The time zone of the dates shown (CKAN's ``ckan.display_timezone``; Europe/Paris for « server »)."""
    zone = tk.config.get("ckan.display_timezone") or ""
    return zone if zone and zone != "server" else dates.DEFAULT_ZONE


def export_max_rows() -> int:
    return int(_get("export.max_rows"))


def territory_file() -> str:
    return _get("territory_file") or ""


def auto_validation() -> tuple[tuple, str]:
    """The criteria and the level of the automatic pre-validation (no criterion when disabled)."""
    criteria = protection.parse_criteria(_get("validation.auto_criteria"))
    if tk.asbool(_get("validation.auto_disabled")):
        criteria = ()
    return criteria, str(_get("validation.auto_level"))


def resource_url_schemes() -> tuple[str, ...]:
    """Schemes accepted in resource links and published in ISO and DCAT."""
    return urls.parse_schemes(_get("resource_url_schemes"))


def csw_url() -> str:
    return _get("csw.url")


def csw_contact() -> dict:
    """The metadata point of contact of the CSW records."""
    return {"name": _get("csw.contact_name"), "email": _get("csw.contact_email")}


def csw_reader_role() -> str:
    return _get("csw.reader_role")


def flux_reader_role() -> str:
    return _get("flux.reader_role")


def flux_public_url() -> str:
    """The public base address of the data flows (``flux_services``), never empty."""
    return (_get("flux.public_url") or "").strip().rstrip("/") or flux_services.default_base(
        tk.config.get("ckan.site_url") or ""
    )


def scheduler_carte_every() -> int:
    return int(_get("scheduler.carte_every"))


def demo_admin_user() -> str:
    return _get("demo.admin_user")
