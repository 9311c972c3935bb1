"""Model 2 — complaint cause (差评原因分类): the likely cause of a bad rating — ``efficiency``,
``attitude``, ``materials``, ``trips``, ``system``, ``policy`` or ``other`` (the ``reason_category`` of
INTERCHANGE.md) — from its comment and tags, with a confidence.

**Model.** TF-IDF of character 1–3-grams (``analyzer="char_wb"``: Chinese needs no segmenter; the tags
are appended as separate words, so their n-grams do not run into the comment's) and a multinomial
logistic regression (C = :data:`C`, classes balanced). ``confidence`` is the predicted probability of the
cause given. Hyper-parameters were chosen by 5-fold cross-validation on the seed set only.

**A rule before the model** (:func:`uninformative`): a comment that says nothing about a cause — empty,
no Chinese character, or one of :data:`GENERIC_COMMENTS` ("差评", "不满意", "无", "。。。") — and carries
no tag is ``other`` with confidence :data:`UNINFORMATIVE_CONFIDENCE` (``basis`` ``rule``): the model is
not asked to guess.

**Training data.** The seed set written for hcp (:mod:`models.cause_data`) plus every cause departments
verified (the latest ``verified`` follow-up of a bad rating) whose text is informative; the model learns
the warehouse's own words as verifications accumulate, and the scheduler's monthly retraining picks them
up (:mod:`models.lifecycle`). ``[models.cause] use_seed = false`` trains on verified causes alone (then
too few of them is :class:`~models.store.TooLittleData`).

**Evaluation** (in the manifest, ``hcp models evaluate cause``):

* a **time split** of the verified causes: the test month is the latest month with at least
  :data:`MIN_TIME_TEST` verified bad ratings with text; the model is fitted on the seed and the causes
  verified before that month (rated and verified before it began) and tested on the month's;
* the **independent set**: complaints written apart from the seed and the demo generator, in other voices,
  never trained on; scored by the model in use;
* beside each, two baselines on the same texts: the **majority class** of the training labels and a
  **keyword rule** (:func:`keyword_cause`). Macro-F1, accuracy, per-cause precision/recall/F1 and the
  confusion matrix.

A predicted cause is a suggestion to the department that verifies it — never a verified cause, never a
figure of a score or a ranking, never grounds for a sanction.
"""

from __future__ import annotations

import datetime as dt
import json
import time

import numpy as np
import polars as pl

from hcp.config import get_config
from hcp.domain import REASON_CATEGORIES
from hcp.errors import EXIT_DATA, HcpError
from hcp.i18n import tr
from hcp.textable import render
from models import cause_data, store
from models.registry import ModelKind, TrainResult
from models.store import TooLittleData
from warehouse.client import SHANGHAI

FEATURE_VERSION = 1
CAUSES = ("efficiency", "attitude", "materials", "trips", "system", "policy", "other")
NGRAM_RANGE = (1, 3)
C = 30.0
#: Confidence given to ``other`` when the text says nothing about a cause (the rule, not the model).
UNINFORMATIVE_CONFIDENCE = 0.15
#: A month is a time-split test month only with at least this many verified bad ratings with text.
MIN_TIME_TEST = 30
#: Without the seed set: at least this many informative verified causes, and two of every cause.
MIN_VERIFIED_WITHOUT_SEED = 200
#: Comments that carry no cause, compared after removing punctuation, spaces and repeated characters.
GENERIC_COMMENTS = frozenset({
    "差评", "差", "很差", "太差", "太差了", "极差", "不满意", "很不满意", "非常不满意", "太不满意了", "不满", "无",
    "没有", "无意见", "没意见", "不好", "很不好", "不行", "一般", "一般般", "呵呵", "就这样", "就这样吧", "无语",
    "垃圾", "失望", "很失望", "差劲", "不怎么样", "还行", "没什么", "不说了", "略", "不知道",
})
#: Tags that carry no cause (the rating form's catch-all).
GENERIC_TAGS = frozenset({"其他", "其它"})
#: The keyword baseline: words that point at each cause (a hand-written rule of the kind an office writes).
KEYWORDS: dict[str, tuple[str, ...]] = {
    "efficiency": ("慢", "等了", "排队", "超时", "超期", "拖", "效率", "审核中", "进度", "没办结", "时间长", "久"),
    "attitude": ("态度", "不耐烦", "推诿", "玩手机", "凶", "冷漠", "不理", "脸色", "吼", "服务差", "聊天", "踢皮球"),
    "materials": ("材料", "证明", "复印", "一次性告知", "补交", "原件", "盖章", "清单", "资料", "表格"),
    "trips": ("跑", "趟", "多次", "本人到场", "现场", "再来", "白来", "往返"),
    "system": ("系统", "网站", "app", "APP", "小程序", "登录", "卡顿", "报错", "闪退", "人脸", "验证码", "页面", "网上"),
    "policy": ("政策", "规定", "条件", "不合理", "户籍", "收费", "标准", "不予受理", "驳回"),
    "other": ("停车", "空调", "厕所", "卫生间", "座位", "环境", "电梯", "点错"),
}
PREDICTION_SCHEMA = {"cause": pl.String, "confidence": pl.Float64, "basis": pl.String}


