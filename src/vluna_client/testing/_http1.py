"""HTTP/1.1 framing rules the emulator enforces, measured against Node's parser (llhttp) behind Fastify 5.

Node refuses what Python's ``http.server`` lets through: a ``Content-Length`` that is not plain digits (``+2``,
``1_0``, ``-1``) or that appears twice, ``Content-Length`` together with ``Transfer-Encoding``, a transfer coding
other than ``chunked``, chunk sizes that are not plain hex (``-1``, ``0x2``, ``2 ``, 17 digits), lines ended by a
bare LF, folded header lines, blanks before the colon, and control bytes (NUL included) in names or values. Each of
those answers Fastify's client-error reply (400 with a small JSON body) and the connection is closed; a request
whose headers are not complete within the header deadline gets Fastify's 408 reply the same way.
"""

from __future__ import annotations

import re
from typing import Dict, List, Optional, Tuple

__all__ = [
    "SINGLE_VALUE_HEADERS",
    "FramingError",
    "client_error_bytes",
    "combine_headers",
    "parse_chunk_size",
    "parse_content_length",
    "split_header_lines",
]

# Node keeps only the first value of these request headers; every other repeated header is joined with ", ".
SINGLE_VALUE_HEADERS = frozenset(
    {
        "age",
        "authorization",
        "content-length",
        "content-type",
        "etag",
        "expires",
        "from",
        "host",
        "if-modified-since",
        "if-unmodified-since",
        "last-modified",
        "location",
        "max-forwards",
        "proxy-authorization",
        "referer",
        "retry-after",
        "server",
        "user-agent",
    }
)

_TOKEN = re.compile(rb"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
# A field value: visible ASCII, blanks and obs-text (bytes >= 0x80); no other control byte, NUL included.
_FIELD_VALUE = re.compile(rb"^[\t\x20-\x7e\x80-\xff]*$")
_DIGITS = re.compile(r"^[0-9]+$")
_HEX = re.compile(rb"^[0-9A-Fa-f]{1,16}$")
_CHUNK_EXTENSION = re.compile(rb"^(;[\t\x20-\x7e\x80-\xff]*)?$")
_STATUS_TEXT = {400: "Bad Request", 408: "Request Timeout", 431: "Request Header Fields Too Large"}
_CLIENT_MESSAGE = {400: "Client Error", 408: "Client Timeout", 431: "Exceeded maximum allowed HTTP header size"}


class FramingError(Exception):
    """The request breaks HTTP/1.1 framing the way Node refuses; ``status`` is what Fastify answers (400)."""

    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.status = status


def client_error_bytes(status: int) -> bytes:
    """The raw reply Fastify's default client-error handler writes before it destroys the socket."""
    text = _STATUS_TEXT.get(status, "Bad Request")
    message = _CLIENT_MESSAGE.get(status, "Client Error")
    body = f'{{"error":"{text}","message":"{message}","statusCode":{status}}}'
    head = f"HTTP/1.1 {status} {text}\r\nContent-Length: {len(body)}\r\nContent-Type: application/json\r\n\r\n"
    return (head + body).encode("ascii")


def split_header_lines(lines: List[bytes]) -> List[Tuple[str, str]]:
    """Raw header lines (each with its line ending, the blank terminator excluded) as ``(name, value)`` pairs.

    Raises:
        FramingError: a bare-LF line ending, a folded line, a name with blanks or other non-token bytes, or a
            control byte in a value.
    """
    pairs: List[Tuple[str, str]] = []
    for line in lines:
        if not line.endswith(b"\r\n"):
            raise FramingError("header line not ended by CRLF")
        content = line[:-2]
        if content[:1] in (b" ", b"\t"):
            raise FramingError("folded header line")
        name, colon, value = content.partition(b":")
        if not colon or not _TOKEN.match(name):
            raise FramingError("invalid header name")
        value = value.strip(b" \t")
        if not _FIELD_VALUE.match(value):
            raise FramingError("invalid header value")
        pairs.append((name.decode("ascii").lower(), value.decode("latin-1")))
    return pairs


def combine_headers(pairs: List[Tuple[str, str]]) -> Dict[str, str]:
    """Header values by lower-case name, duplicates combined the way Node.js combines them."""
    combined: Dict[str, List[str]] = {}
    for name, value in pairs:
        combined.setdefault(name, []).append(value)
    return {name: values[0] if name in SINGLE_VALUE_HEADERS else ", ".join(values) for name, values in combined.items()}


def parse_content_length(pairs: List[Tuple[str, str]]) -> Tuple[Optional[int], bool]:
    """``(content_length or None, chunked)`` from the raw header pairs, refusing what llhttp refuses.

    Raises:
        FramingError: a repeated or non-digit ``Content-Length``, both framings at once, or a transfer coding
            other than a single ``chunked``.
    """
    lengths = [value for name, value in pairs if name == "content-length"]
    codings = [value for name, value in pairs if name == "transfer-encoding"]
    if len(lengths) > 1:
        raise FramingError("duplicate Content-Length")
    length: Optional[int] = None
    if lengths:
        if not _DIGITS.match(lengths[0]):
            raise FramingError("invalid Content-Length")
        length = int(lengths[0])
    chunked = False
    if codings:
        names = [part.strip(" \t").lower() for value in codings for part in value.split(",")]
        if names != ["chunked"]:
            raise FramingError("unsupported Transfer-Encoding")
        if length is not None:
            raise FramingError("Content-Length with Transfer-Encoding")
        chunked = True
    return length, chunked


def parse_chunk_size(line: bytes) -> int:
    """The size announced by a chunk-size line (``1a`` or ``1a;name=value``, then CRLF).

    Raises:
        FramingError: no CRLF, or a size that is not 1 to 16 hex digits followed directly by CRLF or ``;``.
    """
    if not line.endswith(b"\r\n"):
        raise FramingError("chunk size line not ended by CRLF")
    content = line[:-2]
    size_end = len(content)
    for index, byte in enumerate(content):
        if byte == 0x3B:  # ";"
            size_end = index
            break
    size, extension = content[:size_end], content[size_end:]
    if not _HEX.match(size) or not _CHUNK_EXTENSION.match(extension):
        raise FramingError("invalid chunk size")
    return int(size, 16)
