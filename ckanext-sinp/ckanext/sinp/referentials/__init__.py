"""National and regional referentials used by the catalogue and the occurrence checks (storage
layer: readers and PostgreSQL stores, no ``ckan`` import).

- ``taxref`` / ``taxref_store``: TAXREF (reader of the official files; tables, loader, search,
  hierarchy);
- ``habref``: HABREF (reader); ``geo``: communes, départements, 10 km grid and territory
  (readers); ``tabular``: the delimited-file reading they share;
- ``geo_store``: HABREF and the geographic referentials in PostgreSQL/PostGIS, and what the QC
  engine receives of them;
- ``common``: what every store shares (COPY helpers, the ``sinp_referential_version`` table).
"""
