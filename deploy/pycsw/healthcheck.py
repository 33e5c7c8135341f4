#!/usr/bin/env python
"""Health check of the `pycsw` service: a CSW 2.0.2 GetCapabilities on the local gunicorn port
answers 200 with a Capabilities document (wsgi.py loaded its configuration and pycsw reached
the database). Exit 0 when healthy, 1 otherwise."""

import sys
import urllib.request

URL = "http://127.0.0.1:8000/csw?service=CSW&version=2.0.2&request=GetCapabilities"

try:
    with urllib.request.urlopen(URL, timeout=10) as response:
        body = response.read(1 << 20)
    if b"Capabilities" not in body or b"ExceptionReport" in body:
        raise RuntimeError("no Capabilities document in the answer")
except Exception as exc:  # noqa: BLE001 - any failure means unhealthy
    print(f"unhealthy: {exc}", file=sys.stderr)
    sys.exit(1)
