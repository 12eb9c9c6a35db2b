"""MQTT over TLS with the command centre's own CA: a real Mosquitto with TLS listeners (server
certificate from a CA made in the test by trustme), the broker accounts of `gridwatch
broker-config`, and the real ingest worker connected with mqtts:// and GRIDWATCH_MQTT_CA."""
from __future__ import annotations

import csv
import re
import shutil
import ssl
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import orjson
import paho.mqtt.client as mqtt
import pytest
import trustme

from gridwatch.services import LocalServer, MosquittoServer, free_port
from gridwatch.settings import Settings
from telemetry.broker import write_broker_config
from telemetry.mqtt import connect

from ..alerts.field import wait_for
from ..telemetry.conftest import TinyRegistry, tiny_grids

ROOT = Path(__file__).resolve().parents[2]
DEVICES = [("dev1", "p1"), ("dev2", "p2")]


def make_pki(d: Path) -> SimpleNamespace:
    """A local CA, the broker's certificate for 127.0.0.1/localhost, a client certificate
    whose CN is the ingest's broker account, and a second, unrelated CA."""
    d.mkdir(parents=True, exist_ok=True)
    ca, other = trustme.CA(organization_name="gridwatch test CA"), trustme.CA(organization_name="someone else")
    server = ca.issue_cert("127.0.0.1", "localhost")
    client = ca.issue_cert("gridwatch-ingest", common_name="gridwatch-ingest")
    p = SimpleNamespace(**{n: d / f"{n}.pem" for n in ("ca", "other_ca", "server", "server_key", "client", "client_key")})
    ca.cert_pem.write_to_path(str(p.ca))
    other.cert_pem.write_to_path(str(p.other_ca))
    server.cert_chain_pems[0].write_to_path(str(p.server))
    server.private_key_pem.write_to_path(str(p.server_key))
    client.cert_chain_pems[0].write_to_path(str(p.client))
    client.private_key_pem.write_to_path(str(p.client_key))
    return p


@pytest.fixture(scope="module")
def tls_broker(tmp_path_factory):
    """Mosquitto with the plain loopback listener of the fixtures plus two TLS listeners: one
    with password accounts, one that requires a client certificate (its CN is the account)."""
    d = tmp_path_factory.mktemp("tls")
    pki = make_pki(d / "pki")
    write_broker_config(d / "broker", DEVICES)
    creds = _creds(d / "broker")
    tls_port, mtls_port, other_host_port = free_port(), free_port(), free_port()
    certs = f"cafile {pki.ca}\ncertfile {pki.server}\nkeyfile {pki.server_key}\n"
    server = MosquittoServer(workdir=d / "mq", anonymous=False, extra_config=(
        f"password_file {d / 'broker' / 'passwd'}\nacl_file {d / 'broker' / 'acl'}\n"
        f"listener {tls_port} 127.0.0.1\n{certs}"
        f"listener {mtls_port} 127.0.0.1\n{certs}require_certificate true\nuse_identity_as_username true\n"
        # Loopback too, but an address the certificate does not name.
        f"listener {other_host_port} 127.0.0.2\n{certs}"
    )).start()
    wait_for(lambda: _listening(mtls_port) and _listening(other_host_port, "127.0.0.2"), what="the TLS listeners")
    yield SimpleNamespace(server=server, pki=pki, creds=creds, tls_port=tls_port, mtls_port=mtls_port,
                          other_host_port=other_host_port)
    server.stop()


def _creds(outdir: Path) -> dict[str, str]:
    with (outdir / "credentials.csv").open() as f:
        return {r["user"]: r["password"] for r in csv.DictReader(f)}


def _listening(port: int, host: str = "127.0.0.1") -> bool:
    import socket

    try:
        socket.create_connection((host, port), timeout=0.2).close()
        return True
    except OSError:
        return False


def _tls_settings(settings: Settings, url: str, **tls) -> Settings:
    # model_copy skips validation: the paths are checked here as Settings would check them.
    assert all(Path(v).is_file() for v in tls.values())
    return settings.model_copy(update={"mqtt_url": url, "mqtt_ca": None, "mqtt_cert": None, "mqtt_key": None, **tls})


def _device(tb, settings, device: str):
    s = _tls_settings(settings, f"mqtts://{device}:{tb.creds[device]}@127.0.0.1:{tb.tls_port}", mqtt_ca=tb.pki.ca)
    return connect(s, f"{device}-tls-{time.monotonic_ns()}", clean_start=True, session_expiry_s=0)


