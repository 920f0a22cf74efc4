"""The package's layers (STYLE.md): each module imports only the layers beneath it, no
module imports itself back through others, and no module outgrows what a reader holds."""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import ROOT

PACKAGE = ROOT / "sim"
#: Layers, lowest first: a module may import its own layer and the ones before it.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("sim.model", "sim.numerics", "sim.compile_cache"),
    ("sim.scenario",),
    ("sim.engines",),
    ("sim.execution",),
    ("sim.analysis",),
    ("sim.output",),
    ("sim.validation", "sim.pipeline"),
    (
        "sim.cli",
        "sim.options",
        "sim.console",
        "sim.bench",
        "sim.entry",
        "sim.__main__",
        "sim.resident_commands",
        "sim.resident_process",
        "sim",
    ),
)
#: The compiled kernel is one next-event loop: it may be longer than a module should be.
LONG_MODULES = {"sim.engines.fast.kernel"}
MAX_LINES = 700


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(name: str) -> set[str]:
    """The package's modules that `name` imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(MODULES[name].read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from package import submodule` imports the submodule, not the package's names
            submodules = [f"{node.module}.{a.name}" for a in node.names]
            targets = [t for t in submodules if t in MODULES]
            if len(targets) < len(submodules):
                targets.append(node.module)
        else:
            continue
        found |= {t for t in targets if t in MODULES and t != name}
    return found


def _layer(name: str) -> int:
    for rank, prefixes in enumerate(LAYERS):
        if any(name == p or name.startswith(p + ".") for p in prefixes):
            return rank
    raise AssertionError(f"{name} is in no layer: add it to LAYERS")


def test_every_module_imports_only_its_layer_and_those_beneath():
    upward = [
        f"{a} imports {b}"
        for a in MODULES
        for b in _imports(a)
        if _layer(b) > _layer(a) and not (a == "sim" or b == "sim")
    ]
    assert not upward, upward


def test_no_import_cycle():
    graph = {name: _imports(name) - {"sim"} for name in MODULES}
    visiting: list[str] = []
    done: set[str] = set()

    def visit(name: str) -> None:
        if name in done:
            return
        assert name not in visiting, " -> ".join([*visiting[visiting.index(name) :], name])
        visiting.append(name)
        for target in sorted(graph[name]):
            visit(target)
        visiting.pop()
        done.add(name)

    for name in sorted(graph):
        visit(name)


def test_no_module_outgrows_a_reader():
    long = {
        name: n
        for name, path in MODULES.items()
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert set(long) <= LONG_MODULES, long


def test_the_check_can_fail():
    """An upward import is caught (the rule is not vacuous)."""
    assert _layer("sim.engines.fast.kernel") < _layer("sim.output.tables")
    assert "sim.model.events" in _imports("sim.engines.fast.kernel")
