"""`rancher-deploy simulate`: serve the Rancher simulator (1.6 or a 2.x) until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from rancher_deploy.simulator import SUPPORTED_RANCHER_VERSIONS, Simulator, Timing


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rancher-deploy simulate",
        description="Serve a simulated Rancher API for demos and tests: 1.6 (v1, v2-beta) or 2.x (v3, the "
        "Kubernetes proxy at /k8s/clusters/local, and Steve at /v1 from 2.5 on).",
    )
    parser.add_argument("--port", type=int, default=8080, help="port to listen on (0: any free port)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback only)")
    parser.add_argument(
        "--access-key", required=True, help="access key of the admin API key (1.6 account key; 2.x token-xxxxx)"
    )
    parser.add_argument("--secret-key", required=True, help="secret key of the admin API key")
    parser.add_argument("--state", metavar="FILE", help="JSON state file: loaded at start if present, saved on exit")
    parser.add_argument(
        "--rancher-version",
        default="1.6",
        help=f"Rancher version to simulate: {', '.join(SUPPORTED_RANCHER_VERSIONS)} (default 1.6)",
    )
    parser.add_argument(
        "--timing", choices=("fast", "demo", "realistic"), default="demo", help="how fast simulated time runs"
    )
    parser.add_argument("--tls-cert", metavar="FILE", help="serve HTTPS with this certificate (PEM)")
    parser.add_argument("--tls-key", metavar="FILE", help="private key for --tls-cert (PEM)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    options = parser.parse_args(sys.argv[1:] if argv is None else list(argv))
    if options.rancher_version not in SUPPORTED_RANCHER_VERSIONS:
        parser.error(
            f"--rancher-version {options.rancher_version}: not simulated; choose one of "
            + ", ".join(SUPPORTED_RANCHER_VERSIONS)
        )
    if options.state and options.rancher_version != "1.6":
        parser.error("--state is only supported with --rancher-version 1.6")
    if (options.tls_cert is None) != (options.tls_key is None):
        parser.error("--tls-cert and --tls-key go together")
    simulator = Simulator(
        options.access_key,
        options.secret_key,
        rancher_version=options.rancher_version,
        timing=Timing.named(options.timing),
        state_file=options.state,
        host=options.host,
        port=options.port,
        tls_cert=options.tls_cert,
        tls_key=options.tls_key,
    )
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        simulator.start()
    except OSError as exc:
        print(f"rancher-deploy simulate: cannot listen on {options.host}:{options.port}: {exc}", file=sys.stderr)
        return 2
    try:
        print(f"Rancher {options.rancher_version} simulator listening on {simulator.url}", file=sys.stderr, flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        simulator.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


if __name__ == "__main__":
    sys.exit(main())
