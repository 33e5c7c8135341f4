"""Demo data of ``ckan sinp demo-data``: organisations and records (JSON), generated occurrences."""
