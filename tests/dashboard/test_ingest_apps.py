"""The HTTP ingest routes against what the real phone apps send, over a real uvicorn on real
Redis and Mosquitto: every Traccar Client generation (7.x-8.x parameters in the URL of an
empty POST, 9.x background-geolocation JSON, 10.x form with heartbeats, 10.x JSON upload),
their SOS alarm end to end through the dispatcher, and OwnTracks' empty HTTP post.

The bodies are the shapes of traccar's OsmAndProtocolDecoderTest and of traccar-client /
traccar-client-sdk (HttpUploader), with ids, times and coordinates changed."""
from __future__ import annotations

import base64
import threading
import time
from datetime import datetime, timezone

import httpx
import orjson
import pytest

from alerts import keys
from dashboard.auth import set_device_secret
from tests.dashboard.conftest import report, serve
from testkit.waiting import wait_for


@pytest.fixture(scope="module")
def web(web_stack):
    with serve(web_stack.server) as srv:
        with httpx.Client(base_url=srv.url, timeout=10) as client:
            yield client


def devices(stack, start: int, n: int) -> list[str]:
    """n level-2 supervisors' devices of the demo no other test of this module moves."""
    p = stack.ctx.dataset.people
    sups = p[(p["role"] == "l2_supervisor") & p["device"].notna()]
    return list(sups["device"].iloc[start:start + n])


def accepted(stack, kind: str) -> int:
    return stack.ctx.store.stats()["accepted"].get(kind, 0)


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def bg_location(device: str, lat: float, lon: float, t: float, *, speed: float = 2.5, extras: dict | None = None,
                coords: bool = True) -> bytes:
    """Traccar Client 9.x: background-geolocation's location in the app's template."""
    loc = {"timestamp": iso(t),
           "coords": {"latitude": lat, "longitude": lon, "accuracy": 4.5, "speed": speed, "heading": -1,
                      "altitude": 35.7},
           "is_moving": True, "odometer": 0, "event": "motionchange",
           "battery": {"level": 0.79, "is_charging": False}, "activity": {"type": "still"},
           "extras": extras or {},
           "_": f"&id={device}&lat={lat}&lon={lon}&timestamp={iso(t)}&"}
    if not coords:
        del loc["coords"]
    return orjson.dumps({"location": loc, "device_id": device})


def test_traccar_client_8_url_parameters_in_an_empty_post(web, web_stack):
    d, = devices(web_stack, 20, 1)
    key = set_device_secret(web_stack.r, d)
    now = int(time.time())
    url = (f"/api/ingest/osmand?id={d}&timestamp={now}&lat=28.2461&lon=117.0333&speed=1.5&bearing=90.0"
           f"&altitude=35.0&accuracy=6.0&batt=87.0&key={key}")
    res = web.post(url, content=b"")
    assert res.status_code == 200
    s = web_stack.ctx.store.device(d)
    assert (s.lat, s.lon, s.batt, s.cog) == (28.2461, 117.0333, 87.0, 90.0)
    assert abs(s.vel - 1.5 * 1.852) < 1e-6  # knots
    # the secret as basic auth instead of `key` (a URL with user:password)
    auth = {"Authorization": "Basic " + base64.b64encode(f"{d}:{key}".encode()).decode()}
    assert web.post(f"/api/ingest/osmand?id={d}&timestamp={now + 5}&lat=28.2462&lon=117.0334",
                    headers=auth).status_code == 200
    assert web_stack.ctx.store.device(d).lat == 28.2462


def test_traccar_client_9_background_geolocation_json(web, web_stack):
    d, = devices(web_stack, 21, 1)
    key = set_device_secret(web_stack.r, d)
    t = time.time() - 3
    res = web.post(f"/api/ingest/osmand?key={key}", content=bg_location(d, 28.2471, 117.0344, t),
                   headers={"Content-Type": "application/json"})
    assert res.status_code == 200, res.text
    s = web_stack.ctx.store.device(d)
    assert (s.lat, s.lon, s.acc, s.alt, s.batt) == (28.2471, 117.0344, 4.5, 35.7, 79.0)
    assert abs(s.tst - t) < 0.01 and abs(s.vel - 2.5 * 3.6) < 1e-6 and s.cog is None  # m/s; -1 is unknown
    # the same body with a wrong key, or naming another device, is refused
    assert web.post("/api/ingest/osmand?key=wrong", content=bg_location(d, 28.2, 117.0, t),
                    headers={"Content-Type": "application/json"}).status_code == 401
    other, = devices(web_stack, 22, 1)
    assert web.post(f"/api/ingest/osmand?key={key}", content=bg_location(other, 28.2, 117.0, t),
                    headers={"Content-Type": "application/json"}).status_code == 401


