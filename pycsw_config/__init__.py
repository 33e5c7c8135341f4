"""pycsw's configuration of the SINP CSW: ``pycsw.cfg``, ``mappings.py`` (the column names of the
table CKAN writes and pycsw reads, defined once) and ``wsgi.py`` (run by gunicorn in pycsw's own
virtualenv). Installed with the extension as ``ckanext.sinp_pycsw_config`` so that CKAN's side
finds ``mappings.py`` without the repository's layout (``ckanext.sinp.csw.repository``).
"""
