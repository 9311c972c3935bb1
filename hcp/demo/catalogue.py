"""The demo item catalogue (事项目录/实施清单) and the regional traits that shape the cases.

Rules the catalogue keeps (DOMAIN.md, INTERCHANGE.md):

* "同一事项、同一标准、同一编码": an item code is the implementing county/city/province code, the item
  type and the basic item number (``370202-XK-020004`` is 市南区's implementation of basic item 020004),
  so one item name recurs across regions with distinct codes.
* The promised limit is compressed 25–50 % below the legal limit (int ≥ 0, ≤ legal when legal > 0);
  about 30 % of items are immediate (即办件, promised 0); online depth is mostly 3–4; most items
  declare zero on-site trips.
* Every item is valid from a date well before the demo window; about 2 % are re-issued with a later
  ``valid_from`` inside the month and a shorter promised limit (catalogue versioning). A case uses the
  version in force on its acceptance date.

The catalogue size grows slowly with the number of cases (300 items at minimum, about 1,000 for
100,000 cases).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import polars as pl

from hcp.demo.clock import NEVER, date_of, day_number
from hcp.demo.departments import APPROVAL_BUREAU, CENTRALISABLE, Departments, build_departments
from hcp.demo.item_templates import TEMPLATES, TYPE_ABBR, XK
from hcp.demo.regions import LEVEL_CITY, LEVEL_COUNTY, LEVEL_PROVINCE, RegionTree, build_regions

#: Share of cases handled at each level (most are county-level).
LEVEL_CASE_SHARE = {LEVEL_PROVINCE: 0.05, LEVEL_CITY: 0.20, LEVEL_COUNTY: 0.75}
#: Share of catalogue items at each level.
LEVEL_ITEM_SHARE = {LEVEL_PROVINCE: 0.08, LEVEL_CITY: 0.22, LEVEL_COUNTY: 0.70}
LEVEL_LETTER = {LEVEL_PROVINCE: "P", LEVEL_CITY: "C", LEVEL_COUNTY: "X"}
IMMEDIATE_TARGET = 0.30


def catalogue_size(cases: int) -> int:
    """Items in the catalogue: ``200·log10(cases)`` clipped to 300…2,000."""
    return int(np.clip(200 * np.log10(max(cases, 10)), 300, 2000))


@dataclass(frozen=True)
class Catalogue:
    """Items as parallel arrays (row = item code), plus the region tree, departments and region traits.

    Region traits (indexed by region row): ``online_share`` (share of cases submitted online where the
    item allows it, 45–92 % by city, about 40–80 % of all submissions), ``coverage`` (share of
    completed cases the applicant rates), ``default_rating`` (the city's platform writes default good
    ratings), ``multi_stage`` (the city practises 一事多评).
    """

    regions: RegionTree
    departments: Departments
    code: np.ndarray
    name: np.ndarray
    template: np.ndarray
    dept: np.ndarray
    region: np.ndarray
    item_type: np.ndarray
    legal: np.ndarray
    promised: np.ndarray
    promised_new: np.ndarray  # after re-issue (== promised if never re-issued)
    reissue_day: np.ndarray  # day number of the re-issue's valid_from, NEVER if none
    depth: np.ndarray
    depth_new: np.ndarray
    max_trips: np.ndarray
    valid_from: np.ndarray  # day number
    weight: np.ndarray  # probability that a case is for this item
    online_share: np.ndarray
    coverage: np.ndarray
    default_rating: np.ndarray
    multi_stage: np.ndarray

    @property
    def size(self) -> int:
        return len(self.code)

    def promised_on(self, item: np.ndarray, day: np.ndarray) -> np.ndarray:
        """The promised limit of the catalogue version in force on ``day``."""
        return np.where(day >= self.reissue_day[item], self.promised_new[item], self.promised[item])

    def frame(self) -> pl.DataFrame:
        """The ``item`` records: one per item, then one per re-issue (same code, later valid_from)."""
        def records(rows, promised, depth, valid_from) -> pl.DataFrame:
            return pl.DataFrame(
                {
                    "kind": "item",
                    "item_code": self.code[rows].tolist(),
                    "item_name": self.name[rows].tolist(),
                    "dept_code": self.departments.code[self.dept[rows]].tolist(),
                    "item_type": self.item_type[rows].tolist(),
                    "legal_limit_days": self.legal[rows].tolist(),
                    "promised_limit_days": promised[rows].tolist(),
                    "online_depth": depth[rows].tolist(),
                    "max_trips": self.max_trips[rows].tolist(),
                    "valid_from": [date_of(d).isoformat() for d in valid_from[rows]],
                },
                schema_overrides=dict.fromkeys(
                    ("legal_limit_days", "promised_limit_days", "online_depth", "max_trips"), pl.Int64
                ),
            )

        everyone = np.arange(self.size)
        reissued = np.flatnonzero(self.reissue_day < NEVER)
        return pl.concat(
            [
                records(everyone, self.promised, self.depth, self.valid_from),
                records(reissued, self.promised_new, self.depth_new, self.reissue_day),
            ]
        ).sort("item_code", "valid_from", maintain_order=True)


def build_catalogue(
    rng: np.random.Generator, cases: int, month_start: dt.date, window_start: dt.date
) -> Catalogue:
    """Regions, departments and the items, all drawn from ``rng``."""
    regions = build_regions(rng)
    depts = build_departments(regions, rng)
    budget = catalogue_size(cases)
    tmpl_volume = np.array([t.volume for t in TEMPLATES])

    rows_region, rows_template, rows_weight = [], [], []
    for level in (LEVEL_PROVINCE, LEVEL_CITY, LEVEL_COUNTY):
        members = np.flatnonzero(regions.level == level)
        level_weight = regions.weight[members] / regions.weight[members].sum()
        for r, w in zip(members, level_weight):
            allowed = [
                i for i, t in enumerate(TEMPLATES)
                if LEVEL_LETTER[level] in t.levels and (int(r), t.kind) in depts.index
            ]
            m = max(3, int(round(budget * LEVEL_ITEM_SHARE[level] * w)))
            m = min(m, len(allowed))
            p = tmpl_volume[allowed] ** 0.7
            chosen = np.sort(rng.choice(allowed, size=m, replace=False, p=p / p.sum()))
            vol = tmpl_volume[chosen]
            rows_region += [int(r)] * m
            rows_template += chosen.tolist()
            rows_weight += (LEVEL_CASE_SHARE[level] * w * vol / vol.sum()).tolist()

    region = np.array(rows_region, dtype=np.int32)
    template = np.array(rows_template, dtype=np.int32)
    weight = np.array(rows_weight)
    weight /= weight.sum()
    n = len(region)

    item_type = np.array([TEMPLATES[t].item_type for t in template])
    kind = np.array([TEMPLATES[t].kind for t in template])
    central = depts.centralised[region] & (item_type == XK) & np.isin(kind, list(CENTRALISABLE))
    kind = np.where(central, APPROVAL_BUREAU, kind)
    dept = np.array([depts.index[(int(r), str(k))] for r, k in zip(region, kind)], dtype=np.int32)
    code = np.array(
        [
            f"{regions.code[r][:6]}-{TYPE_ABBR[TEMPLATES[t].item_type]}-{TEMPLATES[t].kind}{t + 1:03d}"
            for r, t in zip(region, template)
        ]
    )
    name = np.array([TEMPLATES[t].name for t in template])
    legal = np.array([TEMPLATES[t].legal for t in template], dtype=np.int64)

    # Immediate items (即办件): calibrated so that about 30 % of items are immediate.
    quick = np.array([TEMPLATES[t].quick for t in template])
    q = quick.mean()
    p_quick = 0.62
    p_other = float(np.clip((IMMEDIATE_TARGET - p_quick * q) / max(1e-9, 1 - q), 0.03, 0.5))
    immediate = rng.random(n) < np.where(quick, p_quick, p_other)
    compressed = np.maximum(1, np.round(legal * rng.uniform(0.5, 0.75, n))).astype(np.int64)
    no_statute = np.array([3, 5, 7, 10, 15])[rng.integers(0, 5, n)]
    promised = np.where(immediate, 0, np.where(legal > 0, compressed, no_statute))

    cap = np.array([TEMPLATES[t].max_depth for t in template])
    depth = np.minimum(cap, rng.choice([1, 2, 3, 4], size=n, p=[0.02, 0.05, 0.40, 0.53]))
    declared = np.array([TEMPLATES[t].trips for t in template])
    extra = rng.choice([0, 1, 2], size=n, p=[0.92, 0.07, 0.01])
    max_trips = np.where(declared > 0, declared, extra)

    window_day = day_number(window_start)
    valid_from = window_day - rng.integers(90, 2000, n)
    # Re-issues: about 2 % of the items with a promised limit ≥ 2 (at least two), inside the month.
    candidates = np.flatnonzero(promised >= 2)
    n_reissue = min(len(candidates), max(2, int(round(0.02 * n))))
    reissued = rng.choice(candidates, size=n_reissue, replace=False) if n_reissue else np.array([], int)
    reissue_day = np.full(n, NEVER, dtype=np.int64)
    reissue_day[reissued] = day_number(month_start) + rng.integers(3, 20, n_reissue)
    promised_new = promised.copy()
    promised_new[reissued] = np.maximum(1, np.floor(promised[reissued] * rng.uniform(0.5, 0.8, n_reissue)))
    depth_new = depth.copy()
    depth_new[reissued] = np.minimum(cap[reissued], depth[reissued] + 1)

    # Regional traits, drawn per city; counties vary around their city.
    city_online = rng.uniform(0.45, 0.92, regions.size)
    city_cover = rng.uniform(0.66, 0.88, regions.size)
    cities = np.flatnonzero(regions.level == LEVEL_CITY)
    default_cities = rng.choice(cities, size=5, replace=False)
    multi_cities = rng.choice(cities, size=3, replace=False)
    city = regions.city_of
    online = np.clip(city_online[city] + rng.normal(0, 0.04, regions.size), 0.40, 0.95)
    online = np.where(regions.level == LEVEL_CITY, city_online[city], online)
    coverage = np.clip(city_cover[city] + rng.normal(0, 0.03, regions.size), 0.60, 0.90)
    coverage = np.where(regions.level == LEVEL_CITY, city_cover[city], coverage)
    online[0], coverage[0] = 0.75, 0.75

    return Catalogue(
        regions=regions, departments=depts, code=code, name=name, template=template, dept=dept,
        region=region, item_type=item_type, legal=legal, promised=promised, promised_new=promised_new,
        reissue_day=reissue_day, depth=depth, depth_new=depth_new, max_trips=max_trips,
        valid_from=valid_from, weight=weight, online_share=online, coverage=coverage,
        default_rating=np.isin(city, default_cities) & (regions.level > LEVEL_PROVINCE),
        multi_stage=np.isin(city, multi_cities) & (regions.level > LEVEL_PROVINCE),
    )
