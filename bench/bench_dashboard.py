"""The wall in real headless Chromium under load: device publish -> marker moved in the browser
(p50/p95), bytes pushed per second over the WebSocket, main-thread blocking per update, first
load, and the web process's peak RSS. Goals (issue 5): p95 <= 250 ms with 1,000 terminals at
1 Hz; <= 50 ms main-thread per update with 10k live supervisors; first load <= 3 s; RSS <= 600 MB.

Everything is real: private redis-server and mosquitto, `gridwatch ingest` and `gridwatch web`
as subprocesses, the Yingtan demo dataset, the simulator driving every registered terminal plus
synthetic `sim-*` ones (1,000 in all) at 1 Hz over MQTT, and a probe device whose positions
are published from here with the wall-clock time. Two phases in one run: the 1,000 reporting
terminals alone, then with 9,000 more live devices written through the live store (the
ingest's own write path), so the wall holds 10k live markers. The floor in the same run: the
probe's publish -> its live delta on Redis pub/sub (what the web process waits for). The wall
has its casework too: a private PostgreSQL with the demo's whole history feeds the casework
strip and layers (issue 18: first load <= 3 s at 10k with them on, three loads in a row).

`python -m bench dashboard` or `python -m bench.bench_dashboard [--seconds S] [--extra N] [--loads 3] [--no-records]`.
The stack (`Stack`) and the browser helpers are shared with `bench/screenshots.py`.
"""
from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import zlib
from pathlib import Path

import orjson

from testkit.waiting import wait_for, wait_for_web

ROOT = Path(__file__).resolve().parents[1]
PROBE = "sim-probe"              # a synthetic device the simulator does not move
PROBE_AT = (28.2400, 117.0300)   # inside the city; it steps ~11 m north per report
WALL_W, WALL_H = 1920, 1080


# -- the stack ------------------------------------------------------------------------------------

