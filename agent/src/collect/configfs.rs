//! Reports through the kernel's configfs-tsm interface (Linux 6.7+,
//! `Documentation/ABI/testing/configfs-tsm-report`).
//!
//! An entry directory made under `tsm/report` gets the attributes `provider`, `privlevel`,
//! `inblob`, `outblob`, `auxblob` and `generation`. Every write to an attribute increments
//! `generation` (from 0 in a fresh entry); reading `outblob` makes the provider produce the
//! report for what was written. So a report belongs to our `inblob` exactly when `generation`
//! equals the number of our writes before and after the blobs are read.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use rand_core::{OsRng, RngCore, UnwrapErr};
use warden_evidence::snp::{CertTable, REPORT_SIZE};

use super::{CollectError, CpuEvidence};

/// The configfs-tsm report directory.
pub const DEFAULT_ROOT: &str = "/sys/kernel/config/tsm/report";

/// The `provider` of SEV-SNP guests.
pub const SEV_GUEST_PROVIDER: &str = "sev_guest";

/// The outcome of one configfs-tsm request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TsmReport {
    /// `outblob`: the report or quote.
    pub outblob: Vec<u8>,
    /// `auxblob`: provider-specific data (the certificate table on SEV-SNP); empty when the
    /// attribute is absent or empty.
    pub auxblob: Vec<u8>,
    /// The entry directory used (already removed), for messages.
    pub entry: PathBuf,
}

/// An SEV-SNP report at VMPL 0 for `report_data` with the host's certificate table, through
/// configfs-tsm under `root`.
///
/// # Errors
///
/// See [`report`]; also [`CollectError::ReportSize`] for an outblob that is not 1184 bytes and
/// [`CollectError::CertTable`] for a malformed auxblob.
pub fn snp_report(root: &Path, report_data: &[u8; 64]) -> Result<CpuEvidence, CollectError> {
    snp_report_with(&Kernel, root, report_data)
}

fn snp_report_with(
    fs_: &dyn Attributes,
    root: &Path,
    report_data: &[u8; 64],
) -> Result<CpuEvidence, CollectError> {
    let tsm = report_with(fs_, root, SEV_GUEST_PROVIDER, Some(0), report_data)?;
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
        report: tsm.outblob,
        certificates: tsm.auxblob,
    })
}

/// One configfs-tsm request: makes a fresh entry under `root`, checks that its `provider` is
/// `provider`, writes `privlevel` (when given and the attribute exists) and `inblob`, reads
/// `outblob` and `auxblob`, and removes the entry again, also on error.
///
/// # Errors
///
/// [`CollectError::Io`] naming the file, [`CollectError::WrongProvider`],
/// [`CollectError::ConcurrentWriter`] when `generation` shows writes that are not ours, and
/// [`CollectError::Malformed`] for an unreadable `generation`.
pub fn report(
    root: &Path,
    provider: &'static str,
    privlevel: Option<u32>,
    inblob: &[u8],
) -> Result<TsmReport, CollectError> {
    report_with(&Kernel, root, provider, privlevel, inblob)
}

