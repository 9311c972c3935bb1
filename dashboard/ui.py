"""What every page shares: the warehouse, the cached scoped queries, login, filters and the URL.

* **Warehouse.** One per Streamlit process, opened with :func:`warehouse.open_warehouse` — through
  ``hcp serve`` when it owns the embedded warehouse (the normal case), directly otherwise.
* **Cache.** Every query goes through :func:`q`, which calls :mod:`dashboard.data` under
  ``st.cache_data`` keyed on the user's scope, the filters and the state of the tables the query reads
  (:func:`warehouse.queries.state.data_stamp`, narrowed with ``DataStamp.of`` to the tables a
  :class:`warehouse.reads.ReadRecorder` saw it read). A new ``hcp compute`` or a recorded action shows at
  once; records streaming in expire only the queries that read their tables.
* **Location.** The place in the app — period, region, department, item type, channel, item, case,
  language, and a few page settings — lives in ``st.session_state["loc"]`` and is mirrored into the URL
  (``st.query_params``) on every run, so any view can be shared as a link. A link opened in a new session
  restores it; in-app navigation goes through :func:`go`.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import threading
from pathlib import Path
from dataclasses import dataclass, replace

import pandas as pd
import polars as pl
import streamlit as st

from dashboard import data
from dashboard import labels as L
from dashboard.data import Filters
from hcp.settings import warehouse_dsn
from reports.archive import Archive, default_root
from reports.monthly import scope_key
from warehouse import open_warehouse
from warehouse.client import WarehouseError
from warehouse.queries.state import DataStamp
from warehouse.reads import ReadRecorder
from hcp.config import get_config
from hcp.scope import NotPermitted, Scope
from hcp.indicators import DEFAULT_TARGETS

#: Location keys mirrored into the URL, in URL order.
LOCATION_KEYS = ("period", "region", "dept", "itype", "channel", "item", "case", "rating", "asof", "level", "lang")
#: Keys that name a place below the region; changing a level clears what is below it.
_BELOW = {"region": ("dept", "item", "case", "rating"), "dept": ("item", "case", "rating"), "item": ("case",)}

PAGES = {
    "overview": "views/overview.py",
    "ranking": "views/ranking.py",
    "overdue": "views/overdue.py",
    "ratings": "views/ratings.py",
    "drill": "views/drill.py",
    "catalogue": "views/catalogue.py",
    "quality": "views/quality.py",
}

# Warehouse -----------------------------------------------------------------------------------------------
_lock = threading.Lock()
_open: dict[str, object] = {}


def _warehouse_key() -> str:
    return warehouse_dsn()


def warehouse():
    """This process's warehouse (opened on first use; through ``hcp serve`` when it owns it)."""
    key = _warehouse_key()
    with _lock:
        wh = _open.get(key)
        if wh is None:
            wh = open_warehouse()
            _open[key] = wh
        return wh


def close_warehouse() -> None:
    """Close every warehouse this process opened (tests; a proxy whose owner restarted)."""
    with _lock:
        opened = list(_open.values())
        _open.clear()
    for wh in opened:
        wh.close()


def _on_warehouse(run):
    """``run(warehouse())``; an owner that restarted leaves a stale proxy, so the warehouse is reopened once."""
    try:
        return run(warehouse())
    except WarehouseError as exc:
        if "owner" not in str(exc).lower() and "connect" not in str(exc).lower():
            raise
        close_warehouse()
        return run(warehouse())


def _call(name: str, args: tuple, kwargs: dict):
    return _on_warehouse(lambda wh: getattr(data, name)(wh, *args, **kwargs))


def _call_recording(name: str, args: tuple, kwargs: dict) -> tuple[object, frozenset[str]]:
    """:func:`_call`, and the tables it read (:class:`warehouse.reads.ReadRecorder`)."""
    def run(wh):
        recorder = ReadRecorder(wh)
        return getattr(data, name)(recorder, *args, **kwargs), frozenset(recorder.tables)
    return _on_warehouse(run)