class Stack:
    """Redis, Mosquitto, the demo dataset, accounts, `gridwatch ingest` (+ `dispatcher`) and
    `gridwatch web` as subprocesses. A context manager; logs go under `work/logs`."""

    def __init__(self, work: Path, *, synthetic: bool = False, dispatcher: bool = True,
                 ack_timeout_s: float = 120.0, records: bool = False):
        self.work, self.synthetic, self.with_dispatcher = work, synthetic, dispatcher
        self.ack_timeout_s = ack_timeout_s
        self.records = records  # a private PostgreSQL with the demo's history (the casework layers)
        self.procs: dict[str, subprocess.Popen] = {}
        self.servers: list = []

    def __enter__(self) -> "Stack":
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        import redis

        from dashboard.auth import Accounts
        from geodata.dataset import load_dataset
        from geodata.demo import ensure_demo_dataset
        from geodata.store import save_dataset
        from gridwatch.services import MosquittoServer, RedisServer, ensure_on_path, free_port
        from gridwatch.settings import Settings

        ensure_on_path()
        rs = RedisServer(workdir=self.work / "redis", appendonly=False).start()
        self.servers.append(rs)
        ms = MosquittoServer(workdir=self.work / "mosquitto").start()
        self.servers.append(ms)
        data = ensure_demo_dataset(ROOT / "var" / "yingtan")
        http = f"127.0.0.1:{free_port()}"
        self.settings = Settings(redis_url=rs.url, mqtt_url=ms.url, data=data, http=http,
                                 var_dir=self.work / "var", ack_timeout_s=self.ack_timeout_s,
                                 synthetic_devices=self.synthetic)
        self.url = f"http://{http}"
        self.r = redis.Redis.from_url(rs.url)
        self.dataset = load_dataset(data)
        save_dataset(self.r, self.dataset)
        self.accounts = Accounts(self.r)
        self.passwords = {}
        for name, role in (("duty", "viewer"), ("coordinator", "coordinator")):
            self.passwords[name] = self.accounts.add(name, role, "pw-" + name)
        self.env = {**os.environ, "PYTHONPATH": str(ROOT), "GRIDWATCH_REDIS_URL": rs.url,
                    "GRIDWATCH_MQTT_URL": ms.url, "GRIDWATCH_DATA": str(data), "GRIDWATCH_HTTP": http,
                    "GRIDWATCH_VAR_DIR": str(self.work / "var"),
                    "GRIDWATCH_ACK_TIMEOUT_S": str(self.ack_timeout_s)}
        if self.synthetic:
            self.env["GRIDWATCH_SYNTHETIC_DEVICES"] = "1"
        if self.records:
            self.env["GRIDWATCH_DATABASE_URL"] = self._records(data)
        logs = self.work / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        for cmd in ("ingest", "web") + (("dispatcher",) if self.with_dispatcher else ()):
            self.procs[cmd] = subprocess.Popen([sys.executable, "-m", "gridwatch.cli", cmd], cwd=ROOT, env=self.env,
                                               stdout=open(logs / f"{cmd}.log", "wb"), stderr=subprocess.STDOUT)
        self._wait_web()
        self._wait_ingest()

    def _records(self, data: Path) -> str:
        """A private PostgreSQL (fsync on) with the demo register and its whole history, as
        `make demo` has it: the wall's casework strip and layers then show real numbers."""
        from casework import records, schema
        from geodata.dataset import load_dataset
        from gridwatch.db import connect
        from gridwatch.services import PostgresServer

        if os.geteuid() == 0:
            os.chmod(self.work, 0o755)  # PostgreSQL runs as `postgres`, which must reach its directory
        pg = PostgresServer(workdir=self.work / "pg").start()
        self.servers.append(pg)
        schema.upgrade(pg.url)
        t = time.perf_counter()
        with connect(pg.url) as c:
            counts = records.load_dataset_records(c, load_dataset(data), data)
        print(f"  records: demo history loaded in {time.perf_counter() - t:.0f} s ({counts.get('inspections')} "
              f"inspections, {counts.get('tasks')} tasks, {counts.get('complaints')} complaints)", flush=True)
        return pg.url

    def _wait_web(self, timeout: float = 60.0) -> None:
        try:
            wait_for_web(self.url, self.procs["web"], timeout=timeout)
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}; see {self.work / 'logs' / 'web.log'}") from exc

    def _wait_ingest(self, timeout: float = 60.0) -> None:
        """The ingest's shared subscription exists once a probe report reaches the store."""
        from telemetry.store import LiveStore

        store = LiveStore(self.r, self.settings)
        dev = self.devices("l1_supervisor")[-1]
        client = self.mqtt("bench-warmup")
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                client.publish(f"{self.settings.topic_root}/{dev}/loc", orjson.dumps(
                    {"_type": "location", "lat": 28.3, "lon": 117.2, "tst": int(time.time()), "acc": 10}), qos=1)
                if store.device(dev) is not None:
                    return
                time.sleep(0.3)
        finally:
            client.disconnect()
            client.loop_stop()
        raise RuntimeError(f"the ingest stored nothing; see {self.work / 'logs' / 'ingest.log'}")

    def mqtt(self, client_id: str):
        from telemetry.mqtt import connect

        return connect(self.settings, client_id, clean_start=True, session_expiry_s=0)

    def devices(self, role: str) -> list[str]:
        p = self.dataset.people
        return list(p[(p["role"] == role) & p["device"].notna()]["device"])

    def simulator(self, extra: int = 0, **kw):
        from telemetry.simulator import Simulator

        return Simulator.from_dataset(self.settings, self.dataset, extra, **kw)

    def stop(self) -> None:
        for p in self.procs.values():
            if p.poll() is None:
                p.terminate()
        for p in self.procs.values():
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
        for s in reversed(self.servers):
            s.stop()


# -- the browser ------------------------------------------------------------------------------------

def chrome(width: int, height: int, profile: Path):
    """Headless Chromium at exactly WxH (testkit.browser; narrow ones as a phone: the page's
    meta viewport applies)."""
    from testkit.browser import BrowserMissing, chrome as start_chrome

    try:
        return start_chrome(profile, width, height, exact_viewport=True, page_load_timeout=60,
                            extra=("--hide-scrollbars",))
    except BrowserMissing as e:
        raise SystemExit(str(e)) from None


