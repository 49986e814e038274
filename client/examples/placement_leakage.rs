//! Shard placement against the leakage score, on a synthetic FHIR corpus:
//! `cargo run -p sesphr-client --example placement_leakage --release`.
//!
//! Builds, from a fixed seed, 40 patients × 8 sections (demographics,
//! history, medications, allergies, labs, imaging, insurance, notes) as
//! FHIR-R4-like JSON with the overlap real records have (medications and
//! allergies name the same drugs, labs, medications, imaging and history
//! the same conditions, demographics and insurance the same person, notes a
//! bit of everything). For pools of 5 and 6 relays, `n = 3`, `k = 2`, it
//! places each patient's sections with every policy and prints a markdown
//! table: the mean over patients of the largest per-relay score, the worst
//! patient's largest score, the mean score of a relay, the shards per relay
//! (largest / smallest, worst patient, and pooled over all patients), and
//! the storage overhead `n/k`. `Random` is the mean over 10 seeds.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;

use serde_json::{json, Value};
use sesphr_client::placement::{leakage, plan, storage, tokens, Policy, Signature};

const PATIENTS: usize = 40;
const SEED: u64 = 0x5e5_9417;
const RANDOM_SEEDS: u64 = 10;
const N: usize = 3;
const K: usize = 2;

/// splitmix64: the corpus's only randomness.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
    fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// `count` distinct indices below `n`, in drawn order.
    fn distinct(&mut self, n: usize, count: usize) -> Vec<usize> {
        let mut all: Vec<usize> = (0..n).collect();
        for i in 0..count {
            let j = i + self.below(n - i);
            all.swap(i, j);
        }
        all.truncate(count);
        all
    }
}

struct Lab {
    loinc: &'static str,
    name: &'static str,
    unit: &'static str,
    low: f64,
    high: f64,
}

struct Drug {
    rxnorm: &'static str,
    name: &'static str,
    dose: &'static str,
}

struct Imaging {
    modality: &'static str,
    site: &'static str,
    description: &'static str,
}

struct Condition {
    name: &'static str,
    snomed: &'static str,
    icd10: &'static str,
    labs: &'static [Lab],
    /// The first is prescribed; the second is what an intolerance ruled out.
    drugs: &'static [Drug],
    imaging: Option<Imaging>,
}

const fn lab(
    loinc: &'static str,
    name: &'static str,
    unit: &'static str,
    low: f64,
    high: f64,
) -> Lab {
    Lab {
        loinc,
        name,
        unit,
        low,
        high,
    }
}

const fn drug(rxnorm: &'static str, name: &'static str, dose: &'static str) -> Drug {
    Drug { rxnorm, name, dose }
}

const fn img(
    modality: &'static str,
    site: &'static str,
    description: &'static str,
) -> Option<Imaging> {
    Some(Imaging {
        modality,
        site,
        description,
    })
}

