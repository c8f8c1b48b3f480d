"""The web application's JSON API (``hyperimage.serve``), through FastAPI's test client."""

import base64
import io
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

pytest.importorskip("fastapi", reason="hyperimage[serve] is not installed")
from fastapi.testclient import TestClient  # noqa: E402

from hyperimage import api, serve  # noqa: E402
from hyperimage.cli import app as cli  # noqa: E402
from hyperimage.data.io import save_image  # noqa: E402
from hyperimage.data.photos import builtin_photos  # noqa: E402


@pytest.fixture(scope="module")
def models():
    return {"iqa": api.default_model("iqa"), "forgery": api.default_model("forgery")}


@pytest.fixture(scope="module")
def client(models):
    return TestClient(serve.create_app(models, max_bytes=2**20))


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    """scikit-image's ``coffee``, 192 x 256: small, so that both models score it quickly."""
    path = tmp_path_factory.mktemp("photo") / "coffee.png"
    save_image(path, dict(builtin_photos(size=(192, 256)))["coffee"])
    return path


def _post(client, files, **data):
    return client.post("/api/score", files=[("files", f) for f in files], data=data)


def _png_bytes(shape, seed=0):
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 255, shape, dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def test_page_and_model_descriptions(client):
    page = client.get("/")
    assert page.status_code == 200 and 'id="files"' in page.text and "api/score" in page.text
    info = client.get("/api/models").json()
    assert info["max_bytes"] == 2**20 and set(info["models"]) == {"iqa", "forgery"}
    iqa, forgery = info["models"]["iqa"], info["models"]["forgery"]
    shipped = api.default_model()
    assert (iqa["name"], iqa["direction"], iqa["high"]) == ("image quality", "higher is better", shipped.score_range[1])
    assert iqa["legend"]["top"] == "more damage" and "image quality" in iqa["legend"]["label"]
    assert forgery["legend"]["top"] == "more likely tampered" and (forgery["low"], forgery["high"]) == (0.0, 1.0)


@pytest.mark.parametrize("task", ["iqa", "forgery"])
def test_score_matches_the_api_and_draws_the_heat_map(client, models, photo, task):
    res = _post(client, [(photo.name, photo.read_bytes(), "image/png")], task=task)
    assert res.status_code == 200, res.text
    body = res.json()
    (result,) = body["results"]
    expected = next(api.score(models[task], [photo])).score
    assert result["file"] == "coffee.png" and result["error"] is None
    assert result["score"] == pytest.approx(expected, abs=1e-4)
    assert body["model"]["description"] == api.describe(models[task])
    prefix = "data:image/png;base64,"
    assert result["heat_map"].startswith(prefix)
    heat = Image.open(io.BytesIO(base64.b64decode(result["heat_map"][len(prefix):])))
    assert heat.format == "PNG" and heat.width > 400


def test_several_files_one_broken_each_gets_its_own_row(client, models, photo):
    files = [("a.png", photo.read_bytes(), "image/png"), ("broken.jpg", b"not an image at all", "image/jpeg")]
    res = _post(client, files, task="iqa", heat_map="false")
    assert res.status_code == 200
    good, bad = res.json()["results"]
    assert good["score"] == pytest.approx(next(api.score(models["iqa"], [photo])).score, abs=1e-4)
    assert "heat_map" not in good
    assert bad == {"file": "broken.jpg", "score": None, "error": "broken.jpg: not an image Pillow can read"}


