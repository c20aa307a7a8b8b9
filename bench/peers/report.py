"""The peers benchmark's output: medians over rounds, ratios to fastws, markdown, PNG plots.

:func:`summarize` turns the raw per-round results into one row per (scenario, client);
:func:`markdown` writes the tables; :func:`plots` the three figures (matplotlib, Agg backend):
``throughput.png`` and ``cpu.png`` (bars, log scale) and ``latency_cdf.png`` (send-to-callback
CDF at each paced rate).
"""
from __future__ import annotations

import math
import statistics
from typing import Any, Optional

TICKERS, LAT1K, LAT10K, DEPTH, DROP, REPLAY = (
    "tickers", "latency-1k", "latency-10k", "depth", "depth-drop", "depth-replay")
SCENARIO_TITLES = {
    TICKERS: "bookTicker firehose, 4 symbols",
    LAT1K: "paced bookTicker, 1k msg/s",
    LAT10K: "paced bookTicker, 10k msg/s",
    DEPTH: "diff depth + the library's own book, 4 symbols",
    DROP: "diff depth with dropped events",
    REPLAY: "replayed real capture (spot BTCUSDT), as fast as possible",
}


def _median(xs: list[float]) -> Optional[float]:
    xs = [x for x in xs if x is not None and not (isinstance(x, float) and math.isnan(x))]
    return statistics.median(xs) if xs else None


