//! The verifier's persistent state: one SQLite database, `<state_dir>/warden.db`.
//!
//! Five tables live here (see `docs/storage.md`):
//! - `nonces`: the server nonces handed to attesters (THREATS P1/P2). A nonce is consumed by a
//!   single atomic `UPDATE … WHERE consumed_at IS NULL`, so exactly one of any number of
//!   concurrent callers succeeds, including callers in other processes sharing the file.
//! - `keys`: model keys sealed under the master key (the sealing itself is in [`crate::keys`];
//!   this module stores opaque blobs).
//! - `tdx_collateral`: the Intel DCAP collateral cache (TCB info per FMSPC, QE identity, CRLs,
//!   issuer chains), one row per item in its file form; [`crate::collateral`] decides what
//!   replaces what. Every write bumps `collateral_generation` in `meta`, which running
//!   verifiers poll to pick up imports made by another process.
//! - `gpu_rims`: NVIDIA reference integrity manifests by RIM service id, each stored verbatim;
//!   [`crate::rims`] verifies them and decides which of two RIMs with one id is kept.
//! - `gpu_ocsp`: OCSP responses for NVIDIA certificates by serial and issuer key hash, stored
//!   verbatim; [`crate::revocation`] verifies them on every use.
//!
//! Durability: the database runs in WAL mode with `synchronous=NORMAL`, which survives a process
//! crash but may lose the last commits on power loss. For nonces that is harmless: a nonce that
//! comes back after a power loss is still bound to its expiry, and any key released against it
//! was wrapped to the TEE key of the original evidence, so a replay gains nothing. Writes to the
//! `keys` table switch the connection to `synchronous=FULL` for that transaction (the store holds
//! one connection behind a mutex, so the switch is never observed by another statement), so an
//! added or removed key is on disk before the call returns.
//!
//! Time is always passed in; this module never reads the clock.

use std::fmt;
use std::fs::{self, DirBuilder, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};
use warden_evidence::UnixTime;

/// The database file name inside the state directory.
pub const DB_FILE_NAME: &str = "warden.db";

/// The length of a server nonce in bytes (THREATS P1: at least 32 bytes from a CSPRNG).
pub const NONCE_LEN: usize = 32;

/// How long a statement waits for a lock held by another connection before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Schema migrations, in order. Migration `i` takes the schema from `user_version == i` to
/// `user_version == i + 1`. Never edit a released migration; append a new one.
const MIGRATIONS: &[&str] = &[
    // 1: nonces and sealed keys.
    "CREATE TABLE nonces (
         nonce       BLOB    PRIMARY KEY NOT NULL,
         issued_at   INTEGER NOT NULL,
         expires_at  INTEGER NOT NULL,
         consumed_at INTEGER NULL
     ) WITHOUT ROWID;
     CREATE INDEX nonces_expires_at ON nonces (expires_at);
     CREATE TABLE keys (
         id         TEXT    PRIMARY KEY NOT NULL,
         policy     TEXT    NOT NULL,
         sealed     BLOB    NOT NULL,
         created_at INTEGER NOT NULL
     );",
    // 2: the TDX collateral cache and a generation counter for it.
    "CREATE TABLE tdx_collateral (
         kind        TEXT    NOT NULL,
         key         TEXT    NOT NULL,
         body        BLOB    NOT NULL,
         issue_date  INTEGER NULL,
         next_update INTEGER NULL,
         source      TEXT    NOT NULL,
         stored_at   INTEGER NOT NULL,
         PRIMARY KEY (kind, key)
     ) WITHOUT ROWID;
     CREATE TABLE meta (
         name  TEXT    PRIMARY KEY NOT NULL,
         value INTEGER NOT NULL
     ) WITHOUT ROWID;
     INSERT INTO meta (name, value) VALUES ('collateral_generation', 0);",
    // 3: the NVIDIA RIM store, keyed by RIM service id.
    "CREATE TABLE gpu_rims (
         id          TEXT    PRIMARY KEY NOT NULL,
         kind        TEXT    NOT NULL,
         version     TEXT    NOT NULL,
         body        BLOB    NOT NULL,
         valid_until INTEGER NOT NULL,
         source      TEXT    NOT NULL,
         stored_at   INTEGER NOT NULL
     ) WITHOUT ROWID;",
    // 4: the OCSP cache for NVIDIA device and RIM certificates, one row per certificate a
    // response answers for (a response is verified on every use).
    "CREATE TABLE gpu_ocsp (
         serial          TEXT    NOT NULL,
         issuer_key_hash TEXT    NOT NULL,
         body            BLOB    NOT NULL,
         this_update     INTEGER NOT NULL,
         next_update     INTEGER NULL,
         source          TEXT    NOT NULL,
         stored_at       INTEGER NOT NULL,
         PRIMARY KEY (serial, issuer_key_hash)
     ) WITHOUT ROWID;",
];

