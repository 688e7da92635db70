//! The model this CVM serves, hashed into its OpenSSF Model Signing manifest
//! (`warden_model::hash`): every regular file under the root, named by its `/`-separated
//! relative path, with the model-signing 1.1.1 rules (root git files ignored, symbolic links
//! refused by default, a single-file model named `.`).

use std::path::Path;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
pub use warden_model::hash::{
    HashError as ModelError, HashOptions, HashedModel, NoProgress, Progress, hash_model,
};
use warden_proto::binding::ModelManifest;

/// Hashes the model at `root` with the default options (`files`, SHA-256, root git paths
/// ignored, links refused, all cores) into its manifest.
///
/// # Errors
///
/// [`ModelError`] naming the offending path.
pub fn hash_dir(root: &Path) -> Result<ModelManifest, ModelError> {
    hash_model(root, &HashOptions::default(), &NoProgress).map(|h| h.manifest)
}

/// A progress bar on stderr, drawn only when stderr is a terminal.
#[derive(Debug)]
pub struct TerminalProgress {
    bar: ProgressBar,
}

impl TerminalProgress {
    /// A bar on stderr; hidden when stderr is not a terminal.
    pub fn stderr() -> Self {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        if !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            bar.set_draw_target(ProgressDrawTarget::hidden());
        }
        Self { bar }
    }
}

impl Progress for TerminalProgress {
    fn start(&self, total_bytes: u64, files: usize) {
        self.bar.set_length(total_bytes);
        if let Ok(style) = ProgressStyle::with_template(
            "{msg} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}",
        ) {
            self.bar.set_style(style.progress_chars("=> "));
        }
        self.bar.set_message(format!("hashing {files} files"));
    }

    fn advance(&self, bytes: u64) {
        self.bar.inc(bytes);
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;

    #[test]
    fn hashes_files_by_relative_path_and_refuses_links() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("sub")).unwrap();
        fs::write(dir.path().join("config.json"), b"{}").unwrap();
        fs::write(dir.path().join("sub/weights.bin"), b"").unwrap();
        let m = hash_dir(dir.path()).unwrap();
        let names: Vec<_> = m.resources().iter().map(|r| r.name().to_owned()).collect();
        assert_eq!(names, ["config.json", "sub/weights.bin"]);
        assert_eq!(
            hex::encode(m.resources()[1].digest()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let link = dir.path().join("link");
        std::os::unix::fs::symlink("/etc/passwd", &link).unwrap();
        assert_eq!(
            hash_dir(dir.path()),
            Err(ModelError::Symlink { path: link })
        );
    }

    #[test]
    fn a_single_file_is_named_dot() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("model.gguf");
        fs::write(&file, b"gguf").unwrap();
        let m = hash_dir(&file).unwrap();
        assert_eq!(m.resources()[0].name(), ".");
    }

    #[test]
    fn an_empty_directory_is_not_a_model() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            hash_dir(dir.path()),
            Err(ModelError::NoFiles {
                root: dir.path().to_owned()
            })
        );
    }
}
