"""The whole pipeline through DVC on a tiny dataset: `dvc repro`, then `dvc exp run -S`.

This is the user's path: stages run `python -m pipeline ...` from dvc.yaml, MLflow logs to
the default store `<repo>/mlruns/mlflow.db`, and an experiment's -S override reaches the
MLflow run.
"""

import json
from pathlib import Path

import pytest
import yaml
from mlflow.tracking import MlflowClient

from tests.helpers import (
    DEFAULT_MODELS,
    TINY_LABELS,
    TRAIN_OUTPUTS,
    dvc_env,
    init_git_dvc,
    pipeline_copy,
    run_ok,
)

REPO = Path(__file__).resolve().parents[1]
MODELS = DEFAULT_MODELS  # train.models
# Some 36 stages, each a process that imports TensorFlow (8-11 s on a 2-core AVX2 VM):
# the tiny zoo took about 600 s there. The limit catches a hang, not a slow machine.
WHOLE_ZOO_SECONDS = 1800


def _newest_runs(repo: Path) -> dict:
    client = MlflowClient(f"sqlite:///{repo / 'mlruns' / 'mlflow.db'}")
    experiments = [e.experiment_id for e in client.search_experiments()]
    newest = {}
    for run in client.search_runs(experiments, order_by=["start_time DESC"]):
        newest.setdefault(run.info.run_name, run)
    return newest


def _changed_after_editing(repo: Path, files, env) -> set[str]:
    """The stages `dvc status` reports changed while `files` carry an extra comment."""
    originals = {name: (repo / name).read_text() for name in files}
    try:
        for name, text in originals.items():
            (repo / name).write_text(text + "\n# an edit\n")
        status = json.loads(run_ok(repo, "dvc", "status", "--json", "dvc.yaml", env=env))
    finally:
        for name, text in originals.items():
            (repo / name).write_text(text)
    return {name.split(":")[-1] for name in status}


