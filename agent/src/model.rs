//! The model manifest of a directory: one SHA-256 digest per regular file (OMS method `files`).
//!
//! This is the minimal form the binding rules need: every regular file under the root, named by
//! its `/`-separated relative path, symbolic links refused. The full OpenSSF Model Signing
//! compatibility (shards, BLAKE2b/BLAKE3, ignore files, parallel hashing) extends this module.

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use warden_proto::binding::{
    BindingError, HashAlgorithm, ModelManifest, ModelResource, Serialization,
};

/// Why a model directory could not be hashed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    /// A file or directory could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// A symbolic link: refused, because it could point outside the model.
    #[error("{0} is a symbolic link; model directories must not contain links")]
    Symlink(PathBuf),
    /// Something that is neither a regular file nor a directory.
    #[error("{0} is not a regular file or directory")]
    NotAFile(PathBuf),
    /// A path that is not valid UTF-8 cannot be named in a manifest.
    #[error("{0} is not valid UTF-8")]
    NonUtf8(PathBuf),
    /// The manifest is invalid (for example an empty directory).
    #[error("{path}: {source}")]
    Manifest {
        /// The model root.
        path: PathBuf,
        /// Why.
        source: BindingError,
    },
}

/// Hashes every regular file under `root` with SHA-256 into a `files` manifest.
///
/// # Errors
///
/// [`ModelError`] naming the offending path.
pub fn hash_dir(root: &Path) -> Result<ModelManifest, ModelError> {
    let mut resources = Vec::new();
    let meta = fs::symlink_metadata(root).map_err(|source| ModelError::Io {
        path: root.to_owned(),
        source,
    })?;
    if meta.is_file() {
        // A single-file model is named by its file name.
        let name = file_name(root)?;
        resources.push(ModelResource::new(name, hash_file(root)?));
    } else {
        walk(root, root, &mut resources)?;
    }
    ModelManifest::new(Serialization::Files, HashAlgorithm::Sha256, resources).map_err(|source| {
        ModelError::Manifest {
            path: root.to_owned(),
            source,
        }
    })
}

fn file_name(path: &Path) -> Result<String, ModelError> {
    path.file_name()
        .and_then(|n| n.to_str())
        .map(str::to_owned)
        .ok_or_else(|| ModelError::NonUtf8(path.to_owned()))
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<ModelResource>) -> Result<(), ModelError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| ModelError::Io { path, source }
    };
    for entry in fs::read_dir(dir).map_err(io(dir))? {
        let entry = entry.map_err(io(dir))?;
        let path = entry.path();
        let kind = entry.file_type().map_err(io(&path))?;
        if kind.is_symlink() {
            return Err(ModelError::Symlink(path));
        } else if kind.is_dir() {
            walk(root, &path, out)?;
        } else if kind.is_file() {
            let relative = path
                .strip_prefix(root)
                .map_err(|_| ModelError::NotAFile(path.clone()))?;
            let name = relative
                .components()
                .map(|c| c.as_os_str().to_str())
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| ModelError::NonUtf8(path.clone()))?
                .join("/");
            out.push(ModelResource::new(name, hash_file(&path)?));
        } else {
            return Err(ModelError::NotAFile(path));
        }
    }
    Ok(())
}

fn hash_file(path: &Path) -> Result<Vec<u8>, ModelError> {
    let io = |source| ModelError::Io {
        path: path.to_owned(),
        source,
    };
    let mut file = File::open(path).map_err(io)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(io)?;
        let Some(chunk) = buf.get(..n) else { break };
        if n == 0 {
            break;
        }
        hasher.update(chunk);
    }
    Ok(hasher.finalize().to_vec())
}

#[cfg(test)]
mod tests {
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
        std::os::unix::fs::symlink("/etc/passwd", dir.path().join("link")).unwrap();
        assert!(matches!(hash_dir(dir.path()), Err(ModelError::Symlink(_))));
    }

    #[test]
    fn an_empty_directory_is_not_a_model() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            hash_dir(dir.path()),
            Err(ModelError::Manifest {
                source: BindingError::NoResources,
                ..
            })
        ));
    }
}
