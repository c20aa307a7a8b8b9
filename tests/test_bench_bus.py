"""bench/bench_bus.py --quick runs end to end (so the benchmark cannot rot): every process
starts, the paced and firehose phases deliver through the bus and directly, the JSON has the
figures bench/README.md quotes. No speed is asserted here (benchmarks judge speed)."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest

from tests.bus_support import needs_bus
from tests.utils import REPO_ROOT, UNIT

pytestmark = [needs_bus, pytest.mark.slow]


def test_bench_bus_quick_runs_and_reports() -> None:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(REPO_ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    proc = subprocess.run([sys.executable, str(REPO_ROOT / "bench" / "bench_bus.py"), "--quick", "--json"],
                          capture_output=True, text=True, timeout=180 * UNIT, cwd=str(REPO_ROOT), env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    (rnd,) = res["rounds"]
    paced = rnd["paced"]
    assert paced["sent"] > 0 and paced["published"] > 0
    for who in ("direct", "bus1"):
        c = paced["consumers"][who]
        assert c["count"] > 0, f"{who} got no paced frame"
        assert c["latency_us"]["50"] > 0 and c["latency_us"]["99"] >= c["latency_us"]["50"]
        assert c["duplicates"] == 0
    for k in (1, 2):
        f = rnd[f"firehose{k}"]
        assert f["published"] > 0 and f["feed_dropped"] == 0
        for i in range(1, k + 1):
            assert f["consumers"][f"bus{i}"]["count"] > 0, f"bus consumer {i} of {k} got nothing"
        assert f["cpu_s"]["feed"] > 0 and f["cpu_s"]["nats"] > 0
    s = res["summary"]
    assert not math.isnan(s["paced"]["added_p50_us"])
    assert set(s["firehose"]) == {"1", "2"}
    assert s["firehose"]["1"]["bus_msgs_per_s_median"] > 0
