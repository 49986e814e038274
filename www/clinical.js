// Clinical views of a section's FHIR resources, for a person to read: labs
// as a table (newest first, flags, trends), reports with their results,
// medications, allergies, conditions, procedures, immunizations,
// encounters, coverage and the patient's details; anything else as its
// narrative (copied through an allow-list, never as HTML) or one line.
//
// Plain DOM, no dependency: `renderClinical(resources)` returns an element.

const h = (tag, props = {}, ...children) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "className") e.className = v;
    else if (k === "dataset") Object.assign(e.dataset, v);
    else e.setAttribute(k, v);
  }
  e.append(...children.flat().filter((c) => c !== undefined && c !== null && c !== false).map((c) => (typeof c === "object" ? c : String(c))));
  return e;
};

const isObject = (v) => typeof v === "object" && v !== null && !Array.isArray(v);

/** CodeableConcept → words: text, else the first coding's display, else its code. */
export function concept(c) {
  if (!isObject(c)) return undefined;
  return c.text ?? c.coding?.find((x) => x?.display)?.display ?? c.coding?.[0]?.code;
}

const codeKey = (c) => {
  const coding = c?.coding?.find((x) => x?.system && x?.code);
  return coding ? `${coding.system}|${coding.code}` : concept(c)?.toLowerCase();
};

function personName(names) {
  const n = (names ?? []).find((x) => x?.use === "official") ?? names?.[0];
  if (!isObject(n)) return undefined;
  return n.text ?? ([...(n.prefix ?? []), ...(n.given ?? []), n.family, ...(n.suffix ?? [])].filter(Boolean).join(" ") || undefined);
}

const MONTH = { year: "numeric", month: "short", timeZone: "UTC" };
const DAY = { ...MONTH, day: "numeric" };

/**
 * A FHIR date or dateTime in words, as recorded (the day written, not moved
 * to this browser's time zone); partial dates stay partial.
 */
export function formatDate(s) {
  if (typeof s !== "string") return "";
  const m = /^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?/.exec(s);
  if (!m) return s;
  const [, y, mo, d] = m;
  if (!mo) return y;
  const date = new Date(Date.UTC(Number(y), Number(mo) - 1, Number(d ?? 1)));
  if (Number.isNaN(date.getTime())) return s;
  return new Intl.DateTimeFormat(undefined, d ? DAY : MONTH).format(date);
}

function period(p) {
  if (!isObject(p)) return "";
  if (p.start && p.end) {
    const [a, b] = [formatDate(p.start), formatDate(p.end)];
    return a === b ? a : `${a} – ${b}`;
  }
  if (p.start) return `since ${formatDate(p.start)}`;
  return p.end ? `until ${formatDate(p.end)}` : "";
}

const when = (r, ...fields) => {
  for (const f of fields) {
    const v = r[f];
    if (typeof v === "string") return formatDate(v);
    if (isObject(v) && (v.start || v.end)) return period(v);
    if (isObject(v) && typeof v.value === "number") return `at ${v.value} ${v.unit ?? "years"}`;
  }
  return "";
};

const sortKey = (r, ...fields) => {
  for (const f of fields) {
    const v = r[f];
    if (typeof v === "string") return v;
    if (isObject(v) && (v.start || v.end)) return v.start ?? v.end;
  }
  return "";
};

function quantity(q) {
  if (!isObject(q) || q.value === undefined) return undefined;
  return { value: `${q.comparator ?? ""}${q.value}`, unit: q.unit ?? q.code ?? "" };
}

/** A table that stays readable on a phone: it scrolls sideways, and each cell carries its column for stacked rows. */
function table(caption, columns, rows, className = "", { hideCaption = true } = {}) {
  return h(
    "div",
    { className: "clinical-scroll" },
    h(
      "table",
      { className: `clinical-table ${className}`.trim() },
      h("caption", hideCaption ? { className: "visually-hidden" } : {}, caption),
      h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c)))),
      h(
        "tbody",
        {},
        rows.map((cells) =>
          h(
            "tr",
            cells.dataset ? { dataset: cells.dataset } : {},
            (cells.cells ?? cells).map((c, i) => h("td", { dataset: { label: columns[i] } }, c ?? "")),
          ),
        ),
      ),
    ),
  );
}

// ------------------------------------------------------------------ labs

