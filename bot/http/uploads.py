"""Reading one file from a multipart/form-data request, within a size limit of its own.

The app's `client_max_size` (server.max_body_bytes) is for JSON bodies; files are larger, so the
upload routes stream the form here instead: the file is read up to `max_bytes` and refused with
413 the moment it passes it (or at once, when Content-Length already says so); nothing beyond
the limit is held in memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from aiohttp import BodyPartReader, web

from bot.errors import InputError, InputTooLargeError

CHUNK = 64 * 1024
FORM_OVERHEAD = 64 * 1024  # boundaries, headers and the small text fields around the file
MAX_FIELD_CHARS = 8000


def file_headers(mime_type: str, filename: str, *, inline: bool) -> dict[str, str]:
    """How a stored file is served: as what its bytes are (sniffed at upload), never as a page,
    so no script in it runs; images inline, anything else as a download."""
    name = filename.replace('"', "")
    return {
        "Content-Type": mime_type,
        "Content-Disposition": f'{"inline" if inline else "attachment"}; filename="{name}"',
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Cache-Control": "private, max-age=3600",
    }


@dataclass
class Upload:
    data: bytes
    filename: str | None
    content_type: str | None
    fields: dict[str, str] = field(default_factory=dict)


async def read_upload(
    request: web.Request, max_bytes: int, *, file_field: str = "file", fields: frozenset[str]
) -> Upload:
    """The form's file (`file_field`) and its text fields (only those in `fields`)."""
    if not request.content_type.startswith("multipart/form-data"):
        raise InputError("send the file as multipart/form-data")
    if request.content_length is not None and request.content_length > max_bytes + FORM_OVERHEAD:
        raise InputTooLargeError(f"file is larger than the limit of {max_bytes} bytes")
    reader = await request.multipart()
    found: Upload | None = None
    texts: dict[str, str] = {}
    while True:
        part = await reader.next()
        if part is None:
            break
        if not isinstance(part, BodyPartReader):
            raise InputError("nested multipart is not accepted")
        name = part.name or ""
        if name == file_field:
            if found is not None:
                raise InputError(f"one '{file_field}' per request")
            found = Upload(
                await _read_limited(part, max_bytes),
                part.filename,
                part.headers.get("Content-Type"),
            )
        elif name in fields:
            value = (await _read_limited(part, MAX_FIELD_CHARS * 4)).decode("utf-8", "replace")
            if len(value) > MAX_FIELD_CHARS:
                raise InputError(f"'{name}' is over {MAX_FIELD_CHARS} characters")
            texts[name] = value
        else:
            raise InputError(
                f"unknown form field {name!r}; allowed: {file_field}, " + ", ".join(sorted(fields))
            )
    if found is None:
        raise InputError(f"no '{file_field}' in the form")
    found.fields = texts
    return found


async def _read_limited(part: BodyPartReader, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while chunk := await part.read_chunk(CHUNK):
        size += len(chunk)
        if size > limit:
            raise InputTooLargeError(f"file is larger than the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
