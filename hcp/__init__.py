"""hcp — supervision analytics for government-service performance and “好差评” ratings.

The package holds what every part shares: settings, the domain vocabulary, the working-day
calendar, personal-data protection and the `hcp` command line. Storage lives in `warehouse`,
the pipeline stages in `ingest`, `metrics`, `models`, `dashboard` and `reports`.
"""

__version__ = "0.1.0"
