"""Compiles our .po catalogues into the .mo files CKAN loads (ITranslation), in plain Python.

setup.py's build_py (run by `pip install` and `pip install -e`) loads this file by path: the build
environment has no Babel, and the .mo are not kept in git.
"""

from __future__ import annotations

import ast
import pathlib
import struct

HERE = pathlib.Path(__file__).resolve().parent


def read_po(path: pathlib.Path) -> dict[str, str]:
    """The translated messages of a .po file: {msgid: msgstr}, plurals keyed "id\\0plural" with
    "s0\\0s1" (the .mo layout); untranslated and fuzzy entries left out."""
    messages: dict[str, str] = {}
    entry: dict[str, str] = {}
    key, fuzzy = "", False

    def flush() -> None:
        if "msgid" in entry and not fuzzy:
            plurals = [entry[k] for k in sorted(k for k in entry if k.startswith("msgstr["))]
            if "msgid_plural" in entry and plurals and all(plurals):
                messages[entry["msgid"] + "\0" + entry["msgid_plural"]] = "\0".join(plurals)
            elif entry.get("msgstr") or entry["msgid"] == "":
                messages[entry["msgid"]] = entry.get("msgstr", "")

    for line in path.read_text(encoding="utf-8").splitlines() + [""]:
        line = line.strip()
        if not line:
            flush()
            entry, key, fuzzy = {}, "", False
        elif line.startswith("#,"):
            fuzzy = "fuzzy" in line
        elif line.startswith("#"):
            continue
        elif line.startswith('"'):
            entry[key] += ast.literal_eval(line)
        else:
            key, _, value = line.partition(" ")
            entry[key] = ast.literal_eval(value)
    return messages


def write_mo(messages: dict[str, str], path: pathlib.Path) -> None:
    """A GNU gettext .mo: header, then the tables of original and translated strings (sorted)."""
    keys = sorted(messages)
    strings = [k.encode("utf-8") for k in keys] + [messages[k].encode("utf-8") for k in keys]
    start = 7 * 4 + 16 * len(keys)  # after the header and the two tables of (length, offset)
    table, blob = b"", b""
    for data in strings:
        table += struct.pack("<2I", len(data), start + len(blob))
        blob += data + b"\0"
    header = struct.pack("<7I", 0x950412DE, 0, len(keys), 7 * 4, 7 * 4 + 8 * len(keys), 0, 0)
    path.write_bytes(header + table + blob)


def compile_catalogues(root: pathlib.Path = HERE) -> list[pathlib.Path]:
    """Every <lang>/LC_MESSAGES/*.po under ``root`` compiled beside itself; the .mo written."""
    written = []
    for po in sorted(root.glob("*/LC_MESSAGES/*.po")):
        write_mo(read_po(po), po.with_suffix(".mo"))
        written.append(po.with_suffix(".mo"))
    return written


if __name__ == "__main__":  # after editing a .po: python ckanext-sinp/ckanext/sinp/i18n/msgfmt.py
    for written in compile_catalogues():
        print(written)