const INTERPRETATION = {
  H: ["H", "High", "high"],
  HH: ["HH", "Critically high", "high"],
  HU: ["H", "Significantly high", "high"],
  L: ["L", "Low", "low"],
  LL: ["LL", "Critically low", "low"],
  LU: ["L", "Significantly low", "low"],
  A: ["A", "Abnormal", "abnormal"],
  AA: ["AA", "Critically abnormal", "abnormal"],
  POS: ["A", "Positive", "abnormal"],
  DET: ["A", "Detected", "abnormal"],
  N: ["", "Normal", "normal"],
  NEG: ["", "Negative", "normal"],
};

/** The flag of an observation: from its interpretation, else computed from its reference range. */
export function flagOf(o) {
  for (const i of o.interpretation ?? []) {
    const code = i?.coding?.find((c) => INTERPRETATION[c?.code])?.code;
    if (code) {
      const [mark, words, kind] = INTERPRETATION[code];
      return { mark, words, kind, computed: false };
    }
    if (concept(i)) return { mark: "A", words: concept(i), kind: "abnormal", computed: false };
  }
  const v = o.valueQuantity?.value;
  const range = (o.referenceRange ?? []).find((r) => r?.low || r?.high);
  if (typeof v !== "number" || !range) return undefined;
  const sameUnit = (q) => !q || !o.valueQuantity.code || !q.code || q.code === o.valueQuantity.code;
  if (range.low?.value !== undefined && sameUnit(range.low) && v < range.low.value) return { mark: "L", words: "Low", kind: "low", computed: true };
  if (range.high?.value !== undefined && sameUnit(range.high) && v > range.high.value) return { mark: "H", words: "High", kind: "high", computed: true };
  return { mark: "", words: "Normal", kind: "normal", computed: true };
}

function rangeText(o) {
  return (o.referenceRange ?? [])
    .map((r) => {
      if (r?.text) return r.text;
      const low = r?.low?.value;
      const high = r?.high?.value;
      const unit = r?.low?.unit ?? r?.high?.unit ?? "";
      const span = low !== undefined && high !== undefined ? `${low}–${high}` : low !== undefined ? `≥ ${low}` : high !== undefined ? `≤ ${high}` : "";
      return [span, unit].filter(Boolean).join(" ");
    })
    .filter(Boolean)
    .join("; ");
}

function observationValue(o) {
  const q = quantity(o.valueQuantity);
  if (q) return q;
  if (o.valueCodeableConcept) return { value: concept(o.valueCodeableConcept), unit: "" };
  if (typeof o.valueString === "string") return { value: o.valueString, unit: "" };
  if (typeof o.valueBoolean === "boolean") return { value: o.valueBoolean ? "yes" : "no", unit: "" };
  if (typeof o.valueInteger === "number") return { value: String(o.valueInteger), unit: "" };
  if (o.valueRange) return { value: rangeText({ referenceRange: [o.valueRange] }), unit: "" };
  if (Array.isArray(o.component) && o.component.length) {
    const parts = o.component.map((c) => {
      const v = observationValue(c);
      return `${concept(c.code) ?? ""} ${v.value}${v.unit ? ` ${v.unit}` : ""}`.trim();
    });
    return { value: parts.join("; "), unit: "", parts };
  }
  if (o.dataAbsentReason) return { value: `not available (${concept(o.dataAbsentReason)})`, unit: "" };
  return { value: "", unit: "" };
}

const obsDate = (o) => o.effectiveDateTime ?? o.effectivePeriod?.start ?? o.effectiveInstant ?? o.issued ?? "";

/** A small line of the values over time, oldest to newest (inline SVG; its label says the numbers). */
function sparkline(values, label) {
  const NS = "http://www.w3.org/2000/svg";
  const W = 64;
  const H = 18;
  const min = Math.min(...values);
  const max = Math.max(...values);
  const x = (i) => 2 + (i * (W - 4)) / (values.length - 1);
  const y = (v) => (max === min ? H / 2 : H - 2 - ((v - min) * (H - 4)) / (max - min));
  const svg = document.createElementNS(NS, "svg");
  svg.setAttribute("class", "sparkline");
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.setAttribute("width", String(W));
  svg.setAttribute("height", String(H));
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", label);
  const line = document.createElementNS(NS, "polyline");
  line.setAttribute("fill", "none");
  line.setAttribute("stroke", "currentColor");
  line.setAttribute("stroke-width", "1.5");
  line.setAttribute("points", values.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(" "));
  const dot = document.createElementNS(NS, "circle");
  dot.setAttribute("cx", x(values.length - 1).toFixed(1));
  dot.setAttribute("cy", y(values.at(-1)).toFixed(1));
  dot.setAttribute("r", "2");
  dot.setAttribute("fill", "currentColor");
  svg.append(line, dot);
  return svg;
}

