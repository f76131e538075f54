"""Reading, listing and writing images with clear errors for bad inputs."""

from __future__ import annotations

import glob
import os
import tempfile
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path

from PIL import Image, ImageFile, UnidentifiedImageError

from vangogh_lightning.errors import UserError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")

# Decompression-bomb protection stays on, but a full-size camera photo must open.
Image.MAX_IMAGE_PIXELS = 200_000_000
ImageFile.LOAD_TRUNCATED_IMAGES = False


def load_rgb(path: str | Path, max_side: int | None = None) -> Image.Image:
    """Open an image fully decoded as RGB, optionally shrunk so its longest side <= max_side.

    Grayscale, palette, CMYK and alpha images are converted (alpha is composited on white).
    Missing, unreadable, truncated and zero-size files raise :class:`UserError`.
    """
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: file not found")
    if path.is_dir():
        raise UserError(f"{path}: is a folder, expected an image file")
    if path.stat().st_size == 0:
        raise UserError(f"{path}: file is empty (0 bytes); replace or remove it")
    try:
        with Image.open(path) as img:
            if max_side is not None and img.format == "JPEG":
                # Let libjpeg decode at a reduced scale: a 4608x3072 photo never lands in memory.
                img.draft("RGB", (max_side, max_side))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                img.load()
            rgb = _to_rgb(img)
    except UnidentifiedImageError:
        raise UserError(f"{path}: not an image PIL can read; replace or remove it") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise UserError(f"{path}: corrupt or truncated image ({exc}); replace or remove it") from None
    if rgb.width == 0 or rgb.height == 0:
        raise UserError(f"{path}: image has zero size")
    if max_side is not None and max(rgb.size) > max_side:
        rgb.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return rgb


def _to_rgb(img: Image.Image) -> Image.Image:
    if img.mode == "RGB":
        return img.copy()
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        canvas = Image.new("RGB", rgba.size, (255, 255, 255))
        canvas.paste(rgba, mask=rgba.getchannel("A"))
        return canvas
    return img.convert("RGB")


def check_readable(path: str | Path) -> str | None:
    """Return None when the image decodes, else a short reason (cheap: JPEGs decode at 1/8 scale)."""
    try:
        load_rgb(path, max_side=64)
    except UserError as exc:
        return str(exc).split(": ", 1)[-1]
    return None


def expand_images(spec: str | Path | Sequence[str | Path], what: str = "content") -> list[Path]:
    """Expand a file, a folder, a glob, or a list of those into a sorted list of image paths."""
    items: Iterable[str | Path] = [spec] if isinstance(spec, (str, Path)) else spec
    found: list[Path] = []
    for item in items:
        text = os.path.expanduser(str(item))
        if any(ch in text for ch in "*?["):
            matches = sorted(Path(p) for p in glob.glob(text, recursive=True))
            matches = [p for p in matches if p.suffix.lower() in IMAGE_SUFFIXES]
            if not matches:
                raise UserError(f"{what}={text}: the pattern matches no image files")
            found.extend(matches)
            continue
        path = Path(text)
        if path.is_dir():
            matches = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if not matches:
                raise UserError(f"{what}={path}: the folder holds no image files ({', '.join(IMAGE_SUFFIXES)})")
            found.extend(matches)
        elif path.exists():
            found.append(path)
        else:
            raise UserError(f"{what}={path}: file not found")
    if not found:
        raise UserError(f"{what}: no images given")
    return list(dict.fromkeys(found))


def atomic_save(image: Image.Image, path: str | Path, **save_kwargs) -> Path:
    """Save an image through a temporary file and rename, so a kill never leaves half a PNG."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=path.suffix)
    os.close(fd)
    try:
        image.save(tmp, **save_kwargs)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def atomic_write_text(text: str, path: str | Path) -> Path:
    """Write a text file atomically (temporary file + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def refuse_overwrite(paths: Iterable[Path], overwrite: bool, key: str = "overwrite") -> None:
    """Raise if any output already exists and overwriting was not asked for."""
    if overwrite:
        return
    existing = [p for p in paths if Path(p).exists()]
    if existing:
        raise UserError(
            f"{existing[0]}: already exists; pass {key}=true to replace it or choose another output folder"
        )
