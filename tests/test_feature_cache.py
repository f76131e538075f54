"""data.feature_cache: the frozen prefix runs once per image and view, and the classifier sees what it would
have computed itself (to fp16 storage's precision)."""

from __future__ import annotations

import io
import math
import os
import shutil
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch

from vangogh_lightning.core.errors import UserError
from vangogh_lightning.data.datamodule import VanGoghDataModule
from vangogh_lightning.data.feature_cache import CachedFeatures, view_seed
from vangogh_lightning.models.classifier import VanGoghClassifier
from vangogh_lightning.training.feature_cache import FrozenFeatureCache

SIZE = 64  # AlexNet's smallest input is 63 px
# fp16 keeps 11 significant bits: each stored value is within 2^-11 of itself, relatively
FP16_RELATIVE = 2.0**-11


def data(cache: Path | bool, **kw) -> VanGoghDataModule:
    settings = dict(source="synthetic", synthetic_count=24, synthetic_render_size=SIZE, num_folds=2, image_size=SIZE,
                    batch_size=4, num_workers=0, input_cache=False, feature_cache=str(cache) if cache else False)
    return VanGoghDataModule(**{**settings, **kw})


def fit(cache: Path | bool, epochs: int = 2, trainable: int = 6, seed: int = 0, lr: float = 1e-4,
        limit: int | float = 1.0, resume: Path | None = None, callbacks: tuple = (), validate: bool = True,
        trainer_settings: dict | None = None, compile: bool = False,
        **kw) -> tuple[VanGoghDataModule, VanGoghClassifier]:
    L.seed_everything(seed)
    dm = data(cache, **kw)
    model = VanGoghClassifier("alexnet", pretrained=False, trainable_feature_modules=trainable, lr=lr, compile=compile)
    trainer = L.Trainer(max_epochs=epochs, accelerator="cpu", logger=False, enable_checkpointing=bool(callbacks),
                        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
                        limit_train_batches=limit, limit_val_batches=1.0 if validate else 0,
                        callbacks=[FrozenFeatureCache(), *callbacks], **(trainer_settings or {}))
    trainer.fit(model, datamodule=dm, ckpt_path=resume)
    return dm, model


def plain_split(**kw) -> VanGoghDataModule:
    dm = data(False, **kw)
    dm.setup("fit")
    return dm


def disk_blocks(folder: Path) -> tuple[int, int]:
    """(bytes on disk of an AlexNet entry at 64 px: conv3's 384 x 3 x 3 in fp16 and a header; of a subfolder)."""
    block = os.statvfs(folder).f_frsize
    return math.ceil((2 * 384 * 3 * 3 + 128) / block) * block, block


def entries(folder: Path) -> int:
    return len(list(folder.glob("*/*/*.npy")))


def test_validation_reads_stored_features_and_scores_as_the_whole_network_does(tmp_path):
    dm, model = fit(tmp_path / "features")
    assert model.input_depth == 8 and isinstance(dm.val_set, CachedFeatures)  # AlexNet: conv1..relu3 frozen
    model.eval()
    with torch.no_grad():
        cached = model(torch.stack([dm.val_set[i][0] for i in range(len(dm.val_set))]))
        stored = torch.stack([dm.val_set[i][0] for i in range(len(dm.val_set))]).float()
        images = torch.stack([x for x, _ in plain_split().val_set])
        computed = model.net.features[:8](images)
        model.input_depth = 0
        whole = model(images)
    assert dm.val_set[0][0].dtype == torch.float16  # (stored so; the classifier computes in its own dtype)
    assert torch.allclose(stored, computed, rtol=FP16_RELATIVE, atol=1e-6)
    # what fp16 storage leaves of the probabilities, at fp32 (measured: ~1e-6 here; 2e-4 is the bound tested)
    assert (torch.sigmoid(cached) - torch.sigmoid(whole)).abs().max() < 2e-4


