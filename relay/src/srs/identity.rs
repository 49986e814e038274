//! The SRS's long-term identity: a seed file created on first start (mode
//! 0600), from which its signing and HPKE keys derive.

use std::io::Write;
use std::path::Path;

use sesphr_client::identity::Identity;
use sesphr_client::primitives::os_rng;
use sesphr_client::secret::Seed;

use crate::config::StartError;

/// Loads the seed at `path`, creating it if absent.
pub fn load_or_create(path: &Path) -> Result<Identity, StartError> {
    let seed = match std::fs::read(path) {
        Ok(bytes) => Seed::from_bytes(&zeroize::Zeroizing::new(bytes))
            .map_err(|e| StartError::Setup(format!("{}: {e}", path.display())))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let seed = Seed::generate(&mut os_rng());
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
            let mut f = opts.open(path)?;
            f.write_all(seed.to_bytes().as_ref())?;
            f.sync_all()?;
            seed
        }
        Err(e) => return Err(e.into()),
    };
    Identity::from_seed(seed).map_err(|e| StartError::Setup(e.to_string()))
}
