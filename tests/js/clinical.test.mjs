// The portal's clinical views (www/clinical.js) in jsdom: what a reader sees
// of each kind of resource, flags and trends of labs, and narratives copied
// without anything that runs or loads.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { JSDOM } from "jsdom";
import { root } from "./server.mjs";
import { planImport } from "../../client/js/fhir.js";

let renderClinical, narrative, formatDate, flagOf;

before(async () => {
  const dom = new JSDOM("<!doctype html><body></body>", { runScripts: "outside-only" });
  globalThis.document = dom.window.document;
  globalThis.DOMParser = dom.window.DOMParser;
  ({ renderClinical, narrative, formatDate, flagOf } = await import("../../www/clinical.js"));
});

const bundle = readFileSync(join(root, "tests", "js", "fixtures", "patient-record.json"), "utf8");
const sectionsOf = () => Object.fromEntries(planImport(bundle).sections.map((s) => [s.name, s.fhir]));
const rows = (node, caption) => {
  const t = [...node.querySelectorAll("table")].find((x) => x.caption.textContent === caption);
  assert.ok(t, `a table "${caption}"`);
  return [...t.tBodies[0].rows].map((r) => [...r.cells].map((c) => c.textContent.trim()));
};

test("labs: newest first, value, unit, range and flag, reports grouping their results, trends for repeated tests", () => {
  const view = renderClinical(sectionsOf().labs);
  const loose = rows(view, "Results");
  const columns = [...view.querySelector("table").tHead.rows[0].cells].map((c) => c.textContent);
  assert.deepEqual(columns, ["Date", "Test", "Value", "Unit", "Reference range", "Flag", "Trend"]);
  assert.equal(loose[0][0], formatDate("2024-03-01"));
  assert.equal(loose.at(-1)[0], formatDate("2023-09-14"));
  const glucose = loose.filter((r) => r[1] === "Glucose");
  assert.equal(glucose.length, 3);
  assert.deepEqual(glucose.map((r) => r[2]), ["104", "121", "138"], "newest first");
  assert.deepEqual(glucose[0].slice(0, 6), [formatDate("2024-03-01"), "Glucose", "104", "mg/dL", "70–99 mg/dL", "H"]);
  // 121 carries no interpretation: its flag comes from the range.
  const g121 = view.querySelector('tr[data-id="glu-2024-01"] abbr.flag');
  assert.equal(g121.textContent, "H");
  assert.match(g121.title, /outside the reference range/);
  // Potassium 3.3 under 3.5: Low, computed.
  assert.equal(view.querySelector('tr[data-id="k-2024-03"]').dataset.flag, "low");
  // Trends: the latest glucose went down from 121, with a sparkline of all three; the first one has none.
  assert.match(glucose[0][6], /^↓ from 121 \(/);
  const spark = view.querySelector('tr[data-id="glu-2024-03"] svg.sparkline');
  assert.equal(spark.querySelector("polyline").getAttribute("points").split(" ").length, 3);
  assert.match(spark.getAttribute("aria-label"), /138 on .*, 121 on .*, 104 on /);
  assert.equal(view.querySelector('tr[data-id="glu-2023-09"] .trend'), null);
  assert.match(rows(view, "Results").find((r) => r[1] === "HbA1c" && r[2] === "6.6")[6], /^↓ from 7.4/);
  // Components and coded values.
  assert.equal(loose.find((r) => r[1] === "Blood pressure")[2], "Systolic blood pressure 142 mmHgDiastolic blood pressure 88 mmHg");
  // The CBC report lists its two results, not in the loose table.
  const cbc = view.querySelector('.clinical-report[data-id="cbc-2024-03"]');
  assert.match(cbc.querySelector("caption").textContent, /^Complete blood count · .* · final$/);
  assert.deepEqual(rows(cbc, cbc.querySelector("caption").textContent).map((r) => r[1]), ["Hemoglobin", "White blood cells"]);
  assert.ok(!loose.some((r) => r[1] === "Hemoglobin"));
  assert.equal(cbc.querySelector(".conclusion").textContent, "Within normal limits.");
  // Every cell names its column, for stacked rows on a phone; every table scrolls inside its box.
  for (const td of view.querySelectorAll("td")) assert.ok(td.dataset.label);
  for (const t of view.querySelectorAll("table")) assert.ok(t.parentElement.classList.contains("clinical-scroll"));
});

test("medications, allergies, history, encounters, coverage and the patient read as words", () => {
  const s = sectionsOf();
  const meds = rows(renderClinical(s.medications), "Medications");
  assert.deepEqual(meds[0].slice(0, 3), ["Ramipril 5 mg", "One capsule every morning", "active, prescribed"]);
  assert.deepEqual(meds.find((r) => r[0] === "Metformin 500 mg tablet").slice(1, 4), ["500 mg twice a day with meals", "active", `since ${formatDate("2023-09-20")}`]);
  assert.equal(meds.find((r) => r[0] === "Amoxicillin 1 g")[3], `${formatDate("2019-02-02")} – ${formatDate("2019-02-09")}`);

  const allergies = rows(renderClinical(s.allergies), "Allergies and intolerances");
  assert.deepEqual(allergies.find((r) => r[0] === "Penicillin"), ["Penicillin", "Skin rash, Swelling", "moderate", "high", "Active, Confirmed", formatDate("2019-02-05")]);

  const history = renderClinical(s.history);
  assert.deepEqual(rows(history, "Conditions").map((r) => [r[0], r[1]]), [
    ["High blood pressure", "Active"],
    ["Type 2 diabetes", "Active, Confirmed"],
    ["Appendicitis", "Resolved"],
  ]);
  assert.deepEqual(rows(history, "Procedures")[0], ["Appendectomy", "completed", formatDate("1988-07-03"), "Appendicitis"]);
  assert.deepEqual(rows(history, "Immunizations").map((r) => r[0]), ["COVID-19 mRNA vaccine", "Influenza vaccine 2023/24", "Tetanus and diphtheria (Td)"]);
  assert.deepEqual(rows(history, "Encounters")[0].slice(1, 3), ["Diabetes follow-up visit, ambulatory", "Diabetes check-up"]);
  assert.deepEqual(rows(renderClinical(s.insurance), "Insurance")[0].slice(0, 4), ["Servizio Sanitario Nazionale", "National health service", "RSSMRA61E52H501Z", "active"]);

  const who = renderClinical(s.demographics).querySelector("dl.clinical-patient");
  const facts = Object.fromEntries([...who.querySelectorAll("dt")].map((dt) => [dt.textContent, dt.nextElementSibling.textContent]));
  assert.equal(facts.Name, "Maria Grazia Rossi");
  assert.equal(facts.Born, formatDate("1961-05-12"));
  assert.equal(facts.Gender, "female");
  assert.equal(facts.Identifiers, "Tax code: RSSMRA61E52H501Z; http://hospital.example.org/fhir/mrn: MRN-004512");
  assert.match(facts.Contact, /\+39 06 5550 1234 \(mobile phone\)/);
  assert.equal(facts.Address, "Via Appia Nuova 12, 00183 Roma, IT");
});

test("a narrative is copied as text and plain formatting, nothing that runs or loads", () => {
  const goal = sectionsOf().notes[0];
  const view = renderClinical([goal]);
  const n = view.querySelector(".clinical-other .narrative");
  assert.equal(n.textContent, "Goal: HbA1c below 7% by September 2024.click");
  assert.equal(n.querySelectorAll("script, img, [onerror], [href^=javascript]").length, 0);
  assert.equal(n.querySelector("b").textContent, "HbA1c below 7%");
  const hostile = narrative(
    '<div xmlns="http://www.w3.org/1999/xhtml"><p style="x" onclick="alert(1)" class="c">hi<iframe src="https://x"></iframe></p>' +
      '<a href=" https://example.org/a">ok</a><a href="JaVaScRiPt:alert(1)">no</a><svg><script>alert(1)</script></svg>' +
      '<table><tr><td colspan="2" onmouseover="x">c</td></tr></table><h2>Title</h2><style>*{}</style>&lt;b&gt;</div>',
  );
  assert.equal(hostile.innerHTML, '<div><p>hi</p><a href="https://example.org/a" rel="noopener noreferrer nofollow" target="_blank">ok</a>no<table><tbody><tr><td colspan="2">c</td></tr></tbody></table><strong>Title</strong>&lt;b&gt;</div>');
  assert.equal(narrative('<div xmlns="http://www.w3.org/1999/xhtml"><script>x</script></div>'), undefined);
});

test("missing pieces are shown as missing, not as errors; partial dates stay partial", () => {
  const view = renderClinical([
    { resourceType: "Observation" },
    { resourceType: "AllergyIntolerance" },
    { resourceType: "MedicationRequest", medicationReference: { reference: "Medication/m1" } },
    { resourceType: "Medication", id: "m1", code: { coding: [{ code: "123" }] } },
    { resourceType: "Condition", onsetDateTime: "2019" },
    { resourceType: "Immunization", occurrenceDateTime: "2021-06" },
    { resourceType: "Basic", id: "b1" },
    "not a resource",
    null,
  ]);
  assert.deepEqual(rows(view, "Results")[0].slice(1, 3), ["Observation", ""]);
  assert.equal(rows(view, "Allergies and intolerances")[0][0], "(substance not given)");
  assert.equal(rows(view, "Medications")[0][0], "123");
  assert.equal(rows(view, "Conditions")[0][2], "2019");
  assert.equal(rows(view, "Immunizations")[0][1], formatDate("2021-06"));
  assert.doesNotMatch(formatDate("2021-06"), /\d{1,2}\D+2021.*\d/);
  assert.equal(view.querySelector('.clinical-other[data-type="Basic"]').textContent, "Basic: b1");
  assert.equal(view.querySelectorAll(".clinical-other").length, 1, "the Medication shows under the request that names it");
  assert.equal(renderClinical([]).childElementCount, 0);
  assert.equal(flagOf({ valueQuantity: { value: 5, code: "mmol/L" }, referenceRange: [{ high: { value: 3, code: "mg/dL" } }] }).kind, "normal", "no flag from a range in another unit");
  // A date is the day recorded, whatever this machine's time zone.
  assert.equal(formatDate("2024-03-01T00:30:00+14:00"), formatDate("2024-03-01"));
});

test("a resource shaped unlike FHIR R4 (stored before the import checked shapes) is listed, and the rest still shows", () => {
  const view = renderClinical([
    { resourceType: "Patient", id: "p", name: [{ given: "Maria", family: "Rossi" }], telecom: "555" },
    { resourceType: "Observation", id: "o", code: { coding: "x" }, referenceRange: {}, valueQuantity: { value: 5, unit: "mg/dL" } },
  ]);
  assert.match(view.textContent, /could not be laid out as tables/);
  assert.match(view.textContent, /Patient/);
  assert.match(view.textContent, /Observation/);
});
