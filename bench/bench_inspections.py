"""Inspections (issue 15), against a real `gridwatch web` on loopback with a private PostgreSQL
(fsync on) and Redis started for the run:

1. sync: a terminal's queue of 10 inspections, each with 3 photos of 2 MB and 3 signatures (2
   inspectors' and the entity's, PNG with strokes), sent as the terminal's outbox sends them
   (create, answers, notes, media, signatures, seal), then the whole queue sent again (a
   resend: every step answers "already there", nothing is added); the web process's peak RSS
   while it runs. Baseline in the same run: the same 30 photos through the plain evidence
   upload `POST /api/media` (no record, no audit);
2. PDF: `GET /api/inspections/{id}.pdf` of each sealed record (3 photos, 3 signatures, QR),
   p50/p95 over the records, against a baseline in the same run: the same documents rendered
   by a fresh `typst.compile` per record (fonts found and loaded on every call, what a naive
   route would do). Goal: p95 <= 300 ms per record.

`python -m bench inspections` or `python -m bench.bench_inspections [--records N]`.
"""
from __future__ import annotations

import argparse
import base64
import io
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import date
from pathlib import Path

from testkit.waiting import wait_for_web

GOAL_PDF_P95_MS = 300.0
PHOTO_MB = 2


def photo(seed: int) -> bytes:
    """A phone's photo: an 8-megapixel JPEG (3264x2448) of about PHOTO_MB, padded up to exactly
    PHOTO_MB with an APP15 segment (a valid JPEG that decodes the same)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    h, w = 2448, 3264
    ramp = (np.arange(w, dtype=np.int16) * 200 // w)[None, :, None]
    img = np.clip(ramp + 30 + rng.integers(-19, 20, (h, w, 3), dtype=np.int16), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "JPEG", quality=85)
    data = buf.getvalue()
    need = PHOTO_MB * 2**20 - len(data)
    parts = []
    while need > 4:
        n = min(need - 4, 65533)
        parts.append(b"\xff\xef" + (n + 2).to_bytes(2, "big") + b"\0" * n)
        need -= n + 4
    return data[:2] + b"".join(parts) + data[2:]


def _png(img) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG", compress_level=1)
    return buf.getvalue()


def signature(seed: int) -> tuple[str, list]:
    from PIL import Image, ImageDraw

    img = Image.new("RGBA", (600, 200), (255, 255, 255, 0))
    d = ImageDraw.Draw(img)
    pts = [(40 + 40 * k, 100 + (30 if (k + seed) % 2 else -30)) for k in range(13)]
    d.line(pts, fill=(0, 0, 0, 255), width=4)
    strokes = [{"penColor": "black", "points": [{"x": x, "y": y, "time": 1_700_000_000_000 + 16 * i, "pressure": 0.5}
                                                for i, (x, y) in enumerate(pts)]}]
    return "data:image/png;base64," + base64.b64encode(_png(img)).decode(), strokes


class Sampler:
    def __init__(self, pid: int):
        import psutil

        self.proc = psutil.Process(pid)
        self.base = self.proc.memory_info().rss
        self.peak = self.base
        self._stop = threading.Event()
        self._th = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self.proc.memory_info().rss)
            time.sleep(0.01)

    def __enter__(self):
        self._th.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._th.join()


def send(client, insp: dict) -> None:
    """One inspection as the terminal's outbox sends it (gridwatch_inspect.js sendOne)."""
    iid = insp["id"]
    r = client.post("/api/inspections", json={k: insp[k] for k in ("id", "uscc", "checklist", "kind", "inspectors")})
    assert r.status_code in (200, 201), r.text
    r = client.put(f"/api/inspections/{iid}/answers", json=insp["answers"])
    if r.status_code == 409:
        return
    assert r.status_code == 200, r.text
    client.put(f"/api/inspections/{iid}/notes", json={"notes": "货架整洁，冷柜温度正常"})
    for item, data in insp["photos"]:
        r = client.post(f"/api/inspections/{iid}/media", files={"file": ("p.jpg", data, "image/jpeg")}, data={"item": item})
        assert r.status_code in (200, 201), r.text
    for body in insp["signatures"]:
        r = client.post(f"/api/inspections/{iid}/signatures", json=body)
        assert r.status_code == 201, r.text
    r = client.post(f"/api/inspections/{iid}/seal")
    assert r.status_code == 200, r.text


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="bench_inspections")
    ap.add_argument("--records", type=int, default=10)
    args = ap.parse_args(argv or [])

    import httpx
    import redis as redis_lib

    from casework import history, records, schema
    from dashboard.auth import Accounts
    from geodata.dataset import load_dataset
    from geodata.store import save_dataset
    from gridwatch.db import connect
    from gridwatch.demo import ensure_demo
    from gridwatch.services import PostgresServer, RedisServer, free_port

    ensure_demo(Path("var/yingtan"))
    ds = load_dataset("var/yingtan")
    work = Path(tempfile.mkdtemp(prefix="gw-bench-inspections-"))
    if os.geteuid() == 0:
        shutil.chown(work, "postgres", "postgres")
    pg = PostgresServer(workdir=work / "pg").start()
    rs = RedisServer(workdir=work / "redis", appendonly=False).start()
    web = None
    try:
        schema.upgrade(pg.url)
        scratch = work / "yingtan"
        scratch.mkdir()
        for name in ("grids.geojson", "people.csv", "entities.csv"):
            (scratch / name).symlink_to((Path("var/yingtan") / name).resolve())
        history.write(scratch, ds, until=date(2018, 3, 31))
        with connect(pg.url) as c:
            records.load_dataset_records(c, ds, scratch)
        r = redis_lib.Redis.from_url(rs.url)
        save_dataset(r, ds)
        people = ds.people[ds.people["role"] == "l2_supervisor"]
        me, other = people["id"].iloc[0], people["id"].iloc[1]
        acc = Accounts(r)
        acc.add("bench-sup", "supervisor", "pw", person=me)
        acc.add("bench-admin", "admin", "pw")
        token, admin = acc.new_token("bench-sup"), acc.new_token("bench-admin")
        port = free_port()
        env = dict(os.environ, GRIDWATCH_REDIS_URL=rs.url, GRIDWATCH_DATABASE_URL=pg.url,
                   GRIDWATCH_HTTP=f"127.0.0.1:{port}", GRIDWATCH_MEDIA_DIR=str(work / "media"),
                   GRIDWATCH_VAR_DIR=str(work / "var"), GRIDWATCH_DATA="var/yingtan")
        web = subprocess.Popen([sys.executable, "-m", "gridwatch.cli", "web"], env=env)
        base = f"http://127.0.0.1:{port}"
        wait_for_web(base, web, timeout=60)
        client = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=120)
        admin_client = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {admin}"}, timeout=120)
        [cl] = [c for c in client.get("/api/checklists").json() if c["id"] == "food_sales"]
        ents = ds.entities[(ds.entities["category"] == "food_retail") & ds.entities["grid"].notna()]
        queue = []
        for k in range(args.records):
            sigs = []
            for n, who in enumerate((me, other, None)):
                img, strokes = signature(k * 3 + n)
                sigs.append({"party": "inspector", "person": who, "image": img, "strokes": strokes} if who else
                            {"party": "entity", "name": "店长", "image": img, "strokes": strokes})
            queue.append({"id": str(uuid.uuid4()), "uscc": ents["uscc"].iloc[k], "checklist": "food_sales",
                          "kind": "double_random", "inspectors": [me, other],
                          "answers": {i["code"]: {"result": "pass"} for i in cl["items"]},
                          "photos": [(cl["items"][j]["code"], photo(k * 3 + j)) for j in range(3)],
                          "signatures": sigs})
        mb = sum(len(p) for q in queue for _, p in q["photos"]) / 2**20
        # warm the routes (imports, the pool, the bureau's key, typst's fonts) on one extra record
        warm = {**queue[0], "id": str(uuid.uuid4()), "photos": queue[0]["photos"][:1]}
        send(client, warm)
        client.get(f"/api/inspections/{warm['id']}.pdf")

        # 0. the baseline upload: the same photos through POST /api/media
        t = time.perf_counter()
        for q in queue:
            for _, data in q["photos"]:
                assert admin_client.post("/api/media", files={"file": ("p.jpg", data + b"x", "image/jpeg")}).status_code == 201
        plain_s = time.perf_counter() - t

        # 1. the sync of the queue, then a resend of the whole queue
        with Sampler(web.pid) as rss:
            t = time.perf_counter()
            for q in queue:
                send(client, q)
            sync_s = time.perf_counter() - t
            t = time.perf_counter()
            for q in queue:
                send(client, q)
            resend_s = time.perf_counter() - t
        with connect(pg.url) as c, c.cursor() as cur:
            cur.execute("SELECT count(*) AS n, count(sealed_at) AS s FROM inspections WHERE id = ANY(%s)",
                        ([q["id"] for q in queue],))
            n = cur.fetchone()
            cur.execute("SELECT count(*) AS m FROM record_media WHERE record_type = 'inspection' AND record_id = ANY(%s)",
                        ([q["id"] for q in queue],))
            m = cur.fetchone()["m"]
        assert n == {"n": len(queue), "s": len(queue)}, n
        assert m == len(queue) * (3 + 3 * 2), m

        # 2. the PDF of each record over HTTP, and the naive baseline
        times, sizes = [], []
        for q in queue:
            t = time.perf_counter()
            res = client.get(f"/api/inspections/{q['id']}.pdf")
            times.append(time.perf_counter() - t)
            assert res.status_code == 200 and res.content.startswith(b"%PDF")
            sizes.append(len(res.content))
        warm_times = []
        for q in queue:
            t = time.perf_counter()
            client.get(f"/api/inspections/{q['id']}.pdf")
            warm_times.append(time.perf_counter() - t)
        naive = naive_render(pg.url, work / "media", [q["id"] for q in queue], ds)
        p50, p95 = (statistics.quantiles(times, n=20)[i] * 1000 for i in (9, 18))
        nb50, nb95 = (statistics.quantiles(naive, n=20)[i] * 1000 for i in (9, 18))
        w50, w95 = (statistics.quantiles(warm_times, n=20)[i] * 1000 for i in (9, 18))
        print(f"sync: {len(queue)} inspections, {mb:.0f} MB of photos + {len(queue) * 3} signatures in {sync_s:.2f} s "
              f"({sync_s / len(queue) * 1000:.0f} ms each, {mb / sync_s:.0f} MB/s) vs the same photos through "
              f"POST /api/media {plain_s:.2f} s (ratio {sync_s / plain_s:.2f}); resend of the whole queue "
              f"{resend_s:.2f} s, nothing added ({n['n']} records, {m} media links)")
        print(f"  web RSS {rss.base / 2**20:.0f} MB before, peak {rss.peak / 2**20:.0f} MB "
              f"(+{(rss.peak - rss.base) / 2**20:.1f} MB)")
        print(f"pdf: GET /api/inspections/{{id}}.pdf p50/p95 {p50:.0f}/{p95:.0f} ms over {len(times)} records "
              f"({statistics.mean(sizes) / 2**20:.2f} MB each, 3 photos of 2 MB), again {w50:.0f}/{w95:.0f} ms, vs a fresh "
              f"typst.compile per record p50/p95 {nb50:.0f}/{nb95:.0f} ms (ratio {nb95 / p95:.1f}x); goal p95 <= {GOAL_PDF_P95_MS:.0f} ms")
        return 0 if p95 <= GOAL_PDF_P95_MS else 1
    finally:
        if web is not None:
            web.terminate()
            web.wait(20)
        rs.stop()
        pg.stop()
        shutil.rmtree(work, ignore_errors=True)


def naive_render(pg_url: str, media_root: Path, ids: list[str], ds) -> list[float]:
    """The same documents, each through a fresh typst.compile (fonts loaded per call)."""
    from zoneinfo import ZoneInfo

    import orjson
    import typst

    from casework import checklists, inspections
    from casework.inspection_pdf import FONT, FONT_DIRS, TEMPLATE, document, qr_svg
    from gridwatch.db import connect

    names = dict(zip(ds.people["id"], ds.people["name"]))
    out = []
    with connect(pg_url) as conn, conn.cursor() as cur:
        for iid in ids:
            insp = inspections.get(conn, iid, None, history=False)
            cl = checklists.get(cur, insp["checklist"])
            doc = document(insp, cl, tz=ZoneInfo("Asia/Shanghai"), person_name=names.get, receipt_url="http://x/r/t",
                           qr_svg=qr_svg("http://x/r/t"), media_root=media_root)
            t = time.perf_counter()
            typst.compile(TEMPLATE.replace("__FONT__", FONT).encode(), root=str(media_root), format="pdf",
                          font_paths=list(FONT_DIRS), sys_inputs={"data": orjson.dumps(doc).decode()})
            out.append(time.perf_counter() - t)
    return out


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
