//! The Intel DCAP collateral cache: TCB info per FMSPC, the TD QE identity, the root CA and PCK
//! CRLs and their issuer chains, persisted in the state database (`tdx_collateral`) and held in
//! memory for verification.
//!
//! Collateral enters the cache by [`read_path`] + [`CollateralCache::import`] (the operator's
//! `warden-verifier collateral import FILE|DIR`, an offline bundle of Intel PCS/PCCS response
//! files or dcap-qvl's JSON form) or from the optional PCS/PCCS fetcher ([`crate::pcs`]).
//! Either way an item replaces a cached one only when it is at least as new (evaluation data
//! number, then issue date): a stale but validly signed item cannot roll the cache back
//! (THREATS.md D7).
//!
//! Attestation reads only memory: [`CollateralCache::current`] reloads from the database when
//! its generation counter moved (an import by another process), which is one small query.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use warden_evidence::UnixTime;
use warden_evidence::tdx::{AddOutcome, CollateralItem, CollateralSet, TdxError};

use crate::bundle::{self, BundleError};
use crate::store::{CollateralRow, Store, StoreError};

/// Largest collateral file read (a TCB info response is about 10 KiB; a CRL can grow).
const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// Why collateral could not be read, parsed or stored.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CollateralError {
    /// A file or directory could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A file is not DCAP collateral, or is malformed.
    #[error("{path}: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// Why.
        source: Box<TdxError>,
    },
    /// A file is larger than any collateral item.
    #[error("{path} is {len} bytes, larger than the {MAX_FILE_BYTES}-byte limit for collateral")]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its length.
        len: u64,
    },
    /// A directory holds no files.
    #[error("{path} holds no collateral files")]
    Empty {
        /// The directory.
        path: PathBuf,
    },
    /// A directory holds a subdirectory: import reads one level only.
    #[error("{path} is a directory inside the import directory; import reads one level only")]
    Nested {
        /// The subdirectory.
        path: PathBuf,
    },
    /// A cached row no longer parses (edited database, or a bug).
    #[error("cached collateral {kind}/{key} from {source_label} does not parse: {reason}")]
    Corrupt {
        /// The row's kind.
        kind: String,
        /// The row's key.
        key: String,
        /// Where the row came from.
        source_label: String,
        /// The parse error.
        reason: Box<TdxError>,
    },
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One item offered to the cache, and what became of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportEntry {
    /// Where it came from: `import:<path>` or `fetch:<url>`.
    pub source: String,
    /// Item kind (`tcb-info`, `qe-identity`, `root-ca-crl`, `pck-crl`, `tcb-signing-chain`,
    /// `pck-crl-issuer-chain`).
    pub kind: &'static str,
    /// Item key within its kind (an FMSPC, a CA type, ...).
    pub key: String,
    /// Whether it was added, replaced an older item, or was older than the cached one.
    pub outcome: AddOutcome,
    /// Its nextUpdate, if it has one.
    pub next_update: Option<UnixTime>,
}

struct Loaded {
    generation: i64,
    set: Arc<CollateralSet>,
}

/// The collateral cache of one verifier: the database table and its parsed form in memory.
pub struct CollateralCache {
    store: Arc<Store>,
    loaded: RwLock<Loaded>,
}

impl std::fmt::Debug for CollateralCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CollateralCache").finish_non_exhaustive()
    }
}

impl CollateralCache {
    /// Loads the cache from `store`.
    ///
    /// # Errors
    ///
    /// [`CollateralError::Store`], or [`CollateralError::Corrupt`] for a row that does not parse.
    pub fn open(store: Arc<Store>) -> Result<Self, CollateralError> {
        let (generation, set) = load(&store)?;
        Ok(Self {
            store,
            loaded: RwLock::new(Loaded {
                generation,
                set: Arc::new(set),
            }),
        })
    }

    /// The cached collateral, reloaded first if another process (or this one) stored items since
    /// it was last read.
    ///
    /// # Errors
    ///
    /// As [`CollateralCache::open`].
    pub fn current(&self) -> Result<Arc<CollateralSet>, CollateralError> {
        let generation = self.store.collateral_generation()?;
        if let Ok(loaded) = self.loaded.read()
            && loaded.generation == generation
        {
            return Ok(Arc::clone(&loaded.set));
        }
        let (generation, set) = load(&self.store)?;
        let set = Arc::new(set);
        let mut loaded = self
            .loaded
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if generation >= loaded.generation {
            *loaded = Loaded {
                generation,
                set: Arc::clone(&set),
            };
        }
        Ok(set)
    }

