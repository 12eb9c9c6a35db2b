"""Who is who: people by id and by device, and who is responsible for a grid (the level-1 and
level-2 supervisor, the assistants and informants)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Person:
    id: str
    name: str
    role: str
    grids: tuple[str, ...]
    device: str | None
    phone: str | None


class Registry:
    def __init__(self, dataset):
        people = dataset.people
        self._people: dict[str, Person] = {}
        for r in people.itertuples(index=False):
            self._people[r.id] = Person(r.id, r.name, r.role, tuple(r.grids),
                                        r.device if isinstance(r.device, str) and r.device else None,
                                        r.phone if isinstance(r.phone, str) and r.phone else None)
        self._by_device = {p.device: p for p in self._people.values() if p.device}
        grids = dataset.grids
        self._level = dict(zip(grids["id"], grids["level"].astype(int)))
        self._parent = {g: p for g, p, lv in zip(grids["id"], grids["parent"], grids["level"]) if lv == 2}
        self._holding: dict[str, list[Person]] = {}
        # Sorted by id, so that a grid with two supervisors of one kind always answers the same.
        for p in sorted(self._people.values(), key=lambda p: p.id):
            for g in p.grids:
                self._holding.setdefault(g, []).append(p)

    def person(self, person_id: str) -> Person | None:
        return self._people.get(person_id)

    def person_of_device(self, device: str) -> Person | None:
        return self._by_device.get(device)

    def devices(self) -> tuple[str, ...]:
        return tuple(sorted(self._by_device))

    def people(self, role: str | None = None) -> list[Person]:
        return [p for p in sorted(self._people.values(), key=lambda p: p.id) if role is None or p.role == role]

    def parent(self, grid_id: str) -> str | None:
        return self._parent.get(grid_id)

    def _first(self, grid_id: str | None, role: str) -> Person | None:
        return next((p for p in self._holding.get(grid_id, ()) if p.role == role), None)

    def responsible(self, grid_id: str) -> dict:
        """For a level-2 grid: its level-2 supervisor, the level-1 supervisor of its parent, its
        assistants and informants. For a level-1 grid: its level-1 supervisor only.
        Raises KeyError for an unknown grid."""
        level = self._level[grid_id]
        l1 = grid_id if level == 1 else self._parent.get(grid_id)
        holders = self._holding.get(grid_id, []) if level == 2 else []
        return {
            "l1_supervisor": self._first(l1, "l1_supervisor"),
            "l2_supervisor": self._first(grid_id, "l2_supervisor") if level == 2 else None,
            "assistants": [p for p in holders if p.role == "assistant"],
            "informants": [p for p in holders if p.role == "informant"],
        }
