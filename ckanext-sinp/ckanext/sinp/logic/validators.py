"""CKAN validators of the SINP plugin (thin wrappers around ckanext.sinp.domain)."""
from __future__ import annotations

import json

import ckan.plugins.toolkit as tk

from ckanext.sinp.domain.geometry import GeometryError, parse_geojson_geometry

all_validators = {}


def register(func):
    all_validators[func.__name__] = func
    return func


@register
def sinp_geojson(value, context):
    """A GeoJSON geometry in WGS 84, stored as compact JSON text."""
    if value in (None, "", tk.missing):
        return value
    try:
        geometry = parse_geojson_geometry(value)
    except GeometryError as err:
        raise tk.Invalid(str(err))
    return json.dumps(geometry, separators=(",", ":"), ensure_ascii=False)


def get_validators():
    return dict(all_validators)
