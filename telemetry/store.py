"""The live position store in Redis: latest state per device, H3 cell membership, presence,
the events stream for alerts, trails, and the pub/sub channel of live deltas.

Every key is listed in docs/redis.md. Each write of live state is ONE server-side script
(state, cell membership, presence and event in one atomic step, all under the `{live}` hash
tag so it stays in one Redis Cluster slot); a batch of them goes out in one pipeline.
"""
from __future__ import annotations

import time
from typing import Any, Iterable, NamedTuple

import h3
import numpy as np
import orjson
import redis
from redis.cluster import RedisCluster

from telemetry.protocols import Ack, Fix, Heartbeat, Status

LIVE = "gw:{live}"
DEV = LIVE + ":dev:"          # hash per device: latest state
CELL = LIVE + ":cell:"        # hash per H3 cell (fine and coarse): device -> packed record
OCC = LIVE + ":occ"           # hash: coarse cell -> number of live devices in it
OCCST = LIVE + ":occst"       # hash: "coarse cell|status|role" -> number of live devices (nearest's filters)
SEEN = LIVE + ":seen"         # zset: device -> last message time (0 after its will)
FIXAGE = LIVE + ":fixage"     # hash: 10-s bucket of latest-fix time -> device count (presence counts)
FIXAGE_S = 10
EVENTS = LIVE + ":events"     # stream: status changes, SOS, wills, acks (alerts read it)
DELTAS = LIVE + ":deltas"     # pub/sub channel: coalesced live deltas for the dashboard
STATS = LIVE + ":stats"       # hash: ingest counters of all workers (Tally), read by /metrics

# Upper bounds (s) of the ingest lag histogram: store time minus the fix's own time.
LAG_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600, 86400)


class Tally(NamedTuple):
    """What one ingest batch counted: messages received, drops by reason, accepted by kind
    (fix, status, ack) and the lag of each accepted fix."""
    messages: int
    dropped: dict[str, int]
    accepted: dict[str, int]
    lags: list[float]


def trail_key(device: str, bucket: int) -> str:
    return f"gw:{{trail:{device}}}:{bucket}"


# The record kept in cell membership, so nearest filters without another round trip:
#   lat|lon|tst|status|role|person
REC_SEP = "|"

