// The part of node:assert/strict that shared test cases use, for a browser
// page (where node:assert does not exist): equal, notEqual, deepEqual,
// notDeepEqual, ok, match, fail, with the same strict meaning (Object.is,
// same prototypes, typed arrays by content). Node runs the same cases with
// node:assert/strict itself, so a case may use nothing else.

/** A short rendering of a value for a failure message. */
function show(v, depth = 0) {
  if (typeof v === "string") return JSON.stringify(v.length > 200 ? `${v.slice(0, 200)}…` : v);
  if (typeof v === "bigint") return `${v}n`;
  if (typeof v !== "object" || v === null) return String(v);
  if (ArrayBuffer.isView(v)) {
    const bytes = Array.from(new Uint8Array(v.buffer, v.byteOffset, Math.min(v.byteLength, 40)));
    const hex = bytes.map((b) => b.toString(16).padStart(2, "0")).join("");
    return `${v.constructor.name}(${v.length}) ${hex}${v.byteLength > 40 ? "…" : ""}`;
  }
  if (depth > 2) return Array.isArray(v) ? "[…]" : "{…}";
  if (Array.isArray(v)) return `[${v.map((x) => show(x, depth + 1)).join(", ")}]`;
  if (v instanceof Map) return `Map {${[...v].map(([k, x]) => `${show(k, depth + 1)} => ${show(x, depth + 1)}`).join(", ")}}`;
  if (v instanceof Error) return `${v.name}: ${v.message}`;
  return `{${Object.keys(v)
    .map((k) => `${k}: ${show(v[k], depth + 1)}`)
    .join(", ")}}`;
}

/** Whether `a` and `b` are deeply and strictly equal (node's isDeepStrictEqual, for plain data). */
function same(a, b) {
  if (Object.is(a, b)) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false;
  if (ArrayBuffer.isView(a)) return a.length === b.length && Array.prototype.every.call(a, (x, i) => Object.is(x, b[i]));
  if (a instanceof Date) return a.getTime() === b.getTime();
  if (a instanceof Map) return a.size === b.size && [...a].every(([k, v]) => b.has(k) && same(v, b.get(k)));
  if (a instanceof Set) return a.size === b.size && [...a].every((v) => b.has(v));
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => Object.hasOwn(b, k) && same(a[k], b[k]));
}

class AssertionError extends Error {
  constructor(message, what) {
    super(message ?? what);
    this.name = "AssertionError";
  }
}

const check = (pass, message, what) => {
  if (!pass) throw message instanceof Error ? message : new AssertionError(message, what);
};

export const assert = {
  AssertionError,
  ok(value, message) {
    check(!!value, message, `expected a truthy value, got ${show(value)}`);
  },
  equal(actual, expected, message) {
    check(Object.is(actual, expected), message, `expected ${show(expected)}, got ${show(actual)}`);
  },
  notEqual(actual, expected, message) {
    check(!Object.is(actual, expected), message, `expected anything but ${show(expected)}`);
  },
  deepEqual(actual, expected, message) {
    check(same(actual, expected), message, `expected deeply ${show(expected)}, got ${show(actual)}`);
  },
  notDeepEqual(actual, expected, message) {
    check(!same(actual, expected), message, `expected anything but deeply ${show(expected)}`);
  },
  match(string, regexp, message) {
    check(typeof string === "string" && regexp.test(string), message, `expected ${show(string)} to match ${regexp}`);
  },
  fail(message = "failed") {
    throw message instanceof Error ? message : new AssertionError(message);
  },
};
