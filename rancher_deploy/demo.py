"""`rancher-deploy demo`: a real upgrade, through the real code path, against an in-process simulator.

The demo is the README's "run the main job" command, so it must show exactly what a pipeline would
see: it starts the bundled simulator (Rancher 1.6 by default, or a 2.x) on a free loopback port,
seeds a service or a deployment, and then runs the ordinary CLI with the same environment variables
a pipeline would set. Nothing is special-cased for the demo on the client side.
"""

from __future__ import annotations

import argparse
import dataclasses
import secrets
import sys
from typing import Sequence

from rancher_deploy import cli
from rancher_deploy.simulator import Simulator, Timing

DEMO_STACK = "shop"
DEMO_SERVICE = "web"
OLD_IMAGE = "registry.example.com:5000/shop/web:2.0"
NEW_IMAGE = "registry.example.com:5000/shop/web:2.1"
BROKEN_IMAGE = "registry.example.com:5000/shop/web:2.2-broken"

# A launch config with the fields users care about keeping: the demo's last line shows they survived.
DEMO_LAUNCH_CONFIG: dict[str, object] = {
    "imageUuid": f"docker:{OLD_IMAGE}",
    "kind": "container",
    "environment": {"SHOP_MODE": "production", "FEATURE_FLAGS": "a,b,c"},
    "labels": {
        "io.rancher.scheduler.affinity:host_label": "tier=web",
        "io.rancher.container.pull_image": "always",
    },
    "ports": ["8080:80/tcp"],
    "healthCheck": {
        "type": "instanceHealthCheck",
        "port": 80,
        "interval": 2000,
        "healthyThreshold": 2,
        "unhealthyThreshold": 3,
        "responseTimeout": 2000,
        "strategy": "recreate",
        "requestLine": "GET /healthz HTTP/1.0",
    },
    "networkMode": "managed",
    "startOnCreate": True,
}


def _parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="rancher-deploy demo",
        description=(
            "Start the bundled Rancher 1.6 simulator, seed a service and upgrade it through the real "
            "code path. Exits with the code a pipeline would get."
        ),
    )
    parser.add_argument(
        "--scenario",
        choices=("upgrade", "unhealthy"),
        default="upgrade",
        help=(
            "upgrade: a healthy new image, finished (exit 0); unhealthy: a new image that never becomes "
            "healthy, rolled back automatically (exit 1)"
        ),
    )
    parser.add_argument(
        "--rancher-version",
        choices=("1.6", "2.4", "2.8"),
        default="1.6",
        help="1.6: a Rancher 1.x service (API v2-beta); 2.4: a 2.x deployment through the v3 API; "
             "2.8: a 2.x deployment through the Kubernetes API Rancher proxies",
    )
    parser.add_argument(
        "--output", choices=("text", "json"), default="text", help="as for the upgrade command"
    )
    parser.add_argument(
        "--fast",
        action="store_true",
        help="run the simulator at test speed instead of the few seconds a demo takes",
    )
    return parser.parse_args(list(argv))


def main(argv: Sequence[str] | None = None) -> int:
    options = _parse(sys.argv[1:] if argv is None else argv)
    access_key = "demo-" + secrets.token_hex(4)
    secret_key = secrets.token_urlsafe(24)
    timing = Timing.fast() if options.fast else Timing.demo()
    image = BROKEN_IMAGE if options.scenario == "unhealthy" else NEW_IMAGE
    if options.scenario == "unhealthy":
        # Rancher reports a container that never gets healthy after 45 s; the demo shortens that wait.
        timing = dataclasses.replace(timing, health_wait_limit=8.0)

    if options.rancher_version != "1.6":
        return _demo_rancher_2(options, timing, image)

    with Simulator(access_key=access_key, secret_key=secret_key, timing=timing) as sim:
        if options.scenario == "unhealthy":
            sim.faults.unhealthy_image(BROKEN_IMAGE)
        stack_id = sim.add_stack(DEMO_STACK)
        service_id = sim.add_service(stack_id, DEMO_SERVICE, dict(DEMO_LAUNCH_CONFIG), scale=2)
        print(
            f"Demo: Rancher 1.6 simulator at {sim.url}; service {DEMO_STACK}/{DEMO_SERVICE} runs "
            f"{OLD_IMAGE} on 2 containers; upgrading it to {image}.",
            file=sys.stderr,
        )
        environ = {
            "CATTLE_URL": sim.url,
            "CATTLE_ACCESS_KEY": access_key,
            "CATTLE_SECRET_KEY": secret_key,
            "RANCHER_STACK": DEMO_STACK,
            "RANCHER_SERVICE": DEMO_SERVICE,
            "RANCHER_IMAGE": image,
            "RANCHER_OUTPUT": options.output,
            "RANCHER_POLL_INTERVAL": "0.01" if options.fast else "0.5",
            "RANCHER_BATCH_INTERVAL": "0.1" if options.fast else "1",
            "RANCHER_TIMEOUT": "120",
            # Rancher 1.x waits for ever for containers that never get healthy; the tool's progress
            # deadline (300 s by default) decides instead, shortened here to keep the demo short.
            "RANCHER_PROGRESS_DEADLINE": "300" if options.scenario != "unhealthy" else "0.3" if options.fast else "12",
        }
        code = cli.main(["upgrade"], environ=environ, dotenv_path=None)
        print(_epilogue(sim.service(service_id)), file=sys.stderr)
        return code


