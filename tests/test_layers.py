"""The package layering the README's layout table promises: no import circles, nothing lower imports higher.

Every import counts, including the ones inside functions (a lazy import is still a dependency: it only hides
a circle until the day both ends load together). `from pkg import name` counts as an import of `pkg.name`
when that is a module, else of `pkg`. The layer order is the order of the rows in README's layout table;
`plotter/__init__.py`, `plotter/errors.py` and `plotter/limits.py` sit below every package,
`plotter/__main__.py` with the CLI.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "plotter"
BASE = {"plotter", "plotter.errors", "plotter.limits"}  # below every package (limits: issue 16)
MAX_LINES = 420  # "files near 400 lines max"


def module_names() -> dict[str, Path]:
    out = {}
    for path in sorted(PKG.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


MODULES = module_names()


def imports_of(name: str, path: Path) -> set[str]:
    """Every `plotter...` module `name` imports, anywhere in the file."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.add(sub if sub in MODULES else target)
    return {m for m in found if m == "plotter" or m.startswith("plotter.")}


GRAPH = {name: sorted(imports_of(name, path) - {name}) for name, path in MODULES.items()}


def layout_table() -> list[tuple[str, str]]:
    """(package, torch?) rows of README's `## Layout` table, in order."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Layout", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\|\s*`plotter/(\w+)/`\s*\|.*\|\s*([^|]+?)\s*\|\s*$", section, re.M)
    assert rows, "README's layout table has no `plotter/<package>/` rows"
    return rows


LAYERS = [pkg for pkg, _ in layout_table()]


def layer(module: str) -> int:
    if module in BASE:
        return -1
    if module == "plotter.__main__":
        return LAYERS.index("cli")
    top = module.split(".")[1]
    if top not in LAYERS:
        pytest.fail(f"{module} is in no package of README's layout table ({', '.join(LAYERS)})")
    return LAYERS.index(top)


def test_the_layout_table_names_exactly_the_packages() -> None:
    packages = sorted(p.name for p in PKG.iterdir() if (p / "__init__.py").is_file())
    assert sorted(LAYERS) == packages
    loose = sorted(m for m in MODULES if m.count(".") == 1 and m.split(".")[1] not in LAYERS)
    base = ["plotter.__main__", "plotter.errors", "plotter.limits"]
    assert loose == base, "top-level modules belong in a package"


def find_cycle(graph: dict[str, list[str]]) -> list[str] | None:
    """One import circle as a path (first == last), or None."""
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for dep in graph.get(node, ()):
            if state.get(dep) == 1:
                return stack[stack.index(dep) :] + [dep]
            if dep not in state and (found := visit(dep)) is not None:
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)) is not None:
            return found
    return None


def test_find_cycle_finds_one() -> None:
    assert find_cycle({"a": ["b"], "b": ["c"], "c": ["a"], "d": ["a"]}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": ["b"], "b": [], "c": ["a", "b"]}) is None


def test_no_import_circles() -> None:
    cycle = find_cycle(GRAPH)
    assert cycle is None, "import circle: " + " -> ".join(cycle or [])


def test_no_lower_layer_imports_a_higher_one() -> None:
    wrong = [
        f"{mod} ({LAYERS[layer(mod)] if layer(mod) >= 0 else 'base'}) imports {dep} ({LAYERS[layer(dep)]})"
        for mod, deps in GRAPH.items()
        for dep in deps
        if layer(dep) > layer(mod)
    ]
    assert not wrong, "layering broken (README layout table order):\n" + "\n".join(wrong)


def test_models_never_import_the_services_above_them() -> None:
    above = ("plotter.job", "plotter.daemon", "plotter.cli")
    assert not [(m, d) for m, ds in GRAPH.items() if m.startswith("plotter.models") for d in ds
                if d.startswith(above)]  # fmt: skip


@pytest.mark.parametrize("package,torch", layout_table())
def test_each_package_imports_alone(package: str, torch: str) -> None:
    """`python -c "import plotter.X"` works by itself; a torch-free package (and all its modules) imports
    without pulling torch in."""
    modules = [m for m in MODULES if m == f"plotter.{package}" or m.startswith(f"plotter.{package}.")]
    if torch != "no":
        modules = [f"plotter.{package}"]
    code = "import importlib, sys\n" + "".join(f"importlib.import_module({m!r})\n" for m in modules)
    code += "print('torch' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    if torch == "no":
        assert proc.stdout.strip() == "False", f"plotter.{package} imports torch at import time"


def test_no_file_is_far_over_400_lines() -> None:
    long = {str(p.relative_to(ROOT)): n for p in MODULES.values()
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}  # fmt: skip
    assert not long, f"split these files (near 400 lines max): {long}"
