//! For unit tests: a real vector file, read in place from `WARDEN_VECTORS` (default
//! `../shared/vectors` beside the workspace); `None` (the test skips, printing "skipped: vectors
//! not found") when absent, a failure when `WARDEN_REQUIRE_VECTORS=1`.

#![allow(clippy::panic)]

/// `kind/name` under the vectors folder, for example `("tdx", "phala_tdx_quote")`.
pub(crate) fn real(kind: &str, name: &str) -> Option<Vec<u8>> {
    let root = std::env::var_os("WARDEN_VECTORS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/vectors")
        });
    let path = root.join(kind).join(name);
    match std::fs::read(&path) {
        Ok(bytes) => Some(bytes),
        Err(_) => {
            let required = std::env::var("WARDEN_REQUIRE_VECTORS").is_ok_and(|v| v == "1");
            assert!(
                !required,
                "WARDEN_REQUIRE_VECTORS=1 but {} is missing",
                path.display()
            );
            eprintln!("skipped: vectors not found ({})", path.display());
            None
        }
    }
}
