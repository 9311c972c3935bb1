"""The dashboard as a person waits for it: seconds from a click to its content being shown, in the real
browser (Debian chromium, headless), on a demo month.

    .venv/bin/python bench/dashboard_browser.py --cases 1000000        # builds the demo home first
    .venv/bin/python bench/dashboard_browser.py --home /path/to/home   # an HCP_HOME already computed

1. Unless ``--home`` is given: `hcp init`, `hcp demo generate`, `hcp ingest`, `hcp compute` into a fresh
   HCP_HOME (as ``bench/dashboard.py`` does), and one demo user per role.
2. `hcp serve` owns the warehouse and hosts the dashboard, as in production.
3. For each role (province, city, department): the login (submit → the first page drawn), then every page
   by its link in the sidebar, a drill click (a bar of the drill-down chart) and a filter change (the sidebar's
   办理渠道 select box), each **cold** (the first time: Streamlit's cache empty for that query) and **warm** (the same
   click again after visiting another page).
4. Baseline, in the same run: the bare render of a trivial page — the browser and Streamlit's own round
   trip (a click on the 总览 link while on 总览: a rerun that fetches nothing new) — the floor no query can
   go under.

"Content shown" means: the server has started a script run after the click and finished it (read from
the websocket: a hook installed in every document records Streamlit's ``new_session`` and
``script_finished`` messages), nothing is loading (no status widget, skeleton or stale element of the
previous run), and the page has then been still for 0.5 s; the click's time ends at the run's end or at
the last change to the page, whichever is later. (Until issue 15's last round the bench waited only for the
page to be still: a page whose queries ran for seconds without changing the DOM was timed at the click's own
redraw — the overdue page read 0.3–0.4 s cold while it took 5–10 s.)

    .venv/bin/python bench/dashboard_browser.py --home … --roles province --only overdue,ratings   # a subset
    .venv/bin/python bench/dashboard_browser.py --home … --stream 2   # while records stream in

``--stream N``: while the clicks are timed, a platform pushes N records a second through ``POST /ingest`` of the
same ``hcp serve`` (with a province token: half ratings, half new cases' submissions, copied from the month's
own ratings and cases with new ids), as a live province does all day. The records are timed on the data's own
clock — its newest event, then as many seconds later as have passed —, so the pages' instant moves as a live
one does (a demo month's data end in the past). Every click then comes after some record arrived. The records
are deleted at the end (ids ``bench-stream-…``), so the home is left as it was.

Prints one line per (role, click) and the slowest warm click; the aim (issue 15) is every click ≤ 1.5 s warm.
The machine's load counts: run ``uptime`` beside it, and compare runs of the same load.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.dashboard_support import CHROMEDRIVER, CHROMIUM  # noqa: E402
PASSWORD = "bench-pass-1"
PAGES = {"overview": "总览", "ranking": "排名", "overdue": "超期监督", "ratings": "差评整改", "drill": "逐级钻取",
         "catalogue": "事项目录", "quality": "数据质量", "anomalies": "异常评价"}


#: Installed in every document before Streamlit's own script: records (in ``performance.now()`` time) when
#: the server starts a script run (``window.__hcpStarted``: a ``new_session`` ForwardMsg, field 4) and when it
#: says one is over (``window.__hcpFinished``: ``script_finished``, field 6, other than "finished early for a
#: rerun", 2), read from the top level of each binary websocket message (protobuf wire format: a varint tag,
#: then a varint, 8 or 4 bytes, or a length and that many bytes).
#: The page itself gives no reliable sign of a run in progress: the status widget comes up only after 500 ms
#: (and not at all in this app's minimal toolbar), and a page whose queries run for seconds changes nothing
#: in the DOM meanwhile.
RUN_FINISHED_HOOK = """
(() => {
  if (window.__hcpHooked) return;
  window.__hcpHooked = true;
  window.__hcpStarted = 0;
  window.__hcpFinished = 0;
  const scan = (buffer) => {
    const b = new Uint8Array(buffer);
    let i = 0;
    const varint = () => { let v = 0, s = 1, x; do { x = b[i++]; v += (x & 0x7f) * s; s *= 128; } while ((x & 0x80) && i < b.length); return v; };
    while (i < b.length) {
      const tag = varint(), field = Math.floor(tag / 8), wire = tag % 8;
      if (wire === 0) { const v = varint(); if (field === 6 && v !== 2) window.__hcpFinished = performance.now(); }
      else if (wire === 2) { const n = varint(); if (field === 4) window.__hcpStarted = performance.now(); i += n; }
      else if (wire === 1) { i += 8; } else if (wire === 5) { i += 4; } else { return; }
    }
  };
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener("message", (event) => {
        if (event.data instanceof ArrayBuffer) scan(event.data);
        else if (event.data instanceof Blob) event.data.arrayBuffer().then(scan);
      });
    }
  };
})();
"""


def start_browser():
    from tests.dashboard_support import chromium

    driver = chromium(page_load_timeout=120)
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": RUN_FINISHED_HOOK})
    return driver


def wait(driver, condition, timeout: float = 300.0, poll: float = 0.05):
    """WebDriverWait that retries when Streamlit replaces an element under the poll (a rerun redraws)."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=poll,
                         ignored_exceptions=(StaleElementReferenceException,)).until(condition)


