"""`explore`: the four pictures of a latent space, on tiny untrained generators built here
(nothing is trained), and the command end to end on a saved one."""

import json

import numpy as np
import pytest
from PIL import Image

from pipeline.data.registry import FASHION_MNIST_CLASSES
from pipeline.errors import ConfigError
from pipeline.gans.families import get_family, resolve_run
from pipeline.gans.latent import LatentSpace, lerp
from pipeline.stages.explore import (
    ExploreOptions,
    arithmetic,
    check_explore_options,
    check_latent_model,
    compose,
    interpolation,
    interpolation_paths,
    mixing,
    parse_expression,
    truncation,
)
from tests.helpers import one_line_error, tiny_params_dict

FASHION = FASHION_MNIST_CLASSES  # Sneaker is 7, Ankle boot 9, Sandal 5
TINY_STYLEGAN = {"filters": 8, "min_filters": 4, "w_dim": 8, "mapping_layers": 2}


def build_generator(model: str, num_classes: int = 0):
    params = tiny_params_dict()
    params["models"]["stylegan"].update(TINY_STYLEGAN)
    run = resolve_run(params, model)
    return get_family(model).build_generator(run, (28, 28, 1), num_classes)


@pytest.fixture(scope="module")
def dcgan():
    return LatentSpace(build_generator("dcgan"))


@pytest.fixture(scope="module")
def stylegan():
    return LatentSpace(build_generator("stylegan"))


def latents(space, count, seed=0):
    return space.latents(np.random.default_rng(seed), count)


def differ(a, b) -> float:
    return float(np.abs(np.asarray(a) - np.asarray(b)).max())


# --- interpolate --------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["dcgan", "stylegan"])
def test_interpolation_runs_from_one_endpoint_image_to_the_other(model, request):
    space = request.getfixturevalue(model)
    start, end = latents(space, 3, seed=1), latents(space, 3, seed=2)
    tiles, second = interpolation(space, start, end, steps=5)
    assert tiles.shape == (6, 5, 28, 28, 1)  # two blocks of 3 rows
    assert second == ("linear in w" if space.styled else "spherical in z (slerp)")
    # t = 0 and t = 1 are the endpoints' images, the same in both blocks
    np.testing.assert_array_equal(tiles[:3, 0], tiles[3:, 0])
    np.testing.assert_array_equal(tiles[:3, -1], tiles[3:, -1])
    np.testing.assert_allclose(tiles[:3, 0], space.render_z(start), atol=1e-5)
    np.testing.assert_allclose(tiles[:3, -1], space.render_z(end), atol=1e-5)
    assert differ(tiles[:3, 0], tiles[:3, -1]) > 1e-3  # the ends differ, so the path is a path
    # the first block's middle is the image of the midpoint in z
    np.testing.assert_allclose(tiles[:3, 2], space.render_z(lerp(start, end, 0.5)), atol=1e-5)
    picture = compose(tiles)  # 28 px tiles and 2 px padding
    assert picture.shape == (6 * 30 + 2, 5 * 30 + 2)


def test_slerp_keeps_the_norm_of_equal_norm_endpoints_where_lerp_does_not(dcgan):
    start, end = latents(dcgan, 4, seed=1), latents(dcgan, 4, seed=2)
    radius = np.sqrt(dcgan.latent_dim)
    start = start / np.linalg.norm(start, axis=1, keepdims=True) * radius
    end = end / np.linalg.norm(end, axis=1, keepdims=True) * radius
    linear, spherical, _ = interpolation_paths(dcgan, start, end, steps=7)
    np.testing.assert_allclose(np.linalg.norm(spherical, axis=-1), radius, rtol=1e-5)
    np.testing.assert_allclose(spherical[:, 0], start, atol=1e-5)
    np.testing.assert_allclose(spherical[:, -1], end, atol=1e-5)
    assert (np.linalg.norm(linear[:, 3], axis=-1) < 0.9 * radius).all()  # the chord dips


def test_stylegan_second_path_is_linear_in_w(stylegan):
    start, end = latents(stylegan, 2, seed=1), latents(stylegan, 2, seed=2)
    _, along_w, _ = interpolation_paths(stylegan, start, end, steps=5)
    w_start, w_end = stylegan.to_w(start), stylegan.to_w(end)
    assert along_w.shape == (2, 5, stylegan.w_dim)
    np.testing.assert_allclose(along_w[:, 0], w_start, atol=1e-6)
    np.testing.assert_allclose(along_w[:, 1], lerp(w_start, w_end, 0.25), atol=1e-6)
    tiles, _ = interpolation(stylegan, start, end, steps=5)
    np.testing.assert_allclose(tiles[2:, 1], stylegan.render(along_w[:, 1]), atol=1e-5)


