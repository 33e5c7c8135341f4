"""Background work that must happen, recorded in PostgreSQL with the change that needs it.

``store``: the ``sinp_outbox`` table (SQLAlchemy, no CKAN). ``runner``: recording from CKAN
actions, the RQ job, the dispatcher the scheduler calls.
"""
