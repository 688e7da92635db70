//! Reports and quotes through the kernel's configfs-tsm interface (Linux 6.7+,
//! `Documentation/ABI/testing/configfs-tsm-report`).
//!
//! An entry directory made under `tsm/report` gets the attributes `provider`, `inblob`,
//! `outblob` and `generation`; SEV-SNP entries also have `privlevel` and `auxblob`. `provider`
//! names the guest driver serving the interface (`sev_guest`, `tdx_guest`), so it tells which
//! TEE this guest is. Every write to an attribute increments `generation` (from 0 in a fresh
//! entry); reading `outblob` makes the provider produce the report or quote for what was
//! written. So a report belongs to our `inblob` exactly when `generation` equals the number of
//! our writes before and after the blobs are read.
//!
//! Reading `outblob` blocks until the report exists. On TDX that means a round trip to the
//! host's quote generation service, which can be slow or never answer, so the read runs on a
//! helper thread under a deadline ([`CollectError::Timeout`]).

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::Duration;

use rand_core::{OsRng, RngCore, UnwrapErr};
use warden_evidence::snp::{CertTable, REPORT_SIZE};

use super::{CollectError, CpuEvidence, Tee, tdx};

/// The configfs-tsm report directory.
pub const DEFAULT_ROOT: &str = "/sys/kernel/config/tsm/report";

/// The `provider` of SEV-SNP guests.
pub const SEV_GUEST_PROVIDER: &str = "sev_guest";

/// The `provider` of TDX guests.
pub const TDX_GUEST_PROVIDER: &str = "tdx_guest";

/// What [`CollectError::WrongProvider`] expects when any known TEE will do.
const ANY_PROVIDER: &str = "sev_guest or tdx_guest";

/// How long reading `outblob` may take by default. The kernel's own TDX GetQuote wait is of the
/// same order, and a healthy host answers in well under a second.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The outcome of one configfs-tsm request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TsmReport {
    /// The TEE whose provider served the request.
    pub tee: Tee,
    /// `outblob`: the report or quote.
    pub outblob: Vec<u8>,
    /// `auxblob`: provider-specific data (the certificate table on SEV-SNP); empty when the
    /// attribute is absent or empty, and always on TDX, where it is not read.
    pub auxblob: Vec<u8>,
    /// The entry directory used (already removed), for messages.
    pub entry: PathBuf,
}

/// Evidence carrying `report_data` through configfs-tsm under `root`: an SEV-SNP report at
/// VMPL 0 with the host's certificate table, or a TDX quote, whichever `tee` asks for (`None`:
/// whichever this guest's provider serves). `timeout` bounds the wait for `outblob`.
///
/// # Errors
///
/// See [`report`]; for SEV-SNP also [`CollectError::ReportSize`] for an outblob that is not
/// 1184 bytes and [`CollectError::CertTable`] for a malformed auxblob; for TDX
/// [`CollectError::QuoteFormat`] (see [`tdx::check_quote`]).
pub fn evidence(
    root: &Path,
    tee: Option<Tee>,
    report_data: &[u8; 64],
    timeout: Duration,
) -> Result<CpuEvidence, CollectError> {
    evidence_with(&kernel(), root, tee, report_data, timeout)
}

/// An SEV-SNP report at VMPL 0 for `report_data` with the host's certificate table, through
/// configfs-tsm under `root`, waiting at most [`DEFAULT_TIMEOUT`].
///
/// # Errors
///
/// As [`evidence`].
pub fn snp_report(root: &Path, report_data: &[u8; 64]) -> Result<CpuEvidence, CollectError> {
    evidence(root, Some(Tee::SevSnp), report_data, DEFAULT_TIMEOUT)
}

pub(crate) fn evidence_with(
    fs_: &Arc<dyn Attributes>,
    root: &Path,
    tee: Option<Tee>,
    report_data: &[u8; 64],
    timeout: Duration,
) -> Result<CpuEvidence, CollectError> {
    let tsm = report_with(fs_, root, tee, report_data, timeout)?;
    match tsm.tee {
        Tee::SevSnp => snp_evidence(tsm),
        Tee::Tdx => tdx::evidence(tsm, report_data),
    }
}

