// FHIR R4 in and out of a record: planning an import (which resources go to
// which section, which are already there, which are about someone else),
// and exporting sections as a `collection` Bundle or the whole record as an
// International Patient Summary (HL7 IPS) `document` Bundle. Pure functions
// over plain JSON: no DOM, no I/O, no wasm.
//
// A section document keeps its resources as they came, with one change on
// import: a resource without an `id` whose `fullUrl` is `urn:uuid:X` gets
// the id X, and references to that urn become `Type/X`, so they still
// resolve once the resource is stored without its bundle.

import { SesphrError } from "./errors.js";

/** Nested bundles deeper than this are refused. */
export const MAX_BUNDLE_DEPTH = 8;
/** Bundles holding more resources than this (all levels together) are refused. */
export const MAX_BUNDLE_RESOURCES = 10_000;

/** The section each resource type goes to (anything else: `notes`). */
const SECTION_OF = {
  Patient: "demographics",
  RelatedPerson: "demographics",
  Condition: "history",
  Procedure: "history",
  Encounter: "history",
  Immunization: "history",
  ImmunizationRecommendation: "history",
  FamilyMemberHistory: "history",
  CarePlan: "history",
  ClinicalImpression: "history",
  MedicationStatement: "medications",
  MedicationRequest: "medications",
  MedicationAdministration: "medications",
  MedicationDispense: "medications",
  Medication: "medications",
  AllergyIntolerance: "allergies",
  Observation: "labs",
  DiagnosticReport: "labs",
  Specimen: "labs",
  ImagingStudy: "imaging",
  Media: "imaging",
  Coverage: "insurance",
  Claim: "insurance",
  ClaimResponse: "insurance",
  ExplanationOfBenefit: "insurance",
};

const isObject = (v) => typeof v === "object" && v !== null && !Array.isArray(v);

function categoryCodes(r) {
  return (r.category ?? []).flatMap((c) => (c?.coding ?? []).map((x) => x?.code)).filter(Boolean);
}

/** The standard section a resource belongs in. */
export function sectionOf(resource) {
  const type = resource?.resourceType;
  if (type === "Observation" && categoryCodes(resource).includes("social-history")) return "history";
  if (type === "DiagnosticReport" && categoryCodes(resource).some((c) => ["RAD", "imaging", "LP29684-5"].includes(c))) {
    return "imaging";
  }
  return SECTION_OF[type] ?? "notes";
}

/**
 * Elements that FHIR R4 defines as lists (0..* or 1..*) wherever they occur
 * (in every resource and datatype that has them), and those whose items are
 * strings. Names that are a list in one place and single in another (`type`,
 * `category`, `performer`, `dosage`, `bodySite`, `address`, …) are not
 * checked: a valid file must never be refused; the views cope with the rest.
 */
const LISTS = new Set([
  "telecom", "contact", "given", "prefix", "suffix", "line", "coding", "referenceRange", "interpretation",
  "note", "reaction", "manifestation", "dosageInstruction", "payor", "component", "reasonCode",
  "reasonReference", "participant", "extension", "modifierExtension", "contained", "communication",
  "generalPractitioner", "hasMember", "derivedFrom", "basedOn", "protocolApplied", "series", "instance",
  "relatesTo", "attester",
]);
/** Resources whose `name` is a list of HumanName (elsewhere `name` is often a string). */
const NAMED = new Set(["Patient", "Practitioner", "RelatedPerson", "Person"]);
const STRING_LISTS = new Set(["given", "prefix", "suffix", "line"]);
const MAX_SHAPE_DEPTH = 64;

/** Why resource `r` is misshapen (an element that must be a list is not, …), or undefined. */
function misshapen(r) {
  const walk = (node, path, depth) => {
    if (depth > MAX_SHAPE_DEPTH) return `is nested more than ${MAX_SHAPE_DEPTH} levels deep`;
    if (Array.isArray(node)) {
      for (const v of node) {
        const why = walk(v, path, depth + 1);
        if (why) return why;
      }
      return undefined;
    }
    if (!isObject(node)) return undefined;
    for (const [k, v] of Object.entries(node)) {
      if (k === "resourceType" || k === "div") continue;
      // (`identifier` is a list in most resources but single in a Reference,
      // a Composition or a Bundle: read either way, never checked.)
      const list = LISTS.has(k) || (depth === 0 && k === "name" && NAMED.has(node.resourceType));
      if (list && !Array.isArray(v)) return `has "${path}${k}" that is not a list`;
      if (STRING_LISTS.has(k) && !v.every((x) => typeof x === "string")) return `has "${path}${k}" with items that are not text`;
      if (k === "coding" && !v.every(isObject)) return `has "${path}${k}" with items that are not codings`;
      if (typeof v === "object" && v !== null) {
        const why = walk(v, `${path}${k}.`, depth + 1);
        if (why) return why;
      }
    }
    return undefined;
  };
  return walk(r, "", 0);
}

function bad(message) {
  return new SesphrError("bad_bundle", `This file cannot be imported: ${message}. Nothing was imported.`);
}

// ------------------------------------------------------------------ words

/** CodeableConcept → words: its text, else its first coding's display, else its code. */
export function conceptText(c) {
  if (!isObject(c)) return undefined;
  return c.text ?? c.coding?.find((x) => x?.display)?.display ?? c.coding?.[0]?.code;
}

