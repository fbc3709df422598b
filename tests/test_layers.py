"""The packages of vliqa form layers: a module imports its own package and the layers below it, never one above.

The table is the one in docs/architecture.md ("Layers"); change both together. Every import counts: at module
level, inside functions, under `if TYPE_CHECKING:`, and `importlib.import_module("vliqa....")` with a literal name.
A function-level import is allowed when it keeps torch or a heavy optional library out of a light import (`import
vliqa`, `vliqa --help`, a torch-free module), or breaks a cycle inside one package; it then says so in a
`# lazy:` comment on its line or on the import lines just above it in the same block.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "vliqa"

#: Bottom to top. A package imports itself and the packages of the rows before its own (lower layers); packages
#: of one row (io and ct) do not import each other. "vliqa" is the facade, vliqa/__init__.py (`vliqa.load`, ...).
LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors",),
    ("core",),
    ("io", "ct"),
    ("phantom",),
    ("simulate",),
    ("labels",),
    ("text",),
    ("data",),
    ("models",),
    ("metrics",),
    ("train",),
    ("assessment",),
    ("report",),
    ("chat",),
    ("batch",),
    ("vliqa",),
    ("serve",),
    ("cli",),
)
RANK = {pkg: i for i, row in enumerate(LAYERS) for pkg in row}

#: (importing module, imported layer) -> why the upward import is accepted. Keep it empty.
EXCEPTIONS: dict[tuple[str, str], str] = {}

#: Folders under src/vliqa that hold data, not code.
DATA_FOLDERS = {"samples", "__pycache__"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_module(name: str) -> bool:
    rel = Path(*name.split("."))
    return (SRC.parent / rel).with_suffix(".py").is_file() or (SRC.parent / rel / "__init__.py").is_file()


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def _modules() -> list[tuple[str, Path, ast.Module]]:
    out = []
    for path in sorted(SRC.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        out.append((_module_name(path), path, ast.parse(path.read_text(encoding="utf-8"), filename=str(path))))
    return out


def _imports(module: str, path: Path, tree: ast.Module) -> list[tuple[int, str]]:
    """Gives (line, imported vliqa module) for every import of a vliqa module in `tree`."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*parent, *([node.module] if node.module else [])])
            for a in node.names:  # `from vliqa import models` imports the vliqa.models package
                sub = f"{base}.{a.name}"
                found.append((node.lineno, sub if _is_module(sub) else base))
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "import_module"
              and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            found.append((node.lineno, node.args[0].value))
    return [(line, name) for line, name in found if name == "vliqa" or name.startswith("vliqa.")]


MODULES = _modules()


def test_every_package_has_a_layer() -> None:
    names = {p.stem if p.is_file() else p.name for p in SRC.iterdir()
             if (p.is_file() and p.suffix == ".py" and p.stem != "__init__")
             or (p.is_dir() and p.name not in DATA_FOLDERS)}
    assert names - set(RANK) == set(), "add the new package to LAYERS here and in docs/architecture.md"


def test_no_import_runs_upward() -> None:
    upward = []
    for module, path, tree in MODULES:
        own = _layer(module)
        for line, target in _imports(module, path, tree):
            layer = _layer(target)
            if layer not in RANK:
                upward.append(f"{path.relative_to(SRC.parent)}:{line}: {own} imports {target}, which is in no layer")
            elif layer != own and RANK[layer] >= RANK[own] and (module, layer) not in EXCEPTIONS:
                where = "beside" if RANK[layer] == RANK[own] else "above"
                upward.append(
                    f"{path.relative_to(SRC.parent)}:{line}: {own} imports {target} ({layer} is {where} {own})")
    assert not upward, "imports that run upward:\n" + "\n".join(upward)


def test_exceptions_are_still_needed() -> None:
    used = {(module, _layer(t)) for module, path, tree in MODULES for _, t in _imports(module, path, tree)}
    assert set(EXCEPTIONS) <= used, f"stale exceptions: {sorted(set(EXCEPTIONS) - used)}"


def _function_imports(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    out = []
    for fn in ast.walk(tree):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            out += [n for n in ast.walk(fn) if isinstance(n, (ast.Import, ast.ImportFrom))]
    return list({id(n): n for n in out}.values())


def _says_why(lines: list[str], node: ast.Import | ast.ImportFrom) -> bool:
    """True when the import's lines, or the import / comment lines just above it, carry a `# lazy:` comment."""
    if any("# lazy:" in lines[i] for i in range(node.lineno - 1, node.end_lineno)):
        return True
    for i in range(node.lineno - 2, -1, -1):
        text = lines[i].strip()
        if "# lazy:" in text:
            return True
        # still in the block of imports: another import, a comment, or a line of a parenthesised import
        if not (text.startswith(("import ", "from ", "#", ")")) or text.endswith(",")):
            return False
    return False


@pytest.mark.parametrize("module", [m for m, _, _ in MODULES])
def test_function_level_imports_say_why(module: str) -> None:
    _, path, tree = next(x for x in MODULES if x[0] == module)
    lines = path.read_text(encoding="utf-8").splitlines()
    silent = [f"{path.relative_to(SRC.parent)}:{n.lineno}: {lines[n.lineno - 1].strip()}"
              for n in _function_imports(tree) if not _says_why(lines, n)]
    assert not silent, "move these imports to the top of the module, or say why they wait (# lazy: ...):\n" + \
        "\n".join(silent)
