"""scikit-learn models, trained, evaluated and used through one lifecycle (docs/models.md).

* :mod:`models.registry` — the kinds of model (today ``risk``; ``cause`` and ``anomaly`` to come);
* :mod:`models.store` — versions under ``$HCP_HOME/models/`` with a manifest, loaded safely with skops;
* :mod:`models.evaluation` — ROC-AUC, PR-AUC, Brier, calibration, baselines;
* :mod:`models.risk` / :mod:`models.risk_features` — the overdue risk of open cases (超期风险).

The rule-based suspicious-pattern detection lives in :mod:`supervision.suspicious`.
"""