/** For each observation measured before: the arrow against the previous value, earlier values and a sparkline. */
function trends(observations) {
  const series = new Map();
  for (const o of observations) {
    const key = codeKey(o.code);
    if (!key || typeof o.valueQuantity?.value !== "number") continue;
    if (!series.has(key)) series.set(key, []);
    series.get(key).push(o);
  }
  const out = new Map();
  for (const list of series.values()) {
    if (list.length < 2) continue;
    list.sort((a, b) => obsDate(a).localeCompare(obsDate(b)));
    list.forEach((o, i) => {
      if (i === 0) return;
      const now = o.valueQuantity.value;
      const before = list[i - 1].valueQuantity.value;
      const arrow = now > before ? "↑" : now < before ? "↓" : "→";
      const earlier = list.slice(0, i).reverse();
      const words = `${arrow} from ${before} (${formatDate(obsDate(list[i - 1]))})`;
      const values = list.slice(0, i + 1).map((x) => x.valueQuantity.value);
      const label = `${concept(o.code) ?? "Value"} over time: ${list
        .slice(0, i + 1)
        .map((x) => `${x.valueQuantity.value} on ${formatDate(obsDate(x))}`)
        .join(", ")}`;
      out.set(o, h("span", { className: "trend", title: earlier.map((x) => `${x.valueQuantity.value} on ${formatDate(obsDate(x))}`).join("\n") }, sparkline(values, label), " ", words));
    });
  }
  return out;
}

function labRows(observations, trend) {
  return [...observations]
    .sort((a, b) => obsDate(b).localeCompare(obsDate(a)))
    .map((o) => {
      const v = observationValue(o);
      const flag = flagOf(o);
      const flagCell = flag?.mark
        ? h("abbr", { className: `flag flag-${flag.kind}`, title: flag.computed ? `${flag.words} (outside the reference range)` : flag.words }, flag.mark)
        : flag && flag.words !== "Normal"
          ? h("span", { className: "flag flag-normal" }, flag.words)
          : "";
      const valueCell = v.parts ? h("span", {}, ...v.parts.flatMap((p, i) => (i ? [h("br"), p] : [p]))) : flag?.mark ? h("strong", {}, v.value) : v.value;
      return {
        dataset: { id: o.id ?? "", flag: flag?.kind ?? "" },
        cells: [formatDate(obsDate(o)), concept(o.code) ?? "Observation", valueCell, v.unit, rangeText(o), flagCell, trend.get(o) ?? (o.status && o.status !== "final" ? o.status : "")],
      };
    });
}

const LAB_COLUMNS = ["Date", "Test", "Value", "Unit", "Reference range", "Flag", "Trend"];

function labs(observations, reports, byRef) {
  const nodes = [];
  const trend = trends(observations);
  const inReport = new Set();
  for (const report of [...reports].sort((a, b) => obsDate(b).localeCompare(obsDate(a)))) {
    const results = (report.result ?? []).map((r) => byRef(r)).filter((o) => o?.resourceType === "Observation");
    results.forEach((o) => inReport.add(o));
    const head = [concept(report.code) ?? "Report", formatDate(obsDate(report)), report.status].filter(Boolean).join(" · ");
    nodes.push(
      h(
        "section",
        { className: "clinical-report", dataset: { id: report.id ?? "" } },
        results.length ? table(head, LAB_COLUMNS, labRows(results, trend), "labs", { hideCaption: false }) : h("p", {}, h("b", {}, head)),
        report.conclusion ? h("p", { className: "conclusion" }, report.conclusion) : undefined,
        report.presentedForm?.length ? h("p", { className: "note" }, `${report.presentedForm.length} attached document(s) in the original report`) : undefined,
      ),
    );
  }
  const loose = observations.filter((o) => !inReport.has(o));
  if (loose.length) nodes.unshift(table("Results", LAB_COLUMNS, labRows(loose, trend), "labs"));
  return nodes;
}

// ------------------------------------------------------------------ other kinds

