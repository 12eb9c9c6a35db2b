"""Starts private `redis-server` and `mosquitto` processes on free loopback ports.

`gridwatch demo` uses it to bring up its own store and broker under ./var/, and the test
fixtures use the same class so a test can stop, kill and restart a server on the same port.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path


class ServiceError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port: int, proc: subprocess.Popen, timeout: float, name: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServiceError(f"{name} exited with {proc.returncode}; see {log}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise ServiceError(f"{name} did not listen on port {port} within {timeout}s; see {log}")


@dataclass(kw_only=True)
class LocalServer:
    """One server process with a fixed port and working directory, restartable."""

    name: str
    workdir: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None

    def command(self) -> list[str]:  # pragma: no cover - overridden
        raise NotImplementedError

    @property
    def log(self) -> Path:
        return self.workdir / f"{self.name}.log"

    def start(self, timeout: float = 10.0) -> "LocalServer":
        # The server runs in its workdir, so every path handed to it must be absolute.
        self.workdir = self.workdir.resolve()
        self.workdir.mkdir(parents=True, exist_ok=True)
        exe = self.command()[0]
        if shutil.which(exe) is None:
            raise ServiceError(f"{exe} is not on PATH: install it (apt-get install {self.package})")
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                self.command(), cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _wait_port(self.port, self.proc, timeout, self.name, self.log)
        return self

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            self.proc = None
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def restart(self) -> "LocalServer":
        self.stop()
        return self.start()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def __enter__(self) -> "LocalServer":
        """`with RedisServer(...) as srv:` starts it unless running, and stops it after."""
        return self if self.running else self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


@dataclass(kw_only=True)
class RedisServer(LocalServer):
    name: str = "redis"
    package: str = "redis-server"
    appendonly: bool = True
    extra_args: tuple[str, ...] = ()  # more `--option value` pairs (a Cluster node's, say)

    def command(self) -> list[str]:
        return [
            "redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
            "--dir", str(self.workdir.resolve()), "--save", "",
            "--appendonly", "yes" if self.appendonly else "no", "--appendfsync", "everysec",
            "--protected-mode", "yes", *self.extra_args,
        ]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


@dataclass(kw_only=True)
class MosquittoServer(LocalServer):
    name: str = "mosquitto"
    package: str = "mosquitto"
    extra_config: str = ""
    anonymous: bool = True

    def command(self) -> list[str]:
        conf = self.workdir / "mosquitto.conf"
        conf.write_text(
            f"listener {self.port} 127.0.0.1\n"
            f"allow_anonymous {'true' if self.anonymous else 'false'}\n"
            # Run as whoever started it (as root Mosquitto would switch to user `mosquitto`,
            # which cannot read files in a private working directory).
            + ("user root\n" if os.geteuid() == 0 else "")
            + "persistence true\n"
            f"persistence_location {self.workdir.resolve()}/\n"
            "max_queued_messages 100000\n"
            "max_inflight_messages 100\n"
            "persistent_client_expiration 1d\n"
            # Nagle's delay is most of an order's delivery time at small payloads.
            "set_tcp_nodelay true\n"
            + self.extra_config
        )
        exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        return [exe, "-c", str(conf)]

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"


def ensure_on_path() -> None:
    """Debian installs mosquitto in /usr/sbin, which a non-root PATH may lack."""
    for d in ("/usr/sbin", "/sbin"):
        if d not in os.environ.get("PATH", "").split(os.pathsep):
            os.environ["PATH"] = os.environ.get("PATH", "") + os.pathsep + d