#: What each query (its name and arguments) has read so far: its cache entries are keyed on the state of
#: these tables only. Learned by watching it run, and widened whenever a run reads more (a query that takes
#: another path for other data): a cache entry is keyed on what was known to be read when it was looked up,
#: so an entry made by a run that read more is simply never found again.
_reads: dict[tuple, frozenset[str]] = {}
#: The value of a query's first run, for the cache entry keyed on what that run turned out to read.
_seeds: dict[tuple, object] = {}
_MISSING = object()


def _learn(query: tuple, tables: frozenset[str]) -> frozenset[str]:
    """What ``query`` is known to read, widened by ``tables`` (what a run of it has just read)."""
    known = _reads.get(query)
    if known is not None and tables <= known:
        return known
    if len(_reads) > 20_000:
        _reads.clear()
    widened = _reads[query] = (known or frozenset()) | tables
    return widened


@st.cache_data(max_entries=2000, show_spinner=False)
def _cached(name: str, dsn: str, version: tuple, args: tuple, kwargs: tuple):
    seeded = _seeds.pop((name, dsn, version, args, kwargs), _MISSING)
    if seeded is not _MISSING:
        return seeded
    value, tables = _call_recording(name, args, dict(kwargs))
    _learn((name, args, kwargs), tables)
    return value


@st.cache_data(ttl=2, max_entries=8, show_spinner=False)
def _version(dsn: str) -> DataStamp:
    return _call("data_stamp", (), {})


@st.cache_data(max_entries=8, show_spinner=False)
def _arrivals(dsn: str, minute: str) -> DataStamp:
    """The stamp as first read in ``minute`` (``YYYY-MM-DD hh:mm``): what had arrived then."""
    return _version(dsn)


@st.cache_data(max_entries=4, show_spinner=False)
def _hourly_arrivals(dsn: str, hour: str) -> DataStamp:
    """The stamp as first read in ``hour`` (``YYYY-MM-DD hh``): what had arrived then. Not forgotten by
    :func:`refresh_version`."""
    return _version(dsn)


def version(every: str = "minute") -> DataStamp:
    """The data version the pages are keyed on: what the engine computed (case facts, results, runs) as of
    two seconds ago at most, and what had arrived (records, reference data, urges) as of the current
    minute's first look. While records stream in, a page that reads them is computed once a minute, not on
    every click: a live page's instant is the minute anyway (``as of 10:31``), and a record received in a
    minute shows from the next one. An action recorded here (:func:`refresh_version`) shows at once.
    ``every="hour"``: arrivals as of the hour's first look (the month's rating anomalies, ~40 s at 10 M)."""
    dsn, now = _warehouse_key(), dt.datetime.now(data.SHANGHAI)
    arrived = (_hourly_arrivals(dsn, f"{now:%Y-%m-%d %H}") if every == "hour"
               else _arrivals(dsn, f"{now:%Y-%m-%d %H:%M}"))
    return _version(dsn).with_arrivals_of(arrived)


def refresh_version() -> None:
    """Forget the data version (after recording an action, so the next read sees it). The hourly arrivals stay:
    no page keyed on them shows an action, and scoring a month's anomalies again costs ~40 s at 10 M."""
    _version.clear()
    _arrivals.clear()


def q(name: str, *args, **kwargs):
    """A scoped query of :mod:`dashboard.data`, cached on its arguments and the state of the tables it reads
    (:meth:`warehouse.queries.state.DataStamp.of`): while ratings stream in, the pages that read only the
    stored results stay as they were computed, and a page that reads ratings is computed again (at most once
    a minute: :func:`version`).

    The stamp is taken before the query runs, so an entry's key never claims newer data than it holds. The first
    run of a query (nothing known of what it reads) runs outside the cache, then seeds the entry keyed on
    what it read, so it is computed once."""
    dsn, kw = _warehouse_key(), tuple(sorted(kwargs.items()))
    stamp, query = version(), (name, args, kw)
    try:
        tables = _reads.get(query)
    except TypeError:  # an argument Python cannot hash (Streamlit's cache can): keyed on the whole version
        return _cached(name, dsn, tuple(stamp), args, kw)
    if tables is not None:
        return _cached(name, dsn, stamp.of(tables), args, kw)
    value, tables = _call_recording(name, args, dict(kwargs))
    key = (name, dsn, stamp.of(_learn(query, tables)), args, kw)
    _seeds[key] = value
    try:
        return _cached(*key)
    finally:
        _seeds.pop(key, None)