/// The schema version this build writes and understands.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// One cached OCSP response for one certificate (see [`crate::revocation`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OcspRow {
    /// The certificate serial, lower-case hex.
    pub serial: String,
    /// The CertID's issuer key hash, lower-case hex.
    pub issuer_key_hash: String,
    /// The DER `OCSPResponse`.
    pub body: Vec<u8>,
    /// `thisUpdate`.
    pub this_update: UnixTime,
    /// `nextUpdate`, when the response has one.
    pub next_update: Option<UnixTime>,
    /// Where it came from (a file, `online`).
    pub source: String,
    /// When it was stored.
    pub stored_at: UnixTime,
}

fn ocsp_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<OcspRow> {
    Ok(OcspRow {
        serial: r.get(0)?,
        issuer_key_hash: r.get(1)?,
        body: r.get(2)?,
        this_update: UnixTime(r.get(3)?),
        next_update: r.get::<_, Option<i64>>(4)?.map(UnixTime),
        source: r.get(5)?,
        stored_at: UnixTime(r.get(6)?),
    })
}

/// One cached collateral item, in its file form (see [`crate::collateral`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollateralRow {
    /// The item kind (`tcb-info`, `qe-identity`, `root-ca-crl`, ...).
    pub kind: String,
    /// What the item is for within its kind: an FMSPC, a CA type, ...
    pub key: String,
    /// The item as a file (a PCS response, a DER CRL, a PEM chain).
    pub body: Vec<u8>,
    /// Its issue date or thisUpdate, if it has one.
    pub issue_date: Option<UnixTime>,
    /// Its nextUpdate, if it has one.
    pub next_update: Option<UnixTime>,
    /// Where it came from: `import:<path>` or `fetch:<url>`.
    pub source: String,
    /// When it was stored.
    pub stored_at: UnixTime,
}

/// One stored NVIDIA RIM (see [`crate::rims`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RimRow {
    /// The RIM service id, e.g. `NV_GPU_DRIVER_GH100_550.144.03` or
    /// `NV_GPU_VBIOS_1010_0200_882_96005E0001`.
    pub id: String,
    /// `driver` or `vbios`.
    pub kind: String,
    /// The driver or VBIOS version the RIM describes (its signed `colloquialVersion`).
    pub version: String,
    /// The RIM document, byte for byte as imported.
    pub body: Vec<u8>,
    /// Earliest notAfter of its signing chain.
    pub valid_until: UnixTime,
    /// Where it came from: `import:<path>`.
    pub source: String,
    /// When it was stored.
    pub stored_at: UnixTime,
}

/// Why the store could not be opened or could not complete an operation.
#[derive(Debug, thiserror::Error, PartialEq)]
#[non_exhaustive]
pub enum StoreError {
    /// A filesystem operation on the state directory or database file failed.
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
    /// The state directory path exists but is not a directory.
    #[error("state directory {path} exists but is not a directory")]
    StateDirNotDirectory {
        /// The state directory.
        path: PathBuf,
    },
    /// The state directory is writable by every user, so anyone could replace the database.
    #[error(
        "state directory {path} has mode {mode:o}, which lets any user replace its files; \
         run `chmod 700 {path}`"
    )]
    StateDirWorldWritable {
        /// The state directory.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The database was written by a newer Warden whose schema this build does not know.
    #[error(
        "database schema version {found} is newer than this build supports ({supported}); \
         run a newer Warden or restore a backup"
    )]
    SchemaTooNew {
        /// The database's `user_version`.
        found: i64,
        /// [`SCHEMA_VERSION`].
        supported: i64,
    },
    /// SQLite refused to switch the database to WAL mode.
    #[error("database refused WAL journal mode (got {mode:?})")]
    JournalMode {
        /// The journal mode SQLite reported.
        mode: String,
    },
    /// A nonce with these bytes was already issued (a CSPRNG nonce never collides, so this means
    /// the caller reused one).
    #[error("nonce already issued")]
    NonceExists,
    /// A key with this id is already stored.
    #[error("a key with id {id:?} already exists")]
    KeyExists {
        /// The key id.
        id: String,
    },
    /// A time computation overflowed (a TTL or retention too large for the clock range).
    #[error("time value out of range")]
    TimeOutOfRange,
    /// SQLite reported an error.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

impl StoreError {
    fn io(op: &'static str, path: &Path, err: &io::Error) -> Self {
        StoreError::Io {
            op,
            path: path.to_path_buf(),
            kind: err.kind(),
            message: err.to_string(),
        }
    }
}

