//! Model-based tests: random action sequences, chosen among the actions the
//! model enables, run both on the model and on the real `sesphr-client`
//! against the real relay + SRS on loopback. Every observable outcome must be
//! the one the model predicts: success, the SRS's refusal code, the client's
//! freshness verdict, and the decrypted bytes.
#![cfg(test)]

use proptest::prelude::*;
use sesphr_client::envelope::{seal_request, AnswerKey};
use sesphr_client::grant::{GrantShare, Role, VerifiedGrant};
use sesphr_client::identity::Identity;
use sesphr_client::manifest::VerifiedManifest;
use sesphr_client::primitives::os_rng;
use sesphr_client::reencrypt::{ReencryptAnswer, ReencryptRequest};
use sesphr_client::stream::decrypt_body;
use sesphr_model::{properties, Action, Config, Outcome, Party, SeSphr, State, Verdict};
use sesphr_native::{Client, Patient, PatientRecord};
use sesphr_testkit::deploy::{client, now, party, Server};

/// Section names, by model index.
const SECTIONS: [&str; 2] = ["history", "labs"];

/// The bound of the random traces: more versions, grants and requests than
/// the exhaustive check, since each trace explores one interleaving.
fn config() -> Config {
    Config {
        readers: 2,
        sections: 2,
        max_versions: 4,
        max_grants: 4,
        max_requests: 8,
        forgeries: true,
        owner_restores: true,
        expiry: false,
        // The audit log is checked in the model only (`tests/check.rs`).
        max_audits: 0,
        max_log: 0,
        other_records: false,
        bugs: Default::default(),
    }
}

/// What the patient writes at version `w` in section `s`.
fn body(section: u8, written_at: u8) -> Vec<u8> {
    format!(
        "{} written at version {written_at}: {}",
        SECTIONS[section as usize],
        "x".repeat(section as usize * 7 + written_at as usize * 13)
    )
    .into_bytes()
}

/// What a test observes of an action on the real system.
#[derive(Debug, PartialEq, Eq)]
enum Observed {
    Done,
    /// The owner restored its state: pending rotation by section.
    Restored(Vec<bool>),
    /// The servers refused: status and code.
    Refused(u16, String),
    /// The owner's verdict on the SRS's listing (not driven on the real
    /// system yet: these traces keep no audit log).
    Audited(Verdict),
    /// The SRS answered and the client verified the answer.
    Answered {
        section: u8,
        written_at: u8,
        /// The client's freshness check refused the manifest as `stale`.
        stale: bool,
        /// The decrypted body, if the derived key opened the blob.
        body: Option<Vec<u8>>,
    },
}

/// The model's prediction, in the same terms.
fn expected(o: &Outcome) -> Observed {
    match o {
        Outcome::Done => Observed::Done,
        Outcome::Restored { pending } => Observed::Restored(pending.clone()),
        Outcome::Refused(r) => Observed::Refused(403, r.code().to_string()),
        Outcome::Audited(v) => Observed::Audited(*v),
        Outcome::Answered {
            section,
            written_at,
            stale,
            decrypts,
        } => Observed::Answered {
            section: *section,
            written_at: *written_at,
            stale: *stale,
            body: decrypts.then(|| body(*section, *written_at)),
        },
    }
}

/// A request created and held (by the relay) until delivered.
struct Held {
    grant: VerifiedGrant,
    request: ReencryptRequest,
    manifest: VerifiedManifest,
    sealed: Vec<u8>,
    key: AnswerKey,
    /// The grantee's share, to derive the key when the SRS answers.
    share: GrantShare,
}

/// The real deployment, driven action by action: the owner through the
/// native client's owner flow (the product's `OwnerRecord`), requests at
/// the protocol's level, where the model's observations are.
struct Real {
    dir: tempfile::TempDir,
    server: Option<Server>,
    client: Client,
    patient: Patient,
    record: PatientRecord,
    readers: Vec<Identity>,
    attacker: Identity,
    held: Vec<Held>,
    /// Grants expire this long (ms) after they are made, if set.
    expires_in: Option<u64>,
}

