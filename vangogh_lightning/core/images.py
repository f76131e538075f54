"""Reading, listing and writing images with clear errors for bad inputs."""

from __future__ import annotations

import errno
import glob
import os
import re
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from PIL import ExifTags, Image, ImageFile, ImageOps, UnidentifiedImageError

from vangogh_lightning.core.atomic import atomic_write
from vangogh_lightning.core.errors import UserError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")

# The limit of load_rgb too: larger than any camera photo (a 4608x3072 photo has 14 Mpx), small enough that
# a decompression bomb is refused before it is decoded. Scripts set it from the `max_image_pixels` config key.
Image.MAX_IMAGE_PIXELS = 200_000_000
ImageFile.LOAD_TRUNCATED_IMAGES = False

# Modes whose samples are wider than 8 bits: PIL's convert("RGB") clips them at 255.
_HIGH_DEPTH_MODES = ("I", "F", "I;16", "I;16L", "I;16B", "I;16N", "I;16S", "I;16BS", "I;16LS")


def set_max_pixels(limit: int) -> None:
    """Process-wide pixel limit for :func:`load_rgb` (the ``max_image_pixels`` config key)."""
    # PIL refuses outright above twice its limit: its own guard is at least as strict as ours.
    Image.MAX_IMAGE_PIXELS = int(limit)


def _bomb_error(path: Path, pixels: int | None, limit: int, size: str = "") -> UserError:
    count = f"{size}{pixels:,} pixels" if pixels else "too many pixels"
    return UserError(f"{path}: {count}, over the limit of {limit:,} (a decompression bomb?); if the image is genuine, "
                     "raise max_image_pixels=<pixels>")


def missing_error(path: Path, key: str = "") -> UserError:
    """Why ``path`` cannot be opened although it was named: not there, a dangling link or a link loop."""
    name = f"{key}={path}" if key else str(path)
    if path.is_symlink():
        try:
            path.resolve(strict=True)
        except (RuntimeError, OSError) as exc:  # a loop: RuntimeError up to Python 3.12, OSError ELOOP after
            if isinstance(exc, RuntimeError) or exc.errno == errno.ELOOP:
                return UserError(f"{name}: a symbolic link that loops back on itself; point it at an image file")
            return UserError(f"{name}: a symbolic link to {os.readlink(path)}, which does not exist")
    return UserError(f"{name}: file not found")


def load_rgb(path: str | Path, max_side: int | None = None, max_pixels: int | None = None) -> Image.Image:
    """Open an image fully decoded as 8-bit RGB, upright, optionally shrunk so its longest side <= max_side.

    Every PIL mode is converted with its real value range (16-bit and float samples are rescaled,
    not clipped; alpha is composited on white), and an EXIF orientation (a phone photo taken
    sideways) is applied. Missing, unreadable, truncated, zero-size files and images of more than
    ``max_pixels`` pixels (default: :func:`set_max_pixels`) raise :class:`UserError`."""
    path = Path(path)
    limit = Image.MAX_IMAGE_PIXELS if max_pixels is None else int(max_pixels)
    if not path.exists():
        raise missing_error(path)
    if path.is_dir():
        raise UserError(f"{path}: is a folder, expected an image file")
    if path.stat().st_size == 0:
        raise UserError(f"{path}: file is empty (0 bytes); replace or remove it")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                if img.width * img.height > limit:  # checked on the header, before any decoding
                    raise _bomb_error(path, img.width * img.height, limit, f"{img.width}x{img.height} = ")
                if max_side is not None and img.format == "JPEG":
                    # Let libjpeg decode at a reduced scale: a 4608x3072 photo never lands in memory.
                    img.draft("RGB", (max_side, max_side))
                img.load()
                if img.getexif().get(ExifTags.Base.Orientation, 1) != 1:
                    img = ImageOps.exif_transpose(img)
                rgb = to_rgb(img)
    except Image.DecompressionBombError as exc:  # PIL's own guard, above twice the limit
        claimed = re.search(r"\((\d+) pixels\)", str(exc))
        raise _bomb_error(path, int(claimed.group(1)) if claimed else None, limit) from None
    except UnidentifiedImageError:
        raise UserError(f"{path}: not an image PIL can read; replace or remove it") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise UserError(f"{path}: corrupt or truncated image ({exc}); replace or remove it") from None
    if rgb.width == 0 or rgb.height == 0:
        raise UserError(f"{path}: image has zero size")
    if max_side is not None and max(rgb.size) > max_side:
        rgb.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return rgb


