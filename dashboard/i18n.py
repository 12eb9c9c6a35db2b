"""Every text a person reads on the pages, in one table: Chinese (zh-CN) by default, English
when `?lang=en`. The domain's codes (roles, duty statuses, presence, states, alert kinds, the
reasons of the recipient choice, errors) are said here too; the browser gets the same table
(`/static/i18n.js`) for the text its scripts draw, so there is no second copy in JS."""
from __future__ import annotations

from typing import Mapping

import orjson

STRINGS: dict[str, tuple[str, str]] = {
    "title": ("鹰潭市市场监管网格指挥中心", "Yingtan market-supervision grid command centre"),
    "live": ("在线", "live"),
    "stale": ("信号滞后", "stale"),
    "offline": ("离线", "offline"),
    "on_duty": ("在岗", "on duty"),
    "duty_on_duty": ("当前：在岗", "now: on duty"),
    "duty_off_duty": ("当前：下岗", "now: off duty"),
    "duty_busy": ("当前：忙碌", "now: busy"),
    "duty_sos": ("当前：已发出紧急求助", "now: SOS sent"),
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
    "sound": ("告警声音（开/关）", "Alarm sound (on/off)"),
    "sound_short": ("♪ 声音", "♪ Sound"),
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
    "entity": ("市场主体", "Market entity"),
    "entity_name": ("名称", "Name"),
    "entity_kind": ("类型 · 行业", "Kind · category"),
    "entity_uscc": ("统一社会信用代码", "Credit code"),
    "entity_address": ("地址", "Address"),
    # the domain's codes, as a person reads them
    "role_l1_supervisor": ("一级网格监管员", "level-1 supervisor"),
    "role_l2_supervisor": ("二级网格监管员", "level-2 supervisor"),
    "role_assistant": ("网格协管员", "assistant"),
    "role_informant": ("网格信息员", "informant"),
    "role_coordinator": ("指挥调度员", "coordinator"),
    "role_duty_officer": ("值班员", "duty officer"),
    "account_viewer": ("只读", "viewer"),
    "account_coordinator": ("指挥调度员", "coordinator"),
    "account_admin": ("管理员", "admin"),
    "account_supervisor": ("监管员", "supervisor"),
    "account_reporter": ("信息员", "reporter"),
    "status_on_duty": ("在岗", "on duty"),
    "status_off_duty": ("下岗", "off duty"),
    "status_busy": ("忙碌", "busy"),
    "status_sos": ("紧急求助", "SOS"),
    "status_offline": ("离线", "offline"),
    "fresh_live": ("在线", "live"),
    "fresh_stale": ("信号滞后", "stale"),
    "fresh_offline": ("离线", "offline"),
    "order_open": ("进行中", "open"),
    "order_closed": ("已办结", "closed"),
    "order_cancelled": ("已撤销", "cancelled"),
    "alert_open": ("未处理", "open"),
    "alert_acknowledged": ("已确认", "acknowledged"),
    "alert_cleared": ("已解除", "cleared"),
    "kind_sos": ("紧急求助", "SOS"),
    "kind_offline": ("离线", "offline"),
    "kind_left_grid": ("离开网格", "outside own grids"),
    "kind_low_battery": ("电量低", "low battery"),
    "kind_escalation": ("指令升级", "escalation"),
    "kind_task_overdue": ("任务超时", "task overdue"),
    "alert_text_sos": ("{who} 发出紧急求助", "{who} raised SOS"),
    "alert_text_offline": ("{who} 在岗时离线", "{who} offline while on duty"),
    "alert_text_left_grid": ("{who} 在岗但不在责任网格内", "{who} on duty outside own grids"),
    "alert_text_low_battery": ("{who} 终端电量 {battery}", "{who} battery {battery}"),
    "alert_text_escalation": ("指令 {order} 无人确认，已升级（第 {round} 轮）",
                              "order {order} unacknowledged, escalated (step {round})"),
    "alert_text_task_overdue_not_accepted": ("任务 {task} 超时未接收（{who}）", "task {task} not accepted ({who})"),
    "alert_text_task_overdue_past_deadline": ("任务 {task} 已过处置期限（{who}）", "task {task} past its deadline ({who})"),
    "alert_cancelled_by": ("已由 {who} 撤销", "cancelled by {who}"),
    "meters": ("{v} 米", "{v} m"),
    "kilometers": ("{v} 公里", "{v} km"),
    "seconds": ("{v} 秒", "{v} s"),
    # the recipient choice: why each was picked, and why others were not
    "pick_responsible": ("网格责任人（{grid}）", "responsible for {grid}"),
    "pick_nearest": ("最近在岗第 {rank} 名 · {distance}", "nearest eligible #{rank} · {distance}"),
    "pick_chosen": ("指挥员指定", "chosen by the coordinator"),
    "pick_extra": ("备选 · {distance}", "not suggested · {distance}"),
    "why_status": ("状态：{value}", "status: {value}"),
    "why_position": ("位置：{value}", "position: {value}"),
    "note_outside": ("该点不在任何二级网格内：无网格责任人", "the point is outside every level-2 grid: no responsible supervisor"),
    "note_no_responsible": ("网格 {grid} 未设二级网格责任人", "grid {grid} has no responsible level-2 supervisor"),
    "note_no_device": ("网格 {grid} 责任人 {person} 未配备终端", "{person}, responsible for {grid}, has no device"),
    "note_already_asked": ("网格责任人 {person} 已通知过", "{person}, the responsible supervisor, was asked already"),
    "note_responsible_skipped": ("网格 {grid} 责任人 {person} 未选（{why}）", "{person}, responsible for {grid}, left out ({why})"),
    "note_skipped": ("{person} 未选（{why}）", "{person} left out ({why})"),
    "note_too_few": ("仅找到 {found} 名在岗在线的最近监管员（需 {k} 名）", "only {found} of {k} nearest eligible supervisors found"),
    "suggested_rule": ("按平台规则推荐（与接口 POST /api/orders 相同）：网格责任人，加最近的 {k} 名在岗在线监管员；无人确认时自动升级至下一批最近监管员。",
                       "Suggested by the platform's rule (the same as POST /api/orders): the responsible supervisor plus the {k} nearest eligible; unacknowledged, it escalates to the next nearest."),
    "edited_warning": ("⚠ 已修改接收人：指令将只发给所勾选的人员，无人确认时不会自动派给下一位最近监管员（仍会提醒一级网格监管员）。",
                       "⚠ Recipients edited: the order goes only to those ticked; unacknowledged, it will not go on to the next nearest supervisors (the level-1 supervisor is still alerted)."),
    "none_picked": ("请至少勾选一名接收人", "Tick at least one recipient"),
    "issued": ("✓ 已下达 {order}：{who}", "✓ issued {order}: {who}"),
    "issued_auto": ("（按规则，无人确认将自动升级）", "(by the rule: escalates if unacknowledged)"),
    "issued_explicit": ("（指定接收人，不自动升级）", "(chosen recipients: no escalation)"),
    "no_point": ("请先在地图上选点", "Pick a point on the map first"),
    # errors the server gives, as a person reads them
    "err_no_recipient": ("此处没有可派的接收人：{reasons}", "Nobody to send this order to: {reasons}"),
    "err_invalid_order": ("指令内容不完整：{fields}", "The order is incomplete: {fields}"),
    "err_unknown_recipients": ("未知接收人：{ids}", "Unknown recipients: {ids}"),
    "err_order_state": ("指令 {order} 当前{state}，不能{act}", "Order {order} is {state}: it cannot be {act}"),
    "err_not_found": ("未找到 {what}", "Not found: {what}"),
    "err_forbidden": ("当前角色无权执行此操作", "Your role may not do this"),
    "err_sos_cancel": ("只有发出求助的监管员本人或指挥员可以撤销", "Only the supervisor who raised it, or a coordinator, may cancel it"),
    "err_not_sos": ("只能撤销紧急求助告警", "Only an SOS alert can be cancelled"),
    "err_alert_cleared": ("告警已解除", "The alert is cleared already"),
    "field_title": ("标题", "title"),
    "field_body": ("内容", "details"),
    "act_cancel": ("撤销", "cancelled"),
    "act_close": ("办结", "closed"),
    "done_cancel": ("✓ 指令 {order} 已撤销", "✓ order {order} cancelled"),
    "done_close": ("✓ 指令 {order} 已办结", "✓ order {order} closed"),
    "done_ack": ("✓ 告警已确认", "✓ alert acknowledged"),
    "already_acked": ("该告警已由 {who} 确认", "Already acknowledged by {who}"),
    "already_order": ("指令 {order} 当前已是{state}", "Order {order} is {state} already"),
    # the phone
    "sos_hold": ("按住 1.5 秒发出紧急求助", "Hold 1.5 s to raise SOS"),
    "sos_sent": ("已发出紧急求助，指挥中心和附近同事已收到", "SOS raised: the command centre and nearby colleagues have it"),
    "sos_cancel": ("误报？撤销紧急求助", "Mistake? Cancel the SOS"),
    "sos_cancelled": ("紧急求助已撤销（记录保留）", "SOS cancelled (the record stays)"),
    "sos_none": ("当前没有未解除的紧急求助", "No SOS of yours is active"),
    "map_link": ("地图导航", "Map"),
    # the wall's legend
    "legend": ("图例", "Legend"),
    "lg_live": ("在线 · 在岗", "live · on duty"),
    "lg_stale": ("信号滞后（超过 {stale} 未更新位置）", "stale (no position for {stale})"),
    "lg_offline": ("离线（超过 {offline} 无消息）", "offline (silent for {offline})"),
    "lg_busy": ("忙碌（外圈紫色）", "busy (purple ring)"),
    "lg_off_duty": ("下岗（外圈灰色）", "off duty (grey ring)"),
    "lg_sos": ("紧急求助（红色闪烁）", "SOS (red, flashing)"),
    "lg_order_emergency": ("紧急指令地点", "emergency order"),
    "lg_order_task": ("任务指令地点", "task order"),
    "lg_line_waiting": ("接收人 → 指令：未确认", "recipient → order: not yet acknowledged"),
    "lg_line_engaged": ("接收人 → 指令：已确认/出发/到场", "recipient → order: taken"),
    "lg_cov_amber": ("1–2 公里内无在岗监管员", "no supervisor on duty within 1 km"),
    "lg_cov_red": ("2 公里内无在岗监管员", "no supervisor on duty within 2 km"),
    "lg_level1": ("一级网格边界", "level-1 grid boundary"),
    "lg_level2": ("二级网格边界", "level-2 grid boundary"),
    "minutes": ("{v} 分钟", "{v} min"),
    "supervisor": ("监管员", "Supervisor"),
    "state": ("状态", "State"),
    # --- stats ---
    "an_title": ("统计分析", "Analytics"),
    "an_period": ("统计期间", "Period"),
    "an_from": ("起", "from"),
    "an_to": ("止", "to"),
    "an_all_time": ("全部（2018 年以来）", "all (since 2018)"),
    "an_this_year": ("今年", "this year"),
    "an_last_12m": ("近 12 个月", "last 12 months"),
    "an_measure": ("指标", "Measure"),
    "an_trend": ("按月趋势", "Trend by month"),
    "an_map": ("各网格分布", "By grid"),
    "an_weak": ("薄弱环节", "Weak spots"),
    "an_weak_by": ("按", "by"),
    "an_grid_detail": ("网格详情", "Grid"),
    "an_click_grid": ("点击地图上的网格查看其数据和检查不合格的经营主体", "Click a grid on the map: its figures and its entities with failed inspections"),
    "an_failed_entities": ("检查不合格的经营主体", "Entities with failed inspections"),
    "an_export": ("导出", "Export"),
    "an_none": ("无", "none"),
    "an_previous": ("上期", "previous period"),
    "an_change": ("环比", "change"),
    "an_per_1000": ("每千户", "per 1,000 entities"),
    "an_entities": ("经营主体", "entities"),
    "an_failed_times": ("不合格 {n} 次", "failed {n}×"),
    "m_inspections": ("检查", "inspections"),
    "m_failed_inspections": ("检查不合格", "failed inspections"),
    "m_tasks": ("网格事件", "tasks"),
    "m_overdue_tasks": ("超时事件", "overdue tasks"),
    "m_complaints": ("投诉举报", "complaints"),
    "m_mediated": ("调解成功", "mediated"),
    "m_cases": ("案件线索", "case clues"),
    "m_penalties": ("处罚决定", "penalty decisions"),
    "by_grid": ("二级网格", "level-2 grid"),
    "by_level1": ("一级网格（乡镇街道）", "level-1 grid (township)"),
    "by_branch": ("分局", "branch"),
    "by_category": ("类别", "category"),
    "by_month": ("月份", "month"),
    "sum_inspections": ("日常监管检查", "inspections"),
    "sum_double_random": ("双随机抽查", "double random checks"),
    "sum_special": ("专项检查", "special checks"),
    "sum_routine": ("日常巡查", "routine patrols"),
    "sum_complaints": ("投诉咨询举报", "complaints"),
    "sum_clues": ("案件线索", "case clues"),
    "sum_clues_verified": ("线索核查", "clues verified"),
    "sum_transferred_police": ("移送公安", "transferred to the police"),
    "sum_cases_filed": ("立案", "cases filed"),
    "sum_penalty_decisions": ("处罚决定", "penalty decisions"),
    "sum_tasks_on_time_pct": ("事件按时办结率", "tasks closed on time"),
    "sum_mediation_rate": ("调解成功率", "mediation success"),
    "sum_since_2018": ("2018 年以来检查", "inspections since 2018"),
    "sum_this_year": ("今年检查", "inspections this year"),
    "cat_food_retail": ("食品销售", "food retail"),
    "cat_catering": ("餐饮服务", "catering"),
    "cat_industrial_products": ("工业产品", "industrial products"),
    "cat_pharmacy": ("药品零售", "pharmacy"),
    "cat_special_equipment": ("特种设备", "special equipment"),
    "why_failure_rate": ("检查不合格 {observed} 次，每千户 {rate}，为按其行业构成预期（{expected} 次）的 {ratio} 倍",
                         "{observed} failed inspections, {rate} per 1,000 entities: {ratio}× the {expected} its mix of trades would give"),
    "why_founded_rate": ("属实投诉 {observed} 件，每千户 {rate}，为平均水平（{expected} 件）的 {ratio} 倍",
                         "{observed} founded complaints, {rate} per 1,000 entities: {ratio}× the average ({expected})"),
    "why_founded_rising": ("属实投诉 {observed} 件，上期 {expected} 件，{change}",
                           "{observed} founded complaints against {expected} in the previous period: {change}"),
    "why_up": ("上升 {pct}%", "up {pct} %"),
    "why_down": ("下降 {pct}%", "down {pct} %"),
    "why_vs_prev": ("（上期 {prev}，{change}）", " (previous period {prev}, {change})"),
    "cw_open_tasks": ("待办事件", "open tasks"),
    "cw_overdue_tasks": ("超时事件", "overdue tasks"),
    "cw_complaints_waiting": ("投诉待受理", "complaints to accept"),
    "cw_inspections_today": ("今日检查", "inspections today"),
    "cw_complaints_year": ("今年投诉举报", "complaints this year"),
    "cw_clues_year": ("今年案件线索", "case clues this year"),
    "cw_police_year": ("今年移送公安", "to the police this year"),
    "cw_filed_year": ("今年立案", "cases filed this year"),
    "cw_penalties_year": ("今年处罚决定", "penalty decisions this year"),
    "cw_weak_layer": ("薄弱环节分布", "weak spots on the map"),
}


