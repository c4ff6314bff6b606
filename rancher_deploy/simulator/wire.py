"""What both generations share on the wire: the request and response types and the route table shape."""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

# Rancher's status -> text table (cattle messages.properties); the code of a plain HTTP error is the
# text itself, space included, e.g. "Not Found" (rancher-api.md §4).
STATUS_TEXT: dict[int, str] = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method not allowed",
    409: "Conflict",
    415: "Unsupported Media Type",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


@dataclass(frozen=True)
class HttpRequest:
    """What the server read off the wire (headers lower-cased)."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    root: str  # the base of every link: scheme://host[:port][/prefix] as Rancher would build it from the headers


@dataclass
class Websocket:
    """A request upgraded to a websocket (a subscribe stream): the server completes the handshake
    the handler has checked (``session``, a ``wsproto`` connection that has read the request) and
    then calls ``poll`` every few milliseconds for the text messages due now.

    ``poll`` returns None to end the stream, raises ``StreamCut`` to drop it without a clean end.
    ``closes_cleanly`` says how the server ends it: a close frame (Jetty's ``Session.close``, cattle)
    or only the TCP close (gorilla's ``Conn.Close``, which norman's subscribe calls).
    """

    session: Any   # wsproto.WSConnection: the wire types stay free of the protocol library
    poll: Callable[[], list[str] | None]
    closes_cleanly: bool = True


@dataclass
class Response:
    """What to answer. ``body`` is sent as JSON unless ``raw`` (bytes as they are, e.g. Norman's
    empty action answer), ``stream`` (chunked, e.g. a Kubernetes watch) or ``websocket`` (status
    101, a subscribe stream) is set."""

    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    project_id: str | None = None
    raw: bytes | None = None
    stream: Iterator[bytes] | None = None
    websocket: Websocket | None = None


class StreamCut(Exception):
    """Raised by a ``Response.stream`` to end the connection without a clean end (no last chunk,
    no close frame): what a proxy that breaks long-lived connections does."""


H = TypeVar("H")


@dataclass(frozen=True)
class Route(Generic[H]):
    """One row of a URL table: method and path pattern -> the callable that answers.

    ``versions`` limits the row to some versions (the 1.x API version, or the 2.x Rancher release
    for surfaces that appeared later); None: every version.
    """

    method: str
    pattern: re.Pattern[str]
    handler: H
    versions: frozenset[str] | None = None


@dataclass(frozen=True)
class Match(Generic[H]):
    handler: H
    params: dict[str, str]


class Miss(enum.Enum):
    """Why no route answered: no pattern matched the path, or one did but not for this method."""

    NOT_FOUND = 404
    METHOD_NOT_ALLOWED = 405


def resolve(routes: Sequence[Route[H]], method: str, path: str, version: str) -> Match[H] | Miss:
    """The first row matching method and path in ``version``, else why none did."""
    path_matched = False
    for route in routes:
        if route.versions is not None and version not in route.versions:
            continue
        found = route.pattern.match(path)
        if found is None:
            continue
        path_matched = True
        if route.method == method:
            return Match(route.handler, {k: v for k, v in found.groupdict().items() if v is not None})
    return Miss.METHOD_NOT_ALLOWED if path_matched else Miss.NOT_FOUND
