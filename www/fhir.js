// FHIR R4 Bundle import: partitions the bundle's resources into record
// sections by resource type. All or nothing: any problem rejects the whole
// bundle before anything is encrypted or sent.

const SECTION_OF = {
  Patient: "demographics",
  Condition: "history",
  Procedure: "history",
  Encounter: "history",
  MedicationStatement: "medications",
  MedicationRequest: "medications",
  MedicationAdministration: "medications",
  AllergyIntolerance: "allergies",
  Observation: "labs",
  DiagnosticReport: "labs",
  Specimen: "labs",
  Coverage: "insurance",
  Claim: "insurance",
  ExplanationOfBenefit: "insurance",
  DocumentReference: "imaging",
  ImagingStudy: "imaging",
  Media: "imaging",
};

function bad(message) {
  const e = new Error(`This FHIR bundle cannot be imported: ${message}. Nothing was imported.`);
  e.code = "bad_bundle";
  return e;
}

/** A one-line human summary of a resource, for the section's notes. */
function summary(r) {
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
 * Parses a Bundle (JSON text) into section updates
 * `[{name, fhir: [resources], text, fields}]`, or throws (code `bad_bundle`).
 */
export function importBundle(json) {
  let bundle;
  try {
    bundle = JSON.parse(json);
  } catch (e) {
    throw bad(`it is not JSON (${e.message})`);
  }
  if (bundle?.resourceType !== "Bundle") throw bad("its resourceType is not Bundle");
  if (!Array.isArray(bundle.entry) || bundle.entry.length === 0) throw bad("it has no entries");
  const sections = new Map();
  bundle.entry.forEach((entry, i) => {
    const r = entry?.resource;
    if (!r || typeof r.resourceType !== "string") throw bad(`entry ${i + 1} has no resource with a resourceType`);
    const name = SECTION_OF[r.resourceType] ?? "notes";
    if (!sections.has(name)) sections.set(name, []);
    sections.get(name).push(r);
  });
  return [...sections].map(([name, fhir]) => ({
    name,
    fhir,
    text: fhir.map((r) => `${r.resourceType}: ${summary(r)}`).join("\n"),
    fields: { source: "FHIR R4 bundle", resources: String(fhir.length) },
  }));
}
