// The one error type of the package. The wasm core throws it directly
// (init() registers the class with the core), so every failure, from the
// core, a server or the network, is a SesphrError with a stable code.

/**
 * Every failure: a stable `code`, the HTTP `status` when a server refused,
 * and for `stale` the versions compared (`found` against `known`).
 */
export class SesphrError extends Error {
  constructor(code, message, options = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "SesphrError";
    this.code = code;
    this.status = options.status;
  }
}

/**
 * Whether the same request may succeed if sent again: the network failed,
 * a server failed (5xx) or asked to slow down (429).
 */
export function isTransient(e) {
  return e instanceof SesphrError && (e.code === "network" || e.status >= 500 || e.status === 429);
}
