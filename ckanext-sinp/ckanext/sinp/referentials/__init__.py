"""National referentials used by the SINP catalogue (TAXREF for now).

- ``taxref``: pure parsing of the official TAXREF text files (no database);
- ``store``: the PostgreSQL tables, the loader and the search functions
  (SQLAlchemy 2.0 Core; functions take an Engine or a Connection).

Neither module imports ``ckan``: the CLI commands and the CKAN actions wrap them.
"""
