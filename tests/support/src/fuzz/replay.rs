//! Corpus replay for the stable test suites (`client/tests/fuzz_corpus.rs`,
//! `relay/tests/fuzz_corpus.rs`): runs every file of `fuzz/corpus/<target>/`
//! through its check. Not part of the fuzz targets themselves.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use super::client::Check;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("corpus directory {} is missing: {e}", dir.display()))
        .map(|e| e.expect("corpus entry").path())
        .filter(|p| p.is_file())
        .collect();
    out.sort();
    out
}

/// Every corpus file of every target through its check; a missing or empty
/// corpus directory and every failing file are reported together.
pub fn replay_all(targets: &[(&str, Check)]) {
    let mut failures = Vec::new();
    let mut total = 0;
    for (name, check) in targets {
        let dir = fuzz_dir().join("corpus").join(name);
        if !dir.is_dir() {
            failures.push(format!(
                "{name}: corpus directory {} is missing",
                dir.display()
            ));
            continue;
        }
        let files = files(&dir);
        if files.is_empty() {
            failures.push(format!("{name}: corpus directory is empty"));
        }
        for file in files {
            let data = std::fs::read(&file).expect("read corpus file");
            total += 1;
            if catch_unwind(AssertUnwindSafe(|| check(&data))).is_err() {
                failures.push(format!("{name}: {} fails its check", file.display()));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "fuzz corpus replay:\n{}",
        failures.join("\n")
    );
    assert!(total > 0);
}

/// The fuzz targets on disk (those `owned` selects) are exactly `targets`.
pub fn targets_match(targets: &[(&str, Check)], owned: impl Fn(&str) -> bool) {
    let mut on_disk: Vec<String> = files(&fuzz_dir().join("fuzz_targets"))
        .iter()
        .filter_map(|p| Some(p.file_stem()?.to_str()?.to_string()))
        .filter(|n| owned(n))
        .collect();
    on_disk.sort();
    let mut named: Vec<String> = targets.iter().map(|(n, _)| n.to_string()).collect();
    named.sort();
    assert_eq!(on_disk, named, "fuzz/fuzz_targets and the checks disagree");
}

/// Every seed passes its own target's check.
pub fn seeds_pass(targets: &[(&str, Check)], seeds: Vec<(&'static str, Vec<Vec<u8>>)>) {
    assert_eq!(seeds.len(), targets.len(), "one seed set per target");
    for (name, inputs) in seeds {
        let (_, check) = targets
            .iter()
            .find(|(n, _)| *n == name)
            .unwrap_or_else(|| panic!("seeds for unknown target {name}"));
        assert!(!inputs.is_empty(), "{name} has no seed");
        for input in inputs {
            check(&input);
        }
    }
}

/// Writes the seeds to `$SESPHR_FUZZ_SEEDS/<target>/seed-<sha256>` (no-op
/// without the variable).
pub fn write_seeds(seeds: Vec<(&'static str, Vec<Vec<u8>>)>) {
    use sha2::{Digest, Sha256};
    let Some(root) = std::env::var_os("SESPHR_FUZZ_SEEDS") else {
        return;
    };
    for (name, inputs) in seeds {
        let dir = Path::new(&root).join(name);
        std::fs::create_dir_all(&dir).expect("create seed directory");
        for input in inputs {
            let id = hex::encode(&Sha256::digest(&input)[..10]);
            std::fs::write(dir.join(format!("seed-{id}")), &input).expect("write seed");
        }
    }
}

/// The four corpus tests of one set of targets, for a test crate:
/// `corpus_tests!(targets, seeds(), |name| owns(name))`.
#[macro_export]
macro_rules! corpus_tests {
    ($targets:expr, $seeds:expr, $owned:expr) => {
        #[test]
        fn corpus_replays_through_every_check() {
            $crate::fuzz::replay::replay_all($targets);
        }

        #[test]
        fn every_fuzz_target_has_a_check() {
            $crate::fuzz::replay::targets_match($targets, $owned);
        }

        #[test]
        fn seeds_pass_their_checks() {
            $crate::fuzz::replay::seeds_pass($targets, $seeds);
        }

        #[test]
        fn write_seed_corpus() {
            $crate::fuzz::replay::write_seeds($seeds);
        }
    };
}
