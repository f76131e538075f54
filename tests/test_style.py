"""Style transfer: layers, losses, the pixel-only LightningModule and the stylize job."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tests.conftest import compose_cfg
from vangogh_lightning.core.errors import UserError
from vangogh_lightning.core.images import load_rgb
from vangogh_lightning.style.image_ops import preserve_colors, scales_for
from vangogh_lightning.style.layers import FeatureExtractor
from vangogh_lightning.style.losses import gram_matrix, style_loss, total_variation
from vangogh_lightning.style.task import stylize

STARRY = "paintings/vincent-van-gogh_the-starry-night-1889.jpg"


def cfg_for(tmp_path: Path, content, style, *extra: str):
    style_arg = f"style=[{','.join(map(str, style))}]" if isinstance(style, list) else f"style={style}"
    return compose_cfg("stylize", [f"content={content}", style_arg, "backbone.pretrained=false",
                                   "size=64", "steps=30", "progress_bar=false",
                                   f"out_dir={tmp_path / 'out'}", *extra], tmp_path)


def engine_for(cfg, callbacks=()):
    """The engine with explicit arguments, as stylize() builds it from a config."""
    from vangogh_lightning.style.engine import Stylizer
    from vangogh_lightning.style.task import backbone_from_config, settings_from_config

    style = load_rgb(cfg.style, max_side=2 * cfg.size)
    return Stylizer(backbone_from_config(cfg), [style], [1.0], settings_from_config(cfg), torch.device("cpu"),
                    callbacks)


def result_json(tmp_path: Path, stem: str, backbone: str) -> dict:
    return json.loads((tmp_path / "out" / f"{stem}_{backbone}.json").read_text())


# --- layers and losses ------------------------------------------------------------------------
def test_vgg19_layers_are_named_and_the_network_is_cut_after_the_deepest():
    ex = FeatureExtractor("vgg19", ["conv4_2", "conv1_1"], pretrained=False)
    assert ex.names[-1] == "conv4_2" and ex.depth == 22  # features[21] is conv4_2
    feats = ex(torch.rand(1, 3, 64, 64))
    assert set(feats) == {"conv1_1", "conv4_2"}
    assert feats["conv4_2"].shape[1] == 512


def test_alexnet_layers_follow_the_report_names():
    ex = FeatureExtractor("alexnet", ["conv4", "conv1", "conv2", "conv3"], pretrained=False)
    assert ex.names == ["conv1", "relu1", "pool1", "conv2", "relu2", "pool2", "conv3", "relu3", "conv4"]


def test_conv_outputs_are_not_overwritten_by_inplace_relu():
    ex = FeatureExtractor("vgg19", ["conv1_1"], pretrained=False)
    assert (ex(torch.rand(1, 3, 32, 32))["conv1_1"] < 0).any()


def test_unknown_layer_is_an_error_listing_valid_names():
    with pytest.raises(UserError, match=r"unknown vgg19 layer\(s\) conv9_9; valid names: conv1_1"):
        FeatureExtractor("vgg19", ["conv9_9"], pretrained=False)
    with pytest.raises(UserError, match="unknown alexnet layer.*conv4_2.*conv5"):
        FeatureExtractor("alexnet", ["conv4_2"], pretrained=False)


def test_gram_matrix_is_normalised_by_positions_so_size_does_not_change_it():
    f = torch.rand(1, 8, 4, 4)
    tiled = f.repeat(1, 1, 2, 2)
    assert torch.allclose(gram_matrix(f), gram_matrix(tiled), atol=1e-6)
    assert style_loss(gram_matrix(f), gram_matrix(f)).item() == 0


def test_the_gram_matrix_has_autograds_gradient_with_one_product():
    features = torch.randn(2, 5, 4, 3, requires_grad=True)
    weight = torch.randn(2, 5, 5)  # not symmetric: the general case
    (mine,) = torch.autograd.grad((gram_matrix(features) * weight).sum(), features)
    flat = features.reshape(2, 5, 12)
    (plain,) = torch.autograd.grad((flat @ flat.transpose(1, 2) / 12 * weight).sum(), features)
    assert torch.allclose(mine, plain, atol=1e-6)


def test_the_report_normalisation_is_the_reports_figure_3_code():
    from vangogh_lightning.style.losses import StyleTransferLoss

    torch.manual_seed(0)
    content, style, image = (torch.rand(1, 8, 6, 5) for _ in range(3))

    def report_gram(t):  # the tutorial's gram_matrix: F F^T, not normalised
        _, d, h, w = t.shape
        flat = t.view(d, h * w)
        return flat @ flat.t()

    _, d, h, w = image.shape
    expected_content = torch.mean((image - content) ** 2)
    expected_style = 0.5 * torch.mean((report_gram(image) - report_gram(style)) ** 2) / (d * h * w)
    loss = StyleTransferLoss({"c": content}, {"s": gram_matrix(style)}, {"c": 1.0}, {"s": 0.5},
                             content_weight=2.0, style_weight=3.0, normalisation="report")
    parts = loss({"c": image, "s": image}, torch.zeros(1, 3, 4, 4))
    assert parts["content"].item() == pytest.approx(2.0 * expected_content.item(), rel=1e-5)
    assert parts["style"].item() == pytest.approx(3.0 * expected_style.item(), rel=1e-5)


def test_the_report_preset_squashes_to_224_square_and_runs_adam(tmp_path, shared_data):
    cfg = cfg_for(tmp_path, shared_data / "photos/tubingen.jpg", shared_data / STARRY, "preset=report", "steps=2")
    assert compose_cfg("stylize", ["preset=report", "content=x.jpg"], tmp_path).size == 224
    stylize(cfg)  # size=64 on the command line wins over the preset's 224; the square stays
    width, height = Image.open(shared_data / "photos/tubingen.jpg").size
    assert width != height
    assert Image.open(tmp_path / "out" / "tubingen_vgg19.png").size == (64, 64)
    assert result_json(tmp_path, "tubingen", "vgg19")["config"]["optimizer"] == "adam"


def test_total_variation_is_zero_for_flat_images_and_positive_for_noise():
    assert total_variation(torch.full((1, 3, 8, 8), 0.5)).item() == 0
    assert total_variation(torch.rand(1, 3, 8, 8)).item() > 0


def test_multiscale_is_on_by_default_only_above_512px():
    assert scales_for(512, "auto", 256) == [512]
    assert scales_for(1024, "auto", 256) == [256, 512, 1024]
    assert scales_for(256, True, 64) == [64, 128, 256]
    assert scales_for(1024, False, 256) == [1024]


def test_colour_preservation_keeps_the_content_chroma():
    content = Image.new("RGB", (16, 16), (200, 30, 30))
    result = Image.new("RGB", (16, 16), (40, 40, 200))
    kept = preserve_colors(result, content)
    r, g, b = kept.getpixel((8, 8))
    assert r > b  # red content stays red


# --- the module and the job on real images (../shared/data) -----------------------------------
@pytest.mark.parametrize("backbone", ["vgg19", "alexnet"])
def test_loss_falls_by_half_in_30_steps_and_beats_the_content_style_loss(tmp_path, shared_data, backbone):
    cfg = cfg_for(tmp_path, shared_data / "photos/photo-00.jpg", shared_data / STARRY,
                  f"backbone={backbone}")
    stylize(cfg)
    record = result_json(tmp_path, "photo-00", backbone)
    start = record["content_image_losses"]["total"]  # init=content: the loss at step 0
    assert record["final_losses"]["total"] <= 0.5 * start
    assert record["final_losses"]["style"] < record["content_image_losses"]["style"]


def test_the_progress_bar_shows_the_losses_and_without_it_nothing_is_logged(tmp_path, shared_data):
    from lightning.pytorch.callbacks import Callback


    seen = {}

    last = {}

    class Spy(Callback):
        def on_train_end(self, trainer, module):
            seen[trainer.progress_bar_callback is not None] = set(trainer.progress_bar_metrics)
            last.update({k: float(v) for k, v in trainer.progress_bar_metrics.items()})

    for i, shown in enumerate(["true", "false"]):
        cfg = cfg_for(tmp_path / str(i), shared_data / "photos/photo-02.jpg", shared_data / STARRY,
                      "steps=2", f"progress_bar={shown}")
        styler = engine_for(cfg, callbacks=[Spy()])
        result, module, _ = styler.run_batch([_item(shared_data / "photos/photo-02.jpg", tmp_path)])
        if shown == "true":  # the bar's last numbers are the kept result's, as its record will save them
            kept = module.evaluate(result)
            assert {k: last[k] for k in kept} == pytest.approx({k: v[0] for k, v in kept.items()}, rel=1e-5)
    assert seen == {True: {"content", "style", "tv", "total"}, False: set()}


def test_output_keeps_the_content_aspect_ratio_and_writes_json_and_sheet(tmp_path, shared_data):
    cfg = cfg_for(tmp_path, shared_data / "photos/tubingen.jpg", shared_data / STARRY, "steps=2")
    stylize(cfg)
    src = Image.open(shared_data / "photos/tubingen.jpg").size
    out = Image.open(tmp_path / "out" / "tubingen_vgg19.png").size
    assert max(out) == 64
    assert abs(out[0] / out[1] - src[0] / src[1]) < 0.05
    record = result_json(tmp_path, "tubingen", "vgg19")
    assert record["config"]["backbone"]["name"] == "vgg19"
    sheet = Image.open(tmp_path / "out" / "tubingen_vgg19_sheet.png").convert("L")
    band = np.asarray(sheet)[-22:]  # the captions under the three images: content, style, result (vgg19)
    assert sheet.height > 256 and (band < 128).any() and (band < 128).mean() < 0.2
    # what evaluate.py's deception table will count in this folder: the result, not the sheet
    from vangogh_lightning.evaluation.table_one.inputs import stylized_images

    assert [p.name for p in stylized_images(str(tmp_path / "out"), "task.stylized.vgg19")] == ["tubingen_vgg19.png"]


def test_the_only_parameters_are_the_image_pixels(tmp_path, shared_data):
    cfg = cfg_for(tmp_path, shared_data / "photos/photo-01.jpg", shared_data / STARRY, "steps=1")
    styler = engine_for(cfg)
    _, module, _ = styler.run_batch([_item(shared_data / "photos/photo-01.jpg", tmp_path)])
    params = list(module.parameters())
    assert len(params) == 1 and params[0] is module.image


def _item(path: Path, tmp_path: Path, side: int = 64):
    from vangogh_lightning.style.plan import ContentItem

    img = load_rgb(path, max_side=side)
    return ContentItem(path, img, img.size, {"image": tmp_path / "x.png"})


def test_a_folder_of_contents_is_batched_and_each_gets_an_output(tmp_path, shared_data):
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("photo-02.jpg", "photo-03.jpg", "golden_gate.jpg"):
        (folder / name).write_bytes((shared_data / "photos" / name).read_bytes())
    cfg = cfg_for(tmp_path, folder, shared_data / STARRY, "steps=2", "batch_size=2")
    written = stylize(cfg)
    assert sorted(p.name for p in written) == ["golden_gate_vgg19.png", "photo-02_vgg19.png",
                                               "photo-03_vgg19.png"]


def test_blended_styles_need_one_weight_each(tmp_path, shared_data):
    styles = [shared_data / STARRY, shared_data / "paintings/vincent-van-gogh_vase-with-flowers.jpg"]
    cfg = cfg_for(tmp_path, shared_data / "photos/photo-04.jpg", styles, "steps=2",
                  "style_weights=[0.7,0.3]", "preserve_colors=true")
    stylize(cfg)
    assert result_json(tmp_path, "photo-04", "vgg19")["style_mix"] == pytest.approx([0.7, 0.3])
    bad = cfg_for(tmp_path / "b", shared_data / "photos/photo-04.jpg", styles, "style_weights=[1.0]")
    with pytest.raises(UserError, match="style_weights has 1 value.*2 image"):
        stylize(bad)


def test_very_large_input_is_decoded_at_working_size_with_a_note(tmp_path, shared_data, capsys):
    big = shared_data / "photos/large-4608x3072.jpg"
    img = load_rgb(big, max_side=64)
    assert max(img.size) == 64
    cfg = cfg_for(tmp_path, big, shared_data / STARRY, "steps=1")
    stylize(cfg)
    assert "4608x3072; working at 64x43" in capsys.readouterr().out


def test_existing_outputs_are_not_overwritten_unless_asked(tmp_path, shared_data):
    cfg = cfg_for(tmp_path, shared_data / "photos/photo-05.jpg", shared_data / STARRY, "steps=1")
    stylize(cfg)
    out = tmp_path / "out" / "photo-05_vgg19.png"
    before = out.read_bytes()
    with pytest.raises(UserError, match="photo-05_vgg19.png: already exists; pass overwrite=true"):
        stylize(cfg)
    assert out.read_bytes() == before
    cfg.overwrite = True
    stylize(cfg)


def test_missing_default_style_says_to_pass_style(tmp_path, shared_data):
    cfg = compose_cfg("stylize", [f"content={shared_data / 'photos/photo-00.jpg'}",
                                  f"paths.wikiart_dir={tmp_path / 'no-wikiart'}",
                                  "backbone.pretrained=false"], tmp_path)
    with pytest.raises(UserError, match="no style= given.*does not exist; pass style="):
        stylize(cfg)


# --- bad image inputs -------------------------------------------------------------------------
def _bad_inputs(tmp_path: Path) -> dict[str, Path]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    arr = np.random.default_rng(0).integers(0, 255, (40, 40, 3), dtype=np.uint8)
    good = tmp_path / "good.jpg"
    Image.fromarray(arr).save(good)
    trunc = tmp_path / "trunc.jpg"
    trunc.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])
    text = tmp_path / "notes.jpg"
    text.write_text("this is not an image")
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    return {"missing": tmp_path / "missing.jpg", "truncated": trunc, "not an image": text,
            "empty": empty}


@pytest.mark.parametrize("kind,match", [("missing", "file not found"), ("truncated", "truncated"),
                                        ("not an image", "not an image"), ("empty", "empty")])
def test_bad_images_give_one_line_errors_naming_the_file(tmp_path, kind, match):
    path = _bad_inputs(tmp_path)[kind]
    with pytest.raises(UserError, match=match) as err:
        load_rgb(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("mode", ["L", "CMYK", "RGBA", "P", "I;16"])
def test_odd_image_modes_are_converted_to_rgb(tmp_path, mode):
    arr = np.random.default_rng(0).integers(0, 255, (20, 30, 3), dtype=np.uint8)
    img = Image.fromarray(arr).convert("RGBA" if mode == "RGBA" else "RGB")
    img = img.convert(mode) if mode != "I;16" else img.convert("L").convert("I;16")
    path = tmp_path / ("x.tif" if mode in ("CMYK", "I;16") else "x.png")
    img.save(path)
    out = load_rgb(path)
    assert out.mode == "RGB" and out.size == (30, 20)


def test_empty_content_folder_and_unmatched_glob_are_errors(tmp_path):
    from vangogh_lightning.core.images import expand_images

    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="content=.*empty: the folder holds no image files"):
        expand_images(tmp_path / "empty")
    with pytest.raises(UserError, match=r"content=.*\*.jpg: the pattern matches no image files"):
        expand_images(str(tmp_path / "*.jpg"))


@pytest.mark.e2e
def test_bf16_mixed_precision_runs_and_still_lowers_the_loss(tmp_path, shared_data):
    cfg = cfg_for(tmp_path, shared_data / "photos/photo-06.jpg", shared_data / STARRY, "backbone=alexnet",
                  "precision=bf16-mixed")
    stylize(cfg)
    record = result_json(tmp_path, "photo-06", "alexnet")
    assert record["final_losses"]["total"] < 0.5 * record["content_image_losses"]["total"]


def test_batch_size_auto_is_one_on_cpu_and_rejects_nonsense():
    from vangogh_lightning.style.plan import batch_size_for

    assert batch_size_for("auto", torch.device("cpu")) == 1
    assert batch_size_for(3, torch.device("cpu")) == 3
    for bad in (0, -2, "four", True):
        with pytest.raises(UserError, match=f"batch_size={bad}"):
            batch_size_for(bad, torch.device("cpu"))


def test_batch_size_auto_on_cuda_fits_half_the_free_memory_and_stops_at_eight():
    from vangogh_lightning.style.plan import batch_size_for

    gib, cuda = 2**30, torch.device("cuda")
    assert batch_size_for("auto", cuda, 512 * 512, free_bytes=78 * gib) == 8  # an idle H100
    assert batch_size_for("auto", cuda, 512 * 512, free_bytes=8 * gib) == 4
    assert batch_size_for("auto", cuda, 1024 * 1024, free_bytes=8 * gib) == 1
    assert batch_size_for("auto", cuda, 2048 * 2048, free_bytes=1 * gib) == 1  # never zero
    assert batch_size_for(16, cuda, 2048 * 2048, free_bytes=1 * gib) == 16  # a number is obeyed


def test_layers_and_weights_are_chosen_by_name_from_the_command_line(tmp_path, shared_data):
    cfg = cfg_for(tmp_path, shared_data / "photos/photo-07.jpg", shared_data / STARRY, "steps=1",
                  "backbone.style_layers=[conv1_1,relu3_1]", "backbone.style_layer_weights=[1.0,0.5]")
    stylize(cfg)
    assert result_json(tmp_path, "photo-07", "vgg19")["config"]["backbone"]["style_layers"] == ["conv1_1", "relu3_1"]
    bad = cfg_for(tmp_path / "b", shared_data / "photos/photo-07.jpg", shared_data / STARRY,
                  "backbone.style_layers=[conv1_1,conv2_1]", "backbone.style_layer_weights=[1.0]")
    with pytest.raises(UserError, match="style_layer_weights has 1 value.*2 layer"):
        stylize(bad)


def test_output_names_keep_dotted_stems_and_repeated_stems_get_a_suffix(tmp_path):
    from vangogh_lightning.style.plan import plan_outputs

    plans = plan_outputs([Path("a/photo.v2.jpg"), Path("b/photo.v2.png"), Path("c/photo.jpg")],
                         tmp_path, "vgg19")
    names = [p["image"].name for p in plans]
    assert names == ["photo.v2_vgg19.png", "photo.v2-2_vgg19.png", "photo_vgg19.png"]
    assert plans[0]["json"].name == "photo.v2_vgg19.json"
    assert plans[0]["sheet"].name == "photo.v2_vgg19_sheet.png"


# --- loss balance does not depend on the scale of the network's activations -------------------
REPORT_LAYERS = {"vgg19": (["conv4_2"], ["conv1_1", "conv2_1", "conv3_1", "conv4_1"]),
                 "alexnet": (["conv4"], ["conv1", "conv2", "conv3"])}


def _rescale_layer_by_layer(extractor: FeatureExtractor, seed: int, choices=(0.125, 0.25, 4.0, 8.0)) -> list[float]:
    """Scale conv l's weights by a_l and its bias by a_1...a_l: every activation of layer l becomes
    exactly a_1...a_l times the original (ReLU and max pooling are positively homogeneous).
    Powers of two scale floats exactly, so a whole optimisation can be compared to the last digits."""
    rng = np.random.default_rng(seed)
    factors, running = [], 1.0
    for module in extractor.body:
        if isinstance(module, torch.nn.Conv2d):
            a = float(rng.choice(choices))
            running *= a
            module.weight.mul_(a)
            module.bias.mul_(running)
            factors.append(running)
    return factors


def _stylize_with(extractor: FeatureExtractor, content: torch.Tensor, style: torch.Tensor, backbone: str,
                  steps: int = 12) -> torch.Tensor:
    import lightning as L

    from vangogh_lightning.style.module import StyleTransfer

    content_layers, style_layers = REPORT_LAYERS[backbone]
    with torch.no_grad():
        grams = {n: gram_matrix(extractor(style)[n]) for n in style_layers}
    module = StyleTransfer(extractor, content, grams, {n: 1.0 for n in content_layers},
                           dict(zip(style_layers, [1.0, 0.75, 0.2, 0.2])), content.clone(), steps,
                           content_weight=1.0, style_weight=10.0, tv_weight=1.0)
    trainer = L.Trainer(max_epochs=1, max_steps=steps, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(module)
    return module.result()


def _photo(path: Path) -> torch.Tensor:
    img = load_rgb(path, max_side=64).resize((64, 48))
    return torch.from_numpy(np.array(img)).permute(2, 0, 1).float().div(255)[None]


@pytest.mark.parametrize("backbone", [pytest.param("vgg19", marks=pytest.mark.e2e), "alexnet"])
def test_the_result_is_the_same_whatever_the_scale_of_each_layers_activations(backbone, shared_data):
    torch.manual_seed(0)
    content_layers, style_layers = REPORT_LAYERS[backbone]
    plain = FeatureExtractor(backbone, [*content_layers, *style_layers], pretrained=False)
    scaled = FeatureExtractor(backbone, [*content_layers, *style_layers], pretrained=False)
    scaled.load_state_dict(plain.state_dict())
    factors = _rescale_layer_by_layer(scaled, seed=1)
    assert max(factors) / min(factors) > 100  # activations on very different scales per layer
    content, style = _photo(shared_data / "photos/photo-00.jpg"), _photo(shared_data / STARRY)
    with torch.no_grad():  # the premise: every activation of a layer really is rescaled by its factor
        a, b = plain(content), scaled(content)
        deepest = content_layers[0]
        conv_index = [n for n in plain.names if n.startswith("conv")].index(deepest)
        assert torch.allclose(b[deepest], a[deepest] * factors[conv_index], rtol=1e-3, atol=1e-6 * factors[conv_index])
    out_plain = _stylize_with(plain, content, style, backbone)
    out_scaled = _stylize_with(scaled, content, style, backbone)
    assert (out_plain - content).abs().mean() > 0.01  # it did stylize
    assert torch.allclose(out_plain, out_scaled, atol=1e-4), (out_plain - out_scaled).abs().max()


@pytest.mark.parametrize("backbone", ["vgg19", "alexnet"])
def test_any_positive_rescaling_leaves_the_loss_and_its_gradient_unchanged(backbone, shared_data):
    from vangogh_lightning.style.module import StyleTransfer

    content_layers, style_layers = REPORT_LAYERS[backbone]
    plain = FeatureExtractor(backbone, [*content_layers, *style_layers], pretrained=False)
    scaled = FeatureExtractor(backbone, [*content_layers, *style_layers], pretrained=False)
    scaled.load_state_dict(plain.state_dict())
    _rescale_layer_by_layer(scaled, seed=2, choices=(0.05, 0.3, 3.7, 25.0))
    content, style = _photo(shared_data / "photos/photo-00.jpg"), _photo(shared_data / STARRY)
    probe = (0.7 * content + 0.3 * style).requires_grad_(True)
    results = []
    for net in (plain, scaled):
        with torch.no_grad():
            grams = {n: gram_matrix(net(style)[n]) for n in style_layers}
        module = StyleTransfer(net, content, grams, {n: 1.0 for n in content_layers},
                               {n: 1.0 for n in style_layers}, content, 1, style_weight=10.0, tv_weight=0.0)
        total = module.losses(probe)["total"].sum()
        (grad,) = torch.autograd.grad(total, probe)
        results.append((total.detach(), grad))
    (loss_a, grad_a), (loss_b, grad_b) = results
    assert loss_b.item() == pytest.approx(loss_a.item(), rel=1e-4)
    assert torch.allclose(grad_a, grad_b, rtol=1e-3, atol=1e-3 * grad_a.abs().max().item())


def test_style_transfer_loads_only_the_features_of_a_full_weights_file(tmp_path):
    from torchvision import models

    full = models.alexnet(weights=None).state_dict()  # a torchvision-format file, classifier included
    torch.save(full, tmp_path / "alexnet.pth")
    ex = FeatureExtractor("alexnet", ["conv2"], pretrained=True, weights_path=str(tmp_path / "alexnet.pth"))
    assert torch.equal(ex.body[0].weight, full["features.0.weight"])
    assert torch.equal(ex.body[3].weight, full["features.3.weight"])


def test_random_vgg19_features_are_initialised_like_torchvision_without_building_the_classifier():
    torch.manual_seed(0)
    ex = FeatureExtractor("vgg19", ["conv1_1", "conv4_2"], pretrained=False)
    first = ex.body[0].weight
    fan_out = first.shape[0] * first.shape[2] * first.shape[3]
    assert first.std().item() == pytest.approx((2 / fan_out) ** 0.5, rel=0.15)  # Kaiming normal, fan-out
    assert not ex.body[0].bias.any()


def test_multiscale_runs_coarse_to_fine_and_frees_each_coarse_scale_before_the_next(tmp_path, shared_data):
    import weakref

    from lightning.pytorch.callbacks import Callback

    modules, alive_at_start = [], []

    class Recorder(Callback):
        def on_train_start(self, trainer, module):
            alive_at_start.append([ref() is not None for _, ref in modules])  # earlier scales, no gc here
            modules.append((tuple(module.image.shape[-2:]), weakref.ref(module)))

    cfg = cfg_for(tmp_path, shared_data / "photos/tubingen.jpg", shared_data / STARRY, "size=96", "multiscale=true",
                  "min_scale=48", "steps=2")
    result, last, scales = engine_for(cfg, callbacks=[Recorder()]).run_batch(
        [_item(shared_data / "photos/tubingen.jpg", tmp_path, side=96)])
    assert scales == [48, 96] and max(result.shape[-2:]) == 96
    (coarse_shape, _), (fine_shape, fine) = modules
    assert max(coarse_shape) == 48 and max(fine_shape) == 96 and fine() is last
    # when the fine scale starts, the coarse scale's module (features, L-BFGS state) is already gone
    assert alive_at_start == [[], [False]]


@pytest.mark.parametrize("source, size, advice, not_advised", [
    ((40, 40), 16, "; raise size= to at least 32", "crop"),  # no crop can help below 32 px
    ((600, 20), 512, "crop it to an aspect ratio of at most 16:1 (then size=512 works) or use an image at least "
                     "32 px on its short side", "raise size"),
    ((960, 40), 512, "or raise size= to at least 768", "use an image"),
])
def test_an_image_too_thin_to_stylize_gets_advice_that_would_work(source, size, advice, not_advised):
    from vangogh_lightning.style.plan import check_not_too_thin

    with pytest.raises(UserError) as err:
        check_not_too_thin(Path("x.jpg"), source, size, "vgg19")
    assert advice in str(err.value) and not_advised not in str(err.value), str(err.value)


def _noise_image(path: Path, seed: int, size=(48, 40)) -> Path:
    pixels = np.random.default_rng(seed).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return path


def test_stylize_prints_log_friendly_progress_with_how_long_is_left(tmp_path, capsys):
    """Outside a terminal (or with the bar off) a line every log_progress.every_s seconds, and one per image, each
    with how long the scale and the run still take: train.py's LogProgress, not minutes of silence in a log."""
    photos = [_noise_image(tmp_path / "photos" / f"{name}.png", seed) for seed, name in enumerate("ab")]
    style = _noise_image(tmp_path / "style.png", 7)
    stylize(cfg_for(tmp_path, tmp_path / "photos", style, "steps=45", "log_progress.every_s=0"))  # 20 a line
    lines = capsys.readouterr().out.splitlines()
    first = [line for line in lines if line.startswith("[a.png, image 1 of 2] 64x53 px step ")]
    assert [line.split(" step ")[1].split(" ")[0] for line in first] == ["20/45", "40/45", "45/45"]
    assert all(" steps/s | scale left <= " in line and "run left" not in line for line in first)
    second = [line for line in lines if line.startswith("[b.png, image 2 of 2]")]
    assert len(second) == 3 and all(" | run left about " in line for line in second)  # after one image finished
    done = [line for line in lines if " -> " in line]
    assert [line.split(" -> ")[0] for line in done] == [str(p) for p in photos]
    assert " | image 1 of 2 in " in done[0] and " | run left about " in done[0]
    assert " | image 2 of 2 in " in done[1] and "run left" not in done[1]


