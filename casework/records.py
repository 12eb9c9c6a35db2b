"""What `gridwatch load` writes into the records: the entity register, the dataset's
categories and checklists and, where the dataset has one, its history (casework.history)."""
from __future__ import annotations

from pathlib import Path

from casework import checklists, draw_store, history, register, workdays


def load_dataset_records(conn, ds, dataset_dir: Path, tz: str | None = None) -> dict[str, int]:
    """`tz`: the bureau's time zone (settings `tz`), the day a complaint's deadline is counted
    from when a schedule loaded here recomputes it."""
    actor = f"load:{Path(dataset_dir).name}"
    lists = checklists.read_dir(dataset_dir)     # a bad checklist file refuses the load before anything is written
    calendar = workdays.read_dir(dataset_dir)   # a bad schedule file refuses the load before anything is written
    counts = {f"entities_{k}": v for k, v in register.sync(conn, ds, actor).items()}
    with conn.transaction(), conn.cursor() as cur:
        counts.update(history.load_categories(cur, dataset_dir))
        counts.update(workdays.load_dataset_calendar(cur, dataset_dir, actor, calendar, tz=tz))
        counts.update(draw_store.sync_conflicts(cur, ds, actor))
        if lists:
            counts["checklists"] = checklists.store(cur, lists)
    counts.update(history.load(conn, dataset_dir, actor))
    return counts
