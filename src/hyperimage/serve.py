"""``hyperimage serve``: a local web page and JSON API that score photos and draw their heat maps.

Built on FastAPI (a maintained, typed layer over the standard ASGI interface; it validates
the form fields and documents the API at ``/docs`` for free) served by uvicorn; uploads are
parsed by python-multipart. Only the public inference API is used: each model is a
:class:`~hyperimage.inference.predictor.Predictor` (``hyperimage.load``), which scores an
upload from memory (:meth:`~.Predictor.score`) or scores it and draws its heat map
(:meth:`~.Predictor.explain`), reading it exactly as ``hyperimage score`` reads a file.

Every upload is validated like any other input before a model sees it: a request whose
``Content-Length`` exceeds what ``max_files`` files of ``max_bytes`` could need is refused
before it is parsed (413); each file is read in chunks into memory and refused once over
``max_bytes`` (413); its header is checked against ``max_pixels``
(:func:`hyperimage.data.io.image_size`: non-images and decompression bombs, 400) and the
model's reader refuses truncated files and images smaller than one patch (400). Messages
are :class:`~hyperimage.data.io.ImageError`'s one line, naming the uploaded file. Nothing is
written to disk by this module: the bytes live in the request and are dropped with it (the
multipart parser, Starlette's, itself keeps a part above 1 MB in a spooled temporary file
while the request is parsed). The server keeps running whatever an upload holds. Models are
loaded once, by the caller; scoring is CPU-bound, so the endpoint is a plain ``def`` that
FastAPI runs in its thread pool, and each model is used under its own lock.

With ``evidence`` the forensic evidence channels (:mod:`hyperimage.inference.evidence`) read
the upload too, at its own size and as stored (a JPEG's coefficients from its bytes in
memory): each channel's map comes back as a PNG with its legend and its image-level figures,
beside the model's own heat map. A forensic model (``hyperimage train-evidence``, served with
``--forgery-model``) is served like any other; its heat map is its cells' probability of
being tampered.
"""

from __future__ import annotations

import base64
import io
import threading
from dataclasses import asdict, replace
from importlib import resources
from pathlib import Path
from typing import Mapping

from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse

from hyperimage.data.io import ImageError, image_size
from hyperimage.inference.evidence import ALL
from hyperimage.inference.evidence.predictor import ChannelEvidence, ForensicPredictor, read_evidence
from hyperimage.inference.explain import READOUTS, heat_scale, render_panels
from hyperimage.inference.model import HyperImageModel
from hyperimage.inference.predictor import Predictor

#: What the server scores with: a loaded model or its predictor, a forensic one included.
Served = Predictor | ForensicPredictor | HyperImageModel

#: Largest upload accepted by default, in bytes.
MAX_BYTES = 20 * 1024 * 1024
#: Largest image accepted by default, in pixels (a 50-megapixel photo; decoding one takes
#: about 0.6 GB as float32 RGB).
MAX_PIXELS = 50_000_000
#: Most files in one request.
MAX_FILES = 50
_CHUNK = 1 << 20
#: Room in a request's body for the multipart headers and form fields besides the files.
_SLACK = 64 * 1024


class UploadError(Exception):
    """An uploaded file that cannot be scored: ``str(err)`` names it, ``status`` is its HTTP code."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def model_info(model: Served, readout: str = "patch") -> dict:
    """What a model's score and heat map mean, as JSON: range, direction, colour-bar legend."""
    predictor = model if isinstance(model, (Predictor, ForensicPredictor)) else Predictor(model)
    info = predictor.info
    scale = predictor.heat_scale if isinstance(predictor, ForensicPredictor) else heat_scale(predictor.model, readout)
    return {
        "name": info.score_name,
        "low": info.range[0],
        "high": info.range[1],
        "higher_is_better": info.higher_is_better,
        "direction": info.direction,
        "description": info.description,
        "legend": {**asdict(scale), "top": scale.worse, "bottom": scale.better},
    }


def png_url(picture) -> str:
    """A Pillow image as a PNG data URL, what the page shows in an ``<img>``."""
    png = io.BytesIO()
    picture.save(png, format="PNG")
    return "data:image/png;base64," + base64.b64encode(png.getvalue()).decode("ascii")


def channel_maps(evidence: ChannelEvidence) -> list[dict]:
    """Each channel's reading as JSON: its name, the feature its map draws, the legend in
    words, the map over the photo (a PNG data URL, its own colour bar) and its figures."""
    return [
        {
            "name": r.channel.name, "feature": r.channel.headline, "legend": r.channel.legend,
            "map": png_url(render_panels([panel])), "figures": r.figures(),
        }
        for r, panel in zip(evidence.readings, evidence.panels)
    ]


