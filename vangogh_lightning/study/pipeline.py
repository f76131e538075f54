"""One command from paintings to Table 1, resumable: optional search -> K-fold training of each backbone
-> fold selection -> stylization -> the deception table -> ``report.html``, each step the real script in
its own process. Finished steps are skipped and training resumes (``ckpt_path=last``), so the same
command continues where it stopped."""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from omegaconf import DictConfig, OmegaConf

from vangogh_lightning.config.overrides import override, quote_list, quote_value
from vangogh_lightning.config.schema import SCHEMAS, result_neutral
from vangogh_lightning.core.atomic import atomic_write_text
from vangogh_lightning.core.backbone_registry import backbone_names
from vangogh_lightning.core.errors import UserError
from vangogh_lightning.core.images import expand_images
from vangogh_lightning.core.locks import exclusive as hold_folder
from vangogh_lightning.style.records import finished_records
from vangogh_lightning.training.run_folder import CV_SUMMARY, PARTIAL_SETTINGS

ROOT = Path(__file__).resolve().parents[2]  # the repository: where the scripts are


@dataclass
class Step:
    """One command of the study and how to tell it is done; ``args`` is called when it runs (after earlier steps)."""

    name: str
    script: str
    args: Callable[[], list[str]]
    done: Callable[[], bool]


def best_parameters(search_dir: Path, backbone: str) -> list[str]:
    """The search's best parameters for ``backbone`` as train.py overrides (none without a search)."""
    path = search_dir / "best_params.yaml"
    if not path.is_file():
        return []
    best = (yaml.safe_load(path.read_text()) or {}).get(backbone)
    if not best:
        say(f"[study] note: the search has no completed {backbone} trial; training {backbone} with its defaults")
        return []
    return [f"{key}={value}" for key, value in best["params"].items() if key != "model"]


def say(line: str) -> None:
    """Print ``line`` as it is, and log it through Hydra's file handler (time-stamped) to ``study.log``."""
    print(line, flush=True)
    record = logging.LogRecord(__name__, logging.INFO, __file__, 0, line, None, None)
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            handler.handle(record)


def exclusive(out: Path) -> contextlib.AbstractContextManager[None]:
    """Hold ``<out>/study.lock`` for the whole run: a second study on the same folder is refused at once."""
    return hold_folder(out, "study.lock", "a study")


# The study keys its results depend on (besides content and styles); a re-run must repeat them.
SETTING_KEYS = tuple(key for key in SCHEMAS["study"].model_fields
                     if key not in ("content", "styles") and not result_neutral(key, "study"))
SETTINGS_FILE = "study_settings.json"


def as_override(key: str, value: Any) -> str:
    """``key=value`` as a command line gives it back (shell-quoted): a recorded setting, to run with it again."""
    if isinstance(value, list):
        text = quote_list(value)
    elif isinstance(value, bool) or value is None:
        text = {True: "true", False: "false", None: "null"}[value]
    else:
        text = str(value) if isinstance(value, (int, float)) else quote_value(value)
    return shlex.quote(f"{key}={text}")


def _die_with_parent() -> None:
    # Linux: the child gets SIGTERM when the study's process ends, however it ends (even kill -9).
    if sys.platform.startswith("linux"):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # 1: PR_SET_PDEATHSIG


STOPS = {signal.SIGTERM: "SIGTERM", signal.SIGINT: "Ctrl-C", signal.SIGUSR1: "SIGUSR1"}


def run_child(command: list[str]) -> tuple[int, int | None]:
    """Run one step's script: (its exit status, the stop signal the study received meanwhile, if any). The child
    never outlives the study; a stop signal sent to the study alone is passed on (Ctrl-C reaches the whole group),
    and the study waits for the child to save and stop."""
    child = subprocess.Popen(command, cwd=ROOT, preexec_fn=_die_with_parent)
    received: list[int] = []

    def pass_on(signum: int, frame: Any) -> None:
        if not received and signum != signal.SIGINT:
            child.send_signal(signum)
        received.append(signum)

    previous = {s: signal.signal(s, pass_on) for s in STOPS}
    try:
        return child.wait(), (received[0] if received else None)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