def sample_range(img: Image.Image, values: np.ndarray) -> float:
    """The value that means 'white' for a high-depth image (mode I, I;16*, F).

    I;16*: 65535. I: the file's bit depth where the format records it (a 16-bit PNG opens as I;
    TIFF up to 16 BitsPerSample), else the smallest of 255 / 65535 / 2**32-1 that holds the data.
    F: 1.0 when the data lies in [0, 1] (the usual float convention), else its peak: floats have no bit depth, so
    a float TIFF of 0..5000 spans the grey scale as a 16-bit image of 0..65535 does."""
    if img.mode.startswith("I;16"):
        return 65535.0
    if img.mode == "I":
        if img.format == "PNG":
            return 65535.0
        bits = getattr(img, "tag_v2", {}).get(258) if img.format == "TIFF" else None
        if isinstance(bits, tuple):
            bits = bits[0]
        if isinstance(bits, int) and 8 <= bits <= 16:  # 32-bit containers often hold 16-bit data
            return float(2**bits - 1)
    peak = float(values.max()) if values.size else 0.0
    if img.mode == "F":
        return max(peak, 1.0)
    return next((white for white in (255.0, 65535.0) if peak <= white), float(2**32 - 1))


def to_rgb(img: Image.Image) -> Image.Image:
    """An 8-bit RGB copy of ``img``, whatever its mode, keeping its tonal range."""
    if img.mode == "RGB":
        return img.copy()
    if img.mode in _HIGH_DEPTH_MODES:
        values = np.asarray(img).astype(np.float64)
        values[~np.isfinite(values)] = 0.0  # (a float image's NaN and infinities)
        black = min(float(values.min()), 0.0) if values.size and img.mode == "F" else 0.0  # floats may go below 0
        scaled = np.clip((values - black) / (sample_range(img, values) - black), 0.0, 1.0) * 255.0
        return Image.fromarray(np.rint(scaled).astype(np.uint8), "L").convert("RGB")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        canvas = Image.new("RGB", rgba.size, (255, 255, 255))
        canvas.paste(rgba, mask=rgba.getchannel("A"))
        return canvas
    return img.convert("RGB")


def check_readable(path: str | Path, max_pixels: int | None = None) -> str | None:
    """Return None when the image decodes, else a short reason (cheap: JPEGs decode at 1/8 scale)."""
    try:
        load_rgb(path, max_side=64, max_pixels=max_pixels)
    except UserError as exc:
        return str(exc).split(": ", 1)[-1]
    return None


def expand_images(spec: str | Path | Sequence[str | Path], what: str = "content") -> list[Path]:
    """Expand a file, a folder, a glob, or a list of those into a sorted list of image paths.

    A name that exists is taken as it is, even with glob characters (``a[1].jpg``). Each file comes
    once, however many names reach it (a ``**`` glob through a link to a parent folder, a file
    listed twice), under its shortest name."""
    items: Iterable[str | Path] = [spec] if isinstance(spec, (str, Path)) else spec
    found: list[Path] = []
    for item in items:
        text = os.path.expanduser(str(item))
        path = Path(text)
        pattern = any(ch in text for ch in "*?[") and not os.path.lexists(text)
        if not pattern and not path.is_dir():
            if not path.exists():
                raise missing_error(path, what)
            found.append(path)
            continue
        listed = map(Path, glob.glob(text, recursive=True)) if pattern else path.iterdir()
        matches = sorted(p for p in listed if p.suffix.lower() in IMAGE_SUFFIXES)
        if not matches:
            raise UserError(f"{what}={text}: the pattern matches no image files" if pattern else
                            f"{what}={path}: the folder holds no image files ({', '.join(IMAGE_SUFFIXES)})")
        found.extend(matches)
    if not found:
        raise UserError(f"{what}: no images given")
    by_file: dict[str, Path] = {}
    for path in found:  # in order of first appearance, each file under its shortest name
        known = by_file.setdefault(os.path.realpath(path), path)
        if len(path.parts) < len(known.parts):
            by_file[os.path.realpath(path)] = path
    return list(by_file.values())


def unique_stems(paths: Sequence[Path]) -> list[str]:
    """A file-name stem per path, never two alike (case-insensitively): a repeated stem (``d1/x.jpg``,
    ``d2/x.jpg``, ``x.png``) gets the first free numeric suffix, also past inputs already named ``x-2``."""
    taken = {path.stem.casefold() for path in paths}
    used: set[str] = set()
    stems = []
    for path in paths:
        stem, n = path.stem, 1
        while stem.casefold() in used or (n > 1 and stem.casefold() in taken):
            n += 1
            stem = f"{path.stem}-{n}"
        used.add(stem.casefold())
        stems.append(stem)
    return stems


def atomic_save(image: Image.Image, path: str | Path, **save_kwargs) -> Path:
    """Save an image atomically (format from ``path``'s suffix), so a kill never leaves half a PNG."""
    path = Path(path)
    fmt = save_kwargs.pop("format", None) or Image.registered_extensions().get(path.suffix.lower())
    return atomic_write(path, lambda tmp: image.save(tmp, format=fmt, **save_kwargs))


def refuse_overwrite(paths: Iterable[Path], overwrite: bool, key: str = "overwrite") -> None:
    """Raise if any output already exists and overwriting was not asked for."""
    existing = [] if overwrite else [p for p in paths if Path(p).exists()]
    if existing:
        raise UserError(f"{existing[0]}: already exists; pass {key}=true to replace it or choose another output folder")
