// gridwatch map functions, referenced from Python as {"variable": "gridwatch.<name>"}.
// dash-leaflet calls pointToLayer(feature, latlng, context) and style(feature, context).
window.gridwatch = (function () {
  const COLORS = {live: "#22c55e", stale: "#f59e0b", offline: "#64748b"};
  const STATUS_RING = {sos: "#ef4444", busy: "#a855f7", off_duty: "#94a3b8", on_duty: "#e6edf7"};

  // Where each device's marker was last drawn, and when: the browser tests and the
  // publish-to-marker benchmark read it, and it helps when debugging a wall.
  const drawn = {};
  // The markers on the map and the features they show, by device: a delta moves and
  // restyles markers in place, so an update costs what changed, not the whole layer.
  const markers = {};
  const features = new Map();

  // Markers keep their size relative to the screen: a 4K wall is seen from as far as a 1080p one.
  const SCALE = Math.max(1, window.innerWidth / 1920);

  function markerStyle(p) {
    const sos = p.status === "sos";
    return {
      radius: (sos ? 11 : 6) * SCALE,
      color: STATUS_RING[p.status] || "#e6edf7",
      weight: (sos ? 4 : 1.5) * SCALE,
      fillColor: sos ? "#ef4444" : (COLORS[p.fresh] || "#64748b"),
      fillOpacity: p.fresh === "offline" ? 0.45 : 0.95,
    };
  }

  function tooltip(p) {
    return `${p.name || p.device} · ${p.status} · ${p.fresh}` + (p.batt != null ? ` · ${p.batt}%` : "");
  }

  function note(p, latlng) {
    drawn[p.device] = {lat: latlng.lat, lon: latlng.lng, status: p.status, fresh: p.fresh, t: performance.now()};
  }

  function supervisorMarker(feature, latlng) {
    const p = feature.properties;
    const m = L.circleMarker(latlng, markerStyle(p));
    m.bindTooltip(tooltip(p));
    markers[p.device] = m;
    features.set(p.device, feature);
    note(p, latlng);
    return m;
  }

  // Applies a list of changed features (keyed by properties.device). Known markers are
  // moved in place; only a device new to the map (or one removed) re-renders the layer.
  function mergeDelta(delta) {
    if (!delta || !delta.features) return null;
    let render = false;
    for (const f of delta.features) {
      const p = f.properties;
      if (f.removed) { features.delete(p.device); render = true; continue; }
      features.set(p.device, f);
      const m = markers[p.device];
      if (m && m._map) {
        const latlng = L.latLng(f.geometry.coordinates[1], f.geometry.coordinates[0]);
        m.setLatLng(latlng);
        m.setStyle(markerStyle(p));
        m.setRadius(markerStyle(p).radius);
        m.setTooltipContent(tooltip(p));
        note(p, latlng);
      } else {
        render = true;
      }
    }
    if (!render) return null;
    return {type: "FeatureCollection", features: Array.from(features.values())};
  }

  // Follows /api/live/deltas (server-sent events) on a page with a supervisor layer. Deltas
  // bypass Dash: markers move in place, and only a device new to the map re-renders the layer.
  // EventSource reconnects by itself after a network or server restart.
  function follow() {
    const map = document.querySelector("#wall-map, #con-map");
    if (!map || !window.dash_clientside || !window.dash_clientside.set_props) {
      setTimeout(follow, 250);
      return;
    }
    const layer = map.id.replace("-map", "-supervisors");
    const source = new EventSource("/api/live/deltas");
    source.onmessage = function (ev) {
      const fc = mergeDelta(JSON.parse(ev.data));
      if (fc) window.dash_clientside.set_props(layer, {data: fc});
    };
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", follow);
  else follow();

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
    return {stroke: false, fillColor: b === 2 ? "#ef4444" : "#f59e0b", fillOpacity: b === 0 ? 0 : (b === 2 ? 0.16 : 0.1)};
  }

  function entityMarker(feature, latlng) {
    const p = feature.properties;
    return L.circleMarker(latlng, {radius: 3 * SCALE, stroke: false, fillColor: "#c084fc", fillOpacity: 0.8})
      .bindTooltip(`${p.name}<br>${p.category} · ${p.kind}<br>${p.uscc}<br>${p.address}`);
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

  return {drawn, entityMarker, coverageStyle, supervisorMarker, gridStyle, orderMarker, lineStyle, mergeDelta};
})();
