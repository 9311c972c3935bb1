"""Chinese texts of the ratings loop: comments by cause, tags, praise and follow-up notes.

Bad-rating comments are tied to a cause (the ``reason_category`` a department later verifies), so a
text classifier has labelled examples to learn from. They are **composed** so that they read like what
people type into a rating box, not like nine fixed sentences per cause (:func:`bad_comment_plan` and
:func:`bad_comment_expr`, deterministic by the generator's seed):

* a **core** complaint of the cause (:data:`BAD_COMMENTS`, about twenty phrasings each, terse or long),
* often an **opener** naming the item or the hall (:data:`OPENERS`, ``{item}``, ``{hall}``),
* sometimes a **second cause** tacked on (:data:`MIX_TAILS`: "而且…"; the verified cause stays the first),
* a **closer** (:data:`CLOSERS`: "！！", "，希望改进", "，无语" …),
* now and then a **typo** (:data:`TYPOS`: 以经, 在 for 再, 材科 …),
* and some bad ratings say nothing useful at all (:data:`GENERIC_COMMENTS`: "差评", "不满意", "。。。"):
  the department still verifies a cause (it called the rater), but no text could tell it.

Placeholders ``{item}`` (the item name), ``{hall}``, ``{days}`` and ``{n}`` are filled per rating.
"""

from __future__ import annotations

import numpy as np
import polars as pl

CAUSES = ("efficiency", "attitude", "materials", "trips", "system", "policy", "other")

