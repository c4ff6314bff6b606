"""A request body sent with Transfer-Encoding: chunked, decoded in bounded pieces.

Why not cheroot's own reader (cheroot/server.py ChunkedRFile._fetch): without a
max_request_body_size it reads each chunk whole (`rfile.read(int(size, 16))`), so one chunk announced
as 200 MiB is buffered before the application sees a byte of it; a size past ssize_t raises
OverflowError (a 500); a negative size (`-5`) is taken as the last chunk. And setting
max_request_body_size would also make cheroot answer a large Content-Length itself, as plain text and
before the credentials are looked at. This reader follows RFC 9112 section 7.1 (chunk-size = 1*HEXDIG,
chunk extensions after `;`, trailer lines after the last chunk) and never holds more than the limit
plus one line.
"""

from __future__ import annotations

import re
from typing import BinaryIO

# A chunk-size line, extensions included, or a trailer line, longer than this is no valid coding of a
# notification's body; bounded so a line without its LF is never buffered whole.
MAX_LINE_BYTES = 1024
# Trailer lines after the last chunk accepted before the coding is called invalid.
MAX_TRAILER_LINES = 32
_SIZE = re.compile(rb"[0-9A-Fa-f]+")


class NotChunked(ValueError):
    """The body is not valid chunked transfer coding (answered 400); `str()` says where."""


class TooLarge(Exception):
    """The chunks announce more than the limit (answered 413); raised before the chunk is read."""


class ChunkedBody:
    """A file-like `read()` over `stream` (the connection, positioned after the headers) returning the
    decoded body, at most `limit` bytes of it.

    Raises TooLarge as soon as a chunk-size line would take the body past `limit` bytes, before that
    chunk's data is read, and NotChunked for a size line that is not hexadecimal, a chunk not ended by
    CRLF, a line longer than MAX_LINE_BYTES or a body that ends early. After the last chunk and its
    trailers are read the connection is positioned at the next request, so keep-alive still works.
    """

    def __init__(self, stream: BinaryIO, limit: int) -> None:
        self._stream = stream
        self._limit = limit
        self._total = 0       # bytes of data announced so far (the limit applies to them)
        self._left = 0        # bytes of the current chunk not read yet
        self._done = False

    def read(self, size: int | None = None) -> bytes:
        """Up to `size` decoded bytes (None or negative: all of them, up to the limit); b"" at the end."""
        wanted = self._limit + 1 if size is None or size < 0 else size
        pieces: list[bytes] = []
        got = 0
        while got < wanted and not self._done:
            if self._left == 0:
                self._next_chunk()
                continue
            piece = self._stream.read(min(self._left, wanted - got))
            if not piece:
                raise NotChunked("the body ended inside a chunk")
            pieces.append(piece)
            got += len(piece)
            self._left -= len(piece)
            if self._left == 0:
                self._end_of_chunk()
        return b"".join(pieces)

    def _line(self) -> bytes:
        line = self._stream.readline(MAX_LINE_BYTES + 1)
        if not line.endswith(b"\n"):
            raise NotChunked("a line longer than 1024 bytes" if len(line) > MAX_LINE_BYTES
                             else "the body ended before its last chunk")
        return line.rstrip(b"\r\n")

    def _next_chunk(self) -> None:
        # chunk-size [ chunk-ext ] CRLF; whitespace before `;` is tolerated (RFC 9112 7.1.1, BWS).
        text = self._line().split(b";", 1)[0].strip(b" \t")
        if not _SIZE.fullmatch(text):
            raise NotChunked(f"chunk size {text[:40]!r} is not hexadecimal")
        # Judged by its digits first: int() of thousands of digits is slow, and any size past the limit
        # is refused whatever its value.
        digits = text.lstrip(b"0") or b"0"
        if len(digits) > len(f"{self._limit:x}") or self._total + int(digits, 16) > self._limit:
            raise TooLarge()
        self._left = int(digits, 16)
        self._total += self._left
        if self._left == 0:
            self._trailers()

    def _end_of_chunk(self) -> None:
        if self._stream.read(2) != b"\r\n":
            raise NotChunked("a chunk is not ended by CRLF")

    def _trailers(self) -> None:
        for _ in range(MAX_TRAILER_LINES):
            if not self._line():
                self._done = True
                return
        raise NotChunked(f"more than {MAX_TRAILER_LINES} trailer lines")