@pytest.mark.slow
def test_dvc_repro_then_exp_run_with_a_new_learning_rate(tmp_path, tiny_params):
    tiny_params["train"].update(
        epochs=1, steps_per_epoch=2, log_every=1, fid_every=1, fid_samples=200
    )
    tiny_params["models"]["pix2pix"].update(filters=4, d_filters=4, batch_size=8)
    tiny_params["models"]["sgan"].update(TINY_LABELS)
    tiny_params["tune"].update(trials=2, epochs=1, steps_per_epoch=2)
    assert tuple(tiny_params["train"]["models"]) == MODELS
    # 1400 images: 140 test pairs, enough for pix2pix's FID (more than 128 features)
    repo = pipeline_copy(tmp_path, tiny_params, images_per_class=700)

    env = dvc_env()
    init_git_dvc(repo, env)

    log = run_ok(repo, "dvc", "repro", env=env, timeout=WHOLE_ZOO_SECONDS)
    assert "tune@" not in log  # tuning is not part of the default pipeline
    for output in ("pairs.npz", "preview.png", "stats.json"):
        assert (repo / "data" / "edges" / output).is_file(), f"edges/{output} missing"
        assert (repo / "data" / "lowres" / output).is_file(), f"lowres/{output} missing"
    baselines = json.loads((repo / "data" / "lowres" / "stats.json").read_text())
    assert {f"{m}_{k}" for m in ("nearest", "bicubic") for k in ("psnr", "fid")} <= set(baselines)
    for model in MODELS:
        for output in (*TRAIN_OUTPUTS, "metrics.json"):
            assert (repo / "models" / model / output).is_file(), f"{model}/{output} missing"
    for output in ("evaluator/model.keras", "evaluator/metrics.json", "reference/metrics.json"):
        assert (repo / "models" / output).is_file(), f"{output} missing"
    # git sees the scores (DVC's metrics, committed with dvc.lock and carried by experiment
    # commits) and nothing else of the outputs: not the store, models, report or its curves
    status = run_ok(repo, "git", "status", "--porcelain", "--untracked-files=all", env=env)
    untracked = {line[3:] for line in status.splitlines()} - {"dvc.lock"}
    scores = {f"models/{m}/{f}" for m in MODELS for f in ("metrics.json", "train.json")}
    assert untracked - {"models/evaluator/metrics.json", "models/reference/metrics.json"} == (
        scores
    ), status
    page = (repo / "reports" / "index.html").read_text()
    for model in MODELS:  # the report stage ran last and shows every GAN
        assert f'id="model-{model}"' in page and f'id="row-{model}"' in page, model
    runs = _newest_runs(repo)
    assert set(MODELS) <= set(runs)
    assert {"l1", "psnr", "ssim", "fid", "fid140"} <= set(runs["pix2pix"].data.metrics)
    own_scores = {
        "cgan": {"conditional_accuracy", "class_accuracy/circle"},
        "sgan": {"accuracy", "baseline_accuracy", "clustering_accuracy"},
        "catgan": {"clustering_accuracy"},
        # scored beside bicubic upscaling of the same low-resolution test images
        "srgan": {"psnr", "ssim", "fid", "bicubic_psnr", "bicubic_ssim", "bicubic_fid"},
        # the folder's class names in the default caption templates; Stage I scored alone
        "stackgan": {
            "conditional_accuracy",
            "class_accuracy/circle",
            "stage1_fid",
            "stage1_recall",
        },
    }
    for model, keys in own_scores.items():
        scores = json.loads((repo / "models" / model / "metrics.json").read_text())
        assert keys <= set(scores) and keys <= set(runs[model].data.metrics), model
    # the perceptual path length: every latent GAN, in w for stylegan (stackgan's noise is
    # half its conditioning augmentation's: not a latent it walks)
    for model in MODELS:
        scores = set(json.loads((repo / "models" / model / "metrics.json").read_text()))
        expected = (
            set()
            if model in ("pix2pix", "srgan", "stackgan")
            else {"ppl", "ppl_w"}
            if model == "stylegan"
            else {"ppl"}
        )
        assert scores & {"ppl", "ppl_w"} == expected, model
    assert runs["dcgan"].data.params["train.lr"] == str(tiny_params["train"]["lr"])
    assert runs["dcgan"].data.tags["git_commit"]
    assert {"fid", "kid", "precision", "recall", "fid200"} <= set(runs["dcgan"].data.metrics)
    assert "accuracy" in runs["evaluator"].data.metrics
    plots = json.loads(run_ok(repo, "dvc", "plots", "show", "--json", env=env))
    assert not plots.get("errors"), plots.get("errors")
    drawn = {f"reports/plots/{c}/{m}.csv" for c in ("losses", "fid") for m in MODELS}
    assert drawn | {"models/dcgan/loss_curves.png"} <= set(plots["data"])
    losses = plots["data"]["reports/plots/losses/dcgan.csv"][0]["content"]
    assert {"d_loss", "g_loss"} <= {point["series"] for point in losses["data"]["values"]}

    # The tune@ stage on its own: its upstream stages are done, so only it runs
    log = run_ok(repo, "dvc", "repro", "models/tune/dvc.yaml:tune@gan", env=env)
    ran = [line.split("'")[1] for line in log.splitlines() if line.startswith("Running stage")]
    assert ran == ["models/tune/dvc.yaml:tune@gan"], log
    best = yaml.safe_load((repo / "models/gan/best_params.yaml").read_text())
    assert best["trials"]["complete"] + best["trials"]["pruned"] == 2
    assert "apply it with: dvc exp run -S '+models.gan.lr=" in log

    # New edge settings rerun the edges and pix2pix only: each train@ depends on its own data
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["edges"]["low_threshold"] = 30
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    log = run_ok(repo, "dvc", "repro", env=env)
    ran = {line.split("'")[1] for line in log.splitlines() if line.startswith("Running stage")}
    # ... and the report, through pix2pix's report-inputs@ (and the study tune@ just added)
    assert ran == {"edges", "train@pix2pix", "evaluate@pix2pix", "report-inputs@pix2pix", "report"}

    # Code dependencies are exact (dvc.yaml): what an edit marks changed, before re-running
    edits = {
        # tuning, retrain and registry code: nothing to re-run but the report (its tuning
        # section imports pipeline.tuning.results, which imports retrain for --queue-top)
        (
            "pipeline/tuning/tune.py",
            "pipeline/tracking/retrain.py",
            "pipeline/tracking/registry.py",
        ): {"report"},
        # report code: the report only
        ("pipeline/report/page.py",): {"report"},
        # scoring code: every score and the floor, no training
        ("pipeline/scoring/score.py",): {"reference", *(f"evaluate@{m}" for m in MODELS)},
        # one family's file: that family only
        ("pipeline/gans/families/dcgan.py",): {"train@dcgan", "evaluate@dcgan"},
    }
    for files, expected in edits.items():
        assert _changed_after_editing(repo, files, env) == expected, files

    run_ok(repo, "git", "add", "-A", env=env)
    run_ok(repo, "git", "commit", "-qm", "baseline", env=env)
    # Two GANs, not the zoo (the repro above ran every stage already): dcgan reads train.lr,
    # progan has its own lr, which wins over it
    retrained = ("dcgan", "progan")
    targets = [f"evaluate@{model}" for model in retrained]
    log = run_ok(repo, "dvc", "exp", "run", "-S", "train.lr=0.0005", *targets, env=env)
    ran = {line.split("'")[1] for line in log.splitlines() if line.startswith("Running stage")}
    assert ran == {f"{stage}@{m}" for stage in ("train", "evaluate") for m in retrained}, log
    runs = _newest_runs(repo)
    for model in retrained:
        own = tiny_params["models"][model].get("lr")
        assert runs[model].data.params["train.lr"] == str(own or 0.0005)
        assert "fid" in runs[model].data.metrics  # evaluate@ re-scored the retrained GAN
        assert runs[model].data.tags.get("dvc_experiment")
    client = MlflowClient(f"sqlite:///{repo / 'mlruns' / 'mlflow.db'}")
    experiments = [e.experiment_id for e in client.search_experiments()]
    evaluator_runs = client.search_runs(experiments, "attributes.run_name = 'evaluator'")
    assert len(evaluator_runs) == 1  # a new learning rate does not retrain the evaluator
    table = run_ok(repo, "dvc", "exp", "show", "--json", env=env)
    assert "0.0005" in table
    # the experiment's commit carries its scores and curves: exp show and plots diff see them
    rows = json.loads(table)  # the workspace, then the baseline commit with its experiments
    (shown,) = [rev for row in rows for exp in row.get("experiments") or [] for rev in exp["revs"]]
    assert "fid" in shown["data"]["metrics"]["models/dcgan/metrics.json"]["data"], shown
    name = shown["name"]
    diff = json.loads(run_ok(repo, "dvc", "plots", "diff", name, "--json", env=env))
    revisions = diff["data"]["reports/plots/fid/dcgan.csv"][0]["revisions"]
    assert set(revisions) == {name, "workspace"}, revisions