BAD_COMMENTS: dict[str, tuple[str, ...]] = {
    "efficiency": (
        "等了{days}个工作日还没办结，效率太低了",
        "说好的承诺时限早就过了，一直显示审核中",
        "排队两个多小时，叫号慢得要命",
        "审批流程太长，一个简单的事情拖了快一个月",
        "打电话问进度，每次都说在走流程，没有准确时间",
        "线上提交后好几天没人受理，催了也没用",
        "办了这么久，耽误了我们公司开业",
        "超过承诺时间也没有任何通知和解释",
        "材料早就交齐了，审批就是不动",
        "太慢了",
        "慢",
        "拖拖拉拉的，一周能办完的事拖了{days}天",
        "前面就三个人我等了一上午",
        "一个章要盖好几天，什么效率",
        "说三个工作日出结果，结果半个月了还在等",
        "窗口就开了一个，后面排了几十号人",
        "进度查询一直是待审批，不知道卡在哪个环节",
        "领导不签字就一直压着，急死人",
        "办个简单业务花了一整天时间",
        "效率低下，等得花儿都谢了",
        "从提交到现在{days}天了，没有任何进展",
    ),
    "attitude": (
        "窗口人员态度差，问两句就不耐烦",
        "工作人员一边玩手机一边办业务，很不负责",
        "咨询的时候被呛了回来，说话太冲",
        "工作人员推诿，说不归他们管让我去别的窗口",
        "午休前十分钟就不给办了，让下午再来",
        "服务态度冷漠，老人听不懂也不耐心解释",
        "说话阴阳怪气的，体验很差",
        "工作时间窗口没人，等了半天才回来",
        "态度恶劣",
        "爱答不理的",
        "问个问题跟欠他钱似的",
        "那个女的办事员直接把材料扔回来，太没礼貌了",
        "我多问了一句就被吼，凭什么",
        "几个工作人员在聊天，让我们在旁边干等",
        "一问三不知，还嫌我烦",
        "脸拉得老长，一点笑脸都没有",
        "踢皮球，这个窗口推那个窗口",
        "工作人员嘴里说着快下班了，催我们走",
        "对外地口音的人明显不耐烦",
        "服务意识太差了，把群众当麻烦",
    ),
    "materials": (
        "要求重复提交材料，上次交过的这次又要交",
        "一次性告知没做到，每次来都说还缺一样材料",
        "要求提供的证明材料太多，很多明明可以内部调取",
        "网上已经上传了材料，窗口还要纸质版",
        "材料模板和窗口要求不一致，白准备了",
        "要的材料清单写得不清楚，来回改了三次",
        "让我自己去开证明，其实部门之间可以共享",
        "复印件要求每页签字盖章，太繁琐了",
        "材料太多了",
        "要证明我妈是我妈，离谱",
        "身份证复印件交了三份还要",
        "表格填错一个字就要重新打印重新签",
        "网上说要五样材料，到了现场变成八样",
        "要原件又要复印件又要扫描件，折腾",
        "让补交的材料之前根本没说过",
        "营业执照都能网上查到了还要我交复印件",
        "需要的证明要回老家去开，太难了",
        "材料退回来好几次，每次只说一个问题",
        "申请表格式改了也不提前说",
        "证明材料要求的盖章单位根本不管这事",
    ),
    "trips": (
        "跑了好几次，说好的最多跑一次呢",
        "前后跑了{n}趟才办下来",
        "明明可以网上办，还非要本人到现场",
        "取证还得专门再跑一趟，不能邮寄吗",
        "去了才知道这个业务要到另一个大厅办",
        "办事地点太远，来回跑一次要半天",
        "第一次来赶上系统维护，白跑了一趟",
        "白跑一趟",
        "跑断腿了",
        "请了三次假来办这个事",
        "又让我明天再来一趟",
        "为了签个字专门从外地赶回来",
        "这个窗口办一半，另一个楼再办一半，来回跑",
        "来了三次了还没办成",
        "说今天能拿结果，到了又让下周再来",
        "不能代办，必须本人来，我在外地上班怎么弄",
        "最多跑一次就是个口号",
        "先去街道盖章，再来大厅，再回街道，折腾死了",
        "预约了过来还是办不了，又得改天",
        "路上来回两个小时就为了交一张纸",
    ),
    "system": (
        "网上系统经常卡顿，提交了好几次都失败",
        "手机上传材料一直报错，只能去窗口",
        "网站登录不上去，人脸识别总是失败",
        "系统提示信息看不懂，不知道哪一步出了问题",
        "小程序提交后状态一直不更新",
        "网上申报页面填到一半就退出，之前填的全没了",
        "电子证照下载不了，显示系统繁忙",
        "自助终端打印不出来，也没人管",
        "系统太烂了",
        "app闪退",
        "验证码一直收不到",
        "页面一直转圈圈，加载不出来",
        "上传照片提示格式不对，换了好几种都不行",
        "刷脸刷了十几次都不通过",
        "点提交没反应，点了好几次结果重复提交了",
        "系统升级了好几天还是用不了",
        "网上办理入口找不到，链接打开是404",
        "排号机坏了，取不了号",
        "电子签名一直签不上",
        "系统显示已办结但是查不到证照",
    ),
    "policy": (
        "政策规定不合理，同样的情况别的地方就能办",
        "条件卡得太死，不符合实际情况",
        "政策前后不一致，去年能办今年就不行",
        "收费标准没有公示清楚",
        "要求本地户籍才能办，对外地人不公平",
        "政策解释不清楚，不同工作人员说法不一样",
        "不予受理的理由不充分",
        "这个规定太死板了",
        "凭什么社保要交满五年才能办",
        "新政策出来也没有过渡期，说不行就不行",
        "隔壁区能办我们区不能办，标准不统一",
        "补贴的条件定得太高，根本没几个人能享受",
        "年龄超了一个月就不给办，一点都不人性化",
        "规定要求的面积标准不合理",
        "文件里写的和窗口执行的不一样",
        "政策变来变去，老百姓根本跟不上",
        "申请了被驳回，说不符合政策，也不说哪条",
        "限购限得太严了",
        "交的钱比说好的多，收费不透明",
    ),
    "other": (
        "办事大厅停车太难",
        "大厅里空调太冷，等候区座位不够",
        "叫号系统经常跳号",
        "厕所太脏了",
        "大厅里太吵了，听不见叫号",
        "门口保安不让进，说要先预约",
        "饮水机没水，等了那么久连口水都喝不上",
        "指示牌不清楚，找窗口找了半天",
        "电梯坏了，老人只能爬楼",
        "周末不上班，上班族根本没时间来",
        "没有母婴室，带孩子很不方便",
        "门口的路在修，车开不进去",
    ),
}

#: A second cause tacked on after the first ("mixed causes"): the verified cause stays the first one.
MIX_TAILS: dict[str, tuple[str, ...]] = {
    "efficiency": ("而且等了很久", "还慢得要死", "办得也慢"),
    "attitude": ("工作人员态度也不好", "态度还差", "问一下还不耐烦"),
    "materials": ("还让我补材料", "材料要了一大堆", "又说缺材料"),
    "trips": ("害我多跑了一趟", "来回跑了好几次", "又得再来一趟"),
    "system": ("网上系统也老出错", "系统还卡", "手机上又提交不了"),
    "policy": ("规定也不合理", "政策也没说清楚", "条件还卡得死"),
    "other": ("停车也难", "大厅还特别挤", "空调也不开"),
}