class ClassifyInputError(HcpError):
    """Lines of a ``hcp models classify`` input that are not what it reads."""

    exit_code = EXIT_DATA


# Rules ------------------------------------------------------------------------------------------------------
def _normalised(comment: pl.Expr) -> pl.Expr:
    """The comment without punctuation, symbols, spaces and digits, repeated characters collapsed ("差差差" → "差")."""
    stripped = comment.fill_null("").str.replace_all(r"[\s\p{P}\p{S}0-9０-９]+", "")
    return stripped.str.split("").list.eval(
        pl.element().filter(pl.element().ne_missing(pl.element().shift(1)))).list.join("")


def informative_tags(tags: pl.Expr) -> pl.Expr:
    """The tags that carry a cause (not the catch-all "其他")."""
    return tags.fill_null(pl.lit([], dtype=pl.List(pl.String))).list.eval(
        pl.element().filter(~pl.element().is_in(list(GENERIC_TAGS)) & (pl.element().str.strip_chars() != "")))


def uninformative(comment: pl.Expr, tags: pl.Expr) -> pl.Expr:
    """A bad rating whose text says nothing about a cause: its comment is empty, has no Chinese character,
    or is a generic word of discontent (:data:`GENERIC_COMMENTS`: 差评, 不满意, 无, 。。。 …, compared without
    punctuation and repeated characters), and it carries no tag other than the catch-all 其他. Such a
    rating is ``other`` with low confidence: no one could tell its cause from it."""
    text = _normalised(comment)
    empty_text = (text == "") | ~text.str.contains(r"\p{Han}") | text.is_in(list(GENERIC_COMMENTS))
    return empty_text & (informative_tags(tags).list.len() == 0)


def document(comment: pl.Expr, tags: pl.Expr) -> pl.Expr:
    """What the model reads: the comment, then each informative tag as a separate word."""
    return pl.concat_str([comment.fill_null("").str.replace_all(r"\s+", "，"),
                          informative_tags(tags).list.join(" ")], separator=" ").str.strip_chars()


def keyword_cause(text: pl.Expr) -> pl.Expr:
    """The keyword baseline: the cause with the most keyword hits in the text (:data:`KEYWORDS`); a tie goes
    to the cause listed first in :data:`CAUSES`, no hit to ``other``."""
    hits = [sum((text.str.count_matches(word, literal=True) for word in KEYWORDS[c]), pl.lit(0)).alias(c)
            for c in CAUSES]
    best = pl.max_horizontal(hits)
    choice = pl.when(best == 0).then(pl.lit("other"))
    for c, h in zip(CAUSES, hits):
        choice = choice.when(h == best).then(pl.lit(c))
    return choice.otherwise(pl.lit("other"))


# Model ------------------------------------------------------------------------------------------------------
def _pipeline(seed: int):
    from sklearn.feature_extraction.text import TfidfVectorizer  # lazy: scikit-learn is heavy; loaded only to fit
    from sklearn.linear_model import LogisticRegression  # lazy: scikit-learn is heavy; loaded only to fit
    from sklearn.pipeline import Pipeline  # lazy: scikit-learn is heavy; loaded only to fit

    return Pipeline([
        ("tfidf", TfidfVectorizer(analyzer="char_wb", ngram_range=NGRAM_RANGE, sublinear_tf=True, dtype=np.float64)),
        ("logit", LogisticRegression(C=C, class_weight="balanced", solver="newton-cg", max_iter=1000,
                                     random_state=seed)),
    ])


def fit(examples: pl.DataFrame, seed: int = 0):
    """Fit the pipeline on labelled examples (``comment``, ``tags``, ``cause``); uninformative ones are left out."""
    frame = _documents(examples).filter(~pl.col("_uninformative"))
    model = _pipeline(seed)
    model.fit(frame["_doc"].to_list(), frame["cause"].to_list())
    return model