fn snp_evidence(tsm: TsmReport) -> Result<CpuEvidence, CollectError> {
    if tsm.outblob.len() != REPORT_SIZE {
        return Err(CollectError::ReportSize {
            path: tsm.entry.join("outblob"),
            got: tsm.outblob.len(),
        });
    }
    // Check the table here so that a broken host shows up in the agent's log, not only as a
    // rejection at the verifier.
    if !tsm.auxblob.is_empty() {
        CertTable::parse(&tsm.auxblob).map_err(|source| CollectError::CertTable {
            path: tsm.entry.join("auxblob"),
            source,
        })?;
    }
    Ok(CpuEvidence {
        tee: Tee::SevSnp,
        report: tsm.outblob,
        certificates: tsm.auxblob,
    })
}

/// One configfs-tsm request: makes a fresh entry under `root`, checks that its `provider` is
/// `tee`'s (any known TEE's when `None`), writes `privlevel` 0 (SEV-SNP, when the attribute
/// exists) and `inblob`, reads `outblob` within `timeout` and, on SEV-SNP, `auxblob`, and
/// removes the entry again, also on error.
///
/// # Errors
///
/// [`CollectError::Io`] naming the file, [`CollectError::WrongProvider`],
/// [`CollectError::ConcurrentWriter`] when `generation` shows writes that are not ours,
/// [`CollectError::Malformed`] for an unreadable `generation`, and [`CollectError::Timeout`]
/// when `outblob` does not answer within `timeout`.
pub fn report(
    root: &Path,
    tee: Option<Tee>,
    inblob: &[u8],
    timeout: Duration,
) -> Result<TsmReport, CollectError> {
    report_with(&kernel(), root, tee, inblob, timeout)
}

/// The file system below an entry. The kernel makes and removes attribute files itself; tests
/// emulate that on a plain directory. `Send + Sync` because `outblob` is read on a helper
/// thread that may outlive the request.
pub(crate) trait Attributes: Send + Sync {
    /// Called after the entry directory was made.
    fn created(&self, _entry: &Path) -> io::Result<()> {
        Ok(())
    }
    /// Reads an attribute.
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        fs::read(path)
    }
    /// Called before the entry directory is removed.
    fn removing(&self, _entry: &Path) -> io::Result<()> {
        Ok(())
    }
}

/// The real configfs.
struct Kernel;

impl Attributes for Kernel {}

fn kernel() -> Arc<dyn Attributes> {
    Arc::new(Kernel)
}

pub(crate) fn report_with(
    fs_: &Arc<dyn Attributes>,
    root: &Path,
    tee: Option<Tee>,
    inblob: &[u8],
    timeout: Duration,
) -> Result<TsmReport, CollectError> {
    // mkdir fails on an existing name, so the entry is ours and fresh (generation 0).
    let entry = root.join(format!(
        "warden-{}-{:016x}",
        std::process::id(),
        UnwrapErr(OsRng).next_u64()
    ));
    fs::create_dir(&entry).map_err(CollectError::io("create", &entry))?;
    let result = fs_
        .created(&entry)
        .map_err(CollectError::io("create", &entry))
        .and_then(|()| request(fs_, &entry, tee, inblob, timeout));
    // Also after a timeout: configfs lets an entry go while a read is still blocked in it (the
    // open file keeps the kernel object alive until the read returns).
    if let Err(e) = fs_.removing(&entry).and_then(|()| fs::remove_dir(&entry)) {
        // A leftover entry only costs kernel memory; the report itself is sound.
        tracing::warn!(entry = %entry.display(), error = %e, "cannot remove configfs-tsm entry");
    }
    result
}