def lang_of(search: str | None) -> str:
    return "en" if search and "lang=en" in search else "zh"


def t(key: str, lang: str = "zh", **params) -> str:
    zh, en = STRINGS.get(key, (key, key))
    text = en if lang == "en" else zh
    return text.format(**params) if params else text


def code(prefix: str, value: str | None, lang: str) -> str:
    """A domain code (role, status, presence, state, kind) in the page's language; an unknown
    one is shown as it is rather than hidden."""
    if not value:
        return ""
    key = f"{prefix}_{value}"
    return t(key, lang) if key in STRINGS else str(value)


def distance(m: float | None, lang: str) -> str:
    """Metres under 1 km, kilometres with one decimal above."""
    if m is None:
        return ""
    if m < 1000:
        return t("meters", lang, v=f"{m:.0f}")
    return t("kilometers", lang, v=f"{m / 1000:.1f}")


def duration(s: float, lang: str) -> str:
    return t("minutes", lang, v=f"{s / 60:g}") if s >= 60 and s % 60 == 0 else t("seconds", lang, v=f"{s:.0f}")


def person_with_role(name: str, role: str | None, lang: str) -> str:
    r = code("role", role, lang)
    if not r:
        return name
    return f"{name}（{r}）" if lang != "en" else f"{name} ({r})"


