"""ckanext-sinp: the SINP metadata catalogue extension for CKAN 2.12.

Sub-packages that do not import ``ckan`` hold the SINP domain (model, mappings,
QC rules); the modules ``plugin``, ``cli`` and ``wsgi`` are the CKAN glue.
"""
