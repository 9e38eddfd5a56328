"""The house plan (lora_lib/README.md): imports run one way, down the floors, and modules stay small.

Every import counts, also the lazy ones inside functions. Run `python -m tests.test_layout` to print the
unit-level import graph with each unit's floor.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "lora_lib"

# Floor of each unit (a unit = lora_lib.<first name>). A unit may import units on lower floors; on the same
# floor only the ground floor and the top may import each other (and never in a cycle).
GROUND = 0
FLOORS = {
    "config": GROUND, "store": GROUND, "registry": GROUND, "requestlog": GROUND, "engine": GROUND,
    "tracking": GROUND, "notebook": GROUND, "plots": GROUND, "models": GROUND,
    "clean": 1,  # pure per-turn functions, used by collect (known values) and the clean stage
    "collect": 2, "dataset": 3, "train": 4, "evaluate": 5, "serve": 6, "monitor": 7,
    "stages": 8, "pipeline": 8, "sweep": 8, "closed_loop": 8, "reports": 8, "demo": 8, "bench": 8, "cli": 8,
}
MAX_LINES = 400


def modules() -> list[Path]:
    return sorted(p for p in PKG.rglob("*.py") if "__pycache__" not in p.parts)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path) -> set[str]:
    """Absolute names of every lora_lib module imported anywhere in the file."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("lora_lib")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.startswith("lora_lib"):
                # `from . import stages` names a module, not an attribute
                out |= {f"{target}.{a.name}" if target == "lora_lib" else target for a in node.names}
    return out


def unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def unit_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = defaultdict(set)
    for path in modules():
        src = unit(module_name(path))
        if not src:
            continue
        graph[src] |= {u for u in map(unit, imported(path)) if u and u != src}
    return graph


def test_every_unit_has_a_floor():
    units = {unit(module_name(p)) for p in modules()} - {""}
    assert not units - FLOORS.keys(), f"give these a floor in tests/test_layout.py and lora_lib/README.md: " \
                                      f"{sorted(units - FLOORS.keys())}"


def test_imports_run_down_the_floors():
    bad = [f"{src} (floor {FLOORS[src]}) imports {dst} (floor {FLOORS[dst]})"
           for src, dsts in unit_graph().items() for dst in dsts
           if FLOORS[dst] > FLOORS[src] or (FLOORS[dst] == FLOORS[src] and FLOORS[src] not in (GROUND, 8))]
    assert not bad, "\n".join(bad)


def test_serve_does_not_import_monitor_and_collect_does_not_import_serve():
    graph = unit_graph()
    assert "monitor" not in graph["serve"]
    assert "serve" not in graph["collect"]


def test_no_import_cycle_between_units():
    graph = unit_graph()
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                raise AssertionError("import cycle: " + " -> ".join([*trail, node, nxt]))
            if nxt not in state:
                visit(nxt, [*trail, node])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [])


def test_modules_stay_small():
    big = {module_name(p): n for p in modules() if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not big, f"modules over {MAX_LINES} lines: {big}"


if __name__ == "__main__":
    for src, dsts in sorted(unit_graph().items(), key=lambda kv: (FLOORS.get(kv[0], 99), kv[0])):
        targets = ", ".join(f"{d}({FLOORS.get(d, '?')})" for d in sorted(dsts))
        print(f"{FLOORS.get(src, '?')} {src:12s} -> {targets}")