#: A Streamlit run is not over, or its content not drawn, while any of these is on the page: the status
#: widget, a skeleton (a table or chart still loading), an element of the previous run not yet redrawn.
BUSY = "[data-testid='stStatusWidget'], [data-testid='stSkeleton'], [data-stale='true']"


def shown(driver, timeout: float = 300.0) -> None:
    """Wait until a run of this document is over and the page's content is drawn."""
    from selenium.webdriver.common.by import By

    def done(d):
        if not d.execute_script("return (window.__hcpFinished || 0) > (window.__hcpStarted || 0)") \
                or d.find_elements(By.CSS_SELECTOR, BUSY):
            return False
        main = d.find_elements(By.CSS_SELECTOR, "[data-testid='stMain']")
        return bool(main) and bool(main[0].text.strip())

    wait(driver, done, timeout)


#: Records, in the page, the time of the last change to the DOM (Streamlit marks elements stale during a run
#: and redraws them after it). With ``arguments[0]`` true, marks the click; otherwise returns null until the
#: server has started a run after the click and finished its latest run (a run that was still going at the
#: click does not count), else the milliseconds since the last change and the click's
#: duration (click → the later of the run's end and the last change). A click that navigates starts a new
#: document (installed again; its click time is then the navigation's start, 0).
OBSERVE = """
if (!window.__hcpObserver) {
  window.__hcpLast = performance.now();
  window.__hcpObserver = new MutationObserver(() => { window.__hcpLast = performance.now(); });
  window.__hcpObserver.observe(document.body, {subtree: true, childList: true, attributes: true, characterData: true});
}
if (arguments[0]) { window.__hcpClick = performance.now(); return null; }
const click = window.__hcpClick === undefined ? 0 : window.__hcpClick;
const started = window.__hcpStarted || 0, finished = window.__hcpFinished || 0;
if (started <= click || finished <= started) return null;
const end = Math.max(finished, window.__hcpLast);
return [performance.now() - end, end - click];
"""
QUIET_MS = 500


