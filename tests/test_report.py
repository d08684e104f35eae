"""The report (`python -m pipeline report`): one self-contained page of every GAN in
train.models, built here from a fake tree of stage outputs (tests/report_fakes.py), no
training."""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml

from pipeline.cli import main
from pipeline.report.charts import Chart, Frame, Series, line_chart, nice_ticks, scales
from pipeline.report.leaderboard import DIRECTIONS, HIGHER, LOWER, best, columns
from tests.helpers import DEFAULT_MODELS
from tests.report_fakes import SCORES, fake_repo, write_model

ALL = DEFAULT_MODELS


class Page(HTMLParser):
    """The parts of the page the tests look at: elements by id, table rows by id (their
    cells' classes and texts), header texts, and every src/href."""

    def __init__(self, html: str):
        super().__init__()
        self.ids: dict[str, str] = {}  # id -> tag
        self.rows: dict[str, list[tuple[str, str]]] = {}
        self.headers: list[str] = []
        self.links: list[str] = []
        self._row: str | None = None
        self._cell: list | None = None
        self._in_leaderboard_head = False
        self._th: list[str] | None = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids[attrs["id"]] = tag
        for key in ("src", "href"):
            if key in attrs:
                self.links.append(attrs[key])
        if tag == "table" and attrs.get("id") == "leaderboard":
            self._in_leaderboard_head = True
        if tag == "th" and self._in_leaderboard_head:
            self._th = []
        if tag == "tr" and "id" in attrs:
            self._row = attrs["id"]
            self.rows[self._row] = []
        if tag == "td" and self._row is not None:
            self._cell = [attrs.get("class") or "", []]

    def handle_endtag(self, tag):
        if tag == "thead":
            self._in_leaderboard_head = False
        if tag == "th" and self._th is not None:
            self.headers.append("".join(self._th).split()[0])
            self._th = None
        if tag == "td" and self._cell is not None and self._row is not None:
            self.rows[self._row].append((self._cell[0], "".join(self._cell[1]).strip()))
            self._cell = None
        if tag == "tr":
            self._row = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell[1].append(data)
        if self._th is not None:
            self._th.append(data)

    def cell(self, model: str, column: str) -> tuple[str, str]:
        """(class, text) of `model`'s cell in leaderboard column `column`."""
        return self.rows[f"row-{model}"][self.headers.index(column)]


def one_line_error(capsys) -> str:
    """The CLI's one `error: ...` line on stderr (after any `warning:` lines: the tests'
    MLflow store may not exist)."""
    err = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in err if not line.startswith("warning: ")]
    assert len(errors) == 1 and errors[0].startswith("error: "), err
    return errors[0]