def test_a_stored_training_view_is_the_training_transform_under_its_seed_through_the_frozen_prefix(tmp_path):
    dm, model = fit(tmp_path / "features", epochs=2)
    plain = plain_split()
    rows = plain.train_set.frame
    for i in (0, 5):
        for view in (0, 1):
            image = plain.train_set.view(i, view_seed(rows.iloc[i], view, dm.hparams.feature_cache_seed))
            with torch.no_grad():
                expected = model.net.features[:8](image[None])[0]
            stored = dm.train_set[(i, view)][0].float()
            assert torch.allclose(stored, expected, rtol=FP16_RELATIVE, atol=1e-6)
    assert not torch.equal(dm.train_set[(0, 0)][0], dm.train_set[(0, 1)][0])  # two draws of the augmentation


def test_epoch_e_reads_view_e_mod_views_and_a_run_stores_only_those(tmp_path, monkeypatch):
    drawn = []
    prepare = FrozenFeatureCache._prepare
    monkeypatch.setattr(FrozenFeatureCache, "_prepare", lambda self, images, view: (drawn.append(view),
                                                                                     prepare(self, images, view)))
    dm, _ = fit(tmp_path / "features", epochs=3, feature_cache_views=2)
    assert drawn == [0, 1, 0]
    assert entries(tmp_path / "features") == 2 * len(dm.train_set) + len(dm.val_set)


def test_a_resumed_fit_reads_the_views_of_its_own_epochs(tmp_path, monkeypatch):
    from lightning.pytorch.callbacks import ModelCheckpoint

    # as the product saves last.ckpt: at the end of each training epoch; after an epoch without validation
    # (trainer.check_val_every_n_epoch), with loader workers, Lightning draws the resumed epoch's order before it
    # moves current_epoch on
    last = ModelCheckpoint(dirpath=tmp_path, filename="last", monitor=None, save_on_train_epoch_end=True)
    fit(tmp_path / "features", epochs=1, feature_cache_views=3, num_workers=2, callbacks=(last,), validate=False)
    shutil.rmtree(tmp_path / "features")  # (deleted, or another machine's folder)
    drawn = []
    prepare = FrozenFeatureCache._prepare
    monkeypatch.setattr(FrozenFeatureCache, "_prepare", lambda self, images, view: (drawn.append(view),
                                                                                     prepare(self, images, view)))
    # room for the 24 entries of the views it draws (each in a new subfolder, at the most), not for 36
    disk_usage, room = shutil.disk_usage, 24 * sum(disk_blocks(tmp_path))
    monkeypatch.setattr(shutil, "disk_usage", lambda path: disk_usage(path)._replace(free=room))
    fit(tmp_path / "features", epochs=3, feature_cache_views=3, num_workers=2, resume=tmp_path / "last.ckpt",
        validate=False)
    assert drawn == [1, 2]


def test_a_limited_epoch_stores_only_the_images_it_reads(tmp_path):
    dm, _ = fit(tmp_path / "features", epochs=1, limit=1)  # one batch of 4
    assert entries(tmp_path / "features") == 4 + len(dm.val_set)


def test_a_warm_cache_computes_nothing_and_trains_the_same_weights_as_the_cold_one(tmp_path, capsys):
    _, cold = fit(tmp_path / "features")
    assert "computed in" in capsys.readouterr().out
    _, warm = fit(tmp_path / "features")
    out = capsys.readouterr().out
    assert "computed in" not in out and f"feature cache: {tmp_path / 'features'}" in out
    for (name, a), b in zip(cold.state_dict().items(), warm.state_dict().values()):
        assert torch.equal(a, b), name


def test_another_freeze_depth_or_other_frozen_weights_store_apart(tmp_path):
    folder = tmp_path / "features"
    fit(folder, epochs=1)
    fit(folder, epochs=1, trainable=4)  # conv5 only: a deeper cut
    fit(folder, epochs=1, seed=1)  # other random weights in the frozen layers
    fit(folder, epochs=1, image_size=72, synthetic_render_size=72)  # another size: other transforms too
    assert len(list(folder.glob("*/about.json"))) == 4