def pick_reason(pick, lang: str, grid_name: str = "") -> str:
    """Why the recipient choice picked someone (a Pick or its dict); `grid_name`: the level-2
    grid at the order's point."""
    p = pick if isinstance(pick, dict) else pick.__dict__
    rule = p.get("rule")
    if rule == "responsible":
        return t("pick_responsible", lang, grid=grid_name or t("level2", lang))
    if rule == "nearest":
        return t("pick_nearest", lang, rank=p.get("rank") or 1, distance=distance(p.get("distance_m"), lang))
    if rule == "chosen":
        return t("pick_chosen", lang)
    return p.get("reason") or ""


def note_text(note, lang: str, names: Mapping[str, str], grid_names: Mapping[str, str]) -> str:
    """Why someone was left out (an alerts.choice.Note), in the page's language."""
    c, prm = getattr(note, "code", None), dict(getattr(note, "params", {}) or {})
    if c is None or f"note_{c}" not in STRINGS:
        return str(note)
    if "grid" in prm:
        prm["grid"] = grid_names.get(prm["grid"] or "", prm["grid"])
    if "person" in prm or "device" in prm:
        prm["person"] = names.get(prm.get("person") or "", prm.get("person") or prm.get("device") or "")
    if "why" in prm:
        prefix = "status" if prm["why"] == "status" else "fresh"
        prm["why"] = t(f"why_{prm['why']}", lang, value=code(prefix, prm.get("value"), lang))
    return t(f"note_{c}", lang, **prm)


