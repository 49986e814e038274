//! The SRS store on both engines: one set of tests, run over SQLite (the
//! default file) and over PostgreSQL (a new database per test), and on
//! PostgreSQL the guarantees two SRS processes on one database rely on (two
//! stores opened on one database stand for two processes: they share
//! nothing but the server).
#![cfg(test)]

use std::sync::{Arc, Mutex};

use sesphr_client::audit::{AuditEntry, Decision, MemoryLog, PurposeOfUse};
use sesphr_client::identity::PartyId;
use sesphr_client::record::{RecordId, SectionId};
use sesphr_relay::db::{DbLocation, Engine};
use sesphr_relay::srs::audit_writer::{AuditWriter, Outcome};
use sesphr_relay::srs::store::{Answers, AuditWrite, Cas, GrantInsert, SqlStore, SrsStore};
use sesphr_testkit::pg::Postgres;
use sesphr_testkit::world::identity;

/// Both engines, each on a new database (the guard keeps PostgreSQL's).
fn engines(dir: &std::path::Path) -> Vec<(DbLocation, Option<Postgres>)> {
    let pg = Postgres::new();
    vec![
        (DbLocation::Sqlite(dir.join("srs/srs.sqlite3")), None),
        (DbLocation::Postgres(pg.url().to_owned()), Some(pg)),
    ]
}

fn entry(record: [u8; 32], n: u64) -> AuditEntry {
    AuditEntry {
        timestamp: 1_000 + n,
        grant_id: [n as u8; 16],
        grantee: PartyId([7; 32]),
        record: RecordId(record),
        section: SectionId([9; 32]),
        version: 1,
        request: [n as u8; 32],
        decision: Decision::Allowed,
        link: None,
        purpose: PurposeOfUse::Ordinary,
    }
}

fn writer(store: &Arc<SqlStore>) -> (AuditWriter, Arc<Mutex<MemoryLog>>) {
    let log =
        MemoryLog::from_entries(store.audit_entries().unwrap().iter().map(Vec::as_slice)).unwrap();
    let log = Arc::new(Mutex::new(log));
    let w = AuditWriter::start(
        Arc::new(identity("srs-store/srs")),
        store.clone(),
        log.clone(),
        600_000,
    )
    .unwrap();
    (w, log)
}

fn stored(o: Outcome) -> sesphr_client::audit::InclusionReceipt {
    match o {
        Outcome::Stored(r) => *r,
        other => panic!("not stored: {other:?}"),
    }
}

