"""The layer order of ARCHITECTURE.md, enforced: no module imports a layer above its own.

core -> functional -> kernels -> mp_init -> neurons -> models / data -> train -> analysis ->
deploy / bench -> cli. Every import statement counts, also those inside functions (a lazy import
is still a dependency). Packages that share a layer (``models`` and ``data``; ``deploy`` and
``bench``) do not import each other.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import stablespike

PACKAGE = Path(stablespike.__file__).parent

LAYERS: dict[str, int] = {
    "core": 0,
    "functional": 1,
    "kernels": 2,
    "mp_init": 3,
    "neurons": 4,
    "models": 5,
    "data": 5,
    "train": 6,
    "analysis": 7,
    "deploy": 8,  # uses analysis's operation counts for its energy figures
    "bench": 8,
    "cli": 9,
    "__init__": 10,  # the package's names, imported on first use
    "__main__": 10,
}


def _room(module: str) -> str:
    """``stablespike.train.loop`` -> ``train``; ``stablespike.neurons`` -> ``neurons``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1] if len(parts) > 2 else parts
    return ".".join(parts)


def _imports(path: Path) -> list[tuple[int, str]]:
    """``(line, absolute module)`` of every stablespike import in the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    package = list(rel.parts[:-1])  # the package the file is in
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("stablespike")]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = ".".join([*base, *(node.module.split(".") if node.module else [])])
                if node.module is None:  # from . import x: each x may be a module
                    found += [(node.lineno, f"{target}.{a.name}") for a in node.names]
                    continue
            else:
                target = node.module or ""
            if target.startswith("stablespike"):
                found.append((node.lineno, target))
    return found


def _edges() -> list[tuple[str, int, str, str, str]]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        name = _module_name(path)
        src_room = _room(name) if name != "stablespike" else "__init__"
        if path.name == "__main__.py" and path.parent == PACKAGE:
            src_room = "__main__"
        for line, target in _imports(path):
            dst_room = _room(target)
            if dst_room not in LAYERS:  # a top-level name of stablespike/__init__
                dst_room = "__init__"
            out.append((str(path.relative_to(PACKAGE.parent)), line, src_room, dst_room, target))
    return out


def test_every_room_has_a_layer() -> None:
    rooms = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir()}
    rooms = {r for r in rooms if not r.startswith((".", "_")) or r in ("__init__", "__main__")}
    rooms.discard("py")
    missing = sorted(r for r in rooms if r not in LAYERS and r != "csrc")
    assert not missing, f"give these a layer in LAYERS and docs/ARCHITECTURE.md: {missing}"


def test_every_folder_of_modules_is_a_package() -> None:
    folders = {p.parent for p in PACKAGE.rglob("*.py")}
    missing = sorted(str(f) for f in folders if not (f / "__init__.py").exists())
    assert not missing, f"add an __init__.py (setuptools installs only packages): {missing}"


def test_no_module_imports_upward_or_sideways() -> None:
    bad = []
    for where, line, src, dst, target in _edges():
        if src == dst:
            continue
        if LAYERS[dst] > LAYERS[src] or (LAYERS[dst] == LAYERS[src] and src not in ("__init__",)):
            bad.append(f"{where}:{line}: {src} (layer {LAYERS[src]}) imports {target} "
                       f"({dst}, layer {LAYERS[dst]})")  # fmt: skip
    assert not bad, "imports against the layer order:\n" + "\n".join(bad)


def test_core_imports_neither_torch_nor_the_rest() -> None:
    for path in (PACKAGE / "core").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            for n in names:
                assert n.split(".")[0] not in ("torch", "numpy"), f"{path}:{node.lineno}: {n}"


@pytest.mark.parametrize(
    "source, expected",
    [
        ("from ..models import build_model\n", "stablespike.models"),
        ("from .loop import x\n", "stablespike.train.loop"),
        ("import stablespike.cli\n", "stablespike.cli"),
    ],
)
def test_the_walker_resolves_relative_imports(tmp_path: Path, source: str, expected: str) -> None:
    fake = PACKAGE / "train" / "_probe_for_test.py"
    try:
        fake.write_text(source)
        assert [t for _, t in _imports(fake)] == [expected]
    finally:
        fake.unlink()


def test_an_upward_import_is_caught() -> None:
    fake = PACKAGE / "models" / "_probe_upward.py"
    try:
        fake.write_text("def f():\n    from ..train import config\n")
        with pytest.raises(AssertionError, match="models .layer 5. imports stablespike.train"):
            test_no_module_imports_upward_or_sideways()
    finally:
        fake.unlink()
