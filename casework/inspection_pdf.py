"""An inspection as a PDF in Chinese (typst, Noto Sans CJK SC): entity, inspectors, every item
and its result, notes, photos, both parties' signatures, the hash, the bureau's signature and
the receipt's QR code. One `Renderer` per process keeps the fonts loaded; the record goes in as
JSON (`sys.inputs`), the photos and signatures are read from the media store (the root)."""
from __future__ import annotations

import io
import os
import threading
from datetime import datetime
from pathlib import Path

import orjson

FONT_DIRS = ("/usr/share/fonts/opentype/noto",)
FONT = "Noto Sans CJK SC"
IMAGE_FORMATS = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp", "image/svg+xml": "svg"}
RESULT_ZH = {"pass": "符合", "fail": "不符合", "rectify": "基本符合（限期整改）", "na": "不适用", None: "未检查"}
KIND_ZH = {"routine": "日常检查", "double_random": "双随机抽查", "special": "专项检查", "task": "任务检查"}

TEMPLATE = r"""
#let d = json(bytes(sys.inputs.data))
#set document(title: d.title, author: "gridwatch")
#set page(paper: "a4", margin: (x: 1.6cm, y: 1.5cm),
  footer: context [#set text(7pt, fill: gray); #d.hash_line #h(1fr) 第 #counter(page).display() 页])
#set text(font: "__FONT__", size: 9.5pt, lang: "zh", region: "cn")
#align(center, text(15pt, weight: "bold")[#d.title])
#v(2pt)
#grid(columns: (1fr, auto), gutter: 8pt,
  table(columns: (auto, 1fr), stroke: 0.4pt + gray, inset: 4pt,
    ..d.head.map(r => (strong(r.at(0)), r.at(1))).flatten()),
  if d.qr != "" { box(width: 3.2cm)[#image(bytes(d.qr), format: "svg", width: 3.2cm) #text(7pt)[扫码查看检查结果]] })
#v(6pt)
#table(columns: (auto, 1fr, auto, auto), stroke: 0.4pt + gray, inset: 3.5pt,
  table.header(strong[编号], strong[检查内容], strong[重点项], strong[结果]),
  ..d.items.map(i => (i.code, [#text(7.5pt, fill: gray)[#i.section] \ #i.text #if i.note != "" [\ #text(fill: rgb("#a33"))[说明：#i.note]]],
    i.key, i.result)).flatten())
#if d.notes != "" [
  == 现场情况
  #d.notes
]
#if d.photos.len() > 0 [
  == 现场照片
  #grid(columns: (1fr, 1fr, 1fr), gutter: 6pt, ..d.photos.map(p => [#image(p.path, format: p.format, width: 100%) #text(7pt)[#p.caption]]))
]
#if d.others.len() > 0 [== 其他证据 #for o in d.others [- #o]]
== 签名
#grid(columns: (1fr, 1fr, 1fr), gutter: 8pt, ..d.signatures.map(s => box(stroke: 0.4pt + gray, inset: 4pt, width: 100%)[
  #text(8pt)[#s.label] \
  #if s.path != "" { image(s.path, format: s.format, height: 1.6cm) } else { text(8pt)[#s.text] }
]))
#v(6pt)
#text(8pt)[记录哈希（SHA-256）：#raw(d.hash) \ 局签名（Ed25519，密钥 #d.key_id）：#text(6.5pt, raw(d.signature)) \ 查验地址：#d.receipt]
"""


def _local(v, tz) -> str:
    if isinstance(v, datetime):
        return v.astimezone(tz).strftime("%Y-%m-%d %H:%M")
    return "" if v is None else str(v)


