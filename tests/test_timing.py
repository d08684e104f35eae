"""Where a run's time goes (pipeline.training.timing) and the precision `auto` picks."""

import keras
import pytest

from pipeline.gans.families import resolve_run
from pipeline.training import distribute
from pipeline.training.distribute import cpu_has_bf16, precision_policy, resolve_precision
from pipeline.training.loop import train
from pipeline.training.timing import PARTS, Timings


def test_parts_add_up_and_count():
    timings = Timings()
    for _ in range(3):
        with timings.part("checkpoint"):
            pass
    timings.add("step", 0.25)
    timings.add("step", 0.5)
    assert timings.counts["checkpoint"] == 3 and timings.counts["step"] == 2
    assert timings.seconds["step"] == pytest.approx(0.75)
    # only the parts that ran are reported
    assert set(timings.rounded()) == {"checkpoint", "step"}


def test_a_part_inside_another_or_an_unknown_one_is_an_error():
    timings = Timings()
    nested = pytest.raises(RuntimeError, match="'step' opened inside 'setup'")
    with nested, timings.part("setup"), timings.part("step"):
        pass
    with timings.part("step"):  # the failed nesting left nothing open
        pass
    with pytest.raises(ValueError, match="unknown timing part 'io'"), timings.part("io"):
        pass
    with pytest.raises(ValueError, match="unknown timing part"):
        timings.add("steps", 1.0)


class CountingProbe:
    key = "fid200"

    def __init__(self):
        self.calls = 0

    def __call__(self, generator, discriminator) -> float:
        self.calls += 1
        return 1.0


def test_the_loop_counts_every_kind_of_work_once_per_event(tiny_params, tiny_images, tmp_path):
    # 2 epochs of 3 steps, checkpoints every 2 steps and at each epoch's end, a probe and a
    # picture per epoch: the counts are known in advance
    tiny_params["train"].update(fid_every=1, checkpoint_every=2, log_every=1)
    run = resolve_run(tiny_params, "dcgan")
    timings = Timings()
    result = train(
        run,
        tiny_images,
        checkpoint_dir=tmp_path,
        progress=False,
        fid_probe=CountingProbe(),
        timings=timings,
    )
    assert result.timings is timings and result.steps == 6
    counts = timings.counts
    assert counts["trace"] == 1 and counts["step"] == 5  # the first step traces
    assert counts["checkpoint"] == 4  # steps 2, 3 (epoch end), 4, 6 (epoch end and 6 % 2)
    assert counts["fid_probe"] == 2 and counts["preview"] == 2
    assert counts["setup"] >= 1 and counts["input"] >= 6  # a wait per batch, a build per epoch
    assert set(timings.rounded()) <= set(PARTS) and timings.seconds["step"] > 0
    # the throughput is the timed steps' (tracing left out)
    assert result.seconds == pytest.approx(timings.seconds["step"])


CPUINFO = "processor\t: 0\nflags\t\t: fpu sse avx2 fma {extra}\nbogomips\t: 5000\n"


@pytest.mark.parametrize(
    ("extra", "native"),
    [("", False), ("avx512f avx512bw", False), ("avx512f avx512_bf16", True), ("amx_bf16", True)],
)
def test_native_bf16_is_read_from_the_cpu_flags(extra, native):
    assert cpu_has_bf16(CPUINFO.format(extra=extra)) is native


@pytest.mark.parametrize(("native", "policy"), [(True, "mixed_bfloat16"), (False, "float32")])
def test_auto_precision_follows_the_hardware(monkeypatch, native, policy):
    monkeypatch.setattr(distribute, "cpu_has_bf16", lambda: native)
    assert resolve_precision("auto")[0] == policy  # no GPU here
    assert resolve_precision("mixed_float16") == ("mixed_float16", "set in params")
    before = keras.mixed_precision.global_policy().name
    with precision_policy("auto"):
        assert keras.mixed_precision.global_policy().name == policy
    assert keras.mixed_precision.global_policy().name == before
