"""dvc.yaml's code dependencies are exact: each stage lists every module its command can
import (so a code change re-runs it) and nothing it does not import (so editing tuning,
registry or another family's code re-runs nothing)."""

from pathlib import Path

import pytest
import yaml

from tests.imports import REPO, closure, files_of

STAGES = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
FAMILIES = sorted(
    p.stem for p in (REPO / "pipeline/gans/families").glob("*.py") if p.stem != "__init__"
)
# Imported but deliberately not a dependency (dvc.yaml's header says why).
NOT_DEPENDENCIES = {"pipeline.tracking.registry"}
# Imported by name at run time, which the reading cannot see: a metric registry lookup
# imports every metric module (pipeline.scoring.metrics), as get_family imports a family.
METRICS = sorted(
    f"pipeline.scoring.metrics.{p.stem}"
    for p in (REPO / "pipeline/scoring/metrics").glob("*.py")
    if p.stem != "__init__"
)
LOOKS_UP_METRICS = "pipeline.scoring.score"


def code_deps(stage: dict, key: str | None = None) -> set[str]:
    """The stage's deps under pipeline/, folders expanded to their .py files."""
    files = set()
    for dep in stage["deps"]:
        dep = dep.replace("${key}", key) if key else dep
        if not dep.startswith("pipeline"):
            continue
        path = REPO / dep
        if path.is_file() and path.suffix != ".py":
            continue  # a data file the code reads (stackgan's captions.yaml), not a module
        found = sorted(path.rglob("*.py")) if path.is_dir() else [path]
        assert found and all(f.is_file() for f in found), f"{dep} does not exist"
        files |= {str(f.relative_to(REPO)) for f in found}
    return files


def imported(entry: str, key: str | None = None) -> set[str]:
    starts = [entry] + ([f"pipeline.gans.families.{key}"] if key else [])
    modules: set[str] = set()
    for start in starts:
        modules |= closure(start, stop=NOT_DEPENDENCIES)
    if LOOKS_UP_METRICS in modules:
        for metric in METRICS:
            modules |= closure(metric, stop=NOT_DEPENDENCIES)
    return files_of(modules - NOT_DEPENDENCIES)


CASES = [
    (name, f"pipeline.stages.{name}", None)
    for name in ("fetch", "edges", "lowres", "evaluator", "reference")
]
CASES += [
    (name, f"pipeline.stages.{name}", key) for name in ("train", "evaluate") for key in FAMILIES
]


@pytest.mark.parametrize(("stage", "entry", "key"), CASES)
def test_a_stage_depends_on_every_module_it_imports(stage, entry, key):
    spec = STAGES[stage]["do"] if key else STAGES[stage]
    missing = sorted(imported(entry, key) - code_deps(spec, key))
    assert not missing, (
        f"{stage}{'@' + key if key else ''} imports but does not depend on {missing}"
    )


@pytest.mark.parametrize(
    "stage", ["fetch", "edges", "lowres", "evaluator", "reference", "train", "evaluate"]
)
def test_a_stage_depends_on_nothing_it_never_imports(stage):
    keyed = "foreach" in STAGES[stage]
    spec = STAGES[stage]["do"] if keyed else STAGES[stage]
    entry = f"pipeline.stages.{stage}"
    for key in FAMILIES if keyed else [None]:
        used = (
            imported(entry, key)
            if not keyed
            else set().union(*(imported(entry, k) for k in FAMILIES))
        )
        extra = sorted(code_deps(spec, key) - used)
        assert not extra, f"{stage} depends on {extra}, which its command never imports"


def test_a_family_file_is_a_dependency_of_its_own_stages_only():
    train = STAGES["train"]["do"]
    assert "pipeline/gans/families/dcgan.py" in code_deps(train, "dcgan")
    assert "pipeline/gans/families/dcgan.py" not in code_deps(train, "gan")
    assert not any(p.startswith("pipeline/tuning") for p in code_deps(train, "gan"))


def test_the_import_reading_sees_a_dynamic_family_import_only_through_the_key():
    # get_family imports pipeline.gans.families.<name> by name: invisible to the reading,
    # which is why the cases above start from the family's file too.
    assert "pipeline/gans/families/dcgan.py" not in imported("pipeline.stages.train")
    assert Path(REPO / "pipeline/gans/families/dcgan.py").is_file()