def _documents(frame: pl.DataFrame) -> pl.DataFrame:
    if "tags" not in frame.columns:
        frame = frame.with_columns(tags=pl.lit(None, dtype=pl.List(pl.String)))
    return frame.with_columns(_doc=document(pl.col("comment"), pl.col("tags")),
                              _uninformative=uninformative(pl.col("comment"), pl.col("tags")))


def predict(model, frame: pl.DataFrame) -> pl.DataFrame:
    """``cause``, ``confidence`` (0–1) and ``basis`` (``model``, or ``rule`` for an uninformative text) for
    every row of ``frame`` (``comment``, optional ``tags``), in its order, beside its columns."""
    docs = _documents(frame)
    if docs.height == 0:
        return frame.with_columns(**{k: pl.lit(None, dtype=v) for k, v in PREDICTION_SCHEMA.items()})
    probability = model.predict_proba(docs["_doc"].to_list())
    classes = np.asarray(model.classes_, dtype=object)
    best = probability.argmax(axis=1)
    out = docs.with_columns(_cause=pl.Series(classes[best], dtype=pl.String),
                            _p=pl.Series(np.round(probability.max(axis=1), 4)))
    rule = pl.col("_uninformative")
    return out.with_columns(
        cause=pl.when(rule).then(pl.lit("other")).otherwise("_cause"),
        confidence=pl.when(rule).then(pl.lit(UNINFORMATIVE_CONFIDENCE)).otherwise("_p"),
        basis=pl.when(rule).then(pl.lit("rule")).otherwise(pl.lit("model")),
    ).drop("_doc", "_uninformative", "_cause", "_p")


def classification_report(truth: list[str], predicted: list[str]) -> dict:
    """Macro-F1 (over the seven causes), accuracy, per-cause precision/recall/F1/support and the confusion
    matrix (rows: true cause, columns: predicted, both in :data:`CAUSES` order)."""
    from sklearn.metrics import (  # lazy: scikit-learn is heavy; loaded only to fit
        confusion_matrix,
        precision_recall_fscore_support,
    )

    labels = list(CAUSES)
    present = [c for c in labels if c in set(truth)]
    precision, recall, f1, support = precision_recall_fscore_support(truth, predicted, labels=labels, zero_division=0)
    per = {c: {"precision": round(float(p), 4), "recall": round(float(r), 4), "f1": round(float(f), 4),
               "support": int(s)} for c, p, r, f, s in zip(labels, precision, recall, f1, support)}
    return {
        "texts": len(truth),
        # Macro-F1 over the causes that occur in the test texts (a cause absent from them has no F1).
        "macro_f1": round(float(np.mean([per[c]["f1"] for c in present])) if present else 0.0, 4),
        "accuracy": round(float(np.mean(np.asarray(truth) == np.asarray(predicted))) if truth else 0.0, 4),
        "per_cause": per,
        "confusion": {"labels": labels, "matrix": confusion_matrix(truth, predicted, labels=labels).tolist()},
    }


def _compare(model, train: pl.DataFrame, test: pl.DataFrame, extra: dict | None = None) -> dict:
    """The model and both baselines on the same test texts; the baselines' majority is the training's."""
    truth = test["cause"].to_list()
    predicted = predict(model, test)
    majority = train["cause"].value_counts(sort=True).sort(["count", "cause"], descending=[True, False])["cause"][0]
    keyword = _documents(test).select(keyword_cause(pl.col("_doc")))[:, 0].to_list()
    scorers = {"model": classification_report(truth, predicted["cause"].to_list()),
               **(extra or {}),
               "majority": {**classification_report(truth, [majority] * len(truth)), "class": majority},
               "keywords": classification_report(truth, keyword)}
    scorers["model"]["rule_share"] = round(float((predicted["basis"] == "rule").mean()), 4) if test.height else 0.0
    return {"texts": test.height, "scorers": scorers,
            "beats_majority": scorers["model"]["macro_f1"] > scorers["majority"]["macro_f1"],
            "beats_keywords": scorers["model"]["macro_f1"] > scorers["keywords"]["macro_f1"]}


