"""The demo's history of records, 2018-01-01 to the day it is built, at the seed's rates
(deterministic, seeded like the rest of the demo): about 18,000 inspections a year (daily
patrols, special checks, double random), 5,600 consultations and complaints, ~145 case clues
(one in ten handed to the police, ~130 filed, ~110 penalty decisions), ~11,000 tasks from the
two members of every village. Two weak spots are planted for the statistics to find: the food
retailers of one township fail inspections twice as often as elsewhere, and complaints about
prepaid cards (预付式消费) rise year on year.

`write(dataset_dir, ds)` writes the categories files and `history/*.csv.gz` beside the dataset;
`load(conn, dataset_dir)` copies them into the records (once: a dataset's history is loaded
into an empty register of records only) and seals what is final, in the order it became so."""
from __future__ import annotations

import csv
import gzip
import io
import json
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from casework import seal as sealing
from casework import stats

SEED = 2018
START = date(2018, 1, 1)
TZ = ZoneInfo("Asia/Shanghai")
PER_YEAR = {"inspections": 18_000, "complaints": 5_600, "cases": 145, "tasks": 11_000}
WEAK_TOWNSHIP_FAIL_FACTOR = 2.0
RISING_CATEGORY = "prepaid"
# Tasks still open at the history's end: only those reported within their category's deadline
# + OPEN_GRACE of it; one in STALL_EVERY of those past their deadline is left unhandled (late).
OPEN_GRACE = timedelta(days=3)
STALL_EVERY = 6

TASK_CATEGORIES = [  # code, name, group, hours, description, keywords
    ("unlicensed", "无照经营", "市场秩序", 72, "无证无照经营、超范围经营", "无照;无证;摊贩"),
    ("food_safety", "食品安全", "食品安全", 24, "过期变质食品、三无食品、后厨卫生", "过期;变质;卫生"),
    ("price", "价格违法", "价格监管", 48, "不明码标价、价格欺诈、哄抬价格", "价格;标价"),
    ("false_ad", "虚假宣传", "广告监管", 72, "虚假广告、夸大宣传", "广告;宣传"),
    ("special_equipment", "特种设备隐患", "特种设备", 24, "电梯、锅炉、压力容器、气瓶隐患", "电梯;气瓶;锅炉"),
    ("consumer_dispute", "消费纠纷", "消费维权", 72, "现场发现或听到的消费纠纷", "纠纷;投诉"),
    ("other", "其他", "其他", 120, "其他市场监管问题", "其他"),
    # the tasks a double-random draw makes (casework/draw_store.py; 20 working days ~ 28 days)
    ("double_random", "双随机抽查", "双随机", 672, "“双随机、一公开”抽查：按抽取结果对市场主体实施检查", "双随机;抽查"),
]
CONFLICT_REASONS = ("亲属经营", "曾在该企业任职", "本人持股", "与经营者有利害关系")
COMPLAINT_CATEGORIES = [
    ("food", "食品安全"), ("prepaid", "预付式消费"), ("price", "价格收费"), ("quality", "产品质量"),
    ("service", "服务质量"), ("advertising", "广告宣传"), ("contract", "合同纠纷"),
    ("pharma", "药品医疗器械"), ("other", "其他"),
]
COMPLAINT_WEIGHTS = np.array([0.22, 0.08, 0.14, 0.18, 0.14, 0.05, 0.09, 0.04, 0.06])
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红建文辉力林"

FILES = ("tasks", "inspections", "complaints", "cases")


def _utc(ts: datetime) -> str:
    return ts.astimezone(timezone.utc).isoformat()


def _working_days():
    """Ordinals of the State Council's working days 2018..2026 (chinese_calendar); later years
    by weekdays (the history ends before the library's knowledge does)."""
    import chinese_calendar

    days, d = [], START
    end = date(2027, 12, 31)
    while d <= end:
        try:
            ok = chinese_calendar.is_workday(d)
        except NotImplementedError:
            ok = d.weekday() < 5
        if ok:
            days.append(d.toordinal())
        d += timedelta(days=1)
    return np.array(days)


