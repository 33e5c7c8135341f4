"""Work that must wait for CKAN's transaction to commit (and be forgotten if it rolls back).

A module remembers what changed in ``pending(key)`` (a dict in the session's ``info``) during the
transaction; ``install(key, on_commit)`` calls ``on_commit(pending)`` after a successful commit.
"""

from __future__ import annotations

from collections.abc import Callable

import ckan.model as model
from sqlalchemy import event

_HANDLERS: dict[str, Callable[[dict], None]] = {}


def pending(key: str) -> dict:
    return model.Session().info.setdefault(key, {})


def _after_commit(session) -> None:
    for key, handler in _HANDLERS.items():
        items = session.info.pop(key, None)
        if items:
            handler(items)


def _after_soft_rollback(session, previous) -> None:
    for key in _HANDLERS:
        session.info.pop(key, None)


def install(key: str, on_commit: Callable[[dict], None]) -> None:
    _HANDLERS[key] = on_commit
    target = model.meta.Session
    if not event.contains(target, "after_commit", _after_commit):
        event.listen(target, "after_commit", _after_commit)
        event.listen(target, "after_soft_rollback", _after_soft_rollback)
