"""Issue 11 in a real browser (headless Debian chromium, `hcp serve` hosting the dashboard, as
tests/test_dashboard_browser.py): a session survives a reload and a new tab opening a shared link, and
logout ends it — the old cookie replayed in a fresh browser is refused; a filtered table downloaded as CSV
and Excel holds exactly the filtered rows and no personal data; the English overview shows no Chinese
character apart from the names of units, departments and items. Screenshots in test-artifacts/dashboard/.
"""

from __future__ import annotations

import contextlib
import re
import time


from tests.dashboard_support import USERS
from tests.test_dashboard_browser import (CHROMEDRIVER, CHROMIUM, browser, login, no_error, pytestmark,  # noqa: F401
                                          server, settled, shot, wait_for)

COOKIE = "hcp_session"
CJK = re.compile(r"[\u2e80-\u2fff\u3000-\u303f\u3400-\u9fff\uf900-\ufaff\uff00-\uffef]")


@contextlib.contextmanager
def fresh_browser():
    """Another chromium with a profile of its own (no cookie of the module's browser), as another person's."""
    from tests.dashboard_support import chromium

    driver = chromium()  # a new chromium starts with an empty profile of its own
    try:
        yield driver
    finally:
        driver.quit()


def body(driver) -> str:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.TAG_NAME, "body").text


def logged_in(driver) -> bool:
    from selenium.webdriver.common.by import By

    return any(b.text.strip() in ("退出登录", "Log out") for b in driver.find_elements(By.CSS_SELECTOR, "button"))


def login_form(driver) -> bool:
    from selenium.webdriver.common.by import By

    return bool(driver.find_elements(By.CSS_SELECTOR, "input[aria-label='用户名']"))


def landed(driver, text: str) -> None:
    """The page has been drawn logged in, showing ``text`` (and no login form)."""
    wait_for(driver, lambda d: logged_in(d) and text in body(d), 45)
    settled(driver)
    assert not login_form(driver)
    no_error(driver)


def test_a_session_survives_a_reload_and_a_new_tab_and_logout_ends_it_everywhere(server, browser):
    from selenium.webdriver.common.by import By

    url, _ = server
    shared = "drill?period=2025-10&dept=D1&case=C"
    login(browser, url, "qingdao", "drill?period=2025-10&dept=D1")
    cookie = wait_for(browser, lambda d: d.get_cookie(COOKIE), 20)
    assert cookie["path"] == "/" and cookie.get("sameSite") == "Strict" and not cookie.get("secure")  # http here
    assert cookie["value"] not in browser.current_url and "hcp_session" not in browser.current_url
    assert cookie.get("expiry") and cookie["expiry"] - time.time() <= 4 * 3600 + 60   # idle_minutes = 240

    # A reload: still logged in, on the same page and place.
    browser.refresh()
    landed(browser, "青岛市市南区市场监督管理局")
    assert "/drill" in browser.current_url and "dept=D1" in browser.current_url
    shot(browser, "session-after-reload")

    # A new tab of the same browser opening a shared link: in place, no login.
    first = browser.current_window_handle
    browser.switch_to.new_window("tab")
    browser.get(f"{url}/{shared}")
    landed(browser, "办理过程")
    assert "case=C" in browser.current_url
    shot(browser, "session-shared-link-new-tab")

    # The cookie alone is the credential: replayed in another browser it logs in (before the logout) ...
    with fresh_browser() as other:
        other.get(f"{url}/_stcore/health")
        other.add_cookie({"name": COOKIE, "value": cookie["value"], "path": "/", "sameSite": "Strict"})
        other.get(f"{url}/{shared}")
        landed(other, "办理过程")

    # Logout in the new tab: the cookie is cleared, the old tab asks for the login on a reload ...
    [b for b in browser.find_elements(By.CSS_SELECTOR, "button") if b.text.strip() == "退出登录"][0].click()
    wait_for(browser, login_form, 30)
    wait_for(browser, lambda d: d.get_cookie(COOKIE) is None, 20)
    browser.close()
    browser.switch_to.window(first)
    browser.refresh()
    wait_for(browser, login_form, 45)
    assert not logged_in(browser)

    # ... and the copied cookie, replayed in a fresh browser after the logout, is refused.
    with fresh_browser() as other:
        other.get(f"{url}/_stcore/health")
        other.add_cookie({"name": COOKIE, "value": cookie["value"], "path": "/", "sameSite": "Strict"})
        other.get(f"{url}/{shared}")
        wait_for(other, login_form, 45)
        wait_for(other, lambda d: "会话已结束" in body(d), 20)
        assert not logged_in(other) and "办理过程" not in body(other)
        wait_for(other, lambda d: d.get_cookie(COOKIE) is None, 20)  # the refused cookie is cleared
        shot(other, "session-replayed-cookie-refused")


