"""The shared image loader: every PIL mode keeps its tonal range; bombs and bad files are one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vangogh_lightning.core.errors import UserError
from vangogh_lightning.core.images import expand_images, load_rgb, to_rgb

W, H = 64, 8
GRAY = np.tile(np.linspace(0, 255, W).round().astype(np.uint8), (H, 1))
COLOUR = np.stack([GRAY, GRAY[:, ::-1], np.full_like(GRAY, 128)], axis=-1)  # 64 distinct colours


def _colour() -> Image.Image:
    return Image.fromarray(COLOUR, "RGB")


def _with_alpha(img: Image.Image) -> Image.Image:
    img = img.copy()
    img.putalpha(255)
    return img


def _pa() -> Image.Image:
    p = _colour().convert("P", palette=Image.Palette.ADAPTIVE)
    pa = p.convert("PA")
    pa.putalpha(255)
    return pa


# mode -> (build from the same gradient, expected 8-bit RGB, tolerance in grey levels)
GRAY_RGB = np.repeat(GRAY[..., None], 3, axis=-1)
BUILDERS = {
    "1": (lambda: Image.fromarray(GRAY, "L").convert("1", dither=Image.Dither.NONE),
          np.repeat(np.where(GRAY >= 128, 255, 0)[..., None], 3, -1), 0),
    "L": (lambda: Image.fromarray(GRAY, "L"), GRAY_RGB, 0),
    "LA": (lambda: _with_alpha(Image.fromarray(GRAY, "L")), GRAY_RGB, 0),
    "P": (lambda: _colour().convert("P", palette=Image.Palette.ADAPTIVE), COLOUR, 0),
    "PA": (_pa, COLOUR, 0),
    "RGB": (_colour, COLOUR, 0),
    "RGBA": (lambda: _with_alpha(_colour()), COLOUR, 0),
    "CMYK": (lambda: _colour().convert("CMYK"), COLOUR, 1),
    "YCbCr": (lambda: _colour().convert("YCbCr"), COLOUR, 3),
    # 8-bit a/b channels clip saturated colours, so LAB is checked on the grey ramp.
    "LAB": (lambda: Image.fromarray(GRAY_RGB, "RGB").convert("LAB"), GRAY_RGB, 2),
    "HSV": (lambda: _colour().convert("HSV"), COLOUR, 4),  # hue has 256 steps
    "I": (lambda: Image.fromarray(GRAY.astype(np.int32) * 257, "I"), GRAY_RGB, 1),
    "I;16": (lambda: Image.fromarray(GRAY.astype(np.uint16) * 257), GRAY_RGB, 1),
    "I;16L": (lambda: Image.frombytes("I;16L", (W, H), (GRAY.astype("<u2") * 257).tobytes()), GRAY_RGB, 1),
    "I;16B": (lambda: Image.frombytes("I;16B", (W, H), (GRAY.astype(">u2") * 257).tobytes()), GRAY_RGB, 1),
    "I;16N": (lambda: Image.frombytes("I;16N", (W, H), (GRAY.astype("=u2") * 257).tobytes()), GRAY_RGB, 1),
    "F": (lambda: Image.fromarray(GRAY.astype(np.float32) / 255, "F"), GRAY_RGB, 1),
}


def _save_somewhere(img: Image.Image, base: Path) -> Path | None:
    """Save in the first format that takes the mode (PNG, then TIFF); None if none does."""
    for suffix in (".png", ".tif"):
        try:
            img.save(base.with_suffix(suffix))
            return base.with_suffix(suffix)
        except (OSError, ValueError, KeyError):
            base.with_suffix(suffix).unlink(missing_ok=True)
    return None


@pytest.mark.parametrize("mode", list(BUILDERS))
def test_every_mode_converts_with_its_real_value_range(mode, tmp_path):
    build, expected, tolerance = BUILDERS[mode]
    img = build()
    assert img.mode == mode
    converted = [to_rgb(img)]
    path = _save_somewhere(img, tmp_path / "gradient")
    if path is not None:  # through the file as well, as training, stylize and classify read it
        converted.append(load_rgb(path))
    for out in converted:
        assert out.mode == "RGB" and out.size == (W, H)
        diff = np.abs(np.asarray(out).astype(int) - expected.astype(int))
        assert diff.max() <= tolerance, f"{mode}: off by up to {diff.max()} grey levels"


def test_a_16_bit_png_is_not_washed_out_to_white(tmp_path):
    path = tmp_path / "scan16.png"
    Image.fromarray(GRAY.astype(np.uint16) * 257).save(path)
    out = np.asarray(load_rgb(path))
    assert (out == 255).mean() < 0.05 and abs(out.mean() - GRAY.mean()) < 1


@pytest.mark.parametrize("low,high", [(0.0, 5000.0), (0.0, 1.0), (-1.0, 1.0), (0.0, 255.0), (0.0, 70000.0)])
def test_a_float_tiff_spans_the_grey_scale_whatever_its_range(tmp_path, low, high):
    ramp = (GRAY.astype(np.float32) / 255) * (high - low) + low  # black to white in the file's own range
    path = tmp_path / "float.tif"
    Image.fromarray(ramp, "F").save(path)
    got = np.asarray(load_rgb(path)).astype(int)
    assert np.abs(got - GRAY_RGB).max() <= 1  # not nearly black (0..5000 of 65535), not clipped white


def test_a_float_tiff_with_nan_and_infinity_reads_them_as_black(tmp_path):
    ramp = GRAY.astype(np.float32) * 10
    ramp[0, 0], ramp[0, 1] = np.nan, np.inf
    Image.fromarray(ramp, "F").save(tmp_path / "bad.tif")
    got = np.asarray(load_rgb(tmp_path / "bad.tif"))
    assert got[0, 0].max() == got[0, 1].max() == 0 and got.max() == 255


def test_a_decompression_bomb_is_one_line_naming_the_file_and_the_limit(tmp_path):
    bomb = tmp_path / "bomb.png"
    Image.new("1", (30000, 30000)).save(bomb)  # ~1 MB on disk, 900 Mpx decoded
    assert bomb.stat().st_size < 2_000_000
    with pytest.raises(UserError) as err:
        load_rgb(bomb)
    message = str(err.value)
    assert "\n" not in message and str(bomb) in message
    assert "900,000,000 pixels" in message and "max_image_pixels" in message


def test_a_header_claiming_a_huge_size_is_refused_before_decoding(tmp_path):
    img = Image.new("L", (8, 8))
    path = tmp_path / "liar.png"
    img.save(path)
    data = bytearray(path.read_bytes())
    # IHDR width/height live at bytes 16..24; claim 100000 x 100000 (the CRC no longer matches).
    data[16:24] = (100000).to_bytes(4, "big") * 2
    path.write_bytes(bytes(data))
    with pytest.raises(UserError, match="liar.png") as err:
        load_rgb(path)
    assert "\n" not in str(err.value)


def test_the_pixel_limit_is_a_setting(tmp_path):
    path = tmp_path / "wide.png"
    Image.new("RGB", (300, 200)).save(path)
    with pytest.raises(UserError, match="60,000 pixels, over the limit of 50,000"):
        load_rgb(path, max_pixels=50_000)
    assert load_rgb(path, max_pixels=60_000).size == (300, 200)


# --- how files are reached ---------------------------------------------------------------------
def test_an_exif_rotated_photo_is_read_upright(tmp_path):
    wide = np.zeros((20, 40, 3), np.uint8)
    wide[:, :20] = (255, 0, 0)  # left half red, as the camera's sensor saw it
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 clockwise to view": a phone held upright
    path = tmp_path / "phone.jpg"
    Image.fromarray(wide).save(path, exif=exif, quality=95)
    upright = np.asarray(load_rgb(path))
    assert upright.shape == (40, 20, 3)  # portrait, as the photo was taken
    assert upright[5, 10, 0] > 200 and upright[35, 10, 0] < 60  # the red half is now on top
    assert np.asarray(load_rgb(path, max_side=16)).shape[:2] == (16, 8)  # also when shrunk while decoding


def test_links_that_loop_or_lead_nowhere_say_so(tmp_path):
    (tmp_path / "a.jpg").symlink_to(tmp_path / "b.jpg")
    (tmp_path / "b.jpg").symlink_to(tmp_path / "a.jpg")
    (tmp_path / "gone.jpg").symlink_to(tmp_path / "deleted.jpg")
    with pytest.raises(UserError, match=r"a\.jpg: a symbolic link that loops back on itself; point it at"):
        load_rgb(tmp_path / "a.jpg")
    with pytest.raises(UserError, match=r"^content=.*gone\.jpg: a symbolic link to .*deleted\.jpg, which does not"):
        expand_images(str(tmp_path / "gone.jpg"))


def test_each_file_comes_once_however_many_names_reach_it(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(photos / "one.png")
    (photos / "again").symlink_to(photos, target_is_directory=True)  # a link to its own folder
    found = expand_images([f"{photos}/**/*.png", str(photos / "one.png")])
    assert found == [photos / "one.png"]


def test_a_file_whose_name_has_glob_characters_is_taken_as_named(tmp_path):
    odd = tmp_path / "a[1].png"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(odd)
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "a1.png")  # what the pattern would match
    assert expand_images(str(odd)) == [odd]
    assert expand_images(str(tmp_path / "a?.png")) == [tmp_path / "a1.png"]
