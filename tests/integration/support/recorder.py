"""A listening socket on 127.0.0.1 that only counts the connections it receives: the stand-in for an
internal service (Solr, Redis) in the tests of the guarded HTTP client. « Nothing reached it » is
then observed, not inferred from the service's logs."""

from __future__ import annotations

import socket
import threading


class Recorder:
    """``with Recorder() as rec: ... rec.port ... rec.connections``."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            conn.close()

    def close(self):
        self._stop = True
        self._thread.join()
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
