"""The package's folders are its layers: each imports only from the layers below it, and
no module imports itself back through others (no cycle)."""

import pytest

from tests.imports import all_modules, imports_of

# Lowest first. A module belongs to the first prefix it starts with.
LAYERS = (
    # pipeline.browser: headless Chromium (report screenshots, the UI tests); imports no TF
    ("pipeline.errors", "pipeline.images", "pipeline.saved", "pipeline.plugins"),
    ("pipeline.browser",),
    ("pipeline.config",),
    ("pipeline.data",),
    ("pipeline.gans",),
    ("pipeline.training",),
    ("pipeline.scoring",),
    ("pipeline.tracking",),
    ("pipeline.tuning",),
    ("pipeline.report",),  # reads what every layer below wrote: scores, runs, studies
    ("pipeline.stages",),
    # the command line (with its stderr filter) and the public facade of the metric math
    # (DESIGN.md's contract pipeline.metrics.frechet_distance) sit on top
    ("pipeline.cli", "pipeline.__main__", "pipeline.native_logs", "pipeline.metrics"),
)


def layer_of(module: str) -> int:
    if module == "pipeline":
        return 0  # the package itself: sets environment variables, imports nothing
    for index, prefixes in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return index
    raise AssertionError(f"{module} is in no layer; add its folder to LAYERS")


def test_every_module_has_a_layer():
    for module in all_modules():
        layer_of(module)


@pytest.mark.parametrize("module", all_modules())
def test_no_module_imports_a_higher_layer(module):
    upward = sorted(m for m in imports_of(module) if layer_of(m) > layer_of(module))
    assert not upward, f"{module} (layer {layer_of(module)}) imports {upward}"


def test_no_import_cycles():
    graph = {m: imports_of(m) for m in all_modules()}
    # Importing a submodule imports its package first; that edge is Python's, not a cycle
    # of ours, so a package's own __init__ is not counted as depending on its children.
    for module, targets in graph.items():
        graph[module] = {t for t in targets if not t.startswith(module + ".")}
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done

    def visit(module, path):
        state[module] = 1
        for target in sorted(graph.get(module, ())):
            if state.get(target) == 1:
                cycle = [*path[path.index(target) :], target]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if target not in state:
                visit(target, [*path, target])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])


def test_a_cycle_or_an_upward_import_would_be_seen(tmp_path):
    """The checks read real imports: the trainer imports the families (downward)."""
    assert "pipeline.gans.families" in imports_of("pipeline.training.loop")
    assert layer_of("pipeline.gans.families") < layer_of("pipeline.training.loop")
