"""Implementing departments (实施部门) at province, city and county level.

A department's code is its region's 12-digit code followed by a 3-digit kind suffix (``370202000000020``
is 市南区市场监督管理局), so the code alone tells where it sits. Names follow the usual forms: 厅 at the
province, 局 in cities and counties, 分局 for district public security and for ecology (a city body).
In a region that has centralised approvals (相对集中行政许可权改革, common in Shandong), most
行政许可 items of the line departments are implemented by its 行政审批服务局 instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from hcp.demo.regions import LEVEL_CITY, LEVEL_COUNTY, LEVEL_PROVINCE, RegionTree

#: suffix -> (province form, city form, county form); None = no such department at that level.
DEPARTMENT_KINDS: dict[str, tuple[str | None, str | None, str | None]] = {
    "010": (None, "行政审批服务局", "行政审批服务局"),
    "020": ("市场监督管理局", "市场监督管理局", "市场监督管理局"),
    "030": ("公安厅", "公安局", "公安局"),
    "040": ("人力资源和社会保障厅", "人力资源和社会保障局", "人力资源和社会保障局"),
    "050": ("自然资源厅", "自然资源和规划局", "自然资源局"),
    "060": ("住房和城乡建设厅", "住房和城乡建设局", "住房和城乡建设局"),
    "070": ("卫生健康委员会", "卫生健康委员会", "卫生健康局"),
    "080": ("民政厅", "民政局", "民政局"),
    "090": ("交通运输厅", "交通运输局", "交通运输局"),
    "100": ("税务局", "税务局", "税务局"),
    "110": ("医疗保障局", "医疗保障局", "医疗保障局"),
    "120": ("教育厅", "教育局", "教育和体育局"),
    "130": ("生态环境厅", "生态环境局", "生态环境分局"),
    "140": ("农业农村厅", "农业农村局", "农业农村局"),
    "150": ("文化和旅游厅", "文化和旅游局", "文化和旅游局"),
    "160": ("退役军人事务厅", "退役军人事务局", "退役军人事务局"),
    "170": ("应急管理厅", "应急管理局", "应急管理局"),
    "180": ("水利厅", "水利局", "水务局"),
    "190": (None, "住房公积金管理中心", None),
    "200": ("司法厅", "司法局", "司法局"),
}
#: Department kinds whose 行政许可 items move to the 行政审批服务局 where approvals are centralised.
CENTRALISABLE = frozenset({"020", "060", "070", "090", "130", "140", "150", "170", "180"})
APPROVAL_BUREAU = "010"


def department_name(kind: str, level: int, region_name: str, city_name: str) -> str | None:
    """The department's official-looking name, or None if the kind does not exist at that level."""
    form = DEPARTMENT_KINDS[kind][level - 1]
    if form is None:
        return None
    if kind == "100":  # tax is a vertical system: 国家税务总局…税务局
        place = "山东省" if level == LEVEL_PROVINCE else (region_name if level == LEVEL_CITY else city_name + region_name)
        return f"国家税务总局{place}{form}"
    if level == LEVEL_PROVINCE:
        return f"山东省{form}"
    if level == LEVEL_COUNTY and kind == "030" and region_name.endswith("区"):
        return f"{city_name}公安局{region_name}分局"
    if level == LEVEL_COUNTY and kind == "130":
        return f"{city_name}生态环境局{region_name}{form}"
    return f"{region_name}{form}"


@dataclass(frozen=True)
class Departments:
    """Departments as parallel arrays, with the seeded traits that make rankings differ.

    * ``overdue_p`` — the share of its cases completed after the promised limit (0.2 %–12 %);
    * ``bad_mult`` — how much more (or less) often its cases get bad ratings than the average;
    * ``late_p`` — the share of its bad-rating rectifications finished after the 15-working-day limit;
    * ``n_staff`` — window staff (staff ids ``W`` + county code + kind + two digits).
    """

    code: np.ndarray
    name: np.ndarray
    kind: np.ndarray  # 3-digit suffix
    region: np.ndarray  # int32 row in the region tree
    overdue_p: np.ndarray
    bad_mult: np.ndarray
    late_p: np.ndarray
    n_staff: np.ndarray
    staff_prefix: np.ndarray  # "W" + region6 + kind
    centralised: np.ndarray  # bool per region row: approvals centralised in 行政审批服务局
    index: dict  # (region row, kind) -> department row

    @property
    def size(self) -> int:
        return len(self.code)

    def frame(self, regions: RegionTree) -> pl.DataFrame:
        """The ``department`` records: dept_code, dept_name, region_code."""
        return pl.DataFrame(
            {
                "kind": "department",
                "dept_code": self.code.tolist(),
                "dept_name": self.name.tolist(),
                "region_code": regions.code[self.region].tolist(),
            }
        )


def build_departments(regions: RegionTree, rng: np.random.Generator) -> Departments:
    """Every department kind that exists at each region's level, in code order."""
    code, name, kind, region = [], [], [], []
    for r in range(regions.size):
        lvl = int(regions.level[r])
        city_name = str(regions.name[regions.city_of[r]])
        for k in DEPARTMENT_KINDS:
            dn = department_name(k, lvl, str(regions.name[r]), city_name)
            if dn is not None:
                code.append(str(regions.code[r]) + k), name.append(dn), kind.append(k), region.append(r)
    n = len(code)
    overdue = np.clip(rng.lognormal(np.log(0.02), 0.8, n), 0.002, 0.12)
    bad_mult = np.clip(rng.lognormal(0.0, 0.5, n), 0.3, 3.0)
    late = np.clip(rng.beta(1.5, 8.0, n), 0.0, 0.6)
    n_staff = rng.integers(3, 13, n)
    region_arr = np.array(region, dtype=np.int32)
    kind_arr = np.array(kind)
    prefix = np.array(["W" + c[:6] + k for c, k in zip(regions.code[region_arr], kind_arr)])
    centralised = (regions.level != LEVEL_PROVINCE) & (rng.random(regions.size) < 0.6)
    return Departments(
        code=np.array(code), name=np.array(name), kind=kind_arr, region=region_arr,
        overdue_p=overdue, bad_mult=bad_mult, late_p=late, n_staff=n_staff, staff_prefix=prefix,
        centralised=centralised, index={(r, k): i for i, (r, k) in enumerate(zip(region, kind))},
    )
