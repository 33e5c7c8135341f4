#!/usr/bin/env python3
"""Generates schemas/nomenclatures/<MNEMONIQUE>.json from the official SINP nomenclature data.

Source: the `pypnnomenclature` wheel (PnX-SI, the nomenclature module of GeoNature), version
pinned below, file `pypnnomenclature/migrations/data/nomenclatures_inpn_data.sql`. The wheel is
fetched with `pip download --no-deps` into a cache directory (skipped when already there) and read
as a zip; nothing is installed.

Values that GeoNature froze by later migrations are absent from that file (it is the state of a
fresh install). They are added from `sources/frozen_values.sql`, whose rows are copied verbatim
from the historical data file of the same upstream project (see that file's header), with
`active: false`.

Usage:  python3 schemas/nomenclatures/generate.py [--cache-dir DIR] [--output-dir DIR] [--wheel FILE]

Standard library only. Output is deterministic: same wheel, same bytes.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import pathlib
import re
import shutil
import subprocess
import sys
import zipfile

PACKAGE = "pypnnomenclature"
VERSION = "1.7.0"
WHEEL_NAME = f"{PACKAGE}-{VERSION}-py3-none-any.whl"
WHEEL_SHA256 = "8060d59e3d0d957a8088e3edb6f16cf9d521a6b96f5440e744931689b8edcd41"
SQL_MEMBER = "pypnnomenclature/migrations/data/nomenclatures_inpn_data.sql"
SOURCE = f"{PACKAGE} {VERSION}, migrations/data/nomenclatures_inpn_data.sql"

HERE = pathlib.Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
DEFAULT_CACHE_DIR = REPO_ROOT / "var" / "cache" / "wheels"
FROZEN_SQL = HERE / "sources" / "frozen_values.sql"

# GeoNature's technical root of the nomenclature tree, not a nomenclature.
SKIPPED_TYPES = {"ROOT"}

# Values frozen upstream after they left the data file. Codes are the exchange codes (GeoNature
# renames them OLD_<code> in its database; old documents carry the plain code). The rows
# themselves come from sources/frozen_values.sql.
FREEZES = {
    "CA_OBJECTIFS": {
        "codes": ["1", "2", "3", "4", "5", "6", "7"],
        "note": "Gelé par le standard de métadonnées 1.3.10 (remplacé par les codes 8 à 11, sans "
        "table de correspondance) ; Nomenclature-api-module data/update1.3.3to1.3.4.sql, "
        "commit ed7f9306.",
    },
    "DS_PUBLIQUE": {
        "codes": ["Ac", "Re"],
        "note": "Gelé par le standard Occurrences de taxons v2.0 ; valeur fille de « Pu » (Publique) ; "
        "Nomenclature-api-module data/update1.3.3to1.3.4.sql, commit c42fc3aa.",
    },
    "STATUT_BIO": {
        "codes": ["6", "7", "8", "10", "11", "12"],
        "note": "Gelé par le standard Occurrences de taxons v2.0 (le même code existe dans "
        "OCC_COMPORTEMENT) ; Nomenclature-api-module data/update1.3.3to1.3.4.sql, "
        "commit c42fc3aa.",
    },
}
FROZEN_STATUSES = {"Gelé", "Gelée"}

_HIERARCHY = re.compile(r"^\d{3}(\.\d{3})*$")


# --------------------------------------------------------------------------- wheel


def ensure_wheel(cache_dir: pathlib.Path) -> pathlib.Path:
    """Returns the path of the pinned wheel, downloading it with pip when it is not cached."""
    wheel = cache_dir / WHEEL_NAME
    if not wheel.exists():
        cache_dir.mkdir(parents=True, exist_ok=True)
        pip = [sys.executable, "-m", "pip"]
        if importlib.util.find_spec("pip") is None and shutil.which("pip"):
            pip = [shutil.which("pip")]
        cmd = [
            *pip,
            "download",
            "--no-deps",
            "--only-binary",
            ":all:",
            "--disable-pip-version-check",
            "-q",
            f"{PACKAGE}=={VERSION}",
            "-d",
            str(cache_dir),
        ]
        subprocess.run(cmd, check=True)
        if not wheel.exists():
            raise SystemExit(f"pip did not produce {wheel}")
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    if digest != WHEEL_SHA256:
        raise SystemExit(f"{wheel}: sha256 {digest} differs from the pinned {WHEEL_SHA256}")
    return wheel


def read_sql(wheel: pathlib.Path) -> str:
    with zipfile.ZipFile(wheel) as zf:
        return zf.read(SQL_MEMBER).decode("utf-8")


# --------------------------------------------------------------------------- SQL parsing

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<comment>--[^\n]*)
  | (?P<estring>[Ee]'(?:[^'\\]|\\.|'')*')
  | (?P<string>'(?:[^']|'')*')
  | (?P<number>-?\d+(?:\.\d+)?)
  | (?P<word>[A-Za-z_][A-Za-z_0-9.]*)
  | (?P<punct>[(),;])
  | (?P<op>[=<>*+/-]+)
""",
    re.VERBOSE | re.DOTALL,
)

