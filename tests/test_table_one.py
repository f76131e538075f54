"""Table 1 as a result a reviewer accepts: intervals, paired tests, controls, every fold as a judge.

Statistics are checked against known answers (scipy as an independent oracle, hand-computed exact
McNemar p-values); the deception task runs on hand-built run folders (random classifiers, no training).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from scipy import stats

from tests.conftest import built_once, compose_cfg, copy_linking_checkpoints
from vangogh_lightning.evaluation.table_one.build import threshold_curves
from vangogh_lightning.evaluation.table_one.inputs import OOF_OTHERS, OOF_VAN_GOGH, PHOTOS, STYLES
from vangogh_lightning.evaluation.table_one.judge_runs import fold_rates, fold_spread, judge_run
from vangogh_lightning.evaluation.table_one.stats import (
    conditions,
    deception_table,
    judge_tests,
    mcnemar_exact,
    mean_interval,
    rate_rows,
    share_interval,
    transfer_tests,
)
from vangogh_lightning.evaluation.tasks import deception
from vangogh_lightning.models.classifier import VanGoghClassifier
from vangogh_lightning.style.records import STYLIZED_RECORD_KIND


# --- statistics against known answers ------------------------------------------------------------
@pytest.mark.parametrize("method,scipy_method", [("wilson", "wilson"), ("clopper_pearson", "exact")])
def test_a_share_interval_covers_the_true_rate_and_equals_scipys(method, scipy_method):
    true_rate, n = 0.3, 400
    k = int((np.random.default_rng(7).random(n) < true_rate).sum())
    share = share_interval(k, n, 0.95, method)
    reference = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method=scipy_method)
    assert share.low == pytest.approx(reference.low, abs=1e-9)
    assert share.high == pytest.approx(reference.high, abs=1e-9)
    assert share.low < true_rate < share.high and share.share == k / n


def test_every_cell_of_the_table_carries_its_count_and_interval():
    rng = np.random.default_rng(3)
    verdicts = pd.DataFrame({"transfer": ["vgg19"] * 60 + ["alexnet"] * 40,
                             "vgg19": rng.random(100) < 0.4, "alexnet": rng.random(100) < 0.7,
                             "p_vgg19": rng.random(100), "p_alexnet": rng.random(100)})
    rates = rate_rows(verdicts, 0.9, "wilson").set_index(["set", "condition"])
    shares = deception_table(verdicts)
    for name, group in verdicts.groupby("transfer"):
        for condition in conditions():
            row = rates.loc[(f"{name} transfer", condition)]
            assert row["n"] == len(group) and row["k"] / row["n"] == shares.loc[condition, f"{name} transfer"]
            reference = stats.binomtest(int(row["k"]), int(row["n"])).proportion_ci(0.9, method="wilson")
            assert (row["low"], row["high"]) == pytest.approx((reference.low, reference.high), abs=1e-9)
        vgg = rates.loc[(f"{name} transfer", conditions()[0])]
        p = group["p_vgg19"]
        low, high = stats.t.interval(0.9, len(p) - 1, loc=p.mean(), scale=stats.sem(p))
        assert (vgg["mean_p"], vgg["mean_p_low"], vgg["mean_p_high"]) == pytest.approx(
            (group["p_vgg19"].mean(), low, high), abs=1e-9)


def test_a_mean_of_one_value_has_no_interval_and_an_interval_of_probabilities_stays_within_0_and_1():
    mean, low, high = mean_interval([0.4])
    assert mean == 0.4 and math.isnan(low) and math.isnan(high)
    assert mean_interval([0.0, 0.0, 0.01, 0.3])[1] == 0.0 and mean_interval([1.0, 1.0, 0.99, 0.7])[2] == 1.0


@pytest.mark.parametrize("only_first,only_second,p", [(1, 7, 18 / 256), (0, 9, 2 / 512), (3, 3, 1.0), (0, 0, 1.0)])
def test_mcnemar_exact_p_is_the_two_sided_binomial_tail_of_the_discordant_pairs(only_first, only_second, p):
    first = [True] * only_first + [False] * only_second + [True] * 5 + [False] * 4
    second = [False] * only_first + [True] * only_second + [True] * 5 + [False] * 4
    test = mcnemar_exact(first, second)
    assert (test.pairs, test.only_first, test.only_second) == (only_first + only_second + 9, only_first, only_second)
    assert test.p_value == pytest.approx(p, abs=1e-12)


def _paired(only_alexnet: int, only_vgg: int, concordant: int = 6) -> pd.DataFrame:
    """Verdicts of AlexNet and VGG-19 transfers of the same photos, built for a known McNemar p."""
    n = only_alexnet + only_vgg + concordant
    alex = [True] * only_alexnet + [False] * only_vgg + [True, False] * (concordant // 2)
    vgg = [False] * only_alexnet + [True] * only_vgg + [True, False] * (concordant // 2)
    rows = [{"transfer": t, "pair": f"photo{i}", "vgg19": v, "alexnet": v} for t, verdicts in
            (("alexnet", alex), ("vgg19", vgg)) for i, v in enumerate(verdicts)]
    assert len(rows) == 2 * n
    return pd.DataFrame(rows)


def test_the_paired_test_between_transfers_finds_the_known_p_and_says_so_in_a_sentence():
    tests, notes = transfer_tests(_paired(9, 0), ("vgg19", "alexnet"))
    assert not notes and len(tests) == 2
    assert tests["p_value"].tolist() == pytest.approx([2 / 512, 2 / 512], abs=1e-12)
    assert tests["only_first"].tolist() == [9, 9] and tests["only_second"].tolist() == [0, 0]
    assert all("distinguishable from chance at 5 %" in s and "not" not in s for s in tests["sentence"])
    tests, _ = transfer_tests(_paired(1, 7), ("vgg19", "alexnet"))
    assert tests["p_value"].iloc[0] == pytest.approx(18 / 256) and "not distinguishable" in tests["sentence"].iloc[0]


def test_transfers_of_different_photos_get_a_note_instead_of_a_test():
    verdicts = _paired(2, 2)
    verdicts.loc[verdicts["transfer"] == "vgg19", "pair"] += "-other"
    tests, notes = transfer_tests(verdicts, ("vgg19", "alexnet"))
    assert tests.empty and len(notes) == 1 and "share no content photo" in notes[0]


def test_the_judges_are_compared_on_the_same_images_of_each_set():
    verdicts = pd.DataFrame({"set": ["a"] * 10, "vgg19": [True] * 8 + [False] * 2, "alexnet": [False] * 10})
    (row,) = judge_tests(verdicts, ("vgg19", "alexnet")).to_dict("records")
    assert row["pairs"] == 10 and row["only_first"] == 8 and row["p_value"] == pytest.approx(2 / 256)


def test_the_fold_spread_is_the_mean_sd_and_range_of_each_folds_rate():
    frames = [("alexnet", fold, pd.DataFrame({"set": ["s"] * 4, "van_gogh": [True] * k + [False] * (4 - k)}))
              for fold, k in enumerate((1, 2, 4))]
    frames.append(("vgg19", 0, pd.DataFrame({"set": ["s"] * 4, "van_gogh": [True] * 4})))  # one fold: no spread
    spread = fold_spread(fold_rates(frames))
    (row,) = spread.to_dict("records")
    assert row["judge"] == "AlexNet" and row["folds"] == 3
    assert (row["mean"], row["sd"], row["min"], row["max"]) == pytest.approx(
        (np.mean([0.25, 0.5, 1.0]), np.std([0.25, 0.5, 1.0], ddof=1), 0.25, 1.0))


def test_the_threshold_curve_passes_through_the_tables_shares():
    """Read as a step plot (drawstyle steps-pre), the curve at any threshold is the table's share there."""
    rng = np.random.default_rng(0)
    every = pd.DataFrame({"set": ["x"] * 30 + ["y"] * 20, "p_vgg19": rng.random(50), "p_alexnet": rng.random(50)})
    for threshold in (0.25, 0.5, float(every["p_vgg19"].iloc[3])):
        every["vgg19"], every["alexnet"] = every["p_vgg19"] >= threshold, every["p_alexnet"] >= threshold
        curves = threshold_curves(every, ("vgg19", "alexnet"))
        shares = deception_table(every)
        for judge, row in (("vgg19", conditions()[0]), ("alexnet", conditions()[1])):
            for name in ("x", "y"):
                line = curves[(curves["judge"] == judge) & (curves["set"] == name)]
                at = line[line["threshold"] >= threshold].iloc[0]  # the step that covers this threshold
                assert at["rate"] == pytest.approx(shares.loc[row, name])
    assert curves.groupby(["judge", "set"])["rate"].apply(lambda r: r.is_monotonic_decreasing).all()