#[test]
fn directory_heads_and_grants_behave_alike_on_both_engines() {
    let dir = tempfile::tempdir().unwrap();
    for (at, _guard) in engines(dir.path()) {
        let s = SqlStore::open(&at).unwrap();
        let e = format!("{:?}", s.engine());
        // Directory: first registration wins.
        assert!(s.put_directory(&[1; 32], b"entry").unwrap(), "{e}");
        assert!(!s.put_directory(&[1; 32], b"other").unwrap(), "{e}");
        assert_eq!(s.directory(&[1; 32]).unwrap().unwrap(), b"entry");
        assert_eq!(s.directory(&[2; 32]).unwrap(), None);
        // Heads: a compare-and-swap on the next version.
        let r = [3u8; 32];
        assert_eq!(
            s.insert_manifest(&r, 2, &[1; 32], &[5; 32], b"m2").unwrap(),
            Cas::Conflict(None)
        );
        assert_eq!(
            s.insert_manifest(&r, 1, &[1; 32], &[5; 32], b"m1").unwrap(),
            Cas::Stored
        );
        assert_eq!(
            s.insert_manifest(&r, 1, &[1; 32], &[6; 32], b"m1'")
                .unwrap(),
            Cas::Conflict(Some(1))
        );
        assert_eq!(
            s.insert_manifest(&r, 2, &[1; 32], &[6; 32], b"m2").unwrap(),
            Cas::Stored
        );
        assert_eq!(s.latest_head(&r).unwrap(), Some((2, [6; 32])));
        assert_eq!(s.latest_manifest(&r).unwrap(), Some((2, b"m2".to_vec())));
        assert_eq!(s.manifest(&r, 1).unwrap().unwrap(), b"m1");
        assert_eq!(s.manifest_hash(&r, 1).unwrap(), Some([5; 32]));
        assert_eq!(s.record_owner(&r).unwrap(), Some([1; 32]));
        assert_eq!(s.record_owner(&[4; 32]).unwrap(), None);
        // Grants: an id once per record, a retry is the same, a tombstone is forever.
        assert_eq!(
            s.insert_grant(&[1; 16], &r, b"g1", b"b2").unwrap(),
            GrantInsert::Stored
        );
        assert_eq!(
            s.insert_grant(&[1; 16], &r, b"g1", b"b2").unwrap(),
            GrantInsert::Same
        );
        assert_eq!(
            s.insert_grant(&[1; 16], &r, b"other", b"b2").unwrap(),
            GrantInsert::Taken
        );
        assert_eq!(
            s.insert_grant(&[2; 16], &r, b"g2", b"b2'").unwrap(),
            GrantInsert::Stored
        );
        s.revoke(&r, &[1; 16], b"rev", b"receipt").unwrap();
        let g = s.grant(&r, &[1; 16]).unwrap().unwrap();
        assert_eq!(
            (g.sealed_b2, g.receipt),
            (None, Some(b"receipt".to_vec())),
            "{e}"
        );
        assert_eq!(
            s.insert_grant(&[1; 16], &r, b"g1", b"b2").unwrap(),
            GrantInsert::Taken
        );
        let all: Vec<Vec<u8>> = s
            .grants_for_record(&r)
            .unwrap()
            .into_iter()
            .map(|g| g.statement)
            .collect();
        assert_eq!(all, vec![b"g1".to_vec(), b"g2".to_vec()]);
        // Nonces: once each, the old ones forgotten.
        assert!(s.use_nonce(&[8; 16], 100, 0).unwrap());
        assert!(!s.use_nonce(&[8; 16], 101, 0).unwrap());
        assert!(s.use_nonce(&[9; 16], 200, 150).unwrap());
        assert_eq!(s.nonces_since(0).unwrap(), vec![([9; 16], 200)], "{e}");
    }
}

#[test]
fn audit_batches_link_count_and_reopen_alike_on_both_engines() {
    let dir = tempfile::tempdir().unwrap();
    for (at, _guard) in engines(dir.path()) {
        let store = Arc::new(SqlStore::open(&at).unwrap());
        let (w, log) = writer(&store);
        let (a, b) = ([1u8; 32], [2u8; 32]);
        let mut receipts = Vec::new();
        for n in 0..6u64 {
            let record = if n % 2 == 0 { a } else { b };
            let write = AuditWrite {
                nonce: Some(([n as u8 + 100; 16], sesphr_relay::now_ms())),
                answers: None,
            };
            receipts.push(stored(w.append(entry(record, n), write).unwrap()));
        }
        for (i, r) in receipts.iter().enumerate() {
            assert_eq!(r.index, i as u64);
            r.verify().unwrap();
        }
        // The previous entry about the same record, from the log's order.
        let l = receipts[4].entry.link.unwrap();
        assert_eq!(l.seq, 2);
        assert_eq!(l.prev, receipts[2].entry.leaf_hash());
        // A nonce spent is a replay, in a batch or on its own, and stores nothing.
        let again = AuditWrite {
            nonce: Some(([100; 16], sesphr_relay::now_ms())),
            answers: None,
        };
        assert!(matches!(
            w.append(entry(a, 9), again).unwrap(),
            Outcome::Replay
        ));
        assert!(!store
            .use_nonce(&[101; 16], sesphr_relay::now_ms(), 0)
            .unwrap());
        // An answer on a grant that no longer answers is not stored.
        let gone = AuditWrite {
            nonce: Some(([120; 16], sesphr_relay::now_ms())),
            answers: Some(Answers {
                record: a,
                grant_id: [42; 16],
                emergency: None,
            }),
        };
        assert!(matches!(
            w.append(entry(a, 10), gone).unwrap(),
            Outcome::Moved
        ));
        assert_eq!(store.audit_entries().unwrap().len(), 6);
        let listed: Vec<u64> = store
            .audit_for_record(&b)
            .unwrap()
            .into_iter()
            .map(|(i, _)| i)
            .collect();
        assert_eq!(listed, vec![1, 3, 5]);
        assert_eq!(store.audit_since(4).unwrap().len(), 2);
        let root = log
            .lock()
            .unwrap()
            .head(&identity("srs-store/srs"), 1)
            .unwrap();
        drop(w);
        drop(store);
        // Reopened: the same tree.
        let store = SqlStore::open(&at).unwrap();
        let again =
            MemoryLog::from_entries(store.audit_entries().unwrap().iter().map(Vec::as_slice))
                .unwrap()
                .head(&identity("srs-store/srs"), 1)
                .unwrap();
        assert_eq!((again.tree_size, again.root), (root.tree_size, root.root));
    }
}

