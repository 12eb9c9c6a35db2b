"""Dash's bundles (renderer, React, component suites, plotly.js) and the pages' assets, gzipped
once per process instead of on every request. Dash's FastAPI backend reads each bundle from its
package, hashes it and lets Starlette's GZipMiddleware compress it at level 9, all on the event
loop: plotly.js alone (4.8 MB) took ~0.7 s of it on a loaded machine, every time a page drew
its first chart, and every other request (the pages' callbacks) waited behind it."""
from __future__ import annotations

import asyncio
import gzip
import hashlib

PREFIXES = ("/_dash-component-suites/", "/assets/")
LEVEL = 6            # level 9 makes plotly.js 0.2 % smaller for 15 % more time
MAX_BYTES = 16 << 20
KEPT_HEADERS = (b"content-type", b"cache-control", b"last-modified")


class BundleCache:
    """A plain ASGI middleware in front of Dash's compression: a GET under PREFIXES is answered
    from memory (gzipped when the client accepts it, 304 on a matching ETag) once it has been
    served with status 200."""

    def __init__(self, app):
        self.app = app
        self.kept: dict[bytes, tuple[list, bytes, bytes, bytes]] = {}   # key -> headers, raw, packed, etag
        self.locks: dict[bytes, asyncio.Lock] = {}

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "GET" or not scope["path"].startswith(PREFIXES):
            await self.app(scope, receive, send)
            return
        key = scope["path"].encode() + b"?" + scope.get("query_string", b"")
        entry = self.kept.get(key)
        if entry is None:
            lock = self.locks.setdefault(key, asyncio.Lock())
            async with lock:
                entry = self.kept.get(key) or await self._fetch(scope, receive, send, key)
            if entry is None:      # not a 200: already answered as it was
                return
        await self._answer(scope, send, entry)

    async def _fetch(self, scope, receive, send, key: bytes):
        """Asks Dash for the file uncompressed and unconditionally; keeps it if it is a 200."""
        headers = [(k, v) for k, v in scope["headers"] if k not in (b"accept-encoding", b"if-none-match",
                                                                    b"if-modified-since")]
        inner = {**scope, "headers": headers + [(b"accept-encoding", b"identity")]}
        start, body = {}, []

        async def collect(message):
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                body.append(message.get("body", b""))

        await self.app(inner, receive, collect)
        raw = b"".join(body)
        if start.get("status") != 200 or len(raw) > MAX_BYTES:
            await send({"type": "http.response.start", "status": start.get("status", 500),
                        "headers": start.get("headers", [])})
            await send({"type": "http.response.body", "body": raw})
            return None
        packed = await asyncio.to_thread(gzip.compress, raw, LEVEL, mtime=0)   # zlib lets go of the GIL
        kept = [(k, v) for k, v in start.get("headers", []) if k.lower() in KEPT_HEADERS]
        etag = b'"' + hashlib.sha1(raw).hexdigest()[:20].encode() + b'"'
        self.kept[key] = entry = (kept, raw, packed, etag)
        self.locks.pop(key, None)
        return entry

    async def _answer(self, scope, send, entry) -> None:
        kept, raw, packed, etag = entry
        req = dict(scope["headers"])
        headers = kept + [(b"etag", etag), (b"vary", b"Accept-Encoding")]
        if req.get(b"if-none-match") == etag:
            await send({"type": "http.response.start", "status": 304, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return
        gz = b"gzip" in req.get(b"accept-encoding", b"")
        body = packed if gz else raw
        headers += [(b"content-length", str(len(body)).encode())] + ([(b"content-encoding", b"gzip")] if gz else [])
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})


# -- the same for the files a route of ours serves (the choropleths' outlines, plotly's basic
# bundle): packed once, answered with their tag ----------------------------------------------------

def pack(raw: bytes) -> tuple[bytes, bytes, str]:
    """A body, gzipped once, and the tag of its content (the ETag and the `v` of its URL)."""
    return raw, gzip.compress(raw, LEVEL, mtime=0), hashlib.sha1(raw).hexdigest()[:16]


def packed_response(request, packed: tuple[bytes, bytes, str], media_type: str, cache_control: str):
    """The packed body (gzipped when the client accepts it), or 304 when the client has it."""
    from fastapi.responses import Response

    raw, gz, tag = packed
    headers = {"ETag": f'"{tag}"', "Vary": "Accept-Encoding", "Cache-Control": cache_control}
    if request.headers.get("if-none-match") == headers["ETag"]:
        return Response(status_code=304, headers=headers)
    if "gzip" in request.headers.get("accept-encoding", ""):
        return Response(gz, media_type=media_type, headers={**headers, "Content-Encoding": "gzip"})
    return Response(raw, media_type=media_type, headers=headers)