/** HumanName[] → one name in words. */
export function nameText(names) {
  const n = (names ?? []).find((x) => x?.use === "official") ?? names?.[0];
  if (!isObject(n)) return undefined;
  return n.text ?? ([...(n.prefix ?? []), ...(n.given ?? []), n.family, ...(n.suffix ?? [])].filter(Boolean).join(" ") || undefined);
}

function quantityText(q) {
  if (!isObject(q) || q.value === undefined) return undefined;
  return `${q.comparator ?? ""}${q.value}${q.unit ?? q.code ? ` ${q.unit ?? q.code}` : ""}`;
}

/** A one-line description of a resource, in words (for plans, narratives and lists). */
export function describe(r) {
  const c = conceptText;
  switch (r?.resourceType) {
    case "Patient":
    case "RelatedPerson":
    case "Practitioner":
      return [nameText(r.name), r.birthDate && `born ${r.birthDate}`].filter(Boolean).join(", ") || r.resourceType;
    case "Observation": {
      const value = quantityText(r.valueQuantity) ?? c(r.valueCodeableConcept) ?? r.valueString ?? (r.valueBoolean !== undefined ? String(r.valueBoolean) : undefined);
      const when = r.effectiveDateTime ?? r.effectivePeriod?.start ?? r.issued;
      return [[c(r.code) ?? "Observation", value].filter(Boolean).join(": "), when && `(${when.slice(0, 10)})`].filter(Boolean).join(" ");
    }
    case "MedicationStatement":
    case "MedicationRequest":
    case "MedicationAdministration":
    case "MedicationDispense": {
      const med = c(r.medicationCodeableConcept) ?? r.medicationReference?.display ?? "Medication";
      const dose = r.dosage?.[0]?.text ?? r.dosageInstruction?.[0]?.text;
      return [med, dose].filter(Boolean).join(", ");
    }
    case "AllergyIntolerance": {
      const reaction = r.reaction?.flatMap((x) => (x.manifestation ?? []).map(c)).filter(Boolean).join(", ");
      return [c(r.code) ?? "Allergy", reaction && `(${reaction})`].filter(Boolean).join(" ");
    }
    case "Immunization":
      return [c(r.vaccineCode) ?? "Immunization", r.occurrenceDateTime?.slice(0, 10)].filter(Boolean).join(", ");
    case "Encounter":
      return [c(r.type?.[0]) ?? c(r.class) ?? r.class?.display ?? "Encounter", r.period?.start?.slice(0, 10)].filter(Boolean).join(", ");
    case "Coverage":
      return [c(r.type) ?? "Coverage", r.payor?.[0]?.display, r.subscriberId].filter(Boolean).join(", ");
    case "DocumentReference":
      return r.description ?? c(r.type) ?? r.content?.[0]?.attachment?.title ?? "Document";
    case "Medication":
      return c(r.code) ?? "Medication";
    default:
      return c(r?.code) ?? c(r?.type) ?? c(Array.isArray(r?.type) ? r.type[0] : undefined) ?? r?.name ?? r?.title ?? r?.id ?? r?.resourceType;
  }
}

// ------------------------------------------------------------------ identity and references

/** Canonical JSON (sorted keys), for comparing resources by content. */
function canonical(v) {
  if (Array.isArray(v)) return `[${v.map(canonical).join(",")}]`;
  if (isObject(v)) {
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`)
      .join(",")}}`;
  }
  return JSON.stringify(v);
}

/** The content of a resource without its `meta` (which servers rewrite on every read). */
function content(r) {
  const { meta, ...rest } = r;
  return canonical(rest);
}

function identifierKeys(r) {
  return (Array.isArray(r?.identifier) ? r.identifier : r?.identifier ? [r.identifier] : [])
    .filter((i) => i?.system && i?.value)
    .map((i) => `${i.system}|${i.value}`);
}

/** The keys under which a stored resource is the same as another: `Type/id` and `Type|system|value`. */
function identityKeys(r) {
  const keys = identifierKeys(r).map((k) => `${r.resourceType}|${k}`);
  if (r.id) keys.unshift(`${r.resourceType}/${r.id}`);
  return keys;
}

/**
 * Whether `a` is an older version than `b`: by meta.versionId, else
 * meta.lastUpdated; a copy with neither is older than one that has them.
 */
function isOlder(a, b) {
  const stamped = (r) => r.meta?.versionId !== undefined || r.meta?.lastUpdated !== undefined;
  if (!stamped(a) && stamped(b)) return true;
  const va = Number(a.meta?.versionId);
  const vb = Number(b.meta?.versionId);
  if (Number.isFinite(va) && Number.isFinite(vb) && va !== vb) return va < vb;
  const la = Date.parse(a.meta?.lastUpdated ?? "");
  const lb = Date.parse(b.meta?.lastUpdated ?? "");
  return Number.isFinite(la) && Number.isFinite(lb) && la < lb;
}

