// Runs in Chromium: SeSPHR's grant creation and reader-side verify + combine
// + decrypt against umbral-pre's generateKFrags and CapsuleFrag.verify +
// decryptReencrypted, in the same page. Sets window.result.
import * as S from "/pkg/index.js";
import * as core from "/pkg/sesphr.js";
import * as bg from "/umbral/umbral_pre_wasm_bg.js";

const iters = Number(new URLSearchParams(location.search).get("iters") ?? "5");
const body = new Uint8Array(1024).map((_, i) => (i * 13) % 256);

function median(f) {
  const t = [];
  let out;
  for (let i = 0; i < iters; i++) {
    const s = performance.now();
    out = f();
    t.push(performance.now() - s);
  }
  t.sort((a, b) => a - b);
  return { ms: t[Math.floor(t.length / 2)], out };
}

const same = (a, b) => a.length === b.length && a.every((v, i) => v === b[i]);

/** A connected client, an owner and a reader (both registered), and the owner's new record. */
async function patientAndReader() {
  const client = new S.Client();
  await client.connect();
  const owner = S.Identity.generate();
  const reader = S.Identity.generate();
  await client.register(owner);
  await client.register(reader);
  const record = await new S.Patient(client, owner).createRecord();
  return { client, owner, reader, record };
}

async function sesphr() {
  await S.init();
  const { client, owner, reader, record } = await patientAndReader();
  await record.write([{ name: "notes", files: [{ name: "b", bytes: body }] }]);

  // Grant creation: split a, two HPKE envelopes, sign (what share() does per section).
  const rec = core.newRecord(owner.core);
  const key = new core.SectionKey(owner.core, rec.recordId, core.sectionId(owner.core, rec.recordId, "notes"), core.newEpochId());
  const srsIdentity = client.pinnedSrs();
  const grant = median(() =>
    core.issueGrant(owner.core, key, srsIdentity, { grantee: reader.publicKey, role: "custom", sequence: 1 }),
  );

  // One real SRS answer, then the reader's side in a loop: verify the answer
  // (signature, DLEQ proof, audit receipt, head), combine to the DEK, decrypt.
  await record.share({ grantee: reader.id, sections: ["notes"] });
  const [item] = await client.inbox(reader);
  const g = core.VerifiedGrant.fromBytes(S.fromHex(item.statement));
  const manifest = await client.manifest(record.recordId);
  const entry = manifest.entry(record.sectionId("notes"));
  const share = new core.GrantShare(reader.core, g, S.fromHex(item.b1Envelope), manifest);
  const request = share.request(reader.core, manifest.version);
  const sealed = new core.SealedRequest(srsIdentity, request);
  const reply = new Uint8Array(await (await fetch("/v1/reencrypt", { method: "POST", headers: { "content-type": "application/octet-stream" }, body: sealed.bytes })).arrayBuffer());
  const answer = sealed.openAnswer(reply);
  const get = async (id) => new Uint8Array(await (await fetch(`/v1/blobs/${id}`)).arrayBuffer());
  const blob = await get(entry.blobId);
  const index = await get(entry.indexId);
  // The attachment is its own blob (section document format 2): where it
  // is, from the document, fetched once; the read below decrypts both.
  const own = await record.open("notes");
  const attachment = own.document.attachments[0];
  own.close();
  const aBlob = await get(attachment.root);
  const aIndex = await get(attachment.index);
  const open = (dec, bytes) => {
    const parts = [];
    for (let i = 0; i < dec.chunkCount; i++) {
      const [off, len] = dec.chunkRange(i);
      parts.push(dec.openChunk(i, bytes.subarray(off, off + len)));
    }
    dec.free();
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  };
  const read = median(() => {
    const dk = share.dataKey(answer, srsIdentity, request, manifest, 0);
    const doc = open(new core.SectionDecryptor(blob.subarray(0, core.blobHeaderLength()), dk, index, entry.chunkRoot), blob);
    dk.free();
    // The section body is u32 length ‖ JSON ‖ the attachment's file key.
    const docLen = new DataView(doc.buffer).getUint32(0);
    const key = core.AttachmentKey.fromBytes(doc.subarray(4 + docLen, 4 + docLen + 32));
    const header = aBlob.subarray(0, core.attachmentHeaderLength());
    const dec = new core.AttachmentDecryptor(header, key, aIndex, attachment.root, record.recordId, record.sectionId("notes"));
    key.free();
    return open(dec, aBlob);
  });
  return { grantMs: grant.ms, readMs: read.ms, ok: same(read.out, body) };
}

async function umbral() {
  const bytes = await (await fetch("/umbral/umbral_pre_wasm_bg.wasm")).arrayBuffer();
  const { instance } = await WebAssembly.instantiate(bytes, { "./umbral_pre_wasm_bg.js": bg });
  bg.__wbg_set_wasm(instance.exports);
  const alice = bg.SecretKey.random();
  const bob = bg.SecretKey.random();
  const signing = bg.SecretKey.random();
  const signer = new bg.Signer(signing);
  const [alicePk, bobPk, verifyingPk] = [alice.publicKey(), bob.publicKey(), signing.publicKey()];
  const grant = median(() => bg.generateKFrags(alice, bobPk, signer, 1, 1, true, true));
  const [capsule, ciphertext] = bg.encrypt(alicePk, body);
  const cfrag = bg.reencrypt(capsule, grant.out[0]).toBytes();
  const read = median(() => {
    const verified = bg.CapsuleFrag.fromBytes(cfrag).verify(capsule, verifyingPk, alicePk, bobPk);
    return bg.decryptReencrypted(bob, alicePk, capsule, [verified], ciphertext);
  });
  return { grantMs: grant.ms, readMs: read.ms, ok: same(read.out, body) };
}

/** The SeSPHR paper's measurements, on this system: identities for n users,
 * and upload / download turnaround of a section body of each size (encrypt
 * + upload + publish; re-encryption + download + verify + decrypt). */
async function paper() {
  const out = { keygenMs: {}, uploadMs: {}, downloadMs: {} };
  for (const n of iters >= 50 ? [10, 100, 1000] : [10]) {
    const t = performance.now();
    for (let i = 0; i < n; i++) S.Identity.generate().free();
    out.keygenMs[n] = performance.now() - t;
  }
  const { client, reader, record } = await patientAndReader();
  await record.write([{ name: "imaging", text: "first" }]);
  await record.share({ grantee: reader.id, sections: ["imaging"] });
  const [shared] = await new S.Reader(client, reader).sharedWithMe();
  const r = new S.Reader(client, reader);
  for (const size of [50_000, 200_000, 500_000, 1_000_000, 2_000_000]) {
    const bytes = new Uint8Array(size).map((_, i) => i % 251);
    let t = performance.now();
    await record.write([{ name: "imaging", files: [{ name: "scan", bytes }] }]);
    out.uploadMs[size] = performance.now() - t;
    t = performance.now();
    const open = await r.open(shared.sections[0]);
    let n = 0;
    for await (const piece of open.attachment(0)) n += piece.length;
    open.close();
    out.downloadMs[size] = performance.now() - t;
    if (n !== size) throw new Error(`read ${n} of ${size} bytes`);
  }
  return out;
}

(async () => {
  const ours = await sesphr();
  const theirs = await umbral();
  const turnaround = await paper();
  window.result = { iters, sesphr: ours, umbral: theirs, paper: turnaround };
})().catch((e) => {
  window.result = { error: `${e.code ?? ""} ${e.message}` };
});