def test_stylize_keeps_hydras_record_with_its_outputs(tmp_path, capsys):
    """.hydra/ and stylize.log go to out_dir (not ./outputs/<date>/), one record per command, so a re-run into
    the same folder keeps the first; hydra.run.dir=<folder> alone still puts the outputs there; an out_dir that
    cannot be a folder is still one line."""
    from tests.conftest import run_script

    content, style = _noise_image(tmp_path / "a.png", 0), _noise_image(tmp_path / "style.png", 7)
    out, logs = tmp_path / "out", tmp_path / "logs"
    args = [f"content={content}", f"style={style}", "backbone.pretrained=false", "size=64", "steps=2",
            "progress_bar=false", f"paths.log_dir={logs}"]
    for _ in range(2):
        assert run_script("stylize.py", *args, f"out_dir={out}", "overwrite=true") == 0
    assert (out / "a_vgg19.png").is_file() and len(list((out / ".hydra").glob("*/config.yaml"))) == 2
    assert (out / "stylize.log").is_file() and not logs.exists()
    assert run_script("stylize.py", *args, f"hydra.run.dir={tmp_path / 'run'}") == 0
    assert (tmp_path / "run" / "a_vgg19.png").is_file() and (tmp_path / "run" / ".hydra").is_dir()
    capsys.readouterr()
    assert run_script("stylize.py", *args, f"out_dir={content}") == 2
    assert capsys.readouterr().err.startswith(f"error: out_dir={content}: is a file, not a folder")


