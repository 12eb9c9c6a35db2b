// gridwatch map functions, referenced from Python as {"variable": "gridwatch.<name>"}.
// dash-leaflet calls pointToLayer(feature, latlng, context) and style(feature, context).
window.gridwatch = (function () {
  const COLORS = {live: "#22c55e", stale: "#f59e0b", offline: "#64748b"};
  const STATUS_RING = {sos: "#ef4444", busy: "#a855f7", off_duty: "#94a3b8", on_duty: "#e6edf7"};

  // Where each device's marker was last drawn, and when: the browser tests and the
  // publish-to-marker benchmark read it, and it helps when debugging a wall.
  const drawn = {};

  function supervisorMarker(feature, latlng) {
    const p = feature.properties;
    drawn[p.device] = {lat: latlng.lat, lon: latlng.lng, status: p.status, fresh: p.fresh, t: performance.now()};
    const sos = p.status === "sos";
    const m = L.circleMarker(latlng, {
      radius: sos ? 11 : 6,
      color: STATUS_RING[p.status] || "#e6edf7",
      weight: sos ? 4 : 1.5,
      fillColor: sos ? "#ef4444" : (COLORS[p.fresh] || "#64748b"),
      fillOpacity: p.fresh === "offline" ? 0.45 : 0.95,
      className: sos ? "gw-marker-sos" : "gw-marker",
    });
    m.bindTooltip(`${p.name || p.device} · ${p.status} · ${p.fresh}` + (p.batt != null ? ` · ${p.batt}%` : ""));
    return m;
  }

  function gridStyle(feature, context) {
    const h = (context && context.hideout) || {};
    const v = (h.values || {})[feature.properties.id];
    const max = h.max || 0;
    const level = feature.properties.level;
    let fill = 0;
    if (max > 0 && v != null) fill = 0.08 + 0.5 * Math.min(1, v / max);
    return {
      color: level === 1 ? "#38bdf8" : "#2b3f63",
      weight: level === 1 ? 2.2 : 0.8,
      fillColor: h.fillColor || "#38bdf8",
      fillOpacity: fill,
    };
  }

  // Coverage cells: transparent when a supervisor is within 1 km, amber to 2 km, red beyond.
  function coverageStyle(feature, context) {
    const b = ((context && context.hideout && context.hideout.b) || {})[feature.properties.id] || 0;
    return {stroke: false, fillColor: b === 2 ? "#ef4444" : "#f59e0b", fillOpacity: b === 0 ? 0 : (b === 2 ? 0.28 : 0.16)};
  }

  function orderMarker(feature, latlng) {
    const p = feature.properties;
    if (feature.geometry.type !== "Point") return null;
    return L.circleMarker(latlng, {radius: 12, color: p.kind === "emergency" ? "#ef4444" : "#38bdf8",
                                   weight: 3, fillOpacity: 0.15});
  }

  function lineStyle(feature) {
    const s = feature.properties.state;
    const done = ["acknowledged", "en_route", "on_scene", "completed"].includes(s);
    return {color: done ? "#22c55e" : "#f59e0b", weight: 2, dashArray: done ? null : "6 6"};
  }

  // Merges a list of changed features (keyed by properties.device) into the layer's data.
  function mergeDelta(delta, data) {
    if (!delta || !delta.features) return window.dash_clientside.no_update;
    const byId = new Map(((data && data.features) || []).map(f => [f.properties.device, f]));
    for (const f of delta.features) {
      if (f.removed) byId.delete(f.properties.device); else byId.set(f.properties.device, f);
    }
    return {type: "FeatureCollection", features: Array.from(byId.values())};
  }

  return {drawn, coverageStyle, supervisorMarker, gridStyle, orderMarker, lineStyle, mergeDelta};
})();
