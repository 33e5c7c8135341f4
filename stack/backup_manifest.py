"""Manifest of a backup archive (stack/backup.sh, stack/restore.sh). Standard library only.

python3 backup_manifest.py write DIR KEY=VALUE...   writes DIR/manifest.json: every file under DIR
                                                    with its size and SHA-256, and the KEY=VALUE
                                                    facts (dotted keys nest: versions.ckan=2.12.1)
python3 backup_manifest.py verify DIR TARGET        checks format, target, sizes and SHA-256
python3 backup_manifest.py get DIR KEY              prints one value (dotted key)
"""

from __future__ import annotations

import datetime
import hashlib
import json
import pathlib
import sys

FORMAT = "sinp-backup/1"
MANIFEST = "manifest.json"


def sha256(path: pathlib.Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def parts_of(root: pathlib.Path) -> list[pathlib.Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and p.name != MANIFEST)


def _value(text: str):
    return int(text) if text.isdigit() else text


def write(root: pathlib.Path, facts: list[str]) -> dict:
    manifest: dict = {"format": FORMAT, "created": datetime.datetime.now(datetime.timezone.utc).isoformat()}
    for fact in facts:
        key, sep, value = fact.partition("=")
        if not sep:
            raise SystemExit(f"not KEY=VALUE: {fact!r}")
        node = manifest
        *parents, leaf = key.split(".")
        for name in parents:
            node = node.setdefault(name, {})
        node[leaf] = _value(value)
    manifest["parts"] = [
        {"path": p.relative_to(root).as_posix(), "bytes": p.stat().st_size, "sha256": sha256(p)} for p in parts_of(root)
    ]
    manifest["total_bytes"] = sum(part["bytes"] for part in manifest["parts"])
    (root / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return manifest


def verify(root: pathlib.Path, target: str) -> list[str]:
    """Problems found (empty: the archive is complete and intact)."""
    path = root / MANIFEST
    if not path.is_file():
        return ["manifest.json is missing: this is not an archive written by `make backup`"]
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        return [f"manifest.json is not valid JSON ({exc})"]
    if manifest.get("format") != FORMAT:
        return [f"unknown archive format {manifest.get('format')!r} (expected {FORMAT!r})"]
    problems = []
    if manifest.get("target") != target:
        problems.append(
            f"the archive is of target {manifest.get('target')!r}, not {target!r} "
            f"(set SINP_BACKUP_TARGET={manifest.get('target')})"
        )
    listed = {part["path"]: part for part in manifest.get("parts", [])}
    present = {p.relative_to(root).as_posix(): p for p in parts_of(root)}
    for name in sorted(set(listed) - set(present)):
        problems.append(f"{name}: listed in the manifest but missing from the archive")
    for name in sorted(set(present) - set(listed)):
        problems.append(f"{name}: in the archive but not in the manifest")
    for name in sorted(set(listed) & set(present)):
        part, file = listed[name], present[name]
        if file.stat().st_size != part["bytes"]:
            problems.append(f"{name}: {file.stat().st_size} bytes, the manifest says {part['bytes']}")
        elif sha256(file) != part["sha256"]:
            problems.append(f"{name}: SHA-256 differs from the manifest (damaged archive)")
    return problems


def get(root: pathlib.Path, key: str):
    node = json.loads((root / MANIFEST).read_text(encoding="utf-8"))
    for name in key.split("."):
        node = node.get(name, "") if isinstance(node, dict) else ""
    return node


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[0] not in ("write", "verify", "get"):
        print(__doc__, file=sys.stderr)
        return 2
    root = pathlib.Path(argv[1])
    if argv[0] == "write":
        write(root, argv[2:])
        return 0
    if argv[0] == "get":
        print(get(root, argv[2]))
        return 0
    problems = verify(root, argv[2])
    for problem in problems:
        print(f"  - {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