fn request(
    fs_: &Arc<dyn Attributes>,
    entry: &Path,
    tee: Option<Tee>,
    inblob: &[u8],
    timeout: Duration,
) -> Result<TsmReport, CollectError> {
    let provider_path = entry.join("provider");
    let found = fs_
        .read(&provider_path)
        .map_err(CollectError::io("read", &provider_path))?;
    let found = String::from_utf8_lossy(&found).trim_end().to_owned();
    let Some(found_tee) =
        Tee::from_provider(&found).filter(|found| tee.is_none_or(|wanted| wanted == *found))
    else {
        return Err(CollectError::WrongProvider {
            path: provider_path,
            expected: tee.map_or(ANY_PROVIDER, Tee::provider),
            found,
        });
    };

    let mut writes = 0;
    if found_tee == Tee::SevSnp {
        let path = entry.join("privlevel");
        // VMPL 0: the report must speak for the most privileged level, which policy requires.
        // Kernels may hide the attribute when the provider has no levels.
        if path.exists() {
            write_attribute(&path, b"0")?;
            writes += 1;
        }
    }
    write_attribute(&entry.join("inblob"), inblob)?;
    writes += 1;

    let generation_path = entry.join("generation");
    let before = generation(fs_.as_ref(), &generation_path)?;
    if before != writes {
        return Err(CollectError::ConcurrentWriter {
            path: generation_path,
            expected: writes,
            found: before,
        });
    }
    let outblob = read_within(fs_, &entry.join("outblob"), timeout)?;
    let auxblob = match found_tee {
        // The report is made once per generation; auxblob comes from the same request.
        Tee::SevSnp => {
            let auxblob_path = entry.join("auxblob");
            match fs_.read(&auxblob_path) {
                Ok(bytes) => bytes,
                Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
                Err(e) => return Err(CollectError::io("read", &auxblob_path)(e)),
            }
        }
        Tee::Tdx => Vec::new(),
    };
    let after = generation(fs_.as_ref(), &generation_path)?;
    if after != before {
        return Err(CollectError::ConcurrentWriter {
            path: generation_path,
            expected: before,
            found: after,
        });
    }
    Ok(TsmReport {
        tee: found_tee,
        outblob,
        auxblob,
        entry: entry.to_path_buf(),
    })
}

/// Reads `path` on a helper thread and waits for it at most `timeout`.
///
/// A read blocked in the kernel cannot be cancelled from userspace, so after a timeout the
/// thread is left behind: it ends when the kernel read returns, and its result is dropped.
fn read_within(
    fs_: &Arc<dyn Attributes>,
    path: &Path,
    timeout: Duration,
) -> Result<Vec<u8>, CollectError> {
    let (tx, rx) = mpsc::sync_channel(1);
    let reader = Arc::clone(fs_);
    let target = path.to_path_buf();
    thread::Builder::new()
        .name("warden-tsm-read".to_owned())
        .spawn(move || {
            // The receiver is gone after a timeout; nobody wants the answer then.
            let _ = tx.send(reader.read(&target));
        })
        .map_err(CollectError::io("start a reader thread for", path))?;
    match rx.recv_timeout(timeout) {
        Ok(read) => read.map_err(CollectError::io("read", path)),
        Err(mpsc::RecvTimeoutError::Timeout) => Err(CollectError::Timeout {
            path: path.to_path_buf(),
            after: timeout,
        }),
        Err(mpsc::RecvTimeoutError::Disconnected) => Err(CollectError::Io {
            op: "read",
            path: path.to_path_buf(),
            source: io::Error::other("the reader thread ended without an answer"),
        }),
    }
}

/// Writes an existing attribute in one `write` (configfs commits binary attributes on close).
fn write_attribute(path: &Path, value: &[u8]) -> Result<(), CollectError> {
    let mut file = fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(CollectError::io("write", path))?;
    file.write_all(value)
        .and_then(|()| file.flush())
        .map_err(CollectError::io("write", path))
}

fn generation(fs_: &dyn Attributes, path: &Path) -> Result<u64, CollectError> {
    let raw = fs_.read(path).map_err(CollectError::io("read", path))?;
    std::str::from_utf8(&raw)
        .ok()
        .and_then(|s| s.trim_end().parse().ok())
        .ok_or_else(|| CollectError::Malformed {
            path: PathBuf::from(path),
            reason: "generation is not a decimal number",
        })
}

/// A plain directory standing in for configfs, for tests here and in [`super::tdx`].
#[cfg(test)]
pub(crate) mod fake {
    use std::sync::Mutex;

    use super::*;

    /// Attribute files appear on mkdir and go before rmdir, as the kernel makes them.
    pub(crate) struct FakeConfigfs {
        pub(crate) provider: &'static str,
        pub(crate) generation: &'static str,
        pub(crate) with_privlevel: bool,
        pub(crate) outblob: Vec<u8>,
        pub(crate) auxblob: Option<Vec<u8>>,
        /// Bump `generation` when `outblob` is read, as a concurrent writer would.
        pub(crate) race: bool,
        /// Block reads of `outblob` this long, as a hung quote service does.
        pub(crate) stall: Option<Duration>,
        /// Leave the attribute files, so the entry survives to be looked at.
        pub(crate) keep: bool,
        /// The entry made.
        pub(crate) entry: Mutex<Option<PathBuf>>,
    }