def summarize(runs: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    """``{scenario: {client: row}}``: medians over the rounds and what broke."""
    by: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in runs:
        by.setdefault((r["scenario"], r["client"]), []).append(r)
    # fastws's figures per (scenario, round): ratios are taken within a round, then the median
    base: dict[tuple[str, Any], tuple[Optional[float], Optional[float]]] = {}
    for r in runs:
        if r["client"] == "fastws":
            base[(r["scenario"], r.get("round"))] = _rate_cpu(r)
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for (scen, client), rs in by.items():
        rate_x, cpu_x = [], []
        for r in rs:
            fr, fc = base.get((scen, r.get("round")), (None, None))
            rr, rc = _rate_cpu(r)
            if fr and rr:
                rate_x.append(fr / rr)
            if fc and rc:
                cpu_x.append(rc / fc)
        rates, cpus, rss, syncs, snaps = [], [], [], [], []
        checked = matched = no_id = 0
        ends: list[bool] = []
        lat: dict[str, list[float]] = {"p50_us": [], "p99_us": [], "p999_us": []}
        cdf: Optional[list[float]] = None
        errors: list[str] = []
        for r in rs:
            n = r.get("book_updates") if scen in (DEPTH, DROP, REPLAY) else r.get("ticks")
            w = r.get("window_s")
            if n and w:
                rates.append(n / w)
                cpus.append(r["cpu_s"] / n * 1e9)
            if r.get("rss_end_mb") is not None:
                rss.append(r["rss_end_mb"])
            if r.get("sync_s") is not None:
                syncs.append(r["sync_s"])
            if "snapshots" in r and scen in (DEPTH, DROP, REPLAY):
                snaps.append(r["snapshots"])
            checked += r.get("checked", 0)
            matched += r.get("matched", 0)
            no_id += r.get("no_id", 0)
            if r.get("end_ok") is not None:
                ends.append(bool(r["end_ok"]))
            la = r.get("latency")
            if la and la.get("count"):
                for k in lat:
                    lat[k].append(la[k])
                if cdf is None:
                    cdf = la["cdf_us"]
            for e in r.get("errors", []):
                if e not in errors:
                    errors.append(e)
        out.setdefault(scen, {})[client] = {
            "rounds": len(rs), "rate": _median(rates), "cpu_ns": _median(cpus),
            "rss_mb": _median(rss), "sync_s": _median(syncs), "snapshots": _median(snaps),
            "rate_x": _median(rate_x), "cpu_x": _median(cpu_x),
            "checked": checked, "matched": matched, "no_id": no_id,
            "correct": matched / checked if checked else None,
            "end_ok": (sum(ends), len(ends)) if ends else None,
            "latency": {k: _median(v) for k, v in lat.items()}, "cdf_us": cdf,
            "errors": errors}
    return out


def _rate_cpu(r: dict[str, Any]) -> tuple[Optional[float], Optional[float]]:
    """(messages/s, CPU ns per message) of one run, None where nothing was measured."""
    n = r.get("book_updates") if r["scenario"] in (DEPTH, DROP, REPLAY) else r.get("ticks")
    w = r.get("window_s")
    if not n or not w:
        return None, None
    return n / w, r["cpu_s"] / n * 1e9


def _fmt_rate(x: Optional[float]) -> str:
    if x is None:
        return "–"
    if x >= 1e6:
        return f"{x / 1e6:.2f} M"
    if x >= 1e3:
        return f"{x / 1e3:.1f} k"
    return f"{x:.0f}"


def _fmt_ns(x: Optional[float]) -> str:
    if x is None:
        return "–"
    if x >= 1e6:
        return f"{x / 1e6:.1f} ms"
    return f"{x / 1e3:.1f} µs" if x >= 1e4 else f"{x:.0f} ns"


def _ratio(a: Optional[float], b: Optional[float] = 1.0) -> str:
    if a is None or b is None or not b:
        return ""
    r = a / b
    return f" ({r:,.0f}x)" if r >= 100 else f" ({r:.1f}x)"


def _us(x: Optional[float]) -> str:
    return "–" if x is None else (f"{x:.0f}" if x >= 100 else f"{x:.1f}")


def markdown(summary: dict[str, dict[str, dict[str, Any]]], clients: list[dict[str, Any]],
             meta: dict[str, Any]) -> str:
    """The results as markdown: headline, latency, books, what broke, how each was pointed."""
    names = [c["name"] for c in clients if c.get("unavailable") is None]
    L: list[str] = []
    L.append(f"# Peers benchmark ({meta.get('when', '')})")
    L.append("")
    L.append(f"Machine: {meta.get('machine', '?')}; load before/after: {meta.get('load_before', '?')}"
             f" / {meta.get('load_after', '?')}; Python {meta.get('python', '?')}; "
             f"rounds {meta.get('rounds')}, {meta.get('seconds')} s measured per client and "
             f"scenario, client order rotating; feed server pinned to core "
             f"{meta.get('server_cpu')}, clients to core {meta.get('client_cpu')}. Medians over "
             "rounds; (Nx) = that client against fastws in the same round (msg/s: fastws / it; "
             "CPU: it / fastws), median over rounds. CPU is the client process's user+system time (every thread) "
             "over the measured window; it is the steadier figure on a shared machine.")
    L.append("")
    t, d = summary.get(TICKERS, {}), summary.get(DEPTH, {})
    L.append("| client | bookTicker msg/s | CPU per msg | depth updates/s | CPU per update | "
             "books synced after | snapshots | books correct | RSS at end |")
    L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n in names:
        a, b = t.get(n, {}), d.get(n, {})
        if not a and not b:
            continue
        rate_t = _fmt_rate(a.get("rate")) + _ratio(a.get("rate_x")) if a else "n/a"
        cpu_t = _fmt_ns(a.get("cpu_ns")) + _ratio(a.get("cpu_x")) if a else "n/a"
        rate_d = _fmt_rate(b.get("rate")) + _ratio(b.get("rate_x")) if b else "n/a"
        cpu_d = _fmt_ns(b.get("cpu_ns")) + _ratio(b.get("cpu_x")) if b else "n/a"
        sync = "n/a" if not b else ("never" if b.get("sync_s") is None else f"{b['sync_s']:.2f} s")
        snaps = "n/a" if not b or b.get("snapshots") is None else f"{b['snapshots']:.0f}"
        corr = "n/a" if not b else _correct(b)
        rss = [x.get("rss_mb") for x in (a, b) if x and x.get("rss_mb") is not None]
        L.append(f"| **{n}** | {rate_t} | {cpu_t} | {rate_d} | {cpu_d} | {sync} | {snaps} | "
                 f"{corr} | {max(rss):.0f} MB |" if rss else
                 f"| **{n}** | {rate_t} | {cpu_t} | {rate_d} | {cpu_d} | {sync} | {snaps} | "
                 f"{corr} | – |")
    L.append("")
    L.append("Books correct: share of the book callbacks whose best bid/ask equal the "
             "simulator's book at the update id the library reports, then whether the book "
             "equals it at the last update sent (rounds ok/run).")
    L.append("")
    if summary.get(LAT1K) or summary.get(LAT10K):
        L.append("## Send-to-callback latency (server `monotonic_ns()` stamp in `u`), µs")
        L.append("")
        L.append("| client | 1k/s p50 | p99 | p99.9 | 10k/s p50 | p99 | p99.9 |")
        L.append("|---|---:|---:|---:|---:|---:|---:|")
        for n in names:
            a = summary.get(LAT1K, {}).get(n, {}).get("latency", {})
            b = summary.get(LAT10K, {}).get(n, {}).get("latency", {})
            if not a and not b:
                continue
            L.append(f"| {n} | {_us(a.get('p50_us'))} | {_us(a.get('p99_us'))} | "
                     f"{_us(a.get('p999_us'))} | {_us(b.get('p50_us'))} | {_us(b.get('p99_us'))} "
                     f"| {_us(b.get('p999_us'))} |")
        L.append("")
    if any(summary.get(s) for s in (DEPTH, DROP, REPLAY)):
        L.append("## Book correctness against the simulator's own book")
        L.append("")
        L.append("| client | normal | dropped events | replayed capture | snapshots (normal / "
                 "dropped / replay) |")
        L.append("|---|---:|---:|---:|---:|")
        for n in names:
            rows = [summary.get(s, {}).get(n) for s in (DEPTH, DROP, REPLAY)]
            if not any(rows):
                continue
            cells = [_correct(r) if r else "n/a" for r in rows]
            sn = " / ".join("–" if not r or r.get("snapshots") is None else f"{r['snapshots']:.0f}"
                            for r in rows)
            L.append(f"| {n} | {cells[0]} | {cells[1]} | {cells[2]} | {sn} |")
        L.append("")
    L.append("## What broke, and how each client was pointed at the local server")
    L.append("")
    L.append("| client | package | pointed | what broke |")
    L.append("|---|---|---|---|")
    for c in clients:
        broke: list[str] = []
        if c.get("unavailable"):
            broke.append(f"not run: {c['unavailable']}")
        for scen, rows in summary.items():
            r = rows.get(c["name"])
            if r and r["errors"]:
                broke.append(f"{scen}: " + "; ".join(e.replace("|", "/").replace("\n", " ")[:200]
                                                     for e in r["errors"][:3]))
        L.append(f"| {c['name']} | {c.get('package', '')} {c.get('version', '')} | "
                 f"{c.get('pointed', '').replace('|', '/')} | {'<br>'.join(broke) or 'nothing'} |")
    L.append("")
    return "\n".join(L)


def _correct(r: dict[str, Any]) -> str:
    s = "–"
    if r.get("correct") is not None:
        s = f"{100 * r['correct']:.2f} %"
    elif r.get("no_id"):
        s = "no update id"
    if r.get("end_ok") is not None:
        ok, n = r["end_ok"]
        s += f", end {ok}/{n}"
    return s


def plots(summary: dict[str, dict[str, dict[str, Any]]], names: list[str], out_dir: str,
          subtitle: str = "") -> list[str]:
    """Write throughput.png, cpu.png, latency_cdf.png into ``out_dir``; their paths."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written: list[str] = []
    for key, fname, title, ylabel in (
            ("rate", "throughput.png", "Messages per second (higher is better)", "msg/s"),
            ("cpu_ns", "cpu.png", "Client CPU per message (lower is better)", "ns of CPU")):
        fig, axes = plt.subplots(1, 2, figsize=(12, 4.8))
        for ax, scen in zip(axes, (TICKERS, DEPTH)):
            rows = summary.get(scen, {})
            xs = [n for n in names if rows.get(n, {}).get(key)]
            vals = [rows[n][key] for n in xs]
            colors = ["#d62728" if n == "fastws" else "#7f7f7f" for n in xs]
            ax.bar(range(len(xs)), vals, color=colors)
            ax.set_xticks(range(len(xs)))
            ax.set_xticklabels(xs, rotation=35, ha="right", fontsize=8)
            ax.set_yscale("log")
            ax.set_ylabel(ylabel)
            ax.set_title(SCENARIO_TITLES[scen], fontsize=9)
            for i, v in enumerate(vals):
                ax.text(i, v, _fmt_rate(v) if key == "rate" else _fmt_ns(v), ha="center",
                        va="bottom", fontsize=7)
        fig.suptitle(title + (f"\n{subtitle}" if subtitle else ""), fontsize=10)
        fig.tight_layout()
        path = f"{out_dir}/{fname}"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8))
    for ax, scen in zip(axes, (LAT1K, LAT10K)):
        rows = summary.get(scen, {})
        for n in names:
            cdf = rows.get(n, {}).get("cdf_us")
            if not cdf:
                continue
            ys = [(i + 1) / len(cdf) for i in range(len(cdf))]
            ax.plot(cdf, ys, label=n, linewidth=2.2 if n == "fastws" else 1.2,
                    color="#d62728" if n == "fastws" else None)
        ax.set_xscale("log")
        ax.set_xlabel("send-to-callback latency, µs (log)")
        ax.set_ylabel("fraction of messages")
        ax.set_title(SCENARIO_TITLES[scen], fontsize=9)
        ax.grid(True, which="both", alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=7, loc="lower right")
    fig.suptitle("Latency CDF (left is better)" + (f"\n{subtitle}" if subtitle else ""),
                 fontsize=10)
    fig.tight_layout()
    path = f"{out_dir}/latency_cdf.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    written.append(path)
    return written
