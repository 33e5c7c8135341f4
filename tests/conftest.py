"""Shared test settings: where the repository is, what `make up` wrote."""

from __future__ import annotations

import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent


def read_stack_env() -> dict[str, str]:
    path = ROOT / "var" / "stack.env"
    if not path.exists():
        raise RuntimeError(f"{path} is missing: the stack is not up (run `make up`)")
    env = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            env[key] = value
    return env


@pytest.fixture(scope="session")
def repo_root() -> pathlib.Path:
    return ROOT
