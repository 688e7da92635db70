//! Opening an age-encrypted model: decrypt into a target directory in one streaming pass that
//! also hashes the plaintext, and keep the result only if its manifest equals the expected one
//! (the manifest bound into the attestation, `docs/protocol.md` 3.3).
//!
//! Every file is written into a staging directory (`OUTPUT/.warden-open.partial`, files 0600)
//! and moved into place only after all files are written and synced and the plaintext manifest
//! equals the expected manifest. On any error or cancellation everything written is removed,
//! so no partial or unverified plaintext is left behind. A staging directory left by a killed
//! run is removed when the next run starts.
//!
//! Memory is bounded whatever the model size: each file streams through a few
//! [`CHUNK_SIZE`] buffers, at most [`MAX_THREADS`] files at a time.

use std::collections::HashMap;
use std::fs::{self, DirBuilder, File};
use std::io::{self, BufReader, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};

use warden_model::FileHasher;
use warden_proto::binding::{ModelManifest, ModelResource};

/// The staging directory inside the output directory.
pub const STAGING_DIR: &str = ".warden-open.partial";

/// The signature file skipped at the input root unless told otherwise.
pub const DEFAULT_SIGNATURE_NAME: &str = "model.sig";

/// The suffix of an encrypted file; `X.age` opens to `X`.
pub const AGE_SUFFIX: &str = ".age";

/// Bytes moved per step of the pipeline (and between cancellation checks).
pub const CHUNK_SIZE: usize = 1 << 20;

/// The most files opened at once. Each holds at most four chunks, so buffers stay under 32 MiB.
pub const MAX_THREADS: usize = 8;

/// Chunks in flight per file: one being decrypted, one being hashed, one being written, one
/// queued.
const BUFFERS_PER_FILE: usize = 4;

/// Files up to this size are read, hashed and written on one thread: a second thread would
/// cost more than it saves.
const PIPELINE_MIN: u64 = 2 * CHUNK_SIZE as u64;

/// The read buffer under age's stream reader: smaller than age's 64 KiB + 16 encrypted chunk, so
/// that once the header is parsed the chunks are read straight into age's buffer, not copied
/// through this one.
const READ_BUFFER: usize = 64 * 1024;

/// How a binary age file starts (`age-encryption.org/v1`).
const AGE_MAGIC: &[u8] = b"age-encryption.org/";

/// How an ASCII-armored age file (`age -a`) starts.
const AGE_ARMOR: &[u8] = b"-----BEGIN AGE ENCRYPTED FILE-----";

/// The most names listed in a mismatch message (the error value keeps all of them).
const NAMES_SHOWN: usize = 8;

/// How to open a model.
#[derive(Debug, Clone)]
pub struct OpenOptions {
    /// A file at the input root that is not part of the model (its OMS signature bundle);
    /// skipped. `None` skips nothing. Default [`DEFAULT_SIGNATURE_NAME`].
    pub signature_name: Option<String>,
    /// Files opened in parallel (largest first); 0 means a third of the CPUs (rounded up). At most
    /// [`MAX_THREADS`]. A file larger than two chunks also runs decryption, hashing and
    /// writing on three threads of its own, chunks handed along bounded channels.
    pub threads: usize,
    /// Set it (from a SIGINT/SIGTERM handler, say) to stop between chunks; the call then
    /// removes what it wrote and returns [`OpenError::Cancelled`].
    pub cancel: Option<Arc<AtomicBool>>,
}

impl Default for OpenOptions {
    fn default() -> Self {
        Self {
            signature_name: Some(DEFAULT_SIGNATURE_NAME.to_owned()),
            threads: 0,
            cancel: None,
        }
    }
}

/// A model opened, verified and in place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenedModel {
    /// Files written.
    pub files: usize,
    /// Plaintext bytes written.
    pub bytes: u64,
    /// The plaintext manifest; equal to the expected one in everything `M` covers.
    pub manifest: ModelManifest,
}

