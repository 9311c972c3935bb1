"""Fake applicants and raters: the personal data the engine must pseudonymise and mask.

Everything here is invented but shaped like the real thing, so the PII protection is tested on
realistic input:

* person names from the common surnames (weighted by frequency) and given names of one or two
  characters chosen by sex;
* 18-digit resident ID numbers (GB 11643): 6-digit county of household registration (mostly the
  county where the case is handled), birth date, 3-digit sequence (odd = male) and the ISO 7064
  MOD 11-2 check character;
* 11-digit mobile numbers starting 13x/15x/18x;
* organisations: a name ``<city><brand><industry><form>`` and an 18-character unified social credit
  code (GB 32100: ``91`` + county + organisation code with its GB 11714 check + MOD 31 check).

Strings are assembled column-wise (numpy byte matrices and Polars concatenation), never per person.
"""

from __future__ import annotations

import numpy as np
import polars as pl

SURNAMES = (
    "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶阎"
    "余潘杜戴夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱秦江史顾侯邵孟龙万段雷钱汤尹黎易常武乔贺赖龚文"
)
SURNAME_WEIGHTS = np.array(
    [7.1, 7.0, 6.8, 5.4, 4.5, 3.1, 2.3, 2.2, 2.1, 2.0, 1.6, 1.5, 1.3, 1.2, 1.2, 1.2, 1.2, 1.1, 1.1, 0.9]
    + [0.8] * 10 + [0.55] * 20 + [0.35] * (len(SURNAMES) - 50)
)
COMPOUND_SURNAMES = ("欧阳", "司马", "诸葛", "上官")
MALE_CHARS = "伟强磊军勇杰涛斌超明刚平辉鹏华飞鑫波宁海峰建国志文浩宇轩博晨阳东亮林成俊凯帅龙洋旭新永庆振兴德福"
FEMALE_CHARS = "芳娜敏静丽艳娟霞秀英玲燕萍红梅琳雪婷倩颖佳欣怡悦慧琪晶洁莉兰凤月璐瑶楠丹晓玉"
MOBILE_PREFIXES = np.array([130, 131, 132, 133, 134, 135, 136, 137, 138, 139, 150, 151, 152, 153, 155,
                            156, 157, 158, 159, 180, 181, 182, 183, 184, 185, 186, 187, 188, 189])
BRANDS = (
    "华信", "恒泰", "鑫源", "海润", "金诚", "瑞丰", "宏达", "新锐", "东方", "天成", "中科", "鲁信", "泰和", "鼎盛",
    "汇通", "远航", "嘉禾", "正大", "盛世", "永泰", "明德", "润德", "华泰", "金海", "齐鲁", "海联", "博远", "众诚",
    "佳禾", "聚丰", "康宁", "鸿运", "力源", "荣昌", "信达", "通达", "安泰", "丰源", "新华", "兴隆",
)
INDUSTRIES = ("商贸", "建筑工程", "食品", "科技", "物流", "餐饮管理", "机械制造", "农业发展", "医药", "文化传媒",
              "房地产开发", "环保科技", "电子", "化工", "纺织", "汽车销售", "信息技术", "建材", "家政服务", "教育咨询")
ORG_FORMS = ("有限公司", "有限责任公司", "股份有限公司", "有限公司", "有限公司")

ID_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2])
ID_CHECK = np.frombuffer(b"10X98765432", dtype=np.uint8)
USCC_CHARS = np.frombuffer(b"0123456789ABCDEFGHJKLMNPQRTUWXY", dtype=np.uint8)
USCC_WEIGHTS = np.array([1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28])
ORG_WEIGHTS = np.array([3, 7, 9, 10, 5, 8, 4, 2])