def _month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def choose_test_month(rated: pl.Series) -> dt.date | None:
    """The latest calendar month holding at least :data:`MIN_TIME_TEST` of the given rating times."""
    if rated.is_empty():
        return None
    counts = (pl.DataFrame({"m": rated.dt.truncate("1mo").dt.date()}).group_by("m").len()
              .filter(pl.col("len") >= MIN_TIME_TEST).sort("m"))
    return counts["m"][-1] if counts.height else None


def train(wh, *, seed: int = 0, progress=None, lang: str = "zh", use_seed: bool | None = None) -> TrainResult:
    """Train the cause classifier on the seed set and the causes verified in the warehouse."""
    say = progress or (lambda message: None)
    started = time.perf_counter()
    use_seed = get_config().models.cause.use_seed if use_seed is None else use_seed
    say(tr(lang, "读取已核实的差评原因", "reading the verified causes"))
    verified = cause_data.load_verified(wh)
    with_text = verified.filter((pl.col("comment").fill_null("") != "") | (pl.col("tags").list.len() > 0))
    flagged = _documents(with_text)
    informative = flagged.filter(~pl.col("_uninformative")).drop("_doc", "_uninformative")
    seed_set = cause_data.load_seed() if use_seed else pl.DataFrame(schema=cause_data.EXAMPLE_SCHEMA)
    counts = informative["cause"].value_counts()
    if not use_seed and (informative.height < MIN_VERIFIED_WITHOUT_SEED or counts.height < len(CAUSES)
                         or counts["count"].min() < 2):
        raise TooLittleData(tr(
            lang,
            f"数据不足，未训练差评原因模型：不用种子集时需要至少 {MIN_VERIFIED_WITHOUT_SEED} 条有文字的已核实差评且每类原因至少 2 条"
            f"（现有 {informative.height} 条，{counts.height} 类）；或在配置中设 [models.cause] use_seed = true",
            f"too little data, no complaint-cause model trained: without the seed set it needs at least "
            f"{MIN_VERIFIED_WITHOUT_SEED} verified bad ratings with text and two of every cause (there are "
            f"{informative.height}, {counts.height} causes); or set [models.cause] use_seed = true"))
    if seed_set.height + informative.height == 0:
        raise TooLittleData(tr(lang, "数据不足，未训练差评原因模型：种子集为空且无已核实原因",
                               "too little data, no complaint-cause model trained: empty seed set and no verified cause"))
    columns = ["comment", "tags", "cause"]

    def examples(frame: pl.DataFrame) -> pl.DataFrame:
        return pl.concat([seed_set.select(columns), frame.select(columns)], how="vertical_relaxed")

    # (a) Time split of the verified causes.
    test_month = choose_test_month(with_text["rated_at"])
    if test_month is None:
        time_split = {"status": "too_little_data", "message": tr(
            lang, f"已核实且有文字的差评没有一个月达到 {MIN_TIME_TEST} 条（共 {with_text.height} 条），未做按时间切分的评估",
            f"no month holds {MIN_TIME_TEST} verified bad ratings with text ({with_text.height} in all): no time-split "
            f"evaluation")}
    else:
        say(tr(lang, f"按时间切分评估（测试月 {test_month:%Y-%m}）", f"time-split evaluation (test month {test_month:%Y-%m})"))
        split = dt.datetime.combine(test_month, dt.time(), SHANGHAI)
        month_end = dt.datetime.combine((test_month + dt.timedelta(days=32)).replace(day=1), dt.time(), SHANGHAI)
        before = informative.filter((pl.col("rated_at") < split) & (pl.col("verified_at") < split))
        tested = with_text.filter((pl.col("rated_at") >= split) & (pl.col("rated_at") < month_end))
        split_train = examples(before)
        split_model = fit(split_train, seed)
        extra = {}
        if use_seed and before.height:
            seed_model = fit(seed_set, seed)
            extra["seed_only"] = classification_report(tested["cause"].to_list(), predict(seed_model, tested)["cause"].to_list())
        time_split = {"status": "ok", "test_month": f"{test_month:%Y-%m}",
                      "train": {"seed_examples": seed_set.height, "verified_examples": before.height},
                      **_compare(split_model, split_train, tested, extra)}

    # The model in use: the seed and every informative verified cause.
    say(tr(lang, "用种子集和全部已核实原因训练在用模型", "fitting the model in use on the seed and every verified cause"))
    final_examples = examples(informative)
    model = fit(final_examples, seed)

    # (b) The independent set, scored by the model in use.
    independent_set = cause_data.load_independent()
    if independent_set is None:
        independent = {"status": "unavailable", "message": tr(
            lang, "独立测试集不在本机（仅源码目录中有 tests/data/complaints_independent.jsonl）",
            "the independent test set is not on this machine (tests/data/complaints_independent.jsonl, source checkout only)")}
    else:
        say(tr(lang, f"独立测试集评估（{independent_set.height} 条）", f"independent test set ({independent_set.height} texts)"))
        independent = {"status": "ok", "path": "tests/data/complaints_independent.jsonl",
                       **_compare(model, final_examples, independent_set)}
    latest = verified["verified_at"].max() if verified.height else None
    manifest = {
        "feature_version": FEATURE_VERSION,
        "trained_at": dt.datetime.now(SHANGHAI).isoformat(timespec="seconds"),
        "seed": seed,
        "data_watermark": latest.isoformat(timespec="seconds") if latest is not None else None,
        "evaluation": {
            "time_split": time_split,
            "independent": independent,
            "beats_both_baselines_on_independent": bool(independent.get("beats_majority") and independent.get("beats_keywords")),
        },
        "final": {"seed_examples": seed_set.height, "verified_examples": informative.height,
                  "verified_without_text": verified.height - with_text.height,
                  "verified_uninformative_left_out": with_text.height - informative.height,
                  "examples_by_cause": dict(sorted(final_examples["cause"].value_counts().rows())),
                  "use_seed": use_seed},
        "model": {"vectoriser": "TfidfVectorizer(analyzer='char_wb', ngram_range=(1, 3), sublinear_tf=True)",
                  "classifier": f"LogisticRegression(C={C}, class_weight='balanced', solver='newton-cg')",
                  "vocabulary": len(model.named_steps["tfidf"].vocabulary_),
                  "uninformative_confidence": UNINFORMATIVE_CONFIDENCE},
        "train_seconds": round(time.perf_counter() - started, 2),
    }
    return TrainResult(estimator=model, manifest=manifest)


