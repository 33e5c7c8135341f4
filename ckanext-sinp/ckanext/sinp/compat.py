"""Fixes for third-party packages, applied when the ``sinp`` plugin loads.

Each fix names the upstream problem it works around, so it can be removed
when the pinned version no longer needs it.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


def fix_harvest_queue_socket_timeout() -> None:
    """ckanext-harvest 1.6.3 + redis-py 8: idle harvest consumers die after 5 s.

    The redis consumers of ckanext-harvest wait with ``BLPOP`` and no timeout;
    redis-py 8 gives every connection a 5 s ``socket_timeout`` by default, so
    ``ckan harvester gather-consumer`` / ``fetch-consumer`` crash with
    ``TimeoutError: Timeout reading from socket`` after 5 s without work.
    The harvest queue's connections get no socket timeout, as before redis-py 8.
    """
    try:
        from ckanext.harvest import queue
    except ImportError:
        return
    if getattr(queue.get_connection_redis, "_sinp_fixed", False):
        return
    original = queue.get_connection_redis

    def get_connection_redis():
        connection = original()
        connection.connection_pool.connection_kwargs["socket_timeout"] = None
        return connection

    get_connection_redis._sinp_fixed = True  # type: ignore[attr-defined]
    queue.get_connection_redis = get_connection_redis
