"""conflicts.csv (the draws' declared conflicts of interest): read with the dataset, refused
whole naming file, row and rule; loaded into the records with the rest."""
import shutil

import pytest

from geodata.dataset import DatasetError, load_dataset


@pytest.fixture
def dataset_dir(demo_data, tmp_path):
    d = tmp_path / "ds"
    d.mkdir()
    for name in ("grids.geojson", "people.csv", "entities.csv"):
        (d / name).symlink_to(demo_data / name)
    return d


def _pair(demo_data):
    import csv

    person = next(r["id"] for r in csv.DictReader(open(demo_data / "people.csv")) if r["role"] == "l2_supervisor")
    uscc = next(r["uscc"] for r in csv.DictReader(open(demo_data / "entities.csv")))
    return person, uscc


def test_good_conflicts_are_read(dataset_dir, demo_data):
    person, uscc = _pair(demo_data)
    (dataset_dir / "conflicts.csv").write_text(f"person,uscc,reason\n{person},{uscc},亲属经营\n", encoding="utf-8")
    ds = load_dataset(dataset_dir)
    assert ds.conflicts.values.tolist() == [[person, uscc, "亲属经营"]]


def test_a_bad_conflicts_file_is_refused_whole_naming_row_and_rule(dataset_dir, demo_data):
    person, uscc = _pair(demo_data)
    (dataset_dir / "conflicts.csv").write_text(
        "person,uscc,reason\n"
        f"{person},{uscc},亲属经营\n"            # row 2 fine
        f"nobody,{uscc},x\n"                     # row 3 unknown person
        f"{person},91360602MA35XXXXX1,x\n"       # row 4 bad USCC
        f"{person},{uscc},again\n"               # row 5 duplicate
        f"{person},{uscc[:-1]}{'0' if uscc[-1] != '0' else '1'},\n",   # row 6 bad check char, no reason
        encoding="utf-8")
    with pytest.raises(DatasetError) as e:
        load_dataset(dataset_dir)
    got = {(p.file, p.where, p.rule) for p in e.value.problems}
    assert ("conflicts.csv", "row 3", "unknown person") in got
    assert ("conflicts.csv", "row 4", "bad USCC") in got
    assert ("conflicts.csv", "row 5", "duplicate conflict") in got
    assert ("conflicts.csv", "row 6", "missing reason") in got
    assert not any(p.where == "row 2" for p in e.value.problems)


def test_a_conflicts_file_without_its_columns_is_refused(dataset_dir):
    (dataset_dir / "conflicts.csv").write_text("who,what\na,b\n", encoding="utf-8")
    with pytest.raises(DatasetError) as e:
        load_dataset(dataset_dir)
    assert [(p.file, p.rule) for p in e.value.problems] == [("conflicts.csv", "missing column")]


def test_the_records_hold_the_demo_conflicts(records_url, records_dataset):
    from gridwatch.db import connect

    lines = (records_dataset / "conflicts.csv").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "person,uscc,reason" and len(lines) == 9
    with connect(records_url) as conn:
        rows = conn.execute("SELECT person, uscc, reason FROM conflicts ORDER BY person").fetchall()
        audited = conn.execute("SELECT count(*) AS n FROM audit WHERE record_type = 'conflict'").fetchone()["n"]
    assert sorted(",".join(r.values()) for r in rows) == sorted(lines[1:]) and audited == 8
