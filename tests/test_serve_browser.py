"""The page of ``hyperimage serve`` driven in a real headless Chromium (Selenium + chromedriver).

The server runs in a background thread on a free loopback port; the browser uploads photos
through the page's file input, as a person choosing files does. Set
``HYPERIMAGE_SCREENSHOT=docs/serve.png`` to also save the page's screenshot there (that is how
the README's screenshot is made); otherwise it stays in the test's temporary folder.
"""

import os
import shutil
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

CHROMIUM, CHROMEDRIVER = shutil.which("chromium") or "/usr/bin/chromium", shutil.which("chromedriver") or "/usr/bin/chromedriver"
if not (Path(CHROMIUM).is_file() and Path(CHROMEDRIVER).is_file()):
    pytest.skip("no Chromium here: apt-get install chromium chromium-driver (.ci/run does)", allow_module_level=True)
pytest.importorskip("fastapi", reason="hyperimage[serve] is not installed")
webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -e '.[test]')")
uvicorn = pytest.importorskip("uvicorn")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

from hyperimage import api  # noqa: E402
from hyperimage.data.io import save_image  # noqa: E402
from hyperimage.data.photos import builtin_photos  # noqa: E402
from hyperimage.serve import create_app  # noqa: E402

WAIT = 30


@pytest.fixture(scope="module")
def server():
    """The app with the shipped models, served by uvicorn on 127.0.0.1 at a free port; yields its URL."""
    app = create_app({"iqa": api.default_model("iqa"), "forgery": api.default_model("forgery")})
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    srv = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + WAIT
    while not srv.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}/"
    srv.should_exit = True
    thread.join(WAIT)
    sock.close()


@pytest.fixture(scope="module")
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1400,900"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """Two of scikit-image's photos, 384 x 512, the size the quality model was trained on."""
    folder = tmp_path_factory.mktemp("photos")
    shot = dict(builtin_photos(size=(384, 512)))
    paths = []
    for name in ("coffee", "rocket"):
        save_image(folder / f"{name}.png", shot[name])
        paths.append(folder / f"{name}.png")
    return paths


def _rows(browser):
    return browser.find_elements(By.CSS_SELECTOR, "#results tbody tr.result")


def _scored(browser, n):
    """Wait until ``n`` rows are no longer pending and return them by name."""
    wait = WebDriverWait(browser, WAIT)
    wait.until(lambda b: len(_rows(b)) == n and "scoring" not in b.find_element(By.ID, "results").text)
    return {row.get_attribute("data-name"): row for row in _rows(browser)}


def test_page_scores_photos_like_the_api_with_heat_maps_and_sorts(server, browser, photos, tmp_path):
    browser.get(server)
    WebDriverWait(browser, WAIT).until(lambda b: "higher is better" in b.find_element(By.ID, "about").text)
    browser.find_element(By.ID, "files").send_keys("\n".join(str(p) for p in photos))
    rows = _scored(browser, 2)
    model = api.default_model("iqa")
    expected = {p.name: s.score for p, s in zip(photos, api.score(model, photos))}
    span = "{:.4g} to {:.4g}".format(*model.score_range)  # the page's 4 significant digits
    for name, row in rows.items():
        shown = float(row.find_element(By.CSS_SELECTOR, "td.score").get_attribute("data-score"))
        assert shown == pytest.approx(expected[name], abs=1e-4)
        assert "higher is better" in row.text and span in row.text, (span, row.text)
    heat = browser.find_element(By.ID, "detail-heat")
    WebDriverWait(browser, WAIT).until(lambda b: b.execute_script("return arguments[0].complete && arguments[0].naturalWidth", heat) > 400)
    assert heat.get_attribute("src").startswith("data:image/png;base64,")
    legend = browser.find_element(By.ID, "legend").text
    assert "Top of the bar: more damage" in legend and "for every photo this model scores" in legend

    browser.find_element(By.CSS_SELECTOR, "th[data-key=score]").click()
    order = [r.get_attribute("data-name") for r in _rows(browser)]
    assert order == sorted(expected, key=expected.get)
    browser.find_element(By.CSS_SELECTOR, "th[data-key=score]").click()
    assert [r.get_attribute("data-name") for r in _rows(browser)] == order[::-1]

    shot = tmp_path / "serve.png"
    browser.save_screenshot(str(shot))
    assert Image.open(shot).size[0] >= 1000
    if os.environ.get("HYPERIMAGE_SCREENSHOT"):
        out = Path(os.environ["HYPERIMAGE_SCREENSHOT"])
        Image.open(shot).convert("RGB").quantize(256).save(out, optimize=True)


def test_page_shows_why_a_broken_file_has_no_score(server, browser, tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 this JPEG stops here")
    browser.get(server)
    WebDriverWait(browser, WAIT).until(lambda b: "higher is better" in b.find_element(By.ID, "about").text)
    browser.find_element(By.ID, "files").send_keys(str(broken))
    (row,) = _scored(browser, 1).values()
    message = browser.find_element(By.ID, "message").text
    assert message.startswith("broken.jpg: ") and ("truncated" in message or "not an image" in message)
    assert message in row.text and "error" in row.get_attribute("class")
    # the server is still up: the same page scores a good photo after the bad one
    good = tmp_path / "gray.png"
    save_image(good, np.random.default_rng(0).random((64, 64)))
    browser.find_element(By.ID, "files").send_keys(str(good))
    rows = _scored(browser, 2)
    assert float(rows["gray.png"].find_element(By.CSS_SELECTOR, "td.score").get_attribute("data-score")) > 0


def test_page_shows_each_evidence_channels_map_with_its_legend(server, browser, photos):
    browser.get(server)
    WebDriverWait(browser, WAIT).until(lambda b: "higher is better" in b.find_element(By.ID, "about").text)
    assert not browser.find_element(By.ID, "evidence-option").is_displayed()  # quality: no forensic evidence
    browser.find_element(By.ID, "task-forgery").click()
    browser.find_element(By.ID, "show-evidence").click()
    browser.find_element(By.ID, "files").send_keys(str(photos[0]))
    _scored(browser, 1)
    WebDriverWait(browser, WAIT).until(lambda b: b.find_element(By.ID, "evidence").is_displayed())
    figures = browser.find_elements(By.CSS_SELECTOR, "#evidence figure.channel")
    assert [f.get_attribute("data-channel") for f in figures] == api.evidence_channels()
    assert "regions that reappear elsewhere in the image" in figures[0].text and "largest cell" in figures[0].text
    assert all(f.find_element(By.TAG_NAME, "img").get_attribute("src").startswith("data:image/png;base64,") for f in figures)
    assert "not a JPEG" in browser.find_element(By.ID, "evidence-notes").text