def read_upload(upload: UploadFile, max_bytes: int) -> bytes:
    """The uploaded file's bytes, read in chunks; refused (413) once they exceed ``max_bytes``."""
    shown = Path(upload.filename or "upload").name
    data = bytearray()
    while chunk := upload.file.read(_CHUNK):
        data += chunk
        if len(data) > max_bytes:
            raise UploadError(f"{shown}: file exceeds the {max_bytes / 2**20:g} MB upload limit", 413)
    return bytes(data)


def create_app(
    models: Mapping[str, Served],
    max_bytes: int = MAX_BYTES,
    max_pixels: int = MAX_PIXELS,
    max_files: int = MAX_FILES,
) -> FastAPI:
    """The web application scoring uploads with ``models`` (task name -> a loaded model or its
    predictor, e.g. ``{"iqa": hyperimage.load("iqa"), "forgery": hyperimage.load("forgery")}``;
    a forensic model's predictor too).

    ``GET /`` is the page, ``GET /api/models`` says what each model's score means, and
    ``POST /api/score`` (multipart: ``files``, ``task``, ``readout``, ``heat_map``,
    ``evidence``) scores.
    """
    if not models:
        raise ValueError("create_app needs at least one model")
    predictors = {task: m if isinstance(m, (Predictor, ForensicPredictor)) else Predictor(m) for task, m in models.items()}
    locks = {task: threading.Lock() for task in predictors}
    page = (resources.files("hyperimage") / "web" / "index.html").read_text(encoding="utf-8")
    app = FastAPI(title="hyperimage", summary="Score photos and see where the model looks.")

    @app.middleware("http")
    async def limit_body(request: Request, call_next):
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > max_files * max_bytes + _SLACK:
            return JSONResponse({"detail": f"request exceeds the {max_bytes / 2**20:g} MB upload limit"}, 413)
        return await call_next(request)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index() -> str:
        return page

    @app.get("/api/models")
    def list_models() -> dict:
        """Each task's model: what its score means and how to read its heat map."""
        return {"max_bytes": max_bytes, "max_files": max_files, "models": {t: model_info(m) for t, m in predictors.items()}}

    def score_one(task: str, upload: UploadFile, readout: str, heat: bool, evidence: bool) -> dict:
        shown = Path(upload.filename or "upload").name
        data = io.BytesIO(read_upload(upload, max_bytes))
        data.name = shown  # what the evidence channels' notes call it
        predictor = predictors[task]
        forensic = isinstance(predictor, ForensicPredictor)
        result: dict = {}
        try:
            image_size(data, max_pixels, name=shown)
            with locks[task]:
                if forensic and (heat or evidence):
                    explained = replace(predictor.explain(data, channels=ALL if evidence else None), name=shown)
                elif heat:
                    explained = replace(predictor.explain(data, readout=readout), name=shown)
                else:
                    explained = None
                value = explained.score if explained is not None else predictor.score(data)
                if heat:
                    result["heat_map"] = png_url(explained.overlay)
                if evidence:
                    read = explained.evidence if forensic else read_evidence(data, ALL)
                    result |= {"channels": channel_maps(read), "notes": list(read.notes)}
        except ImageError as err:
            raise UploadError(f"{shown}: {err.reason}") from None
        return {"file": shown, "score": value, "error": None, **result}

    @app.post("/api/score")
    def score(
        files: list[UploadFile] = File(..., description="One or more image files."),
        task: str = Form("iqa", description=f"Which model scores them: {', '.join(models)}."),
        readout: str = Form("patch", description=f"Heat-map read-out: {', '.join(READOUTS)}."),
        heat_map: bool = Form(True, description="Also draw each heat map (a PNG data URL)."),
        evidence: bool = Form(False, description="Also read every forensic evidence channel: its map (a PNG data URL), legend and figures."),
    ) -> JSONResponse:
        """Score uploaded images; per file, the score or why there is none, its heat map and,
        with ``evidence``, each evidence channel's map, legend and figures and the notes of
        what a channel could not read.

        200 if at least one file was scored (the others carry their ``error``); 400 (413 if
        every file was too large) when none was, with the messages in ``detail``.
        """
        if task not in predictors:
            return JSONResponse({"detail": f"unknown task {task!r}: this server scores {', '.join(predictors)}"}, 400)
        if readout not in READOUTS:
            return JSONResponse({"detail": f"unknown readout {readout!r}: use one of {', '.join(READOUTS)}"}, 400)
        if len(files) > max_files:
            return JSONResponse({"detail": f"{len(files)} files: at most {max_files} in one request"}, 413)
        body = {"task": task, "readout": readout, "model": model_info(predictors[task], readout), "results": []}
        statuses = []
        for upload in files:
            try:
                body["results"].append(score_one(task, upload, readout, heat_map, evidence))
            except UploadError as err:
                body["results"].append({"file": Path(upload.filename or "upload").name, "score": None, "error": str(err)})
                statuses.append(err.status)
        if len(statuses) == len(files):
            body["detail"] = "; ".join(r["error"] for r in body["results"])
            return JSONResponse(body, 413 if set(statuses) == {413} else 400)
        return JSONResponse(body)

    return app
