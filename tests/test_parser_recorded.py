"""Every line of the real Binance captures parses and equals the reference decoder.

Line formats (``recorded/README.md``): hftbacktest ``<ts> <json>``; cryptofeed ``*_ws``: a
first line ``<url> <-> <ts>`` then ``<ts>: <json>``; cryptofeed ``*_http``: ``<url> -> <ts>:
<json>``. The fast test reads the first lines of each file; the full captures (~600k lines)
are ``slow``.
"""
from __future__ import annotations

import gzip
import itertools
from pathlib import Path

import pytest

from fastws.events import Event
from fastws.parser import Parser
from tests.reference_decoder import compare, normalise, reference_decode
from tests.utils import RECORDED_DIR

FAST_LINES = 2000
FILES = sorted(p.name for p in RECORDED_DIR.glob("*.gz")) if RECORDED_DIR.is_dir() else []


def payloads(path: Path):
    """The JSON payload of every line of a capture, as bytes."""
    name = path.name
    with gzip.open(path, "rb") as fh:
        for i, line in enumerate(fh):
            line = line.rstrip(b"\r\n")
            if not line:
                continue
            if name.startswith("cryptofeed_"):
                if name.endswith("_ws.txt.gz") and i == 0:
                    continue  # the connect URL
                yield line.split(b": ", 1)[1]
            else:
                yield line.split(b" ", 1)[1]


def _check_file(recorded_dir: Path, name: str, limit: int | None) -> int:
    market = "usdm" if "_usdm_" in name else "spot"
    parser = Parser(market)
    n = 0
    for payload in itertools.islice(payloads(recorded_dir / name), limit):
        result = parser.parse(payload)
        assert isinstance(result, Event), payload[:200]
        compare(normalise(result), reference_decode(payload, market))
        n += 1
    return n


@pytest.mark.parametrize("name", FILES)
def test_capture_head(recorded_dir, name):
    assert _check_file(recorded_dir, name, FAST_LINES) > 0


@pytest.mark.slow
@pytest.mark.parametrize("name", FILES)
def test_capture_full(recorded_dir, name):
    assert _check_file(recorded_dir, name, None) > 0


def test_captures_found(recorded_dir):
    assert len(list(recorded_dir.glob("*.gz"))) >= 13
