// The terminal's service worker (served at /sw.js, root scope): a reload without a network
// still shows the terminal page and its inspection queue. Pages and their static files go to
// the network first and are kept in the cache as they pass; without a network the cached copy
// is served. The API is never touched here (the page's own outbox in IndexedDB handles it), so
// the browser's offline state applies to it as to any page request.
const CACHE = "gw-terminal-v1";
const PRECACHE = ["/terminal", "/static/i18n.js", "/static/inspect/vendor/signature_pad.umd.min.js",
                  "/static/inspect/vendor/barcode-detector.js", "/static/inspect/vendor/zxing_reader.wasm"];
const STATIC = ["/assets/", "/static/", "/_dash-component-suites/", "/_dash-layout", "/_dash-dependencies",
                "/_favicon.ico"];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((c) => Promise.all(
    PRECACHE.map((u) => c.add(new Request(u, {credentials: "same-origin"})).catch(() => null)))));
  self.skipWaiting();
});

self.addEventListener("activate", (event) => { event.waitUntil(self.clients.claim()); });

function cacheable(url, request) {
  if (url.origin !== self.location.origin || request.method !== "GET") return false;
  if (request.mode === "navigate") return url.pathname === "/terminal";
  return STATIC.some((p) => url.pathname.startsWith(p));
}

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (!cacheable(url, event.request)) return;        // the API and other pages: straight to the network
  const key = event.request.mode === "navigate" ? "/terminal" : event.request;
  event.respondWith(fetch(event.request).then((res) => {
    if (res.ok && !res.redirected) {
      const copy = res.clone();
      caches.open(CACHE).then((c) => c.put(key, copy));
    }
    return res;
  }).catch(() => caches.match(key, {ignoreSearch: event.request.mode === "navigate"}).then((hit) =>
    hit || new Response("offline", {status: 503, headers: {"Content-Type": "text/plain"}}))));
});