def timed(driver, action) -> float:
    """Seconds from ``action()`` (a click) to the content being shown: the server has finished the click's
    run, nothing is loading, and the page has been still for QUIET_MS; the time is that of the run's end or
    of the last change to the page, whichever is later (the still time and the polling are not counted)."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.common.by import By

    driver.execute_script(OBSERVE, True)
    action()

    def still(d):
        if d.find_elements(By.CSS_SELECTOR, BUSY):
            return False
        state = d.execute_script(OBSERVE, False)
        return state[1] if state is not None and state[0] > QUIET_MS else False

    try:
        return wait(driver, still, 300, 0.05) / 1000.0
    except TimeoutException:
        busy = [e.get_attribute("data-testid") for e in driver.find_elements(By.CSS_SELECTOR, BUSY)]
        state = driver.execute_script("return [window.__hcpClick, window.__hcpStarted, window.__hcpFinished, "
                                      "window.__hcpLast]")
        raise SystemExit(f"no end of the click's run after 300 s on {driver.current_url}: still loading {busy}; "
                         f"click, run started, run finished, last change at {state}") from None


def login(driver, url: str, username: str) -> float:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC

    driver.delete_all_cookies()
    driver.get(f"{url}/")
    box = wait(driver, EC.element_to_be_clickable((By.CSS_SELECTOR, "input[aria-label='用户名']")), 120)
    box.send_keys(username)
    # The form's widgets are drawn one after the other: the password box may come after the user name's.
    wait(driver, EC.element_to_be_clickable((By.CSS_SELECTOR, "input[aria-label='密码']")), 60).send_keys(PASSWORD)
    button = wait(driver, EC.element_to_be_clickable((By.CSS_SELECTOR, "[data-testid='stFormSubmitButton'] button")), 60)
    seconds = timed(driver, button.click)
    wait(driver, lambda d: [b for b in d.find_elements(By.CSS_SELECTOR, "button") if b.text.strip() == "退出登录"], 30)
    return seconds


def page_link(driver, key: str):
    from selenium.webdriver.common.by import By

    try:
        links = wait(driver, lambda d: [a for a in d.find_elements(By.CSS_SELECTOR, "a")
                                        if PAGES[key] in a.text and a.is_displayed()], 20)
    except Exception:
        raise SystemExit(f"no link to {key} on the page {driver.current_url}") from None
    return links[0]


def has_link(driver, key: str) -> bool:
    from selenium.webdriver.common.by import By

    return any(PAGES[key] in a.text for a in driver.find_elements(By.CSS_SELECTOR, "a"))


def open_page(driver, key: str) -> float:
    return timed(driver, lambda: page_link(driver, key).click())


def drill_click(driver) -> float | None:
    """Click the first bar of the drill-down chart (as a person does: at the bar's place)."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    try:
        bars = wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, ".js-plotly-plot .bars .point path"), 20)
    except Exception:
        return None
    # The biggest bar of the first chart (the sub-regions, or the items of a department): a small one can be
    # a few pixels under Plotly's drag layer.
    first_chart = driver.find_elements(By.CSS_SELECTOR, ".js-plotly-plot")[0]
    bars = first_chart.find_elements(By.CSS_SELECTOR, ".bars .point path") or bars
    bar = max(bars, key=lambda e: e.size["width"] * e.size["height"])
    # A zoomed axis clips the bars (the path runs far below the plot): aim, within the chart, just under the
    # bar's top.
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", first_chart)
    dx = bar.location["x"] + bar.size["width"] / 2 - (first_chart.location["x"] + first_chart.size["width"] / 2)
    dy = bar.location["y"] + 12 - (first_chart.location["y"] + first_chart.size["height"] / 2)
    return timed(driver, lambda: ActionChains(driver).move_to_element_with_offset(first_chart, int(dx), int(dy))
                 .click().perform())


def channel_filter(driver, option_index: int) -> float:
    """Change the sidebar's 办理渠道 filter as a person does: open the select box, click an option (index 0
    is 全部). Any channel but 全部 recomputes every indicator from case facts and ratings (the live path)."""
    from selenium.webdriver.common.by import By

    try:
        box = wait(driver, lambda d: d.find_element(By.CSS_SELECTOR, "input[aria-label='办理渠道']"), 20)
    except Exception:
        raise SystemExit("no 办理渠道 filter in the sidebar") from None
    box.click()
    options = wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "[role='option']"), 10)
    return timed(driver, lambda: options[option_index].click())