const CONDITIONS: &[Condition] = &[
    Condition {
        name: "Type 2 diabetes mellitus",
        snomed: "44054006",
        icd10: "E11.9",
        labs: &[
            lab("4548-4", "Hemoglobin A1c", "%", 6.0, 9.5),
            lab("2345-7", "Glucose fasting", "mg/dL", 95.0, 210.0),
        ],
        drugs: &[
            drug("860975", "Metformin", "500 mg twice daily"),
            drug("274783", "Insulin glargine", "10 units nightly"),
        ],
        imaging: img(
            "OP",
            "Retina",
            "Diabetic retinopathy screening fundus photography",
        ),
    },
    Condition {
        name: "Essential hypertension",
        snomed: "59621000",
        icd10: "I10",
        labs: &[
            lab("85354-9", "Blood pressure systolic", "mm[Hg]", 128.0, 168.0),
            lab("2823-3", "Potassium serum", "mmol/L", 3.4, 5.3),
        ],
        drugs: &[
            drug("197361", "Amlodipine", "5 mg daily"),
            drug("314076", "Lisinopril", "10 mg daily"),
        ],
        imaging: img(
            "US",
            "Heart",
            "Transthoracic echocardiogram left ventricular hypertrophy",
        ),
    },
    Condition {
        name: "Hyperlipidemia",
        snomed: "55822004",
        icd10: "E78.5",
        labs: &[
            lab(
                "13457-7",
                "LDL cholesterol calculated",
                "mg/dL",
                90.0,
                190.0,
            ),
            lab("2093-3", "Cholesterol total", "mg/dL", 160.0, 280.0),
        ],
        drugs: &[
            drug("617312", "Atorvastatin", "40 mg nightly"),
            drug("859749", "Rosuvastatin", "10 mg nightly"),
        ],
        imaging: None,
    },
    Condition {
        name: "Chronic kidney disease stage 3",
        snomed: "433144002",
        icd10: "N18.3",
        labs: &[
            lab("2160-0", "Creatinine serum", "mg/dL", 1.2, 2.4),
            lab("33914-3", "eGFR MDRD", "mL/min/1.73m2", 30.0, 59.0),
        ],
        drugs: &[
            drug("979480", "Losartan", "50 mg daily"),
            drug("310798", "Hydrochlorothiazide", "25 mg daily"),
        ],
        imaging: img("US", "Kidney", "Renal ultrasound cortical thinning"),
    },
    Condition {
        name: "Asthma",
        snomed: "195967001",
        icd10: "J45.909",
        labs: &[lab("711-2", "Eosinophils blood", "10*3/uL", 0.1, 0.9)],
        drugs: &[
            drug("745679", "Albuterol inhaler", "2 puffs as needed"),
            drug(
                "896188",
                "Fluticasone salmeterol",
                "1 inhalation twice daily",
            ),
        ],
        imaging: img("CR", "Chest", "Chest radiograph hyperinflation"),
    },
    Condition {
        name: "Hypothyroidism",
        snomed: "40930008",
        icd10: "E03.9",
        labs: &[
            lab("3016-3", "Thyrotropin TSH", "m[IU]/L", 0.8, 9.0),
            lab("3024-7", "Thyroxine free T4", "ng/dL", 0.6, 1.6),
        ],
        drugs: &[
            drug("966222", "Levothyroxine", "75 mcg daily"),
            drug("1363018", "Liothyronine", "5 mcg daily"),
        ],
        imaging: img("US", "Thyroid", "Thyroid ultrasound diffuse heterogeneity"),
    },
    Condition {
        name: "Iron deficiency anemia",
        snomed: "87522002",
        icd10: "D50.9",
        labs: &[
            lab("718-7", "Hemoglobin blood", "g/dL", 9.0, 12.5),
            lab("2276-4", "Ferritin serum", "ng/mL", 5.0, 40.0),
        ],
        drugs: &[
            drug("310325", "Ferrous sulfate", "325 mg daily"),
            drug("1741266", "Iron sucrose", "200 mg intravenous"),
        ],
        imaging: None,
    },
    Condition {
        name: "Primary osteoarthritis of knee",
        snomed: "239873007",
        icd10: "M17.9",
        labs: &[lab("1988-5", "C reactive protein", "mg/L", 1.0, 12.0)],
        drugs: &[
            drug("198013", "Naproxen", "500 mg twice daily"),
            drug("197806", "Ibuprofen", "400 mg as needed"),
        ],
        imaging: img(
            "DX",
            "Knee",
            "Knee radiograph joint space narrowing osteophytes",
        ),
    },
    Condition {
        name: "Major depressive disorder",
        snomed: "370143000",
        icd10: "F32.9",
        labs: &[lab("44261-6", "PHQ-9 total score", "{score}", 5.0, 22.0)],
        drugs: &[
            drug("312940", "Sertraline", "50 mg daily"),
            drug("321988", "Escitalopram", "10 mg daily"),
        ],
        imaging: None,
    },
    Condition {
        name: "Gastroesophageal reflux disease",
        snomed: "235595009",
        icd10: "K21.9",
        labs: &[lab(
            "17780-8",
            "Helicobacter pylori antigen",
            "{index}",
            0.1,
            1.4,
        )],
        drugs: &[
            drug("198053", "Omeprazole", "20 mg daily"),
            drug("197517", "Ranitidine", "150 mg twice daily"),
        ],
        imaging: img("ES", "Esophagus", "Upper endoscopy erosive esophagitis"),
    },
    Condition {
        name: "Atrial fibrillation",
        snomed: "49436004",
        icd10: "I48.91",
        labs: &[lab("6301-6", "INR coagulation", "{INR}", 1.8, 3.2)],
        drugs: &[
            drug("1364430", "Apixaban", "5 mg twice daily"),
            drug("855332", "Warfarin", "5 mg daily"),
        ],
        imaging: img("US", "Heart", "Echocardiogram left atrial enlargement"),
    },
];

