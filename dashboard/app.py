"""政务服务“好差评”监督 — the supervision dashboard (Streamlit entry point).

    hcp dashboard            # or: streamlit run dashboard/app.py (with `hcp serve` owning the warehouse)

This script runs on every interaction: it restores the location from the URL, checks the login, draws the
filters, works out the user's scope and hands over to the page (``views/*.py`` (not ``pages/``: Streamlit would treat that folder as an old-style multipage app)).
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

import streamlit as st

# `streamlit run dashboard/app.py` puts dashboard/ on the path, not the project: make `dashboard.*` importable.
_ROOT = str(Path(__file__).resolve().parents[1])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from dashboard import auth, sessions, ui  # noqa: E402
from dashboard import labels as L  # noqa: E402
from dashboard.data import Filters  # noqa: E402
from hcp.scope import NotPermitted  # noqa: E402
from hcp.config import SessionsConfig, get_config  # noqa: E402
from hcp.i18n import tr  # noqa: E402
from hcp.periods import Period  # noqa: E402

st.set_page_config(page_title="政务服务“好差评”监督", page_icon=":material/monitoring:", layout="wide",
                   initial_sidebar_state="expanded")
st.markdown(
    f"""<style>
    html, body, [class*="css"], .stMarkdown, .stMetric, button, input, textarea {{ font-family: {L.FONT_FAMILY}; }}
    [data-testid="stMetricValue"] {{ font-size: 1.6rem; }}
    [data-testid="stMetricLabel"] p {{ font-size: 0.9rem; }}
    .block-container {{ padding-top: 3.2rem; }}
    .st-key-hcp_cookie {{ display: none; }}
    </style>""",
    unsafe_allow_html=True,
)

ui.read_url()
lang = ui.get("lang", "zh")


def _page_defs(lang: str) -> list:
    icons = {"overview": ":material/dashboard:", "ranking": ":material/leaderboard:", "overdue": ":material/alarm:",
             "ratings": ":material/rate_review:", "drill": ":material/account_tree:", "catalogue": ":material/list_alt:",
             "quality": ":material/fact_check:"}
    return [st.Page(path, title=L.t(lang, key), icon=icons[key], url_path=key, default=(key == "overview"))
            for key, path in ui.PAGES.items()] + [st.Page("views/anomalies.py", title=L.tr(lang, "异常评价", "Rating anomalies"), icon=":material/policy:", url_path="anomalies")]  # models.anomaly


def _login(lang: str) -> None:
    st.title(L.t(lang, "app_title"))
    users = auth.list_users()
    if not users:
        st.warning(L.t(lang, "no_users"))
        st.stop()
    with st.form("login"):
        username = st.text_input(L.t(lang, "username"), key="login_user")
        password = st.text_input(L.t(lang, "password"), type="password", key="login_password")
        submitted = st.form_submit_button(L.t(lang, "login"), type="primary")
    if submitted:
        client = _client_address()
        user = auth.authenticate(username.strip(), password, client=client)
        if user is None:
            verdict = auth.lockout(username.strip(), client)
            if verdict.allowed:
                st.error(L.t(lang, "login_failed"))
            else:
                minutes = verdict.minutes_left(dt.datetime.now(dt.timezone.utc))
                st.error(L.t(lang, "login_locked").format(minutes=minutes))
        else:
            st.session_state["username"] = user.username
            settings = get_config().dashboard.sessions
            if settings.remember:  # a reload or a new tab stays logged in: the cookie is written next run
                token, session = sessions.start(user.username, auth.password_hash(user.username) or "",
                                                settings=settings)
                st.session_state[_TOKEN], st.session_state[_SESSION] = token, session
            st.session_state.pop("_session_ended", None)
            st.rerun()
    if st.session_state.get("_session_ended"):
        st.info(tr(lang, "会话已结束（已退出、超时或密码已更改），请重新登录。",
                   "Your session has ended (logged out, timed out or password changed); please log in again."))
    st.toggle("English", key="w_lang_login", value=(lang == "en"), on_change=_lang_changed, args=("w_lang_login",))
    st.stop()


def _client_address() -> str:
    """Where a login comes from, for the per-client lockout: the peer address Streamlit saw, or — only
    when ``[dashboard.logins] trust_forwarded_for`` says a proxy sets it — the first X-Forwarded-For hop
    ("" when unknown, e.g. in tests)."""
    if get_config().dashboard.logins.trust_forwarded_for:
        header = st.context.headers.get("X-Forwarded-For")
        forwarded = header.split(",")[0].strip() if isinstance(header, str) else ""
        if forwarded:
            return forwarded
    address = st.context.ip_address
    return address if isinstance(address, str) else ""  # no address outside a real browser session


def _lang_changed(key: str) -> None:
    ui.set_loc(lang="en" if st.session_state.get(key) else "")


#: This tab's session (dashboard.sessions.Session) and its token, when the login is remembered.
_SESSION, _TOKEN = "_session", "_session_token"


def _resume(settings: SessionsConfig) -> None:
    """A reload or a new tab: log in again from the session cookie of an earlier login, if it is still
    valid (checked once per tab: the cookies are those the browser sent when the tab connected)."""
    if "_cookie_browser" in st.session_state:
        return
    try:
        cookie = st.context.cookies.get(settings.cookie_name)
    except Exception:  # no browser connection (e.g. a headless AppTest run): nothing to resume
        cookie = None
    st.session_state["_cookie_browser"] = cookie or None
    if not cookie or st.session_state.get("username"):
        return
    verdict = sessions.check(cookie, auth.password_hash, settings=settings)
    if verdict.ok:
        st.session_state["username"] = verdict.session.username
        st.session_state[_TOKEN], st.session_state[_SESSION] = cookie, verdict.session
    else:
        st.session_state["_session_ended"] = verdict.reason  # the refused cookie is cleared by _sync_cookie


def _current_user():
    settings = get_config().dashboard.sessions
    if settings.remember:
        _resume(settings)
    username = st.session_state.get("username")
    if not username:
        return None
    session = st.session_state.get(_SESSION)
    if session is not None:
        # Every run: a logout elsewhere, `hcp users logout`, a new password or the timeout ends this tab too.
        verdict = sessions.check(st.session_state[_TOKEN], auth.password_hash, settings=settings)
        if not verdict.ok:
            _drop_login()
            st.session_state["_session_ended"] = verdict.reason
            return None
        fresh = sessions.renew(verdict.session, auth.password_hash(username) or "", settings=settings)
        if fresh is not None:
            st.session_state[_TOKEN], st.session_state[_SESSION] = fresh
    user = auth.get_user(username)  # re-read: a removed or changed user takes effect at once
    if user is None:
        _drop_login()
    return user


def _sync_cookie() -> None:
    """Make the browser's session cookie this tab's token (or clear it after a logout or a refused
    cookie): a script run in the page writes ``document.cookie`` — Path=/, SameSite=Strict, Secure over
    https, living until the session's own end. Emitted only when the browser's cookie differs."""
    settings = get_config().dashboard.sessions
    if not settings.remember or "_cookie_browser" not in st.session_state:
        return
    token, session = st.session_state.get(_TOKEN), st.session_state.get(_SESSION)
    if token == st.session_state["_cookie_browser"]:
        return
    max_age = max(0, session.expires(settings) - int(dt.datetime.now(dt.timezone.utc).timestamp())) if token else 0
    cookie = f"{settings.cookie_name}={token or ''}; Path=/; Max-Age={max_age}; SameSite=Strict"
    with st.container(key="hcp_cookie"):
        st.html(f"<script>document.cookie = {json.dumps(cookie)} + (location.protocol === 'https:' ? '; Secure' : '');"
                "</script>", unsafe_allow_javascript=True)
    st.session_state["_cookie_browser"] = token


def _drop_login() -> None:
    for key in ("username", "_ctx", _TOKEN, _SESSION):
        st.session_state.pop(key, None)


def _logout() -> None:
    session = st.session_state.get(_SESSION)
    if session is not None:
        sessions.end(session)  # server-side: the token, wherever it was copied, is refused from now on
    _drop_login()
    st.session_state["loc"] = {k: v for k, v in ui.loc().items() if k == "lang"}


def _control(key: str, options: list, loc_key: str, label: str, fmt) -> str:
    """A select box bound to the location (controlled: the location is the state, the URL mirrors it)."""
    current = ui.get(loc_key)
    st.session_state[key] = current if current in options else options[0]
    st.selectbox(label, options, key=key, format_func=fmt,
                 on_change=lambda: ui.set_loc(**{loc_key: st.session_state[key]}))
    return st.session_state[key]


def _period_filter(lang: str, choice) -> str:
    """The period picker: the months with data only (newest first; the month in progress labelled 本月截至 …),
    then a custom date range. Without a period in the location the dashboard opens on the last complete
    month. A month without data reached by a link is shown as such (placeholder), never added to the list."""
    custom = "custom"
    months = list(choice.months)
    fallback = choice.default or dt.date.today().strftime("%Y-%m")
    current = ui.get("period")
    if not current:
        current = fallback
        ui.loc()["period"] = fallback  # the URL holds the place: a shared link keeps the month
    try:
        parsed = Period.parse(current)
    except ValueError:
        parsed = Period.parse(fallback)
    options = [*months, custom]
    if parsed.is_month:
        st.session_state["w_period"] = parsed.label if parsed.label in months else None
    else:
        st.session_state["w_period"] = custom

    def changed() -> None:
        value = st.session_state["w_period"]
        if value is None:
            return
        if value != custom:
            ui.set_loc(period=value)
        else:
            start = parsed.start
            ui.set_loc(period=f"{start:%Y-%m-%d}..{parsed.end - dt.timedelta(days=1):%Y-%m-%d}")

    st.selectbox(L.t(lang, "period"), options, key="w_period", on_change=changed,
                 placeholder=L.t(lang, "no_data_period").format(period=parsed.label),
                 format_func=lambda v: L.t(lang, "custom_range") if v == custom else ui.period_label(v, lang, choice))
    if parsed.is_month:
        return parsed.label
    st.session_state["w_range"] = (parsed.start, parsed.end - dt.timedelta(days=1))

    def range_changed() -> None:
        value = st.session_state["w_range"]
        if isinstance(value, (tuple, list)) and len(value) == 2:
            ui.set_loc(period=f"{value[0]:%Y-%m-%d}..{value[1]:%Y-%m-%d}")

    st.date_input(L.t(lang, "custom_range"), key="w_range", on_change=range_changed)
    return parsed.label


def _filters(user, lang: str, choice) -> tuple:
    base = user.scope()
    st.sidebar.markdown(f"**{user.name or user.username}**  \n{L.pair(lang, L.ROLES, user.role)}")
    st.sidebar.button(L.t(lang, "logout"), on_click=_logout, key="logout")
    st.session_state["w_lang"] = lang == "en"
    st.sidebar.toggle("English", key="w_lang", on_change=_lang_changed, args=("w_lang",))
    st.sidebar.divider()
    st.sidebar.markdown(f"**{L.t(lang, 'filters')}**")
    with st.sidebar:
        period = _period_filter(lang, choice)
        scope = base
        region = ui.get("region")
        if base.role != "dept":
            regions = ui.q("regions_in_scope", base)
            names = dict(zip(regions["region_code"].to_list(), regions["region_name"].to_list()))
            levels = dict(zip(regions["region_code"].to_list(), regions["level"].to_list()))
            options = [""] + [c for c in regions["region_code"].to_list()
                              if c != (base.region_prefix.ljust(12, "0") if base.region_prefix else None)]
            if region and region not in options:
                options.append(region)  # a crafted or stale link: judged below, not silently dropped
            _control("w_region", options, "region", L.t(lang, "region"),
                     lambda c: L.t(lang, "all") if not c else "\u3000" * (levels.get(c, 1) - 1) + names.get(c, c))
        try:
            if region:
                scope = ui.q("check_region", base, region)
            dept = ui.get("dept")
            if base.role == "dept":
                depts = ui.q("departments_in_scope", base)
                st.caption(f"{L.t(lang, 'dept')}: {depts['dept_name'][0] if depts.height else base.dept_code}")
                if dept and dept != base.dept_code:
                    raise NotPermitted(dept)
            else:
                depts = ui.q("departments_in_scope", scope)
                options = [""] + depts["dept_code"].to_list()
                dept_names = dict(zip(depts["dept_code"].to_list(), depts["dept_name"].to_list()))
                if dept and dept not in options:
                    options.append(dept)
                _control("w_dept", options, "dept", L.t(lang, "dept"),
                         lambda c: L.t(lang, "all") if not c else dept_names.get(c, c))
            if dept:
                scope = ui.q("check_dept", base if not region else scope, dept)
        except NotPermitted:
            return base, None
        types = [""] + ui.q("item_types")
        _control("w_itype", types, "itype", L.t(lang, "item_type"),
                 lambda v: L.t(lang, "all") if not v else L.item_type(lang, v))
        channels = [""] + ui.q("case_channels")
        _control("w_channel", channels, "channel", L.t(lang, "channel"),
                 lambda v: L.t(lang, "all") if not v else L.case_channel(lang, v))
    filters = Filters(period=period, item_type=ui.get("itype"), channel=ui.get("channel"))
    return base, (scope, filters)


user = _current_user()
pages = _page_defs(lang)
navigation = st.navigation(pages, position="top" if user else "hidden")
_sync_cookie()
if user is None:
    _login(lang)

choice = ui.period_choice()
base, chosen = _filters(user, lang, choice)
if chosen is None:
    st.session_state["_ctx"] = ui.Ctx(user=user, lang=lang, base=base, scope=base, choice=choice,
                                      filters=Filters(period=choice.default or dt.date.today().strftime("%Y-%m")))
    st.error(L.t(lang, "not_permitted"), icon=":material/block:")
    st.button(L.t(lang, "up"), on_click=lambda: ui.set_loc(region="", dept=""), key="reset_scope")
    ui.write_url()
    st.stop()
scope, filters = chosen
st.session_state["_ctx"] = ui.Ctx(user=user, lang=lang, base=base, scope=scope, filters=filters, choice=choice)
st.session_state["_page"] = navigation.url_path or "overview"
ui.write_url()
navigation.run()
