// The terminal's inspection part (/terminal, CONTRACT.md section 9), written as plain client-side
// JS so it works without a network: Dash cannot fetch its layout or run callbacks offline.
// Scan a code (barcode-detector's ZXing wasm, self-hosted) or search; the entity's card; the
// checklist as big buttons with photos, voice and video per item; signatures (signature_pad,
// strokes kept); seal. Everything is kept in IndexedDB first (an outbox with the inspection's
// own UUID and its media as blobs) and sent when the network is there: on page open, on the
// `online` event, after sealing and every RETRY_MS while something waits. Every step is
// idempotent on the server (create by id, answers merged, media by SHA-256, a signature
// replaces the party's own, a second seal is 409 and read back), so a resend never makes a
// second record. The service worker (/sw.js) keeps the page's files for a reload offline.
// Other pages load this file too (Dash loads every asset): it does nothing off /terminal.
(function () {
  if (!/^\/terminal\/?$/.test(location.pathname)) return;
  const T = (k, p) => (window.gridwatchI18n ? window.gridwatchI18n.t(k, p) : k);
  const VENDOR = "/static/inspect/vendor/";
  const CACHE = "gw-terminal-v1";
  const RETRY_MS = 15000;
  const KINDS = ["routine", "double_random", "special", "task"];
  const USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY";
  const S = {me: null, checklists: [], current: null, entity: null, pads: {}, syncing: false, stream: null,
             recorder: null, view: "home"};

  // -- IndexedDB: inspections (the outbox), blobs (media), kv (checklists, entities, me) -------------
  const DB = new Promise((resolve, reject) => {
    const req = indexedDB.open("gridwatch-inspect", 1);
    req.onupgradeneeded = () => {
      const db = req.result;
      db.createObjectStore("inspections", {keyPath: "id"});
      db.createObjectStore("blobs");
      db.createObjectStore("kv");
    };
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
  function idb(store, mode, fn) {
    return DB.then((db) => new Promise((resolve, reject) => {
      const t = db.transaction(store, mode);
      const r = fn(t.objectStore(store));
      t.oncomplete = () => resolve(r ? r.result : undefined);
      t.onerror = () => reject(t.error);
      t.onabort = () => reject(t.error);
    }));
  }
  const dbGet = (store, key) => idb(store, "readonly", (s) => s.get(key));
  const dbPut = (store, value, key) => idb(store, "readwrite", (s) => (key === undefined ? s.put(value) : s.put(value, key)));
  const dbAll = (store) => idb(store, "readonly", (s) => s.getAll());
  async function save(insp) { insp.updated = Date.now(); await dbPut("inspections", insp); }

  // -- small DOM helpers --------------------------------------------------------------------------
  function el(tag, attrs, ...kids) {
    const n = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k.startsWith("on")) n.addEventListener(k.slice(2), v);
      else if (k === "class") n.className = v;
      else n.setAttribute(k, v === true ? "" : v);
    }
    for (const k of kids.flat()) if (k !== null && k !== undefined && k !== false) n.append(k);
    return n;
  }
  let root, status, bar;
  function msg(text, bad) { status.textContent = text || ""; status.className = "gw-ins-status" + (bad ? " bad" : ""); }
  function loadScript(src) {
    return new Promise((resolve, reject) => {
      if (document.querySelector(`script[data-src="${src}"]`)) return resolve();
      const s = el("script", {src, "data-src": src});
      s.onload = resolve; s.onerror = () => reject(new Error("cannot load " + src));
      document.head.append(s);
    });
  }

  // -- USCC (GB 32100-2015): 18 characters, the last a mod-31 check over the first 17 ------------
  function usccValid(s) {
    if (!/^[0-9A-HJ-NPQRTUWXY]{18}$/.test(s) || !/^\d{6}$/.test(s.slice(2, 8))) return false;
    let total = 0;
    for (let i = 0; i < 17; i++) total += USCC_ALPHABET.indexOf(s[i]) * (Math.pow(3, i) % 31);
    return USCC_ALPHABET[(31 - (total % 31)) % 31] === s[17];
  }
  function findUscc(text) {
    const up = String(text || "").toUpperCase();
    let loose = null;
    for (let i = 0; i + 18 <= up.length; i++) {
      const s = up.slice(i, i + 18);
      if (!usccValid(s)) continue;
      const edge = (c) => c === undefined || !/[0-9A-Z]/.test(c);
      if (edge(up[i - 1]) && edge(up[i + 18])) return s;   // a whole token first
      loose = loose || s;
    }
    return loose;
  }
  window.gridwatchInspect = {findUscc, usccValid, sync: () => sync(), state: S};

  // -- the network ------------------------------------------------------------------------------------
  async function api(method, path, body, isForm) {
    const opt = {method, credentials: "same-origin", headers: {}};
    if (body !== undefined) {
      if (isForm) opt.body = body;
      else { opt.body = JSON.stringify(body); opt.headers["Content-Type"] = "application/json"; }
    }
    const res = await fetch(path, opt);          // a TypeError here: no network
    let data = null;
    try { data = await res.json(); } catch (e) { data = null; }
    return {status: res.status, data};
  }
  async function cached(key, path) {
    try {
      const r = await api("GET", path);
      if (r.status === 200) { await dbPut("kv", r.data, key); return r.data; }
    } catch (e) { /* offline: the copy kept last time */ }
    return dbGet("kv", key);
  }

  // -- the service worker and the page's own files in its cache -------------------------------------
  async function keepPageOffline() {
    if (!("serviceWorker" in navigator)) return;
    try { await navigator.serviceWorker.register("/sw.js", {scope: "/"}); } catch (e) { return; }
    if (!navigator.onLine || !window.caches) return;
    const urls = new Set(["/terminal", "/static/i18n.js"]);
    for (const e of performance.getEntriesByType("resource")) {
      const u = new URL(e.name);
      if (u.origin === location.origin && /^\/(assets|static|_dash-component-suites)\//.test(u.pathname)) urls.add(u.pathname + u.search);
      if (u.origin === location.origin && /^\/_dash-(layout|dependencies)$/.test(u.pathname)) urls.add(u.pathname);
    }
    for (const s of document.scripts) if (s.src && new URL(s.src).origin === location.origin) urls.add(new URL(s.src).pathname + new URL(s.src).search);
    for (const l of document.querySelectorAll("link[rel=stylesheet]")) urls.add(new URL(l.href).pathname + new URL(l.href).search);
    const cache = await caches.open(CACHE);
    for (const u of urls) {
      if (await cache.match(u)) continue;
      try { const r = await fetch(u, {credentials: "same-origin"}); if (r.ok && !r.redirected) await cache.put(u, r); } catch (e) { /* next time */ }
    }
  }

  // -- views ------------------------------------------------------------------------------------------
  function show(view) { S.view = view; render(); window.scrollTo(0, 0); }
  function tabs() {
    const dash = document.getElementById("react-entry-point");
    const inspect = sessionStorage.getItem("gw-tab") !== "orders";
    if (dash) dash.style.display = inspect ? "none" : "";
    root.style.display = inspect ? "" : "none";
    for (const b of bar.querySelectorAll("button")) b.classList.toggle("on", (b.dataset.tab === "inspect") === inspect);
  }
  function render() {
    stopCamera();
    root.replaceChildren(status, ...({home: viewHome, entity: viewEntity, form: viewForm, receipt: viewReceipt}[S.view] || viewHome)());
  }

  function viewHome() {
    const q = el("input", {id: "ins-q", type: "search", placeholder: T("ins_search"), class: "gw-ins-input"});
    const results = el("div", {id: "ins-results"});
    const video = el("video", {id: "ins-video", playsinline: true, muted: true, style: "display:none"});
    const scanBtn = el("button", {id: "ins-scan", class: "gw-ins-big", onclick: () => startScan(video, scanBtn, q, results)}, T("ins_scan"));
    const queue = el("div", {id: "ins-queue"});
    listQueue(queue);
    return [
      el("div", {class: "gw-ins-row"}, scanBtn),
      video,
      el("div", {class: "gw-ins-row"}, q, el("button", {id: "ins-search", onclick: () => search(q.value, results)}, T("ins_search_go"))),
      results,
      el("h3", {}, T("ins_queue")), queue,
    ];
  }

  async function listQueue(box) {
    const all = (await dbAll("inspections")).sort((a, b) => b.updated - a.updated);
    if (!all.length) { box.replaceChildren(el("p", {class: "gw-msg"}, T("ins_queue_empty"))); return; }
    box.replaceChildren(...all.map((i) => el("div", {class: "gw-ins-card", "data-id": i.id, "data-state": i.state},
      el("b", {}, i.entityName || i.uscc), " · ", el("span", {class: "ins-state"}, T("ins_state_" + i.state)),
      i.result ? [" · ", T("ins_result_" + i.result)] : null,
      i.error ? el("div", {class: "gw-msg bad"}, i.error) : null,
      el("div", {class: "gw-msg"}, new Date(i.started).toLocaleString()),
      el("button", {class: "ins-open", onclick: () => openInspection(i.id)}, T("ins_open")))));
  }

  async function search(q, box) {
    const u = findUscc(q);
    if (u) return openEntity(u);
    try {
      const r = await api("GET", "/api/entities?limit=20&q=" + encodeURIComponent(q.trim()));
      const rows = r.status === 200 ? r.data : [];
      box.replaceChildren(...(rows.length ? rows.map((e) => el("button", {class: "gw-ins-hit", "data-uscc": e.uscc, onclick: () => openEntity(e.uscc)},
        e.name, el("small", {}, " " + e.uscc))) : [el("p", {class: "gw-msg"}, T("ins_no_results"))]));
    } catch (e) { msg(T("ins_offline"), true); }
  }

  // -- scanning -------------------------------------------------------------------------------------
  function stopCamera() {
    if (S.stream) { for (const t of S.stream.getTracks()) t.stop(); S.stream = null; }
  }
  async function startScan(video, btn, q, results) {
    if (S.stream) { stopCamera(); video.style.display = "none"; btn.textContent = T("ins_scan"); return; }
    try {
      await loadScript(VENDOR + "barcode-detector.js");
      const B = window.BarcodeDetectionAPI;
      await B.prepareZXingModule({overrides: {locateFile: (path, prefix) => (path.endsWith(".wasm") ? VENDOR + "zxing_reader.wasm" : prefix + path)},
                                  fireImmediately: true});
      const detector = new B.BarcodeDetector({formats: ["qr_code", "data_matrix", "code_128", "pdf417"]});
      S.stream = await navigator.mediaDevices.getUserMedia({video: {facingMode: "environment"}, audio: false});
      video.srcObject = S.stream;
      video.style.display = "";
      btn.textContent = T("ins_scan_stop");
      msg(T("ins_scan_hint"));
      await video.play();
      const tick = async () => {
        if (!S.stream) return;
        try {
          const codes = video.readyState >= 2 ? await detector.detect(video) : [];
          for (const c of codes) {
            const u = findUscc(c.rawValue);
            if (u) { stopCamera(); return openEntity(u); }
            msg(T("ins_scan_none"), true);
            q.value = c.rawValue.slice(0, 100);
          }
        } catch (e) { /* a frame it could not read */ }
        setTimeout(tick, 250);
      };
      tick();
    } catch (e) {
      stopCamera();
      msg(T("ins_camera_error", {e: e.message || e}), true);
    }
  }

  // -- the entity's card --------------------------------------------------------------------------
  async function openEntity(uscc) {
    stopCamera();
    let ent = await cached("entity:" + uscc, "/api/entities/" + uscc + "?history=30");
    S.entity = ent || {uscc, name: uscc, history: [], offline: true};
    show("entity");
  }

  function viewEntity() {
    const e = S.entity;
    const resp = e.responsible || {};
    const people = [resp.l2_supervisor, resp.l1_supervisor].filter(Boolean).map((p) => p.name).join("、");
    const lists = S.checklists.filter((c) => !e.category || c.categories.includes(e.category));
    const pick = el("select", {id: "ins-checklist", class: "gw-ins-input"},
      (lists.length ? lists : S.checklists).map((c) => el("option", {value: c.id}, c.name)));
    const pre = S.prefill && S.prefill.uscc === e.uscc ? S.prefill : {};
    const kind = el("select", {id: "ins-kind", class: "gw-ins-input"}, KINDS.map((k) => el("option", {value: k, selected: k === pre.kind}, T("ins_kind_" + k))));
    const second = el("input", {id: "ins-second", class: "gw-ins-input", list: "ins-people", placeholder: T("ins_second")});
    second.value = (pre.inspectors || []).find((p) => !S.me || p !== S.me.person) || "";
    const candidates = [resp.l2_supervisor, resp.l1_supervisor].filter((p) => p && (!S.me || p.id !== S.me.person));
    return [
      el("button", {class: "secondary", onclick: () => show("home")}, "← " + T("ins_back")),
      el("div", {class: "gw-ins-card", id: "ins-entity"},
        el("h3", {}, e.name), el("div", {}, e.uscc), el("div", {class: "gw-msg"}, e.address || ""),
        e.risk ? el("div", {}, `${T("ins_risk")}：`, el("b", {id: "ins-risk"}, e.risk)) : null,
        e.grid_name ? el("div", {}, `${T("ins_grid")}：${e.level1_name || ""} ${e.grid_name}`) : null,
        people ? el("div", {}, `${T("ins_responsible")}：${people}`) : null),
      el("h3", {}, T("ins_history")),
      el("ul", {class: "gw-ins-history"}, (e.history || []).slice(0, 30).map((h) =>
        el("li", {}, `${String(h.at).slice(0, 10)} · ${h.type} · ${h.what} · ${h.state}${h.detail ? " · " + h.detail : ""}`))),
      el("label", {}, T("ins_checklist"), pick),
      el("label", {}, T("ins_kind"), kind),
      el("label", {}, T("ins_second"), second),
      el("datalist", {id: "ins-people"}, candidates.map((p) => el("option", {value: p.id}, p.name))),
      el("button", {id: "ins-start", class: "gw-ins-big", onclick: () => startInspection(pick.value, kind.value, second.value.trim())}, T("ins_start")),
    ];
  }

  async function startInspection(checklist, kind, second) {
    const me = S.me && S.me.person;
    const inspectors = [me].concat(second && second !== me ? [second] : []);
    const pre = S.prefill && S.prefill.uscc === S.entity.uscc ? S.prefill : {};
    const insp = {id: crypto.randomUUID(), uscc: S.entity.uscc, entityName: S.entity.name, checklist, kind, inspectors,
                  draw: pre.draw || null, task: pre.task || null,
                  lat: null, lon: null, answers: {}, notes: "", media: [], sigs: {}, state: "draft",
                  sent: {created: false, media: {}, sigs: {}}, started: Date.now()};
    if (navigator.geolocation) {
      navigator.geolocation.getCurrentPosition((p) => { insp.lat = p.coords.latitude; insp.lon = p.coords.longitude; save(insp); },
                                               () => {}, {maximumAge: 60000, timeout: 5000});
    }
    await save(insp);
    S.current = insp;
    show("form");
  }

  async function openInspection(id) {
    S.current = await dbGet("inspections", id);
    show(S.current.state === "sealed" ? "receipt" : "form");
  }

  // -- the checklist, evidence and signatures --------------------------------------------------------
  function checklistOf(insp) { return S.checklists.find((c) => c.id === insp.checklist) || {items: [], name: insp.checklist}; }

  function viewForm() {
    const insp = S.current;
    const cl = checklistOf(insp);
    const locked = insp.state !== "draft";
    let section = null;
    const rows = [];
    for (const item of cl.items) {
      if (item.section !== section) { section = item.section; rows.push(el("h4", {class: "gw-ins-section"}, section)); }
      rows.push(itemRow(insp, item, locked));
    }
    const notes = el("textarea", {id: "ins-notes", class: "gw-ins-input", rows: 3, placeholder: T("ins_notes"), disabled: locked,
                                 oninput: () => { insp.notes = notes.value; save(insp); }});
    notes.value = insp.notes || "";
    return [
      el("button", {class: "secondary", onclick: () => show("home")}, "← " + T("ins_back")),
      el("h3", {}, insp.entityName), el("div", {class: "gw-msg"}, `${cl.name} · ${T("ins_kind_" + insp.kind)} · ${insp.id}`),
      locked ? null : el("button", {id: "ins-rest-pass", class: "secondary", onclick: () => restPass(insp, cl)}, T("ins_rest_pass")),
      ...rows,
      el("h4", {class: "gw-ins-section"}, T("ins_notes")), notes,
      el("h4", {class: "gw-ins-section"}, T("ins_evidence")), evidence(insp, "", locked),
      el("h3", {}, T("ins_signatures")),
      ...insp.inspectors.map((p) => signBlock(insp, "inspector:" + p, T("ins_sign_inspector", {p}), locked)),
      entityBlock(insp, locked),
      el("div", {id: "ins-missing", class: "gw-msg bad"}),
      locked ? el("p", {class: "gw-msg"}, T("ins_state_" + insp.state)) :
        el("button", {id: "ins-seal", class: "gw-ins-big", onclick: () => sealLocal(insp)}, T("ins_seal")),
    ];
  }

  function itemRow(insp, item, locked) {
    const row = el("div", {class: "gw-ins-item", "data-code": item.code});
    const paint = () => {
      const a = insp.answers[item.code];
      for (const b of row.querySelectorAll(".gw-ins-answer")) b.classList.toggle("on", !!a && a.result === b.dataset.result);
      note.style.display = a && a.result === "fail" ? "" : "none";
    };
    const note = el("input", {class: "gw-ins-input ins-note", placeholder: T("ins_note"), disabled: locked,
                              oninput: () => { if (insp.answers[item.code]) { insp.answers[item.code].note = note.value; save(insp); } }});
    note.value = (insp.answers[item.code] || {}).note || "";
    const answer = (result) => el("button", {class: "gw-ins-answer " + result, "data-result": result, disabled: locked,
      onclick: () => { insp.answers[item.code] = {result, ...(note.value && result === "fail" ? {note: note.value} : {})}; save(insp); paint(); }},
      T("ins_" + result));
    row.append(el("div", {}, el("b", {}, item.code + " "), item.text,
                  item.key ? el("span", {class: "gw-ins-key"}, " " + T("ins_key")) : null, item.required ? " *" : ""),
               el("div", {class: "gw-ins-answers"}, answer("pass"), answer("fail"), answer("na")), note,
               evidence(insp, item.code, locked));
    paint();
    return row;
  }

  function restPass(insp, cl) {
    for (const i of cl.items) if (!insp.answers[i.code]) insp.answers[i.code] = {result: "pass"};
    save(insp);
    render();
  }

  function evidence(insp, item, locked) {
    const box = el("div", {class: "gw-ins-evidence"});
    const list = el("span", {class: "gw-msg ins-media-count"});
    const count = () => { const n = insp.media.filter((m) => m.item === item).length; list.textContent = n ? `📎 ${n}` : ""; };
    const file = (accept, label, cls) => {
      const input = el("input", {type: "file", accept, capture: "environment", class: "ins-file " + cls, style: "display:none",
        onchange: async () => { for (const f of input.files) await addMedia(insp, item, f, f.type); input.value = ""; count(); }});
      return [input, el("button", {class: "secondary", disabled: locked, onclick: () => input.click()}, label)];
    };
    const voice = el("button", {class: "secondary", disabled: locked, onclick: () => record(insp, item, voice, count)}, T("ins_voice"));
    box.append(...file("image/*", T("ins_photo"), "ins-photo"), ...file("video/*", T("ins_video"), "ins-video"), voice, list);
    count();
    return box;
  }

  async function addMedia(insp, item, blob, type) {
    const key = crypto.randomUUID();
    await dbPut("blobs", blob, key);
    insp.media.push({key, item, type: type || blob.type, taken_at: new Date().toISOString(), name: blob.name || "media"});
    await save(insp);
  }

  async function record(insp, item, btn, done) {
    if (S.recorder) { S.recorder.stop(); return; }
    try {
      const stream = await navigator.mediaDevices.getUserMedia({audio: true});
      const rec = new MediaRecorder(stream);
      const parts = [];
      rec.ondataavailable = (e) => parts.push(e.data);
      rec.onstop = async () => {
        for (const t of stream.getTracks()) t.stop();
        S.recorder = null;
        btn.textContent = T("ins_voice");
        const type = (rec.mimeType || "audio/webm").split(";")[0];
        await addMedia(insp, item, new Blob(parts, {type}), type);
        done();
      };
      S.recorder = rec;
      rec.start();
      btn.textContent = T("ins_voice_stop");
    } catch (e) { msg(T("ins_camera_error", {e: e.message || e}), true); }
  }

  function pad(canvas, slot, insp, locked) {
    const SP = window.SignaturePad;
    if (!SP) return null;
    const p = new SP(canvas, {minWidth: 1, maxWidth: 3, penColor: "#000", backgroundColor: "rgba(255,255,255,0)"});
    const ratio = Math.max(window.devicePixelRatio || 1, 1);
    canvas.width = canvas.offsetWidth * ratio;
    canvas.height = canvas.offsetHeight * ratio;
    canvas.getContext("2d").scale(ratio, ratio);
    const kept = insp.sigs[slot];
    if (kept && kept.strokes) p.fromData(kept.strokes);
    if (locked) p.off();
    p.addEventListener("endStroke", () => {
      const s = insp.sigs[slot] || {};
      insp.sigs[slot] = {...s, image: p.toDataURL("image/png"), strokes: p.toData()};
      delete insp.sigs[slot].refused;
      save(insp);
    });
    S.pads[slot] = p;
    return p;
  }

  function signBlock(insp, slot, label, locked) {
    const canvas = el("canvas", {class: "gw-ins-pad", "data-slot": slot});
    const box = el("div", {class: "gw-ins-sign", "data-slot": slot}, el("div", {}, label), canvas,
      el("button", {class: "secondary", disabled: locked, onclick: () => { S.pads[slot] && S.pads[slot].clear(); delete insp.sigs[slot]; save(insp); }},
         T("ins_clear")));
    requestAnimationFrame(() => loadScript(VENDOR + "signature_pad.umd.min.js").then(() => pad(canvas, slot, insp, locked)));
    return box;
  }

  function entityBlock(insp, locked) {
    const s = insp.sigs.entity || {};
    const name = el("input", {id: "ins-entity-name", class: "gw-ins-input", placeholder: T("ins_entity_name"), disabled: locked,
      oninput: () => { insp.sigs.entity = {...(insp.sigs.entity || {}), name: name.value}; save(insp); }});
    name.value = s.name || "";
    const refused = el("input", {type: "checkbox", id: "ins-refused", disabled: locked,
      onchange: () => { insp.sigs.entity = {...(insp.sigs.entity || {}), refused: refused.checked}; save(insp); paint(); }});
    refused.checked = !!s.refused;
    const witness = el("input", {id: "ins-witness", class: "gw-ins-input", placeholder: T("ins_witness"), disabled: locked,
      oninput: () => { insp.sigs.entity = {...(insp.sigs.entity || {}), witness: witness.value}; save(insp); }});
    witness.value = s.witness || "";
    const sign = signBlock(insp, "entity", T("ins_sign_entity"), locked);
    const refusal = el("div", {}, witness);
    const paint = () => { sign.style.display = refused.checked ? "none" : ""; refusal.style.display = refused.checked ? "" : "none"; };
    paint();
    return el("div", {class: "gw-ins-card"}, name, sign, el("label", {}, refused, " " + T("ins_refused")), refusal);
  }

  function missingLocal(insp) {
    const cl = checklistOf(insp);
    const out = [];
    const left = cl.items.filter((i) => i.required && !insp.answers[i.code]).length;
    if (left) out.push(T("ins_items_left", {n: left}));
    for (const p of insp.inspectors) if (!(insp.sigs["inspector:" + p] || {}).image) out.push(T("ins_sign_inspector", {p}));
    const e = insp.sigs.entity || {};
    if (e.refused ? !e.witness : !(e.image && e.name)) out.push(e.refused ? T("ins_witness") : T("ins_sign_entity"));
    return out;
  }

  async function sealLocal(insp) {
    const lacks = missingLocal(insp);
    const box = document.getElementById("ins-missing");
    if (lacks.length) { box.textContent = T("ins_missing", {what: lacks.join("；")}); return; }
    insp.state = "queued";
    await save(insp);
    msg(T("ins_queued"));
    show("home");
    sync();
  }

  // -- sending the outbox -----------------------------------------------------------------------------
  function signatureBody(slot, s) {
    if (slot === "entity" && s.refused) return {party: "entity", refused: true, witness: s.witness, note: s.note || T("ins_refused")};
    if (slot === "entity") return {party: "entity", name: s.name, image: s.image, strokes: s.strokes};
    return {party: "inspector", person: slot.slice("inspector:".length), image: s.image, strokes: s.strokes};
  }

  class Refused extends Error {}

  async function sendOne(insp) {
    const base = "/api/inspections/" + insp.id;
    const ok = (r, codes) => {
      if (codes.includes(r.status)) return true;
      if (r.status === 409) return false;                                   // sealed already: read it back
      throw new Refused((r.data && (r.data.message || r.data.error)) || ("HTTP " + r.status));
    };
    let open = true;
    if (!insp.sent.created) {
      const r = await api("POST", "/api/inspections", {id: insp.id, uscc: insp.uscc, checklist: insp.checklist, kind: insp.kind,
        inspectors: insp.inspectors, ...(insp.lat !== null ? {lat: insp.lat, lon: insp.lon} : {}),
        ...(insp.draw ? {draw: insp.draw} : {}), ...(insp.task ? {task: insp.task} : {})});
      ok(r, [200, 201]);
      insp.sent.created = true; await save(insp);
    }
    if (open && Object.keys(insp.answers).length) open = ok(await api("PUT", base + "/answers", insp.answers), [200]);
    if (open && insp.notes) open = ok(await api("PUT", base + "/notes", {notes: insp.notes}), [200]);
    for (const m of insp.media) {
      if (!open || insp.sent.media[m.key]) continue;
      const blob = await dbGet("blobs", m.key);
      const form = new FormData();
      form.append("item", m.item);
      form.append("taken_at", m.taken_at);
      form.append("file", blob, m.name || "media");
      open = ok(await api("POST", base + "/media", form, true), [200, 201]);
      if (open) { insp.sent.media[m.key] = true; await save(insp); }
    }
    for (const [slot, s] of Object.entries(insp.sigs)) {
      if (!open || insp.sent.sigs[slot]) continue;
      if (slot === "entity" ? !(s.refused || s.image) : !s.image) continue;
      open = ok(await api("POST", base + "/signatures", signatureBody(slot, s)), [201]);
      if (open) { insp.sent.sigs[slot] = true; await save(insp); }
    }
    if (open) {
      const r = await api("POST", base + "/seal");
      if (ok(r, [200])) { Object.assign(insp, {state: "sealed", result: r.data.result, hash: r.data.hash, receipt: r.data.receipt}); }
    }
    if (insp.state !== "sealed") {
      const r = await api("GET", base);
      if (r.status === 200 && r.data.sealed_at) Object.assign(insp, {state: "sealed", result: r.data.result, hash: r.data.hash, receipt: r.data.receipt});
      else throw new Refused("HTTP " + r.status);
    }
    insp.error = null;
    await save(insp);
  }

  async function sync() {
    if (S.syncing) return;
    S.syncing = true;
    let waiting = false;
    try {
      for (const insp of await dbAll("inspections")) {
        if (insp.state !== "queued" && insp.state !== "sending") continue;
        try {
          insp.state = "sending"; await save(insp);
          await sendOne(insp);
        } catch (e) {
          if (e instanceof Refused) { insp.state = "error"; insp.error = e.message; }
          else { insp.state = "queued"; waiting = true; }                    // no network: later
          await save(insp);
        }
      }
    } finally {
      S.syncing = false;
    }
    if (waiting) msg(T("ins_offline"), true);
    const queue = document.getElementById("ins-queue");
    if (queue) listQueue(queue);
    if (waiting) setTimeout(sync, RETRY_MS);
  }

  // -- the receipt ----------------------------------------------------------------------------------
  function viewReceipt() {
    const insp = S.current;
    const img = el("img", {id: "ins-receipt-qr", alt: insp.receipt || "", class: "gw-ins-qr", src: `/api/inspections/${insp.id}/qr.svg`});
    return [
      el("button", {class: "secondary", onclick: () => show("home")}, "← " + T("ins_back")),
      el("h3", {}, insp.entityName), el("div", {}, T("ins_result_" + insp.result)),
      el("p", {}, T("ins_receipt")), img,
      el("div", {class: "gw-msg"}, el("a", {href: insp.receipt, id: "ins-receipt-link"}, insp.receipt)),
      el("div", {class: "gw-msg gw-hash"}, "SHA-256 " + insp.hash),
    ];
  }

  // -- start --------------------------------------------------------------------------------------------
  async function start() {
    bar = el("div", {class: "gw-ins-tabs", id: "ins-tabs"},
      el("button", {"data-tab": "orders", onclick: () => { sessionStorage.setItem("gw-tab", "orders"); tabs(); }}, T("ins_tab_orders")),
      el("button", {"data-tab": "inspect", id: "ins-tab", onclick: () => { sessionStorage.setItem("gw-tab", "inspect"); tabs(); }}, T("ins_tab_inspect")));
    status = el("div", {class: "gw-ins-status", id: "ins-status"});
    root = el("div", {id: "gw-inspect", class: "gw-inspect"});
    document.body.prepend(bar);
    bar.after(root);
    if (!sessionStorage.getItem("gw-tab")) sessionStorage.setItem("gw-tab", "orders");
    tabs();
    S.me = await cached("me", "/api/me");
    S.checklists = (await cached("checklists", "/api/checklists")) || [];
    // /terminal?uscc=...[&kind=double_random&draw=...&task=...&inspectors=a,b]: a task's or a draw's
    // inspection opens with its entity, kind, ids and second inspector filled in.
    const params = new URLSearchParams(location.search);
    const fromUrl = findUscc(params.get("uscc") || "");
    S.prefill = fromUrl ? {uscc: fromUrl, kind: KINDS.includes(params.get("kind")) ? params.get("kind") : null,
                           draw: params.get("draw"), task: params.get("task"),
                           inspectors: (params.get("inspectors") || "").split(",").filter(Boolean)} : null;
    if (fromUrl) { sessionStorage.setItem("gw-tab", "inspect"); tabs(); openEntity(fromUrl); } else render();
    msg(navigator.onLine ? "" : T("ins_offline"), !navigator.onLine);
    window.addEventListener("online", () => { msg(T("ins_online")); sync(); });
    window.addEventListener("offline", () => msg(T("ins_offline"), true));
    sync();
    keepPageOffline();
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start); else start();
})();