/// Why a nonce was refused. Every variant is a refusal; only [`NonceError::Store`] is an
/// internal failure rather than a property of the presented nonce.
#[derive(Debug, thiserror::Error, PartialEq)]
#[non_exhaustive]
pub enum NonceError {
    /// The nonce was never issued here (or was purged long after it expired).
    #[error("unknown nonce")]
    Unknown,
    /// The nonce was already consumed.
    #[error("nonce already used")]
    AlreadyUsed,
    /// The nonce was issued but its lifetime ended before it was presented. It is consumed all
    /// the same.
    #[error("nonce expired at {expired_at}")]
    Expired {
        /// When the nonce stopped being valid.
        expired_at: UnixTime,
    },
    /// The presented nonce has the wrong length.
    #[error("nonce is {0} bytes, expected {NONCE_LEN}")]
    Length(usize),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<rusqlite::Error> for NonceError {
    fn from(err: rusqlite::Error) -> Self {
        NonceError::Store(StoreError::Sqlite(err))
    }
}

/// One row of the `keys` table: a key sealed by [`crate::keys`], which this module treats as
/// opaque bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRow {
    /// The key id (validated by [`crate::keys::KeyId`] before it gets here).
    pub id: String,
    /// The name of the policy that guards the key.
    pub policy: String,
    /// The sealed key material (see `docs/storage.md` for the format).
    pub sealed: Vec<u8>,
    /// When the key was added.
    pub created_at: UnixTime,
}

