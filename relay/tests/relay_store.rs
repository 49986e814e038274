//! The relay's metadata store on both engines: one set of tests run over
//! SQLite and over a real PostgreSQL, and on PostgreSQL two stores on one
//! database standing for two relay processes (they share nothing but the
//! server), racing on every decision that reads and then writes.
#![cfg(test)]

use std::sync::Arc;

use sesphr_relay::db::DbLocation;
use sesphr_relay::relay::state::{StatePut, MAX_SLOTS};
use sesphr_relay::relay::store::{
    Claim, InboxPut, InboxRow, LocalStore, Mailbox, ManifestPut, RelayStore, ShlFileOut, ShlGate,
    ShlLinkRow, ShlPut,
};
use sesphr_testkit::pg::Postgres;

/// A store on each engine (the guard keeps PostgreSQL's database), blobs in
/// `dir`.
fn stores(dir: &std::path::Path) -> Vec<(&'static str, LocalStore, Option<Postgres>)> {
    let pg = Postgres::new();
    let on_pg = DbLocation::Postgres(pg.url().to_owned());
    vec![
        ("sqlite", LocalStore::open(dir.join("a")).unwrap(), None),
        (
            "postgres",
            LocalStore::open_with(dir.join("b"), &on_pg).unwrap(),
            Some(pg),
        ),
    ]
}

/// Two stores ("processes") on one new PostgreSQL database.
fn two_processes(dir: &std::path::Path) -> (Arc<LocalStore>, Arc<LocalStore>, Postgres) {
    let pg = Postgres::new();
    let at = DbLocation::Postgres(pg.url().to_owned());
    let a = LocalStore::open_with(dir.join("a"), &at).unwrap();
    let b = LocalStore::open_with(dir.join("b"), &at).unwrap();
    (Arc::new(a), Arc::new(b), pg)
}

