"""``fastws bench``: how long one Binance frame takes to become usable numbers, per event kind.

What is measured
----------------
For each event kind, one payload shaped exactly like the recorded Binance captures (combined
stream envelope, the same keys, key order and decimal formats as the 2024 hftbacktest spot
BTCUSDT capture and the cryptofeed USD-M capture; built in code, so this runs from an
installed package with no data files) is decoded again and again by:

- ``fastws``:  ``Parser(market).parse(payload)`` -> typed event, floats and numpy levels;
- ``orjson``:  ``orjson.loads`` + ``float()`` of every decimal string, ``np.array`` levels;
- ``json``:    the same with the standard library's ``json.loads``;
- ``msgspec``: a typed ``msgspec.json.Decoder`` of ``Struct`` classes with float fields
  (``strict=False`` turns the decimal strings into floats) + ``np.array`` levels
  (only when msgspec is installed: ``pip install fastws[bench]``).

The libraries take turns batch by batch (``time.perf_counter_ns``, ~2 ms batches) and the
best batch of each is kept, reported in ns per message, MB/s of payload, and as ratios taken
in the same run. The machine, its load and the CPU frequency move absolute numbers; compare
ratios.
"""

from __future__ import annotations

import argparse
import importlib
import json
import platform
import sys
import time
from typing import Any, Callable

import numpy as np
import orjson

from fastws.parser import Parser


def _optional_module(name: str) -> Any:
    """The module, or None when it is not installed (typed ``Any`` so mypy passes either way)."""
    try:
        return importlib.import_module(name)
    except ImportError:  # pragma: no cover - depends on the environment
        return None


msgspec: Any = _optional_module("msgspec")  # optional: only the bench extra installs it

__all__ = ["KINDS", "payload", "decoders", "measure", "run", "main"]

KINDS = ("bookTicker", "trade", "aggTrade", "kline", "24hrTicker", "depthUpdate10",
         "depthUpdate50", "depthUpdate200")


def _depth_payload(levels: int) -> bytes:
    """A spot ``depth@100ms`` frame with ``levels`` levels in all, split bids/asks, in the
    capture's format: 8-decimal strings, many zero quantities."""
    nb = levels // 2
    na = levels - nb
    bids = [[f"{61837.63 - 0.01 * i * 7:.8f}", f"{(i * 0.37) % 3:.8f}" if i % 3 else "0.00000000"]
            for i in range(nb)]
    asks = [[f"{61837.64 + 0.01 * i * 5:.8f}", f"{(i * 0.53) % 2:.8f}" if i % 4 else "0.00000000"]
            for i in range(na)]
    data = {"e": "depthUpdate", "E": 1723161255208, "s": "BTCUSDT", "U": 50093239189,
            "u": 50093239202, "b": bids, "a": asks}
    return orjson.dumps({"stream": "btcusdt@depth@100ms", "data": data})


def payload(kind: str) -> tuple[bytes, str]:
    """The benchmark payload of ``kind`` and its market (``"spot"`` / ``"usdm"``)."""
    if kind == "bookTicker":
        return (b'{"stream":"btcusdt@bookTicker","data":{"u":50093239212,"s":"BTCUSDT",'
                b'"b":"61837.63000000","B":"3.78826000","a":"61837.64000000",'
                b'"A":"1.54698000"}}', "spot")
    if kind == "trade":
        return (b'{"stream":"btcusdt@trade","data":{"e":"trade","E":1723161255343,'
                b'"s":"BTCUSDT","t":3735683259,"p":"61837.63000000","q":"0.02000000",'
                b'"T":1723161255342,"m":true,"M":true}}', "spot")
    if kind == "aggTrade":
        return (b'{"stream":"ctkusdt@aggTrade","data":{"e":"aggTrade","E":1626992741575,'
                b'"a":16599292,"s":"CTKUSDT","p":"1.01100","q":"10","f":23961322,'
                b'"l":23961322,"T":1626992741421,"m":false}}', "usdm")
    if kind == "kline":
        return (b'{"stream":"ctkusdt@kline_1m","data":{"e":"kline","E":1626992741424,'
                b'"s":"CTKUSDT","k":{"t":1626992700000,"T":1626992759999,"s":"CTKUSDT",'
                b'"i":"1m","f":23961275,"L":23961322,"o":"1.01000","c":"1.01100",'
                b'"h":"1.01100","l":"1.01000","v":"3917","n":48,"x":false,"q":"3957.89900",'
                b'"V":"1729","Q":"1748.01900","B":"0"}}}', "usdm")
    if kind == "24hrTicker":
        return (b'{"stream":"btcusdt@ticker","data":{"e":"24hrTicker","E":1723161255343,'
                b'"s":"BTCUSDT","p":"1510.25000000","P":"2.503","w":"60512.81765339",'
                b'"x":"60327.38000000","c":"61837.63000000","Q":"0.02000000",'
                b'"b":"61837.63000000","B":"3.78826000","a":"61837.64000000",'
                b'"A":"1.54698000","o":"60327.38000000","h":"62745.00000000",'
                b'"l":"58900.00000000","v":"38214.10452000","q":"2312464877.31745620",'
                b'"O":1723074855343,"C":1723161255343,"F":3733150101,"L":3735683259,'
                b'"n":2533159}}', "spot")
    if kind.startswith("depthUpdate"):
        return _depth_payload(int(kind[len("depthUpdate"):])), "spot"
    raise ValueError(f"unknown kind {kind!r}; kinds: {', '.join(KINDS)}")


