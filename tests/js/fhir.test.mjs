// The package's FHIR module (client/js/fhir.js) on the fixtures: import plans
// (sections, duplicates, updates, other patients, nested bundles, refusals),
// and the exports checked against the official FHIR R4 JSON schema plus the
// Bundle and IPS rules the schema cannot express.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { root } from "./server.mjs";
import { planImport, toBundle, toPatientSummary, withoutImportBookkeeping, sectionOf } from "../../client/js/fhir.js";
import { SesphrError } from "../../client/js/errors.js";

const require = createRequire(import.meta.url);
const SchemaValidator = require("@asymmetrik/fhir-json-schema-validator");
const schema = new SchemaValidator();

const fixture = (name) => readFileSync(join(root, "tests", "js", "fixtures", name), "utf8");
const record = fixture("patient-record.json");
const ids = (list) => list.map((r) => r.id).sort();
const section = (plan, name) => plan.sections.find((s) => s.name === name);
const asSections = (plan, before = {}) => ({ ...before, ...Object.fromEntries(plan.sections.map((s) => [s.name, s.fhir])) });

test("a record's bundle lands in the standard sections, nested bundles included, with no bookkeeping", () => {
  const plan = planImport(record);
  assert.deepEqual(
    plan.sections.map((s) => [s.name, s.added.length]).sort(),
    [["allergies", 2], ["demographics", 1], ["history", 9], ["insurance", 1], ["labs", 11], ["medications", 3], ["notes", 1]],
  );
  // Immunizations from the registry bundle and the bundle nested inside it.
  assert.deepEqual(ids(section(plan, "history").fhir.filter((r) => r.resourceType === "Immunization")), ["imm-covid-2023", "imm-flu-2023", "imm-td-2015"]);
  assert.equal(plan.bundle.nested, 2);
  assert.equal(section(plan, "notes").fhir[0].resourceType, "Goal");
  // Social history goes to history; a smoker's status is not a lab result.
  assert.equal(sectionOf(section(plan, "history").fhir.find((r) => r.id === "smoking")), "history");
  // A resource named only by its urn keeps the urn as its id, so it still has an identity once stored.
  assert.ok(section(plan, "labs").fhir.some((r) => r.id === "3d5e2f10-7c4b-4b8e-9d21-aa01bb02cc03"));
  assert.equal(plan.patient.name, "Maria Grazia Rossi");
  assert.equal(plan.patient.guessed, false);
  assert.deepEqual([plan.duplicates, plan.otherPatients, plan.empty], [[], [], false]);
  for (const s of plan.sections) assert.deepEqual(Object.keys(s).sort(), ["added", "existing", "fhir", "name", "replaced"]);
  assert.ok(plan.summary.every((line) => !/_/.test(line)), "no internal code in the words shown");
});

test("importing the same bundle twice adds nothing; a newer version replaces the old one and says so", () => {
  const first = planImport(record);
  const sections = asSections(first);
  const patient = sections.demographics[0];
  const again = planImport(record, { sections, patient });
  assert.equal(again.empty, true);
  assert.equal(again.duplicates.length, 28);
  assert.ok(again.duplicates.every((d) => d.reason === "already_in_record"));
  assert.equal(again.patient.matchedBy, "identifier");
  assert.match(again.summary.join(" "), /Nothing new to import/);

  const update = planImport(fixture("patient-update.json"), { sections: new Map(Object.entries(sections)), patient });
  const labs = section(update, "labs");
  assert.deepEqual(ids(labs.added), ["k-2024-04"]);
  assert.equal(labs.replaced.length, 1);
  assert.equal(labs.replaced[0].before.valueQuantity.value, 104);
  assert.equal(labs.replaced[0].after.valueQuantity.value, 109);
  // In place, not appended: the old version is gone from the array to write.
  assert.equal(labs.fhir.filter((r) => r.id === "glu-2024-03").length, 1);
  assert.equal(labs.fhir.length, sections.labs.length + 1);
  assert.deepEqual(update.duplicates.map((d) => d.resource.id).sort(), ["ms-metformin", "p-maria"]);
  assert.match(update.summary.join(" "), /labs: 1 new resource, 1 newer version replacing what it held\./);
  // The first file again, after the update: its unversioned copy does not undo the corrected version 2.
  const older = planImport(record, { sections: asSections(update, sections), patient });
  assert.equal(older.empty, true);
  assert.deepEqual(older.duplicates.filter((d) => d.reason !== "already_in_record").map((d) => [d.reason, d.resource.id]), [["older_than_record", "glu-2024-03"]]);
});

