//! Known-answer vectors for our formats. Every value is generated from fixed
//! seeds (a SHA-256 counter-mode test RNG) and compared with
//! `tests/vectors/kat.json`; any change to a byte format, label or key
//! schedule breaks this test. Regenerate deliberately with
//! `SESPHR_WRITE_VECTORS=1 cargo test -p sesphr-client --test vectors`.
#![cfg(test)]
#![cfg(not(target_arch = "wasm32"))]
#![recursion_limit = "256"]

use sesphr_testkit::TestRng;

use serde_json::{json, Map, Value};
use sesphr_client::access_request::{AccessAsk, AccessRefusal, AccessRequest};
use sesphr_client::attachment::{open_attachment, seal_attachment, AttachmentKey};
use sesphr_client::audit::AuditEntry;
use sesphr_client::audit::{AuditExport, Decision, MemoryLog, ReceiptBundle};
use sesphr_client::audit_check::AuditCheck;
use sesphr_client::audit_check::AuditMark;
use sesphr_client::capsule::{Capsule, KeyContext};
use sesphr_client::content::object_id;
use sesphr_client::dleq::{DleqProof, DleqStatement};
use sesphr_client::emergency::{EmergencyActivation, EmergencyDecision, Verdict};
use sesphr_client::emergency_view::{
    EmergencyReceipt, EmergencyView, ViewActivation, ViewEntry, ViewState,
};
use sesphr_client::envelope::{open_request, seal_request, Envelope};
use sesphr_client::grant::{GrantTerms, IssuedGrant, Role};
use sesphr_client::identity::DirectoryEntry;
use sesphr_client::identity::Identity;
use sesphr_client::manifest::SignedHead;
use sesphr_client::manifest::{ManifestContent, ManifestEntry, VerifiedManifest};
use sesphr_client::merkle;
use sesphr_client::record::{EpochId, RecordId, SectionId, SectionKey};
use sesphr_client::reencrypt::ReencryptRequest;
use sesphr_client::reencrypt::{srs_reencrypt, ReencryptAnswer};
use sesphr_client::revocation::{Revocation, RevocationReceipt};
use sesphr_client::secret::{SecretScalar, Seed};
use sesphr_client::stream::{decrypt_body, encrypt_body};
use sesphr_client::token::{Purpose, RequestToken};
use sesphr_client::vault;
use sha2::Digest;

const PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/kat.json");