function medicationName(r, byRef) {
  return concept(r.medicationCodeableConcept) ?? concept(byRef(r.medicationReference)?.code) ?? r.medicationReference?.display ?? "Medication";
}

function dose(r) {
  const d = r.dosage?.[0] ?? r.dosageInstruction?.[0] ?? r.dosage;
  if (!isObject(d)) return "";
  if (d.text) return d.text;
  const q = quantity(d.doseAndRate?.[0]?.doseQuantity ?? d.dose);
  const t = d.timing?.repeat;
  const how = t?.frequency && t?.period ? `${t.frequency} × per ${t.period === 1 ? "" : `${t.period} `}${t.periodUnit ?? ""}`.trim() : concept(d.timing?.code);
  return [q && `${q.value} ${q.unit}`, how, concept(d.route)].filter(Boolean).join(", ");
}

function status(r) {
  return concept(r.clinicalStatus) ?? r.status ?? "";
}

function identifiers(list) {
  return (list ?? []).map((i) => `${concept(i.type) ?? i.system ?? "id"}: ${i.value}`).join("; ");
}

function patient(p) {
  const dl = h("dl", { className: "clinical-patient", dataset: { id: p.id ?? "" } });
  const row = (k, v) => v && dl.append(h("dt", {}, k), h("dd", {}, v));
  row("Name", personName(p.name) ?? "(no name given)");
  row("Born", p.birthDate && formatDate(p.birthDate));
  row("Gender", p.gender);
  if (p.deceasedBoolean || p.deceasedDateTime) row("Died", p.deceasedDateTime ? formatDate(p.deceasedDateTime) : "yes");
  row("Identifiers", identifiers(p.identifier));
  row("Contact", (p.telecom ?? []).map((t) => `${t.value}${t.use || t.system ? ` (${[t.use, t.system].filter(Boolean).join(" ")})` : ""}`).join("; "));
  row(
    "Address",
    (p.address ?? []).map((a) => a.text ?? [...(a.line ?? []), [a.postalCode, a.city].filter(Boolean).join(" "), a.state, a.country].filter(Boolean).join(", ")).join("; "),
  );
  row("Language", (p.communication ?? []).map((c) => concept(c.language)).filter(Boolean).join(", "));
  return h("section", { className: "clinical-group" }, h("h5", {}, "Patient"), dl);
}

// ------------------------------------------------------------------ narratives

const KEEP = new Set(["p", "br", "b", "strong", "i", "em", "u", "span", "div", "ul", "ol", "li", "table", "thead", "tbody", "tfoot", "tr", "th", "td", "caption", "code", "pre", "sub", "sup", "small", "dl", "dt", "dd", "blockquote", "hr"]);
const HEADING = /^h[1-6]$/;
const DROP = new Set(["script", "style", "iframe", "object", "embed", "img", "svg", "math", "form", "input", "button", "textarea", "select", "template", "link", "meta", "base", "video", "audio", "source"]);

/**
 * A resource's narrative (`text.div`, XHTML) as safe DOM: it is parsed
 * inert, then only plain formatting elements are rebuilt, with no attribute
 * but a link's http(s)/mailto address and a cell's span; everything else
 * becomes its text. Never `innerHTML` of the original.
 */
export function narrative(div) {
  if (typeof div !== "string" || typeof DOMParser === "undefined") return undefined;
  const parsed = new DOMParser().parseFromString(div, "text/html");
  const copy = (node, out) => {
    for (const n of node.childNodes) {
      if (n.nodeType === 3) {
        out.append(document.createTextNode(n.data));
        continue;
      }
      if (n.nodeType !== 1) continue;
      const tag = n.localName.toLowerCase();
      if (DROP.has(tag)) continue;
      if (KEEP.has(tag) || HEADING.test(tag)) {
        const e = document.createElement(HEADING.test(tag) ? "strong" : tag);
        for (const a of ["colspan", "rowspan"]) if (/^\d{1,2}$/.test(n.getAttribute(a) ?? "")) e.setAttribute(a, n.getAttribute(a));
        out.append(e);
        copy(n, e);
      } else if (tag === "a") {
        const href = n.getAttribute("href") ?? "";
        if (/^(https?:|mailto:)/i.test(href.trim())) {
          const a = document.createElement("a");
          a.setAttribute("href", href.trim());
          a.setAttribute("rel", "noopener noreferrer nofollow");
          a.setAttribute("target", "_blank");
          out.append(a);
          copy(n, a);
        } else copy(n, out);
      } else copy(n, out);
    }
  };
  const root = document.createElement("div");
  root.className = "narrative";
  copy(parsed.body, root);
  return root.textContent.trim() ? root : undefined;
}

