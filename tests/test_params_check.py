"""All of params.yaml checked before TensorFlow loads: section, model and key typos with a
suggestion, YAML errors with line and column, and the native log lines hidden."""

import copy
import dataclasses
import os
import subprocess
import sys

import pytest
import yaml

from pipeline.config import check_params, load_params
from pipeline.errors import ConfigError
from pipeline.gans.families import builtin_names, get_family, param_names
from pipeline.native_logs import is_native_log
from tests.helpers import REPO


@pytest.fixture
def params(tiny_params):
    return copy.deepcopy(tiny_params)


def _error(params) -> str:
    with pytest.raises(ConfigError) as caught:
        check_params(params, param_names())
    return str(caught.value)


def test_the_repository_params_pass():
    check_params(load_params(REPO / "params.yaml"), param_names())


def test_a_misspelt_section_is_named_with_the_closest_one(params):
    params["trian"] = params.pop("train")
    assert _error(params) == (
        "params: unknown section `trian` (did you mean `train`?); sections: data, edges, lowres, "
        "train, evaluator, evaluate, tune, models"
    )


def test_a_misspelt_model_block_is_not_ignored(params):
    # What `dvc exp run -S +models.dgan.epochs=1` writes.
    params["models"]["dgan"] = {"epochs": 1}
    message = _error(params)
    assert message.startswith("models.dgan is not a model (did you mean `dcgan`?); models: ")
    assert "catgan, cgan, dcgan, gan, pix2pix, progan, sgan, srgan, stackgan, stylegan" in message


def test_a_misspelt_train_models_entry_is_named(params):
    params["train"]["models"]["dcgna"] = "data/raw/dataset.npz"
    assert _error(params).startswith("train.models.dcgna is not a model (did you mean `dcgan`?)")


def test_a_model_key_lists_its_own_keys_and_the_overrides(params):
    params["models"]["dcgan"]["nosuchkey"] = 1
    message = _error(params)
    assert message.startswith("models.dcgan.nosuchkey is not a known param; valid keys: ")
    assert "dcgan's own d_width, g_width, generator;" in message
    assert "the train.* overrides lr, beta1, k_steps" in message


def test_a_misspelt_model_key_is_matched_against_both_kinds(params):
    params["models"]["pix2pix"]["l1_wieght"] = 50
    assert "(did you mean `l1_weight`?)" in _error(params)
    params["models"]["pix2pix"].pop("l1_wieght")
    params["models"]["dcgan"]["learning_rate"] = 0.1
    assert "models.dcgan.learning_rate is not a known param" in _error(params)


def test_an_override_of_the_wrong_type_names_the_models_key(params):
    params["models"]["dcgan"]["lr"] = "fast"
    assert _error(params) == "models.dcgan.lr must be a number, got 'fast'"


def test_a_misspelt_key_in_every_section_is_caught(params):
    for section in ("data", "edges", "train", "evaluator", "evaluate", "tune"):
        broken = copy.deepcopy(params)
        broken[section]["seeed"] = 1
        assert _error(broken).startswith(f"{section}.seeed is not a known param")


def test_a_section_that_is_not_a_mapping_is_named(params):
    params["models"]["dcgan"] = 5
    assert _error(params) == "models.dcgan must be a mapping of keys to values, got 5"
    params["models"] = ["dcgan"]
    assert _error(params) == "models must be a mapping of keys to values, got ['dcgan']"


def test_the_family_keys_read_from_the_files_are_the_families_params():
    """param_names reads each family's `Config` from its file without importing it; it
    must agree with the dataclass the family registers."""
    read = param_names()
    for name in builtin_names():
        fields = frozenset(f.name for f in dataclasses.fields(get_family(name).params))
        assert read[name] == fields, name


@pytest.mark.parametrize(
    ("text", "where", "problem"),
    [
        (
            "train:\n  lr: [0.1\n  beta1: 0.5\n",
            "params.yaml:3:8:",
            "expected ',' or ']', but got ':' (while parsing a flow sequence that starts at 2:7)",
        ),
        ("train:\n  lr: 0.1\n beta1: 0.5\n", "params.yaml:3:2:", "expected <block end>"),
        ("train:\n\tlr: 0.1\n", "params.yaml:2:1:", "found character '\\t'"),
    ],
)
def test_a_yaml_error_says_file_line_and_column(tmp_path, text, where, problem):
    path = tmp_path / "params.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_params(path)
    message = str(caught.value)
    assert message.startswith(f"{path.parent}/{where} not valid YAML: "), message
    assert problem in message
    assert "\n" not in message


def test_a_params_error_is_one_line_before_tensorflow_loads(tmp_path, params):
    """The CLI checks params.yaml before importing any stage: one line, exit 2, and
    TensorFlow never imported."""
    params["models"]["dgan"] = {"epochs": 1}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    code = (
        "import sys; from pipeline.cli import main; code = main(['train', '--model', 'dcgan']); "
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules; sys.exit(code)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines() == [
        "error: models.dgan is not a model (did you mean `dcgan`?); models: catgan, cgan, "
        "dcgan, gan, pix2pix, progan, sgan, srgan, stackgan, stylegan"
    ]


@pytest.mark.parametrize(
    "line",
    [
        b"I0000 00:00:1796140473.546430   13371 port.cc:153] oneDNN custom operations are on.\n",
        b"E0000 00:00:1796140322.263120   10858 cuda_platform.cc:52] failed call to cuInit\n",
        b"W0000 00:00:1796140326.907228   10858 meta_optimizer.cc:967] remapper failed: x\n",
        b"2025-09-17 14:44:05.157831: I external/local_xla/xla/tsl/cuda/cudart_stub.cc:32] x\n",
        b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n",
    ],
)
def test_native_log_lines_are_recognised(line):
    assert is_native_log(line)


@pytest.mark.parametrize(
    "line",
    [
        b"error: models/dcgan/generator.keras not found\n",
        b"train@dcgan:  40%|####      | 2/5 [00:01<00:02]\n",
        b"Traceback (most recent call last):\n",
        b"I0 is not a log line\n",
    ],
)
def test_other_lines_pass(line):
    assert not is_native_log(line)


def test_python_m_pipeline_hides_tensorflows_start_up_lines(tiny_repo):
    """`python -m pipeline` after TensorFlow loaded: the error is the only line on stderr
    (TensorFlow's native start-up lines are dropped); --debug shows them again."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    command = [sys.executable, "-m", "pipeline", "sample", "--model", "dcgan", "--out", "x.png"]
    done = subprocess.run(
        command, cwd=tiny_repo, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 3, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: models/dcgan/generator.keras not found; ")
    debug = subprocess.run(
        [*command[:3], "--debug", *command[3:]],
        cwd=tiny_repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert debug.returncode != 0
    assert "Traceback" in debug.stderr
