"""Validation the apiserver runs on a defaulted object, where a default can make a write invalid.

A CronJob's job template is a JobSpec, and its pod template is defaulted as every pod template is
(SetDefaults_PodSpec: ``restartPolicy`` Always), but a Job's pods may only restart OnFailure or
Never, so a CronJob written without a ``restartPolicy`` is refused with 422 rather than stored. Read
in kubernetes ``pkg/apis/batch/validation/validation.go`` (ValidateCronJobSpec ->
ValidateJobTemplateSpec -> validateJobSpec) and ``pkg/apis/core/validation/validation.go``
(validateRestartPolicy); the Status body is apimachinery's ``errors.NewInvalid``.
"""

from __future__ import annotations

from typing import Any

from rancher_deploy.simulator.rancher2.errors import KubeError

JSON = dict[str, Any]
RESTART_POLICY = "spec.jobTemplate.spec.template.spec.restartPolicy"
JOB_POLICIES = ("OnFailure", "Never")


def _not_supported(value: str, allowed: tuple[str, ...]) -> JSON:
    """field.NotSupported's cause: ``Unsupported value: "X": supported values: "A", "B"``."""
    shown = ", ".join(f'"{item}"' for item in allowed)
    return {"reason": "FieldValueNotSupported", "message": f'Unsupported value: "{value}": supported values: {shown}',
            "field": RESTART_POLICY}


def _restart_policy_causes(policy: str, minor: int) -> list[JSON]:
    """validateJobSpec's verdict on the (defaulted) pod template's ``restartPolicy``.

    From 1.21 (kubernetes#95747, for #95490: the defaulted Always read as if the user had chosen it)
    Always or unset is "Required value: valid values: "OnFailure", "Never""; before, Always was
    "Unsupported value". A value no pod may have is refused by the pod template's own validation
    (validateRestartPolicy) as well as by the Job's."""
    if policy in JOB_POLICIES:
        return []
    if policy in ("Always", "") and minor >= 21:
        return [{"reason": "FieldValueRequired", "field": RESTART_POLICY,
                 "message": 'Required value: valid values: "OnFailure", "Never"'}]
    if policy in ("Always", ""):
        return [_not_supported(policy, JOB_POLICIES)]
    return [_not_supported(policy, ("Always", *JOB_POLICIES)), _not_supported(policy, JOB_POLICIES)]


def check_defaulted(kind: str, name: str, spec: JSON, minor: int) -> None:
    """Refuse a defaulted ``spec`` of ``kind`` the apiserver of 1.``minor`` would not store.

    Raises KubeError 422 Invalid with the Status ``details`` apimachinery's NewInvalid gives: the
    message ``CronJob.batch "<name>" is invalid: <field>: <cause>`` (several causes in brackets,
    comma-separated) and one cause per field error."""
    if kind != "cronjob":
        return
    pod_spec = (((spec.get("jobTemplate") or {}).get("spec") or {}).get("template") or {}).get("spec") or {}
    causes = _restart_policy_causes(str(pod_spec.get("restartPolicy") or ""), minor)
    if not causes:
        return
    errors = [f'{cause["field"]}: {cause["message"]}' for cause in causes]
    listed = errors[0] if len(errors) == 1 else f'[{", ".join(errors)}]'
    raise KubeError(422, "Invalid", f'CronJob.batch "{name}" is invalid: {listed}',
                    {"name": name, "group": "batch", "kind": "CronJob", "causes": causes})