/// Allergies that are not to a patient's prescriptions.
const COMMON_ALLERGIES: &[(&str, &str, &str)] = &[
    ("Penicillin", "91936005", "Urticaria"),
    ("Sulfamethoxazole", "91939003", "Rash"),
    ("Codeine", "300916003", "Nausea vomiting"),
    ("Peanut", "91935009", "Anaphylaxis"),
    ("Latex", "300916003", "Contact dermatitis"),
    ("Shellfish", "300913006", "Angioedema"),
];

const GIVEN: &[&str] = &[
    "Maria", "James", "Aisha", "Wei", "Olga", "Carlos", "Priya", "Tomasz", "Fatima", "Liam",
    "Noor", "Hiroshi", "Grace", "Mateo", "Ingrid", "Kwame",
];
const FAMILY: &[&str] = &[
    "Garcia",
    "Okafor",
    "Nguyen",
    "Schmidt",
    "Kowalski",
    "Haddad",
    "Patel",
    "Johansson",
    "Moreau",
    "Tanaka",
    "Silva",
    "Mensah",
    "Rossi",
    "Cohen",
    "Novak",
    "Brennan",
];
const CITIES: &[(&str, &str, &str)] = &[
    ("Springfield", "IL", "62701"),
    ("Riverton", "WY", "82501"),
    ("Fairview", "OR", "97024"),
    ("Madison", "WI", "53703"),
    ("Greenville", "SC", "29601"),
    ("Salem", "MA", "01970"),
];
const STREETS: &[&str] = &[
    "Maple Avenue",
    "Oak Street",
    "Harbor Road",
    "Mill Lane",
    "Elm Court",
    "Cedar Drive",
];
const PAYERS: &[(&str, &str)] = &[
    ("Acme Health Mutual", "Gold PPO"),
    ("Northwind Insurance", "Silver HMO"),
    ("Blue Meridian", "Bronze EPO"),
    ("Civic Medicaid Plan", "Medicaid Managed Care"),
    ("Medicare Part B", "Original Medicare"),
];
const LANGUAGES: &[(&str, &str)] = &[
    ("en", "English"),
    ("es", "Spanish"),
    ("pl", "Polish"),
    ("ar", "Arabic"),
    ("zh", "Chinese"),
];