# Context -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Ctx:
    """Who is looking, in which language, at what."""

    user: object
    lang: str
    base: Scope  # the user's own scope
    scope: Scope  # narrowed by the region and department filters
    filters: Filters
    choice: data.PeriodChoice | None = None  # the months with data, the default one, the month in progress

    def t(self, key: str) -> str:
        return L.t(self.lang, key)


def ctx() -> Ctx:
    return st.session_state["_ctx"]


def loc() -> dict:
    return st.session_state.setdefault("loc", {})


def get(key: str, default: str = "") -> str:
    return loc().get(key) or default


def set_loc(**changes) -> None:
    """Change the location in place (and the URL), clearing what lies below a changed level."""
    state = loc()
    for key, value in changes.items():
        if state.get(key, "") != (value or ""):
            for below in _BELOW.get(key, ()):
                if below not in changes:
                    state.pop(below, None)
        if value:
            state[key] = str(value)
        else:
            state.pop(key, None)
    write_url()


def go(page: str, **changes) -> None:
    """Navigate to a page at a new location (a drill-down click, a breadcrumb)."""
    set_loc(**changes)
    st.session_state["_nav"] = True
    if page == st.session_state.get("_page"):
        st.rerun()
    st.switch_page(PAGES[page], query_params=url_params())


def url_params() -> dict[str, str]:
    state = loc()
    return {k: state[k] for k in LOCATION_KEYS if state.get(k)}


def write_url() -> None:
    params = url_params()
    if dict(st.query_params) != params:
        st.query_params.from_dict(params)
    st.session_state["_url_written"] = params


def read_url() -> None:
    """Take the location from the URL when it was changed from outside the app (a shared link)."""
    params = {k: v for k, v in st.query_params.to_dict().items() if k in LOCATION_KEYS}
    if st.session_state.pop("_nav", False):
        return
    written = st.session_state.get("_url_written")
    if "loc" not in st.session_state:
        st.session_state["loc"] = dict(params)
    elif params and params != written:
        st.session_state["loc"] = dict(params)