def _digits(values: np.ndarray, width: int) -> np.ndarray:
    """(n, width) matrix of the decimal digits of ``values``, most significant first."""
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    return (values[:, None] // powers[None, :]) % 10


def _text(matrix: np.ndarray) -> pl.Series:
    """Rows of an ASCII byte matrix as strings."""
    m = np.ascontiguousarray(matrix.astype(np.uint8))
    return pl.Series(m.view(f"S{m.shape[1]}").ravel().astype(f"U{m.shape[1]}"))


def id_check_char(first17: np.ndarray) -> np.ndarray:
    """ISO 7064 MOD 11-2 check character (as ASCII code) of 17-digit rows."""
    return ID_CHECK[(first17 * ID_WEIGHTS).sum(axis=1) % 11]


def resident_ids(county6: np.ndarray, birth_day: np.ndarray, male: np.ndarray, rng: np.random.Generator) -> pl.Series:
    """18-digit resident ID numbers: county, birth date (YYYYMMDD), sequence (odd = male), check."""
    n = len(county6)
    days = birth_day.astype("datetime64[D]")
    year = days.astype("datetime64[Y]").astype(np.int64) + 1970
    month = days.astype("datetime64[M]").astype(np.int64) % 12 + 1
    dom = (days - days.astype("datetime64[M]")).astype(np.int64) + 1
    seq = rng.integers(0, 500, n) * 2 + np.where(male, 1, 0)
    first17 = np.concatenate(
        [_digits(county6.astype(np.int64), 6), _digits(year * 10_000 + month * 100 + dom, 8), _digits(seq, 3)], axis=1
    )
    return _text(np.concatenate([first17 + 48, id_check_char(first17)[:, None]], axis=1))


def mobiles(rng: np.random.Generator, n: int) -> pl.Series:
    """11-digit mobile numbers (13x/15x/18x)."""
    prefix = MOBILE_PREFIXES[rng.integers(0, len(MOBILE_PREFIXES), n)]
    return pl.Series(prefix * 100_000_000 + rng.integers(0, 100_000_000, n)).cast(pl.String)


def credit_codes(county6: np.ndarray, rng: np.random.Generator) -> pl.Series:
    """Unified social credit codes: 91 + county + 'MA' + 6 characters + org-code check + MOD 31 check."""
    n = len(county6)
    body = rng.integers(0, len(USCC_CHARS), (n, 6))
    org_chars = np.concatenate([np.tile(np.frombuffer(b"MA", np.uint8), (n, 1)), USCC_CHARS[body]], axis=1)
    values = np.where(org_chars >= 65, org_chars - 55, org_chars - 48)  # GB 11714: A = 10 …
    c9 = 11 - (values * ORG_WEIGHTS).sum(axis=1) % 11
    org_check = np.where(c9 == 10, ord("X"), np.where(c9 == 11, ord("0"), c9 + 48))
    head = np.concatenate(
        [np.tile(np.frombuffer(b"91", np.uint8), (n, 1)), _digits(county6.astype(np.int64), 6) + 48,
         org_chars, org_check[:, None]], axis=1,
    )
    lookup = np.full(128, -1)
    lookup[USCC_CHARS] = np.arange(len(USCC_CHARS))
    check = (31 - (lookup[head] * USCC_WEIGHTS).sum(axis=1) % 31) % 31
    return _text(np.concatenate([head, USCC_CHARS[check][:, None]], axis=1))


def person_names(rng: np.random.Generator, male: np.ndarray) -> pl.Series:
    """Chinese names: a weighted surname (rarely a compound one) and one or two given characters."""
    n = len(male)
    surnames = pl.Series(list(SURNAMES) + list(COMPOUND_SURNAMES))
    w = np.concatenate([SURNAME_WEIGHTS, np.full(len(COMPOUND_SURNAMES), 0.01)])
    s_idx = rng.choice(len(w), size=n, p=w / w.sum())
    male_chars, female_chars = pl.Series(list(MALE_CHARS)), pl.Series(list(FEMALE_CHARS))
    g1m, g1f = rng.integers(0, len(male_chars), n), rng.integers(0, len(female_chars), n)
    g2m, g2f = rng.integers(0, len(male_chars), n), rng.integers(0, len(female_chars), n)
    two = rng.random(n) < 0.72
    frame = pl.DataFrame(
        {
            "s": surnames.gather(s_idx),
            "g1": pl.Series(np.where(male, male_chars.gather(g1m).to_numpy(), female_chars.gather(g1f).to_numpy())),
            "g2": pl.Series(np.where(male, male_chars.gather(g2m).to_numpy(), female_chars.gather(g2f).to_numpy())),
            "two": two,
        }
    )
    return frame.select(
        pl.concat_str("s", "g1", pl.when("two").then("g2").otherwise(pl.lit("")))
    ).to_series()


def org_names(rng: np.random.Generator, city_short: np.ndarray) -> pl.Series:
    """Company names such as 青岛海润商贸有限公司."""
    n = len(city_short)
    b = np.array(BRANDS)[rng.integers(0, len(BRANDS), n)]
    i = np.array(INDUSTRIES)[rng.integers(0, len(INDUSTRIES), n)]
    f = np.array(ORG_FORMS)[rng.integers(0, len(ORG_FORMS), n)]
    return pl.Series(np.char.add(np.char.add(np.char.add(city_short.astype(str), b), i), f))


def people(
    rng: np.random.Generator,
    home_county6: np.ndarray,
    all_counties6: np.ndarray,
    outside6: np.ndarray,
    today_day: int,
) -> pl.DataFrame:
    """One person per row: name, id_number, phone; 12 % registered elsewhere in the province, 3 % outside."""
    n = len(home_county6)
    male = rng.random(n) < 0.5
    where = rng.random(n)
    county = np.where(
        where < 0.85, home_county6,
        np.where(where < 0.97, all_counties6[rng.integers(0, len(all_counties6), n)],
                 outside6[rng.integers(0, len(outside6), n)]),
    )
    age_days = (rng.beta(2.2, 2.8, n) * 60 + 18) * 365.25
    birth = today_day - age_days.astype(np.int64)
    return pl.DataFrame(
        {
            "name": person_names(rng, male),
            "id_number": resident_ids(county, birth, male, rng),
            "phone": mobiles(rng, n),
        }
    )