/// The verifier's database. Cheap to share behind an `Arc`; every method takes `&self` and
/// serialises on one connection.
pub struct Store {
    path: PathBuf,
    conn: Mutex<Connection>,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (creating if needed) `<state_dir>/warden.db` and brings its schema up to date.
    ///
    /// A missing state directory is created with mode 0700; an existing one is refused if it is
    /// not a directory or is world-writable. A new database file is created with mode 0600
    /// (SQLite gives its `-wal` and `-shm` files the same mode). A database whose schema is
    /// newer than [`SCHEMA_VERSION`] is refused.
    pub fn open(state_dir: &Path) -> Result<Store, StoreError> {
        prepare_state_dir(state_dir)?;
        let path = state_dir.join(DB_FILE_NAME);
        // Create the file ourselves so it gets 0600 rather than SQLite's default 0644.
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(|e| StoreError::io("create", &path, &e))?;
        let mut conn = Connection::open(&path)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        let mode: String =
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::JournalMode { mode });
        }
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", true)?;
        migrate(&mut conn)?;
        Ok(Store {
            path,
            conn: Mutex::new(conn),
        })
    }

    /// The database file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The connection. A poisoned mutex is recovered: nothing is cached outside SQLite, and a
    /// transaction interrupted by a panic was rolled back when its guard dropped.
    fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records a freshly generated nonce, valid from `now` until `now + ttl_secs` (exclusive),
    /// and returns that expiry.
    pub fn issue_nonce(
        &self,
        nonce: &[u8; NONCE_LEN],
        now: UnixTime,
        ttl_secs: u64,
    ) -> Result<UnixTime, StoreError> {
        let expires_at = i64::try_from(ttl_secs)
            .ok()
            .and_then(|ttl| now.0.checked_add(ttl))
            .ok_or(StoreError::TimeOutOfRange)?;
        let inserted = self.conn().execute(
            "INSERT INTO nonces (nonce, issued_at, expires_at, consumed_at)
             VALUES (?1, ?2, ?3, NULL)
             ON CONFLICT (nonce) DO NOTHING",
            params![&nonce[..], now.0, expires_at],
        )?;
        if inserted != 1 {
            return Err(StoreError::NonceExists);
        }
        Ok(UnixTime(expires_at))
    }

    /// Consumes a nonce. Exactly one caller can ever succeed for a given nonce, however many
    /// race: the check and the mark are one `UPDATE`.
    ///
    /// A nonce is valid while `now < expires_at`; at `now == expires_at` it is expired. An
    /// expired nonce is consumed too, so it reports [`NonceError::AlreadyUsed`] afterwards.
    pub fn consume_nonce(&self, nonce: &[u8], now: UnixTime) -> Result<(), NonceError> {
        if nonce.len() != NONCE_LEN {
            return Err(NonceError::Length(nonce.len()));
        }
        let conn = self.conn();
        let claimed: Option<i64> = conn
            .query_row(
                "UPDATE nonces SET consumed_at = ?2
                 WHERE nonce = ?1 AND consumed_at IS NULL
                 RETURNING expires_at",
                params![nonce, now.0],
                |row| row.get(0),
            )
            .optional()?;
        match claimed {
            Some(expires_at) if now.0 < expires_at => Ok(()),
            Some(expires_at) => Err(NonceError::Expired {
                expired_at: UnixTime(expires_at),
            }),
            None => {
                let known: Option<i64> = conn
                    .query_row("SELECT 1 FROM nonces WHERE nonce = ?1", [nonce], |row| {
                        row.get(0)
                    })
                    .optional()?;
                Err(match known {
                    Some(_) => NonceError::AlreadyUsed,
                    None => NonceError::Unknown,
                })
            }
        }
    }

    /// Deletes nonces that expired more than `retain_secs` before `now` and returns how many.
    ///
    /// Used and expired nonces are kept for `retain_secs` so that a replay within that window
    /// is reported as [`NonceError::AlreadyUsed`] or [`NonceError::Expired`] rather than
    /// [`NonceError::Unknown`] (all are refusals; the distinction helps operators).
    pub fn purge_nonces(&self, now: UnixTime, retain_secs: u64) -> Result<usize, StoreError> {
        let retain = i64::try_from(retain_secs).unwrap_or(i64::MAX);
        let cutoff = now.0.saturating_sub(retain);
        let deleted = self
            .conn()
            .execute("DELETE FROM nonces WHERE expires_at < ?1", [cutoff])?;
        Ok(deleted)
    }

    /// Inserts a sealed key; [`StoreError::KeyExists`] if the id is taken. Durable
    /// (`synchronous=FULL`) when it returns.
    pub fn insert_key(&self, row: &KeyRow) -> Result<(), StoreError> {
        let inserted = self.durable_write(|conn| {
            conn.execute(
                "INSERT INTO keys (id, policy, sealed, created_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (id) DO NOTHING",
                params![row.id, row.policy, row.sealed, row.created_at.0],
            )
        })?;
        if inserted != 1 {
            return Err(StoreError::KeyExists { id: row.id.clone() });
        }
        Ok(())
    }

    /// Fetches one sealed key by id.
    pub fn get_key(&self, id: &str) -> Result<Option<KeyRow>, StoreError> {
        let row = self
            .conn()
            .query_row(
                "SELECT id, policy, sealed, created_at FROM keys WHERE id = ?1",
                [id],
                key_row,
            )
            .optional()?;
        Ok(row)
    }

    /// Lists every stored key, sorted by id (byte order).
    pub fn list_keys(&self) -> Result<Vec<KeyRow>, StoreError> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare("SELECT id, policy, sealed, created_at FROM keys ORDER BY id")?;
        let rows = stmt.query_map([], key_row)?;
        let mut out = Vec::new();
        for row in rows {
            out.push(row?);
        }
        Ok(out)
    }

    /// Removes a key; returns whether it existed. Durable (`synchronous=FULL`) when it returns.
    pub fn remove_key(&self, id: &str) -> Result<bool, StoreError> {
        let deleted =
            self.durable_write(|conn| conn.execute("DELETE FROM keys WHERE id = ?1", [id]))?;
        Ok(deleted > 0)
    }

    /// Stores collateral rows, replacing any row of the same kind and key, in one durable
    /// transaction that also bumps the collateral generation; returns the new generation.
    pub fn put_collateral(&self, rows: &[CollateralRow]) -> Result<i64, StoreError> {
        self.durable_write(|conn| {
            let tx = conn.unchecked_transaction()?;
            for row in rows {
                tx.execute(
                    "INSERT INTO tdx_collateral
                         (kind, key, body, issue_date, next_update, source, stored_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                     ON CONFLICT (kind, key) DO UPDATE SET
                         body = excluded.body, issue_date = excluded.issue_date,
                         next_update = excluded.next_update, source = excluded.source,
                         stored_at = excluded.stored_at",
                    params![
                        row.kind,
                        row.key,
                        row.body,
                        row.issue_date.map(|t| t.0),
                        row.next_update.map(|t| t.0),
                        row.source,
                        row.stored_at.0
                    ],
                )?;
            }
            let generation: i64 = tx.query_row(
                "UPDATE meta SET value = value + 1 WHERE name = 'collateral_generation'
                 RETURNING value",
                [],
                |r| r.get(0),
            )?;
            tx.commit()?;
            Ok(generation)
        })
    }

    /// Every cached collateral row, sorted by kind and key.
    pub fn collateral_rows(&self) -> Result<Vec<CollateralRow>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT kind, key, body, issue_date, next_update, source, stored_at
             FROM tdx_collateral ORDER BY kind, key",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(CollateralRow {
                kind: r.get(0)?,
                key: r.get(1)?,
                body: r.get(2)?,
                issue_date: r.get::<_, Option<i64>>(3)?.map(UnixTime),
                next_update: r.get::<_, Option<i64>>(4)?.map(UnixTime),
                source: r.get(5)?,
                stored_at: UnixTime(r.get(6)?),
            })
        })?;
        let mut out = Vec::new();
        for row in rows {
            out.push(row?);
        }
        Ok(out)
    }

    /// Stores RIM rows, replacing any row of the same id, in one durable transaction. Which RIM
    /// wins is decided by the caller ([`crate::rims::RimStore::import`]).
    pub fn put_rims(&self, rows: &[RimRow]) -> Result<(), StoreError> {
        self.durable_write(|conn| {
            let tx = conn.unchecked_transaction()?;
            for row in rows {
                tx.execute(
                    "INSERT INTO gpu_rims
                         (id, kind, version, body, valid_until, source, stored_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                     ON CONFLICT (id) DO UPDATE SET
                         kind = excluded.kind, version = excluded.version,
                         body = excluded.body, valid_until = excluded.valid_until,
                         source = excluded.source, stored_at = excluded.stored_at",
                    params![
                        row.id,
                        row.kind,
                        row.version,
                        row.body,
                        row.valid_until.0,
                        row.source,
                        row.stored_at.0
                    ],
                )?;
            }
            tx.commit()
        })
    }

    /// Every stored RIM, sorted by id.
    pub fn rim_rows(&self) -> Result<Vec<RimRow>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT id, kind, version, body, valid_until, source, stored_at
             FROM gpu_rims ORDER BY id",
        )?;
        let rows = stmt.query_map([], rim_row)?;
        let mut out = Vec::new();
        for row in rows {
            out.push(row?);
        }
        Ok(out)
    }

    /// The stored RIM with this id.
    pub fn get_rim(&self, id: &str) -> Result<Option<RimRow>, StoreError> {
        let row = self
            .conn()
            .query_row(
                "SELECT id, kind, version, body, valid_until, source, stored_at
                 FROM gpu_rims WHERE id = ?1",
                params![id],
                rim_row,
            )
            .optional()?;
        Ok(row)
    }

    /// Stores an OCSP row unless the stored row for the same certificate has a later or equal
    /// `thisUpdate`. Returns `None` when added, `Some(true)` when replaced, `Some(false)` when
    /// the stored row was kept.
    pub fn put_ocsp_if_newer(&self, row: &OcspRow) -> Result<Option<bool>, StoreError> {
        self.durable_write(|conn| {
            let tx = conn.unchecked_transaction()?;
            let current: Option<i64> = tx
                .query_row(
                    "SELECT this_update FROM gpu_ocsp WHERE serial = ?1 AND issuer_key_hash = ?2",
                    params![row.serial, row.issuer_key_hash],
                    |r| r.get(0),
                )
                .optional()?;
            let outcome = match current {
                Some(t) if t >= row.this_update.0 => return Ok(Some(false)),
                Some(_) => Some(true),
                None => None,
            };
            tx.execute(
                "INSERT INTO gpu_ocsp
                     (serial, issuer_key_hash, body, this_update, next_update, source, stored_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (serial, issuer_key_hash) DO UPDATE SET
                     body = excluded.body, this_update = excluded.this_update,
                     next_update = excluded.next_update, source = excluded.source,
                     stored_at = excluded.stored_at",
                params![
                    row.serial,
                    row.issuer_key_hash,
                    row.body,
                    row.this_update.0,
                    row.next_update.map(|t| t.0),
                    row.source,
                    row.stored_at.0
                ],
            )?;
            tx.commit()?;
            Ok(outcome)
        })
    }

    /// Stored OCSP rows for a certificate serial (hex), the most recent `thisUpdate` first.
    pub fn ocsp_for_serial(&self, serial: &str) -> Result<Vec<OcspRow>, StoreError> {
        self.ocsp_query(
            "WHERE serial = ?1 ORDER BY this_update DESC",
            params![serial],
        )
    }

    /// Every stored OCSP row, by serial.
    pub fn ocsp_rows(&self) -> Result<Vec<OcspRow>, StoreError> {
        self.ocsp_query("ORDER BY serial, issuer_key_hash", params![])
    }

    fn ocsp_query(
        &self,
        tail: &str,
        args: &[&dyn rusqlite::ToSql],
    ) -> Result<Vec<OcspRow>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT serial, issuer_key_hash, body, this_update, next_update, source, stored_at
             FROM gpu_ocsp {tail}"
        ))?;
        let rows = stmt.query_map(args, ocsp_row)?;
        let mut out = Vec::new();
        for row in rows {
            out.push(row?);
        }
        Ok(out)
    }

    /// The collateral generation: bumped by every [`Store::put_collateral`], in any process.
    pub fn collateral_generation(&self) -> Result<i64, StoreError> {
        let generation = self.conn().query_row(
            "SELECT value FROM meta WHERE name = 'collateral_generation'",
            [],
            |r| r.get(0),
        )?;
        Ok(generation)
    }

    /// Runs one write with `synchronous=FULL`, restoring `NORMAL` afterwards. The mutex is held
    /// throughout, so no nonce write runs under the stricter setting or vice versa.
    fn durable_write<T>(
        &self,
        write: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        let conn = self.conn();
        conn.pragma_update(None, "synchronous", "FULL")?;
        let result = write(&conn);
        let restored = conn.pragma_update(None, "synchronous", "NORMAL");
        let value = result?;
        restored?;
        Ok(value)
    }
}