# --- the runs behind the judges: what is missing is named, never counted -------------------------------
def _fold(run: Path, fold: int, backbone: str, checkpoint: bool = True, oof: bool = True) -> Path:
    folder = run / f"fold_{fold}"
    (folder / "checkpoints").mkdir(parents=True)
    if checkpoint:
        (folder / "checkpoints" / "best.ckpt").write_bytes(b"weights")
    summary = {"backbone": backbone, "fold": fold, "best_checkpoint": "checkpoints/best.ckpt" if checkpoint else None}
    (folder / "summary.json").write_text(json.dumps(summary))
    if oof:
        pd.DataFrame({"filename": [f"p{fold}.jpg"], "path": [f"/x/p{fold}.jpg"], "artist": ["a"], "label": [1],
                      "fold": [fold], "p_van_gogh": [0.7]}).to_csv(folder / "oof_predictions.csv", index=False)
    return folder


def test_a_judges_run_names_every_missing_or_foreign_file(tmp_path):
    run = tmp_path / "run"
    good = _fold(run, 0, "alexnet")
    _fold(run, 1, "alexnet", checkpoint=False, oof=False)
    _fold(run, 2, "vgg19")
    found = judge_run("alexnet", good / "checkpoints" / "best.ckpt")
    assert found.run_dir == run and found.checkpoints == [(0, good / "checkpoints" / "best.ckpt")]
    assert found.oof_files == [good / "oof_predictions.csv"]
    text = "\n".join(found.notes)
    assert f"{run / 'fold_1'}: its best checkpoint (none kept) is missing" in text
    assert f"{run / 'fold_1' / 'oof_predictions.csv'}: missing" in text
    assert f"{run / 'fold_2' / 'summary.json'}: a vgg19 fold in the alexnet judge's run; left out" in text
    assert "1 alexnet fold classifier(s); the fold spread needs two or more" in text


