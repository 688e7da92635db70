//! Hashing a model the way its signer did: the options a signed OMS statement implies.

use std::path::Path;

use warden_proto::binding::ModelManifest;

use crate::hash::HashOptions;

/// The options that hash a model exactly as the statement whose manifest is `signed` says:
/// its method, hash and shard size; the paths the signer ignored (`signer_ignore_paths`, which
/// already hold the root git paths it left out, so git paths are not added again); and whether
/// it followed symbolic links.
///
/// Nothing else is left out, not even the signature bundle when it lies inside the model:
/// model-signing's CLI records that path among the ignored ones when it writes the bundle
/// there, and the verifier checks those paths against its rules. Skipping the bundle's path
/// on the side would let any file be hidden from the hash by naming it as the bundle.
pub fn options_for_signed(
    signed: &ModelManifest,
    signer_ignore_paths: &[String],
    allow_symlinks: bool,
) -> HashOptions {
    HashOptions {
        serialization: signed.serialization(),
        algorithm: signed.hash_algorithm(),
        ignore_paths: signer_ignore_paths.to_vec(),
        ignore_git_paths: false,
        allow_symlinks,
        threads: 0,
    }
}

/// `file`'s path relative to the directory `root`, with `/` separators, if it lies inside it
/// (both resolved, so `./m/../m/model.sig` counts).
pub fn relative_inside(root: &Path, file: &Path) -> Option<String> {
    let root = std::fs::canonicalize(root).ok()?;
    let file = std::fs::canonicalize(file).ok()?;
    let relative = file.strip_prefix(&root).ok()?;
    let parts: Option<Vec<&str>> = relative
        .components()
        .map(|c| c.as_os_str().to_str())
        .collect();
    let parts = parts?;
    (!parts.is_empty()).then(|| parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_inside_the_model_is_ignored_outside_is_not() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("m")).unwrap();
        std::fs::create_dir(dir.path().join("m/sub")).unwrap();
        std::fs::write(dir.path().join("m/sub/model.sig"), b"{}").unwrap();
        std::fs::write(dir.path().join("outside.sig"), b"{}").unwrap();
        let m = dir.path().join("m");
        assert_eq!(
            relative_inside(&m, &dir.path().join("m/../m/sub/model.sig")).as_deref(),
            Some("sub/model.sig")
        );
        assert_eq!(relative_inside(&m, &dir.path().join("outside.sig")), None);
        assert_eq!(relative_inside(&m, &m), None);
    }
}
