"""The GIS officer's report on boundary files: counts per level, every rule broken, gaps and
overlaps with their area and place, and how much of the jurisdiction the level-2 grids cover."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

from geodata.dataset import (TOLERANCE_M2, Problem, approx_m2, area_m2, read_boundaries,
                             read_directory, where_of)


@dataclass
class Report:
    files: list[str]
    counts: dict[int, int]
    problems: list[Problem] = field(default_factory=list)
    jurisdiction: str = ""
    jurisdiction_m2: float = 0.0
    covered_m2: float = 0.0
    tolerance_m2: float = TOLERANCE_M2

    @property
    def coverage_pct(self) -> float:
        return 100.0 * self.covered_m2 / self.jurisdiction_m2 if self.jurisdiction_m2 else 0.0

    def of_rule(self, rule: str) -> list[Problem]:
        return [p for p in self.problems if p.rule == rule]

    @property
    def ok(self) -> bool:
        return not self.problems

    def text(self) -> str:
        gaps, overlaps = self.of_rule("gap"), self.of_rule("overlap")
        lines = [
            f"checked: {', '.join(self.files)}",
            f"grids: level 1: {self.counts.get(1, 0)}, level 2: {self.counts.get(2, 0)}",
            f"jurisdiction: {self.jurisdiction}, {self.jurisdiction_m2 / 1e6:,.3f} km2",
            f"coverage by level-2 grids: {self.coverage_pct:.4f} %",
            f"gaps above {self.tolerance_m2:g} m2: {len(gaps)}",
            *[f"  {p.detail}" for p in gaps],
            f"overlaps above {self.tolerance_m2:g} m2: {len(overlaps)}",
            *[f"  {p.where}: {p.detail}" for p in overlaps],
        ]
        if self.problems:
            lines.append(f"errors: {len(self.problems)}")
            lines += [f"  {p}" for p in self.problems]
            lines.append("FAILED")
        else:
            lines.append("errors: 0\nOK")
        return "\n".join(lines)


def _gaps(jurisdiction, covered, file: str, level: int, tolerance_m2: float) -> list[Problem]:
    hole = shapely.difference(jurisdiction, covered)
    parts = [g for g in getattr(hole, "geoms", [hole]) if g.geom_type == "Polygon" and not g.is_empty]
    out = []
    if not parts:
        return out
    deg2 = shapely.area(np.array(parts, dtype=object))
    lat = shapely.get_y(shapely.centroid(np.array(parts, dtype=object)))
    for k in np.flatnonzero(approx_m2(deg2, lat) > tolerance_m2 * 0.5):
        a = area_m2(parts[k])
        if a > tolerance_m2:
            out.append(Problem(file, f"level {level}", "gap",
                               f"{a:,.0f} m2 covered by no level-{level} grid, {where_of(parts[k])}"))
    return out


def check_files(paths: list[Path], repair: bool = False, outline: Path | None = None,
                tolerance_m2: float = TOLERANCE_M2) -> Report:
    """Boundary files read as one set (or one dataset directory: then people and entities too).
    The jurisdiction is the `outline` file's union when given, else the union of level-1 grids."""
    paths = [Path(p) for p in paths]
    if len(paths) == 1 and paths[0].is_dir():
        grids, _, _, problems = read_directory(paths[0], repair=repair)
        if grids is None:
            grids = gpd.GeoDataFrame({"level": []}, geometry=[], crs="EPSG:4326")
    else:
        grids, problems = read_boundaries(paths, repair=repair)
    names = [p.name for p in paths]
    usable = grids[grids.geometry.notna()]
    counts = {int(k): int(v) for k, v in grids["level"].value_counts().items()}
    report = Report(files=names, counts=counts, problems=list(problems), tolerance_m2=tolerance_m2)
    l1 = usable[usable["level"] == 1].geometry.values
    l2 = usable[usable["level"] == 2].geometry.values
    if outline is not None:
        out = gpd.read_file(outline)
        if out.crs is None:
            report.problems.append(Problem(Path(outline).name, "file", "missing CRS"))
            return report
        jurisdiction = shapely.union_all(out.to_crs(4326).geometry.values)
        report.jurisdiction = f"outline {Path(outline).name}"
        report.problems += _gaps(jurisdiction, shapely.union_all(l1), names[0], 1, tolerance_m2)
    elif len(l1):
        jurisdiction = shapely.union_all(l1)
        report.jurisdiction = f"union of {len(l1)} level-1 grids"
    else:
        jurisdiction = shapely.union_all(l2)
        report.jurisdiction = f"union of {len(l2)} level-2 grids (no level-1 grids given)"
    if jurisdiction is None or jurisdiction.is_empty:
        return report
    covered = shapely.union_all(l2)
    report.jurisdiction_m2 = area_m2(jurisdiction)
    report.covered_m2 = area_m2(shapely.intersection(jurisdiction, covered))
    report.problems += _gaps(jurisdiction, covered, names[0], 2, tolerance_m2)
    return report
