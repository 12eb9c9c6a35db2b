"""A small real jurisdiction for the end-to-end tests: two townships, three villages, nine
people with terminals, each terminal a paho client on the test broker with a persistent
session, reporting through telemetry's ingest into the live store."""
from __future__ import annotations

import queue
import threading
import time

import orjson

from testkit.jurisdiction import PEOPLE, POINT, position, small_dataset  # noqa: F401 (the tests' names)
from testkit.waiting import wait_for


class Terminal:
    """One device: a paho client (MQTT v5, persistent session, QoS 1) that reports, acks and
    collects what the platform sends it."""

    def __init__(self, settings, device: str, uplink=None):
        self.settings = settings
        self.device = device
        self.uplink = uplink  # None: over MQTT through the ingest
        self.inbox: queue.Queue = queue.Queue()
        self.received: list[dict] = []
        self.client = None
        self.connect()

    def _on_message(self, client, userdata, msg):
        body = orjson.loads(msg.payload)
        body["_topic"] = msg.topic
        body["_at"] = time.time()
        self.received.append(body)
        self.inbox.put(body)

    def _on_connect(self, client, userdata, flags, rc, props):
        root = self.settings.topic_root
        client.subscribe([(f"{root}/{self.device}/orders", 1), (f"{root}/{self.device}/alerts", 1)])

    def connect(self):
        from telemetry.mqtt import connect

        root = self.settings.topic_root
        self.client = connect(self.settings, self.device, clean_start=False, session_expiry_s=3600,
                              will=(f"{root}/{self.device}/status", b'{"st":"offline"}', 1, False),
                              on_message=self._on_message, on_connect=self._on_connect)
        self.subscribed = True
        return self

    def disconnect(self):
        """A clean disconnect keeps the session (expiry 1 h): the broker queues for us."""
        self.client.disconnect()
        self.client.loop_stop()

    def publish(self, suffix: str, body: dict):
        if self.uplink is not None:
            return self.uplink.write(self.device, suffix, body)
        info = self.client.publish(f"{self.settings.topic_root}/{self.device}/{suffix}", orjson.dumps(body), qos=1)
        info.wait_for_publish(5)

    def report(self, lat=None, lon=None, st=None, batt=None):
        lat, lon = (lat, lon) if lat is not None else position(self.device)
        body = {"_type": "location", "lat": lat, "lon": lon, "tst": int(time.time()), "acc": 10}
        if st:
            body["st"] = st
        if batt is not None:
            body["batt"] = batt
        self.publish("loc", body)

    def status(self, st: str, **extra):
        self.publish("status", {"st": st, "tst": int(time.time()), **extra})

    def ack(self, order: str, state: str, note: str = ""):
        self.publish("ack", {"order": order, "state": state, "tst": int(time.time()), "note": note})

    def orders(self, kind: str = "order") -> list[dict]:
        return [m for m in self.received if m.get("_type") == kind]

    def wait(self, pred, timeout: float = 10.0, what: str = "a message") -> dict:
        return wait_for(lambda: next((m for m in self.received if pred(m)), None), timeout,
                        f"{what} on {self.device}")


def ingest_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("telemetry.ingest") is not None


class StoreUplink:
    """Until telemetry's ingest is in the tree: a terminal's report, status and ack written
    through telemetry's LiveStore exactly as the ingest writes them (one Lua script each,
    appending the same events), so everything downstream is the real path."""

    def __init__(self, settings, dataset, world):
        import redis
        from telemetry.store import LiveStore

        self.r = redis.Redis.from_url(settings.redis_url)
        self.store = LiveStore(self.r, settings)
        self.store.ensure_scripts()
        self.world = world
        self.roles = dict(zip(dataset.people["device"], zip(dataset.people["id"], dataset.people["role"])))

    def write(self, device: str, suffix: str, body: dict) -> None:
        from telemetry.protocols import Ack, Fix, Status

        person, role = self.roles[device]
        now = time.time()
        p = self.r.pipeline(transaction=False)
        if suffix == "loc":
            l1, l2 = self.world.locate(body["lat"], body["lon"])
            self.store.queue_fix(p, Fix(device, body["tst"], body["lat"], body["lon"], body.get("acc"),
                                        batt=body.get("batt"), st=body.get("st")), now, person, role, l1, l2)
        elif suffix == "status":
            self.store.queue_status(p, Status(device, body["st"], body["tst"], body.get("lat"), body.get("lon"),
                                              body.get("batt"), body.get("note")), now, person, role)
        elif suffix == "ack":
            self.store.queue_ack(p, Ack(device, body["order"], body["state"], body["tst"], body.get("note")),
                                 now, person, role)
        self.store.execute(p)

    def close(self):
        self.r.close()


class Ingest:
    """telemetry's ingest worker (`gridwatch ingest`), in a thread, over the field's people."""

    def __init__(self, settings, dataset, index):
        from geodata.registry import Registry
        from telemetry.ingest import Pipeline
        from telemetry.worker import IngestWorker

        self.worker = IngestWorker(settings, "ingest-test", pipeline_factory=lambda r: Pipeline(
            settings, r, Registry(dataset), index))
        self.thread = threading.Thread(target=self.worker.run, kwargs={"install_signals": False}, daemon=True)

    def start(self):
        self.thread.start()
        wait_for(self.worker.ready.is_set, what="the ingest to subscribe")
        return self

    def close(self):
        self.worker.stop.set()
        self.thread.join(10)
