"""Pipelines for the ingest's writes: `Batch` packs RESP itself on a standalone server (the hot
path), `ClusterBatch` goes through redis-py's cluster pipeline; both take the same few calls
(LiveStore.queue_* and queue_stats use them)."""
from __future__ import annotations

import redis


def as_bytes(v) -> bytes:
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
        enc = [a if type(a) is bytes else a.encode() if type(a) is str else as_bytes(a) for a in args]
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
