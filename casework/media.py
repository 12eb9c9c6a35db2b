"""Evidence files (photos, voice, video, signatures) on the filesystem under
GRIDWATCH_MEDIA_DIR, each named by its SHA-256 (`ab/cd/abcd...`), with a row in `media`.

An upload is streamed to a temporary file in the same directory while it is hashed (never held
whole in memory), fsynced and renamed into place, so a crash leaves either the whole file or
none; the same bytes twice are stored once. The type is judged from the bytes (`filetype`):
the declared header must agree with them, and only the contract's types are taken."""
from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import filetype

from alerts.errors import AlertsError

# CONTRACT.md section 7. Sniffed container -> the declared types it may carry (a WebM or MP4
# container holds audio or video; the browser's MediaRecorder says which).
ALLOWED = ("image/jpeg", "image/png", "image/webp", "audio/webm", "audio/mp4", "audio/mpeg",
           "audio/ogg", "video/webm", "video/mp4")
CONTAINERS = {
    "image/jpeg": ("image/jpeg",), "image/png": ("image/png",), "image/webp": ("image/webp",),
    "video/webm": ("video/webm", "audio/webm"), "video/mp4": ("video/mp4", "audio/mp4"),
    "audio/mp4": ("audio/mp4", "video/mp4"), "audio/m4a": ("audio/mp4",),
    "audio/mpeg": ("audio/mpeg",), "audio/ogg": ("audio/ogg",), "video/quicktime": (),
}
SNIFF_BYTES = 8192
CHUNK = 1 << 20


class TooLarge(AlertsError):
    status = 413


class Unsupported(AlertsError):
    status = 415


@dataclass(frozen=True)
class Stored:
    sha256: str
    size: int
    type: str
    new: bool          # False: these bytes were already stored

    def to_dict(self) -> dict:
        return {"sha256": self.sha256, "size": self.size, "type": self.type}


def judge_type(head: bytes, declared: str | None) -> str:
    """The media type of a file from its first bytes and the declared Content-Type."""
    kind = filetype.guess(head)
    sniffed = kind.mime if kind else None
    declared = (declared or "").split(";")[0].strip().lower() or None
    if sniffed is None:
        raise Unsupported("the file's bytes are not of an accepted type", allowed=list(ALLOWED),
                          declared=declared)
    may_be = CONTAINERS.get(sniffed, ())
    if not may_be:
        raise Unsupported(f"files of type {sniffed} are not accepted", allowed=list(ALLOWED), sniffed=sniffed)
    if declared in may_be:
        return declared
    if declared in (None, "application/octet-stream"):
        return may_be[0]
    raise Unsupported(f"declared {declared} but the bytes are {sniffed}", allowed=list(ALLOWED),
                      declared=declared, sniffed=sniffed)


class Upload:
    """One file being received: write() chunks as they come, then finish() (or abort())."""

    def __init__(self, store: "MediaStore", declared: str | None):
        store.root.mkdir(parents=True, exist_ok=True)
        self.store, self.declared = store, declared
        self.tmp = tempfile.NamedTemporaryFile(dir=store.root, prefix=".upload-", delete=False)
        self.h = hashlib.sha256()
        self.size = 0
        self.head = b""
        self.type: str | None = None

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.store.max_bytes:
            self.abort()
            raise TooLarge(f"the file is larger than the limit of {self.store.max_bytes // (1 << 20)} MB",
                           limit_bytes=self.store.max_bytes)
        if self.type is None:
            self.head += chunk
            if len(self.head) >= SNIFF_BYTES:
                self._judge()
        self.h.update(chunk)
        self.tmp.write(chunk)

    def _judge(self) -> None:
        try:
            self.type = judge_type(self.head, self.declared)
        except Unsupported:
            self.abort()
            raise
        self.head = b""

    def finish(self) -> Stored:
        if self.size == 0:
            self.abort()
            raise Unsupported("the file is empty", allowed=list(ALLOWED))
        if self.type is None:
            self._judge()
        tmp = self.tmp
        tmp.flush()
        os.fsync(tmp.fileno())
        tmp.close()
        sha = self.h.hexdigest()
        dest = self.store.path(sha)
        if dest.exists():
            os.unlink(tmp.name)
            return Stored(sha, self.size, self.type, new=False)
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.rename(tmp.name, dest)
        fd = os.open(dest.parent, os.O_RDONLY)
        try:
            os.fsync(fd)          # the rename itself survives a crash
        finally:
            os.close(fd)
        return Stored(sha, self.size, self.type, new=True)

    def abort(self) -> None:
        if not self.tmp.closed:
            self.tmp.close()
        if os.path.exists(self.tmp.name):
            os.unlink(self.tmp.name)


class MediaStore:
    def __init__(self, root: Path, max_bytes: int):
        self.root = Path(root)
        self.max_bytes = max_bytes

    def path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def upload(self, declared: str | None) -> Upload:
        return Upload(self, declared)

    def save(self, chunks: Iterable[bytes], declared: str | None) -> Stored:
        up = self.upload(declared)
        try:
            for chunk in chunks:
                up.write(chunk)
            return up.finish()
        except BaseException:
            up.abort()
            raise


def record_row(cur, stored: Stored, actor: str) -> None:
    """The file's row in `media` (once per distinct content)."""
    cur.execute("INSERT INTO media (sha256, size, type, created_by) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (sha256) DO NOTHING", (stored.sha256, stored.size, stored.type, actor))


def attach(cur, stored: Stored, *, record_type: str, record_id: str, actor: str, item: str = "",
           taken_at=None, lat: float | None = None, lon: float | None = None) -> None:
    """Links a stored file to a record (in the caller's transaction, beside its audit entry)."""
    record_row(cur, stored, actor)
    cur.execute("INSERT INTO record_media (record_type, record_id, sha256, item, taken_at, lat, lon, added_by) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                (record_type, record_id, stored.sha256, item, taken_at, lat, lon, actor))


def info(cur, sha256: str) -> dict | None:
    cur.execute("SELECT sha256, size, type, created_at FROM media WHERE sha256 = %s", (sha256,))
    return cur.fetchone()
