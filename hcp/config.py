"""The configuration: typed sections, parsed once from ``hcp/defaults.toml`` overlaid with the user's file.

Where a value comes from, the last one winning:

1. ``hcp/defaults.toml`` — every setting and its default, each documented there exactly once;
2. the user's file: ``$HCP_CONFIG`` if set, else ``$HCP_HOME/config.toml`` if it exists. Tables are merged key by
   key, so a file that sets only ``[scoring.weights] on_time_rate = 30`` keeps every other default;
3. the ``HCP_*`` variables that override a setting (``HCP_WAIT``, ``HCP_DASHBOARD_PORT``, ``HCP_INGEST_*``; read
   through :mod:`hcp.settings`, listed in the header of ``defaults.toml``).

Every key of a section is a field of its frozen dataclass below and vice versa (``tests/test_config_sections.py``
holds the two together); a key the sections do not know, a value of the wrong type or out of range is a
:class:`ConfigError` naming the setting. :func:`get_config` is the process-wide configuration, parsed again only
when the user's file or an ``HCP_*`` override changes; :func:`reset_config` forgets it (tests).
:meth:`Config.from_dict` builds one from a dict laid over the defaults, as a user's file would be.
"""

from __future__ import annotations

import dataclasses
import re
import threading
import tomllib
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hcp import indicators, settings
from hcp.errors import HcpError

DEFAULTS = Path(__file__).with_name("defaults.toml")

#: The steps of the bad-rating loop (``[loop]``), each a number of working days.
LOOP_STEPS = ("verify_days", "rectify_days", "feedback_days", "revisit_days")
#: The volume thresholds an office may set for its subtree (``[ranking.locality."<code>"]``).
RANKING_LOCALITY_KEYS = ("min_cases", "min_ratings")
_COOKIE_NAME = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")


class ConfigError(HcpError, ValueError):
    """A setting of the configuration that cannot be used (its message names it)."""


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(f"配置错误 / configuration error: {message}")


# Sections -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TimelinessConfig:
    """``[timeliness]``: the yellow card (黄牌) of an open case."""

    warning_working_days: int

    def __post_init__(self):
        _check(self.warning_working_days >= 0, "[timeliness] warning_working_days must not be negative")


@dataclass(frozen=True)
class MetricsConfig:
    """``[metrics]``: the incremental job's safety margin and what a read command may compute first."""

    watermark_margin_seconds: float
    read_refresh_budget: int

    def __post_init__(self):
        _check(self.watermark_margin_seconds >= 0 and self.read_refresh_budget >= 0,
               "[metrics] watermark_margin_seconds and read_refresh_budget must not be negative")


@dataclass(frozen=True)
class LoopConfig:
    """``[loop]``: due dates of the bad-rating loop (差评整改闭环) in working days, with per-locality overrides
    (``locality``: region code → {step → days}; the most specific region wins)."""

    verify_days: int
    rectify_days: int
    feedback_days: int
    revisit_days: int
    locality: dict[str, dict[str, int]]

    def __post_init__(self):
        for code, values in self.locality.items():
            unknown = sorted(set(values) - set(LOOP_STEPS))
            _check(not unknown, f"[loop.locality.\"{code}\"] knows only {', '.join(LOOP_STEPS)}, not {', '.join(unknown)}")
        days = [*(getattr(self, step) for step in LOOP_STEPS), *(v for m in self.locality.values() for v in m.values())]
        _check(all(v >= 0 for v in days), "[loop] 天数不能为负 / day counts must not be negative")

    def days(self, step: str) -> int:
        """The default number of working days of ``step`` (``verify_days`` …)."""
        return getattr(self, step)

    def by_locality(self, step: str) -> dict[str, int]:
        """Region code → working days of ``step``, for the regions that override it."""
        return {code: values[step] for code, values in self.locality.items() if step in values}


@dataclass(frozen=True)
class ScoringConfig:
    """``[scoring]``: the weights of the composite score (综合得分) and the targets and directions the config
    overrides (an indicator weighed 0 is left out). See :mod:`metrics.score`."""

    weights: dict[str, float]
    targets: dict[str, float]
    direction: dict[str, str]

    def __post_init__(self):
        object.__setattr__(self, "weights", {k: float(v) for k, v in self.weights.items() if float(v) > 0})
        object.__setattr__(self, "targets", {k: float(v) for k, v in self.targets.items()})
        missing = sorted(set(self.weights) - set(self.targets))
        _check(not missing, f"[scoring.targets] has no target for {', '.join(missing)}")
        for key, target in self.targets.items():
            _check(0 < target <= 1, f"[scoring.targets] {key} = {target}: a target must be in (0, 1]")
        for key, way in self.direction.items():
            _check(way in ("higher", "lower"), f"[scoring.direction] {key} = {way!r}: use \"higher\" or \"lower\"")


