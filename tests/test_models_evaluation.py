"""The evaluation figures of every model kind, worked out by hand on four rows."""

from __future__ import annotations

import numpy as np
import pytest

from models.evaluation import binary_report, calibration_table, expected_calibration_error, pr_auc_gain, score_baseline


def test_figures_of_four_rows():
    y = np.array([True, False, True, False])
    p = np.array([0.9, 0.1, 0.6, 0.4])
    report = binary_report(y, p)
    # Every positive above every negative: both areas are 1.
    assert report["roc_auc"] == 1.0 and report["pr_auc"] == 1.0
    # (0.1² + 0.1² + 0.4² + 0.4²) / 4
    assert report["brier"] == pytest.approx(0.085)
    assert report["mean_predicted"] == 0.5 and report["observed"] == 0.5
    # 0.1 → [0.1, 0.2), 0.4 → [0.35, 0.5), 0.6 → [0.5, 0.75), 0.9 → [0.75, 1.0]
    assert [(r["lo"], r["rows"], r["positives"]) for r in report["calibration"]] == [
        (0.1, 1, 0), (0.35, 1, 0), (0.5, 1, 1), (0.75, 1, 1)]
    # Gaps 0.1, 0.4, 0.4, 0.1, one row each.
    assert report["ece"] == pytest.approx(0.25)


def test_a_probability_of_one_falls_in_the_last_bin():
    table = calibration_table(np.array([1, 0]), np.array([1.0, 0.0]))
    assert [(r["lo"], r["hi"]) for r in table] == [(0.0, 0.01), (0.75, 1.0)]
    assert expected_calibration_error(table) == 0.0


def test_a_score_baseline_keeps_its_ranking_and_gets_isotonic_probabilities():
    train_score, train_y = np.array([0.1, 0.2, 0.8, 0.9]), np.array([False, False, True, True])
    report = score_baseline(train_score, train_y, np.array([0.15, 0.85, 0.3]), np.array([False, True, True]))
    assert report["roc_auc"] == 1.0  # the raw score ranks
    # Isotonic on the training rows: 0 up to 0.2, 1 from 0.8, linear between (0.3 → 1/6).
    assert [r["mean_predicted"] for r in report["calibration"]] == [0.0, pytest.approx(1 / 6, abs=1e-5), 1.0]


def test_pr_auc_gain():
    assert pr_auc_gain({"pr_auc": 0.3}, {"pr_auc": 0.15}) == {"difference": 0.15, "ratio": 2.0, "beats": True}
    assert pr_auc_gain({"pr_auc": 0.1}, {"pr_auc": 0.2})["beats"] is False
