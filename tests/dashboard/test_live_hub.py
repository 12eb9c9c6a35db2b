"""The live hub (dashboard/live.py) on a real Redis: it lingers after the last page closed, so
a reloaded wall finds the panels current; once it has stopped, a new page's snapshot is read
from Redis again, so a move made while nobody watched is not lost."""
from __future__ import annotations

import asyncio
import time

from dashboard import live
from dashboard.context import WebContext
from tests.dashboard.conftest import report


def device_of(stack) -> str:
    p = stack.ctx.dataset.people
    return p[(p["role"] == "l2_supervisor") & p["device"].notna()]["device"].iloc[0]


def position(fc: dict, device: str):
    f = next(f for f in fc["features"] if f["properties"]["device"] == device)
    return tuple(round(c, 5) for c in f["geometry"]["coordinates"])


async def snapshot(ctx, device: str):
    items = ctx.hub.subscribe(snapshot=True)
    try:
        kind, fc = await items.__anext__()
        assert kind == "delta"
        return position(fc, device)
    finally:
        await items.aclose()


def with_hub(web_stack, body) -> None:
    """Runs `body(ctx)` in an event loop with a web context (and so a live hub) of its own,
    then stops the hub."""
    ctx = WebContext.build(web_stack.settings)

    async def run():
        try:
            await body(ctx)
        finally:
            ctx.hub.close()
            if ctx.hub.task is not None:
                await asyncio.wait_for(ctx.hub.task, 60)

    try:
        asyncio.run(run())
    finally:
        ctx.close()


def test_a_move_while_the_hub_was_stopped_reaches_the_next_page(web_stack, monkeypatch):
    dev = device_of(web_stack)
    monkeypatch.setattr(live, "LINGER_S", 0.0)

    async def run(ctx):
        report(web_stack.ctx, dev, 28.2400, 117.0300)
        assert await snapshot(ctx, dev) == (117.03, 28.24)
        await asyncio.sleep(live.SWEEP_EVERY_S + 0.5)  # the hub swept: it holds every state
        assert ctx.hub.synced
        await asyncio.wait_for(ctx.hub.task, 60)  # no follower, no linger: it stops
        report(web_stack.ctx, dev, 28.2410, 117.0310)  # nobody hears this delta
        assert await snapshot(ctx, dev) == (117.031, 28.241)

    with_hub(web_stack, run)


def test_the_hub_lingers_after_the_last_page_so_a_reload_finds_the_panels_current(web_stack):
    async def run(ctx):
        report(web_stack.ctx, device_of(web_stack), 28.2400, 117.0300)
        await snapshot(ctx, device_of(web_stack))
        left = time.monotonic()
        # panels computed after the page left: a new layout needn't read every device
        for _ in range(600):
            if ctx.hub.last_panels is not None and ctx.hub.last_panels[0] > left + live.PANEL_EVERY_S:
                break
            await asyncio.sleep(0.1)
        assert not ctx.hub.task.done()
        assert ctx.hub.last_panels[0] > left + live.PANEL_EVERY_S
        assert ctx.hub.recent_panels() is not None
        assert live.orders_layer(ctx) is ctx.hub.recent_panels()["orders_layer"]

    with_hub(web_stack, run)


def test_a_restarted_hub_hands_no_stale_coverage(web_stack, monkeypatch):
    monkeypatch.setattr(live, "LINGER_S", 0.0)

    async def run(ctx):
        await snapshot(ctx, device_of(web_stack))      # starts the hub; its first round computes coverage
        for _ in range(600):
            if ctx.hub.coverage is not None:
                break
            await asyncio.sleep(0.1)
        old = ctx.hub.coverage
        assert old is not None and ctx.hub.live_coverage is old
        await asyncio.wait_for(ctx.hub.task, 60)        # no follower, no linger: it stops
        assert ctx.hub.live_coverage is None            # what a layout built now would show
        items = ctx.hub.subscribe()
        try:
            kind, cov = await asyncio.wait_for(items.__anext__(), 60)
            while kind != "coverage":
                kind, cov = await asyncio.wait_for(items.__anext__(), 60)
            assert cov is not old                       # computed by the restarted hub
        finally:
            await items.aclose()

    with_hub(web_stack, run)