def test_a_selected_checkpoint_leads_back_to_its_run_and_a_stray_file_gets_a_note(tmp_path):
    folder = _fold(tmp_path / "run", 0, "vgg19")
    selected = tmp_path / "selected" / "vgg19.ckpt"
    selected.parent.mkdir()
    os.link(folder / "checkpoints" / "best.ckpt", selected)
    selected.with_suffix(".json").write_text(json.dumps({"source": str(folder / "checkpoints" / "best.ckpt")}))
    assert judge_run("vgg19", selected).run_dir == tmp_path / "run"
    stray = judge_run("vgg19", tmp_path / "elsewhere.ckpt")
    assert stray.run_dir is None and "not a fold checkpoint of train.py" in stray.notes[0]


# --- the whole task on hand-built runs ----------------------------------------------------------------
def _classifier(path: Path, backbone: str, seed: int) -> Path:
    torch.manual_seed(seed)
    model = VanGoghClassifier(backbone=backbone, pretrained=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": model.state_dict(), "hyper_parameters": dict(model.hparams),
                "datamodule_hyper_parameters": {"image_size": 64}}, path)
    return path


@pytest.fixture(scope="session")  # (module scope is torn down when its worker runs another module in between)
def study_like(tmp_path_factory) -> Path:
    """Runs of both backbones (AlexNet: 2 folds, VGG-19: 1), their selections and out-of-fold files, and
    stylize.py-style folders of both transfers of the same 3 photos with one style painting; one for the
    suite (~1 GB of random checkpoints)."""
    return built_once(tmp_path_factory, "study_like", _build_study_like)


