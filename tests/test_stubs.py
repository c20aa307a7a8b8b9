"""Every compiled module has a hand-written ``.pyi`` that matches what the module exports.

For each ``fastws/**/*.pyx`` the test checks that a ``.pyi`` and a ``.pxd`` sit beside it, that
the stub's public top-level names equal the compiled module's public names, and that for each
public class the stub names the same public attributes and methods.
"""
from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "fastws"
PYX = sorted(PKG.rglob("*.pyx"))


def _module_name(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    return ".".join(rel.parts)


def _stub_names(stub: Path) -> tuple[set[str], dict[str, set[str]]]:
    tree = ast.parse(stub.read_text())
    names: set[str] = set()
    members: dict[str, set[str]] = {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            names.add(node.name)
            attrs = set()
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    attrs.add(item.name)
                elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                    attrs.add(item.target.id)
                elif isinstance(item, ast.Assign):
                    attrs.update(t.id for t in item.targets if isinstance(t, ast.Name))
            members[node.name] = {a for a in attrs if not a.startswith("_")}
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names.add(node.name)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return {n for n in names if not n.startswith("_")}, members


def _runtime_public(module) -> set[str]:
    if hasattr(module, "__all__"):
        return set(module.__all__)
    names = set()
    for name, value in vars(module).items():
        if name.startswith("_"):
            continue
        if getattr(value, "__module__", None) == module.__name__:
            names.add(name)
    return names


def _class_public(cls) -> set[str]:
    own = set()
    for klass in cls.__mro__:
        if klass is object or klass.__module__ in ("builtins", "enum"):
            continue
        own.update(n for n in vars(klass) if not n.startswith("_"))
    return own


@pytest.mark.parametrize("pyx", PYX, ids=lambda p: p.stem)
def test_pyi_and_pxd_beside_each_compiled_module(pyx: Path):
    assert pyx.with_suffix(".pyi").is_file(), f"{pyx.name} has no .pyi stub"
    assert pyx.with_suffix(".pxd").is_file(), f"{pyx.name} has no .pxd"


@pytest.mark.parametrize("pyx", PYX, ids=lambda p: p.stem)
def test_stub_matches_compiled_module(pyx: Path):
    module = importlib.import_module(_module_name(pyx))
    assert module.__file__ and not module.__file__.endswith(".py"), "module is not compiled"
    stub_names, stub_members = _stub_names(pyx.with_suffix(".pyi"))
    runtime = _runtime_public(module)
    assert stub_names - runtime == set(), "names in the stub but not in the module"
    assert runtime - stub_names == set(), "names in the module but not in the stub"
    for cls_name, members in stub_members.items():
        cls = getattr(module, cls_name)
        if not isinstance(cls, type):
            continue
        runtime_members = _class_public(cls)
        inherited_stub = set()
        for base in cls.__mro__[1:]:
            inherited_stub |= stub_members.get(base.__name__, set())
        assert members - runtime_members == set(), f"{cls_name}: in stub, not at runtime"
        missing = runtime_members - members - inherited_stub
        assert missing == set(), f"{cls_name}: at runtime, not in stub"
