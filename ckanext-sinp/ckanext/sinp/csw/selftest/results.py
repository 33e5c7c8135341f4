"""The results of the self-test: ``Check`` (one named check, its problems and warnings) and
``Report`` (all the checks, statistics, the French text)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

# --- results --------------------------------------------------------------------------------------


@dataclasses.dataclass
class Check:
    """One named check. Iterates as ``(label, ok, detail)``."""

    key: str
    label: str
    detail: str = ""
    problems: list = dataclasses.field(default_factory=list)
    warnings: list = dataclasses.field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def problem(self, text: str) -> None:
        if text not in self.problems:
            self.problems.append(text)

    def warning(self, text: str) -> None:
        if text not in self.warnings:
            self.warnings.append(text)

    def __iter__(self) -> Iterator:
        return iter((self.label, self.ok, self.detail))

    def __getitem__(self, index):
        return (self.label, self.ok, self.detail)[index]

    def __len__(self) -> int:
        return 3


@dataclasses.dataclass
class Report:
    csw_url: str
    checks: list = dataclasses.field(default_factory=list)
    stats: dict = dataclasses.field(default_factory=dict)

    @property
    def problems(self) -> list:
        return [p for c in self.checks for p in c.problems]

    @property
    def warnings(self) -> list:
        return [w for c in self.checks for w in c.warnings]

    @property
    def ok(self) -> bool:
        return not self.problems

    def check(self, key: str) -> Check:
        return next(c for c in self.checks if c.key == key)

    def to_text(self) -> str:
        lines = [f"Auto-contrôle de moissonnage du CSW {self.csw_url}"]
        for c in self.checks:
            mark = "✓" if c.ok else "✗"
            lines.append(f"{mark} {c.label}" + (f" — {c.detail}" if c.detail else ""))
            lines += [f"    ✗ {p}" for p in c.problems]
            lines += [f"    ⚠ {w}" for w in c.warnings]
        if self.stats:
            lines.append("Statistiques : " + ", ".join(f"{k} {v}" for k, v in self.stats.items()))
        failed = sum(1 for c in self.checks if not c.ok)
        warnings = len(self.warnings)
        if self.ok:
            lines.append(
                f"Résultat : prêt pour le moissonnage ({len(self.checks)} contrôles réussis"
                + (f", {warnings} avertissement(s))." if warnings else ").")
            )
        else:
            lines.append(
                f"Résultat : {len(self.problems)} problème(s) dans {failed} contrôle(s) sur "
                f"{len(self.checks)}" + (f", {warnings} avertissement(s)." if warnings else ".")
            )
        return "\n".join(lines)
