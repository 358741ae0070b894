"""Tables printed as they are measured and collected into one markdown document."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Table:
    title: str
    header: list[str]
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def markdown(self) -> str:
        align = ["---" if i == 0 else "---:" for i in range(len(self.header))]
        lines = [f"### {self.title}", ""]
        lines.append("| " + " | ".join(self.header) + " |")
        lines.append("|" + "|".join(align) + "|")
        lines += ["| " + " | ".join(row) + " |" for row in self.rows]
        if self.notes:
            lines.append("")
            lines += [f"* {note}" for note in self.notes]
        return "\n".join(lines) + "\n"


@dataclass(frozen=True, slots=True)
class Verdict:
    figure: str
    measured: str
    target: str
    met: bool | None  # None: not measured in this run

    @property
    def status(self) -> str:
        return "n/a" if self.met is None else ("met" if self.met else "**missed**")


@dataclass
class Report:
    title: str
    preamble: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    verdicts: list[Verdict] = field(default_factory=list)

    def add(self, table: Table) -> None:
        self.tables.append(table)
        print("\n" + table.markdown(), flush=True)

    def log(self, message: str) -> None:
        print(f"  .. {message}", file=sys.stderr, flush=True)

    def summary(self) -> Table:
        return Table(
            "Summary against the targets of issue 6",
            ["figure", "measured", "target", "status"],
            [[v.figure, v.measured, v.target, v.status] for v in self.verdicts],
        )

    def markdown(self) -> str:
        parts = [f"# {self.title}", "", *self.preamble, ""]
        parts += [t.markdown() for t in self.tables]
        parts.append(self.summary().markdown())
        return "\n".join(parts)

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.markdown())