@pytest.fixture
def repo(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    fake_repo(tmp_path)
    return tmp_path


def build(capsys=None) -> tuple[str, Page]:
    assert main(["--no-progress", "report"]) == 0
    html = Path("reports/index.html").read_text(encoding="utf-8")
    return html, Page(html)


# --- every model, whatever its name -----------------------------------------------------


def test_every_model_of_train_models_has_a_card_and_a_leaderboard_row(repo, capsys):
    html, page = build()
    for name in ALL:
        assert page.ids.get(f"model-{name}") == "section", name
        assert f"row-{name}" in page.rows, name
    assert "row-floor" in page.rows  # the real-vs-real floor
    assert page.cell("floor", "fid")[1] == "0.135"
    assert "0.9326" in html  # the evaluator's accuracy
    # a family's input kind is its task; a family's own measures get columns
    assert page.rows["row-cgan"][1][1] == "conditional"
    assert page.rows["row-pix2pix"][1][1] == "edge pairs"
    for column in ("conditional_accuracy", "clustering_accuracy", "l1", "psnr", "ssim"):
        assert column in page.headers
    assert "class_accuracy/t-shirt_top" not in page.headers  # per class: on the card
    assert "kid_std" not in page.headers  # a spread is shown beside its score
    assert "\u00b1 0.013" in html
    # train.json's seconds_by_part as its three largest shares, largest first
    assert "step 70% \u00b7 fid_probe 15% \u00b7 setup 10%" in html
    out = capsys.readouterr().out
    assert re.search(r"report: wrote reports/index.html \(\d+\.\d\d MB\)", out)


@pytest.fixture
def copy_of_dcgan():
    """A family registered by the test: dcgan's networks under another name."""
    from pipeline.gans.families import get_family, register, unregister

    family = replace(get_family("dcgan"), name="dcgan_copy", summary="dcgan, registered by a test")
    register(family)
    yield family
    unregister("dcgan_copy")


def test_a_model_added_to_train_models_appears_with_no_code_edit(repo, copy_of_dcgan):
    params = yaml.safe_load(Path("params.yaml").read_text())
    params["train"]["models"]["dcgan_copy"] = "data/raw/dataset.npz"
    params["models"]["dcgan_copy"] = {"generator": "transposed", "lr": 1e-3}
    Path("params.yaml").write_text(yaml.safe_dump(params))
    write_model(repo, "dcgan_copy", {"fid": 5.0, "kid": 0.0, "recall": 0.9, "sharpness": 3.0})

    html, page = build()
    assert page.ids["model-dcgan_copy"] == "section"
    assert page.cell("dcgan_copy", "fid") == ("num best", "5")
    assert "sharpness" in page.headers  # a new score is a new column...
    assert "best" not in page.cell("dcgan_copy", "sharpness")[0]  # ...unranked: no direction
    assert page.cell("dcgan", "sharpness")[1] == "\u2014"
    card = html[html.index('id="model-dcgan_copy"') :]
    assert "dcgan, registered by a test" in card
    assert "models.dcgan_copy.lr" in card and "overrides train.lr" in card
    assert "models.dcgan_copy.generator" in card and "transposed" in card


def test_a_model_not_evaluated_yet_gets_a_row_saying_what_to_run(repo):
    Path("models/cgan/metrics.json").unlink()
    for path in Path("models/sgan").iterdir():
        path.unlink()

    _html, page = build()
    assert page.rows["row-cgan"][2][1] == "not evaluated yet: dvc repro evaluate@cgan"
    assert page.rows["row-sgan"][2][1] == "not trained yet: dvc repro evaluate@sgan"
    assert page.ids["model-cgan"] == "section"  # its card: samples and curves already
    assert "accuracy" not in page.headers  # only sgan had it (stackgan has cgan's column)
    order = [rid for rid in page.rows if rid.startswith("row-") and rid != "row-floor"]
    assert order[-2:] in (["row-cgan", "row-sgan"], ["row-sgan", "row-cgan"])  # unscored last


# --- ranking -----------------------------------------------------------------------------


def test_the_best_of_each_column_is_marked_in_its_direction(repo):
    _, page = build()
    assert DIRECTIONS["fid"] == DIRECTIONS["kid"] == LOWER
    assert DIRECTIONS["recall"] == DIRECTIONS["precision"] == HIGHER
    marked = {
        column: sorted(m for m in ALL if "best" in page.cell(m, column)[0])
        for column in ("fid", "kid", "precision", "recall", "classifier_score")
    }
    # crafted in tests/report_fakes.py: dcgan lowest fid and kid, gan highest recall, cgan
    # highest precision
    assert marked == {
        "fid": ["dcgan"],
        "kid": ["dcgan"],
        "precision": ["cgan"],
        "recall": ["gan"],
        "classifier_score": ["dcgan"],
    }
    assert "best" in page.cell("pix2pix", "l1")[0]  # lower is better: 0.2 beats srgan's 0.21
    assert "best" not in page.cell("srgan", "l1")[0]
    assert "best" in page.cell("sgan", "clustering_accuracy")[0]  # 0.6 beats catgan's 0.55
    assert not any("best" in css for css, _ in page.rows["row-floor"])  # the floor: unranked
    # without JS the rows come by fid, best first
    order = [rid.removeprefix("row-") for rid in page.rows if rid.startswith("row-")]
    fids = [SCORES[m]["fid"] for m in order if m in SCORES]
    assert fids == sorted(fids)


def test_best_takes_ties_and_skips_missing_values_and_unknown_metrics():
    values = {"a": 1.0, "b": 1.0, "c": 2.0, "d": None, "e": float("nan")}
    assert best(values, "fid") == {"a", "b"}
    assert best(values, "recall") == {"c"}
    assert best(values, "a_metric_nobody_declared") == set()
    assert best({"a": None}, "fid") == set()
    assert columns([{"fid": 1, "psnr": 2, "kid_std": 0}, {"ssim": 1, "class_accuracy/x": 1}]) == (
        "fid",
        "kid",
        "precision",
        "recall",
        "classifier_score",
        "psnr",
        "ssim",
    )


# --- charts ------------------------------------------------------------------------------


def test_a_chart_maps_data_to_pixels_linearly():
    frame = Frame(width=400, height=300, left=50, right=10, top=20, bottom=40, legend=20)
    chart = Chart("t", "step", "loss", (Series("d_loss", (0.0, 10.0), (0.0, 2.0)),))
    svg = line_chart(chart, frame, x_domain=(0, 10), y_domain=(0, 2))
    points = re.search(r'data-series="d_loss" points="([^"]+)"', svg).group(1)
    # plot area: x from 50 to 390 (400 - 10), y from 240 (300 - 40 - 20) up to 20
    assert points == "50.00,240.00 390.00,20.00"

    # a point inside: (2.5, 0.5) is a quarter of the way on both axes
    x, y = scales(chart, frame, (0, 10), (0, 2))
    assert (x(2.5), y(0.5)) == (50 + 0.25 * 340, 240 - 0.25 * 220)
    # without domains: the data's range widened to round ticks
    x, y = scales(Chart("t", "x", "y", (Series("s", (3.0, 97.0), (0.12, 0.87)),)), frame)
    assert (x.lo, x.hi, y.lo, y.hi) == (0.0, 100.0, 0.0, 1.0)
    assert x.ticks == (0, 20, 40, 60, 80, 100)


def test_nice_ticks_cover_the_data_in_round_steps():
    assert nice_ticks(0.12, 0.87) == (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
    assert nice_ticks(36.4, 44.9) == (36, 38, 40, 42, 44, 46)
    assert nice_ticks(5, 5)[0] < 5 < nice_ticks(5, 5)[-1]  # a flat series still has a span


def test_a_chart_draws_phase_markers_axes_titles_and_escapes_names(repo):
    html, _ = build()
    card = html[html.index('id="model-progan"') :]
    card = card[: card.index("</section>")]
    assert card.count("<svg") == 2  # losses, fid
    assert 'class="marker"' in card and ">fade-14px<" in card  # where the phase changes
    assert "progan: losses per step" in card and "in-training FID" in card
    assert 'data-series="d_loss"' in card and 'data-series="fid2k"' in card
    svg = line_chart(Chart("<b>&", "x", "y", (Series('"quote"<', (0, 1), (0, 1)),)))
    assert "<b>" not in svg and "&lt;b&gt;&amp;" in svg and "&quot;quote&quot;&lt;" in svg


def test_the_fid_curve_is_per_epoch_unless_an_epoch_has_several_values():
    from pipeline.report.collect import fid_chart

    plain = (["epoch", "step", "fid2k"], [{"epoch": "1", "step": "470", "fid2k": "80"}])
    assert fid_chart("dcgan", plain).x_label == "epoch"
    rows = [  # ProGAN's fid.csv: also scored where a phase ends
        {"epoch": "1", "step": "300", "phase": "7px", "fid2k": "44.9"},
        {"epoch": "1", "step": "600", "phase": "fade-14px", "fid2k": "49.1"},
        {"epoch": "2", "step": "1200", "phase": "14px", "fid2k": "40.3"},
    ]
    chart = fid_chart("progan", (["epoch", "step", "phase", "fid2k"], rows))
    assert chart.x_label == "step"
    assert chart.series[0].x == (300.0, 600.0, 1200.0)
    assert chart.markers == ((600.0, "fade-14px"), (1200.0, "14px"))


# --- one file, no network ----------------------------------------------------------------


def test_the_page_is_self_contained_and_under_5_mb_for_eight_models(repo):
    html, page = build()
    assert not [link for link in page.links if re.match(r"\s*(https?:)?//", link)]
    images = [link for link in page.links if link.startswith("data:")]
    assert len(images) == len(ALL) + 2  # a sample grid per GAN, the edge and lowres previews
    assert all(link.startswith("data:image/png;base64,") for link in images)
    assert not re.search(r"<link|@import|url\(", html)
    size = Path("reports/index.html").stat().st_size
    assert size < 5 * 1024 * 1024, size  # noise PNGs: the worst case for their size
    assert size > len(ALL) * 300_000  # ... and they are in there


# --- damaged and missing files, atomic output --------------------------------------------


def test_a_corrupt_metrics_json_is_one_line_naming_the_file_and_the_stage(repo, capsys):
    Path("reports").mkdir()
    Path("reports/index.html").write_text("the previous report")
    Path("models/dcgan/metrics.json").write_text('{"fid": 12.')

    assert main(["--no-progress", "report"]) == 3
    line = one_line_error(capsys)
    assert "models/dcgan/metrics.json is corrupt" in line
    assert "python -m pipeline evaluate --model dcgan" in line
    assert Path("reports/index.html").read_text() == "the previous report"  # untouched
    assert sorted(p.name for p in Path("reports").iterdir()) == ["index.html"]  # no temp


@pytest.mark.parametrize(
    ("path", "content", "maker"),
    [
        ("models/gan/history.csv", "step,d_loss\n1,2,3\n", "train --model gan"),
        ("models/gan/samples.png", "not a png", "train --model gan"),
        ("models/reference/metrics.json", "[1, 2]", "reference"),
    ],
)
def test_other_damaged_inputs_are_one_line_too(repo, capsys, path, content, maker):
    Path(path).write_text(content)
    assert main(["--no-progress", "report"]) == 3
    line = one_line_error(capsys)
    assert f"{path} is corrupt" in line and f"python -m pipeline {maker}" in line
    assert not Path("reports/index.html").exists()


def test_a_failed_write_leaves_the_previous_report(repo, capsys, monkeypatch):
    build()
    before = Path("reports/index.html").read_bytes()
    write_bytes = Path.write_bytes

    def disk_full(self, data):  # half the page, then no space left
        write_bytes(self, data[: len(data) // 2])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", disk_full)
    assert main(["--no-progress", "report"]) == 6
    assert "cannot write reports/index.html (No space left on device)" in one_line_error(capsys)
    assert Path("reports/index.html").read_bytes() == before
    # no part file left, and the curves of the previous report untouched
    assert sorted(p.name for p in Path("reports").iterdir()) == ["index.html", "plots"]


def test_a_missing_mlflow_store_is_one_warning_and_the_page_says_not_recorded(
    repo, capsys, monkeypatch, tmp_path
):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'nowhere' / 'mlflow.db'}")
    html, _ = build()
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("warning: no MLflow store at "), err
    assert not (tmp_path / "nowhere").exists()  # a reader creates no store
    card = html[html.index('id="model-dcgan"') :]
    assert "git commit</dt><dd>not recorded" in card
    assert "<pre>dvc repro evaluate@dcgan</pre>" in card


# --- provenance, studies, experiments ----------------------------------------------------


def test_a_card_shows_the_run_commit_registry_version_and_champion(repo, tmp_path, monkeypatch):
    from mlflow import MlflowClient

    from pipeline.tracking.store import open_client

    uri = f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    client: MlflowClient = open_client(uri)
    experiment = client.create_experiment("fashion_mnist")
    run = client.create_run(experiment, tags={"model": "dcgan", "git_commit": "c0ffee" * 6})
    for step, stamp in ((1, 1_000_000), (2, 1_000_000 + 125_000)):  # 125 s of training
        client.log_metric(run.info.run_id, "d_loss", 1.0, timestamp=stamp, step=step)
    name = "fashion_mnist-dcgan"
    client.create_registered_model(name)
    version = client.create_model_version(
        name, source=(tmp_path / "generator").as_uri(), run_id=run.info.run_id
    )
    client.set_registered_model_alias(name, "champion", version.version)
    Path("models/dcgan/run.json").write_text(json.dumps({"mlflow_run_id": run.info.run_id}))

    html, _ = build()
    card = html[html.index('id="model-dcgan"') :]
    card = card[: card.index("</section>")]
    assert run.info.run_id in card
    assert f"{name} v{version.version}" in card and "champion</span>" in card
    assert f"git checkout {'c0ffee' * 6} &amp;&amp; dvc repro evaluate@dcgan" in card
    assert "2 min 05 s" in card
    gan = html[html.index('id="model-gan"') :]
    assert "is not in the store" in gan[: gan.index("</section>")]


def test_a_study_shows_its_best_trial_the_apply_line_and_importances(repo):
    import optuna

    from pipeline.tuning.results import apply_command

    Path("models/tune").mkdir()
    storage = f"sqlite:///{Path('models/tune/optuna.db').resolve()}"
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    dataset = yaml.safe_load(Path("params.yaml").read_text())["data"]["dataset"]

    def objective(trial):
        lr = trial.suggest_float("lr", 1e-5, 1e-3, log=True)
        k = trial.suggest_int("k_steps", 1, 3)
        trial.set_user_attr("metric", "fid2k")
        return 100 * lr + k

    sampler = optuna.samplers.RandomSampler(seed=0)
    big = optuna.create_study(study_name=f"{dataset}-gan", storage=storage, sampler=sampler)
    big.optimize(objective, n_trials=8)
    small = optuna.create_study(study_name=f"{dataset}-dcgan", storage=storage, sampler=sampler)
    small.optimize(objective, n_trials=2)

    html, _page = build()
    params = yaml.safe_load(Path("params.yaml").read_text())
    command = apply_command(params, "gan", big.best_trial.params)
    assert command.startswith("dvc exp run -S '")
    tuning = html[html.index('id="tuning"') : html.index('id="experiments-title"')]
    assert f"<pre>{command.replace(chr(39), '&#x27;')}</pre>" in tuning
    assert f"best: trial {big.best_trial.number}, fid2k" in tuning
    assert "importance</th>" in tuning and ">lr</td>" in tuning
    assert "importances need at least 5 completed trials; this study has 2" in tuning


def test_experiments_are_read_from_git_refs(repo):
    def git(*args):
        return subprocess.run(
            ["git", *args],
            check=True,
            capture_output=True,
            text=True,
            env={
                "GIT_AUTHOR_NAME": "t",
                "GIT_AUTHOR_EMAIL": "t@t",
                "GIT_COMMITTER_NAME": "t",
                "GIT_COMMITTER_EMAIL": "t@t",
                "PATH": "/usr/bin:/bin",
            },
        ).stdout.strip()

    git("init", "-q")
    git("add", "params.yaml")
    git("commit", "-qm", "baseline")
    baseline = git("rev-parse", "HEAD")
    params = yaml.safe_load(Path("params.yaml").read_text())
    workspace = Path("params.yaml").read_text()
    default_lr, params["train"]["lr"] = params["train"]["lr"], 1e-4
    Path("params.yaml").write_text(yaml.safe_dump(params))
    Path("models/dcgan/metrics.json").write_text(json.dumps({"fid": 9.75}))
    git("add", "-f", "params.yaml", "models/dcgan/metrics.json")
    git("commit", "-qm", "exp")
    experiment = git("rev-parse", "HEAD")
    git("update-ref", f"refs/exps/{baseline[:2]}/{baseline[2:]}/lower-lr", experiment)
    git("update-ref", "refs/exps/exec/EXEC_HEAD", experiment)  # DVC's own: not an experiment
    git("checkout", "-q", baseline)
    Path("params.yaml").write_text(workspace)
    Path("models/dcgan/metrics.json").write_text(json.dumps(SCORES["dcgan"]))

    html, page = build()
    row = page.rows["exp-lower-lr"]
    assert f"train.lr: {default_lr} \u2192 0.0001" in row[2][1]
    header = html[html.index('id="experiments"') :]
    columns = re.findall(r"<th[^>]*>([^<]*)</th>", header[: header.index("</thead>")])
    assert row[columns.index("dcgan fid")][1] == "9.75"
    assert row[columns.index("gan fid")][1] == "\u2014"
    assert [r for r in page.rows if r.startswith("exp-")] == ["exp-lower-lr"]


# --- DVC: the stages and their dependencies ----------------------------------------------


def test_report_inputs_checksums_change_with_their_files(repo, capsys):
    assert main(["--no-progress", "report", "--inputs", "dcgan"]) == 0
    first = json.loads(Path("reports/inputs/dcgan.json").read_text())
    assert first["model"] == "dcgan" and len(first["files"]) == 6
    assert all(first["files"].values())
    Path("models/dcgan/fid.csv").write_text("epoch,fid2k\n1,3.0\n")
    assert main(["--no-progress", "report", "--inputs", "dcgan"]) == 0
    second = json.loads(Path("reports/inputs/dcgan.json").read_text())
    changed = [k for k in first["files"] if first["files"][k] != second["files"][k]]
    assert changed == ["models/dcgan/fid.csv"]
    assert main(["--no-progress", "report", "--inputs", "nosuchgan"]) == 2


def test_dvc_yaml_report_stages_depend_on_exactly_what_they_read_and_import():
    from pipeline.report.inputs import MODEL_FILES
    from tests.test_dvc_deps import STAGES, code_deps, imported

    inputs = STAGES["report-inputs"]["do"]
    data = [d for d in inputs["deps"] if not d.startswith("pipeline")]
    assert data == [f"models/${{key}}/{name}" for name in MODEL_FILES]
    assert code_deps(inputs) == imported("pipeline.report.inputs")
    report = STAGES["report"]
    assert code_deps(report) == imported("pipeline.stages.report")
    assert "reports/inputs" in report["deps"]
    assert not [d for d in report["deps"] if d.rstrip("/") in ("models", "mlruns")]
    assert report["outs"] == [
        {"reports/index.html": {"cache": False}},
        "reports/plots",  # the curves of the top-level plots: cached, for `dvc plots diff`
    ]
    dvc_yaml = Path(__file__).resolve().parents[1] / "dvc.yaml"
    plotted = [next(iter(p)) for p in yaml.safe_load(dvc_yaml.read_text())["plots"]]
    assert plotted == ["reports/plots/losses", "reports/plots/fid"]


@pytest.mark.slow
def test_dvc_repro_runs_the_report_last_and_leaves_it_up_to_date(tmp_path):
    """Through DVC, on a copy of the repository whose upstream outputs are fakes recorded
    with `dvc commit` (nothing trains): the report runs after every evaluate@, no tune@
    stage runs, `dvc status` is clean afterwards, and one model's new scores re-run its
    report-inputs@ and the report only."""
    from tests.helpers import dvc_env, init_git_dvc, pipeline_copy, run_ok, tiny_params_dict

    repo = pipeline_copy(tmp_path, tiny_params_dict(), images_per_class=1)
    params = fake_repo(repo)
    for name in params["train"]["models"]:
        for output in ("generator.keras", "discriminator.keras", "loss_curves.png"):
            (repo / "models" / name / output).write_bytes(b"fake")
    for output in (
        "data/raw/dataset.npz",
        "data/edges/pairs.npz",
        "data/lowres/pairs.npz",
        "models/evaluator/model.keras",
        "models/reference/stats.npz",
    ):
        (repo / output).parent.mkdir(parents=True, exist_ok=True)
        (repo / output).write_bytes(b"fake")
    env = dvc_env()
    init_git_dvc(repo, env)
    upstream = ("fetch", "edges", "lowres", "evaluator", "reference", "train", "evaluate")
    run_ok(repo, "dvc", "commit", "-f", *upstream, env=env)

    log = run_ok(repo, "dvc", "repro", env=env)
    ran = re.findall(r"Running stage '([^']+)'", log)
    assert sorted(ran[:-1]) == sorted(f"report-inputs@{m}" for m in params["train"]["models"])
    assert ran[-1] == "report"
    assert "tune@" not in log
    assert (repo / "reports/index.html").stat().st_size > 0
    assert json.loads(run_ok(repo, "dvc", "status", "--json", "dvc.yaml", env=env)) == {}

    (repo / "models/dcgan/metrics.json").write_text(json.dumps({"fid": 1.0}))
    run_ok(repo, "dvc", "commit", "-f", "evaluate@dcgan", env=env)
    log = run_ok(repo, "dvc", "repro", env=env)
    assert re.findall(r"Running stage '([^']+)'", log) == ["report-inputs@dcgan", "report"]


# --- the curves `dvc plots show` draws ------------------------------------------------------


def test_the_report_writes_every_models_curves_in_long_format_for_dvc_plots(repo):
    import csv

    Path("reports/plots/losses").mkdir(parents=True)
    Path("reports/plots/losses/removed_model.csv").write_text("step,series,value,model\n")
    build()
    for name in ALL:
        with open(f"reports/plots/losses/{name}.csv", newline="") as handle:
            rows = list(csv.DictReader(handle))
        # history.csv of the fakes: 94 steps x (d_loss, g_loss, alpha); step/epoch/phase
        # place points and are not series
        assert len(rows) == 94 * 3, name
        assert {r["series"] for r in rows} == {"d_loss", "g_loss", "alpha"}
        assert {r["model"] for r in rows} == {name}
        first = {r["series"]: r["value"] for r in rows if r["step"] == "10"}
        assert first == {"d_loss": "1.0000", "g_loss": "1.0100", "alpha": "0.0"}
        with open(f"reports/plots/fid/{name}.csv", newline="") as handle:
            fid = [(r["step"], r["series"], r["value"]) for r in csv.DictReader(handle)]
        assert fid == [("470", "fid2k", "80.5"), ("940", "fid2k", "55.2")]
    # a model no longer in train.models leaves no stale curve behind
    assert not Path("reports/plots/losses/removed_model.csv").exists()


def test_long_rows_skip_empty_cells_and_rows_without_a_step():
    from pipeline.report.dvc_plots import long_rows

    rows = [
        {"step": "10", "epoch": "1", "d_loss": "0.5", "fid2k": ""},
        {"step": "", "epoch": "1", "d_loss": "0.7"},
        {"step": "20", "epoch": "1", "d_loss": "0.4", "fid2k": "33.0"},
    ]
    assert long_rows(rows, "m") == [
        {"step": "10", "series": "d_loss", "value": "0.5", "model": "m"},
        {"step": "20", "series": "d_loss", "value": "0.4", "model": "m"},
        {"step": "20", "series": "fid2k", "value": "33.0", "model": "m"},
    ]
