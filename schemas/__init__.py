"""The SINP model as data (YAML and JSON: schemas, presets, nomenclatures, referential extracts),
installed with the extension as the package data of ``ckanext.sinp_schemas`` so that an installed
package (a wheel, the Docker image) finds it without the repository's layout
(``ckanext.sinp.domain.model.schemas_dir``; ckanext-scheming reads ``ckanext.sinp_schemas:ca.yaml``).
"""
