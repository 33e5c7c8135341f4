"""The ISO 19139 XSDs (gmd + gmx) that pycsw 2.6.2 ships, compiled once for the tests."""

from __future__ import annotations

import functools

from lxml import etree

from tests.conftest import ROOT

XSD_DIR = "site-packages/pycsw/plugins/profiles/apiso/schemas/ogc/iso/19139/20070417"
GMD = "http://www.isotc211.org/2005/gmd"
GMX = "http://www.isotc211.org/2005/gmx"
SRV = "http://www.isotc211.org/2005/srv"
# pycsw ships srv only in its 2006 set; it imports the gmd namespace already loaded from the 2007 set
SRV_XSD = "../20060504/srv/srv.xsd"


@functools.lru_cache(maxsize=2)
def iso19139_schema(srv: bool = False) -> etree.XMLSchema:
    """With ``srv``, service records (srv:SV_ServiceIdentification) too.

    Raises AssertionError (the test fails, it is not skipped) when the pycsw venv is missing."""
    roots = sorted(ROOT.glob(f"var/venv/pycsw/lib*/python3*/{XSD_DIR}"))
    gmd = [r / "gmd" / "gmd.xsd" for r in roots if (r / "gmd" / "gmd.xsd").is_file()]
    assert gmd, (
        f"ISO 19139 XSDs not found under {ROOT}/var/venv/pycsw/lib*/python3*/{XSD_DIR} "
        "(pycsw 2.6.2 venv missing: rebuild it with `make install`)"
    )
    base = gmd[0].parent.parent
    wrapper = (
        '<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" elementFormDefault="qualified">'
        f'<xs:import namespace="{GMD}" schemaLocation="{(base / "gmd" / "gmd.xsd").as_uri()}"/>'
        f'<xs:import namespace="{GMX}" schemaLocation="{(base / "gmx" / "gmx.xsd").as_uri()}"/>'
        + (f'<xs:import namespace="{SRV}" schemaLocation="{(base / SRV_XSD).resolve().as_uri()}"/>' if srv else "")
        + "</xs:schema>"
    )
    return etree.XMLSchema(etree.fromstring(wrapper.encode(), base_url=str(base / "wrapper.xsd")))
