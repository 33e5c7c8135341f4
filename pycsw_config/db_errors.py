"""Whether an error means the CSW lost PostgreSQL (no import of pycsw or of a driver: by class name)."""

_LOST_DATABASE = ("OperationalError", "InterfaceError", "DisconnectionError")


def lost_database(error):
    """True when ``error`` (or what caused it) says the connection to PostgreSQL failed: psycopg2's
    ``OperationalError`` / ``InterfaceError`` and their subclasses (``AdminShutdown``, « terminating
    connection due to administrator command », is what a restart gives to the connections it closes;
    ``CannotConnectNow``, « the database system is starting up »), or SQLAlchemy's wrappers."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if any(cls.__name__ in _LOST_DATABASE for cls in type(error).__mro__):
            return True
        error = error.__cause__ or error.__context__
    return False
