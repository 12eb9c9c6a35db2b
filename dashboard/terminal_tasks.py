"""`/terminal`'s "my tasks" (我的任务): the open tasks assigned to the supervisor (and those of a
draw's team he is in, marked, without steps: the lead takes them), each with its
deadline counting down and the next step's button (accept, start, handle with a note and
photos); for a level-1 supervisor also the handled tasks of his township, to verify and then
close (casework/tasks.py: verify and close are a manager's steps). The list is data in a store (term-tasks-data), drawn by gridwatch_tasks.js: it needs
a file input Dash has not, and the steps go to the REST API (POST /api/tasks/{id}/{action},
photos to /api/tasks/{id}/media) as any other client's would. The terminal's live stream
pushes the list again when it changes, so a task just assigned appears by itself."""
from __future__ import annotations

import asyncio
import logging

from dash import Input, Output, dcc, html, set_props

from dashboard.i18n import t
from dashboard.tasks_panel import configured, open_tasks
from gridwatch.db import unless_down

log = logging.getLogger(__name__)

MINE = ("assigned", "accepted", "in_progress")
TO_VERIFY = ("handled", "verified")


def my_tasks(ctx, user) -> list[dict]:
    """His open tasks to work on, then (a level-1 supervisor) his township's tasks to verify or close."""
    if user is None or not user.person:
        return []
    mine = [x for x in open_tasks(ctx, user, assignee=user.person) if x["state"] in MINE]
    # a draw's co-inspector sees his team's task too (to go with the lead), its steps the lead's
    team = [{**x, "co_inspector": True} for x in open_tasks(ctx, user, member=user.person) if x["state"] in MINE]
    return mine + team + to_verify(ctx, user)


def to_verify(ctx, user) -> list[dict]:
    """The handled and verified tasks of the townships whose level-1 supervisor he is."""
    from dashboard.task_routes import level1_supervisor_of

    p = ctx.registry.person(user.person) if user.role == "supervisor" and user.person else None
    if p is None or p.role != "l1_supervisor":
        return []
    level = dict(zip(ctx.dataset.grids["id"], ctx.dataset.grids["level"]))
    out = []
    for g in p.grids:
        if level.get(g) == 1:
            out += [x for x in open_tasks(ctx, user, grid=g) if x["state"] in TO_VERIFY and x["level1"] == g
                    and level1_supervisor_of(ctx, x) == user.person]
    return out


def section(ctx, user, lang: str):
    if not configured(ctx):
        return None
    return html.Section([
        html.H3(t("tk_my_tasks", lang)),
        dcc.Store(id="term-tasks-data", data=my_tasks(ctx, user)),
        dcc.Store(id="term-tasks-poke"),
        dcc.Store(id="term-tasks-drawn"),
        html.Div(id="term-tasks", className="gw-term-tasks"),
    ], id="term-tasks-section")


def register(app, ctx, session_user) -> None:
    app.clientside_callback("function (data) { return window.gridwatchTasks.renderTerminal(data); }",
                            Output("term-tasks-drawn", "data"), Input("term-tasks-data", "data"))

    # the script pokes after each step: the list is read again at once
    @app.callback(Output("term-tasks-data", "data"), Input("term-tasks-poke", "data"), prevent_initial_call=True)
    def poke(_):
        return my_tasks(ctx, session_user(ctx))


class Follower:
    """The terminal stream's part: pushes the list when its tasks or their states changed."""

    def __init__(self, ctx, user):
        self.ctx, self.user, self.last = ctx, user, None

    async def step(self) -> None:
        if not configured(self.ctx):
            return
        tasks = await asyncio.to_thread(unless_down, my_tasks, self.ctx, self.user)
        if tasks is None:  # the records database down: the orders still stream
            log.warning("my tasks unavailable: the records database is down")
            return
        key = [(x["id"], x["state"], x["overdue"]) for x in tasks]
        if key != self.last:
            self.last = key
            set_props("term-tasks-data", {"data": tasks})
