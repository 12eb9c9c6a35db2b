/* The citizen's complaint page: file (POST /api/public/complaints) and look up progress
   (GET /api/public/complaints/{code}?phone_last4=). Text from window.gwComplaint (i18n.py). */
(function () {
  "use strict";
  const S = window.gwComplaint.t;
  const $ = (id) => document.getElementById(id);
  const FIELD_LABEL = {
    "complainant.name": "cp_name", "complainant.phone": "cp_phone", "complainant.id_number": "cp_id_number",
    "respondent": "cp_resp_name", "respondent.name": "cp_resp_name", "respondent.address": "cp_resp_address",
    "respondent.uscc": "cp_resp_uscc", "category": "cp_category", "description": "cp_description",
    "amount_yuan": "cp_amount", "channel": "cp_channel",
  };
  const fmt = (key, params) => {
    let s = S[key] || key;
    for (const k in params || {}) s = s.split("{" + k + "}").join(params[k]);
    return s;
  };
  const day = (iso) => (iso ? String(iso).slice(0, 10) : "");
  const when = (iso) => (iso ? String(iso).slice(0, 16).replace("T", " ") : "");

  function tab(which) {
    $("file-form").hidden = which !== "file";
    $("query-form").hidden = which !== "query";
    $("tab-file").classList.toggle("on", which === "file");
    $("tab-query").classList.toggle("on", which === "query");
  }
  $("tab-file").addEventListener("click", () => tab("file"));
  $("tab-query").addEventListener("click", () => tab("query"));
  if (/MicroMessenger/i.test(navigator.userAgent) || /[?&]channel=wechat\b/.test(location.search)) {
    $("f-channel").value = "wechat";
  }

  fetch("/api/public/complaints/categories").then((r) => r.json()).then((cats) => {
    const sel = $("f-category");
    for (const c of cats) {
      const o = document.createElement("option");
      o.value = c.code;
      o.textContent = c.name;
      sel.appendChild(o);
    }
  });

  let here = null;     // the citizen's position when at the business: placed by the grid there
  $("f-here").addEventListener("click", () => {
    if (!navigator.geolocation) { $("f-here-msg").textContent = S.cp_here_failed; return; }
    navigator.geolocation.getCurrentPosition((p) => {
      here = { lat: p.coords.latitude, lon: p.coords.longitude };
      $("f-here-msg").textContent = S.cp_here_done;
    }, () => { $("f-here-msg").textContent = S.cp_here_failed; }, { enableHighAccuracy: true, timeout: 15000 });
  });

  function problem(res, body) {
    if (res.status === 429) return S.cp_too_many;
    if (res.status === 404) return S.cp_not_found;
    if (res.status === 422 && body && body.field) {
      const key = FIELD_LABEL[body.field] || FIELD_LABEL[body.field.split(".")[0]];
      return fmt("cp_check_field", { field: key ? S[key] : body.field });
    }
    return S.cp_error;
  }

  $("file-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const msg = $("file-msg");
    msg.textContent = "";
    msg.className = "cp-msg";
    const v = (id) => $(id).value.trim();
    const complainant = { name: v("f-name"), phone: v("f-phone").replace(/\s+/g, "") };
    if (v("f-id")) complainant.id_number = v("f-id");
    const respondent = v("f-resp-uscc") ? { uscc: v("f-resp-uscc").toUpperCase() }
                                        : { name: v("f-resp-name"), address: v("f-resp-address") };
    if (here && !respondent.uscc) Object.assign(respondent, here);
    const body = { channel: $("f-channel").value, complainant, respondent, category: $("f-category").value,
                   description: v("f-description") };
    if (v("f-amount")) body.amount_yuan = Number(v("f-amount"));
    $("f-submit").disabled = true;
    try {
      const res = await fetch("/api/public/complaints", {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
      const out = await res.json().catch(() => null);
      if (res.status !== 201) {
        msg.textContent = problem(res, out);
        msg.classList.add("bad");
        return;
      }
      msg.innerHTML = "";
      const p = document.createElement("span");
      p.textContent = S.cp_filed;
      const code = document.createElement("strong");
      code.id = "file-code";
      code.className = "cp-code";
      code.textContent = out.query_code;
      const by = document.createElement("span");
      by.textContent = fmt("cp_filed_by", { date: out.accept_by }) +
        (out.provisional && out.provisional.length ? S.cp_provisional : "");
      msg.append(p, code, by);
      msg.classList.add("good");
      $("q-code").value = out.query_code;
      $("q-last4").value = complainant.phone.slice(-4);
    } catch (e) {
      msg.textContent = S.cp_error;
      msg.classList.add("bad");
    } finally {
      $("f-submit").disabled = false;
    }
  });

  $("query-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const msg = $("query-msg");
    const dl = $("query-result");
    msg.textContent = "";
    dl.hidden = true;
    dl.innerHTML = "";
    const code = encodeURIComponent($("q-code").value.trim());
    const last4 = encodeURIComponent($("q-last4").value.trim());
    try {
      const res = await fetch(`/api/public/complaints/${code || "-"}?phone_last4=${last4}`);
      const out = await res.json().catch(() => null);
      if (res.status !== 200) {
        msg.textContent = problem(res, out);
        return;
      }
      const rows = [
        ["cp_code", out.query_code],
        ["cp_state", S["cstate_" + out.state] || out.state],
        ["cp_received", when(out.received_at)],
        ["cp_accept_by", day(out.accept_by) + ((out.provisional || []).includes("accept_by") ? S.cp_provisional : "")],
        ["cp_accepted", when(out.accepted_at)],
        ["cp_mediate_by", day(out.mediate_by) + ((out.provisional || []).includes("mediate_by") ? S.cp_provisional : "")],
        ["cp_closed", when(out.closed_at)],
        ["cp_branch", out.branch || S.cp_branch_none],
        ["cp_outcome", out.outcome ? (S["coutcome_" + out.outcome] || out.outcome) : ""],
        ["cp_terms", out.terms || ""],
        ["cp_transferred_to", out.transferred_to || ""],
      ];
      for (const [k, val] of rows) {
        if (!val) continue;
        const dt = document.createElement("dt");
        dt.textContent = S[k];
        const dd = document.createElement("dd");
        dd.textContent = val;
        dd.dataset.field = k;
        dl.append(dt, dd);
      }
      dl.hidden = false;
    } catch (e) {
      msg.textContent = S.cp_error;
    }
  });

  if (/[?&]tab=query\b/.test(location.search)) tab("query");
})();