def _build_study_like(root: Path) -> None:
    root.mkdir()
    rng = np.random.default_rng(1)
    photos = root / "photos"
    photos.mkdir()
    for i in range(3):
        Image.fromarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)).save(photos / f"photo{i}.png")
    style = root / "paintings" / "vincent-van-gogh_starry.png"
    style.parent.mkdir()
    Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(style)
    oof_paths = [style, *[root / "paintings" / f"other-{i}.png" for i in range(5)]]  # the style painting is in it
    for backbone, folds in (("alexnet", 2), ("vgg19", 1)):
        for fold in range(folds):
            folder = root / "train" / backbone / f"fold_{fold}"
            _classifier(folder / "checkpoints" / "best.ckpt", backbone, seed=fold)
            (folder / "summary.json").write_text(json.dumps({"backbone": backbone, "fold": fold,
                                                             "best_checkpoint": "checkpoints/best.ckpt"}))
            mine = oof_paths[fold::folds]
            pd.DataFrame({"filename": [p.name for p in mine], "path": [str(p) for p in mine], "artist": "a",
                          "label": [int("van-gogh" in p.name) for p in mine], "fold": fold,
                          "p_van_gogh": rng.random(len(mine))}).to_csv(folder / "oof_predictions.csv", index=False)
        selected = root / "selected" / f"{backbone}.ckpt"
        selected.parent.mkdir(exist_ok=True)
        os.link(root / "train" / backbone / "fold_0" / "checkpoints" / "best.ckpt", selected)
        selected.with_suffix(".json").write_text(json.dumps(
            {"source": str(root / "train" / backbone / "fold_0" / "checkpoints" / "best.ckpt")}))
        for folder, judge in ((root / "stylized" / backbone, None), (root / "targeted" / backbone, "alexnet")):
            folder.mkdir(parents=True)
            for photo in sorted(photos.glob("*.png")):
                image = folder / f"{photo.stem}_{backbone}.png"
                Image.fromarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)).save(image)
                record = {"kind": STYLIZED_RECORD_KIND, "image": image.name, "content": str(photo),
                          "style": [str(style)]}
                if judge:  # as stylize.py judge=<alexnet.ckpt> records it
                    record["judge"] = {"backbone": judge, "weight": 1000.0}
                image.with_suffix(".json").write_text(json.dumps(record))


def _deception_cfg(root: Path, out: Path, *extra: str):
    judges = [f"task.classifiers.{b}={root / 'selected' / f'{b}.ckpt'}" for b in ("vgg19", "alexnet")]
    transfers = [f"task.stylized.{b}={root / 'stylized' / b}" for b in ("vgg19", "alexnet")]
    return compose_cfg("evaluate", ["task=deception", f"out_dir={out}", "device=cpu", "task.batch_size=4",
                                    *judges, *transfers, *extra], out)