# A 2.x deployment: the container as Kubernetes holds it, with the fields users need kept.
DEMO_CONTAINER: dict[str, object] = {
    "name": DEMO_SERVICE,
    "image": OLD_IMAGE,
    "ports": [{"containerPort": 80, "protocol": "TCP", "name": "http"}],
    "env": [{"name": "SHOP_MODE", "value": "production"}, {"name": "FEATURE_FLAGS", "value": "a,b,c"}],
    "resources": {"limits": {"memory": "256Mi"}, "requests": {"cpu": "100m"}},
    # With the probe's defaults the apiserver stores (SetDefaults_Probe, SetDefaults_HTTPGetAction).
    "readinessProbe": {"httpGet": {"path": "/healthz", "port": 80, "scheme": "HTTP"}, "periodSeconds": 2,
                       "timeoutSeconds": 1, "successThreshold": 1, "failureThreshold": 3},
    "imagePullPolicy": "Always",
}


def _demo_rancher_2(options: argparse.Namespace, timing: Timing, image: str) -> int:
    token_id = "token-" + secrets.token_hex(3)
    token_secret = secrets.token_urlsafe(24)
    # Kubernetes' own progress deadline is 600 s; the unhealthy scenario shortens it to keep the demo short.
    deadline = 12 if options.scenario == "unhealthy" else 600
    with Simulator(access_key=token_id, secret_key=token_secret, timing=timing,
                   rancher_version=options.rancher_version) as sim:
        if options.scenario == "unhealthy":
            sim.faults.unhealthy_image(BROKEN_IMAGE)
        sim.add_namespace(DEMO_STACK)
        sim.add_workload(DEMO_STACK, DEMO_SERVICE, [dict(DEMO_CONTAINER)], replicas=3,
                         progress_deadline_seconds=deadline)
        print(f"Demo: Rancher {options.rancher_version} simulator at {sim.url}; deployment "
              f"{DEMO_STACK}/{DEMO_SERVICE} runs {OLD_IMAGE} on 3 pods; upgrading it to {image}.", file=sys.stderr)
        environ = {
            "CATTLE_URL": sim.url,
            "RANCHER_TOKEN": f"{token_id}:{token_secret}",
            "RANCHER_NAMESPACE": DEMO_STACK,
            "RANCHER_WORKLOAD": f"deployment:{DEMO_SERVICE}",
            "RANCHER_IMAGE": image,
            "RANCHER_OUTPUT": options.output,
            "RANCHER_POLL_INTERVAL": "0.01" if options.fast else "0.5",
            "RANCHER_TIMEOUT": "120",
        }
        code = cli.main(["upgrade"], environ=environ, dotenv_path=None)
        workload = sim.workload("deployment", DEMO_STACK, DEMO_SERVICE)
        container = workload["spec"]["template"]["spec"]["containers"][0]
        kept = [key for key, value in DEMO_CONTAINER.items() if key != "image" and container.get(key) == value]
        status = workload.get("status") or {}
        print(f"Demo: the simulator now shows {DEMO_STACK}/{DEMO_SERVICE} on {container.get('image')}, "
              f"{status.get('availableReplicas', 0)}/{workload['spec'].get('replicas')} available; "
              f"container fields kept unchanged: {', '.join(kept)}", file=sys.stderr)
        return code


def _epilogue(service: dict[str, object]) -> str:
    """Show, from the simulator's side, what the run left behind and that nothing else changed."""
    launch_config = service.get("launchConfig")
    assert isinstance(launch_config, dict)
    kept = [key for key, value in DEMO_LAUNCH_CONFIG.items() if key != "imageUuid" and launch_config.get(key) == value]
    lost = [key for key in DEMO_LAUNCH_CONFIG if key != "imageUuid" and key not in kept]
    text = (f"Demo: the simulator now shows {DEMO_STACK}/{DEMO_SERVICE} {service.get('state')} on "
            f"{str(launch_config.get('imageUuid')).removeprefix('docker:')}; "
            f"launch config fields kept unchanged: {', '.join(kept)}")
    return text + (f"; CHANGED: {', '.join(lost)}" if lost else "")