def seed_model(seed: int = 0):
    """The classifier fitted on the seed set alone, in memory (what ``hcp models classify`` uses, and says
    so, before any model was trained)."""
    return fit(cause_data.load_seed(), seed)


def load_or_seed(lang: str = "zh"):
    """The current trained cause model and its manifest; with none trained yet, the seed model and None.
    An incompatible stored model is refused (:class:`models.store.ModelIncompatible`), never replaced on a guess."""
    try:
        return store.load("cause", FEATURE_VERSION, lang)
    except store.ModelMissing:
        return seed_model(), None


# Input of `hcp models classify` -----------------------------------------------------------------------------
def parse_lines(lines, lang: str = "zh") -> pl.DataFrame:
    """JSON Lines with ``id`` (string or integer), ``comment`` (string or null) and optional ``tags`` (list
    of strings) → ``id`` (as text), ``id_json`` (the id as given, JSON), ``comment``, ``tags``. Blank lines are skipped; every line that is not such an
    object is named (line number and why) in one :class:`ClassifyInputError`, and nothing is classified."""
    rows, problems = [], []
    for number, line in enumerate(lines, 1):
        if isinstance(line, bytes):
            try:
                line = line.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError:
                problems.append((number, "不是 UTF-8 文本", "not UTF-8 text"))
                continue
        if number == 1:
            line = line.lstrip("\ufeff")
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as exc:
            problems.append((number, f"不是 JSON（{exc.msg}）", f"not JSON ({exc.msg})"))
            continue
        if not isinstance(record, dict):
            problems.append((number, "不是 JSON 对象", "not a JSON object"))
            continue
        rid, comment, tags = record.get("id"), record.get("comment"), record.get("tags")
        if isinstance(rid, bool) or not isinstance(rid, (str, int)) or str(rid) == "":
            problems.append((number, "缺少 id（字符串或整数）", "no id (a string or an integer)"))
        elif comment is not None and not isinstance(comment, str):
            problems.append((number, "comment 应为字符串", "comment must be a string"))
        elif tags is not None and (not isinstance(tags, list) or not all(isinstance(t, str) for t in tags)):
            problems.append((number, "tags 应为字符串列表", "tags must be a list of strings"))
        else:
            rows.append({"id": str(rid), "id_json": json.dumps(rid, ensure_ascii=False), "comment": comment or "",
                         "tags": tags or []})
    if problems:
        shown = problems[:10]
        more = len(problems) - len(shown)
        zh = "；".join(f"第 {n} 行：{z}" for n, z, _ in shown) + (f"；另有 {more} 行" if more else "")
        en = "; ".join(f"line {n}: {e}" for n, _, e in shown) + (f"; {more} more" if more else "")
        raise ClassifyInputError(tr(lang, f"输入有 {len(problems)} 行无法读取，未分类：{zh}",
                                    f"{len(problems)} input line(s) unreadable, nothing classified: {en}"))
    return pl.DataFrame(rows, schema={"id": pl.String, "id_json": pl.String, "comment": pl.String,
                                      "tags": pl.List(pl.String)})


