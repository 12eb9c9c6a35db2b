// Tasks on the Dash pages (CONTRACT.md section 8): the console's and wall's task markers (DOM
// icons, so an overdue one can flash on the canvas-rendered map), the deadlines counting down,
// and the terminal's "my tasks" cards with their steps (accept, start, handle with a note and
// photos; a level-1 supervisor's verify and close of his township's handled tasks) sent to the
// REST API. The words come from /static/i18n.js (dashboard/i18n.py).
window.gridwatchTasks = (function () {
  "use strict";
  const I = () => window.gridwatchI18n;
  const NEXT = {assigned: "accept", accepted: "start", in_progress: "handle", handled: "verify", verified: "close"};
  const CHECKING = new Set(["handled", "verified"]);     // the level-1 supervisor's to verify, close
  const drafts = {};          // task id -> the note being typed (kept across re-renders)
  const uploaded = {};        // task id -> photos uploaded
  let shown = "";

  function esc(s) {
    return String(s == null ? "" : s).replace(/[&<>"']/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
  }

  function left(deadlineIso, now) {
    const ms = Date.parse(deadlineIso) - (now || Date.now());
    const a = Math.abs(ms) / 1000;
    const h = Math.floor(a / 3600), m = Math.floor((a % 3600) / 60), s = Math.floor(a % 60);
    const v = h ? `${h}:${String(m).padStart(2, "0")}:${String(s).padStart(2, "0")}` : `${m}:${String(s).padStart(2, "0")}`;
    return {over: ms < 0, text: I().t(ms < 0 ? "tk_overdue_by" : "tk_left", {v})};
  }

  // every [data-deadline] on the page counts down, once a second
  function tick() {
    for (const el of document.querySelectorAll("[data-deadline]")) {
      const l = left(el.dataset.deadline);
      el.textContent = l.text;
      el.classList.toggle("gw-over", l.over);
    }
  }
  setInterval(tick, 1000);
  // a list drawn anew (Dash re-renders it every few seconds) shows its countdowns at once
  let queued = false;
  new MutationObserver(() => {
    if (queued) return;
    queued = true;
    requestAnimationFrame(() => { queued = false; tick(); });
  }).observe(document.documentElement, {childList: true, subtree: true});

  // -- the map layer ---------------------------------------------------------------------------
  function marker(feature, latlng) {
    const p = feature.properties || {};
    const cls = "gw-task-mark" + (p.overdue ? " gw-task-mark-overdue" : "");
    // grows with the screen as the supervisors' marks do: readable on the 4K wall
    const d = Math.round(18 * Math.max(1, window.innerWidth / 1920));
    // coloured by state (layers/palette.py TASK); an overdue one red and flashing (the stylesheet)
    const fill = p.overdue ? "" : `background:${stateColour(p.state)};`;
    return L.marker(latlng, {icon: L.divIcon({className: cls, html: `<span data-state="${esc(p.state || "")}" ` +
                                                `style="${fill}font-size:${Math.round(d * 0.6)}px;line-height:${d - 4}px">!</span>`,
                                              iconSize: [d, d]}),
                             keyboard: false, title: p.title || p.id});
  }
  function stateColour(state) {
    const T = (window.gridwatchTables || {}).task || {};
    return T[state] || (window.gridwatchTables || {}).accent;
  }
  // the wall legend's rows: one per open state, and the overdue mark
  function legendHtml() {
    const t = I().t, T = (window.gridwatchTables || {}).task || {};
    const sos = ((window.gridwatchTables || {}).status || {}).sos;
    const row = (c, label, cls) => `<div class="gw-lg ${cls}"><svg width="30" height="22" viewBox="0 0 30 22">` +
      `<circle cx="15" cy="11" r="7" fill="${c}" stroke="#fff" stroke-width="1.5"/>` +
      `<text x="15" y="15" text-anchor="middle" font-size="10" font-weight="700" fill="#fff">!</text></svg><span>${esc(label)}</span></div>`;
    return Object.keys(T).map((s) => row(T[s], t("lg_task", {state: t("tk_state_" + s)}), "gw-lg-task")).join("") +
      row(sos, t("lg_task_overdue"), "gw-lg-task");
  }
  function tooltip(feature, layer) {
    const p = feature.properties || {};
    layer.bindTooltip(`${esc(p.id)} · ${esc(p.title || "")}${p.overdue ? " · ⚠" : ""}`);
  }

  // -- the terminal's my tasks ----------------------------------------------------------------
  function card(x) {
    const t = I().t;
    // a draw's co-inspector goes with the lead: the steps are the lead's (the assignee's)
    const next = x.co_inspector ? null : NEXT[x.state];
    const l = left(x.deadline);
    // a handled task's deadline is met or missed already: no countdown on it
    const countdown = CHECKING.has(x.state) ? "" : `<span class="gw-task-countdown${l.over ? " gw-over" : ""}" data-deadline="${esc(x.deadline)}">${esc(l.text)}</span>`;
    const feedback = CHECKING.has(x.state) && x.feedback ? `<div class="gw-msg gw-task-feedback">${esc(x.feedback)}</div>` : "";
    let act = "";
    if (next === "handle") {
      act = `<textarea class="gw-task-note" data-id="${esc(x.id)}" rows="2" placeholder="${esc(t("tk_note"))}">${esc(drafts[x.id] || "")}</textarea>
        <div class="gw-actions"><label class="gw-task-photo secondary">${esc(t("tk_photo"))}
          <input type="file" accept="image/*" capture="environment" multiple data-id="${esc(x.id)}"></label>
          <button class="gw-task-act" data-id="${esc(x.id)}" data-act="handle">${esc(t("tk_handle"))}</button></div>
        <div class="gw-msg gw-task-uploaded">${uploaded[x.id] ? esc(t("tk_uploaded")) + " ×" + uploaded[x.id] : ""}</div>`;
    } else if (next) {
      act = `<div class="gw-actions"><button class="gw-task-act" data-id="${esc(x.id)}" data-act="${next}">${esc(t("tk_" + next))}</button></div>`;
    }
    return `<div class="gw-order gw-task${x.overdue ? " gw-task-overdue" : ""}" id="term-task-${esc(x.id)}" data-state="${esc(x.state)}">
      <div><b>${esc(x.category_name)}</b> · <span class="gw-msg">${esc(t("tk_state_" + x.state))}</span>
        ${countdown}</div>
      <div>${esc(x.description)}</div>${feedback}
      ${x.co_inspector ? `<div class="gw-msg gw-task-co">${esc(t("tk_co_inspector", {name: x.assignee_name || x.assignee}))}</div>` : ""}
      <div class="gw-msg">${esc(x.id)} · ${esc(x.grid_name)}${x.address ? " · " + esc(x.address) : ""}</div>
      <a href="geo:${x.lat},${x.lon}">${esc(t("map_link"))}</a>
      ${act}
      <div class="gw-msg gw-task-msg"></div></div>`;
  }

  function renderTerminal(tasks) {
    const box = document.getElementById("term-tasks");
    if (!box) return window.dash_clientside.no_update;
    tasks = tasks || [];
    const key = JSON.stringify(tasks.map((x) => [x.id, x.state, x.overdue, x.deadline]));
    if (key === shown && box.childElementCount) return window.dash_clientside.no_update;
    const before = new Set([...box.querySelectorAll(".gw-task")].map((e) => e.id));
    shown = key;
    box.innerHTML = tasks.length ? tasks.map(card).join("") : `<p class="gw-msg">${esc(I().t("tk_none"))}</p>`;
    // a task that was not there before: said once, and the phone buzzes
    const fresh = tasks.filter((x) => before.size && !before.has("term-task-" + x.id));
    if (fresh.length && navigator.vibrate) navigator.vibrate([200, 100, 200]);
    for (const x of fresh) document.getElementById("term-task-" + x.id).classList.add("gw-task-new");
    return key;
  }

  async function post(url, opts) {
    const r = await fetch(url, Object.assign({method: "POST", credentials: "same-origin"}, opts));
    const j = await r.json().catch(() => null);
    if (!r.ok) throw new Error((j && (j.error || j.reason || (j[0] && j[0].description))) || String(r.status));
    return j;
  }
  function poke() { window.dash_clientside.set_props("term-tasks-poke", {data: Date.now()}); }

  document.addEventListener("input", (e) => {
    if (e.target.classList && e.target.classList.contains("gw-task-note")) drafts[e.target.dataset.id] = e.target.value;
  });
  document.addEventListener("change", async (e) => {
    const input = e.target;
    if (!(input.closest && input.closest(".gw-task-photo"))) return;
    const id = input.dataset.id;
    const msg = document.querySelector(`#term-task-${CSS.escape(id)} .gw-task-uploaded`);
    for (const f of input.files) {
      const fd = new FormData();
      fd.append("file", f, f.name);
      try {
        await post(`/api/tasks/${encodeURIComponent(id)}/media`, {body: fd});
        uploaded[id] = (uploaded[id] || 0) + 1;
        if (msg) msg.textContent = `${I().t("tk_uploaded")} ×${uploaded[id]}`;
      } catch (err) {
        if (msg) msg.textContent = "✗ " + err.message;
      }
    }
    input.value = "";
  });
  document.addEventListener("click", async (e) => {
    const btn = e.target.closest && e.target.closest(".gw-task-act");
    if (!btn) return;
    const id = btn.dataset.id, act = btn.dataset.act;
    const msg = document.querySelector(`#term-task-${CSS.escape(id)} .gw-task-msg`);
    const body = act === "handle" ? {note: drafts[id] || ""} : {};
    btn.disabled = true;
    try {
      await post(`/api/tasks/${encodeURIComponent(id)}/${act}`, {headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)});
      if (act === "handle") { delete drafts[id]; delete uploaded[id]; }
      if (msg) msg.textContent = I().t("tk_done");
      poke();
    } catch (err) {
      btn.disabled = false;
      if (msg) msg.textContent = "✗ " + err.message;
    }
  });

  return {marker, tooltip, renderTerminal, left, legendHtml, stateColour};
})();
