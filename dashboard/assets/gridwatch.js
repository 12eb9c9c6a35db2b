// gridwatch map functions, referenced from Python as {"variable": "gridwatch.<name>"}.
// dash-leaflet calls pointToLayer(feature, latlng, context), style(feature, context) and
// eventHandlers(event, context).
window.gridwatch = (function () {
  // Colours and engaged states come from the server (layers/palette.py, embedded in the page).
  const TABLES = window.gridwatchTables;
  const COLORS = TABLES.presence, STATUS_RING = TABLES.status, ACCENT = TABLES.accent;
  const ENGAGED = new Set(TABLES.engaged);
  const FRESH_RANK = {offline: 0, stale: 1, live: 2};

  // Where each device's marker was last drawn, and when: the browser tests and the
  // publish-to-marker benchmark read it, and it helps when debugging a wall.
  const drawn = {};

  // Markers keep their size relative to the screen: a 4K wall is seen from as far as a 1080p one.
  const SCALE = Math.max(1, window.innerWidth / 1920);

  function markerStyle(p) {
    const sos = p.status === "sos";
    return {
      radius: (sos ? 11 : 6) * SCALE,
      color: STATUS_RING[p.status] || STATUS_RING.on_duty,
      weight: (sos ? 4 : 1.5) * SCALE,
      fillColor: sos ? STATUS_RING.sos : (COLORS[p.fresh] || COLORS.offline),
      fillOpacity: p.fresh === "offline" ? 0.45 : 0.95,
    };
  }

  // Words from the server's one table (dashboard/i18n.py, served as /static/i18n.js).
  function word(prefix, value) {
    const T = window.gridwatchI18n;
    return T ? T.code(prefix, value) : String(value);
  }

  function tooltip(p) {
    return `${p.name || p.device} · ${word("status", p.status)} · ${word("fresh", p.fresh)}` +
      (p.batt != null ? ` · ${p.batt}%` : "");
  }

  // -- supervisors: every marker in one canvas ----------------------------------------------------
  // One slot per device in parallel arrays (position, projected point, style key, properties).
  // A delta only writes the arrays and asks for a frame. A frame lists the visible markers by
  // style (a few hundred microseconds for 10k) and hands them to a worker that paints the canvas
  // (OffscreenCanvas), so the painting, ~40 ms for 10k markers on a wall without a GPU, never
  // blocks the page; where a browser has no OffscreenCanvas the page paints them itself.
  const sup = {
    slot: new Map(), device: [], props: [], lat: [], lon: [], key: [],
    x: [], y: [], zoom: null,   // projected pixels at `zoom`; NaN: not projected yet
    changed: new Set(),         // devices changed since the last frame
  };
  const styles = new Map();     // style key -> markerStyle
  const PAD = 0.1;              // canvas margin around the view, so a short pan shows no gap
  let layer = null;             // the one SupervisorLayer, made once Leaflet is there

  function styleKey(p) {
    const key = `${p.status}|${p.fresh}`;
    if (!styles.has(key)) styles.set(key, markerStyle(p));
    return key;
  }

  // Paints one frame: {size: [w, h] device px, dpr, groups: [[key, n, style]], pts: x, y pairs in
  // device px, halo}. Self-contained: it runs in the worker (from its source text) or here.
  // Each style's marker is rasterised once and copied to whole pixels: filling and stroking 10k
  // arcs cost the software rasteriser ~0.5 s a frame, copies ~40 ms.
  function painter() {
    const TAU = 2 * Math.PI, sprites = new Map();
    function surface(w, h) {
      if (typeof OffscreenCanvas !== "undefined") return new OffscreenCanvas(w, h);
      const c = document.createElement("canvas");
      c.width = w;
      c.height = h;
      return c;
    }
    function sprite(key, s, dpr) {
      const id = `${key}@${dpr}`;
      let c = sprites.get(id);
      if (c) return c;
      const side = 2 * Math.ceil((s.radius + s.weight / 2 + 1) * dpr);
      c = surface(side, side);
      const ctx = c.getContext("2d");
      ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
      ctx.beginPath();
      ctx.arc(side / dpr / 2, side / dpr / 2, s.radius, 0, TAU);
      ctx.globalAlpha = s.fillOpacity;
      ctx.fillStyle = s.fillColor;
      ctx.fill();
      ctx.globalAlpha = 1;
      ctx.lineWidth = s.weight;
      ctx.strokeStyle = s.color;
      ctx.stroke();
      // an ImageBitmap: copied as it is (a canvas source is snapshotted again by the first frame
      // that draws it, which made the wall's first 10k-marker frame ~1 s instead of ~50 ms)
      if (c.transferToImageBitmap) c = c.transferToImageBitmap();
      sprites.set(id, c);
      return c;
    }
    return function paint(canvas, f) {
      if (canvas.width !== f.size[0] || canvas.height !== f.size[1]) {
        canvas.width = f.size[0];
        canvas.height = f.size[1];
      }
      const ctx = canvas.getContext("2d"), pts = f.pts;
      ctx.setTransform(1, 0, 0, 1, 0, 0);
      ctx.clearRect(0, 0, canvas.width, canvas.height);
      let k = 0;
      for (const [key, n, s] of f.groups) {
        const img = sprite(key, s, f.dpr), h = img.width / 2, start = k;
        for (let j = 0; j < n; j++, k += 2) ctx.drawImage(img, Math.round(pts[k] - h), Math.round(pts[k + 1] - h));
        if (f.halo && key.startsWith("sos|")) {  // SOS flashes: a ring every other half second
          const r = 2 * s.radius * f.dpr;
          ctx.beginPath();
          for (let j = start; j < k; j += 2) {
            ctx.moveTo(pts[j] + r, pts[j + 1]);
            ctx.arc(pts[j], pts[j + 1], r, 0, TAU);
          }
          ctx.lineWidth = 0.75 * s.weight * f.dpr;
          ctx.strokeStyle = s.color;  // an SOS style's ring colour (this runs in the worker)
          ctx.stroke();
        }
      }
    };
  }

  // The painting worker: frames in, {seq, ms} out once painted; {probe: [x, y]} answers a pixel.
  function painterWorker(canvas) {
    const src = `const paint = (${painter.toString()})(); let canvas = null;
      onmessage = e => {
        const m = e.data;
        if (m.canvas) { canvas = m.canvas; return; }
        if (m.probe) { postMessage({probe: m.id, rgba: Array.from(canvas.getContext("2d").getImageData(m.probe[0], m.probe[1], 1, 1).data)}); return; }
        const t0 = performance.now();
        paint(canvas, m);
        postMessage({seq: m.seq, ms: performance.now() - t0});
      };`;
    const w = new Worker(URL.createObjectURL(new Blob([src], {type: "text/javascript"})));
    const off = canvas.transferControlToOffscreen();
    w.postMessage({canvas: off}, [off]);
    return w;
  }

  function removeSlot(i) {
    const last = sup.device.length - 1;
    sup.slot.delete(sup.device[i]);
    if (i !== last) {
      for (const a of [sup.device, sup.props, sup.lat, sup.lon, sup.key, sup.x, sup.y]) a[i] = a[last];
      sup.slot.set(sup.device[i], i);
    }
    for (const a of [sup.device, sup.props, sup.lat, sup.lon, sup.key, sup.x, sup.y]) a.pop();
  }

  // Applies a FeatureCollection of changed supervisors (keyed by properties.device; a feature
  // with `removed` takes the device off the map) and asks for one redraw at the next frame.
  function mergeDelta(delta) {
    if (!delta || !delta.features) return 0;
    for (const f of delta.features) {
      const p = f.properties, dev = p.device;
      let i = sup.slot.get(dev);
      if (f.removed) {
        if (i !== undefined) removeSlot(i);
        sup.changed.add(dev);
        continue;
      }
      if (!f.geometry || !f.geometry.coordinates) continue;
      if (i === undefined) {
        i = sup.device.length;
        sup.slot.set(dev, i);
        sup.device.push(dev);
      }
      const c = f.geometry.coordinates;
      if (sup.lat[i] !== c[1] || sup.lon[i] !== c[0]) {
        sup.lat[i] = c[1];
        sup.lon[i] = c[0];
        sup.x[i] = sup.y[i] = NaN;
      }
      sup.props[i] = p;
      sup.key[i] = styleKey(p);
      sup.changed.add(dev);
    }
    if (layer) layer.redraw();
    return delta.features.length;
  }

  function makeLayer() {
    const Layer = L.Layer.extend({
      onAdd(map) {
        let pane = map.getPane("gwSupervisors");
        if (!pane) {
          pane = map.createPane("gwSupervisors");
          pane.style.zIndex = 450;          // above the grids and orders (400), below tooltips
          pane.style.pointerEvents = "none"; // clicks and drags go to the map; hover is hit-tested
        }
        const anim = map._zoomAnimated ? "leaflet-zoom-animated" : "leaflet-zoom-hide";
        this._canvas = L.DomUtil.create("canvas", `gw-supervisors ${anim}`, pane);
        this._worker = null;
        if (this._canvas.transferControlToOffscreen && window.Worker) {
          try {
            this._worker = painterWorker(this._canvas);
            this._worker.onmessage = e => this._painted(e.data);
          } catch (e) {
            this._worker = null;  // e.g. a policy forbids blob workers: paint here
          }
        }
        if (!this._worker) this._paint = painter();
        this._pending = new Map();  // frames sent to the worker, not yet painted
        this._probes = new Map();
        this._seq = 0;
        this._geom = this._next = this._sent = null;
        this._tip = L.tooltip({direction: "top", offset: [0, -8 * SCALE]});
        this._hover = null;
        this._last = this._gap = 0;
        map.on(this._events(), this);
        this._reset();
      },

      onRemove(map) {
        map.off(this._events(), this);
        if (this._frame) cancelAnimationFrame(this._frame);
        clearTimeout(this._wait);
        clearInterval(this._flash);
        this._frame = this._flash = this._wait = null;
        if (this._worker) this._worker.terminate();
        this._tip.remove();
        L.DomUtil.remove(this._canvas);
      },

      _events() {
        return {viewreset: this._reset, moveend: this._reset, resize: this._reset, zoomanim: this._onZoomAnim,
                zoom: this._onZoom, mousemove: this._onMove, mouseout: this._onOut, click: this._onMove};
      },

      // At most one frame per animation frame and one frame at a time in the worker (deltas
      // that arrive meanwhile go into the next); and no more often than 8x the last frame's cost
      // on this thread.
      redraw() {
        if (!this._map || this._frame || this._wait) return;
        if (this._pending.size) {
          this._again = true;
          return;
        }
        const wait = this._last + this._gap - performance.now();
        if (wait > 0) {
          this._wait = setTimeout(() => { this._wait = null; this.redraw(); }, wait);
        } else {
          this._frame = requestAnimationFrame(() => { this._frame = null; this.draw(); });
        }
      },

      // The canvas covers the view plus PAD on each side, placed in layer coordinates. The new
      // place is taken when the frame painted for it is there, so a pan or zoom shows no jump.
      _reset() {
        const map = this._map, size = map.getSize();
        this._next = {
          origin: map.containerPointToLayerPoint(size.multiplyBy(-PAD)).round(),
          w: Math.round(size.x * (1 + 2 * PAD)), h: Math.round(size.y * (1 + 2 * PAD)),
          center: map.getCenter(), zoom: map.getZoom(), dpr: window.devicePixelRatio || 1,
        };
        this.draw();
      },
      _place(g) {
        if (!g || g === this._geom) return;
        this._geom = g;
        L.DomUtil.setPosition(this._canvas, g.origin);
        this._canvas.style.width = `${g.w}px`;
        this._canvas.style.height = `${g.h}px`;
      },

      // While zooming, the canvas is scaled as Leaflet scales its own renderers (L.Renderer).
      _transform(center, zoom) {
        const map = this._map, g = this._geom;
        if (!g) return;
        const scale = map.getZoomScale(zoom, g.zoom), half = map.getSize().multiplyBy(0.5 + PAD);
        const offset = half.multiplyBy(-scale).add(map.project(g.center, zoom))
          .subtract(map._getNewPixelOrigin(center, zoom));
        L.DomUtil.setTransform(this._canvas, offset, scale);
      },
      _onZoomAnim(e) { this._transform(e.center, e.zoom); },
      _onZoom() { this._transform(this._map.getCenter(), this._map.getZoom()); },

      draw() {
        const map = this._map;
        if (!map || map._animatingZoom) return; // moveend at the end of the zoom draws again
        const t0 = performance.now();
        const zoom = map.getZoom(), n = sup.device.length, {x, y, lat, lon, key} = sup;
        const g = this._next || this._sent, dpr = g.dpr;
        this._sent = g;
        if (sup.zoom !== zoom) {
          sup.zoom = zoom;
          x.fill(NaN);
        }
        const po = map.getPixelOrigin(), ox = po.x + g.origin.x, oy = po.y + g.origin.y, M = 20 * SCALE;
        const groups = new Map();
        let visible = 0;
        for (let i = 0; i < n; i++) {
          if (x[i] !== x[i]) {
            const pt = map.project([lat[i], lon[i]], zoom);
            x[i] = pt.x;
            y[i] = pt.y;
          }
          const cx = x[i] - ox, cy = y[i] - oy;
          if (cx < -M || cy < -M || cx > g.w + M || cy > g.h + M) continue;
          let list = groups.get(key[i]);
          if (!list) groups.set(key[i], list = []);
          list.push(i);
          visible++;
        }
        // Offline under stale under live; SOS last, on top of everything.
        const rank = k => (k.startsWith("sos|") ? 10 : 0) + (FRESH_RANK[k.split("|")[1]] || 0);
        const order = Array.from(groups.keys()).sort((a, b) => rank(a) - rank(b));
        const pts = new Float32Array(2 * visible);
        let k = 0;
        for (const key of order) {
          for (const i of groups.get(key)) {
            pts[k++] = (x[i] - ox) * dpr;
            pts[k++] = (y[i] - oy) * dpr;
          }
        }
        const frame = {seq: ++this._seq, size: [Math.round(g.w * dpr), Math.round(g.h * dpr)], dpr, pts,
                       groups: order.map(key => [key, groups.get(key).length, styles.get(key)]), halo: !!this._flashOn};
        const notes = Array.from(sup.changed, dev => {
          const i = sup.slot.get(dev);
          return i === undefined ? [dev] : [dev, lat[i], lon[i], sup.props[i].status, sup.props[i].fresh];
        });
        sup.changed.clear();
        this._flashing(order.some(key => key.startsWith("sos|")));
        this._next = null;
        const done = {seq: frame.seq, geom: g, notes, t: t0};
        if (this._worker) {
          this._pending.set(frame.seq, done);
          this._worker.postMessage(frame, [pts.buffer]);
        } else {
          this._paint(this._canvas, frame);
        }
        this._last = t0;
        this._gap = Math.min(100, 8 * (performance.now() - t0));
        measure("gridwatch:draw", t0, {markers: n, changed: notes.length});
        if (!this._worker) this._painted({seq: frame.seq, ms: performance.now() - t0}, done);
      },

      // A frame is on the canvas: the canvas takes its place, and the devices it moved are noted.
      _painted(m, done) {
        if (m.probe !== undefined) {
          const resolve = this._probes.get(m.probe);
          this._probes.delete(m.probe);
          return resolve && resolve(m.rgba);
        }
        done = done || this._pending.get(m.seq);
        if (!done) return;
        this._pending.delete(m.seq);
        this._place(done.geom);
        const t = performance.now();
        for (const [dev, lat, lon, status, fresh] of done.notes) {
          if (lat === undefined) delete drawn[dev];
          else drawn[dev] = {lat, lon, status, fresh, t};
        }
        if (this._worker) measure("gridwatch:paint", done.t, {worker_ms: m.ms});
        if (this._hover !== null) this._show(sup.slot.get(this._hover));
        if (this._again && !this._pending.size) {
          this._again = false;
          this.redraw();
        }
      },

      // The canvas pixel [r, g, b, a] under a point of the page (tests read marker colours).
      pixel(clientX, clientY) {
        const r = this._canvas.getBoundingClientRect(), dpr = this._geom.dpr;
        const at = [Math.round((clientX - r.left) * dpr), Math.round((clientY - r.top) * dpr)];
        if (!this._worker) return Promise.resolve(Array.from(this._canvas.getContext("2d").getImageData(at[0], at[1], 1, 1).data));
        return new Promise(resolve => {
          const id = ++this._seq;
          this._probes.set(id, resolve);
          this._worker.postMessage({probe: at, id});
        });
      },

      // SOS markers flash: a ring every other half second.
      _flashing(on) {
        if (on && !this._flash) {
          this._flash = setInterval(() => { this._flashOn = !this._flashOn; this.redraw(); }, 500);
        } else if (!on && this._flash) {
          clearInterval(this._flash);
          this._flash = null;
          this._flashOn = false;
        }
      },

      // The marker under the pointer: SOS first, else the nearest (a scan of the projected
      // points costs well under a millisecond for 10k).
      _hit(layerPoint) {
        const map = this._map;
        if (sup.zoom !== map.getZoom()) return undefined;
        const po = map.getPixelOrigin(), px = layerPoint.x + po.x, py = layerPoint.y + po.y;
        let best, bestD = Infinity;
        for (let i = 0; i < sup.device.length; i++) {
          const dx = sup.x[i] - px, dy = sup.y[i] - py, r = styles.get(sup.key[i]).radius + 3;
          let d = dx * dx + dy * dy;
          if (!(d <= r * r)) continue;
          if (sup.props[i].status === "sos") d -= 1e6;
          if (d < bestD) { bestD = d; best = i; }
        }
        return best;
      },
      _onMove(e) {
        const i = this._hit(e.layerPoint);
        if (i === undefined) return this._onOut();
        this._hover = sup.device[i];
        this._show(i);
      },
      _onOut() {
        if (this._hover === null) return;
        this._hover = null;
        this._tip.remove();
        this._map.getContainer().style.cursor = "";
      },
      _show(i) {
        if (i === undefined) return this._onOut();
        this._tip.setLatLng([sup.lat[i], sup.lon[i]]).setContent(tooltip(sup.props[i]));
        if (!this._tip._map) this._tip.openOn(this._map);
        this._map.getContainer().style.cursor = "pointer";
      },
    });
    return new Layer();
  }

  // A User Timing entry for DevTools and the benchmark, dropped from the timeline at once so a
  // wall that runs for weeks does not pile them up (observers still receive them).
  function measure(name, start, detail) {
    try {
      performance.measure(name, {start, end: performance.now(), detail});
      performance.clearMeasures(name);
    } catch (e) { /* User Timing L3 missing: nothing to record */ }
  }

  // eventHandlers "add" of the supervisors' LayerGroup (dashboard/mapparts.py): the canvas
  // layer joins that group, so the layers control shows and hides it with the group.
  function attachSupervisors(e) {
    if (!layer) layer = makeLayer();
    e.target.addLayer(layer);
    follow();
  }

  // Follows /api/live/deltas (server-sent events): every supervisor first, then the changed
  // ones. EventSource reconnects by itself after a network or server restart.
  let source = null;
  function follow() {
    if (source) return;
    source = new EventSource("/api/live/deltas");
    source.onmessage = function (ev) {
      const t0 = performance.now();
      const n = window.gridwatch.mergeDelta(JSON.parse(ev.data));
      measure("gridwatch:apply", t0, {features: n});
    };
  }
  // The pages with a supervisor map (CONTRACT: `/` the wall, `/console`) start the stream at
  // once, so the snapshot loads while Dash is still building the page.
  if (location.pathname === "/" || location.pathname === "/console") follow();

  function layerOf() { return layer; }

  function gridStyle(feature, context) {
    const h = (context && context.hideout) || {};
    const v = (h.values || {})[feature.properties.id];
    const max = h.max || 0;
    const level = feature.properties.level;
    let fill = 0;
    if (max > 0 && v != null) fill = 0.08 + 0.5 * Math.min(1, v / max);
    return {
      color: level === 1 ? ACCENT : "#2b3f63",
      weight: level === 1 ? 2.2 : 0.8,
      fillColor: h.fillColor || ACCENT,
      fillOpacity: fill,
    };
  }

  // Coverage: amber where the nearest supervisor is 1-2 km away, red beyond (bucket 1, 2; the
  // covered cells are not drawn).
  function coverageStyle(feature) {
    const b = feature.properties.bucket || 0;
    return {stroke: false, fillColor: b === 2 ? STATUS_RING.sos : COLORS.stale, fillOpacity: b === 0 ? 0 : (b === 2 ? 0.16 : 0.1)};
  }

  function entityMarker(feature, latlng) {
    const p = feature.properties;
    return L.circleMarker(latlng, {radius: 3 * SCALE, stroke: false, fillColor: TABLES.entity, fillOpacity: 0.8})
      .bindTooltip(`${p.name}<br>${p.category} · ${p.kind}<br>${p.uscc}<br>${p.address}`);
  }

  function orderStyle(p) {
    return {radius: 12, color: p.kind === "emergency" ? STATUS_RING.sos : ACCENT, weight: 3, fillOpacity: 0.15};
  }

  function orderMarker(feature, latlng) {
    if (feature.geometry.type !== "Point") return null;
    return L.circleMarker(latlng, orderStyle(feature.properties));
  }

  function lineStyle(feature) {
    const s = feature.properties.state;
    const done = ENGAGED.has(s);
    return {color: done ? COLORS.live : COLORS.stale, weight: 2, dashArray: done ? null : "6 6"};
  }

  // -- the wall's legend: every swatch drawn with the style function the map uses -----------------
  function swatch(kind, st) {
    const W = 30, H = 22;
    let inner;
    if (kind === "circle") {
      const r = Math.min(9, st.radius / SCALE * 0.8), w = Math.min(3, st.weight / SCALE);
      inner = `<circle cx="${W / 2}" cy="${H / 2}" r="${r}" fill="${st.fillColor || "none"}" ` +
              `fill-opacity="${st.fillOpacity == null ? 0.2 : st.fillOpacity}" stroke="${st.color}" stroke-width="${w}"/>`;
    } else if (kind === "line") {
      inner = `<line x1="2" y1="${H / 2}" x2="${W - 2}" y2="${H / 2}" stroke="${st.color}" stroke-width="${Math.max(1.5, st.weight)}"` +
              (st.dashArray ? ` stroke-dasharray="4 3"` : "") + "/>";
    } else {
      inner = `<rect x="2" y="3" width="${W - 4}" height="${H - 6}" fill="${st.fillColor}" fill-opacity="${Math.min(1, st.fillOpacity * 4)}"/>`;
    }
    return `<svg width="${W}" height="${H}" viewBox="0 0 ${W} ${H}">${inner}</svg>`;
  }

  function renderLegend(el) {
    const T = window.gridwatchI18n;
    if (!T) return false;
    const stale = el.dataset.stale, offline = el.dataset.offline;
    const cov = (b) => coverageStyle({properties: {bucket: b}});
    const rows = [
      ["circle", markerStyle({status: "on_duty", fresh: "live"}), T.t("lg_live")],
      ["circle", markerStyle({status: "on_duty", fresh: "stale"}), T.t("lg_stale", {stale})],
      ["circle", markerStyle({status: "on_duty", fresh: "offline"}), T.t("lg_offline", {offline})],
      ["circle", markerStyle({status: "busy", fresh: "live"}), T.t("lg_busy")],
      ["circle", markerStyle({status: "off_duty", fresh: "live"}), T.t("lg_off_duty")],
      ["circle", markerStyle({status: "sos", fresh: "live"}), T.t("lg_sos")],
      ["circle", orderStyle({kind: "emergency"}), T.t("lg_order_emergency")],
      ["circle", orderStyle({kind: "task"}), T.t("lg_order_task")],
      ["line", lineStyle({properties: {state: "sent"}}), T.t("lg_line_waiting")],
      ["line", lineStyle({properties: {state: TABLES.engaged[0]}}), T.t("lg_line_engaged")],
      ["rect", cov(1), T.t("lg_cov_amber")],
      ["rect", cov(2), T.t("lg_cov_red")],
      ["line", gridStyle({properties: {level: 1}}, {hideout: {}}), T.t("lg_level1")],
      ["line", gridStyle({properties: {level: 2}}, {hideout: {}}), T.t("lg_level2")],
    ];
    el.innerHTML = rows.map(([k, st, text]) =>
      `<div class="gw-lg" data-key="${k}">${swatch(k, st)}<span>${text}</span></div>`).join("") +
      (window.gridwatchTasks && window.gridwatchTasks.legendHtml ? window.gridwatchTasks.legendHtml() : "") +
      (window.gridwatchWallcase ? window.gridwatchWallcase.legendHtml() : "");
    return true;
  }

  // Dash renders the page after this script runs: fill the legend whenever one appears empty.
  new MutationObserver(() => {
    const el = document.getElementById("wall-legend-items");
    if (el && !el.childElementCount) renderLegend(el);
  }).observe(document.documentElement, {childList: true, subtree: true});

  return {drawn, entityMarker, renderLegend, coverageStyle, gridStyle, orderMarker, lineStyle, mergeDelta, attachSupervisors,
          supervisorLayer: layerOf};
})();
