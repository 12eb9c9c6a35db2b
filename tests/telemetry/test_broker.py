"""`gridwatch broker-config` output loaded into a real Mosquitto: a device publishes only as
itself, reads only its own orders, and a wrong password is refused."""
import csv
import threading
import time

import paho.mqtt.client as mqtt
import pytest

from gridwatch.services import MosquittoServer
from telemetry.broker import BrokerConfigError, acl_text, write_broker_config
from telemetry.mqtt import subscribe
from tests.conftest import loaded

DEVICES = [("dev-a", "p-a"), ("dev-b", "p-b")]


def creds(outdir):
    with (outdir / "credentials.csv").open() as f:
        return {r["user"]: r["password"] for r in csv.DictReader(f)}


def client(port, user, password):
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"t-{user}-{time.monotonic_ns()}",
                    protocol=mqtt.MQTTv5)
    c.username_pw_set(user, password)
    got, done = [], threading.Event()
    c.on_message = lambda _c, _u, m: got.append((m.topic, m.payload))
    c.on_connect = lambda _c, _u, _f, rc, _p: (done.set(), setattr(c, "rc", rc))
    c.connect("127.0.0.1", port)
    c.loop_start()
    assert done.wait(5)
    return c, got


@pytest.fixture
def secured(tmp_path):
    out = tmp_path / "broker"
    write_broker_config(out, DEVICES)
    server = MosquittoServer(workdir=tmp_path / "mq", anonymous=False,
                             extra_config=f"password_file {out / 'passwd'}\nacl_file {out / 'acl'}\n").start()
    yield server, out
    server.stop()


def test_device_cannot_publish_as_another_or_read_its_orders(secured):
    server, out = secured
    pw = creds(out)
    ingest, got = client(server.port, "gridwatch-ingest", pw["gridwatch-ingest"])
    assert not ingest.rc.is_failure
    granted = subscribe(ingest, [("$share/g/gw/+/loc", 1), ("owntracks/#", 1)])
    assert not any(code.is_failure for code in granted)
    a, a_got = client(server.port, "dev-a", pw["dev-a"])
    # gw/dev-b/orders is not allowed: never delivered (whether or not the SUBACK refuses it)
    assert not subscribe(a, [("gw/dev-b/orders", 1), ("gw/dev-a/orders", 1)])[1].is_failure
    a.publish("gw/dev-b/loc", b"spoofed", qos=1).wait_for_publish(5)
    a.publish("owntracks/p-b/dev-b", b"spoofed-ot", qos=1).wait_for_publish(5)
    a.publish("gw/dev-a/loc", b"mine", qos=1).wait_for_publish(5)
    a.publish("owntracks/p-a/dev-a", b"mine-ot", qos=1).wait_for_publish(5)
    disp, _ = client(server.port, "gridwatch-dispatcher", pw["gridwatch-dispatcher"])
    disp.publish("gw/dev-b/orders", b"for-b", qos=1).wait_for_publish(5)
    disp.publish("gw/dev-a/orders", b"for-a", qos=1).wait_for_publish(5)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and (len(got) < 2 or len(a_got) < 1):
        time.sleep(0.05)
    time.sleep(0.3)  # give a wrongly allowed message the chance to arrive too
    assert sorted(p for _, p in got) == [b"mine", b"mine-ot"]
    assert a_got == [("gw/dev-a/orders", b"for-a")]
    for c in (ingest, a, disp):
        c.loop_stop()
        c.disconnect()


def test_wrong_password_is_refused(secured):
    server, out = secured
    c, _ = client(server.port, "dev-a", "not-the-password")
    assert c.rc.is_failure
    c.loop_stop()


def test_rerun_keeps_passwords_and_hashes_them(tmp_path):
    out = tmp_path / "b"
    write_broker_config(out, DEVICES)
    first = creds(out)
    counts = write_broker_config(out, DEVICES + [("dev-c", None)])
    second = creds(out)
    assert counts["kept"] == len(first) and second["dev-a"] == first["dev-a"] and "dev-c" in second
    assert first["dev-a"] not in (out / "passwd").read_text() and "$7$" in (out / "passwd").read_text()
    assert oct((out / "credentials.csv").stat().st_mode & 0o777) == "0o600"


def test_acl_refuses_ids_that_are_not_topic_levels():
    with pytest.raises(BrokerConfigError):
        acl_text([("dev/x", None)])
    assert "topic write owntracks/p-a/dev-a" in acl_text(DEVICES)


def test_cli_writes_config_for_every_registered_device(tmp_path, demo_data):
    from typer.testing import CliRunner

    from gridwatch.cli import app

    res = CliRunner().invoke(app, ["--data", str(demo_data), "broker-config", str(tmp_path / "b")])
    assert res.exit_code == 0, res.output
    people = loaded(demo_data).people
    devices = {d for d in people["device"] if isinstance(d, str) and d}
    users = set(creds(tmp_path / "b")) - {"gridwatch-ingest", "gridwatch-dispatcher", "gridwatch-web"}
    assert users == devices and len(devices) == 175
