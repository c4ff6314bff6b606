"""Event streams Rancher serves, read by a thread into a queue: a Kubernetes watch (JSON lines over
chunked HTTP) and a subscribe websocket (one JSON text message per event: cattle's and norman's).

A blocking call cannot be interrupted by a signal in Python (PEP 475 retries it), so everything that
may block on the network happens on a daemon thread: opening the connection (the websocket's
handshake, the watch's request) as well as reading it. The wait takes from the thread's queue with
a short timeout, so a SIGTERM, the deadline and the progress deadline are looked at between two
takes whatever the network does, a proxy that never answers the handshake included.

A stream that is open but silent is not trusted for long: where Rancher pings (cattle and norman,
every `PING_SECONDS`), no message for `MISSED_PINGS` pings is a lost stream; a Kubernetes watch,
which has no heartbeat, asks the server to end it after 5-10 minutes as client-go does, and while
a rollout goes on a silence of RANCHER_POLL_INTERVAL (backing off to a minute) is checked by one
read: a read showing a change the watch did not send means a proxy holds it (`kubewatch.KubeWatch`),
and one silent a minute past its window is held for good (the read timeout `json_lines` sets).
Whatever a stream says, a wait confirms a timeout or a missed progress deadline with one read
before giving up (`wait.wait_for`).
"""

from __future__ import annotations

import json
import queue
import socket
import threading
from typing import Any, Callable, Iterator, NamedTuple

import requests
import urllib3

from rancher_deploy.errors import DeployError
from rancher_deploy.http import JSON, RancherSession

# Rancher pings every subscriber every 5 s: cattle's api.sub.ping.interval.millis=5000
# (api-server/defaults.properties), norman's time.NewTicker(5 * time.Second) (pkg/subscribe/handler.go).
PING_SECONDS = 5.0
MISSED_PINGS = 3   # a subscription with no message for this many pings is taken for one a proxy holds


class StreamLost(Exception):
    """An event stream could not be opened, broke (a proxy cut the connection, a reset) or went
    silent: the wait goes on by polling. The message says why, without secrets. `first` says
    whether this was the first loss of the flavour's stream in the run (`Lost.take`): only that
    one is worth a warning."""

    first = True


class StreamEnded(Exception):
    """The server ended the stream cleanly (a watch's `timeoutSeconds`, norman's 30 minutes, a close
    frame): open it again."""


class Lost:
    """Whether a flavour's stream was lost in this run, shared by every wait of the run (parallel
    targets included): set by the first failure, atomically, so that the log says so once and the
    later waits poll without trying again (the same proxy would break or hold them too)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._set = False

    def is_set(self) -> bool:
        with self._lock:
            return self._set

    def take(self, lost: StreamLost) -> StreamLost:
        """Mark the stream lost; `lost.first` says whether this call was the one that did."""
        with self._lock:
            lost.first, self._set = not self._set, True
        return lost


class Connection(NamedTuple):
    """An open stream, as `Feed`'s `connect` answers it.

    Only the reader thread touches the socket's descriptor: `wake` (any thread) shuts the socket
    down, which ends a blocking read at once and frees nothing; `release` (the reader thread, once
    it stopped reading) closes it. A socket closed by another thread frees its descriptor while the
    reader may still be inside a read of it: the next connection the process opens gets that number,
    and the stale reader reads its bytes, or its TLS layer answers them with an alert (the next
    handshake failed with UNEXPECTED_MESSAGE).
    """

    messages: Iterator[Any]
    wake: Callable[[], None]
    release: Callable[[], None]


_END = object()
_OPENED = object()


class Feed:
    """Messages from one connection, opened and read by a daemon thread.

    `connect` opens the connection (it may block for up to RANCHER_REQUEST_TIMEOUT) and answers a
    `Connection`; it raises StreamLost when it cannot. `opened` turns true once the connection is
    open and that was taken from the queue. Any StreamLost raised to the caller is first marked on
    `lost`.
    """

    def __init__(self, connect: Callable[[], Connection], what: str, lost: Lost) -> None:
        self._queue: queue.Queue[Any] = queue.Queue()
        self._what = what
        self._lost = lost
        self._lock = threading.Lock()
        self._wake: Callable[[], None] | None = None
        self._closed = False
        self._waited = False   # a take found nothing while the connection was still being opened
        self.opened = False
        threading.Thread(target=self._pump, args=(connect,), name="rancher-deploy-stream", daemon=True).start()

    def _pump(self, connect: Callable[[], Connection]) -> None:
        try:
            connection = connect()
        except StreamLost as lost:
            self._queue.put(lost)
            return
        try:
            with self._lock:
                closed, self._wake = self._closed, connection.wake
            if closed:   # closed while opening: the wait has moved on
                return
            self._queue.put(_OPENED)
            for message in connection.messages:
                self._queue.put(message)
        except StreamLost as lost:
            self._queue.put(lost)
            return
        except Exception as error:  # noqa: BLE001 - any failure of the connection ends the stream
            self._queue.put(StreamLost(f"{self._what} broke ({type(error).__name__})"))
            return
        finally:
            _quietly(connection.release)
        self._queue.put(_END)

    def get(self, timeout: float) -> Any:
        """The next message, or None when none came within `timeout` seconds (or the connection was
        just opened). Raises StreamLost when it could not be opened, broke or went silent,
        StreamEnded when the server ended the stream cleanly."""
        try:
            item = self._queue.get(timeout=timeout)
        except queue.Empty:
            self._waited = self._waited or not self.opened
            return None
        if item is _OPENED:
            self.opened = True
            return None
        if item is _END:
            raise StreamEnded(self._what)
        if isinstance(item, StreamLost):
            raise self._lost.take(item)
        return item

    def close(self) -> None:
        """Hang up: wake the reader, which then closes the connection itself. A connection still
        being opened after a take waited for it (a proxy that sits on the handshake, as the wait
        ended on a signal or its deadline) marks the stream lost without a word: the next wait, a
        rollback's maybe, polls rather than wait on that proxy again."""
        with self._lock:
            wake, self._closed = (None if self._closed else self._wake), True
            unopened = self._waited and self._wake is None
        if wake is not None:
            _quietly(wake)
        elif unopened:
            self._lost.take(StreamLost(f"{self._what} was still being opened when its wait ended"))