const RESTFUL = /^((?:https?:\/\/.*?\/)?)([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[^/]+)?$/;

/**
 * A reference string resolved against the `fullUrl` of the resource that
 * holds it (FHIR R4, "Resolving references in Bundles"): `{url, type, id}`,
 * `url` absolute when it can be made so.
 */
function resolveRef(ref, baseFullUrl) {
  if (typeof ref !== "string" || ref.startsWith("#")) return undefined;
  if (ref.startsWith("urn:")) return { url: ref };
  const m = RESTFUL.exec(ref);
  if (!m) return { url: ref };
  const [, base, type, id] = m;
  let url = `${base}${type}/${id}`;
  if (!base) {
    const b = RESTFUL.exec(baseFullUrl ?? "");
    if (b?.[1]) url = `${b[1]}${type}/${id}`;
  }
  return { url, type, id, absolute: /^https?:/.test(url) };
}

/** Every Reference object in a resource (not inside contained resources), with a setter. */
function* references(node) {
  if (Array.isArray(node)) {
    for (const v of node) yield* references(v);
  } else if (isObject(node)) {
    if (typeof node.reference === "string") yield node;
    for (const [k, v] of Object.entries(node)) {
      if (k !== "contained" && typeof v === "object") yield* references(v);
    }
  }
}

/** The reference from a resource to the patient it is about. */
function patientRef(r) {
  if (r.resourceType === "Patient") return undefined;
  for (const field of ["subject", "patient", "beneficiary"]) {
    const v = r[field];
    if (!isObject(v)) continue;
    const type = typeof v.reference === "string" ? RESTFUL.exec(v.reference)?.[2] : v.type;
    if (v.reference?.startsWith("urn:") || type === "Patient" || (type === undefined && (v.reference || v.identifier))) return v;
  }
  return undefined;
}

// ------------------------------------------------------------------ import

function parse(input) {
  if (typeof input === "string" || input instanceof Uint8Array) {
    const text = typeof input === "string" ? input : new TextDecoder().decode(input);
    try {
      return JSON.parse(text);
    } catch {
      throw bad("it is not JSON (a FHIR bundle is a JSON file starting with {)");
    }
  }
  return input;
}

/** Walks a bundle and the bundles nested in it: `[{resource, fullUrl, depth}]`. */
function flatten(bundle) {
  if (!isObject(bundle) || bundle.resourceType !== "Bundle") {
    throw bad(`it is ${isObject(bundle) && typeof bundle.resourceType === "string" ? `a single FHIR ${bundle.resourceType}, not a Bundle` : "not a FHIR Bundle"}`);
  }
  const out = [];
  let nested = 0;
  const walk = (b, depth) => {
    if (depth > MAX_BUNDLE_DEPTH) throw bad(`it has bundles nested more than ${MAX_BUNDLE_DEPTH} deep`);
    if (b.entry !== undefined && !Array.isArray(b.entry)) throw bad("its entries are not a list");
    (b.entry ?? []).forEach((entry, i) => {
      const where = depth ? `entry ${i + 1} of a bundle inside it` : `entry ${i + 1}`;
      if (!isObject(entry)) throw bad(`${where} is not an object`);
      const r = entry.resource;
      if (r === undefined) return; // e.g. a DELETE in a transaction: nothing to keep
      if (!isObject(r) || typeof r.resourceType !== "string" || !/^[A-Z][A-Za-z]+$/.test(r.resourceType)) {
        throw bad(`${where} has no resource with a resourceType`);
      }
      if (r.resourceType === "Bundle") {
        nested++;
        walk(r, depth + 1);
        return;
      }
      if (out.length >= MAX_BUNDLE_RESOURCES) throw bad(`it holds more than ${MAX_BUNDLE_RESOURCES} resources`);
      const wrong = misshapen(r);
      if (wrong) throw bad(`${where} (${r.resourceType}${typeof r.id === "string" ? ` "${r.id}"` : ""}) ${wrong}, which FHIR R4 does not allow`);
      out.push({ resource: structuredClone(r), fullUrl: typeof entry.fullUrl === "string" ? entry.fullUrl : undefined, depth });
    });
  };
  walk(bundle, 0);
  if (!out.length) throw bad("it holds no resources");
  return { items: out, nested };
}

/**
 * Gives urn-named resources the id of their urn and rewrites references to
 * them as `Type/id`; returns the rewritten Reference objects (they still
 * resolve to the urn, not against the holder's fullUrl) and `Type/id` → urn.
 */
function localize(items) {
  const byUrn = new Map();
  for (const it of items) {
    if (!it.fullUrl?.startsWith("urn:")) continue;
    const tail = it.fullUrl.replace(/^urn:(uuid|oid):/, "");
    if (!it.resource.id && /^[A-Za-z0-9\-.]{1,64}$/.test(tail)) it.resource.id = tail;
    if (it.resource.id) byUrn.set(it.fullUrl, `${it.resource.resourceType}/${it.resource.id}`);
  }
  const rewritten = new WeakSet();
  for (const it of items) {
    for (const ref of references(it.resource)) {
      if (byUrn.has(ref.reference)) {
        ref.reference = byUrn.get(ref.reference);
        rewritten.add(ref);
      }
    }
  }
  return { rewritten, urnOf: new Map([...byUrn].map(([urn, tail]) => [tail, urn])) };
}

/** The people of a bundle: Patient entries merged by fullUrl and identifier, and patients only referred to. */
class People {
  constructor({ rewritten, urnOf }) {
    this.groups = [];
    this.rewritten = rewritten;
    this.urnOf = urnOf;
  }
  find(pred) {
    return this.groups.find(pred);
  }
  ofPatient(it) {
    const r = it.resource;
    const url = it.fullUrl && !it.fullUrl.startsWith("urn:") ? resolveRef(`${r.resourceType}/${r.id}`, it.fullUrl)?.url ?? it.fullUrl : it.fullUrl;
    const ids = identifierKeys(r);
    let g = this.find((g) => (url && g.urls.has(url)) || ids.some((k) => g.identifiers.has(k)));
    if (!g) {
      g = { key: url ?? `Patient/${r.id ?? this.groups.length}`, urls: new Set(), identifiers: new Set(), tails: new Set(), patients: [], resources: [] };
      this.groups.push(g);
    }
    if (url) g.urls.add(url);
    if (it.fullUrl) g.urls.add(it.fullUrl);
    if (r.id) g.tails.add(`Patient/${r.id}`);
    ids.forEach((k) => g.identifiers.add(k));
    g.patients.push(r);
    return g;
  }
  ofReference(ref, it) {
    if (ref.reference) {
      const res = this.rewritten.has(ref) ? { ...resolveRef(ref.reference), url: this.urnOf.get(ref.reference) } : resolveRef(ref.reference, it.fullUrl);
      const tail = res?.type ? `${res.type}/${res.id}` : undefined;
      let g = this.find((g) => g.urls.has(res?.url));
      // A relative reference in a resource without an absolute fullUrl: match the id alone.
      if (!g && tail && !res.absolute) g = this.find((g) => g.tails.has(tail));
      if (g) return g;
      const key = res?.url ?? ref.reference;
      g = this.find((g) => g.key === key);
      if (!g) {
        g = { key, urls: new Set([key]), identifiers: new Set(), tails: new Set(tail ? [tail] : []), patients: [], resources: [], display: ref.display };
        this.groups.push(g);
      }
      return g;
    }
    const ids = identifierKeys(ref);
    if (!ids.length) return undefined;
    let g = this.find((g) => ids.some((k) => g.identifiers.has(k)));
    if (!g) {
      g = { key: ids[0], urls: new Set(), identifiers: new Set(ids), tails: new Set(), patients: [], resources: [], display: ref.display };
      this.groups.push(g);
    }
    return g;
  }
}

function personName(g) {
  const latest = [...g.patients].sort((a, b) => (isOlder(a, b) ? 1 : isOlder(b, a) ? -1 : 0))[0];
  return nameText(latest?.name) ?? g.display ?? `a patient the file does not describe (${g.key})`;
}

function sameAsRecordPatient(g, patient) {
  const ids = identifierKeys(patient);
  if (ids.some((k) => g.identifiers.has(k))) return "identifier";
  if (patient.id && g.tails.has(`Patient/${patient.id}`)) return g.patients.length ? "id" : "reference";
  const name = nameText(patient.name)?.toLowerCase();
  if (name && patient.birthDate && g.patients.some((p) => nameText(p.name)?.toLowerCase() === name && p.birthDate === patient.birthDate)) {
    return "name and birth date";
  }
  return undefined;
}

function sectionMap(sections) {
  const m = new Map();
  const entries = sections instanceof Map ? [...sections] : Object.entries(sections ?? {});
  for (const [name, fhir] of entries) m.set(name, Array.isArray(fhir) ? fhir : []);
  return m;
}

/**
 * Plans the import of a FHIR R4 Bundle (JSON text, bytes or an object) into
 * a record whose sections hold `sections` (section name → its FHIR array).
 * Nothing is written: the caller shows the plan, then writes `plan.sections`.
 * Throws `bad_bundle` (nothing imported) for anything that is not a bundle.
 */
export function planImport(input, options = {}) {
  try {
    return plan(input, options);
  } catch (e) {
    if (e instanceof SesphrError) throw e;
    // Anything else is a file this code did not expect: refused whole.
    throw bad(e instanceof RangeError ? "it is nested too deeply to read" : "it is not FHIR this portal can read");
  }
}

function plan(input, { sections, patient, importOthers = false } = {}) {
  const bundle = parse(input);
  const flat = flatten(bundle);
  const nested = flat.nested;
  // A document's Composition is its table of contents, rebuilt on every
  // export (an IPS of this record imported back adds nothing).
  const items = flat.items.filter((it) => !(bundle.type === "document" && it.depth === 0 && it.resource.resourceType === "Composition"));
  const contents = flat.items.length - items.length;
  const people = new People(localize(items));
  for (const it of items) it.content = content(it.resource);

  // Who each resource is about.
  for (const it of items) if (it.resource.resourceType === "Patient") it.person = people.ofPatient(it);
  for (const it of items) {
    if (it.person) continue;
    const ref = patientRef(it.resource);
    if (ref) it.person = people.ofReference(ref, it);
  }
  for (const it of items) it.person?.resources.push(it);

  // Whose record this is.
  let primary = [];
  let guessed = false;
  let matchedBy;
  if (isObject(patient)) {
    for (const how of ["identifier", "id", "name and birth date", "reference"]) {
      primary = people.groups.filter((g) => sameAsRecordPatient(g, patient) === how);
      if (primary.length) {
        matchedBy = how;
        break;
      }
    }
  } else if (people.groups.length) {
    const composition = items.find((it) => it.resource.resourceType === "Composition" && it.depth === 0);
    const fromComposition = composition && isObject(composition.resource.subject) ? people.ofReference(composition.resource.subject, composition) : undefined;
    const named = people.groups.filter((g) => g.patients.length);
    const mostReferred = [...people.groups].sort((a, b) => b.resources.length - a.resources.length)[0];
    primary = [fromComposition ?? named[0] ?? mostReferred];
    guessed = people.groups.length > 1;
  }
  const isPrimary = (g) => primary.includes(g);

  // Others' resources, held back unless asked for.
  const others = people.groups
    .filter((g) => !isPrimary(g) && g.resources.length)
    .map((g) => {
      const types = {};
      for (const it of g.resources) types[it.resource.resourceType] = (types[it.resource.resourceType] ?? 0) + 1;
      const imported = importOthers === true || (Array.isArray(importOthers) && importOthers.includes(g.key));
      return { key: g.key, name: personName(g), count: g.resources.length, types, imported, resources: g.resources.map((it) => it.resource) };
    });
  const heldBack = new Set(people.groups.filter((g) => !isPrimary(g) && !others.find((o) => o.key === g.key)?.imported));
  const candidates = items.filter((it) => !(it.person && heldBack.has(it.person)));

  // Repeats inside the bundle: keep the newest version of each resource.
  const duplicates = [];
  const kept = [];
  const bundleKey = (it) => (it.fullUrl && /^https?:/.test(it.fullUrl) ? it.fullUrl : it.resource.id ? `${it.resource.resourceType}/${it.resource.id}` : undefined);
  for (const it of candidates) {
    const key = bundleKey(it);
    const same = kept.findIndex((k) => (key !== undefined && bundleKey(k) === key) || k.content === it.content);
    if (same < 0) {
      kept.push(it);
      continue;
    }
    const other = kept[same];
    const newer = isOlder(other.resource, it.resource);
    const loser = newer ? other : it;
    if (newer) kept[same] = it;
    duplicates.push({ resource: loser.resource, section: sectionOf(loser.resource), reason: other.content === it.content ? "repeated_in_bundle" : "older_in_bundle", label: describe(loser.resource) });
  }

  // Against what the record holds already.
  const existing = sectionMap(sections);
  const out = new Map([...existing].map(([name, fhir]) => [name, { name, fhir: [...fhir], added: [], replaced: [], existing: true, touched: false }]));
  const target = (name) => {
    if (!out.has(name)) out.set(name, { name, fhir: [], added: [], replaced: [], existing: false, touched: false });
    return out.get(name);
  };
  const byKey = new Map();
  const present = new Map(); // `Type content` → section name
  const remember = (s, i) => {
    const r = s.fhir[i];
    identityKeys(r).forEach((k) => byKey.set(k, { s, i }));
    present.set(`${r.resourceType} ${content(r)}`, s.name);
  };
  for (const s of out.values()) s.fhir.forEach((_, i) => remember(s, i));
  for (const it of kept) {
    const r = it.resource;
    const identical = present.get(`${r.resourceType} ${it.content}`);
    if (identical !== undefined) {
      duplicates.push({ resource: r, section: identical, reason: "already_in_record", label: describe(r) });
      continue;
    }
    const hit = identityKeys(r).map((k) => byKey.get(k)).find(Boolean);
    if (hit) {
      const before = hit.s.fhir[hit.i];
      if (isOlder(r, before)) {
        duplicates.push({ resource: r, section: hit.s.name, reason: "older_than_record", label: describe(r) });
        continue;
      }
      hit.s.fhir[hit.i] = r;
      hit.s.replaced.push({ before, after: r });
      hit.s.touched = true;
      remember(hit.s, hit.i);
      continue;
    }
    const s = target(sectionOf(r));
    s.fhir.push(r);
    s.added.push(r);
    s.touched = true;
    remember(s, s.fhir.length - 1);
  }

  const changed = [...out.values()].filter((s) => s.touched).map(({ touched, ...s }) => s);
  const main = primary[0];
  const plan = {
    bundle: { id: bundle.id, type: bundle.type, resources: items.length, nested, contents },
    patient: main
      ? { key: main.key, name: personName(main), resource: main.patients.at(-1), from: isObject(patient) ? "record" : "bundle", matchedBy, guessed }
      : isObject(patient)
        ? { name: nameText(patient.name), resource: patient, from: "record", matchedBy: undefined, guessed: false }
        : undefined,
    sections: changed,
    duplicates,
    otherPatients: others,
    empty: changed.length === 0,
  };
  plan.summary = summarize(plan);
  return plan;
}

const plural = (n, one, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** The plan in plain sentences, for the person importing. */
function summarize(plan) {
  const lines = [];
  for (const s of plan.sections) {
    const parts = [];
    if (s.added.length) parts.push(`${plural(s.added.length, "new resource")}`);
    if (s.replaced.length) parts.push(`${plural(s.replaced.length, "newer version")} replacing what it held`);
    lines.push(`${s.name}: ${parts.join(", ")}${s.existing ? "" : " (a new section)"}.`);
  }
  const dup = plan.duplicates.length;
  if (dup) lines.push(`${plural(dup, "resource")} already in the record or repeated in the file: skipped.`);
  if (plan.bundle.contents) lines.push("The document's own summary page (its Composition) is not imported: an export writes a new one.");
  if (plan.bundle.nested) lines.push(`${plural(plan.bundle.nested, "bundle")} inside the file: read as well.`);
  for (const o of plan.otherPatients) {
    lines.push(
      o.imported
        ? `${plural(o.count, "resource")} about ${o.name}: imported as you asked.`
        : `${plural(o.count, "resource")} about ${o.name}, not the patient of this record: not imported.`,
    );
  }
  if (plan.patient?.guessed) lines.push(`The file names several people; it was read as ${plan.patient.name}'s.`);
  if (plan.empty) lines.push("Nothing new to import.");
  return lines;
}

// ------------------------------------------------------------------ legacy bookkeeping

/** The summary lines the portal's importer used to write into a section's text. */
function legacySummary(r) {
  try {
    return legacyLine(r);
  } catch {
    return undefined; // a misshapen resource had no such line
  }
}

function legacyLine(r) {
  const text = (c) => c?.text ?? c?.coding?.[0]?.display ?? c?.coding?.[0]?.code;
  switch (r.resourceType) {
    case "Patient": {
      const n = r.name?.[0];
      return [n?.text ?? [n?.given?.join(" "), n?.family].filter(Boolean).join(" "), r.gender, r.birthDate].filter(Boolean).join(", ");
    }
    case "Observation": {
      const q = r.valueQuantity;
      return [text(r.code), q ? `${q.value} ${q.unit ?? ""}`.trim() : r.valueString, r.effectiveDateTime].filter(Boolean).join(": ");
    }
    case "MedicationStatement":
    case "MedicationRequest":
      return text(r.medicationCodeableConcept) ?? r.medicationReference?.display ?? "medication";
    default:
      return text(r.code) ?? text(r.type) ?? r.id ?? r.resourceType;
  }
}

/**
 * A section document without the bookkeeping earlier imports wrote as if it
 * were clinical data: the fields `source: FHIR R4 bundle` and `resources`,
 * and the text lines that only listed its resources. Anything typed by hand stays.
 */
export function withoutImportBookkeeping(doc) {
  const fields = { ...(doc.fields ?? {}) };
  if (fields.source === "FHIR R4 bundle") {
    delete fields.source;
    if (/^\d+$/.test(fields.resources ?? "")) delete fields.resources;
  }
  const generated = new Set((doc.fhir ?? []).map((r) => `${r.resourceType}: ${legacySummary(r)}`));
  const text = (doc.text ?? "")
    .split("\n")
    .filter((line) => !generated.has(line))
    .join("\n");
  return { ...doc, fields, text: text.trim() === "" ? "" : text };
}

// ------------------------------------------------------------------ export

function uuid() {
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** Escapes text for XHTML. */
export function xhtmlEscape(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

const XHTML = "http://www.w3.org/1999/xhtml";
const div = (inner) => `<div xmlns="${XHTML}">${inner}</div>`;
const narrative = (inner) => ({ status: "generated", div: div(inner) });

function base64(text) {
  const bytes = new TextEncoder().encode(text);
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

function asDocuments(documents) {
  const list = Array.isArray(documents) ? documents : [documents];
  for (const d of list) {
    if (!isObject(d) || typeof d.name !== "string") {
      throw new SesphrError("invalid_argument", "Expected section documents ({name, fields, text, fhir, attachments}).");
    }
  }
  return list.map((d) => withoutImportBookkeeping({ fields: {}, text: "", fhir: [], attachments: [], ...d }));
}

function findPatient(docs, patient) {
  if (isObject(patient)) return patient;
  const demo = docs.find((d) => d.name === "demographics");
  return (demo?.fhir ?? []).find((r) => r.resourceType === "Patient") ?? docs.flatMap((d) => d.fhir).find((r) => r.resourceType === "Patient");
}

/**
 * The resources a set of documents stand for: imported ones as they are,
 * hand-entered fields and text as one DocumentReference per section, each
 * attachment as a DocumentReference that names it without its content.
 */
function resourcesOf(docs, subject, now) {
  const out = [];
  for (const d of docs) {
    for (const r of d.fhir) out.push({ resource: r, section: d.name });
    const fields = Object.entries(d.fields ?? {});
    if (fields.length || d.text) {
      const plain = [...fields.map(([k, v]) => `${k}: ${v}`), ...(d.text ? [d.text] : [])].join("\n");
      const rows = fields.map(([k, v]) => `<tr><th>${xhtmlEscape(k)}</th><td>${xhtmlEscape(v)}</td></tr>`).join("");
      out.push({
        section: d.name,
        generated: true,
        resource: {
          resourceType: "DocumentReference",
          text: narrative(
            `<p><b>${xhtmlEscape(d.name)}</b>, written in the record</p>${rows ? `<table>${rows}</table>` : ""}${d.text ? `<p>${xhtmlEscape(d.text).replace(/\n/g, "<br/>")}</p>` : ""}`,
          ),
          status: "current",
          type: { coding: [{ system: "http://loinc.org", code: "34109-9", display: "Note" }], text: "Note" },
          ...(subject ? { subject } : {}),
          date: now,
          description: `The ${d.name} section as written in the record (fields and text)`,
          content: [{ attachment: { contentType: "text/plain; charset=utf-8", language: undefined, data: base64(plain), title: `${d.name}.txt` } }],
        },
      });
    }
    for (const a of d.attachments ?? []) {
      // `data` (base64) is given by a caller that hands over a copy of the
      // bytes (a SMART Health Link); an export without it names the file only.
      const included = typeof a.data === "string";
      const what = `Attachment <b>${xhtmlEscape(a.name)}</b> (${xhtmlEscape(a.type || "unknown type")}, ${xhtmlEscape(a.size)} bytes) of the ${xhtmlEscape(d.name)} section.`;
      out.push({
        section: d.name,
        generated: true,
        resource: {
          resourceType: "DocumentReference",
          text: narrative(included ? `<p>${what}</p>` : `<p>${what} Its content is not included in this export: it stays encrypted in the record.</p>`),
          status: "current",
          ...(subject ? { subject } : {}),
          date: now,
          description: included
            ? `Attachment of the ${d.name} section`
            : `Attachment of the ${d.name} section; its content is not included in this export (it stays encrypted in the record)`,
          content: [{ attachment: { contentType: a.type || "application/octet-stream", ...(included ? { data: a.data } : {}), size: a.size, title: a.name } }],
        },
      });
    }
  }
  for (const o of out) if (o.resource.content?.[0]?.attachment) delete o.resource.content[0].attachment.language;
  return out;
}

/**
 * Gives every resource a `urn:uuid:` fullUrl and rewrites the references
 * that point at resources of the set (by `Type/id`, absolute URL ending in
 * it, or a urn) to those fullUrls. Returns the entries.
 */
function withFullUrls(items, makeId) {
  const urlOf = new Map();
  for (const it of items) {
    it.resource = structuredClone(it.resource);
    it.fullUrl = `urn:uuid:${makeId()}`;
    if (it.resource.id) urlOf.set(`${it.resource.resourceType}/${it.resource.id}`, it.fullUrl);
  }
  for (const it of items) {
    for (const ref of references(it.resource)) {
      if (ref.reference.startsWith("urn:uuid:") && items.some((x) => x.fullUrl === ref.reference)) continue;
      const r = resolveRef(ref.reference);
      const tail = r?.type ? `${r.type}/${r.id}` : undefined;
      if (tail && urlOf.has(tail)) ref.reference = urlOf.get(tail);
    }
  }
  return items;
}

/** Keeps the resources about the patient or about no patient: drops other Patients and what refers to them. */
function aboutPatient(items, patient) {
  if (!patient) return items;
  const ids = new Set(identifierKeys(patient));
  const isMine = (r) => r === patient || (patient.id && r.id === patient.id) || identifierKeys(r).some((k) => ids.has(k));
  const mine = new Set(items.filter((it) => it.resource.resourceType === "Patient" && isMine(it.resource)).map((it) => `Patient/${it.resource.id}`));
  if (patient.id) mine.add(`Patient/${patient.id}`);
  return items.filter((it) => {
    if (it.resource.resourceType === "Patient") return isMine(it.resource);
    const ref = patientRef(it.resource);
    if (!ref) return true;
    if (!ref.reference) return identifierKeys(ref).some((k) => ids.has(k));
    const r = resolveRef(ref.reference);
    return r?.type === "Patient" && mine.has(`Patient/${r.id}`);
  });
}

/**
 * A FHIR R4 `collection` Bundle of one or more section documents: their
 * imported resources as they are, hand-entered fields and text and each
 * attachment as DocumentReferences (see README.md).
 */
export function toBundle(documents, { patient, now = new Date(), uuid: makeId = uuid } = {}) {
  const docs = asDocuments(documents);
  const when = new Date(now).toISOString();
  const who = findPatient(docs, patient);
  const items = resourcesOf(docs, who?.id ? { reference: `Patient/${who.id}` } : undefined, when);
  if (who && !items.some((it) => it.resource === who || (who.id && it.resource.resourceType === "Patient" && it.resource.id === who.id))) {
    items.unshift({ resource: who, section: "demographics" });
  }
  const entries = withFullUrls(items, makeId);
  return {
    resourceType: "Bundle",
    identifier: { system: "urn:ietf:rfc:3986", value: `urn:uuid:${makeId()}` },
    type: "collection",
    timestamp: when,
    entry: entries.map((it) => ({ fullUrl: it.fullUrl, resource: it.resource })),
  };
}

/** IPS sections: LOINC code, title, which resources go there, and what to say when it is empty. */
const IPS_SECTIONS = [
  { code: "48765-2", display: "Allergies and adverse reactions Document", title: "Allergies and Intolerances", required: true, none: "No information about allergies or intolerances.", holds: (r) => r.resourceType === "AllergyIntolerance" },
  {
    code: "10160-0",
    display: "History of Medication use Narrative",
    title: "Medication Summary",
    required: true,
    none: "No information about medications.",
    holds: (r) => ["MedicationStatement", "MedicationRequest", "MedicationAdministration", "MedicationDispense"].includes(r.resourceType),
  },
  {
    code: "11450-4",
    display: "Problem list - Reported",
    title: "Active Problems",
    required: true,
    none: "No information about problems.",
    holds: (r) => r.resourceType === "Condition" && !isResolved(r),
  },
  { code: "11348-0", display: "History of Past illness Narrative", title: "Past History of Illness", holds: (r) => r.resourceType === "Condition" && isResolved(r) },
  { code: "11369-6", display: "History of Immunization Narrative", title: "Immunizations", holds: (r) => r.resourceType === "Immunization" },
  { code: "47519-4", display: "History of Procedures Document", title: "History of Procedures", holds: (r) => r.resourceType === "Procedure" },
  { code: "8716-3", display: "Vital signs", title: "Vital Signs", holds: (r) => r.resourceType === "Observation" && categoryCodes(r).includes("vital-signs") },
  {
    code: "30954-2",
    display: "Relevant diagnostic tests/laboratory data Narrative",
    title: "Results",
    holds: (r) => (r.resourceType === "Observation" && !categoryCodes(r).some((c) => ["vital-signs", "social-history"].includes(c))) || r.resourceType === "DiagnosticReport",
  },
  { code: "29762-2", display: "Social history Narrative", title: "Social History", holds: (r) => r.resourceType === "Observation" && categoryCodes(r).includes("social-history") },
];

function isResolved(r) {
  const status = r.clinicalStatus?.coding?.[0]?.code;
  return ["inactive", "resolved", "remission"].includes(status);
}

function dateOf(r) {
  return (
    r.effectiveDateTime ?? r.effectivePeriod?.start ?? r.occurrenceDateTime ?? r.performedDateTime ?? r.performedPeriod?.start ?? r.onsetDateTime ?? r.recordedDate ?? r.authoredOn ?? r.issued ?? r.effectivePeriod?.start
  );
}

function statusOf(r) {
  return conceptText(r.clinicalStatus) ?? r.status;
}

/**
 * An International Patient Summary (HL7 IPS, http://hl7.org/fhir/uv/ips) of
 * the record: a `document` Bundle whose first entry is the Composition.
 * `author` is a Practitioner, Organization, Device or RelatedPerson resource
 * to include (default: the patient, as the author of their own summary).
 * Throws `no_patient` if the record has no Patient resource.
 */
export function toPatientSummary(documents, { now = new Date(), author, patient, uuid: makeId = uuid } = {}) {
  const docs = asDocuments(documents);
  const when = new Date(now).toISOString();
  const who = findPatient(docs, patient);
  if (!who) {
    throw new SesphrError(
      "no_patient",
      "A patient summary needs the patient's details as a FHIR Patient in the demographics section (import them from a FHIR file first).",
    );
  }
  const all = docs.flatMap((d) => d.fhir.map((r) => ({ resource: r, section: d.name })));
  const pool = aboutPatient(all, who);
  const patientItem = pool.find((it) => it.resource === who) ?? { resource: who };
  const chosen = new Set([patientItem]);
  const sections = IPS_SECTIONS.map((s) => ({ ...s, items: pool.filter((it) => it.resource !== who && s.holds(it.resource)) }));
  for (const s of sections) s.items.forEach((it) => chosen.add(it));
  // What the chosen resources refer to (a report's results, a medication, a practitioner), if the record has it.
  const byTail = new Map(pool.filter((it) => it.resource.id).map((it) => [`${it.resource.resourceType}/${it.resource.id}`, it]));
  const queue = [...chosen];
  while (queue.length) {
    for (const ref of references(queue.pop().resource)) {
      const r = resolveRef(ref.reference);
      const hit = r?.type && byTail.get(`${r.type}/${r.id}`);
      if (hit && !chosen.has(hit)) {
        chosen.add(hit);
        queue.push(hit);
      }
    }
  }
  let authorItem;
  if (isObject(author)) {
    if (!["Practitioner", "PractitionerRole", "Organization", "Device", "RelatedPerson", "Patient"].includes(author.resourceType)) {
      throw new SesphrError("invalid_argument", "The author of a patient summary is a Practitioner, PractitionerRole, Organization, Device, RelatedPerson or Patient resource.");
    }
    authorItem = { resource: author };
  }
  const composition = { resource: { resourceType: "Composition" } };
  const items = [composition, patientItem, ...[...chosen].filter((it) => it !== patientItem), ...(authorItem ? [authorItem] : [])];
  withFullUrls(items, makeId);
  const urlOf = new Map(items.map((it) => [it.resource, it.fullUrl]));
  const sectionEntries = sections
    .filter((s) => s.required || s.items.length)
    .map((s) => {
      const section = {
        title: s.title,
        code: { coding: [{ system: "http://loinc.org", code: s.code, display: s.display }] },
      };
      if (s.items.length) {
        const rows = s.items
          .map((it) => {
            const r = it.resource;
            return `<tr><td>${xhtmlEscape(describe(r))}</td><td>${xhtmlEscape(statusOf(r) ?? "")}</td><td>${xhtmlEscape(dateOf(r)?.slice(0, 10) ?? "")}</td></tr>`;
          })
          .join("");
        section.text = narrative(`<table><thead><tr><th>${xhtmlEscape(s.title)}</th><th>Status</th><th>Date</th></tr></thead><tbody>${rows}</tbody></table>`);
        section.entry = s.items.map((it) => ({ reference: it.fullUrl }));
      } else {
        section.text = narrative(`<p>${xhtmlEscape(s.none)}</p>`);
        section.emptyReason = {
          coding: [{ system: "http://terminology.hl7.org/CodeSystem/list-empty-reason", code: "unavailable", display: "Unavailable" }],
          text: s.none,
        };
      }
      return section;
    });
  const patientName = nameText(who.name) ?? "the patient";
  const authorRef = authorItem
    ? { reference: authorItem.fullUrl, display: describe(authorItem.resource) }
    : { reference: patientItem.fullUrl, display: patientName };
  composition.resource = {
    resourceType: "Composition",
    text: narrative(`<p>International Patient Summary of <b>${xhtmlEscape(patientName)}</b>, made on ${xhtmlEscape(when.slice(0, 10))} from their personal health record.</p>`),
    identifier: { system: "urn:ietf:rfc:3986", value: `urn:uuid:${makeId()}` },
    status: "final",
    type: { coding: [{ system: "http://loinc.org", code: "60591-5", display: "Patient summary Document" }] },
    subject: { reference: urlOf.get(patientItem.resource), display: patientName },
    date: when,
    author: [authorRef],
    title: `Patient Summary of ${patientName}`,
    confidentiality: "N",
    event: [
      {
        code: [{ coding: [{ system: "http://terminology.hl7.org/CodeSystem/v3-ActClass", code: "PCPR" }] }],
        period: { end: when },
      },
    ],
    section: sectionEntries,
  };
  return {
    resourceType: "Bundle",
    identifier: { system: "urn:ietf:rfc:3986", value: `urn:uuid:${makeId()}` },
    type: "document",
    timestamp: when,
    entry: items.map((it) => ({ fullUrl: it.fullUrl, resource: it.resource })),
  };
}
