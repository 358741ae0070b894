"""The shape of the code, checked like behaviour (docs/architecture.md describes it).

- no import cycle anywhere in `src/`, imports inside functions included (a lazy import
  hides a cycle, it does not remove it); only `if TYPE_CHECKING:` imports are left out;
- no module over 600 lines (migrations aside);
- a capability package under `meterly.services` is used only through its `__init__`:
  from outside, `from meterly.services.<capability> import <name>` with `<name>` in its
  `__all__`, never `meterly.services.<capability>.<module>`.

The direction of the arrows between capabilities is import-linter's contract
"Capabilities depend one way" in pyproject.toml (`make contracts`).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
SERVICES = SRC / "meterly" / "services"
MAX_LINES = 600


@dataclass(frozen=True)
class Import:
    importer: str  # dotted module name
    target: str  # dotted module name (or package) imported
    names: tuple[str, ...]  # names taken from it (empty for `import x`)
    line: int


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(SRC.rglob("*.py"))}


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(child) for child in ast.walk(node))
    return skipped


def _imports(name: str, path: Path) -> Iterator[Import]:
    tree = ast.parse(path.read_text(), filename=str(path))
    skipped = _type_checking_nodes(tree)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(name, alias.name, (), node.lineno)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            yield Import(name, target, tuple(a.name for a in node.names), node.lineno)


def _edges(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the project modules it imports (`from pkg import mod` counts as `mod`)."""
    edges: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for imp in _imports(name, path):
            targets = [f"{imp.target}.{n}" for n in imp.names if f"{imp.target}.{n}" in modules]
            if len(targets) < len(imp.names) or not imp.names:
                targets.append(imp.target)
            for target in targets:
                while target and target not in modules and "." in target:
                    target = target.rpartition(".")[0]
                if target in modules and target != name:
                    edges[name].add(target)
    return edges


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in edges:
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_cycle_finder_finds_a_cycle() -> None:
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(edges) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles_in_src() -> None:
    assert _cycles(_edges(_modules())) == []


def test_no_module_over_600_lines() -> None:
    long = {
        name: count
        for name, path in _modules().items()
        if ".migrations.versions." not in name
        and (count := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}


def _capabilities() -> dict[str, set[str]]:
    """Each capability package of `meterly.services` and the names its `__init__` exports."""
    found: dict[str, set[str]] = {}
    for init in sorted(SERVICES.glob("*/__init__.py")):
        tree = ast.parse(init.read_text())
        exported: set[str] = set()
        for node in tree.body:
            if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
            ):
                exported = set(ast.literal_eval(node.value))
        found[f"meterly.services.{init.parent.name}"] = exported
    return found


def test_every_capability_declares_its_public_surface() -> None:
    capabilities = _capabilities()
    assert len(capabilities) >= 10
    assert [name for name, exported in capabilities.items() if not exported] == []


@pytest.mark.parametrize("capability", sorted(_capabilities()))
def test_a_capability_is_used_only_through_its_surface(capability: str) -> None:
    exported = _capabilities()[capability]
    breaches = []
    for name, path in _modules().items():
        if name == capability or name.startswith(capability + "."):
            continue
        for imp in _imports(name, path):
            if imp.target.startswith(capability + "."):
                breaches.append(f"{name}:{imp.line} imports {imp.target}")
            elif imp.target == capability:
                breaches.extend(
                    f"{name}:{imp.line} takes {n}, not in {capability}.__all__"
                    for n in imp.names
                    if n not in exported
                )
    assert breaches == []
