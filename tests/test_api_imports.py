"""fastws.api's imports point one way: every module imports in a fresh interpreter, the import
graph (deferred imports and cimports included) has no cycle and follows the layers of
fastws/api/__init__.py, the I/O-free modules load no I/O, and the old module paths are the
new modules."""
from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
API = REPO / "fastws" / "api"

#: the layers, lowest first (fastws/api/__init__.py): a module imports only earlier ones
LAYERS = ["_limits", "_hmac", "signing", "_answers", "protocol", "_session", "_orders", "client",
          "base_operations", "order_stream", "user_events", "user_stream"]
MODULES = sorted({p.stem for p in API.iterdir() if p.suffix in (".py", ".pyx")} - {"__init__"})

_CIMPORT = re.compile(r"^\s*from\s+fastws\.api(?:\.(\w+))?\s+c?import\s+([\w, ()]+)", re.M)
_PLAIN = re.compile(r"^\s*(?:import|cimport)\s+fastws\.api\.(\w+)", re.M)


def _targets_py(path: Path) -> set[str]:
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):      # nested (deferred) imports too
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "fastws.api":
                out |= {a.name for a in node.names}
            elif node.module.startswith("fastws.api."):
                out.add(node.module.split(".")[2])
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("fastws.api."):
                    out.add(a.name.split(".")[2])
    return out


def _targets_pyx(paths: list[Path]) -> set[str]:
    out: set[str] = set()
    for path in paths:
        text = path.read_text()
        for sub, names in _CIMPORT.findall(text):
            if sub:
                out.add(sub)
            else:
                out |= {n.strip().split(" as ")[0] for n in names.strip("() ").split(",") if n.strip()}
        out |= set(_PLAIN.findall(text))
    return out


def _graph() -> dict[str, set[str]]:
    g: dict[str, set[str]] = {}
    for m in MODULES:
        py = API / f"{m}.py"
        if py.exists():
            g[m] = _targets_py(py)
        else:
            g[m] = _targets_pyx([p for p in (API / f"{m}.pyx", API / f"{m}.pxd") if p.exists()])
        g[m].discard(m)
    return g


def test_every_module_has_a_layer():
    assert sorted(LAYERS) == MODULES, "a new fastws.api module needs its place in LAYERS (and __init__'s list)"


def test_imports_point_down_the_layers_and_never_cycle():
    g = _graph()
    for m, targets in g.items():
        for t in targets:
            assert t in LAYERS, f"{m} imports unknown fastws.api.{t}"
            assert LAYERS.index(t) < LAYERS.index(m), f"fastws.api.{m} imports fastws.api.{t}, a layer above it"
    # (the layer order already rules cycles out; check it directly too)
    seen: dict[str, int] = {}

    def visit(m: str, stack: list[str]) -> None:
        if seen.get(m) == 1:
            raise AssertionError("import cycle: " + " -> ".join(stack + [m]))
        if seen.get(m) == 2:
            return
        seen[m] = 1
        for t in g[m]:
            visit(t, stack + [m])
        seen[m] = 2

    for m in g:
        visit(m, [])


def _fresh(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_each_module_imports_alone_in_a_fresh_interpreter():
    code = ("import importlib, subprocess, sys\n"
            f"mods = {MODULES!r}\n"
            "bad = []\n"
            "for m in mods:\n"
            "    r = subprocess.run([sys.executable, '-c', 'import fastws.api.' + m], capture_output=True, text=True)\n"
            "    if r.returncode:\n"
            "        bad.append((m, r.stderr[-400:]))\n"
            "print(bad)\n")
    assert _fresh(code).strip() == "[]"


@pytest.mark.parametrize("module", ["_limits", "_hmac", "signing", "_answers", "protocol"])
def test_io_free_modules_load_no_io(module):
    out = _fresh(f"import sys, fastws.api.{module}\n"
                 "print(sorted(m for m in sys.modules if m in ('picows', 'fastws.api._session', "
                 "'fastws.connection', 'fastws.api.client')))")
    assert out.strip() == "[]"


def test_old_module_paths_are_the_new_modules():
    pairs = {"api_client": "client", "api_protocol": "protocol", "base_operations": "base_operations",
             "order_stream": "order_stream", "user_stream": "user_stream", "uds_events": "user_events",
             "signing": "signing"}
    code = "import importlib\n" + "".join(
        f"assert importlib.import_module('fastws.{old}') is importlib.import_module('fastws.api.{new}'), '{old}'\n"
        for old, new in pairs.items()) + "import fastws\n" + "".join(
        f"assert fastws.{n} is not None\n" for n in ("BaseOperations", "OrderStream", "UserStream", "ApiClient",
                                                     "HmacSigner", "Ed25519Signer", "RsaSigner", "mask_key",
                                                     "ExecutionReport", "OrderTradeUpdate"))
    _fresh(code)
