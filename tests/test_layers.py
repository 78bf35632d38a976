"""The package's shape: no import circle between its modules, and each layer imports only the layers below
it (the README's table: cli on top; serve, perf, train and ray side by side on inference; then quality, models,
io)."""
from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
# a layer may import the layers listed after its own rank (same rank: not each other)
RANK = {"cli": 0, "serve": 1, "perf": 1, "train": 1, "ray": 1, "inference": 2, "quality": 3, "models": 4, "io": 5}


def _modules() -> dict[str, Path]:
    out = {}
    for f in (SRC / "rlfn").rglob("*.py"):
        parts = f.relative_to(SRC).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = f
    return out


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    pkg = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = pkg.split(".")[: len(pkg.split(".")) - node.level + 1] if node.level else []
            target = ".".join(base + ([node.module] if node.module else []))
            cands = [target, *(f"{target}.{a.name}" for a in node.names)]
        elif isinstance(node, ast.Import):
            cands = [a.name for a in node.names]
        else:
            continue
        found |= {c for c in cands if c in known and c != name}
    return found


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    return {m: _imports(m, f, set(mods)) for m, f in mods.items()}


def test_no_import_circle():
    graph = _graph()
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        path.append(m)
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                raise AssertionError("import circle: " + " -> ".join(path[path.index(n):] + [n]))
            if n not in state:
                visit(n)
        path.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)


def test_layers_point_one_way():
    bad = []
    for m, targets in _graph().items():
        layer = m.split(".")[1] if m.count(".") else None
        if layer not in RANK:
            continue
        for t in targets:
            other = t.split(".")[1] if t.count(".") else None
            if other in RANK and other != layer and RANK[other] <= RANK[layer]:
                bad.append(f"{m} imports {t}")
    assert not bad, bad
