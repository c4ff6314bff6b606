"""`rancher-deploy simulate`: serve the Rancher simulator (1.6 or a 2.x) until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType
from typing import NoReturn

from rancher_deploy.simulator import SUPPORTED_RANCHER_VERSIONS, Simulator, Timing
from rancher_deploy.simulator.rancher2.releases import kubernetes_release


_SEEDING = """\
It starts as a fresh install: Rancher 1.6 has environment Default (id 1a5) and the account key
given here; Rancher 2.x has cluster local, projects Default and System and namespace default.
Add stacks and services (1.6) or namespaces and workloads (2.x) with one request to its control
API, which takes no credentials; it answers 201 with the new ids:

  curl -X POST http://127.0.0.1:8080/_sim/seed -H 'Content-Type: application/json' -d '{
    "stacks": [{"name": "shop"}],
    "services": [{"stack": "shop", "name": "web", "scale": 2,
                  "launchConfig": {"imageUuid": "docker:nginx:1.24"}}]}'

  2.x: {"namespaces": [{"name": "shop"}], "workloads": [{"namespace": "shop", "name": "web",
        "replicas": 2, "containers": [{"name": "web", "image": "nginx:1.24"}]}]}

With --state FILE (1.6) what was seeded and changed is saved on exit and loaded at the next start.
Then point the tool at it:

  CATTLE_URL=http://127.0.0.1:8080 CATTLE_ACCESS_KEY=K CATTLE_SECRET_KEY=S \\
    rancher-deploy --service shop/web --image nginx:1.25

docs/simulator.md in the source tree has the whole control API (/_sim/reset, /_sim/advance,
/_sim/faults, /_sim/requests, /_sim/state) and the seed document's every field:
https://github.com/rancher-deploy/rancher-deploy/blob/main/docs/simulator.md
"""


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line and exit 2, as the deploy commands answer them (`cli.build_parser`)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def _port(text: str) -> int:
    """A TCP port number, 0 (any free one) to 65535: a larger one is refused by bind() as an OverflowError."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a port number, got {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"must be 0 (any free port) to 65535, got {port}")
    return port


def _key(text: str) -> str:
    """A key of the simulator's admin API key: an empty one would let an empty Basic login in."""
    if not text.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return text


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="rancher-deploy simulate",
        description="Serve a simulated Rancher API for demos and tests: 1.6 (v1, v2-beta) or 2.x (v3, the "
        "Kubernetes proxy at /k8s/clusters/local, and Steve at /v1 from 2.5 on), until SIGINT or SIGTERM.",
        epilog=_SEEDING,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--port", type=_port, default=8080, help="port to listen on; 0: any free port (default 8080)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: loopback only)")
    parser.add_argument(
        "--access-key", required=True, type=_key,
        help="access key of the admin API key (1.6: an account key; 2.x: token-xxxxx); required",
    )
    parser.add_argument("--secret-key", required=True, type=_key, help="secret key of the admin API key; required")
    parser.add_argument("--state", metavar="FILE",
                        help="JSON state file (1.6 only): loaded at start if present, saved on exit (default: none, "
                        "the state is lost on exit)")
    parser.add_argument(
        "--rancher-version",
        default="1.6",
        help=f"Rancher version to simulate: {', '.join(SUPPORTED_RANCHER_VERSIONS)} (default 1.6)",
    )
    parser.add_argument(
        "--kubernetes-version", metavar="V",
        help="the Kubernetes release of cluster local with a Rancher 2.x, e.g. 1.20 (default: the one that Rancher "
        "version installed); it decides the API versions served, e.g. CronJobs only as batch/v1beta1 before 1.21",
    )
    parser.add_argument(
        "--timing", choices=("fast", "demo", "realistic"), default="demo",
        help="how fast simulated time runs: fast (tests, ~1000x), demo (a scale-2 upgrade takes about 4 s), "
        "realistic (real time) (default demo)",
    )
    parser.add_argument("--tls-cert", metavar="FILE", help="serve HTTPS with this certificate (PEM; default: plain HTTP)")
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
    if options.kubernetes_version and options.rancher_version == "1.6":
        parser.error("--kubernetes-version goes with a Rancher 2.x --rancher-version")
    if options.kubernetes_version:
        try:
            kubernetes_release(options.kubernetes_version)
        except ValueError as exc:
            parser.error(f"--kubernetes-version: {exc}")
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
        kubernetes_version=options.kubernetes_version,
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
