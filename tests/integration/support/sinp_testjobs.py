"""Functions enqueued by the tests and run by a real `ckan jobs worker`."""

import os


def write_marker(path: str, text: str) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(f"{text} pid={os.getpid()}")
    os.replace(tmp, path)
