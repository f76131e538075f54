"""Can a judge judge? From a classifier's out-of-fold predictions: its AUROC with a DeLong interval, whether it
is better than chance, its calibration (ECE and a reliability diagram) and its own operating point."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import numpy as np
import pandas as pd

from vangogh_lightning.core.backbone_registry import title_of

REPORT_THRESHOLD = 0.5  # the report's
OWN_THRESHOLD = "oof"  # task.threshold=oof: each judge at the threshold of Youden's J on its out-of-fold predictions
CALIBRATION_BINS = 10


def delong_interval(probabilities, labels, confidence: float = 0.95) -> tuple[float, float, float]:
    """(AUROC, low, high): the two-sided DeLong interval (DeLong et al. 1988, by midranks as Sun and Xu 2014),
    kept within [0, 1]; NaN where a class has fewer than two images (no variance can be estimated)."""
    from scipy.stats import norm, rankdata

    scores, positive = np.asarray(probabilities, dtype=float), np.asarray(labels).astype(bool)
    m, n = int(positive.sum()), int((~positive).sum())
    if m == 0 or n == 0:
        return math.nan, math.nan, math.nan
    ranks = rankdata(np.concatenate([scores[positive], scores[~positive]]))
    above = (ranks[:m] - rankdata(scores[positive])) / n  # per positive: share of negatives below it (ties: half)
    below = 1.0 - (ranks[m:] - rankdata(scores[~positive])) / m  # per negative: share of positives above it
    auc = float(above.mean())
    if m < 2 or n < 2:
        return auc, math.nan, math.nan
    half = norm.ppf(0.5 + confidence / 2) * math.sqrt(above.var(ddof=1) / m + below.var(ddof=1) / n)
    return auc, float(max(0.0, auc - half)), float(min(1.0, auc + half))


def youden_threshold(probabilities, labels) -> float:
    """The threshold (a probability that occurs; P >= it says Van Gogh) with the largest TPR - FPR; of equal ones
    the highest (fewest false Van Goghs). NaN unless both classes occur."""
    p, y = np.asarray(probabilities, dtype=float), np.asarray(labels).astype(bool)
    if y.all() or not y.any():
        return math.nan
    candidates = np.unique(p)
    said = p[None, :] >= candidates[:, None]
    j = said[:, y].mean(axis=1) - said[:, ~y].mean(axis=1)
    return float(candidates[np.flatnonzero(j == j.max())[-1]])


def reliability(probabilities, labels, bins: int = CALIBRATION_BINS) -> pd.DataFrame:
    """Per non-empty bin of P(Van Gogh) over [0, 1]: its images, mean P, and the share that are Van Gogh."""
    p, y = np.asarray(probabilities, dtype=float), np.asarray(labels, dtype=float)
    which = np.clip((p * bins).astype(int), 0, bins - 1)
    frame = pd.DataFrame({"bin": which, "p": p, "y": y}).groupby("bin")
    return pd.DataFrame({"images": frame.size(), "mean_p": frame["p"].mean(), "van_gogh": frame["y"].mean()})


@dataclass(frozen=True)
class JudgeQuality:
    """What a judge's out-of-fold predictions say about it (``threshold``: the one it judges at)."""

    images: int
    van_gogh: int
    auroc: float
    low: float
    high: float
    ece: float
    threshold: float
    said_van_gogh: float  # share of its out-of-fold paintings it calls Van Gogh at ``threshold``
    own_threshold: float  # Youden's J

    @property
    def no_better_than_chance(self) -> str:
        """Why the judge cannot show deception ('' when it can): AUROC interval over 0.5, or one verdict for all."""
        if self.images == 0 or self.van_gogh in (0, self.images):
            return "its out-of-fold paintings are of one class only, so how well it judges is unknown"
        if math.isnan(self.low):
            return (f"its out-of-fold paintings ({self.van_gogh} Van Gogh, {self.images - self.van_gogh} others) are "
                    "too few for an AUROC interval")
        if self.low <= 0.5:
            return f"its out-of-fold AUROC {self.auroc:.2f} (95 % CI {self.low:.2f}–{self.high:.2f}) includes 0.5"
        if self.said_van_gogh in (0.0, 1.0):
            return (f"at threshold {self.threshold:.2f} it calls {'every' if self.said_van_gogh else 'no'} "
                    f"out-of-fold painting Van Gogh")
        return ""

    def as_dict(self) -> dict:
        return {**asdict(self), "no_better_than_chance": self.no_better_than_chance}

    @classmethod
    def from_dict(cls, values: dict) -> JudgeQuality:
        return cls(**{f.name: values[f.name] for f in fields(cls)})


def assess(oof: pd.DataFrame, threshold: float, confidence: float = 0.95) -> JudgeQuality:
    """The quality of a judge from its out-of-fold rows (``p_van_gogh``, ``label``) at ``threshold``."""
    import torch
    from torchmetrics.functional.classification import binary_calibration_error

    p, y = oof["p_van_gogh"].to_numpy(dtype=float), oof["label"].to_numpy(dtype=int)
    auc, low, high = delong_interval(p, y, confidence)
    ece = float(binary_calibration_error(torch.tensor(p), torch.tensor(y), n_bins=CALIBRATION_BINS)) \
        if len(y) else math.nan
    return JudgeQuality(len(y), int(y.sum()), auc, low, high, ece, float(threshold),
                        float((p >= threshold).mean()) if len(p) else math.nan,
                        youden_threshold(p, y))


def chance_warning(name: str, quality: JudgeQuality) -> str:
    """The flag a page opens with for a judge that is no better than chance ('' for one that is)."""
    why = quality.no_better_than_chance
    return f"the {name} judge is no better than chance: {why}; its Table 1 column cannot show deception" if why else ""


def thresholds_text(thresholds: dict[str, float], setting: float | str) -> str:
    """'threshold 0.5', or 'each judge's own threshold (Youden's J out of fold): VGG19 0.48, AlexNet 0.61'."""
    if setting != OWN_THRESHOLD and len(set(thresholds.values())) == 1:
        return f"threshold {next(iter(thresholds.values()))}"
    return ("each judge's own threshold (Youden's J on its out-of-fold predictions): "
            + ", ".join(f"{title_of(j)} {t:.3g}" for j, t in thresholds.items()))


def judges_table(quality: dict[str, JudgeQuality]) -> pd.DataFrame:
    """One row per judge: its fold's paintings, AUROC with its interval, ECE, share called Van Gogh, own threshold."""
    return pd.DataFrame([{"judge": title_of(j), "out-of-fold paintings": f"{q.images} ({q.van_gogh} Van Gogh)",
                          "AUROC (95 % CI, DeLong)": f"{q.auroc:.3f} ({q.low:.3f}–{q.high:.3f})",
                          "ECE": f"{q.ece:.3f}", "threshold": f"{q.threshold:.3g}",
                          "calls Van Gogh": f"{q.said_van_gogh:.0%}", "own threshold": f"{q.own_threshold:.3g}",
                          "can judge": "no" if q.no_better_than_chance else "yes"} for j, q in quality.items()])


JUDGES_NOTE = ("Each judge on the validation paintings of its own fold (fold_<k>/oof_predictions.csv); these chose "
               "the fold and its best epoch, so the figures are optimistic. ECE: expected calibration error over "
               f"{CALIBRATION_BINS} bins (torchmetrics). Own threshold: the largest TPR − FPR (Youden's J).")
