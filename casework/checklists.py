"""Inspection checklists as data (CONTRACT.md section 9): one CSV or XLSX file per checklist in
the dataset's `checklists/`, a spreadsheet a bureau officer edits. Validated whole on load (a
bad file refuses the load, naming file, row and rule) and written into `checklists`.

A file is a table `code, section, text, key, required` preceded by meta rows whose first cell
starts with `#` (the same in CSV and XLSX):

    #id,food_sales                      the checklist's id (default: the file's stem)
    #name,食品销售监督检查要点表
    #categories,food_retail             entity categories it applies to (`;` between several)
    #key_fail,fail                      what a failed key item (重点项) makes the result: fail | rectify
    #general_fail,rectify               what a failed general item makes it: fail | rectify
    #general_fail_max,5                 optional: more failed general items than this -> fail
    #rectify_days,15                    optional: days given to rectify (default 15)

`key` and `required` take 是/否, yes/no, y/n, true/false, 1/0. The result of a sealed
inspection is `decide(rule, items, answers)`: pass when nothing failed, else the worst the rule
gives for the failed items (fail > rectify)."""
from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

from psycopg.types.json import Jsonb

from geodata.dataset import DatasetError, Problem

COLUMNS = ("code", "section", "text", "key", "required")
CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$")
ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
TRUE = {"是", "yes", "y", "true", "1", "重点", "重点项"}
FALSE = {"否", "no", "n", "false", "0", "", "一般", "一般项"}
OUTCOMES = ("fail", "rectify")
META = ("id", "name", "categories", "key_fail", "general_fail", "general_fail_max", "rectify_days")
DEFAULT_RECTIFY_DAYS = 15
DEMO_DIR = Path(__file__).with_name("checklists_demo")


@dataclass
class Checklist:
    id: str
    name: str
    categories: list[str]
    items: list[dict]                 # [{code, section, text, key, required}]
    rule: dict = field(default_factory=dict)
    source: str = ""

    def to_dict(self) -> dict:
        return {"id": self.id, "name": self.name, "categories": self.categories, "items": self.items,
                "rule": self.rule}


def _rows(path: Path) -> list[list[str]]:
    if path.suffix.lower() == ".xlsx":
        from openpyxl import load_workbook

        wb = load_workbook(path, read_only=True, data_only=True)
        try:
            ws = wb.worksheets[0]
            return [["" if v is None else str(v).strip() for v in row] for row in ws.iter_rows(values_only=True)]
        finally:
            wb.close()
    text = path.read_bytes().decode("utf-8-sig")      # Excel writes a BOM into UTF-8 CSV
    return [[c.strip() for c in row] for row in csv.reader(io.StringIO(text))]


def _flag(v: str) -> bool | None:
    low = v.strip().lower()
    return True if low in TRUE else False if low in FALSE else None


def parse(path: Path) -> tuple[Checklist | None, list[Problem]]:
    """One checklist file -> (checklist, []) or (None, its problems). Row numbers are the
    spreadsheet's (1-based, meta rows counted)."""
    name = path.name
    try:
        rows = _rows(path)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is refused with its reason
        return None, [Problem(name, "file", "unreadable", str(exc).splitlines()[0] if str(exc) else type(exc).__name__)]
    problems: list[Problem] = []
    meta: dict[str, str] = {}
    header_at = None
    for n, row in enumerate(rows, 1):
        if not any(row):
            continue
        first = row[0]
        if first.startswith("#"):
            key = first[1:].strip().lower()
            if key not in META:
                problems.append(Problem(name, f"row {n}", "unknown meta row", f"#{key}; known: {', '.join(META)}"))
            elif key in meta:
                problems.append(Problem(name, f"row {n}", "meta row given twice", f"#{key}"))
            else:
                meta[key] = row[1] if len(row) > 1 else ""
            continue
        header_at = n
        break
    if header_at is None:
        return None, problems + [Problem(name, "file", "no item table", "a header row code,section,text,key,required")]
    header = [c.lower() for c in rows[header_at - 1]]
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        return None, problems + [Problem(name, f"row {header_at}", "missing column", ", ".join(missing))]
    col = {c: header.index(c) for c in COLUMNS}

    cid = meta.get("id") or path.stem
    if not ID.match(cid):
        problems.append(Problem(name, "#id", "bad id", f"{cid!r}: lower-case letters, digits, _ and -"))
    if not meta.get("name"):
        problems.append(Problem(name, "#name", "missing", "the checklist's name"))
    cats = [c.strip() for c in meta.get("categories", "").split(";") if c.strip()]
    if not cats:
        problems.append(Problem(name, "#categories", "missing", "the entity categories it applies to"))
    rule: dict = {}
    for k, default in (("key_fail", None), ("general_fail", None)):
        v = meta.get(k, "").strip().lower()
        if v not in OUTCOMES:
            problems.append(Problem(name, f"#{k}", "missing or unknown outcome",
                                    f"{v!r}; one of {', '.join(OUTCOMES)} (the template states its rule)"))
        rule[k] = v
    for k, default in (("general_fail_max", None), ("rectify_days", DEFAULT_RECTIFY_DAYS)):
        v = meta.get(k, "").strip()
        if not v:
            if default is not None:
                rule[k] = default
            continue
        if not v.isdigit() or (k == "rectify_days" and int(v) == 0):
            problems.append(Problem(name, f"#{k}", "not a whole number" + (" > 0" if k == "rectify_days" else ""), repr(v)))
            continue
        rule[k] = int(v)

    items, seen = [], {}
    for n, row in enumerate(rows[header_at:], header_at + 1):
        if not any(row):
            continue
        cell = {c: (row[i] if i < len(row) else "") for c, i in col.items()}
        where = f"row {n}"
        if not CODE.match(cell["code"]):
            problems.append(Problem(name, where, "bad item code", f"{cell['code']!r}: letters, digits, . _ - (at most 40)"))
        elif cell["code"] in seen:
            problems.append(Problem(name, where, "duplicate item code", f"{cell['code']} (first on row {seen[cell['code']]})"))
        else:
            seen[cell["code"]] = n
        if not cell["text"]:
            problems.append(Problem(name, where, "empty item text"))
        if not cell["section"]:
            problems.append(Problem(name, where, "empty section"))
        flags = {}
        for k in ("key", "required"):
            f = _flag(cell[k])
            if f is None:
                problems.append(Problem(name, where, f"bad {k} flag", f"{cell[k]!r}; 是/否, yes/no, true/false, 1/0"))
            flags[k] = bool(f)
        items.append({"code": cell["code"], "section": cell["section"], "text": cell["text"], **flags})
    if not items:
        problems.append(Problem(name, "file", "no items"))
    if problems:
        return None, problems
    return Checklist(cid, meta["name"], cats, items, rule, source=name), []


