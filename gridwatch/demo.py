"""`gridwatch demo`: the whole system on one machine. Starts redis-server, mosquitto and
PostgreSQL under ./var/ on free ports (unless their URLs are given), upgrades the records'
schema, loads the dataset and its history, creates demo accounts, runs ingest, dispatcher,
simulator and web as child processes, and stops all on Ctrl-C."""
from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time

import redis

from gridwatch.redisconn import connect
from pathlib import Path

from gridwatch.services import MosquittoServer, PostgresServer, RedisServer, ServiceError, ensure_on_path
from gridwatch.settings import Settings

DEMO_ACCOUNTS = (("admin", "admin"), ("coordinator", "coordinator"), ("duty", "viewer"))


def _env(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    for name in ("redis_url", "mqtt_url", "http", "var_dir", "topic_root", "database_url"):
        if getattr(settings, name) is not None:
            env[f"GRIDWATCH_{name.upper()}"] = str(getattr(settings, name))
    env["GRIDWATCH_DATA"] = str(settings.data_dir())
    return env


def build_demo(outdir: Path) -> str:
    """The demo dataset (geodata) and its history of records (casework), deterministic."""
    from casework import history
    from geodata.dataset import load_dataset
    from geodata.demo import build_demo_dataset

    summary = build_demo_dataset(outdir)
    return summary + "\n" + history.write(Path(outdir), load_dataset(outdir))


def ensure_demo(outdir: Path) -> Path:
    """The demo directory, built first when its grids or its history are missing."""
    outdir = Path(outdir)
    if not (outdir / "grids.geojson").exists() or not (outdir / "history" / "inspections.csv.gz").exists():
        print(build_demo(outdir), flush=True)
    else:                                          # a demo built by an older version: add what it lacks
        if not (outdir / "checklists").is_dir():    # built before checklists were data
            from casework.checklists import write_demo

            write_demo(outdir)
        if not (outdir / "conflicts.csv").exists():  # built before the draws had them
            from casework import history
            from geodata.dataset import load_dataset

            history.write_conflicts(outdir, load_dataset(outdir))
    return outdir


def create_demo_accounts(settings: Settings, r: redis.Redis) -> list[tuple[str, str, str]]:
    """Creates the demo logins and returns (name, role, password); supervisors and reporters
    share one generated password and log in with their person id."""
    from dashboard.auth import Accounts
    from geodata.store import fetch_dataset

    accounts = Accounts(r)
    out = [(name, role, accounts.add(name, role)) for name, role in DEMO_ACCOUNTS]
    shared = secrets.token_urlsafe(9)
    people = fetch_dataset(r).people
    sups = people[people["role"].isin(["l1_supervisor", "l2_supervisor"]) & people["device"].notna()]
    accounts.add_sharing([(pid, "supervisor", pid) for pid in sups["id"]], shared)
    if len(sups):
        out.append((f"{sups['id'].iloc[0]} (any supervisor's person id)", "supervisor", shared))
    reps = people[people["role"].isin(["assistant", "informant"])]
    accounts.add_sharing([(pid, "reporter", pid) for pid in reps["id"]], shared)
    if len(reps):
        out.append((f"{reps['id'].iloc[0]} (any assistant's or informant's person id)", "reporter", shared))
    return out


def run_demo(settings: Settings, extra_devices: int) -> int:
    ensure_on_path()
    started = []
    var = settings.var_dir
    children: list[subprocess.Popen] = []
    try:
        if "redis_url" not in settings.model_fields_set:
            started.append(RedisServer(workdir=var / "redis").start())
            settings = settings.model_copy(update={"redis_url": started[-1].url})
        if "mqtt_url" not in settings.model_fields_set:
            started.append(MosquittoServer(workdir=var / "mosquitto").start())
            settings = settings.model_copy(update={"mqtt_url": started[-1].url})
        if not settings.database_url:
            pg = PostgresServer(workdir=var / "pg")
            started.append(pg.start())
            settings = settings.model_copy(update={"database_url": pg.url})
            (var / "pg" / "url").write_text(pg.url + "\n")   # for other commands run beside the demo
        from casework.records import load_dataset_records
        from casework.schema import upgrade
        from geodata.dataset import load_dataset
        from gridwatch.db import connect as db_connect
        from gridwatch.loading import store_dataset

        data_dir = settings.data_dir()
        if settings.data is None:
            ensure_demo(data_dir)
        r = connect(settings.redis_url)
        ds = load_dataset(data_dir)
        counts, _ = store_dataset(r, settings, ds)
        print(f"loaded {data_dir}: {counts}")
        before, now = upgrade(settings.database_url)
        print(f"records database {settings.database_url}: schema {now}")
        t0 = time.monotonic()
        with db_connect(settings.database_url) as conn:
            rec = load_dataset_records(conn, ds, data_dir, tz=settings.tz)
        print(f"records: {rec} ({time.monotonic() - t0:.0f} s)", flush=True)
        logins = create_demo_accounts(settings, r)
        env = _env(settings)
        if extra_devices:
            env["GRIDWATCH_SYNTHETIC_DEVICES"] = "1"  # the simulator's extra sim-* terminals
        exe = [sys.executable, "-m", "gridwatch.cli"]
        for args in (["ingest", "--client-id", "gridwatch-demo-ingest"], ["dispatcher"],
                     ["simulate", "--devices", str(extra_devices)], ["web"]):
            children.append(subprocess.Popen(exe + args, env=env))
        print(f"\ngridwatch demo: http://{settings.http}/  (console /console, terminal /terminal)")
        print(f"redis {settings.redis_url}   mqtt {settings.mqtt_url}")
        for name, role, pw in logins:
            print(f"  login {name:<40} role {role:<12} password {pw}")
        print("Ctrl-C stops everything.\n", flush=True)
        stop = {"now": False}
        for sig in (signal.SIGTERM, signal.SIGINT):  # SIGINT explicitly: a background job may start with it ignored
            signal.signal(sig, lambda *_: stop.update(now=True))
        while not stop["now"]:
            for c in children:
                if c.poll() is not None:
                    print(f"{' '.join(c.args[3:])} exited with {c.returncode}; stopping the demo", file=sys.stderr)
                    return 1
            time.sleep(0.5)
        return 0
    except KeyboardInterrupt:
        return 0
    except ServiceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        # A second Ctrl-C (or the one a terminal sends the whole group) must not cut the
        # clean-up short and leave servers running.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for c in children:
            if c.poll() is None:
                c.send_signal(signal.SIGTERM)
        for c in children:
            try:
                c.wait(15)
            except subprocess.TimeoutExpired:
                c.kill()
        for s in reversed(started):
            s.stop()
        (var / "pg" / "url").unlink(missing_ok=True)
