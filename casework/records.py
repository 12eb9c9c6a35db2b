"""What `gridwatch load` writes into the records: the entity register, the dataset's
categories and, where the dataset has one, its history (casework.history)."""
from __future__ import annotations

from pathlib import Path

from casework import draw_store, history, register


def load_dataset_records(conn, ds, dataset_dir: Path) -> dict[str, int]:
    actor = f"load:{Path(dataset_dir).name}"
    counts = {f"entities_{k}": v for k, v in register.sync(conn, ds, actor).items()}
    with conn.transaction(), conn.cursor() as cur:
        counts.update(history.load_categories(cur, dataset_dir))
        counts.update(draw_store.sync_conflicts(cur, ds, actor))
    counts.update(history.load(conn, dataset_dir, actor))
    return counts