struct Patient {
    sections: [(&'static str, String); 8],
}

fn date(rng: &mut Rng, from_year: u32, to_year: u32) -> String {
    format!(
        "{}-{:02}-{:02}",
        from_year + rng.below((to_year - from_year + 1) as usize) as u32,
        1 + rng.below(12),
        1 + rng.below(28)
    )
}

fn patient(index: usize, rng: &mut Rng) -> Patient {
    let given = *rng.pick(GIVEN);
    let family = *rng.pick(FAMILY);
    let male = rng.below(2) == 0;
    let gender = if male { "male" } else { "female" };
    let birth_year = 1940 + rng.below(60) as u32;
    let birth = date(rng, birth_year, birth_year);
    let age = 2026 - birth_year;
    let (city, state, zip) = *rng.pick(CITIES);
    let street = format!("{} {}", 10 + rng.below(990), rng.pick(STREETS));
    let phone = format!("555-{:03}-{:04}", rng.below(1000), rng.below(10000));
    let mrn = format!("MRN-{:06}", 100_000 + index * 7919 % 900_000);
    let subject =
        json!({ "reference": format!("Patient/{mrn}"), "display": format!("{given} {family}") });
    let (lang, language) = *rng.pick(LANGUAGES);
    let contact_given = *rng.pick(GIVEN);

    let count = 2 + rng.below(3);
    let conds: Vec<&Condition> = rng
        .distinct(CONDITIONS.len(), count)
        .into_iter()
        .map(|i| &CONDITIONS[i])
        .collect();
    let wrap = |resources: Vec<Value>| {
        serde_json::to_string_pretty(&json!({
            "resourceType": "Bundle",
            "type": "collection",
            "entry": resources.into_iter().map(|r| json!({ "resource": r })).collect::<Vec<_>>(),
        }))
        .unwrap()
    };

    let demographics = wrap(vec![json!({
        "resourceType": "Patient",
        "id": mrn,
        "identifier": [{ "system": "urn:oid:2.16.840.1.113883.19.5", "value": mrn }],
        "name": [{ "use": "official", "family": family, "given": [given] }],
        "gender": gender,
        "birthDate": birth,
        "telecom": [{ "system": "phone", "value": phone, "use": "home" }],
        "address": [{ "line": [street], "city": city, "state": state, "postalCode": zip, "country": "US" }],
        "maritalStatus": { "text": *rng.pick(&["Married", "Single", "Widowed", "Divorced"]) },
        "communication": [{ "language": { "coding": [{ "system": "urn:ietf:bcp:47", "code": lang, "display": language }] } }],
        "contact": [{ "relationship": [{ "text": "Emergency contact" }], "name": { "family": family, "given": [contact_given] }, "telecom": [{ "system": "phone", "value": format!("555-{:03}-{:04}", rng.below(1000), rng.below(10000)) }] }],
    })]);

    let history = wrap(
        conds
            .iter()
            .map(|c| {
                json!({
                    "resourceType": "Condition",
                    "clinicalStatus": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active" }] },
                    "code": { "coding": [
                        { "system": "http://snomed.info/sct", "code": c.snomed, "display": c.name },
                        { "system": "http://hl7.org/fhir/sid/icd-10-cm", "code": c.icd10, "display": c.name },
                    ], "text": c.name },
                    "subject": subject,
                    "onsetDateTime": date(rng, birth_year + 20, 2026),
                    "note": [{ "text": format!("{} diagnosed; followed with {} monitoring.", c.name, c.labs[0].name) }],
                })
            })
            .collect(),
    );

    let medications = wrap(
        conds
            .iter()
            .map(|c| {
                let d = &c.drugs[0];
                json!({
                    "resourceType": "MedicationStatement",
                    "status": "active",
                    "medicationCodeableConcept": { "coding": [{ "system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": d.rxnorm, "display": d.name }], "text": d.name },
                    "subject": subject,
                    "effectiveDateTime": date(rng, 2018, 2026),
                    "reasonCode": [{ "text": c.name }],
                    "dosage": [{ "text": format!("{} {}", d.name, d.dose) }],
                    "note": [{ "text": format!("Replaces {} (intolerance).", c.drugs[1].name) }],
                })
            })
            .collect(),
    );

    // One intolerance of the drug a prescription replaced, and one or two
    // common allergies.
    let mut allergy_list = Vec::new();
    let c = conds[0];
    allergy_list.push(json!({
        "resourceType": "AllergyIntolerance",
        "type": "intolerance",
        "category": ["medication"],
        "code": { "coding": [{ "system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": c.drugs[1].rxnorm, "display": c.drugs[1].name }], "text": c.drugs[1].name },
        "patient": subject,
        "reaction": [{ "description": format!("{} not tolerated; switched to {}", c.drugs[1].name, c.drugs[0].name) }],
    }));
    let count = 1 + rng.below(2);
    for i in rng.distinct(COMMON_ALLERGIES.len(), count) {
        let (substance, code, reaction) = COMMON_ALLERGIES[i];
        allergy_list.push(json!({
            "resourceType": "AllergyIntolerance",
            "type": "allergy",
            "criticality": *rng.pick(&["low", "high"]),
            "code": { "coding": [{ "system": "http://snomed.info/sct", "code": code, "display": substance }], "text": substance },
            "patient": subject,
            "reaction": [{ "manifestation": [{ "text": reaction }], "severity": *rng.pick(&["mild", "moderate", "severe"]) }],
        }));
    }
    let allergies = wrap(allergy_list);

    let mut lab_values = Vec::new();
    let mut observations = Vec::new();
    for c in &conds {
        for l in c.labs {
            let value = (rng.range(l.low, l.high) * 10.0).round() / 10.0;
            lab_values.push((l, value));
            observations.push(json!({
                "resourceType": "Observation",
                "status": "final",
                "category": [{ "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory" }] }],
                "code": { "coding": [{ "system": "http://loinc.org", "code": l.loinc, "display": l.name }], "text": l.name },
                "subject": subject,
                "effectiveDateTime": date(rng, 2024, 2026),
                "valueQuantity": { "value": value, "unit": l.unit },
                "interpretation": [{ "text": if value > (l.low + l.high) / 2.0 { "high" } else { "normal" } }],
                "note": [{ "text": format!("Monitoring {}", c.name) }],
            }));
        }
    }
    let labs = wrap(observations);