_E_ESCAPES = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


def _decode_estring(body: str) -> str:
    """PostgreSQL E'...' escapes (backslash sequences and doubled quotes)."""
    out, i = [], 0
    while i < len(body):
        c = body[i]
        if c == "'" and body[i + 1 : i + 2] == "'":
            out.append("'")
            i += 2
        elif c == "\\" and i + 1 < len(body):
            n = body[i + 1]
            if n in _E_ESCAPES:
                out.append(_E_ESCAPES[n])
                i += 2
            elif n == "x":
                m = re.match(r"[0-9A-Fa-f]{1,2}", body[i + 2 :])
                out.append(chr(int(m.group(), 16)))
                i += 2 + len(m.group())
            elif n in "uU":
                size = 4 if n == "u" else 8
                out.append(chr(int(body[i + 2 : i + 2 + size], 16)))
                i += 2 + size
            elif n in "01234567":
                m = re.match(r"[0-7]{1,3}", body[i + 1 :])
                out.append(chr(int(m.group(), 8)))
                i += 1 + len(m.group())
            else:
                out.append(n)
                i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _tokens(text: str):
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise ValueError(f"cannot tokenise SQL near: {text[pos : pos + 60]!r}")
        pos = m.end()
        kind = m.lastgroup
        if kind in ("space", "comment"):
            continue
        value = m.group()
        if kind == "string":
            yield ("str", value[1:-1].replace("''", "'"))
        elif kind == "estring":
            yield ("str", _decode_estring(value[2:-1]))
        elif kind == "number":
            yield ("num", value)
        elif kind == "word":
            low = value.lower()
            if low in ("true", "false"):
                yield ("bool", low == "true")
            elif low == "null":
                yield ("null", None)
            else:
                yield ("word", value)
        else:
            yield (kind, value)


def _parse_value(tokens, i):
    """Parses one SQL value expression at tokens[i]; returns (value, next index).

    Function calls are returned as ("call", name, [args]).
    """
    kind, val = tokens[i]
    if kind == "word" and tokens[i + 1] == ("punct", "("):
        args, i = [], i + 2
        while tokens[i] != ("punct", ")"):
            arg, i = _parse_value(tokens, i)
            args.append(arg)
            if tokens[i] == ("punct", ","):
                i += 1
        return ("call", val, args), i + 1
    if kind == "punct" and val == "(":  # sub-select: keep as opaque marker
        depth, i = 1, i + 1
        while depth:
            if tokens[i] == ("punct", "("):
                depth += 1
            elif tokens[i] == ("punct", ")"):
                depth -= 1
            i += 1
        return ("subselect",), i
    if kind == "word":  # bare word inside a sub-select or expression
        return ("word", val), i + 1
    return val, i + 1