function oneLine(r) {
  return concept(r.code) ?? concept(r.type) ?? concept(r.description) ?? r.name ?? r.title ?? r.description ?? r.id ?? r.resourceType;
}

// ------------------------------------------------------------------ the view

const group = (title, ...content) => h("section", { className: "clinical-group" }, h("h5", {}, title), ...content);
const newestFirst = (list, ...fields) => [...list].sort((a, b) => sortKey(b, ...fields).localeCompare(sortKey(a, ...fields)));

/**
 * The clinical view of a section's FHIR resources: a `div.clinical` with a
 * group per kind of resource (or an empty one if there are none).
 */
export function renderClinical(resources) {
  try {
    return layout(resources);
  } catch (e) {
    // A resource shaped unlike FHIR R4 (written by another client, or before
    // the import checked shapes) is listed, never allowed to hide the rest.
    console.error(e);
    const list = (Array.isArray(resources) ? resources : []).filter(isObject);
    return h(
      "div",
      { className: "clinical" },
      h("p", { className: "note" }, "Some entries of this section could not be laid out as tables; they are listed as they are."),
      h(
        "ul",
        {},
        list.map((r) => {
          let line;
          try {
            line = oneLine(r);
          } catch {
            line = typeof r.id === "string" ? r.id : "";
          }
          return h("li", {}, h("b", {}, String(r.resourceType ?? "Entry")), line ? `: ${line}` : "");
        }),
      ),
    );
  }
}