@pytest.mark.e2e
def test_the_deception_task_adds_intervals_controls_tests_and_the_fold_spread(study_like, tmp_path):
    out = tmp_path / "table"
    shares = deception(_deception_cfg(study_like, out))
    rates = pd.read_csv(out / "deception.csv")
    assert {"set", "condition", "k", "n", "share", "low", "high", "mean_p"} <= set(rates.columns)
    assert list(dict.fromkeys(rates["set"])) == ["vgg19 transfer", "alexnet transfer", PHOTOS, STYLES,
                                                 OOF_VAN_GOGH, OOF_OTHERS]
    assert list(rates["condition"][:5]) == list(conditions())
    for row in rates.itertuples():
        assert row.share == pytest.approx(shares.loc[row.condition, row.set]) and row.low <= row.share <= row.high
    # controls: the unstylized photos and the style painting, at the same threshold as the transfers
    controls = pd.read_csv(out / "controls.csv")
    photos = controls[controls["set"] == PHOTOS]
    assert sorted(Path(p).name for p in photos["image"]) == ["photo0.png", "photo1.png", "photo2.png"]
    for judge in ("vgg19", "alexnet"):
        assert (controls[judge] == (controls[f"p_{judge}"] >= 0.5)).all()
    # out-of-fold paintings: the files' own probabilities, joined across the judges' runs by file name
    oof = controls[controls["set"].isin([OOF_VAN_GOGH, OOF_OTHERS])]
    assert len(oof) == 6 and set(oof.loc[oof["set"] == OOF_VAN_GOGH, "image"]) == {
        str(study_like / "paintings" / "vincent-van-gogh_starry.png")}
    meta = json.loads((out / "deception.json").read_text())
    notes = "\n".join(meta["notes"])
    assert "1 of 1 in the classifiers' training index (vincent-van-gogh_starry.png)" in notes
    assert "1 vgg19 fold classifier(s); the fold spread needs two or more" in notes
    # paired tests: the same 3 photos by both backbones, per judge; the judges compared on every set
    tests = pd.read_csv(out / "deception_tests.csv")
    between = tests[tests["comparison"] == "vgg19 transfers vs alexnet transfers"]
    assert sorted(between["on"]) == ["judged by AlexNet", "judged by VGG19"] and (between["pairs"] == 3).all()
    assert len(tests[tests["comparison"] == "VGG19 vs AlexNet judge"]) == 6
    # every fold as a judge: AlexNet's two folds (fold 0 is the selected one, reused), VGG-19's one
    folds = pd.read_csv(out / "deception_folds.csv")
    assert sorted(set(zip(folds["judge"], folds["fold"]))) == [("alexnet", 0), ("alexnet", 1), ("vgg19", 0)]
    selected = folds[(folds["judge"] == "alexnet") & (folds["fold"] == 0)].set_index("set")["share"]
    assert selected["vgg19 transfer"] == shares.loc[conditions()[1], "vgg19 transfer"]
    page = (out / "deception.md").read_text()
    assert page.startswith("# Deception rate (threshold 0.5)") and "## Every fold as a judge" in page
    assert "exact McNemar p =" in page and (out / "deception_threshold.png").stat().st_size > 10_000


@pytest.mark.e2e
def test_each_new_part_can_be_switched_off_and_a_control_folder_is_scored_at_the_same_threshold(study_like,
                                                                                                tmp_path):
    out = tmp_path / "plain"
    deception(_deception_cfg(study_like, out, "task.paired_tests=false", "task.fold_judges=false",
                             "task.threshold_curve=false", "task.evidence=false",
                             f"task.control_photos={study_like / 'paintings'}", "task.threshold=0.45"))
    assert sorted(p.name for p in out.iterdir()) == ["calibration.png", "controls.csv", "deception.csv",
                                                    "deception.json", "deception.md",
                                                    "deception_other_threshold.csv", "verdicts.csv", "verdicts.png"]
    controls = pd.read_csv(out / "controls.csv")
    photos = controls[controls["set"] == PHOTOS]
    assert [Path(p).name for p in photos["image"]] == ["vincent-van-gogh_starry.png"]  # the folder, not the records
    for judge in ("vgg19", "alexnet"):
        assert (controls[judge] == (controls[f"p_{judge}"] >= 0.45)).all()
    off = tmp_path / "off"
    deception(_deception_cfg(study_like, off, "task.controls=false", "task.paired_tests=false",
                             "task.fold_judges=false", "task.threshold_curve=false", "task.evidence=false"))
    assert set(pd.read_csv(off / "deception.csv")["set"]) == {"vgg19 transfer", "alexnet transfer"}
    assert "McNemar" not in (off / "deception.md").read_text()