fn generate() -> Value {
    let mut rng = TestRng::new("SeSPHR-v1 known-answer vectors");
    let seed = Seed::generate(&mut rng);
    let owner = Identity::from_seed(seed.clone()).unwrap();
    let grantee = Identity::from_seed(Seed::generate(&mut rng)).unwrap();
    let srs = Identity::from_seed(Seed::generate(&mut rng)).unwrap();

    let (record, record_nonce) = RecordId::generate(&owner.id(), &mut rng);
    let section = SectionId::derive(owner.seed(), &record, "history");
    let epoch = EpochId::generate(&mut rng);
    let key = SectionKey::for_owner(&owner, record, section, epoch).unwrap();
    let (capsule, dk) = Capsule::encapsulate(&key, 1, &mut rng).unwrap();
    let ctx = KeyContext::for_key(&key, 1);
    let body = b"Asthma (J45.909) since 2009; salbutamol as needed. This body spans two 16 KiB chunks once padded: ".repeat(180);
    let (blob, sealed) = encrypt_body(capsule, &dk, &ctx, &body, 14).unwrap();
    assert_eq!(
        decrypt_body(&blob, &dk, &sealed.chunk_root)
            .unwrap()
            .to_vec(),
        body
    );

    let manifest = ManifestContent::first(
        record,
        record_nonce,
        1_767_225_600_000,
        vec![ManifestEntry::for_body(key.public(), &sealed)],
    )
    .sign(&owner)
    .unwrap();

    let terms = GrantTerms {
        expires_at: Some(1_798_761_600_000),
        ..GrantTerms::new(grantee.public(), Role::Physician, 1)
    };
    let grant =
        IssuedGrant::issue(&owner, &key, &srs.public().encryption, &terms, &mut rng).unwrap();
    let share = grant.accept(&grantee, &key.public()).unwrap();
    let srs_share = grant.accept_srs_share(&srs).unwrap();
    let request =
        ReencryptRequest::new(&grantee, &grant.statement, 1, 1_767_225_601_000, &mut rng).unwrap();
    let b2 = SecretScalar::from_bytes(srs_share.b2_bytes().as_ref()).unwrap();
    let p2 = b2.mul(&capsule.0).unwrap();
    let proof = DleqProof::prove(
        &b2,
        &DleqStatement {
            b2_commitment: &grant.statement.b2_commitment,
            capsule: &capsule.0,
            p2: &p2,
            grant_id: &grant.statement.grant_id,
            nonce: &request.nonce,
        },
        &mut rng,
    )
    .unwrap();
    // Everything below draws from the RNG after every value above, so those
    // stay as they were when these were added.
    let sealed_request =
        seal_request(&srs.public().encryption, request.as_bytes(), &mut rng).unwrap();
    let verified = request.verify(&grant.statement).unwrap();
    let re = srs_reencrypt(
        &srs_share,
        &grant.statement,
        &verified,
        &manifest,
        1_767_225_601_500,
        &mut rng,
    )
    .unwrap();
    let mut log = MemoryLog::default();
    let entry = verified.audit_entry(&grant.statement, 1_767_225_601_500, Decision::Allowed);
    let receipt = log.append(&srs, entry.clone()).unwrap();
    let head = SignedHead::sign(&srs, record, 1, manifest.hash(), 1_767_225_601_500);
    let answer = re.answer(receipt.clone(), head.clone()).sign(&srs).unwrap();
    let opened =
        ReencryptAnswer::verify(&answer, srs.public(), &request, &grant.statement, &manifest)
            .unwrap();
    let grantee_dek = share.data_key(&manifest, &opened).unwrap();
    assert_eq!(
        grantee_dek.dek.expose(),
        dk.dek.expose(),
        "the grantee derives the owner's DEK"
    );
    let sealed_answer = sealed_request.1.seal_answer(&answer).unwrap();
    let revocation = Revocation::sign(&owner, &grant.statement, 1_767_225_700_000).unwrap();
    let revocation_receipt = RevocationReceipt::sign(&srs, &revocation, 1_767_225_700_500);
    let token = |who: &Identity, purpose: Purpose, subject: &[u8], rng: &mut TestRng| {
        RequestToken::sign(who, purpose, subject, 1_767_225_602_000, rng).unwrap()
    };
    let upload_subject = [
        sealed.chunk_root.as_slice(),
        &(blob.len() as u64).to_be_bytes(),
    ]
    .concat();
    let token_upload = token(&owner, Purpose::UploadBlob, &upload_subject, &mut rng);
    let token_inbox = token(&grantee, Purpose::ReadInbox, &[], &mut rng);
    let token_clear = token(
        &grantee,
        Purpose::ClearInbox,
        &grant.statement.statement_hash(),
        &mut rng,
    );
    // Drawn last, so nothing above depends on them: the seed-derived nonce
    // of the owner's record 0 (no draw) and the owner's seed wrapped at the
    // cheapest cost a file may ask for.
    let (record_0, record_0_nonce) = RecordId::for_index(&seed, &owner.id(), 0);
    let passphrase = "correct horse battery staple";
    let wrapped = vault::wrap(&seed, passphrase, vault::Cost::MIN, &mut rng).unwrap();
    assert_eq!(
        vault::unwrap(&wrapped, passphrase).unwrap().to_bytes(),
        seed.to_bytes()
    );

    // Drawn after everything above: an attachment of the section, stored as
    // its own blob (kind 0x12) under a fresh file key, and the format-2
    // section document that lists it (u32 length ‖ JSON ‖ its key).
    let attachment_key = AttachmentKey::generate(&mut rng);
    let attachment =
        b"%PDF-1.4 Spirometry report: FEV1 2.9 L (82% predicted), FEV1/FVC 0.71. ".repeat(260);
    let (attachment_blob, attachment_sealed) =
        seal_attachment(&attachment_key, record, section, &attachment, 14).unwrap();
    let attachment_dk = attachment_key.data_key(&record, &section);
    let attachment_json = format!(
        r#"{{"format":2,"name":"history","fields":{{}},"text":"Spirometry attached.","fhir":[],"attachments":[{{"name":"spirometry.pdf","type":"application/pdf","size":{},"root":"{}","index":"{}","length":{}}}]}}"#,
        attachment.len(),
        hex::encode(attachment_sealed.chunk_root),
        hex::encode(attachment_sealed.index_id),
        attachment_blob.len(),
    );
    let mut attachment_document = (attachment_json.len() as u32).to_be_bytes().to_vec();
    attachment_document.extend_from_slice(attachment_json.as_bytes());
    attachment_document.extend_from_slice(attachment_key.to_bytes().as_ref());

    // Drawn after everything above: the verifiable audit log. A second
    // entry about the record (seq 1, linked to the first), the owner's
    // check of the listing of both and the mark it keeps, the receipts a
    // reader forwards sealed to the owner as mail, an auditor's export, the
    // owner's next manifest recording the verified head (format 2), and the
    // tokens of the mail routes.
    let receipt_2 = log
        .append(
            &srs,
            verified.audit_entry(&grant.statement, 1_767_225_601_900, Decision::Allowed),
        )
        .unwrap();
    let verified_head = {
        let check = AuditCheck::new(srs.public(), receipt_2.head.as_bytes(), None).unwrap();
        check.verified().unwrap()
    };
    let mut listing = verified_head.listing(record);
    for r in [&receipt, &receipt_2] {
        listing
            .add(
                r.index,
                &r.entry.to_bytes(),
                &log.inclusion_path(r.index, 2).unwrap(),
            )
            .unwrap();
    }
    listing.add_receipt(receipt_2.clone()).unwrap();
    let audit_mark = listing.finish(None).unwrap().mark;
    let bundle = ReceiptBundle {
        record,
        receipts: vec![receipt.clone(), receipt_2.clone()],
    }
    .to_bytes()
    .unwrap();
    let mail = Envelope::seal_mail(&owner.public().encryption, &bundle, &mut rng).unwrap();
    let export = AuditExport {
        srs: srs.public().clone(),
        entries: vec![receipt.entry.to_bytes(), receipt_2.entry.to_bytes()],
        heads: vec![receipt_2.head.as_bytes().to_vec()],
    }
    .to_bytes()
    .unwrap();
    let manifest_2 = ManifestContent {
        record,
        record_nonce,
        version: 2,
        previous: manifest.hash(),
        created_at: 1_767_225_602_500,
        entries: manifest.content.entries.clone(),
        audit_head: Some(receipt_2.head.as_bytes().to_vec()),
    }
    .sign(&owner)
    .unwrap();
    let mail_id: [u8; 32] = sha2::Sha256::digest(mail.to_bytes()).into();
    let send_subject = [owner.id().0.as_slice(), &mail_id].concat();
    let token_send_mail = token(&grantee, Purpose::SendMail, &send_subject, &mut rng);
    let token_read_mail = token(&owner, Purpose::ReadMail, &[], &mut rng);
    let token_clear_mail = token(&owner, Purpose::ClearMail, &mail_id, &mut rng);

    // Emergency access (drawn after everything above): an emergency grant
    // (statement format 2), its activation and the owner's approval, the
    // BTG audit entry (format 3) of an answer on it, and the two tokens.
    let emergency_terms = GrantTerms {
        emergency_wait_ms: Some(86_400_000),
        ..GrantTerms::new(grantee.public(), Role::Emergency, 2)
    };
    let emergency_grant = IssuedGrant::issue(
        &owner,
        &key,
        &srs.public().encryption,
        &emergency_terms,
        &mut rng,
    )
    .unwrap();
    let activation = EmergencyActivation::sign(
        &grantee,
        &emergency_grant.statement,
        [0; 32],
        1_767_225_603_000,
        &mut rng,
    )
    .unwrap();
    let decision = EmergencyDecision::sign(
        &owner,
        &emergency_grant.statement,
        &activation,
        Verdict::Approve,
        1_767_225_604_000,
        &mut rng,
    )
    .unwrap();
    let emergency_request = ReencryptRequest::new(
        &grantee,
        &emergency_grant.statement,
        1,
        1_767_225_605_000,
        &mut rng,
    )
    .unwrap();
    let emergency_entry = emergency_request
        .verify(&emergency_grant.statement)
        .unwrap()
        .audit_entry(
            &emergency_grant.statement,
            1_767_225_605_500,
            Decision::Allowed,
        );
    let emergency_receipt = log.append(&srs, emergency_entry).unwrap();
    let status_subject = [record.0.as_slice(), &emergency_grant.statement.grant_id].concat();
    let token_list_emergency = token(&owner, Purpose::ListEmergency, &record.0, &mut rng);
    let token_emergency_status = token(
        &grantee,
        Purpose::EmergencyStatus,
        &status_subject,
        &mut rng,
    );
    // The SRS's signed answers (no draws: ECDSA signing is deterministic):
    // the receipt of the approval, and the owner's listing after it, bound
    // to the listing token's nonce.
    let emergency_receipt_srs = EmergencyReceipt::sign(&srs, &decision, 1_767_225_604_100);
    let emergency_view = EmergencyView::sign(
        &srs,
        &record,
        &owner.id(),
        token_list_emergency.nonce,
        1_767_225_604_500,
        vec![ViewEntry {
            grant_id: emergency_grant.statement.grant_id,
            state: ViewState::Open,
            approved: true,
            wait_ms: 86_400_000,
            activation: Some(ViewActivation {
                hash: activation.hash(),
                timestamp: activation.timestamp,
                activated_at: 1_767_225_603_200,
                opens_at: 1_767_225_603_200 + 86_400_000,
            }),
            last_decision: Some(decision.hash()),
        }],
    )
    .unwrap();
    // Access requests (drawn after the emergency values): the grantee asks
    // the owner for two sections; the owner's refusal; both sealed as mail.
    let asked = vec!["allergies".to_string(), "medications".to_string()];
    let access_request = AccessRequest::sign(
        &grantee,
        &AccessAsk {
            owner: owner.id(),
            record,
            role: Role::Custom,
            sections: &asked,
            reason: "new patient visit on 5 January",
            now: 1_767_225_606_000,
            ttl_ms: 7 * 86_400_000,
        },
        &mut rng,
    )
    .unwrap();
    let access_refusal = AccessRefusal::sign(&owner, &access_request, 1_767_225_607_000).unwrap();
    let mail_access_request = Envelope::seal_mail(
        &owner.public().encryption,
        access_request.as_bytes(),
        &mut rng,
    )
    .unwrap();

    fn h(b: impl AsRef<[u8]>) -> String {
        hex::encode(b)
    }
    let mut out = json!({
        "emergency_grant_statement": h(emergency_grant.statement.as_bytes()),
        "emergency_activation": h(activation.as_bytes()),
        "emergency_activation_hash": h(activation.hash()),
        "emergency_decision": h(decision.as_bytes()),
        "emergency_decision_hash": h(decision.hash()),
        "emergency_receipt": h(emergency_receipt_srs.as_bytes()),
        "emergency_view": h(emergency_view.as_bytes()),
        "emergency_request": h(emergency_request.as_bytes()),
        "audit_entry_btg": h(emergency_receipt.entry.to_bytes()),
        "token_list_emergency": h(token_list_emergency.as_bytes()),
        "token_emergency_status": h(token_emergency_status.as_bytes()),
        "access_request": h(access_request.as_bytes()),
        "access_request_id": h(access_request.hash()),
        "access_refusal": h(access_refusal.as_bytes()),
        "mail_access_request": h(mail_access_request.to_bytes()),
    });
    let rest = json!({
        "audit_entry_unlinked": h(entry.to_bytes()),
        "audit_entry_2": h(receipt_2.entry.to_bytes()),
        "audit_tree_head_2": h(receipt_2.head.as_bytes()),
        "audit_path_1_in_2": h(log.inclusion_path(0, 2).unwrap().concat()),
        "audit_mark": h(audit_mark.to_bytes()),
        "receipt_bundle": h(&bundle),
        "mail_receipts": h(mail.to_bytes()),
        "mail_id": h(mail_id),
        "audit_export": h(&export),
        "manifest_2": h(manifest_2.as_bytes()),
        "token_send_mail": h(token_send_mail.as_bytes()),
        "token_read_mail": h(token_read_mail.as_bytes()),
        "token_clear_mail": h(token_clear_mail.as_bytes()),
        "attachment_key": h(attachment_key.to_bytes().as_ref()),
        "attachment_body": String::from_utf8(attachment).unwrap(),
        "attachment_chunk_log2": 14,
        "attachment_dek": h(attachment_dk.dek.expose()),
        "attachment_key_commitment": h(attachment_dk.commitment),
        "attachment_blob": h(&attachment_blob),
        "attachment_chunk_index": h(attachment_sealed.index.to_bytes()),
        "attachment_root": h(attachment_sealed.chunk_root),
        "attachment_index_id": h(attachment_sealed.index_id),
        "attachment_document": h(&attachment_document),
        "description": "SeSPHR format v1 known answers; see docs/protocol.md. All randomness from SHA-256(\"SeSPHR-v1 known-answer vectors\") in counter mode.",
        "owner_seed": h(seed.to_bytes().as_ref()),
        "owner_signing_key": h(owner.public().signing_bytes()),
        "owner_encryption_key": h(owner.public().encryption.to_bytes()),
        "owner_party_id": owner.id().to_hex(),
        "owner_fingerprint": owner.public().fingerprint(),
        "grantee_public": h(grantee.public().to_bytes()),
        "srs_public": h(srs.public().to_bytes()),
        "record_nonce": h(record_nonce),
        "record_id": record.to_hex(),
        "section_name": "history",
        "section_id": section.to_hex(),
        "epoch_id": epoch.to_hex(),
        "section_key_A": h(key.public().to_bytes()),
        "capsule_E": h(capsule.0.to_bytes()),
        "dek": h(dk.dek.expose()),
        "key_commitment": h(dk.commitment),
        "body": String::from_utf8(body).unwrap(),
        "chunk_log2": 14,
        "blob": h(&blob),
        "chunk_index": h(sealed.index.to_bytes()),
        "chunk_root": h(sealed.chunk_root),
        "index_id": h(sealed.index_id),
        "manifest": h(manifest.as_bytes()),
        "manifest_hash": h(manifest.hash()),
        "grant_statement": h(grant.statement.as_bytes()),
        "b1_envelope": h(grant.b1_envelope.to_bytes()),
        "b2_envelope": h(grant.b2_envelope.to_bytes()),
        "reencrypt_request": h(request.as_bytes()),
        "p2": h(p2.to_bytes()),
        "dleq_proof": h(proof.to_bytes()),
        "grantee_seed": h(grantee.seed().to_bytes().as_ref()),
        "srs_seed": h(srs.seed().to_bytes().as_ref()),
        "owner_directory_entry": h(owner.directory_entry(1_767_225_000_000).as_bytes()),
        "grantee_directory_entry": h(grantee.directory_entry(1_767_225_000_000).as_bytes()),
        "inbox_item_id": h(grant.statement.statement_hash()),
        "sealed_request": h(&sealed_request.0),
        "request_hash": h(request.hash()),
        "audit_entry": h(receipt.entry.to_bytes()),
        "audit_tree_head": h(receipt.head.as_bytes()),
        "head": h(head.as_bytes()),
        "reencrypt_answer": h(&answer),
        "sealed_answer": h(&sealed_answer),
        "revocation": h(revocation.as_bytes()),
        "revocation_receipt": h(revocation_receipt.as_bytes()),
        "token_upload_blob": h(token_upload.as_bytes()),
        "token_read_inbox": h(token_inbox.as_bytes()),
        "token_clear_inbox": h(token_clear.as_bytes()),
        "record_0_nonce": h(record_0_nonce),
        "record_0_id": record_0.to_hex(),
        "wrapped_seed_passphrase": passphrase,
        "wrapped_seed": h(&wrapped),
        "shl_owner_key": h(sesphr_client::shl::seal_owner_key_with_nonce(
            owner.seed(),
            &[1; 32],
            &sesphr_client::shl::LinkKey::from_bytes([2; 32]),
            br#"{"record":"00","sections":["allergies"]}"#,
            [3; 12],
        )
        .unwrap()),
    });
    if let (Some(o), Value::Object(rest)) = (out.as_object_mut(), rest) {
        o.extend(rest);
    }
    // Drawn after everything above, so adding them changed no other value.
    out.as_object_mut()
        .unwrap()
        .extend(invitation_vectors(&mut rng, &owner, &grantee));
    out.as_object_mut()
        .unwrap()
        .extend(sharded_vectors(&owner, &blob, &dk, &manifest_2));
    out
}

