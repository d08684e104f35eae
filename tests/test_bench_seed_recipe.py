"""bench/seed_recipe.py trains each seed's recipe on the seed's own networks."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


def _bench():
    sys.path.insert(0, str(BENCH))  # seed_recipe imports its sibling loss_table
    try:
        spec = importlib.util.spec_from_file_location("seed_recipe", BENCH / "seed_recipe.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["seed_recipe"] = module  # its dataclasses look their module up
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(BENCH))
    return module


@pytest.mark.parametrize("model", ["dcgan", "gan"])
def test_a_recipe_keeps_its_seeds_network_when_the_default_changes(model):
    from pipeline.config import load_params
    from pipeline.gans.families import resolve_run

    bench = _bench()
    recipe = bench.RECIPES[model]
    changed = load_params(BENCH.parent / "params.yaml")
    if model == "dcgan":
        changed["models"]["dcgan"].update(g_width=0.5, d_width=0.25, generator="transposed")
    else:
        changed["models"]["gan"]["arch"] = "selu"
    run = bench.recipe_run(resolve_run(changed, model), recipe)
    assert run.family == type(run.family)()  # the Config's defaults are the seed's networks
    assert (run.train.batch_size, run.train.lr, run.train.beta1) == (
        recipe.batch_size,
        recipe.lr,
        recipe.beta1,
    )