@pytest.mark.e2e
def test_transfers_aimed_at_a_judge_get_their_own_columns_and_tests_against_the_plain_ones(study_like, tmp_path):
    out = tmp_path / "aimed"
    shares = deception(_deception_cfg(study_like, out, f"task.targeted.vgg19={study_like / 'targeted' / 'vgg19'}",
                                      "task.controls=false", "task.fold_judges=false", "task.evidence=false"))
    aimed = "vgg19 transfer aimed at AlexNet"
    assert list(shares.columns) == ["vgg19 transfer", "alexnet transfer", aimed]
    rates = pd.read_csv(out / "deception.csv")
    assert set(rates.loc[rates["set"] == aimed, "kind"]) == {"targeted"}
    tests = pd.read_csv(out / "deception_tests.csv")
    versus = tests[tests["comparison"] == f"{aimed} vs plain"]
    assert versus["on"].tolist() == ["judged by VGG19 (held out)", "judged by AlexNet (aimed at)"]
    assert (versus["pairs"] == 3).all()
    assert "held out, whether they look like Van Gogh to another network" in (out / "deception.md").read_text()
    verdicts = pd.read_csv(out / "verdicts.csv")
    assert (verdicts["aimed_at"] == "alexnet").sum() == 3 and verdicts["aimed_at"].isna().sum() == 6


def test_a_plain_folder_passed_as_targeted_is_one_line(study_like, tmp_path):
    from vangogh_lightning.core.errors import UserError

    cfg = _deception_cfg(study_like, tmp_path / "x", f"task.targeted.alexnet={study_like / 'stylized' / 'alexnet'}")
    with pytest.raises(UserError, match=r"task.targeted.alexnet: .*photo0_alexnet.png was not aimed at a judge"):
        deception(cfg)


def _oof(folder: Path, van_gogh: list[float], others: list[float]) -> None:
    """Out-of-fold predictions of a fold: Van Gogh's paintings with probabilities ``van_gogh``, others ``others``."""
    names = [f"vincent-van-gogh_{i}.png" for i in range(len(van_gogh))] + [f"o_{i}.png" for i in range(len(others))]
    pd.DataFrame({"filename": names, "path": [str(folder / n) for n in names], "artist": "a",
                  "label": [1] * len(van_gogh) + [0] * len(others), "fold": 0,
                  "p_van_gogh": van_gogh + others}).to_csv(folder / "oof_predictions.csv", index=False)