class IngestThread:
    """The real `gridwatch ingest` worker, in a thread, over the tiny registry."""

    def __init__(self, settings, client_id: str):
        from geodata.index import GridIndex
        from telemetry.ingest import Pipeline
        from telemetry.worker import IngestWorker

        # Its own share group: a worker of another test, gone with its session kept, would
        # otherwise be handed its turn of the messages.
        settings = settings.model_copy(update={"ingest_group": client_id})
        index = GridIndex.from_grids(tiny_grids())
        self.worker = IngestWorker(settings, client_id, pipeline_factory=lambda r: Pipeline(
            settings, r, TinyRegistry(), index))
        self.thread = threading.Thread(target=self.worker.run, kwargs={"install_signals": False}, daemon=True)

    def __enter__(self):
        self.thread.start()
        wait_for(lambda: self.worker.ready.is_set() or not self.thread.is_alive(), what="the ingest to connect")
        assert self.worker.ready.is_set(), "the ingest worker did not connect"
        return self

    def __exit__(self, *exc):
        self.worker.stop.set()
        self.thread.join(10)


def _report(client, device: str, lat: float, lon: float) -> None:
    body = {"_type": "location", "lat": lat, "lon": lon, "tst": int(time.time()), "acc": 10}
    client.publish(f"gw/{device}/loc", orjson.dumps(body), qos=1).wait_for_publish(5)


def _stored_through(tb, settings, rdb, s, client_id: str, device: str, lat: float, lon: float):
    """`device` reports (lat, lon) over TLS while an ingest worker with settings `s` runs; its
    state once the worker has stored it."""
    from telemetry.store import LiveStore

    with IngestThread(s, client_id):
        dev = _device(tb, settings, device)
        try:
            _report(dev, device, lat, lon)
            return wait_for(lambda: LiveStore(rdb, s).device(device), what=f"{device} stored")
        finally:
            dev.disconnect()
            dev.loop_stop()


def test_device_over_tls_is_stored_by_ingest_trusting_the_local_ca(tls_broker, settings, rdb):
    tb = tls_broker
    s = _tls_settings(settings, f"mqtts://gridwatch-ingest:{tb.creds['gridwatch-ingest']}@127.0.0.1:{tb.tls_port}",
                      mqtt_ca=tb.pki.ca)
    state = _stored_through(tb, settings, rdb, s, "ingest-tls", "dev1", 28.2210, 117.0110)
    assert (state.lat, state.lon, state.l2) == (28.2210, 117.0110, "W-S")


def test_client_certificate_is_the_account_on_the_mutual_tls_listener(tls_broker, settings, rdb):
    """No password: the broker takes the account from the certificate's CN (gridwatch-ingest),
    and its ACL applies; without a certificate the same listener refuses the client."""
    tb = tls_broker
    url = f"mqtts://127.0.0.1:{tb.mtls_port}"
    with pytest.raises(OSError):
        connect(_tls_settings(settings, url, mqtt_ca=tb.pki.ca), "no-cert", clean_start=True, timeout=3)
    s = _tls_settings(settings, url, mqtt_ca=tb.pki.ca, mqtt_cert=tb.pki.client, mqtt_key=tb.pki.client_key)
    state = _stored_through(tb, settings, rdb, s, "ingest-mtls", "dev2", 28.2710, 117.0110)
    assert state.l2 == "W-N"


@pytest.mark.parametrize("ca", [None, "other_ca"], ids=["system-cas", "another-ca"])
def test_client_that_does_not_trust_the_ca_is_refused(tls_broker, settings, ca):
    tb = tls_broker
    tls = {"mqtt_ca": getattr(tb.pki, ca)} if ca else {}
    s = _tls_settings(settings, f"mqtts://dev1:{tb.creds['dev1']}@127.0.0.1:{tb.tls_port}", **tls)
    with pytest.raises(ssl.SSLCertVerificationError, match="certificate verify failed"):
        connect(s, "untrusting", clean_start=True, timeout=3)


def test_ca_bundle_of_old_and_new_ca_is_trusted(tls_broker, settings, tmp_path):
    """CA rotation (docs/tls.md): clients trust a bundle of the outgoing and the incoming CA."""
    tb = tls_broker
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(tb.pki.other_ca.read_bytes() + tb.pki.ca.read_bytes())
    s = _tls_settings(settings, f"mqtts://dev1:{tb.creds['dev1']}@127.0.0.1:{tb.tls_port}", mqtt_ca=bundle)
    c = connect(s, "bundle", clean_start=True, session_expiry_s=0, timeout=3)
    assert c.is_connected()
    c.disconnect()
    c.loop_stop()


def test_certificate_for_another_host_is_refused(tls_broker, settings):
    """The certificate names 127.0.0.1 and localhost; the broker's listener on 127.0.0.2
    presents it too, and though it chains to the trusted CA it is refused there."""
    tb = tls_broker
    s = _tls_settings(settings, f"mqtts://dev1:{tb.creds['dev1']}@127.0.0.2:{tb.other_host_port}", mqtt_ca=tb.pki.ca)
    with pytest.raises(ssl.SSLCertVerificationError, match="mismatch"):
        connect(s, "wrong-host", clean_start=True, timeout=3)
    # the listener is up: what refused the client is the name check
    assert _listening(tb.other_host_port, "127.0.0.2")


