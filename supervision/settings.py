"""The supervision settings: a view over the typed configuration (:class:`hcp.config.Config`).

* ``[loop]`` — due dates of the bad-rating loop in working days: ``verify_days`` and ``rectify_days`` after
  the rating date, ``feedback_days`` after the rectification (or explanation), ``revisit_days`` after the
  feedback; ``[loop.locality."<region code>"]`` overrides any of them for that region's subtree (the most
  specific region wins). ``rectify_days`` is the very setting the metrics engine uses for
  ``bad_rectified_on_time_rate`` (:class:`metrics.jobs.MetricsSettings` reads the same ``config.loop``), so
  the two can never disagree.
* ``[supervision]`` — ``appeal_decide_days``, ``revisit_anonymous``, ``escalate_after_red_days``, ``invite_after_days``,
  ``invite_window_days``; ``[supervision.suspicious]`` — the thresholds of the suspicious-pattern rules.
* ``[timeliness] warning_working_days`` — the yellow-card threshold of ``hcp flags``.

Every default and every check of a value lives in ``hcp/defaults.toml`` and :mod:`hcp.config`.
"""

from __future__ import annotations

from dataclasses import dataclass

from hcp.config import LOOP_STEPS, Config, SuspiciousConfig, get_config


@dataclass(frozen=True)
class SupervisionSettings:
    #: config key (``verify_days`` …) -> default number of working days
    step_days: dict[str, int]
    #: config key -> {region code -> working days} (``[loop.locality."<code>"]``)
    step_days_by_locality: dict[str, dict[str, int]]
    appeal_decide_days: int
    revisit_anonymous: bool
    escalate_after_red_days: int
    invite_after_days: int
    invite_window_days: int
    warning_days: int
    suspicious: SuspiciousConfig

    @classmethod
    def load(cls, config: Config | None = None) -> "SupervisionSettings":
        """The view over ``config`` (default: the process's configuration, :func:`hcp.config.get_config`)."""
        config = config or get_config()
        sup = config.supervision
        return cls(
            step_days={step: config.loop.days(step) for step in LOOP_STEPS},
            step_days_by_locality={step: config.loop.by_locality(step) for step in LOOP_STEPS},
            appeal_decide_days=sup.appeal_decide_days,
            revisit_anonymous=sup.revisit_anonymous,
            escalate_after_red_days=sup.escalate_after_red_days,
            invite_after_days=sup.invite_after_days,
            invite_window_days=sup.invite_window_days,
            warning_days=config.timeliness.warning_working_days,
            suspicious=sup.suspicious,
        )