/// Why a model could not be opened. Nothing written is left behind when one is returned
/// (unless it is [`OpenError::Cleanup`]). No variant carries key or plaintext bytes.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// A filesystem operation failed.
    #[error("{op} {path}: {message}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The kind of I/O error.
        kind: io::ErrorKind,
        /// The I/O error's message.
        message: String,
    },
    /// The output directory has something in it; nothing was written.
    #[error(
        "output directory {path} is not empty ({entry} is in it); open into an empty or new directory"
    )]
    OutputNotEmpty {
        /// The output directory.
        path: PathBuf,
        /// One entry found in it.
        entry: String,
    },
    /// The output exists and is not a directory.
    #[error("output {path} is not a directory")]
    OutputNotDirectory {
        /// The output path.
        path: PathBuf,
    },
    /// A symbolic link inside the input: refused, it could point outside the model.
    #[error("{path} is a symbolic link; model inputs must not contain links")]
    Symlink {
        /// The link.
        path: PathBuf,
    },
    /// Something in the input that is neither a regular file nor a directory.
    #[error("{path} is not a regular file or directory")]
    SpecialFile {
        /// The path.
        path: PathBuf,
    },
    /// A path that is not valid UTF-8 cannot be named in a manifest.
    #[error("{path} is not valid UTF-8 and cannot be named in a manifest")]
    NonUtf8 {
        /// The path.
        path: PathBuf,
    },
    /// An input name that cannot be opened to a plaintext name: `.age` alone, or the staging
    /// directory's name.
    #[error("{path}: this name cannot be opened (it opens to an empty or reserved name)")]
    ReservedName {
        /// The path.
        path: PathBuf,
    },
    /// Two inputs open to the same plaintext name (`a` and `a.age`).
    #[error("{first} and {second} both open to {name:?}")]
    DuplicateName {
        /// The plaintext name.
        name: String,
        /// One input.
        first: PathBuf,
        /// The other.
        second: PathBuf,
    },
    /// A `.age` file that is not an age file.
    #[error("{path} is not an age file (no age-encryption.org header)")]
    NotAgeFile {
        /// The file.
        path: PathBuf,
    },
    /// An ASCII-armored age file (`age -a`); encrypt without `-a`.
    #[error("{path} is an ASCII-armored age file; encrypt the model without -a")]
    Armored {
        /// The file.
        path: PathBuf,
    },
    /// An age file of a format version this agent does not know.
    #[error("{path} is an age file of an unknown format version")]
    UnknownAgeVersion {
        /// The file.
        path: PathBuf,
    },
    /// An age file encrypted to a passphrase rather than to an X25519 recipient.
    #[error("{path} is encrypted to a passphrase; encrypt the model with age -r RECIPIENT")]
    Passphrase {
        /// The file.
        path: PathBuf,
    },
    /// The file is not encrypted to the released identity (age: no matching keys).
    #[error(
        "{path} is not encrypted to the released identity (check the recipient with \
         `warden-verifier keys recipient KEY_ID`)"
    )]
    WrongIdentity {
        /// The file.
        path: PathBuf,
    },
    /// The ciphertext failed authentication (age's header MAC or a payload chunk tag): it was
    /// altered or damaged.
    #[error("{path}: ciphertext is corrupt (age authentication failed)")]
    Corrupt {
        /// The file.
        path: PathBuf,
    },
    /// The ciphertext ends before its last chunk: the file was cut short.
    #[error("{path}: ciphertext is truncated")]
    Truncated {
        /// The file.
        path: PathBuf,
    },
    /// The plaintext manifest differs from the expected one.
    #[error(
        "the plaintext does not match the expected manifest: missing {}, extra {}, changed {}",
        names(missing),
        names(extra),
        names(changed)
    )]
    ManifestMismatch {
        /// Names in the expected manifest that the plaintext lacks.
        missing: Vec<String>,
        /// Names in the plaintext that the expected manifest lacks.
        extra: Vec<String>,
        /// Names in both whose digests differ.
        changed: Vec<String>,
    },
    /// The released key is not exactly one age X25519 identity.
    #[error("the released key is not an age X25519 identity: {reason}")]
    BadIdentity {
        /// What is wrong with it (never the key text).
        reason: &'static str,
    },
    /// The cancellation flag was set.
    #[error("cancelled")]
    Cancelled,
    /// A worker thread panicked.
    #[error("a worker thread panicked")]
    WorkerPanicked,
    /// Opening failed, and removing what it had written failed too: plaintext may be left.
    #[error("{cause}; and removing what was written failed: {path}: {message}")]
    Cleanup {
        /// The path that could not be removed.
        path: PathBuf,
        /// Why.
        message: String,
        /// The error that made the cleanup necessary.
        cause: Box<OpenError>,
    },
}

impl OpenError {
    fn io(op: &'static str, path: &Path, err: &io::Error) -> Self {
        OpenError::Io {
            op,
            path: path.to_path_buf(),
            kind: err.kind(),
            message: err.to_string(),
        }
    }
}

/// The age X25519 identity in released key material, or in an identity file: exactly one
/// `AGE-SECRET-KEY-1...` line, blank lines and `#` comments allowed (what `age-keygen` writes,
/// and what `warden-verifier keys add --age` stores).
///
/// # Errors
///
/// [`OpenError::BadIdentity`]; the reason never quotes the key.
pub fn parse_identity(material: &[u8]) -> Result<age::x25519::Identity, OpenError> {
    let bad = |reason| OpenError::BadIdentity { reason };
    let text = std::str::from_utf8(material).map_err(|_| bad("not UTF-8 text"))?;
    let mut found = None;
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if found.is_some() {
            return Err(bad("more than one identity line"));
        }
        if !line.starts_with("AGE-SECRET-KEY-1") {
            return Err(bad("a line is not an AGE-SECRET-KEY-1 identity"));
        }
        found = Some(
            line.parse()
                .map_err(|_| bad("the AGE-SECRET-KEY-1 line is not a valid X25519 identity"))?,
        );
    }
    found.ok_or(bad("no identity line"))
}