/// The vector blob sharded 2 of 3, its sealed placement and the format-3
/// manifest that lists it (docs/protocol.md, "Sharded placement"). Draws
/// nothing from the RNG, so every other vector keeps its bytes.
fn sharded_vectors(
    owner: &Identity,
    blob: &[u8],
    dk: &sesphr_client::capsule::DataKey,
    prev: &VerifiedManifest,
) -> Map<String, Value> {
    use sesphr_client::shard::{self, Placement, ShardDecoder, ShardEncoder, ShardParams};
    use sesphr_client::stream::{BlobHeader, ChunkIndex};
    let index = ChunkIndex::from_blob(blob).unwrap();
    let payload = shard::payload_of(blob, &index).unwrap();
    let params = ShardParams::for_payload(2, 3, payload.len() as u64).unwrap();
    let mut enc = ShardEncoder::new(params, payload.len() as u64).unwrap();
    let mut shards: Vec<Vec<u8>> = (0..3).map(|i| enc.header(i).unwrap()).collect();
    let size = params.piece_size() as usize;
    let mut at = 0;
    for j in 0..enc.stripes() {
        let len = enc.stripe_input_len(j) as usize;
        let out = enc.encode_stripe(&payload[at..at + len]).unwrap();
        at += len;
        for (i, p) in out.chunks(size).enumerate() {
            shards[i].extend_from_slice(p);
        }
    }
    let refs = enc.finish().unwrap();
    // Shards 1 and 2 (a data shard and the parity) give the payload back.
    let mut dec = ShardDecoder::new(params, payload.len() as u64).unwrap();
    let mut back = Vec::new();
    for j in 0..dec.stripes() as usize {
        let at = shard::SHARD_HEADER_LEN + j * size;
        let piece = |i: usize| Some(shards[i][at..at + size].to_vec());
        back.extend(dec.decode_stripe(&mut [None, piece(1), piece(2)]).unwrap());
    }
    assert_eq!(back, payload);
    // The pool's record: four relays, shard i sent to relay i, and the
    // fourth (sent nothing) may take shard 0 in a repair.
    let pool = [
        ("https://relay-a.example", 0b001u16),
        ("https://relay-b.example", 0b010),
        ("https://relay-c.example", 0b100),
        ("https://relay-d.example/sesphr", 0b001),
    ];
    let mut slots: Vec<shard::Slot> = pool
        .iter()
        .map(|(url, shards)| shard::Slot {
            relay: shard::relay_tag(url),
            shards: *shards,
        })
        .collect();
    slots.sort_unstable_by_key(|a| a.relay);
    let placement = Placement {
        params,
        header: BlobHeader::from_prefix(blob).unwrap().into(),
        shards: refs.iter().map(|(r, _)| r.clone()).collect(),
        slots: Some(slots),
    };
    let mut entry = prev.content.entries[0].clone();
    let sealed = placement.seal(&dk.placement, &entry.binding()).unwrap();
    entry.placement = Some(sealed.clone());
    let m3 = ManifestContent {
        record: prev.record(),
        record_nonce: prev.content.record_nonce,
        version: prev.version() + 1,
        previous: prev.hash(),
        created_at: prev.content.created_at + 500,
        entries: vec![entry],
        audit_head: prev.content.audit_head.clone(),
    }
    .sign(owner)
    .unwrap();
    let opened = m3.content.entries[0].open_placement(dk).unwrap();
    assert_eq!(opened, placement);
    fn h(b: impl AsRef<[u8]>) -> String {
        hex::encode(b)
    }
    let mut m = Map::new();
    m.insert(
        "shard_params".into(),
        json!([params.k, params.n, params.piece_len]),
    );
    m.insert(
        "shard_roots".into(),
        json!(refs.iter().map(|(r, _)| h(r.root)).collect::<Vec<_>>()),
    );
    m.insert(
        "shard_index_ids".into(),
        json!(refs.iter().map(|(r, _)| h(r.index_id)).collect::<Vec<_>>()),
    );
    m.insert(
        "shard_sha256".into(),
        json!(shards
            .iter()
            .map(|s| h(sha2::Sha256::digest(s)))
            .collect::<Vec<_>>()),
    );
    m.insert(
        "shard_lengths".into(),
        json!(shards.iter().map(|s| s.len()).collect::<Vec<_>>()),
    );
    m.insert(
        "placement_pool".into(),
        json!(pool
            .iter()
            .map(|(url, shards)| json!([url, shards]))
            .collect::<Vec<_>>()),
    );
    m.insert("placement_key".into(), json!(h(dk.placement.expose())));
    m.insert("placement".into(), json!(h(placement.to_bytes())));
    m.insert("placement_sealed".into(), json!(h(&sealed)));
    m.insert("manifest_sharded".into(), json!(h(m3.as_bytes())));
    m
}

