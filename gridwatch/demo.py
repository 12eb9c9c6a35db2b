"""`gridwatch demo`: the whole system on one machine. Starts redis-server and mosquitto under
./var/ on free ports (unless their URLs are given), loads the dataset, creates demo accounts,
runs ingest, dispatcher, simulator and web as child processes, and stops all on Ctrl-C."""
from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time

import redis

from gridwatch.redisconn import connect
from gridwatch.services import MosquittoServer, RedisServer, ServiceError, ensure_on_path
from gridwatch.settings import Settings

DEMO_ACCOUNTS = (("admin", "admin"), ("coordinator", "coordinator"), ("duty", "viewer"))


def _env(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    for name in ("redis_url", "mqtt_url", "http", "var_dir", "topic_root"):
        env[f"GRIDWATCH_{name.upper()}"] = str(getattr(settings, name))
    env["GRIDWATCH_DATA"] = str(settings.data_dir())
    return env


def create_demo_accounts(settings: Settings, r: redis.Redis) -> list[tuple[str, str, str]]:
    """Creates the demo logins and returns (name, role, password); supervisors share one
    generated password and log in with their person id."""
    from dashboard.auth import Accounts
    from geodata.store import fetch_dataset

    accounts = Accounts(r)
    out = [(name, role, accounts.add(name, role)) for name, role in DEMO_ACCOUNTS]
    shared = secrets.token_urlsafe(9)
    people = fetch_dataset(r).people
    sups = people[people["role"].isin(["l1_supervisor", "l2_supervisor"]) & people["device"].notna()]
    for pid in sups["id"]:
        accounts.add(pid, "supervisor", password=shared, person=pid)
    if len(sups):
        out.append((f"{sups['id'].iloc[0]} (any supervisor's person id)", "supervisor", shared))
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
        from geodata.demo import ensure_demo_dataset
        from geodata.dataset import load_dataset
        from gridwatch.loading import store_dataset

        data_dir = settings.data_dir()
        if settings.data is None:
            ensure_demo_dataset(data_dir)
        r = connect(settings.redis_url)
        counts, _ = store_dataset(r, settings, load_dataset(data_dir))
        print(f"loaded {data_dir}: {counts}")
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
