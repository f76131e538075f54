"""The whole study in one command (quick variant): hand-offs, resume, and the page a person reads."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from PIL import Image

from tests.conftest import ROOT
from tests.helpers.browser import rendered_dom, screenshot, tables

BACKBONES = ("vgg19", "alexnet")
STARRY = "vincent-van-gogh_the-starry-night-1889"


def study(out: Path) -> str:
    env = {**os.environ, "WANDB_MODE": "offline"}
    proc = subprocess.run([sys.executable, "study.py", "scale=quick", f"out_dir={out}"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


def stylize_commands(log: str) -> list[str]:
    return [line for line in log.splitlines() if re.match(r"\[study\] stylize \w+ \S+: python", line)]


@pytest.fixture(scope="session")  # (module scope is torn down when its worker runs another module in between)
def quick_study(tmp_path_factory, request) -> tuple[Path, str]:
    if not (ROOT.parent / "shared" / "data" / "photos").is_dir():
        pytest.skip("../shared/data is not present")
    out = tmp_path_factory.mktemp("study") / "quick"
    return out, study(out)


@pytest.mark.xdist_group("quick_study")
@pytest.mark.e2e
def test_the_quick_study_goes_from_training_to_table_1(quick_study):
    out, log = quick_study
    for backbone in BACKBONES:
        assert (out / "selected" / f"{backbone}.ckpt").is_file()
        assert len(list((out / "train" / backbone).glob("fold_*/oof_predictions.csv"))) == 2
    rates = pd.read_csv(out / "deception" / "deception.csv")
    transfers = rates[rates["kind"] == "transfer"]
    assert list(dict.fromkeys(transfers["condition"])) == ["VGG19 identified as Van Gogh",
                                                          "AlexNet identified as Van Gogh", "Both models agreed",
                                                          "Only one of them", "Neither"]
    assert transfers.groupby("set", sort=False)["n"].max().tolist() == [2, 2]
    last_three = transfers[transfers["condition"].isin(["Both models agreed", "Only one of them", "Neither"])]
    assert last_three.groupby("set", sort=False)["share"].sum().tolist() == pytest.approx([1, 1])
    # the controls: the two photos unstylized, the style painting, the 40 out-of-fold training images
    controls = rates[rates["kind"] == "control"].groupby("set", sort=False)["n"].max()
    assert controls.tolist() == [2, 1, 20, 20] and all(s.startswith("control: ") for s in controls.index)
    folds = pd.read_csv(out / "deception" / "deception_folds.csv")
    assert sorted(set(zip(folds["judge"], folds["fold"]))) == [("alexnet", 0), ("alexnet", 1), ("vgg19", 0),
                                                              ("vgg19", 1)]
    # the judged images are exactly the results stylize recorded (no sheets, no snapshots)
    verdicts = pd.read_csv(out / "deception" / "verdicts.csv")
    recorded = {str((p.parent / json.loads(p.read_text())["image"]).resolve())
                for p in (out / "stylized").glob(f"*/{STARRY}/*.json")}
    assert {str(Path(p).resolve()) for p in verdicts["image"]} == recorded and len(recorded) == 4
    assert "[study] done" in log and (out / "report.html").is_file()
    # the run's study.log: the step list, each command and its time, as the console showed them
    (study_log,) = [p for p in (out / "logs").glob("study-*/study.log") if "[study] done" in p.read_text()][:1]
    text = study_log.read_text()
    assert "[study] 6 steps in " in text and "[study] train alexnet: python train.py " in text
    assert re.search(r"\[study\] train vgg19: \d+ s\n", text) and "[study] done in " in text


@pytest.mark.xdist_group("quick_study")
@pytest.mark.e2e
def test_running_it_again_skips_every_step_and_an_interrupted_step_redoes_only_what_is_missing(quick_study):
    out, _ = quick_study
    selected = (out / "selected" / "alexnet.ckpt").stat().st_mtime_ns
    again = study(out)
    assert again.count("already done, skipped") == 6 and ": python " not in again
    assert (out / "selected" / "alexnet.ckpt").stat().st_mtime_ns == selected
    # as if stylize had been killed after the first of its two images
    folder = out / "stylized" / "alexnet" / STARRY
    record = next(p for p in sorted(folder.glob("*.json")) if "tubingen" in p.name)
    (folder / json.loads(record.read_text())["image"]).unlink()
    record.unlink()
    resumed = study(out)
    (command,) = stylize_commands(resumed)
    assert "tubingen.jpg" in command and "photo-00.jpg" not in command and "stylize alexnet" in command
    assert "[study] deception table: python" in resumed  # its inputs changed: recomputed
    assert len(pd.read_csv(out / "deception" / "verdicts.csv")) == 4


@pytest.mark.xdist_group("quick_study")
@pytest.mark.e2e
def test_the_report_page_renders_with_its_images_and_the_runs_numbers(quick_study, tmp_path):
    out, _ = quick_study
    dom = rendered_dom(out / "report.html", tmp_path)
    loaded, total = map(int, re.search(r'data-images="(\d+)/(\d+)"', dom).groups())
    # curves per backbone + its out-of-fold ROC/PR and confusion pictures + the threshold curve
    # + (content, style, two results) per stylized content
    # + the evidence maps: per content, the content and each judge's map of it and of both results
    # + each judge's reliability diagram (one figure)
    assert total == 2 + 2 * 2 + 1 + 1 + 2 * 4 + 2 * (1 + 2 + 2 * 2) and loaded == total
    found = tables(dom)
    # how well each judge can judge, as deception.json recorded it; a judge that cannot is flagged at the top
    meta = json.loads((out / "deception" / "deception.json").read_text())
    judges = next(t for t in found if t[0][0] == "judge" and "ECE" in t[0])
    for row, judge in zip(judges[1:], ("vgg19", "alexnet")):
        q = meta["judges"][judge]
        assert row[2] == f"{q['auroc']:.3f} ({q['low']:.3f}–{q['high']:.3f})" and row[-1] == (
            "no" if q["no_better_than_chance"] else "yes")
    banner = dom.split("<h2>")[0]
    assert [w in banner for w in meta["warnings"]] == [True] * len(meta["warnings"])
    deception = next(t for t in found if t[0][0] == "condition")
    numbers = pd.read_csv(out / "deception" / "deception.csv").set_index(["condition", "set"])
    sets = deception[0][1:]
    assert sets[:2] == ["vgg19 transfer", "alexnet transfer"] and len(sets) == 6
    assert all(s.startswith("control: ") for s in sets[2:])  # the control columns
    shown = {row[0]: row[1:] for row in deception[1:]}
    for condition in ("VGG19 identified as Van Gogh", "Both models agreed", "Neither"):
        for name, cell in zip(sets, shown[condition]):  # share (k/n; interval), as saved
            saved = numbers.loc[(condition, name)]
            assert cell == (f"{saved['share']:.0%} ({saved['k']}/{saved['n']}; "
                            f"{100 * saved['low']:.0f}–{100 * saved['high']:.0f}%)")
    spread = next(t for t in found if t[0][:3] == ["judge", "set", "folds"])
    assert len(spread) == 1 + 2 * 4 and all(row[2] == "2" for row in spread[1:])  # every fold as a judge
    assert dom.count("exact McNemar p =") == 2 + 6  # one sentence per comparison
    selection = pd.read_csv(out / "selection" / "fold_selection.csv")
    cv_tables = [t for t in found if t[0][:2] == ["fold", "best_epoch"]]
    assert len(cv_tables) == 2
    for backbone, table in zip(BACKBONES, cv_tables):
        rows = selection[selection["backbone"] == backbone]
        assert [r[2] for r in table[1:3]] == [f"{v:.4f}" for v in rows["auroc"]]
    # the resolved training settings beside the report's, and links to what the runs kept
    settings = {row[0]: row[1:] for row in next(t for t in found if t[0][0] == "setting")}
    trained = {b: yaml.safe_load((out / "train" / b / "config_resolved.yaml").read_text()) for b in BACKBONES}
    assert settings["data.image_size"][:2] == [str(trained[b]["data"]["image_size"]) for b in BACKBONES]
    assert settings["data.batch_size"][2] == "4" and settings["trainer.max_epochs"][2] == "13"  # the report's
    assert settings["model.lr"][2] == "vgg19: 2.2012e-05, alexnet: 1.0369e-05"  # the text's, per backbone
    assert not any("${" in cell for row in settings.values() for cell in row)
    for href in re.findall(r'href="([^"]+)"', dom):
        assert (out / href).exists(), href
    assert dom.count("best.ckpt</a>") == 2 * 2 and dom.count("selected checkpoint</a>") == 2
    grid = next(t for t in found if t[0][:2] == ["content", "style"])
    assert len(grid) == 1 + 2 and all("vgg19:" in cell and "alexnet:" in cell for row in grid[1:] for cell in row[2:])
    png = screenshot(out / "report.html", tmp_path / "report.png")
    image = Image.open(png).convert("L")
    assert image.size == (1200, 2400) and image.getextrema()[0] < 100  # drawn, not a blank page


def test_a_study_whose_steps_are_all_done_redraws_its_page_without_importing_torch():
    # the page is rewritten on every run; reading tables and images must not pay for torch and Lightning
    code = ("import sys; import vangogh_lightning.study.report_html, vangogh_lightning.study.pipeline; "
            "print(sorted(m for m in ('torch', 'lightning', 'torchmetrics', 'captum') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "[]", proc.stdout + proc.stderr[-2000:]


def test_a_study_goes_on_only_with_the_settings_it_was_made_with(tmp_path, shared_data):
    from tests.conftest import compose_cfg
    from vangogh_lightning.core.errors import UserError
    from vangogh_lightning.study.pipeline import Study

    out = tmp_path / "study"
    photos = sorted((shared_data / "photos").glob("*.jpg"))[:3]

    def study_with(*overrides: str, content=photos[:2]) -> Study:
        names = ",".join(str(p) for p in content)
        return Study(compose_cfg("study", ["scale=quick", f"out_dir={out}", f"content=[{names}]", *overrides]))

    study_with().check_settings()  # the first run records its settings
    (out / "logs" / ".hydra").mkdir(parents=True)  # what a failed first step leaves: Hydra's records, a log
    (out / "logs" / "train.log").write_text("error: no ImageNet weights")
    study_with("threshold=0.6").check_settings()  # nothing produced yet: the fix of the failed step applies
    study_with().check_settings()
    (out / "train" / "alexnet" / "fold_0").mkdir(parents=True)
    (out / "train" / "alexnet" / "fold_0" / "summary.json").write_text("{}")  # from now on, settings are bound
    painting = shared_data / "paintings" / "edvard-munch_the-scream-1893.jpg"
    refusals = {  # every setting the results depend on, changed
        "threshold: 0.5 -> 0.6": study_with("threshold=0.6"),
        "rule: auroc -> combined": study_with("rule=combined"),
        "stylize_overrides: ['backbone.pretrained=false', 'size=64', 'steps=10', 'progress_bar=false'] -> [":
            study_with("stylize_overrides=['size=96']"),
        "train_overrides: ['experiment=synthetic_smoke',": study_with("train_overrides=['experiment=synthetic_smoke']"),
        "search_overrides: ['hparams_search=optuna',": study_with("search_overrides=['hparams_search=optuna']"),
        "backbones: ['vgg19', 'alexnet'] -> ['alexnet', 'vgg19']": study_with("backbones=[alexnet,vgg19]"),
        "search: False -> True": study_with("search=true"),
        "judge_weight: 300.0 -> 30.0": study_with("judge_weight=30.0"),
        "styles: [": study_with(f"styles=[{painting}]"),
        f"content: 1 photo(s) no longer given ({photos[1].name})": study_with(content=photos[:1]),
    }
    for change, study in refusals.items():
        with pytest.raises(UserError) as err:
            study.check_settings()
        message = str(err.value)
        assert message.startswith(f"out_dir={out}: this study was made with other settings ({change}")
        assert message.endswith("or pass another out_dir to start fresh")
        way = re.search(r"run it with the settings it was made with \((.*)\)(?: and those photos)?, or pass", message)
        if "content:" not in change:  # the way forward, as the shell passes it on, is the original study
            study_with(*shlex.split(way.group(1))).check_settings()
    study_with(content=photos).check_settings()  # a photo added: it is stylized and joins Table 1
    study_with("targeted=true", content=photos).check_settings()  # an arm added
    with pytest.raises(UserError, match=r"\(targeted: True -> False\)"):
        study_with(content=photos).check_settings()  # the arm's rows would stay in Table 1
    (out / "study_settings.json").write_text('{"threshold": 0.5,')  # edited by hand, and broken
    with pytest.raises(UserError, match=r"study_settings.json: unreadable \(Expecting .*\); restore it, or pass"):
        study_with(content=photos).check_settings()
    (out / "study_settings.json").unlink()  # deleted: the results stay, their settings are unknown
    with pytest.raises(UserError, match=r"holds a study's results \(train/alexnet/fold_0/summary.json\) but no "
                                        r"study_settings.json \(deleted\?\)"):
        study_with("threshold=0.6", content=photos).check_settings()


def test_a_second_study_on_the_same_folder_is_refused_while_the_first_runs(tmp_path, shared_data):
    from tests.conftest import compose_cfg
    from vangogh_lightning.core.errors import UserError
    from vangogh_lightning.study.pipeline import exclusive, run_study

    cfg = compose_cfg("study", ["scale=quick", f"out_dir={tmp_path / 'study'}"], tmp_path)
    with exclusive(tmp_path / "study"), pytest.raises(UserError, match="a study is already running there"):
        run_study(cfg)  # refused before any step starts
    assert not (tmp_path / "study" / "train").exists()


def test_the_targeted_arm_stylizes_each_backbone_aimed_at_each_judge_and_tables_them(tmp_path, shared_data):
    from tests.conftest import compose_cfg
    from vangogh_lightning.config.overrides import override
    from vangogh_lightning.study.pipeline import Study

    cfg = compose_cfg("study", ["scale=quick", f"out_dir={tmp_path / 'study'}", "targeted=true",
                                "judge_weight=250"], tmp_path)
    steps = {step.name: step for step in Study(cfg).steps()}
    aimed = [name for name in steps if " aimed at " in name]
    assert sorted(aimed) == sorted(f"stylize {b} {STARRY} aimed at {j}" for b in BACKBONES for j in BACKBONES)
    args = steps[f"stylize vgg19 {STARRY} aimed at alexnet"].args()
    assert override("judge", tmp_path / "study" / "selected" / "alexnet.ckpt") in args and "judge_weight=250" in args
    assert override("out_dir", tmp_path / "study" / "stylized_targeted" / "vgg19_aimed_at_alexnet" / STARRY) in args
    table = steps["deception table"].args()
    targeted = next(a for a in table if a.startswith("task.targeted.vgg19="))
    assert "vgg19_aimed_at_vgg19" in targeted and "vgg19_aimed_at_alexnet" in targeted


@pytest.mark.parametrize("signal_name,passed_on", [("SIGTERM", True), ("SIGINT", False)])
def test_a_stop_signal_to_the_study_waits_for_its_step_and_is_passed_on_unless_the_whole_group_had_it(
        signal_name, passed_on):
    import signal
    import threading
    import time

    from vangogh_lightning.study.pipeline import run_child

    # the step: stops with 143 when it gets a SIGTERM (as train.py does, after saving), else runs 3 s and exits 0
    step = ("import signal, sys, time; signal.signal(signal.SIGTERM, lambda *a: sys.exit(143)); "
            "signal.signal(signal.SIGINT, signal.SIG_IGN); time.sleep(3)")
    sent = getattr(signal, signal_name)
    threading.Timer(1.0, os.kill, (os.getpid(), sent)).start()
    started = time.monotonic()
    assert run_child([sys.executable, "-c", step]) == ((143 if passed_on else 0), sent)
    assert time.monotonic() - started < (2.5 if passed_on else 10)  # (a Ctrl-C reaches the step from the terminal)
