"""Pages and downloads of the SINP plugin: one blueprint, one module per kind of page."""

from __future__ import annotations

from ckanext.sinp.guard import guard
from ckanext.sinp.outages import outages
from ckanext.sinp.views import deposits, exports, indicators, producer, records, territory, validation  # noqa: F401  (routes)
from ckanext.sinp.views.blueprint import sinp
from ckanext.sinp.visibility_views import visibility


def get_blueprints():
    return [sinp, guard, visibility, outages]  # guard: the request guard (NUL bytes, bad JSON, paging) of every request
