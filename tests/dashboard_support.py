"""Shared set-up of the dashboard tests: the hand-worked October 2025 province (tests/scenario_oct2025.py),
computed by the real metrics job in a private HCP_HOME, with one user per role.

Users (password ``password-1``): ``province`` (the province office, sees all), ``qingdao`` (Qingdao city office,
region 370200000000: sees D1 and its cases), ``jinan`` (Jinan city office: D2), ``d1`` / ``d2`` (departments).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from tests import scenario_oct2025 as scenario

PASSWORD = "password-1"
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
USERS = {
    "province": dict(role="province", name="山东省政务服务管理办公室", region="370000000000"),
    "qingdao": dict(role="region", name="青岛市政务服务管理办公室", region="370200000000"),
    "jinan": dict(role="region", name="济南市政务服务管理办公室", region="370100000000"),
    "d1": dict(role="dept", name="青岛市市南区市场监督管理局", dept="D1"),
    "d2": dict(role="dept", name="济南市历下区行政审批服务局", dept="D2"),
}


def build_home(path: Path) -> Path:
    """Load the scenario into a fresh embedded warehouse under ``path``, compute it, add the users; the
    warehouse is closed again (released) when this returns."""
    from dashboard import auth
    from metrics.jobs import MetricsJob
    from warehouse import open_warehouse
    from warehouse.migrations import ensure_schema

    with home_env(path):
        wh = open_warehouse()
        try:
            ensure_schema(wh)
            scenario.load(wh)
            MetricsJob(wh).run(full=True)
        finally:
            wh.close()
        for username, spec in USERS.items():
            auth.add_user(auth.User(username=username, **spec), PASSWORD, replace=True)
    return path


@contextlib.contextmanager
def home_env(path: Path):
    saved = {k: os.environ.get(k) for k in ("HCP_HOME", "HCP_WAREHOUSE", "HCP_USERS")}
    os.environ["HCP_HOME"] = str(path)
    os.environ.pop("HCP_WAREHOUSE", None)
    os.environ.pop("HCP_USERS", None)
    try:
        yield path
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def chromium(page_load_timeout: float = 60):
    """Headless Debian chromium through its system chromedriver (never a downloaded browser), a 1440×1100
    window in Chinese: the browser of the dashboard's browser tests and of bench/dashboard_browser.py."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                     "--disable-component-update", "--no-first-run", "--disable-dev-shm-usage",
                     "--window-size=1440,1100", "--lang=zh-CN"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(page_load_timeout)
    return driver


def cell_colours(element) -> dict[tuple[int, str], str]:
    """The background colours a dataframe element of AppTest carries, by (row position, column name): read
    from its pandas Styler CSS (``#T_<uuid>_row<r>_col<c>`` selectors, several per rule when they share a
    colour). Empty for a plain (unstyled) table."""
    import re

    styler = element.proto.arrow_data.styler
    columns = list(element.value.columns)
    colours = {}
    for selectors, body in re.findall(r"([^{}]+)\{([^}]*)\}", styler.styles):
        colour = re.search(r"background-color:\s*([^;\s]+)", body)
        for row, col in re.findall(r"_row(\d+)_col(\d+)", selectors):
            if colour:
                colours[(int(row), columns[int(col)])] = colour.group(1)
    return colours