/// The file system below an entry. The kernel makes and removes attribute files itself; tests
/// emulate that on a plain directory.
pub(crate) trait Attributes {
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

pub(crate) fn report_with(
    fs_: &dyn Attributes,
    root: &Path,
    provider: &'static str,
    privlevel: Option<u32>,
    inblob: &[u8],
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
        .and_then(|()| request(fs_, &entry, provider, privlevel, inblob));
    if let Err(e) = fs_.removing(&entry).and_then(|()| fs::remove_dir(&entry)) {
        // A leftover entry only costs kernel memory; the report itself is sound.
        tracing::warn!(entry = %entry.display(), error = %e, "cannot remove configfs-tsm entry");
    }
    result
}

fn request(
    fs_: &dyn Attributes,
    entry: &Path,
    provider: &'static str,
    privlevel: Option<u32>,
    inblob: &[u8],
) -> Result<TsmReport, CollectError> {
    let provider_path = entry.join("provider");
    let found = fs_
        .read(&provider_path)
        .map_err(CollectError::io("read", &provider_path))?;
    let found = String::from_utf8_lossy(&found).trim_end().to_owned();
    if found != provider {
        return Err(CollectError::WrongProvider {
            path: provider_path,
            expected: provider,
            found,
        });
    }

    let mut writes = 0;
    if let Some(level) = privlevel {
        let path = entry.join("privlevel");
        // TDX entries have no privlevel.
        if path.exists() {
            write_attribute(&path, level.to_string().as_bytes())?;
            writes += 1;
        }
    }
    write_attribute(&entry.join("inblob"), inblob)?;
    writes += 1;

    let generation_path = entry.join("generation");
    let before = generation(fs_, &generation_path)?;
    if before != writes {
        return Err(CollectError::ConcurrentWriter {
            path: generation_path,
            expected: writes,
            found: before,
        });
    }
    let outblob_path = entry.join("outblob");
    let outblob = fs_
        .read(&outblob_path)
        .map_err(CollectError::io("read", &outblob_path))?;
    let auxblob_path = entry.join("auxblob");
    let auxblob = match fs_.read(&auxblob_path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(CollectError::io("read", &auxblob_path)(e)),
    };
    let after = generation(fs_, &generation_path)?;
    if after != before {
        return Err(CollectError::ConcurrentWriter {
            path: generation_path,
            expected: before,
            found: after,
        });
    }
    Ok(TsmReport {
        outblob,
        auxblob,
        entry: entry.to_path_buf(),
    })
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

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    /// A plain directory standing in for configfs: attribute files appear on mkdir and go
    /// before rmdir, as the kernel makes them.
    struct FakeConfigfs {
        provider: &'static str,
        generation: &'static str,
        with_privlevel: bool,
        outblob: Vec<u8>,
        auxblob: Option<Vec<u8>>,
        /// Bump `generation` when `outblob` is read, as a concurrent writer would.
        race: bool,
        entry: Cell<Option<PathBuf>>,
    }

    impl FakeConfigfs {
        fn snp(outblob: Vec<u8>, auxblob: Option<Vec<u8>>) -> Self {
            Self {
                provider: "sev_guest\n",
                generation: "2\n",
                with_privlevel: true,
                outblob,
                auxblob,
                race: false,
                entry: Cell::new(None),
            }
        }
    }

    impl Attributes for FakeConfigfs {
        fn created(&self, entry: &Path) -> io::Result<()> {
            self.entry.set(Some(entry.to_path_buf()));
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
            let bytes = fs::read(path)?;
            if self.race && path.ends_with("outblob") {
                fs::write(path.with_file_name("generation"), "3\n")?;
            }
            Ok(bytes)
        }

        fn removing(&self, entry: &Path) -> io::Result<()> {
            for file in fs::read_dir(entry)? {
                fs::remove_file(file?.path())?;
            }
            Ok(())
        }
    }

    fn run(fake: &FakeConfigfs) -> (Result<CpuEvidence, CollectError>, tempfile::TempDir) {
        let root = tempfile::tempdir().unwrap();
        let result =
            report_with(fake, root.path(), SEV_GUEST_PROVIDER, Some(0), &[0xAB; 64]).map(|tsm| {
                CpuEvidence {
                    report: tsm.outblob,
                    certificates: tsm.auxblob,
                }
            });
        (result, root)
    }

    fn assert_cleaned(root: &tempfile::TempDir) {
        assert_eq!(fs::read_dir(root.path()).unwrap().count(), 0);
    }

    #[test]
    fn writes_inputs_and_reads_blobs() {
        let table = CertTable {
            vcek: Some(vec![0x30, 1, 2]),
            ..CertTable::default()
        }
        .encode();
        let fake = FakeConfigfs::snp(vec![7; REPORT_SIZE], Some(table.clone()));
        let root = tempfile::tempdir().unwrap();
        // Keep the entry to look at what was written.
        struct Keep<'a>(&'a FakeConfigfs);
        impl Attributes for Keep<'_> {
            fn created(&self, entry: &Path) -> io::Result<()> {
                self.0.created(entry)
            }
        }
        let tsm =
            report_with(&Keep(&fake), root.path(), "sev_guest", Some(0), &[0xAB; 64]).unwrap();
        assert_eq!(tsm.outblob, vec![7; REPORT_SIZE]);
        assert_eq!(tsm.auxblob, table);
        let entry = fake.entry.take().unwrap();
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
        let (evidence, root) = run(&FakeConfigfs::snp(vec![7; REPORT_SIZE], Some(table)));
        assert_eq!(evidence.unwrap().report, vec![7; REPORT_SIZE]);
        assert_cleaned(&root);
    }

    #[test]
    fn missing_auxblob_and_privlevel() {
        let mut fake = FakeConfigfs::snp(vec![1; 16], None);
        fake.with_privlevel = false;
        fake.generation = "1";
        let (evidence, root) = run(&fake);
        let evidence = evidence.unwrap();
        assert!(evidence.certificates.is_empty());
        assert_cleaned(&root);
    }

    #[test]
    fn wrong_provider() {
        let mut fake = FakeConfigfs::snp(vec![1; 16], None);
        fake.provider = "tdx_guest\n";
        let (result, root) = run(&fake);
        match result {
            Err(CollectError::WrongProvider {
                expected, found, ..
            }) => assert_eq!((expected, found.as_str()), ("sev_guest", "tdx_guest")),
            other => panic!("{other:?}"),
        }
        assert_cleaned(&root);
    }

    #[test]
    fn concurrent_writers() {
        // Someone wrote before our generation check.
        let mut early = FakeConfigfs::snp(vec![1; 16], None);
        early.generation = "3";
        let (result, root) = run(&early);
        assert!(matches!(
            result,
            Err(CollectError::ConcurrentWriter {
                expected: 2,
                found: 3,
                ..
            })
        ));
        assert_cleaned(&root);

        // Someone wrote while we read the blobs.
        let mut during = FakeConfigfs::snp(vec![1; 16], None);
        during.race = true;
        let (result, root) = run(&during);
        assert!(matches!(
            result,
            Err(CollectError::ConcurrentWriter {
                expected: 2,
                found: 3,
                ..
            })
        ));
        assert_cleaned(&root);

        let mut garbage = FakeConfigfs::snp(vec![1; 16], None);
        garbage.generation = "two";
        let (result, _root) = run(&garbage);
        assert!(matches!(result, Err(CollectError::Malformed { .. })));
    }

    #[test]
    fn missing_root_and_outblob() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope");
        let err = report(&missing, SEV_GUEST_PROVIDER, Some(0), &[0; 64]).unwrap_err();
        match err {
            CollectError::Io { op, path, .. } => {
                assert_eq!(op, "create");
                assert!(path.starts_with(&missing));
            }
            other => panic!("{other:?}"),
        }
        // No provider attribute on a plain directory: the error names the file, and the entry
        // is removed.
        let err = report(dir.path(), SEV_GUEST_PROVIDER, Some(0), &[0; 64]).unwrap_err();
        assert!(err.to_string().contains("provider"), "{err}");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn snp_report_checks_sizes_and_table() {
        let root = tempfile::tempdir().unwrap();
        let table = CertTable {
            vcek: Some(vec![0x30, 1, 2]),
            ..CertTable::default()
        }
        .encode();
        let good = FakeConfigfs::snp(vec![1; REPORT_SIZE], Some(table.clone()));
        let evidence = snp_report_with(&good, root.path(), &[0; 64]).unwrap();
        assert_eq!(evidence.certificates, table);

        let short = FakeConfigfs::snp(vec![1; 16], None);
        assert!(matches!(
            snp_report_with(&short, root.path(), &[0; 64]),
            Err(CollectError::ReportSize { got: 16, .. })
        ));
        let bad_table = FakeConfigfs::snp(vec![1; REPORT_SIZE], Some(vec![1, 2, 3]));
        assert!(matches!(
            snp_report_with(&bad_table, root.path(), &[0; 64]),
            Err(CollectError::CertTable { .. })
        ));
        assert_cleaned(&root);
    }
}