fn names(list: &[String]) -> String {
    if list.is_empty() {
        return "none".to_owned();
    }
    let shown: Vec<&str> = list.iter().take(NAMES_SHOWN).map(String::as_str).collect();
    let mut out = format!("[{}]", shown.join(", "));
    if list.len() > NAMES_SHOWN {
        out.push_str(&format!(" and {} more", list.len() - NAMES_SHOWN));
    }
    out
}

/// One input file and where it goes.
#[derive(Debug)]
struct Job {
    /// The input file.
    source: PathBuf,
    /// Its plaintext name in the manifest.
    name: String,
    /// Its plaintext path under the output (and staging) directory.
    relative: PathBuf,
    /// Whether it is age-encrypted (`.age`) or copied as it is.
    encrypted: bool,
    /// Its input size, for largest-first scheduling.
    size: u64,
}

/// Decrypts (`X.age` -> `X`) or copies every file of `input` into `output`, hashing the
/// plaintext on the way with `expected`'s hash algorithm and serialization, and keeps the
/// result only if the plaintext manifest equals `expected`.
///
/// `input` is a directory (followed if it is a link; links and special files inside it are
/// refused) or one file, which opens to `output/NAME` (`.age` removed) with the manifest name
/// `.`, as OMS names a single-file model. `output` must be an empty directory or not exist (it
/// is then created, mode 0700, and removed again on failure); a stale staging directory in it is
/// removed first.
///
/// # Errors
///
/// [`OpenError`]; nothing written is left behind.
pub fn open_model(
    identity: &age::x25519::Identity,
    input: &Path,
    output: &Path,
    expected: &ModelManifest,
    opts: &OpenOptions,
) -> Result<OpenedModel, OpenError> {
    let jobs = collect_jobs(input, opts.signature_name.as_deref())?;
    let created = prepare_output(output)?;
    let staging = output.join(STAGING_DIR);
    let mut renamed = Vec::new();
    match open_staged(
        identity,
        &jobs,
        output,
        &staging,
        expected,
        opts,
        &mut renamed,
    ) {
        Ok(opened) => {
            tracing::info!(
                output = %output.display(),
                files = opened.files,
                bytes = opened.bytes,
                "opened model; plaintext matches the expected manifest"
            );
            Ok(opened)
        }
        Err(cause) => Err(cleanup(output, &staging, &renamed, created, cause)),
    }
}

fn open_staged(
    identity: &age::x25519::Identity,
    jobs: &[Job],
    output: &Path,
    staging: &Path,
    expected: &ModelManifest,
    opts: &OpenOptions,
    renamed: &mut Vec<PathBuf>,
) -> Result<OpenedModel, OpenError> {
    let dirs = make_staging(staging, jobs)?;
    let cancel = opts.cancel.as_deref();
    let (mut resources, bytes) = run_jobs(identity, jobs, staging, expected, opts)?;
    if is_set(cancel) {
        return Err(OpenError::Cancelled);
    }
    check_manifest(expected, &mut resources)?;
    let dropped = drop_unlisted_empty_files(jobs, staging, expected)?;
    // Entries of the directories must be durable before they are moved into place.
    for dir in &dirs {
        sync_dir(dir)?;
    }
    let entries = fs::read_dir(staging).map_err(|e| OpenError::io("read", staging, &e))?;
    for entry in entries {
        let entry = entry.map_err(|e| OpenError::io("read", staging, &e))?;
        let to = output.join(entry.file_name());
        fs::rename(entry.path(), &to).map_err(|e| OpenError::io("rename", &to, &e))?;
        renamed.push(to);
    }
    fs::remove_dir(staging).map_err(|e| OpenError::io("remove", staging, &e))?;
    sync_dir(output)?;
    Ok(OpenedModel {
        files: jobs.len() - dropped,
        bytes,
        // Equal to the plaintext manifest in serialization, algorithm and resources.
        manifest: expected.clone(),
    })
}

fn is_set(flag: Option<&AtomicBool>) -> bool {
    flag.is_some_and(|f| f.load(Ordering::Relaxed))
}

/// An OMS `shards` manifest lists no resource for an empty file (model-signing drops them),
/// so an empty file is not described by the manifest that was checked: it is removed from the
/// staging directory rather than placed unverified. (`files` manifests list empty files, and
/// `check_manifest` has already compared them.)
fn drop_unlisted_empty_files(
    jobs: &[Job],
    staging: &Path,
    expected: &ModelManifest,
) -> Result<usize, OpenError> {
    if expected.serialization().shard_size().is_none() {
        return Ok(0);
    }
    let mut dropped = 0;
    for job in jobs {
        let staged = staging.join(&job.relative);
        let len = fs::metadata(&staged)
            .map_err(|e| OpenError::io("stat", &staged, &e))?
            .len();
        if len == 0 {
            fs::remove_file(&staged).map_err(|e| OpenError::io("remove", &staged, &e))?;
            tracing::warn!(
                name = %job.name,
                "empty file not placed: a shards manifest does not describe empty files"
            );
            dropped += 1;
        }
    }
    Ok(dropped)
}

