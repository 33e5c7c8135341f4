"""Resource links: only ``ckanext.sinp.resource_url_schemes`` (default ``http https ftp``).

* ``sinp_resource_url`` (validator of the ``url`` of CA, JDD and generic dataset resources): a link
  with another scheme (``javascript:``, ``file:``, ``data:``…) is refused (409 on ``url``), nothing
  is stored. Uploads are not concerned (CKAN publishes them under its own URL).
* A link stored before this rule (legacy) is not shown: ``before_resource_show`` and search results
  drop it, so the page, the API, ISO 19139, DCAT and the download (404 instead of a 500) never
  publish it.
"""

from __future__ import annotations

import ckan.plugins.toolkit as tk

from ckanext.sinp import settings
from ckanext.sinp.domain import urls

SETTING = "ckanext.sinp.resource_url_schemes"


def schemes() -> tuple[str, ...]:
    return settings.resource_url_schemes()


def _is_link(resource: dict) -> bool:
    return resource.get("url_type") != "upload"


def sinp_resource_url(key, data, errors, context):
    """Validator: a resource's link uses an accepted scheme."""
    value = data.get(key)
    if value is None or value is tk.missing or value == "":
        return
    if data.get(key[:-1] + ("url_type",)) == "upload":
        return
    allowed = schemes()
    if not urls.link_allowed(value, allowed):
        errors.setdefault(key, []).append(urls.refusal(value, allowed))


def clean_resource(resource: dict) -> dict:
    """The resource without a link of a refused scheme (stored before the rule)."""
    if (
        isinstance(resource, dict)
        and resource.get("url")
        and _is_link(resource)
        and not urls.link_allowed(resource["url"], schemes())
    ):
        resource.pop("url", None)
    return resource


def clean_search_results(search_results: dict) -> dict:
    for result in search_results.get("results") or []:
        if isinstance(result, dict):
            for resource in result.get("resources") or []:
                clean_resource(resource)
    return search_results


def get_validators() -> dict:
    return {"sinp_resource_url": sinp_resource_url}