    impl FakeConfigfs {
        /// An SEV-SNP guest: privlevel and inblob written, generation 2.
        pub(crate) fn snp(outblob: Vec<u8>, auxblob: Option<Vec<u8>>) -> Self {
            Self {
                provider: "sev_guest\n",
                generation: "2\n",
                with_privlevel: true,
                outblob,
                auxblob,
                race: false,
                stall: None,
                keep: false,
                entry: Mutex::new(None),
            }
        }

        /// A TDX guest: only inblob written, generation 1, no auxblob.
        pub(crate) fn tdx(outblob: Vec<u8>) -> Self {
            Self {
                provider: "tdx_guest\n",
                generation: "1\n",
                with_privlevel: false,
                auxblob: None,
                ..Self::snp(outblob, None)
            }
        }

        pub(crate) fn entry(&self) -> PathBuf {
            self.entry.lock().unwrap().clone().unwrap()
        }

        /// Runs a request for `tee` in a fresh root, which is returned to be looked at.
        pub(crate) fn run(
            self,
            tee: Option<Tee>,
            timeout: Duration,
        ) -> (
            Result<TsmReport, CollectError>,
            tempfile::TempDir,
            Arc<Self>,
        ) {
            let root = tempfile::tempdir().unwrap();
            let fake = Arc::new(self);
            let fs_: Arc<dyn Attributes> = fake.clone();
            let result = report_with(&fs_, root.path(), tee, &[0xAB; 64], timeout);
            (result, root, fake)
        }

        /// Evidence for `report_data` from `tee` in a fresh root.
        pub(crate) fn evidence(
            self,
            tee: Option<Tee>,
            report_data: &[u8; 64],
        ) -> (Result<CpuEvidence, CollectError>, tempfile::TempDir) {
            let root = tempfile::tempdir().unwrap();
            let fs_: Arc<dyn Attributes> = Arc::new(self);
            let result = evidence_with(&fs_, root.path(), tee, report_data, DEFAULT_TIMEOUT);
            (result, root)
        }
    }

    impl Attributes for FakeConfigfs {
        fn created(&self, entry: &Path) -> io::Result<()> {
            *self.entry.lock().unwrap() = Some(entry.to_path_buf());
            fs::write(entry.join("provider"), self.provider)?;
            fs::write(entry.join("generation"), self.generation)?;
            fs::write(entry.join("inblob"), b"")?;
            if self.with_privlevel {
                fs::write(entry.join("privlevel"), b"")?;
            }
            fs::write(entry.join("outblob"), &self.outblob)?;
            if let Some(aux) = &self.auxblob {
                fs::write(entry.join("auxblob"), aux)?;
            }
            Ok(())
        }

        fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
            if path.ends_with("outblob")
                && let Some(stall) = self.stall
            {
                thread::sleep(stall);
            }
            let bytes = fs::read(path)?;
            if self.race && path.ends_with("outblob") {
                fs::write(path.with_file_name("generation"), "3\n")?;
            }
            Ok(bytes)
        }

