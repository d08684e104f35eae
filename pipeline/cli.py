"""`python -m pipeline <command>`: the entry points dvc.yaml calls.

Errors a user can fix (`PipelineError`) print as one line on stderr and exit non-zero;
`--debug` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from pipeline.errors import PipelineError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline",
        description="Train, sample and track a zoo of Keras GANs (see README.md).",
    )
    parser.add_argument("--params", type=Path, default=Path("params.yaml"), help="params file")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    commands.add_parser(
        "fetch",
        help="fetch data.dataset into data/raw/dataset.npz (cache, mirrors, URLs, Debian)",
        description="Fetch the dataset named by data.dataset, verify its checksums and "
        "write data/raw/dataset.npz atomically.",
    )

    commands.add_parser(
        "edges",
        help="Canny edge maps of every image, paired with it (data/edges/), for pix2pix",
        description="Compute a Canny edge map (edges.*) for every image of the fetched "
        "dataset and write the (edges | image) pairs to data/edges/pairs.npz, with a preview "
        "picture and edge statistics.",
    )

    commands.add_parser(
        "lowres",
        help="every image shrunk by lowres.factor, paired with it (data/lowres/), for srgan",
        description="Shrink every image of the fetched dataset by lowres.factor with "
        "lowres.filter and write the (low, high) pairs to data/lowres/pairs.npz, a preview "
        "(low | bicubic | original) and the plain upscalers' scores on the test split "
        "(data/lowres/stats.json; needs the evaluator and reference stages).",
    )

    train = commands.add_parser(
        "train",
        help="train one GAN (models/NAME/...)",
        description="Train one GAN with train.* (and models.NAME.* overrides); resumes "
        "from models/NAME/checkpoints after a kill; logs the run to MLflow.",
    )
    train.add_argument("--model", required=True, help="model name, e.g. gan or dcgan")

    commands.add_parser(
        "evaluator",
        help="train the evaluator network every score uses (models/evaluator/)",
        description="Train the CNN classifier whose features give FID, KID and "
        "precision/recall, and whose softmax gives the classifier score (evaluator.*).",
    )
    commands.add_parser(
        "reference",
        help="the evaluator's statistics of the real test split, and the real-vs-real floor",
        description="Embed the real test split with the evaluator (models/reference/stats.npz) "
        "and score training images against it (models/reference/metrics.json).",
    )
    evaluate = commands.add_parser(
        "evaluate",
        help="score a trained GAN: FID, KID, classifier score, precision, recall",
        description="Score evaluate.n_samples generated images against the real test split; "
        "writes models/NAME/metrics.json and logs to the GAN's MLflow run.",
    )
    evaluate.add_argument("--model", required=True, help="model name, e.g. dcgan")

    tune = commands.add_parser(
        "tune",
        help="Optuna study of one GAN's lr, beta1, k_steps, dropout (models/NAME/best_params.yaml)",
        description="Run Optuna trials of one GAN: each trains for the short budget of "
        "tune.epochs x tune.steps_per_epoch with the in-training FID every epoch; weak "
        "trials are pruned on it and its last value is the objective (seeded TPE over the "
        "tune.* ranges). Adds to the study in tune.storage, logs a parent MLflow run with a "
        "child run per trial, writes models/NAME/best_params.yaml and prints the "
        "`dvc exp run -S ...` line that applies it.",
    )
    tune.add_argument("--model", required=True, help="model name, e.g. gan or dcgan")
    tune.add_argument(
        "--trials", type=int, default=None, help="trials this worker runs (default tune.trials)"
    )
    tune.add_argument(
        "--worker",
        type=int,
        default=0,
        help="this worker's number when several share a study (TPE seed tune.seed + N)",
    )
    tune.add_argument(
        "--queue-top",
        type=int,
        default=0,
        metavar="K",
        help="queue the K best trials as DVC experiments (`dvc queue start` runs them)",
    )

    sample = commands.add_parser(
        "sample",
        help="draw a grid of samples from a trained generator",
        description="Write a PNG grid of N samples drawn with a seeded latent (for pix2pix: "
        "N test pairs drawn with the seed, each as edges | generated | real; for cgan: N "
        "samples of --label, or without it a row of N/K samples per class; for stackgan: "
        "N samples of the sentence --text, or as for cgan).",
    )
    sample.add_argument("--model", default=None, help="model name, e.g. dcgan")
    sample.add_argument(
        "--model-uri",
        default=None,
        metavar="URI",
        help="draw from a registered generator instead of models/NAME/, e.g. "
        "models:/fashion_mnist-dcgan@champion or models:/fashion_mnist-dcgan/3 "
        "(--model then comes from the version)",
    )
    sample.add_argument("-n", type=int, default=64, help="number of samples, >= 1 (default 64)")
    sample.add_argument("--seed", type=int, default=0, help="latent seed, >= 0 (default 0)")
    sample.add_argument(
        "--columns", type=int, default=None, help="grid columns, >= 1 (default: a square grid)"
    )
    _png_out(sample)
    sample.add_argument(
        "--label",
        default=None,
        help="cgan, stackgan: the class to draw, by name or index (e.g. sneaker or 7)",
    )
    sample.add_argument(
        "--text",
        default=None,
        help="stackgan: the sentence to draw, in the words of its captions "
        '(e.g. "a pair of sneakers"; pipeline/data/captions.yaml)',
    )
    sample.add_argument(
        "--truncation",
        type=float,
        default=1.0,
        metavar="PSI",
        help="the truncation trick: draw w_avg + PSI (w - w_avg) (StyleGAN's running mean of "
        "w; z scaled by PSI for a generator without a mapping network); 1 = off (default)",
    )

    _explore_parser(commands)

    retrain = commands.add_parser(
        "retrain",
        help="rerun the pipeline if data or params changed, then promote better generators",
        description="For timers: when `dvc status` finds a change, run `dvc repro` (which "
        "registers each evaluated generator as a version of DATASET-MODEL in MLflow); "
        "when nothing changed, train nothing. Then, for every GAN of train.models, move the "
        "alias `champion` to the version of its current run (models/NAME/run.json) if its "
        "FID is strictly lower than the champion's (every version is kept). One retrain at "
        "a time: a second one exits with code 75 (also while another DVC process holds the "
        "repository) and a failed `dvc repro` with code 5.",
    )
    retrain.add_argument(
        "--dry-run", action="store_true", help="say what would be run and promoted; change nothing"
    )

    report = commands.add_parser(
        "report",
        help="one self-contained HTML page of every GAN: leaderboard, samples, curves, tuning",
        description="Write reports/index.html: a leaderboard of every GAN of train.models "
        "(each family's scores, the best of each column marked, the real-vs-real floor), a "
        "card per GAN (samples, loss and FID curves, its own params, MLflow run, git commit, "
        "registry version, the command that reproduces it), the data, the Optuna studies and "
        "the DVC experiments (read from git). Pictures are embedded: the file opens from disk "
        "with no network. The last stage of dvc.yaml.",
    )
    report.add_argument(
        "--out",
        type=Path,
        default=None,
        help="output HTML file (default reports/index.html; missing folders are created)",
    )
    report.add_argument(
        "--screenshot",
        type=Path,
        default=None,
        metavar="FILE.png",
        help="also render the page in headless Chromium and save a PNG of it",
    )
    report.add_argument(
        "--inputs",
        default=None,
        metavar="NAME",
        help="write only reports/inputs/NAME.json, the checksums of what the report reads "
        "of GAN NAME (dvc.yaml's report-inputs@NAME stage)",
    )

    translate = commands.add_parser(
        "translate",
        help="turn your own edge drawing (or a photo's edges) into an image with pix2pix",
        description="Translate a picture of any size with a trained translation model. A "
        "line drawing may be white on black or black on white; a photo is first turned "
        "into edges with the edges.* settings the model was trained with. The output has "
        "the input's size.",
    )
    translate.add_argument("--model", default="pix2pix", help="model name (default pix2pix)")
    translate.add_argument("--input", type=Path, required=True, help="drawing or photo")
    _png_out(translate)
    translate.add_argument(
        "--kind",
        choices=("auto", "edges", "photo"),
        default="auto",
        help="what the input is (default auto: a two-tone picture is a drawing)",
    )
    upscale = commands.add_parser(
        "upscale",
        help="make your own picture 4x larger with srgan",
        description="Upscale a grey or RGB picture of any size by lowres.factor with a trained "
        "super-resolution generator (whole, or in tiles past 256x256 px; docs/families.md, "
        "SRGAN).",
    )
    upscale.add_argument("--model", default="srgan", help="model name (default srgan)")
    upscale.add_argument("--input", type=Path, required=True, help="picture (PNG, JPEG, ...)")
    _png_out(upscale)
    return parser


def _png_out(command) -> None:
    """The --out option of the commands that write one picture."""
    command.add_argument(
        "--out",
        type=Path,
        required=True,
        help="output PNG file (not a folder; missing folders are created)",
    )


def _explore_parser(commands) -> None:
    explore = commands.add_parser(
        "explore",
        help="pictures of a latent generator's space: interpolation, vector arithmetic, "
        "style mixing, truncation",
        description="Draw one picture of a trained latent generator (every model but "
        "pix2pix) from latents drawn with --seed, and log it to the MLflow run that trained "
        "it (artifacts explore/). interpolate: --rows pairs, --steps columns each, linear "
        "in z, then spherical in z (StyleGAN: linear in w); arithmetic: A - B + C of the "
        "mean latents the evaluator classes as A, B and C (not cgan); mixing (StyleGAN): "
        "coarse styles from the rows' latents, fine ones from the columns'; truncation: "
        "each row's latent at each --psi (see docs/explore.md).",
    )
    explore.add_argument("--model", required=True, help="model name, e.g. stylegan or dcgan")
    explore.add_argument(
        "--what",
        required=True,
        choices=("interpolate", "arithmetic", "mixing", "truncation"),
        help="the picture",
    )
    _png_out(explore)
    explore.add_argument("--seed", type=int, default=0, help="latent seed, >= 0 (default 0)")
    explore.add_argument(
        "--rows",
        type=int,
        default=None,
        help="interpolate: pairs of latents (two rows each); mixing, truncation: latents, "
        "one per row (default 4)",
    )
    explore.add_argument(
        "--steps",
        type=int,
        default=None,
        help="interpolate: columns, ends included, >= 3 (default 8)",
    )
    explore.add_argument(
        "--columns", type=int, default=None, help="mixing: the latents of the columns (default 4)"
    )
    explore.add_argument(
        "--crossover",
        type=int,
        default=None,
        metavar="K",
        help="mixing: the style layers below K come from the rows' latents, the rest from "
        "the columns' (0..L; default L // 2)",
    )
    explore.add_argument(
        "--psi",
        default=None,
        metavar="LIST",
        help="truncation: the columns' psi, comma-separated (default 1,0.7,0.5,0)",
    )
    explore.add_argument(
        "--expr",
        default=None,
        metavar="'A - B + C'",
        help="arithmetic: three class names (default 'sneaker - ankle_boot + sandal')",
    )
    explore.add_argument(
        "--pool",
        type=int,
        default=None,
        help="arithmetic: latents drawn and classified to find A, B and C (default 2000)",
    )
    explore.add_argument(
        "--confidence",
        type=float,
        default=None,
        help="arithmetic: the evaluator's least probability of a class member (default 0.9)",
    )
    explore.add_argument(
        "--per-class",
        type=int,
        default=None,
        help="arithmetic: members averaged per class, at most (default 8)",
    )
    explore.add_argument(
        "--label",
        default=None,
        help="cgan, interpolate and truncation: the class of every row, by name or index "
        "(default: row i draws class i mod K)",
    )


def run(args: argparse.Namespace) -> None:
    from pipeline.gans.families import check_model_name

    progress = not args.no_progress
    if args.command == "fetch":
        from pipeline.stages.fetch import fetch_command

        fetch_command(args.params, progress=progress)
    elif args.command == "edges":
        from pipeline.stages.edges import edges_command

        print("edges: " + _summary(edges_command(args.params)))
    elif args.command == "lowres":
        from pipeline.stages.lowres import lowres_command

        print("lowres: " + _summary(lowres_command(args.params)))
    elif args.command == "train":
        from pipeline.stages.train import train_command

        check_model_name(args.model)
        summary = train_command(args.params, args.model, progress=progress)
        print(f"train@{args.model}: " + _summary(summary))
    elif args.command == "evaluator":
        from pipeline.stages.evaluator import evaluator_command

        report = evaluator_command(args.params, progress=progress)
        print("evaluator: " + _summary(report))
    elif args.command == "reference":
        from pipeline.stages.reference import reference_command

        print("reference (real-vs-real floor): " + _summary(reference_command(args.params)))
    elif args.command == "evaluate":
        from pipeline.stages.evaluate import evaluate_command

        check_model_name(args.model)
        scores = evaluate_command(args.params, args.model)
        print(f"evaluate@{args.model}: " + _summary(scores))
    elif args.command == "tune":
        from pipeline.tuning.tune import tune

        check_model_name(args.model)
        if args.queue_top < 0:
            raise PipelineError(f"--queue-top must be >= 0, got {args.queue_top}")
        result = tune(
            args.params,
            args.model,
            args.trials,
            worker=args.worker,
            queue_top=args.queue_top,
            progress=progress,
        )
        counts = ", ".join(f"{n} {state}" for state, n in result.counts.items())
        print(f"tune@{args.model}: study {result.study} ({counts}) in {result.storage}")
        print(
            f"best: trial {result.best_number}, {result.metric} {result.best_value:.4g}; "
            f"wrote {result.best_params_file}"
        )
        for name in result.queued:
            print(f"queued DVC experiment {name}")
        if result.queued:
            print("run the queue with: dvc queue start")
        else:
            print(f"apply it with: {result.command}")
    elif args.command == "sample":
        if args.model is not None:
            check_model_name(args.model)
        from pipeline.stages.sample import sample_command

        out = sample_command(
            args.params,
            args.model,
            args.n,
            args.seed,
            args.out,
            args.columns,
            args.label,
            model_uri=args.model_uri,
            truncation=args.truncation,
            text=args.text,
        )
        print(f"wrote {out}")
    elif args.command == "explore":
        _explore(args)
    elif args.command == "retrain":
        from pipeline.tracking.retrain import retrain_command

        retrain_command(args.params, dry_run=args.dry_run)
    elif args.command == "report":
        _report(args)
    elif args.command == "translate":
        from pipeline.stages.translate import translate_command

        check_model_name(args.model)
        out = translate_command(args.model, args.input, args.out, args.kind)
        print(f"wrote {out}")
    elif args.command == "upscale":
        from pipeline.stages.upscale import upscale_command

        check_model_name(args.model)
        print(f"wrote {upscale_command(args.model, args.input, args.out, progress)}")


def _report(args: argparse.Namespace) -> None:
    from pipeline.gans.families import check_model_name

    if args.inputs is not None:
        from pipeline.report.inputs import inputs_command

        check_model_name(args.inputs)
        print(f"report-inputs@{args.inputs}: wrote {inputs_command(args.inputs)}")
        return
    from pipeline.stages.report import REPORT_FILE, report_command

    out, size = report_command(args.params, args.out or REPORT_FILE, args.screenshot)
    print(f"report: wrote {out} ({size / 1e6:.2f} MB)")
    if args.screenshot is not None:
        print(f"report: wrote {args.screenshot}")


def _explore(args: argparse.Namespace) -> None:
    from pipeline.gans.families import check_model_name
    from pipeline.stages.explore import ExploreOptions, explore_command

    check_model_name(args.model)
    options = ExploreOptions(
        seed=args.seed,
        rows=args.rows,
        steps=args.steps,
        columns=args.columns,
        crossover=args.crossover,
        psi=args.psi,
        expr=args.expr,
        pool=args.pool,
        confidence=args.confidence,
        per_class=args.per_class,
        label=args.label,
    )
    explored = explore_command(args.params, args.model, args.what, args.out, options)
    for note in explored.notes:
        print(f"explore@{args.model}: {note}")
    print(f"wrote {explored.out}")


def _summary(values: dict) -> str:
    """The scalar values of a stage's summary (train.json's seconds_by_part is a table)."""
    return ", ".join(
        f"{k}={v}" if isinstance(v, int) else f"{k}={v:.4g}"
        for k, v in values.items()
        if isinstance(v, int | float)
    )


# Commands that do not check params.yaml before they start: `translate` reads none (its
# inputs are a trained model's own files); `retrain` first takes its lock and checks the
# repository (a timer must hear "busy" at once), then each stage that its `dvc repro`
# runs checks params.yaml itself.
NO_PARAMS_CHECK = ("translate", "retrain")


def prepare(path: Path) -> None:
    """Before any stage imports TensorFlow: all of params.yaml checked, so a mistake in it
    is one line in a fraction of a second (pipeline.config.check_params), and the
    environment TensorFlow starts with set from it (a variable already set wins)."""
    from pipeline.config import check_params, load_params, runtime_environment
    from pipeline.gans.families import param_names

    params = load_params(path)
    check_params(params, param_names())
    for name, value in runtime_environment(params).items():
        os.environ.setdefault(name, value)


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "sample" and args.model is None and args.model_uri is None:
        parser.error("sample needs --model NAME or --model-uri models:/NAME@ALIAS")
    try:
        if args.command not in NO_PARAMS_CHECK:
            prepare(args.params)
        run(args)
    except PipelineError as error:
        if args.debug:
            raise
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0