def _truncated():
    data = _png_bytes((64, 64))
    return data[: len(data) // 2]


@pytest.mark.parametrize(
    "name,data,status,message",
    [
        ("x.png", b"GIF89a nonsense", 400, "x.png: not an image Pillow can read"),
        ("empty.png", b"", 400, "empty.png: empty file"),
        ("cut.png", _truncated(), 400, "cut.png: unreadable or truncated image"),
        ("tiny.png", _png_bytes((16, 16)), 400, "tiny.png: 16x16 image is smaller than one 32x32 patch"),
        ("big.png", b"\0" * (2**20 + 1), 413, "big.png: file exceeds the 1 MB upload limit"),
        ("../../etc/passwd", b"root:x:0:0", 400, "passwd: not an image"),
    ],
)
def test_bad_uploads_get_a_4xx_and_a_message_and_the_server_keeps_running(client, photo, name, data, status, message):
    res = _post(client, [(name, data, "image/png")], task="iqa", heat_map="false")
    assert res.status_code == status
    assert res.json()["detail"].startswith(message) and "/tmp" not in res.json()["detail"]
    assert _post(client, [(photo.name, photo.read_bytes(), "image/png")], heat_map="false").status_code == 200


def test_decompression_bomb_is_refused_from_the_header(models):
    small = TestClient(serve.create_app(models, max_pixels=64 * 64 - 1))
    res = _post(small, [("bomb.png", _png_bytes((64, 64)), "image/png")], heat_map="false")
    assert res.status_code == 400
    assert res.json()["detail"].startswith(
        "bomb.png: refused as a possible decompression bomb (Image size (4096 pixels) exceeds limit of 4095 pixels"
    )


def test_bad_form_fields_and_oversized_requests(models, photo):
    small = TestClient(serve.create_app({"iqa": models["iqa"]}, max_bytes=1000, max_files=1))
    res = _post(small, [("huge.png", b"\0" * 200_000, "image/png")])
    assert res.status_code == 413 and "results" not in res.json()  # refused from Content-Length, unparsed
    tiny = _png_bytes((40, 40))[:900]
    assert _post(small, [("a.png", tiny, "image/png")], task="forgery").json()["detail"].startswith("unknown task 'forgery'")
    assert _post(small, [("a.png", tiny, "image/png")], readout="magic").status_code == 400
    with pytest.raises(ValueError, match="at least one model"):
        serve.create_app({})


def test_uploads_are_scored_from_memory_never_written_to_disk(client, models, photo, monkeypatch):
    """Uploads used to be copied into a temporary folder; now they are scored from their bytes."""
    import tempfile

    def refuse(*args, **kwargs):
        raise AssertionError("a temporary file or folder was made")

    for name in ("mkdtemp", "mkstemp", "TemporaryFile", "NamedTemporaryFile", "TemporaryDirectory"):
        monkeypatch.setattr(tempfile, name, refuse)
    files = [(photo.name, photo.read_bytes(), "image/png"), ("bad.png", b"nope", "image/png")]
    res = _post(client, files, task="iqa")
    assert res.status_code == 200, res.text
    good, bad = res.json()["results"]
    assert good["score"] == pytest.approx(next(api.score(models["iqa"], [photo])).score, abs=1e-4)
    assert good["heat_map"].startswith("data:image/png;base64,") and bad["error"] == "bad.png: not an image Pillow can read"
    assert "tempfile" not in vars(serve)


def test_a_predictor_serves_like_its_model(models, photo):
    import hyperimage

    served = TestClient(serve.create_app({"forgery": hyperimage.load(api.DEFAULT_MODELS / "forgery")}))
    res = _post(served, [(photo.name, photo.read_bytes(), "image/png")], task="forgery", heat_map="false")
    assert res.json()["results"][0]["score"] == pytest.approx(next(api.score(models["forgery"], [photo])).score, abs=1e-4)


def test_concurrent_requests_share_the_model_safely(client, models, photo):
    expected = next(api.score(models["iqa"], [photo])).score
    with ThreadPoolExecutor(3) as pool:
        answers = list(pool.map(lambda _: _post(client, [(photo.name, photo.read_bytes(), "image/png")], heat_map="false"), range(3)))
    assert [r.status_code for r in answers] == [200] * 3
    assert [r.json()["results"][0]["score"] for r in answers] == pytest.approx([expected] * 3, abs=1e-4)


@pytest.mark.parametrize(
    "args,message",
    [(["--model", "{tmp}"], "not a hyperimage model folder"), (["--max-mb", "0"], "--max-mb must be positive")],
)
def test_serve_command_refuses_bad_options_before_starting(tmp_path, args, message):
    res = CliRunner().invoke(cli, ["serve", *[a.format(tmp=tmp_path) for a in args]])
    assert res.exit_code == 2 and message in res.output


def test_serve_command_loads_the_models_once_and_warns_off_loopback(monkeypatch):
    import uvicorn

    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append((app, kw)))
    res = CliRunner().invoke(cli, ["serve", "--port", "8123", "--max-mb", "5"])
    assert res.exit_code == 0, res.output
    assert "warning" not in res.output and "http://127.0.0.1:8123/" in res.output
    app, kw = calls[0]
    assert kw == {"host": "127.0.0.1", "port": 8123, "log_level": "warning"}
    assert TestClient(app).get("/api/models").json()["max_bytes"] == 5 * 2**20
    res = CliRunner().invoke(cli, ["serve", "--host", "0.0.0.0"])
    assert res.exit_code == 0 and "warning: serving on 0.0.0.0" in res.output and calls[1][1]["host"] == "0.0.0.0"


