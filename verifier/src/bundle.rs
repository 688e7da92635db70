//! Reading an operator's offline bundle: one file, or a directory of files (one level, hidden
//! files skipped, sorted), each read whole under a size limit. Shared by `collateral import`,
//! `rims import` and the OCSP response readers, which map [`BundleError`] into their own errors.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// Why a bundle could not be listed or a file of it read.
#[derive(Debug)]
pub(crate) enum BundleError {
    /// A file or directory could not be read.
    Read { path: PathBuf, source: io::Error },
    /// A directory holds no files.
    Empty { path: PathBuf },
    /// A directory holds a subdirectory.
    Nested { path: PathBuf },
    /// A file is larger than the limit.
    TooLarge { path: PathBuf, len: u64 },
}

fn read_err(path: &Path) -> impl FnOnce(io::Error) -> BundleError {
    let path = path.to_path_buf();
    move |source| BundleError::Read { path, source }
}

/// The files of `path`: itself if it is a file, else the directory's regular files (hidden ones
/// skipped), sorted; a subdirectory or an empty directory is an error.
pub(crate) fn files(path: &Path) -> Result<Vec<PathBuf>, BundleError> {
    if !fs::metadata(path).map_err(read_err(path))?.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files = Vec::new();
    for entry in fs::read_dir(path).map_err(read_err(path))? {
        let entry = entry.map_err(read_err(path))?;
        let child = entry.path();
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        if fs::metadata(&child).map_err(read_err(&child))?.is_dir() {
            return Err(BundleError::Nested { path: child });
        }
        files.push(child);
    }
    files.sort();
    if files.is_empty() {
        return Err(BundleError::Empty {
            path: path.to_path_buf(),
        });
    }
    Ok(files)
}

/// The bytes of `file`, refused when larger than `max` bytes.
pub(crate) fn read(file: &Path, max: u64) -> Result<Vec<u8>, BundleError> {
    let len = fs::metadata(file).map_err(read_err(file))?.len();
    if len > max {
        return Err(BundleError::TooLarge {
            path: file.to_path_buf(),
            len,
        });
    }
    fs::read(file).map_err(read_err(file))
}