fn rim_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RimRow> {
    Ok(RimRow {
        id: r.get(0)?,
        kind: r.get(1)?,
        version: r.get(2)?,
        body: r.get(3)?,
        valid_until: UnixTime(r.get(4)?),
        source: r.get(5)?,
        stored_at: UnixTime(r.get(6)?),
    })
}

fn key_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<KeyRow> {
    Ok(KeyRow {
        id: row.get(0)?,
        policy: row.get(1)?,
        sealed: row.get(2)?,
        created_at: UnixTime(row.get(3)?),
    })
}

/// Creates the state directory (0700) if missing; refuses a non-directory or a world-writable
/// directory, where any local user could swap the database.
fn prepare_state_dir(state_dir: &Path) -> Result<(), StoreError> {
    match fs::metadata(state_dir) {
        Ok(meta) => {
            if !meta.is_dir() {
                return Err(StoreError::StateDirNotDirectory {
                    path: state_dir.to_path_buf(),
                });
            }
            let mode = meta.permissions().mode() & 0o7777;
            if mode & 0o002 != 0 {
                return Err(StoreError::StateDirWorldWritable {
                    path: state_dir.to_path_buf(),
                    mode,
                });
            }
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(state_dir)
            .map_err(|e| StoreError::io("create directory", state_dir, &e)),
        Err(e) => Err(StoreError::io("stat", state_dir, &e)),
    }
}

/// Applies the migrations the database has not seen, each in its own transaction together with
/// its `user_version` bump.
fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let found: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    for (version, sql) in (1_i64..).zip(MIGRATIONS.iter()) {
        if version <= found {
            continue;
        }
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        // Another process may have migrated between our read and our lock.
        let current: i64 = tx.pragma_query_value(None, "user_version", |row| row.get(0))?;
        if current >= version {
            continue;
        }
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", version)?;
        tx.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Barrier};
    use std::thread;

    use super::*;

    const T0: UnixTime = UnixTime(1_700_000_000);

    fn open() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("state")).unwrap();
        (dir, store)
    }

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn store_is_send_and_sync() {
        assert_send_sync::<Store>();
    }

    #[test]
    fn open_creates_private_dir_and_file_in_wal_mode() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("a").join("state");
        let store = Store::open(&state).unwrap();
        let mode = fs::metadata(&state).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        let mode = fs::metadata(state.join(DB_FILE_NAME))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode & 0o077, 0);
        assert_eq!(store.path(), state.join(DB_FILE_NAME));
        let conn = store.conn();
        let journal: String = conn
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .unwrap();
        assert_eq!(journal, "wal");
        let fk: i64 = conn
            .pragma_query_value(None, "foreign_keys", |r| r.get(0))
            .unwrap();
        assert_eq!(fk, 1);
        let sync: i64 = conn
            .pragma_query_value(None, "synchronous", |r| r.get(0))
            .unwrap();
        assert_eq!(sync, 1, "NORMAL");
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
    }

    #[test]
    fn reopen_keeps_data() {
        let dir = tempfile::tempdir().unwrap();
        let nonce = [7u8; 32];
        {
            let store = Store::open(dir.path()).unwrap();
            store.issue_nonce(&nonce, T0, 60).unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.consume_nonce(&nonce, T0), Ok(()));
    }

    #[test]
    fn refuses_world_writable_state_dir() {
        let dir = tempfile::tempdir().unwrap();
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o777)).unwrap();
        let err = Store::open(dir.path()).unwrap_err();
        assert_eq!(
            err,
            StoreError::StateDirWorldWritable {
                path: dir.path().to_path_buf(),
                mode: 0o777
            }
        );
        assert!(err.to_string().contains("chmod 700"));
    }

    #[test]
    fn refuses_state_dir_that_is_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        fs::write(&file, b"x").unwrap();
        assert_eq!(
            Store::open(&file).unwrap_err(),
            StoreError::StateDirNotDirectory { path: file }
        );
    }

    #[test]
    fn refuses_newer_schema() {
        let dir = tempfile::tempdir().unwrap();
        drop(Store::open(dir.path()).unwrap());
        {
            let conn = Connection::open(dir.path().join(DB_FILE_NAME)).unwrap();
            conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
                .unwrap();
        }
        let err = Store::open(dir.path()).unwrap_err();
        assert_eq!(
            err,
            StoreError::SchemaTooNew {
                found: SCHEMA_VERSION + 1,
                supported: SCHEMA_VERSION
            }
        );
    }

    #[test]
    fn nonce_single_use() {
        let (_dir, store) = open();
        let nonce = [1u8; 32];
        assert_eq!(store.issue_nonce(&nonce, T0, 60), Ok(UnixTime(T0.0 + 60)));
        assert_eq!(store.consume_nonce(&nonce, UnixTime(T0.0 + 1)), Ok(()));
        assert_eq!(
            store.consume_nonce(&nonce, UnixTime(T0.0 + 2)),
            Err(NonceError::AlreadyUsed)
        );
    }

    #[test]
    fn nonce_reissue_refused() {
        let (_dir, store) = open();
        let nonce = [1u8; 32];
        store.issue_nonce(&nonce, T0, 60).unwrap();
        assert_eq!(
            store.issue_nonce(&nonce, T0, 60),
            Err(StoreError::NonceExists)
        );
    }

    #[test]
    fn nonce_unknown_and_length() {
        let (_dir, store) = open();
        assert_eq!(
            store.consume_nonce(&[9u8; 32], T0),
            Err(NonceError::Unknown)
        );
        assert_eq!(
            store.consume_nonce(&[9u8; 31], T0),
            Err(NonceError::Length(31))
        );
        assert_eq!(
            store.consume_nonce(&[9u8; 33], T0),
            Err(NonceError::Length(33))
        );
        assert_eq!(store.consume_nonce(&[], T0), Err(NonceError::Length(0)));
    }

    #[test]
    fn nonce_expiry_boundary_is_exclusive() {
        let (_dir, store) = open();
        let (a, b) = ([2u8; 32], [3u8; 32]);
        let expires = store.issue_nonce(&a, T0, 60).unwrap();
        store.issue_nonce(&b, T0, 60).unwrap();
        // One second before expiry: valid.
        assert_eq!(store.consume_nonce(&a, UnixTime(expires.0 - 1)), Ok(()));
        // At expiry: expired, and consumed all the same.
        assert_eq!(
            store.consume_nonce(&b, expires),
            Err(NonceError::Expired {
                expired_at: expires
            })
        );
        assert_eq!(
            store.consume_nonce(&b, expires),
            Err(NonceError::AlreadyUsed)
        );
    }

    #[test]
    fn nonce_ttl_overflow() {
        let (_dir, store) = open();
        assert_eq!(
            store.issue_nonce(&[4u8; 32], UnixTime(i64::MAX - 1), 2),
            Err(StoreError::TimeOutOfRange)
        );
        assert_eq!(
            store.issue_nonce(&[4u8; 32], T0, u64::MAX),
            Err(StoreError::TimeOutOfRange)
        );
    }

    #[test]
    fn concurrent_consume_exactly_one_wins() {
        let (_dir, store) = open();
        let store = Arc::new(store);
        let nonce = [5u8; 32];
        store.issue_nonce(&nonce, T0, 60).unwrap();
        let barrier = Arc::new(Barrier::new(16));
        let handles: Vec<_> = (0..16)
            .map(|_| {
                let store = Arc::clone(&store);
                let barrier = Arc::clone(&barrier);
                thread::spawn(move || {
                    barrier.wait();
                    store.consume_nonce(&nonce, UnixTime(T0.0 + 1))
                })
            })
            .collect();
        let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1);
        assert_eq!(
            results
                .iter()
                .filter(|r| **r == Err(NonceError::AlreadyUsed))
                .count(),
            15
        );
    }

    #[test]
    fn concurrent_consume_across_connections() {
        // Two stores on one file stand in for two processes: SQLite's locking, not our mutex,
        // must make the claim atomic.
        let dir = tempfile::tempdir().unwrap();
        let stores: Vec<_> = (0..4)
            .map(|_| Arc::new(Store::open(dir.path()).unwrap()))
            .collect();
        let nonce = [6u8; 32];
        stores[0].issue_nonce(&nonce, T0, 60).unwrap();
        let barrier = Arc::new(Barrier::new(16));
        let handles: Vec<_> = (0..16)
            .map(|i| {
                let store = Arc::clone(&stores[i % stores.len()]);
                let barrier = Arc::clone(&barrier);
                thread::spawn(move || {
                    barrier.wait();
                    store.consume_nonce(&nonce, UnixTime(T0.0 + 1))
                })
            })
            .collect();
        let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        assert_eq!(
            results.iter().filter(|r| r.is_ok()).count(),
            1,
            "{results:?}"
        );
        assert!(
            results
                .iter()
                .all(|r| r.is_ok() || *r == Err(NonceError::AlreadyUsed)),
            "{results:?}"
        );
    }

    #[test]
    fn purge_keeps_retention_window() {
        let (_dir, store) = open();
        let (a, b) = ([10u8; 32], [11u8; 32]);
        store.issue_nonce(&a, T0, 60).unwrap(); // expires T0+60
        store.issue_nonce(&b, UnixTime(T0.0 + 100), 60).unwrap(); // expires T0+160
        store.consume_nonce(&a, UnixTime(T0.0 + 1)).unwrap();
        // expires_at + retain == now: kept.
        assert_eq!(store.purge_nonces(UnixTime(T0.0 + 60 + 300), 300), Ok(0));
        assert_eq!(
            store.consume_nonce(&a, UnixTime(T0.0 + 360)),
            Err(NonceError::AlreadyUsed)
        );
        // One second later: purged; a replay is now merely unknown.
        assert_eq!(store.purge_nonces(UnixTime(T0.0 + 361), 300), Ok(1));
        assert_eq!(
            store.consume_nonce(&a, UnixTime(T0.0 + 361)),
            Err(NonceError::Unknown)
        );
        assert_eq!(
            store.consume_nonce(&b, UnixTime(T0.0 + 159)),
            Ok(()),
            "unexpired nonce survives"
        );
        assert_eq!(store.purge_nonces(UnixTime(i64::MIN), u64::MAX), Ok(0));
    }

    fn row(id: &str) -> KeyRow {
        KeyRow {
            id: id.to_owned(),
            policy: "default".to_owned(),
            sealed: vec![1, 2, 3],
            created_at: T0,
        }
    }

    #[test]
    fn collateral_rows_replace_and_bump_the_generation() {
        let (_dir, store) = open();
        assert_eq!(store.collateral_generation().unwrap(), 0);
        assert!(store.collateral_rows().unwrap().is_empty());
        let mut row = CollateralRow {
            kind: "tcb-info".to_owned(),
            key: "90c06f000000".to_owned(),
            body: b"{}".to_vec(),
            issue_date: Some(UnixTime(10)),
            next_update: Some(UnixTime(20)),
            source: "import:/tmp/x".to_owned(),
            stored_at: UnixTime(11),
        };
        assert_eq!(store.put_collateral(std::slice::from_ref(&row)).unwrap(), 1);
        row.body = b"{\"new\":1}".to_vec();
        row.next_update = None;
        let other = CollateralRow {
            kind: "root-ca-crl".to_owned(),
            key: "root".to_owned(),
            ..row.clone()
        };
        assert_eq!(
            store.put_collateral(&[row.clone(), other.clone()]).unwrap(),
            2
        );
        assert_eq!(store.collateral_rows().unwrap(), vec![other, row]);
        assert_eq!(store.collateral_generation().unwrap(), 2);
    }

    #[test]
    fn rim_rows_replace_by_id() {
        let (_dir, store) = open();
        assert!(store.rim_rows().unwrap().is_empty());
        let mut row = RimRow {
            id: "NV_GPU_DRIVER_GH100_550.144.03".to_owned(),
            kind: "driver".to_owned(),
            version: "550.144.03".to_owned(),
            body: b"<a/>".to_vec(),
            valid_until: UnixTime(20),
            source: "import:/tmp/a.xml".to_owned(),
            stored_at: UnixTime(11),
        };
        store.put_rims(std::slice::from_ref(&row)).unwrap();
        row.body = b"<b/>".to_vec();
        row.valid_until = UnixTime(30);
        let other = RimRow {
            id: "NV_GPU_VBIOS_1010_0200_882_96005E0001".to_owned(),
            ..row.clone()
        };
        store.put_rims(&[row.clone(), other.clone()]).unwrap();
        assert_eq!(store.rim_rows().unwrap(), vec![row.clone(), other]);
        assert_eq!(store.get_rim(&row.id).unwrap(), Some(row));
        assert_eq!(store.get_rim("NV_GPU_DRIVER_GH100_1.0").unwrap(), None);
    }

    #[test]
    fn key_crud() {
        let (_dir, store) = open();
        assert_eq!(store.get_key("b"), Ok(None));
        store.insert_key(&row("b")).unwrap();
        store.insert_key(&row("a")).unwrap();
        assert_eq!(
            store.insert_key(&row("a")),
            Err(StoreError::KeyExists { id: "a".to_owned() })
        );
        assert_eq!(store.get_key("b"), Ok(Some(row("b"))));
        let ids: Vec<_> = store
            .list_keys()
            .unwrap()
            .into_iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(ids, ["a", "b"]);
        assert_eq!(store.remove_key("a"), Ok(true));
        assert_eq!(store.remove_key("a"), Ok(false));
        assert_eq!(store.list_keys().unwrap(), vec![row("b")]);
        let sync: i64 = store
            .conn()
            .pragma_query_value(None, "synchronous", |r| r.get(0))
            .unwrap();
        assert_eq!(sync, 1, "key writes restore synchronous=NORMAL");
    }
}