def parse_inserts(sql: str, table: str) -> list[dict]:
    """Returns the rows of every `INSERT INTO <table> (...) VALUES (...), (...);` as dicts."""
    rows = []
    pattern = re.compile(r"INSERT\s+INTO\s+" + re.escape(table) + r"\s*\(([^)]*)\)\s*VALUES", re.IGNORECASE)
    for m in pattern.finditer(sql):
        columns = [c.strip() for c in m.group(1).split(",")]
        tokens = list(_statement_tokens(sql, m.end()))
        i = 0
        while i < len(tokens) and tokens[i] != ("punct", ";"):
            if tokens[i] == ("punct", ","):
                i += 1
                continue
            if tokens[i] != ("punct", "("):
                raise ValueError(f"unexpected token {tokens[i]} in INSERT INTO {table}")
            i += 1
            values = []
            while tokens[i] != ("punct", ")"):
                v, i = _parse_value(tokens, i)
                values.append(v)
                if tokens[i] == ("punct", ","):
                    i += 1
            i += 1
            if len(values) != len(columns):
                raise ValueError(f"{table}: {len(values)} values for {len(columns)} columns: {values[:3]}")
            rows.append(dict(zip(columns, values)))
    return rows


def _statement_tokens(sql: str, start: int):
    """Tokens from `start` up to and including the `;` that ends the statement."""
    for tok in _tokens(sql[start:]):
        yield tok
        if tok == ("punct", ";"):
            return


def _call_arg(value, function: str, index: int = 0):
    if isinstance(value, tuple) and value[0] == "call" and value[1] == function:
        return value[2][index]
    raise ValueError(f"expected {function}(...), got {value!r}")


# --------------------------------------------------------------------------- model


def natural_key(code: str):
    """Sort key: numeric runs compare as numbers, so 2 < 10 and 1.2 < 1.10."""
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.findall(r"\d+|\D+", code))


def _value_from_row(row: dict) -> tuple[str, dict]:
    type_mnemonic = _call_arg(row["id_type"], "get_id_nomenclature_type")
    hierarchy, created = row.get("hierarchy"), row.get("meta_create_date")
    # One upstream row has hierarchy and meta_create_date swapped; put them back.
    if (
        isinstance(hierarchy, str)
        and not _HIERARCHY.match(hierarchy)
        and isinstance(created, str)
        and _HIERARCHY.match(created)
    ):
        hierarchy = created
    broader = row.get("id_broader")
    broader_ref = None
    if isinstance(broader, tuple) and broader[0] == "call":
        broader_ref = tuple(_call_arg(broader, "get_id_nomenclature", i) for i in (0, 1))
    status = row["statut"]
    value = {
        "code": row["cd_nomenclature"],
        "mnemonic": row["mnemonique"],
        "label": row["label_fr"],
        "definition": row["definition_fr"],
        "authority": row["source"],
        "status": status,
        # A value the source marks "Gelé" is not offered any more even if its row says active.
        "active": bool(row["active"]) and status not in FROZEN_STATUSES,
        "hierarchy": hierarchy,
        "broader": broader_ref,  # resolved to a code of the same type by _resolve_broader
    }
    return type_mnemonic, value


def _resolve_broader(type_mnemonic: str, value: dict, types: dict, seen: set) -> str | None:
    """The code of the broader (parent) value, which is always of the same type here.

    Upstream writes get_id_nomenclature('TYP_SITE', 'CHI') for the TYPE_SITE values although no
    type TYP_SITE exists (hierarchy 116.001.00x shows CHI of TYPE_SITE is meant): a reference to
    an unknown type is read as a reference to the value's own type when that code exists there.
    """
    ref = value["broader"]
    if ref is None:
        return None
    ref_type, ref_code = ref
    if ref_type != type_mnemonic:
        if ref_type in types or (type_mnemonic, ref_code) not in seen:
            raise ValueError(f"{type_mnemonic} {value['code']}: unresolvable broader value {ref}")
        ref_type = type_mnemonic
    if (ref_type, ref_code) not in seen:
        raise ValueError(f"{type_mnemonic} {value['code']}: unknown broader value {ref}")
    return ref_code


