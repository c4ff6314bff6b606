"""What RANCHER_CREATE makes of a missing target: the port form and the body each API takes; no I/O."""

from __future__ import annotations

import pytest

from rancher_deploy.creation import WORKLOAD_SELECTOR, Blueprint, Creation, Port, deployment_body, service_body, v3_body
from rancher_deploy.images import ImageRef
from rancher_deploy.plan import plan_creation
from rancher_deploy.targets import ServiceTarget, WorkloadTarget

IMAGE = ImageRef.parse("registry.example.com:5000/shop/web:2.1")
BLUEPRINT = Blueprint(IMAGE, scale=2, ports=(Port(80, 8080), Port(53, None, "udp")),
                      env=(("DATABASE_URL", "postgres://secret@db/shop"),), labels=(("tier", "web"),))


@pytest.mark.parametrize(("text", "port", "shown"), [
    ("8080:80/tcp", Port(80, 8080, "tcp"), "8080:80/tcp"),
    ("8080:80", Port(80, 8080, "tcp"), "8080:80/tcp"),
    ("53/udp", Port(53, None, "udp"), "53/udp"),
    ("80", Port(80), "80/tcp"),
    (" 443:8443/TCP ", Port(8443, 443, "tcp"), "443:8443/tcp"),
])
def test_ports_are_read_in_rancher_s_form(text: str, port: Port, shown: str) -> None:
    assert Port.parse(text) == port
    assert str(Port.parse(text)) == shown


@pytest.mark.parametrize(("text", "problem"), [
    ("http", "must be [PUBLIC:]PRIVATE[/tcp|udp]"),
    ("1.2.3.4:80:80", "must be [PUBLIC:]PRIVATE[/tcp|udp]"),
    ("80/sctp", "has protocol 'sctp'"),
    ("0", "outside 1-65535"),
    ("65536:80", "outside 1-65535"),
])
def test_other_port_forms_are_refused(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem.replace("[", r"\[").replace("|", r"\|")):
        Port.parse(text)


def test_the_1x_service_body_starts_on_create_with_only_what_the_settings_give() -> None:
    creation = Creation(ServiceTarget("web", "shop"), "service", "web", IMAGE, BLUEPRINT)
    assert service_body(creation, "1st5", "stackId") == {
        "type": "service", "name": "web", "stackId": "1st5", "scale": 2, "startOnCreate": True,
        "launchConfig": {"imageUuid": "docker:registry.example.com:5000/shop/web:2.1",
                         "environment": {"DATABASE_URL": "postgres://secret@db/shop"}, "labels": {"tier": "web"},
                         "ports": ["8080:80/tcp", "53/udp"]}}
    bare = Creation(ServiceTarget("web", "shop"), "service", "web", IMAGE, Blueprint(IMAGE))
    assert service_body(bare, "1e5", "environmentId")["launchConfig"] == {"imageUuid": IMAGE.image_uuid}
    assert service_body(bare, "1e5", "environmentId")["environmentId"] == "1e5"


@pytest.mark.parametrize(("env_lists", "env"), [
    (False, {"environment": {"DATABASE_URL": "postgres://secret@db/shop"}}),
    (True, {"env": [{"name": "DATABASE_URL", "value": "postgres://secret@db/shop"}]}),
])
def test_the_v3_body_has_what_norman_requires_and_env_in_the_form_of_the_version(
        env_lists: bool, env: dict[str, object]) -> None:
    creation = Creation(WorkloadTarget("deployment", "web", "shop"), "deployment", "app", IMAGE, BLUEPRINT)
    assert v3_body(creation, env_lists=env_lists) == {
        "type": "deployment", "name": "web", "namespaceId": "shop", "scale": 2, "labels": {"tier": "web"},
        "containers": [{"name": "app", "image": "registry.example.com:5000/shop/web:2.1",
                        "ports": [{"containerPort": 80, "protocol": "TCP"}, {"containerPort": 53, "protocol": "UDP"}],
                        **env}]}


def test_the_deployment_body_is_selected_by_rancher_s_label() -> None:
    creation = Creation(WorkloadTarget("deployment", "web", "shop"), "deployment", "web", IMAGE, BLUEPRINT)
    body = deployment_body(creation)
    selector = {WORKLOAD_SELECTOR: "apps.deployment-shop-web"}
    assert body["metadata"] == {"name": "web", "namespace": "shop", "labels": selector}
    assert body["spec"]["replicas"] == 2
    assert body["spec"]["selector"] == {"matchLabels": selector}
    assert body["spec"]["template"]["metadata"]["labels"] == {"tier": "web", **selector}
    (container,) = body["spec"]["template"]["spec"]["containers"]
    assert container["env"] == [{"name": "DATABASE_URL", "value": "postgres://secret@db/shop"}]


def test_the_plan_names_env_and_label_keys_but_never_their_values() -> None:
    creation = Creation(ServiceTarget("web", "shop"), "service", "web", IMAGE, BLUEPRINT, new_parent=True)
    plan = plan_creation(creation)
    assert plan.describe() == [
        "Plan for shop/web: create service web in stack shop (a new stack), scale 2",
        "  web: registry.example.com:5000/shop/web:2.1",
        "  ports: 8080:80/tcp, 53/udp",
        "  env: sets DATABASE_URL (values not shown)",
        "  labels: sets tier (values not shown)",
    ]
    assert "secret" not in "\n".join(plan.describe())
    assert plan.changes_anything and plan.target_id == ""
    assert [(c.container, c.previous_image, c.new_image) for c in plan.changes] == [("web", "", str(IMAGE))]
