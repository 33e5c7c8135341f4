"""The CSW side of ckanext-sinp: the table pycsw 2.6.2 serves (see repository)."""
