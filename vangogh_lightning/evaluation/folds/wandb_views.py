"""Fold selection in W&B: mark the selected fold's run, and build the fold-selection workspace."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from vangogh_lightning.core.atomic import atomic_write_text
from vangogh_lightning.core.wandb_mode import is_wandb_entry, resolve_wandb_offline
from vangogh_lightning.training.run_folder import RESOLVED_CONFIG, WANDB_RUN_ID

CURVES = ("val/auroc", "val/loss", "val/f1", "val/acc", "train/loss")
# The keys the view reads, as the runs log them: the config flat ("model.backbone" is one key, path "<key>.value").
BACKBONE_KEY = "model.backbone"
CONFIG_KEYS = ("task_name", BACKBONE_KEY, "fold")
SUMMARY_KEYS = ("best/auroc", "best/f1", "best/loss", "best/epoch", "selected", "cv/auroc_mean", "cv/auroc_std")
# W&B job types (logger.wandb.job_type): a plain run's folds and its CV summary, or a search trial's.
JOB_TYPES = {"train": ("train", "cv"), "trial": ("trial", "trial-cv")}


TABLE_COLUMNS = ("run:displayName", "tags", "run:jobType", *(f"config:{k}.value" for k in CONFIG_KEYS[1:]),
                 *(f"summary:{k}" for k in SUMMARY_KEYS))


def wandb_project_of(run_dir: Path) -> tuple[str, str | None] | None:
    """(project, entity) a train run logged to, from its resolved config; None without W&B."""
    config_file = run_dir / RESOLVED_CONFIG
    if not config_file.is_file():
        return None
    loggers = (yaml.safe_load(config_file.read_text()) or {}).get("logger") or {}
    for entry in loggers.values():
        if entry and is_wandb_entry(entry):
            return entry.get("project") or "vangogh-lightning", entry.get("entity")
    return None


def mark_selected_run(fold_dir: Path, rule: str, offline: bool | str = "auto") -> str | None:
    """Tag the W&B run of a selected fold ``selected`` and set ``selected=true`` in its summary, resuming it by
    its id (offline: a new segment ``wandb sync`` merges); the run id, or None when the fold did not log to W&B."""
    id_file = fold_dir / WANDB_RUN_ID
    project = wandb_project_of(fold_dir.parent)
    if not id_file.is_file() or project is None:
        return None
    import wandb

    run_id = id_file.read_text().strip()
    run = wandb.init(id=run_id, resume="allow", project=project[0], entity=project[1], dir=str(fold_dir),
                     mode="offline" if resolve_wandb_offline(offline) else "online", reinit="create_new")
    run.tags = tuple(sorted({*(run.tags or ()), "selected"}))
    run.summary.update({"selected": True, "selected_by": rule})
    run.finish()
    return run_id


def fold_selection_workspace(project: str, entity: str, title: str, runs: str = "train") -> Any:
    """A W&B workspace view of ``runs`` (``train``: runs and their folds; ``trial``: search trials):
    one curve per fold run, the same curves averaged per backbone, the runs table with the selected fold."""
    import wandb_workspaces.reports.v2 as wr
    import wandb_workspaces.workspaces as ws

    backbone = f"{BACKBONE_KEY}.value"  # wandb_workspaces assumes nested config keys
    # per-fold panels group nothing (the run set is not grouped); only the backbone panels group
    curves = [wr.LinePlot(title=f"{name} per fold", x="epoch", y=[name]) for name in CURVES]
    by_backbone = [wr.LinePlot(title=f"{name}: mean ± std of folds, per backbone", x="epoch", y=[name],
                               groupby=wr.Config(backbone), groupby_aggfunc="mean", groupby_rangefunc="stddev")
                   for name in ("val/auroc", "val/loss")]
    best = [wr.BarPlot(title=f"best {name} per fold", metrics=[f"best/{name}"]) for name in ("auroc", "loss")]
    return ws.Workspace(
        entity=entity, project=project, name=f"{title} ({'search trials' if runs == 'trial' else 'runs'})",
        sections=[
            ws.Section(name="Validation curves per fold", panels=curves, is_open=True),
            ws.Section(name="Backbones compared", panels=by_backbone, is_open=True),
            ws.Section(name="Best epoch of each fold (the run tagged 'selected' is the chosen fold)",
                       panels=best, is_open=True),
        ],
        runset_settings=ws.RunsetSettings(
            filters=[ws.Config("task_name.value") == "train",
                     ws.Metric("JobType").isin(list(JOB_TYPES[runs]))],
            order=[ws.Ordering(ws.Summary("best/auroc"), ascending=False)],
            pinned_columns=list(TABLE_COLUMNS),
        ),
    )


def build_dashboard(project: str, entity: str | None, title: str, offline: bool | str, out_dir: Path,
                    runs: str = "train") -> str:
    """Create the fold-selection workspace in W&B; offline, write its spec and say how to create it later."""
    if resolve_wandb_offline(offline):
        workspace = fold_selection_workspace(project, entity or "<your-entity>", title, runs)
        spec = out_dir / "wandb_dashboard.json"
        # wandb-workspaces serialises a workspace only through its (private) pydantic model.
        atomic_write_text(workspace._to_model().model_dump_json(indent=2), spec)
        print(f"W&B offline: wrote the workspace it would create to {spec}. To create it: sync the runs "
              f"(`wandb sync <fold>/wandb/offline-run-*`), then run `python evaluate.py task=dashboard "
              f"task.project={project}` with WANDB_API_KEY set on a machine that reaches W&B.")
        return str(spec)
    import wandb

    entity = entity or wandb.Api().default_entity
    workspace = fold_selection_workspace(project, entity, title, runs).save()
    print(f"W&B fold-selection workspace: {workspace.url}")
    return str(workspace.url)