def _quietly(action: Callable[[], None]) -> None:
    try:
        action()
    except Exception:  # noqa: BLE001 - waking or closing a broken connection may fail; nothing to do
        pass


def _shut_down(sock: object) -> None:
    """End every blocking read of `sock` at once, freeing nothing (`Connection.wake`). The plain
    socket's shutdown, also under TLS: `ssl.SSLSocket.shutdown` drops the TLS object, which the
    reader thread is using."""
    if isinstance(sock, socket.socket):
        try:
            socket.socket.shutdown(sock, socket.SHUT_RDWR)
        except OSError:
            pass


def json_lines(open_response: Callable[[], requests.Response], what: str, lost: Lost) -> Feed:
    """A Kubernetes watch: one JSON object per line (`{"type", "object"}`), as the apiserver streams
    it (apimachinery pkg/watch/json; kubectl reads it the same way). `open_response` sends the
    watch's request (on the reader thread) with a read timeout past the watch's own
    `timeoutSeconds`: a silence that long is a watch a proxy holds."""

    def connect() -> Connection:
        try:
            response = open_response()
        except DeployError as error:
            raise StreamLost(f"{what} could not be opened ({error})") from None

        def messages() -> Iterator[JSON]:
            try:
                for line in response.iter_lines():
                    if line.strip():
                        event = json.loads(line)
                        if isinstance(event, dict):
                            yield event
            except requests.exceptions.ConnectionError as error:
                # requests wraps a read timeout while streaming as ConnectionError(ReadTimeoutError).
                if error.args and isinstance(error.args[0], urllib3.exceptions.ReadTimeoutError):
                    raise StreamLost(f"{what} went silent past the time the server was asked to end it in "
                                     "(timeoutSeconds): a proxy holds it") from None
                raise

        return Connection(messages(), lambda: _shut_down(_socket_of(response)), response.close)

    return Feed(connect, what, lost)


def _socket_of(response: requests.Response) -> object:
    """The socket a streamed response reads, or None."""
    # urllib3 keeps the http.client response as `_fp`, whose file reads a socket.SocketIO (`_sock`);
    # there is no public way to the socket of a response being streamed.
    return getattr(getattr(getattr(getattr(response.raw, "_fp", None), "fp", None), "raw", None), "_sock", None)


def subscription(session: RancherSession, url: str, params: dict[str, str], what: str, lost: Lost) -> Feed:
    """A subscribe websocket (`session.open_websocket`, on the reader thread) read into a Feed of its
    JSON messages.

    The Feed says StreamLost when it cannot be opened (a refusal, a proxy that does not pass the
    upgrade or never answers it, TLS), when it breaks (a reset) or stays silent for MISSED_PINGS of
    Rancher's pings, and StreamEnded when Rancher ends it: a close frame (cattle), or the connection
    closed without one (norman's handler returns after its watch's 30 minutes).
    """
    silence = MISSED_PINGS * PING_SECONDS

    def connect() -> Connection:
        try:
            ws = session.open_websocket(url, params, what="Subscribing to Rancher's events")
        except DeployError as error:
            raise StreamLost(f"{what} could not be opened ({error})") from None
        ws.settimeout(silence)

        def messages() -> Iterator[JSON]:
            import websocket  # imported already by the open above

            while True:
                try:
                    text = ws.recv()
                except websocket.WebSocketTimeoutException:
                    raise StreamLost(f"{what} went silent: no message for {silence:g}s, though Rancher pings "
                                     f"every {PING_SECONDS:g}s") from None
                except websocket.WebSocketConnectionClosedException:
                    return   # closed without a close frame, but cleanly (a FIN, not a reset): norman's end
                if not text:
                    return   # a close frame: websocket-client answers it and gives ""
                event = json.loads(text)
                if isinstance(event, dict):
                    yield event

        def release() -> None:
            # On the reader thread: a close frame where the connection still takes one (a wait that
            # ended while it was being opened), then the socket closed.
            try:
                ws.send_close()
            finally:
                ws.shutdown()

        return Connection(messages(), lambda: _shut_down(ws.sock), release)

    return Feed(connect, what, lost)