test("a version-stamped older copy does not replace a newer one", () => {
  const newer = { resourceType: "Observation", id: "o", meta: { versionId: "3" }, status: "final", code: { text: "x" }, valueString: "new" };
  const old = { ...newer, meta: { versionId: "2" }, valueString: "old" };
  const plan = planImport({ resourceType: "Bundle", type: "collection", entry: [{ resource: old }] }, { sections: { labs: [newer] } });
  assert.equal(plan.empty, true);
  assert.equal(plan.duplicates[0].reason, "older_than_record");
  // Two versions in one file: the newest is kept.
  const both = planImport({ resourceType: "Bundle", type: "collection", entry: [{ resource: newer }, { resource: old }] });
  assert.deepEqual(section(both, "labs").fhir, [newer]);
  assert.equal(both.duplicates[0].reason, "older_in_bundle");
});

test("a bundle about six other patients is held back, named, and imported only when asked", () => {
  const mine = planImport(record).sections.find((s) => s.name === "demographics").fhir[0];
  const plan = planImport(fixture("other-patients.json"), { sections: {}, patient: mine });
  assert.equal(plan.empty, true);
  assert.deepEqual(
    plan.otherPatients.map((o) => [o.name, o.count, o.types]),
    ["Giovanni Verdi", "Anna Neri", "Paolo Russo", "Chiara Ferrari", "Marco Esposito", "Sara Colombo"].map((n) => [n, 3, { Patient: 1, Observation: 2 }]),
  );
  assert.ok(plan.otherPatients.every((o) => !o.imported));
  assert.match(plan.summary.join("\n"), /3 resources about Anna Neri, not the patient of this record: not imported\./);
  const one = planImport(fixture("other-patients.json"), { patient: mine, importOthers: [plan.otherPatients[1].key] });
  assert.deepEqual(ids(section(one, "labs").fhir), ["ward-2-glu-0", "ward-2-glu-1"]);
  assert.deepEqual(one.otherPatients.map((o) => o.imported), [false, true, false, false, false, false]);
  const all = planImport(fixture("other-patients.json"), { patient: mine, importOthers: true });
  assert.equal(section(all, "labs").fhir.length, 12);
  // With no patient in the record yet, the first named person is taken, and the guess is said.
  const fresh = planImport(fixture("other-patients.json"));
  assert.equal(fresh.patient.name, "Giovanni Verdi");
  assert.equal(fresh.patient.guessed, true);
  assert.equal(fresh.otherPatients.length, 5);
  assert.match(fresh.summary.join(" "), /names several people; it was read as Giovanni Verdi's/);
});

test("references resolve through fullUrls, versions and identifiers (the FHIR bundle-references example)", () => {
  const plan = planImport(fixture("fhir-bundle.json"));
  assert.equal(plan.patient.name, "John Doe");
  // Patient/23 relative, absolute, and by identifier: John Doe's. Others: by urn, on another server, another patient's versions.
  assert.deepEqual(ids(section(plan, "labs").fhir), ["123", "124", "48"]);
  assert.deepEqual(
    plan.otherPatients.map((o) => [o.name, o.count]),
    [
      ["Robert Smith", 2],
      ["Name 2", 3],
      ["a patient the file does not describe (http://example.org/fhir-2/Patient/1)", 1],
      ["a patient the file does not describe (http://example.org/fhir-2/Patient/23)", 1],
    ],
  );
  // Robert Smith's Observation referred to his urn: rewritten to the id his Patient got from it.
  const robert = plan.otherPatients[0].resources;
  assert.equal(robert.find((r) => r.resourceType === "Observation").subject.reference, `Patient/${robert.find((r) => r.resourceType === "Patient").id}`);
});

test("what is not a bundle is refused whole, in plain words, with a stable code", () => {
  const cases = {
    "not JSON": "{nope",
    "a single resource": '{"resourceType":"Patient"}',
    "no entries": '{"resourceType":"Bundle","type":"collection"}',
    "entries not a list": '{"resourceType":"Bundle","entry":{}}',
    "an entry without resourceType": '{"resourceType":"Bundle","entry":[{"resource":{"id":"x"}}]}',
    "an entry that is a string": '{"resourceType":"Bundle","entry":["Observation"]}',
    "nested too deep": JSON.stringify(Array.from({ length: 12 }).reduce((inner) => ({ resourceType: "Bundle", entry: [{ resource: inner }] }), { resourceType: "Bundle", entry: [{ resource: { resourceType: "Basic" } }] })),
  };
  for (const [what, json] of Object.entries(cases)) {
    assert.throws(
      () => planImport(json),
      (e) => e instanceof SesphrError && e.code === "bad_bundle" && /Nothing was imported\.$/.test(e.message) && !/bad_bundle/.test(e.message),
      what,
    );
  }
  assert.throws(() => planImport('{"resourceType":"Patient"}'), /a single FHIR Patient, not a Bundle/);
  const many = { resourceType: "Bundle", entry: Array.from({ length: 10_001 }, (_, i) => ({ resource: { resourceType: "Basic", id: `b${i}` } })) };
  assert.throws(() => planImport(many), /more than 10000 resources/);
});

test("the bookkeeping of earlier imports is taken out, and nothing typed by hand", () => {
  const fhir = [{ resourceType: "Observation", code: { text: "Glucose" }, valueQuantity: { value: 6, unit: "mmol/L" }, effectiveDateTime: "2024-01-01" }];
  const doc = { name: "labs", fields: { source: "FHIR R4 bundle", resources: "1", lab: "Synlab" }, text: "fasting\nObservation: Glucose: 6 mmol/L: 2024-01-01", fhir, attachments: [] };
  assert.deepEqual(withoutImportBookkeeping(doc), { ...doc, fields: { lab: "Synlab" }, text: "fasting" });
  const typed = { ...doc, fields: { source: "my GP" }, text: "Observation: my own line" };
  assert.deepEqual(withoutImportBookkeeping(typed), typed);
});

// ------------------------------------------------------------------ exports

function documentsOf(plan) {
  return plan.sections.map((s) => ({ name: s.name, fields: {}, text: "", fhir: s.fhir, attachments: [] }));
}

/** Rules of FHIR R4 Bundles the JSON schema does not check. */
function checkBundle(b) {
  assert.deepEqual(schema.validate(b, true), [], "valid against the FHIR R4 JSON schema");
  const urls = b.entry.map((e) => e.fullUrl);
  assert.equal(new Set(urls).size, urls.length, "bdl-7: fullUrls are unique");
  for (const u of urls) assert.match(u, /^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  // Every reference to a resource of the record now points at its entry.
  const local = new Set(b.entry.filter((e) => e.resource.id).map((e) => `${e.resource.resourceType}/${e.resource.id}`));
  const walk = (node) => {
    if (Array.isArray(node)) return node.forEach(walk);
    if (node && typeof node === "object") {
      if (typeof node.reference === "string") {
        if (node.reference.startsWith("urn:uuid:")) assert.ok(urls.includes(node.reference), `${node.reference} resolves`);
        else assert.ok(!local.has(node.reference.replace(/^.*?([A-Z][A-Za-z]+\/[^/]+)$/, "$1")), `${node.reference} was rewritten`);
      }
      Object.values(node).forEach(walk);
    }
  };
  walk(b.entry);
  for (const e of b.entry) {
    const div = e.resource.text?.div;
    if (div) assert.match(div, /^<div xmlns="http:\/\/www\.w3\.org\/1999\/xhtml">[\s\S]*<\/div>$/);
  }
}

test("a section or the whole record exports as a valid collection Bundle", () => {
  const docs = documentsOf(planImport(record));
  docs.push({
    name: "notes",
    fields: { "blood group": "A+", "<b>": "x & y" },
    text: "Prefers morning visits.\nSpeaks Italian and English.",
    fhir: [],
    attachments: [{ name: "ecg 2024.pdf", type: "application/pdf", size: 183_402 }],
  });
  const ids = ["a", "b", "c", "d", "e", "f", "0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];
  let n = 0;
  const uuid = () => `${(n++).toString(16).padStart(8, "0")}-0000-4000-8000-${"0".repeat(12)}`;
  const whole = toBundle(docs, { now: "2024-03-02T10:00:00Z", uuid });
  assert.equal(whole.type, "collection");
  assert.equal(whole.timestamp, "2024-03-02T10:00:00.000Z");
  checkBundle(whole);
  const byType = (t) => whole.entry.filter((e) => e.resource.resourceType === t).map((e) => e.resource);
  assert.equal(byType("Patient").length, 1);
  const patientUrl = whole.entry.find((e) => e.resource.resourceType === "Patient").fullUrl;
  assert.equal(byType("Observation").find((o) => o.id === "glu-2024-03").subject.reference, patientUrl);
  const report = byType("DiagnosticReport")[0];
  assert.deepEqual(report.result.map((r) => whole.entry.find((e) => e.fullUrl === r.reference).resource.id), ["hb-2024-03", "wbc-2024-03"]);
  // Hand-entered content: a DocumentReference with the text inline; the attachment named, its bytes not included.
  const [note, file] = byType("DocumentReference");
  const inline = Buffer.from(note.content[0].attachment.data, "base64").toString("utf8");
  assert.equal(inline, "blood group: A+\n<b>: x & y\nPrefers morning visits.\nSpeaks Italian and English.");
  assert.match(note.text.div, /&lt;b&gt;<\/th><td>x &amp; y<\/td>/);
  assert.equal(note.subject.reference, patientUrl);
  assert.deepEqual(file.content[0].attachment, { contentType: "application/pdf", size: 183_402, title: "ecg 2024.pdf" });
  assert.match(file.description, /not included in this export/);
  // The imported resources as they are.
  const original = JSON.parse(record).entry.find((e) => e.resource.id === "al-penicillin").resource;
  assert.deepEqual(byType("AllergyIntolerance").find((a) => a.id === "al-penicillin"), { ...original, patient: { ...original.patient, reference: patientUrl } });
  // One section alone, with the record's patient given.
  const labs = toBundle(docs.find((d) => d.name === "labs"), { patient: byType("Patient")[0] });
  checkBundle(labs);
  assert.equal(labs.entry.filter((e) => e.resource.resourceType === "Patient").length, 1);
  void ids;
});

test("the record exports as an International Patient Summary document", () => {
  const docs = documentsOf(planImport(record));
  const author = { resourceType: "Organization", id: "clinic", name: "Clinica San <Marco> & Co" };
  const ips = toPatientSummary(docs, { now: "2024-03-02T10:00:00Z", author });
  checkBundle(ips);
  assert.equal(ips.type, "document");
  assert.ok(ips.identifier.value.startsWith("urn:uuid:"), "bdl-9: a document has an identifier");
  assert.equal(ips.timestamp, "2024-03-02T10:00:00.000Z", "bdl-10: and a timestamp");
  const [first, ...rest] = ips.entry;
  const c = first.resource;
  assert.equal(c.resourceType, "Composition", "bdl-11: the first resource is the Composition");
  assert.deepEqual(c.type.coding[0], { system: "http://loinc.org", code: "60591-5", display: "Patient summary Document" });
  assert.equal(c.status, "final");
  assert.equal(c.date, "2024-03-02T10:00:00.000Z");
  const resolve = (ref) => ips.entry.find((e) => e.fullUrl === ref.reference)?.resource;
  assert.equal(resolve(c.subject).id, "p-maria");
  assert.equal(resolve(c.author[0]).name, author.name);
  assert.match(c.title, /Maria Grazia Rossi/);
  const codes = c.section.map((s) => s.code.coding[0].code);
  assert.deepEqual(codes, ["48765-2", "10160-0", "11450-4", "11348-0", "11369-6", "47519-4", "8716-3", "30954-2", "29762-2"]);
  const sectionOfCode = (code) => c.section.find((s) => s.code.coding[0].code === code);
  const types = (code) => sectionOfCode(code).entry.map((e) => resolve(e)?.resourceType ?? "unresolved");
  assert.deepEqual(types("48765-2"), ["AllergyIntolerance", "AllergyIntolerance"]);
  assert.deepEqual(types("11450-4"), ["Condition", "Condition"]);
  assert.deepEqual(sectionOfCode("11348-0").entry.map((e) => resolve(e).id), ["c-appendicitis"]);
  assert.deepEqual(types("11369-6"), ["Immunization", "Immunization", "Immunization"]);
  assert.deepEqual(types("8716-3"), ["Observation", "Observation"]);
  assert.ok(types("30954-2").includes("DiagnosticReport"));
  for (const s of c.section) {
    assert.equal(s.text.status, "generated");
    assert.match(s.text.div, /^<div xmlns="http:\/\/www\.w3\.org\/1999\/xhtml"><table>/);
    assert.equal(s.emptyReason, undefined);
  }
  assert.match(sectionOfCode("48765-2").text.div, /<td>Penicillin \(Skin rash, Swelling\)<\/td><td>Active<\/td>/);
  // Every entry is referred to by the Composition or by another entry (nothing stray), and every section entry resolves.
  for (const e of rest) assert.ok(JSON.stringify(ips.entry.filter((x) => x !== e)).includes(e.fullUrl), `${e.resource.resourceType} is referred to`);
  // Nothing that is not the patient's: no Encounter, no Coverage, no notes.
  assert.ok(!rest.some((e) => ["Encounter", "Coverage", "Goal"].includes(e.resource.resourceType)));
});

test("an IPS of a record with no allergies, medications or problems says so in each required section", () => {
  const docs = documentsOf(planImport(record)).filter((d) => d.name === "demographics");
  const ips = toPatientSummary(docs, { now: 0 });
  checkBundle(ips);
  const c = ips.entry[0].resource;
  assert.deepEqual(c.section.map((s) => s.code.coding[0].code), ["48765-2", "10160-0", "11450-4"]);
  for (const s of c.section) {
    assert.equal(s.entry, undefined, "cmp-2: an empty reason only on an empty section");
    assert.equal(s.emptyReason.coding[0].code, "unavailable");
    assert.match(s.text.div, /<p>No information about /);
  }
  // The patient as author of their own summary.
  assert.equal(c.author[0].reference, ips.entry[1].fullUrl);
  assert.equal(ips.entry[1].resource.resourceType, "Patient");
  assert.throws(() => toPatientSummary([{ name: "labs", fhir: [] }]), (e) => e.code === "no_patient" && !/no_patient/.test(e.message));
});

test("an IPS leaves out what is about another patient of the record", () => {
  const plan = planImport(fixture("fhir-bundle.json"), { importOthers: true });
  const ips = toPatientSummary(documentsOf(plan), { now: 0 });
  checkBundle(ips);
  const patients = ips.entry.filter((e) => e.resource.resourceType === "Patient").map((e) => e.resource.name[0].text);
  assert.deepEqual(patients, ["John Doe"]);
  const results = ips.entry[0].resource.section.find((s) => s.code.coding[0].code === "30954-2");
  const observations = results.entry.map((r) => ips.entry.find((e) => e.fullUrl === r.reference).resource);
  // Robert Smith's (12), Patient/45's (47) and the one about http://example.org/fhir-2/Patient/1 are left out.
  // (The other Observation/14 said "Patient/23" relative to another server: stored without its fullUrl,
  // it reads as John Doe's; the importer held it back, and only importOthers brought it in.)
  assert.deepEqual(observations.map((o) => o.subject.reference ?? "by identifier").filter((r) => r !== ips.entry[1].fullUrl), ["by identifier"]);
  assert.deepEqual(observations.map((o) => o.id).sort(), ["123", "124", "14", "48"]);
  assert.equal(observations.find((o) => o.id === "14").subject.reference, ips.entry[1].fullUrl);
  assert.ok(!observations.some((o) => ["12", "47"].includes(o.id)));
});

test("resources shaped unlike FHIR R4, and files nested too deeply for the reader, are refused whole in plain words", () => {
  const wrap = (...resources) => JSON.stringify({ resourceType: "Bundle", type: "collection", entry: resources.map((resource) => ({ resource })) });
  const cases = [
    [{ resourceType: "Patient", id: "p", name: [{ family: "Rossi", given: "Maria" }] }, /"name\.given" that is not a list/],
    [{ resourceType: "Patient", id: "p", telecom: "555-1234" }, /"telecom" that is not a list/],
    [{ resourceType: "Observation", id: "o", code: { coding: "x" } }, /"code\.coding" that is not a list/],
    [{ resourceType: "Observation", id: "o", code: { text: "Glucose" }, referenceRange: {} }, /"referenceRange" that is not a list/],
    [{ resourceType: "Observation", id: "o", interpretation: { text: "high" } }, /"interpretation" that is not a list/],
    [{ resourceType: "Coverage", id: "c", payor: "Acme" }, /"payor" that is not a list/],
    [{ resourceType: "Patient", id: "p", name: [{ given: [1, 2] }] }, /items that are not text/],
    [{ resourceType: "Condition", id: "c", code: { coding: ["x"] } }, /items that are not codings/],
  ];
  for (const [resource, why] of cases) {
    let error;
    try {
      planImport(wrap(resource));
    } catch (e) {
      error = e;
    }
    assert.ok(error instanceof SesphrError, `${JSON.stringify(resource)} is refused`);
    assert.equal(error.code, "bad_bundle");
    assert.match(error.message, why);
    assert.match(error.message, /Nothing was imported\.$/);
    assert.doesNotMatch(error.message, /bad_bundle|TypeError|undefined/);
  }
  // JSON nested far deeper than any record: refused, not a crash.
  let deep = '"x"';
  for (let i = 0; i < 100_000; i++) deep = `[${deep}]`;
  const text = `{"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"Basic","id":"b","extension":${deep}}}]}`;
  assert.throws(() => planImport(text), (e) => e.code === "bad_bundle" && /nested/.test(e.message));
});

test("an IPS of the record imported back adds nothing (its Composition is the document's own contents page)", () => {
  const plan = planImport(record);
  const sections = asSections(plan);
  const docs = Object.entries(sections).map(([name, fhir]) => ({ name, fields: {}, text: "", fhir, attachments: [] }));
  const again = planImport(toPatientSummary(docs, { now: new Date("2026-12-01T10:00:00Z") }), { sections, patient: section(plan, "demographics").fhir[0] });
  assert.equal(again.empty, true, again.summary.join(" "));
  assert.match(again.summary.join(" "), /summary page \(its Composition\) is not imported/);
});