def login(driver, url: str, user: str, password: str, page: str = "/", expect: str = ".leaflet-container") -> None:
    from selenium.webdriver.common.by import By

    driver.get(f"{url}/login?next={page}")
    driver.find_element(By.NAME, "username").send_keys(user)
    driver.find_element(By.NAME, "password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, expect), what=f"{expect} after login")


# Runs before every document's own scripts (CDP Page.addScriptToEvaluateOnNewDocument). It notes
# when the probe's marker is drawn at a new latitude (the draw time gridwatch.js records), when
# the wall first holds `__gwbExpect` markers, Chrome's long tasks (>= 50 ms), the gaps between
# animation frames, and the User Timing entries gridwatch.js makes for the supervisor layer:
# `gridwatch:apply` (one server-sent delta parsed and written into the layer's arrays) and
# `gridwatch:draw` (one redraw of the canvas, covering every delta since the last one).
INSTRUMENT_JS = """
(function () {
  const B = window.__gwb = {changes: [], applies: [], draws: [], paints: [], longtasks: [], gaps: [], loadedAt: null, count: 0};
  const probe = %(probe)s;
  let last = null, prevFrame = null;
  function poll() {
    const g = window.gridwatch;
    if (!g) return;
    const d = g.drawn[probe];
    if (d && d.lat !== last) { last = d.lat; B.changes.push([d.lat, performance.timeOrigin + d.t, Date.now()]); }
    if (B.loadedAt === null && window.__gwbExpect) {
      B.count = Object.keys(g.drawn).length;
      if (B.count >= window.__gwbExpect) B.loadedAt = performance.now();
    }
  }
  setInterval(poll, 4);
  function frame(t) {
    if (prevFrame !== null && t - prevFrame > 20) B.gaps.push([performance.timeOrigin + prevFrame, t - prevFrame]);
    prevFrame = t; poll(); requestAnimationFrame(frame);
  }
  requestAnimationFrame(frame);
  try {
    new PerformanceObserver(l => { for (const e of l.getEntries()) B.longtasks.push([performance.timeOrigin + e.startTime, e.duration]); })
      .observe({type: "longtask", buffered: true});
  } catch (e) {}
  try {
    new PerformanceObserver(l => {
      for (const e of l.getEntries()) {
        const d = e.detail || {}, t = performance.timeOrigin + e.startTime;
        if (e.name === "gridwatch:apply") B.applies.push([t, e.duration, d.features || 0]);
        else if (e.name === "gridwatch:draw") B.draws.push([t, e.duration, d.changed || 0, d.markers || 0]);
        else if (e.name === "gridwatch:paint") B.paints.push([t, e.duration, d.worker_ms || 0]);
      }
    }).observe({type: "measure"});
  } catch (e) {}
})();
"""


def instrument(driver, probe: str = PROBE) -> None:
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument",
                           {"source": INSTRUMENT_JS % {"probe": orjson.dumps(probe).decode()}})


