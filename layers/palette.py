"""What the map and panels are drawn with, in one table: marker colours by presence and duty
status, the accent, the entities' colour, the grid measures' colours, and which recipient
states count as engaged. The web page embeds `browser_tables()` (and `css_vars()` for the
stylesheet), so the browser draws from this module, never from a copy of its own."""
from __future__ import annotations

import orjson

from alerts.states import ENGAGED

# A device's fill by presence; its ring by duty status (an SOS is filled with its ring colour).
PRESENCE = {"live": "#22c55e", "stale": "#f59e0b", "offline": "#64748b"}
STATUS = {"sos": "#ef4444", "busy": "#a855f7", "off_duty": "#94a3b8", "on_duty": "#e6edf7"}
ACCENT = "#38bdf8"   # level-1 outlines, orders, links and buttons
ENTITY = "#c084fc"   # market entities: points and density
# The grid layer's measures (layers/choropleth.py): one colour per measure.
MEASURE = {"supervisors": PRESENCE["live"], "orders": ACCENT, "alerts": STATUS["sos"], "entities": STATUS["busy"]}
# The wall's casework layers (dashboard/wall_casework.py): today's inspections by result, and
# open complaints by respondent (sized by their count).
INSPECTION = {"pass": "#10b981", "fail": "#e11d48", "rectify": "#eab308", "open": "#94a3b8"}
COMPLAINT = "#f472b6"  # pink, a rounded square: apart from the task marks
# Open tasks (dashboard/tasks_panel.py) by state, a round "!" mark; an overdue one is red and
# flashes whatever its state (STATUS["sos"]).
TASK = {"reported": "#94a3b8", "assigned": ACCENT, "accepted": "#818cf8", "in_progress": "#f97316",
        "handled": "#84cc16", "verified": "#14b8a6"}
# The weak-spot choropleth (dashboard/stats_wall.py): orange, since the coverage layer's red
# already means "no supervisor within 2 km".
WEAK = "#f97316"


def browser_tables() -> dict:
    """The tables the page's scripts read (window.gridwatchTables)."""
    return {"presence": PRESENCE, "status": STATUS, "accent": ACCENT, "entity": ENTITY,
            "engaged": sorted(ENGAGED), "inspection": INSPECTION, "complaint": COMPLAINT, "task": TASK,
            "weak": WEAK}


def css_vars() -> str:
    """The stylesheet's colour variables (gridwatch.css uses var(--live) ... var(--accent))."""
    names = {**PRESENCE, "sos": STATUS["sos"], "busy": STATUS["busy"], "accent": ACCENT}
    return ":root { " + " ".join(f"--{k}: {v};" for k, v in names.items()) + " }"


def head_html() -> str:
    """The <style> and <script> a page carries in its head, before its own assets."""
    tables = orjson.dumps(browser_tables()).decode().replace("</", "<\\/")
    return f"<style>{css_vars()}</style><script>window.gridwatchTables = {tables};</script>"