fn sync_dir(dir: &Path) -> Result<(), OpenError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| OpenError::io("sync directory", dir, &e))
}

/// Compares the plaintext resources with the expected manifest's.
fn check_manifest(
    expected: &ModelManifest,
    resources: &mut [ModelResource],
) -> Result<(), OpenError> {
    resources.sort_by(|a, b| a.name().cmp(b.name()));
    let got: HashMap<&str, &[u8]> = resources.iter().map(|r| (r.name(), r.digest())).collect();
    let mut missing = Vec::new();
    let mut changed = Vec::new();
    for want in expected.resources() {
        match got.get(want.name()) {
            None => missing.push(want.name().to_owned()),
            Some(digest) if *digest != want.digest() => changed.push(want.name().to_owned()),
            Some(_) => {}
        }
    }
    let known: HashMap<&str, ()> = expected
        .resources()
        .iter()
        .map(|r| (r.name(), ()))
        .collect();
    let extra: Vec<String> = resources
        .iter()
        .filter(|r| !known.contains_key(r.name()))
        .map(|r| r.name().to_owned())
        .collect();
    if missing.is_empty() && extra.is_empty() && changed.is_empty() {
        Ok(())
    } else {
        Err(OpenError::ManifestMismatch {
            missing,
            extra,
            changed,
        })
    }
}

/// Lists the files to open, largest first.
fn collect_jobs(input: &Path, signature: Option<&str>) -> Result<Vec<Job>, OpenError> {
    let meta = fs::metadata(input).map_err(|e| OpenError::io("stat", input, &e))?;
    let mut jobs = Vec::new();
    if meta.is_file() {
        let file_name =
            input
                .file_name()
                .and_then(|n| n.to_str())
                .ok_or_else(|| OpenError::NonUtf8 {
                    path: input.to_owned(),
                })?;
        let (plain, encrypted) = plaintext_name(file_name, input)?;
        jobs.push(Job {
            source: input.to_owned(),
            name: ".".to_owned(),
            relative: PathBuf::from(plain),
            encrypted,
            size: meta.len(),
        });
    } else if meta.is_dir() {
        let mut seen = HashMap::new();
        walk(input, input, signature, &mut seen, &mut jobs)?;
    } else {
        return Err(OpenError::SpecialFile {
            path: input.to_owned(),
        });
    }
    jobs.sort_by(|a, b| b.size.cmp(&a.size).then_with(|| a.name.cmp(&b.name)));
    Ok(jobs)
}

/// `X.age` -> (`X`, true); anything else as it is.
fn plaintext_name<'a>(file_name: &'a str, path: &Path) -> Result<(&'a str, bool), OpenError> {
    let (plain, encrypted) = match file_name.strip_suffix(AGE_SUFFIX) {
        Some(stem) => (stem, true),
        None => (file_name, false),
    };
    if plain.is_empty() || plain == STAGING_DIR {
        return Err(OpenError::ReservedName {
            path: path.to_owned(),
        });
    }
    Ok((plain, encrypted))
}

fn walk(
    root: &Path,
    dir: &Path,
    signature: Option<&str>,
    seen: &mut HashMap<String, PathBuf>,
    jobs: &mut Vec<Job>,
) -> Result<(), OpenError> {
    let entries = fs::read_dir(dir).map_err(|e| OpenError::io("read", dir, &e))?;
    for entry in entries {
        let entry = entry.map_err(|e| OpenError::io("read", dir, &e))?;
        let path = entry.path();
        let kind = entry
            .file_type()
            .map_err(|e| OpenError::io("stat", &path, &e))?;
        let non_utf8 = || OpenError::NonUtf8 { path: path.clone() };
        let file_name = entry.file_name();
        let file_name = file_name.to_str().ok_or_else(non_utf8)?;
        if kind.is_symlink() {
            return Err(OpenError::Symlink { path });
        } else if kind.is_dir() {
            if dir == root && file_name == STAGING_DIR {
                return Err(OpenError::ReservedName { path });
            }
            walk(root, &path, signature, seen, jobs)?;
        } else if kind.is_file() {
            if dir == root && signature == Some(file_name) {
                continue;
            }
            let (plain, encrypted) = plaintext_name(file_name, &path)?;
            let parent = dir.strip_prefix(root).unwrap_or(Path::new(""));
            let relative = parent.join(plain);
            let name = relative
                .components()
                .map(|c| c.as_os_str().to_str())
                .collect::<Option<Vec<_>>>()
                .ok_or_else(non_utf8)?
                .join("/");
            if let Some(first) = seen.insert(name.clone(), path.clone()) {
                return Err(OpenError::DuplicateName {
                    name,
                    first,
                    second: path,
                });
            }
            let size = entry
                .metadata()
                .map_err(|e| OpenError::io("stat", &path, &e))?
                .len();
            jobs.push(Job {
                source: path,
                name,
                relative,
                encrypted,
                size,
            });
        } else {
            return Err(OpenError::SpecialFile { path });
        }
    }
    Ok(())
}

