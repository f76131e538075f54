"""The artefact measures (grid, border band, speckle) on images whose answer is known."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from bench.artefacts import artefact_figures, as_array, border_step, high_frequency_share, stride_peak
from vangogh_lightning.style.layers import FeatureExtractor


def smooth_image(h: int = 128, w: int = 160, seed: int = 0) -> np.ndarray:
    """A photo-like image: noise blurred to low frequencies, in [0.2, 0.8]."""
    rng = np.random.default_rng(seed)
    img = rng.random((3, h, w))
    spectrum = np.fft.rfft2(img)
    fy, fx = np.fft.fftfreq(h)[:, None], np.fft.rfftfreq(w)[None, :]
    img = np.fft.irfft2(spectrum * np.exp(-(fy**2 + fx**2) / (2 * 0.03**2)), s=(h, w))
    img = (img - img.min()) / (img.max() - img.min())
    return 0.2 + 0.6 * img


def test_a_dot_grid_at_the_stride_stands_out_of_the_spectrum_and_a_smooth_image_does_not():
    img = smooth_image()
    grid = img.copy()
    grid[:, ::4, ::4] += 0.05  # one brighter pixel every 4 px: AlexNet's conv1 stride
    assert stride_peak(img, 4) < 1.5
    assert stride_peak(grid, 4) > 20
    assert stride_peak(grid, 4) / stride_peak(img, 4) > 10


def test_a_checkerboard_is_the_stride_two_peak():
    img = smooth_image(seed=1)
    yy, xx = np.mgrid[: img.shape[1], : img.shape[2]]
    board = img + 0.02 * ((yy + xx) % 2)
    assert stride_peak(board, 2) > 10 * stride_peak(img, 2)


def test_stride_peak_needs_a_few_periods():
    with pytest.raises(ValueError, match="too small"):
        stride_peak(np.zeros((3, 12, 12)), 4)


def test_border_step_of_a_band_along_one_edge_is_its_colour_step_over_four_edges():
    img = np.full((3, 64, 80), 0.5)
    assert border_step(img) == 0
    img[:, :4, :] += np.array([0.2, -0.1, 0.1])[:, None, None]  # a band on the top edge
    assert border_step(img) == pytest.approx(math.sqrt(0.2**2 + 0.1**2 + 0.1**2) / 4)


def test_border_step_ignores_texture_that_both_rings_share():
    rng = np.random.default_rng(0)
    texture = 0.5 + 0.2 * rng.standard_normal((3, 128, 128))
    banded = texture.copy()
    banded[:, :, -4:] -= 0.15  # a dark band on the right edge
    assert border_step(texture) < 0.03
    assert border_step(banded) > 2 * border_step(texture)


def test_high_frequency_share_of_white_noise_is_the_area_outside_the_cutoff_circle():
    noise = np.random.default_rng(0).random((3, 256, 256))
    expected = 1 - math.pi * 0.125**2  # the square [-1/2, 1/2]^2 minus the disc of radius 1/8
    assert high_frequency_share(noise) == pytest.approx(expected, abs=0.01)
    assert high_frequency_share(smooth_image()) < 0.01


def test_the_figures_of_an_untouched_content_are_one_and_accept_tensors_and_pil_images():
    from PIL import Image

    content = smooth_image()
    style = np.random.default_rng(1).random(content.shape)
    figures = artefact_figures(torch.from_numpy(content), content, style, stride=4)
    assert figures["stride_peak"] == pytest.approx(1, rel=1e-3)  # the tensor is float32
    assert figures["border_step"] == pytest.approx(1, rel=1e-3)
    assert figures["high_frequency"] <= 1
    quantised = (np.moveaxis(content, 0, -1) * 255).round().astype(np.uint8)
    np.testing.assert_array_equal(as_array(Image.fromarray(quantised)), np.moveaxis(quantised, -1, 0) / 255)


def test_border_padding_feeds_the_network_the_mirrored_picture():
    torch.manual_seed(0)
    mirrored = FeatureExtractor("alexnet", ["conv1", "conv3"], pretrained=False, border_padding=16)
    plain = FeatureExtractor("alexnet", ["conv1", "conv3"], pretrained=False)
    plain.load_state_dict(mirrored.state_dict())
    image = torch.rand(1, 3, 150, 190)
    padded = torch.nn.functional.pad(image, (16,) * 4, mode="reflect")
    ours, theirs = mirrored(image), plain(image)
    for layer in ("conv1", "conv3"):
        torch.testing.assert_close(ours[layer], plain(padded)[layer])
    # 16 px = 4 cells of conv1 (stride 4) = 1 of conv3 (16): cells viewing only the image are untouched,
    # those at the edge see mirrored picture instead of zeros.
    torch.testing.assert_close(ours["conv3"][..., 4:-4, 4:-4], theirs["conv3"][..., 3:-3, 3:-3])
    assert not torch.allclose(ours["conv3"][..., 1, 1:-1], theirs["conv3"][..., 0, :])
    assert mirrored.first_stride == 4
    assert FeatureExtractor("vgg19", ["conv2_1"], pretrained=False).first_stride == 2


@pytest.mark.parametrize("backbone, layer", [("alexnet", "conv5"), ("vgg19", "conv4_1")])
def test_conv_padding_that_repeats_the_edge_invents_no_border(backbone, layer):
    """A flat image gives flat maps at every depth once each conv pads with its own edge cells; the
    networks' zero padding makes the edge cells differ from the middle ones."""
    torch.manual_seed(0)
    flat = torch.full((1, 3, 64, 80), 0.4)
    for mode in ("reflect", "replicate"):
        maps = FeatureExtractor(backbone, [layer], pretrained=False, conv_padding=mode)(flat)[layer]
        torch.testing.assert_close(maps, maps[..., :1, :1].expand_as(maps), rtol=0, atol=1e-5)
    maps = FeatureExtractor(backbone, [layer], pretrained=False)(flat)[layer]
    assert (maps - maps[..., maps.shape[-2] // 2:, maps.shape[-1] // 2:][..., :1, :1]).abs().amax() > 1e-3


@pytest.mark.parametrize("overrides, border, conv", [
    (["backbone=alexnet"], 16, "zeros"),
    (["backbone=vgg19"], 0, "zeros"),  # the mirrored border left squares in VGG-19's corners (RESULTS)
    (["backbone=alexnet", "preset=report"], 0, "zeros"),
    (["backbone=vgg19", "backbone.conv_padding=reflect"], 0, "reflect"),
])
def test_each_backbone_group_says_how_it_pads_the_image_edge(overrides, border, conv):
    from tests.conftest import compose_cfg
    from vangogh_lightning.style.task import backbone_from_config

    backbone = backbone_from_config(compose_cfg("stylize", [*overrides, "content=x.jpg"]))
    assert (backbone.border_padding, backbone.conv_padding) == (border, conv)


def test_the_mirrored_border_keeps_the_stylized_edges_free_of_a_band(shared_data, tmp_path):
    """What was seen (a dark frame around AlexNet results) as a number: the default border_padding
    at least halves the colour step of the outer ring relative to the photo's (bench/RESULTS.md: median
    3.8x -> 1.5x at 256 px over 12 photos)."""
    from tests.conftest import compose_cfg
    from vangogh_lightning.core.images import load_rgb
    from vangogh_lightning.style.engine import Stylizer
    from vangogh_lightning.style.image_ops import fit_size, to_tensor
    from vangogh_lightning.style.plan import ContentItem
    from vangogh_lightning.style.task import backbone_from_config, settings_from_config

    photo = "photo-01.jpg"  # a probe at 96 px, 60 steps: 3.6x the photo's step without, 1.04x with
    image = load_rgb(shared_data / "photos" / photo, max_side=96)
    style = load_rgb(shared_data / "paintings" / "vincent-van-gogh_the-starry-night-1889.jpg", max_side=192)
    content_step = border_step(to_tensor(image, fit_size(image.size, 96)))
    steps = {}
    for padding in (0, 16):
        cfg = compose_cfg("stylize", ["backbone=alexnet", "backbone.pretrained=false", "size=96", "steps=40",
                                      "progress_bar=false", f"backbone.border_padding={padding}",
                                      "content=x.jpg"], tmp_path)
        torch.manual_seed(0)
        styler = Stylizer(backbone_from_config(cfg), [style], [1.0], settings_from_config(cfg), torch.device("cpu"))
        result, _, _ = styler.run_batch([ContentItem(shared_data / photo, image, image.size, {})])
        steps[padding] = border_step(result[0]) / content_step
    assert steps[16] < steps[0] / 2, steps
