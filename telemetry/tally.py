"""The ingest's shared tally in Redis (`STATS`): every pipeline adds its batch's counts (messages,
drops by reason, accepted by kind, a lag histogram) and any web process reads the sum for
/metrics (telemetry.ingest.SharedMetrics)."""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from gridwatch.redisconn import texts
from telemetry.keys import STATS

# Upper bounds (s) of the ingest lag histogram: store time minus the fix's own time.
LAG_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600, 86400)


class Tally(NamedTuple):
    """What one ingest batch counted: messages received, drops by reason, accepted by kind
    (fix, status, ack) and the lag of each accepted fix."""
    messages: int
    dropped: dict[str, int]
    accepted: dict[str, int]
    lags: list[float]


def queue(pipe, tally: Tally) -> None:
    """Add a batch's counts to the shared tally (`STATS`): HINCRBY per field, a lag
    histogram as one field per bucket (not cumulative; `read` adds them up)."""
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

def read(r) -> dict:
    """The shared tally: {"messages": n, "dropped": {reason: n}, "accepted": {kind: n},
    "lag": {"buckets": [(le, cumulative n)...], "sum": s, "count": n}}."""
    raw = texts(r.hgetall(STATS))
    per_bucket = [int(raw.get(f"lag:{b}", 0)) for b in LAG_BUCKETS] + [int(raw.get("lag:+Inf", 0))]
    return {
        "messages": int(raw.get("messages", 0)),
        "dropped": {k.split(":", 1)[1]: int(v) for k, v in raw.items() if k.startswith("dropped:")},
        "accepted": {k.split(":", 1)[1]: int(v) for k, v in raw.items() if k.startswith("accepted:")},
        "lag": {"buckets": list(zip([*LAG_BUCKETS, float("inf")], np.cumsum(per_bucket).tolist())),
                "sum": float(raw.get("lag_sum", 0.0)), "count": int(raw.get("lag_count", 0))},
    }
