"""Evaluation: fold selection on a real tiny run, classification, the deception table."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from tests.conftest import compose_cfg
from vangogh_lightning.core.errors import UserError
from vangogh_lightning.core.images import load_rgb
from vangogh_lightning.data.transforms import eval_transform
from vangogh_lightning.evaluation.folds.runs import find_fold_runs, run_identity
from vangogh_lightning.evaluation.folds.selection import best_epochs, chance_note, select_fold
from vangogh_lightning.evaluation.judges import delong_interval
from vangogh_lightning.evaluation.plots import draw_fold_curves
from vangogh_lightning.evaluation.table_one.stats import deception_table
from vangogh_lightning.evaluation.tasks import classify, deception, select_folds
from vangogh_lightning.models.classifier import VanGoghClassifier


def evaluate_cfg(tmp_path: Path, task: str, *overrides: str):
    # The suite's shared run logged to W&B: a selection here leaves its run files as they are.
    untagged = ["task.wandb=false"] if task == "select_folds" else []
    return compose_cfg("evaluate", [f"task={task}", *untagged, *overrides], tmp_path / "eval")


def test_fold_selection_picks_the_highest_auroc_and_saves_plots(trained_run, tmp_path):
    cfg = evaluate_cfg(tmp_path, "select_folds", f"task.runs={trained_run}",
                       f"task.selected_dir={tmp_path / 'selected'}")
    chosen = select_folds(cfg)
    table = pd.read_csv(tmp_path / "eval" / "fold_selection.csv")
    best = table.loc[table["auroc"].idxmax()]
    summaries = {json.loads(p.read_text())["fold"]: {**json.loads(p.read_text()), "dir": p.parent}
                 for p in trained_run.rglob("fold_*/summary.json")}
    assert set(table["fold"]) == {0, 1}
    for fold, summary in summaries.items():
        row = table.loc[table["fold"] == fold].iloc[0]
        assert row["auroc"] == pytest.approx(summary["best_score"])
        # the interval: DeLong on the fold's out-of-fold predictions, which are its best epoch's validation
        oof = pd.read_csv(summary["dir"] / "oof_predictions.csv")
        auc, low, high = delong_interval(oof["p_van_gogh"], oof["label"])
        assert auc == pytest.approx(row["auroc"], abs=1e-4) and (row["auroc_low"], row["auroc_high"]) == (low, high)
        assert 0 <= low <= auc <= high <= 1
    selected = Path(chosen["alexnet"])
    source = summaries[int(best["fold"])]
    assert selected.read_bytes() == (source["dir"] / source["best_checkpoint"]).read_bytes()
    assert (tmp_path / "eval" / "curves_alexnet.png").stat().st_size > 10_000
    assert "± " in (tmp_path / "eval" / "fold_selection.md").read_text()


def test_a_selected_fold_no_better_than_chance_is_flagged_and_one_that_judges_is_not(tmp_path):
    from vangogh_lightning.evaluation.folds.runs import FoldRun

    run = FoldRun(tmp_path, "vgg19", 2, None, pd.DataFrame())
    assert chance_note(run, "vgg19") == ""  # no out-of-fold predictions kept: nothing to say
    labels = [1] * 6 + [0] * 14
    for probabilities, flagged in (([0.49] * 6 + [0.40] * 14, True), ([0.9] * 6 + [0.1] * 14, False)):
        pd.DataFrame({"p_van_gogh": probabilities, "label": labels}).to_csv(tmp_path / "oof_predictions.csv")
        note = chance_note(run, "vgg19")
        assert note.startswith("the selected vgg19 judge is no better than chance: at threshold 0.50 it calls no ") \
            if flagged else note == ""


def test_the_curves_show_each_fold_per_metric_on_whole_epochs(trained_run):
    import matplotlib.pyplot as plt

    runs, _ = find_fold_runs([trained_run])
    fig = draw_fold_curves(runs, "alexnet")
    loss, auroc, f1 = fig.axes
    assert [ax.get_title() for ax in fig.axes] == ["alexnet: loss", "alexnet: AUROC", "alexnet: F1"]
    assert [line.get_label() for line in loss.lines] == ["fold 0 training", "fold 0 validation", "fold 1 training",
                                                         "fold 1 validation"]
    assert [(line.get_linestyle(), line.get_marker()) for line in loss.lines] == [("--", "x"), ("-", "o")] * 2
    assert [len(ax.lines) for ax in (auroc, f1)] == [2, 2]
    assert auroc.get_ylim() == f1.get_ylim() == (-0.02, 1.02) and loss.get_ylim()[0] == 0  # whole scales
    last = max(int(r.epochs["epoch"].max()) for r in runs)
    assert all(ax.get_xlim() == (-0.5, last + 0.5) for ax in fig.axes)  # (one epoch: not a ±0.05 axis)
    for ax in fig.axes:
        low, high = ax.get_xlim()
        shown = [t for t in ax.get_xticks() if low <= t <= high]
        assert len(shown) >= 2 and all(float(t).is_integer() for t in shown)  # epochs, not 0.2 steps
    plt.close(fig)


def test_fold_selection_refuses_folds_trained_on_different_data_naming_the_difference(trained_run, tmp_path):
    from vangogh_lightning.data.record import record_digest

    other = tmp_path / "other"  # fold 1 again, as if trained with one image in the other fold
    shutil.copytree(trained_run / "fold_1", other / "fold_1", ignore=shutil.ignore_patterns("wandb", "tensorboard"))
    summary = json.loads((other / "fold_1" / "summary.json").read_text())
    ckpt = other / "fold_1" / summary["best_checkpoint"]
    raw = torch.load(ckpt, map_location="cpu", weights_only=True)
    record = raw["VanGoghDataModule"]["data_record"]
    moved, was = record["filename"][0], record["split"][0]
    record["split"][0] = "1" if was == "0" else "0"
    torch.save(raw, ckpt)
    (other / "fold_1" / "summary.json").write_text(json.dumps({**summary, "data": record_digest(record)}))
    cfg = evaluate_cfg(tmp_path, "select_folds", f"task.runs=[{trained_run},{other}]",
                       f"task.selected_dir={tmp_path / 'selected'}")
    with pytest.raises(UserError, match=rf"task.runs: .* were trained on different data or splits \({moved} was in "
                                        rf"split {was}, now {record['split'][0]}\)"):
        select_folds(cfg)
    assert not (tmp_path / "selected").exists()


def test_folds_trained_with_a_cache_in_another_folder_are_one_model_but_not_without_it(tmp_path):
    def identity(*overrides: str, feature_cache: bool | str = True) -> str:
        run = tmp_path / str(len(list(tmp_path.iterdir())))
        (run / ".hydra").mkdir(parents=True)
        (run / ".hydra" / "overrides.yaml").write_text("".join(f"- {o}\n" for o in overrides))
        (run / ".hydra" / "config.yaml").write_text(
            f"data:\n  num_folds: 5\n  input_cache: true\n  feature_cache: {feature_cache}\n")
        return run_identity(run)[0]

    plain = identity("model.lr=0.001", "fold=0")
    assert identity("model.lr=0.001", "fold=1", "data.num_workers=4") == plain == "model.lr=0.001"
    moved = identity("model.lr=0.001", "data.feature_cache=/scratch/a", feature_cache="/scratch/a")
    assert moved == plain
    off = identity("model.lr=0.001", "data.feature_cache=false", feature_cache=False)
    assert off == "model.lr=0.001 data.feature_cache=false" != plain
    assert identity("model.lr=0.01") != plain


def test_fold_selection_refuses_to_replace_a_selected_checkpoint(trained_run, tmp_path):
    sel = tmp_path / "selected"
    sel.mkdir()
    (sel / "alexnet.ckpt").write_bytes(b"earlier")
    cfg = evaluate_cfg(tmp_path, "select_folds", f"task.runs={trained_run}", f"task.selected_dir={sel}")
    with pytest.raises(UserError, match="alexnet.ckpt: already exists .*; pass overwrite=true"):
        select_folds(cfg)
    assert (sel / "alexnet.ckpt").read_bytes() == b"earlier"


def test_a_fold_trained_to_the_lowest_validation_loss_is_read_at_that_epoch(tmp_path):
    """The report's reproduction keeps the lowest-loss epoch: fold selection reads that epoch, not the
    best-AUROC one, so its row describes the weights of the fold's checkpoint."""
    from vangogh_lightning.evaluation.folds.runs import FoldRun

    epochs = pd.DataFrame({"epoch": [0, 1, 2], "val/loss": [0.6, 0.3, 0.4], "val/auroc": [0.7, 0.8, 0.9],
                           "val/f1": [0.5, 0.6, 0.7], "val/acc": [0.6, 0.7, 0.8], "val/bal_acc": [0.6, 0.7, 0.8]})
    by_loss = FoldRun(tmp_path, "alexnet", 0, None, epochs, monitor="val/loss", mode="min")
    by_auroc = FoldRun(tmp_path, "alexnet", 1, None, epochs)
    table = best_epochs([by_loss, by_auroc])
    assert table["best_epoch"].tolist() == [1, 2] and table["loss"].tolist() == [0.3, 0.4]


