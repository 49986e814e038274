// fetch() to other servers from a test page, with no change to the servers.
// A page the relay serves may only fetch its own origin (its CSP is
// `default-src 'self'`, and the relay sends no CORS headers), and it may not
// be framed (`frame-ancestors 'none'`). So a request to another origin is
// made by a window of that origin, opened by the page (bridge.html there,
// which calls `serveBridge()`), with the page's own fetch: a real browser
// request, same-origin where it is made. Only the request and the response
// cross between the two windows, by postMessage.

const NULL_BODY = new Set([101, 103, 204, 205, 304]);

/** The bridge window of each other origin (a promise of it, once asked for). */
const bridges = new Map();
const waiting = new Map();
const pending = new Map();
let next = 0;

if (typeof window === "object") {
  window.addEventListener("message", (e) => {
    if (e.data?.bridge === "ready") return waiting.get(e.origin)?.(e.source);
    const reply = pending.get(e.data?.id);
    if (!reply || reply.origin !== e.origin) return;
    pending.delete(e.data.id);
    reply.settle(e.data);
  });
}

function bridgeTo(origin) {
  if (!bridges.has(origin)) {
    const opened = new Promise((resolve, reject) => {
      waiting.set(origin, resolve);
      if (!window.open(`${origin}/bridge.html`, `bridge ${origin}`)) reject(new Error(`cannot open a window of ${origin}`));
    });
    bridges.set(origin, opened);
  }
  return bridges.get(origin);
}

/** fetch(), reaching other origins through their bridge windows (method, headers and body are carried across). */
export async function bridgedFetch(input, init = {}) {
  const url = new URL(String(input), location.href);
  if (url.origin === location.origin) return fetch(input, init);
  const target = await bridgeTo(url.origin);
  const headers = init.headers instanceof Headers ? [...init.headers] : init.headers;
  const message = { id: ++next, url: url.href, init: { method: init.method, headers, body: init.body } };
  const reply = await new Promise((settle) => {
    pending.set(message.id, { origin: url.origin, settle });
    target.postMessage(message, url.origin);
  });
  // As fetch itself fails when the network does.
  if (reply.error !== undefined) throw new TypeError(reply.error);
  const body = NULL_BODY.has(reply.status) ? null : reply.body;
  return new Response(body, { status: reply.status, statusText: reply.statusText, headers: reply.headers });
}

/** Closes every bridge window (their servers may be about to stop). */
export async function closeBridges() {
  const open = [...bridges.values()];
  bridges.clear();
  waiting.clear();
  for (const w of await Promise.allSettled(open)) if (w.status === "fulfilled") w.value.close();
}

/** In bridge.html: makes the requests of the window that opened this one, and answers with the responses. */
export function serveBridge() {
  const opener = window.opener;
  window.addEventListener("message", async (e) => {
    if (e.source !== opener) return;
    const { id, url, init } = e.data;
    try {
      const resp = await fetch(url, init);
      const body = await resp.arrayBuffer();
      const reply = { id, status: resp.status, statusText: resp.statusText, headers: [...resp.headers], body };
      opener.postMessage(reply, e.origin, [body]);
    } catch (err) {
      opener.postMessage({ id, error: String(err?.message ?? err) }, e.origin);
    }
  });
  // Whoever opened it learns this origin from the message; nothing secret is in it.
  opener.postMessage({ bridge: "ready" }, "*");
}
