"""Dependencies go one way: the `edge` package never imports `sim` (the simulator and the
benches share what they need through neutral modules such as edge/mosquitto.py)."""

from __future__ import annotations

import ast
from pathlib import Path

EDGE = Path(__file__).resolve().parent.parent / "edge"


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_edge_never_imports_sim() -> None:
    offenders = sorted(
        f"{path.relative_to(EDGE.parent)}: {name}"
        for path in EDGE.rglob("*.py")
        for name in _imports(path)
        if name == "sim" or name.startswith("sim.")
    )
    assert offenders == []
    assert (EDGE / "mosquitto.py").exists()
