// Type-checks the whole public API of the packed package (tsc --strict --noEmit).
import {
  init, webCryptoAvailable, standardSections, roleSections, toHex, fromHex, wrappedSeedCost, isTransient,
  Client, Contacts, Identity, Patient, PatientRecord, Reader, OpenSection, SesphrError, SharedRecord,
  type Contact, type PartyLabel,
  type AuditListing, type AuditRow, type Cost, type HighWater, type OwnerGrant, type Party, type SharedSection, type SectionDocument,
  type WriteResult,
  planImport, toBundle, toPatientSummary, withoutImportBookkeeping, sectionOf, describe,
  type FhirBundle, type FhirResource, type ImportPlan, type OtherPatient, type PlannedSection,
  type PruneResult,
  openLink, type CreateLinkOptions, type LinkListing, type LinkFile,
  emergencySections, type EmergencyState, type EmergencyActivationRow, type EmergencyStateName,
  type AccessRequest, type AccessRefusal,
} from "sesphr-client";

export async function everything(baseUrl: string): Promise<string[]> {
  await init();
  const engine: boolean = webCryptoAvailable();
  const names: string[] = [...standardSections(), ...roleSections("physician")];
  const client = new Client({ baseUrl, srsFingerprint: undefined, fetch: globalThis.fetch });
  const srs = await client.connect();
  const key: Uint8Array = srs.encryptionKey;
  const me: Identity = Identity.generate();
  const cost: Cost = { memoryKib: 19456, iterations: 2, lanes: 1 };
  const wrapped: Uint8Array = me.wrap("passphrase!", cost);
  const same: Identity = Identity.unwrap(wrapped, "passphrase!");
  const c2: Cost = wrappedSeedCost(wrapped);
  const seedHex: string = toHex(same.exportSeed());
  Identity.fromSeed(fromHex(seedHex)).free();
  await client.register(me);
  const party: Party & { createdAt: number } = await client.lookup(me.id);
  const book = new Contacts(client, me, { getItem: () => null, setItem: () => {}, removeItem: () => {}, clear: () => {}, key: () => null, length: 0 });
  const contact: Contact = await book.add(party, "Me");
  const label: PartyLabel = book.label(contact.id);
  book.remember(party);
  (await book.describe(party.id)).text.length;
  book.onChange(() => book.list().length);
  await book.rename(contact.id, label.name ?? "Me again");
  book.remove(contact.id);
  const highWater: HighWater = new Map<string, number>();
  const patient = new Patient(client, me, { highWater });
  const record: PatientRecord = await patient.createRecord();
  const written: WriteResult = await record.write(
    [{ name: "notes", fields: { a: "b" }, text: "t", fhir: [{ resourceType: "Patient" }], files: [{ name: "f", bytes: new Uint8Array(3) }], keep: [] }],
    { onProgress: (done: number, total: number) => void (done / total) },
  );
  const v: number = written.version;
  const cancel = new AbortController();
  const restored: WriteResult = await record.restore("notes", v, { signal: cancel.signal, onProgress: () => {} });
  const pruned: PruneResult = await record.prune({ before: restored.version });
  pruned.deleted.forEach((id: string) => id.length);
  const confirmed: boolean = written.witnessed || (await record.reconcile());
  const pending: boolean = record.pendingWitness;
  const unwitnessed: number[] = record.unwitnessed;
  const witnessedVersion: number = record.witnessedVersion;
  await record.refresh();
  const versions: number[] = record.history("notes").map((h) => h.version);
  const older: OpenSection = await record.open("notes", { version: versions[0] });
  older.close();
  const ids: string[] = await record.share({ grantee: party, sections: ["notes"], history: "fromNow", expiresAt: Date.now() + 1000, role: "custom" });
  const grants: Array<OwnerGrant & { revoked: boolean }> = await record.grants();
  record.liveGrants().forEach((g: OwnerGrant) => g.grantee.fingerprint);
  record.rotate("notes");
  await record.revoke(ids);
  await record.revokeParty(party.id);
  const asks: AccessRequest[] = await patient.accessRequests();
  for (const a of asks) {
    if (a.sections.length > 1) await patient.approveRequest(record, a, { sections: a.sections.slice(0, 1) });
    else await patient.declineRequest(a);
  }
  const preset: string[] = emergencySections();
  await record.share({ grantee: party, role: "emergency", sections: preset, emergencyWaitMs: 3_600_000 });
  const rows: EmergencyActivationRow[] = await record.emergencyActivations();
  const waitingRow: boolean = rows.some((r) => r.pending && r.state === "waiting");
  if (waitingRow) await record.approveEmergency({ partyId: party.id }).catch((e: unknown) => e);
  await record.denyEmergency({ grantIds: rows.map((r) => r.grantId) }).catch((e: unknown) => e);
  const listing: AuditListing = await record.audit();
  const verified: true = listing.verified;
  const audit: AuditRow[] = listing.entries;
  const own: OpenSection = await record.open("notes");
  const doc: SectionDocument = own.document;
  const format: 1 | 2 = doc.format;
  const root: string | undefined = doc.attachments[0].root;
  for await (const piece of own.attachment(0, { onProgress: () => {} })) piece.byteLength;
  const blob: Blob = await own.attachmentBlob(0);
  own.close();
  const all: PatientRecord[] = await patient.records();
  const one: PatientRecord | undefined = await patient.openRecord(0);
  one?.free();
  const reader = new Reader(client, me, { highWater });
  const asked: { id: string; expiresAt: number } = await reader.requestAccess({ owner: party.id, sections: ["allergies"], reason: "visit" });
  const replies: AccessRefusal[] = await reader.accessReplies();
  console.log(asked.id, replies.map((r) => r.requestId));
  const shared: SharedRecord[] = await reader.sharedWithMe();
  for (const r of shared) {
    const ownerId: string = r.owner.id;
    const foreign: string[] = await r.clearForeign();
    const states: EmergencyState[] = await reader.emergencyStatus(r);
    const name: EmergencyStateName | undefined = states[0]?.state;
    if (name === "dormant") await reader.activateEmergency(r).catch((e: unknown) => e);
    for (const s of r.sections as SharedSection[]) {
      const back: SharedRecord = s.record;
      const list: Array<{ version: number; readable: boolean }> = await back.history(s);
      try {
        (await reader.open(s, { version: list[0]?.version })).close();
      } catch (e) {
        if (e instanceof SesphrError) console.log(e.code, e.status, e.found, e.known, isTransient(e));
      }
      console.log(ownerId, foreign.length, s.grants[0]?.itemId);
    }
    r.free();
  }
  const range: Response = await client.getBlob(record.sections()[0].entry.blobId, [0, 10]);
  await client.putBlob(me, "00".repeat(32), 0, new Uint8Array(0)).catch((e: unknown) => e);
  me.free();
  return [String(engine), ...names, toHex(key), String(c2.memoryKib), String(v), String(confirmed), String(pending),
    String(unwitnessed.length), String(witnessedVersion), String(grants.length), String(audit.length), audit[0]?.request ?? "",
    doc.name, String(blob.size), String(all.length), String(range.status), record.recordId, String(record.index), String(record.version)];
}