fn link(id: u8, owner: u8, passcode: bool, attempts: u32) -> ShlLinkRow {
    ShlLinkRow {
        id: [id; 32],
        owner: [owner; 32],
        passcode: passcode.then_some(([3; 16], [4; 32])),
        attempts_left: attempts,
        expires_at: None,
        long_term: true,
        direct: false,
        label: Some(format!("link {id}")),
        created: u64::from(id),
        files: vec![
            ("application/fhir+json".into(), "small".into()),
            ("application/fhir+json".into(), "x".repeat(100)),
        ],
        owner_key: Some(vec![9, 9, 9]),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manifests_compare_and_swap_within_the_record_quota() {
    let dir = tempfile::tempdir().unwrap();
    for (engine, s, _pg) in stores(dir.path()) {
        let (r1, r2, r3, owner) = ([1u8; 32], [2u8; 32], [3u8; 32], [9u8; 32]);
        assert_eq!(s.latest_manifest(&r1).await.unwrap(), None, "{engine}");
        assert_eq!(
            s.put_manifest(&r1, 2, &owner, b"v2", 2).await.unwrap(),
            ManifestPut::Conflict(0),
            "{engine}"
        );
        assert_eq!(
            s.put_manifest(&r1, 1, &owner, b"v1", 2).await.unwrap(),
            ManifestPut::New
        );
        assert_eq!(
            s.put_manifest(&r1, 1, &owner, b"v1", 2).await.unwrap(),
            ManifestPut::Same,
            "{engine}: a retry of the same bytes"
        );
        assert_eq!(
            s.put_manifest(&r1, 1, &owner, b"other", 2).await.unwrap(),
            ManifestPut::Conflict(1)
        );
        assert_eq!(
            s.put_manifest(&r1, 2, &owner, b"v2", 2).await.unwrap(),
            ManifestPut::New
        );
        assert_eq!(
            s.put_manifest(&r1, 4, &owner, b"v4", 2).await.unwrap(),
            ManifestPut::Conflict(2)
        );
        assert_eq!(s.latest_manifest(&r1).await.unwrap(), Some(2));
        assert_eq!(
            s.manifest(&r1, 1).await.unwrap().as_deref(),
            Some(&b"v1"[..])
        );
        assert_eq!(s.manifest(&r1, 3).await.unwrap(), None);
        assert_eq!(s.record_owner(&r1).await.unwrap(), Some(owner));
        assert_eq!(s.record_owner(&r2).await.unwrap(), None);
        assert_eq!(
            s.put_manifest(&r2, 1, &owner, b"a", 2).await.unwrap(),
            ManifestPut::New
        );
        assert_eq!(
            s.put_manifest(&r3, 1, &owner, b"b", 2).await.unwrap(),
            ManifestPut::OverQuota,
            "{engine}: a third record over a quota of two"
        );
        assert_eq!(s.record_owner(&r3).await.unwrap(), None);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blobs_are_claimed_once_within_quota_and_reclaimed_after_delete() {
    let dir = tempfile::tempdir().unwrap();
    for (engine, s, _pg) in stores(dir.path()) {
        let (alice, bob) = ([1u8; 32], [2u8; 32]);
        assert_eq!(s.usage(&alice).await.unwrap(), 0);
        assert_eq!(
            s.claim_blob(&[10; 32], &alice, 60, 100).await.unwrap(),
            Claim::New
        );
        assert_eq!(
            s.claim_blob(&[11; 32], &alice, 41, 100).await.unwrap(),
            Claim::OverQuota,
            "{engine}"
        );
        assert_eq!(
            s.claim_blob(&[11; 32], &alice, 40, 100).await.unwrap(),
            Claim::New
        );
        assert_eq!(s.usage(&alice).await.unwrap(), 100);
        // Someone else storing the same blob: it stays alice's.
        assert_eq!(
            s.claim_blob(&[10; 32], &bob, 60, 100).await.unwrap(),
            Claim::Existing
        );
        assert_eq!(s.blob_owner(&[10; 32]).await.unwrap(), Some(alice));
        assert_eq!(s.usage(&bob).await.unwrap(), 0);
        // Deleted (no file was written here: only the metadata half
        // counts): the usage goes down, once, and the owner stays.
        assert!(!s.delete_blob(&[10; 32]).await.unwrap());
        assert!(!s.delete_blob(&[10; 32]).await.unwrap());
        assert_eq!(s.usage(&alice).await.unwrap(), 40, "{engine}");
        assert_eq!(s.blob_owner(&[10; 32]).await.unwrap(), Some(alice));
        // Stored again by bob: it counts against alice again.
        assert_eq!(
            s.claim_blob(&[10; 32], &bob, 60, 100).await.unwrap(),
            Claim::Existing
        );
        assert_eq!(s.usage(&alice).await.unwrap(), 100);
        assert_eq!(s.usage(&bob).await.unwrap(), 0);
        assert_eq!(s.blob_owner(&[12; 32]).await.unwrap(), None);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inboxes_and_mail_keep_their_caps_order_and_pages() {
    let dir = tempfile::tempdir().unwrap();
    for (engine, s, _pg) in stores(dir.path()) {
        let (me, s1, s2) = ([1u8; 32], [2u8; 32], [3u8; 32]);
        let put = |mailbox, id: u8, sender: [u8; 32]| {
            let s = &s;
            async move {
                s.put_inbox(
                    InboxRow {
                        mailbox,
                        grantee: &me,
                        id: &[id; 32],
                        sender: &sender,
                        bytes: &[id],
                    },
                    2,
                    3,
                )
                .await
                .unwrap()
            }
        };
        for mailbox in [Mailbox::Grants, Mailbox::Mail] {
            assert_eq!(put(mailbox, 1, s1).await, InboxPut::New, "{engine}");
            assert_eq!(put(mailbox, 1, s1).await, InboxPut::Existing);
            assert_eq!(put(mailbox, 2, s1).await, InboxPut::New);
            assert_eq!(put(mailbox, 3, s1).await, InboxPut::SenderFull);
            assert_eq!(put(mailbox, 4, s2).await, InboxPut::New);
            assert_eq!(put(mailbox, 5, s2).await, InboxPut::InboxFull);
            let items = s.inbox(mailbox, &me, 10).await.unwrap();
            let ids: Vec<u8> = items.iter().map(|(id, _)| id[0]).collect();
            assert_eq!(ids, vec![1, 2, 4], "{engine}: arrival order");
            assert_eq!(items[0].1, vec![1]);
            assert_eq!(s.inbox(mailbox, &me, 2).await.unwrap().len(), 2);
        }
        // Mail pages by arrival number; a deleted item's number is not reused.
        let page = s.mail_page(&me, 0, 2).await.unwrap();
        let seqs: Vec<(u64, u8)> = page.iter().map(|(q, id, _)| (*q, id[0])).collect();
        assert_eq!(seqs, vec![(1, 1), (2, 2)], "{engine}");
        let rest = s.mail_page(&me, 2, 10).await.unwrap();
        assert_eq!(rest.len(), 1);
        assert_eq!((rest[0].0, rest[0].1[0]), (3, 4));
        assert!(s.delete_inbox(Mailbox::Mail, &me, &[1; 32]).await.unwrap());
        assert!(!s.delete_inbox(Mailbox::Mail, &me, &[1; 32]).await.unwrap());
        // The freed place takes a new item, which gets a new number.
        assert_eq!(put(Mailbox::Mail, 6, s2).await, InboxPut::New);
        assert_eq!(put(Mailbox::Mail, 7, s2).await, InboxPut::SenderFull);
        assert_eq!(put(Mailbox::Mail, 8, s1).await, InboxPut::InboxFull);
        let last = s.mail_page(&me, 3, 10).await.unwrap();
        assert_eq!((last[0].0, last[0].1[0]), (4, 6), "{engine}");
        // The other box is untouched.
        assert_eq!(s.inbox(Mailbox::Grants, &me, 10).await.unwrap().len(), 3);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nonce_is_spent_once_until_forgotten() {
    let dir = tempfile::tempdir().unwrap();
    for (engine, s, _pg) in stores(dir.path()) {
        assert!(s.use_nonce(&[1; 16], 100, 0).await.unwrap(), "{engine}");
        assert!(!s.use_nonce(&[1; 16], 101, 0).await.unwrap(), "{engine}");
        assert!(s.use_nonce(&[2; 16], 200, 0).await.unwrap());
        // Forgetting what was seen before 150 frees nonce 1, not nonce 2.
        assert!(s.use_nonce(&[3; 16], 300, 150).await.unwrap());
        assert!(s.use_nonce(&[1; 16], 301, 150).await.unwrap(), "{engine}");
        assert!(!s.use_nonce(&[2; 16], 302, 150).await.unwrap());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_put_refresh_gate_refund_retrieve_list_and_delete() {
    let dir = tempfile::tempdir().unwrap();
    for (engine, s, _pg) in stores(dir.path()) {
        assert_eq!(
            s.shl_put(link(1, 1, true, 2), 2).await.unwrap(),
            ShlPut::New
        );
        assert_eq!(
            s.shl_put(link(1, 1, true, 2), 2).await.unwrap(),
            ShlPut::Replaced
        );
        assert_eq!(
            s.shl_put(link(1, 2, false, 2), 2).await.unwrap(),
            ShlPut::NotOwner,
            "{engine}"
        );
        assert_eq!(
            s.shl_put(link(2, 1, false, 5), 2).await.unwrap(),
            ShlPut::New
        );
        assert_eq!(
            s.shl_put(link(3, 1, false, 5), 2).await.unwrap(),
            ShlPut::OverQuota
        );
        // The gate: two attempts, the second leaves none; a refund gives one back.
        let gate = s.shl_gate([1; 32], 10, true).await.unwrap();
        assert_eq!(
            gate,
            ShlGate::Passcode {
                owner: [1; 32],
                salt: [3; 16],
                hash: [4; 32],
                left: 1
            },
            "{engine}"
        );
        assert!(matches!(
            s.shl_gate([1; 32], 10, true).await.unwrap(),
            ShlGate::Passcode { left: 0, .. }
        ));
        assert_eq!(s.shl_gate([1; 32], 10, true).await.unwrap(), ShlGate::Gone);
        assert!(matches!(
            s.shl_gate([1; 32], 10, false).await.unwrap(),
            ShlGate::Passcode { left: 0, .. }
        ));
        s.shl_refund([1; 32]).await.unwrap();
        assert!(matches!(
            s.shl_gate([1; 32], 10, true).await.unwrap(),
            ShlGate::Passcode { left: 0, .. }
        ));
        assert_eq!(
            s.shl_gate([2; 32], 10, true).await.unwrap(),
            ShlGate::Open { direct: false }
        );
        assert_eq!(s.shl_gate([9; 32], 10, true).await.unwrap(), ShlGate::Gone);
        // Retrieval: small files embedded, large ones behind a location.
        let (long_term, files) = s
            .shl_retrieve([2; 32], "Dr. Bob".into(), 20, 10, 1000)
            .await
            .unwrap()
            .unwrap();
        assert!(long_term);
        let ShlFileOut::Embedded(_, ref small) = files[0] else {
            panic!("{engine}: the small file is embedded")
        };
        assert_eq!(small, "small");
        let ShlFileOut::Location(_, token) = files[1] else {
            panic!("{engine}: the large file is behind a location")
        };
        assert_eq!(
            s.shl_location(token, 999).await.unwrap(),
            Some("x".repeat(100))
        );
        assert_eq!(s.shl_location(token, 1000).await.unwrap(), None, "expired");
        s.shl_retrieve([2; 32], "Dr. Bob".into(), 30, u64::MAX, 0)
            .await
            .unwrap()
            .unwrap();
        s.shl_retrieve([2; 32], "Nurse".into(), 25, u64::MAX, 0)
            .await
            .unwrap()
            .unwrap();
        // A refresh replaces the files (old locations stop working).
        let (_, files) = s
            .shl_retrieve([2; 32], "Dr. Bob".into(), 40, 10, 1000)
            .await
            .unwrap()
            .unwrap();
        let ShlFileOut::Location(_, token) = files[1] else {
            panic!("location")
        };
        let new_files = vec![("text/plain".to_string(), "new".to_string())];
        assert_eq!(
            s.shl_refresh([1; 32], [2; 32], new_files.clone(), 41)
                .await
                .unwrap(),
            ShlPut::Replaced,
            "{engine}"
        );
        assert_eq!(s.shl_location(token, 42).await.unwrap(), None);
        assert_eq!(
            s.shl_refresh([2; 32], [2; 32], new_files.clone(), 41)
                .await
                .unwrap(),
            ShlPut::NotOwner
        );
        assert_eq!(
            s.shl_refresh([1; 32], [8; 32], new_files.clone(), 41)
                .await
                .unwrap(),
            ShlPut::Gone
        );
        // The listing, with the log per recipient.
        let listed = s.shl_list([1; 32]).await.unwrap();
        assert_eq!(listed.len(), 2, "{engine}");
        let l1 = &listed[0];
        assert!(l1.passcode && l1.attempts_left == 0 && l1.files == 2);
        assert_eq!(l1.label.as_deref(), Some("link 1"));
        assert_eq!(l1.owner_key.as_deref(), Some("CQkJ"));
        let l2 = &listed[1];
        assert!(!l2.passcode && l2.files == 1 && l2.attempts_left == 5);
        let log: Vec<_> = l2
            .retrievals
            .iter()
            .map(|r| (r.recipient.as_str(), r.count, r.first, r.last))
            .collect();
        assert_eq!(log, vec![("Dr. Bob", 3, 20, 40), ("Nurse", 1, 25, 25)]);
        // Expiry closes the gate and the retrieval.
        let mut expiring = link(4, 2, false, 1);
        expiring.expires_at = Some(50);
        assert_eq!(s.shl_put(expiring, 2).await.unwrap(), ShlPut::New);
        assert!(matches!(
            s.shl_gate([4; 32], 49, true).await.unwrap(),
            ShlGate::Open { .. }
        ));
        assert_eq!(s.shl_gate([4; 32], 50, true).await.unwrap(), ShlGate::Gone);
        assert!(s
            .shl_retrieve([4; 32], "x".into(), 50, 10, 60)
            .await
            .unwrap()
            .is_none());
        // Delete: the owner only, once; everything of the link goes.
        assert!(!s.shl_delete([2; 32], [2; 32]).await.unwrap());
        assert!(s.shl_delete([1; 32], [2; 32]).await.unwrap());
        assert!(!s.shl_delete([1; 32], [2; 32]).await.unwrap());
        assert_eq!(s.shl_list([1; 32]).await.unwrap().len(), 1);
        assert_eq!(s.shl_gate([2; 32], 10, true).await.unwrap(), ShlGate::Gone);
        assert_eq!(
            s.shl_put(link(2, 1, false, 5), 2).await.unwrap(),
            ShlPut::New
        );
        assert!(s.shl_list([1; 32]).await.unwrap()[1].retrievals.is_empty());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owner_state_is_a_compare_and_swap_within_the_slot_quota() {
    let dir = tempfile::tempdir().unwrap();
    for (engine, s, _pg) in stores(dir.path()) {
        let me = [1u8; 32];
        let put = |slot: &str, v: u64, b: &[u8]| s.state_put(me, slot.into(), v, b.to_vec());
        assert_eq!(s.state_get(me, "contacts".into()).await.unwrap(), None);
        assert_eq!(
            put("contacts", 2, b"x").await.unwrap(),
            StatePut::Conflict(0)
        );
        assert_eq!(put("contacts", 1, b"one").await.unwrap(), StatePut::Stored);
        assert_eq!(
            put("contacts", 1, b"uno").await.unwrap(),
            StatePut::Conflict(1)
        );
        assert_eq!(put("contacts", 2, b"two").await.unwrap(), StatePut::Stored);
        assert_eq!(
            s.state_get(me, "contacts".into()).await.unwrap().as_deref(),
            Some(&b"two"[..]),
            "{engine}"
        );
        for i in 1..MAX_SLOTS {
            assert_eq!(
                put(&format!("s{i}"), 1, b"x").await.unwrap(),
                StatePut::Stored
            );
        }
        assert_eq!(
            put("one-too-many", 1, b"x").await.unwrap(),
            StatePut::OverQuota,
            "{engine}"
        );
        assert_eq!(
            put("contacts", 3, b"three").await.unwrap(),
            StatePut::Stored
        );
    }
}

/// Runs `n` calls of `f(i, store)` at once, alternating between the two
/// processes' stores.
async fn race<T: Send + 'static, F>(
    a: &Arc<LocalStore>,
    b: &Arc<LocalStore>,
    n: usize,
    f: impl Fn(usize, Arc<LocalStore>) -> F,
) -> Vec<T>
where
    F: std::future::Future<Output = T> + Send + 'static,
{
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let s = if i % 2 == 0 { a.clone() } else { b.clone() };
            tokio::spawn(f(i, s))
        })
        .collect();
    let mut out = Vec::with_capacity(n);
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_processes_racing_on_one_manifest_version_store_exactly_one() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, _pg) = two_processes(dir.path());
    for version in 1..=3u64 {
        let got = race(&a, &b, 12, move |i, s| async move {
            let bytes = format!("v{version} by {i}").into_bytes();
            s.put_manifest(&[1; 32], version, &[9; 32], &bytes, 100)
                .await
                .unwrap()
        })
        .await;
        let won = got.iter().filter(|p| **p == ManifestPut::New).count();
        assert_eq!(won, 1, "version {version}: {got:?}");
        assert!(got
            .iter()
            .all(|p| *p == ManifestPut::New || *p == ManifestPut::Conflict(version)));
        assert_eq!(b.latest_manifest(&[1; 32]).await.unwrap(), Some(version));
    }
    // One record per owner quota slot, however many race for new records.
    let got = race(&a, &b, 10, |i, s| async move {
        let record = [100 + i as u8; 32];
        s.put_manifest(&record, 1, &[7; 32], b"r", 3).await.unwrap()
    })
    .await;
    assert_eq!(got.iter().filter(|p| **p == ManifestPut::New).count(), 3);
    assert_eq!(
        got.iter().filter(|p| **p == ManifestPut::OverQuota).count(),
        7
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_processes_never_give_more_passcode_attempts_than_are_left() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, _pg) = two_processes(dir.path());
    a.shl_put(link(1, 1, true, 5), 10).await.unwrap();
    let got = race(&a, &b, 16, |_, s| async move {
        s.shl_gate([1; 32], 10, true).await.unwrap()
    })
    .await;
    let taken: Vec<u32> = got
        .iter()
        .filter_map(|g| match g {
            ShlGate::Passcode { left, .. } => Some(*left),
            _ => None,
        })
        .collect();
    assert_eq!(taken.len(), 5, "{got:?}");
    let mut left = taken.clone();
    left.sort_unstable();
    assert_eq!(left, vec![0, 1, 2, 3, 4], "each count handed out once");
    assert_eq!(got.iter().filter(|g| **g == ShlGate::Gone).count(), 11);
    let listed = b.shl_list([1; 32]).await.unwrap();
    assert_eq!(listed[0].attempts_left, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_processes_accept_a_nonce_once() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, _pg) = two_processes(dir.path());
    for n in 0..4u8 {
        let got = race(&a, &b, 10, move |i, s| async move {
            s.use_nonce(&[n; 16], 1000 + i as u64, 0).await.unwrap()
        })
        .await;
        assert_eq!(got.iter().filter(|fresh| **fresh).count(), 1, "{got:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_processes_never_exceed_the_usage_quota() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, _pg) = two_processes(dir.path());
    let owner = [5u8; 32];
    // Twenty different blobs of 10 bytes against a quota of 75.
    let got = race(&a, &b, 20, move |i, s| async move {
        s.claim_blob(&[i as u8; 32], &owner, 10, 75).await.unwrap()
    })
    .await;
    assert_eq!(got.iter().filter(|c| **c == Claim::New).count(), 7);
    assert_eq!(got.iter().filter(|c| **c == Claim::OverQuota).count(), 13);
    assert_eq!(a.usage(&owner).await.unwrap(), 70);
    // One blob claimed by many at once has one owner, counted once.
    let got = race(&a, &b, 10, |i, s| async move {
        s.claim_blob(&[200; 32], &[i as u8 + 10; 32], 10, 1000)
            .await
            .unwrap()
    })
    .await;
    assert_eq!(got.iter().filter(|c| **c == Claim::New).count(), 1);
    let holder = b.blob_owner(&[200; 32]).await.unwrap().unwrap();
    assert_eq!(a.usage(&holder).await.unwrap(), 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_processes_keep_the_inbox_caps_and_distinct_arrival_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, _pg) = two_processes(dir.path());
    let me = [1u8; 32];
    // 24 items from 3 senders into a box of at most 10, at most 4 per sender.
    let got = race(&a, &b, 24, move |i, s| async move {
        let sender = [(i % 3) as u8 + 50; 32];
        s.put_inbox(
            InboxRow {
                mailbox: Mailbox::Mail,
                grantee: &me,
                id: &[i as u8; 32],
                sender: &sender,
                bytes: b"{}",
            },
            4,
            10,
        )
        .await
        .unwrap()
    })
    .await;
    let stored = got.iter().filter(|p| **p == InboxPut::New).count();
    assert_eq!(stored, 10, "{got:?}");
    let page = a.mail_page(&me, 0, 100).await.unwrap();
    assert_eq!(page.len(), 10);
    let seqs: Vec<u64> = page.iter().map(|(q, _, _)| *q).collect();
    assert_eq!(seqs, (1..=10).collect::<Vec<u64>>(), "one number each");
    let mut per_sender = std::collections::HashMap::new();
    for (_, id, _) in &page {
        *per_sender.entry(id[0] % 3).or_insert(0) += 1;
    }
    assert!(per_sender.values().all(|n| *n <= 4), "{per_sender:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_processes_racing_on_owner_state_store_one_version() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, _pg) = two_processes(dir.path());
    let got = race(&a, &b, 10, |i, s| async move {
        s.state_put([1; 32], "contacts".into(), 1, vec![i as u8])
            .await
            .unwrap()
    })
    .await;
    assert_eq!(got.iter().filter(|p| **p == StatePut::Stored).count(), 1);
    assert!(got
        .iter()
        .all(|p| *p == StatePut::Stored || *p == StatePut::Conflict(1)));
}