        fn removing(&self, entry: &Path) -> io::Result<()> {
            if !self.keep {
                for file in fs::read_dir(entry)? {
                    fs::remove_file(file?.path())?;
                }
            }
            Ok(())
        }
    }

    /// The root holds no entry any more.
    pub(crate) fn assert_cleaned(root: &tempfile::TempDir) {
        assert_eq!(fs::read_dir(root.path()).unwrap().count(), 0);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::fake::{FakeConfigfs, assert_cleaned};
    use super::*;

    fn run(fake: FakeConfigfs) -> (Result<TsmReport, CollectError>, tempfile::TempDir) {
        let (result, root, _) = fake.run(Some(Tee::SevSnp), DEFAULT_TIMEOUT);
        (result, root)
    }

    #[test]
    fn writes_inputs_and_reads_blobs() {
        let table = CertTable {
            vcek: Some(vec![0x30, 1, 2]),
            ..CertTable::default()
        }
        .encode();
        // Keep the entry to look at what was written.
        let mut keep = FakeConfigfs::snp(vec![7; REPORT_SIZE], Some(table.clone()));
        keep.keep = true;
        let (tsm, _root, fake) = keep.run(Some(Tee::SevSnp), DEFAULT_TIMEOUT);
        let tsm = tsm.unwrap();
        assert_eq!(tsm.tee, Tee::SevSnp);
        assert_eq!(tsm.outblob, vec![7; REPORT_SIZE]);
        assert_eq!(tsm.auxblob, table);
        let entry = fake.entry();
        assert_eq!(tsm.entry, entry);
        assert_eq!(fs::read(entry.join("inblob")).unwrap(), [0xAB; 64]);
        assert_eq!(fs::read(entry.join("privlevel")).unwrap(), b"0");
        assert!(
            entry
                .file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("warden-")
        );

        // The real path removes the entry.
        let (tsm, root) = run(FakeConfigfs::snp(vec![7; REPORT_SIZE], Some(table)));
        assert_eq!(tsm.unwrap().outblob, vec![7; REPORT_SIZE]);
        assert_cleaned(&root);
    }

    #[test]
    fn missing_auxblob_and_privlevel() {
        let mut fake = FakeConfigfs::snp(vec![1; 16], None);
        fake.with_privlevel = false;
        fake.generation = "1";
        let (tsm, root) = run(fake);
        assert!(tsm.unwrap().auxblob.is_empty());
        assert_cleaned(&root);
    }

    #[test]
    fn tdx_writes_no_privlevel_and_reads_no_auxblob() {
        // Even where the kernel shows privlevel on a TDX entry, it is left alone (a write would
        // also count in generation), and auxblob is not TDX's.
        let mut fake = FakeConfigfs::tdx(vec![4; 700]);
        fake.with_privlevel = true;
        fake.auxblob = Some(vec![9; 8]);
        fake.keep = true;
        let (tsm, _root, fake) = fake.run(Some(Tee::Tdx), DEFAULT_TIMEOUT);
        let tsm = tsm.unwrap();
        assert_eq!(
            (tsm.tee, tsm.outblob, tsm.auxblob),
            (Tee::Tdx, vec![4; 700], vec![])
        );
        let entry = fake.entry();
        assert_eq!(fs::read(entry.join("privlevel")).unwrap(), b"");
        assert_eq!(fs::read(entry.join("inblob")).unwrap(), [0xAB; 64]);
    }

    #[test]
    fn auto_detection_takes_the_provider_found() {
        let (tsm, root, _) = FakeConfigfs::tdx(vec![1; 8]).run(None, DEFAULT_TIMEOUT);
        assert_eq!(tsm.unwrap().tee, Tee::Tdx);
        assert_cleaned(&root);
        let (tsm, root, _) = FakeConfigfs::snp(vec![1; 8], None).run(None, DEFAULT_TIMEOUT);
        assert_eq!(tsm.unwrap().tee, Tee::SevSnp);
        assert_cleaned(&root);

        // An unknown provider is refused, naming both known ones.
        let mut cca = FakeConfigfs::tdx(vec![1; 8]);
        cca.provider = "arm_cca_guest\n";
        let (result, root, _) = cca.run(None, DEFAULT_TIMEOUT);
        match result {
            Err(CollectError::WrongProvider {
                expected, found, ..
            }) => assert_eq!((expected, found.as_str()), (ANY_PROVIDER, "arm_cca_guest")),
            other => panic!("{other:?}"),
        }
        assert_cleaned(&root);
    }

    #[test]
    fn wrong_provider() {
        let mut fake = FakeConfigfs::snp(vec![1; 16], None);
        fake.provider = "tdx_guest\n";
        let (result, root) = run(fake);
        match result {
            Err(CollectError::WrongProvider {
                expected, found, ..
            }) => assert_eq!((expected, found.as_str()), ("sev_guest", "tdx_guest")),
            other => panic!("{other:?}"),
        }
        assert_cleaned(&root);

        // An SEV-SNP guest asked for a TDX quote.
        let (result, root, _) =
            FakeConfigfs::snp(vec![1; 16], None).run(Some(Tee::Tdx), DEFAULT_TIMEOUT);
        match result {
            Err(err @ CollectError::WrongProvider { .. }) => {
                let message = err.to_string();
                assert!(message.contains("\"sev_guest\""), "{message}");
                assert!(message.contains("expected tdx_guest"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        assert_cleaned(&root);
    }

    #[test]
    fn concurrent_writers() {
        for (tee, make) in [
            (
                Tee::SevSnp,
                (|| FakeConfigfs::snp(vec![1; 16], None)) as fn() -> FakeConfigfs,
            ),
            (Tee::Tdx, || FakeConfigfs::tdx(vec![1; 16])),
        ] {
            let ours = if tee == Tee::Tdx { 1 } else { 2 };
            // Someone wrote before our generation check.
            let mut early = make();
            early.generation = "3";
            let (result, root, _) = early.run(Some(tee), DEFAULT_TIMEOUT);
            match result {
                Err(CollectError::ConcurrentWriter {
                    expected, found, ..
                }) => assert_eq!((expected, found), (ours, 3)),
                other => panic!("{tee}: {other:?}"),
            }
            assert_cleaned(&root);

            // Someone wrote while we read the blobs.
            let mut during = make();
            during.race = true;
            let (result, root, _) = during.run(Some(tee), DEFAULT_TIMEOUT);
            match result {
                Err(CollectError::ConcurrentWriter {
                    expected, found, ..
                }) => assert_eq!((expected, found), (ours, 3)),
                other => panic!("{tee}: {other:?}"),
            }
            assert_cleaned(&root);
        }

        let mut garbage = FakeConfigfs::snp(vec![1; 16], None);
        garbage.generation = "two";
        let (result, root) = run(garbage);
        assert!(matches!(result, Err(CollectError::Malformed { .. })));
        assert_cleaned(&root);
    }

    #[test]
    fn a_hung_read_times_out_and_the_entry_goes() {
        let mut hung = FakeConfigfs::tdx(vec![1; 16]);
        hung.stall = Some(Duration::from_secs(2));
        let deadline = Duration::from_millis(20);
        let started = Instant::now();
        let (result, root, _) = hung.run(Some(Tee::Tdx), deadline);
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "waited for the read"
        );
        let err = result.unwrap_err();
        let message = err.to_string();
        assert!(message.contains("--quote-timeout"), "{message}");
        assert!(message.contains("background"), "{message}");
        match err {
            CollectError::Timeout { path, after } => {
                assert!(path.ends_with("outblob"), "{}", path.display());
                assert_eq!(after, deadline);
            }
            other => panic!("{other:?}"),
        }
        assert_cleaned(&root);

        // A slow read within the deadline is fine.
        let mut slow = FakeConfigfs::tdx(vec![1; 16]);
        slow.stall = Some(Duration::from_millis(20));
        let (result, root, _) = slow.run(Some(Tee::Tdx), Duration::from_secs(5));
        assert_eq!(result.unwrap().outblob, vec![1; 16]);
        assert_cleaned(&root);
    }

    #[test]
    fn missing_root_and_provider() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope");
        let err = report(&missing, Some(Tee::SevSnp), &[0; 64], DEFAULT_TIMEOUT).unwrap_err();
        match err {
            CollectError::Io { op, path, .. } => {
                assert_eq!(op, "create");
                assert!(path.starts_with(&missing));
            }
            other => panic!("{other:?}"),
        }
        // No provider attribute on a plain directory: the error names the file, and the entry
        // is removed.
        let err = report(dir.path(), None, &[0; 64], DEFAULT_TIMEOUT).unwrap_err();
        assert!(err.to_string().contains("provider"), "{err}");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn snp_evidence_checks_sizes_and_table() {
        let table = CertTable {
            vcek: Some(vec![0x30, 1, 2]),
            ..CertTable::default()
        }
        .encode();
        let good = FakeConfigfs::snp(vec![1; REPORT_SIZE], Some(table.clone()));
        let (evidence, root) = good.evidence(Some(Tee::SevSnp), &[0; 64]);
        let evidence = evidence.unwrap();
        assert_eq!(evidence.tee, Tee::SevSnp);
        assert_eq!(evidence.certificates, table);
        assert_cleaned(&root);

        let short = FakeConfigfs::snp(vec![1; 16], None);
        assert!(matches!(
            short.evidence(None, &[0; 64]).0,
            Err(CollectError::ReportSize { got: 16, .. })
        ));
        let bad_table = FakeConfigfs::snp(vec![1; REPORT_SIZE], Some(vec![1, 2, 3]));
        assert!(matches!(
            bad_table.evidence(Some(Tee::SevSnp), &[0; 64]).0,
            Err(CollectError::CertTable { .. })
        ));
    }
}
