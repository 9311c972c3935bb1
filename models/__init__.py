"""scikit-learn models (overdue prediction, complaint classification, suspicious rating patterns).

Not built yet: no issue has asked for them. The rule-based suspicious-pattern detection lives in
:mod:`supervision.suspicious`; the demo generator writes ~50 cause-tagged complaint texts for a future
classifier to learn from.
"""
