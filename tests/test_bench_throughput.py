"""bench/train_throughput.py times every family, the label-aware ones on their labels."""

from __future__ import annotations

import pytest

from tests.helpers import load_bench


def _args(model: str) -> list[str]:
    return ["--model", model, "--batch-size", "8", "--steps", "1", "--rounds", "1", "--warmup", "1"]


def test_a_label_aware_family_is_timed_on_the_datasets_labels(tiny_repo, capsys):
    from pipeline.cli import main as cli
    from tests.helpers import set_params, write_labelled_folder

    write_labelled_folder(tiny_repo / "labelled")
    set_params(tiny_repo, "data", dataset=f"folder:{tiny_repo / 'labelled'}")
    cli(["fetch"])
    capsys.readouterr()
    bench = load_bench("train_throughput")
    run = bench.load_run(bench.parse_args(_args("sgan")))
    images, labels = bench.load_images(run, 16)
    assert images.shape[1:] == (28, 28, 1) and len(labels.labels) == len(images)
    # the label plan's labelled subset of the folder's 2 classes; the rest hidden (-1)
    assert labels.num_classes == 2
    assert len(labels.labelled) == 2 * run.family.labels_per_class
    assert (labels.labels >= 0).sum() == len(labels.labelled)

    bench.main(_args("sgan"))
    last = capsys.readouterr().out.strip().splitlines()[-1]
    name, rate = last.split()
    assert name == "images_per_sec" and float(rate) > 0


def test_a_label_aware_family_without_fetched_data_names_the_fix(tiny_repo):
    (tiny_repo / "data" / "raw" / "dataset.npz").unlink()
    bench = load_bench("train_throughput")
    run = bench.load_run(bench.parse_args(_args("cgan")))
    with pytest.raises(SystemExit, match=r"cgan trains on class labels.*dvc repro fetch"):
        bench.load_images(run, 16)


def test_srgan_is_timed_on_the_lowres_stages_pairs_or_random_pairs_of_their_shape(tiny_repo):
    import numpy as np

    from pipeline.config import load_params, parse_data, parse_lowres
    from pipeline.data import lowres
    from pipeline.data.store import load_dataset

    bench = load_bench("train_throughput")
    run = bench.load_run(bench.parse_args(_args("srgan")))
    images, labels = bench.load_images(run, 16)
    assert images.shape == (16, 28, 28, 2) and labels is None  # no lowres stage yet
    params = load_params()
    pairs = lowres.make_pairs(load_dataset(parse_data(params)), parse_lowres(params))
    lowres.save_pairs(pairs)  # what the lowres stage writes
    images, labels = bench.load_images(run, 16)
    np.testing.assert_array_equal(images, pairs.train)  # low | high, stacked as srgan trains
