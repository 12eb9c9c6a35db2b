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


PG_BIN = Path("/usr/lib/postgresql/15/bin")


def _pg_exe(name: str) -> str:
    found = PG_BIN / name
    return str(found) if found.exists() else (shutil.which(name) or name)


@dataclass(kw_only=True)
class PostgresServer(LocalServer):
    """A private PostgreSQL cluster in `workdir` (initdb on first start). PostgreSQL refuses to
    run as root, so as root initdb and the server run as the `postgres` OS user (the Debian
    package creates it), and the data directory is handed to that user. The server is its own
    process group, so kill() takes the backends down with the postmaster (a kill -9 of the
    postmaster alone leaves backends holding its shared memory)."""

    name: str = "postgres"
    package: str = "postgresql"
    fsync: bool = True          # tests turn it off
    database: str = "gridwatch"

    def _as_owner(self) -> dict:
        if os.geteuid() != 0:
            return {}
        return {"user": "postgres", "group": "postgres", "extra_groups": []}

    @property
    def datadir(self) -> Path:
        return self.workdir.resolve() / "data"

    def _prepare(self) -> None:
        self.workdir = self.workdir.resolve()
        self.workdir.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.workdir, "postgres", "postgres")
            reach = subprocess.run(["test", "-w", str(self.workdir)], **self._as_owner())
            if reach.returncode != 0:
                raise ServiceError(f"the postgres user cannot reach {self.workdir} (PostgreSQL refuses to run "
                                   "as root, so it runs as postgres): put the var directory where every user "
                                   "can traverse, or set GRIDWATCH_DATABASE_URL")
        if (self.datadir / "PG_VERSION").exists():
            return
        if shutil.which(_pg_exe("initdb")) is None:
            raise ServiceError("initdb is not on PATH: install it (apt-get install postgresql)")
        done = subprocess.run(
            [_pg_exe("initdb"), "-D", str(self.datadir), "-U", "postgres", "--auth=trust",
             "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"],
            capture_output=True, text=True, **self._as_owner())
        if done.returncode != 0:
            raise ServiceError(f"initdb failed: {done.stderr.strip() or done.stdout.strip()}")

    def command(self) -> list[str]:
        return [_pg_exe("postgres"), "-D", str(self.datadir), "-p", str(self.port),
                "-k", str(self.workdir), "-c", "listen_addresses=127.0.0.1",
                "-c", f"fsync={'on' if self.fsync else 'off'}",
                "-c", "max_connections=200", "-c", "shared_buffers=128MB"]

    def start(self, timeout: float = 30.0) -> "PostgresServer":
        self._prepare()
        log = self.log
        if os.geteuid() == 0 and not log.exists():
            log.touch()
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(self.command(), cwd=self.workdir, stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True,
                                         **self._as_owner())
        _wait_port(self.port, self.proc, timeout, self.name, log)
        self._wait_ready(timeout)
        return self

    def _wait_ready(self, timeout: float) -> None:
        import psycopg

        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(self.admin_url, connect_timeout=2, autocommit=True) as conn:
                    if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                                        (self.database,)).fetchone():
                        conn.execute(f'CREATE DATABASE "{self.database}"')
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise ServiceError(f"postgres did not accept connections; see {self.log}")
                time.sleep(0.05)

    def kill(self) -> None:
        """kill -9 of the whole server: postmaster and backends."""
        if self.proc is None or self.proc.poll() is not None:
            self.proc = None
            return
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self.proc = None

    def stop(self, sig: int = signal.SIGINT, timeout: float = 20.0) -> None:
        # SIGINT is PostgreSQL's fast shutdown: open sessions are ended, nothing committed is lost.
        super().stop(sig, timeout)

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def url_of(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    @property
    def url(self) -> str:
        return self.url_of(self.database)


def ensure_on_path() -> None:
    """Debian installs mosquitto in /usr/sbin, which a non-root PATH may lack."""
    for d in ("/usr/sbin", "/sbin"):
        if d not in os.environ.get("PATH", "").split(os.pathsep):
            os.environ["PATH"] = os.environ.get("PATH", "") + os.pathsep + d