def _add_working_days(workdays: np.ndarray, d: date, n: int) -> date:
    # the day of receipt is not counted
    i = np.searchsorted(workdays, d.toordinal(), side="right")
    return date.fromordinal(int(workdays[i + n - 1]))


def _times(rng, n: int, start: date, end: date, *, weekday_only=True, growth: float = 0.0) -> list[datetime]:
    """n local office-hour times between start and end, optionally growing year on year."""
    span = (end - start).days
    if growth:
        u = rng.random(n)
        # density ~ exp(growth * t): inverse transform
        k = growth * span / 365.0
        t = np.log1p(u * np.expm1(k)) / k * span
    else:
        t = rng.random(n) * span
    day = np.floor(t).astype(int)
    if weekday_only:
        wd = np.array([(start + timedelta(days=int(x))).weekday() for x in day])
        day = np.where(wd >= 5, np.maximum(day - (wd - 4), 0), day)
    secs = (8.5 * 3600 + rng.random(n) * 9 * 3600).astype(int)
    out = [datetime.combine(start + timedelta(days=int(d)), datetime.min.time(), TZ) + timedelta(seconds=int(s))
           for d, s in zip(day, secs)]
    out.sort()
    return out


def _name(rng) -> str:
    return SURNAMES[rng.integers(len(SURNAMES))] + "".join(GIVEN[i] for i in rng.integers(len(GIVEN), size=rng.integers(1, 3)))