def test_plaintext_client_cannot_talk_to_the_tls_port(tls_broker, settings):
    tb = tls_broker
    s = _tls_settings(settings, f"mqtt://dev1:{tb.creds['dev1']}@127.0.0.1:{tb.tls_port}")
    with pytest.raises(ConnectionError):
        connect(s, "plaintext", clean_start=True, timeout=3)


def test_ca_setting_with_a_plaintext_url_is_refused(tls_broker, settings, monkeypatch):
    monkeypatch.setenv("GRIDWATCH_MQTT_CA", str(tls_broker.pki.ca))
    monkeypatch.setenv("GRIDWATCH_MQTT_URL", f"mqtt://127.0.0.1:{tls_broker.server.port}")
    s = Settings()
    assert s.mqtt_ca == tls_broker.pki.ca
    with pytest.raises(ValueError, match="not mqtts://"):
        connect(s, "mixed", clean_start=True, timeout=3)


def test_cli_options_name_the_certificate_files(tls_broker):
    from typer.testing import CliRunner

    from gridwatch.cli import app

    res = CliRunner().invoke(app, ["--help"], terminal_width=200)
    assert "--mqtt-ca" in res.output and "--mqtt-cert" in res.output and "--mqtt-key" in res.output
    res = CliRunner().invoke(app, ["--mqtt-ca", "/no/such/ca.pem", "load", "--help"])
    assert res.exit_code != 0


# ---- the deployment's own mosquitto.conf, its TLS lines switched on -----------------------------

class DeployedMosquitto(LocalServer):
    """deploy/mosquitto/mosquitto.conf as shipped, with its commented TLS listeners switched on,
    container paths pointed at the test's files and the fixed ports moved to free ones."""

    def __init__(self, workdir: Path, config: str):
        super().__init__(name="mosquitto-deploy", workdir=workdir)
        self.config = config

    def command(self) -> list[str]:
        conf = self.workdir / "mosquitto.conf"
        conf.write_text(self.config)
        return [shutil.which("mosquitto") or "/usr/sbin/mosquitto", "-c", str(conf)]


def test_deploy_config_tls_listeners_are_valid_for_mosquitto(tls_broker, tmp_path):
    import os

    tb = tls_broker
    cfgdir, data = tmp_path / "config", tmp_path / "data"
    cfgdir.mkdir()
    data.mkdir()
    write_broker_config(cfgdir, DEVICES)
    for src, dst in ((tb.pki.ca, "ca.crt"), (tb.pki.server, "server.crt"), (tb.pki.server_key, "server.key")):
        shutil.copy(src, cfgdir / dst)
    text = (ROOT / "deploy/mosquitto/mosquitto.conf").read_text()
    # The TLS block: every commented line from "# listener 8883" to the first blank line.
    assert "# listener 8883" in text and "# listener 8884" in text
    text = re.sub(r"^# ((?:listener|certfile|keyfile|cafile|protocol) .*)$", r"\1", text, flags=re.M)
    ports = {p: free_port() for p in ("1883", "9001", "8883", "8884")}
    text = re.sub(r"^listener (\d+)$", lambda m: f"listener {ports[m.group(1)]} 127.0.0.1", text, flags=re.M)
    text = text.replace("/mosquitto/config/", f"{cfgdir}/").replace("/mosquitto/data/", f"{data}/")
    if os.geteuid() == 0:
        text += "user root\n"
    server = DeployedMosquitto(tmp_path / "run", text)
    server.port = ports["1883"]
    server.start()
    try:
        for p in ("8883", "8884"):
            wait_for(lambda: _listening(ports[p]), what=f"listener {p}")
        pw = _creds(cfgdir)
        # MQTT over TLS: the device's own account.
        s = Settings(mqtt_url=f"mqtts://dev1:{pw['dev1']}@127.0.0.1:{ports['8883']}", mqtt_ca=str(tb.pki.ca))
        c = connect(s, "deploy-tls", clean_start=True, session_expiry_s=0)
        c.disconnect()
        c.loop_stop()
        # MQTT over secure websockets (browser terminals): paho's websockets transport.
        assert _wss_connects(ports["8884"], tb.pki.ca, "dev1", pw["dev1"])
        assert not _wss_connects(ports["8884"], tb.pki.ca, "dev1", "wrong")
    finally:
        server.stop()


def _wss_connects(port: int, ca: Path, user: str, password: str) -> bool:
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"wss-{time.monotonic_ns()}",
                    protocol=mqtt.MQTTv5, transport="websockets")
    c.tls_set(ca_certs=str(ca), cert_reqs=ssl.CERT_REQUIRED)
    c.username_pw_set(user, password)
    got, done = [], threading.Event()
    c.on_connect = lambda _c, _u, _f, rc, _p: (got.append(rc), done.set())
    c.connect("127.0.0.1", port)
    c.loop_start()
    try:
        assert done.wait(5), "no CONNACK over wss"
        return not got[0].is_failure
    finally:
        c.disconnect()
        c.loop_stop()