def serve(home: Path, port: int) -> subprocess.Popen:
    from dashboard import service

    env = {**os.environ, "HCP_HOME": str(home), "HCP_DASHBOARD_PORT": str(port), "HCP_USERS": str(home / "bench-users.toml")}
    env.pop("HCP_WAREHOUSE", None)
    process = subprocess.Popen([sys.executable, "-m", "hcp.cli", "serve", "--port", "0"], cwd=REPO, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if not service.wait_ready(f"http://127.0.0.1:{port}", timeout=180, process=process):
        process.kill()
        raise SystemExit(f"the dashboard did not start (see {home / 'logs' / 'dashboard.log'})")
    return process


def prepare(home: Path, cases: int, month: str, build: bool) -> list[str]:
    """Build the demo home if asked, and create the demo users (in a private users file); their names."""
    from bench.dashboard import build as build_home

    os.environ["HCP_HOME"] = str(home)
    os.environ.pop("HCP_WAREHOUSE", None)
    os.environ["HCP_USERS"] = str(home / "bench-users.toml")
    if build:
        build_home(home, cases, month)
    from dashboard import auth
    from warehouse import open_warehouse

    wh = open_warehouse()
    try:
        users = auth.create_demo_users(wh, password=PASSWORD)
        cases_in_month = wh.query_value("SELECT count() FROM case_facts FINAL WHERE toYYYYMM(completed_at) = {m:UInt32}",
                                        {"m": int(month.replace("-", ""))})
        print(f"{cases_in_month:,} cases completed in {month}", flush=True)
    finally:
        wh.close()
    return [u.username for u in users if u.username in ("province", "city", "dept")]


class Stream:
    """A platform pushing ``per_second`` records a second to ``POST /ingest`` of the home's ``hcp serve`` (until
    :meth:`stop`): ratings and new cases' submissions like the month's own, with new ids, timed on the data's
    clock (its newest event, then as many seconds later as have passed)."""

    def __init__(self, home: Path, per_second: int, month: str):
        from warehouse import open_warehouse
        from warehouse.embedded import read_owner

        self.env = {**os.environ, "HCP_HOME": str(home)}
        self.env.pop("HCP_WAREHOUSE", None)

        wh = open_warehouse()  # through the owner `hcp serve`
        try:
            province = wh.query_value("SELECT region_code FROM regions FINAL WHERE parent_code = '' LIMIT 1")
            self.clock = wh.query_value("SELECT max(event_time) FROM case_events")
            self.templates = wh.query_rows(
                "SELECT case_id, item_code, dept_code, region_code FROM ratings FINAL "
                "WHERE toYYYYMM(rated_at) = {m:UInt32} LIMIT 2000", {"m": int(month.replace("-", ""))})
        finally:
            wh.close()
        issued = subprocess.run([sys.executable, "-m", "hcp.cli", "tokens", "issue", "bench-stream", "--replace",
                                 "--kinds", "rating,case_event", "--region", province, "--json"],
                                cwd=REPO, env=self.env, capture_output=True, text=True, check=True)
        self.token = json.loads(issued.stdout)["token"]
        # `hcp serve` hosts POST /ingest beside the warehouse's owner, on the address it publishes.
        self.url, self.per_second = read_owner(home / "warehouse")["url"], per_second
        self.sent = self.failed = 0
        self.started = time.monotonic()
        self.last_failure = ""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _records(self) -> bytes:
        now = (self.clock + dt.timedelta(seconds=time.monotonic() - self.started)).isoformat(timespec="seconds")
        lines = []
        for k in range(self.per_second):
            case_id, item, dept, region = random.choice(self.templates)
            if k % 2 == 0:
                lines.append({"kind": "rating", "rating_id": f"bench-stream-{uuid.uuid4().hex}", "case_id": case_id,
                              "item_code": item, "dept_code": dept, "region_code": region, "channel": "pc",
                              "level": random.choice([1, 2, 4, 5, 5, 5]), "rated_at": now})
            else:
                lines.append({"kind": "case_event", "event_id": f"bench-stream-{uuid.uuid4().hex}",
                              "case_id": f"bench-stream-{uuid.uuid4().hex[:20]}", "event_type": "submitted", "event_time": now,
                              "item_code": item, "dept_code": dept, "region_code": region, "channel": "online"})
        return ("\n".join(json.dumps(line, ensure_ascii=False) for line in lines) + "\n").encode()

    def _run(self) -> None:
        parts = urlsplit(self.url)
        while not self._stop.wait(1.0):
            try:
                conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
                conn.request("POST", "/ingest", body=self._records(),
                             headers={"Content-Type": "application/x-ndjson", "Authorization": f"Bearer {self.token}"})
                answer = conn.getresponse()
                body = answer.read()
                conn.close()
                if answer.status == 200:
                    self.sent += self.per_second
                else:
                    self.failed += 1
                    self.last_failure = f"{answer.status} {body[:200]!r}"
            except OSError as exc:
                self.failed += 1
                self.last_failure = str(exc)

    def stop(self) -> str:
        """Stop pushing, delete what was pushed (the records and their ledger entries), revoke the token."""
        self._stop.set()
        self._thread.join(timeout=60)
        from warehouse import open_warehouse

        wh = open_warehouse()
        try:
            for table, key in (("case_events", "event_id"), ("ratings", "rating_id"), ("received_ids", "record_id")):
                wh.command(f"ALTER TABLE {table} DELETE WHERE startsWith({key}, 'bench-stream-') "
                           "SETTINGS mutations_sync = 1")
        finally:
            wh.close()
        subprocess.run([sys.executable, "-m", "hcp.cli", "tokens", "revoke", "bench-stream"], cwd=REPO, env=self.env,
                       capture_output=True, check=True)
        failures = f" (the last: {self.last_failure})" if self.failed else ""
        return f"streamed {self.sent:,} records ({self.per_second} a second), {self.failed} pushes failed{failures}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", type=Path, help="an HCP_HOME with computed metrics (default: build one)")
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--month", default="2025-10")
    parser.add_argument("--repeat", type=int, default=2, help="warm repetitions of each click (median)")
    parser.add_argument("--roles", default="province,city,dept", help="comma-separated: province, city, dept")
    parser.add_argument("--only", default="", help="comma-separated clicks to time (default all): login, floor, "
                        f"{', '.join(k for k in PAGES if k != 'overview')}, drill, filter")
    parser.add_argument("--stream", type=int, default=0, metavar="N",
                        help="push N records a second through POST /ingest while timing (a live province)")
    args = parser.parse_args()
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        raise SystemExit("needs Debian chromium and chromium-driver (scripts/system-deps.sh installs them)")

    from dashboard import service

    home = args.home or Path(tempfile.mkdtemp(prefix="hcp-bench-browser-"))
    roles = [r for r in prepare(home, args.cases, args.month, build=args.home is None) if r in args.roles.split(",")]
    only = set(filter(None, args.only.split(",")))

    def wanted(click: str) -> bool:
        return not only or click in only
    port = service.free_port()
    url = f"http://127.0.0.1:{port}"
    process = serve(home, port)
    stream = Stream(home, args.stream, args.month) if args.stream else None
    driver = start_browser()
    rows: list[tuple[str, str, float, float]] = []

    def record(role: str, click: str, cold: float | None, warm: list[float | None]) -> None:
        warm_values = [w for w in warm if w is not None]
        if cold is None or not warm_values:
            print(f"{role:9s} {click:24s} (nothing to click)", flush=True)
            return
        median = statistics.median(warm_values)
        rows.append((role, click, cold, median))
        print(f"{role:9s} {click:24s} cold {cold:6.2f} s   warm {median:6.2f} s", flush=True)

    try:
        for role in roles:
            cold = login(driver, url, role)
            if wanted("login"):
                record(role, "login", cold, [login(driver, url, role) for _ in range(args.repeat)])
            if wanted("floor"):
                floor = [timed(driver, lambda: page_link(driver, "overview").click()) for _ in range(args.repeat + 1)]
                record(role, "floor (rerun, no query)", floor[0], floor[1:])
            for key in PAGES:
                if key == "overview" or not wanted(key):
                    continue
                if not has_link(driver, key):  # e.g. 异常评价 is for offices only
                    print(f"{role:9s} page {key:19s} (not shown to this role)", flush=True)
                    continue
                cold = open_page(driver, key)
                warm = []
                for _ in range(args.repeat):
                    open_page(driver, "overview")
                    warm.append(open_page(driver, key))
                record(role, f"page {key}", cold, warm)
            if wanted("drill"):
                drill(driver, role, record, args.repeat)
            if wanted("filter"):
                channel(driver, role, record, args.repeat)
    finally:
        driver.quit()
        if stream is not None:
            print(stream.stop(), flush=True)
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
    if rows:
        worst = max(rows, key=lambda r: r[3])
        print(f"slowest warm click: {worst[1]} for {worst[0]}, {worst[3]:.2f} s; "
              f"every click ≤ 1.5 s warm: {all(r[3] <= 1.5 for r in rows)}")


def drill(driver, role: str, record, repeat: int) -> None:
    """The drill click, cold then ``repeat`` times warm (the drill page reloaded before each)."""
    open_page(driver, "drill")
    drill_url = driver.current_url
    cold = drill_click(driver)
    warm = []
    for _ in range(repeat):
        driver.get(drill_url)
        shown(driver)
        warm.append(drill_click(driver))
    record(role, "drill click", cold, warm)


def channel(driver, role: str, record, repeat: int) -> None:
    """The 办理渠道 filter on the overview, cold then ``repeat`` times warm (back to 全部 before each)."""
    open_page(driver, "overview")
    cold = channel_filter(driver, 1)
    warm = []
    for _ in range(repeat):
        channel_filter(driver, 0)
        warm.append(channel_filter(driver, 1))
    channel_filter(driver, 0)
    record(role, "filter 办理渠道", cold, warm)


if __name__ == "__main__":
    main()
