"""``fastws.__all__`` lists exactly the public names, every one resolves, and the lazy table,
the type checkers' imports and ``__all__`` agree."""
from __future__ import annotations

import ast
import subprocess
import sys

import fastws
from tests.utils import REPO_ROOT


def _type_checking_imports() -> dict[str, str]:
    tree = ast.parse((REPO_ROOT / "fastws" / "__init__.py").read_text())
    names: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            for imp in node.body:
                if isinstance(imp, ast.ImportFrom):
                    names.update({a.name: imp.module for a in imp.names})
    return names


def test_all_names_resolve():
    missing = [name for name in fastws.__all__ if getattr(fastws, name, None) is None]
    assert missing == []


def test_all_has_no_duplicates():
    assert len(fastws.__all__) == len(set(fastws.__all__))


def test_all_is_exceptions_plus_lazy_exports():
    from fastws import exceptions

    assert set(fastws.__all__) == {"__version__"} | set(exceptions.__all__) | set(fastws._EXPORTS)


def test_type_checkers_see_the_same_names_as_the_lazy_table():
    assert _type_checking_imports() == fastws._EXPORTS


def test_each_name_comes_from_its_module():
    for name, module in fastws._EXPORTS.items():
        assert getattr(fastws, name) is getattr(sys.modules[module], name)


def test_import_fastws_is_light():
    """``import fastws`` loads only the exceptions; the compiled core loads on first use."""
    code = "import sys, fastws; print(sorted(m for m in sys.modules if m.startswith('fastws')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=REPO_ROOT, check=True).stdout
    assert out.strip() == "['fastws', 'fastws.exceptions']"


def test_unknown_attribute_is_an_attribute_error():
    import pytest

    with pytest.raises(AttributeError):
        fastws.NoSuchThing  # noqa: B018


def test_exception_tree():
    assert issubclass(fastws.ParseError, fastws.FastWSError)
    assert issubclass(fastws.ParseError, ValueError)
    assert issubclass(fastws.RateLimitError, fastws.ApiError)
    assert issubclass(fastws.IPBannedError, fastws.RateLimitError)
    assert issubclass(fastws.ConnectionClosedOK, fastws.ConnectionClosed)