impl Real {
    async fn start(readers: u8) -> Real {
        let dir = tempfile::tempdir().unwrap();
        let server = Server::start(dir.path()).await;
        let client = client(&server.base).await;
        let patient = Patient::new(client.clone(), party(&client).await);
        // Record 0 of the seed, unpublished: the model's first write is version 1.
        let record = patient.new_record(0);
        let mut rs = Vec::new();
        for _ in 0..readers {
            rs.push(party(&client).await);
        }
        Real {
            dir,
            server: Some(server),
            client,
            patient,
            record,
            readers: rs,
            attacker: Identity::generate().unwrap(),
            held: Vec::new(),
            expires_in: None,
        }
    }

    /// The grantee's accepted share of model grant `g`: grants are issued
    /// (and re-issued) in the same order in both, so `sequence = g + 1`.
    async fn share(&mut self, reader: u8, g: u8) -> GrantShare {
        let who = &self.readers[reader as usize];
        let item = self
            .client
            .inbox(who)
            .await
            .unwrap()
            .into_iter()
            .filter_map(|(_, i)| i.ok())
            .find(|i| i.grant().sequence == u64::from(g) + 1)
            .unwrap_or_else(|| panic!("reader {reader} has no grant with sequence {}", g + 1));
        let grant = item.grant();
        let m = self
            .client
            .manifest(&grant.record, None)
            .await
            .unwrap()
            .unwrap();
        m.expect_owner(&grant.owner).unwrap();
        // A grant for an epoch the manifest does not show yet (from-now):
        // check against the statement's own A; the SRS enforces the rest.
        let a = match m.entry(&grant.section) {
            Ok(e) if e.epoch == grant.epoch => e.section_key,
            _ => grant.section_key,
        };
        grant.accept(who, item.b1_envelope(), &a).unwrap()
    }

    async fn manifest(&self, version: u8) -> VerifiedManifest {
        self.client
            .manifest(&self.record.record(), Some(u64::from(version)))
            .await
            .unwrap()
            .unwrap()
    }