def build(sql: str, frozen_sql: str) -> dict[str, dict]:
    types = {}
    for row in parse_inserts(sql, "bib_nomenclatures_types"):
        mnemonic = row["mnemonique"]
        if mnemonic in SKIPPED_TYPES:
            continue
        if mnemonic in types:
            raise ValueError(f"type {mnemonic} defined twice")
        types[mnemonic] = {
            "type": mnemonic,
            "label": row["label_fr"],
            "definition": row["definition_fr"],
            "authority": row["source"],
            "status": row["statut"],
            "geonature_id_type": int(row["id_type"]),
            "default": None,
            "source": SOURCE,
            "values": [],
        }

    seen = set()
    for row in parse_inserts(sql, "t_nomenclatures"):
        type_mnemonic, value = _value_from_row(row)
        if type_mnemonic in SKIPPED_TYPES:
            continue
        if type_mnemonic not in types:
            raise ValueError(f"value of unknown type {type_mnemonic}: {row}")
        key = (type_mnemonic, value["code"])
        if key in seen:
            raise ValueError(f"duplicate value {key}")
        seen.add(key)
        types[type_mnemonic]["values"].append(value)

    wanted = {(t, c): spec["note"] for t, spec in FREEZES.items() for c in spec["codes"]}
    for row in parse_inserts(frozen_sql, "t_nomenclatures"):
        type_mnemonic, value = _value_from_row(row)
        key = (type_mnemonic, value["code"])
        if key not in wanted:
            raise ValueError(f"{FROZEN_SQL.name}: row not listed in FREEZES: {key}")
        if key in seen:
            raise ValueError(f"frozen value {key} is also in the current data")
        seen.add(key)
        value.update(
            status="Gelé",
            active=False,
            source=f"Nomenclature-api-module, historical data/data_nomenclatures.sql (see sources/{FROZEN_SQL.name})",
            note=wanted.pop(key),
        )
        types[type_mnemonic]["values"].append(value)
    if wanted:
        raise ValueError(f"{FROZEN_SQL.name} lacks rows for {sorted(wanted)}")

    for t in types.values():
        for value in t["values"]:
            value["broader"] = _resolve_broader(t["type"], value, types, seen)

    default_rows = parse_inserts(sql, "defaults_nomenclatures_value")
    for row in default_rows:
        type_mnemonic, code = (
            _call_arg(row["id_nomenclature"], "get_id_nomenclature", 0),
            _call_arg(row["id_nomenclature"], "get_id_nomenclature", 1),
        )
        if row["mnemonique_type"] != type_mnemonic or (type_mnemonic, code) not in seen:
            raise ValueError(f"bad default {row}")
        types[type_mnemonic]["default"] = code

    # Types declared without any value in the file (geological heritage and phytosociology
    # lists of the SINP, REF_HAB, VERS_ME…): nothing to validate against, no file written.
    empty = sorted(name for name, t in types.items() if not t["values"])
    for name in empty:
        del types[name]
    for t in types.values():
        t["values"].sort(key=lambda v: natural_key(v["code"]))
    return types


def dump(data: dict) -> bytes:
    return (json.dumps(data, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def write(types: dict[str, dict], output_dir: pathlib.Path) -> list[pathlib.Path]:
    output_dir.mkdir(parents=True, exist_ok=True)
    written = []
    expected = {f"{name}.json" for name in types}
    for stale in output_dir.glob("*.json"):
        if re.fullmatch(r"[A-Z0-9_]+\.json", stale.name) and stale.name not in expected:
            stale.unlink()
    for name in sorted(types):
        path = output_dir / f"{name}.json"
        content = dump(types[name])
        if not path.exists() or path.read_bytes() != content:
            path.write_bytes(content)
        written.append(path)
    return written


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--cache-dir",
        type=pathlib.Path,
        default=DEFAULT_CACHE_DIR,
        help=f"where the wheel is downloaded/cached (default {DEFAULT_CACHE_DIR})",
    )
    parser.add_argument(
        "--output-dir", type=pathlib.Path, default=HERE, help=f"where the JSON files are written (default {HERE})"
    )
    parser.add_argument(
        "--wheel",
        type=pathlib.Path,
        help="use this wheel file instead of the cache (checked against the pinned sha256)",
    )
    args = parser.parse_args(argv)
    if args.wheel:
        wheel = args.wheel
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        if digest != WHEEL_SHA256:
            raise SystemExit(f"{wheel}: sha256 {digest} differs from the pinned {WHEEL_SHA256}")
    else:
        wheel = ensure_wheel(args.cache_dir)
    types = build(read_sql(wheel), FROZEN_SQL.read_text(encoding="utf-8"))
    written = write(types, args.output_dir)
    values = sum(len(t["values"]) for t in types.values())
    print(f"{len(written)} nomenclature types, {values} values written to {args.output_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
