"""`report`: reports/index.html, one self-contained page of every GAN in train.models, the
data and the tuning (pipeline.report), and reports/plots/, the curves `dvc plots show`
draws (pipeline.report.dvc_plots); `--screenshot FILE.png` also renders the page in headless
Chromium. (`report --inputs NAME`, dvc.yaml's report-inputs@NAME, is
pipeline.report.inputs.inputs_command.)"""

from __future__ import annotations

import sys
from pathlib import Path

from pipeline.config import load_params
from pipeline.errors import StorageError
from pipeline.saved import atomic_file, check_output_file

REPORT_FILE = Path("reports/index.html")
SIZE_BUDGET = 5 * 1024 * 1024  # bytes: the default report of the seven GANs stays under it


def report_command(
    params_path: Path, out: Path = REPORT_FILE, screenshot: Path | None = None
) -> tuple[Path, int]:
    """Write the report to `out` atomically (and a screenshot of it); returns the path and
    its size in bytes. Warnings (an MLflow store that is missing) go to stderr, one line
    each; the page is written regardless."""
    from pipeline.report.collect import collect
    from pipeline.report.dvc_plots import write_plot_data
    from pipeline.report.page import render

    out = check_output_file(out, "--out", "index.html")
    if screenshot is not None:
        screenshot = check_output_file(screenshot, "--screenshot", "report.png")
    report = collect(load_params(params_path))
    for line in report.warnings:
        print(f"warning: {line}", file=sys.stderr)
    html = render(report).encode("utf-8")
    try:
        with atomic_file(out) as tmp:
            tmp.write_bytes(html)
        # beside the page (reports/plots by default): what `dvc plots show` draws
        write_plot_data((entry.name for entry in report.models), out.parent / "plots")
    except OSError as error:
        raise StorageError(
            f"cannot write {out} ({error.strerror or error}); free space there (or make it "
            "writable) and run again"
        ) from error
    if len(html) > SIZE_BUDGET:
        print(
            f"warning: {out} is {len(html) / 1e6:.1f} MB, over the {SIZE_BUDGET / 1e6:.0f} MB "
            "budget (docs/report.md): its pictures are the bulk",
            file=sys.stderr,
        )
    if screenshot is not None:
        from pipeline.browser import screenshot as take

        take(out.resolve().as_uri(), screenshot)
    return out, len(html)