    let mut studies: Vec<Value> = conds
        .iter()
        .filter_map(|c| c.imaging.as_ref().map(|i| (c, i)))
        .map(|(c, i)| {
            json!({
                "resourceType": "ImagingStudy",
                "status": "available",
                "modality": [{ "system": "http://dicom.nema.org/resources/ontology/DCM", "code": i.modality }],
                "subject": subject,
                "started": date(rng, 2020, 2026),
                "reasonCode": [{ "text": c.name }],
                "description": i.description,
                "numberOfSeries": 1 + rng.below(4),
                "numberOfInstances": 10 + rng.below(300),
                "series": [{ "bodySite": { "display": i.site }, "modality": { "code": i.modality } }],
            })
        })
        .collect();
    if studies.is_empty() {
        studies.push(json!({
            "resourceType": "ImagingStudy",
            "status": "available",
            "modality": [{ "code": "CR" }],
            "subject": subject,
            "started": date(rng, 2020, 2026),
            "description": "Routine chest radiograph no acute findings",
            "series": [{ "bodySite": { "display": "Chest" } }],
        }));
    }
    let imaging = wrap(studies);

    let (payer, plan_name) = *rng.pick(PAYERS);
    let insurance = wrap(vec![json!({
        "resourceType": "Coverage",
        "status": "active",
        "type": { "text": plan_name },
        "subscriber": subject,
        "subscriberId": format!("{}{:08}", &family[..2].to_uppercase(), rng.below(100_000_000)),
        "beneficiary": subject,
        "relationship": { "text": "self" },
        "period": { "start": date(rng, 2020, 2025) },
        "payor": [{ "display": payer }],
        "class": [{ "type": { "text": "group" }, "value": format!("GRP-{:05}", rng.below(100_000)), "name": format!("{payer} {plan_name}") }],
        "contact": { "address": { "line": [street], "city": city, "state": state, "postalCode": zip } },
        "dateOfBirth": birth,
    })]);

