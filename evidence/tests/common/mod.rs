//! Shared by the integration tests: locating the real vectors in `../shared/vectors` (or
//! `WARDEN_VECTORS`), reading them in place, and parsing times.

#![allow(dead_code, unreachable_pub, clippy::panic, clippy::expect_used)]

use std::path::{Path, PathBuf};

use warden_evidence::UnixTime;

/// The vectors folder for `kind` (`snp`, `tdx`, `nvidia`), or `None` after printing "skipped:
/// vectors not found". With `WARDEN_REQUIRE_VECTORS=1` (CI) a missing folder fails.
pub fn vectors(kind: &str) -> Option<PathBuf> {
    let root = std::env::var_os("WARDEN_VECTORS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/vectors"));
    let dir = root.join(kind);
    if dir.is_dir() {
        return Some(dir);
    }
    let required = std::env::var("WARDEN_REQUIRE_VECTORS").is_ok_and(|v| v == "1");
    assert!(
        !required,
        "WARDEN_REQUIRE_VECTORS=1 but {} does not exist",
        dir.display()
    );
    eprintln!("skipped: vectors not found ({})", dir.display());
    None
}

/// Reads a vector file.
pub fn read(dir: &Path, name: &str) -> Vec<u8> {
    std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Parses an RFC 3339 time.
pub fn at(s: &str) -> UnixTime {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .expect("RFC 3339");
    UnixTime(t.unix_timestamp())
}
