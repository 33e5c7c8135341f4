"""Occurrence deposits ("Occurrences de taxons" v2.0): columns, quality rules, QC engine.

Pure Python (no ``ckan`` import): ``columns`` reads ``schemas/occurrence.yaml``, ``rules`` is the
one catalogue of checks, ``reader`` inspects a file (size, encoding, separator, header) and
``engine`` runs every check set-wise on DuckDB.
"""