def test_combined_rule_balances_auroc_f1_and_loss():
    # fold 0: best AUROC only; fold 1: close AUROC, best F1 and loss -> mean rank 4/3 wins
    table = pd.DataFrame({"auroc": [0.95, 0.94, 0.80], "f1": [0.60, 0.90, 0.85],
                          "loss": [0.50, 0.30, 0.35]})
    assert select_fold(table, "auroc") == 0
    assert select_fold(table, "combined") == 1
    with pytest.raises(UserError, match="rule=best: choose one of auroc, combined"):
        select_fold(table, "best")


def test_best_epoch_is_the_epoch_of_highest_auroc(trained_run):
    from vangogh_lightning.evaluation.folds.runs import find_fold_runs

    runs, warnings = find_fold_runs([trained_run])
    assert not warnings
    table = best_epochs(runs)
    for run, (_, row) in zip(sorted(runs, key=lambda r: r.fold), table.iterrows()):
        epochs = run.epochs.dropna(subset=["val/auroc"])
        assert row["auroc"] == epochs["val/auroc"].max()


def test_no_runs_found_is_a_clear_error(tmp_path):
    cfg = evaluate_cfg(tmp_path, "select_folds", f"task.runs={tmp_path}")
    with pytest.raises(UserError, match="no finished folds found"):
        select_folds(cfg)


