"""Occurrence data in PostgreSQL/PostGIS (storage layer: SQLAlchemy, no ``ckan`` import).

- ``store``: deposits, their QC errors and the accepted occurrences (integration, search, the
  duplicate look-ups of the QC);
- ``protection_store``: sensitivity referential, attachment to départements and communes,
  chefs de file, validation and diffusion;
- ``receipt``: the attestation de réception of a deposit (facts and PDF).

The deposit job that fills them is ``ckanext.sinp.jobs`` (CKAN glue).
"""
