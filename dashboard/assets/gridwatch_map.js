// gridwatch map functions for grid names and market entities, referenced from Python as
// {"variable": "gridwatchMap.<name>"} (dashboard/mapparts.py). Kept apart from gridwatch.js,
// which holds the live supervisor markers.
window.gridwatchMap = (function () {
  // Type scales with the wall's width (as the markers do); a name's zoom threshold moves by the
  // same factor, since larger type needs more room on the ground.
  const SCALE = Math.max(1, window.innerWidth / 1920);
  const ZOOM_SHIFT = Math.log2(SCALE);
  const ENTITY = window.gridwatchTables.entity;  // from the server (layers/palette.py)
  // What the entity layer drew (cells by id with their counts, entities by credit code): the
  // browser tests read it, and it helps when checking a wall.
  const seen = {cells: {}, points: {}};

  function esc(s) {
    return String(s == null ? "" : s).replace(/[&<>"']/g,
      (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
  }

  function gridLabel(feature, latlng) {
    const p = feature.properties;
    const icon = L.divIcon({
      className: `gw-label gw-label-l${p.level}`, iconSize: null,
      html: `<span style="font-size:${Math.round(p.px * SCALE)}px">${esc(p.name)}</span>`,
    });
    return L.marker(latlng, {icon: icon, interactive: false, keyboard: false});
  }

  // A name is drawn from its own zoom on (layers/labels.py places them so they do not collide).
  function labelFilter(feature, context) {
    const zoom = context && context.hideout && context.hideout.zoom;
    if (zoom == null) return false;
    return zoom >= feature.properties.min_zoom + ZOOM_SHIFT;
  }

  // Density hexagons: the more entities, the more opaque (log scale, against the city-wide
  // maximum of the resolution, so a colour means the same while panning).
  function densityStyle(feature, context) {
    const max = (context && context.hideout && context.hideout.max) || 1;
    const t = Math.log1p(feature.properties.count || 0) / Math.log1p(max);
    return {color: ENTITY, weight: 0.5, opacity: 0.35, fillColor: ENTITY,
            fillOpacity: 0.08 + 0.6 * Math.min(1, t)};
  }

  function entityDetails(p) {
    return `<b>${esc(p.name)}</b><br>${esc(p.kind)} · ${esc(p.category)}<br>` +
           `统一社会信用代码 ${esc(p.uscc)}<br>${esc(p.address)}`;
  }

  // A click opens the entity's details and stays off the map (it would pick the point).
  function entityPoint(feature, latlng) {
    const p = feature.properties;
    seen.points[p.uscc] = true;
    return L.circleMarker(latlng, {radius: 4 * SCALE, color: "#1e1b4b", weight: 1, fillColor: ENTITY,
                                   fillOpacity: 0.9, bubblingMouseEvents: false})
      .bindTooltip(esc(p.name))
      .bindPopup(entityDetails(p));
  }

  function densityFeature(feature, layer) {
    const p = feature.properties;
    if (p.cell == null) return;
    seen.cells[p.cell] = p.count;
    layer.bindTooltip(`${p.count} 个市场主体 entities`);
  }

  return {seen, gridLabel, labelFilter, densityStyle, entityPoint, densityFeature, entityDetails};
})();
