"""Redis clients from GRIDWATCH_REDIS_URL: a plain client for a standalone server, a cluster
client for a Redis Cluster. Every process makes its clients here.

The URL is an ordinary `redis://` or `rediss://` URL of the server, or of any node of a
cluster (the one most tools accept, `redis-cli -u` included). Which it is, is asked of the
server at connect time (`INFO cluster`: `cluster_enabled:1`), so moving to a cluster is a
change of host and port only. A query flag `cluster=1` / `cluster=0` decides without asking
(for processes that must start while the store is still down). See docs/redis.md.
"""
from __future__ import annotations

import logging
import time
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.cluster

log = logging.getLogger(__name__)

Client = redis.Redis | redis.cluster.RedisCluster
AsyncClient = redis.asyncio.Redis | redis.asyncio.cluster.RedisCluster

_YES, _NO = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def split_url(url: str) -> tuple[str, bool | None]:
    """The URL without gridwatch's `cluster` flag, and the flag (None: not given, ask)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    flag = None
    rest = []
    for k, v in query:
        if k != "cluster":
            rest.append((k, v))
        elif v.lower() in _YES:
            flag = True
        elif v.lower() in _NO:
            flag = False
        else:
            raise ValueError(f"cluster={v!r} in the Redis URL: use cluster=1 or cluster=0")
    return urlunsplit(parts._replace(query=urlencode(rest))), flag


def _cluster_check_kw(kw: dict) -> dict:
    # the probe gets the caller's credentials and TLS settings, not its pool or retry options
    keep = ("username", "password", "ssl_ca_certs", "ssl_certfile", "ssl_keyfile", "ssl_cert_reqs")
    return {k: v for k, v in kw.items() if k in keep} | {"socket_timeout": 5, "socket_connect_timeout": 5}


def _enabled(info: dict) -> bool:
    return str(info.get("cluster_enabled", 0)) == "1"


def is_cluster(url: str, **kw) -> bool:
    """Whether the server at `url` is a Redis Cluster node (the `cluster` flag decides if given)."""
    url, flag = split_url(url)
    if flag is not None:
        return flag
    probe = redis.Redis.from_url(url, **_cluster_check_kw(kw))
    try:
        return _enabled(probe.info("cluster"))
    finally:
        probe.close()


def connect(url: str, **kw) -> Client:
    """A client for `url`: `redis.cluster.RedisCluster` on a cluster, else `redis.Redis`.
    Keyword arguments (socket_timeout, health_check_interval, ...) go to either."""
    plain, flag = split_url(url)
    if flag is None:
        try:
            flag = is_cluster(plain, **kw)
        except redis.exceptions.ConnectionError as e:
            # A standalone store may come up later (plain clients reconnect); a cluster must
            # be reachable at start, or be named with cluster=1.
            log.warning("Redis at %s unreachable (%s): using a standalone client", _safe(plain), e)
            flag = False
    if flag:
        kw.pop("health_check_interval", None)  # per-node connections; not a cluster option
        return redis.cluster.RedisCluster.from_url(plain, **kw)
    return redis.Redis.from_url(plain, **kw)


async def aconnect(url: str, **kw) -> AsyncClient:
    """The asyncio twin of `connect`."""
    plain, flag = split_url(url)
    if flag is None:
        probe = redis.asyncio.Redis.from_url(plain, **_cluster_check_kw(kw))
        try:
            flag = _enabled(await probe.info("cluster"))
        except redis.exceptions.ConnectionError as e:
            log.warning("Redis at %s unreachable (%s): using a standalone client", _safe(plain), e)
            flag = False
        finally:
            await probe.aclose()
    if flag:
        kw.pop("health_check_interval", None)
        # the asyncio client learns the slot map lazily, but its pub/sub needs it at once
        return await redis.asyncio.cluster.RedisCluster.from_url(plain, **kw).initialize()
    return redis.asyncio.Redis.from_url(plain, **kw)


# The one policy for retrying a lost connection, Redis or MQTT (telemetry.mqtt gives paho's
# reconnect the same numbers): the first retry soon, then doubling up to a ceiling.
RETRY_FIRST_S = 0.2
RETRY_MAX_S = 5.0


class Backoff:
    """Waits between tries of a lost connection (the ingest worker's batches, the dispatcher's
    loops, the web hub): RETRY_FIRST_S, doubling to RETRY_MAX_S; a failure long after the one
    before (the connection held in between) starts from the first wait again."""

    def __init__(self, first: float = RETRY_FIRST_S, most: float = RETRY_MAX_S, clock=time.monotonic) -> None:
        self.first, self.most, self.clock = first, most, clock
        self._wait, self._last = first, None

    def delay(self) -> float:
        """How long to wait before the next try, after a failure now."""
        now = self.clock()
        if self._last is not None and now - self._last > self._wait + self.most:
            self._wait = self.first
        d, self._wait, self._last = self._wait, min(self._wait * 2, self.most), now
        return d


def text(v) -> str:
    """A Redis reply as text: clients may or may not decode responses (bytes or str), and an
    absent value (None) is ''. The one decoder every package uses."""
    return v.decode() if isinstance(v, bytes) else ("" if v is None else str(v))


def text_or_none(v) -> str | None:
    """`text`, but None for an absent or empty value."""
    return None if v is None or v == b"" or v == "" else text(v)


def texts(mapping) -> dict[str, str]:
    """A hash or stream entry (HGETALL, XRANGE fields) with its keys and values as text."""
    return {text(k): text(v) for k, v in mapping.items()}


def clustered(r) -> bool:
    """Whether `r` is a cluster client (sync or asyncio)."""
    return isinstance(r, (redis.cluster.RedisCluster, redis.asyncio.cluster.RedisCluster))


def _safe(url: str) -> str:
    p = urlsplit(url)
    host = p.hostname or ""
    return f"{p.scheme}://{host}:{p.port or 6379}"
