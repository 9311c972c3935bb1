"""Publishing a monthly bulletin: figures → workbook, HTML, PDF → the archive, once per data version."""

from __future__ import annotations

import datetime as dt
from typing import Callable

from hcp.config import Config, get_config
from hcp.periods import Period
from warehouse.queries.reference import load_calendar
from metrics.jobs import MetricsSettings
from reports.archive import Archive, Computed, Published
from reports.bulletin import render_html
from reports.excel import render_workbook
from reports.figures import as_of_day, canonical_json, data_version, figures_checksum, gather
from reports.pdf import html_to_pdf
from warehouse.client import SHANGHAI, Warehouse


def scope_key(region: str | None, lang: str) -> str:
    """Archive folder of a scope: ``all`` or the region code, ``.en`` for the English edition."""
    return (region or "all") + (".en" if lang == "en" else "")


def file_stem(kind: str, month: str, region: str | None, lang: str) -> str:
    return f"{kind}-{month}" + (f"-{region}" if region else "") + ("-en" if lang == "en" else "")


def render_files(figures: dict, watermark: str | None, number: int, region: str | None) -> dict[str, bytes]:
    """Every file of one bulletin version (deterministic for the same figures, watermark and number)."""
    checksum = figures_checksum(figures)
    month, lang = figures["month"], figures["lang"]
    html = render_html(figures, watermark=watermark, checksum=checksum, version=number)
    stem = file_stem("bulletin", month, region, lang)
    return {
        f"{stem}.html": html.encode("utf-8"),
        f"{stem}.pdf": html_to_pdf(html),
        f"{file_stem('workbook', month, region, lang)}.xlsx": render_workbook(figures, watermark=watermark, checksum=checksum),
        "figures.json": canonical_json(figures).encode("utf-8"),
    }


def publish_monthly(wh: Warehouse, archive: Archive, month: str, region: str | None = None, *, lang: str = "zh",
                    trigger: str = "manual", config: Config | None = None,
                    clock: Callable[[], dt.datetime] | None = None) -> Published:
    """The bulletin of ``month`` for a scope: a new version only when the data version moved and the
    figures changed (see :mod:`reports.archive`). ``clock`` (default: now) is the moment the figures are
    computed at: its day, capped by :func:`reports.figures.as_of_day`, is the day rectification due-ness
    is judged on, and part of the data version."""
    config = config or get_config()
    settings = MetricsSettings.load(config)
    region = None if region in (None, "", "all") else region
    now = (clock or (lambda: dt.datetime.now(SHANGHAI)))()
    try:
        as_of = as_of_day(Period.parse(month), now.astimezone(SHANGHAI).date(), settings, load_calendar(wh))
    except ValueError:
        as_of = None  # not a month: gather says so

    def compute() -> Computed:
        figures, version = gather(wh, month, region, lang=lang, config=config, settings=settings, clock=lambda: now)
        return Computed(version, figures_checksum(figures), (figures, version))

    def render(payload, number: int) -> dict[str, bytes]:
        figures, version = payload
        return render_files(figures, version.watermark, number, region)

    return archive.publish(kind="monthly", period=month, scope=scope_key(region, lang), lang=lang,
                           current=lambda: data_version(wh, settings, config, as_of=as_of), compute=compute, render=render,
                           trigger=trigger)
