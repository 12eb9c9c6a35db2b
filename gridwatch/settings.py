"""The one settings object. Every field is a `GRIDWATCH_*` environment variable and the same
option on the command line; it is built once at start-up and passed down (no module reads the
environment itself)."""
from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, FilePath, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GRIDWATCH_", extra="ignore")

    # The contract's variables (CONTRACT.md section 2).
    redis_url: str = "redis://127.0.0.1:6379/0"
    mqtt_url: str = "mqtt://127.0.0.1:1883"
    topic_root: str = "gw"
    data: Path | None = Field(
        default=None, description="dataset directory; empty means the embedded Yingtan demo"
    )
    http: str = "127.0.0.1:8050"
    stale_s: float = 120.0
    offline_s: float = 600.0
    ack_timeout_s: float = 60.0

    # Our own, with defaults a bureau can live with.
    var_dir: Path = Path("var")
    future_tolerance_s: float = Field(300.0, description="fixes dated further ahead are dropped")
    max_fix_age_s: float = Field(7 * 24 * 3600.0, description="older fixes are dropped")
    max_accuracy_m: float = Field(500.0, description="fixes less accurate than this are dropped")
    max_speed_kmh: float = Field(200.0, description="a jump faster than this from the last fix is dropped")
    max_payload_bytes: int = 64 * 1024
    trail_retention_s: float = Field(7 * 24 * 3600.0, description="how long trail fixes are kept")
    escalation_depth: int = Field(3, description="how many times an unanswered order escalates")
    geofence_grace_s: float = Field(300.0, description="time outside all own grids before an alert")
    low_battery_pct: int = 15
    tile_url: str = Field("", description="map tile URL template; empty draws the grids on a plain background")
    tile_attribution: str = ""
    tile_dir: str = Field("", description="local tiles: a {z}/{x}/{y}.png directory or an .mbtiles file, "
                          "served at /tiles/{z}/{x}/{y} and drawn instead of GRIDWATCH_TILE_URL")
    tile_datum: Literal["wgs84", "gcj02"] = Field(
        "wgs84", description="datum of the tiles: gcj02 for Amap/Tencent-style tiles (the map's data is shifted to match)")
    secure_cookies: bool = Field(False, description="mark session cookies Secure (set behind TLS)")
    # --- telemetry (issue 3): ingest, live store, nearest, simulator -----------------------
    h3_res: int = Field(9, description="H3 resolution of the live cell index (res 9: ~0.1 km2 cells)")
    h3_coarse_res: int = Field(7, description="coarser H3 index used by nearest in sparse areas")
    ingest_group: str = Field("gridwatch", description="MQTT v5 shared-subscription group of the ingest workers")
    ingest_batch: int = Field(500, description="messages per Redis pipeline in the ingest worker")
    ingest_session_expiry_s: int = Field(7 * 24 * 3600, description="MQTT session expiry of ingest workers and devices")
    min_jump_m: float = Field(50.0, description="jumps shorter than this (plus both fixes' accuracy) are never 'impossible'")
    delta_interval_s: float = Field(0.1, description="live deltas to the dashboard are coalesced per device over this interval")
    events_maxlen: int = Field(100_000, description="approximate length cap of the events stream")
    trail_bucket_s: int = Field(600, description="trail fixes are grouped into one sorted set per device per bucket")
    synthetic_devices: bool = Field(False, description="accept simulator devices 'sim-*' that are not in the registry (demo, load tests)")
    # --- end telemetry --------------------------------------------------------------------
    # --- alerts (issue 4): orders, escalation, alerts, dispatcher ---------------------------
    geofence_clear_s: float = Field(60.0, description="time back inside own grids before the outside clock resets (hysteresis)")
    battery_margin_pct: float = Field(5.0, description="a low-battery alert clears only this far above the threshold")
    sos_k: int = Field(3, description="nearest colleagues sent an order on an SOS")
    check_interval_s: float = Field(5.0, description="period of the dispatcher's presence, geofence and battery checks")
    outbox_claim_idle_s: float = Field(10.0, description="a downlink read but unconfirmed this long is resent by any dispatcher")
    timezone: str = Field("Asia/Shanghai", description="time zone of the per-day audit export and order ids")
    # --- end alerts -----------------------------------------------------------------------
    # --- MQTT over TLS (issue 6): a command centre's own CA, optional client certificate -----
    mqtt_ca: FilePath | None = Field(
        default=None, description="CA file (PEM) that signs the broker's certificate, for mqtts://; "
        "when set, only this CA is trusted (not the system's)")
    mqtt_cert: FilePath | None = Field(
        default=None, description="client certificate (PEM) for brokers that require one (mqtts://)")
    mqtt_key: FilePath | None = Field(
        default=None, description="private key of GRIDWATCH_MQTT_CERT (PEM, unencrypted); empty: in the cert file")

    @field_validator("mqtt_ca", "mqtt_cert", "mqtt_key", mode="before")
    @classmethod
    def _empty_is_none(cls, v):
        # A compose file passes `GRIDWATCH_MQTT_CA=` when the operator left it unset.
        return None if v == "" else v
    # --- end MQTT over TLS ------------------------------------------------------------------
    secret_key: str | None = Field(default=None, description="session signing key; generated under var/ when empty")
    # --- the system of record (round 2, CONTRACT.md section 7) -------------------------------
    database_url: str | None = Field(
        default=None, description="PostgreSQL >= 15 of the bureau's records; empty: the private "
        "one that `gridwatch demo` starts under ./var/pg")
    media_dir: Path | None = Field(default=None, description="evidence files, each named by its SHA-256 (default ./var/media)")
    media_max_mb: int = Field(100, description="larger uploads get 413")
    tz: str = Field("Asia/Shanghai", description="the bureau's time zone: times in JSON, its day")
    task_accept_s: float = Field(1800.0, description="a task not accepted within this is escalated")
    signing_key: Path | None = Field(default=None, description="the bureau's Ed25519 key (PEM) that signs sealed "
                                     "inspections' hashes; created on first use (default ./var/keys/bureau-ed25519.pem)")
    complaint_file_per_hour: int = Field(5, description="public complaints per client address an hour (per phone: 3 a day)")
    complaint_query_per_min: int = Field(30, description="public progress queries per client address a minute")
    # --- end system of record ----------------------------------------------------------------

    @property
    def http_host(self) -> str:
        return self.http.rsplit(":", 1)[0]

    @property
    def http_port(self) -> int:
        return int(self.http.rsplit(":", 1)[1])

    def db_url(self) -> str:
        """The database: GRIDWATCH_DATABASE_URL, else the private one `gridwatch demo` runs
        under var/pg (it writes its URL to var/pg/url while it runs)."""
        if self.database_url:
            return self.database_url
        url_file = self.var_dir / "pg" / "url"
        if url_file.exists():
            return url_file.read_text().strip()
        raise RuntimeError("no database: set GRIDWATCH_DATABASE_URL, or start `gridwatch demo`, "
                           "which runs one under ./var/pg")

    def signing_key_path(self) -> Path:
        return Path(self.signing_key) if self.signing_key else self.var_dir / "keys" / "bureau-ed25519.pem"

    def media_path(self) -> Path:
        return Path(self.media_dir) if self.media_dir else self.var_dir / "media"

    def data_dir(self) -> Path:
        """The dataset directory: the given one, or the demo generated under var/."""
        return Path(self.data) if self.data else self.var_dir / "yingtan"