# Formatting ----------------------------------------------------------------------------------------------
def local_time(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(data.SHANGHAI)
        return value.strftime("%Y-%m-%d %H:%M")
    return str(value)


def local_day(value) -> str:
    return "—" if value is None else value.isoformat()


def names(kind: str) -> dict[str, str]:
    """Code -> name for departments, items or regions of the user's scope."""
    c = ctx()
    if kind == "dept":
        frame = q("departments_in_scope", c.base)
        return dict(frame.select("dept_code", "dept_name").rows()) if frame.height else {}
    if kind == "item":
        return q("item_names", c.base)
    return q("region_names", c.base)


def not_permitted() -> None:
    st.error(ctx().t("not_permitted"), icon=":material/block:")
    st.stop()


def timed_page(title_key: str) -> None:
    """Page header: the page's title."""
    st.subheader(ctx().t(title_key))


def _selection(event, field: str) -> list:
    """A field of a selection event (attribute or mapping access: both forms reach the script)."""
    if event is None:
        return []
    selection = event.get("selection") if isinstance(event, dict) else getattr(event, "selection", None)
    if selection is None:
        return []
    values = selection.get(field) if isinstance(selection, dict) else getattr(selection, field, None)
    return list(values or [])


def select_row(event) -> int | None:
    """The selected row of a dataframe selection event, if any."""
    rows = _selection(event, "rows")
    return rows[0] if rows else None


def select_point(event) -> dict | None:
    """The first selected point of a chart selection event, if any."""
    points = _selection(event, "points")
    return points[0] if points else None


def rate_column(label: str) -> st.column_config.NumberColumn:
    return st.column_config.NumberColumn(label, format="%.2f%%")


def count_column(label: str) -> st.column_config.NumberColumn:
    return st.column_config.NumberColumn(label, format="localized")


def percent(frame: pl.DataFrame, columns) -> pl.DataFrame:
    """Rates (fractions) as percentages for display columns formatted ``%.2f%%``."""
    return frame.with_columns([(pl.col(c) * 100).round(2) for c in columns if c in frame.columns])


def period_label(label: str, lang: str | None = None, choice: data.PeriodChoice | None = None) -> str:
    """A period as the picker shows it: the month in progress with 本月截至 <date> (or, for past data whose
    newest event ends the warehouse, 截至 <date>)."""
    if choice is None:
        c = ctx()
        lang, choice = c.lang, c.choice
    if choice is not None and label == choice.in_progress:
        return label + L.paren(lang, in_progress_words(lang, choice))
    return label


def in_progress_words(lang: str, choice: data.PeriodChoice) -> str:
    """本月截至 <date> (or 截至 <date> for past data whose newest event ends the month) for the month in
    progress; short, to fit the picker (the page's note says the rest)."""
    key = "month_to_date" if choice.live_clock else "partial_month"
    return L.t(lang, key).format(date=f"{choice.as_of:%m-%d}")


def period_has_data() -> bool:
    """False for a month without data (no completed case, no rating anywhere): it has no score and no rank."""
    c = ctx()
    return not (c.filters.parsed.is_month and c.choice is not None and c.filters.period not in c.choice.months)


def period_notes() -> bool:
    """The notes a period-bound page shows first: the month is not over yet; or it has no data at all (then
    returns False: the page has nothing else to show — no score, no rank, no table of nothings)."""
    c = ctx()
    if not period_has_data():
        st.info(c.t("empty_period").format(period=c.filters.period), icon=":material/event_busy:")
        return False
    if c.choice is not None and c.filters.period == c.choice.in_progress:
        st.caption(":material/schedule: " + c.t("in_progress_note" if c.choice.live_clock else "partial_note").format(
            period=c.filters.period, date=f"{c.choice.as_of:%Y-%m-%d %H:%M}"))
    return True


def filters_caption() -> str:
    c = ctx()
    parts = [f"{c.t('period')}: {period_label(c.filters.period)}"]
    if c.filters.item_type:
        parts.append(f"{c.t('item_type')}: {L.item_type(c.lang, c.filters.item_type)}")
    if c.filters.channel:
        parts.append(f"{c.t('channel')}: {L.case_channel(c.lang, c.filters.channel)}")
    return " · ".join(parts)


__all__ = ["Ctx", "ctx", "q", "go", "loc", "get", "set_loc", "Scope", "Filters", "NotPermitted", "replace"]


# Settings and shared widgets -----------------------------------------------------------------------------
@st.cache_data(ttl=60, show_spinner=False)
def targets() -> dict[str, float]:
    """Targets shown beside the indicators: the indicators' defaults (:mod:`hcp.indicators`), then
    [scoring.targets], then [dashboard.targets]."""
    config = get_config()
    merged = dict(DEFAULT_TARGETS)
    merged.update(config.scoring.targets)
    merged.update(config.dashboard.targets)
    return merged


@st.cache_data(ttl=60, show_spinner=False)
def ranking_settings():
    """``[ranking]``: who is ranked (minimum volume), the bottom-two minimum peer-group size."""
    return get_config().ranking


@st.cache_data(ttl=60, show_spinner=False)
def warning_days() -> int:
    return get_config().timeliness.warning_working_days


#: What a table shows for a missing value (an empty base, no score): never the literal "None".
EMPTY = "—"


def dataframe(frame: pl.DataFrame, **kwargs) -> None:
    """A read-only table (missing values shown as —)."""
    st.dataframe(frame, hide_index=True, width="stretch", placeholder=EMPTY, **kwargs)


#: State colours (light backgrounds, so the text stays readable): red and yellow cards, and likely to go
#: overdue (可能超期, the overdue-risk model's prediction: violet, a colour no card has).
STATE_COLOURS = {"red": "#fde2e1", "yellow": "#fff4cc", "likely": "#eee6fb"}


def coloured(frame: pl.DataFrame, states: pl.Series, column: str | None = None):
    """``frame`` as a pandas Styler in which each row's state cell — ``column``, by default the first — has
    the colour of that row's state (``states``: keys of :data:`STATE_COLOURS`; other values uncoloured). One
    vectorised style, no per-row Python; sorting by a column in the browser keeps each colour on its row.

    One cell per row, not the whole row: the style is sent per cell, and whole coloured rows of a long queue
    were half a second of styling and megabytes of CSS on every rerun. A table with no coloured row is the
    plain frame."""
    data = frame.to_pandas()
    known = states.is_in(list(STATE_COLOURS)).fill_null(False)
    if not known.any():
        return data
    rows = data.index[known.arg_true().to_list()]
    css = pd.Series([f"background-color: {STATE_COLOURS[s]}" for s in states.filter(known).to_list()], index=rows)
    return data.style.apply(lambda _: css, subset=(rows, column or data.columns[0]))


#: How many rows a long list of cases or ratings shows — its most urgent first, as the page sorts it; the
#: CSV and Excel downloads hold every row. A person works a queue from its top (the table shows about a dozen
#: rows at a time), and a list of thousands of rows was seconds of rendering on every click.
SHOWN_ROWS = 100


def table(frame: pl.DataFrame, key: str, columns: dict | None = None, *, height: int | str = "auto",
          states: pl.Series | None = None, state_column: str | None = None, export: str | None = None,
          order: str | None = None) -> int | None:
    """A table whose rows can be clicked (single-row selection); returns the clicked row's index. With
    ``states``, each row's ``state_column`` cell (by default its first) has the colour of its state
    (:func:`coloured`); with ``export`` (a file name), CSV and
    Excel downloads of the table as shown follow it (:func:`export_buttons`).

    ``order``: ``frame`` is a work list sorted most urgent first, and these words say how (e.g. "red first, then
    yellow"); when it is longer than :data:`SHOWN_ROWS`, the table shows its first rows and says so ("showing
    the first N of M"), and the downloads still hold all M rows. A clicked row's index is the same in
    ``frame``."""
    shown = frame.head(SHOWN_ROWS) if order and frame.height > SHOWN_ROWS else frame
    if shown.height < frame.height:
        c = ctx()
        st.caption(L.t(c.lang, "shown_of").format(order=order, n=f"{shown.height:,}", m=f"{frame.height:,}")
                   + (L.t(c.lang, "full_list_download") if export else ""))
    data = coloured(shown, states.head(shown.height), state_column) if states is not None else shown
    event = st.dataframe(data, key=key, on_select="rerun", selection_mode="single-row", hide_index=True,
                         column_config=columns or {}, width="stretch", height=height, placeholder=EMPTY)
    if export:
        export_buttons(frame, export, columns, key=f"export_{export}")
    return select_row(event)


def export_frame(frame: pl.DataFrame, columns: dict | None = None) -> pl.DataFrame:
    """The table as shown, for a download: the shown columns under their shown headers (a column_config
    entry's label, or the plain header), missing values as "—". Only what the page selected is in it — the
    masked columns, never a pseudonym."""
    names = {}
    for name in frame.columns:
        spec = (columns or {}).get(name, name)
        label = spec.get("label") if isinstance(spec, dict) else spec
        names[name] = str(label or name)
    return frame.rename(names)


def export_bytes(frame: pl.DataFrame) -> tuple[bytes, bytes]:
    """CSV (UTF-8 with BOM, so Excel reads the Chinese) and Excel (.xlsx) bytes of ``frame``."""
    data = frame.to_pandas()
    for name, dtype in frame.schema.items():  # a whole-number column with gaps stays whole (4, not 4.0)
        if dtype.is_integer():
            data[name] = data[name].astype("Int64")
    csv = data.to_csv(index=False, na_rep=EMPTY).encode("utf-8-sig")
    buffer = io.BytesIO()
    data.to_excel(buffer, index=False, na_rep=EMPTY, engine="openpyxl")
    return csv, buffer.getvalue()


def export_buttons(frame: pl.DataFrame, name: str, columns: dict | None = None, *, key: str) -> None:
    """Download buttons for the table as shown (filters applied, personal data masked): CSV and Excel."""
    c = ctx()
    shown = export_frame(frame, columns)
    stem = f"{name}-{c.filters.period}"
    # Deferred: the files are made only when a button is clicked, so a render costs nothing more.
    with st.container(horizontal=True, gap="small"):
        st.download_button(L.tr(c.lang, "下载 CSV", "Download CSV"), lambda: export_bytes(shown)[0], f"{stem}.csv",
                           "text/csv", key=f"{key}_csv", icon=":material/download:", width="content",
                           on_click="ignore")
        st.download_button(L.tr(c.lang, "下载 Excel", "Download Excel"), lambda: export_bytes(shown)[1],
                           f"{stem}.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                           key=f"{key}_xlsx", icon=":material/download:", width="content", on_click="ignore")


def bulletin(month: str, scope: Scope, lang: str) -> tuple[str, dict[str, Path]] | None:
    """The latest published monthly bulletin of ``month`` for the scope's office — the province's (``all``)
    for an office of the whole province, a city's own for a city office — in ``lang`` (else the Chinese
    edition): its version label and its files by suffix (``.pdf``, ``.xlsx``). None when the archive has none
    (or for a department, which publishes no bulletin). Read-only use of :mod:`reports.archive`."""
    if scope.dept_code:
        return None
    region = scope.region_prefix.ljust(12, "0") if len(scope.region_prefix) > 2 else None
    archive = Archive(default_root(get_config()))
    for edition in dict.fromkeys((lang, "zh")):
        key = scope_key(region, edition)
        manifest = archive.latest("monthly", month, key)
        if manifest:
            folder = archive.folder("monthly", month, key) / f"v{manifest['version']}"
            files = {Path(f["name"]).suffix: folder / f["name"] for f in manifest.get("files", [])
                     if (folder / f["name"]).is_file()}
            return f"v{manifest['version']}", files
    return None


def scope_caption() -> str:
    """Where the figures come from: the scope and the filters, in words."""
    c = ctx()
    parts = []
    if c.scope.dept_code:
        parts.append(f"{c.t('dept')}: {names('dept').get(c.scope.dept_code, c.scope.dept_code)}")
    if c.scope.region_prefix:
        code = c.scope.region_prefix.ljust(12, "0")
        parts.append(f"{c.t('region')}: {names('region').get(code, code)}")
    if not parts:
        parts.append(c.t("province_all"))
    return " · ".join(parts) + " · " + filters_caption()


def with_contributions(frame: pl.DataFrame) -> tuple[pl.DataFrame, list[str]]:
    """Add ``c_<indicator>`` columns (points) from the ``contributions`` JSON of group-metrics rows."""
    if frame.height == 0 or "contributions" not in frame.columns:
        return frame, []
    parsed = [json.loads(v) if isinstance(v, str) else (v or {}) for v in frame["contributions"].to_list()]
    keys = [k for k in dict.fromkeys(k for p in parsed for k in p)]
    columns = {f"c_{k}": [p.get(k) for p in parsed] for k in keys}
    return frame.with_columns([pl.Series(name, values, dtype=pl.Float64) for name, values in columns.items()]), keys


def call(name: str, *args, **kwargs):
    """An uncached call of :mod:`dashboard.data` (writes, and reads that must be current)."""
    return _call(name, args, kwargs)


def default_instant(now: dt.datetime | None = None) -> dt.datetime:
    """Now; or, for a warehouse whose newest event is days old (past or demo data), that event's time
    (:func:`dashboard.data.data_instant`)."""
    return data.data_instant(now or dt.datetime.now(data.SHANGHAI), q("latest_instant"))


def period_choice() -> data.PeriodChoice:
    """The months with data, the month the dashboard opens on (the last complete one) and the month in
    progress, at the data instant (:func:`default_instant`)."""
    now = dt.datetime.now(data.SHANGHAI).replace(second=0, microsecond=0)
    as_of = default_instant(now)
    return data.period_choice(q("periods"), as_of, live_clock=(as_of == now))


def followup_columns(c) -> list[pl.Expr]:
    """A follow-up history as people read it: action, time, actor, verified cause and note (labelled)."""
    return [
        L.column("action", L.action, c.lang).alias(c.t("action")),
        pl.col("action_time").dt.strftime("%Y-%m-%d %H:%M").alias(c.t("action_time")),
        pl.col("actor").alias(c.t("actor")),
        L.column("reason_category", L.reason, c.lang).alias(c.t("reason")),
        pl.col("note").alias(c.t("note")),
    ]