#: Lead-ins that name the item or the hall (cause-neutral); "" leaves the core on its own.
OPENERS = (
    "", "", "", "", "",
    "办{item}，", "今天去{hall}办{item}，", "在{hall}办事，", "{item}：", "我来办{item}的，",
    "第一次办{item}，", "帮家里老人办{item}，", "公司来办{item}，", "{hall}，", "上午在{hall}，",
    "网上申请{item}，", "办个{item}而已，", "【{item}】",
)
CLOSERS = (
    "", "", "", "", "。", "。", "！", "！！", "！！！", "，希望改进", "，太失望了", "，无语", "。建议整改",
    "，差评", "…", "，真的服了", "，请领导重视", "，体验极差", "。", "??",
)
#: What many bad ratings say: nothing a reader (or a model) could tell the cause from.
GENERIC_COMMENTS = ("差评", "不满意", "很不满意", "非常不满意", "无", "。。。", "差", "太差了", "不好", "一般般",
                    "呵呵", "就这样吧", "111", "no")
HALLS = ("政务服务中心", "政务大厅", "市民中心", "便民服务中心", "行政审批服务大厅", "区政务中心三楼", "不动产登记中心",
         "社保大厅", "街道便民服务站", "县政务服务中心二楼", "人社局窗口", "税务大厅")
#: (correct, typo) pairs, each applied to the first occurrence only.
TYPOS = (("已经", "以经"), ("再", "在"), ("材料", "材科"), ("系统", "系通"), ("态度", "太度"), ("效率", "效律"),
         ("办理", "办里"), ("证明", "证名"), ("不耐烦", "不耐凡"), ("窗口", "窗囗"), ("的", "得"), ("怎么", "咋"))

#: Shares of the composition steps.
GENERIC_SHARE = 0.10
MIX_SHARE = 0.18
TYPO_SHARE = 0.15

MIDDLING_COMMENTS = (
    "还可以，就是等的时间有点长", "一般吧", "流程还能再简化", "整体还行，网上系统有点慢", "工作人员态度还行",
    "材料有点多", "基本满意", "希望能延长办公时间", "停车不方便", "还行",
)

PRAISE = (
    "办事效率高，点赞！", "工作人员很热情，耐心解答", "一次就办好了，不用跑腿", "网上就能办，太方便了",
    "比以前快多了", "服务周到", "非常满意", "窗口工作人员很耐心", "当场就拿到证了", "材料简化了很多",
    "帮办代办很贴心", "全程网办，足不出户", "流程清楚，指引明确", "好评", "很好", "不错", "感谢工作人员的帮助",
    "速度很快，赞", "体验很好", "办事不求人",
)

GOOD_TAGS = ("办事效率高", "服务态度好", "一次办好", "材料精简", "网上办理便捷", "指引清晰", "零跑腿", "环境整洁")
MIDDLING_TAGS = ("等待时间较长", "流程有待简化", "指引不够清晰")
BAD_TAGS: dict[str, tuple[str, ...]] = {
    "efficiency": ("办理时间长", "超时未办结", "排队时间长"),
    "attitude": ("服务态度差", "推诿扯皮", "不耐心"),
    "materials": ("材料重复提交", "一次性告知不到位", "证明材料多"),
    "trips": ("多次跑动", "必须现场办理"),
    "system": ("系统卡顿", "网上办理不便", "系统故障"),
    "policy": ("政策不合理", "政策解释不清"),
    "other": ("其他", "环境设施差"),
}
#: Share of bad ratings whose rater picked no tag.
BAD_NO_TAG_SHARE = 0.3