class Study:
    """The study's steps under one folder."""

    def __init__(self, cfg: DictConfig):
        self.cfg = cfg
        self.out = Path(cfg.out_dir).resolve()
        self.search_dir, self.selected_dir = self.out / "search", self.out / "selected"
        # every step's: logs in the study, and the data the study was given (not the child's own default)
        self.wikiart_dir = Path(cfg.paths.wikiart_dir).expanduser().resolve()
        self.common_overrides = [override("paths.log_dir", self.out / "logs"),
                                 override("paths.wikiart_dir", self.wikiart_dir)]
        partial = [o for o in (*cfg.train_overrides, *(cfg.search_overrides if cfg.search else []))
                   if o.split("=", 1)[0].lstrip("+~") in ("debug", *(f"trainer.{k}" for k in PARTIAL_SETTINGS))]
        if partial and not cfg.allow_debug:
            raise UserError(f"train_overrides: {partial[0]} makes a debug run (it trains or validates on part of the "
                            "data), whose numbers are not results; drop it, or pass allow_debug=true for a debug study")
        self.contents = [p.resolve() for p in expand_images(cfg.content, what="content")]
        self.styles = [Path(s).expanduser().resolve() for s in cfg.styles]
        missing = [str(s) for s in self.styles if not s.is_file()]
        if missing:
            raise UserError(f"styles: {', '.join(missing)} not found; pass styles=[<painting.jpg>,...]")
        if len({s.stem for s in self.styles}) != len(self.styles):
            raise UserError("styles: two style images share a file name; rename one (outputs are named after it)")

    def train_dir(self, backbone: str) -> Path:
        return self.out / "train" / backbone

    def stylized_dir(self, backbone: str, style: Path) -> Path:
        return self.out / "stylized" / backbone / style.stem

    def targeted_dir(self, backbone: str, judge: str, style: Path) -> Path:
        """Transfers by ``backbone`` aimed at the selected ``judge`` (``targeted=true``)."""
        return self.out / "stylized_targeted" / f"{backbone}_aimed_at_{judge}" / style.stem

    def stylized_folders(self) -> list[tuple[str, Path, Path, list[str]]]:
        """(transfer backbone, style, folder, extra stylize.py overrides) of every stylization of the study."""
        folders = [(b, s, self.stylized_dir(b, s), []) for b in self.cfg.backbones for s in self.styles]
        if self.cfg.targeted:
            folders += [(b, s, self.targeted_dir(b, j, s), [override("judge", self.selected_dir / f"{j}.ckpt"),
                                                             f"judge_weight={self.cfg.judge_weight}"])
                        for b in self.cfg.backbones for j in backbone_names() for s in self.styles]
        return folders

    def steps(self) -> list[Step]:
        cfg, steps = self.cfg, []
        if cfg.search:
            steps.append(Step("search", "train.py",
                              lambda: ["-m", *cfg.search_overrides, *cfg.train_overrides, *self.common_overrides,
                                       override("hydra.sweep.dir", self.search_dir)],
                              lambda: (self.search_dir / "best_params.yaml").is_file()))
        for backbone in cfg.backbones:
            run = self.train_dir(backbone)
            steps.append(Step(
                f"train {backbone}", "train.py",
                lambda backbone=backbone, run=run: [
                    f"model={backbone}", *best_parameters(self.search_dir, backbone), *cfg.train_overrides,
                    "fold=null", "ckpt_path=last", *self.common_overrides, override("hydra.run.dir", run)],
                lambda run=run: (run / CV_SUMMARY).is_file()))
        selection = ["task=select_folds", f"task.runs={quote_list(self.train_dir(b) for b in cfg.backbones)}",
                     override("task.selected_dir", self.selected_dir), "task.latest=null", f"task.rule={cfg.rule}",
                     override("out_dir", self.out / "selection"), "overwrite=true", *self.common_overrides,
                     f"task.allow_debug={str(bool(cfg.allow_debug)).lower()}"]
        steps.append(Step("select folds", "evaluate.py", lambda: selection,
                          lambda: all(self._selection_current(b) for b in cfg.backbones)))
        for backbone, style, folder, aim in self.stylized_folders():
            # Only contents without a finished record are passed; files of theirs that exist were left
            # by an interrupted run (the record is written last), so replacing them loses nothing.
            name = f"stylize {backbone} {style.stem}" + (f" aimed at {folder.parent.name.rsplit('_', 1)[1]}"
                                                         if aim else "")
            steps.append(Step(name, "stylize.py",
                              lambda backbone=backbone, style=style, folder=folder, aim=aim: [
                                  f"content={quote_list(self._contents_to_stylize(folder))}", "overwrite=true",
                                  f"backbone={backbone}", override("style", style), *aim, *cfg.stylize_overrides,
                                  override("out_dir", folder), *self.common_overrides],
                              lambda folder=folder: self._contents_to_stylize(folder) == []))
        judges = backbone_names()
        if set(judges) <= set(cfg.backbones):
            args = ["task=deception", f"task.threshold={cfg.threshold}", override("out_dir", self.out / "deception"),
                    "overwrite=true", *self.common_overrides]
            args += [override(f"task.classifiers.{j}", self.selected_dir / f"{j}.ckpt") for j in judges]
            for b in cfg.backbones:
                args.append(f"task.stylized.{b}={quote_list(self.stylized_dir(b, s) for s in self.styles)}")
                if cfg.targeted:
                    aimed = [self.targeted_dir(b, j, s) for j in judges for s in self.styles]
                    args.append(f"task.targeted.{b}={quote_list(aimed)}")
            steps.append(Step("deception table", "evaluate.py", lambda: args, self._deception_current))
        return steps

    def _selection_current(self, backbone: str) -> bool:
        summary = self.train_dir(backbone) / CV_SUMMARY
        record = self.selected_dir / f"{backbone}.json"
        return record.is_file() and summary.is_file() and record.stat().st_mtime >= summary.stat().st_mtime

    def _contents_to_stylize(self, folder: Path) -> list[Path]:
        done = {str(Path(r["content"]).resolve()) for r in finished_records(folder)} if folder.is_dir() else set()
        return [p for p in self.contents if str(p.resolve()) not in done]

    def _deception_current(self) -> bool:
        table = self.out / "deception" / "verdicts.csv"
        if not table.is_file():
            return False
        inputs = [self.selected_dir / f"{j}.json" for j in backbone_names()]
        inputs += [p for *_, folder, _ in self.stylized_folders() for p in folder.glob("*.json")]
        return all(p.stat().st_mtime <= table.stat().st_mtime for p in inputs if p.is_file())

    def settings(self) -> dict[str, Any]:
        """What the results depend on but the weights: :data:`SETTING_KEYS` (resolved), styles, content photos."""
        found = {key: OmegaConf.to_container(self.cfg[key], resolve=True) if OmegaConf.is_config(self.cfg[key])
                 else self.cfg[key] for key in SETTING_KEYS}
        found["styles"] = [str(s) for s in self.styles]
        found["paths.wikiart_dir"] = str(self.wikiart_dir)
        found["content"] = sorted(str(p) for p in self.contents)
        return found

    def produced(self) -> Path | None:
        """A file some step produced (not Hydra's records, logs, the lock or the settings), if any: from then on
        the settings are bound to the results."""
        bookkeeping = {SETTINGS_FILE, "study.lock", ".lock", "report.html"}
        for path in sorted(self.out.rglob("*")) if self.out.is_dir() else []:
            relative = path.relative_to(self.out).parts
            if (path.is_file() and relative[0] != "logs" and ".hydra" not in relative and path.suffix != ".log"
                    and path.name not in bookkeeping):
                return path
        return None

    def recorded_settings(self) -> dict[str, Any] | None:
        """``study_settings.json`` as recorded (None when there is none); a hand-broken one is one line."""
        record = self.out / SETTINGS_FILE
        if not record.is_file():
            return None
        try:
            before = json.loads(record.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            before = exc
        if not isinstance(before, dict):
            raise UserError(f"{record}: unreadable ({before if isinstance(before, Exception) else 'not a mapping'}); "
                            "restore it, or pass another out_dir to start fresh")
        return before

    def check_settings(self) -> None:
        """Refuse to mix results: once a step has produced something, a study folder goes on only with its
        ``study_settings.json`` (photos may be added and ``targeted=true`` turned on; nothing else may change).
        Before that, the settings of the newest run apply."""
        record, now, result = self.out / SETTINGS_FILE, self.settings(), self.produced()
        before = self.recorded_settings()
        if before is None and result is not None:
            raise UserError(f"out_dir={self.out}: holds a study's results ({result.relative_to(self.out)}) but no "
                            f"{SETTINGS_FILE} (deleted?), so what they were made with is unknown; restore the file, or "
                            "pass another out_dir to start fresh")
        changed = [] if before is None else [key for key in now if key in before and before[key] != now[key]
                                             and key != "content" and not (key == "targeted" and now[key])]
        gone = sorted(set((before or {}).get("content", [])) - set(now["content"]))
        if (changed or gone) and result is not None:
            said = [f"{key}: {before[key]} -> {now[key]}" for key in changed]
            if gone:
                shown = ", ".join(Path(p).name for p in gone[:3]) + (", ..." if len(gone) > 3 else "")
                said.append(f"content: {len(gone)} photo(s) no longer given ({shown})")
            again = " ".join(as_override(key, before[key]) for key in changed)
            raise UserError(f"out_dir={self.out}: this study was made with other settings ({'; '.join(said)}); run it "
                            f"with the settings it was made with{f' ({again})' if again else ''}"
                            f"{' and those photos' if gone else ''}, or pass another out_dir to start fresh")
        if changed or gone:
            say(f"[study] settings changed since the last run ({', '.join(changed + ['content'] * bool(gone))}); "
                "no step had produced anything yet, so this run's settings apply")
        atomic_write_text(json.dumps(now, indent=2), record)

    def run(self) -> Path:
        """Run every step not done yet; write report.html; return its path."""
        with exclusive(self.out):
            self.check_settings()
            started = time.perf_counter()
            steps = self.steps()
            say(f"[study] {len(steps)} steps in {self.out}: {', '.join(step.name for step in steps)}")
            for step in steps:
                if step.done():
                    say(f"[study] {step.name}: already done, skipped")
                    continue
                args = step.args()
                say(f"[study] {step.name}: python {step.script} {shlex.join(args)}")
                t0 = time.perf_counter()
                code, stop = run_child([sys.executable, str(ROOT / step.script), *args])
                if stop is not None:
                    say(f"[study] {step.name}: stopped by {STOPS[stop]} after {time.perf_counter() - t0:.0f} s; run "
                        "the same command again to continue (finished steps are skipped, training resumes)")
                    raise SystemExit(128 + stop)
                if code != 0:
                    say(f"[study] {step.name}: failed after {time.perf_counter() - t0:.0f} s (exit status {code})")
                    raise UserError(f"study step '{step.name}' failed (exit status {code}, its message is above); "
                                    "fix it and run the same command again: finished steps are skipped")
                say(f"[study] {step.name}: {time.perf_counter() - t0:.0f} s")
            from vangogh_lightning.study.report_html import write_report

            report = write_report(self.out, list(self.cfg.backbones), self.styles, OmegaConf.to_container(self.cfg))
            say(f"[study] done in {time.perf_counter() - started:.0f} s; open {report}")
            return report


def run_study(cfg: DictConfig) -> Path:
    """``python study.py``: the whole study under ``cfg.out_dir``."""
    return Study(cfg).run()
