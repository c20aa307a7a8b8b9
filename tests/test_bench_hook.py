"""bench/bench_hook.py cannot rot: its compiled listeners build against this tree, and a short
run of the Cython-hook path (and the depth + book variants) counts real events."""
from __future__ import annotations

import importlib.util
import sys

import pytest

from tests.utils import REPO_ROOT

pytestmark = pytest.mark.slow


def _bench():
    pytest.importorskip("uvloop")
    pytest.importorskip("Cython")
    spec = importlib.util.spec_from_file_location("bench_hook", REPO_ROOT / "bench" / "bench_hook.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["bench_hook"] = mod          # spawned clients import it by this name
    spec.loader.exec_module(mod)
    return mod


def test_replay_counts_every_event_of_each_client(tmp_path) -> None:
    """In process: every firehose payload reaches the Cython hooks as a typed event (no
    parse error, the book kept synced through the id wraps) and the Python variants."""
    bench = _bench()
    build = bench.build_hooks(tmp_path)
    for kind, client in [("bookTicker", "hook"), ("bookTicker", "callback"),
                         ("depth", "hook-book"), ("depth", "python-book")]:
        r = bench.replay(client, kind, 1, build)
        assert r["messages"] == 4096, (kind, client, r)


def test_end_to_end_run_reports_every_client(tmp_path) -> None:
    """A fraction of a second per client over a real socket: figures and markdown for each."""
    bench = _bench()
    res = bench.run(True, str(tmp_path), seconds=0.2, rounds=1)
    rows = {(r["kind"], r["client"]): r for r in res["rows"]}
    for kind, clients in bench.CLIENTS.items():
        for client in clients:
            r = rows[(kind, client)]
            assert r["messages"] > 1000, r
            assert r.get("parse_errors", 0) == 0, r
    assert rows[("depth", "hook-book")]["book_synced"]
    assert "hook" in res["summary"]["bookTicker"] and "goal" in res["summary"]["depth"]
    assert "| bookTicker | **hook** |" in res["markdown"]
    assert (tmp_path / "hook.md").read_text() == res["markdown"]