class WsTap(threading.Thread):
    """Counts the WebSocket frames the wall receives. Dash 4 keeps its WebSocket in a
    SharedWorker, which the page's performance log (`goog:loggingPrefs`) never sees, so this
    is a second DevTools client on the browser that attaches to every shared worker and
    enables the Network domain there. Payload bytes are after any permessage-deflate."""

    def __init__(self, driver):
        from websockets.sync.client import connect

        super().__init__(daemon=True)
        addr = driver.capabilities["goog:chromeOptions"]["debuggerAddress"]
        with urllib.request.urlopen(f"http://{addr}/json/version", timeout=5) as resp:
            url = orjson.loads(resp.read())["webSocketDebuggerUrl"]
        self.ws = connect(url, max_size=None, open_timeout=10, legacy=True)
        self.n, self.bytes, self.frames, self.extensions = 0, 0, 0, set()
        # An estimate of the wire size: the same payloads through one deflate stream with the
        # negotiated 12-bit window and context takeover, as permessage-deflate sends them.
        self.deflate, self.wire = zlib.compressobj(wbits=-12), 0
        self.lock = threading.Lock()
        self.sessions: dict[str, str] = {}   # session -> target
        self.attach()

    def _send(self, method: str, params: dict | None = None, session: str | None = None) -> None:
        self.n += 1
        msg = {"id": self.n, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        self.ws.send(orjson.dumps(msg).decode())

    def run(self) -> None:
        try:
            for raw in self.ws:
                m = orjson.loads(raw)
                method, params = m.get("method"), m.get("params", {})
                if method == "Target.targetCreated" and params["targetInfo"]["type"] == "shared_worker":
                    if params["targetInfo"]["targetId"] not in self.sessions.values():
                        self._send("Target.attachToTarget", {"targetId": params["targetInfo"]["targetId"], "flatten": True})
                elif method == "Target.attachedToTarget":
                    self.sessions[params["sessionId"]] = params["targetInfo"]["targetId"]
                    self._send("Network.enable", {}, params["sessionId"])
                elif method == "Target.detachedFromTarget":
                    self.sessions.pop(params.get("sessionId"), None)
                elif method == "Network.webSocketFrameReceived":
                    data = params["response"].get("payloadData", "").encode()
                    with self.lock:
                        self.bytes += len(data)
                        self.wire += len(self.deflate.compress(data) + self.deflate.flush(zlib.Z_SYNC_FLUSH)) - 4
                        self.frames += 1
                elif method == "Network.webSocketHandshakeResponseReceived":
                    headers = {k.lower(): v for k, v in params["response"].get("headers", {}).items()}
                    self.extensions.add(headers.get("sec-websocket-extensions", "none"))
        except Exception:  # noqa: BLE001 - the browser went away
            return

    def attach(self) -> None:
        """(Re)discovers the targets: every shared worker not yet followed is attached."""
        self._send("Target.setDiscoverTargets", {"discover": False})
        self._send("Target.setDiscoverTargets", {"discover": True})

    def detach(self) -> None:
        """Lets go of the workers: while DevTools holds a shared worker it outlives its page,
        and the next page would join that worker's old connection instead of opening its own."""
        for session in list(self.sessions):
            self._send("Target.detachFromTarget", {"sessionId": session})
        self.sessions.clear()

    def take(self) -> tuple[int, int, int]:
        """(payload bytes, estimated wire bytes, frames) received since the last call."""
        with self.lock:
            out, self.bytes, self.wire, self.frames = (self.bytes, self.wire, self.frames), 0, 0, 0
        return out

    def close(self) -> None:
        self.ws.close()


# -- measuring ------------------------------------------------------------------------------------

def pct(xs: list[float], q: float) -> float:
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q / 100 * (len(xs) - 1))))]


class RssSampler(threading.Thread):
    """Peak resident set of one process, sampled every 0.2 s."""

    def __init__(self, pid: int):
        import psutil

        super().__init__(daemon=True)
        self.proc = psutil.Process(pid)
        self.peak = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.2):
            try:
                self.peak = max(self.peak, self.proc.memory_info().rss)
            except Exception:  # noqa: BLE001 - the process ended
                return

    def reset(self) -> int:
        peak, self.peak = self.peak, 0
        return peak


class DeltaWatch(threading.Thread):
    """The floor: when the probe's live delta appears on Redis pub/sub (what the web waits for)."""

    def __init__(self, r, probe: str):
        super().__init__(daemon=True)
        self.pubsub = r.pubsub()
        from telemetry.store import DELTAS

        self.pubsub.subscribe(DELTAS)
        self.probe, self.seen = probe, {}

    def run(self) -> None:
        try:
            self._listen()
        except Exception:  # noqa: BLE001 - Redis stopped at the end of the run
            pass

    def _listen(self) -> None:
        for msg in self.pubsub.listen():
            if msg["type"] != "message":
                continue
            t = time.time()
            for d in orjson.loads(msg["data"]):
                if d.get("device") == self.probe and d.get("lat") is not None:
                    self.seen.setdefault(round(d["lat"], 5), t)


