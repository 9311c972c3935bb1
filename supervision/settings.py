"""The supervision settings, read from the configuration (``hcp/defaults.toml`` overlaid by the user's file).

* ``[loop]`` — due dates of the bad-rating loop in working days: ``verify_days`` and ``rectify_days`` after
  the rating date, ``feedback_days`` after the rectification (or explanation), ``revisit_days`` after the
  feedback; ``[loop.locality."<region code>"]`` overrides any of them for that region's subtree (the most
  specific region wins). ``rectify_days`` is read through :class:`metrics.jobs.MetricsSettings`, the very
  object the metrics engine uses for ``bad_rectified_on_time_rate``, so the two can never disagree.
* ``[supervision]`` — ``appeal_decide_days``, ``revisit_anonymous``, ``escalate_after_red_days``, ``invite_after_days``,
  ``invite_window_days``; ``[supervision.suspicious]`` — the thresholds of the suspicious-pattern rules.
* ``[timeliness] warning_working_days`` — the yellow-card threshold of ``hcp flags``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hcp.config import load_config

STEP_DEFAULTS = {"verify_days": 2, "rectify_days": 15, "feedback_days": 3, "revisit_days": 5}


@dataclass(frozen=True)
class SuspiciousSettings:
    top_level: int = 5
    burst_minutes: int = 10
    burst_min_count: int = 5
    include_ended_cases: bool = False


@dataclass(frozen=True)
class SupervisionSettings:
    #: config key (``verify_days`` …) -> default number of working days
    step_days: dict[str, int] = field(default_factory=lambda: dict(STEP_DEFAULTS))
    #: config key -> {region code -> working days} (``[loop.locality."<code>"]``)
    step_days_by_locality: dict[str, dict[str, int]] = field(default_factory=dict)
    appeal_decide_days: int = 5
    revisit_anonymous: bool = False
    escalate_after_red_days: int = 3
    invite_after_days: int = 3
    invite_window_days: int = 7
    warning_days: int = 2
    suspicious: SuspiciousSettings = field(default_factory=SuspiciousSettings)

    @classmethod
    def load(cls, config: dict | None = None) -> "SupervisionSettings":
        from metrics.jobs import MetricsSettings

        config = config if config is not None else load_config()
        metrics = MetricsSettings.load(config)
        loop = config.get("loop", {})
        sup = config.get("supervision", {})
        step_days = {key: int(loop.get(key, default)) for key, default in STEP_DEFAULTS.items()}
        step_days["rectify_days"] = metrics.rectify_days
        by_locality: dict[str, dict[str, int]] = {key: {} for key in STEP_DEFAULTS}
        for code, values in loop.get("locality", {}).items():
            for key in STEP_DEFAULTS:
                if key in values:
                    by_locality[key][code] = int(values[key])
        by_locality["rectify_days"] = dict(metrics.rectify_days_by_locality)
        sus = sup.get("suspicious", {})
        settings = cls(
            step_days=step_days,
            step_days_by_locality=by_locality,
            appeal_decide_days=int(sup.get("appeal_decide_days", 5)),
            revisit_anonymous=bool(sup.get("revisit_anonymous", False)),
            escalate_after_red_days=int(sup.get("escalate_after_red_days", 3)),
            invite_after_days=int(sup.get("invite_after_days", 3)),
            invite_window_days=int(sup.get("invite_window_days", 7)),
            warning_days=metrics.warning_days,
            suspicious=SuspiciousSettings(
                top_level=int(sus.get("top_level", 5)),
                burst_minutes=int(sus.get("burst_minutes", 10)),
                burst_min_count=int(sus.get("burst_min_count", 5)),
                include_ended_cases=bool(sus.get("include_ended_cases", False)),
            ),
        )
        settings.validate()
        return settings

    def validate(self) -> None:
        from hcp.errors import HcpError

        values = [*self.step_days.values(), *(v for m in self.step_days_by_locality.values() for v in m.values()),
                  self.appeal_decide_days, self.escalate_after_red_days, self.invite_after_days]
        if any(v < 0 for v in values) or self.invite_window_days < 1 or self.escalate_after_red_days < 1:
            raise HcpError("配置错误：[loop]/[supervision] 的天数不能为负，invite_window_days 与 escalate_after_red_days "
                           "至少为 1 / configuration error: [loop]/[supervision] day counts must not be negative; "
                           "invite_window_days and escalate_after_red_days must be at least 1")
        if not 1 <= self.suspicious.top_level <= 5 or self.suspicious.burst_min_count < 2 or self.suspicious.burst_minutes < 1:
            raise HcpError("配置错误：[supervision.suspicious] top_level 应为 1–5，burst_min_count ≥ 2，burst_minutes ≥ 1 / "
                           "configuration error: [supervision.suspicious] needs top_level 1–5, burst_min_count ≥ 2, "
                           "burst_minutes ≥ 1")
