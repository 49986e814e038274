// The one error type of the package, and the wrappers that turn errors
// thrown by the wasm core (plain objects with a `code`) into it.

/** Every failure: a stable `code`, and the HTTP `status` when a server refused. */
export class SesphrError extends Error {
  constructor(code, message, options = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "SesphrError";
    this.code = code;
    this.status = options.status;
  }
}

export function rethrow(e) {
  if (e instanceof SesphrError) throw e;
  if (e && typeof e === "object" && typeof e.code === "string") {
    throw new SesphrError(e.code, e.message, { cause: e });
  }
  throw new SesphrError("internal", String(e && e.message ? e.message : e), { cause: e });
}

export function guard(fn) {
  try {
    return fn();
  } catch (e) {
    rethrow(e);
  }
}
