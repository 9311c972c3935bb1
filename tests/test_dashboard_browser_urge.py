"""督办 in a real browser (issue 11): the Qingdao office opens the red case M, is refused an urge without a note,
urges the department with one; then the department logs in and sees the urge at the top of its queue (差评整改
page, above the queue), with the urge history on the case page. Screenshots under test-artifacts/dashboard/.

Uses the server, browser and helpers of tests/test_dashboard_browser.py (the same `hcp serve` on the October
2025 province, the Debian chromium); skipped, like it, without /usr/bin/chromium and /usr/bin/chromedriver.
"""

from __future__ import annotations

import os

import pytest

from tests.test_dashboard_browser import (CHROMEDRIVER, CHROMIUM, browser, login, no_error, server, settled, shot,  # noqa: F401
                                          wait_for)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)),
                       reason="Debian chromium and chromium-driver are not installed"),
]


def body(driver) -> str:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.TAG_NAME, "body").text


def button(driver, text: str):
    from selenium.webdriver.common.by import By

    def label(b) -> str:  # the button's words, without the icon's ligature name before them
        lines = b.text.strip().splitlines()
        return lines[-1].strip() if lines else ""

    try:
        found = wait_for(driver, lambda d: [b for b in d.find_elements(By.CSS_SELECTOR, "button") if label(b) == text
                                            and b.is_displayed()], 20)
    except Exception:
        shot(driver, f"urge-no-button-{text}")
        raise AssertionError([b.text for b in driver.find_elements(By.CSS_SELECTOR, "button")])
    return found[0]


def logout(driver) -> None:
    button(driver, "退出登录").click()
    wait_for(driver, lambda d: "用户名" in body(d) and "退出登录" not in body(d), 20)


def test_an_office_urges_on_a_red_case_and_the_department_sees_it_on_top_of_its_queue(server, browser):
    from selenium.webdriver.common.by import By

    url, home = server
    login(browser, url, "qingdao", "drill?period=2025-10&case=M")
    wait_for(browser, lambda d: "未办结" in body(d) and "督办事项（必填）" in body(d), 30)
    assert "督办记录" not in body(browser)  # nothing urged yet
    button(browser, "督办").click()  # no note: refused, nothing recorded
    error = wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "[data-testid='stAlertContentError']"), 20)
    assert "督办须写明督办事项" in error[0].text
    note = browser.find_element(By.CSS_SELECTOR, "textarea[aria-label='督办事项（必填）']")
    note.send_keys("已超期 4 个工作日，请于今日办结并说明原因")
    settled(browser)
    button(browser, "督办").click()
    wait_for(browser, lambda d: "已督办" in body(d) and "督办记录" in body(d), 30)
    settled(browser)
    no_error(browser)
    assert browser.find_element(By.CSS_SELECTOR, "textarea[aria-label='督办事项（必填）']").get_attribute("value") == ""
    shot(browser, "qingdao-urge-red-case-M")

    # The urge is in the warehouse once, as the office recorded it.
    from tests.conftest import run_hcp

    listed = run_hcp("loop", "urges", "--dept", "D1", "--format", "json", env={"HCP_HOME": str(home)}, check=True).stdout
    assert listed.count('"urge_id"') == 1 and "请于今日办结并说明原因" in listed and '"urged_by": "qingdao"' in listed

    logout(browser)
    login(browser, url, "d1", "ratings?period=2025-10")
    wait_for(browser, lambda d: "督办事项（未回应 1 件）" in body(d), 30)
    settled(browser)
    no_error(browser)
    text = body(browser)
    assert text.index("督办事项（未回应 1 件）") < text.index("待办队列"), "the urge is above the queue"
    heading = [e for e in browser.find_elements(By.CSS_SELECTOR, "h5") if "督办事项" in e.text][0]
    queue = [e for e in browser.find_elements(By.CSS_SELECTOR, "[data-testid='stRadio']") if "待办队列" in e.text][0]
    assert heading.location["y"] < queue.location["y"]
    wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "[data-testid='stDataFrame'] canvas"), 20)
    shot(browser, "d1-queue-with-urge-on-top")
    # The queue below: the days over / left, state and next step come first (the overdue column on screen).
    tables = browser.find_elements(By.CSS_SELECTOR, "[data-testid='stDataFrame']")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", tables[-1])
    settled(browser)
    shot(browser, "d1-queue-table-overdue-first")

    # The department's case page keeps the history (who urged, when, what followed: not answered yet); it has
    # no urge form of its own.
    browser.get(f"{url}/drill?period=2025-10&case=M")
    if "用户名" in body(browser):
        login(browser, url, "d1", "drill?period=2025-10&case=M")
    wait_for(browser, lambda d: "督办记录" in body(d), 30)
    settled(browser)
    assert "督办事项（必填）" not in body(browser)
    no_error(browser)
    shot(browser, "d1-case-M-urge-history")