# ---------------------------------------------------------------------------- competitors

def _levels(rows: list[Any]) -> np.ndarray[Any, Any]:
    return np.array(rows, dtype=np.float64).reshape(-1, 2)


def _convert(kind: str, d: dict[str, Any]) -> Any:
    """Dict from a JSON library -> the numbers a bot uses (what fastws returns)."""
    f = float
    if kind == "bookTicker":
        return (d["u"], d["s"], f(d["b"]), f(d["B"]), f(d["a"]), f(d["A"]))
    if kind in ("trade", "aggTrade"):
        return (d["E"], d["s"], f(d["p"]), f(d["q"]), d["T"], d["m"])
    if kind == "kline":
        k = d["k"]
        return (d["E"], d["s"], k["t"], k["T"], k["i"], f(k["o"]), f(k["c"]), f(k["h"]),
                f(k["l"]), f(k["v"]), k["n"], k["x"], f(k["q"]), f(k["V"]), f(k["Q"]))
    if kind == "24hrTicker":
        return (d["E"], d["s"], f(d["p"]), f(d["P"]), f(d["w"]), f(d["x"]), f(d["c"]),
                f(d["Q"]), f(d["b"]), f(d["B"]), f(d["a"]), f(d["A"]), f(d["o"]), f(d["h"]),
                f(d["l"]), f(d["v"]), f(d["q"]), d["O"], d["C"], d["F"], d["L"], d["n"])
    return (d["E"], d["s"], d["U"], d["u"], _levels(d["b"]), _levels(d["a"]))


def _msgspec_decoder(kind: str) -> Callable[[bytes], Any]:
    """A typed msgspec decoder for ``kind`` (floats from strings with strict=False)."""
    ms: Any = msgspec
    i, f, t, b = int, float, str, bool
    kline = [("t", i), ("T", i), ("s", t), ("i", t), ("f", i), ("L", i), ("o", f), ("c", f),
             ("h", f), ("l", f), ("v", f), ("n", i), ("x", b), ("q", f), ("V", f), ("Q", f)]
    specs: dict[str, list[tuple[str, Any]]] = {
        "bookTicker": [("u", i), ("s", t), ("b", f), ("B", f), ("a", f), ("A", f)],
        "trade": [("e", t), ("E", i), ("s", t), ("t", i), ("p", f), ("q", f), ("T", i),
                  ("m", b)],
        "aggTrade": [("e", t), ("E", i), ("a", i), ("s", t), ("p", f), ("q", f), ("f", i),
                     ("l", i), ("T", i), ("m", b)],
        "kline": [("e", t), ("E", i), ("s", t), ("k", ms.defstruct("K", kline))],
        "24hrTicker": [("e", t), ("E", i), ("s", t)] + [(k, f) for k in "pPwxcQbBaAohlvq"]
        + [(k, i) for k in "OCFLn"],
    }
    depth = [("e", t), ("E", i), ("s", t), ("U", i), ("u", i),
             ("b", list[tuple[float, float]]), ("a", list[tuple[float, float]])]
    data_type = ms.defstruct("Data", specs.get(kind, depth))
    envelope = ms.defstruct("Envelope", [("stream", str), ("data", data_type)])
    dec = ms.json.Decoder(envelope, strict=False)
    if kind.startswith("depthUpdate"):
        def decode(p: bytes) -> Any:
            d = dec.decode(p).data
            return d, _levels(d.b), _levels(d.a)
        return decode

    def decode_event(p: bytes) -> Any:
        return dec.decode(p).data
    return decode_event


