"""Numbers for the artefacts a person sees in a stylized image (issue #23, part 2).

Each measure is a plain function of an RGB image in [0, 1] (a (3, H, W) array or tensor) and means
something only next to the same measure of the content photo (or the style image):

- ``stride_peak``: a dot grid at a network's stride (AlexNet's conv1 strides 4 px) is a peak of the
  spectrum at 1/stride cycles per pixel and its harmonics, measured against the neighbouring bins.
- ``border_step``: a band along the edges in another colour is a colour step between the outer ring
  of pixels and the ring just inside it.
- ``high_frequency_share``: speckle is spectral energy above a quarter of the Nyquist frequency.

numpy only (no torch): the benchmarks and tests call them anywhere.
"""

from __future__ import annotations

import numpy as np

HIGH_FREQUENCY = 0.125  # cycles per pixel: a quarter of the Nyquist frequency (0.5)


def as_array(image) -> np.ndarray:
    """(3, H, W) float64 array from a tensor, an array or a PIL image (HWC uint8 -> CHW in [0, 1])."""
    if hasattr(image, "detach"):
        image = image.detach().float().cpu().numpy()
    array = np.asarray(image)
    if array.ndim == 3 and array.shape[-1] == 3 and array.shape[0] != 3:  # PIL / HWC
        array = np.moveaxis(array, -1, 0)
    if array.dtype == np.uint8:
        return array.astype(np.float64) / 255.0
    array = array.astype(np.float64)
    if array.ndim != 3 or array.shape[0] != 3:
        raise ValueError(f"expected an RGB image (3, H, W), got shape {array.shape}")
    return array


def _luma(image: np.ndarray) -> np.ndarray:
    return 0.299 * image[0] + 0.587 * image[1] + 0.114 * image[2]


def _axis_power(plane: np.ndarray, axis: int) -> np.ndarray:
    """Mean periodogram of the lines along ``axis`` (each line demeaned and Hann-windowed)."""
    lines = np.moveaxis(plane, axis, -1)
    lines = lines - lines.mean(axis=-1, keepdims=True)
    window = np.hanning(lines.shape[-1])
    return (np.abs(np.fft.rfft(lines * window, axis=-1)) ** 2).reshape(-1, lines.shape[-1] // 2 + 1).mean(0)


def stride_peak(image, stride: int, spread: int = 10) -> float:
    """How far the spectrum stands out at the stride frequency ``1/stride`` and its harmonics.

    For each axis, the luminance rows (columns) are cropped to a multiple of ``stride`` so that each
    harmonic ``k/stride`` (k = 1 .. stride/2) falls on a frequency bin; the energy of that bin and its
    two neighbours (the Hann window's main lobe) is divided by three times the median of the bins up
    to ``spread`` away (outside the lobe). The largest such ratio is returned: ~1 for an image without
    a grid, large for a regular grid of period ``stride``.
    """
    luma = _luma(as_array(image))
    ratios = []
    for axis in (0, 1):
        n = luma.shape[axis] // stride * stride
        if n < 4 * stride:
            raise ValueError(f"image too small ({luma.shape[axis]} px) to measure a period of {stride} px")
        plane = luma[:n, :] if axis == 0 else luma[:, :n]
        power = _axis_power(plane, axis)
        for k in range(1, stride // 2 + 1):
            b = n * k // stride
            lobe = power[max(b - 1, 1): b + 2].sum()
            around = [i for i in range(max(b - spread, 1), min(b + spread, len(power) - 1) + 1) if abs(i - b) > 2]
            level = np.median(power[around]) * 3
            ratios.append(lobe / max(level, 1e-20))
    return float(max(ratios))


def border_step(image, ring: int = 4) -> float:
    """Colour distance between the outer ``ring`` pixels and the ``ring`` pixels just inside them.

    For each of the four edges, the mean colour of its outer strip (``ring`` px deep, the edge's
    whole length) is compared with the mean colour of the strip just inside (Euclidean RGB distance,
    in units of [0, 1]); the four distances are averaged. Means over a whole edge cancel texture,
    which both strips share, and keep a band, which only the outer one has.
    """
    img = as_array(image)
    _, h, w = img.shape
    if min(h, w) < 4 * ring:
        raise ValueError(f"image too small ({w}x{h}) for border rings of {ring} px")
    pairs = [
        (img[:, :ring, :], img[:, ring:2 * ring, :]),
        (img[:, -ring:, :], img[:, -2 * ring:-ring, :]),
        (img[:, :, :ring], img[:, :, ring:2 * ring]),
        (img[:, :, -ring:], img[:, :, -2 * ring:-ring]),
    ]
    return float(np.mean([np.linalg.norm(outer.mean((1, 2)) - inner.mean((1, 2))) for outer, inner in pairs]))


def high_frequency_share(image, cutoff: float = HIGH_FREQUENCY) -> float:
    """Share of the image's spectral energy (all three channels, DC left out) above ``cutoff`` cycles/px.

    Each channel is demeaned and Hann-windowed in 2-D first, so the image's edges do not count as
    high-frequency energy.
    """
    img = as_array(image)
    _, h, w = img.shape
    window = np.outer(np.hanning(h), np.hanning(w))
    power = sum(np.abs(np.fft.rfft2((c - c.mean()) * window)) ** 2 for c in img)
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    radius = np.hypot(fy, fx)
    total = power[radius > 0].sum()
    return float(power[radius > cutoff].sum() / max(total, 1e-20))


def artefact_figures(result, content, style, stride: int) -> dict[str, float]:
    """The three measures of ``result``, each relative to its reference (what issue #23 bounds).

    ``stride_peak`` and ``border_step`` are divided by the content's; ``high_frequency`` by the larger
    of the content's and the style image's (a style may bring fine texture; speckle is what exceeds
    both). ``style`` must already have the result's size.
    """
    hf_reference = max(high_frequency_share(content), high_frequency_share(style))
    return {
        "stride_peak": stride_peak(result, stride) / stride_peak(content, stride),
        "border_step": border_step(result) / max(border_step(content), 1e-6),
        "high_frequency": high_frequency_share(result) / hf_reference,
    }
