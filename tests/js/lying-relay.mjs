// A lying relay: a real HTTP proxy in front of a real server that passes
// every request through unchanged, except that a test may rewrite, drop or
// replay the answers to chosen requests, as a relay forwarding `/srs/*` to
// the SRS could. Clients (the npm package, the portal in Chromium) talk to
// it exactly as to the relay itself; nothing in them knows it is there.
import { createServer } from "node:http";
import { Readable } from "node:stream";

/**
 * Starts a proxy to `target` (a base URL). Resolves to `{url, lie(fn),
 * truth(), seen, stop()}`: `lie(fn)` makes every answer pass through
 * `fn({method, path, status, headers, body (Buffer)})`, which returns the
 * answer to give instead (`{status?, headers?, body?}`), `"drop"` (the
 * request is NOT forwarded: the server never sees it; the client gets what
 * `fn` returns on a second call with `dropped: true`, or a 502), or
 * undefined (unchanged). `seen` keeps every forwarded answer by path
 * (newest last), for replays.
 */
export async function startLyingRelay(target) {
  let liar;
  const seen = new Map();
  const server = createServer(async (req, res) => {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const body = Buffer.concat(chunks);
    const path = req.url;
    const base = { method: req.method, path };
    try {
      if (liar && liar({ ...base, request: body, before: true }) === "drop") {
        const fake = liar({ ...base, request: body, dropped: true }) ?? { status: 502, body: Buffer.from("{}") };
        return send(res, fake.status ?? 200, fake.headers ?? { "content-type": "application/json" }, fake.body);
      }
      const headers = { ...req.headers };
      delete headers.host;
      delete headers["content-length"];
      const resp = await fetch(new URL(path, target), {
        method: req.method,
        headers,
        body: ["GET", "HEAD"].includes(req.method) ? undefined : body,
        redirect: "manual",
      });
      const answer = { ...base, status: resp.status, headers: Object.fromEntries(resp.headers), body: Buffer.from(await resp.arrayBuffer()) };
      if (!seen.has(path)) seen.set(path, []);
      seen.get(path).push(answer);
      const told = (liar && liar(answer)) || {};
      const out = { ...answer, ...told };
      send(res, out.status, out.headers, out.body);
    } catch (e) {
      send(res, 502, { "content-type": "text/plain" }, Buffer.from(String(e)));
    }
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${server.address().port}`;
  return {
    url,
    seen,
    lie(fn) {
      liar = fn;
    },
    truth() {
      liar = undefined;
    },
    stop: () => new Promise((r) => server.close(r)),
  };
}

function send(res, status, headers, body) {
  const h = { ...headers };
  delete h["content-length"];
  delete h["transfer-encoding"];
  delete h["content-encoding"];
  res.writeHead(status, h);
  Readable.from([body ?? Buffer.alloc(0)]).pipe(res);
}

/** Reads a JSON answer body. */
export const jsonOf = (answer) => JSON.parse(answer.body.toString("utf8"));
/** A JSON answer body. */
export const asJson = (value) => Buffer.from(JSON.stringify(value));