def decoders(kind: str, market: str | None = None) -> dict[str, Callable[[bytes], Any]]:
    """name -> function(payload) returning usable numbers, for every library available.

    ``market`` overrides the market of the built-in payload (for real capture lines)."""
    if market is None:
        market = payload(kind)[1]
    parser = Parser(market)  # type: ignore[arg-type]
    out: dict[str, Callable[[bytes], Any]] = {
        "fastws": parser.parse,
        "orjson": lambda p: _convert(kind, orjson.loads(p)["data"]),
        "json": lambda p: _convert(kind, json.loads(p)["data"]),
    }
    if msgspec is not None:
        out["msgspec"] = _msgspec_decoder(kind)
    return out


def _batch_size(fn: Callable[[bytes], Any], data: bytes, target_ns: float) -> int:
    """Calls per timed batch so that one batch lasts about ``target_ns``."""
    fn(data)
    n = 1
    while n < 1 << 22:
        t = time.perf_counter_ns()
        for _ in range(n):
            fn(data)
        if time.perf_counter_ns() - t >= target_ns:
            break
        n *= 2
    return n


def measure(fns: dict[str, Callable[[bytes], Any]], data: bytes, budget: float) -> dict[str, float]:
    """Best ns per call of each ``fn(data)``.

    The libraries take turns batch by batch (round robin) for about ``budget`` seconds each,
    so a change in machine load hits all of them alike; the best batch of each is kept."""
    sizes = {name: _batch_size(fn, data, 2e6) for name, fn in fns.items()}
    best = {name: float("inf") for name in fns}
    deadline = time.perf_counter() + budget * len(fns)
    rounds = 0
    while rounds < 5 or time.perf_counter() < deadline:
        for name, fn in fns.items():
            n = sizes[name]
            t = time.perf_counter_ns()
            for _ in range(n):
                fn(data)
            best[name] = min(best[name], (time.perf_counter_ns() - t) / n)
        rounds += 1
    return best


def run(kinds: tuple[str, ...] = KINDS, budget: float = 0.4) -> list[dict[str, Any]]:
    """Measure every library on every kind; one dict per kind."""
    rows = []
    for kind in kinds:
        data, market = payload(kind)
        row: dict[str, Any] = {"kind": kind, "market": market, "bytes": len(data)}
        row["ns"] = measure(decoders(kind), data, budget)
        fast = row["ns"]["fastws"]
        row["mb_per_s"] = len(data) / fast * 1e3
        row["speedup"] = {name: ns / fast for name, ns in row["ns"].items() if name != "fastws"}
        rows.append(row)
    return rows


def _table(rows: list[dict[str, Any]]) -> str:
    libs = [lib for lib in ("fastws", "orjson", "msgspec", "json") if lib in rows[0]["ns"]]
    head = ["kind", "bytes"] + [f"{lib} ns" for lib in libs] + ["fastws MB/s"] + [
        f"x {lib}" for lib in libs[1:]]
    lines = [head]
    for r in rows:
        lines.append([r["kind"], str(r["bytes"])] + [f"{r['ns'][lib]:.0f}" for lib in libs]
                     + [f"{r['mb_per_s']:.0f}"] + [f"{r['speedup'][lib]:.1f}" for lib in libs[1:]])
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    out = []
    for j, line in enumerate(lines):
        out.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                             for i, (c, w) in enumerate(zip(line, widths))))
        if j == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    """``fastws bench [--quick] [--json] [--kinds k1,k2]``."""
    from fastws.cliargs import ArgumentParser, positive
    ap = ArgumentParser(
        prog="fastws bench",
        description="Parse benchmark: ns per message for each Binance event kind, fastws "
                    "beside orjson, json and msgspec, each including the conversion to "
                    "floats / numpy level arrays.")
    ap.add_argument("--quick", action="store_true", help="short timing budget (a few seconds)")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    ap.add_argument("--kinds", default=",".join(KINDS),
                    help=f"comma-separated kinds (default: all of {','.join(KINDS)})")
    ap.add_argument("--budget", type=positive, default=None,
                    help="seconds of timing per library and kind (default 0.4, 0.15 with --quick)")
    args = ap.parse_args(argv)
    kinds = tuple(k.strip() for k in args.kinds.split(",") if k.strip())
    for k in kinds:
        if k not in KINDS:
            ap.error(f"unknown kind {k!r}; kinds: {', '.join(KINDS)}")
    budget = args.budget if args.budget is not None else (0.15 if args.quick else 0.4)
    rows = run(kinds, budget)
    if args.json:
        print(json.dumps({"python": sys.version.split()[0], "machine": platform.machine(),
                          "budget_s": budget, "results": rows}, indent=2))
        return 0
    print(f"fastws parse benchmark  (Python {sys.version.split()[0]}, {platform.machine()}, "
          f"best of batches, {budget:g} s per cell; ratios = other ns / fastws ns)")
    if msgspec is None:
        print("(msgspec not installed: pip install 'fastws[bench]' to add its column)")
    print(_table(rows))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
