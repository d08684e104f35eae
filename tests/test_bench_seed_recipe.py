"""bench/seed_recipe.py trains each seed's recipe on the seed's own networks."""

from __future__ import annotations

import pytest

from tests.helpers import REPO, load_bench


@pytest.mark.parametrize("model", ["dcgan", "gan"])
def test_a_recipe_keeps_its_seeds_network_when_the_default_changes(model):
    from pipeline.config import load_params
    from pipeline.gans.families import resolve_run

    bench = load_bench("seed_recipe")
    recipe = bench.RECIPES[model]
    changed = load_params(REPO / "params.yaml")
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