class Probe:
    """Publishes the probe's position every 1.0-1.5 s (random phase against the coalescing
    windows), each a new latitude; remembers the wall-clock time of each publish."""

    def __init__(self, stack: Stack):
        self.stack, self.client = stack, stack.mqtt("bench-probe")
        self.sent: dict[float, float] = {}
        self.k, self.tst = 0, 0

    def publish(self) -> None:
        self.k += 1
        lat = round(PROBE_AT[0] + 0.0001 * self.k, 6)
        self.tst = max(self.tst + 1, int(time.time()))
        body = orjson.dumps({"_type": "location", "lat": lat, "lon": PROBE_AT[1], "tst": self.tst, "acc": 5, "st": "on_duty"})
        self.sent[round(lat, 5)] = time.time()
        self.client.publish(f"{self.stack.settings.topic_root}/{PROBE}/loc", body, qos=1)

    def run_for(self, seconds: float, rng: random.Random) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.publish()
            time.sleep(rng.uniform(1.0, 1.5))
        time.sleep(1.5)  # the last one lands

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def add_live_devices(stack: Stack, n: int, rng: random.Random) -> None:
    """n more live devices, written as the ingest writes them (LiveStore.queue_fix)."""
    import numpy as np

    from geodata.index import GridIndex
    from telemetry.protocols import Fix
    from telemetry.store import LiveStore

    minx, miny, maxx, maxy = stack.dataset.grids.total_bounds
    lats = np.array([rng.uniform(miny, maxy) for _ in range(n)])
    lons = np.array([rng.uniform(minx, maxx) for _ in range(n)])
    l1s, l2s = GridIndex.from_grids(stack.dataset.grids).locate(lats, lons)
    store = LiveStore(stack.r, stack.settings)
    store.ensure_scripts()
    now = time.time()
    for start in range(0, n, 1000):
        p = stack.r.pipeline(transaction=False)
        for i in range(start, min(n, start + 1000)):
            d = f"sim-x{i:05d}"
            store.queue_fix(p, Fix(d, now, float(lats[i]), float(lons[i]), 10.0, batt=80.0, st="on_duty"),
                            now, d, "assistant", l1s[i], l2s[i])
        store.execute(p)


def first_load(driver, tap: WsTap, url: str, expect: int) -> dict:
    """Navigation -> the wall holds `expect` markers, from a blank page with the browser's
    cache emptied first (a wall display switched on; the server is warm). Also when the
    snapshot had been applied and what applying and drawing it cost."""
    tap.detach()
    driver.get("about:blank")
    time.sleep(1.0)
    driver.execute_cdp_cmd("Network.clearBrowserCache", {})
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": f"window.__gwbExpect = {int(expect)};"})
    driver.get(url + "/")
    loaded = wait_for(lambda: driver.execute_script("return window.__gwb && window.__gwb.loadedAt"), timeout=60,
                      what=f"{expect} markers on the wall") / 1000
    b = driver.execute_script("return {applies: window.__gwb.applies, draws: window.__gwb.draws, t0: performance.timeOrigin}")
    tap.attach()
    snap = max(b["applies"], key=lambda a: a[2], default=[b["t0"], float("nan"), 0])
    big = [d for d in b["draws"] if d[3] >= expect]
    return {"load_s": loaded, "snapshot_at_s": (snap[0] + snap[1] - b["t0"]) / 1000, "snapshot_ms": snap[1],
            "snapshot_features": snap[2], "first_draw_ms": big[0][1] if big else float("nan")}


