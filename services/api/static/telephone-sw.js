// The service worker of the animator's phone app. It keeps the app's shell and the files it
// needs, so that the app opens with no network; the app's data (the week, the sheets waiting)
// lives in the phone's IndexedDB, written by the app itself. Requests for data and posted sheets
// are never answered from here: the app sees the network as it is and keeps what it could not send.
//
// Files are answered from the cache at once and refreshed from the network behind (stale while
// revalidate): a new version reaches the phone the next time it is opened online.
const VERSION = "__VERSION__";
const APP = "__APP__";
const CACHE = `passerelle-telephone-${VERSION}`;
const SHELL = `${APP}/`;
const FILES = [
  SHELL,
  "/static/dsfr/dsfr.min.css",
  "/static/dsfr/utility/icons/icons.min.css",
  "/static/passerelle/passerelle.css",
  "/static/passerelle/telephone.js",
  "/static/passerelle/icone-192.png",
  "/static/jsqr/jsQR.js",
];

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches
      .open(CACHE)
      .then((cache) => cache.addAll(FILES))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((names) =>
        Promise.all(
          names.filter((name) => name.startsWith("passerelle-telephone-") && name !== CACHE).map((name) => caches.delete(name)),
        ),
      )
      .then(() => self.clients.claim()),
  );
});

/** Whether the worker answers `request`: the shell and the files, never data nor a post. */
function kept(request) {
  if (request.method !== "GET") return false;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return false;
  if (request.mode === "navigate") return url.pathname === SHELL || url.pathname === APP;
  return url.pathname.startsWith("/static/");
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (!kept(request)) return;
  const key = request.mode === "navigate" ? SHELL : request;
  event.respondWith(
    caches.open(CACHE).then(async (cache) => {
      const cached = await cache.match(key);
      const fresh = fetch(request)
        .then((response) => {
          // Only a page or file answered as such is kept: never the sign-in page a redirection
          // leads to once the session has ended.
          if (response.ok && !response.redirected) cache.put(key, response.clone());
          return response;
        })
        .catch(() => undefined);
      if (cached) {
        event.waitUntil(fresh);
        return cached;
      }
      return (await fresh) ?? new Response("Hors connexion", { status: 503, headers: { "content-type": "text/plain; charset=utf-8" } });
    }),
  );
});
