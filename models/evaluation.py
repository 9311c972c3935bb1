"""How a probability model is judged, and its baselines beside it (for every model kind).

* **ROC-AUC** — the chance that a random positive is scored above a random negative (0.5 = no skill);
* **PR-AUC** — average precision (sklearn's step-wise area under the precision–recall curve); for a rare
  outcome it is the honest summary (a no-skill scorer gets the positive share, not 0.5);
* **Brier score** — mean squared error of the probabilities (lower is better);
* **calibration table** — rows binned by predicted probability (:data:`CALIBRATION_EDGES`, finer at the
  low end where rare outcomes live): rows, mean predicted, observed share; and the **expected calibration
  error** (ECE: the row-weighted mean gap between the two).

A baseline that is a score rather than a probability (e.g. the share of the limit used) keeps its raw
score for the two AUCs and is mapped to probabilities by isotonic regression fitted on the *training*
rows for the Brier score and the calibration table, so that it is judged as a probability fairly.
"""

from __future__ import annotations

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

CALIBRATION_EDGES = (0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0)


def calibration_table(y: np.ndarray, p: np.ndarray, edges=CALIBRATION_EDGES) -> list[dict]:
    """One row per non-empty bin [lo, hi) (the last bin includes 1): rows, positives, mean predicted,
    observed share."""
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    bins = np.clip(np.searchsorted(np.asarray(edges), p, side="right") - 1, 0, len(edges) - 2)
    table = []
    for b in range(len(edges) - 1):
        mask = bins == b
        n = int(mask.sum())
        if not n:
            continue
        table.append({"lo": edges[b], "hi": edges[b + 1], "rows": n, "positives": int(y[mask].sum()),
                      "mean_predicted": round(float(p[mask].mean()), 5), "observed": round(float(y[mask].mean()), 5)})
    return table


def expected_calibration_error(table: list[dict]) -> float:
    total = sum(r["rows"] for r in table)
    return float(sum(r["rows"] * abs(r["mean_predicted"] - r["observed"]) for r in table) / total) if total else 0.0


def binary_report(y: np.ndarray, probability: np.ndarray, score: np.ndarray | None = None) -> dict:
    """Every figure for one scorer on one test set; ``score`` (default: the probability) ranks for the AUCs."""
    y = np.asarray(y, dtype=bool)
    score = probability if score is None else score
    table = calibration_table(y, probability)
    return {
        "roc_auc": round(float(roc_auc_score(y, score)), 4),
        "pr_auc": round(float(average_precision_score(y, score)), 4),
        "brier": round(float(brier_score_loss(y, probability)), 5),
        "mean_predicted": round(float(np.mean(probability)), 5),
        "observed": round(float(np.mean(y)), 5),
        "ece": round(expected_calibration_error(table), 5),
        "calibration": table,
    }


def score_baseline(train_score: np.ndarray, train_y: np.ndarray, test_score: np.ndarray, test_y: np.ndarray) -> dict:
    """A score baseline: raw score for the AUCs, isotonic probabilities (fitted on the training rows) for the
    Brier score and the calibration table."""
    iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(train_score, train_y.astype(float))
    return binary_report(test_y, iso.predict(test_score), score=test_score)


def pr_auc_gain(model: dict, baseline: dict) -> dict:
    """How much the model beats a baseline on PR-AUC: the difference (points of average precision) and
    the ratio."""
    difference = model["pr_auc"] - baseline["pr_auc"]
    ratio = model["pr_auc"] / baseline["pr_auc"] if baseline["pr_auc"] else None
    return {"difference": round(difference, 4), "ratio": round(ratio, 3) if ratio is not None else None,
            "beats": difference > 0}