/// Invitations, acceptances, name cards, safety numbers, owner state and
/// their tokens (docs/protocol.md, "Invitations and contacts").
fn invitation_vectors(
    rng: &mut TestRng,
    owner: &Identity,
    grantee: &Identity,
) -> Map<String, Value> {
    use sesphr_client::invitation::{safety_number, Invitation, InvitationTerms, NameCard};
    use sesphr_client::owner_state::seal_state;
    fn h(b: impl AsRef<[u8]>) -> String {
        hex::encode(b)
    }
    let invitation = Invitation::create(
        owner,
        InvitationTerms {
            expires_at: 1_767_830_400_000,
            role: "physician".into(),
            sections: vec!["allergies".into(), "medications".into()],
            owner_name: "Alice Example".into(),
        },
        rng,
    )
    .unwrap();
    let acceptance = invitation
        .accept(grantee, "Dr. Bob", 1_767_225_900_000, rng)
        .unwrap();
    let acceptance_mail =
        Envelope::seal_mail(&owner.public().encryption, acceptance.as_bytes(), rng).unwrap();
    let card = NameCard::sign(owner, &grantee.id(), "Alice Example", 1_767_226_000_000).unwrap();
    let state_plain =
        br#"{"contacts":[{"id":"00","name":"Dr. Bob"}],"me":{"name":"Alice Example"}}"#;
    let state = seal_state(owner, "contacts", 3, state_plain, rng).unwrap();
    let state_digest: [u8; 32] = sha2::Sha256::digest(&state).into();
    let token = |purpose: Purpose, subject: &[u8], rng: &mut TestRng| {
        RequestToken::sign(owner, purpose, subject, 1_767_225_602_000, rng).unwrap()
    };
    let token_put_state = token(Purpose::PutState, &state_digest, rng);
    let token_get_state = token(Purpose::GetState, b"contacts", rng);
    let v = json!({
        "invitation": h(invitation.as_bytes()),
        "invitation_secret": h(invitation.secret.to_bytes().as_ref()),
        "invitation_id": h(invitation.id()),
        "invitation_hpke_public": h(invitation.secret.hpke_public().unwrap().to_bytes()),
        "acceptance": h(acceptance.as_bytes()),
        "mail_acceptance": h(acceptance_mail.to_bytes()),
        "name_card": h(card.as_bytes()),
        "safety_number": safety_number(owner.public(), grantee.public()),
        "owner_state": h(&state),
        "owner_state_plaintext": String::from_utf8(state_plain.to_vec()).unwrap(),
        "token_put_state": h(token_put_state.as_bytes()),
        "token_get_state": h(token_get_state.as_bytes()),
    });
    match v {
        Value::Object(m) => m,
        _ => unreachable!(),
    }
}

