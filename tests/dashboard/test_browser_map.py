"""Map features in real headless Chromium against the web app (Redis with the demo dataset,
Mosquitto): grid names by zoom on the wall, the entity density layer and a credit-code search
on the console."""
from __future__ import annotations

import h3
import pytest
from selenium.webdriver.common.by import By

from tests.dashboard.conftest import console_errors, serve
from tests.dashboard.test_browser import login, wait_for

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def site(web_stack):
    with serve(web_stack.server) as web:
        web_stack.url = web.url
        yield web_stack


def labels(chrome, level):
    return [e.get_attribute("textContent") for e in chrome.find_elements(By.CSS_SELECTOR, f".gw-label-l{level}")]


def test_township_names_at_city_zoom_and_village_names_after_zooming_in(site, chrome):
    login(chrome, site.url, "viewer1", "pw-viewer1")
    l1 = wait_for(lambda: labels(chrome, 1), what="level-1 names")
    g = site.ctx.dataset.grids
    assert set(l1) <= set(g[g["level"] == 1]["name"]) and len(l1) >= 10
    assert labels(chrome, 2) == []  # villages would be mush at city zoom
    for _ in range(3):  # +3 zoom levels: into the zooms where village names are placed
        chrome.find_element(By.CSS_SELECTOR, "#wall-map .leaflet-control-zoom-in").click()
        wait_for(lambda: not chrome.find_elements(By.CSS_SELECTOR, ".leaflet-zoom-anim"), what="the zoom")
    l2 = wait_for(lambda: labels(chrome, 2), what="level-2 names")
    assert set(l2) <= set(g[g["level"] == 2]["name"])
    assert console_errors(chrome) == []


def test_console_draws_entity_density_and_a_credit_code_search_centres_on_the_entity(site, chrome):
    login(chrome, site.url, "coord1", "pw-coord1", page="/console")
    cells = wait_for(lambda: chrome.execute_script("return window.gridwatchMap.seen.cells"), what="density hexagons")
    expected = dict(zip(site.ctx.entity_density[7].cells, site.ctx.entity_density[7].count.tolist()))
    assert {h3.get_resolution(c) for c in cells} == {7}
    assert cells == expected  # every res-7 cell of the city, with its count
    one = site.ctx.dataset.entities.iloc[4321]
    chrome.find_element(By.ID, "con-search").send_keys(one["uscc"] + "\n")
    name = wait_for(lambda: chrome.find_element(By.ID, "con-entity-name").text, what="the entity's details")
    assert name == one["name"]
    assert chrome.find_element(By.ID, "con-entity-uscc").text == one["uscc"]
    # The map flies to the entity, close enough that the layer draws entities, this one among them.
    wait_for(lambda: chrome.execute_script("return window.gridwatchMap.seen.points[arguments[0]]", one["uscc"]),
             what="the entity drawn as a point")
    assert console_errors(chrome) == []
