"""The citizen's progress query, `GET /api/public/complaints/{code}?phone_last4=` (CONTRACT.md
section 11), answered ahead of the framework: the request most often made by people outside
the bureau, on every web process. The route in complaint_routes.py answers the same thing the
ordinary way; this path only makes it cheap under load. What a request there pays otherwise
(measured with py-spy, BENCHMARKS.md "## complaints"): the framework's middleware layers and
its linear walk over a few hundred routes, a hop to a worker thread, a `SELECT 1`-style check
on every pool checkout and a commit. Here, in the event loop: the per-address counter (the same
key and limit as the route's) in Redis and one statement on an autocommit connection of an
asyncio pool. Queries that arrive while earlier ones are still with Redis or PostgreSQL wait
and go together (`Batches`): one Redis transaction counts them all, one statement looks them
all up; a query alone goes at once. Under load the fixed cost of a round trip (the clients'
Python above all) is paid once per batch instead of once per query.

Taken here only what the route would answer in the same way: GET, a code of at most 40
characters, no query parameter but one `phone_last4` of at most 8. Everything else (another
method, other or repeated parameters, an over-long value: 422 there), and every request while
this path's clients cannot be had (Redis down, the schema behind, no database configured),
goes on to the route, whose error handlers give their usual answers. Its asyncio clients live
in the loop of the server's lifespan; a request in another loop (a test client used without
its lifespan) goes on to the route too."""
from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

import orjson
import psycopg

from alerts.errors import NotFound
from casework import complaint_store as S
from casework import complaints as C
from dashboard.complaint_routes import plain_json, query_key, too_many_queries
from dashboard.deps import database_down_body
from gridwatch.db import unavailable

PATH = re.compile(r"/api/public/complaints/([^/]+)")
NOT_CODES = ("categories",)         # /api/public/complaints/categories is another route
MAX_CODE, MAX_LAST4 = 40, 8         # the route's Path/Query limits
POOL_MAX = 4                        # one loop: a few statements in flight at once are plenty
BATCH_MAX = 256                     # lookups in one statement, counts in one Redis transaction
JSON = (b"content-type", b"application/json")


class Batches:
    """Natural batching: `await batches(item)` is `run([item, ...])`'s answer for that item. At
    most `flights` runs are under way at once; items that come meanwhile wait and the next run
    takes them all (at most BATCH_MAX), so a lone item is never held back and a crowd is served
    in a few runs. `run` answers each item in order; its exception is every item's of that run."""

    def __init__(self, run, flights: int):
        self.run = run
        self.flights = flights
        self.flying = 0
        self.waiting: list[tuple[object, asyncio.Future]] = []
        self.runs = self.items = 0      # how well it batches: items / runs

    async def __call__(self, item):
        fut = asyncio.get_running_loop().create_future()
        self.waiting.append((item, fut))
        if self.flying < self.flights:
            self.flying += 1
            asyncio.ensure_future(self._fly())  # it takes what has come by its first step
        return await fut

    async def _fly(self) -> None:
        try:
            while self.waiting:
                batch, self.waiting = self.waiting[:BATCH_MAX], self.waiting[BATCH_MAX:]
                self.runs, self.items = self.runs + 1, self.items + len(batch)
                try:
                    answers = await self.run([item for item, _ in batch])
                except BaseException as exc:  # noqa: BLE001 - handed to every waiter of the batch
                    for _, fut in batch:
                        if not fut.done():
                            fut.set_exception(exc)
                    if not isinstance(exc, Exception):
                        raise
                    continue
                for (_, fut), answer in zip(batch, answers, strict=True):
                    if not fut.done():
                        fut.set_result(answer)
        finally:
            self.flying -= 1