def test_classify_gives_the_probabilities_of_the_model_in_memory(trained_run, tmp_path, shared_data, capsys):
    ckpt = trained_run / "fold_0" / "checkpoints" / "best.ckpt"
    images = sorted((shared_data / "paintings").glob("*.jpg"))[:4]
    cfg = evaluate_cfg(tmp_path, "classify", f"task.checkpoint={ckpt}",
                       f"task.images=[{','.join(map(str, images))}]", "device=cpu")
    table = classify(cfg)
    assert f"classifier: alexnet (fold 0, {ckpt})" in capsys.readouterr().out  # which one judged
    model = VanGoghClassifier.load_from_checkpoint(ckpt, pretrained=False, map_location="cpu").eval()
    batch = torch.stack([eval_transform(64)(load_rgb(p, max_side=256)) for p in images])
    expected = model.predict_proba(batch).tolist()
    assert table["p_van_gogh"].tolist() == pytest.approx(expected, abs=1e-6)
    saved = pd.read_csv(tmp_path / "eval" / "predictions.csv")
    assert saved["image"].tolist() == [str(p) for p in images]


def test_classify_rejects_missing_and_foreign_checkpoints(tmp_path):
    cfg = evaluate_cfg(tmp_path, "classify", f"task.checkpoint={tmp_path / 'x.ckpt'}",
                       f"task.images={tmp_path}")
    with pytest.raises(UserError, match="task.checkpoint=.*x.ckpt: checkpoint not found"):
        classify(cfg)
    torch.save({"state_dict": {}, "hyper_parameters": {"lr": 1}}, tmp_path / "other.ckpt")
    cfg.task.checkpoint = str(tmp_path / "other.ckpt")
    with pytest.raises(UserError, match="not a vangogh-lightning classifier checkpoint"):
        classify(cfg)


