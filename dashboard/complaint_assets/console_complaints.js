/* The complaints desk: list /api/complaints (by default those with a step to take, the
   nearest deadline first), one button per step the complaint is at, the hotline's intake
   form. The server decides each step; its refusal is shown as it is. */
(function () {
  "use strict";
  const G = window.gwComplaint, S = G.t;
  const $ = (id) => document.getElementById(id);
  const ACTION = { case: ["transfer", () => ({ case: true })],
                   refuse: ["refuse", () => ask("cq_ask_reason", "reason")],
                   agree: ["agree", () => ask("cq_ask_terms", "terms")],
                   transfer: ["transfer", () => ask("cq_ask_to", "to")] };
  const LIMIT = 200;
  let categories = {};

  function ask(key, field) {
    const v = window.prompt(S[key]);
    return v == null ? null : { [field]: v };
  }
  function say(text, bad) {
    $("cq-msg").textContent = text || "";
    $("cq-msg").className = bad ? "bad" : "good";
  }
  function cell(tr, text, cls) {
    const td = document.createElement("td");
    td.textContent = text == null ? "" : text;
    if (cls) td.className = cls;
    tr.appendChild(td);
    return td;
  }

  async function act(c, name) {
    const [action, bodyOf] = ACTION[name] || [name, () => ({})];
    const body = bodyOf();
    if (body === null) return;
    const res = await fetch(`/api/complaints/${encodeURIComponent(c.id)}/${action}`, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    const out = await res.json().catch(() => ({}));
    if (res.status !== 200) {
      say(`✗ ${c.id}: ${out.reason || out.message || out.error || res.status}`, true);
    } else {
      say(`✓ ${c.id}: ${S["cstate_" + out.state] || out.state}` + (out.case ? ` · ${out.case}` : "") +
          (out.task ? ` · ${out.task}` : ""));
    }
    load();
    if (out.case) loadCases();
  }

  async function load() {
    const q = new URLSearchParams({ limit: String(LIMIT) });
    const shown = $("cq-state").value;
    if (shown === "open") { q.set("open", "true"); q.set("order", "due"); }
    else if (shown) q.set("state", shown);
    if ($("cq-queue").checked) q.set("queue", "true");
    else if (G.branch && !$("cq-all-branches").checked) q.set("branch", G.branch);
    const res = await fetch("/api/complaints?" + q);
    if (res.status !== 200) { say(`✗ ${res.status}`, true); return; }
    const rows = await res.json();
    const late = rows.filter((c) => (c.overdue || []).length).length;
    $("cq-count").textContent = (rows.length >= LIMIT ? S.cq_count_more : S.cq_count).replace("{n}", rows.length) +
      (late ? S.cq_count_late.replace("{late}", late) : "");
    const tbody = $("cq-table").querySelector("tbody");
    tbody.innerHTML = "";
    for (const c of rows) {
      const tr = document.createElement("tr");
      tr.dataset.id = c.id;
      tr.dataset.state = c.state;
      cell(tr, c.id);
      cell(tr, String(c.received_at).slice(0, 16).replace("T", " "));
      cell(tr, `${c.complainant_name} ${c.complainant_phone}`);
      cell(tr, c.respondent_name);
      cell(tr, categories[c.category] || c.category);
      const st = cell(tr, S["cstate_" + c.state] || c.state, "state");
      if (c.terms) {     // the agreement's terms, under the state
        const p = document.createElement("div");
        p.className = "terms";
        p.textContent = `${S.cp_terms}：${c.terms}`;
        st.appendChild(p);
      }
      const due = c.state === "received" ? c.accept_by : (["accepted", "mediating"].includes(c.state) ? c.mediate_by : "");
      cell(tr, (due || "") + ((c.overdue || []).length ? ` ${S.cq_overdue}` : ""), (c.overdue || []).length ? "late" : "");
      cell(tr, c.branch || S.cq_queue);
      const td = cell(tr, "");
      if (G.role !== "viewer") {
        for (const name of G.buttons[c.state] || []) {
          const b = document.createElement("button");
          b.type = "button";
          b.className = "act-" + name;
          b.textContent = S["cact_" + name] || name;
          b.addEventListener("click", () => act(c, name));
          td.appendChild(b);
        }
      }
      tbody.appendChild(tr);
    }
  }

  const CASE_ASK = {
    decide: () => {
      const document_no = window.prompt(S.cq_ask_document);
      if (document_no == null) return null;
      const fine = window.prompt(S.cq_ask_fine);
      return fine == null ? null : { document_no, fine_yuan: Number(fine) };
    },
    drop: () => ask("cq_ask_case_reason", "reason"),
    transfer_police: () => ask("cq_ask_case_reason", "reason"),
  };

  async function actCase(k, action) {
    const body = (CASE_ASK[action] || (() => ({})))();
    if (body === null) return;
    const res = await fetch(`/api/cases/${encodeURIComponent(k.id)}/${action}`, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    const out = await res.json().catch(() => ({}));
    say(res.status === 200 ? `✓ ${k.id}: ${S["kstate_" + out.state] || out.state}`
                           : `✗ ${k.id}: ${out.reason || out.message || out.error || res.status}`, res.status !== 200);
    loadCases();
  }

  async function loadCases() {
    const res = await fetch("/api/cases?limit=50");
    if (res.status !== 200) return;
    const tbody = $("kq-table").querySelector("tbody");
    tbody.innerHTML = "";
    for (const k of await res.json()) {
      const tr = document.createElement("tr");
      tr.dataset.id = k.id;
      tr.dataset.state = k.state;
      cell(tr, k.id);
      cell(tr, `${k.source_type} ${k.source_id || ""}`);
      cell(tr, k.uscc || "");
      cell(tr, k.summary);
      cell(tr, (S["kstate_" + k.state] || k.state) + (k.document_no ? ` · ${k.document_no}` : ""), "state");
      cell(tr, k.branch || "");
      const td = cell(tr, "");
      if (G.role !== "viewer") {
        for (const action of G.case_buttons[k.state] || []) {
          const b = document.createElement("button");
          b.type = "button";
          b.className = "kact-" + action;
          b.textContent = S["kact_" + action] || action;
          b.addEventListener("click", () => actCase(k, action));
          td.appendChild(b);
        }
      }
      tbody.appendChild(tr);
    }
  }

  async function start() {
    try {
      const cats = await (await fetch("/api/complaints/categories")).json();
      categories = Object.fromEntries(cats.map((c) => [c.code, c.name]));
      const sel = $("i-category");
      if (sel) for (const c of cats) sel.add(new Option(c.name, c.code));
    } catch (e) { /* the table still shows the codes */ }
    load();
    loadCases();
  }

  $("cq-refresh").addEventListener("click", () => { load(); loadCases(); });
  $("cq-state").addEventListener("change", load);
  $("cq-queue").addEventListener("change", load);
  $("cq-all-branches").addEventListener("change", load);
  const form = $("intake-form");
  if (form) form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const v = (id) => $(id).value.trim();
    const complainant = { name: v("i-name"), phone: v("i-phone") };
    if (v("i-id")) complainant.id_number = v("i-id");
    const respondent = v("i-uscc") ? { uscc: v("i-uscc").toUpperCase() } : { name: v("i-resp-name"), address: v("i-resp-address") };
    const res = await fetch("/api/complaints", { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ channel: v("i-channel"), complainant, respondent, category: v("i-category"),
                             description: v("i-description") }) });
    const out = await res.json().catch(() => ({}));
    $("i-msg").textContent = res.status === 201 ? S.cq_filed.replace("{code}", out.query_code)
                                                : `✗ ${out.field || ""} ${out.message || out.error || res.status}`;
    $("i-msg").className = res.status === 201 ? "good" : "bad";
    if (res.status === 201) { form.reset(); load(); }
  });
  setInterval(() => { load(); loadCases(); }, 15000);
  start();
})();