# KEYS: 1 device hash, 2 seen, 3 fixage, 4 occ, 5 events, 6 new fine cell, 7 new coarse cell
# ARGV: 1 op, 2 device, 3 now, 4 person, 5 role, 6 events maxlen, 7 cell key prefix, 8.. op args
# Old cells are named from the device hash (same {live} tag, so the same slot): the one place
# a key is not passed in KEYS, because it is only known inside the atomic step.
_APPLY_LUA = r"""
local dev, seenk, fixk, occk, evk = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local op, device, now = ARGV[1], ARGV[2], tonumber(ARGV[3])
local person, role, maxlen, prefix = ARGV[4], ARGV[5], ARGV[6], ARGV[7]
local h = redis.call('HMGET', dev, 'tst', 'cell', 'coarse', 'st', 'st_tst', 'gone', 'seen', 'lat', 'lon', 'l1', 'l2', 'batt',
                     'oc')
local cur_tst, cur_cell, cur_coarse, cur_st, cur_st_tst, gone = h[1], h[2], h[3], h[4], h[5], h[6]
local eff = cur_st or 'on_duty'
local flags = 0
local occst, cur_oc = occk .. 'st', h[13] or ''

-- The device's place in the per-status counts (OCCST): "coarse|status|role", kept in the
-- device hash ('oc') so the count it left is the one decremented, whatever changed since.
local function occ_set(coarse, st)
  local oc = ''
  if coarse and coarse ~= '' then oc = coarse .. '|' .. st .. '|' .. role end
  if oc == cur_oc then return end
  if cur_oc ~= '' and redis.call('HINCRBY', occst, cur_oc, -1) <= 0 then redis.call('HDEL', occst, cur_oc) end
  if oc ~= '' then
    redis.call('HINCRBY', occst, oc, 1)
    redis.call('HSET', dev, 'oc', oc)
  else
    redis.call('HDEL', dev, 'oc')
  end
  cur_oc = oc
end

local function record(lat, lon, tst, st)
  return lat .. '|' .. lon .. '|' .. tst .. '|' .. st .. '|' .. role .. '|' .. person
end
local function drop_membership()
  if cur_cell and cur_cell ~= '' then redis.call('HDEL', prefix .. cur_cell, device) end
  if cur_coarse and cur_coarse ~= '' then
    redis.call('HDEL', prefix .. cur_coarse, device)
    if redis.call('HINCRBY', occk, cur_coarse, -1) <= 0 then redis.call('HDEL', occk, cur_coarse) end
  end
  occ_set('', '')
end
local function fix_bucket(t)
  -- presence counts without a per-device sorted set: devices per 10-s bucket of their latest
  -- fix time (capped by arrival time, 0 after the will or before any fix)
  local b = tostring(math.floor(t / 10))
  local old = redis.call('HGET', dev, 'fb')
  if old == b then return end
  if old then
    if redis.call('HINCRBY', fixk, old, -1) <= 0 then redis.call('HDEL', fixk, old) end
  end
  redis.call('HINCRBY', fixk, b, 1)
  redis.call('HSET', dev, 'fb', b)
end
local function event(fields)
  local args = {evk, 'MAXLEN', '~', maxlen, '*', 'device', device, 'person', person, 'role', role, 'at', ARGV[3]}
  for i = 1, #fields do args[#args + 1] = fields[i] end
  redis.call('XADD', unpack(args))
end
local function touch()
  -- any message from the device proves it is there: presence, and back from its will
  if not h[7] or tonumber(h[7]) < now then redis.call('HSET', dev, 'seen', ARGV[3]) end
  redis.call('ZADD', seenk, 'GT', now, device)
  if not h[7] then fix_bucket(0) end  -- first message: every device is counted somewhere
  if gone then
    redis.call('HDEL', dev, 'gone')
    if h[1] then fix_bucket(math.min(tonumber(h[1]), now)) end
    -- re-enter the cells it was in when it went away (its last known position)
    local c, cc = redis.call('HGET', dev, 'gcell'), redis.call('HGET', dev, 'gcoarse')
    if c then
      local rec = record(h[8], h[9], h[1], eff)
      redis.call('HSET', prefix .. c, device, rec)
      redis.call('HSET', prefix .. cc, device, rec)
      redis.call('HINCRBY', occk, cc, 1)
      redis.call('HSET', dev, 'cell', c, 'coarse', cc)
      cur_cell, cur_coarse = c, cc
      occ_set(cc, eff)
    end
    redis.call('HDEL', dev, 'gcell', 'gcoarse')
    event({'kind', 'status', 'st', eff, 'prev', 'offline', 'tst', ARGV[3], 'l1', h[10] or '', 'l2', h[11] or ''})
    flags = flags + 4
  end
end

if op == 'fix' then
  -- ARGV 8 tst, 9 lat, 10 lon, 11 acc, 12 alt, 13 vel, 14 cog, 15 batt, 16 st, 17 cell, 18 coarse, 19 l1, 20 l2
  local tst = tonumber(ARGV[8])
  touch()
  if cur_tst and tonumber(cur_tst) >= tst then
    return flags  -- a late fix: the trail has it, the live position never moves back
  end
  local st = eff
  if ARGV[16] ~= '' then st = ARGV[16] end
  local cell, coarse = ARGV[17], ARGV[18]
  if cur_cell and cur_cell ~= '' and cur_cell ~= cell then redis.call('HDEL', prefix .. cur_cell, device) end
  if cur_coarse ~= coarse then
    if cur_coarse and cur_coarse ~= '' then
      redis.call('HDEL', prefix .. cur_coarse, device)
      if redis.call('HINCRBY', occk, cur_coarse, -1) <= 0 then redis.call('HDEL', occk, cur_coarse) end
    end
    redis.call('HINCRBY', occk, coarse, 1)
  end
  local rec = record(ARGV[9], ARGV[10], ARGV[8], st)
  redis.call('HSET', KEYS[6], device, rec)
  redis.call('HSET', KEYS[7], device, rec)
  redis.call('HSET', dev, 'tst', ARGV[8], 'lat', ARGV[9], 'lon', ARGV[10], 'cell', cell, 'coarse', coarse,
             'l1', ARGV[19], 'l2', ARGV[20], 'person', person, 'role', role)
  local names = {'acc', 'alt', 'vel', 'cog'}
  for i = 1, 4 do
    if ARGV[10 + i] ~= '' then redis.call('HSET', dev, names[i], ARGV[10 + i]) else redis.call('HDEL', dev, names[i]) end
  end
  if ARGV[15] ~= '' then redis.call('HSET', dev, 'batt', ARGV[15]) end
  occ_set(coarse, st)
  fix_bucket(math.min(tst, now))
  flags = flags + 1
  if ARGV[16] ~= '' and ARGV[16] ~= eff then
    redis.call('HSET', dev, 'st', ARGV[16], 'st_tst', ARGV[8])
    event({'kind', 'status', 'st', ARGV[16], 'prev', eff, 'tst', ARGV[8], 'lat', ARGV[9], 'lon', ARGV[10],
           'batt', ARGV[15], 'l1', ARGV[19], 'l2', ARGV[20]})
    flags = flags + 2
  end
  return flags

elseif op == 'status' then
  -- ARGV 8 st, 9 tst, 10 lat, 11 lon, 12 batt, 13 note
  local st, tst = ARGV[8], tonumber(ARGV[9])
  touch()
  local late = cur_st_tst and tonumber(cur_st_tst) > tst
  if not late then
    redis.call('HSET', dev, 'st', st, 'st_tst', ARGV[9], 'person', person, 'role', role)
    if ARGV[12] ~= '' then redis.call('HSET', dev, 'batt', ARGV[12]) end
  end
  -- a change is an event; so is every SOS, even one arriving late from an offline queue
  if (not late and st ~= eff) or st == 'sos' then
    local lat, lon = ARGV[10], ARGV[11]
    if lat == '' then lat, lon = h[8] or '', h[9] or '' end
    event({'kind', 'status', 'st', st, 'prev', eff, 'tst', ARGV[9], 'lat', lat, 'lon', lon, 'batt', ARGV[12],
           'note', ARGV[13], 'late', late and '1' or '', 'l1', h[10] or '', 'l2', h[11] or ''})
    flags = flags + 2
  end
  if not late and st ~= eff and cur_cell and cur_cell ~= '' then
    local f = redis.call('HMGET', dev, 'lat', 'lon', 'tst')
    local rec = record(f[1], f[2], f[3], st)
    redis.call('HSET', prefix .. cur_cell, device, rec)
    redis.call('HSET', prefix .. cur_coarse, device, rec)
    occ_set(cur_coarse, st)
  end
  return flags

elseif op == 'will' then
  if gone or not h[7] then return 0 end  -- already offline, or never seen: nothing to say
  drop_membership()
  redis.call('HSET', dev, 'gone', ARGV[3], 'cell', '', 'coarse', '')
  if cur_cell and cur_cell ~= '' then redis.call('HSET', dev, 'gcell', cur_cell, 'gcoarse', cur_coarse) end
  redis.call('ZADD', seenk, 0, device)
  fix_bucket(0)
  event({'kind', 'status', 'st', 'offline', 'prev', eff, 'will', '1', 'tst', ARGV[3], 'lat', h[8] or '', 'lon', h[9] or '',
         'l1', h[10] or '', 'l2', h[11] or ''})
  return 2

elseif op == 'forget' then
  -- the device left the dataset (gridwatch load): out of the cells, the counts and presence
  drop_membership()
  local b = redis.call('HGET', dev, 'fb')
  if b and redis.call('HINCRBY', fixk, b, -1) <= 0 then redis.call('HDEL', fixk, b) end
  redis.call('ZREM', seenk, device)
  redis.call('DEL', dev)
  return 0

elseif op == 'seen' then
  -- ARGV 8 batt: a message without a position (a heartbeat) is presence, nothing more
  touch()
  redis.call('HSET', dev, 'person', person, 'role', role)
  if ARGV[8] ~= '' then redis.call('HSET', dev, 'batt', ARGV[8]) end
  return flags

elseif op == 'ack' then
  -- ARGV 8 order, 9 state, 10 tst, 11 note
  touch()
  event({'kind', 'ack', 'order', ARGV[8], 'state', ARGV[9], 'tst', ARGV[10], 'note', ARGV[11]})
  return flags + 2
end
return redis.error_reply('unknown op ' .. op)
"""

