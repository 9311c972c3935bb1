"""The domain vocabulary of DOMAIN.md and INTERCHANGE.md, with the Chinese words users read.

Everything that names a record kind, an event type, a channel or an action imports it from here, so
validation, the demo generator, the metrics and the user interface cannot drift apart.
"""

from __future__ import annotations

from hcp.indicators import INDICATORS

RECORD_KINDS = ("case_event", "rating", "followup", "item", "department", "region")
#: The field that identifies a record of each kind (INTERCHANGE: the idempotency key; an item's key is its
#: code together with ``valid_from``).
RECORD_ID_FIELD = {"case_event": "event_id", "rating": "rating_id", "followup": "followup_id", "item": "item_code",
                   "department": "dept_code", "region": "region_code"}

#: Lifecycle events of a case (办件), in their usual order.
EVENT_TYPES = {
    "submitted": "申报",
    "supplement_requested": "补正告知",
    "supplement_received": "补正",
    "accepted": "受理",
    "rejected": "不予受理",
    "suspended": "特别程序（挂起）",
    "resumed": "恢复计时",
    "completed": "办结",
    "delivered": "送达/取件",
    "withdrawn": "撤回",
}
#: Events that end a case's handling.
TERMINAL_EVENTS = ("completed", "rejected", "withdrawn")
#: Events that stop or restart a case's clock (特别程序 and 补正: the days between do not count).
STOP_EVENT_TYPES = ("suspended", "resumed", "supplement_requested", "supplement_received")

CASE_CHANNELS = {
    "online": "网上办理",
    "mobile": "移动端",
    "hall": "窗口",
    "self_service": "自助终端",
    "mail": "邮寄",
    "agent": "代办",
}
#: English names of the channels (the CLI, the dashboard and the bulletin in English).
CASE_CHANNELS_EN = {"online": "online", "mobile": "mobile", "hall": "service hall", "self_service": "self-service",
                    "mail": "mail", "agent": "agent"}
#: Channels that count as online submission for `online_rate` (网办率).
ONLINE_CHANNELS = ("online", "mobile")

COMPLETION_RESULTS = {"approved": "准予", "denied": "不予"}
APPLICANT_TYPES = {"person": "自然人", "org": "法人"}

RATING_CHANNELS_EN = {"pc": "PC web", "mobile_app": "mobile app", "mini_program": "mini program", "sms": "SMS",
                      "hall_device": "hall device", "qr_code": "QR code", "hotline": "hotline",
                      "self_service": "self-service"}
RATING_CHANNELS = {
    "pc": "PC端",
    "mobile_app": "移动端",
    "mini_program": "小程序",
    "sms": "短信",
    "hall_device": "评价器",
    "qr_code": "二维码",
    "hotline": "热线",
    "self_service": "自助终端",
}
RATING_STAGES = {"accepted": "受理", "completed": "办结"}
RATING_LEVELS = {5: "非常满意", 4: "满意", 3: "基本满意", 2: "不满意", 1: "非常不满意"}
GOOD_LEVELS = (4, 5)
BAD_LEVELS = (1, 2)

FOLLOWUP_ACTIONS = {
    "verified": "核实",
    "rectified": "整改",
    "explained": "解释说明",
    "feedback": "反馈",
    "revisited": "回访",
    "appealed": "申诉",
    "appeal_upheld": "申诉成立",
    "appeal_rejected": "申诉驳回",
}
REASON_CATEGORIES = {
    "efficiency": "办事效率",
    "attitude": "服务态度",
    "materials": "材料要求",
    "trips": "多次跑动",
    "system": "系统问题",
    "policy": "政策规定",
    "other": "其他",
}
ITEM_TYPES = ("行政许可", "行政确认", "行政给付", "行政裁决", "其他行政权力", "公共服务")

REGION_LEVELS = {1: "省", 2: "市", 3: "县（区）", 4: "乡镇（街道）", 5: "村（社区）"}
#: Length of the code prefix that identifies a region at each level.
REGION_PREFIX = {"province": 2, "city": 4, "county": 6, "township": 9, "village": 12}

#: Indicator keys with their (Chinese, English) labels, in display order: the registry's (:mod:`hcp.indicators`),
#: then the composite score and the rank.
INDICATOR_LABELS = {
    **{key: (row.zh, row.en) for key, row in INDICATORS.items()},
    "composite_score": ("综合得分", "composite score"),
    "rank": ("排名", "rank"),
}
#: ``rank_status`` of a unit (metrics.score) with its (Chinese, English) labels.
RANK_STATUS_LABELS = {
    "ranked": ("参与排名", "ranked"),
    "small_sample": ("样本不足", "sample too small"),
    "no_data": ("无数据", "no data"),
}