def test_all_features_training_bypasses_the_cache(tmp_path):
    dm, model = fit(tmp_path / "features", epochs=1, trainable=13)
    assert model.input_depth == 0 and not isinstance(dm.val_set, CachedFeatures)
    assert not (tmp_path / "features").exists()


def test_a_folder_that_cannot_be_written_is_a_note_and_the_run_goes_on_uncached(tmp_path, capsys):
    blocker = tmp_path / "features"
    blocker.write_text("a file, not a folder")
    _, model = fit(blocker, epochs=1)
    assert model.input_depth == 0
    assert "cannot be written" in capsys.readouterr().out


def test_a_fit_whose_entries_would_not_fit_on_the_disk_is_refused_before_it_trains(tmp_path, monkeypatch):
    # room for 12 entries, each in a new subfolder; 12 training images x the 2 views of 2 epochs (not the 10 views
    # it could draw) need more
    disk_usage, room = shutil.disk_usage, 12 * sum(disk_blocks(tmp_path))
    monkeypatch.setattr(shutil, "disk_usage", lambda path: disk_usage(path)._replace(free=room))
    with pytest.raises(UserError, match=r"^data.feature_cache: .* needs [\d.]+ MB more \(24 entries: 12 training "
                                        r"images x 2 views this fit draws\), [\d.]+ MB are free there; "):
        fit(tmp_path / "features", feature_cache_views=10)
    assert entries(tmp_path / "features") == 12  # the validation images', stored at the fit's start
    monkeypatch.undo()
    fit(tmp_path / "features", epochs=1)  # stores view 0: the next fit needs only view 1, for which there is room
    monkeypatch.setattr(shutil, "disk_usage", lambda path: disk_usage(path)._replace(free=room))
    fit(tmp_path / "features")
    assert entries(tmp_path / "features") == 36


def test_an_entry_cut_short_is_computed_again_and_a_foreign_one_is_one_line_naming_it(tmp_path):
    dm, _ = fit(tmp_path / "features", epochs=1)
    entry = dm.val_set.paths[0][0]
    good = entry.read_bytes()
    entry.write_bytes(good[:100])
    fit(tmp_path / "features", epochs=1)
    # computed alone, not in a batch of 4: oneDNN's sums depend on the batch, so the fp16 value may be one unit
    # of its last place away
    assert np.allclose(np.load(entry), np.load(io.BytesIO(good)), rtol=2 * FP16_RELATIVE, atol=1e-6)
    entry.write_bytes(b"x" * len(good))  # the right size, not an array
    with pytest.raises(UserError, match=rf"data.feature_cache: {entry} cannot be read .*delete it and run again"):
        fit(tmp_path / "features", epochs=1)


def test_a_true_precision_fills_the_cache_in_the_weights_dtype(tmp_path):
    dm, model = fit(tmp_path / "features", epochs=1, trainer_settings={"precision": "64-true"})
    assert model.input_depth == 8 and model.dtype == torch.float64
    assert model(dm.val_set[0][0][None]).dtype == torch.float64


def test_model_compile_compiles_the_layers_that_train_when_they_read_stored_features(tmp_path, monkeypatch):
    called = []

    def compile(function, **settings):  # (a real torch.compile gives the same fit: checked by hand, 25 s here)
        return lambda *args: (called.append(function.__name__), function(*args))[1]

    monkeypatch.setattr(torch, "compile", compile)
    _, model = fit(tmp_path / "features", epochs=1, compile=True)
    assert model.input_depth == 8 and "_rest" in called
    assert "_call_impl" not in called  # (the whole network's compiled call: never run on stored features)


def test_overfit_batches_runs_uncached_with_a_note(tmp_path, capsys):
    _, model = fit(tmp_path / "features", epochs=1, trainer_settings={"overfit_batches": 1})
    assert model.input_depth == 0
    assert "data.feature_cache is off with trainer.overfit_batches=1" in capsys.readouterr().out