# Members of the given cells as ONE string, "device|record" lines: a single bulk reply costs
# the client far less to parse than thousands of small ones.
_FETCH_LUA = r"""
local out = {}
for i = 1, #KEYS do
  local kv = redis.call('HGETALL', KEYS[i])
  for j = 1, #kv, 2 do out[#out + 1] = kv[j] .. '|' .. kv[j + 1] end
end
return table.concat(out, '\n')
"""

# Nearest, server side: read the given cells group by group ("rings": a ring, or cells the
# client ordered nearest first), keep only eligible members (status, role, fix age, not
# excluded), and stop after the first group at which k are eligible and the k-th distance is
# within that group's bound (computed by the client, telemetry/nearest.py).
# KEYS: 1 the occ hash (not read: it only routes the call to the `{live}` slot on a Cluster).
# ARGV: lat lon k statuses roles min_tst exclude seed nrings, then per ring its cells (their
# H3 indexes as 16 hex digits each, one after another: "0" and the usual 15) and its bound
# (the least distance of anything beyond it);
# statuses, roles and exclude are ",a,b," lists, min_tst a time; each of them '' for no limit;
# seed: distances of the k best candidates the client has from an earlier call ("d1,d2,...";
# their devices come in exclude, so none is counted twice).
# Like the apply script it names `{live}` cell keys itself (one slot): sixty-odd keys per query
# cost the client more to send than the search costs Redis. Returns {done (1/0), lines of
# "distance|device|record"} (when done, only the new members within the k-th distance). The
# haversine is h3's (same radius, same formula: greatCircleDistanceRads), in metres.
_NEAREST_LUA = r"""
local rad, sin, cos, sqrt, atan2, abs = math.rad, math.sin, math.cos, math.sqrt, math.atan2, math.abs
local match, format, sub, gmatch = string.match, string.format, string.sub, string.gmatch
local R = 6371007.180918475
local lat1, lon1 = rad(tonumber(ARGV[1])), rad(tonumber(ARGV[2]))
local k, min_tst, nr, cos1 = tonumber(ARGV[3]), tonumber(ARGV[6]), tonumber(ARGV[9]), cos(lat1)
local function set(list)
  if list == '' then return nil end
  local t = {}
  for v in gmatch(list, '[^,]+') do t[v] = true end
  return t
end
local okst, okrole, excl = set(ARGV[4]), set(ARGV[5]), set(ARGV[7])
-- every eligible member that may be among the k best (device, record, distance), and the k
-- smallest distances known, ascending (m of them)
local devs, recs, dists, top, n = {}, {}, {}, {}, 0
for d in gmatch(ARGV[8], '[^,]+') do top[#top + 1] = tonumber(d) end
table.sort(top)
for i = #top, k + 1, -1 do top[i] = nil end
local m, worst = #top, math.huge
if m == k then worst = top[k] + 0.01 end
-- what may still be among the k best, as "distance|device|record" lines
local function kept()
  local out = {}
  for i = 1, n do
    if dists[i] <= worst then out[#out + 1] = format('%.17g|', dists[i]) .. devs[i] .. '|' .. recs[i] end
  end
  return table.concat(out, '\n')
end
for ring = 1, nr do
  local cells, bound = ARGV[8 + 2 * ring], tonumber(ARGV[9 + 2 * ring])
  for at = 2, #cells, 16 do
    local kv = redis.call('HGETALL', 'gw:{live}:cell:' .. sub(cells, at, at + 14))
    for x = 1, #kv, 2 do
      local rec = kv[x + 1]
      local la, lo, ts, st, ro = match(rec, '^([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)|')
      local la2 = rad(tonumber(la))
      -- the latitude difference alone is a lower bound of the distance: skip the haversine
      -- for what cannot be among the k best
      if (not okst or okst[st]) and (not okrole or okrole[ro]) and (not min_tst or tonumber(ts) >= min_tst)
         and (not excl or not excl[kv[x]]) and abs(la2 - lat1) * R <= worst then
        local lo2 = rad(tonumber(lo))
        local sa, so = sin((la2 - lat1) / 2), sin((lo2 - lon1) / 2)
        local A = sa * sa + cos1 * cos(la2) * so * so
        local d = 2 * R * atan2(sqrt(A), sqrt(1 - A))
        if d <= worst then
          n = n + 1
          devs[n], recs[n], dists[n] = kv[x], rec, d
          if m < k or d < top[k] then  -- one of the k best so far (a near-tie is only kept)
            if m == k then top[m] = nil; m = m - 1 end
            local i = m
            while i >= 1 and top[i] > d do top[i + 1] = top[i]; i = i - 1 end
            top[i + 1] = d
            m = m + 1
            if m == k then worst = top[k] + 0.01 end
          end
        end
      end
    end
  end
  if m == k and worst <= bound then
    -- settled: send only the k best (and anything within 1 cm of the k-th: every near-tie)
    return {1, kept()}
  end
end
return {0, kept()}
"""