    /// Offers `items` to the cache at time `now`: each is added unless the cached item of its
    /// kind and key is newer. What was added or replaced is stored in one durable transaction.
    ///
    /// # Errors
    ///
    /// [`CollateralError::Store`]; nothing is stored then.
    pub fn import(
        &self,
        items: Vec<(String, CollateralItem)>,
        now: UnixTime,
    ) -> Result<Vec<ImportEntry>, CollateralError> {
        let (_, mut set) = load(&self.store)?;
        let mut entries = Vec::with_capacity(items.len());
        let mut rows = Vec::new();
        for (source, item) in items {
            let entry = ImportEntry {
                source: source.clone(),
                kind: item.kind(),
                key: item.key(),
                outcome: AddOutcome::KeptExisting,
                next_update: item.next_update(),
            };
            let row = CollateralRow {
                kind: item.kind().to_owned(),
                key: item.key(),
                body: item.to_file_bytes(),
                issue_date: item.issue_date(),
                next_update: item.next_update(),
                source,
                stored_at: now,
            };
            let outcome = set.add(item);
            if outcome != AddOutcome::KeptExisting {
                // A later item of the same kind and key in this batch supersedes this row.
                rows.retain(|r: &CollateralRow| !(r.kind == row.kind && r.key == row.key));
                rows.push(row);
            }
            entries.push(ImportEntry { outcome, ..entry });
        }
        if !rows.is_empty() {
            self.store.put_collateral(&rows)?;
        }
        self.current()?;
        Ok(entries)
    }

    /// Every cached row, for `collateral list`.
    ///
    /// # Errors
    ///
    /// [`CollateralError::Store`].
    pub fn rows(&self) -> Result<Vec<CollateralRow>, CollateralError> {
        Ok(self.store.collateral_rows()?)
    }
}

fn load(store: &Store) -> Result<(i64, CollateralSet), CollateralError> {
    // Generation first: a write landing between the two reads makes the next call reload again.
    let generation = store.collateral_generation()?;
    let mut set = CollateralSet::new();
    for row in store.collateral_rows()? {
        let corrupt = |reason| CollateralError::Corrupt {
            kind: row.kind.clone(),
            key: row.key.clone(),
            source_label: row.source.clone(),
            reason: Box::new(reason),
        };
        let items = CollateralItem::parse_file(&row.body).map_err(corrupt)?;
        for item in items {
            set.add(item);
        }
    }
    Ok((generation, set))
}

/// Reads collateral from `path`: one file (a PCS response, a CRL, an issuer chain, or dcap-qvl's
/// JSON collateral holding everything), or a directory of such files (one level; hidden files
/// are skipped). Every file must be collateral: an unrecognised file is an error naming it, so
/// a bundle is never imported half-understood.
///
/// # Errors
///
/// [`CollateralError`] naming the file.
pub fn read_path(path: &Path) -> Result<Vec<(String, CollateralItem)>, CollateralError> {
    let mut items = Vec::new();
    for file in bundle::files(path)? {
        let bytes = bundle::read(&file, MAX_FILE_BYTES)?;
        let parsed =
            CollateralItem::parse_file(&bytes).map_err(|source| CollateralError::Parse {
                path: file.clone(),
                source: Box::new(source),
            })?;
        let source = format!("import:{}", file.display());
        items.extend(parsed.into_iter().map(|item| (source.clone(), item)));
    }
    Ok(items)
}

impl From<BundleError> for CollateralError {
    fn from(e: BundleError) -> Self {
        match e {
            BundleError::Read { path, source } => Self::Read { path, source },
            BundleError::Empty { path } => Self::Empty { path },
            BundleError::Nested { path } => Self::Nested { path },
            BundleError::TooLarge { path, len } => Self::TooLarge { path, len },
        }
    }
}

/// A [`CollateralSet`] holding everything under `path`, for offline verification
/// (`evidence verify tdx --collateral`), without a database.
///
/// # Errors
///
/// As [`read_path`].
pub fn set_from_path(path: &Path) -> Result<CollateralSet, CollateralError> {
    let mut set = CollateralSet::new();
    for (_, item) in read_path(path)? {
        set.add(item);
    }
    Ok(set)
}