def test_a_judge_that_never_says_van_gogh_is_flagged_and_threshold_oof_judges_at_each_ones_own(study_like, tmp_path):
    from vangogh_lightning.core.errors import UserError

    root = tmp_path / "study"
    copy_linking_checkpoints(study_like, root)
    for backbone in ("vgg19", "alexnet"):
        (root / "selected" / f"{backbone}.json").write_text(json.dumps(
            {"source": str(root / "train" / backbone / "fold_0" / "checkpoints" / "best.ckpt")}))
    # VGG-19 ranks every painting right but never reaches 0.5 (the synthetic study's case); AlexNet can judge
    _oof(root / "train" / "vgg19" / "fold_0", [0.485, 0.486, 0.487, 0.488, 0.489, 0.4895],
         [0.48 + i / 5000 for i in range(14)])
    _oof(root / "train" / "alexnet" / "fold_0", [0.55, 0.62, 0.7, 0.81, 0.9, 0.45], [0.1, 0.2, 0.3, 0.35, 0.4, 0.52])
    fast = ("task.controls=false", "task.paired_tests=false", "task.fold_judges=false", "task.evidence=false")
    out = tmp_path / "at_half"
    deception(_deception_cfg(root, out, *fast))
    meta = json.loads((out / "deception.json").read_text())
    assert meta["thresholds"] == {"vgg19": 0.5, "alexnet": 0.5}
    assert meta["other_thresholds"] == {"vgg19": 0.485, "alexnet": 0.55}
    assert meta["judges"]["vgg19"]["auroc"] == 1.0 and meta["judges"]["vgg19"]["said_van_gogh"] == 0.0
    # the fixture's judges are random classifiers: the page says so first
    assert meta["warnings"] == ["made with stand-ins: the VGG19 and AlexNet judges started from random weights "
                                "(model.pretrained=false). The pipeline is real; these numbers are not the study's",
                                "the VGG19 judge is no better than chance: at threshold 0.50 it calls no out-of-fold "
                                "painting Van Gogh; its Table 1 column cannot show deception"]
    page = (out / "deception.md").read_text().splitlines()
    assert page[0] == "# Deception rate (threshold 0.5)" and page[2].startswith("**Warning: made with stand-ins")
    assert page[4].startswith("**Warning: the VGG19 judge is no better than chance")
    assert "## The same at each judge's own threshold (Youden's J on its out-of-fold predictions): VGG19 0.485, " \
           "AlexNet 0.55" in page
    alexnet = meta["judges"]["alexnet"]
    assert alexnet["low"] > 0.5 and alexnet["no_better_than_chance"] == ""
    assert set(pd.read_csv(out / "deception_other_threshold.csv")["set"]) == {"vgg19 transfer", "alexnet transfer"}

    own = tmp_path / "own"
    deception(_deception_cfg(root, own, *fast, "task.threshold=oof"))
    meta = json.loads((own / "deception.json").read_text())
    assert meta["threshold"] == "oof" and not any("chance" in w for w in meta["warnings"])
    assert meta["thresholds"] == {"vgg19": 0.485, "alexnet": 0.55} and meta["other_thresholds"] == {
        "vgg19": 0.5, "alexnet": 0.5}
    verdicts = pd.read_csv(own / "verdicts.csv")
    for judge, threshold in meta["thresholds"].items():
        assert (verdicts[judge] == (verdicts[f"p_{judge}"] >= threshold)).all()
    assert (own / "deception.md").read_text().startswith("# Deception rate (each judge's own threshold")

    (root / "train" / "vgg19" / "fold_0" / "oof_predictions.csv").unlink()
    with pytest.raises(UserError, match=r"^task.threshold=oof: the vgg19 judge has no out-of-fold predictions"):
        deception(_deception_cfg(root, tmp_path / "none", *fast, "task.threshold=oof"))


def test_byte_identical_images_of_a_set_are_counted_once_and_named(study_like, tmp_path):
    import shutil

    folder = tmp_path / "vgg19_copies"
    shutil.copytree(study_like / "stylized" / "vgg19", folder, ignore=shutil.ignore_patterns("*.json"))
    first = sorted(folder.glob("*.png"))[0]
    for i in range(2):  # the same result saved again under other names, in a plain folder of results
        shutil.copyfile(first, folder / f"copy{i}.png")
    out = tmp_path / "once"
    deception(_deception_cfg(study_like, out, f"task.stylized.vgg19={folder}", "task.controls=false",
                             "task.paired_tests=false", "task.fold_judges=false", "task.evidence=false"))
    verdicts = pd.read_csv(out / "verdicts.csv")
    assert (verdicts["transfer"] == "vgg19").sum() == 3  # not 5
    notes = json.loads((out / "deception.json").read_text())["notes"]
    assert f"'vgg19 transfer': 2 byte-identical image(s) counted once (copy1.png = copy0.png, {first.name} = " \
           "copy0.png)" in notes  # the first in file order is kept


def test_the_banner_names_every_stand_in_and_is_empty_for_the_real_thing():
    from vangogh_lightning.evaluation.table_one.inputs import MadeFrom, stand_ins

    real = {"vgg19": {"pretrained": True, "source": "wikiart"}, "alexnet": {"pretrained": True, "source": "wikiart"}}
    assert stand_ins(real, {Path("a.png"): MadeFrom(None, (), None, True), Path("b.png"): MadeFrom(None, ())}) == ""
    mixed = {"vgg19": {"pretrained": True, "source": "synthetic"},
             "alexnet": {"pretrained": False, "source": "wikiart"}}
    assert stand_ins(mixed, {Path("a.png"): MadeFrom(None, (), None, False)}) == (
        "made with stand-ins: the AlexNet judge started from random weights (model.pretrained=false); the VGG19 judge "
        "learnt generated images (data=synthetic); transfers were made with random backbones "
        "(backbone.pretrained=false). The pipeline is real; these numbers are not the study's")