# The occupied coarse cells as one comma-separated string (see _FETCH_LUA on why one string).
_OCCUPIED_LUA = r"""
return table.concat(redis.call('HKEYS', KEYS[1]), ',')
"""

# The occupied coarse cells with their number of live devices, and the same counts per status
# and role: two strings, "cell=n,..." and "cell|status|role=n,...". KEYS: 1 occ, 2 occst.
_OCCUPANCY_LUA = r"""
local out = {}
for i = 1, 2 do
  local kv, parts = redis.call('HGETALL', KEYS[i]), {}
  for j = 1, #kv, 2 do parts[#parts + 1] = kv[j] .. '=' .. kv[j + 1] end
  out[i] = table.concat(parts, ',')
end
return out
"""


def _num(v: float | None) -> str:
    """Compact decimal text for Redis (no float noise, '' for absent)."""
    if v is None:
        return ""
    t = type(v)
    if t is int:  # the common types first: this runs ~16 times per stored fix
        return str(v)
    if t is float and v.is_integer() and abs(v) < 1e15:
        return str(int(v))
    if t is not float and v == int(v) and abs(v) < 1e15:
        return str(int(v))
    return f"{v:.6f}".rstrip("0").rstrip(".")


def presence(tst: float | None, seen: float | None, gone: bool, now: float,
             stale_s: float, offline_s: float) -> str:
    """live / stale / offline: the will or `offline_s` without any message makes a device
    offline; a position older than `stale_s` makes it stale."""
    if gone or seen is None or now - seen > offline_s:
        return "offline"
    if tst is None or now - tst > stale_s:
        return "stale"
    return "live"


class DeviceState(NamedTuple):
    device: str
    person: str | None
    role: str | None
    lat: float | None
    lon: float | None
    tst: float | None       # time of the latest fix (device clock)
    seen: float | None      # time of the latest message (our clock)
    status: str             # duty status: on_duty (default), off_duty, busy, sos
    fresh: str              # presence: live, stale, offline
    batt: float | None
    acc: float | None
    vel: float | None
    cog: float | None
    alt: float | None
    l1: str | None
    l2: str | None
    cell: str | None

    def as_dict(self) -> dict[str, Any]:
        return self._asdict()


