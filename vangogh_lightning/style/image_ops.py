"""PIL/tensor helpers for style transfer: fitting sizes, colour preservation, comparison sheets."""

from __future__ import annotations

import torch
from PIL import Image
from torchvision.transforms.functional import pil_to_tensor, to_pil_image


def fit_size(size: tuple[int, int], longest: int, square: bool = False) -> tuple[int, int]:
    """(w, h) scaled so the longest side is ``longest``, keeping the aspect ratio (``square``: longest x longest)."""
    if square:
        return longest, longest
    w, h = size
    if w >= h:
        return longest, max(1, round(h * longest / w))
    return max(1, round(w * longest / h)), longest


def to_tensor(image: Image.Image, size: tuple[int, int]) -> torch.Tensor:
    """RGB PIL image resized to ``size`` -> (3, H, W) float tensor in [0, 1]."""
    if image.size != size:
        image = image.resize(size, Image.Resampling.LANCZOS)
    return pil_to_tensor(image).float().div_(255).contiguous()


def to_image(tensor: torch.Tensor) -> Image.Image:
    """(3, H, W) tensor in [0, 1] -> RGB PIL image."""
    return to_pil_image(tensor.detach().float().clamp(0, 1).cpu())


def preserve_colors(result: Image.Image, content: Image.Image) -> Image.Image:
    """Keep the content's colours: luminance (Y) from the result, chroma (CbCr) from the content."""
    content = content.resize(result.size, Image.Resampling.LANCZOS)
    y, _, _ = result.convert("YCbCr").split()
    _, cb, cr = content.convert("YCbCr").split()
    return Image.merge("YCbCr", (y, cb, cr)).convert("RGB")


def comparison_sheet(images: list[Image.Image], captions: list[str] | None = None, height: int = 256,
                     gap: int = 8) -> Image.Image:
    """Images side by side at a common height (content | style | result), each with its caption under it."""
    from PIL import ImageDraw, ImageFont

    scaled = [im.resize((max(1, round(im.width * height / im.height)), height)) for im in images]
    band = 22 if captions else 0
    sheet = Image.new("RGB", (sum(im.width for im in scaled) + gap * (len(scaled) - 1), height + band), "white")
    draw, font, x = ImageDraw.Draw(sheet), ImageFont.load_default(size=14), 0
    for im, caption in zip(scaled, captions or [""] * len(scaled)):
        sheet.paste(im, (x, 0))
        draw.text((x + 4, height + 3), caption, fill="black", font=font)
        x += im.width + gap
    return sheet


def scales_for(size: int, multiscale: bool | str, min_scale: int) -> list[int]:
    """Working sizes, coarse to fine, ending at ``size``; 'auto' = multi-scale above 512 px."""
    if multiscale == "auto":
        multiscale = size > 512
    if not multiscale:
        return [size]
    scales = [size]
    while scales[0] // 2 >= min_scale:
        scales.insert(0, scales[0] // 2)
    return scales
