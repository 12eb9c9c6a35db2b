"""Browser-test fixtures: the web process under a real uvicorn on a free port, and Debian's
headless Chromium driven by selenium (the flags this sandbox needs, a fresh profile)."""
from __future__ import annotations

import threading
import time

import pytest
import uvicorn

from gridwatch.services import free_port
from tests.conftest import loaded


class WebServer:
    def __init__(self, app, port: int):
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                                    lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(10)


def serve(app) -> WebServer:
    return WebServer(app, free_port())


@pytest.fixture
def chrome(tmp_path):
    from testkit.browser import BrowserMissing, chrome as start_chrome

    try:
        driver = start_chrome(tmp_path / "chrome-profile")
    except BrowserMissing as e:
        pytest.fail(f"{e} (make test installs them)")
    yield driver
    driver.quit()


def console_errors(driver) -> list[str]:
    """Severe browser-console entries, tile loads apart (no internet here)."""
    return [e["message"] for e in driver.get_log("browser")
            if e["level"] == "SEVERE" and "tile" not in e["message"].lower()]


@pytest.fixture(scope="module")
def web_overrides() -> dict:
    """Settings a test module wants for its web_stack (override the fixture in the module)."""
    return {}


@pytest.fixture(scope="module")
def web_stack(tmp_path_factory, demo_data, web_overrides, pg_server, records_template):
    """A web process's world for one test module: its own Redis (demo dataset loaded) and its
    own Mosquitto, accounts for each role, and the FastAPI server (not yet listening). A broker
    of its own matters: persistent shared-subscription sessions that other tests leave behind
    would be handed a share of this module's messages and never read them."""
    import redis as redis_lib

    from dashboard.auth import Accounts
    from dashboard.server import create_server
    from geodata.store import save_dataset
    from gridwatch.services import MosquittoServer, RedisServer
    from gridwatch.settings import Settings

    rs = RedisServer(workdir=tmp_path_factory.mktemp("web-redis"), appendonly=False).start()
    ms = MosquittoServer(workdir=tmp_path_factory.mktemp("web-mqtt")).start()
    from tests.conftest import fresh_database

    settings = Settings(redis_url=rs.url, mqtt_url=ms.url, data=demo_data,
                        var_dir=tmp_path_factory.mktemp("var"), database_url=fresh_database(pg_server, records_template),
                        **{"ack_timeout_s": 30, **web_overrides})
    r = redis_lib.Redis.from_url(rs.url)
    save_dataset(r, loaded(demo_data))
    acc = Accounts(r)
    for name, role in (("viewer1", "viewer"), ("coord1", "coordinator"), ("admin1", "admin")):
        acc.add(name, role, "pw-" + name)
    people = loaded(demo_data).people
    for name, role, prole in (("sup1", "supervisor", "l2_supervisor"), ("rep1", "reporter", "assistant")):
        acc.add(name, role, "pw-" + name, person=people[people["role"] == prole]["id"].iloc[0])
    server = create_server(settings)
    stack = type("Stack", (), {})()
    stack.settings, stack.r, stack.accounts, stack.server = settings, r, acc, server
    stack.ctx = server.state.ctx
    stack.tokens = {n: acc.new_token(n) for n in ("viewer1", "coord1", "admin1", "sup1", "rep1")}
    yield stack
    stack.ctx.close()
    r.close()
    rs.stop()
    ms.stop()


def report(ctx, device: str, lat: float, lon: float, st: str = "on_duty", tst: float | None = None):
    """A terminal's position through the real ingest pipeline (as an MQTT message would go)."""
    import orjson

    out = ctx.pipeline.handle(f"{ctx.settings.topic_root}/{device}/loc", orjson.dumps(
        {"_type": "location", "lat": lat, "lon": lon, "tst": int(tst or time.time()), "acc": 10, "st": st}))
    ctx.pipeline.flush_deltas(force=True)
    return out