# Evaluation as text ------------------------------------------------------------------------------------------
SCORER_LABELS = {"model": ("模型", "model"), "seed_only": ("仅种子集模型", "seed-only model"),
                 "majority": ("多数类基线", "majority class"), "keywords": ("关键词规则基线", "keyword rule")}


def evaluation_lines(manifest: dict, lang: str) -> list[str]:
    ev, final = manifest["evaluation"], manifest["final"]
    lines = [tr(lang, f"差评原因模型 v{manifest['version']}（{manifest['trained_at']} 训练；种子集 {final['seed_examples']} 条 + "
                      f"已核实 {final['verified_examples']} 条）",
                f"complaint-cause model v{manifest['version']} (trained {manifest['trained_at']}; {final['seed_examples']} seed + "
                f"{final['verified_examples']} verified examples)")]
    name = (lambda c: REASON_CATEGORIES.get(c, c)) if lang == "zh" else (lambda c: c)

    def block(title: str, part: dict) -> None:
        lines.append("")
        lines.append(title)
        if part.get("status") != "ok":
            lines.append("  " + part.get("message", ""))
            return
        scorers = part["scorers"]
        headers = [tr(lang, "评分", "scorer"), "macro-F1", tr(lang, "准确率", "accuracy"),
                   *[name(c) for c in CAUSES]]
        lines.append(render(headers, [[tr(lang, *SCORER_LABELS[k]), f"{r['macro_f1']:.3f}", f"{r['accuracy']:.3f}",
                                       *[f"{r['per_cause'][c]['f1']:.2f}" if r["per_cause"][c]["support"] else "—"
                                         for c in CAUSES]]
                                      for k, r in scorers.items()],
                            right_align=[False] + [True] * (2 + len(CAUSES))))
        verdict = lambda ok: tr(lang, "胜出", "beats it") if ok else tr(lang, "未胜出", "does NOT beat it")  # noqa: E731
        lines.append(tr(lang, f"对多数类基线：{verdict(part['beats_majority'])}；对关键词规则：{verdict(part['beats_keywords'])}",
                        f"vs majority class: {verdict(part['beats_majority'])}; vs keyword rule: {verdict(part['beats_keywords'])}"))
        matrix = scorers["model"]["confusion"]["matrix"]
        lines.append(tr(lang, "模型混淆矩阵（行：真实原因，列：预测）", "model confusion matrix (rows: true cause, columns: predicted)"))
        lines.append(render([""] + [name(c) for c in CAUSES],
                            [[name(c)] + [str(v) for v in row] for c, row in zip(CAUSES, matrix)],
                            right_align=[False] + [True] * len(CAUSES)))

    ts = ev["time_split"]
    block(tr(lang, f"（a）按时间切分：测试月 {ts.get('test_month', '—')}，{ts.get('texts', 0)} 条已核实差评"
                   + (f"（训练：种子集 {ts['train']['seed_examples']} + 此前已核实 {ts['train']['verified_examples']}）" if ts.get("train") else ""),
             f"(a) time split: test month {ts.get('test_month', '—')}, {ts.get('texts', 0)} verified bad ratings"
             + (f" (trained on {ts['train']['seed_examples']} seed + {ts['train']['verified_examples']} verified before)" if ts.get("train") else "")),
          ts)
    ind = ev["independent"]
    block(tr(lang, f"（b）独立测试集（未参与训练，非演示生成器文本）：{ind.get('texts', 0)} 条",
             f"(b) independent test set (never trained on, not generator text): {ind.get('texts', 0)} texts"), ind)
    lines.append("")
    lines.append(tr(lang, "预测原因是供核实参考的建议，不是核实结论，不得作为考核或处罚依据。",
                    "A predicted cause is a suggestion for the verifying department, never a verified cause nor grounds for a sanction."))
    return lines


KIND = ModelKind(name="cause", label=("差评原因", "complaint cause"), feature_version=FEATURE_VERSION, train=train,
                 evaluation_lines=evaluation_lines)
