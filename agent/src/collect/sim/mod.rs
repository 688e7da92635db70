//! Simulated CVMs for tests and demos: evidence in the real byte formats, signed by generated
//! vendor-like hierarchies kept in the agent's state directory under `<state_dir>/sim/`.
//!
//! - [`SimulatedSnp`] ([`snp`]): SEV-SNP reports and certificate tables, one directory per
//!   product (`sim/milan/`, `sim/genoa/`, `sim/turin/`).
//! - [`SimulatedTdx`] ([`tdx`]): TDX quotes and the DCAP collateral to verify them (`sim/tdx/`).
//! - [`SimulatedGpus`] ([`nvidia`]): NVIDIA GPU attestation reports and certificate chains
//!   (`sim/nvidia/`).
//!
//! A verifier accepts simulated evidence only when its operator configures the generated roots
//! as insecure test roots; nothing here is ever used unless asked for with `--simulate`.

pub mod nvidia;
pub mod snp;
pub mod tdx;

pub use nvidia::SimulatedGpus;
pub use snp::SimulatedSnp;
pub use tdx::SimulatedTdx;

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use rand_core::{OsRng, RngCore, UnwrapErr};

use super::CollectError;

/// A hierarchy, owned or shared with the rest of the process (tests).
#[derive(Debug)]
enum Held<T: 'static> {
    Owned(Box<T>),
    Shared(&'static T),
}

impl<T> std::ops::Deref for Held<T> {
    type Target = T;

    fn deref(&self) -> &T {
        match self {
            Self::Owned(t) => t,
            Self::Shared(t) => t,
        }
    }
}

/// Makes `dir` (mode 0700) and its parents as needed.
fn make_dir(dir: &Path) -> Result<(), CollectError> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(CollectError::io("create", dir))
}

/// `<sim_dir>/<name>`, made on first use: `fill` writes the content into a temporary directory
/// beside it, which is then renamed into place, so a reader sees all of it or nothing. When
/// another process wins the race, its directory is used.
fn create_once(
    sim_dir: &Path,
    name: &str,
    fill: impl FnOnce(&Path) -> Result<(), CollectError>,
) -> Result<PathBuf, CollectError> {
    make_dir(sim_dir)?;
    let dir = sim_dir.join(name);
    if dir.exists() {
        return Ok(dir);
    }
    let tmp = sim_dir.join(format!(
        ".{name}.tmp-{}-{:08x}",
        std::process::id(),
        UnwrapErr(OsRng).next_u32()
    ));
    let placed = make_dir(&tmp).and_then(|()| fill(&tmp)).and_then(|()| {
        fs::rename(&tmp, &dir).or_else(|e| {
            // Another agent won the race: use its CVM.
            if dir.exists() {
                Ok(())
            } else {
                Err(CollectError::io("rename", &tmp)(e))
            }
        })
    });
    if tmp.exists() {
        // Best effort: a stale temporary directory is harmless.
        let _ = fs::remove_dir_all(&tmp);
    }
    placed.map(|()| dir)
}

/// Writes a new file with `mode`; an existing file is an error.
fn write_file(path: &Path, bytes: &[u8], mode: u32) -> Result<(), CollectError> {
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .and_then(|mut f| f.write_all(bytes).and_then(|()| f.sync_all()))
        .map_err(CollectError::io("write", path))
}

/// Replaces `path` with `bytes` (mode `mode`) atomically: a new file beside it, renamed over.
fn replace_file(path: &Path, bytes: &[u8], mode: u32) -> Result<(), CollectError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(
        ".{name}.tmp-{}-{:08x}",
        std::process::id(),
        UnwrapErr(OsRng).next_u32()
    ));
    let result = write_file(&tmp, bytes, mode)
        .and_then(|()| fs::rename(&tmp, path).map_err(CollectError::io("rename", &tmp)));
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

fn read_file(path: &Path) -> Result<Vec<u8>, CollectError> {
    fs::read(path).map_err(CollectError::io("read", path))
}

/// Writes a generated hierarchy's export (`hierarchy.json`, 0600: it holds private keys) and its
/// root certificate (`root_file`, 0644, for the verifier's configuration) into `dir`.
fn save_hierarchy<T: serde::Serialize>(
    dir: &Path,
    export: &T,
    root_file: &str,
    root_pem: &str,
) -> Result<(), CollectError> {
    let path = dir.join(HIERARCHY_FILE);
    let json = zeroize::Zeroizing::new(
        serde_json::to_vec_pretty(export)
            .map_err(|_| malformed(&path, "cannot encode the hierarchy"))?,
    );
    write_file(&path, &json, 0o600)?;
    write_file(&dir.join(root_file), root_pem.as_bytes(), 0o644)
}

/// Reads the export [`save_hierarchy`] wrote; `what` names the file's expected content in the
/// error.
fn load_hierarchy<T: serde::de::DeserializeOwned>(
    dir: &Path,
    what: &'static str,
) -> Result<T, CollectError> {
    let path = dir.join(HIERARCHY_FILE);
    let json = zeroize::Zeroizing::new(read_file(&path)?);
    serde_json::from_slice(&json).map_err(|_| malformed(&path, what))
}

/// Puts `root_file` back when it no longer holds `root_pem` (it only restates the hierarchy's
/// root, which the verifier's configuration names).
fn restore_root(dir: &Path, root_file: &str, root_pem: &str) -> Result<(), CollectError> {
    let path = dir.join(root_file);
    if fs::read(&path).ok().as_deref() != Some(root_pem.as_bytes()) {
        replace_file(&path, root_pem.as_bytes(), 0o644)?;
    }
    Ok(())
}

/// The file holding a simulated hierarchy's export, in its directory.
const HIERARCHY_FILE: &str = "hierarchy.json";

fn malformed(path: &Path, reason: &'static str) -> CollectError {
    CollectError::Malformed {
        path: path.to_path_buf(),
        reason,
    }
}
