"""The ``fastws`` command line: ``fastws <command> [options]``.

Each command lives in its own module with a ``main(argv) -> int`` of its own, imported only
when that command runs, so ``fastws --help`` stays fast and a broken optional dependency of one
command never breaks another.
"""
from __future__ import annotations

import importlib
import sys
from typing import Any, Callable, Sequence


# command -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("fastws.demo", "stream the embedded simulator through MarketStream with books (the main job)"),
    "monitor": ("fastws.monitor", "live view of symbols on a real venue or the simulator, until Ctrl-C"),
    "sim": ("fastws.sim.cli", "run the Binance-compatible exchange simulator as a server"),
    "trade": ("fastws.trade", "trade the signals with risk limits (a paper account on the simulator by default)"),
    "replay": ("fastws.replay", "replay a recorded capture through parser, sync and book; check it"),
    "serve": ("fastws.bus.serve", "feed handler: publish a venue's streams and synced books on NATS JetStream"),
    "bench": ("fastws.quickbench", "parse benchmark: ns per message per event kind, beside orjson"),
}


def _usage() -> str:
    width = max(len(c) for c in COMMANDS)
    lines = ["usage: fastws <command> [options]", "", "commands:"]
    lines += [f"  {name.ljust(width)}  {help_}" for name, (_, help_) in COMMANDS.items()]
    lines += ["", "Run 'fastws <command> --help' for the options of one command."]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0
    if args[0] in ("-V", "--version"):
        from fastws import __version__

        print(__version__)
        return 0
    name, rest = args[0], args[1:]
    if name not in COMMANDS:
        print(f"fastws: unknown command {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module_name = COMMANDS[name][0]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            print(f"fastws: the {name!r} command is not available in this build", file=sys.stderr)
            return 2
        raise
    run: Callable[[list[str]], Any] = module.main
    try:
        return int(run(rest) or 0)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # the reader went away (`fastws replay ... | head`): not an error of ours
        import os
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
