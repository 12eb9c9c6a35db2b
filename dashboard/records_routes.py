"""API routes over the bureau's records (CONTRACT.md sections 7 and 9): the entity register
and evidence files. Routes parse, check the caller's role and call into casework/; errors of
casework (404/409/413/415/422) carry their own status, an unreachable database is a 503."""
from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.responses import FileResponse

from casework import media as media_store
from casework import register
from dashboard.deps import AnyUser

SHA256 = re.compile(r"^[0-9a-f]{64}$")
UPLOAD_ROLES = ("supervisor", "reporter", "coordinator", "admin")


def _staff(p) -> dict | None:
    # the grid's people as the register shows them: no phone numbers
    return None if p is None else {"id": p.id, "name": p.name, "role": p.role}


def install_records_routes(api: APIRouter, ctx) -> None:
    @api.get("/entities", tags=["records"])
    def entities(_: AnyUser,
                 q: Annotated[str, Query(max_length=100, description="any part of the name, or a USCC prefix")] = "",
                 grid: Annotated[str | None, Query(description="level-1 or level-2 grid id")] = None,
                 category: str | None = None,
                 limit: Annotated[int, Query(ge=1, le=register.MAX_LIMIT)] = 20) -> list[dict]:
        """Entities of the register whose name holds `q` or whose USCC starts with it."""
        with ctx.db.connection() as conn:
            return register.search(conn, q, grid=grid, category=category, limit=limit)

    @api.get("/entities/{uscc}", tags=["records"])
    def entity(_: AnyUser, uscc: Annotated[str, Path(min_length=18, max_length=18)],
               history: Annotated[int, Query(ge=0, le=1000, description="history entries, newest first")] = 200) -> dict:
        """One entity: registration, grid and level-1 grid, responsible people, risk (A-D) and its
        history (inspections, tasks, complaints, cases), newest first."""
        with ctx.db.connection() as conn:
            ent = register.get(conn, uscc, history_limit=history)
        people = {}
        if ent["grid"]:
            try:
                resp = ctx.registry.responsible(ent["grid"])
            except KeyError:
                resp = {}
            people = {k: ([_staff(x) for x in v] if isinstance(v, (list, tuple)) else _staff(v))
                      for k, v in resp.items()}
        names = ctx.grid_names
        return {**ent, "grid_name": names.get(ent["grid"]), "level1_name": names.get(ent["level1"]),
                "responsible": people}

    @api.post("/media", tags=["records"], status_code=201)
    async def upload(user: AnyUser, request: Request) -> dict:
        """An evidence file as multipart `file` (streamed to disk, named by its SHA-256; the same
        bytes twice are stored once). Records link their media by the SHA-256 returned."""
        from dashboard.uploads import receive_file

        if user.role not in UPLOAD_ROLES:
            raise HTTPException(403, f"role {user.role!r} may not upload evidence")
        stored, _fields = await receive_file(request, ctx.media)
        with ctx.db.connection() as conn, conn.cursor() as cur:
            media_store.record_row(cur, stored, f"user:{user.name}")
        return stored.to_dict()

    @api.get("/media/{sha256}", tags=["records"], response_class=FileResponse)
    def download(_: AnyUser, sha256: str) -> FileResponse:
        """An evidence file by its SHA-256; answers Range requests (video on a phone)."""
        if not SHA256.match(sha256):
            raise HTTPException(404, "no such file")
        with ctx.db.connection() as conn, conn.cursor() as cur:
            row = media_store.info(cur, sha256)
        path = ctx.media.path(sha256)
        if row is None or not path.exists():
            raise HTTPException(404, "no such file")
        return FileResponse(path, media_type=row["type"], headers={"Cache-Control": "private, max-age=31536000, immutable"})
