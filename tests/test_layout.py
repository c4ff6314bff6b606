"""The package's shape, as docs/architecture.md promises it: no import cycles, imports down the
documented layers only, the client and the simulator apart, and no module past 600 lines (a long
module hides a second concern)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "rancher_deploy"
MAX_LINES = 600


def _module(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports() -> dict[str, set[str]]:
    """Module -> the package's modules it imports, type-only imports included (a cycle is a cycle)."""
    modules = {_module(path): path for path in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module)
                found.update(f"{node.module}.{alias.name}" for alias in node.names)
            elif isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
        graph[name] = {target for target in found if target in modules and target != name}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components with more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycles() -> None:
    assert _cycles(_imports()) == []


def test_the_client_and_the_simulator_never_import_each_other() -> None:
    # Only demo.py and __main__ (which starts `simulate`) may use both: a fake that shared the
    # client's constants would agree with it by construction and prove nothing.
    both = {"rancher_deploy.demo", "rancher_deploy.__main__"}
    for module, targets in _imports().items():
        in_simulator = module.startswith("rancher_deploy.simulator")
        crossing = {target for target in targets if target.startswith("rancher_deploy.simulator") != in_simulator
                    and target != "rancher_deploy"}
        if module not in both:
            assert not crossing, f"{module} imports {sorted(crossing)}"


def test_no_module_is_longer_than_600_lines() -> None:
    long = {str(path.relative_to(PACKAGE)): lines for path in PACKAGE.rglob("*.py")
            if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}


def _documented_layers() -> dict[str, int]:
    """docs/architecture.md's numbered list under "Which module may import which": module -> layer."""
    text = (PACKAGE.parent / "docs" / "architecture.md").read_text(encoding="utf-8")
    section = text.split("## Which module may import which", 1)[1].split("\n## ", 1)[0]
    layers: dict[str, int] = {}
    for number, line in re.findall(r"^(\d+)\. \*\*[^*]+\*\*[^:]*:(.*)$", section, re.MULTILINE):
        for name in re.findall(r"`([\w_.]+)`", line):   # a package's module: `serve.app`
            layers[f"rancher_deploy.{name}"] = int(number)
    return layers


def test_imports_follow_the_documented_layers() -> None:
    # The layering docs/architecture.md states, checked against every import of the client: a module
    # imports only its own layer or those listed before it; the pipeline reaches Rancher only
    # through the Backend Protocol; report and ci render events and the Outcome and nothing more.
    layers = _documented_layers()
    graph = {module: targets for module, targets in _imports().items()
             if not module.startswith("rancher_deploy.simulator") and module != "rancher_deploy"}
    assert set(graph) == set(layers), "every client module has exactly one layer in docs/architecture.md"
    pipeline = layers["rancher_deploy.deploy"]
    backends = layers["rancher_deploy.backend"]
    wrong = []
    for module, targets in sorted(graph.items()):
        for target in sorted(targets):
            if target == "rancher_deploy" or target.startswith("rancher_deploy.simulator"):
                continue  # __version__; the simulator is kept apart by the test above
            if layers[target] > layers[module]:
                wrong.append(f"{module} (layer {layers[module]}) imports {target} (layer {layers[target]})")
            if layers[module] == pipeline and layers[target] == backends and target != "rancher_deploy.backend":
                wrong.append(f"{module} (the pipeline) imports {target}, not only the Backend Protocol")
    for renderer in ("rancher_deploy.report", "rancher_deploy.ci"):
        allowed = {"rancher_deploy.events", "rancher_deploy.errors", "rancher_deploy.redact",
                   "rancher_deploy.report", "rancher_deploy.ci"}
        wrong += [f"{renderer} imports {target}" for target in sorted(graph[renderer] - allowed)]
    assert wrong == []


# The pipeline decides by Phase and Goal and reports the states its snapshots read: a Rancher state
# written into it (a reported "removed", a wait for Goal.ACTIVE, "the upgrade needs it active") is
# one flavour's word in every flavour's log.
NEUTRAL = ("deploy.py", "steps.py", "recovery.py", "commands.py", "atomic.py")
FLAVOUR_GOALS = {"ACTIVE", "UPGRADED", "ROLLED_OUT"}   # each flavour's own goals: the backend names them


def _rancher_states() -> frozenset[str]:
    from rancher_deploy import status

    return (status.READY_STATES | status.PENDING_STATES | status.REMOVED_STATES | status.BUSY_STATES
            | status.UPGRADE_STATES | {"inactive", "updating", "paused"})


def test_the_flavour_neutral_modules_write_no_rancher_state() -> None:
    from rancher_deploy.status import REMOVED_STATES

    states = _rancher_states()
    # A state named in prose: "is upgraded and healthy", "left upgraded by", "needs it active" (but
    # "it was removed" tells what happened to it, which is no state of Rancher's).
    named = re.compile(rf"\b(?:is|was|left|needs it|until) ({'|'.join(sorted(states - REMOVED_STATES))})\b")
    found = []
    for name in NEUTRAL:
        tree = ast.parse((PACKAGE / name).read_text(encoding="utf-8"))
        docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                      if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef)) and node.body
                      and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
                if node.value in states or named.search(node.value):
                    found.append(f"{name}:{node.lineno}: {node.value!r}")
            elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "Goal" \
                    and node.attr in FLAVOUR_GOALS:
                found.append(f"{name}:{node.lineno}: Goal.{node.attr}")
    assert found == []