#[test]
fn known_answers_match() {
    let fresh = generate();
    if std::env::var_os("SESPHR_WRITE_VECTORS").is_some() {
        let tmp = format!("{PATH}.tmp");
        std::fs::write(&tmp, serde_json::to_string_pretty(&fresh).unwrap() + "\n").unwrap();
        std::fs::rename(&tmp, PATH).unwrap();
    }
    let frozen: Map<String, Value> =
        serde_json::from_str(&std::fs::read_to_string(PATH).expect("tests/vectors/kat.json"))
            .unwrap();
    let fresh = fresh.as_object().unwrap();
    assert_eq!(
        frozen.keys().collect::<Vec<_>>(),
        fresh.keys().collect::<Vec<_>>()
    );
    for (k, v) in fresh {
        assert_eq!(&frozen[k], v, "known answer {k} changed");
    }
}

/// The frozen bytes decode and verify on their own (not only as regenerated).
#[test]
fn frozen_objects_verify() {
    let v: Map<String, Value> =
        serde_json::from_str(&std::fs::read_to_string(PATH).unwrap()).unwrap();
    let b = |k: &str| hex::decode(v[k].as_str().unwrap()).unwrap();
    let m = VerifiedManifest::from_bytes(&b("manifest")).unwrap();
    assert_eq!(hex::encode(m.hash()), v["manifest_hash"].as_str().unwrap());
    let owner = Identity::from_seed(Seed::from_bytes(&b("owner_seed")).unwrap()).unwrap();
    m.expect_owner(owner.public()).unwrap();
    let key = SectionKey::for_owner(
        &owner,
        m.record(),
        m.content.entries[0].section,
        m.content.entries[0].epoch,
    )
    .unwrap();
    let dk = m.content.entries[0].capsule.open_as_owner(&key, 1).unwrap();
    assert_eq!(hex::encode(dk.dek.expose()), v["dek"].as_str().unwrap());
    let body = decrypt_body(&b("blob"), &dk, &m.content.entries[0].chunk_root).unwrap();
    assert_eq!(body.as_slice(), v["body"].as_str().unwrap().as_bytes());
    // The relay addresses: the blob by its chunk root, the index by SHA-256.
    let entry = &m.content.entries[0];
    assert_eq!(object_id(&b("blob")).unwrap(), entry.blob_id());
    assert_eq!(object_id(&b("chunk_index")).unwrap(), entry.index_id);
    let grant = sesphr_client::grant::VerifiedGrant::from_bytes(&b("grant_statement")).unwrap();
    assert_eq!(
        hex::encode(grant.statement_hash()),
        v["inbox_item_id"].as_str().unwrap()
    );
    // The other parties, the SRS's answer and every other object, on their own.
    let grantee = Identity::from_seed(Seed::from_bytes(&b("grantee_seed")).unwrap()).unwrap();
    let srs = Identity::from_seed(Seed::from_bytes(&b("srs_seed")).unwrap()).unwrap();
    assert_eq!(
        hex::encode(grantee.public().to_bytes()),
        v["grantee_public"].as_str().unwrap()
    );
    assert_eq!(
        hex::encode(srs.public().to_bytes()),
        v["srs_public"].as_str().unwrap()
    );
    for who in ["owner", "grantee"] {
        DirectoryEntry::from_bytes(&b(&format!("{who}_directory_entry"))).unwrap();
    }
    let request = ReencryptRequest::from_bytes(&b("reencrypt_request")).unwrap();
    request.verify(&grant).unwrap();
    assert_eq!(
        hex::encode(request.hash()),
        v["request_hash"].as_str().unwrap()
    );
    let (plain, key) = open_request(&srs, &b("sealed_request")).unwrap();
    assert_eq!(plain.as_slice(), b("reencrypt_request"));
    assert_eq!(
        key.open_answer(&b("sealed_answer")).unwrap().as_slice(),
        b("reencrypt_answer")
    );
    let answer =
        ReencryptAnswer::verify(&b("reencrypt_answer"), srs.public(), &request, &grant, &m)
            .unwrap();
    assert_eq!(answer.receipt.entry.to_bytes(), b("audit_entry"));
    assert_eq!(answer.receipt.head.as_bytes(), b("audit_tree_head"));
    assert_eq!(answer.head.as_bytes(), b("head"));
    answer.head.check_manifest(&m, 0).unwrap();
    let share = grant
        .accept(
            &grantee,
            &Envelope::from_bytes(&b("b1_envelope")).unwrap(),
            &entry.section_key,
        )
        .unwrap();
    let grantee_dk = share.data_key(&m, &answer).unwrap();
    assert_eq!(
        hex::encode(grantee_dk.dek.expose()),
        v["dek"].as_str().unwrap()
    );
    // The audit log: the record's chain, the mail a reader forwards, the
    // owner's mark, the export and the manifest recording the head.
    let e2 = AuditEntry::from_bytes(&b("audit_entry_2")).unwrap();
    let link = e2.link.unwrap();
    assert_eq!(link.seq, 1);
    assert_eq!(link.prev, merkle::leaf_hash(&b("audit_entry")));
    assert_eq!(
        AuditEntry::from_bytes(&b("audit_entry_unlinked"))
            .unwrap()
            .link,
        None
    );
    let plain = Envelope::from_bytes(&b("mail_receipts"))
        .unwrap()
        .open_mail(&owner)
        .unwrap();
    assert_eq!(plain.as_slice(), b("receipt_bundle"));
    let bundle = ReceiptBundle::from_bytes(&plain, srs.public()).unwrap();
    assert_eq!(bundle.receipts[1].entry, e2);
    assert_eq!(bundle.receipts[1].head.as_bytes(), b("audit_tree_head_2"));
    let mark = AuditMark::from_bytes(&b("audit_mark")).unwrap();
    assert_eq!((mark.tree_size, mark.count), (2, 2));
    let export = AuditExport::from_bytes(&b("audit_export")).unwrap();
    assert_eq!(export.verify(Some(srs.public())).unwrap().entries, 2);
    let m2 = VerifiedManifest::from_bytes(&b("manifest_2")).unwrap();
    m2.verify_successor(&m).unwrap();
    assert_eq!(
        m2.content.audit_head.as_deref(),
        Some(&b("audit_tree_head_2")[..])
    );
    let revocation = Revocation::verify(&b("revocation"), &grant).unwrap();
    RevocationReceipt::verify(&b("revocation_receipt"), srs.public(), &revocation).unwrap();
    // The attachment: its address is its root, and it opens under the key
    // the format-2 document carries after its JSON.
    let document = b("attachment_document");
    let json_len = u32::from_be_bytes(document[..4].try_into().unwrap()) as usize;
    let file_key = AttachmentKey::from_bytes(&document[4 + json_len..]).unwrap();
    let root: [u8; 32] = b("attachment_root").try_into().unwrap();
    assert_eq!(object_id(&b("attachment_blob")).unwrap(), root);
    let opened = open_attachment(
        &b("attachment_blob"),
        &file_key,
        &root,
        &m.record(),
        &entry.section,
    )
    .unwrap();
    assert_eq!(
        opened.as_slice(),
        v["attachment_body"].as_str().unwrap().as_bytes()
    );
    // Emergency access: the format-2 grant with its wait, the activation by
    // its grantee, the owner's approval naming it, the BTG entry (format 3).
    let eg =
        sesphr_client::grant::VerifiedGrant::from_bytes(&b("emergency_grant_statement")).unwrap();
    assert_eq!(eg.emergency_wait_ms, Some(86_400_000));
    assert_eq!(eg.role, Role::Emergency);
    let activation = EmergencyActivation::verify(&b("emergency_activation"), &eg).unwrap();
    assert_eq!(
        hex::encode(activation.hash()),
        v["emergency_activation_hash"].as_str().unwrap()
    );
    let decision = EmergencyDecision::verify(&b("emergency_decision"), &eg).unwrap();
    assert_eq!(
        (decision.activation, decision.verdict),
        (activation.hash(), Verdict::Approve)
    );
    assert_eq!(activation.follows, [0; 32]);
    assert_eq!(
        hex::encode(decision.hash()),
        v["emergency_decision_hash"].as_str().unwrap()
    );
    let r = EmergencyReceipt::verify(&b("emergency_receipt"), srs.public(), &decision).unwrap();
    assert_eq!(r.state, ViewState::Open);
    let listing_nonce = RequestToken::from_bytes(&b("token_list_emergency"))
        .unwrap()
        .nonce;
    let view = EmergencyView::verify(
        &b("emergency_view"),
        srs.public(),
        &eg.record,
        &owner.id(),
        &listing_nonce,
    )
    .unwrap();
    let e = view.entry(&eg.grant_id).unwrap();
    e.check_grant(&eg).unwrap();
    e.check_activation(&activation).unwrap();
    assert_eq!(e.last_decision, Some(decision.hash()));
    let btg = AuditEntry::from_bytes(&b("audit_entry_btg")).unwrap();
    assert_eq!(btg.purpose, sesphr_client::audit::PurposeOfUse::Emergency);
    assert_eq!(btg.grant_id, eg.grant_id);
    assert_eq!(
        btg.request,
        ReencryptRequest::from_bytes(&b("emergency_request"))
            .unwrap()
            .hash()
    );
    // Access requests: the request opens from its mail, verifies for the
    // owner, and the refusal names it.
    let plain = Envelope::from_bytes(&b("mail_access_request"))
        .unwrap()
        .open_mail(&owner)
        .unwrap();
    assert_eq!(plain.as_slice(), b("access_request"));
    let ask = AccessRequest::from_bytes(&plain, &owner.id()).unwrap();
    assert_eq!(
        hex::encode(ask.hash()),
        v["access_request_id"].as_str().unwrap()
    );
    assert_eq!(ask.sections, ["allergies", "medications"]);
    let refusal = AccessRefusal::from_bytes(&b("access_refusal"), &grantee.id()).unwrap();
    assert!(refusal.answers(&ask.hash(), &owner.id()));
    // The ordinary entries keep their formats (2, and 1 unlinked).
    assert_eq!(b("audit_entry")[5], 2);
    assert_eq!(b("audit_entry_btg")[5], 3);
    for (k, purpose) in [
        ("token_list_emergency", Purpose::ListEmergency),
        ("token_emergency_status", Purpose::EmergencyStatus),
        ("token_upload_blob", Purpose::UploadBlob),
        ("token_read_inbox", Purpose::ReadInbox),
        ("token_clear_inbox", Purpose::ClearInbox),
    ] {
        assert_eq!(RequestToken::from_bytes(&b(k)).unwrap().purpose, purpose);
    }
    // The link key kept for its owner opens under the owner's seed, for its link only.
    let kept =
        sesphr_client::shl::open_owner_key(owner.seed(), &[1; 32], &b("shl_owner_key")).unwrap();
    assert!(kept.key == sesphr_client::shl::LinkKey::from_bytes([2; 32]));
    assert_eq!(
        kept.note.as_slice(),
        br#"{"record":"00","sections":["allergies"]}"#
    );
    assert!(
        sesphr_client::shl::open_owner_key(owner.seed(), &[4; 32], &b("shl_owner_key")).is_err()
    );
}