/// Checks the output is an empty directory or creates it (0700); removes a stale staging
/// directory. Returns whether it created the output.
fn prepare_output(output: &Path) -> Result<bool, OpenError> {
    match fs::metadata(output) {
        Ok(meta) if !meta.is_dir() => Err(OpenError::OutputNotDirectory {
            path: output.to_owned(),
        }),
        Ok(_) => {
            let staging = output.join(STAGING_DIR);
            if fs::symlink_metadata(&staging).is_ok() {
                tracing::warn!(
                    path = %staging.display(),
                    "removing a staging directory left by an interrupted open"
                );
                remove_all(&staging).map_err(|e| OpenError::io("remove", &staging, &e))?;
            }
            let mut entries =
                fs::read_dir(output).map_err(|e| OpenError::io("read", output, &e))?;
            match entries.next() {
                None => Ok(false),
                Some(entry) => {
                    let entry = entry.map_err(|e| OpenError::io("read", output, &e))?;
                    Err(OpenError::OutputNotEmpty {
                        path: output.to_owned(),
                        entry: entry.file_name().to_string_lossy().into_owned(),
                    })
                }
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            DirBuilder::new()
                .mode(0o700)
                .create(output)
                .map_err(|e| OpenError::io("create directory", output, &e))?;
            Ok(true)
        }
        Err(e) => Err(OpenError::io("stat", output, &e)),
    }
}

/// Creates the staging directory and every directory the jobs write into (0700); returns them
/// all, deepest last.
fn make_staging(staging: &Path, jobs: &[Job]) -> Result<Vec<PathBuf>, OpenError> {
    DirBuilder::new()
        .mode(0o700)
        .create(staging)
        .map_err(|e| OpenError::io("create directory", staging, &e))?;
    let mut dirs = vec![staging.to_owned()];
    let mut parents: Vec<&Path> = jobs
        .iter()
        .filter_map(|j| j.relative.parent())
        .filter(|p| !p.as_os_str().is_empty())
        .collect();
    parents.sort();
    parents.dedup();
    for parent in parents {
        let mut path = staging.to_owned();
        for component in parent.components() {
            path.push(component);
            if !dirs.contains(&path) {
                DirBuilder::new()
                    .mode(0o700)
                    .create(&path)
                    .map_err(|e| OpenError::io("create directory", &path, &e))?;
                dirs.push(path.clone());
            }
        }
    }
    Ok(dirs)
}

fn remove_all(path: &Path) -> io::Result<()> {
    let meta = fs::symlink_metadata(path)?;
    if meta.is_dir() {
        fs::remove_dir_all(path)
    } else {
        fs::remove_file(path)
    }
}

/// Removes the staging directory, whatever was already moved into place, and the output if
/// this call created it.
fn cleanup(
    output: &Path,
    staging: &Path,
    renamed: &[PathBuf],
    created: bool,
    cause: OpenError,
) -> OpenError {
    let mut failed = None;
    for path in renamed.iter().map(PathBuf::as_path).chain([staging]) {
        match remove_all(path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::error!(path = %path.display(), error = %e, "cannot remove plaintext");
                failed.get_or_insert((path.to_owned(), e.to_string()));
            }
        }
    }
    if created
        && failed.is_none()
        && let Err(e) = fs::remove_dir(output)
    {
        failed = Some((output.to_owned(), e.to_string()));
    }
    tracing::warn!(output = %output.display(), error = %cause, "model not opened; removed what was written");
    match failed {
        Some((path, message)) => OpenError::Cleanup {
            path,
            message,
            cause: Box::new(cause),
        },
        None => cause,
    }
}

/// Why a job stopped: its own error, or another job's (which is reported instead).
enum Halt {
    Error(OpenError),
    Stopped,
}

impl From<OpenError> for Halt {
    fn from(e: OpenError) -> Self {
        Halt::Error(e)
    }
}

/// What every job shares.
struct Shared<'a> {
    identity: &'a age::x25519::Identity,
    staging: &'a Path,
    expected: &'a ModelManifest,
    cancel: Option<&'a AtomicBool>,
    /// Set when any job fails, so the others stop early.
    stop: AtomicBool,
}

impl Shared<'_> {
    fn check(&self) -> Result<(), Halt> {
        if is_set(self.cancel) {
            return Err(Halt::Error(OpenError::Cancelled));
        }
        if self.stop.load(Ordering::Relaxed) {
            return Err(Halt::Stopped);
        }
        Ok(())
    }
}

