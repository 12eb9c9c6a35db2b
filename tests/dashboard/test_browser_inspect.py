"""The terminal's inspection part in headless Chromium on a 390x844 phone page against a real
stack (PostgreSQL, Redis, Mosquitto, uvicorn): Chromium's fake camera plays a video made here
from a QR plate and the page scans the entity; the checklist is answered with the big buttons,
a photo attached to an item; each inspector and the entity's representative sign with pointer
strokes; the network is cut (DevTools offline) before sealing, the page reloaded offline (the
service worker serves it, the queue is still there), the network comes back: exactly one sealed
record is on the server, with all its media."""
from __future__ import annotations

import io

import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from tests.dashboard.conftest import serve
from testkit.waiting import wait_for

pytestmark = pytest.mark.browser
W, H = 640, 480


def qr_video(path, text: str, frames: int = 20) -> None:
    """A y4m (I420) video of a QR code on white, for --use-file-for-fake-video-capture."""
    import segno
    from PIL import Image

    buf = io.BytesIO()
    segno.make(text, error="m").save(buf, kind="png", scale=8, border=4)
    qr = Image.open(buf).convert("L")
    qr.thumbnail((H - 40, H - 40))
    img = Image.new("L", (W, H), 255)
    img.paste(qr, ((W - qr.width) // 2, (H - qr.height) // 2))
    frame = b"FRAME\n" + img.tobytes() + bytes([128]) * (W * H // 2)
    with open(path, "wb") as f:
        f.write(f"YUV4MPEG2 W{W} H{H} F10:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            f.write(frame)


def offline(driver, on: bool) -> None:
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd("Network.emulateNetworkConditions", {
        "offline": on, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})


def draw(driver, canvas, seed: int) -> None:
    """A signature: two strokes of pointer moves over the canvas."""
    actions = ActionChains(driver)
    w = canvas.size["width"]
    for stroke in range(2):     # selenium 4.2: the offset is from the element's top-left corner
        actions.move_to_element_with_offset(canvas, w // 6, 50 + 40 * stroke).click_and_hold()
        for k in range(8):
            actions.move_by_offset(w // 12, (-1) ** (k + seed) * 12)
        actions.release()
    actions.perform()


def tap(driver, element) -> None:
    """Scrolls the element to the middle of the screen (clear of the sticky tab bar) and taps it."""
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
    element.click()


def tap_css(driver, css: str, what: str) -> None:
    """Taps the element the selector finds, finding it again if the page redrew it meanwhile
    (the queue is redrawn whenever the outbox moves)."""
    wait_for(lambda: tap(driver, driver.find_element(By.CSS_SELECTOR, css)) or True, what=what)


def rows(stack, uscc):
    from gridwatch.db import connect

    with connect(stack.settings.db_url()) as conn, conn.cursor() as cur:
        cur.execute("SELECT id, sealed_at, hash, kind, inspectors, answers, signatures FROM inspections "
                    "WHERE uscc = %s AND created_by = 'user:sup1'", (uscc,))
        found = [dict(r) for r in cur.fetchall()]
        for r in found:
            cur.execute("SELECT sha256, item FROM record_media WHERE record_type = 'inspection' AND record_id = %s",
                        (r["id"],))
            r["media"] = list(cur.fetchall())
    return found


def test_scan_check_sign_offline_reload_and_one_sealed_record(web_stack, tmp_path):
    from PIL import Image

    from testkit.browser import chrome

    stack = web_stack
    ctx = stack.ctx
    me = stack.accounts.get("sup1").person
    other = next(p for p in ctx.registry.people("l2_supervisor") if p.id != me)
    e = ctx.dataset.entities
    ent = e[(e["category"] == "food_retail") & e["grid"].notna()].iloc[11]
    photo = tmp_path / "shelf.png"
    Image.new("RGB", (320, 240), (200, 40, 40)).save(photo)

    with serve(stack.server) as web:
        video = tmp_path / "plate.y4m"
        qr_video(video, f"{web.url}/terminal?uscc={ent['uscc']}")   # our own entity plate
        phone = chrome(tmp_path / "phone", 390, 844, phone=True, extra=(
            "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
            f"--use-file-for-fake-video-capture={video}"))
        try:
            phone.get(f"{web.url}/login?next=/terminal")
            phone.find_element(By.NAME, "username").send_keys("sup1")
            phone.find_element(By.NAME, "password").send_keys("pw-sup1")
            phone.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
            wait_for(lambda: phone.find_elements(By.ID, "ins-tab"), what="the inspection tab")
            phone.find_element(By.ID, "ins-tab").click()
            # the page's USCC check agrees with geodata.uscc (GB 32100), and a code's text is searched for one
            import random

            from geodata import uscc as U

            rnd = random.Random(15)
            codes = [U.generate(rnd, "360602") for _ in range(40)]
            codes += [c[:17] + next(x for x in U.ALPHABET if x != c[17]) for c in codes[:20]]
            assert phone.execute_script("return arguments[0].map(window.gridwatchInspect.usccValid)", codes) == \
                [U.is_valid(c) for c in codes]
            u = ent["uscc"]
            found = phone.execute_script("return arguments[0].map(window.gridwatchInspect.findUscc)", [
                f"https://example.org/e-licence?id=ABC&code={u}&t=1", f"{u.lower()}", f"统一社会信用代码：{u}",
                u[:17] + ("0" if u[17] != "0" else "1"), "no code here"])
            assert found == [u, u, u, None, None]
            wait_for(lambda: phone.find_element(By.ID, "ins-scan").is_displayed(), what="the scan button")
            wait_for(lambda: phone.execute_script(
                "return navigator.serviceWorker.controller !== null"), timeout=30, what="the service worker in control")
            phone.find_element(By.ID, "ins-scan").click()
            wait_for(lambda: ent["name"] in phone.find_element(By.ID, "ins-entity").text
                     if phone.find_elements(By.ID, "ins-entity") else None, timeout=30, what="the scanned entity's card")
            assert ent["uscc"] in phone.find_element(By.ID, "ins-entity").text

            Select(phone.find_element(By.ID, "ins-kind")).select_by_value("double_random")
            phone.find_element(By.ID, "ins-second").send_keys(other.id)
            assert Select(phone.find_element(By.ID, "ins-checklist")).first_selected_option.get_attribute("value") == "food_sales"
            tap(phone, phone.find_element(By.ID, "ins-start"))

            wait_for(lambda: phone.find_elements(By.CSS_SELECTOR, ".gw-ins-item"), what="the checklist")
            item = phone.find_element(By.CSS_SELECTOR, '.gw-ins-item[data-code="FS-4.2"]')
            tap(phone, item.find_element(By.CSS_SELECTOR, ".gw-ins-answer.fail"))
            item.find_element(By.CSS_SELECTOR, ".ins-note").send_keys("防蝇设施缺失")
            item.find_element(By.CSS_SELECTOR, "input.ins-photo").send_keys(str(photo))
            wait_for(lambda: "1" in item.find_element(By.CSS_SELECTOR, ".ins-media-count").text, what="the photo kept")
            tap(phone, phone.find_element(By.ID, "ins-rest-pass"))
            wait_for(lambda: phone.find_elements(By.CSS_SELECTOR, ".gw-ins-pad"), what="the signature pads")
            pads = phone.find_elements(By.CSS_SELECTOR, ".gw-ins-pad")
            assert [p.get_attribute("data-slot") for p in pads] == [f"inspector:{me}", f"inspector:{other.id}", "entity"]
            phone.find_element(By.ID, "ins-entity-name").send_keys("王店长")
            for k, pad in enumerate(pads):
                phone.execute_script("arguments[0].scrollIntoView({block: 'center'})", pad)
                draw(phone, pad, k)
            wait_for(lambda: phone.execute_script(
                "return Object.values(window.gridwatchInspect.state.pads).every(p => !p.isEmpty())"), what="three signatures")

            phone.save_screenshot(str(tmp_path / "signed.png"))
            offline(phone, True)
            tap(phone, phone.find_element(By.ID, "ins-seal"))
            wait_for(lambda: phone.find_elements(By.CSS_SELECTOR, '.gw-ins-card[data-state="queued"]'), what="queued offline")
            assert rows(stack, ent["uscc"]) == []                      # nothing reached the server

            phone.refresh()                                             # offline: the service worker serves the page
            wait_for(lambda: phone.find_elements(By.CSS_SELECTOR, '.gw-ins-card[data-state="queued"]'), timeout=30,
                     what="the queue after an offline reload")
            assert ent["name"] in phone.find_element(By.ID, "ins-queue").text

            offline(phone, False)
            wait_for(lambda: (r := rows(stack, ent["uscc"])) and r[0]["sealed_at"] is not None, timeout=60,
                     what="the sealed record on the server")
            wait_for(lambda: phone.find_elements(By.CSS_SELECTOR, '.gw-ins-card[data-state="sealed"]'), what="sealed on the phone")
            phone.execute_script("window.gridwatchInspect.sync()")     # a resend changes nothing
            [rec] = rows(stack, ent["uscc"])
            assert rec["kind"] == "double_random" and rec["inspectors"] == [me, other.id]
            assert rec["answers"]["FS-4.2"] == {"result": "fail", "note": "防蝇设施缺失"}
            items = sorted(m["item"] for m in rec["media"])
            assert "FS-4.2" in items and f"signature:inspector:{me}" in items and "signature:entity" in items
            assert f"signature:inspector:{other.id}:strokes" in items
            photo_sha = __import__("hashlib").sha256(photo.read_bytes()).hexdigest()
            assert {"sha256": photo_sha, "item": "FS-4.2"} in rec["media"]
            assert {s["party"] for s in rec["signatures"]} == {"inspector", "entity"} and len(rec["signatures"]) == 3

            tap_css(phone, '.gw-ins-card[data-state="sealed"] .ins-open', "the sealed inspection's open button")
            wait_for(lambda: phone.execute_script(
                "const i = document.getElementById('ins-receipt-qr'); return i && i.complete && i.naturalWidth > 0"),
                what="the receipt QR")
            assert "/r/" in phone.find_element(By.ID, "ins-receipt-link").text
            assert rec["hash"] in phone.find_element(By.ID, "gw-inspect").text
            assert phone.execute_script("return [window.innerWidth, document.documentElement.scrollWidth]") == [390, 390]
            phone.save_screenshot(str(tmp_path / "receipt.png"))
            phone.get(phone.find_element(By.ID, "ins-receipt-link").text)     # what the representative sees
            wait_for(lambda: rec["hash"] in phone.find_element(By.TAG_NAME, "body").text, what="the receipt page")
            assert ent["name"] in phone.page_source and "基本符合" in phone.page_source
            phone.save_screenshot(str(tmp_path / "receipt_page.png"))
            print("screenshots in", tmp_path)
        finally:
            phone.quit()
    assert len(rows(stack, ent["uscc"])) == 1