def _image(data_url: str) -> Image.Image:
    prefix = "data:image/png;base64,"
    assert data_url.startswith(prefix)
    return Image.open(io.BytesIO(base64.b64decode(data_url[len(prefix):])))


def test_evidence_returns_each_channels_map_legend_and_figures(client, photo, tmp_path):
    from hyperimage.inference.evidence import CHANNELS

    jpeg = tmp_path / "coffee.jpg"
    Image.open(photo).save(jpeg, quality=90)
    files = [(photo.name, photo.read_bytes(), "image/png"), (jpeg.name, jpeg.read_bytes(), "image/jpeg")]
    res = _post(client, files, task="forgery", heat_map="false", evidence="true")
    assert res.status_code == 200, res.text
    png, jpg = res.json()["results"]
    assert "heat_map" not in png and png["score"] == pytest.approx(next(api.score(api.default_model("forgery"), [photo])).score, abs=1e-4)
    assert [c["name"] for c in png["channels"]] == api.evidence_channels()
    for c in png["channels"]:
        channel = CHANNELS.get(c["name"])
        assert c["legend"] == channel.legend and c["feature"] == channel.headline
        assert _image(c["map"]).format == "PNG" and set(c["figures"]["max"]) == set(channel.features)
    assert png["notes"] == ["coffee.png: not a JPEG; the JPEG channel gives zeros"]
    assert jpg["notes"] == [] and next(c for c in jpg["channels"] if c["name"] == "jpeg")["figures"]["max"]["not_jpeg"] == 0.0
    plain = _post(client, files[:1], task="forgery", heat_map="false").json()["results"][0]
    assert "channels" not in plain and "notes" not in plain


def test_a_forensic_model_is_served_with_its_map_and_channels(forensic_folder, tiny_forgery):
    import hyperimage

    forensic = hyperimage.load(forensic_folder)
    served = TestClient(serve.create_app({"forgery": forensic}))
    info = served.get("/api/models").json()["models"]["forgery"]
    assert (info["low"], info["high"], info["higher_is_better"]) == (0.0, 1.0, True) and info["legend"]["top"] == "more likely tampered"
    image = sorted((tiny_forgery / "images").glob("*.jpg"))[0]
    res = _post(served, [(image.name, image.read_bytes(), "image/jpeg")], task="forgery", evidence="true")
    assert res.status_code == 200, res.text
    (result,) = res.json()["results"]
    assert result["score"] == pytest.approx(forensic.score(image), abs=1e-6)
    assert _image(result["heat_map"]).width > 400 and len(result["channels"]) == len(api.evidence_channels())
    bad = _post(served, [("x.png", b"GIF89a nonsense", "image/png")], task="forgery", evidence="true")
    assert bad.status_code == 400 and bad.json()["detail"] == "x.png: not an image Pillow can read"


def test_the_shipped_forensic_model_is_a_task_of_its_own(photo):
    """The third shipped model is served beside the others, under its own task; the page offers it."""
    import hyperimage

    served = TestClient(serve.create_app({"iqa": api.default_model("iqa"), "forensic": hyperimage.load("forensic")}, max_bytes=2**20))
    assert set(served.get("/api/models").json()["models"]) == {"iqa", "forensic"}
    with open(photo, "rb") as f:
        body = _post(served, [("coffee.png", f.read(), "image/png")], task="forensic").json()
    [result] = body["results"]
    assert 0.0 <= result["score"] <= 1.0 and result["score"] == pytest.approx(hyperimage.load("forensic").score(photo), abs=1e-6)
    assert 'value="forensic"' in served.get("/").text


def test_the_page_offers_the_forensic_evidence_for_forgery(client):
    page = client.get("/").text
    assert 'id="show-evidence"' in page and 'id="evidence"' in page and "Show forensic evidence" in page and 'form.append("evidence"' in page