function layout(resources) {
  const list = (Array.isArray(resources) ? resources : []).filter((r) => isObject(r) && typeof r.resourceType === "string");
  const byType = (...types) => list.filter((r) => types.includes(r.resourceType));
  const ids = new Map(list.filter((r) => r.id).map((r) => [`${r.resourceType}/${r.id}`, r]));
  const byRef = (ref) => {
    const m = /([A-Z][A-Za-z]+\/[A-Za-z0-9\-.]{1,64})(?:\/_history\/[^/]+)?$/.exec(ref?.reference ?? "");
    return m ? ids.get(m[1]) : undefined;
  };
  const shown = new Set();
  const take = (rs) => (rs.forEach((r) => shown.add(r)), rs);
  const out = h("div", { className: "clinical" });

  for (const p of take(byType("Patient"))) out.append(patient(p));

  const allergies = take(byType("AllergyIntolerance"));
  if (allergies.length) {
    out.append(
      group(
        "Allergies and intolerances",
        table(
          "Allergies and intolerances",
          ["Substance", "Reaction", "Severity", "Criticality", "Status", "Since"],
          newestFirst(allergies, "onsetDateTime", "recordedDate").map((a) => ({
            dataset: { id: a.id ?? "", criticality: a.criticality ?? "" },
            cells: [
              concept(a.code) ?? "(substance not given)",
              (a.reaction ?? []).flatMap((x) => (x.manifestation ?? []).map(concept)).filter(Boolean).join(", "),
              [...new Set((a.reaction ?? []).map((x) => x.severity).filter(Boolean))].join(", "),
              a.criticality ? h("span", { className: `criticality-${a.criticality}` }, a.criticality === "unable-to-assess" ? "unable to assess" : a.criticality) : "",
              [concept(a.clinicalStatus), concept(a.verificationStatus)].filter(Boolean).join(", "),
              when(a, "onsetDateTime", "onsetPeriod", "onsetAge", "recordedDate"),
            ],
          })),
        ),
      ),
    );
  }

  const meds = take(byType("MedicationStatement", "MedicationRequest", "MedicationAdministration", "MedicationDispense"));
  take(byType("Medication").filter((m) => meds.some((r) => byRef(r.medicationReference) === m)));
  if (meds.length) {
    out.append(
      group(
        "Medications",
        table(
          "Medications",
          ["Medication", "Dose", "Status", "When", "Prescriber"],
          newestFirst(meds, "effectivePeriod", "effectiveDateTime", "authoredOn", "whenHandedOver", "dateAsserted").map((m) => ({
            dataset: { id: m.id ?? "", status: m.status ?? "" },
            cells: [
              medicationName(m, byRef),
              dose(m),
              [m.status, m.resourceType === "MedicationRequest" ? "prescribed" : undefined].filter(Boolean).join(", "),
              when(m, "effectivePeriod", "effectiveDateTime", "authoredOn", "whenHandedOver", "dateAsserted"),
              m.requester?.display ?? m.informationSource?.display ?? "",
            ],
          })),
        ),
      ),
    );
  }

  const conditions = take(byType("Condition"));
  if (conditions.length) {
    out.append(
      group(
        "Conditions",
        table(
          "Conditions",
          ["Condition", "Status", "Onset", "Resolved"],
          newestFirst(conditions, "onsetDateTime", "onsetPeriod", "recordedDate").map((c) => ({
            dataset: { id: c.id ?? "", status: c.clinicalStatus?.coding?.[0]?.code ?? "" },
            cells: [concept(c.code) ?? "(condition not given)", [concept(c.clinicalStatus), concept(c.verificationStatus)].filter(Boolean).join(", "), when(c, "onsetDateTime", "onsetPeriod", "onsetAge", "onsetString"), when(c, "abatementDateTime", "abatementPeriod", "abatementAge")],
          })),
        ),
      ),
    );
  }

  const procedures = take(byType("Procedure"));
  if (procedures.length) {
    out.append(
      group(
        "Procedures",
        table(
          "Procedures",
          ["Procedure", "Status", "Performed", "Reason"],
          newestFirst(procedures, "performedDateTime", "performedPeriod").map((p) => ({
            dataset: { id: p.id ?? "" },
            cells: [concept(p.code) ?? "(procedure not given)", p.status ?? "", when(p, "performedDateTime", "performedPeriod", "performedString"), [...(p.reasonCode ?? []).map(concept), ...(p.reasonReference ?? []).map((r) => concept(byRef(r)?.code) ?? r.display)].filter(Boolean).join(", ")],
          })),
        ),
      ),
    );
  }

  const immunizations = take(byType("Immunization"));
  if (immunizations.length) {
    out.append(
      group(
        "Immunizations",
        table(
          "Immunizations",
          ["Vaccine", "Date", "Status", "Lot"],
          newestFirst(immunizations, "occurrenceDateTime").map((i) => ({
            dataset: { id: i.id ?? "" },
            cells: [concept(i.vaccineCode) ?? "(vaccine not given)", when(i, "occurrenceDateTime") || i.occurrenceString || "", [i.status, concept(i.statusReason)].filter(Boolean).join(", "), i.lotNumber ?? ""],
          })),
        ),
      ),
    );
  }

  const observations = take(byType("Observation"));
  const reports = take(byType("DiagnosticReport"));
  if (observations.length || reports.length) out.append(group("Results", ...labs(observations, reports, byRef)));

  const encounters = take(byType("Encounter"));
  if (encounters.length) {
    out.append(
      group(
        "Encounters",
        table(
          "Encounters",
          ["Date", "Type", "Reason", "Status"],
          newestFirst(encounters, "period").map((e) => ({
            dataset: { id: e.id ?? "" },
            cells: [period(e.period).replace(/^since /, ""), [concept(e.type?.[0]), e.class?.display ?? e.class?.code].filter(Boolean).join(", "), [...(e.reasonCode ?? []).map(concept), ...(e.reasonReference ?? []).map((r) => concept(byRef(r)?.code) ?? r.display)].filter(Boolean).join(", "), e.status ?? ""],
          })),
        ),
      ),
    );
  }

  const coverage = take(byType("Coverage"));
  if (coverage.length) {
    out.append(
      group(
        "Insurance",
        table(
          "Insurance",
          ["Insurer", "Type", "Member id", "Status", "Valid"],
          coverage.map((c) => ({
            dataset: { id: c.id ?? "" },
            cells: [(c.payor ?? []).map((p) => p.display).filter(Boolean).join(", "), concept(c.type) ?? "", c.subscriberId ?? identifiers(c.identifier), c.status ?? "", period(c.period)],
          })),
        ),
      ),
    );
  }

  const rest = list.filter((r) => !shown.has(r));
  if (rest.length) {
    out.append(
      group(
        "Other",
        ...rest.map((r) => h("article", { className: "clinical-other", dataset: { id: r.id ?? "", type: r.resourceType } }, h("p", {}, h("b", {}, r.resourceType), ": ", oneLine(r)), narrative(r.text?.div))),
      ),
    );
  }
  return out;
}
