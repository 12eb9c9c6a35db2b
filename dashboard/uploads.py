"""Streaming multipart uploads: the request body is parsed as it arrives (python-multipart's
push parser) and the file part written straight into the media store's temporary file, so a
100 MB video never sits in the web process's memory and is written to disk once. Small form
fields (item, taken_at, lat, lon) are collected beside it."""
from __future__ import annotations

from fastapi import Request
from python_multipart.multipart import MultipartParser, parse_options_header

from alerts.errors import Invalid
from casework.media import MediaStore, Stored, TooLarge, Unsupported

MAX_FIELD_BYTES = 8192  # a 2,000-character description in UTF-8 (CONTRACT.md section 8)


async def receive_file(request: Request, store: MediaStore, field: str = "file",
                       required: bool = True) -> tuple[Stored | None, dict[str, str]]:
    """(the stored file, the other form fields) of a multipart/form-data request with one file;
    the file is None when it is not `required` and none was sent."""
    files, fields = await receive_files(request, store, field, required=required, most=1)
    return (files[0] if files else None), fields


async def receive_files(request: Request, store: MediaStore, field: str = "file", *,
                        required: bool = True, most: int = 8) -> tuple[list[Stored], dict[str, str]]:
    """(the stored files, the other form fields): every part named `field` with a filename, at
    most `most` of them (the request as a whole is held to the size limit of one file)."""
    ctype, opts = parse_options_header(request.headers.get("content-type", ""))
    if ctype != b"multipart/form-data" or b"boundary" not in opts:
        raise Unsupported(f"send multipart/form-data with the file in field {field!r}")
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > store.max_bytes + 64 * 1024:
        raise TooLarge(f"the file is larger than the limit of {store.max_bytes // (1 << 20)} MB",
                       limit_bytes=store.max_bytes)
    fields: dict[str, str] = {}
    state = {"name": None, "headers": {}, "hname": b"", "hvalue": b"", "upload": None, "value": b"", "error": None}
    uploads = []
    done: list[Stored] = []

    def on_header_field(data, start, end):
        state["hname"] += data[start:end]

    def on_header_value(data, start, end):
        state["hvalue"] += data[start:end]

    def on_header_end():
        state["headers"][state["hname"].decode("latin-1").lower()] = state["hvalue"].decode("utf-8", "replace")
        state["hname"], state["hvalue"] = b"", b""

    def on_headers_finished():
        _, o = parse_options_header(state["headers"].get("content-disposition", ""))
        state["name"] = (o.get(b"name") or b"").decode("utf-8", "replace")
        if state["name"] == field and b"filename" in o:
            if len(uploads) >= most:
                state["error"] = Invalid(f"at most {most} files in form field {field!r}", field=field)
                return
            state["upload"] = store.upload(state["headers"].get("content-type"))
            uploads.append(state["upload"])

    def on_part_data(data, start, end):
        if state["error"] is not None:
            return
        try:
            if state["upload"] is not None:
                state["upload"].write(bytes(data[start:end]))
            else:
                state["value"] += data[start:end]
                if len(state["value"]) > MAX_FIELD_BYTES:
                    raise Invalid(f"form field {state['name']!r} is longer than {MAX_FIELD_BYTES} bytes", field=state["name"])
        except Exception as exc:  # noqa: BLE001 - kept and raised after the parser returns
            state["error"] = exc

    def on_part_end():
        if state["upload"] is None and state["name"]:
            fields[state["name"]] = state["value"].decode("utf-8", "replace")
        state.update(name=None, headers={}, upload=None, value=b"")

    parser = MultipartParser(opts[b"boundary"], callbacks={
        "on_header_field": on_header_field, "on_header_value": on_header_value,
        "on_header_end": on_header_end, "on_headers_finished": on_headers_finished,
        "on_part_data": on_part_data, "on_part_end": on_part_end})
    try:
        async for chunk in request.stream():
            parser.write(chunk)
            if state["error"] is not None:
                raise state["error"]
        parser.finalize()
        if not uploads and required:
            raise Invalid(f"no file in form field {field!r}", field=field)
        for up in uploads:
            done.append(up.finish())
        return done, fields
    except BaseException:
        for up in uploads:
            up.abort()
        for f in done:          # a later file refused: the earlier ones go too, unless kept before
            if f.new:
                store.path(f.sha256).unlink(missing_ok=True)
        raise