    async fn apply(&mut self, model: &State, action: &Action) -> Observed {
        match *action {
            Action::Register(_) => Observed::Done,
            Action::Write { section } => {
                let w = self.record.version() as u8 + 1;
                let name = SECTIONS[section as usize];
                self.record
                    .write(&[(name, &body(section, w))])
                    .await
                    .unwrap();
                Observed::Done
            }
            Action::Grant {
                reader,
                section,
                from_now,
            } => {
                let to = self.readers[reader as usize].public().clone();
                let expires_at = self.expires_in.map(|d| now() + d);
                self.record
                    .share(
                        &to,
                        &[SECTIONS[section as usize]],
                        Role::Custom,
                        from_now,
                        expires_at,
                    )
                    .await
                    .unwrap();
                Observed::Done
            }
            Action::Rotate { section } => {
                self.record.rotate(SECTIONS[section as usize]).unwrap();
                Observed::Done
            }
            Action::RestoreOwner => self.restore(model.owner.len()).await,
            Action::Expire { grant } => {
                // Wait for the SRS clock to pass the grant's `expires_at`.
                let g = &model.grants[grant as usize];
                let share = self.share(g.reader, grant).await;
                let at = share.grant.expires_at.expect("a grant made to expire");
                while now() <= at {
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
                Observed::Done
            }
            Action::Revoke { grant } => {
                let g = &model.grants[grant as usize];
                let share = self.share(g.reader, grant).await;
                match self.record.revoke(&share.grant.grant_id).await {
                    Ok(_) => Observed::Done,
                    Err(e) => Observed::Refused(e.status().unwrap_or(0), e.code().to_string()),
                }
            }
            Action::Send {
                signer,
                grant,
                section,
                version,
            } => {
                let g = &model.grants[grant as usize];
                let share = self.share(g.reader, grant).await;
                let manifest = self.manifest(version).await;
                let grantee = &self.readers[g.reader as usize];
                let honest = ReencryptRequest::new(
                    grantee,
                    &share.grant,
                    u64::from(version),
                    now(),
                    &mut os_rng(),
                )
                .unwrap();
                let request = if signer == Party::Reader(g.reader) && section == g.section {
                    honest
                } else {
                    // A forgery: the same fields, another section if asked,
                    // signed by whoever the model says signed it.
                    let mut payload = honest.as_bytes()[..118].to_vec();
                    payload[54..86]
                        .copy_from_slice(&self.record.section_id(SECTIONS[section as usize]).0);
                    let signer = match signer {
                        Party::Reader(r) => &self.readers[r as usize],
                        _ => &self.attacker,
                    };
                    let sig = signer.sign(&payload);
                    payload.extend_from_slice(&sig);
                    ReencryptRequest::from_bytes(&payload).unwrap()
                };
                let (sealed, key) = seal_request(
                    &self.client.srs().encryption,
                    request.as_bytes(),
                    &mut os_rng(),
                )
                .unwrap();
                self.held.push(Held {
                    grant: share.grant.clone(),
                    request,
                    manifest,
                    sealed,
                    key,
                    share,
                });
                Observed::Done
            }
            Action::Deliver { nonce } | Action::Replay { nonce } => self.deliver(nonce).await,
            Action::Forward { .. }
            | Action::OtherRecordDecision
            | Action::AuditStart
            | Action::AuditFetch { .. } => {
                panic!("the audit's actions are not enabled in these traces (`config()` has no audits)")
            }
            Action::RestartSrs => {
                self.server.take().unwrap().stop().await;
                let server = Server::start(self.dir.path()).await;
                self.client = client(&server.base).await;
                self.server = Some(server);
                // The owner's device carries on with a connection to the
                // restarted deployment, its state unchanged.
                let state = std::mem::replace(&mut self.record, self.patient.new_record(0));
                self.patient = Patient::new(
                    self.client.clone(),
                    sesphr_testkit::world::identity_clone(self.patient.identity()),
                );
                self.record = self.patient.adopt(state);
                Observed::Done
            }
        }
    }

    /// A new browser with the patient's seed: the record rebuilt from the
    /// relay's manifest chain, the SRS's grant list and its head.
    async fn restore(&mut self, sections: usize) -> Observed {
        if let Some(rec) = self.patient.open_record(0, 0).await.unwrap() {
            self.record = rec;
        } else {
            // Nothing written yet: a new browser starts from nothing too.
            self.record = self.patient.new_record(0);
        }
        Observed::Restored(
            SECTIONS[..sections]
                .iter()
                .map(|n| {
                    let sid = self.record.section_id(n);
                    self.record.state().pending_rotation(&sid).is_some()
                })
                .collect(),
        )
    }

    /// Posts a held request through the relay and reads the answer as the
    /// client does: verify, freshness check, derive the key, decrypt.
    async fn deliver(&mut self, nonce: u8) -> Observed {
        let held = &self.held[nonce as usize];
        let answer = match self.client.reencrypt(held.sealed.clone()).await.unwrap() {
            Ok(a) => a,
            Err(d) => return Observed::Refused(403, d.code().to_string()),
        };
        let srs = self.client.srs();
        let opened = held.key.open_answer(&answer).unwrap();
        let answer =
            ReencryptAnswer::verify(&opened, srs, &held.request, &held.grant, &held.manifest)
                .unwrap();
        let stale = match answer.head.check_manifest(&held.manifest, 0) {
            Ok(()) => false,
            Err(e) if e.code() == "stale" => true,
            Err(e) => panic!("head check: {}", e.code()),
        };
        let entry = held.manifest.entry(&held.grant.section).unwrap();
        let section = SECTIONS
            .iter()
            .position(|n| self.record.section_id(n) == held.grant.section)
            .unwrap() as u8;
        // The key is derived even for a stale manifest: what the grantee
        // could decrypt is what the model reasons about.
        let body = match held.share.data_key(&held.manifest, &answer) {
            Ok(dk) => {
                let blob = self.client.blob(&entry.blob_id()).await.unwrap();
                decrypt_body(&blob, &dk, &entry.chunk_root)
                    .ok()
                    .map(|b| b.to_vec())
            }
            Err(_) => None,
        };
        Observed::Answered {
            section,
            written_at: entry.written_at_version as u8,
            stale,
            body,
        }
    }

    async fn stop(mut self) {
        if let Some(s) = self.server.take() {
            s.stop().await;
        }
    }
}

/// Picks one enabled action per choice: first a kind of action, by weight
/// (so that rare kinds are not drowned by the many ways to send, and honest
/// requests outnumber forgeries), then one action of that kind.
fn pick(model: &SeSphr, state: &State, choice: u32) -> Option<Action> {
    let mut enabled = Vec::new();
    model.enabled(state, &mut enabled);
    // (kind, weight): restarts are slow on the real side, so rare.
    let kind = |a: &Action| match a {
        Action::Write { .. } => (0, 3),
        Action::Grant { .. } => (1, 3),
        Action::Revoke { .. } => (2, 1),
        Action::Send {
            signer,
            grant,
            section,
            version,
        } => {
            let g = &state.grants[*grant as usize];
            let latest = *version as usize == state.manifests.len();
            let revoked = sesphr_model::model::contains(state.receipts, *grant as usize);
            match (
                *signer == Party::Reader(g.reader) && *section == g.section,
                latest && !revoked,
            ) {
                (true, true) => (3, 8),
                (true, false) => (4, 2),
                (false, _) => (5, 1),
            }
        }
        Action::Deliver { .. } => (6, 8),
        Action::Replay { .. } => (7, 1),
        Action::RestartSrs => (8, 1),
        Action::Rotate { .. } => (9, 1),
        Action::RestoreOwner => (10, 2),
        Action::Expire { .. } => (12, 0),
        Action::Register(_) => (11, 0),
        Action::Forward { .. }
        | Action::OtherRecordDecision
        | Action::AuditStart
        | Action::AuditFetch { .. } => (13, 0),
    };
    let mut kinds: Vec<(u8, u32)> = enabled.iter().map(kind).filter(|k| k.1 > 0).collect();
    kinds.sort_unstable();
    kinds.dedup();
    let total: u32 = kinds.iter().map(|k| k.1).sum();
    if total == 0 {
        return None;
    }
    let mut at = choice % total;
    let mut chosen = kinds[0].0;
    for (k, w) in &kinds {
        if at < *w {
            chosen = *k;
            break;
        }
        at -= w;
    }
    let of_kind: Vec<&Action> = enabled.iter().filter(|a| kind(a).0 == chosen).collect();
    Some(of_kind[(choice as usize / 61) % of_kind.len()].clone())
}

/// The start of every trace: everybody registered.
fn registered(model: &SeSphr) -> (State, Vec<Action>) {
    let mut actions = vec![Action::Register(Party::Patient)];
    actions.extend((0..model.cfg.readers).map(|r| Action::Register(Party::Reader(r))));
    let (state, _) = model.run(&actions).unwrap();
    (state, actions)
}

/// Runs `trace` on the model after every party registers: the final state
/// and the outcome of each action, registrations first.
fn run_after_registration(model: &SeSphr, trace: &[Action]) -> (State, Vec<Outcome>) {
    let (_, mut actions) = registered(model);
    actions.extend_from_slice(trace);
    model.run(&actions).unwrap()
}

/// Runs `actions` (after registration) on both and compares each outcome.
/// Returns the number of answers and refusals compared, or the first
/// departure from the model.
async fn conform(model: &SeSphr, actions: &[Action]) -> Result<(usize, usize), String> {
    let (mut state, mut trace) = registered(model);
    let mut real = Real::start(model.cfg.readers).await;
    let (mut answered, mut refused) = (0, 0);
    let mut departure = None;
    for action in actions {
        trace.push(action.clone());
        let (next, outcome) = model
            .step(&state, action)
            .unwrap_or_else(|| panic!("not enabled in the model: {action:?}"));
        let observed = real.apply(&state, action).await;
        if observed != expected(&outcome) {
            departure = Some(format!(
                "real system departs from the model at {action:?}: observed {observed:?}, \
                 model {outcome:?}\ntrace: {trace:?}"
            ));
            break;
        }
        match outcome {
            Outcome::Answered { .. } => answered += 1,
            Outcome::Refused(_) => refused += 1,
            Outcome::Done | Outcome::Restored { .. } | Outcome::Audited(_) => {}
        }
        state = next;
    }
    // The real latest manifest is the model's latest version.
    if departure.is_none() && !state.manifests.is_empty() {
        let m = real
            .client
            .manifest(&real.record.record(), None)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(m.version(), state.manifests.len() as u64);
    }
    real.stop().await;
    match departure {
        Some(d) => Err(d),
        None => Ok((answered, refused)),
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn cases() -> u32 {
    std::env::var("SESPHR_MODEL_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        max_shrink_iters: 64,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Random traces over the model's enabled actions; the real system must
    /// observe exactly what the model predicts at every step.
    #[test]
    fn real_system_follows_the_model(choices in proptest::collection::vec(any::<u32>(), 8..32)) {
        let model = SeSphr::new(config());
        let (mut state, _) = registered(&model);
        let mut actions = Vec::new();
        for c in choices {
            let Some(a) = pick(&model, &state, c) else { break };
            state = model.step(&state, &a).unwrap().0;
            actions.push(a);
        }
        let n = actions.len();
        let restores = actions.iter().filter(|a| matches!(a, Action::RestoreOwner)).count();
        let (answered, refused) = runtime().block_on(conform(&model, &actions)).unwrap();
        eprintln!(
            "model-based case: {n} actions, {answered} answers, {refused} refusals, \
             {restores} restores compared"
        );
    }
}

/// Every kind of outcome the model predicts shows up on the real system:
/// fixed traces through the answers, each refusal code, a stale manifest and
/// a replay across a restart.
fn every_outcome_trace() -> Vec<Action> {
    let send = |signer, grant, section, version| Action::Send {
        signer,
        grant,
        section,
        version,
    };
    let r0 = Party::Reader(0);
    let r1 = Party::Reader(1);
    vec![
        Action::Write { section: 0 },
        Action::Grant {
            reader: 0,
            section: 0,
            from_now: false,
        },
        send(r0, 0, 0, 1),
        Action::Deliver { nonce: 0 }, // answered, decrypts
        Action::RestartSrs,
        Action::Replay { nonce: 0 }, // replay, across a restart
        send(Party::Attacker, 0, 0, 1),
        Action::Deliver { nonce: 1 }, // bad_signature (forged signer)
        send(r0, 0, 1, 1),
        Action::Deliver { nonce: 2 }, // bad_signature (another section)
        Action::Grant {
            reader: 1,
            section: 0,
            from_now: true,
        },
        send(r1, 2, 0, 1),
        Action::Deliver { nonce: 3 }, // not_in_manifest: from-now epoch
        Action::Write { section: 0 },
        send(r0, 1, 0, 2),
        send(r0, 0, 0, 1),
        Action::Deliver { nonce: 4 }, // answered via the re-issued grant
        Action::Deliver { nonce: 5 }, // answered but stale (version 1 < head 2)
        Action::Revoke { grant: 1 },
        send(r0, 1, 0, 2),
        Action::Deliver { nonce: 6 }, // revoked
    ]
}

#[test]
fn every_outcome_kind_is_observed() {
    let model = SeSphr::new(config());
    let trace = every_outcome_trace();
    let outcomes = runtime().block_on(async {
        conform(&model, &trace).await.unwrap();
        let (mut state, _) = registered(&model);
        let mut outcomes = Vec::new();
        for a in &trace {
            let (next, o) = model.step(&state, a).unwrap();
            outcomes.push(o);
            state = next;
        }
        outcomes
    });
    let codes: Vec<&str> = outcomes
        .iter()
        .filter_map(|o| match o {
            Outcome::Refused(r) => Some(r.code()),
            _ => None,
        })
        .collect();
    assert_eq!(
        codes,
        [
            "replay",
            "bad_signature",
            "bad_signature",
            "not_in_manifest",
            "revoked"
        ]
    );
    assert!(outcomes.contains(&Outcome::Answered {
        section: 0,
        written_at: 1,
        stale: true,
        decrypts: true
    }));
}

/// The checker's counterexample to "a live all-history grantee reads every
/// version", replayed on the real system: after a from-now grant rotated the
/// section, a new all-history grantee asks for the section's content of the
/// earlier epoch with each of its grants, and the SRS refuses every one.
#[test]
fn checker_finding_reproduces_on_the_real_system() {
    let cfg = Config {
        sections: 1,
        max_versions: 2,
        max_grants: 2,
        max_requests: 2,
        owner_restores: false,
        ..config()
    };
    let report = sesphr_model::check(
        cfg.clone(),
        2,
        Some(properties::ALL_GRANTEE_READS_EVERY_VERSION),
    );
    let path = report.discoveries[properties::ALL_GRANTEE_READS_EVERY_VERSION].clone();
    // Room for the requests appended below.
    let model = SeSphr::new(Config {
        max_requests: 8,
        ..cfg
    });
    let (state, _) = model.run(&path).unwrap();
    // The witness: a live all-history grant, and the content it cannot reach.
    let (reader, content) = state
        .grants
        .iter()
        .enumerate()
        .filter(|(i, g)| g.from == 0 && !sesphr_model::model::contains(state.receipts, *i))
        .find_map(|(_, g)| {
            state
                .contents
                .iter()
                .find(|c| {
                    c.section == g.section
                        && !state
                            .grants
                            .iter()
                            .any(|h| h.reader == g.reader && h.epoch == c.epoch)
                })
                .map(|c| (g.reader, c.clone()))
        })
        .unwrap();
    let mut trace: Vec<Action> = path
        .into_iter()
        .filter(|a| !matches!(a, Action::Register(_)))
        .collect();
    let base = state.requests.len() as u8;
    let mine: Vec<u8> = (0..state.grants.len() as u8)
        .filter(|g| state.grants[*g as usize].reader == reader)
        .collect();
    for (i, g) in mine.iter().enumerate() {
        trace.push(Action::Send {
            signer: Party::Reader(reader),
            grant: *g,
            section: content.section,
            version: content.written_at,
        });
        trace.push(Action::Deliver {
            nonce: base + i as u8,
        });
    }
    let (answered, refused) = runtime().block_on(conform(&model, &trace)).unwrap();
    assert_eq!(
        answered, 0,
        "the all-history grantee got an answer: {trace:?}"
    );
    assert!(refused >= mine.len());
}

/// The comparison can fail: a model with a seeded bug (an SRS that forgets
/// to check revocation) predicts an answer where the real SRS refuses.
#[test]
fn a_departing_model_is_caught() {
    let model = SeSphr::new(config().with_bugs(sesphr_model::Bugs {
        srs_skips_revocation_check: true,
        ..Default::default()
    }));
    let err = runtime()
        .block_on(conform(&model, &every_outcome_trace()))
        .unwrap_err();
    assert!(err.contains("Refused(403, \"revoked\")"), "{err}");
}

/// The restore rule the checker found wrong, on the real code: two from-now
/// grants open epochs e1 and e2 before the next write, which uses e2. The
/// epoch e1 was never used by a manifest, and `OwnerRecord::restore` used to
/// take it for the current epoch. A restored owner then wrote in e1, where
/// the from-now grantee of e2 cannot read.
#[test]
fn restore_after_two_from_now_grants_keeps_the_written_epoch() {
    let model = SeSphr::new(config());
    let trace = vec![
        Action::Write { section: 0 },
        Action::Grant {
            reader: 0,
            section: 0,
            from_now: true,
        },
        Action::Grant {
            reader: 1,
            section: 0,
            from_now: true,
        },
        Action::Write { section: 0 },
        Action::RestoreOwner,
        Action::Write { section: 0 },
        Action::Send {
            signer: Party::Reader(1),
            grant: 2,
            section: 0,
            version: 3,
        },
        Action::Deliver { nonce: 0 },
    ];
    let (state, outcomes) = run_after_registration(&model, &trace);
    assert!(!state.restore_diverged);
    assert!(matches!(
        outcomes.last(),
        Some(Outcome::Answered {
            written_at: 3,
            decrypts: true,
            ..
        })
    ));
    runtime().block_on(conform(&model, &trace)).unwrap();
    // With the old rule the model predicts what the old code did.
    let old = SeSphr::new(config().with_bugs(sesphr_model::Bugs {
        restore_takes_stale_unpublished_epoch: true,
        ..Default::default()
    }));
    let (state, outcomes) = run_after_registration(&old, &trace);
    assert!(state.restore_diverged);
    assert_eq!(
        outcomes.last(),
        Some(&Outcome::Refused(sesphr_model::Refusal::NotInManifest))
    );
}

/// Expiry on the real system: the SRS refuses an expired grant at once, and
/// the owner's next write of the section drops the expired grant and
/// rotates (`OwnerRecord::key_for_write` calls `expire(now)`), in the live
/// session as after a restore. The model predicts both.
#[test]
fn expiry_refuses_at_once_and_the_next_write_rotates() {
    let model = SeSphr::new(Config {
        expiry: true,
        ..config()
    });
    let trace = vec![
        Action::Write { section: 0 },
        Action::Grant {
            reader: 0,
            section: 0,
            from_now: false,
        },
        Action::Expire { grant: 0 },
        Action::Send {
            signer: Party::Reader(0),
            grant: 0,
            section: 0,
            version: 1,
        },
        Action::Deliver { nonce: 0 },
        Action::Write { section: 0 },
        Action::RestoreOwner,
        Action::Write { section: 0 },
    ];
    let (state, outcomes) = run_after_registration(&model, &trace);
    let n = model.cfg.readers as usize + 1;
    assert_eq!(
        outcomes[n + 4],
        Outcome::Refused(sesphr_model::Refusal::Expired)
    );
    assert_eq!(
        outcomes[n + 6],
        Outcome::Restored {
            pending: vec![false, false]
        }
    );
    // Version 2 already left the expired grant's epoch.
    let epoch = state.grants[0].epoch;
    assert_eq!(state.contents[0].epoch, epoch);
    assert_ne!(state.contents[1].epoch, epoch);

    runtime().block_on(async {
        let (mut st, _) = registered(&model);
        let mut real = Real::start(model.cfg.readers).await;
        real.expires_in = Some(600);
        for action in &trace {
            let (next, outcome) = model.step(&st, action).unwrap();
            assert_eq!(
                real.apply(&st, action).await,
                expected(&outcome),
                "{action:?}"
            );
            st = next;
        }
        let share = real.share(0, 0).await;
        let mut entry_epochs = Vec::new();
        for v in 1..=3u8 {
            let m = real.manifest(v).await;
            entry_epochs.push(m.entry(&share.grant.section).unwrap().epoch);
        }
        assert_eq!(entry_epochs[0], share.grant.epoch);
        assert_ne!(entry_epochs[1], share.grant.epoch, "version 2 rotated");
        real.stop().await;
    });
}
