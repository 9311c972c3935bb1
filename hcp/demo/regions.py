"""The demo province's region tree (行政区划): Shandong, its 16 cities and their 136 county-level units.

Codes and names are the real ones (county-level divisions as of 2021; 长岛县 merged into 蓬莱区 in 2020).
Only the 12-digit code shape matters to the engine: digits 1–2 province, 1–4 city, 1–6 county, the rest
zero. City populations (2020 census, in 10,000s) set how many cases each city produces.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

PROVINCE = ("370000000000", "山东省")

#: (city code, city name, population in 10k, [(county 6-digit code, county name), ...])
CITIES: tuple[tuple[str, str, int, tuple[tuple[str, str], ...]], ...] = (
    ("370100000000", "济南市", 920, (
        ("370102", "历下区"), ("370103", "市中区"), ("370104", "槐荫区"), ("370105", "天桥区"),
        ("370112", "历城区"), ("370113", "长清区"), ("370114", "章丘区"), ("370115", "济阳区"),
        ("370116", "莱芜区"), ("370117", "钢城区"), ("370124", "平阴县"), ("370126", "商河县"))),
    ("370200000000", "青岛市", 1007, (
        ("370202", "市南区"), ("370203", "市北区"), ("370211", "黄岛区"), ("370212", "崂山区"),
        ("370213", "李沧区"), ("370214", "城阳区"), ("370215", "即墨区"), ("370281", "胶州市"),
        ("370283", "平度市"), ("370285", "莱西市"))),
    ("370300000000", "淄博市", 470, (
        ("370302", "淄川区"), ("370303", "张店区"), ("370304", "博山区"), ("370305", "临淄区"),
        ("370306", "周村区"), ("370321", "桓台县"), ("370322", "高青县"), ("370323", "沂源县"))),
    ("370400000000", "枣庄市", 386, (
        ("370402", "市中区"), ("370403", "薛城区"), ("370404", "峄城区"), ("370405", "台儿庄区"),
        ("370406", "山亭区"), ("370481", "滕州市"))),
    ("370500000000", "东营市", 219, (
        ("370502", "东营区"), ("370503", "河口区"), ("370505", "垦利区"), ("370522", "利津县"),
        ("370523", "广饶县"))),
    ("370600000000", "烟台市", 710, (
        ("370602", "芝罘区"), ("370611", "福山区"), ("370612", "牟平区"), ("370613", "莱山区"),
        ("370614", "蓬莱区"), ("370681", "龙口市"), ("370682", "莱阳市"), ("370683", "莱州市"),
        ("370685", "招远市"), ("370686", "栖霞市"), ("370687", "海阳市"))),
    ("370700000000", "潍坊市", 939, (
        ("370702", "潍城区"), ("370703", "寒亭区"), ("370704", "坊子区"), ("370705", "奎文区"),
        ("370724", "临朐县"), ("370725", "昌乐县"), ("370781", "青州市"), ("370782", "诸城市"),
        ("370783", "寿光市"), ("370784", "安丘市"), ("370785", "高密市"), ("370786", "昌邑市"))),
    ("370800000000", "济宁市", 836, (
        ("370811", "任城区"), ("370812", "兖州区"), ("370826", "微山县"), ("370827", "鱼台县"),
        ("370828", "金乡县"), ("370829", "嘉祥县"), ("370830", "汶上县"), ("370831", "泗水县"),
        ("370832", "梁山县"), ("370881", "曲阜市"), ("370883", "邹城市"))),
    ("370900000000", "泰安市", 564, (
        ("370902", "泰山区"), ("370911", "岱岳区"), ("370921", "宁阳县"), ("370923", "东平县"),
        ("370982", "新泰市"), ("370983", "肥城市"))),
    ("371000000000", "威海市", 291, (
        ("371002", "环翠区"), ("371003", "文登区"), ("371082", "荣成市"), ("371083", "乳山市"))),
    ("371100000000", "日照市", 297, (
        ("371102", "东港区"), ("371103", "岚山区"), ("371121", "五莲县"), ("371122", "莒县"))),
    ("371300000000", "临沂市", 1102, (
        ("371302", "兰山区"), ("371311", "罗庄区"), ("371312", "河东区"), ("371321", "沂南县"),
        ("371322", "郯城县"), ("371323", "沂水县"), ("371324", "兰陵县"), ("371325", "费县"),
        ("371326", "平邑县"), ("371327", "莒南县"), ("371328", "蒙阴县"), ("371329", "临沭县"))),
    ("371400000000", "德州市", 561, (
        ("371402", "德城区"), ("371403", "陵城区"), ("371422", "宁津县"), ("371423", "庆云县"),
        ("371424", "临邑县"), ("371425", "齐河县"), ("371426", "平原县"), ("371427", "夏津县"),
        ("371428", "武城县"), ("371481", "乐陵市"), ("371482", "禹城市"))),
    ("371500000000", "聊城市", 595, (
        ("371502", "东昌府区"), ("371503", "茌平区"), ("371521", "阳谷县"), ("371522", "莘县"),
        ("371524", "东阿县"), ("371525", "冠县"), ("371526", "高唐县"), ("371581", "临清市"))),
    ("371600000000", "滨州市", 393, (
        ("371602", "滨城区"), ("371603", "沾化区"), ("371621", "惠民县"), ("371622", "阳信县"),
        ("371623", "无棣县"), ("371625", "博兴县"), ("371681", "邹平市"))),
    ("371700000000", "菏泽市", 880, (
        ("371702", "牡丹区"), ("371703", "定陶区"), ("371721", "曹县"), ("371722", "单县"),
        ("371723", "成武县"), ("371724", "巨野县"), ("371725", "郓城县"), ("371726", "鄄城县"),
        ("371728", "东明县"))),
)

#: County codes of other provinces, for the few applicants born elsewhere (ID-number prefixes).
OUTSIDE_COUNTIES = ("110105", "120104", "130102", "320106", "410105", "340104", "210202", "220102")

LEVEL_PROVINCE, LEVEL_CITY, LEVEL_COUNTY = 1, 2, 3


@dataclass(frozen=True)
class RegionTree:
    """The regions as parallel arrays (row i = one region), plus the ``region`` records frame.

    ``city_of[i]`` is the row of the region's city (the province is its own city); ``weight[i]`` is the
    region's share of the cases handled at its level (population based, with seeded noise for counties).
    """

    code: np.ndarray  # str, 12 digits
    name: np.ndarray  # str
    full_name: np.ndarray  # str: county names are prefixed with their city (市中区 exists twice)
    level: np.ndarray  # int8: 1 province, 2 city, 3 county
    city_of: np.ndarray  # int32 row of the city
    weight: np.ndarray  # float64, sums to 1 within each level

    @property
    def size(self) -> int:
        return len(self.code)

    def frame(self) -> pl.DataFrame:
        """The ``region`` records: region_code, region_name, parent_code (null for the province)."""
        parent = np.where(
            self.level == LEVEL_PROVINCE, None,
            np.where(self.level == LEVEL_CITY, PROVINCE[0], self.code[self.city_of]),
        )
        return pl.DataFrame(
            {
                "kind": "region",
                "region_code": self.code.tolist(),
                "region_name": self.name.tolist(),
                "parent_code": parent.tolist(),
            },
            schema={"kind": pl.String, "region_code": pl.String, "region_name": pl.String, "parent_code": pl.String},
        )


def build_regions(rng: np.random.Generator) -> RegionTree:
    """Province, cities and counties in code order; county weights are population shares with noise."""
    code, name, full, level, city_of, weight = [PROVINCE[0]], [PROVINCE[1]], [PROVINCE[1]], [1], [0], [1.0]
    total_pop = sum(c[2] for c in CITIES)
    for city_code, city_name, pop, counties in CITIES:
        city_row = len(code)
        code.append(city_code), name.append(city_name), full.append(city_name)
        level.append(LEVEL_CITY), city_of.append(city_row), weight.append(pop / total_pop)
        noise = rng.lognormal(0.0, 0.35, len(counties))
        shares = noise / noise.sum() * pop / total_pop
        for (c6, county_name), share in zip(counties, shares):
            code.append(c6 + "000000"), name.append(county_name), full.append(city_name + county_name)
            level.append(LEVEL_COUNTY), city_of.append(city_row), weight.append(float(share))
    return RegionTree(
        code=np.array(code), name=np.array(name), full_name=np.array(full),
        level=np.array(level, dtype=np.int8), city_of=np.array(city_of, dtype=np.int32),
        weight=np.array(weight, dtype=np.float64),
    )