@dataclass(frozen=True)
class RankingConfig:
    """``[ranking]``: who is ranked and who can be marked (see :mod:`metrics.score`); ``locality``: region code →
    {``min_cases``/``min_ratings`` → n}, an office's own volume thresholds for its subtree."""

    min_cases: int
    min_ratings: int
    bottom_min_peers: int
    #: The bottom-two mark needs a score at least this many points below the peer group's median.
    bottom_margin_points: float
    #: Peer group of counties: ``province`` (a province office ranks all its counties together) or ``city``.
    county_peers: str
    locality: dict[str, dict[str, int]]

    def __post_init__(self):
        _check(self.county_peers in ("province", "city"),
               f"[ranking] county_peers = {self.county_peers!r}: use \"province\" or \"city\"")
        _check(self.bottom_margin_points >= 0, "[ranking] bottom_margin_points must not be negative")
        for name in ("min_cases", "min_ratings", "bottom_min_peers"):
            _check(getattr(self, name) >= 1, f"[ranking] {name} must be at least 1")
        for code, values in self.locality.items():
            unknown = sorted(set(values) - set(RANKING_LOCALITY_KEYS))
            _check(not unknown, f"[ranking.locality.\"{code}\"] knows only min_cases, min_ratings, "
                                f"not {', '.join(unknown)}")
            _check(all(v >= 1 for v in values.values()), f"[ranking.locality.\"{code}\"] thresholds must be at least 1")


@dataclass(frozen=True)
class SuspiciousConfig:
    """``[supervision.suspicious]``: the thresholds of the suspicious-rating rules (异常评价)."""

    top_level: int
    burst_minutes: int
    burst_min_count: int
    include_ended_cases: bool

    def __post_init__(self):
        _check(1 <= self.top_level <= 5 and self.burst_min_count >= 2 and self.burst_minutes >= 1,
               "[supervision.suspicious] top_level 应为 1–5，burst_min_count ≥ 2，burst_minutes ≥ 1 / "
               "[supervision.suspicious] needs top_level 1–5, burst_min_count ≥ 2, burst_minutes ≥ 1")


@dataclass(frozen=True)
class SupervisionConfig:
    """``[supervision]``: appeals, revisits, escalation of red cards, rating invitations."""

    appeal_decide_days: int
    revisit_anonymous: bool
    escalate_after_red_days: int
    invite_after_days: int
    invite_window_days: int
    suspicious: SuspiciousConfig

    def __post_init__(self):
        _check(self.appeal_decide_days >= 0 and self.invite_after_days >= 0 and self.invite_window_days >= 1
               and self.escalate_after_red_days >= 1,
               "[supervision] 的天数不能为负，invite_window_days 与 escalate_after_red_days 至少为 1 / "
               "[supervision] day counts must not be negative; invite_window_days and escalate_after_red_days "
               "must be at least 1")


@dataclass(frozen=True)
class ReportsConfig:
    """``[reports]``: the schedule of bulletins, metrics and digest, the archive, and the bulletin's targets for
    indicators the scoring does not weigh (``targets``)."""

    monthly_cron: str
    metrics_cron: str
    digest_cron: str
    monthly_regions: tuple[str, ...]
    archive_dir: str
    monthly_catch_up: int
    digest_catch_up: int
    metrics_catch_up: int
    retry_attempts: int
    retry_backoff_seconds: float
    retry_backoff_max_seconds: float
    scheduler_in_serve: bool
    serve_catch_up_delay_seconds: float
    targets: dict[str, float]

    def archive_root(self) -> Path:
        """Where published reports go: ``archive_dir``, else ``$HCP_HOME/reports``."""
        return Path(self.archive_dir).expanduser() if self.archive_dir else settings.hcp_home() / "reports"


@dataclass(frozen=True)
class RiskModelConfig:
    """``[models.risk]``: from which probability an open case is listed as likely to go overdue (可能超期)."""

    watch_threshold: float

    def __post_init__(self):
        _check(0 < self.watch_threshold <= 1, "配置项 [models.risk] watch_threshold 应为 0 到 1 之间的概率 / "
                                              f"[models.risk] watch_threshold must be a probability in (0, 1], "
                                              f"not {self.watch_threshold!r}")


