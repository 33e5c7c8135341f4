"""The import layers of docs/ARCHITECTURE.md, read from the source (every import, at module top
or inside a function):

- the domain (``ckanext.sinp.domain``) imports no other layer of the package, and neither CKAN
  nor SQLAlchemy;
- the storage (``occurrences``, ``referentials``, ``csw.repository``) imports the domain and
  itself, never the CKAN glue, nor CKAN;
- no import cycle between the package's modules (harvesters included);
- no module imports another module's private name (``_name``).
"""

from __future__ import annotations

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
SOURCES = {"ckanext.sinp": ROOT / "ckanext-sinp" / "ckanext" / "sinp", "ckanext.sinp_harvesters": ROOT / "harvesters"}
STORAGE = (
    "ckanext.sinp.occurrences",
    "ckanext.sinp.referentials",
    "ckanext.sinp.csw.repository",
    "ckanext.sinp.outbox.store",
)


def _modules() -> dict[str, pathlib.Path]:
    found = {}
    for package, folder in SOURCES.items():
        for path in folder.rglob("*.py"):
            parts = path.relative_to(folder).with_suffix("").parts
            name = ".".join((package, *parts))
            found[name.removesuffix(".__init__")] = path
    return found


MODULES = _modules()


def _package_of(name: str) -> str:
    return name if MODULES[name].name == "__init__.py" else name.rsplit(".", 1)[0]


def _imports(name: str) -> list[tuple[str, str | None, int]]:
    """(imported module, imported name or None, line) of every import in the module."""
    out = []
    for node in ast.walk(ast.parse(MODULES[name].read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(alias.name, None, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = _package_of(name).split(".")
                package = package[: len(package) - node.level + 1]
                base = ".".join(package + ([node.module] if node.module else []))
            out += [(base, alias.name, node.lineno) for alias in node.names]
    return out


def _targets(name: str) -> list[tuple[str, int, str | None]]:
    """Modules of the package that ``name`` imports: (module, line, the private name imported)."""
    out = []
    for module, imported, line in _imports(name):
        if imported and f"{module}.{imported}" in MODULES:
            out.append((f"{module}.{imported}", line, None))
        elif module in MODULES:
            private = imported if imported and imported.startswith("_") and imported != "__version__" else None
            out.append((module, line, private))
    return out


def _in(name: str, prefixes) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def test_the_package_is_found():
    assert "ckanext.sinp.domain.iso" in MODULES and "ckanext.sinp.jobs" in MODULES and len(MODULES) > 60


@pytest.mark.parametrize("name", sorted(n for n in MODULES if _in(n, ["ckanext.sinp.domain"])))
def test_the_domain_imports_only_the_domain(name):
    wrong = [
        f"{name}:{line} imports {target}"
        for target, line, _ in _targets(name)
        if not _in(target, ["ckanext.sinp.domain"])
    ]
    wrong += [
        f"{name}:{line} imports {module}"
        for module, _, line in _imports(name)
        if _in(module, ["ckan", "sqlalchemy", "ckanext.scheming", "ckanext.harvest", "ckanext.spatial"])
    ]
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("name", sorted(n for n in MODULES if _in(n, STORAGE)))
def test_the_storage_imports_neither_the_glue_nor_ckan(name):
    wrong = [
        f"{name}:{line} imports {target}"
        for target, line, _ in _targets(name)
        if not _in(target, ["ckanext.sinp.domain", *STORAGE])
    ]
    wrong += [f"{name}:{line} imports {module}" for module, _, line in _imports(name) if _in(module, ["ckan"])]
    assert not wrong, "\n".join(wrong)


def test_no_import_cycle():
    graph = {name: sorted({t for t, _, _ in _targets(name) if t != name}) for name in MODULES}
    cycles, index, low, stack, on_stack = [], {}, {}, [], set()

    def visit(node):  # Tarjan: strongly connected components of more than one module are cycles
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for name in sorted(graph):
        if name not in index:
            visit(name)
    assert not cycles, cycles


def test_no_private_name_crosses_modules():
    wrong = [
        f"{name}:{line} imports {private} from {target}"
        for name in MODULES
        for target, line, private in _targets(name)
        if private
    ]
    assert not wrong, "\n".join(wrong)
