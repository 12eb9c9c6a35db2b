// The wall's casework layers (dashboard/wall_casework.py): today's inspections by result and
// open complaints by respondent, as DOM icons (the map renders on canvas; these stay few and
// each can be read and tested), coloured from layers/palette.py (window.gridwatchTables), and
// their rows of the wall's legend. Words from /static/i18n.js (dashboard/i18n.py).
window.gridwatchWallcase = (function () {
  "use strict";
  const TABLES = window.gridwatchTables || {};
  const RESULT = TABLES.inspection || {};
  const COMPLAINT = TABLES.complaint;
  const I = () => window.gridwatchI18n;
  // marks grow with the screen as the supervisors' do (gridwatch_map.js): readable on the 4K wall
  const SCALE = Math.max(1, window.innerWidth / 1920);

  function esc(s) {
    return String(s == null ? "" : s).replace(/[&<>"']/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
  }

  function resultColour(r) { return RESULT[r] || RESULT.open; }

  function inspectionMarker(feature, latlng) {
    const p = feature.properties || {};
    const r = RESULT[p.result] ? p.result : "open";
    // above the complaints' and tasks' marks: an inspection at a complained-of shop stays visible
    const d = Math.round(14 * SCALE);
    return L.marker(latlng, {keyboard: false, zIndexOffset: 1000, icon: L.divIcon({
      className: "gw-insp-mark", iconSize: [d, d],
      html: `<span class="gw-insp-dot" data-result="${esc(r)}" data-id="${esc(p.id)}" ` +
            `style="background:${resultColour(r)};width:${d}px;height:${d}px"></span>`})});
  }
  function inspectionTooltip(feature, layer) {
    const p = feature.properties || {};
    layer.bindTooltip(`${esc(p.name)} · ${esc(I().code("wc_result", p.result))}<br>${esc(p.uscc)}`);
  }

  function size(n) { return Math.round(SCALE * (16 + 6 * Math.sqrt(Math.max(0, n - 1)))); }
  function complaintMarker(feature, latlng) {
    const p = feature.properties || {};
    const s = size(p.n || 1);
    return L.marker(latlng, {keyboard: false, icon: L.divIcon({
      className: "gw-cmp-mark", iconSize: [s, s],
      html: `<span class="gw-cmp-dot" data-uscc="${esc(p.uscc)}" data-count="${Number(p.n) || 0}" ` +
            `style="background:${COMPLAINT};width:${s}px;height:${s}px;line-height:${s}px;font-size:${Math.round(12 * SCALE)}px">${Number(p.n) || 0}</span>`})});
  }
  function complaintTooltip(feature, layer) {
    const p = feature.properties || {};
    layer.bindTooltip(`${esc(p.name)}<br>${esc(I().t("wc_open_n", {n: p.n, waiting: p.waiting}))}`);
  }

  // rows appended to the wall's legend by gridwatch.js renderLegend
  function legendHtml() {
    const t = I().t;
    const row = (shape, label, cls) => `<div class="gw-lg ${cls}"><svg width="30" height="22" viewBox="0 0 30 22">` +
      `${shape}</svg><span>${esc(label)}</span></div>`;
    const dot = (c) => `<circle cx="15" cy="11" r="6" fill="${c}" stroke="#fff" stroke-width="1.5"/>`;
    const badge = `<rect x="8" y="4" width="14" height="14" rx="3" fill="${COMPLAINT}" stroke="#fff" stroke-width="1.5"/>`;
    return ["pass", "fail", "rectify", "open"].map((r) => row(dot(resultColour(r)), t("lg_wc_" + r), "gw-lg-insp")).join("") +
      row(badge, t("lg_wc_complaints"), "gw-lg-cmp") +
      row(`<rect x="3" y="4" width="24" height="14" fill="${TABLES.weak}" fill-opacity="0.55" stroke="${TABLES.weak}"/>`,
          t("lg_wc_weak"), "gw-lg-weak");
  }

  return {inspectionMarker, inspectionTooltip, complaintMarker, complaintTooltip, legendHtml, resultColour};
})();