def test_deception_table_equals_a_hand_count():
    verdicts = pd.DataFrame({
        "transfer": ["vgg19"] * 4 + ["alexnet"] * 5,
        "vgg19":   [True, False, False, True,   True, True, False, False, True],
        "alexnet": [True, True, False, False,   True, True, True, False, False],
    })
    table = deception_table(verdicts)
    assert table.loc["VGG19 identified as Van Gogh", "vgg19 transfer"] == 2 / 4
    assert table.loc["AlexNet identified as Van Gogh", "vgg19 transfer"] == 2 / 4
    assert table.loc["Both models agreed", "vgg19 transfer"] == 1 / 4
    assert table.loc["VGG19 identified as Van Gogh", "alexnet transfer"] == 3 / 5
    assert table.loc["AlexNet identified as Van Gogh", "alexnet transfer"] == 3 / 5
    assert table.loc["Both models agreed", "alexnet transfer"] == 2 / 5
    assert table.loc["Only one of them"].tolist() == [2 / 4, 2 / 5]
    assert table.loc["Neither"].tolist() == [1 / 4, 1 / 5]
    assert table.loc["images"].tolist() == [4, 5]


def test_deception_task_writes_table_csv_and_grid_and_checks_backbones(trained_run, tmp_path, shared_data):
    alex = trained_run / "fold_0" / "checkpoints" / "best.ckpt"
    for name, folder in (("vgg", "report-vgg19"), ("alex", "report-alexnet")):
        (tmp_path / name).mkdir()
        for p in sorted((shared_data / "reference-outputs" / folder).glob("*.jpg"))[:3]:
            shutil.copy(p, tmp_path / name / p.name)
    # The only trained classifier is an AlexNet: using it as the VGG19 judge must be refused.
    cfg = evaluate_cfg(tmp_path, "deception", f"task.classifiers.vgg19={alex}",
                       f"task.classifiers.alexnet={alex}", f"task.stylized.vgg19={tmp_path / 'vgg'}",
                       f"task.stylized.alexnet={tmp_path / 'alex'}", "device=cpu")
    with pytest.raises(UserError, match="task.classifiers.vgg19=.*holds a alexnet classifier, expected vgg19"):
        deception(cfg)


def test_deception_task_table_matches_its_own_per_image_verdicts(trained_run, tmp_path, shared_data):
    alex = trained_run / "fold_0" / "checkpoints" / "best.ckpt"
    vgg = VanGoghClassifier(backbone="vgg19", pretrained=False)
    vgg_ckpt = tmp_path / "vgg19.ckpt"
    torch.save({"state_dict": vgg.state_dict(), "hyper_parameters": dict(vgg.hparams),
                "datamodule_hyper_parameters": {"image_size": 64}}, vgg_ckpt)
    refs = shared_data / "reference-outputs"
    cfg = evaluate_cfg(tmp_path, "deception", f"task.classifiers.vgg19={vgg_ckpt}",
                       f"task.classifiers.alexnet={alex}",
                       f"task.stylized.vgg19={refs / 'report-vgg19'}",
                       f"task.stylized.alexnet={refs / 'report-alexnet'}", "device=cpu",
                       "task.threshold=0.5")
    table = deception(cfg)
    verdicts = pd.read_csv(tmp_path / "eval" / "verdicts.csv")
    assert len(verdicts) == 20
    for transfer in ("vgg19", "alexnet"):
        rows = verdicts[verdicts["transfer"] == transfer]
        col = f"{transfer} transfer"
        assert table.loc["VGG19 identified as Van Gogh", col] == (rows["p_vgg19"] >= 0.5).mean()
        assert table.loc["AlexNet identified as Van Gogh", col] == (rows["p_alexnet"] >= 0.5).mean()
        both = (rows["p_vgg19"] >= 0.5) & (rows["p_alexnet"] >= 0.5)
        assert table.loc["Both models agreed", col] == both.mean()
    assert "Both models agreed" in (tmp_path / "eval" / "deception.md").read_text()
    assert (tmp_path / "eval" / "verdicts.png").stat().st_size > 10_000


