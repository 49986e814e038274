// SeSPHR client: the high-level API over the wasm protocol core.
//
// Everything secret (seeds, section secrets, shares, data keys) stays inside
// wasm memory; these modules only move ciphertext and signed objects between
// the wasm core and the servers with `fetch`. The protocol's rules (which
// grants to trust, which version is fresh, when to rotate) are the core's
// flows; see README.md for a tour.
//
//   wasm.js      loading the core, hex helpers
//   errors.js    SesphrError (the core throws it directly)
//   http.js      Client: every request to the relay and the SRS
//   identity.js  Identity
//   documents.js section documents, OpenSection
//   body.js      chunked encryption and decryption of bodies (WebCrypto)
//   shards.js    RelaySet: bodies erasure-coded over independent relays
//   owner.js     Patient, PatientRecord
//   reader.js    Reader, SharedRecord
//   contacts.js  Contacts: people by the names this party gave them
//   invitations.js invitations, owner-private state, name cards, shares by person
//   fhir.js      FHIR R4: import plans, Bundle and Patient Summary export

export { init, webCryptoAvailable, standardSections, roleSections, toHex, fromHex } from "./wasm.js";
export { SesphrError, isTransient } from "./errors.js";
export { Client } from "./http.js";
export { RelaySet } from "./shards.js";
export { Identity, wrappedSeedCost } from "./identity.js";
export { OpenSection } from "./documents.js";
export { Patient, PatientRecord } from "./owner.js";
export { Reader, SharedRecord } from "./reader.js";
export { Contacts } from "./contacts.js";
export { decodeLink, openLink } from "./shl.js";
export { OwnerState, Invitations, readInvitation, acceptInvitation, issueAccess, sendName, ownerNames, sharesByPerson, safetyNumber } from "./invitations.js";
export { EMERGENCY_VIEW_UNVERIFIED, emergencySections } from "./emergency.js";
export { planImport, toBundle, toPatientSummary, withoutImportBookkeeping, sectionOf, describe } from "./fhir.js";
