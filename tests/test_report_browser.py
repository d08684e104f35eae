"""The report as a browser shows it: headless Chromium renders reports/index.html of a fake
tree (tests/report_fakes.py) from disk, its screenshot is not blank, and after the page's
script ran every model's card and leaderboard row are in the DOM. Skipped without
Chromium."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline import browser
from pipeline.cli import main
from tests.report_fakes import fake_repo

pytestmark = pytest.mark.skipif(
    browser.find_chromium() is None,
    reason="chromium not installed: apt-get install chromium (make test installs it as root)",
)


@pytest.fixture
def page(tmp_path, monkeypatch) -> tuple[Path, dict]:
    monkeypatch.chdir(tmp_path)
    params = fake_repo(tmp_path)
    assert main(["--no-progress", "report"]) == 0
    return tmp_path / "reports" / "index.html", params


def test_the_report_renders_every_model_and_its_screenshot_is_not_blank(page, tmp_path):
    html, params = page
    url = html.as_uri()  # file://: the page needs no server and no network
    shot = browser.screenshot(url, tmp_path / "shot.png", width=1280, height=1600)
    pixels = np.asarray(Image.open(shot).convert("RGB"), dtype=np.float32)
    assert pixels.shape == (1600, 1280, 3)
    assert pixels.std() > 10  # text, tables and pictures: not one colour
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 50

    dom = browser.dump_dom(url)
    for name in params["train"]["models"]:
        assert f'id="model-{name}"' in dom, name
        assert f'id="row-{name}"' in dom, name
    assert dom.count("<svg") >= 2 * len(params["train"]["models"])


def test_clicking_a_column_sorts_the_leaderboard(page, tmp_path):
    html, _ = page
    # a copy whose script clicks the recall header twice (descending) when it loads
    clicked = tmp_path / "clicked.html"
    text = html.read_text(encoding="utf-8")
    click = (
        "<script>var th = Array.prototype.filter.call(document.querySelectorAll("
        '"#leaderboard th"), function (h) { return h.textContent.indexOf("recall") === 0; })[0];'
        "th.click(); th.click();</script></body>"
    )
    clicked.write_text(text.replace("</body>", click), encoding="utf-8")
    dom = browser.dump_dom(clicked.as_uri())
    body = dom[dom.index('id="leaderboard"') :]
    body = body[body.index("<tbody>") : body.index("</tbody>")]
    order = [part.split('"')[0] for part in body.split('id="row-')[1:]]
    assert order[:2] == ["gan", "dcgan"]  # recall 0.45, then 0.30 (report_fakes.SCORES)
    assert order[-1] == "progan"  # 0.0038
