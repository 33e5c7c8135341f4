"""The SINP domain in pure Python: no ``ckan`` import here, so it is testable in milliseconds."""