FOLLOWUP_NOTES: dict[str, tuple[str, ...]] = {
    "verified": ("已电话联系评价人核实情况", "经调取窗口录像核实，情况属实", "已与评价人沟通，核实差评原因",
                 "经核查，差评反映问题基本属实", "已约谈窗口经办人员了解情况"),
    "rectified": ("已对窗口人员进行批评教育并加强培训", "已优化办理流程，压缩审批环节", "已更新一次性告知单，明确材料清单",
                  "已协调技术部门修复系统问题", "已为申请人加急办结", "已安排专人全程帮办", "已开通邮寄送达服务"),
    "explained": ("已向评价人解释相关政策规定，评价人表示理解", "属法律法规明确规定，已做好解释说明",
                  "已说明办理时限依据，取得评价人谅解"),
    "feedback": ("已将整改情况反馈评价人", "已通过短信向评价人反馈处理结果", "已电话反馈整改结果"),
    "revisited": ("回访评价人，对整改结果表示满意", "回访评价人，表示基本满意", "回访未接通，已短信告知",
                  "回访评价人，表示理解"),
    "appealed": ("经核实评价人恶意差评，申请申诉", "评价内容与办件无关，申请申诉", "评价人误操作，申请申诉",
                 "差评原因属政策规定，非工作人员原因，申请申诉"),
    "appeal_upheld": ("经审核申诉理由成立，该评价不计入考核",),
    "appeal_rejected": ("申诉理由不充分，驳回申诉，请抓紧整改",),
}


def flat(groups: dict[str, tuple[str, ...]], keys: tuple[str, ...]) -> tuple[list[str], list[int], list[int]]:
    """All texts of ``groups`` in ``keys`` order, with each group's offset and size (for vectorised picks)."""
    texts, offsets, sizes = [], [], []
    for k in keys:
        offsets.append(len(texts))
        sizes.append(len(groups[k]))
        texts.extend(groups[k])
    return texts, offsets, sizes


#: Columns of a bad-comment plan (:func:`bad_comment_plan`), each an index into its list or -1 (none).
PLAN_COLUMNS = ("bc_open", "bc_mix", "bc_close", "bc_generic", "bc_typo", "bc_hall")


def bad_comment_plan(rng: np.random.Generator, cause: np.ndarray) -> dict[str, np.ndarray]:
    """How each bad comment is composed around its core (the core itself is picked by the caller from
    :data:`BAD_COMMENTS`): opener, second-cause tail (another cause than ``cause``), closer, generic
    replacement, typo and hall, as indices (-1 = none). Rows with ``cause`` < 0 get a plan too (unused)."""
    n = len(cause)
    c = np.maximum(cause, 0)
    _, mix_off, mix_size = flat(MIX_TAILS, CAUSES)
    other = (c + 1 + rng.integers(0, len(CAUSES) - 1, n)) % len(CAUSES)
    mix = np.array(mix_off)[other] + (rng.random(n) * np.array(mix_size)[other]).astype(np.int64)
    return {
        "bc_open": rng.integers(0, len(OPENERS), n),
        "bc_mix": np.where(rng.random(n) < MIX_SHARE, mix, -1),
        "bc_close": rng.integers(0, len(CLOSERS), n),
        "bc_generic": np.where(rng.random(n) < GENERIC_SHARE, rng.integers(0, len(GENERIC_COMMENTS), n), -1),
        "bc_typo": np.where(rng.random(n) < TYPO_SHARE, rng.integers(0, len(TYPOS), n), -1),
        "bc_hall": rng.integers(0, len(HALLS), n),
    }


def bad_comment_expr(core: pl.Expr) -> pl.Expr:
    """The composed comment template of a bad rating from its core template and its plan columns
    (:data:`PLAN_COLUMNS`); ``{hall}`` is filled here, ``{item}``/``{days}``/``{n}`` by the caller."""
    mix_texts, _, _ = flat(MIX_TAILS, CAUSES)
    pick = lambda texts, col: pl.lit(pl.Series(list(texts))).gather(pl.col(col).clip(0))  # noqa: E731
    text = pl.concat_str([
        pick(OPENERS, "bc_open"), core,
        pl.when(pl.col("bc_mix") >= 0).then(pl.lit("，") + pick(mix_texts, "bc_mix")).otherwise(pl.lit("")),
        pick(CLOSERS, "bc_close"),
    ])
    typo = pl.when(pl.lit(False)).then(text)
    for k, (right, wrong) in enumerate(TYPOS):
        typo = typo.when(pl.col("bc_typo") == k).then(text.str.replace(right, wrong, literal=True, n=1))
    text = typo.otherwise(text).str.replace_all("{hall}", pick(HALLS, "bc_hall"), literal=True)
    return pl.when(pl.col("bc_generic") >= 0).then(pick(GENERIC_COMMENTS, "bc_generic")).otherwise(text)