def _download(driver, label: str, folder, suffix: str):
    from selenium.webdriver.common.by import By

    folder = folder / f"download-{len(list(folder.iterdir()))}"  # a folder per download: no renamed duplicate
    folder.mkdir()
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(folder)})
    before = set(folder.iterdir())
    buttons = wait_for(driver, lambda d: [b for b in d.find_elements(By.CSS_SELECTOR, "[data-testid='stDownloadButton'] button")
                                          if label in b.text and b.is_displayed()], 30)
    buttons[0].click()  # the first table's (the open red and yellow cards)
    done = wait_for(driver, lambda d: [p for p in set(folder.iterdir()) - before
                                       if p.suffix == suffix and p.stat().st_size > 0], 45)
    time.sleep(0.5)  # written in full (Chrome renames the .crdownload when done)
    return done[0]


def test_a_filtered_table_downloads_as_csv_and_excel_with_the_filter_applied(server, browser, tmp_path):
    """The province office downloads the overdue watch's open cards, then narrows it to 济南市 with the
    sidebar's region filter and downloads again: the filtered CSV and Excel hold exactly the Jinan rows of
    the full table (D2's, in 历下区), none of Qingdao's, the same rows in both files, and no personal data."""
    import pandas as pd
    from selenium.webdriver.common.by import By

    from tests.test_dashboard_browser import choose

    url, _ = server
    login(browser, url, "province", "overdue?period=2025-10&asof=2025-10-29T10:00")
    try:
        wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "[data-testid='stDataFrame'] canvas"), 45)
    except Exception:
        shot(browser, "province-overdue-export-failed")
        raise
    everything = pd.read_csv(_download(browser, "下载 CSV", tmp_path, ".csv"), encoding="utf-8-sig", dtype=str)
    choose(browser, "区划", "济南市")
    wait_for(browser, lambda d: "region=370100000000" in d.current_url, 20)
    settled(browser)
    shot(browser, "province-overdue-filtered-jinan")
    csv = _download(browser, "下载 CSV", tmp_path, ".csv")
    xlsx = _download(browser, "下载 Excel", tmp_path, ".xlsx")
    table = pd.read_csv(csv, encoding="utf-8-sig", dtype=str).fillna("")
    sheet = pd.read_excel(xlsx, dtype=str).fillna("")
    assert table.columns.tolist() == sheet.columns.tolist() == everything.columns.tolist()
    assert table.values.tolist() == sheet.values.tolist()
    region, dept, case = "行政区划", "部门", "办件编号"
    assert set(everything[region]) >= {"历下区", "市南区"}  # the unfiltered table has both cities' cards
    expected = everything[everything[region] == "历下区"].fillna("")
    assert len(table) and table.values.tolist() == expected.values.tolist()  # "1" in both: whole days stay whole
    assert set(table[dept]) == {"济南市历下区行政审批服务局"} and set(table[case]).isdisjoint(
        everything[everything[region] == "市南区"][case])
    # No personal data: the shown columns only, none of them a person's.
    assert not [c for c in table.columns if re.search("申请人|电话|身份证|证件|评价人|applicant|phone|key", c)]


def test_the_english_overview_shows_no_chinese_apart_from_names(server, browser):
    """Switch to English with the sidebar toggle; every visible text of the overview — the page's text and
    the charts' labels — has no CJK character once the names of the warehouse's regions, departments and
    items (and the logged-in office's name) are taken out."""
    from selenium.webdriver.common.by import By

    url, _ = server
    login(browser, url, "province", "?period=2025-10")
    toggle = wait_for(browser, lambda d: [t for t in d.find_elements(By.CSS_SELECTOR, "[data-testid='stSidebar'] label")
                                          if t.text.strip() == "English"], 20)
    toggle[0].click()
    wait_for(browser, lambda d: "lang=en" in d.current_url and "on-time rate" in body(d).lower(), 45)
    settled(browser)
    wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".js-plotly-plot .main-svg"), 20)
    time.sleep(1.0)
    no_error(browser)
    shot(browser, "province-overview-english")
    visible = browser.execute_script(
        "return [document.body.innerText,"
        " Array.from(document.querySelectorAll('.js-plotly-plot text')).map(t => t.textContent).join('\\n'),"
        " Array.from(document.querySelectorAll('[title], [aria-label]')).filter(e => e.offsetParent !== null)"
        "   .map(e => (e.getAttribute('title') || '') + ' ' + (e.getAttribute('aria-label') || '')).join('\\n')]"
        ".join('\\n')")
    from tests import scenario_oct2025 as scenario  # what build_home loaded into the warehouse

    names = {*scenario.regions()["region_name"], *scenario.departments()["dept_name"], *scenario.items()["item_name"]}
    names |= {spec["name"] for spec in USERS.values()}
    assert "山东省政务服务管理办公室" in visible  # the office's own name: a name, allowed
    rest = visible
    for name in sorted(names, key=len, reverse=True):  # longest first: 青岛市市南区… before 青岛市
        rest = rest.replace(name, "")
    chinese = sorted({line.strip() for line in rest.splitlines() if CJK.search(line)})
    assert not chinese, chinese
    assert not re.findall(r"\bNone\b", visible)
    chips = browser.find_elements(By.CSS_SELECTOR, "[data-testid='stMultiSelect']")
    browser.execute_script("arguments[0].scrollIntoView({block: 'start'})", chips[0])
    time.sleep(0.5)
    shot(browser, "province-overview-english-trend")  # the trend chips: English (they stayed Chinese once)