@dataclass(frozen=True)
class CauseModelConfig:
    """``[models.cause]``: whether the cause classifier learns from the shipped seed set too."""

    use_seed: bool


@dataclass(frozen=True)
class ModelsConfig:
    risk: RiskModelConfig
    cause: CauseModelConfig


@dataclass(frozen=True)
class LoginsConfig:
    """``[dashboard.logins]``: brute-force protection of the dashboard's login (:mod:`dashboard.login_guard`)."""

    user_failures: int
    client_failures: int
    window_minutes: float
    lockout_minutes: float
    delay_seconds: float
    #: Behind a reverse proxy that sets X-Forwarded-For, the client is its first hop (else the peer address).
    trust_forwarded_for: bool

    def __post_init__(self):
        _check(self.user_failures >= 1 and self.client_failures >= 1 and self.window_minutes > 0
               and self.lockout_minutes >= 0 and self.delay_seconds >= 0,
               "[dashboard.logins] failures must be at least 1, window_minutes positive, the others not negative")


@dataclass(frozen=True)
class SessionsConfig:
    """``[dashboard.sessions]``: how long a dashboard session lasts (:mod:`dashboard.sessions`)."""

    remember: bool
    idle_minutes: float
    absolute_hours: float
    renew_minutes: float
    cookie_name: str

    def __post_init__(self):
        _check(self.idle_minutes > 0 and self.absolute_hours > 0 and self.renew_minutes >= 0,
               "[dashboard.sessions] 时长须为正数 / durations must be positive")
        _check(bool(_COOKIE_NAME.match(self.cookie_name)),
               "[dashboard.sessions] cookie_name 只能含字母、数字、_- / letters, digits, _ and - only")

    @property
    def idle(self) -> int:
        """Seconds without activity after which a session ends."""
        return int(self.idle_minutes * 60)

    @property
    def absolute(self) -> int:
        """Seconds after the login after which a session ends."""
        return int(self.absolute_hours * 3600)


@dataclass(frozen=True)
class DashboardConfig:
    """``[dashboard]``: hosting the dashboard in ``hcp serve``, its targets, logins and sessions."""

    serve: bool
    port: int
    host: str
    targets: dict[str, float]
    logins: LoginsConfig
    sessions: SessionsConfig

    def __post_init__(self):
        _check(0 <= self.port <= 65535, f"[dashboard] port = {self.port}: a port is 0–65535")


@dataclass(frozen=True)
class IngestConfig:
    """``[ingest]``: the HTTP push endpoint's limits and its group commit (:mod:`ingest.http`)."""

    max_body_bytes: int
    max_lines: int
    queue_rows: int
    max_inflight_bytes: int
    unknown_items: str
    group_max_rows: int
    group_wait_ms: float

    def __post_init__(self):
        _check(min(self.max_body_bytes, self.max_lines, self.queue_rows, self.max_inflight_bytes) >= 1,
               "[ingest] max_body_bytes, max_lines, queue_rows and max_inflight_bytes must be at least 1")
        _check(self.unknown_items in ("flag", "quarantine"),
               f"[ingest] unknown_items = {self.unknown_items!r}: use \"flag\" or \"quarantine\"")
        _check(self.group_max_rows >= 0 and self.group_wait_ms >= 0,
               "[ingest] group_max_rows and group_wait_ms must not be negative")

    @property
    def group_wait_seconds(self) -> float:
        return self.group_wait_ms / 1000.0


@dataclass(frozen=True)
class WarehouseConfig:
    """``[warehouse]``: how long to wait for an embedded warehouse another process holds."""

    wait_seconds: float

    def __post_init__(self):
        _check(self.wait_seconds >= 0, "[warehouse] wait_seconds must not be negative")


@dataclass(frozen=True)
class Config:
    """The whole configuration, one typed section per table of ``defaults.toml``."""

    timeliness: TimelinessConfig
    metrics: MetricsConfig
    loop: LoopConfig
    scoring: ScoringConfig
    ranking: RankingConfig
    supervision: SupervisionConfig
    reports: ReportsConfig
    models: ModelsConfig
    dashboard: DashboardConfig
    ingest: IngestConfig
    warehouse: WarehouseConfig

    @classmethod
    def load(cls, path: Path | None = None) -> "Config":
        """The defaults overlaid with ``path`` (default: the user's file) and the ``HCP_*`` overrides."""
        path = path or settings.config_path()
        data = _defaults()
        if path is not None:
            data = _merge(data, _read_toml(Path(path)))
        return _build(cls, _merge(data, _environment()), "")

    @classmethod
    def from_dict(cls, overrides: dict) -> "Config":
        """The defaults overlaid with ``overrides`` (laid over them as a user's file would be; no environment)."""
        return _build(cls, _merge(_defaults(), overrides), "")