class PublicQuery:
    """The fast path's state: the loop it serves in, an asyncio Redis client and an asyncio
    PostgreSQL pool, made on first use and closed with the server's lifespan."""

    def __init__(self, ctx):
        self.ctx = ctx
        self.tz = ZoneInfo(ctx.settings.tz)
        self._loop = None
        self._lock: asyncio.Lock | None = None
        self._r = None
        self._pool = None
        self._batches()

    def _batches(self) -> None:
        self._counts = Batches(self._over_many, flights=2)
        self._lookups = Batches(self._lookup_many, flights=POOL_MAX)

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._lock = asyncio.Lock()
        self._batches()     # new ones in each loop: none of a stopped loop's flights counts here

    async def close(self) -> None:
        self._loop = None
        pool, r, self._pool, self._r = self._pool, self._r, None, None
        if pool is not None:
            await pool.close()
        if r is not None:
            await r.aclose()

    def serving(self) -> bool:
        return self._loop is not None and self._loop is asyncio.get_running_loop()

    async def _clients(self) -> None:
        if self._pool is not None:
            return
        async with self._lock:
            if self._pool is None:
                from psycopg.rows import dict_row
                from psycopg_pool import AsyncConnectionPool

                from gridwatch.db import CONNECT_TIMEOUT_S, WEB_OPTIONS
                from gridwatch.redisconn import aconnect

                url = self.ctx.settings.db_url()                    # RuntimeError: not configured
                await asyncio.to_thread(lambda: self.ctx.db)        # the schema checked once, as the route's pool is
                r = await aconnect(self.ctx.settings.redis_url, socket_timeout=5)
                # No check on checkout (a round trip each time): a connection the server dropped
                # fails its statement, is discarded by the pool, and the lookup is made once more.
                pool = AsyncConnectionPool(
                    url, min_size=0, max_size=POOL_MAX, open=False, timeout=CONNECT_TIMEOUT_S, reconnect_timeout=0,
                    kwargs={"row_factory": dict_row, "options": WEB_OPTIONS, "connect_timeout": CONNECT_TIMEOUT_S,
                            "autocommit": True})
                await pool.open()
                self._r, self._pool = r, pool

    async def _over_many(self, clients: list[str]) -> list[bool]:
        """For each query in order, whether its address is over the limit: the route's INCR and
        EXPIRE per query, as one INCRBY and EXPIRE per address in one transaction."""
        now = time.time()
        keyed = [query_key(c, now) for c in clients]
        asked, ttl = Counter(key for key, _ in keyed), dict(keyed)
        async with self._r.pipeline(transaction=True) as p:
            for key, n in asked.items():
                p.incrby(key, n)
                p.expire(key, ttl[key])
            counts = (await p.execute())[::2]
        # each address's queries numbered as their INCRs one by one would have numbered them
        seen = {key: count - asked[key] for key, count in zip(asked, counts)}
        limit, over = self.ctx.settings.complaint_query_per_min, []
        for key, _ in keyed:
            seen[key] += 1
            over.append(seen[key] > limit)
        return over

    async def _lookup_many(self, lookups: list[tuple[str, str]]) -> list:
        for attempt in (1, 2):
            try:
                async with self._pool.connection() as conn:
                    return await S.public_many_async(conn, lookups)
            except psycopg.errors.QueryCanceled:
                raise
            except psycopg.OperationalError:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def answer(self, scope, send, code: str, last4: str) -> bool:
        """Answers the query; False when the route must (this path's clients not available)."""
        try:
            await self._clients()
            over = await self._counts(scope["client"][0] if scope.get("client") else "?")
        except Exception:  # noqa: BLE001 - the route gives this outage its usual answer
            return False
        if over:
            res = too_many_queries()
            await _send(send, 429, res.body, [(b"retry-after", res.headers["retry-after"].encode())])
            return True
        try:
            row = await self._lookups((code, last4))
        except Exception as exc:
            down = unavailable(exc)
            if down is None:
                raise
            await _send(send, 503, orjson.dumps(database_down_body(down)))
            return True
        if isinstance(row, NotFound):
            await _send(send, 404, orjson.dumps(row.to_dict()))
            return True
        row["query_code"] = C.show_code(row["query_code"])
        await _send(send, 200, orjson.dumps(plain_json(row, self.tz)))
        return True


def taken(scope) -> tuple[str, str] | None:
    """(code, phone_last4) when the request is one this path answers, else None."""
    if scope["type"] != "http" or scope["method"] != "GET":
        return None
    m = PATH.fullmatch(scope["path"])
    if m is None or m.group(1) in NOT_CODES or len(m.group(1)) > MAX_CODE:
        return None
    params = parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True)
    if not params:
        return m.group(1), ""
    if len(params) != 1 or params[0][0] != "phone_last4" or len(params[0][1]) > MAX_LAST4:
        return None
    if "\x00" in m.group(1) or "\x00" in params[0][1]:
        return None  # the route refuses it (no text column can hold a NUL)
    return m.group(1), params[0][1]


class PublicQueryMiddleware:
    """Plain ASGI, the first of the app's own middleware (inside only FastAPI's error and body-limit
    wrappers): a public query it can answer never reaches auth, Dash, GZip or the route table."""

    def __init__(self, app, query: PublicQuery):
        self.app = app
        self.query = query

    async def __call__(self, scope, receive, send):
        got = taken(scope) if scope["type"] == "http" else None
        if got is not None and self.query.serving() and await self.query.answer(scope, send, *got):
            return
        await self.app(scope, receive, send)


async def _send(send, status: int, body: bytes, headers: list | None = None) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [JSON, (b"content-length", str(len(body)).encode()), *(headers or [])]})
    await send({"type": "http.response.body", "body": body})
