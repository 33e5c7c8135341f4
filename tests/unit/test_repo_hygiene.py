"""The repository holds sources, not build products: no binary archive outside tests/fixtures/."""

from __future__ import annotations

import subprocess

from tests.conftest import ROOT

ARCHIVE_SUFFIXES = (
    ".whl",
    ".egg",
    ".zip",
    ".tar",
    ".tar.gz",
    ".tgz",
    ".tar.bz2",
    ".tar.xz",
    ".gz",
    ".bz2",
    ".xz",
    ".7z",
    ".rar",
    ".jar",
    ".war",
    ".deb",
    ".rpm",
    ".pyc",
    ".so",
)


def tracked_files() -> list[str]:
    result = subprocess.run(["git", "-C", str(ROOT), "ls-files"], capture_output=True, text=True, check=True)
    return result.stdout.splitlines()


def test_no_binary_archive_is_committed_outside_the_fixtures():
    stray = [
        path
        for path in tracked_files()
        if path.lower().endswith(ARCHIVE_SUFFIXES) and not path.startswith("tests/fixtures/")
    ]
    assert stray == [], f"archives binaires versionnées hors de tests/fixtures/ : {stray}"