def _fit_tiny(steps: int, per_step: int, lr: float = 1.0):
    """A 64 px AlexNet transfer of random images, ``per_step`` L-BFGS iterations per Lightning step; returns the
    module and, per Lightning step, the losses of the evaluations it made."""
    import lightning as L

    from vangogh_lightning.style.module import StyleTransfer

    torch.manual_seed(0)
    extractor = FeatureExtractor("alexnet", ["conv4", "conv1", "conv2", "conv3"], pretrained=False)
    content, style = torch.rand(2, 1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        grams = {n: gram_matrix(extractor(style)[n]) for n in ("conv1", "conv2", "conv3")}
    module = StyleTransfer(extractor, content, grams, {"conv4": 1.0}, {"conv1": 1.0, "conv2": 1.0, "conv3": 1.0},
                           content, steps, style_weight=10.0, tv_weight=1.0, lr=lr, iterations_per_step=per_step)
    losses: list[list[float]] = []

    class Record(L.Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            losses.append([])

        def on_before_backward(self, trainer, pl_module, loss):
            losses[-1].append(loss.item())

    L.Trainer(max_epochs=1, max_steps=module.fit_steps, accelerator="cpu", logger=False, enable_checkpointing=False,
              enable_progress_bar=False, enable_model_summary=False, callbacks=[Record()]).fit(module)
    return module, losses


def test_a_lightning_step_runs_the_configured_lbfgs_iterations_and_steps_counts_iterations():
    """steps=23 at 10 iterations per Lightning step: 3 Lightning steps of 10, 10 and 3 evaluations, 23 L-BFGS
    iterations in all, and the very path of one iteration per step (the tutorial's max_iter, nothing else)."""
    grouped, losses = _fit_tiny(23, per_step=10)
    assert grouped.fit_steps == 3 and [len(step) for step in losses] == [10, 10, 3]
    state = grouped.trainer.optimizers[0].state[grouped.image]
    assert state["n_iter"] == state["func_evals"] == 23
    single, single_losses = _fit_tiny(23, per_step=1)
    assert single.fit_steps == 23 and sum(single_losses, []) == sum(losses, [])
    assert torch.equal(single.result(), grouped.result())


def test_the_best_iterate_guard_keeps_the_lowest_loss_seen_inside_a_lightning_step():
    """lr=3 blows L-BFGS up after its second evaluation, in the middle of the first Lightning step: the result is
    that image (the lowest loss evaluated), not the last iterate."""
    module, losses = _fit_tiny(30, per_step=10, lr=3.0)
    seen = sum(losses, [])
    assert seen.index(min(seen)) < 9 and seen[-1] > 10 * min(seen)  # the premise: a blow-up after an early best
    result = module.result()
    assert module.evaluate(result)["total"][0] == pytest.approx(min(seen), rel=1e-5)
    assert module.evaluate(module.image)["total"][0] > 10 * min(seen)