fn run_jobs(
    identity: &age::x25519::Identity,
    jobs: &[Job],
    staging: &Path,
    expected: &ModelManifest,
    opts: &OpenOptions,
) -> Result<(Vec<ModelResource>, u64), OpenError> {
    let shared = Shared {
        identity,
        staging,
        expected,
        cancel: opts.cancel.as_deref(),
        stop: AtomicBool::new(false),
    };
    let threads = match opts.threads {
        // Each large file keeps three threads busy (decrypt, hash, write).
        0 => std::thread::available_parallelism().map_or(1, |n| n.get().div_ceil(3)),
        n => n,
    }
    .clamp(1, MAX_THREADS)
    .min(jobs.len().max(1));
    let next = AtomicUsize::new(0);
    let bytes = AtomicU64::new(0);
    let resources = Mutex::new(Vec::new());
    let error: Mutex<Option<OpenError>> = Mutex::new(None);
    let fail = |e: OpenError| {
        shared.stop.store(true, Ordering::Relaxed);
        if let Ok(mut slot) = error.lock() {
            slot.get_or_insert(e);
        }
    };
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    while let Some(job) = jobs.get(next.fetch_add(1, Ordering::Relaxed)) {
                        match open_file(&shared, job) {
                            Ok((done, len)) => {
                                bytes.fetch_add(len, Ordering::Relaxed);
                                if let Ok(mut all) = resources.lock() {
                                    all.extend(done);
                                }
                            }
                            Err(Halt::Error(e)) => {
                                fail(e);
                                break;
                            }
                            Err(Halt::Stopped) => break,
                        }
                    }
                })
            })
            .collect();
        for worker in workers {
            if worker.join().is_err() {
                fail(OpenError::WorkerPanicked);
            }
        }
    });
    if let Some(e) = error.into_inner().ok().flatten() {
        return Err(e);
    }
    let resources = resources
        .into_inner()
        .map_err(|_| OpenError::WorkerPanicked)?;
    Ok((resources, bytes.load(Ordering::Relaxed)))
}

/// Opens one file into the staging directory: its resources and plaintext length.
fn open_file(shared: &Shared<'_>, job: &Job) -> Result<(Vec<ModelResource>, u64), Halt> {
    shared.check()?;
    let out_path = shared.staging.join(&job.relative);
    let out = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&out_path)
        .map_err(|e| OpenError::io("create", &out_path, &e))?;
    let input = File::open(&job.source).map_err(|e| OpenError::io("open", &job.source, &e))?;
    let hasher = FileHasher::new(
        job.name.clone(),
        shared.expected.hash_algorithm(),
        shared.expected.serialization(),
    );
    let sink = Sink {
        file: out,
        path: &out_path,
        hasher,
    };
    if job.encrypted {
        let failed = Arc::new(AtomicBool::new(false));
        let reader = decryptor(shared.identity, input, &job.source, &failed)?;
        let source = Source {
            reader,
            path: &job.source,
            age_read_failed: Some(&failed),
        };
        stream(shared, job, source, sink)
    } else {
        let source = Source {
            reader: input,
            path: &job.source,
            age_read_failed: None,
        };
        stream(shared, job, source, sink)
    }
}

/// A reader that records whether the underlying file failed, so that an error out of age's
/// stream reader can be told apart: the file's own I/O error, or age refusing the ciphertext.
struct Tracked<R> {
    inner: R,
    failed: Arc<AtomicBool>,
}

impl<R: Read> Read for Tracked<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let read = self.inner.read(buf);
        if read.is_err() {
            self.failed.store(true, Ordering::Relaxed);
        }
        read
    }
}

type AgeReader = age::stream::StreamReader<BufReader<Tracked<File>>>;

/// Reads the age header and unwraps the file key with `identity`.
fn decryptor(
    identity: &age::x25519::Identity,
    file: File,
    path: &Path,
    failed: &Arc<AtomicBool>,
) -> Result<AgeReader, OpenError> {
    let mut magic = [0u8; AGE_ARMOR.len()];
    let mut input = BufReader::with_capacity(
        READ_BUFFER,
        Tracked {
            inner: file,
            failed: Arc::clone(failed),
        },
    );
    let n = fill(&mut input, &mut magic).map_err(|e| OpenError::io("read", path, &e))?;
    let head = magic.get(..n).unwrap_or_default();
    if head.starts_with(AGE_ARMOR) {
        return Err(OpenError::Armored {
            path: path.to_owned(),
        });
    }
    if !head.starts_with(AGE_MAGIC) {
        return Err(OpenError::NotAgeFile {
            path: path.to_owned(),
        });
    }
    // The magic was consumed; read the header from the start again.
    let mut file = input.into_inner().inner;
    io::Seek::rewind(&mut file).map_err(|e| OpenError::io("seek", path, &e))?;
    let input = BufReader::with_capacity(
        READ_BUFFER,
        Tracked {
            inner: file,
            failed: Arc::clone(failed),
        },
    );
    let decryptor = age::Decryptor::new_buffered(input).map_err(|e| age_error(path, e, failed))?;
    if decryptor.is_scrypt() {
        return Err(OpenError::Passphrase {
            path: path.to_owned(),
        });
    }
    decryptor
        .decrypt(std::iter::once(identity as &dyn age::Identity))
        .map_err(|e| age_error(path, e, failed))
}

