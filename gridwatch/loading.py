"""`gridwatch load`'s one step, shared with `gridwatch demo`: store a dataset and take the
devices that left it out of the live store (the roster is the dataset's registered devices,
so a device no longer registered leaves the listings and presence counts at once)."""
from __future__ import annotations


def store_dataset(r, settings, ds) -> tuple[dict[str, int], int]:
    """Saves `ds` as the current dataset; returns its counts and how many devices left."""
    from geodata.store import fetch_roster, save_dataset
    from telemetry.store import LiveStore

    before = fetch_roster(r)
    counts = save_dataset(r, ds)
    after = fetch_roster(r)
    gone = set(before[1]) - set(after[1] if after else {}) if before else set()
    if gone:
        store = LiveStore(r, settings)
        store.ensure_scripts()
        store.forget(sorted(gone))
    return counts, len(gone)