def alert_title(a: Mapping, lang: str) -> str:
    """An alert row (layers.alerts.alert_row) as the ticker's headline."""
    kind = a.get("kind", "")
    return f"{code('kind', kind, lang)} · {a.get('who') or ''}".strip(" ·")


def alert_text(a: Mapping, lang: str) -> str:
    kind, who = a.get("kind", ""), a.get("who") or ""
    key = f"alert_text_{kind}" + (f"_{a['cause']}" if a.get("cause") else "")
    if key not in STRINGS:
        return a.get("text") or ""
    batt = a.get("battery")
    return t(key, lang, who=who, order=a.get("order") or "", round=a.get("round") or 1, task=a.get("task") or "",
             battery="" if batt is None else f"{batt:.0f}%")


def alert_subtitle(a: Mapping, lang: str) -> str:
    return " · ".join(x for x in (alert_text(a, lang), a.get("grid") or "", a.get("at") or "") if x)


def error_text(exc, lang: str, names: Mapping[str, str] | None = None,
               grid_names: Mapping[str, str] | None = None, act: str | None = None) -> str:
    """What an alerts error (alerts.errors.AlertsError) means for the person who met it:
    the reason, never the class name. `act`: the order action refused (cancel, close)."""
    names, grid_names = names or {}, grid_names or {}
    detail = getattr(exc, "detail", {}) or {}
    message = getattr(exc, "message", str(exc))
    if message == "no recipient for this order":
        reasons = "；".join(note_text(n, lang, names, grid_names) for n in detail.get("reasons", ()))
        return "✗ " + t("err_no_recipient", lang, reasons=reasons)
    if message == "invalid order":
        fields = sorted({str((e.get("loc") or ["?"])[-1]) for e in detail.get("errors", ()) if isinstance(e, dict)})
        return "✗ " + t("err_invalid_order", lang, fields="、".join(t(f"field_{f}", lang) if f"field_{f}" in STRINGS
                                                                  else f for f in fields))
    if message == "unknown recipients":
        return "✗ " + t("err_unknown_recipients", lang, ids=", ".join(detail.get("unknown", ())))
    kind = type(exc).__name__
    if kind == "Conflict" and act and detail.get("state"):
        return "✗ " + t("err_order_state", lang, order=detail.get("order", ""),
                        state=code("order", detail["state"], lang), act=t(f"act_{act}", lang))
    if kind == "NotFound":
        return "✗ " + t("err_not_found", lang, what=detail.get("order") or detail.get("alert") or message)
    if kind == "Forbidden":
        return "✗ " + (t(detail["code"], lang) if detail.get("code") in STRINGS else message)
    if kind == "Conflict" and detail.get("code") in STRINGS:
        return "✗ " + t(detail["code"], lang)
    return "✗ " + (getattr(exc, "reason", None) or message)


def browser_script() -> bytes:
    """`window.gridwatchI18n`: the table for the pages' scripts, with `t(key, params)` in the
    page's language (from `?lang=`)."""
    table = orjson.dumps({k: list(v) for k, v in STRINGS.items()}).decode()
    return ("""window.gridwatchI18n = (function () {
  const STRINGS = %s;
  const lang = /[?&]lang=en\b/.test(location.search) ? 1 : 0;
  function t(key, params) {
    const pair = STRINGS[key];
    let s = pair ? pair[lang] : key;
    for (const k in (params || {})) s = s.split("{" + k + "}").join(params[k]);
    return s;
  }
  function code(prefix, value) {
    return STRINGS[prefix + "_" + value] ? t(prefix + "_" + value) : (value == null ? "" : String(value));
  }
  return {lang: lang ? "en" : "zh", t, code};
})();
""" % table).encode()