export function fhir(json: string, docs: SectionDocument[]): string[] {
  const patient: FhirResource | undefined = docs.find((d) => d.name === "demographics")?.fhir.find((r) => r.resourceType === "Patient") as FhirResource | undefined;
  const plan: ImportPlan = planImport(json, { sections: new Map(docs.map((d) => [d.name, d.fhir as FhirResource[]])), patient, importOthers: false });
  const others: OtherPatient[] = plan.otherPatients;
  const again: ImportPlan = planImport(JSON.parse(json), { sections: {}, importOthers: others.map((o) => o.key) });
  const writes = plan.sections.map((s: PlannedSection) => ({ name: s.name, fhir: s.fhir, fields: {}, text: "" }));
  const bundle: FhirBundle = toBundle(docs.map((d) => withoutImportBookkeeping(d)), { now: Date.now() });
  const ips: FhirBundle = toPatientSummary(docs, { now: new Date(), author: { resourceType: "Organization", name: "Clinic" }, uuid: () => "00000000-0000-4000-8000-000000000000" });
  return [...plan.summary, String(again.empty), String(writes.length), bundle.type, ips.entry[0].fullUrl, sectionOf(ips.entry[0].resource), describe(ips.entry[0].resource)];
}

export async function links(record: PatientRecord): Promise<string[]> {
  const options: CreateLinkOptions = { sections: ["allergies"], passcode: "4711", maxAttempts: 3, expiresAt: Date.now() + 60_000, label: "ER", longTerm: false };
  const { url, id }: { url: string; id: string } = await record.createLink(options);
  const listed: LinkListing[] = await record.links();
  const files: LinkFile[] = await openLink(url, { recipient: "ER", passcode: "4711" });
  await record.revokeLink(id);
  return [url, String(listed[0]?.retrievals.length), files[0]?.contentType ?? ""];
}
