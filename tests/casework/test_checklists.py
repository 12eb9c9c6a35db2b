"""Checklists as data (casework/checklists.py): the demo's files parse, a bad file refuses the
whole load naming file, row and rule, XLSX reads like CSV, the template's rule decides the
result, and `load_dataset_records` writes them into PostgreSQL."""
from pathlib import Path

import pytest

from casework import checklists as C
from geodata.dataset import DatasetError

GOOD = """#id,demo_list
#name,测试检查表
#categories,food_retail;catering
#key_fail,fail
#general_fail,rectify
#general_fail_max,2
code,section,text,key,required
A1,资质,许可证是否有效,是,是
A2,卫生,环境是否整洁,否,是
A3,卫生,是否有防蝇设施,否,否
A4,卫生,是否有消毒记录,否,否
"""


def _dir(tmp_path, files: dict[str, str]) -> Path:
    (tmp_path / "checklists").mkdir()
    for name, text in files.items():
        (tmp_path / "checklists" / name).write_text(text, encoding="utf-8")
    return tmp_path


def test_demo_has_a_checklist_per_category_with_key_items():
    from geodata.demo import CATEGORIES

    d = Path(C.DEMO_DIR)
    parsed = [C.parse(p) for p in sorted(d.glob("*.csv"))]
    assert all(not probs for _, probs in parsed)
    covered = {cat for cl, _ in parsed for cat in cl.categories}
    assert covered == set(CATEGORIES)
    food = next(cl for cl, _ in parsed if cl.id == "food_sales")
    sections = [i["section"] for i in food.items]
    assert sections[0] == "食品销售者资质" and "一般规定执行情况" in sections and "网络食品销售" in sections
    assert any(i["key"] for i in food.items) and any(not i["key"] for i in food.items)
    assert food.rule == {"key_fail": "fail", "general_fail": "rectify", "general_fail_max": 5, "rectify_days": 15}
    assert set(C.DEMO_BY_CATEGORY.values()) == {cl.id for cl, _ in parsed}


@pytest.mark.parametrize("edit, where, rule", [
    (lambda s: s.replace("A2,卫生", "A1,卫生"), "row 9", "duplicate item code"),
    (lambda s: s.replace("A3,卫生,是否有防蝇设施,否,否", "A3,卫生,是否有防蝇设施,maybe,否"), "row 10", "bad key flag"),
    (lambda s: s.replace("#key_fail,fail\n", ""), "#key_fail", "missing or unknown outcome"),
    (lambda s: s.replace("#general_fail,rectify", "#general_fail,warn"), "#general_fail", "missing or unknown outcome"),
    (lambda s: s.replace("code,section,text,key,required", "code,section,text,key"), "row 7", "missing column"),
    (lambda s: s.replace("A4,卫生,是否有消毒记录", "A 4,卫生,是否有消毒记录"), "row 11", "bad item code"),
    (lambda s: s.replace("#categories,food_retail;catering", "#categories,"), "#categories", "missing"),
    (lambda s: s.replace("#name,测试检查表", "#colour,red"), "row 2", "unknown meta row"),
    (lambda s: s.replace("A2,卫生,环境是否整洁", "A2,卫生,"), "row 9", "empty item text"),
])
def test_a_bad_file_is_refused_whole_naming_file_row_and_rule(tmp_path, edit, where, rule):
    d = _dir(tmp_path, {"ok.csv": GOOD.replace("demo_list", "other"), "bad.csv": edit(GOOD)})
    with pytest.raises(DatasetError) as err:
        C.read_dir(d)
    assert any(p.file == "bad.csv" and p.where == where and p.rule == rule for p in err.value.problems), \
        err.value.problems
    assert all(p.file == "bad.csv" for p in err.value.problems)


def test_two_files_with_one_id_are_refused(tmp_path):
    d = _dir(tmp_path, {"a.csv": GOOD, "b.csv": GOOD})
    with pytest.raises(DatasetError, match="duplicate checklist id"):
        C.read_dir(d)


def test_xlsx_reads_like_csv(tmp_path):
    import csv
    import io

    from openpyxl import Workbook

    wb = Workbook()
    for row in csv.reader(io.StringIO(GOOD)):
        wb.active.append(row)
    (tmp_path / "checklists").mkdir()
    wb.save(tmp_path / "checklists" / "demo_list.xlsx")
    (tmp_path / "checklists" / "~$demo_list.xlsx").write_bytes(b"lock file of an open workbook")
    [cl] = C.read_dir(tmp_path)
    (tmp_path / "csv").mkdir()
    [ref] = C.read_dir(_dir(tmp_path / "csv", {"demo_list.csv": GOOD}))
    assert cl.to_dict() == ref.to_dict()
    assert cl.categories == ["food_retail", "catering"] and cl.items[0] == \
        {"code": "A1", "section": "资质", "text": "许可证是否有效", "key": True, "required": True}


def test_the_templates_rule_decides_fail_or_rectify():
    rule = {"key_fail": "fail", "general_fail": "rectify", "general_fail_max": 2}
    items = [{"code": c, "key": c == "A1"} for c in ("A1", "A2", "A3", "A4")]
    ans = lambda **r: {c: {"result": v} for c, v in r.items()}  # noqa: E731
    assert C.decide(rule, items, ans(A1="pass", A2="na")) == ("pass", [])
    assert C.decide(rule, items, ans(A1="fail", A2="pass")) == ("fail", ["A1"])
    assert C.decide(rule, items, ans(A2="fail", A3="fail")) == ("rectify", ["A2", "A3"])
    assert C.decide(rule, items, ans(A2="fail", A3="fail", A4="fail")) == ("fail", ["A2", "A3", "A4"])
    lenient = {"key_fail": "rectify", "general_fail": "rectify"}
    assert C.decide(lenient, items, ans(A1="fail", A2="fail", A3="fail", A4="fail"))[0] == "rectify"


def test_load_writes_the_checklists_and_the_history_names_them(records_url):
    from gridwatch.db import connect

    with connect(records_url) as conn, conn.cursor() as cur:
        lists = {c["id"]: c for c in C.all_checklists(cur)}
        assert set(lists) == set(C.DEMO_BY_CATEGORY.values())
        assert lists["food_sales"]["categories"] == ["food_retail"] and len(lists["food_sales"]["items"]) == 25
        cur.execute("SELECT category, checklist, count(*) AS n FROM inspections GROUP BY 1, 2")
        rows = cur.fetchall()
    assert rows and all(r["checklist"] == C.DEMO_BY_CATEGORY[r["category"]] for r in rows)


def test_a_bad_checklist_refuses_the_load_before_anything_is_written(db_url, demo_data, tmp_path):
    from casework.records import load_dataset_records
    from geodata.dataset import load_dataset
    from gridwatch.db import connect

    d = tmp_path / "ds"
    d.mkdir()
    for name in ("grids.geojson", "people.csv", "entities.csv"):
        (d / name).symlink_to(demo_data / name)
    _dir(d, {"bad.csv": GOOD.replace("A2,卫生", "A1,卫生")})
    with connect(db_url) as conn:
        with pytest.raises(DatasetError, match=r"bad.csv: row 9: duplicate item code"):
            load_dataset_records(conn, load_dataset(d), d)
        with conn.cursor() as cur:
            cur.execute("SELECT (SELECT count(*) FROM entities) AS e, (SELECT count(*) FROM checklists) AS c")
            assert cur.fetchone() == {"e": 0, "c": 0}