# Parsing --------------------------------------------------------------------------------------------------
def _merge(base: dict, override: dict) -> dict:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _read_toml(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError) as exc:
        raise ConfigError(f"配置文件有误 / the configuration file {path} cannot be read: {exc}") from exc


def _defaults() -> dict:
    """``hcp/defaults.toml`` over the indicators' default targets and directions (declared once, in
    :mod:`hcp.indicators`)."""
    data = _read_toml(DEFAULTS)
    return _merge(indicators.config_defaults(data["scoring"]["weights"]), data)


def defaults_dict() -> dict:
    """``hcp/defaults.toml`` as a plain dict (for the test that holds it against the sections)."""
    return _defaults()


def _setting(where: str) -> str:
    """``models.risk.watch_threshold`` → ``[models.risk] watch_threshold``."""
    table, _, key = where.rpartition(".")
    return f"[{table}] {key}" if table else key


def _scalar(value: Any, kind: type, where: str) -> Any:
    where = _setting(where)
    if kind is bool:
        _check(isinstance(value, bool), f"{where} = {value!r}: expected true or false")
        return value
    if kind is int:
        _check(isinstance(value, int) and not isinstance(value, bool), f"{where} = {value!r}: expected a whole number")
        return value
    if kind is float:
        _check(isinstance(value, (int, float)) and not isinstance(value, bool), f"{where} = {value!r}: expected a number")
        return float(value)
    _check(isinstance(value, str), f"{where} = {value!r}: expected a string")
    return value


def _coerce(value: Any, hint: Any, where: str) -> Any:
    if dataclasses.is_dataclass(hint):
        _check(isinstance(value, dict), f"[{where}] should be a table")
        return _build(hint, value, where)
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is dict:
        _check(isinstance(value, dict), f"{_setting(where)} should be a table")
        return {str(k): _coerce(v, args[1], f"{where}.{k}") for k, v in value.items()}
    if origin is tuple:
        _check(isinstance(value, list), f"{_setting(where)} = {value!r}: expected a list")
        return tuple(_scalar(v, args[0], where) for v in value)
    return _scalar(value, hint, where)


def _build(cls: type, data: dict, where: str):
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    label = where or "the configuration"
    unknown = sorted(set(data) - set(names))
    _check(not unknown, f"[{label}] has no setting {', '.join(unknown)}")
    missing = [n for n in names if n not in data]
    _check(not missing, f"[{label}] misses {', '.join(missing)} (hcp/defaults.toml is incomplete)")
    return cls(**{n: _coerce(data[n], hints[n], f"{where}.{n}" if where else n) for n in names})


def _number(name: str, text: str, kind: type) -> Any:
    try:
        return kind(text)
    except ValueError:
        raise ConfigError(f"配置错误 / configuration error: ${name} = {text!r} is not a number") from None


def _environment() -> dict:
    """The ``HCP_*`` variables that override a setting (:data:`hcp.settings.SETTING_VARIABLES`), as a dict laid
    over the files."""
    overlay: dict[str, dict] = {}
    for name, text in settings.setting_overrides().items():
        section, key, kind = settings.SETTING_VARIABLES[name]
        if name == "HCP_DASHBOARD_PORT" and text.strip().lower() in ("off", "no", "false", "-1"):
            key, value = "serve", False
        else:
            value = text if kind is str else _number(name, text.strip(), kind)
        overlay.setdefault(section, {})[key] = value
    return overlay


def _environment_key() -> tuple:
    return tuple(sorted(settings.setting_overrides().items()))


# The process-wide configuration ---------------------------------------------------------------------------
_cache: dict[tuple, Config] = {}
_cache_lock = threading.Lock()


def get_config() -> Config:
    """The configuration of this process: parsed once, and again only when the user's file (its path, size or
    modification time) or an ``HCP_*`` override changes."""
    path = settings.config_path()
    try:
        stat = path.stat() if path is not None else None
    except OSError:
        stat = None
    key = (str(path), stat and (stat.st_mtime_ns, stat.st_size), _environment_key())
    with _cache_lock:
        config = _cache.get(key)
        if config is None:
            config = Config.load(path)
            _cache.clear()
            _cache[key] = config
        return config


def reset_config() -> None:
    """Forget the parsed configuration (tests that change the files in place within the same second)."""
    with _cache_lock:
        _cache.clear()

