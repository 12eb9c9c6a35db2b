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
    # --- inspect --- (the terminal's inspection part: dashboard/assets/gridwatch_inspect.js)
    "ins_tab_orders": ("指令", "Orders"),
    "ins_tab_inspect": ("检查", "Inspect"),
    "ins_scan": ("扫码", "Scan"),
    "ins_scan_hint": ("对准主体二维码或电子营业执照", "Point at the entity's QR or e-licence"),
    "ins_scan_stop": ("停止扫码", "Stop scanning"),
    "ins_scan_none": ("未识别到统一社会信用代码，请按名称搜索", "No credit code in that code: search by name"),
    "ins_camera_error": ("无法打开摄像头：{e}", "Camera unavailable: {e}"),
    "ins_search": ("名称或信用代码", "Name or credit code"),
    "ins_search_go": ("搜索", "Search"),
    "ins_no_results": ("未找到", "Nothing found"),
    "ins_offline": ("离线：记录保存在本机，联网后自动上传", "Offline: kept on this phone, sent when back online"),
    "ins_online": ("在线", "Online"),
    "ins_queue": ("本机检查记录", "Inspections on this phone"),
    "ins_queue_empty": ("暂无", "None"),
    "ins_state_draft": ("草稿", "draft"),
    "ins_state_queued": ("待上传", "waiting to send"),
    "ins_state_sending": ("上传中", "sending"),
    "ins_state_sealed": ("已签章", "sealed"),
    "ins_state_error": ("被拒绝", "refused"),
    "ins_open": ("打开", "Open"),
    "ins_entity": ("市场主体", "Entity"),
    "ins_risk": ("风险等级", "Risk"),
    "ins_grid": ("所属网格", "Grid"),
    "ins_responsible": ("网格责任人", "Responsible"),
    "ins_history": ("监管记录", "Records"),
    "ins_start": ("开始检查", "Start inspection"),
    "ins_checklist": ("检查表", "Checklist"),
    "ins_kind": ("检查类型", "Kind"),
    "ins_kind_routine": ("日常检查", "routine"),
    "ins_kind_double_random": ("双随机抽查", "double random"),
    "ins_kind_special": ("专项检查", "special"),
    "ins_kind_task": ("任务检查", "task"),
    "ins_second": ("第二检查人员（编号）", "Second inspector (id)"),
    "ins_pass": ("符合", "Pass"),
    "ins_fail": ("不符合", "Fail"),
    "ins_na": ("不适用", "N/A"),
    "ins_key": ("重点项", "key item"),
    "ins_note": ("说明", "Note"),
    "ins_photo": ("拍照", "Photo"),
    "ins_video": ("录像", "Video"),
    "ins_voice": ("录音", "Voice"),
    "ins_voice_stop": ("停止录音", "Stop recording"),
    "ins_rest_pass": ("其余未答项全部符合", "Mark the rest as pass"),
    "ins_notes": ("现场情况", "What was found"),
    "ins_evidence": ("整体照片/视频", "Photos / video of the whole"),
    "ins_signatures": ("签名", "Signatures"),
    "ins_sign_inspector": ("检查人员 {p} 签名", "Inspector {p} signs"),
    "ins_sign_entity": ("被检查单位负责人签名", "The entity's representative signs"),
    "ins_entity_name": ("负责人姓名", "Representative's name"),
    "ins_refused": ("负责人拒绝签字", "The representative refuses to sign"),
    "ins_witness": ("见证人", "Witness"),
    "ins_clear": ("清除", "Clear"),
    "ins_seal": ("签章提交", "Seal and send"),
    "ins_missing": ("尚缺：{what}", "Still missing: {what}"),
    "ins_queued": ("已保存，联网后自动签章上传", "Saved: it is sealed and sent when online"),
    "ins_receipt": ("请被检查单位负责人扫码查看检查结果", "Let the representative scan the result"),
    "ins_result_pass": ("符合", "pass"),
    "ins_result_fail": ("不符合", "fail"),
    "ins_result_rectify": ("基本符合（限期整改）", "rectify"),
    "ins_back": ("返回", "Back"),
    "ins_items_left": ("必答项未答：{n}", "Required items unanswered: {n}"),
    # --- complaints ---
    "kind_complaint_overdue": ("投诉超期", "complaint overdue"),
    "alert_text_complaint_overdue_not_accepted": ("投诉超过受理期限未处理（{who}）", "complaint not accepted in time ({who})"),
    "alert_text_complaint_overdue_mediation_overdue": ("投诉调解超过期限（{who}）", "complaint mediation past its deadline ({who})"),
    "cstate_received": ("已登记，待受理", "received, awaiting acceptance"),
    "cstate_accepted": ("已受理", "accepted"),
    "cstate_refused": ("不予受理", "refused"),
    "cstate_mediating": ("调解中", "in mediation"),
    "cstate_agreed": ("调解达成协议", "agreement reached"),
    "cstate_failed": ("调解未达成协议", "no agreement"),
    "cstate_closed": ("已办结", "closed"),
    "cstate_transferred": ("已转办", "transferred"),
    "coutcome_agreed": ("达成调解协议", "agreement reached"),
    "coutcome_failed": ("调解终止，未达成协议", "mediation ended without agreement"),
    "cchannel_web": ("网站", "web"),
    "cchannel_wechat": ("微信公众号", "WeChat"),
    "cchannel_12315": ("12315 热线", "12315 hotline"),
    "cchannel_12365": ("12365 热线", "12365 hotline"),
    "cchannel_12331": ("12331 热线", "12331 hotline"),
    "cp_title": ("投诉举报与进度查询", "Complaints and progress"),
    "cp_tab_file": ("我要投诉", "File a complaint"),
    "cp_tab_query": ("查询进度", "Check progress"),
    "cp_intro": ("市场监管投诉举报（12315）。您的姓名、电话和身份证号仅办理单位可见。",
                 "Market regulation complaints (12315). Your name, phone and id number are seen only by the office handling it."),
    "cp_name": ("您的姓名", "Your name"),
    "cp_phone": ("手机号码", "Mobile phone"),
    "cp_id_number": ("身份证号（选填）", "Id number (optional)"),
    "cp_resp_name": ("被投诉经营者名称", "Business complained about"),
    "cp_resp_address": ("经营地址", "Its address"),
    "cp_resp_uscc": ("统一社会信用代码（选填，18位）", "Unified social credit code (optional, 18 characters)"),
    "cp_here": ("我在经营场所，使用当前位置", "I am at the business: use my location"),
    "cp_here_done": ("已定位，将由属地分局办理", "Located: the local branch will handle it"),
    "cp_here_failed": ("无法获取位置", "Location unavailable"),
    "cp_category": ("问题类别", "Category"),
    "cp_description": ("问题描述", "What happened"),
    "cp_amount": ("涉及金额（元，选填）", "Amount involved (yuan, optional)"),
    "cp_channel": ("提交渠道", "Channel"),
    "cp_submit": ("提交投诉", "Submit"),
    "cp_filed": ("提交成功。请记下查询码：", "Filed. Keep your query code:"),
    "cp_filed_by": ("我们将在 {date} 前作出是否受理的决定。", "We decide whether to accept it by {date}."),
    "cp_provisional": ("（按工作日预计，节假日安排公布后可能调整）", "(counted by weekdays until the holiday schedule is published)"),
    "cp_code": ("查询码", "Query code"),
    "cp_last4": ("手机号后四位", "Last 4 digits of the phone"),
    "cp_lookup": ("查询", "Look up"),
    "cp_state": ("办理状态", "State"),
    "cp_received": ("登记时间", "Received"),
    "cp_accept_by": ("受理期限", "Accept by"),
    "cp_accepted": ("受理时间", "Accepted"),
    "cp_mediate_by": ("调解期限", "Mediation ends by"),
    "cp_closed": ("办结时间", "Closed"),
    "cp_branch": ("办理单位", "Handled by"),
    "cp_branch_none": ("指挥中心（分派中）", "command centre (being assigned)"),
    "cp_outcome": ("处理结果", "Outcome"),
    "cp_transferred_to": ("转办单位", "Transferred to"),
    "cp_not_found": ("未查到：请核对查询码和手机号后四位。", "Nothing found: check the query code and the last 4 digits."),
    "cp_too_many": ("操作过于频繁，请稍后再试。", "Too many attempts; please try again later."),
    "cp_check_field": ("请检查：{field}", "Please check: {field}"),
    "cp_error": ("提交失败，请稍后再试。", "Something went wrong; please try again."),
    "cq_title": ("投诉处理", "Complaints"),
    "cq_link": ("投诉处理台", "Complaints desk"),
    "cq_all": ("全部", "all"),
    "cq_open": ("待办（期限近者在前）", "to do (nearest deadline first)"),
    "cq_count": ("共 {n} 件", "{n} complaints"),
    "cq_count_more": ("显示前 {n} 件", "the first {n} shown"),
    "cq_count_late": ("，其中 {late} 件已超期", ", {late} overdue"),
    "cq_i_name": ("投诉人姓名", "Complainant's name"),
    "cq_i_phone": ("投诉人电话", "Complainant's phone"),
    "cq_queue": ("指挥中心待分派", "command centre's queue"),
    "cq_all_branches": ("其他分局", "other branches too"),
    "cq_refresh": ("刷新", "Refresh"),
    "cq_id": ("编号", "No."),
    "cq_received": ("登记", "Received"),
    "cq_complainant": ("投诉人", "Complainant"),
    "cq_respondent": ("被投诉人", "Respondent"),
    "cq_category": ("类别", "Category"),
    "cq_state": ("状态", "State"),
    "cq_deadline": ("期限", "Deadline"),
    "cq_branch": ("办理单位", "Branch"),
    "cq_actions": ("操作", "Actions"),
    "cq_overdue": ("已超期", "overdue"),
    "cq_intake": ("热线登记", "Hotline intake"),
    "cq_filed": ("已登记，查询码 {code}", "Filed, query code {code}"),
    "cq_ask_reason": ("不予受理的理由", "Reason for refusing"),
    "cq_ask_terms": ("调解协议内容", "Terms agreed"),
    "cq_ask_to": ("转办单位", "Authority it goes to"),
    "cact_accept": ("受理", "accept"),
    "cact_refuse": ("不予受理", "refuse"),
    "cact_mediate": ("开始调解", "mediate"),
    "cact_agree": ("达成协议", "agree"),
    "cact_fail": ("未达成协议", "no agreement"),
    "cact_transfer": ("转办", "transfer"),
    "cact_case": ("转立案", "open a case"),
    "cact_task": ("现场核查", "on-site check"),
    "cact_close": ("办结", "close"),
    "cq_cases": ("案件（线索—立案—处罚）", "Cases (clue to decision)"),
    "cq_source": ("来源", "Source"),
    "cq_summary": ("摘要", "Summary"),
    "cq_ask_document": ("处罚决定书文号", "Decision document number"),
    "cq_ask_fine": ("罚款金额（元）", "Fine (yuan)"),
    "cq_ask_case_reason": ("理由", "Reason"),
    "kstate_clue": ("线索", "clue"),
    "kstate_verified": ("已核查", "verified"),
    "kstate_filed": ("已立案", "filed"),
    "kstate_decided": ("已作出处罚决定", "decided"),
    "kstate_transferred_police": ("已移送公安", "transferred to the police"),
    "kstate_dropped": ("不予立案", "dropped"),
    "kact_verify": ("核查属实", "verify"),
    "kact_file": ("立案", "file"),
    "kact_decide": ("处罚决定", "decide"),
    "kact_transfer_police": ("移送公安", "to the police"),
    "kact_drop": ("不予立案", "drop"),
    # --- taskstates ---
    "lg_task": ("待办事件：{state}", "open task: {state}"),
    "lg_task_overdue": ("待办事件：已超期（闪烁）", "open task: overdue (flashing)"),
    # --- draws ---
    "draw_public_title": ("“双随机、一公开”抽查结果公示", "Double-random inspection: published results"),
    "draw_public_missing": ("没有这项已公示的抽查", "No published draw of that id"),
    "draw_public_replaces": ("本次抽取取代了 ", "This draw replaces "),
    "draw_public_replaced_by": ("本次抽取已被取代：", "This draw was replaced by "),
    "draw_public_reason": ("原因：", "reason: "),
    "draw_public_id": ("编号：", "id: "),
    "draw_public_drawn": ("抽取日期：", "drawn: "),
    "draw_public_published": ("公示日期：", "published: "),
    "draw_public_population": ("检查对象名录库 {n} 户（其中高风险 {risk} 户）", "population {n} entities ({risk} risky)"),
    "draw_public_ratio": ("抽取比例 {ratio}（高风险对象加倍）", "ratio {ratio} (twice for risky ones)"),
    "draw_public_count": ("抽取 {count} 户（高风险对象概率加倍）", "{count} drawn (risky ones twice as likely)"),
    "draw_public_picked": ("抽中 {n} 户（其中高风险 {risk} 户）", "{n} drawn ({risk} risky)"),
    "draw_public_inspectors": ("执法检查人员名录库 {n} 人，每户 {per} 人", "inspector pool {n}, {per} per entity"),
    "draw_public_entity": ("市场主体", "entity"),
    "draw_public_uscc": ("统一社会信用代码", "USCC"),
    "draw_public_address": ("地址", "address"),
    "draw_public_date": ("检查日期", "inspected"),
    "draw_public_result": ("检查结果", "result"),
    "draw_public_check": ("如何复核本次抽取", "How to check this draw"),
    "draw_public_how": ("任何人可用下列种子和公开的算法（HMAC-SHA256）重新计算抽取结果，例如 openssl dgst -sha256 -hmac 种子。",
                        "Anyone can redo the draw from the seed and the algorithm below (HMAC-SHA256), e.g. openssl dgst -sha256 -hmac SEED."),
    "draw_public_seed": ("随机种子：", "seed: "),
    "draw_public_commitment": ("种子承诺（事先公布的 SHA-256）：", "seed commitment (SHA-256 shown before): "),
    "draw_public_hash": ("封存哈希：", "seal hash: "),
    "draw_page": ("双随机抽查", "Double-random draws"),
    "draw_back": ("← 返回指挥台", "← back to the console"),
    "draw_new": ("新建抽取", "New draw"),
    "draw_name": ("抽查任务名称", "name of the check"),
    "draw_checklist": ("检查表", "checklist"),
    "draw_categories": ("主体类别（可多选）", "entity categories"),
    "draw_grids": ("乡镇/街道（可多选，不选为全部）", "townships (none: all)"),
    "draw_ratio": ("抽取比例", "ratio"),
    "draw_count": ("或抽取户数", "or count"),
    "draw_per_entity": ("每户检查人员", "inspectors per entity"),
    "draw_seed": ("随机种子（现场观察员输入；留空则自动生成）", "seed (typed by observers; empty: generated)"),
    "draw_replaces": ("取代以前的抽取（可选）", "replaces an earlier draw (optional)"),
    "draw_reason": ("取代原因", "reason for replacing"),
    "draw_go": ("抽取", "Draw"),
    "draw_made": ("已抽取 {id}：{n} 户，检查任务正在生成并派发", "drawn {id}: {n} entities, its tasks being made and sent"),
    "draw_tasks_pending": ("检查任务生成中，完成后自动派发到检查人员终端", "its tasks are being made; they go to the inspectors' terminals when done"),
    "draw_list": ("抽取记录", "Draws"),
    "draw_publish": ("公示结果", "Publish"),
    "draw_none": ("请先选择一次抽取", "pick a draw first"),
    "draw_done_publish": ("已公示并封存 {id}（{hash}…）", "published and sealed {id} ({hash}…)"),
    "draw_progress": ("检查进度：{done}/{total} 户已完成", "progress: {done}/{total} inspected"),
    "draw_summary": ("名录库 {population} 户（高风险 {risk}），抽中 {picks} 户（高风险 {risk_picks}），检查人员库 {pool} 人，种子 {seed}",
                     "population {population} ({risk} risky), {picks} drawn ({risk_picks} risky), pool {pool}, seed {seed}"),
    "draw_publish_by": ("应于 {date} 前公示（20个工作日）", "publish by {date} (20 working days)"),
    "draw_published": ("已于 {date} 公示", "published {date}"),
    "draw_public_link": ("查看公示页面", "public page"),
    "draw_due_soon": ("距公示期限仅剩 {n} 个工作日（{date}）", "only {n} working days left to publish ({date})"),
    "draw_overdue": ("已超过公示期限（{date}）", "past the publication limit ({date})"),
    "draw_inspectors": ("检查人员", "inspectors"),
    "draw_task": ("任务", "task"),
    "draw_result_pass": ("合格", "pass"),
    "draw_result_fail": ("不合格", "fail"),
    "draw_result_rectify": ("责令整改", "rectify"),
    "draw_result_open": ("检查中", "open"),
    "draw_more": ("另有 {n} 户未列出", "{n} more not listed"),
    # --- tasks (the closed loop: /report, the terminal's my tasks, the console's and wall's tasks) ---
    "rp_title": ("问题上报", "Report a problem"),
    "rp_l_category": ("问题类别", "Category"),
    "rp_l_pick": ("请选择类别", "Pick a category"),
    "rp_l_point": ("位置（可拖动标记调整）", "Where (drag the marker to adjust)"),
    "rp_l_locating": ("正在获取手机定位…", "Finding the phone's location…"),
    "rp_l_locate": ("重新定位", "Locate me"),
    "rp_l_desc": ("问题描述", "Description"),
    "rp_l_desc_hint": ("发现了什么问题？（不超过2000字）", "What did you find? (at most 2,000 characters)"),
    "rp_l_photo": ("拍照", "Photo"),
    "rp_l_voice": ("录音", "Voice note"),
    "rp_l_submit": ("提交上报", "Submit"),
    "rp_l_mine": ("我的上报", "My reports"),
    "rp_voice_stop": ("■ 停止录音", "■ Stop recording"),
    "rp_in_grid": ("{grid} · {where}", "{grid} · {where}"),
    "rp_outside": ("此位置不在辖区网格内（{where}），请移动标记", "This point is outside the jurisdiction ({where}): move the marker"),
    "rp_no_location": ("无法获取定位，请在地图上点击或拖动标记选择位置", "No location: tap the map or drag the marker"),
    "rp_no_recorder": ("此浏览器不支持录音", "This browser cannot record"),
    "rp_no_microphone": ("无法使用麦克风", "The microphone is not available"),
    "rp_need_category": ("请选择问题类别", "Pick a category"),
    "rp_need_point": ("请先确定位置", "Set the point first"),
    "rp_sending": ("正在提交…", "Sending…"),
    "rp_filed": ("已提交，编号 {id}，已派送至网格监管员", "Filed as {id} and sent to the grid's supervisor"),
    "rp_duplicate": ("附近已有相同问题的上报（任务 {id}）正在处理；您的上报已一并提交。",
                     "Already reported: task {id} nearby is open for this; yours is filed with it."),
    "rp_err_network": ("网络错误，请稍后重试", "Network error: try again"),
    "rp_feedback": ("处置反馈：", "Feedback:"),
    "rp_steps": ("办理过程", "Steps"),
    "rp_reopen": ("未解决，重新打开", "Not fixed: reopen"),
    "rp_reopen_why": ("说明原因（选填）", "Why (optional)"),
    "rp_none": ("暂无上报", "No reports yet"),
    "tk_state_reported": ("已上报", "reported"),
    "tk_state_assigned": ("已派单", "assigned"),
    "tk_state_accepted": ("已接收", "accepted"),
    "tk_state_in_progress": ("处置中", "in progress"),
    "tk_state_handled": ("已处置", "handled"),
    "tk_state_verified": ("已核查", "verified"),
    "tk_state_closed": ("已办结", "closed"),
    "tk_state_rejected": ("已退回", "rejected"),
    "tk_act_report": ("上报", "reported"),
    "tk_act_assign": ("派单", "assigned"),
    "tk_act_accept": ("接收", "accepted"),
    "tk_act_start": ("开始处置", "started"),
    "tk_act_handle": ("处置完毕", "handled"),
    "tk_act_verify": ("核查", "verified"),
    "tk_act_close": ("办结", "closed"),
    "tk_act_reject": ("退回", "rejected"),
    "tk_act_reassign": ("改派", "reassigned"),
    "tk_act_reopen": ("重新打开", "reopened"),
    "tk_act_media": ("补充照片/录音", "media added"),
    "tk_act_escalate": ("超时督办", "escalated"),
    "tk_act_seal": ("归档", "sealed"),
    "tk_reason_outside_remit": ("退回：不属于本部门职责", "rejected: outside our remit"),
    "tk_reason_duplicate": ("退回：与已有任务重复", "rejected: a duplicate"),
    "tk_reason_unfounded": ("退回：经核实不存在", "rejected: unfounded"),
    "tk_my_tasks": ("我的任务", "My tasks"),
    "tk_none": ("暂无任务", "No tasks"),
    "tk_accept": ("接收", "Accept"),
    "tk_start": ("开始处置", "Start"),
    "tk_handle": ("处置完毕", "Handled"),
    "tk_note": ("处置情况（必填）", "What was done (required)"),
    "tk_photo": ("处置照片", "Photo"),
    "tk_left": ("剩余 {v}", "{v} left"),
    "tk_overdue_by": ("已超时 {v}", "overdue by {v}"),
    "tk_new": ("新任务", "New task"),
    "tk_done": ("✓ 已提交", "✓ Done"),
    "tk_uploaded": ("✓ 照片已上传", "✓ Photo uploaded"),
    "tk_tasks": ("任务", "Tasks"),
    "tk_open_tasks": ("未办结任务", "Open tasks"),
    "tk_overdue_n": ("超时 {n}", "{n} overdue"),
    "tk_all_categories": ("全部类别", "All categories"),
    "tk_all_grids": ("全部网格", "All grids"),
    "tk_reassign": ("改派", "Reassign"),
    "tk_reassign_to": ("改派给…", "Reassign to…"),
    "tk_reassigned": ("✓ 任务 {id} 已改派给 {who}", "✓ Task {id} reassigned to {who}"),
    "tk_assignee": ("承办人", "Assignee"),
    "tk_deadline": ("期限", "Deadline"),
    "tk_layer": ("任务 tasks", "任务 tasks"),
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
    # --- drawfast ---
    "draw_publish_provisional": ("（暂定：所计日期所在年度的节假日安排尚未载入，按周一至周五计）",
                                 " (provisional: a year counted has no holiday schedule loaded; weekdays counted)"),
    # --- taskfix --- (the managers' steps on the pages: the console's tasks bar, the terminal's
    # verify and close for the level-1 supervisor)
    "tk_pick": ("办理", "Act on"),
    "tk_pick_first": ("请先选择任务", "Pick a task first"),
    "tk_verify": ("核查通过", "Verify"),
    "tk_close": ("办结", "Close"),
    "tk_reject": ("退回", "Reject"),
    "tk_reject_reason": ("退回理由…", "Reason to reject…"),
    "tk_why_outside_remit": ("不属于本部门职责", "outside our remit"),
    "tk_why_duplicate": ("与已有任务重复（合并）", "a duplicate (merge)"),
    "tk_why_unfounded": ("经核实不存在", "unfounded"),
    "tk_duplicate_of": ("重复于任务编号", "duplicate of task id"),
    "tk_stepped": ("✓ 任务 {id}：{act}", "✓ Task {id}: {act}"),
    # --- wallcase ---
    "wc_result_pass": ("符合", "pass"),
    "wc_result_fail": ("不符合", "fail"),
    "wc_result_rectify": ("限期整改", "rectify"),
    "wc_result_open": ("检查中", "in progress"),
    "wc_open_n": ("未办结投诉 {n} 件（待受理 {waiting} 件）", "{n} open complaints ({waiting} awaiting acceptance)"),
    "lg_wc_pass": ("今日检查：符合", "today's inspection: pass"),
    "lg_wc_fail": ("今日检查：不符合", "today's inspection: fail"),
    "lg_wc_rectify": ("今日检查：限期整改", "today's inspection: rectify"),
    "lg_wc_open": ("今日检查：检查中", "today's inspection: in progress"),
    "lg_wc_complaints": ("未办结投诉（按被投诉人，数字为件数）", "open complaints by respondent (the number: how many)"),
    "lg_wc_weak": ("薄弱环节（颜色越深，问题越超出预期）", "weak spots (the deeper, the further above the expected)"),
    "cc_title": ("监管业务", "Casework"),
    "cc_pick": ("点击地图或搜索统一社会信用代码，查看该网格或主体的事件、检查、投诉和案件",
                "Click the map or search a credit code: the grid's or entity's tasks, inspections, complaints and cases"),
    "cc_of_grid": ("网格 {name} 的监管业务", "Casework of grid {name}"),
    "cc_of_entity": ("{name} 的监管业务", "Casework of {name}"),
    "cc_tasks": ("待办事件", "Open tasks"),
    "cc_inspections": ("近期检查", "Recent inspections"),
    "cc_complaints": ("投诉举报", "Complaints"),
    "cc_cases": ("案件", "Cases"),
    "cc_none": ("无", "none"),
    "cc_overdue": ("已超时", "overdue"),
    "cc_show_task": ("在事件面板中查看", "Show in the tasks panel"),
    "cc_pdf": ("检查记录 PDF", "Record (PDF)"),
    "cc_handle": ("去办理", "Handle"),
    "cc_view": ("查看", "View"),
    "cc_complainant": ("投诉人", "complainant"),
    "cc_unavailable": ("业务数据库暂不可用", "The records database is not available"),
    # --- pubq ---
    "cp_terms": ("调解协议内容", "Terms agreed"),
    # --- analytics ---
    "an_unavailable": ("统计数据暂不可用（业务数据库无法连接）", "The statistics are not available (no records database)"),
    # --- draws ---
    "tk_reason_replaced": ("撤回：所属抽查已被新的抽取结果替代", "withdrawn: its draw was replaced by another"),
    "tk_co_inspector": ("同组检查（主办：{name}）", "co-inspector (lead: {name})"),
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
    # The most precise words we have: the kind with its cause ("task_overdue" has two), else
    # the kind alone (an offline alert's cause "will" reads as any offline), else the kind's
    # name. Never the stored title: it is English, written for the logs.
    keys = [f"alert_text_{kind}_{a['cause']}"] if a.get("cause") else []
    key = next((k for k in (*keys, f"alert_text_{kind}") if k in STRINGS), None)
    if key is None:
        return f"{code('kind', kind, lang)} {who}".strip()
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
