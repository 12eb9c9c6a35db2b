// The terminal's SOS is pressed and held, not tapped: a phone in a pocket must not raise a
// false alarm. Holding #term-sos for HOLD_MS fills its bar and then fires (sets the
// term-sos-fire store, which the server's callback raises from); letting go earlier does nothing.
window.gridwatchTerminal = (function () {
  const HOLD_MS = 1500;
  const S = {fired: 0, timer: null, start: 0, raf: null};

  function bar(btn) { return btn.querySelector(".gw-hold"); }

  function stop(btn) {
    clearTimeout(S.timer);
    cancelAnimationFrame(S.raf);
    S.timer = null;
    if (btn && bar(btn)) bar(btn).style.width = "0";
  }

  function grow(btn) {
    const f = Math.min(1, (performance.now() - S.start) / HOLD_MS);
    if (bar(btn)) bar(btn).style.width = `${f * 100}%`;
    if (f < 1 && S.timer) S.raf = requestAnimationFrame(() => grow(btn));
  }

  document.addEventListener("pointerdown", (e) => {
    const btn = e.target.closest && e.target.closest("#term-sos");
    if (!btn || btn.disabled) return;
    e.preventDefault();
    stop(btn);
    S.start = performance.now();
    S.timer = setTimeout(() => {
      S.timer = null;
      S.fired += 1;
      if (bar(btn)) bar(btn).style.width = "100%";
      if (navigator.vibrate) navigator.vibrate(200);
      window.dash_clientside.set_props("term-sos-fire", {data: Date.now()});
      setTimeout(() => stop(btn), 600);
    }, HOLD_MS);
    grow(btn);
  });
  for (const ev of ["pointerup", "pointercancel", "pointerleave"]) {
    document.addEventListener(ev, (e) => {
      const btn = document.getElementById("term-sos");
      if (S.timer && btn && (ev !== "pointerleave" || e.target === btn)) stop(btn);
    }, true);
  }
  // a long press would open the phone's context menu over the button
  document.addEventListener("contextmenu", (e) => {
    if (e.target.closest && e.target.closest("#term-sos")) e.preventDefault();
  });
  return {HOLD_MS, state: S};
})();
