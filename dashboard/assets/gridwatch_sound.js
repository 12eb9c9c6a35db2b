// The wall's alarm sound: while the SOS/escalation banner is up and the duty officer has
// switched sound on (the bell button; remembered in this browser), a two-tone beep every
// 4 s. Browsers allow sound only after a click on the page, which switching it on is; a wall
// started in kiosk mode can also pass --autoplay-policy=no-user-gesture-required.
window.gridwatchSound = (function () {
  const KEY = "gridwatch.sound";
  const S = {enabled: localStorage.getItem(KEY) === "on", beeps: 0, audio: null};
  let timer = null;

  function beep() {
    try {
      S.audio = S.audio || new (window.AudioContext || window.webkitAudioContext)();
      if (S.audio.state === "suspended") S.audio.resume();
      const t0 = S.audio.currentTime;
      [[0, 880], [0.35, 660]].forEach(([dt, hz]) => {
        const osc = S.audio.createOscillator(), gain = S.audio.createGain();
        osc.type = "square";
        osc.frequency.value = hz;
        gain.gain.setValueAtTime(0.0001, t0 + dt);
        gain.gain.exponentialRampToValueAtTime(0.3, t0 + dt + 0.02);
        gain.gain.exponentialRampToValueAtTime(0.0001, t0 + dt + 0.3);
        osc.connect(gain).connect(S.audio.destination);
        osc.start(t0 + dt);
        osc.stop(t0 + dt + 0.32);
      });
      S.beeps += 1;
    } catch (e) {
      console.warn("gridwatch: no sound", e);
    }
  }

  function show() {
    const b = document.getElementById("wall-sound");
    if (b) {
      b.classList.toggle("gw-on", S.enabled);
      b.setAttribute("aria-pressed", String(S.enabled));
    }
  }

  function check() {
    const banner = document.getElementById("wall-banner");
    const alarm = !!(banner && banner.classList.contains("gw-on")) && S.enabled;
    if (alarm && !timer) {
      beep();
      timer = setInterval(beep, 4000);
    } else if (!alarm && timer) {
      clearInterval(timer);
      timer = null;
    }
  }

  document.addEventListener("click", (e) => {
    if (!e.target.closest || !e.target.closest("#wall-sound")) return;
    S.enabled = !S.enabled;
    localStorage.setItem(KEY, S.enabled ? "on" : "off");
    show();
    check();
  });
  setInterval(() => { show(); check(); }, 1000);  // the banner is Dash's; a poll costs nothing
  return S;
})();
