"""The websocket side of the simulator's one HTTP server: a subscribe request upgraded in place.

`http.server` has read the request; ``wsproto`` (sans-I/O) runs the protocol on that connection:
it checks the handshake, answers 101, frames each message, answers pings and the client's close.
Nothing here knows which Rancher is played: a handler checks the request with ``handshake`` and
answers a ``wire.Websocket`` whose ``poll`` says what to send, and ``serve`` runs it.
"""

from __future__ import annotations

import socket
import struct

from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, CloseConnection, Ping, Request, TextMessage
from wsproto.utilities import RemoteProtocolError

from rancher_deploy.simulator.wire import HttpRequest, StreamCut, Websocket

TICK = 0.02   # real seconds between two looks at what is due (the client's frames are read meanwhile)
NORMAL_CLOSURE = 1000   # RFC 6455 §7.4.1


def handshake(req: HttpRequest) -> WSConnection | None:
    """A server-side connection that has read this request's websocket handshake, or None when the
    request is not a valid one (no `Upgrade: websocket`, no key, another version: RFC 6455 §4.2.1)."""
    target = req.path + (f"?{req.query}" if req.query else "")
    head = f"{req.method} {target} HTTP/1.1\r\n" + "".join(f"{name}: {value}\r\n" for name, value in req.headers.items())
    session = WSConnection(ConnectionType.SERVER)
    try:
        session.receive_data(head.encode("latin-1") + b"\r\n")
        events = list(session.events())
    except (RemoteProtocolError, UnicodeEncodeError):
        return None
    return session if any(isinstance(event, Request) for event in events) else None


def serve(conn: socket.socket, websocket: Websocket, headers: dict[str, str]) -> None:
    """Accept the handshake on ``conn`` (101 with ``headers``), then send what ``websocket.poll``
    gives until it ends the stream, the client closes, or the connection breaks; returns then."""
    session: WSConnection = websocket.session
    try:
        conn.sendall(session.send(AcceptConnection(extra_headers=[(k.encode(), v.encode()) for k, v in headers.items()])))
        conn.settimeout(TICK)
        while True:
            if not _read(conn, session):
                return
            messages = websocket.poll()
            if messages is None:
                if websocket.closes_cleanly:
                    conn.sendall(session.send(CloseConnection(code=NORMAL_CLOSURE)))
                return
            for text in messages:
                conn.sendall(session.send(TextMessage(data=text)))
    except StreamCut:
        # No close frame and no FIN: a reset (SO_LINGER 0), what a proxy that breaks long-lived
        # connections does. A FIN without a close frame is how norman itself ends a subscription
        # (its handler's deferred Conn.Close after the watch's 30 minutes), which a client subscribes
        # again after; a reset it does not.
        try:
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()
        except OSError:
            pass
    except OSError:
        pass  # the client went away


def _read(conn: socket.socket, session: WSConnection) -> bool:
    """Read what the client sent within one tick and answer its control frames; False once it
    closed (a close frame, answered, or the TCP connection). Its messages are read and dropped, as
    both Rancher generations do (norman's subscribe reads only to notice a closed connection)."""
    try:
        data = conn.recv(65536)
    except TimeoutError:
        return True
    if not data:
        return False
    session.receive_data(data)
    for event in session.events():
        if isinstance(event, Ping):
            conn.sendall(session.send(event.response()))
        elif isinstance(event, CloseConnection):
            conn.sendall(session.send(event.response()))
            return False
    return True