def document(insp: dict, checklist: dict, *, tz, person_name, receipt_url: str | None, qr_svg: str,
             media_root: Path) -> dict:
    """The JSON the template reads (pure: the record in, the page's text and file paths out)."""
    answers = insp["answers"] or {}
    items = [{"code": i["code"], "section": i["section"], "text": i["text"], "key": "是" if i["key"] else "",
              "result": RESULT_ZH.get((answers.get(i["code"]) or {}).get("result")),
              "note": (answers.get(i["code"]) or {}).get("note") or ""} for i in checklist["items"]]
    photos, others = [], []
    for m in insp["media"]:
        if m["item"].startswith("signature:"):
            continue
        where = f"第 {m['item']} 项" if m["item"] else "整体"
        fmt = IMAGE_FORMATS.get(m["type"])
        small = thumbnail(media_root, m["sha256"]) if fmt and fmt != "svg" else None
        if small:
            photos.append({"path": "/" + small, "format": "jpg",
                           "caption": f"{where} · {_local(m.get('taken_at') or m['added_at'], tz)} · "
                                      f"SHA-256 {m['sha256'][:12]}…"})
        else:
            others.append(f"{where}：{m['type']}，{m['size']} 字节，SHA-256 {m['sha256'][:16]}…")
    sigs = []
    for s in insp["signatures"]:
        if s["party"] == "inspector":
            label = f"检查人员：{s.get('name') or person_name(s.get('person'))}"
        else:
            label = f"被检查单位负责人：{s.get('name') or ''}" if not s.get("refused") else "被检查单位负责人：拒绝签字"
        path = fmt = ""
        if s.get("sha256") and (media_root / _rel(s["sha256"])).exists():
            path, fmt = "/" + _rel(s["sha256"]), IMAGE_FORMATS.get(s.get("type"), "png")
        text = f"见证人：{s.get('witness')}" + (f"；{s['note']}" if s.get("note") else "") if s.get("refused") else ""
        sigs.append({"label": label, "path": path, "format": fmt, "text": text})
    result = RESULT_ZH.get(insp["result"]) if insp.get("sealed_at") else "未签章（草稿）"
    head = [("被检查单位", insp["entity_name"]), ("统一社会信用代码", insp["uscc"]),
            ("地址", insp.get("entity_address") or ""), ("检查类型", KIND_ZH.get(insp["kind"], insp["kind"])),
            ("检查表", insp.get("checklist_name") or insp["checklist"] or ""),
            ("检查人员", "、".join(person_name(p) or p for p in insp["inspectors"])),
            ("检查时间", _local(insp["started_at"], tz)), ("签章时间", _local(insp.get("sealed_at"), tz)),
            ("检查结果", result)]
    if insp.get("rectify_by"):
        head.append(("整改期限", str(insp["rectify_by"])))
    if insp.get("failed_items"):
        head.append(("不符合项", "、".join(insp["failed_items"])))
    sig = insp.get("signature") or {}
    return {"title": "现场检查记录", "head": [list(h) for h in head], "items": items,
            "notes": insp.get("notes") or "", "photos": photos, "others": others, "signatures": sigs,
            "hash": insp.get("hash") or "（未签章）", "hash_line": f"SHA-256 {insp.get('hash') or '-'}",
            "signature": sig.get("signature") or "", "key_id": sig.get("key_id") or "",
            "receipt": receipt_url or "", "qr": qr_svg}


THUMB_DIR = "thumbs"          # under the media root: the page's copies of photos, by the original's SHA-256
THUMB_SIDE = 800             # a third of an A4 page's width at ~300 dpi
THUMB_QUALITY = 82


def thumbnail(media_root: Path, sha: str) -> str | None:
    """The photo as the page prints it (at most THUMB_SIDE px, JPEG), made once and kept: a
    phone's 2 MB photo is ~50x the pixels a third of an A4 page needs, and typst re-encodes
    every non-JPEG image on each render. The original stays the evidence (its hash is printed)."""
    rel = f"{THUMB_DIR}/{sha}.jpg"
    dest = media_root / rel
    if dest.exists():
        return rel
    src = media_root / _rel(sha)
    if not src.exists():
        return None
    from PIL import Image, ImageOps

    try:
        with Image.open(src) as im:
            im.draft("RGB", (THUMB_SIDE, THUMB_SIDE))       # JPEG: decode at a reduced scale
            im = ImageOps.exif_transpose(im).convert("RGB")
            im.thumbnail((THUMB_SIDE, THUMB_SIDE))
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = dest.with_suffix(f".{os.getpid()}.tmp")
            im.save(tmp, "JPEG", quality=THUMB_QUALITY)
            os.replace(tmp, dest)
    except (OSError, ValueError, Image.DecompressionBombError):
        return None
    return rel


def _rel(sha: str) -> str:
    return f"{sha[:2]}/{sha[2:4]}/{sha}"


def qr_svg(text: str, scale: int = 4) -> str:
    import segno

    buf = io.BytesIO()
    segno.make(text, error="m").save(buf, kind="svg", scale=scale, border=4, light="#fff", xmldecl=False, svgns=True)
    return buf.getvalue().decode()


class Renderer:
    """Holds one typst compiler (fonts loaded once); compiles are serialised by a lock."""

    def __init__(self, media_root: Path):
        import typst

        self.media_root = Path(media_root)
        self.media_root.mkdir(parents=True, exist_ok=True)
        fonts = typst.Fonts(include_system_fonts=False, include_embedded_fonts=False,
                            font_paths=[d for d in FONT_DIRS if Path(d).is_dir()])
        self._compiler = typst.Compiler(root=str(self.media_root), font_paths=fonts)
        self._source = TEMPLATE.replace("__FONT__", FONT).encode()
        self._lock = threading.Lock()

    def render(self, doc: dict, timestamp: datetime | None = None) -> bytes:
        with self._lock:
            return self._compiler.compile(input=self._source, format="pdf",
                                          sys_inputs={"data": orjson.dumps(doc).decode()},
                                          timestamp=timestamp.replace(microsecond=0) if timestamp else None)
