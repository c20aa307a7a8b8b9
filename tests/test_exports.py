"""``fastws.__all__`` lists exactly the public names, and every one of them resolves."""
from __future__ import annotations

import fastws


def test_all_names_resolve():
    missing = [name for name in fastws.__all__ if not hasattr(fastws, name)]
    assert missing == []


def test_all_has_no_duplicates():
    assert len(fastws.__all__) == len(set(fastws.__all__))


def test_nothing_public_left_out():
    """Every public class, function or submodule-level object imported into the package is listed."""
    import types

    public = {
        name
        for name, value in vars(fastws).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
        and name not in {"annotations"}
    }
    assert public - set(fastws.__all__) == set()
    assert set(fastws.__all__) - public - {"__version__"} == set()


def test_exception_tree():
    assert issubclass(fastws.ParseError, fastws.FastWSError)
    assert issubclass(fastws.ParseError, ValueError)
    assert issubclass(fastws.RateLimitError, fastws.ApiError)
    assert issubclass(fastws.IPBannedError, fastws.RateLimitError)
    assert issubclass(fastws.ConnectionClosedOK, fastws.ConnectionClosed)
