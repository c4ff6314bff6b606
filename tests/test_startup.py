"""What a CI step's run loads: a single-service 1.x upgrade pays for its own modules only.

Every module imported before the upgrade is sent is start-up each CI step pays (docs/performance.md,
"Where the start-up of a 1.x run goes"); a mode or a command the run does not use is imported where it
is used. The run is real (a fresh interpreter, the simulator over HTTP), so a module-level import that
brings one of these back fails here.
"""

from __future__ import annotations

from pathlib import Path

from rancher_deploy.simulator import Simulator

from .test_discovery import _modules_loaded_by_a_run

# Fleet mode (`--select-image`): its settings are `fleet_options`'; the selection is the fleet run's alone.
FLEET = {"rancher_deploy.fleet"}
# One target runs in the calling thread (`parallel.each`): the pool is for several at once.
POOL = {"concurrent.futures"}
# RANCHER_ATOMIC's and RANCHER_CREATE's steps, which a target that exists, upgraded alone, never takes.
MODES = {"rancher_deploy.atomic", "rancher_deploy.create"}


def test_a_single_service_upgrade_loads_no_mode_it_does_not_use(sim: Simulator, web: str, base_env: dict[str, str],
                                                                tmp_path: Path) -> None:
    loaded = _modules_loaded_by_a_run(base_env, tmp_path)
    assert sim.service(web)["launchConfig"]["imageUuid"].endswith(base_env["RANCHER_IMAGE"])
    assert {"rancher_deploy.cattle", "rancher_deploy.deploy"} <= loaded
    assert loaded & (FLEET | POOL | MODES) == set()