def test_a_fix_a_filter_drops_is_still_a_2xx_and_counted(web, web_stack):
    """The apps resend until they get a 2xx and hold their queue behind it."""
    d, = devices(web_stack, 23, 1)
    key = set_device_secret(web_stack.r, d)
    before = web_stack.ctx.store.stats()["dropped"].get("poor_accuracy", 0)
    now = int(time.time())
    res = web.post(f"/api/ingest/osmand?id={d}&timestamp={now}&lat=28.25&lon=117.03&accuracy=5000&key={key}")
    assert res.status_code == 200
    assert web_stack.ctx.store.stats()["dropped"].get("poor_accuracy", 0) == before + 1
    # a body that can never be understood is a 4xx (JSON reason)
    res = web.post(f"/api/ingest/osmand?key={key}", content=b"{not json", headers={"Content-Type": "application/json"})
    assert res.status_code in (400, 401) and "error" in res.json()


def test_traccar_client_10_form_post_and_heartbeat_without_a_position(web, web_stack):
    d, = devices(web_stack, 24, 1)
    key = set_device_secret(web_stack.r, d)
    now = int(time.time())
    form = {"id": d, "lat": "28.2481", "lon": "117.0355", "timestamp": str(now - 60), "accuracy": "8.0",
            "altitude": "40.0", "speed": "3.89", "bearing": "180.0", "batt": "64", "charge": "false",
            "battery_health": "good", "key": key}
    res = web.post("/api/ingest/osmand", data=form)  # application/x-www-form-urlencoded
    assert res.status_code == 200, res.text
    s = web_stack.ctx.store.device(d)
    assert (s.lat, s.lon, s.batt) == (28.2481, 117.0355, 64.0) and abs(s.vel - 3.89 * 1.852) < 1e-6
    seen_before, beats = s.seen, accepted(web_stack, "heartbeat")
    time.sleep(0.05)
    res = web.post("/api/ingest/osmand", data={"id": d, "timestamp": str(now), "batt": "63", "charge": "true",
                                               "key": key})
    assert res.status_code == 200, res.text  # a heartbeat is presence, not a schema error
    s = web_stack.ctx.store.device(d)
    assert s.seen > seen_before and s.batt == 63.0 and (s.lat, s.tst) == (28.2481, now - 60)
    assert accepted(web_stack, "heartbeat") == beats + 1


def test_a_heartbeat_is_the_first_sign_of_a_device(web, web_stack):
    """A device whose first request is a heartbeat is present (live to the roster's counts,
    as any message makes it), still without a position."""
    d, = devices(web_stack, 25, 1)
    key = set_device_secret(web_stack.r, d)
    res = web.post("/api/ingest/osmand", data={"id": d, "timestamp": str(int(time.time())), "key": key})
    assert res.status_code == 200, res.text
    s = web_stack.ctx.store.device(d)
    assert s is not None and s.seen is not None and s.lat is None and s.fresh == "stale"


def test_traccar_client_10_json_upload_array(web, web_stack):
    d, = devices(web_stack, 26, 1)
    key = set_device_secret(web_stack.r, d)
    now = int(time.time())
    body = [{"id": d, "lat": 28.2491, "lon": 117.0366, "timestamp": now - 20, "accuracy": 5.0, "speed": 0.0,
             "batt": 50, "charge": False},
            {"id": d, "lat": 28.2492, "lon": 117.0367, "timestamp": now - 10, "accuracy": 5.0, "batt": 50}]
    res = web.post(f"/api/ingest/osmand?key={key}", content=orjson.dumps(body), headers={"Content-Type": "application/json"})
    assert res.status_code == 200, res.text
    assert len(web_stack.ctx.store.trail(d, now - 30, now)) == 2
    assert web_stack.ctx.store.device(d).lat == 28.2492


def test_owntracks_http_empty_body_is_200_empty_array(web, web_stack):
    d, = devices(web_stack, 27, 1)
    key = set_device_secret(web_stack.r, d)
    auth = {"Authorization": "Basic " + base64.b64encode(f"someone/{d}:{key}".encode()).decode()}
    res = web.post("/api/ingest/owntracks", content=b"", headers={**auth, "Content-Type": "application/json"})
    assert res.status_code == 200 and res.json() == []
    assert web_stack.ctx.store.device(d).seen is not None
    # without credentials it is still a 401
    assert web.post("/api/ingest/owntracks", content=b"").status_code == 401
    # a fix a filter drops (too old) was understood: 200 and the array the app expects
    old = {"_type": "location", "lat": 28.25, "lon": 117.03, "tst": int(time.time()) - 30 * 86400}
    res = web.post("/api/ingest/owntracks", json=old, headers=auth)
    assert res.status_code == 200 and res.json() == []