# --- mixing -------------------------------------------------------------------------------


def test_mixing_takes_coarse_styles_from_the_rows_and_fine_from_the_columns(stylegan):
    rows_z, columns_z = latents(stylegan, 2, seed=1), latents(stylegan, 3, seed=2)
    layers = stylegan.style_layers
    assert layers == 6  # 7, 7, 14, 14, 28, 28 px
    all_fine = mixing(stylegan, rows_z, columns_z, crossover=0)
    assert all_fine.shape == (3, 4, 28, 28, 1)
    assert (all_fine[0, 0] == -1).all()  # the blank corner
    np.testing.assert_allclose(all_fine[0, 1:], stylegan.render_z(columns_z), atol=1e-5)
    np.testing.assert_allclose(all_fine[1:, 0], stylegan.render_z(rows_z), atol=1e-5)
    for i in range(2):  # crossover 0: every cell is its column's image
        np.testing.assert_allclose(all_fine[1 + i, 1:], all_fine[0, 1:], atol=1e-5)
    all_coarse = mixing(stylegan, rows_z, columns_z, crossover=layers)
    for j in range(3):  # crossover L: every cell is its row's image
        np.testing.assert_allclose(all_coarse[1:, 1 + j], all_coarse[1:, 0], atol=1e-5)
    half = mixing(stylegan, rows_z, columns_z, crossover=layers // 2)
    assert differ(half[1, 1], half[1, 0]) > 1e-3 and differ(half[1, 1], half[0, 1]) > 1e-3
    with pytest.raises(ConfigError, match=r"--crossover must be in 0\.\.6"):
        mixing(stylegan, rows_z, columns_z, crossover=7)


def test_mixing_is_refused_for_a_generator_without_styles(dcgan):
    with pytest.raises(ConfigError, match="needs a style-based generator"):
        mixing(dcgan, latents(dcgan, 2), latents(dcgan, 2), crossover=1)


# --- truncation ---------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["dcgan", "stylegan"])
def test_truncation_at_psi_0_is_the_same_image_in_every_row(model, request):
    space = request.getfixturevalue(model)
    z = latents(space, 3)
    tiles = truncation(space, z, (1.0, 0.5, 0.0))
    assert tiles.shape == (3, 3, 28, 28, 1)
    np.testing.assert_allclose(tiles[:, 0], space.render_z(z), atol=1e-5)  # psi 1: as drawn
    for row in (1, 2):
        np.testing.assert_allclose(tiles[row, 2], tiles[0, 2], atol=1e-6)
    np.testing.assert_allclose(tiles[0, 2], space.render(space.w_avg[None])[0], atol=1e-5)
    assert differ(tiles[0, 0], tiles[1, 0]) > 1e-3  # rows differ where psi > 0
    if not space.styled:  # no w: psi scales z towards 0
        np.testing.assert_allclose(tiles[:, 1], space.render(0.5 * z), atol=1e-5)


def test_a_conditional_generator_draws_each_row_at_its_class():
    space = LatentSpace(build_generator("cgan", num_classes=10))
    z = latents(space, 2)
    labels = np.array([3, 7])
    tiles = truncation(space, z, (1.0, 0.0), labels)
    np.testing.assert_allclose(tiles[:, 0], space.render(z, labels=labels), atol=1e-5)
    assert differ(tiles[0, 1], tiles[1, 1]) > 1e-3  # psi 0: the mean latent, per class
    tiles, _ = interpolation(space, z[:1], z[1:], steps=3, labels=labels[:1])
    np.testing.assert_allclose(tiles[0, 0], space.render(z[:1], labels=3)[0], atol=1e-5)


# --- arithmetic ---------------------------------------------------------------------------


def by_brightness(images: np.ndarray, num_classes: int = 10) -> np.ndarray:
    """A stand-in evaluator: one-hot probabilities of the image's brightness decile in the
    batch, so every class has a tenth of the pool."""
    order = np.argsort(np.argsort(images.mean(axis=(1, 2, 3)), kind="stable"), kind="stable")
    classes = order * num_classes // len(images)
    return np.eye(num_classes, dtype=np.float32)[classes]


def test_arithmetic_adds_and_subtracts_class_means(dcgan):
    classes = parse_expression("sneaker - ankle boot + sandal", FASHION)
    assert classes == (7, 9, 5)
    found = arithmetic(
        dcgan, by_brightness, classes, np.random.default_rng(4), 100, 0.9, 3, FASHION
    )
    pool = dcgan.latents(np.random.default_rng(4), 100)  # the same draw: w is z here
    brightness = by_brightness(dcgan.render(pool)).argmax(axis=1)
    for index, members in zip(classes, found.members, strict=True):
        assert len(members) == 3 and (brightness[members] == index).all()
    means = np.stack([pool[members].mean(axis=0) for members in found.members])
    np.testing.assert_allclose(found.means, means, atol=1e-6)
    np.testing.assert_allclose(found.result, means[0] - means[1] + means[2], atol=1e-6)
    assert found.tiles.shape == (3, 4, 28, 28, 1)  # A | B | C | result, then 8 near it
    np.testing.assert_allclose(found.tiles[0, 3], dcgan.render(found.result[None])[0], atol=1e-5)
    assert found.shares.shape == (10,) and found.shares.sum() == pytest.approx(1.0)


def test_arithmetic_says_what_to_change_when_a_class_is_not_found(dcgan):
    def unsure(images):  # at most 0.5 for any class
        return np.full((len(images), 10), 0.05, np.float32) + 0.45 * by_brightness(images)

    with pytest.raises(ConfigError, match="raise --pool or lower --confidence"):
        arithmetic(dcgan, unsure, (7, 9, 5), np.random.default_rng(0), 50, 0.9, 8, FASHION)


def test_arithmetic_expressions_and_unknown_classes():
    assert parse_expression("Sneaker - ankle_boot + SANDAL", FASHION) == (7, 9, 5)
    assert parse_expression("sneaker-ankle_boot+sandal", FASHION) == (7, 9, 5)  # no spaces
    assert parse_expression("t-shirt - trouser + dress", FASHION) == (0, 1, 3)
    with pytest.raises(ConfigError) as error:
        parse_expression("sneaker - boots + sandal", FASHION)
    assert "'boots' is not one class; valid: t_shirt_top, trouser" in str(error.value)
    assert "ankle_boot" in str(error.value)
    with pytest.raises(ConfigError, match="must be A - B \\+ C"):
        parse_expression("sneaker + sandal", FASHION)
    with pytest.raises(ConfigError, match="needs a labelled dataset"):
        parse_expression("a - b + c", ())


def test_arithmetic_is_refused_for_a_conditional_generator():
    space = LatentSpace(build_generator("cgan", num_classes=10))
    with pytest.raises(ConfigError, match="comes from its label"):
        arithmetic(space, by_brightness, (7, 9, 5), np.random.default_rng(0), 10, 0.9, 1, FASHION)


# --- the options and the models -----------------------------------------------------------


def test_options_are_checked_before_anything_loads(tmp_path):
    options, out = check_explore_options(
        "truncation", ExploreOptions(psi="1, 0.5,0"), tmp_path / "a" / "t.png", "gan"
    )
    assert options.psi == (1.0, 0.5, 0.0) and options.rows == 4 and options.steps is None
    assert out == tmp_path / "a" / "t.png"
    cases = [
        ("interpolate", ExploreOptions(steps=2), "--steps must be >= 3, got 2"),
        ("interpolate", ExploreOptions(seed=-1), "--seed must be >= 0"),
        ("mixing", ExploreOptions(steps=4), "--steps is not an option of --what mixing"),
        ("arithmetic", ExploreOptions(confidence=1.5), "--confidence must be in [0, 1]"),
        ("arithmetic", ExploreOptions(per_class=0), "--per-class must be >= 1"),
        ("truncation", ExploreOptions(psi="1,x"), "--psi must be numbers"),
        ("truncation", ExploreOptions(label="3", steps=3), "--steps is not an option"),
    ]
    for what, options, message in cases:
        with pytest.raises(ConfigError) as error:
            check_explore_options(what, options, tmp_path / "x.png", "gan")
        assert message in str(error.value)
    with pytest.raises(ConfigError, match="is a folder"):
        check_explore_options("mixing", ExploreOptions(), tmp_path, "stylegan")


def test_a_translation_model_is_refused_naming_the_latent_models():
    check_latent_model("stylegan")
    with pytest.raises(ConfigError) as error:
        check_latent_model("pix2pix")
    message = str(error.value)
    assert "pix2pix's is fed edge pairs" in message
    named = message.split("latent models: ")[1].split(", ")
    assert {"gan", "dcgan", "cgan", "sgan", "catgan", "progan", "stylegan"} <= set(named)
    assert "pix2pix" not in named


# --- the command --------------------------------------------------------------------------


def save_generator(repo, model: str, num_classes: int = 0, run_id: str | None = None) -> None:
    from pipeline.saved import save_keras

    folder = repo / "models" / model
    save_keras(build_generator(model, num_classes), folder / "generator.keras")
    if run_id is not None:
        (folder / "run.json").write_text(json.dumps({"mlflow_run_id": run_id}))


def test_the_command_writes_the_picture_and_logs_it_to_the_training_run(tiny_repo, capsys):
    from mlflow import MlflowClient

    from pipeline.cli import main
    from pipeline.tracking.runs import MlflowTracker, experiment_name, run_tags, tracking_uri

    tracker = MlflowTracker(experiment_name("tiny"), "dcgan", run_tags("dcgan"))
    tracker.finish("FINISHED")
    save_generator(tiny_repo, "dcgan", run_id=tracker.run_id)
    out = tiny_repo / "pictures" / "trunc.png"
    args = ["explore", "--model", "dcgan", "--what", "truncation", "--rows", "3", "--out"]
    assert main([*args, str(out), "--psi", "1,0.5,0"]) == 0
    printed = capsys.readouterr().out
    assert f"wrote {out}" in printed
    assert f"logged to MLflow run {tracker.run_id} as explore/trunc.png" in printed
    picture = np.asarray(Image.open(out))
    scale = picture.shape[1] // (3 * 30 + 2)  # 3 psi columns, 3 rows, scaled for viewing
    assert scale >= 1 and picture.shape == ((3 * 30 + 2) * scale, (3 * 30 + 2) * scale)
    client = MlflowClient(tracking_uri())
    logged = [a.path for a in client.list_artifacts(tracker.run_id, "explore")]
    assert logged == ["explore/trunc.png"]
    assert client.get_run(tracker.run_id).info.status == "FINISHED"

    assert main(["explore", "--model", "dcgan", "--what", "mixing", "--out", "m.png"]) == 2
    assert "needs a style-based generator" in one_line_error(capsys)
    assert not (tiny_repo / "m.png").exists()


def test_the_command_without_a_run_draws_arithmetic_with_the_evaluator(
    tiny_repo, monkeypatch, capsys
):
    from pipeline.cli import main
    from pipeline.scoring.evaluator import Embedding
    from tests.helpers import set_params, write_labelled_folder

    write_labelled_folder(tiny_repo / "labelled", classes=("circle", "square"), count=20)
    set_params(tiny_repo, "data", dataset=f"folder:{tiny_repo / 'labelled'}")
    assert main(["fetch"]) == 0

    class Evaluator:  # the evaluator's interface, classing by brightness
        classes = True

        def __call__(self, images):
            probabilities = by_brightness(images, num_classes=2)
            return Embedding(np.zeros((len(images), 4), np.float32), probabilities)

    monkeypatch.setattr("pipeline.scoring.evaluator.load_embedder", lambda batch: Evaluator())
    save_generator(tiny_repo, "gan")  # no run.json
    capsys.readouterr()
    args = ["explore", "--model", "gan", "--what", "arithmetic", "--pool", "40", "--out", "a.png"]
    assert main([*args, "--expr", "square - circle + square"]) == 0
    printed = capsys.readouterr().out
    assert "means in z of 8 square, 8 circle, 8 square of 40 samples" in printed
    assert "square - circle + square: " in printed and "%" in printed
    assert "not logged to MLflow: no run in models/gan/run.json" in printed
    assert Image.open(tiny_repo / "a.png").size[1] % (3 * 30 + 2) == 0  # 3 rows of 4
    assert main([*args, "--expr", "square - triangle + circle"]) == 2
    assert "'triangle' is not one class; valid: circle, square" in one_line_error(capsys)