class TrailFix(NamedTuple):
    tst: float
    lat: float
    lon: float
    acc: float | None
    vel: float | None
    cog: float | None
    batt: float | None
    alt: float | None


def _f(v: Any) -> float | None:
    if v is None or v == b"" or v == "":
        return None
    return float(v)


def _s(v: Any) -> str | None:
    if v is None or v == b"" or v == "":
        return None
    return v.decode() if isinstance(v, bytes) else v


def _b(v) -> bytes:
    if isinstance(v, bytes):
        return v
    if isinstance(v, str):
        return v.encode()
    if isinstance(v, float):
        return repr(v).encode()
    return str(v).encode()


class Batch:
    """A pipeline that packs RESP itself: the ingest hot path sends ~20 arguments per message,
    and redis-py's generic packing cost more than everything else in the worker together
    (measured: ~100 us of 130 us per message). Same three methods as a redis-py pipeline."""

    def __init__(self, r: redis.Redis) -> None:
        self.r = r
        self.parts: list[bytes] = []
        self.n = 0

    def __len__(self) -> int:
        return self.n

    def _cmd(self, *args) -> None:
        enc = [a if type(a) is bytes else a.encode() if type(a) is str else _b(a) for a in args]
        self.parts.append(b"*%d\r\n" % len(enc) + b"".join([b"$%d\r\n%b\r\n" % (len(a), a) for a in enc]))
        self.n += 1

    def execute_command(self, *args) -> None:
        """Queue any command (redis-py's pipeline method of the same name)."""
        self._cmd(*args)

    def raw(self, command: bytes) -> None:
        """One command already in RESP (LiveStore's templates for the per-fix writes)."""
        self.parts.append(command)
        self.n += 1

    def evalsha(self, sha, numkeys, *args) -> None:
        self._cmd(b"EVALSHA", sha, numkeys, *args)

    def zadd(self, key, mapping: dict) -> None:
        self._cmd(b"ZADD", key, *(x for m, sc in mapping.items() for x in (sc, m)))

    def expireat(self, key, when) -> None:
        self._cmd(b"EXPIREAT", key, int(when))

    def execute(self) -> list:
        """Send everything, read every reply; a reply that is an error is returned, not raised,
        except that the first error is raised after all replies are read (like redis-py)."""
        if not self.n:
            return []
        pool = self.r.connection_pool
        conn = pool.get_connection()
        replies, first_error = [], None
        try:
            conn.send_packed_command([b"".join(self.parts)], check_health=False)
            for _ in range(self.n):
                try:
                    replies.append(conn.read_response())
                except redis.exceptions.ResponseError as e:
                    replies.append(e)
                    first_error = first_error or e
        except BaseException:
            conn.disconnect()
            raise
        finally:
            pool.release(conn)
        if first_error is not None:
            raise first_error
        return replies


class ClusterBatch:
    """Batch's methods on a Redis Cluster: the commands go through redis-py's cluster pipeline,
    which sends each node its share (a batch spans the `{live}` slot and every device's trail
    slot, so it is not a transaction; each script call is atomic on its own). The commands are
    kept here, not in a pipeline, so a batch can be sent again after NOSCRIPT."""

    def __init__(self, r) -> None:
        self.r = r
        self.cmds: list[tuple] = []

    def __len__(self) -> int:
        return len(self.cmds)

    def execute_command(self, name, *args) -> None:
        # redis-py's cluster routing looks the command up by its name as text
        self.cmds.append((name.decode() if isinstance(name, bytes) else name, *args))

    def evalsha(self, sha, numkeys, *args) -> None:
        # the cluster pipeline refuses its evalsha() method; the command itself is routed by its keys
        self.cmds.append(("EVALSHA", sha, numkeys, *args))

    def zadd(self, key, mapping: dict) -> None:
        self.cmds.append(("ZADD", key, *(x for m, sc in mapping.items() for x in (sc, m))))

    def expireat(self, key, when) -> None:
        self.cmds.append(("EXPIREAT", key, int(when)))

    def execute(self) -> list:
        if not self.cmds:
            return []
        pipe = self.r.pipeline(transaction=False)
        for c in self.cmds:
            pipe.execute_command(*c)
        return pipe.execute()


