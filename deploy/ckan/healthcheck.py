#!/usr/bin/env python
"""Health checks of the CKAN image's services (docker-compose.yml `healthcheck:`).

    healthcheck.py web       CKAN answers status_show on its gunicorn port (default 5000)
    healthcheck.py worker    a `ckan jobs worker` of this container is registered in Redis
                             (rq drops a worker whose heartbeat stops) on CKAN's default queue
    healthcheck.py consumer  the harvest consumer's queue server (Redis) answers

Exit 0 when healthy, 1 otherwise (with the reason on stderr). Standard library plus the
redis/rq packages of CKAN's virtualenv; no CKAN import (a check must stay cheap).
"""

import json
import os
import socket
import sys
import urllib.request


def check_web():
    port = os.environ.get("SINP_HEALTH_PORT", "5000")
    url = f"http://127.0.0.1:{port}/api/3/action/status_show"
    with urllib.request.urlopen(url, timeout=10) as response:
        body = json.load(response)
    if not body.get("success"):
        raise RuntimeError("status_show answered success=false")


def _redis():
    import redis

    return redis.Redis.from_url(os.environ["CKAN_REDIS_URL"], socket_timeout=5)


def check_worker():
    from rq import Worker

    conn = _redis()
    queue = "ckan:{}:default".format(os.environ.get("CKAN_SITE_ID", "sinp"))
    host = socket.gethostname()
    for worker in Worker.all(connection=conn):
        if worker.hostname == host and queue in worker.queue_names():
            return
    raise RuntimeError(f"no rq worker of host {host} listens on {queue}")


def check_consumer():
    if not _redis().ping():
        raise RuntimeError("Redis did not answer PING")


CHECKS = {"web": check_web, "worker": check_worker, "consumer": check_consumer}


def main(argv):
    if len(argv) != 2 or argv[1] not in CHECKS:
        print(f"usage: healthcheck.py {{{'|'.join(CHECKS)}}}", file=sys.stderr)
        return 2
    try:
        CHECKS[argv[1]]()
    except Exception as exc:  # noqa: BLE001 - any failure means unhealthy
        print(f"unhealthy ({argv[1]}): {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