def read_dir(directory: Path) -> list[Checklist]:
    """Every checklist of a dataset directory (none when it has no `checklists/`); raises
    DatasetError naming every problem of every bad file (nothing is loaded then)."""
    d = Path(directory) / "checklists"
    if not d.is_dir():
        return []
    out, problems, ids = [], [], {}
    for path in sorted(d.iterdir()):
        if path.name.startswith((".", "~$")) or path.suffix.lower() not in (".csv", ".xlsx"):
            continue
        cl, probs = parse(path)
        problems += probs
        if cl is None:
            continue
        if cl.id in ids:
            problems.append(Problem(path.name, "#id", "duplicate checklist id", f"{cl.id} (also {ids[cl.id]})"))
            continue
        ids[cl.id] = path.name
        out.append(cl)
    if problems:
        raise DatasetError(problems)
    return out


def store(cur, checklists: list[Checklist]) -> int:
    """Upserts the checklists (a checklist in use by inspections is updated, never removed)."""
    for c in checklists:
        cur.execute("INSERT INTO checklists (id, name, categories, items, rule, source, loaded_at) "
                    "VALUES (%s, %s, %s, %s, %s, %s, now()) ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, "
                    "categories = EXCLUDED.categories, items = EXCLUDED.items, rule = EXCLUDED.rule, "
                    "source = EXCLUDED.source, loaded_at = now()",
                    (c.id, c.name, c.categories, Jsonb(c.items), Jsonb(c.rule), c.source))
    return len(checklists)


def all_checklists(cur) -> list[dict]:
    cur.execute("SELECT id, name, categories, items, rule FROM checklists ORDER BY id")
    return [dict(r) for r in cur.fetchall()]


def get(cur, checklist_id: str) -> dict | None:
    cur.execute("SELECT id, name, categories, items, rule FROM checklists WHERE id = %s", (checklist_id,))
    r = cur.fetchone()
    return dict(r) if r else None


def decide(rule: dict, items: list[dict], answers: dict) -> tuple[str, list[str]]:
    """(result, failed item codes) by the template's rule: pass when no item failed; a failed
    key item gives `key_fail`; failed general items give `general_fail`, or fail when there are
    more than `general_fail_max` of them."""
    key = {i["code"]: i["key"] for i in items}
    failed = [i["code"] for i in items if (answers.get(i["code"]) or {}).get("result") == "fail"]
    if not failed:
        return "pass", []
    outcomes = set()
    general = [c for c in failed if not key[c]]
    if len(general) < len(failed):
        outcomes.add(rule.get("key_fail", "fail"))
    if general:
        outcomes.add(rule.get("general_fail", "rectify"))
        limit = rule.get("general_fail_max")
        if limit is not None and len(general) > limit:
            outcomes.add("fail")
    return ("fail" if "fail" in outcomes else "rectify"), failed


def for_category(category: str | None) -> str | None:
    """The demo's checklist id for an entity category (the history names it on its records)."""
    return DEMO_BY_CATEGORY.get(category or "")


DEMO_BY_CATEGORY = {"food_retail": "food_sales", "catering": "catering", "pharmacy": "pharmacy",
                    "special_equipment": "special_equipment", "industrial_products": "industrial_products"}


def write_demo(outdir: Path) -> int:
    """Copies the demo's checklist files into a dataset directory's `checklists/`."""
    d = Path(outdir) / "checklists"
    d.mkdir(parents=True, exist_ok=True)
    n = 0
    for f in sorted(DEMO_DIR.glob("*.csv")):
        (d / f.name).write_bytes(f.read_bytes())
        n += 1
    return n