class LiveStore:
    """Reads and writes of the live store. Writers: the ingest pipeline. Readers: nearest,
    alerts, dashboard. Nobody else touches the keys."""

    def __init__(self, r: redis.Redis, settings) -> None:
        self.r = r
        self.settings = settings
        self.res = settings.h3_res
        self.coarse_res = settings.h3_coarse_res
        self._apply = r.register_script(_APPLY_LUA)
        self._expiring: set[str] = set()
        self._tmpl_sha: str | None = None
        self._tmpl = b""
        self._roster: tuple[str | None, dict[str, tuple[str, str]]] | None = None  # (version, roster)

    # ---- writes (ingest) -------------------------------------------------------------------

    def _common(self, op: str, device: str, now: float, person: str | None, role: str | None) -> list:
        return [op, device, f"{now:.3f}", person or "", role or "", self.settings.events_maxlen, CELL]

    def _keys(self, device: str, cell: str = "", coarse: str = "") -> list[str]:
        return [DEV + device, SEEN, FIXAGE, OCC, EVENTS, CELL + cell, CELL + coarse]

    def queue_fix(self, pipe, fix: Fix, now: float, person: str | None, role: str | None,
                  l1: str | None, l2: str | None) -> None:
        """Queue the live write (one script call) and the trail write of one accepted fix."""
        cell = h3.latlng_to_cell(fix.lat, fix.lon, self.res)
        coarse = h3.cell_to_parent(cell, self.coarse_res)
        if type(pipe) is Batch:
            # The hot path: the same command as below, packed through a template (a third of
            # the worker's time went to packing ~30 arguments one by one).
            enc = [x.encode() for x in (
                DEV + fix.device, CELL + cell, CELL + coarse, fix.device, f"{now:.3f}", person or "", role or "",
                _num(fix.tst), _num(fix.lat), _num(fix.lon), _num(fix.acc), _num(fix.alt), _num(fix.vel),
                _num(fix.cog), _num(fix.batt), fix.st or "", cell, coarse, l1 or "", l2 or "")]
            flat: list = [None] * 40
            flat[::2] = map(len, enc)
            flat[1::2] = enc
            pipe.raw(self._fix_template() % tuple(flat))
        else:
            args = self._common("fix", fix.device, now, person, role) + [
                _num(fix.tst), _num(fix.lat), _num(fix.lon), _num(fix.acc), _num(fix.alt), _num(fix.vel),
                _num(fix.cog), _num(fix.batt), fix.st or "", cell, coarse, l1 or "", l2 or "",
            ]
            pipe.evalsha(self._apply.sha, 7, *self._keys(fix.device, cell, coarse), *args)
        self.queue_trail(pipe, fix)

    def _fix_template(self) -> bytes:
        """The EVALSHA of a fix in RESP, the layout of _keys and _common: constants filled in, a
        (%d length, %b value) slot for each of queue_fix's 20 variable arguments. Rebuilt if the
        script's sha changes."""
        sha = self._apply.sha
        if self._tmpl_sha != sha:
            var = b"$%d\r\n%b\r\n"

            def const(x) -> bytes:
                x = _b(x)
                return (b"$%d\r\n" % len(x) + x + b"\r\n").replace(b"%", b"%%")

            self._tmpl = b"".join([
                b"*30\r\n", const("EVALSHA"), const(sha), const("7"),
                var, const(SEEN), const(FIXAGE), const(OCC), const(EVENTS), var, var,  # KEYS
                const("fix"), var, var, var, var, const(self.settings.events_maxlen), const(CELL),
                var * 13])
            self._tmpl_sha = sha
        return self._tmpl

    def queue_trail(self, pipe, fix: Fix) -> None:
        b = self.settings.trail_bucket_s
        bucket = int(fix.tst // b) * b
        key = trail_key(fix.device, bucket)
        member = REC_SEP.join((_num(fix.tst), _num(fix.lat), _num(fix.lon), _num(fix.acc), _num(fix.vel),
                               _num(fix.cog), _num(fix.batt), _num(fix.alt)))
        if type(pipe) is Batch:
            k, sc, m = key.encode(), repr(float(fix.tst)).encode(), member.encode()
            pipe.raw(b"*4\r\n$4\r\nZADD\r\n$%d\r\n%b\r\n$%d\r\n%b\r\n$%d\r\n%b\r\n"
                     % (len(k), k, len(sc), sc, len(m), m))
        else:
            pipe.zadd(key, {member: float(fix.tst)})
        if key not in self._expiring:
            # one EXPIREAT per bucket per worker: the bucket lives retention past its end
            if len(self._expiring) > 500_000:
                self._expiring.clear()
            self._expiring.add(key)
            pipe.expireat(key, int(bucket + b + self.settings.trail_retention_s))

    def queue_status(self, pipe, msg: Status, now: float, person: str | None, role: str | None) -> None:
        if msg.will:
            args = self._common("will", msg.device, now, person, role)
        else:
            args = self._common("status", msg.device, now, person, role) + [
                msg.st, _num(msg.tst), _num(msg.lat), _num(msg.lon), _num(msg.batt), msg.note or ""]
        pipe.evalsha(self._apply.sha, 7, *self._keys(msg.device), *args)

    def queue_seen(self, pipe, msg: Heartbeat, now: float, person: str | None, role: str | None) -> None:
        args = self._common("seen", msg.device, now, person, role) + [_num(msg.batt)]
        pipe.evalsha(self._apply.sha, 7, *self._keys(msg.device), *args)

    def forget(self, devices: Iterable[str]) -> int:
        """Drop devices that left the dataset from the live state (cells, presence counts,
        listings); their trails expire as usual. Returns how many were asked for."""
        pipe = self.batch()
        devices = list(devices)
        for d in devices:
            pipe.evalsha(self._apply.sha, 7, *self._keys(d), *self._common("forget", d, time.time(), "", ""))
        self.execute(pipe)
        return len(devices)

    def queue_ack(self, pipe, msg: Ack, now: float, person: str | None, role: str | None) -> None:
        args = self._common("ack", msg.device, now, person, role) + [
            msg.order, msg.state, _num(msg.tst), msg.note or ""]
        pipe.evalsha(self._apply.sha, 7, *self._keys(msg.device), *args)

    def batch(self) -> Batch | ClusterBatch:
        if isinstance(self.r, RedisCluster):
            return ClusterBatch(self.r)
        return Batch(self.r)

    def execute(self, pipe) -> list:
        """Run a queued batch (or redis-py pipeline); after a Redis restart (script cache
        empty) load the script and run it again: every queued write is idempotent or guarded
        by `tst` (a trail EXPIREAT may be missing then: it is re-sent, see _expiring)."""
        try:
            return pipe.execute()
        except redis.exceptions.NoScriptError:
            self._apply.sha = self.r.script_load(_APPLY_LUA)
            self._expiring.clear()
            return pipe.execute()

    def queue_stats(self, pipe, tally: Tally) -> None:
        """Add a batch's counts to the shared tally (`STATS`): HINCRBY per field, a lag
        histogram as one field per bucket (not cumulative; `stats` adds them up)."""
        fields: dict[str, int] = {"messages": tally.messages}
        fields.update({f"dropped:{k}": v for k, v in tally.dropped.items()})
        fields.update({f"accepted:{k}": v for k, v in tally.accepted.items()})
        if tally.lags:
            at = np.searchsorted(LAG_BUCKETS, tally.lags, side="left")  # first bound >= lag
            for i, n in zip(*np.unique(at, return_counts=True)):
                fields[f"lag:{LAG_BUCKETS[i] if i < len(LAG_BUCKETS) else '+Inf'}"] = int(n)
            fields["lag_count"] = len(tally.lags)
            pipe.execute_command(b"HINCRBYFLOAT", STATS, b"lag_sum", repr(float(sum(tally.lags))))
        for k, v in fields.items():
            if v:
                pipe.execute_command(b"HINCRBY", STATS, k, v)

    def stats(self) -> dict:
        """The shared tally: {"messages": n, "dropped": {reason: n}, "accepted": {kind: n},
        "lag": {"buckets": [(le, cumulative n)...], "sum": s, "count": n}}."""
        raw = {k.decode(): v.decode() for k, v in self.r.hgetall(STATS).items()}
        per_bucket = [int(raw.get(f"lag:{b}", 0)) for b in LAG_BUCKETS] + [int(raw.get("lag:+Inf", 0))]
        return {
            "messages": int(raw.get("messages", 0)),
            "dropped": {k.split(":", 1)[1]: int(v) for k, v in raw.items() if k.startswith("dropped:")},
            "accepted": {k.split(":", 1)[1]: int(v) for k, v in raw.items() if k.startswith("accepted:")},
            "lag": {"buckets": list(zip([*LAG_BUCKETS, float("inf")], np.cumsum(per_bucket).tolist())),
                    "sum": float(raw.get("lag_sum", 0.0)), "count": int(raw.get("lag_count", 0))},
        }

    def ensure_scripts(self) -> None:
        self._apply.sha = self.r.script_load(_APPLY_LUA)

    def publish_deltas(self, deltas: Iterable[dict]) -> int:
        payload = orjson.dumps(list(deltas))
        return self.r.publish(DELTAS, payload)

    # ---- reads ---------------------------------------------------------------------------

    def _state(self, device: str, h: dict, now: float) -> DeviceState:
        g = {k.decode(): v for k, v in h.items()}
        tst, seen = _f(g.get("tst")), _f(g.get("seen"))
        gone = "gone" in g
        return DeviceState(
            device, _s(g.get("person")), _s(g.get("role")), _f(g.get("lat")), _f(g.get("lon")), tst, seen,
            _s(g.get("st")) or "on_duty",
            presence(tst, seen, gone, now, self.settings.stale_s, self.settings.offline_s),
            _f(g.get("batt")), _f(g.get("acc")), _f(g.get("vel")), _f(g.get("cog")), _f(g.get("alt")),
            _s(g.get("l1")), _s(g.get("l2")), _s(g.get("cell")),
        )

    def device(self, device: str, now: float | None = None) -> DeviceState | None:
        h = self.r.hgetall(DEV + device)
        return self._state(device, h, time.time() if now is None else now) if h else None

    def device_ids(self) -> list[str]:
        """The devices the store has heard from."""
        return [d.decode() for d in self.r.zrange(SEEN, 0, -1)]

    def roster(self) -> dict[str, tuple[str, str]]:
        """The registered devices of the current dataset, {device: (person, role)} ({} when
        none was loaded): `gridwatch load` writes them (geodata.store.fetch_roster), this reads
        them again only when another version is current."""
        from geodata.store import current_version, fetch_roster

        version = current_version(self.r)
        if self._roster is None or self._roster[0] != version:
            got = fetch_roster(self.r, version) if version is not None else None
            self._roster = got if got is not None else (version, {})
        return self._roster[1]

    def devices(self, ids: Iterable[str] | None = None, now: float | None = None) -> list[DeviceState]:
        """Every registered device and every device the store has heard from (or the given
        ones that it has heard from), one pipeline. A registered device that never reported is
        listed offline, without position, `seen` None."""
        now = time.time() if now is None else now
        roster = self.roster() if ids is None else {}
        ids = self.device_ids() if ids is None else list(ids)
        if roster:
            heard = set(ids)
            ids += sorted(d for d in roster if d not in heard)
        pipe = self.r.pipeline(transaction=False)
        for d in ids:
            pipe.hgetall(DEV + d)
        out = []
        for d, h in zip(ids, pipe.execute()):
            if h:
                out.append(self._state(d, h, now))
            elif d in roster:
                person, role = roster[d]
                out.append(DeviceState(d, person, role, None, None, None, None, "on_duty", "offline",
                                       *([None] * 8)))
        return out

    def presence_counts(self, now: float | None = None) -> dict[str, int]:
        """Devices by presence, from the presence sorted set and fix-age buckets (no scan); the
        registered devices that never reported are offline."""
        now = time.time() if now is None else now
        s = self.settings
        roster = list(self.roster())
        pipe = self.r.pipeline(transaction=False)
        pipe.zcard(SEEN)
        pipe.zcount(SEEN, "-inf", f"({now - s.offline_s!r}")
        pipe.hgetall(FIXAGE)
        if roster:
            pipe.zmscore(SEEN, roster)
        total, offline, buckets, *seen = pipe.execute()
        never = sum(1 for x in seen[0] if x is None) if seen else 0
        # A fix time is capped by its arrival, so every offline device is in an old bucket too;
        # bucket granularity (FIXAGE_S) is the precision of the stale count.
        cutoff = (now - s.stale_s) / FIXAGE_S
        old_fix = sum(int(n) for b, n in buckets.items() if int(b) + 1 <= cutoff)
        stale = max(0, old_fix - offline)
        return {"live": max(0, total - offline - stale), "stale": stale, "offline": offline + never}

    def trail(self, device: str, t0: float, t1: float) -> list[TrailFix]:
        """A device's fixes with t0 <= tst <= t1, in time order (late fixes included)."""
        b = self.settings.trail_bucket_s
        start = int(t0 // b) * b
        keys = [trail_key(device, k) for k in range(start, int(t1) + 1, b)]
        pipe = self.r.pipeline(transaction=False)
        for k in keys:
            pipe.zrangebyscore(k, t0, t1)
        out: list[TrailFix] = []
        for members in pipe.execute():
            for m in members:
                p = m.decode().split(REC_SEP)
                out.append(TrailFix(float(p[0]), float(p[1]), float(p[2]), *(_f(x) for x in p[3:8])))
        return out

    def latest_fixes(self, devices: Iterable[str]) -> list[Fix]:
        """The stored latest fix of each device (seeds the jump filter after a restart)."""
        devices = list(devices)
        pipe = self.r.pipeline(transaction=False)
        for d in devices:
            pipe.hmget(DEV + d, "tst", "lat", "lon", "acc")
        out = []
        for d, (tst, lat, lon, acc) in zip(devices, pipe.execute()):
            if tst is not None and lat is not None:
                out.append(Fix(d, float(tst), float(lat), float(lon), _f(acc)))
        return out

    def events(self, count: int = 100, start: str = "-") -> list[tuple[str, dict[str, str]]]:
        """Events in order, decoded (for tests and operators; the dispatcher uses XREADGROUP)."""
        return [(i.decode(), parse_event(f)) for i, f in self.r.xrange(EVENTS, start, "+", count=count)]


def parse_event(fields: dict) -> dict[str, str]:
    """One events-stream entry as text, empty fields left out (format in docs/redis.md)."""
    out = {}
    for k, v in fields.items():
        k = k.decode() if isinstance(k, bytes) else k
        v = v.decode() if isinstance(v, bytes) else v
        if v != "":
            out[k] = v
    return out


def parse_record(rec: bytes | str) -> tuple[float, float, float, str, str, str]:
    """A cell-membership record: (lat, lon, tst, status, role, person)."""
    p = (rec.decode() if isinstance(rec, bytes) else rec).split(REC_SEP, 5)
    return float(p[0]), float(p[1]), float(p[2]), p[3], p[4], p[5]


FETCH_LUA = _FETCH_LUA
NEAREST_LUA = _NEAREST_LUA
OCCUPIED_LUA = _OCCUPIED_LUA
OCCUPANCY_LUA = _OCCUPANCY_LUA
