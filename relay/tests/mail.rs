//! Mail (`/v1/mail`) against the real relay, as a hostile outsider would
//! use it: only a registered sender's signed post over exactly these bytes
//! to a registered recipient is stored, once, within the caps; nobody reads
//! or deletes another's mail; refused posts store nothing.
#![cfg(test)]

use sesphr_client::envelope::Envelope;
use sesphr_client::identity::Identity;
use sesphr_client::primitives::os_rng;
use sesphr_client::token::{Purpose, RequestToken};
use sesphr_testkit::deploy::*;
use sha2::{Digest, Sha256};

/// Mail sealed to `to` and the token `from` signs to post it.
fn sealed(from: &Identity, to: &Identity, text: &[u8]) -> (Vec<u8>, RequestToken) {
    let mail = Envelope::seal_mail(&to.public().encryption, text, &mut os_rng())
        .unwrap()
        .to_bytes();
    let subject = [to.id().0.as_slice(), &Sha256::digest(&mail)].concat();
    (mail.clone(), signed(from, Purpose::SendMail, &subject))
}

fn body(to: &Identity, mail: &[u8]) -> serde_json::Value {
    serde_json::json!({ "recipient": to.id().to_hex(), "sealed": hex::encode(mail) })
}

async fn mailbox(api: &Api, who: &Identity) -> Vec<serde_json::Value> {
    let t = signed(who, Purpose::ReadMail, &[]);
    serde_json::from_slice(&api.get("/v1/mail", Some(&t)).await.unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_signed_posts_to_registered_parties_are_stored_and_only_their_recipient_reads_them() {
    let d = deploy(|c| c.quotas.mail_per_sender = 2).await;
    let (api, client) = (&d.api, &d.client);
    let (alice, bob, mallory) = (
        party(client).await,
        party(client).await,
        party(client).await,
    );

    // A post, its retry (the same bytes: stored once), what bob reads.
    let (mail, t) = sealed(&alice, &bob, b"receipts");
    api.post_json_token("/v1/mail", &t, &body(&bob, &mail))
        .await
        .unwrap();
    let (_, again) = sealed(&alice, &bob, b"");
    let subject = [bob.id().0.as_slice(), &Sha256::digest(&mail)].concat();
    let retry = signed(&alice, Purpose::SendMail, &subject);
    api.post_json_token("/v1/mail", &retry, &body(&bob, &mail))
        .await
        .unwrap();
    let items = mailbox(api, &bob).await;
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["sender"], alice.id().to_hex());
    let id = items[0]["id"].as_str().unwrap().to_string();
    assert_eq!(id, hex::encode(Sha256::digest(&mail)));
    let opened = Envelope::from_bytes(&hex::decode(items[0]["sealed"].as_str().unwrap()).unwrap())
        .unwrap()
        .open_mail(&bob)
        .unwrap();
    assert_eq!(opened.as_slice(), b"receipts");

    // Refused, each storing nothing: no token, a spent one, a token over
    // other bytes or another recipient or of another purpose, an
    // unregistered sender or recipient, bytes that are not an envelope.
    let before = mailbox(api, &bob).await.len();
    let (other, t_other) = sealed(&mallory, &bob, b"x");
    let refusals = [
        api.post_json("/v1/mail", &body(&bob, &other)).await,
        api.post_json_token("/v1/mail", &retry, &body(&bob, &mail))
            .await,
        api.post_json_token("/v1/mail", &again, &body(&bob, &other))
            .await,
        api.post_json_token("/v1/mail", &t_other, &body(&alice, &other))
            .await,
        api.post_json_token(
            "/v1/mail",
            &signed(&mallory, Purpose::ReadMail, &[]),
            &body(&bob, &other),
        )
        .await,
        {
            let stranger = Identity::generate().unwrap();
            let (m, t) = sealed(&stranger, &bob, b"x");
            api.post_json_token("/v1/mail", &t, &body(&bob, &m)).await
        },
        {
            let nobody = Identity::generate().unwrap();
            let (m, t) = sealed(&mallory, &nobody, b"x");
            api.post_json_token("/v1/mail", &t, &body(&nobody, &m))
                .await
        },
        {
            // Larger than any bundle of receipts: 413, before any check.
            let big =
                Envelope::seal_mail(&bob.public().encryption, &vec![0; 60_000], &mut os_rng())
                    .unwrap()
                    .to_bytes();
            let subject = [bob.id().0.as_slice(), &Sha256::digest(&big)].concat();
            let t = signed(&mallory, Purpose::SendMail, &subject);
            api.post_json_token("/v1/mail", &t, &body(&bob, &big)).await
        },
        {
            let junk = b"not an envelope".to_vec();
            let subject = [bob.id().0.as_slice(), &Sha256::digest(&junk)].concat();
            let t = signed(&mallory, Purpose::SendMail, &subject);
            api.post_json_token("/v1/mail", &t, &body(&bob, &junk))
                .await
        },
        api.post_json(
            "/v1/mail",
            &serde_json::json!({ "recipient": bob.id().to_hex(), "sealed": "zz", "extra": 1 }),
        )
        .await,
    ];
    for (i, r) in refusals.into_iter().enumerate() {
        let e = r.expect_err(&format!("refusal {i} was stored"));
        assert!(
            (400..500).contains(&e.status),
            "refusal {i}: {} {}",
            e.status,
            e.code
        );
    }
    assert_eq!(mailbox(api, &bob).await.len(), before);

    // The per-sender cap: a third item from mallory is refused (quota).
    for n in 0..3u8 {
        let (m, t) = sealed(&mallory, &bob, &[n]);
        let r = api.post_json_token("/v1/mail", &t, &body(&bob, &m)).await;
        if n < 2 {
            r.unwrap();
        } else {
            assert_eq!(r.unwrap_err().code, "quota_exceeded");
        }
    }
    assert_eq!(mailbox(api, &bob).await.len(), 3);

    // Nobody reads or deletes another's mail.
    assert!(mailbox(api, &mallory).await.is_empty());
    let del = |who: &Identity, id: &str| {
        let t = signed(who, Purpose::ClearMail, &hex::decode(id).unwrap());
        let path = format!("/v1/mail/{id}");
        async move {
            api.send(reqwest::Method::DELETE, &path, Some(&t), vec![])
                .await
        }
    };
    assert_eq!(del(&mallory, &id).await.unwrap_err().status, 404);
    assert_eq!(mailbox(api, &bob).await.len(), 3);
    del(&bob, &id).await.unwrap();
    assert_eq!(del(&bob, &id).await.unwrap_err().status, 404);
    assert_eq!(mailbox(api, &bob).await.len(), 2);
    d.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_a_reader_keeps_never_hides_what_came_later_the_cursor_pages_past_it() {
    let d = deploy(|c| c.quotas.mail_per_sender = 300).await;
    let (api, client) = (&d.api, &d.client);
    let (alice, bob, mallory) = (
        party(client).await,
        party(client).await,
        party(client).await,
    );
    // A full page and more from one sender, then alice's one.
    for n in 0..300u16 {
        let (m, t) = sealed(&mallory, &bob, &n.to_be_bytes());
        api.post_json_token("/v1/mail", &t, &body(&bob, &m))
            .await
            .unwrap();
    }
    let (m, t) = sealed(&alice, &bob, b"acceptance");
    api.post_json_token("/v1/mail", &t, &body(&bob, &m))
        .await
        .unwrap();

    let page = |after: Option<u64>| {
        let t = signed(&bob, Purpose::ReadMail, &[]);
        let path = after.map_or("/v1/mail".to_string(), |a| format!("/v1/mail?after={a}"));
        async move { api.get(&path, Some(&t)).await }
    };
    let first: Vec<serde_json::Value> = serde_json::from_slice(&page(None).await.unwrap()).unwrap();
    assert_eq!(first.len(), 256);
    assert!(first.iter().all(|i| i["sender"] == mallory.id().to_hex()));
    let seqs: Vec<u64> = first.iter().map(|i| i["seq"].as_u64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "arrival order");
    let next: Vec<serde_json::Value> =
        serde_json::from_slice(&page(Some(*seqs.last().unwrap())).await.unwrap()).unwrap();
    assert_eq!(next.len(), 45);
    assert_eq!(next[44]["sender"], alice.id().to_hex());
    let last = next[44]["seq"].as_u64().unwrap();
    let end: Vec<serde_json::Value> =
        serde_json::from_slice(&page(Some(last)).await.unwrap()).unwrap();
    assert!(end.is_empty());

    // A cursor that is no number: a typed 400, before the token is spent.
    let t = signed(&bob, Purpose::ReadMail, &[]);
    let e = api.get("/v1/mail?after=x", Some(&t)).await.unwrap_err();
    assert_eq!((e.status, e.code.as_str()), (400, "invalid_argument"));
    api.get("/v1/mail", Some(&t)).await.unwrap();
    d.server.stop().await;
}