def test_two_selections_each_keep_their_own_folder_and_latest_points_at_the_newest(trained_run, tmp_path):
    latest = tmp_path / "outputs" / "selected"
    picked = []
    for name in ("first", "second"):  # the defaults, run twice: no overwrite=true needed
        cfg = compose_cfg("evaluate", ["task=select_folds", f"task.runs={trained_run}", f"task.latest={latest}",
                                       "task.wandb=false"],
                          tmp_path / name)
        assert cfg.task.selected_dir == str(tmp_path / name / "selected")
        picked.append(Path(select_folds(cfg)["alexnet"]))
    assert picked == [tmp_path / name / "selected" / "alexnet.ckpt" for name in ("first", "second")]
    assert all(p.is_file() for p in picked)
    assert latest.is_symlink() and latest.resolve() == (tmp_path / "second" / "selected").resolve()
    assert (latest / "alexnet.ckpt").is_file()


@pytest.mark.e2e
def test_task_test_scores_a_checkpoint_on_the_split_its_run_held_out(tmp_path, trained_run, capsys):
    from tests.conftest import TINY_TRAIN, run_script
    from vangogh_lightning.training.cross_validation import train

    run = tmp_path / "run"
    train(compose_cfg("train", [*TINY_TRAIN, "data.num_folds=2", "fold=0", "data.test_fraction=0.25",
                                "data.synthetic_count=64", "trainer.max_epochs=2", "checkpoints.resume_point=false"],
                      run))
    ckpt = run / "fold_0" / "checkpoints" / "best.ckpt"
    assert run_script("evaluate.py", "task=test", f"task.checkpoint={ckpt}", f"hydra.run.dir={tmp_path / 'eval'}") == 0
    metrics = json.loads((tmp_path / "eval" / "test_metrics.json").read_text())
    predictions = pd.read_csv(tmp_path / "eval" / "test_predictions.csv")
    oof = pd.read_csv(run / "fold_0" / "oof_predictions.csv")
    assert metrics["images"] == len(predictions) == 16 and metrics["positives"] == predictions["label"].sum()
    assert set(predictions["filename"]).isdisjoint(oof["filename"])  # never validated on (nor trained on)
    from scipy.stats import mannwhitneyu  # AUROC = U / (positives x negatives), computed another way

    pos, neg = (predictions.loc[predictions["label"] == k, "p_van_gogh"] for k in (1, 0))
    assert metrics["test/auroc"] == pytest.approx(mannwhitneyu(pos, neg).statistic / (len(pos) * len(neg)))
    assert metrics["test/acc"] == pytest.approx((predictions["predicted"] == predictions["label"]).mean())
    assert (tmp_path / "eval" / "test_curves.png").stat().st_size > 10_000
    # a checkpoint of a run without a held-out split (the shared CV run): one line saying how to get one
    plain = next(trained_run.glob("fold_0/checkpoints/best.ckpt"))
    capsys.readouterr()
    assert run_script("evaluate.py", "task=test", f"task.checkpoint={plain}",
                      f"hydra.run.dir={tmp_path / 'eval2'}") == 2
    assert "its run held no test split out (data.test_fraction=0" in capsys.readouterr().err