/// Two stores on one PostgreSQL database ("two processes") racing: one
/// head per version, one grant per id, each nonce once, one audit log.
#[test]
fn two_processes_on_postgres_race_without_losing_a_guarantee() {
    let pg = Postgres::new();
    let at = DbLocation::Postgres(pg.url().to_owned());
    let stores: Vec<Arc<SqlStore>> = (0..2)
        .map(|_| Arc::new(SqlStore::open(&at).unwrap()))
        .collect();
    assert_eq!(stores[0].engine(), Engine::Postgres);
    // Heads: for each of 20 records, both race version 1, then version 2.
    let threads: Vec<_> = (0..2)
        .map(|p| {
            let s = stores[p].clone();
            std::thread::spawn(move || {
                let mut won = 0;
                for r in 0..20u8 {
                    for v in 1..=2u64 {
                        let hash = [p as u8 + 1; 32];
                        if s.insert_manifest(&[r; 32], v, &[1; 32], &hash, b"m")
                            .unwrap()
                            == Cas::Stored
                        {
                            won += 1;
                        }
                    }
                }
                won
            })
        })
        .collect();
    let won: u32 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(won, 40, "each (record, version) stored exactly once");
    // Audit: both append concurrently through their own writers.
    let writers: Vec<_> = stores.iter().map(writer).collect();
    let writers = Arc::new(writers);
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let writers = writers.clone();
            std::thread::spawn(move || {
                let (w, _) = &writers[t % 2];
                (0..25u64)
                    .map(|n| {
                        let k = t as u64 * 100 + n;
                        let write = AuditWrite {
                            nonce: Some((
                                [
                                    (k % 200) as u8,
                                    (k / 200) as u8,
                                    1,
                                    2,
                                    3,
                                    4,
                                    5,
                                    6,
                                    7,
                                    8,
                                    9,
                                    10,
                                    11,
                                    12,
                                    13,
                                    t as u8,
                                ],
                                sesphr_relay::now_ms(),
                            )),
                            answers: None,
                        };
                        stored(w.append(entry([(k % 3) as u8; 32], k), write).unwrap())
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let receipts: Vec<_> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    let mut idx: Vec<u64> = receipts.iter().map(|r| r.index).collect();
    idx.sort();
    assert_eq!(idx, (0..100).collect::<Vec<_>>());
    // One tree: the stored log checks out (every link from the database
    // order) and every receipt of either process is in it.
    let entries = stores[1].audit_entries().unwrap();
    let full = MemoryLog::from_entries(entries.iter().map(Vec::as_slice)).unwrap();
    for r in &receipts {
        r.verify().unwrap();
        let path = full.inclusion_path(r.index, 100).unwrap();
        sesphr_client::merkle::verify_inclusion(
            &r.entry.leaf_hash(),
            r.index,
            100,
            &path,
            &full.head(&identity("srs-store/srs"), 1).unwrap().root,
        )
        .unwrap();
        // Each receipt's head is a prefix of the final tree.
        let (proof, last) = full
            .consistency(&identity("srs-store/srs"), r.head.tree_size, 100, 1)
            .unwrap();
        r.head.verify_extension(&last, &proof).unwrap();
    }
}
