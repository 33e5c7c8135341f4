"""WSGI entry point for serving CKAN with gunicorn (local stack and Docker image).

CKAN_INI=/path/to/ckan.ini gunicorn ckanext.sinp.wsgi:application
"""

import os

from ckan.cli import CKANConfigLoader
from ckan.config.middleware import make_app

_config = CKANConfigLoader(os.environ["CKAN_INI"]).get_config()
application = make_app(_config)