@pytest.fixture
def dispatcher(web_stack):
    from alerts.dispatcher import Dispatcher

    d = Dispatcher(web_stack.settings.model_copy(update={"sos_k": 2}), name="apps-test")
    t = threading.Thread(target=d.run, kwargs={"install_signals": False}, daemon=True)
    t.start()
    yield d
    d.stop.set()
    t.join(10)


@pytest.mark.parametrize("app", ["8.x url", "9.x location.alarm", "9.x extras.alarm", "10.x form"])
def test_the_apps_sos_alarm_raises_the_sos_like_st_sos(web, web_stack, dispatcher, app):
    """`alarm=sos` (query or form) and `"alarm": "sos"` in the JSON raise the alert (the wall's
    banner) and the emergency order to the nearest colleagues, as `st: sos` on MQTT does."""
    i = 30 + 4 * ["8.x url", "9.x location.alarm", "9.x extras.alarm", "10.x form"].index(app)
    victim, *colleagues = devices(web_stack, i, 3)
    lat, lon = 28.10 + 0.05 * (i - 30) / 4, 117.0500  # each case 5 km from the others
    for n, c in enumerate(colleagues):  # two colleagues on duty a few hundred metres away
        report(web_stack.ctx, c, lat + 0.002 * (n + 1), lon)
    key = set_device_secret(web_stack.r, victim)
    ps = web_stack.r.pubsub()
    ps.subscribe(keys.CHANNEL_ALERTS)
    now = int(time.time())
    json_h = {"Content-Type": "application/json"}
    if app == "8.x url":
        res = web.post(f"/api/ingest/osmand?id={victim}&timestamp={now}&lat={lat}&lon={lon}&alarm=sos&key={key}")
    elif app == "9.x location.alarm":
        body = orjson.loads(bg_location(victim, lat, lon, now))
        body["location"]["alarm"] = "sos"
        res = web.post(f"/api/ingest/osmand?key={key}", content=orjson.dumps(body), headers=json_h)
    elif app == "9.x extras.alarm":
        res = web.post(f"/api/ingest/osmand?key={key}", content=bg_location(victim, lat, lon, now, extras={"alarm": "sos"}),
                       headers=json_h)
    else:
        res = web.post("/api/ingest/osmand", data={"id": victim, "lat": str(lat), "lon": str(lon), "timestamp": str(now),
                                                   "alarm": "sos", "key": key})
    assert res.status_code == 200, res.text
    alert = wait_for(lambda: next((a for a in web_stack.ctx.alerts.list() if a["kind"] == "sos"
                                   and a["device"] == victim), None), what="the SOS alert")
    assert alert["state"] == "open"
    order = web_stack.ctx.orders.get(alert["order"])
    assert order["kind"] == "emergency" and order["source"] == "sos"
    assert {r["device"] for r in order["recipients"]} == set(colleagues)
    wall = wait_for(lambda: (m := ps.get_message(timeout=0.1)) and m["type"] == "message" and victim.encode() in m["data"]
                    and m, what="the wall's notice of the SOS")
    assert b'"sos"' in wall["data"]
    ps.close()
    web_stack.ctx.alerts.ack(alert["id"], "user:duty")


@pytest.mark.parametrize("ctype, body", [
    ("application/json", b'{"id": ["a"]}'), ("application/json", b"[]"), ("application/json", b"null"),
    ("application/json", b'{"device_id": {}, "location": {}}'),
    ("application/json", b'{"device_id": "x", "location": {"timestamp": {}, "coords": []}}'),
    ("application/x-www-form-urlencoded", b"\xff\xfe=\xff"), ("application/x-www-form-urlencoded", b"id=x&lat=1"),
    ("text/plain", b"garbage"),
])
def test_unreadable_osmand_requests_are_4xx_json_never_500(web, web_stack, ctype, body):
    d, = devices(web_stack, 28, 1)
    key = set_device_secret(web_stack.r, d)
    res = web.post(f"/api/ingest/osmand?key={key}", content=body, headers={"Content-Type": ctype})
    assert 400 <= res.status_code < 500 and "error" in res.json()