    let mut note = format!(
        "Progress note. {given} {family}, {age}-year-old {gender}, seen for follow-up of {}.",
        conds.iter().map(|c| c.name).collect::<Vec<_>>().join(", ")
    );
    if let Some((l, v)) = lab_values.first() {
        note += &format!(" Latest {} (LOINC {}) {v} {}.", l.name, l.loinc, l.unit);
    }
    for c in &conds {
        note += &format!(
            " {}: continues {} {}.",
            c.name, c.drugs[0].name, c.drugs[0].dose
        );
    }
    note += &format!(
        " Did not tolerate {}. Lives in {city}, {}. Plan: recheck labs in three months, {}.",
        conds[0].drugs[1].name,
        *rng.pick(&["lives alone", "lives with spouse", "lives with daughter"]),
        *rng.pick(&[
            "diet and exercise counselling",
            "refer to specialist",
            "continue current regimen",
            "home blood pressure log"
        ])
    );
    let notes = wrap(vec![json!({
        "resourceType": "DocumentReference",
        "status": "current",
        "type": { "coding": [{ "system": "http://loinc.org", "code": "11506-3", "display": "Progress note" }] },
        "subject": subject,
        "date": date(rng, 2025, 2026),
        "content": [{ "attachment": { "contentType": "text/plain", "data": note } }],
    })]);

    Patient {
        sections: [
            ("demographics", demographics),
            ("history", history),
            ("medications", medications),
            ("allergies", allergies),
            ("labs", labs),
            ("imaging", imaging),
            ("insurance", insurance),
            ("notes", notes),
        ],
    }
}

/// One policy's results over all patients.
#[derive(Default)]
struct Stats {
    mean_max: f64,
    worst_max: f64,
    mean_relay: f64,
    worst_shards: (usize, usize),
    pooled: (usize, usize),
}

fn evaluate(
    patients: &[(Vec<BTreeSet<String>>, Vec<Signature>)],
    relays: usize,
    policy: impl Fn(usize) -> Policy,
) -> Stats {
    let mut s = Stats {
        worst_shards: (0, usize::MAX),
        ..Stats::default()
    };
    let mut pooled = vec![0usize; relays];
    let mut spread = 0;
    for (i, (sets, sigs)) in patients.iter().enumerate() {
        let p = plan(sigs, relays, N, K, policy(i)).unwrap();
        let scores = leakage(sets, &p, relays).unwrap();
        let max = scores.iter().copied().fold(0.0, f64::max);
        s.mean_max += max / patients.len() as f64;
        s.worst_max = s.worst_max.max(max);
        s.mean_relay += scores.iter().sum::<f64>() / (relays * patients.len()) as f64;
        let shards = storage(&p, relays).unwrap();
        let (hi, lo) = (*shards.iter().max().unwrap(), *shards.iter().min().unwrap());
        if hi - lo > spread || s.worst_shards.1 == usize::MAX {
            spread = hi - lo;
            s.worst_shards = (hi, lo);
        }
        for (t, c) in pooled.iter_mut().zip(&shards) {
            *t += c;
        }
    }
    s.pooled = (*pooled.iter().max().unwrap(), *pooled.iter().min().unwrap());
    s
}