def measure_phase(driver, tap: WsTap, probe: Probe, watch: DeltaWatch, seconds: float, rng) -> dict:
    driver.execute_script("const B = window.__gwb; B.changes = []; B.applies = []; B.draws = []; B.longtasks = []; B.gaps = [];")
    tap.take()
    t0 = time.time()
    probe.sent.clear()
    probe.run_for(seconds, rng)
    window = time.time() - t0
    nbytes, wire, frames = tap.take()
    b = driver.execute_script("return window.__gwb")
    drawn = {round(lat, 5): t_ms / 1000 for lat, t_ms, _now in b["changes"]}
    to_browser = [drawn[k] - t for k, t in probe.sent.items() if k in drawn]
    to_delta = [watch.seen[k] - t for k, t in probe.sent.items() if k in watch.seen]
    applies = [a for a in b["applies"] if a[0] / 1000 >= t0]
    draws = [d for d in b["draws"] if d[0] / 1000 >= t0 and d[2] > 0]
    longtasks = [d for s, d in b["longtasks"] if s / 1000 >= t0]
    gaps = [g for g in b["gaps"] if g[0] / 1000 >= t0]
    # Per update, the supervisor layer's own main-thread work: a redraw plus every delta it
    # covers (applied since the previous redraw); and the whole frame that carried it (the gap
    # between the animation frames around the redraw, whatever else ran in it: 16.7 ms if none).
    per_update, frame_ms, prev = [], [], 0.0
    for t, ms, _changed, _markers in draws:
        per_update.append(ms + sum(a[1] for a in applies if prev <= a[0] < t))
        prev = t
        frame_ms.append(max((g for s, g in gaps if s <= t <= s + g), default=16.7))
    return {
        "window_s": window, "sent": len(probe.sent), "to_browser": to_browser, "to_delta": to_delta,
        "bytes_s": nbytes / window, "wire_s": wire / window, "frames_s": frames / window,
        "updates": len(applies), "redraws": len(draws), "apply_ms": [a[1] for a in applies],
        "draw_ms": [d[1] for d in draws], "update_ms": per_update, "frame_ms": frame_ms,
        "delta_features": [a[2] for a in applies], "longtasks": longtasks, "gaps": [g for _s, g in gaps],
        "markers": driver.execute_script("return Object.keys(window.gridwatch.drawn).length"),
    }


