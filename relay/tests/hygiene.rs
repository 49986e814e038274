//! Secrets hygiene: a full flow against the real binary with logging at
//! trace level, as text and as JSON; no seed, share, data key or plaintext
//! may appear in its logs or in any HTTP response, and the per-request log
//! lines name route templates, never a path with its ids.
#![cfg(test)]

use sesphr_testkit::deploy::*;

use std::process::{Command, Stdio};

use sesphr_client::envelope::seal_request;
use sesphr_client::grant::Role;
use sesphr_client::primitives::os_rng;
use sesphr_client::reencrypt::{ReencryptAnswer, ReencryptRequest};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_logs_or_responses() {
    run("text").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_json_logs_or_responses() {
    run("json").await;
}

async fn run(format: &str) {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let log_path = dir.path().join("server.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_sesphr-relay"))
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(dir.path().join("data"))
        .env("SESPHR_LOG", "trace")
        .env("SESPHR_LOG_FORMAT", format)
        .env("NO_COLOR", "1")
        .stdout(Stdio::from(std::fs::File::create(&log_path).unwrap()))
        .stderr(Stdio::from(
            std::fs::File::create(dir.path().join("server.err")).unwrap(),
        ))
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    wait_up(&base).await;
    let api = Api::new(&base);
    let client = client(&base).await;
    let srs = client.srs().clone();
    let (patient, mut record) = patient(&client).await;
    let plaintext = "Penicillin allergy: anaphylaxis 2019 (SECRET-MARKER-7f3a)";
    let allergies = [("allergies", plaintext.as_bytes())];
    let (doctor, mut g) = share_written(&client, &mut record, &allergies, Role::Physician).await;
    let g = g.remove(0);
    let mut doctor = sesphr_native::Reader::new(client.clone(), doctor);
    let sec = record.section_id("allergies");
    let shared = doctor.shared_with_me().await.unwrap().remove(0);
    assert_eq!(
        doctor.read(&shared, &sec).await.unwrap(),
        plaintext.as_bytes()
    );
    let m = client
        .manifest(&record.record(), None)
        .await
        .unwrap()
        .unwrap();
    let rec = record.record();

    // Collect every response body of one more full read, and the secrets.
    let share = g
        .statement
        .accept(
            doctor.identity(),
            &g.b1_envelope,
            &m.entry(&sec).unwrap().section_key,
        )
        .unwrap();
    let req = ReencryptRequest::new(
        doctor.identity(),
        &share.grant,
        m.version(),
        now(),
        &mut os_rng(),
    )
    .unwrap();
    let (sealed, key) = seal_request(&srs.encryption, req.as_bytes(), &mut os_rng()).unwrap();
    let sealed_answer = api
        .post("/v1/reencrypt", "application/octet-stream", sealed)
        .await
        .unwrap();
    let answer = ReencryptAnswer::verify(
        &key.open_answer(&sealed_answer).unwrap(),
        &srs,
        &req,
        &share.grant,
        &m,
    )
    .unwrap();
    let dek = share.data_key(&m, &answer).unwrap();
    let entry = m.entry(&sec).unwrap();
    let mut responses = vec![
        sealed_answer,
        client.blob(&entry.blob_id()).await.unwrap(),
        client.blob(&entry.index_id).await.unwrap(),
    ];
    responses.push(
        api.get(
            &format!("/v1/records/{}/manifests/latest", rec.to_hex()),
            None,
        )
        .await
        .unwrap(),
    );
    record.revoke(&g.statement.grant_id).await.unwrap();
    child.kill().unwrap();
    child.wait().unwrap();

    let stdout = std::fs::read_to_string(&log_path).unwrap();
    let requests: Vec<&str> = stdout
        .lines()
        .filter(|l| l.contains("sesphr::request"))
        .collect();
    assert!(requests.len() >= 10, "one line per request");
    if format == "json" {
        for line in stdout.lines().filter(|l| l.starts_with('{')) {
            let v: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("not one JSON object per line ({e}): {line}"));
            assert!(
                v["level"].is_string() && v["timestamp"].is_string(),
                "{line}"
            );
        }
        let line = requests
            .iter()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .find(|v| v["route"] == "/v1/blobs/{id}")
            .expect("a blob request logged");
        assert!(line["method"].is_string() && line["status"].is_u64());
        assert!(line["duration_ms"].is_number() && line.get("path").is_none());
    }
    // Request lines carry the template: no record id, however logged.
    for line in &requests {
        assert!(!line.contains(&rec.to_hex()), "a record id in {line}");
    }

    let secrets: Vec<(&str, Vec<u8>)> = vec![
        (
            "patient seed",
            patient.identity().seed().to_bytes().to_vec(),
        ),
        ("doctor seed", doctor.identity().seed().to_bytes().to_vec()),
        ("b1", share.b1_bytes().to_vec()),
        ("DEK", dek.dek.expose().to_vec()),
        ("plaintext", plaintext.as_bytes().to_vec()),
    ];
    let mut logs = std::fs::read(&log_path).unwrap();
    logs.extend(std::fs::read(dir.path().join("server.err")).unwrap());
    assert!(logs.len() > 1000, "trace logging produced output");
    let logs_lower = String::from_utf8_lossy(&logs).to_lowercase();
    for (name, secret) in &secrets {
        let hexed = hex::encode(secret);
        assert!(!logs_lower.contains(&hexed), "{name} (hex) in the logs");
        assert!(
            !logs.windows(secret.len()).any(|w| w == secret.as_slice()),
            "{name} (raw) in the logs"
        );
        assert!(
            !logs_lower.contains("secret-marker-7f3a"),
            "plaintext in the logs"
        );
        for body in &responses {
            assert!(
                !body.windows(secret.len()).any(|w| w == secret.as_slice()),
                "{name} in a response"
            );
            assert!(
                !String::from_utf8_lossy(body)
                    .to_lowercase()
                    .contains(&hexed),
                "{name} (hex) in a response"
            );
        }
    }
    // The one secret the servers keep in clear at rest is the SRS seed (shares are
    // sealed under a key derived from it): it must not be readable by others.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("data/srs/identity.seed"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "SRS seed readable by others");
    }
}