fn age_error(path: &Path, err: age::DecryptError, failed: &AtomicBool) -> OpenError {
    let path = path.to_owned();
    match err {
        age::DecryptError::NoMatchingKeys => OpenError::WrongIdentity { path },
        age::DecryptError::ExcessiveWork { .. } => OpenError::Passphrase { path },
        age::DecryptError::UnknownFormat => OpenError::UnknownAgeVersion { path },
        age::DecryptError::Io(e) => stream_error(&path, &e, failed),
        // InvalidHeader, InvalidMac, DecryptionFailed, KeyDecryptionFailed, and any new kind.
        _ => OpenError::Corrupt { path },
    }
}

/// An error out of age's stream reader: the file's own, or age's verdict on the ciphertext.
fn stream_error(path: &Path, err: &io::Error, failed: &AtomicBool) -> OpenError {
    if failed.load(Ordering::Relaxed) {
        return OpenError::io("read", path, err);
    }
    match err.kind() {
        io::ErrorKind::UnexpectedEof => OpenError::Truncated {
            path: path.to_owned(),
        },
        _ => OpenError::Corrupt {
            path: path.to_owned(),
        },
    }
}

/// Where plaintext comes from: an age stream or a plain file.
struct Source<'a, R> {
    reader: R,
    path: &'a Path,
    /// For an age stream: whether the file under it failed.
    age_read_failed: Option<&'a AtomicBool>,
}

impl<R: Read> Source<'_, R> {
    /// Fills `buf` unless the input ends first; returns the bytes read.
    fn fill(&mut self, buf: &mut [u8]) -> Result<usize, OpenError> {
        fill(&mut self.reader, buf).map_err(|e| match self.age_read_failed {
            Some(failed) => stream_error(self.path, &e, failed),
            None => OpenError::io("read", self.path, &e),
        })
    }
}

/// Where plaintext goes: the hasher and the staged file.
struct Sink<'a> {
    file: File,
    path: &'a Path,
    hasher: FileHasher,
}

impl Sink<'_> {
    fn put(&mut self, bytes: &[u8]) -> Result<(), OpenError> {
        self.hasher.update(bytes);
        self.file
            .write_all(bytes)
            .map_err(|e| OpenError::io("write", self.path, &e))
    }

    fn finish(self) -> Result<(Vec<ModelResource>, u64), OpenError> {
        self.file
            .sync_all()
            .map_err(|e| OpenError::io("sync", self.path, &e))?;
        let len = self.hasher.len();
        Ok((self.hasher.finish(), len))
    }
}

