"""The one place that turns GRIDWATCH_MQTT_URL into a connected paho client (MQTT v5,
paho callback API version 2): `mqtt://user:pass@host:port` or `mqtts://...` (TLS, verified
against GRIDWATCH_MQTT_CA when set, else the system's CAs; GRIDWATCH_MQTT_CERT/_KEY when the
broker wants a client certificate)."""
from __future__ import annotations

import ssl
import struct
import threading
from typing import Any, NamedTuple
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from gridwatch.redisconn import RETRY_FIRST_S, RETRY_MAX_S
from gridwatch.settings import Settings


class BrokerURL(NamedTuple):
    host: str
    port: int
    tls: bool
    username: str | None
    password: str | None


def parse_url(url: str) -> BrokerURL:
    u = urlsplit(url)
    if u.scheme not in ("mqtt", "mqtts", "tcp", "ssl"):
        raise ValueError(f"GRIDWATCH_MQTT_URL: scheme must be mqtt:// or mqtts://, not {u.scheme!r}")
    tls = u.scheme in ("mqtts", "ssl")
    return BrokerURL(
        u.hostname or "127.0.0.1", u.port or (8883 if tls else 1883), tls,
        unquote(u.username) if u.username is not None else None,
        unquote(u.password) if u.password is not None else None,
    )


def tls_context(settings: Settings) -> ssl.SSLContext:
    """The TLS context of an mqtts:// connection: the broker's certificate must chain to
    `settings.mqtt_ca` (only that CA: a command centre's private CA should not be vouched for by
    every public one) or, without it, to the system's CAs, and name the host we dialled.
    `mqtt_cert`/`mqtt_key` are presented when the broker asks for a client certificate."""
    ca = settings.mqtt_ca
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(ca) if ca else None)
    if settings.mqtt_cert:
        key = settings.mqtt_key
        ctx.load_cert_chain(str(settings.mqtt_cert), str(key) if key else None)
    return ctx


def session_properties(expiry_s: int, receive_maximum: int | None = None) -> Properties:
    p = Properties(PacketTypes.CONNECT)
    p.SessionExpiryInterval = int(expiry_s)
    if receive_maximum:
        p.ReceiveMaximum = int(receive_maximum)
    return p


def connect(settings: Settings, client_id: str, *, clean_start: bool = False, session_expiry_s: int | None = None,
            will: tuple[str, bytes, int, bool] | None = None, manual_ack: bool = False,
            on_message=None, on_connect=None, on_disconnect=None, on_subscribe=None, keepalive: int = 30,
            start_loop: bool = True, timeout: float = 10.0, username: str | None = None,
            password: str | None = None, userdata: Any = None,
            receive_maximum: int | None = None) -> mqtt.Client:
    """A connected MQTT v5 client. Persistent session by default (clean_start False, session
    expiry `settings.ingest_session_expiry_s`), so QoS 1 messages published while the client is
    away are kept by the broker. `will` is (topic, payload, qos, retain). With `start_loop` the
    network loop runs in paho's thread and this returns once the broker has accepted the
    connection (raises ConnectionError otherwise). `on_connect` and `on_subscribe` (the
    broker's SUBACK) get paho's v2 arguments.
    `receive_maximum` caps the QoS 1 messages the broker may have in flight to this client
    (MQTT v5 Receive Maximum): with manual acks it is the window the ingest works in."""
    b = parse_url(settings.mqtt_url)
    if not b.tls and (settings.mqtt_ca or settings.mqtt_cert or settings.mqtt_key):
        # Certificates named but a plaintext URL: refuse rather than run unencrypted unnoticed.
        raise ValueError("GRIDWATCH_MQTT_CA/_CERT/_KEY are set but GRIDWATCH_MQTT_URL is not mqtts://")
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5,
                    manual_ack=manual_ack, userdata=userdata)
    user, pw = username or b.username, password if password is not None else b.password
    if user is not None:
        c.username_pw_set(user, pw)
    if b.tls:
        c.tls_set_context(tls_context(settings))
    if will is not None:
        c.will_set(will[0], will[1], qos=will[2], retain=will[3])
    c.reconnect_delay_set(RETRY_FIRST_S, RETRY_MAX_S)  # the one retry policy (gridwatch.redisconn)
    connected = threading.Event()
    failed: list[str] = []

    def _on_connect(client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            failed.append(str(reason_code))
        connected.set()
        if on_connect is not None:
            on_connect(client, userdata, flags, reason_code, properties)

    c.on_connect = _on_connect
    if on_message is not None:
        c.on_message = on_message
    if on_disconnect is not None:
        c.on_disconnect = on_disconnect
    if on_subscribe is not None:
        c.on_subscribe = on_subscribe
    expiry = settings.ingest_session_expiry_s if session_expiry_s is None else session_expiry_s
    c.connect(b.host, b.port, keepalive=keepalive, clean_start=clean_start,
              properties=session_properties(expiry, receive_maximum))
    if start_loop:
        c.loop_start()
        if not connected.wait(timeout) or failed:
            c.loop_stop()
            raise ConnectionError(f"MQTT broker {b.host}:{b.port} refused or did not answer: {failed or 'timeout'}")
    return c


def subscribe(client: mqtt.Client, topics: list[tuple[str, int]], timeout: float = 10.0) -> list:
    """Subscribe to (topic, qos) pairs and return the broker's reason codes, one per topic, once
    it has acknowledged (SUBACK): from then on it delivers what is published to the topics it
    granted. Raises ConnectionError when there is no answer within `timeout`. For clients
    whose own code waits to subscribe (tests, benches, tools); the ingest worker subscribes from
    `on_connect` (again after every reconnect) and is `ready` on its SUBACK."""
    acked: dict[int, list] = {}
    cond = threading.Condition()
    before = client.on_subscribe

    def on_subscribe(c, userdata, mid, reason_codes, properties):
        with cond:
            acked[mid] = reason_codes
            cond.notify_all()
        if before is not None:
            before(c, userdata, mid, reason_codes, properties)

    client.on_subscribe = on_subscribe  # set before SUBSCRIBE goes out: the SUBACK cannot be missed
    try:
        rc, mid = client.subscribe(topics)
        if rc != mqtt.MQTT_ERR_SUCCESS:
            raise ConnectionError(f"subscribe failed: {mqtt.error_string(rc)}")
        with cond:
            if not cond.wait_for(lambda: mid in acked, timeout):
                raise ConnectionError(f"no SUBACK for {[t for t, _ in topics]} within {timeout} s")
    finally:
        client.on_subscribe = before
    return list(acked[mid])


def ack_many(client: mqtt.Client, mids: list[int]) -> None:
    """PUBACK each QoS 1 message id (a manual-ack client), queued as ONE write: paho's
    `ack` wakes its network thread and sends a 4-byte packet per message, a syscall pair per
    message that a batch of 500 does not need. The bytes on the wire are the same
    (MQTT v5 allows leaving out the reason code when it is success)."""
    queue = getattr(client, "_packet_queue", None)
    if queue is None:  # pragma: no cover - another paho: the public way, one by one
        for mid in mids:
            client.ack(mid, 1)
        return
    if mids:
        queue(mqtt.PUBACK, b"".join([struct.pack("!BBH", mqtt.PUBACK, 2, mid) for mid in mids]), 0, 1)
