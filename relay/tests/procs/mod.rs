//! The real `sesphr-relay` binary as a child process (for tests of this
//! package only: it needs `CARGO_BIN_EXE_sesphr-relay`).
#![allow(dead_code, clippy::unwrap_used, clippy::panic)]

/// Starts the real binary (`serve`) on `port` over `data`.
pub fn spawn(data: &std::path::Path, port: u16) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_sesphr-relay"))
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(data)
        .arg("--www-dir")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/../www"))
        .env("SESPHR_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

/// Waits until the server answers `/healthz`.
pub async fn wait_up(base: &str) {
    for _ in 0..250 {
        if reqwest::get(format!("{base}/healthz")).await.is_ok() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("server did not come up");
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
