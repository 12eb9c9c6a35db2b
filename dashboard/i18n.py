"""Interface strings: Chinese (zh-CN) by default, English when `?lang=en`."""
from __future__ import annotations

STRINGS: dict[str, tuple[str, str]] = {
    "title": ("鹰潭市市场监管网格指挥中心", "Yingtan market-supervision grid command centre"),
    "live": ("在线", "live"),
    "stale": ("信号滞后", "stale"),
    "offline": ("离线", "offline"),
    "on_duty": ("在岗", "on duty"),
    "open_orders": ("进行中指令", "open orders"),
    "open_alerts": ("未处理告警", "open alerts"),
    "median_ack": ("今日响应中位数", "median time to ack today"),
    "uncovered": ("未覆盖面积", "uncovered area"),
    "alerts": ("告警", "Alerts"),
    "orders": ("指令", "Orders"),
    "no_alerts": ("暂无告警", "No open alerts"),
    "no_orders": ("暂无进行中指令", "No open orders"),
    "sos_banner": ("紧急求助", "SOS"),
    "escalation_banner": ("指令升级", "Escalation"),
    "click_map": ("在地图上点击位置，或输入网格/主体信用代码搜索", "Click the map, or search a grid / entity credit code"),
    "search": ("搜索", "Search"),
    "responsible": ("网格责任人", "Responsible"),
    "nearest": ("最近监管员", "Nearest supervisors"),
    "issue": ("下达指令", "Issue order"),
    "order_title": ("标题", "Title"),
    "order_body": ("内容", "Details"),
    "priority": ("优先级", "Priority"),
    "kind": ("类型", "Kind"),
    "emergency": ("紧急", "emergency"),
    "task": ("任务", "task"),
    "recipients": ("接收人", "Recipients"),
    "cancel": ("撤销", "Cancel"),
    "close": ("办结", "Close"),
    "ack_alert": ("确认", "Acknowledge"),
    "trail": ("轨迹回放", "Trail replay"),
    "my_orders": ("我的指令", "My orders"),
    "acknowledged": ("已确认", "Acknowledge"),
    "en_route": ("出发", "En route"),
    "on_scene": ("到场", "On scene"),
    "completed": ("完成", "Completed"),
    "declined": ("拒绝", "Decline"),
    "state_sent": ("已发送", "sent"),
    "state_delivered": ("已送达", "delivered"),
    "state_acknowledged": ("已确认", "acknowledged"),
    "state_en_route": ("在途", "en route"),
    "state_on_scene": ("已到场", "on scene"),
    "state_completed": ("已完成", "completed"),
    "state_declined": ("已拒绝", "declined"),
    "state_timed_out": ("超时", "timed out"),
    "state_cancelled": ("已撤销", "cancelled"),
    "sos_button": ("紧急求助 SOS", "SOS"),
    "duty_on": ("上岗", "On duty"),
    "duty_off": ("下岗", "Off duty"),
    "logout": ("退出", "Sign out"),
    "language": ("English", "中文"),
    "not_allowed": ("当前角色无权下达指令", "Your role may not issue orders"),
    "distance": ("距离", "distance"),
    "level1": ("一级网格", "Level-1 grid"),
    "level2": ("二级网格", "Level-2 grid"),
    "measure_none": ("网格着色：无", "Grid colour: none"),
    "measure_supervisors_live": ("网格着色：在线监管员", "Grid colour: supervisors live"),
    "measure_open_orders": ("网格着色：进行中指令", "Grid colour: open orders"),
    "measure_open_alerts": ("网格着色：未处理告警", "Grid colour: open alerts"),
    "measure_entities": ("网格着色：市场主体数", "Grid colour: market entities"),
}


def lang_of(search: str | None) -> str:
    return "en" if search and "lang=en" in search else "zh"


def t(key: str, lang: str = "zh") -> str:
    zh, en = STRINGS.get(key, (key, key))
    return en if lang == "en" else zh