fn fill(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while let Some(rest) = buf.get_mut(filled..) {
        if rest.is_empty() {
            break;
        }
        match reader.read(rest) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Streams one file from `source` into `sink`: on this thread for a small file, otherwise as a
/// pipeline of three threads (decryption here, hashing, writing), chunks handed along bounded
/// channels and recycled. Hashing and writing are separate stages because together they cost
/// more than decryption alone (SHA-256 plus a page-cache copy), so the pipeline would otherwise
/// run at their pace, not at decryption's.
fn stream<R: Read + Send>(
    shared: &Shared<'_>,
    job: &Job,
    mut source: Source<'_, R>,
    mut sink: Sink<'_>,
) -> Result<(Vec<ModelResource>, u64), Halt> {
    if job.size <= PIPELINE_MIN {
        let mut buf = vec![0u8; CHUNK_SIZE];
        loop {
            shared.check()?;
            let n = source.fill(&mut buf)?;
            sink.put(buf.get(..n).unwrap_or_default())?;
            if n < buf.len() {
                break;
            }
        }
        return Ok(sink.finish()?);
    }
    let (full_tx, full_rx) = sync_channel::<Chunk>(BUFFERS_PER_FILE);
    let (hashed_tx, hashed_rx) = sync_channel::<Chunk>(BUFFERS_PER_FILE);
    let (free_tx, free_rx) = sync_channel::<Vec<u8>>(BUFFERS_PER_FILE);
    for _ in 0..BUFFERS_PER_FILE {
        // Cannot fail: the channel has room for every buffer and its receiver is alive.
        let _ = free_tx.send(vec![0u8; CHUNK_SIZE]);
    }
    let Sink { file, path, hasher } = sink;
    std::thread::scope(|s| {
        let hashing = s.spawn(move || hash_stage(shared, hasher, full_rx, hashed_tx));
        let writing = s.spawn(move || write_stage(shared, file, path, hashed_rx, free_tx));
        let read = read_stage(shared, &mut source, full_tx, free_rx);
        let panicked = || Halt::Error(OpenError::WorkerPanicked);
        let hashed = hashing.join().unwrap_or_else(|_| Err(panicked()));
        let written = writing.join().unwrap_or_else(|_| Err(panicked()));
        // A stage that stopped because another one did has nothing to add: report the first
        // real error, the reader's first (a corrupt ciphertext), then the writer's (a full disk).
        let (hasher, hash_halt) = match hashed {
            Ok(hasher) => (Some(hasher), None),
            Err(halt) => (None, Some(halt)),
        };
        let mut stopped = false;
        for halt in [read.err(), written.err(), hash_halt].into_iter().flatten() {
            match halt {
                Halt::Error(e) => return Err(Halt::Error(e)),
                Halt::Stopped => stopped = true,
            }
        }
        let Some(hasher) = hasher.filter(|_| !stopped) else {
            return Err(Halt::Stopped);
        };
        let len = hasher.len();
        Ok((hasher.finish(), len))
    })
}

/// A buffer and how many of its bytes are data; fewer than its length marks the end of the file.
type Chunk = (Vec<u8>, usize);

fn read_stage<R: Read>(
    shared: &Shared<'_>,
    source: &mut Source<'_, R>,
    full: SyncSender<(Vec<u8>, usize)>,
    free: Receiver<Vec<u8>>,
) -> Result<(), Halt> {
    loop {
        shared.check()?;
        // The writer is gone: it failed, and reports why.
        let Ok(mut buf) = free.recv() else {
            return Ok(());
        };
        let n = source.fill(&mut buf)?;
        let last = n < buf.len();
        if full.send((buf, n)).is_err() {
            return Ok(());
        }
        if last {
            return Ok(());
        }
    }
}

fn hash_stage(
    shared: &Shared<'_>,
    mut hasher: FileHasher,
    full: Receiver<Chunk>,
    hashed: SyncSender<Chunk>,
) -> Result<FileHasher, Halt> {
    let mut complete = false;
    for (buf, n) in full.iter() {
        shared.check()?;
        hasher.update(buf.get(..n).unwrap_or_default());
        complete = n < buf.len();
        if hashed.send((buf, n)).is_err() {
            // The writer failed, and reports why.
            return Err(Halt::Stopped);
        }
    }
    if !complete {
        // The reader stopped early (an error or cancellation, which it reports).
        return Err(Halt::Stopped);
    }
    Ok(hasher)
}

fn write_stage(
    shared: &Shared<'_>,
    mut file: File,
    path: &Path,
    hashed: Receiver<Chunk>,
    free: SyncSender<Vec<u8>>,
) -> Result<(), Halt> {
    let mut complete = false;
    for (buf, n) in hashed.iter() {
        shared.check()?;
        file.write_all(buf.get(..n).unwrap_or_default())
            .map_err(|e| OpenError::io("write", path, &e))?;
        complete = n < buf.len();
        // The reader may be done already; then the buffer is simply dropped.
        let _ = free.send(buf);
    }
    if !complete {
        // An earlier stage stopped early, and reports why.
        return Err(Halt::Stopped);
    }
    file.sync_all()
        .map_err(|e| OpenError::io("sync", path, &e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plaintext_names() {
        let p = Path::new("x");
        assert_eq!(plaintext_name("w.bin.age", p), Ok(("w.bin", true)));
        assert_eq!(plaintext_name("config.json", p), Ok(("config.json", false)));
        assert_eq!(
            plaintext_name(".age", p),
            Err(OpenError::ReservedName { path: p.into() })
        );
        assert_eq!(
            plaintext_name(".warden-open.partial.age", p),
            Err(OpenError::ReservedName { path: p.into() })
        );
    }

    #[test]
    fn identities_parse_from_material_and_files() {
        use age::secrecy::ExposeSecret;

        let identity = age::x25519::Identity::generate();
        let text = identity.to_string().expose_secret().to_owned();
        let recipient = identity.to_public().to_string();
        for material in [
            text.clone(),
            format!("# created: now\n# public key: {recipient}\n{text}\n"),
        ] {
            let parsed = parse_identity(material.as_bytes()).unwrap();
            assert_eq!(parsed.to_public().to_string(), recipient);
        }
        let bad = |m: &[u8]| match parse_identity(m) {
            Err(OpenError::BadIdentity { reason }) => reason,
            other => panic!("{:?}", other.map(|i| i.to_public().to_string())),
        };
        assert_eq!(bad(b"\xff"), "not UTF-8 text");
        assert_eq!(bad(b"# nothing\n"), "no identity line");
        assert_eq!(
            bad(format!("{text}\n{text}").as_bytes()),
            "more than one identity line"
        );
        assert_eq!(
            bad(b"AGE-PLUGIN-X-1AAA"),
            "a line is not an AGE-SECRET-KEY-1 identity"
        );
        assert_eq!(
            bad(b"AGE-SECRET-KEY-1QQQ"),
            "the AGE-SECRET-KEY-1 line is not a valid X25519 identity"
        );
    }

    #[test]
    fn mismatch_message_is_bounded() {
        let many: Vec<String> = (0..20).map(|i| format!("f{i}")).collect();
        let e = OpenError::ManifestMismatch {
            missing: many,
            extra: Vec::new(),
            changed: vec!["c".into()],
        };
        let text = e.to_string();
        assert!(text.contains("and 12 more"), "{text}");
        assert!(text.contains("extra none"), "{text}");
        assert!(text.contains("changed [c]"), "{text}");
    }
}
