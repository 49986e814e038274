//! The checks of the fuzz targets for the JSON request bodies the servers
//! parse, shared by the targets and by `relay/tests/fuzz_corpus.rs`.
//!
//! Each check parses the body exactly as the route does: warp's
//! `body::json()` is `serde_json::from_slice` into the route's type
//! ([`GrantUpload`], [`InboxItem`]), then the handler's first steps, the
//! server's own `unhex` and the protocol decoders. The rest of each handler
//! needs a store and is covered by the relay's tests.

use sesphr_client::envelope::Envelope;
use sesphr_client::grant::VerifiedGrant;
use sesphr_relay::http::error::{unhex, ApiError};
use sesphr_relay::relay::InboxItem;
use sesphr_relay::srs::GrantUpload;

use super::client::{fixture, Check};

/// Every relay target, by name.
pub const TARGETS: &[(&str, Check)] = &[
    ("relay_grant_body", grant_body),
    ("relay_inbox_body", inbox_body),
];

/// `unhex` of a field: what decodes re-encodes to the field (up to case).
fn field(s: &str, what: &str) -> Option<Vec<u8>> {
    match unhex(s, what) {
        Ok(bytes) => {
            assert!(hex::encode(&bytes).eq_ignore_ascii_case(s), "{what} hex");
            Some(bytes)
        }
        Err(e) => {
            assert_eq!(e.code, "malformed");
            None
        }
    }
}

/// The decoders behind a body; protocol errors map to an HTTP status.
fn statement_and_envelope(
    statement: &str,
    envelope: &str,
    what: &str,
) -> Option<(VerifiedGrant, Envelope)> {
    let s = field(statement, "statement")?;
    let e = field(envelope, what)?;
    let grant = VerifiedGrant::from_bytes(&s).map_err(status_of).ok();
    let env = Envelope::from_bytes(&e).map_err(status_of).ok();
    grant.zip(env)
}

fn status_of(e: sesphr_client::Error) {
    let api = ApiError::from(e);
    assert!(api.status.is_client_error(), "a protocol error is a 4xx");
}

/// `POST /srs/v1/grants`: `{statement, b2Envelope}`.
pub fn grant_body(data: &[u8]) {
    let f = fixture();
    let Ok(upload) = serde_json::from_slice::<GrantUpload>(data) else {
        return;
    };
    if let Some((grant, envelope)) =
        statement_and_envelope(&upload.statement, &upload.b2_envelope, "b2Envelope")
    {
        if grant.accept_srs_share(&f.srs, &envelope).is_ok() {
            assert_eq!(grant, f.issued.statement);
            assert_eq!(envelope, f.issued.b2_envelope);
        }
    }
}

/// `POST /v1/inbox`: `{statement, b1Envelope}`. The relay stores the item as
/// JSON and parses it again for `GET /v1/inbox`: that must give it back.
pub fn inbox_body(data: &[u8]) {
    let f = fixture();
    let Ok(item) = serde_json::from_slice::<InboxItem>(data) else {
        return;
    };
    let stored = serde_json::to_vec(&item).expect("an inbox item serializes");
    let back: InboxItem = serde_json::from_slice(&stored).expect("a stored inbox item parses");
    assert_eq!(back.statement, item.statement);
    assert_eq!(back.b1_envelope, item.b1_envelope);
    if let Some((grant, envelope)) =
        statement_and_envelope(&item.statement, &item.b1_envelope, "b1Envelope")
    {
        // The relay's own check: the reader flow's verified inbox item.
        let verified =
            sesphr_client::reader::InboxItem::from_bytes(grant.as_bytes(), &envelope.to_bytes());
        assert_eq!(verified.is_ok(), envelope.hash() == grant.b1_envelope_hash);
        if let Ok(v) = verified {
            assert_eq!(v.id(), grant.statement_hash());
            if grant == f.issued.statement {
                assert_eq!(envelope, f.issued.b1_envelope);
            }
        }
    }
}

/// Valid bodies (from the fixture's grant) and a few near misses.
pub fn seeds() -> Vec<(&'static str, Vec<Vec<u8>>)> {
    let f = fixture();
    let statement = hex::encode(f.issued.statement.as_bytes());
    let body = |key: &str, env: &Envelope| {
        serde_json::json!({ "statement": statement, key: hex::encode(env.to_bytes()) })
            .to_string()
            .into_bytes()
    };
    vec![
        (
            "relay_grant_body",
            vec![
                body("b2Envelope", &f.issued.b2_envelope),
                br#"{"statement":"00","b2Envelope":"zz"}"#.to_vec(),
            ],
        ),
        (
            "relay_inbox_body",
            vec![
                body("b1Envelope", &f.issued.b1_envelope),
                br#"{"statement":"","b1Envelope":"\u00e9"}"#.to_vec(),
            ],
        ),
    ]
}