def report(name: str, m: dict, load: dict, rss: int) -> list[str]:
    ms = lambda xs, q: pct(xs, q) * 1000  # noqa: E731
    lt = m["longtasks"]
    return [
        f"{name}: {m['markers']} markers on the wall, {m['updates']} deltas in {m['window_s']:.0f} s "
        f"(median {pct(m['delta_features'], 50):.0f} features each), {m['redraws']} redraws",
        f"  publish -> marker drawn:  n={len(m['to_browser'])}/{m['sent']}  p50 {ms(m['to_browser'], 50):.0f} ms  "
        f"p95 {ms(m['to_browser'], 95):.0f} ms  max {max(m['to_browser'], default=float('nan')) * 1000:.0f} ms  (goal p95 <= 250 ms)",
        f"  floor, publish -> live delta on Redis pub/sub: n={len(m['to_delta'])}  p50 {ms(m['to_delta'], 50):.0f} ms  "
        f"p95 {ms(m['to_delta'], 95):.0f} ms",
        f"  WebSocket received: {m['bytes_s'] / 1024:.1f} KiB/s of payload (~{m['wire_s'] / 1024:.1f} KiB/s deflated on "
        f"the wire) in {m['frames_s']:.1f} frames/s",
        f"  main thread per update (deltas applied + one redraw): p50 {pct(m['update_ms'], 50):.1f} / p95 "
        f"{pct(m['update_ms'], 95):.1f} / max {max(m['update_ms'], default=float('nan')):.1f} ms (goal <= 50 ms); "
        f"delta apply p50 {pct(m['apply_ms'], 50):.2f} ms, redraw p50 {pct(m['draw_ms'], 50):.1f} / "
        f"p95 {pct(m['draw_ms'], 95):.1f} ms",
        f"  frame carrying a redraw: p50 {pct(m['frame_ms'], 50):.0f} / p95 {pct(m['frame_ms'], 95):.0f} ms",
        f"  long tasks (>= 50 ms): {len(lt)} in the window, p50 {pct(lt, 50):.0f} ms, max {max(lt, default=0):.0f} ms; "
        f"busy {sum(lt) / 1000 / m['window_s'] * 100:.0f}% of the time",
        f"  first load (cache emptied, navigation -> all markers drawn; the slowest if several): {load['load_s']:.2f} s (goal <= 3 s); "
        f"snapshot of {load['snapshot_features']} applied at {load['snapshot_at_s']:.2f} s "
        f"(parse + apply {load['snapshot_ms']:.0f} ms, first full draw {load['first_draw_ms']:.0f} ms)",
        f"  web process peak RSS: {rss / 2**20:.0f} MB (goal <= 600 MB)",
    ]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="bench_dashboard", description=__doc__.split("\n\n")[0])
    ap.add_argument("--terminals", type=int, default=1000, help="reporting terminals at 1 Hz (registered + sim-*)")
    ap.add_argument("--extra", type=int, default=9000, help="further live devices in phase 2 (10k in all)")
    ap.add_argument("--seconds", type=float, default=40.0, help="probe reports per phase, about one a second")
    ap.add_argument("--loads", type=int, default=3, help="first loads in a row at 10k (the goal holds for each)")
    ap.add_argument("--no-records", action="store_true", help="no PostgreSQL: the wall without its casework")
    args = ap.parse_args(argv)
    rng = random.Random(5)
    work = Path(tempfile.mkdtemp(prefix="bench-dashboard-"))
    print(f"bench dashboard: work dir {work}; load average {os.getloadavg()[0]:.1f} at start", flush=True)
    sim = driver = probe = None
    with Stack(work, synthetic=True, dispatcher=False, records=not args.no_records) as stack:
        try:
            rss = RssSampler(stack.procs["web"].pid)
            rss.start()
            registered = len(stack.devices("l1_supervisor") + stack.devices("l2_supervisor"))
            sim = stack.simulator(max(0, args.terminals - registered), interval_s=1.0, seed=3)
            n_sim = len(sim.terminals)
            sim.start()
            watch = DeltaWatch(stack.r, PROBE)
            watch.start()
            probe = Probe(stack)
            probe.publish()
            time.sleep(5.0)  # every terminal has reported
            driver = chrome(WALL_W, WALL_H, work / "chrome")
            tap = WsTap(driver)
            tap.start()
            instrument(driver)
            login(driver, stack.url, "duty", stack.passwords["duty"])
            wait_for(lambda: driver.execute_script("return Object.keys(window.gridwatch.drawn).length") >= n_sim * 0.9,
                     what="the terminals' markers")
            results = []
            for phase, extra in (("1k", 0), ("10k", args.extra)):
                if extra:
                    add_live_devices(stack, extra, rng)
                from telemetry.store import LiveStore

                expect = int(LiveStore(stack.r, stack.settings).presence_counts()["live"] * 0.97)
                loads = [first_load(driver, tap, stack.url, expect) for _ in range(args.loads if extra else 1)]
                load = max(loads, key=lambda x: x["load_s"])
                if len(loads) > 1:
                    print(f"  {phase}: first loads in a row: " + ", ".join(f"{x['load_s']:.2f} s" for x in loads), flush=True)
                time.sleep(2.0)
                m = measure_phase(driver, tap, probe, watch, args.seconds, rng)
                results.append((phase, m, load, rss.reset()))
                print("\n".join(report(f"{phase} live ({n_sim} reporting at 1 Hz, {extra} more live)", m, load,
                                       results[-1][3])), flush=True)
            print(f"WebSocket extensions negotiated: {', '.join(sorted(tap.extensions)) or '?'}")
            print(f"simulator sent {sim.sent} messages; load average {os.getloadavg()[0]:.1f} at the end")
        finally:
            if driver is not None:
                driver.quit()
            if probe is not None:
                probe.close()
            if sim is not None:
                sim.stop()
    (_, m1, load1, rss1), (_, m2, load2, rss2) = results
    ok = (pct(m1["to_browser"], 95) <= 0.25 and pct(m2["update_ms"], 95) <= 50
          and max(load1["load_s"], load2["load_s"]) <= 3
          and max(rss1, rss2) <= 600 * 2**20)
    shutil.rmtree(work, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
