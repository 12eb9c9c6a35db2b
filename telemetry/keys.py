"""Every Redis key and channel of the live store, and the record kept in cell membership, in
one place (documented in docs/redis.md). The Lua scripts get these from here (telemetry/lua.py).

Live keys share the `{live}` hash tag: one write changes a device's hash, its cells, presence
and the events stream in one script, so they must live in one Cluster slot. Trails are per
device (`{trail:<device>}`), written beside the script, not in it.
"""
from __future__ import annotations

LIVE = "gw:{live}"
DEV = LIVE + ":dev:"          # hash per device: latest state
CELL = LIVE + ":cell:"        # hash per H3 cell (fine and coarse): device -> packed record
OCC = LIVE + ":occ"           # hash: coarse cell -> number of live devices in it
OCCST = LIVE + ":occst"       # hash: "coarse cell|status|role" -> number of live devices (nearest's filters)
SEEN = LIVE + ":seen"         # zset: device -> last message time (0 after its will)
FIXAGE = LIVE + ":fixage"     # hash: FIXAGE_S bucket of latest-fix time -> device count (presence counts)
FIXAGE_S = 10
EVENTS = LIVE + ":events"     # stream: status changes, SOS, wills, acks (alerts read it)
DELTAS = LIVE + ":deltas"     # pub/sub channel: coalesced live deltas for the dashboard
STATS = LIVE + ":stats"       # hash: ingest counters of all workers (Tally), read by /metrics


def trail_key(device: str, bucket: int) -> str:
    return f"gw:{{trail:{device}}}:{bucket}"


# The record kept in cell membership, so nearest filters without another round trip:
#   lat|lon|tst|status|role|person
# The same separator joins an OCCST field ("coarse|status|role") and a trail member.
REC_SEP = "|"

# A device that has sent no duty status counts as on duty while it reports (CONTRACT 4).
DEFAULT_STATUS = "on_duty"