@pytest.mark.e2e
def test_task_test_scores_the_files_its_run_held_out_after_a_re_export_and_refuses_a_changed_one(tmp_path, capsys):
    """The held-out split is read from the run's record, not rebuilt from today's classes.csv: rows re-ordered
    and added by a re-export change nothing; a held-out painting replaced (its mtime put back) is refused."""
    import os

    from tests.conftest import run_script
    from tests.test_data import _jpg, make_wikiart
    from vangogh_lightning.training.cross_validation import train

    root = tmp_path / "wikiart"
    csv = make_wikiart(root)
    train(compose_cfg("train", ["model.pretrained=false", "trainer=cpu", f"paths.wikiart_dir={root}",
                                "data.image_size=64", "data.num_folds=2", "fold=0", "data.test_fraction=0.2",
                                "data.num_workers=0", "trainer.max_epochs=1", "trainer.enable_progress_bar=false",
                                "checkpoints.resume_point=false", "model.trainable_classifier_layers=1"],
                      tmp_path / "run"))
    ckpt = tmp_path / "run" / "fold_0" / "checkpoints" / "best.ckpt"

    def scored(name: str) -> pd.DataFrame:
        assert run_script("evaluate.py", "task=test", f"task.checkpoint={ckpt}", f"hydra.run.dir={tmp_path / name}",
                          ) == 0
        return pd.read_csv(tmp_path / name / "test_predictions.csv")

    before = scored("eval")
    assert len(before) == 10
    frame = pd.read_csv(csv)  # a re-export: rows re-ordered, paintings added
    extra = [{**frame.iloc[0].to_dict(), "filename": f"Post_Impressionism/paul-gauguin_new-{i}.jpg",
              "artist": "paul gauguin", "phash": f"new{i}"} for i in range(4)]
    for row in extra:
        _jpg(root / row["filename"], hash(row["filename"]) % 1000)
    pd.concat([frame.iloc[::-1], pd.DataFrame(extra)]).to_csv(csv, index=False)
    after = scored("eval_after_reexport")
    pd.testing.assert_frame_equal(after, before)
    victim = Path(before["path"].iloc[0])
    stamp = victim.stat()
    _jpg(victim, 4242)
    os.utime(victim, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    capsys.readouterr()
    assert run_script("evaluate.py", "task=test", f"task.checkpoint={ckpt}", f"hydra.run.dir={tmp_path / 'e3'}") == 2
    assert capsys.readouterr().err.strip() == (
        f"error: task.checkpoint={ckpt}: the held-out image {victim} has changed since training (other bytes); "
        "restore it, or retrain to test on today's files")


def test_roc_and_pr_curves_have_a_point_per_distinct_probability():
    from vangogh_lightning.evaluation.scoring import roc_pr

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 60)
    probs = np.round(rng.random(60), 1)  # ties: one point per distinct threshold
    curves = roc_pr(probs, labels)
    said = probs[None, :] >= np.unique(probs)[::-1, None]  # one row per threshold, falling
    tpr, fpr = said[:, labels == 1].mean(1), said[:, labels == 0].mean(1)
    precision = (said & (labels == 1)).sum(1) / said.sum(1)
    assert curves["roc"][0] == pytest.approx([0, *fpr]) and curves["roc"][1] == pytest.approx([0, *tpr])
    assert curves["pr"][0] == pytest.approx([*tpr[::-1], 0]) and curves["pr"][1] == pytest.approx([*precision[::-1], 1])


def test_a_perfect_and_a_useless_classifier_have_the_known_curves():
    from vangogh_lightning.evaluation.scoring import roc_pr

    perfect = roc_pr(np.array([0.9, 0.8, 0.2, 0.1]), np.array([1, 1, 0, 0]))
    assert perfect["roc"] == ([0.0, 0.0, 0.0, 0.5, 1.0], [0.0, 0.5, 1.0, 1.0, 1.0])
    assert np.trapezoid(perfect["roc"][1], perfect["roc"][0]) == 1.0
    constant = roc_pr(np.full(4, 0.5), np.array([1, 0, 1, 0]))
    assert constant["roc"] == ([0.0, 1.0], [0.0, 1.0]) and constant["pr"] == ([1.0, 0.0], [0.5, 1.0])
