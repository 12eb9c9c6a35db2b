// /report: a reporter files a problem from his phone (GeoReport v2 POST requests.json, multipart)
// and follows his reports. The point starts at the phone's location and moves with the marker;
// /api/report/point turns map points (the tiles' datum) and WeChat's GCJ-02 points into WGS-84
// and names the grid there.
(function () {
  "use strict";
  const t = window.gridwatchI18n.t;
  const V2 = "/api/open311/v2/";
  const REOPEN_MS = 7 * 24 * 3600 * 1000;
  const body = document.body;
  const $ = (id) => document.getElementById(id);
  const S = {point: null, marker: null, outline: null, photos: [], voice: null, rec: null, cats: {}, busy: false};

  function esc(s) {
    return String(s == null ? "" : s).replace(/[&<>"']/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
  }
  async function call(path, opts) {
    const r = await fetch(path, Object.assign({credentials: "same-origin"}, opts || {}));
    const j = await r.json().catch(() => null);
    if (!r.ok) throw {status: r.status, body: j};
    return j;
  }
  function errText(e) {
    if (e && Array.isArray(e.body) && e.body[0]) return e.body[0].description;
    if (e && e.body && e.body.error) return e.body.error;
    return t("rp_err_network");
  }
  function when(iso) {
    if (!iso) return "";
    const d = new Date(iso);
    const p = (n) => String(n).padStart(2, "0");
    return `${d.getMonth() + 1}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}`;
  }

  // -- the map and the point ----------------------------------------------------------------
  const bounds = JSON.parse(body.dataset.bounds || "null");
  const map = L.map("rp-map", {attributionControl: !!body.dataset.tiles, zoomControl: true});
  if (body.dataset.tiles) {
    L.tileLayer(body.dataset.tiles, {maxZoom: 19, attribution: body.dataset.attribution || ""}).addTo(map);
  }
  if (bounds) map.fitBounds(bounds); else map.setView([0, 0], 2);

  async function setPoint(lat, lon, datum, recentre) {
    let p;
    try {
      p = await call(`/api/report/point?lat=${lat}&lon=${lon}&datum=${datum}`);
    } catch (e) {
      $("rp-where").textContent = errText(e);
      return;
    }
    S.point = {lat: p.lat, lon: p.lon};
    const ll = [p.map.lat, p.map.lon];
    if (!S.marker) {
      S.marker = L.marker(ll, {draggable: true, autoPan: true}).addTo(map);
      S.marker.on("dragend", () => { const m = S.marker.getLatLng(); setPoint(m.lat, m.lng, "map", false); });
    } else {
      S.marker.setLatLng(ll);
    }
    if (S.outline) S.outline.remove();
    S.outline = p.grid ? L.geoJSON(p.grid.outline, {style: {color: "#2563eb", weight: 2, fillOpacity: 0.05}, interactive: false}).addTo(map) : null;
    if (recentre) map.setView(ll, Math.max(map.getZoom(), 16));
    const where = `${p.lat.toFixed(5)}, ${p.lon.toFixed(5)}`;
    const el = $("rp-where");
    el.textContent = p.grid ? t("rp_in_grid", {grid: p.grid.name, where}) : t("rp_outside", {where});
    el.className = p.grid ? "rp-msg" : "rp-msg rp-warn";
    el.dataset.grid = p.grid ? p.grid.id : "";
  }
  map.on("click", (e) => setPoint(e.latlng.lat, e.latlng.lng, "map", false));

  function locate() {
    $("rp-where").textContent = t("rp_l_locating");
    // opened from the WeChat official account with its JS-SDK: WeChat's location, in GCJ-02
    if (window.wx && typeof window.wx.getLocation === "function") {
      window.wx.getLocation({type: "gcj02", success: (res) => setPoint(res.latitude, res.longitude, "gcj02", true),
                             fail: noLocation, cancel: noLocation});
      return;
    }
    // the browser's own location is WGS-84 (W3C Geolocation)
    if (!navigator.geolocation) { noLocation(); return; }
    navigator.geolocation.getCurrentPosition(
      (pos) => setPoint(pos.coords.latitude, pos.coords.longitude, "wgs84", true),
      noLocation, {enableHighAccuracy: true, timeout: 15000, maximumAge: 30000});
  }
  function noLocation() {
    $("rp-where").textContent = t("rp_no_location");
    $("rp-where").className = "rp-msg rp-warn";
  }
  $("rp-locate").addEventListener("click", locate);

  // -- categories -----------------------------------------------------------------------------
  async function loadCategories() {
    const services = await call(V2 + "services.json");
    const groups = {};
    for (const s of services) {
      S.cats[s.service_code] = s.service_name;
      (groups[s.group || ""] = groups[s.group || ""] || []).push(s);
    }
    const sel = $("rp-category");
    for (const g of Object.keys(groups)) {
      const parent = groups[g].length > 1 && g ? Object.assign(document.createElement("optgroup"), {label: g}) : sel;
      for (const s of groups[g]) {
        parent.appendChild(Object.assign(document.createElement("option"), {value: s.service_code, textContent: s.service_name}));
      }
      if (parent !== sel) sel.appendChild(parent);
    }
  }

  // -- photos and the voice note ---------------------------------------------------------------
  function showAttached() {
    const items = S.photos.map((f, i) => `<span class="rp-chip" data-i="${i}">${esc(f.name)} <button type="button" data-drop="${i}">×</button></span>`);
    if (S.voice) items.push(`<span class="rp-chip"><audio controls src="${S.voice.url}"></audio> <button type="button" data-drop="voice">×</button></span>`);
    $("rp-attached").innerHTML = items.join("");
  }
  $("rp-attached").addEventListener("click", (e) => {
    const d = e.target.dataset && e.target.dataset.drop;
    if (d === undefined) return;
    if (d === "voice") S.voice = null; else S.photos.splice(Number(d), 1);
    showAttached();
  });
  $("rp-photos").addEventListener("change", (e) => {
    for (const f of e.target.files) S.photos.push(f);
    e.target.value = "";
    showAttached();
  });
  $("rp-record").addEventListener("click", async () => {
    const btn = $("rp-record");
    if (S.rec) { S.rec.stop(); return; }
    if (!navigator.mediaDevices || !window.MediaRecorder) { $("rp-msg").textContent = t("rp_no_recorder"); return; }
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({audio: true});
    } catch (_e) {
      $("rp-msg").textContent = t("rp_no_microphone");
      return;
    }
    const type = ["audio/webm", "audio/mp4"].find((m) => MediaRecorder.isTypeSupported(m)) || "";
    const rec = new MediaRecorder(stream, type ? {mimeType: type} : {});
    const chunks = [];
    rec.ondataavailable = (ev) => { if (ev.data.size) chunks.push(ev.data); };
    rec.onstop = () => {
      stream.getTracks().forEach((tr) => tr.stop());
      // the server checks the declared type against the bytes: declare the container only
      const mime = (rec.mimeType || type || "audio/webm").split(";")[0];
      const blob = new Blob(chunks, {type: mime});
      S.voice = new File([blob], mime === "audio/mp4" ? "voice.m4a" : "voice.webm", {type: mime});
      S.voice.url = URL.createObjectURL(blob);
      S.rec = null;
      btn.textContent = t("rp_l_voice");
      btn.classList.remove("rp-recording");
      showAttached();
    };
    rec.start();
    S.rec = rec;
    btn.textContent = t("rp_voice_stop");
    btn.classList.add("rp-recording");
  });

  // -- filing ----------------------------------------------------------------------------------
  $("rp-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    if (S.busy) return;
    const msg = $("rp-msg");
    const code = $("rp-category").value;
    if (!code) { msg.textContent = t("rp_need_category"); msg.className = "rp-msg rp-warn"; return; }
    if (!S.point) { msg.textContent = t("rp_need_point"); msg.className = "rp-msg rp-warn"; return; }
    const fd = new FormData();
    fd.append("service_code", code);
    fd.append("lat", String(S.point.lat));
    fd.append("long", String(S.point.lon));
    fd.append("description", $("rp-desc").value);
    for (const f of S.photos) fd.append("media", f, f.name);
    if (S.voice) fd.append("media", S.voice, S.voice.name);
    S.busy = true;
    $("rp-submit").disabled = true;
    msg.textContent = t("rp_sending");
    msg.className = "rp-msg";
    try {
      const [out] = await call(V2 + "requests.json", {method: "POST", body: fd});
      const dup = /task (\S+) is open/.exec(out.service_notice || "");
      msg.innerHTML = `<span id="rp-filed" data-id="${esc(out.service_request_id)}">✓ ${esc(t("rp_filed", {id: out.service_request_id}))}</span>` +
        (out.service_notice ? `<div id="rp-duplicate" class="rp-warn" data-of="${esc(dup ? dup[1] : "")}">${esc(dup ? t("rp_duplicate", {id: dup[1]}) : out.service_notice)}</div>` : "");
      msg.className = "rp-msg rp-ok";
      $("rp-desc").value = "";
      S.photos = [];
      S.voice = null;
      showAttached();
      loadMine();
    } catch (err) {
      msg.textContent = "✗ " + errText(err);
      msg.className = "rp-msg rp-warn";
    } finally {
      S.busy = false;
      $("rp-submit").disabled = false;
    }
  });

  // -- his reports -------------------------------------------------------------------------------
  const STEPS = ["reported", "assigned", "accepted", "in_progress", "handled", "verified", "closed"];

  function card(task) {
    const closedAt = task.closed_at ? Date.parse(task.closed_at) : null;
    const reopenable = task.state === "closed" && closedAt && Date.now() - closedAt < REOPEN_MS && !task.sealed_at;
    const at = STEPS.indexOf(task.state);
    const bar = STEPS.map((s, i) => `<span class="rp-step${i <= at ? " done" : ""}${i === at ? " now" : ""}">${esc(t("tk_state_" + s))}</span>`).join("");
    const steps = (task.history || []).map((h) =>
      `<li><time>${esc(when(h.at))}</time> ${esc(window.gridwatchI18n.code("tk_act", h.action))}${h.note ? " · " + esc(h.note) : ""}</li>`).join("");
    const media = (task.media || []).filter((m) => m.type.startsWith("image/")).map((m) =>
      `<img src="/api/media/${esc(m.sha256)}" alt="" loading="lazy">`).join("");
    const feedback = task.feedback ? `<div class="rp-feedback" id="rp-feedback-${esc(task.id)}"><b>${esc(t("rp_feedback"))}</b> ${esc(task.feedback)}</div>` : "";
    const reason = task.state === "rejected" ? `<div class="rp-feedback">${esc(window.gridwatchI18n.code("tk_reason", task.reason))}</div>` : "";
    const reopen = reopenable ? `<div class="rp-row"><input class="rp-reopen-note" placeholder="${esc(t("rp_reopen_why"))}">
      <button type="button" class="rp-secondary rp-reopen" data-id="${esc(task.id)}">${esc(t("rp_reopen"))}</button></div>` : "";
    return `<div class="rp-report" id="rp-r-${esc(task.id)}" data-state="${esc(task.state)}">
      <div><b>${esc(S.cats[task.category] || task.category)}</b> · <span class="rp-state">${esc(t("tk_state_" + task.state))}</span></div>
      <div class="rp-msg">${esc(task.id)} · ${esc(when(task.reported_at))}</div>
      <div>${esc(task.description)}</div>
      ${task.state === "rejected" ? "" : `<div class="rp-bar">${bar}</div>`}
      ${feedback}${reason}
      <div class="rp-media">${media}</div>
      <details><summary>${esc(t("rp_steps"))}</summary><ol class="rp-steps">${steps}</ol></details>
      ${reopen}</div>`;
  }

  async function loadMine() {
    let tasks;
    try {
      tasks = await call("/api/tasks?limit=30");
    } catch (e) {
      $("rp-list").textContent = errText(e);
      return;
    }
    // his own only (a coordinator trying the page sees what he filed, not everyone's)
    tasks = tasks.filter((x) => x.reporter_account === body.dataset.account);
    const full = await Promise.all(tasks.map((x) => call(`/api/tasks/${encodeURIComponent(x.id)}`).catch(() => x)));
    const open = document.querySelectorAll("#rp-list details[open]");
    const keep = new Set([...open].map((d) => d.closest(".rp-report").id));
    $("rp-list").innerHTML = full.length ? full.map(card).join("") : `<p class="rp-msg">${esc(t("rp_none"))}</p>`;
    for (const id of keep) { const d = document.querySelector(`#${CSS.escape(id)} details`); if (d) d.open = true; }
  }
  $("rp-list").addEventListener("click", async (e) => {
    const btn = e.target.closest(".rp-reopen");
    if (!btn) return;
    const note = btn.parentElement.querySelector(".rp-reopen-note").value;
    try {
      await call(`/api/tasks/${encodeURIComponent(btn.dataset.id)}/reopen`, {
        method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify({note: note || null})});
    } catch (err) {
      $("rp-msg").textContent = "✗ " + errText(err);
    }
    loadMine();
  });

  loadCategories().catch((e) => { $("rp-msg").textContent = errText(e); });
  locate();
  loadMine();
  setInterval(() => { if (!document.hidden && !document.querySelector(".rp-reopen-note:focus")) loadMine(); }, 10000);
  window.gridwatchReport = {state: S, setPoint, loadMine};
})();