fn main() {
    let mut rng = Rng(SEED);
    let corpus: Vec<Patient> = (0..PATIENTS).map(|i| patient(i, &mut rng)).collect();
    let patients: Vec<(Vec<BTreeSet<String>>, Vec<Signature>)> = corpus
        .iter()
        .map(|p| {
            let sets: Vec<BTreeSet<String>> = p
                .sections
                .iter()
                .map(|(_, text)| tokens(text).collect())
                .collect();
            let sigs = sets.iter().map(Signature::of_tokens).collect();
            (sets, sigs)
        })
        .collect();

    // The corpus, briefly: tokens per section and the similarity of a few
    // section pairs, averaged over patients.
    let names: Vec<&str> = corpus[0].sections.iter().map(|(n, _)| *n).collect();
    let mean_tokens: Vec<f64> = (0..8)
        .map(|s| {
            patients
                .iter()
                .map(|(sets, _)| sets[s].len() as f64)
                .sum::<f64>()
                / PATIENTS as f64
        })
        .collect();
    let mean_union = patients
        .iter()
        .map(|(sets, _)| sets.iter().flatten().collect::<BTreeSet<_>>().len() as f64)
        .sum::<f64>()
        / PATIENTS as f64;
    println!("Corpus: {PATIENTS} patients × 8 sections, seed {SEED:#x}; mean distinct tokens per patient {mean_union:.0}");
    println!();
    println!("| section | mean tokens |");
    println!("| --- | ---: |");
    for (n, t) in names.iter().zip(&mean_tokens) {
        println!("| {n} | {t:.0} |");
    }
    println!();
    println!("Mean Jaccard similarity (exact / MinHash estimate):");
    println!();
    println!("| pair | exact | MinHash |");
    println!("| --- | ---: | ---: |");
    for (a, b) in [(2, 3), (1, 4), (1, 2), (0, 6), (1, 7), (0, 4), (3, 6)] {
        let (mut exact, mut est) = (0.0, 0.0);
        for (sets, sigs) in &patients {
            let inter = sets[a].intersection(&sets[b]).count() as f64;
            let union = sets[a].union(&sets[b]).count() as f64;
            exact += inter / union / PATIENTS as f64;
            est += sigs[a].similarity(&sigs[b]) / PATIENTS as f64;
        }
        println!("| {} – {} | {exact:.2} | {est:.2} |", names[a], names[b]);
    }
    println!();

    println!("| pool | policy | mean of max relay score | worst patient's max | mean relay score | shards/relay max/min (worst patient) | pooled max/min | overhead n/k |");
    println!("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    for relays in [5, 6] {
        let rows: Vec<(String, Stats, String, String)> = {
            let rr = evaluate(&patients, relays, |_| Policy::RoundRobin);
            let mut random = Stats::default();
            let (mut worst_hi, mut worst_lo, mut pool_hi, mut pool_lo) = (0.0, 0.0, 0.0, 0.0);
            for seed in 1..=RANDOM_SEEDS {
                let s = evaluate(&patients, relays, |i| Policy::Random {
                    seed: seed * 1_000_003 + i as u64,
                });
                let w = 1.0 / RANDOM_SEEDS as f64;
                random.mean_max += s.mean_max * w;
                random.worst_max += s.worst_max * w;
                random.mean_relay += s.mean_relay * w;
                worst_hi += s.worst_shards.0 as f64 * w;
                worst_lo += s.worst_shards.1 as f64 * w;
                pool_hi += s.pooled.0 as f64 * w;
                pool_lo += s.pooled.1 as f64 * w;
            }
            let sim = evaluate(&patients, relays, |_| Policy::Similarity);
            let fmt = |s: &Stats| {
                (
                    format!("{}/{}", s.worst_shards.0, s.worst_shards.1),
                    format!("{}/{}", s.pooled.0, s.pooled.1),
                )
            };
            let (rr_w, rr_p) = fmt(&rr);
            let (sim_w, sim_p) = fmt(&sim);
            vec![
                ("RoundRobin".into(), rr, rr_w, rr_p),
                (
                    format!("Random (mean of {RANDOM_SEEDS} seeds)"),
                    random,
                    format!("{worst_hi:.1}/{worst_lo:.1}"),
                    format!("{pool_hi:.1}/{pool_lo:.1}"),
                ),
                ("Similarity".into(), sim, sim_w, sim_p),
            ]
        };
        for (name, s, worst, pooled) in rows {
            println!(
                "| {relays} | {name} | {:.3} | {:.3} | {:.3} | {worst} | {pooled} | {:.1} |",
                s.mean_max,
                s.worst_max,
                s.mean_relay,
                N as f64 / K as f64
            );
        }
    }
}
