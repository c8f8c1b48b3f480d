"""Tampering made on the fly: an unlimited, seeded stream of forgeries with exact masks.

Real labelled forgeries are scarce (CASIA v1's thousand, CASIA v2 out of reach here), but a
forgery can be made from any pristine photo, so a forensic stage 1 can learn from as many as
it has time for. :class:`TamperStream` makes forgery ``i`` of seed ``s`` from ``(s, i)`` alone
(the same bytes on every call, any order, any worker), each one new:

1. a random photo of the pool, shrunk by a random factor (:attr:`StreamConfig.scale`: content
   at the density of a small photo or of a large one), a random crop of
   :attr:`~StreamConfig.size`, mirrored at random;
2. the camera's save: a JPEG at quality Q1 (most photos) on the crop's 8x8 grid, or none;
3. the edit (:func:`~hyperimage.data.generators.tampering.tamper_image`): *splicing* from a
   crop of another photo with its own camera history, *copy-move* within the crop (shifted,
   rotated, scaled, flipped) or *removal* by inpainting; the region *aligned* (no camera
   history of its own: it comes from the pristine crop) or *shifted* (cut from a camera JPEG
   and moved off the host's 8x8 grid); blended by a feathered, blurred or hard seam or by
   Poisson editing; then, inside the region, its colours matched to the host's surroundings
   (splicing) and noise added to match the host's noise level, as forgers do;
4. the final save: a JPEG at quality Q2 or a PNG.

The authentic counterpart (the crop after the same camera save and the same final save) comes
with every forgery: no file property tells the classes apart, and the two differ only where the
tampering reached (and in the JPEG blocks it touched), which is what the paper's stage 1 pairs
need (:mod:`hyperimage.data.forgery_patches`).

Every step that people do in more than one way has at least two implementations
(:data:`IMPLEMENTATIONS`): inpainting by scikit-image's biharmonic solve and by OpenCV's Telea
and Navier-Stokes; blending by alpha seams and by Poisson cloning; JPEG by Pillow and by OpenCV.
:meth:`StreamConfig.without` leaves some out, so a model can be checked on forgeries made by
an implementation its training never used.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import cv2
import numpy as np
from PIL import Image
from scipy import ndimage

from hyperimage.data.distortions import to_uint8
from hyperimage.data.generators.tampering import BLENDS, INPAINT_METHODS, KINDS, TamperConfig, tamper_image


def _pillow_jpeg(pixels: np.ndarray, quality: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=quality, subsampling="4:2:0", optimize=False)
    return buffer.getvalue()


def _opencv_jpeg(pixels: np.ndarray, quality: int) -> bytes:
    ok, data = cv2.imencode(".jpg", np.ascontiguousarray(pixels[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("OpenCV could not encode a JPEG")
    return data.tobytes()


#: JPEG encoders by name: ``(uint8 (H, W, 3) RGB, quality) -> JPEG bytes`` (both 4:2:0 chroma).
JPEG_ENCODERS = {"pillow": _pillow_jpeg, "opencv": _opencv_jpeg}

#: The implementations of each step, by step: what :meth:`StreamConfig.without` can leave out.
IMPLEMENTATIONS: dict[str, tuple[str, ...]] = {
    "inpaint": INPAINT_METHODS,
    "blend": BLENDS,
    "jpeg": tuple(JPEG_ENCODERS),
}


def jpeg_round_trip(pixels: np.ndarray, quality: int, encoder: str) -> np.ndarray:
    """``pixels`` (uint8 RGB) saved as a JPEG at ``quality`` by ``encoder`` and decoded again."""
    return _decoded(JPEG_ENCODERS[encoder](pixels, quality))


@dataclass(frozen=True)
class StreamConfig:
    """How the stream makes forgeries (see the module docstring).

    Attributes
    ----------
    size : side of every image (pixels).
    scale : range of the factor a photo is shrunk by before cropping (drawn log-uniformly).
    tamper : the regions, kinds, seams and geometry; its ``inpaint`` and ``blend`` are drawn
        per forgery from ``implementations``.
    implementations : the implementations drawn from, per step (:data:`IMPLEMENTATIONS`).
    camera : share of photos saved by the camera as a JPEG (the others carry no history).
    camera_quality, final_quality : ranges of Q1 and Q2, ends included.
    png : share of final saves that are PNG.
    shifted : share of spliced and copied regions cut from a camera JPEG and moved off the
        host's grid (the others are aligned).
    poisson : share of spliced and copied regions blended by Poisson editing, where
        ``"poisson"`` is among the blends (the others by alpha seams).
    colour_match : share of splicings whose region's colour mean and spread are moved toward
        the host's surroundings.
    noise_match : share of forgeries whose region gets noise to match the host's level.
    """

    size: int = 256
    scale: tuple[float, float] = (0.25, 1.0)
    tamper: TamperConfig = TamperConfig()
    implementations: dict[str, tuple[str, ...]] = field(default_factory=lambda: dict(IMPLEMENTATIONS))
    camera: float = 0.85
    camera_quality: tuple[int, int] = (65, 98)
    final_quality: tuple[int, int] = (65, 98)
    png: float = 0.15
    shifted: float = 0.5
    poisson: float = 0.3
    colour_match: float = 0.5
    noise_match: float = 0.3

    def __post_init__(self) -> None:
        for step, names in self.implementations.items():
            unknown = set(names) - set(IMPLEMENTATIONS.get(step, ()))
            if step not in IMPLEMENTATIONS or unknown or not names:
                raise ValueError(f"implementations: step {step!r} needs some of {IMPLEMENTATIONS.get(step)}, got {names}")
        if self.size < 32 or not 0 < self.scale[0] <= self.scale[1] <= 1:
            raise ValueError(f"need size >= 32 and 0 < scale[0] <= scale[1] <= 1, got {self.size}, {self.scale}")

    def without(self, *names: str) -> "StreamConfig":
        """This stream with the implementations ``names`` left out (e.g. ``"telea"``,
        ``"opencv"``); ValueError for an unknown name or a step left with none."""
        known = {n for ns in IMPLEMENTATIONS.values() for n in ns}
        if set(names) - known:
            raise ValueError(f"unknown implementations {sorted(set(names) - known)}; known: {sorted(known)}")
        kept = {step: tuple(n for n in ns if n not in names) for step, ns in self.implementations.items()}
        return replace(self, implementations=kept)


@dataclass(frozen=True)
class Forgery:
    """One forgery of the stream and its authentic counterpart, as decoded from their files.

    Attributes
    ----------
    tampered, authentic : (size, size, 3) uint8 RGB, the same crop through the same saves.
    mask : (size, size) bool, where the tampering reached.
    info : how it was made (photo, scale, kind, implementations, qualities, grid, post-processing).
    files : the two files' bytes (tampered, authentic) as saved, JPEG or PNG (``info["final"]``),
        for readers of the file itself (the ``jpeg`` evidence channel reads its coefficients).
    """

    tampered: np.ndarray
    authentic: np.ndarray
    mask: np.ndarray
    info: dict[str, str]
    files: tuple[bytes, bytes]


class TamperStream:
    """Forgeries of ``photos`` (uint8 or [0, 1] float RGB arrays, each at least ``config.size``
    on a side once shrunk by the smallest scale; ``names`` for ``info``) made on the fly:
    ``stream[i]``, or :meth:`draw` for a batch. Forgery ``i`` depends on ``(seed, i)`` alone."""

    def __init__(
        self,
        photos: Sequence[np.ndarray],
        config: StreamConfig = StreamConfig(),
        seed: int = 0,
        names: Sequence[str] | None = None,
    ):
        if len(photos) < 2:
            raise ValueError("the stream needs at least 2 photos (a splice comes from another photo)")
        self.photos = [_as_uint8(p) for p in photos]
        small = [i for i, p in enumerate(self.photos) if min(p.shape[:2]) * config.scale[1] < config.size]
        if small:
            raise ValueError(f"photos {small} are smaller than the {config.size}-px crops")
        self.config, self.seed = config, seed
        self.names = list(names) if names is not None else [str(i) for i in range(len(photos))]

    def __getitem__(self, index: int) -> Forgery:
        rng = np.random.default_rng([self.seed, index])
        cfg = self.config
        host_id = int(rng.integers(len(self.photos)))
        crop, info = self._crop(host_id, rng)
        kind = KINDS[int(rng.choice(len(KINDS), p=np.asarray(cfg.tamper.kind_weights) / sum(cfg.tamper.kind_weights)))]
        camera_jpeg = rng.random() < cfg.camera
        q1 = int(rng.integers(cfg.camera_quality[0], cfg.camera_quality[1] + 1))
        encoder = _pick(rng, cfg.implementations["jpeg"])
        camera = jpeg_round_trip(crop, q1, encoder) if camera_jpeg else crop
        info.update(kind=kind, camera=f"jpeg:{q1}:{encoder}" if camera_jpeg else "none")
        tamper = replace(
            cfg.tamper,
            inpaint=_pick(rng, cfg.implementations["inpaint"]),
            blend="poisson" if "poisson" in cfg.implementations["blend"] and (
                "alpha" not in cfg.implementations["blend"] or rng.random() < cfg.poisson) else "alpha",
        )
        donor = donor_camera = None
        if kind == "splicing":
            donor_id = int((host_id + rng.integers(1, len(self.photos))) % len(self.photos))
            donor, donor_info = self._crop(donor_id, rng)
            donor_q = int(rng.integers(cfg.camera_quality[0], cfg.camera_quality[1] + 1))
            donor_camera = jpeg_round_trip(donor, donor_q, _pick(rng, cfg.implementations["jpeg"]))
            info.update(donor=donor_info["photo"], donor_camera=f"jpeg:{donor_q}")
        if kind != "removal" and camera_jpeg and rng.random() < cfg.shifted:
            shift = divmod(int(rng.integers(1, 64)), 8)
            source = donor_camera if kind == "splicing" else None
            made = tamper_image(as_float(camera), kind, rng, as_float(source), tamper, grid_shift=shift)
            info["grid"] = "shifted"
        else:
            made = tamper_image(as_float(crop), kind, rng, as_float(donor), tamper)
            info["grid"] = "aligned"
        info.update({k: made.info[k] for k in ("seam", "area", "scale", "rotation", "inpaint") if k in made.info})
        region = _post_process(made.image, made.mask, camera, kind, rng, cfg, info)
        save = self._final_save(rng, info)
        files = save(np.where(made.mask[..., None], region, camera).astype(np.uint8)), save(camera)
        return Forgery(_decoded(files[0]), _decoded(files[1]), made.mask, info, files)

    def draw(self, first: int, count: int) -> list[Forgery]:
        """Forgeries ``first`` to ``first + count - 1``."""
        return [self[i] for i in range(first, first + count)]

    def _crop(self, photo_id: int, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, str]]:
        """A random crop of photo ``photo_id`` after a random shrink, maybe mirrored."""
        photo, size = self.photos[photo_id], self.config.size
        low = max(self.config.scale[0], size / min(photo.shape[:2]))
        scale = float(np.exp(rng.uniform(np.log(low), np.log(self.config.scale[1]))))
        h, w = photo.shape[:2]
        # shrink only what the crop needs: a window of size / scale pixels, resampled once
        side = min(int(np.ceil(size / scale)), h, w)
        top, left = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
        crop = cv2.resize(photo[top : top + side, left : left + side], (size, size), interpolation=cv2.INTER_AREA)
        flipped = bool(rng.random() < 0.5)
        return (np.ascontiguousarray(crop[:, ::-1]) if flipped else crop), {
            "photo": self.names[photo_id], "shrink": f"{size / side:.3f}", "flipped": str(flipped),
        }

    def _final_save(self, rng: np.random.Generator, info: dict[str, str]) -> Callable[[np.ndarray], bytes]:
        """The save both images go through: ``(uint8 image) -> file bytes`` (JPEG or PNG)."""
        cfg = self.config
        if rng.random() < cfg.png:
            info["final"] = "png"
            return _png
        q2 = int(rng.integers(cfg.final_quality[0], cfg.final_quality[1] + 1))
        encoder = _pick(rng, cfg.implementations["jpeg"])
        info["final"] = f"jpeg:{q2}:{encoder}"
        return lambda pixels: JPEG_ENCODERS[encoder](pixels, q2)


def _png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def _decoded(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"))


def as_float(pixels: np.ndarray | None) -> np.ndarray | None:
    """uint8 pixels as float32 in [0, 1] (None stays None)."""
    return None if pixels is None else pixels.astype(np.float32) / 255.0


def noise_level(image: np.ndarray) -> float:
    """Immerkaer's fast estimate of the standard deviation of white noise in ``image`` ((H, W, 3)
    or (H, W) float; J. Immerkaer, "Fast noise variance estimation", CVIU 64(2), 1996): the mean
    absolute response to the difference of two Laplacians, which cancels smooth structure."""
    gray = image.mean(axis=2) if image.ndim == 3 else image
    kernel = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)
    response = cv2.filter2D(gray.astype(np.float32), -1, kernel)[1:-1, 1:-1]
    return float(np.sqrt(np.pi / 2.0) * np.abs(response).mean() / 6.0)


def _pick(rng: np.random.Generator, names: Sequence[str]) -> str:
    return names[int(rng.integers(len(names)))]


def _as_uint8(photo: np.ndarray) -> np.ndarray:
    """An RGB photo as (H, W, 3) uint8 (float ones in [0, 1])."""
    photo = np.asarray(photo)
    if photo.ndim != 3 or photo.shape[2] != 3:
        raise ValueError(f"photos must be (H, W, 3) RGB, got shape {photo.shape}")
    return photo if photo.dtype == np.uint8 else to_uint8(photo)


def _post_process(
    image: np.ndarray,
    mask: np.ndarray,
    host: np.ndarray,
    kind: str,
    rng: np.random.Generator,
    cfg: StreamConfig,
    info: dict[str, str],
) -> np.ndarray:
    """The tampered ``image`` ([0, 1] float) as uint8 after the forger's touch-ups inside ``mask``:
    colour matching of a splice to the ring around it, noise matching to the level of ``host``
    (uint8, the image before the edit)."""
    out = image.astype(np.float32)
    if not mask.any():
        return to_uint8(out)
    ring = ndimage.binary_dilation(mask, iterations=8) & ~mask if kind == "splicing" else None
    if ring is not None and ring.any() and rng.random() < cfg.colour_match:
        strength = float(rng.uniform(0.3, 1.0))
        inside, around = out[mask], out[ring]
        moved = (inside - inside.mean(0)) * (around.std(0) + 1e-3) / (inside.std(0) + 1e-3) + around.mean(0)
        out[mask] = (1 - strength) * inside + strength * moved
        info["colour_match"] = f"{strength:.2f}"
    if rng.random() < cfg.noise_match:
        rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        box = out[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
        level = noise_level(host.astype(np.float32) / 255.0)
        own = noise_level(box) if min(box.shape[:2]) >= 8 else 0.0
        sigma = float(np.sqrt(max(level**2 - own**2, 0.0))) + float(rng.uniform(0.0, 2.0)) / 255.0
        out[mask] += rng.normal(0.0, sigma, out[mask].shape).astype(np.float32)
        info["noise_match"] = f"{sigma * 255.0:.2f}"
    return to_uint8(out)