def _write(path: Path, columns: list[str], rows: list[list]) -> None:
    # mtime 0: the same history gives the same bytes
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6, mtime=0) as gz, \
            io.TextIOWrapper(gz, encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(columns)
        w.writerows(rows)


def _array(values) -> str:
    return "{" + ",".join(values) + "}"


def weak_township(ds) -> str:
    """The township whose food retailers are planted to fail twice as often: the level-1 grid
    with the most food retailers (so the effect is large enough to be found)."""
    e = ds.entities
    l1 = e["grid"].map(dict(zip(ds.grids["id"], ds.grids["parent"])))
    return str(l1[e["category"] == "food_retail"].value_counts().idxmax())


def write(outdir: Path, ds, until: date | None = None, seed: int = SEED) -> str:
    """Writes the categories and the history; returns a one-line summary."""
    outdir = Path(outdir)
    until = until or datetime.now(TZ).date()
    rng = np.random.default_rng(seed)
    years = (until - START).days / 365.25
    (outdir / "history").mkdir(parents=True, exist_ok=True)
    with open(outdir / "task_categories.csv", "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["code", "name", "group", "hours", "description", "keywords"])
        w.writerows(TASK_CATEGORIES)
    with open(outdir / "complaint_categories.csv", "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["code", "name"])
        w.writerows(COMPLAINT_CATEGORIES)
    from casework import checklists
    checklists.write_demo(outdir)

    write_conflicts(outdir, ds)
    g = ds.grids
    parent = dict(zip(g["id"], g["parent"]))
    branch_of = dict(zip(g["id"], g["branch"]))
    ents = ds.entities[ds.entities["grid"].notna()].sort_values("uscc").reset_index(drop=True)
    ents_l1 = ents["grid"].map(parent).to_numpy()
    E = {c: ents[c].to_numpy() for c in ("uscc", "grid", "lat", "lon", "name", "address")}
    people = ds.people
    l2sup, l1sup, reporters = {}, {}, {}
    for p in people.itertuples():
        for gid in p.grids:
            if p.role == "l2_supervisor":
                l2sup.setdefault(gid, p.id)
            elif p.role == "l1_supervisor":
                l1sup.setdefault(gid, p.id)
            elif p.role in ("assistant", "informant"):
                reporters.setdefault(gid, []).append(p.id)
    sups = sorted(set(l2sup.values()) | set(l1sup.values()))
    workdays = _working_days()
    weak = weak_township(ds)
    now_local = datetime.combine(until, datetime.min.time(), TZ)

    # --- inspections --------------------------------------------------------------------
    n_insp = int(PER_YEAR["inspections"] * years)
    t_insp = _times(rng, n_insp, START, until)
    pick = rng.integers(len(ents), size=n_insp)
    kinds = rng.choice(["routine", "special", "double_random"], size=n_insp, p=[0.7, 0.2, 0.1])
    u = rng.random(n_insp)
    cat = ents["category"].to_numpy()[pick]
    base_fail = np.where(np.isin(cat, ["food_retail", "catering"]), 0.06, 0.04)
    fail_p = np.where((cat == "food_retail") & (ents_l1[pick] == weak), base_fail * WEAK_TOWNSHIP_FAIL_FACTOR, base_fail)
    result = np.where(u < fail_p, "fail", np.where(u < fail_p + 0.10, "rectify", "pass"))
    insp_rows, failed_insp = [], []
    for i in range(n_insp):
        uscc = E["uscc"][pick[i]]
        grid = E["grid"][pick[i]]
        l1 = ents_l1[pick[i]]
        first = l2sup.get(grid) or l1sup.get(l1) or sups[0]
        other = sups[int(rng.integers(len(sups)))]
        if other == first:
            other = sups[(sups.index(other) + 1) % len(sups)]
        t = t_insp[i]
        iid = f"H-I{t:%Y%m%d}-{i:06d}"
        sealed = t + timedelta(minutes=40)
        rectify = (t + timedelta(days=15)).date().isoformat() if result[i] != "pass" else ""
        sigs = json.dumps([{"party": "inspector", "person": first}, {"party": "inspector", "person": other},
                           {"party": "entity", "name": "现场负责人"}], ensure_ascii=False)
        insp_rows.append([iid, uscc, checklists.for_category(cat[i]) or "", kinds[i], _array([first, other]), E["lat"][pick[i]], E["lon"][pick[i]],
                          grid, l1, branch_of.get(l1, ""), cat[i], "{}", sigs, result[i],
                          rectify, _utc(t), first, iid.lower().replace("-", ""), _utc(sealed)])
        if result[i] == "fail":
            failed_insp.append((iid, uscc, grid, l1, cat[i], t))
    _write(outdir / "history" / "inspections.csv.gz",
           ["id", "uscc", "checklist", "kind", "inspectors", "lat", "lon", "grid", "level1", "branch", "category", "answers",
            "signatures", "result", "rectify_by", "started_at", "created_by", "receipt_token", "seal_at"],
           insp_rows)

    # --- tasks ------------------------------------------------------------------------------
    n_tasks = int(PER_YEAR["tasks"] * years)
    t_tasks = _times(rng, n_tasks, START, until, weekday_only=False)
    tcat = rng.choice([c[0] for c in TASK_CATEGORIES if c[0] != "double_random"], size=n_tasks, p=[0.18, 0.22, 0.12, 0.08, 0.08, 0.22, 0.10])
    hours = {c[0]: c[3] for c in TASK_CATEGORIES}
    tpick = rng.integers(len(ents), size=n_tasks)
    task_rows = []
    for i in range(n_tasks):
        grid = E["grid"][tpick[i]]
        l1 = ents_l1[tpick[i]]
        t = t_tasks[i]
        reps = reporters.get(grid) or ["in-" + grid]
        rep = reps[int(rng.integers(len(reps)))]
        assignee = l2sup.get(grid) or l1sup.get(l1)
        deadline = t + timedelta(hours=hours[tcat[i]])
        age = (now_local - t).total_seconds() / 3600
        lat = E["lat"][tpick[i]] + rng.normal(0, 0.0005)
        lon = E["lon"][tpick[i]] + rng.normal(0, 0.0005)
        acc = t + timedelta(minutes=float(rng.gamma(2, 15)))
        handled = acc + timedelta(hours=float(rng.gamma(2, hours[tcat[i]] / 5)))
        verified = handled + timedelta(hours=float(rng.gamma(2, 6)))
        closed = verified + timedelta(hours=1)
        state, reason, seal_at = "closed", "", ""
        # a bureau finishes its tasks: one reported longer ago than its deadline + the grace
        # has been closed by the history's end (its steps squeezed into that span, no new draw:
        # the rest of the history stays the same)
        finish_by = deadline + OPEN_GRACE
        if closed > now_local and finish_by <= now_local:
            f = (finish_by - t) / (closed - t)
            acc, handled, verified, closed = (t + (x - t) * f for x in (acc, handled, verified, closed))
        # a few of the recent ones stall past their deadline: overdue by hours or days at the end
        stalled = i % STALL_EVERY == 0 and deadline <= now_local < finish_by
        if rng.random() < 0.05:
            state, reason, closed = "rejected", ["outside_remit", "unfounded"][int(rng.integers(2))], acc
            acc = handled = verified = None
        elif stalled:
            state = "assigned" if acc > now_local else "in_progress"
            acc = acc if acc <= now_local else None
            handled = verified = closed = None
        elif closed > now_local:
            # still open: where it has got to by now
            state = ("assigned" if acc > now_local else "in_progress" if handled > now_local
                     else "handled" if verified > now_local else "verified")
            closed = None
            acc = acc if acc <= now_local else None
            handled = handled if handled and handled <= now_local else None
            verified = None
        if state == "closed" and closed + timedelta(days=7) < now_local:
            seal_at = _utc(closed + timedelta(days=7))
        desc = f"{dict((c[0], c[1]) for c in TASK_CATEGORIES)[tcat[i]]}：{E['address'][tpick[i]]}附近发现问题"
        task_rows.append([f"H-T{t:%Y%m%d}-{i:06d}", tcat[i], desc, lat, lon, E["uscc"][tpick[i]], grid, l1,
                          branch_of.get(l1, ""), rep, assignee, state, _utc(t), _utc(deadline),
                          _utc(acc) if acc else "", _utc(handled) if handled else "",
                          _utc(verified) if verified else "", _utc(closed) if closed else "",
                          "已现场处置，责令整改" if state in ("handled", "verified", "closed") else "", reason, seal_at])
    _write(outdir / "history" / "tasks.csv.gz",
           ["id", "category", "description", "lat", "lon", "uscc", "grid", "level1", "branch", "reporter", "assignee",
            "state", "reported_at", "deadline", "accepted_at", "handled_at", "verified_at", "closed_at", "feedback",
            "reason", "seal_at"], task_rows)

    # --- complaints ---------------------------------------------------------------------
    n_c = int(PER_YEAR["complaints"] * years)
    t_c = _times(rng, n_c, START, until, weekday_only=False)
    year_frac = np.array([(t.date() - START).days / 365.25 for t in t_c])
    w = np.tile(COMPLAINT_WEIGHTS, (n_c, 1))
    rising = [c[0] for c in COMPLAINT_CATEGORIES].index(RISING_CATEGORY)
    w[:, rising] *= np.exp(0.35 * year_frac)           # ~40 % more each year
    w /= w.sum(axis=1, keepdims=True)
    ccat = np.array([c[0] for c in COMPLAINT_CATEGORIES])[(w.cumsum(axis=1) > rng.random((n_c, 1))).argmax(axis=1)]
    cpick = rng.integers(len(ents), size=n_c)
    channels = rng.choice(["12315", "12365", "12331", "wechat", "web"], size=n_c, p=[0.62, 0.06, 0.07, 0.15, 0.10])
    comp_rows = []
    for i in range(n_c):
        t = t_c[i]
        grid = E["grid"][cpick[i]]
        l1 = ents_l1[cpick[i]]
        recv = t.date()
        accept_by = _add_working_days(workdays, recv, 7)
        acc = datetime.combine(_add_working_days(workdays, recv, int(rng.integers(1, 6))), datetime.min.time(), TZ) + timedelta(hours=10)
        refused = rng.random() < 0.08
        mediate_by = "" if refused else _add_working_days(workdays, acc.date(), 45).isoformat()
        agreed = rng.random() < 0.72
        closed = acc + timedelta(days=float(rng.gamma(2, 8)))
        founded = (not refused) and (rng.random() < 0.45)
        if refused:
            state, closed_at = "refused", acc
        elif closed > now_local:
            state, closed_at = ("received" if acc > now_local else "mediating"), None
        else:
            state, closed_at = "closed", closed
        outcome = ("" if state != "closed" else ("agreed" if agreed else "failed"))
        phone = "1" + str(int(rng.integers(30, 99))) + f"{int(rng.integers(0, 10**8)):08d}"
        seal_at = _utc(closed_at) if state == "closed" else ""
        comp_rows.append([f"H-C{t:%Y%m%d}-{i:06d}", f"Q{int(rng.integers(16**9, 16**10)):010X}", channels[i], _utc(t),
                          _name(rng), phone, E["uscc"][cpick[i]], E["name"][cpick[i]],
                          E["address"][cpick[i]], grid, l1, branch_of.get(l1, ""), l1sup.get(l1, ""),
                          ccat[i], f"消费者反映{E['name'][cpick[i]]}存在问题", state, accept_by.isoformat(),
                          mediate_by, _utc(acc) if state != "received" else "",
                          "" if state in ("received", "refused") else ("t" if founded else "f"), outcome,
                          "不属于本部门职责" if refused else "", _utc(closed_at) if closed_at else "", seal_at])
    _write(outdir / "history" / "complaints.csv.gz",
           ["id", "query_code", "channel", "received_at", "complainant_name", "complainant_phone", "respondent_uscc",
            "respondent_name", "respondent_address", "grid", "level1", "branch", "handler", "category", "description",
            "state", "accept_by", "mediate_by", "accepted_at", "founded", "outcome", "reason", "closed_at", "seal_at"],
           comp_rows)

    # --- cases --------------------------------------------------------------------------
    n_k = int(PER_YEAR["cases"] * years)
    src = [failed_insp[int(j)] for j in rng.integers(len(failed_insp), size=n_k)]
    src.sort(key=lambda s: s[5])
    case_rows = []
    for i, (iid, uscc, grid, l1, cat_, t0) in enumerate(src):
        opened = t0 + timedelta(days=float(rng.gamma(2, 2)))
        u = rng.random()
        verified = opened + timedelta(days=float(rng.gamma(2, 5)))
        filed = verified + timedelta(days=float(rng.gamma(2, 5)))
        decided = filed + timedelta(days=float(rng.gamma(3, 15)))
        state, ended, doc, fine = "decided", decided, "", ""
        if u < 0.075:
            state, ended, filed, decided = "transferred_police", verified, None, None
        elif u < 0.10:
            state, ended, filed, decided = "dropped", verified, None, None
        elif u > 0.925:
            decided = None
            state, ended = "filed", None
        for stage, at in (("clue", opened), ("verified", verified), ("filed", filed), ("decided", decided)):
            if at is not None and at > now_local:
                state = {"clue": "clue", "verified": "clue", "filed": "verified", "decided": "filed"}[stage]
                ended = None
                if stage in ("clue", "verified"):
                    verified = None if stage == "verified" else verified
                    filed = decided = None
                elif stage == "filed":
                    filed = decided = None
                else:
                    decided = None
                break
        if opened > now_local:
            continue
        if state == "decided":
            doc = f"鹰市监处罚〔{decided.year}〕{i + 1:03d}号"
            fine = f"{int(rng.choice([2000, 5000, 10000, 20000, 50000]))}.00"
        case_rows.append([f"H-K{opened:%Y%m%d}-{i:05d}", "inspection", iid, uscc, f"检查发现问题立案线索（{cat_}）", state, grid,
                          l1, branch_of.get(l1, ""), cat_, _utc(opened), _utc(verified) if verified else "",
                          _utc(filed) if filed else "", _utc(decided) if decided else "", _utc(ended) if ended else "",
                          doc, fine, _utc(decided) if state == "decided" else ""])
    _write(outdir / "history" / "cases.csv.gz",
           ["id", "source_type", "source_id", "uscc", "summary", "state", "grid", "level1", "branch", "category",
            "opened_at", "verified_at", "filed_at", "decided_at", "ended_at", "document_no", "fine_yuan", "seal_at"],
           case_rows)
    (outdir / "history" / "README.txt").write_text(
        f"Synthetic history of records {START} .. {until} (seed {seed}), written by casework.history: "
        f"{len(insp_rows)} inspections, {len(task_rows)} tasks, {len(comp_rows)} complaints, {len(case_rows)} cases. "
        f"Planted weak spots: food retailers of township {weak} fail twice as often; complaints of category "
        f"{RISING_CATEGORY} rise ~40 % a year.\n", encoding="utf-8")
    return (f"history {START}..{until}: {len(insp_rows)} inspections, {len(task_rows)} tasks, "
            f"{len(comp_rows)} complaints, {len(case_rows)} cases")


def write_conflicts(outdir: Path, ds, n: int = 8) -> None:
    """The demo's conflicts.csv: a few declared conflicts of interest of level-2 supervisors
    with entities outside their own grids (those they never inspect anyway), for the draws."""
    people = ds.people[ds.people["role"] == "l2_supervisor"].sort_values("id")
    ents = ds.entities[ds.entities["grid"].notna()].sort_values("uscc").reset_index(drop=True)
    rows = []
    for k, p in enumerate(people.head(n).itertuples()):
        e = ents.iloc[(k * 7919) % len(ents)]
        if e["grid"] in p.grids:
            e = ents.iloc[(k * 7919 + 1) % len(ents)]
        rows.append([p.id, e["uscc"], CONFLICT_REASONS[k % len(CONFLICT_REASONS)]])
    with open(Path(outdir) / "conflicts.csv", "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["person", "uscc", "reason"])
        w.writerows(rows)


# --- loading --------------------------------------------------------------------------

TABLE_OF = {"tasks": ("tasks", "task"), "inspections": ("inspections", "inspection"),
            "complaints": ("complaints", "complaint"), "cases": ("cases", "case")}


def load_categories(cur, dataset_dir: Path) -> dict[str, int]:
    """task_categories.csv and complaint_categories.csv of the dataset, where it has them
    (upsert: a category in use is never removed)."""
    out = {}
    f = Path(dataset_dir) / "task_categories.csv"
    if f.exists():
        rows = list(csv.DictReader(open(f, encoding="utf-8")))
        for r in rows:
            cur.execute("INSERT INTO task_categories (code, name, grp, hours, description, keywords) "
                        "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, "
                        "grp = EXCLUDED.grp, hours = EXCLUDED.hours, description = EXCLUDED.description, "
                        "keywords = EXCLUDED.keywords",
                        (r["code"], r["name"], r["group"], int(r["hours"]), r["description"],
                         [k for k in r["keywords"].split(";") if k]))
        out["task_categories"] = len(rows)
    f = Path(dataset_dir) / "complaint_categories.csv"
    if f.exists():
        rows = list(csv.DictReader(open(f, encoding="utf-8")))
        for r in rows:
            cur.execute("INSERT INTO complaint_categories (code, name) VALUES (%s, %s) "
                        "ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name", (r["code"], r["name"]))
        out["complaint_categories"] = len(rows)
    return out


def load(conn, dataset_dir: Path, actor: str) -> dict[str, int]:
    """Copies the dataset's history into the records and seals what is final. A history is
    loaded once: when the records already hold it, nothing is done (idempotent load).

    Each file is copied into a staging table shaped like its record table, the chain is
    computed over the staged rows in sealing order, and each table gets its rows with their
    hashes in one INSERT (no row is written twice)."""
    hdir = Path(dataset_dir) / "history"
    if not (hdir / "inspections.csv.gz").exists():
        return {}
    counts: dict[str, int] = {}
    with conn.transaction(), conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (sealing.CHAIN_LOCK + 1,))
        cur.execute("SELECT EXISTS (SELECT 1 FROM audit WHERE record_type = 'history' AND record_id = %s) AS done",
                    (str(Path(dataset_dir).name),))
        if cur.fetchone()["done"]:
            return {"history": 0}
        # one rebuild of the statistics' rollups at the end, not their triggers on each INSERT
        stats.defer(cur)
        to_seal: list[tuple[datetime, str, str]] = []
        staged = {}
        for name in FILES:
            table, rtype = TABLE_OF[name]
            with gzip.open(hdir / f"{name}.csv.gz", "rt", encoding="utf-8") as f:
                header = f.readline().strip().split(",")
                cols = [c for c in header if c != "seal_at"]
                cur.execute(f"CREATE TEMP TABLE raw_{name} ({', '.join(c + ' text' for c in header)}) ON COMMIT DROP")
                with cur.copy(f"COPY raw_{name} ({', '.join(header)}) FROM STDIN (FORMAT csv)") as copy:
                    while block := f.read(1 << 20):
                        copy.write(block)
            cur.execute("SELECT column_name, udt_name FROM information_schema.columns WHERE table_name = %s", (table,))
            types = {r["column_name"]: (r["udt_name"][1:] + "[]" if r["udt_name"].startswith("_") else r["udt_name"])
                     for r in cur.fetchall()}
            cast = ", ".join(f"NULLIF({c}, '')" + ("" if types[c] == "text" else f"::{types[c]}") for c in cols)
            cur.execute(f"CREATE TEMP TABLE stage_{name} (LIKE {table} INCLUDING DEFAULTS) ON COMMIT DROP")
            cur.execute(f"INSERT INTO stage_{name} ({', '.join(cols)}) SELECT {cast} FROM raw_{name}")
            counts[name] = cur.rowcount
            staged[rtype] = f"stage_{name}"
            cur.execute(f"SELECT seal_at::timestamptz AS at, id FROM raw_{name} WHERE seal_at <> ''")
            to_seal += [(r["at"], rtype, r["id"]) for r in cur.fetchall()]
        hashes = sealing.seal_many(cur, to_seal, source=staged)
        counts["sealed"] = sum(len(v) for v in hashes.values())
        cur.execute("CREATE TEMP TABLE sealed_hashes (id text PRIMARY KEY, hash text, sealed_at timestamptz) ON COMMIT DROP")
        for name in FILES:            # in foreign-key order: tasks before inspections and cases
            table, rtype = TABLE_OF[name]
            cur.execute("TRUNCATE sealed_hashes")
            with cur.copy("COPY sealed_hashes (id, hash, sealed_at) FROM STDIN") as copy:
                for row in hashes.get(rtype, []):
                    copy.write_row(row)
            cur.execute(f"SELECT string_agg(quote_ident(column_name), ',' ORDER BY ordinal_position) AS c "
                        f"FROM information_schema.columns WHERE table_name = %s AND column_name NOT IN ('hash', 'sealed_at')",
                        (table,))
            cols = cur.fetchone()["c"]
            cur.execute(f"INSERT INTO {table} ({cols}, hash, sealed_at) SELECT {', '.join('s.' + c for c in cols.split(','))}, "
                        f"h.hash, h.sealed_at FROM {staged[rtype]} s LEFT JOIN sealed_hashes h USING (id)")
        # one audit entry for the whole import (the rows' own times say when each step happened)
        from casework import audit
        audit.record(cur, actor=actor, record_type="history", record_id=str(Path(dataset_dir).name),
                     action="import", after=counts)
        stats.rebuild_in(cur)
    return counts
