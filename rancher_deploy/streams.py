"""Event streams Rancher serves, read by a thread into a queue: a Kubernetes watch (JSON lines over
chunked HTTP) and a subscribe websocket (one JSON text message per event: cattle's and norman's).

A blocking read cannot be interrupted by a signal in Python (PEP 475 retries it), so the connection
is read by a daemon thread and the wait takes from its queue with a short timeout: a SIGTERM, the
deadline and the progress deadline are looked at between two takes whatever the network does.
"""

from __future__ import annotations

import json
import queue
import socket
import threading
from typing import Any, Callable, Iterator

import requests

from rancher_deploy.errors import DeployError
from rancher_deploy.http import JSON, RancherSession

# Rancher pings every subscriber every 5 s (cattle's api.sub.ping.interval.millis, norman's ticker):
# a subscription that stays silent this long (real seconds) is taken for one a proxy cut.
SILENCE_SECONDS = 30.0


class StreamLost(Exception):
    """An event stream could not be opened, or broke (a proxy cut the connection, a reset): the wait
    goes on by polling. The message says why, without secrets."""


class StreamEnded(Exception):
    """The server ended the stream cleanly (a watch's `timeoutSeconds`): open it again."""


_END = object()


class Feed:
    """Messages from one connection, read by a daemon thread (`messages` yields each one)."""

    def __init__(self, messages: Iterator[Any], close: Callable[[], None], what: str) -> None:
        self._queue: queue.Queue[Any] = queue.Queue()
        self._close = close
        self._what = what
        self._closed = False
        threading.Thread(target=self._pump, args=(messages,), name="rancher-deploy-stream", daemon=True).start()

    def _pump(self, messages: Iterator[Any]) -> None:
        try:
            for message in messages:
                self._queue.put(message)
        except StreamLost as lost:
            self._queue.put(lost)
            return
        except Exception as error:  # noqa: BLE001 - any failure of the connection ends the stream
            self._queue.put(StreamLost(f"{self._what} broke ({type(error).__name__})"))
            return
        self._queue.put(_END)

    def get(self, timeout: float) -> Any:
        """The next message, or None when none came within `timeout` seconds. Raises StreamLost when
        the connection broke, StreamEnded when the server ended the stream cleanly."""
        try:
            item = self._queue.get(timeout=timeout)
        except queue.Empty:
            return None
        if item is _END:
            raise StreamEnded(self._what)
        if isinstance(item, StreamLost):
            raise item
        return item

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            try:
                self._close()
            except Exception:  # noqa: BLE001 - closing a broken connection may fail; nothing to do
                pass


def json_lines(response: requests.Response, what: str) -> Feed:
    """A Kubernetes watch: one JSON object per line (`{"type", "object"}`), as the apiserver streams
    it (apimachinery pkg/watch/json; kubectl reads it the same way)."""

    def messages() -> Iterator[JSON]:
        for line in response.iter_lines():
            if line.strip():
                event = json.loads(line)
                if isinstance(event, dict):
                    yield event

    return Feed(messages(), lambda: _cut(response), what)


def _cut(response: requests.Response) -> None:
    """Close a streamed response that another thread is reading: shut the socket down first, which
    ends that thread's blocking read at once (closing the file alone waits for the read's lock)."""
    # urllib3 keeps the http.client response as `_fp`, whose file reads a socket.SocketIO (`_sock`);
    # there is no public way to the socket of a response being streamed.
    sock = getattr(getattr(getattr(getattr(response.raw, "_fp", None), "fp", None), "raw", None), "_sock", None)
    if isinstance(sock, socket.socket):
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    response.close()


def subscription(session: RancherSession, url: str, params: dict[str, str], what: str) -> Feed:
    """A subscribe websocket (`session.open_websocket`) read into a Feed of its JSON messages.

    Raises StreamLost when it cannot be opened (a refusal, a proxy that does not pass the upgrade,
    TLS); the Feed then says StreamLost when it breaks or stays silent past SILENCE_SECONDS, and
    StreamEnded when Rancher closes it with a close frame.
    """
    try:
        ws = session.open_websocket(url, params, what="Subscribing to Rancher's events")
    except DeployError as error:
        raise StreamLost(f"{what} could not be opened ({error})") from None
    ws.settimeout(SILENCE_SECONDS)

    def messages() -> Iterator[JSON]:
        import websocket  # imported already by the open above

        while True:
            try:
                text = ws.recv()
            except websocket.WebSocketTimeoutException:
                raise StreamLost(f"{what} went silent for {SILENCE_SECONDS:g}s") from None
            if not text:
                return  # a close frame: websocket-client answers it and gives ""
            event = json.loads(text)
            if isinstance(event, dict):
                yield event

    def hang_up() -> None:
        # A close frame, without waiting for the answer (the pump thread is reading), then the socket
        # shut down, which ends that thread's read at once.
        try:
            ws.send_close()
        finally:
            ws.abort()
            ws.shutdown()

    return Feed(messages(), hang_up, what)
