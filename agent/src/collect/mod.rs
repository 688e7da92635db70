//! Collection of CPU TEE evidence inside the confidential VM.
//!
//! SEV-SNP only for now. Three sources, in the order [`detect_snp`] prefers them: the kernel's
//! configfs-tsm interface ([`configfs`], Linux 6.7+), the `/dev/sev-guest` ioctl through the
//! `sev` crate ([`snp`]), and a simulated CVM for tests and demos ([`sim`]), which is only ever
//! used when asked for (`--simulate`), never as a fallback.

pub mod configfs;
pub mod sim;
pub mod snp;

use std::io;
use std::path::{Path, PathBuf};

use warden_evidence::sim::snp::SimError;
use warden_evidence::snp::SnpError;

/// SEV-SNP evidence as collected: the report and the certificates the host supplied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpuEvidence {
    /// The raw 1184-byte ATTESTATION_REPORT.
    pub report: Vec<u8>,
    /// The host's certificate table (GHCB spec 56421 section 4.1.8.1; parse it with
    /// `warden_evidence::snp::CertTable`), or empty when the host supplied none, in which case
    /// the verifier must find the VCEK itself.
    pub certificates: Vec<u8>,
}

/// Where SEV-SNP evidence comes from.
#[derive(Debug)]
pub enum SnpSource {
    /// configfs-tsm: `root` is the report directory, normally
    /// [`configfs::DEFAULT_ROOT`](configfs::DEFAULT_ROOT).
    ConfigfsTsm {
        /// The `tsm/report` directory.
        root: PathBuf,
    },
    /// The `/dev/sev-guest` device through the `sev` crate.
    SevGuest {
        /// The device path (the `sev` crate opens [`snp::DEFAULT_DEVICE`] only).
        device: PathBuf,
    },
    /// A simulated SEV-SNP CVM, for tests and demos only.
    Simulated(Box<sim::SimulatedSnp>),
}

/// Why evidence could not be collected.
///
/// Not `PartialEq`: the I/O variants carry the [`io::Error`], which is not comparable; tests
/// match on the variant.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CollectError {
    /// Neither configfs-tsm nor `/dev/sev-guest` is available.
    #[error(
        "no SEV-SNP interface found: neither {} (configfs-tsm) nor {} exists; this does not \
         look like an SEV-SNP guest (start with --simulate to use a simulated CVM for testing)",
        configfs.display(),
        device.display()
    )]
    NoSnpInterface {
        /// The configfs-tsm report directory looked for.
        configfs: PathBuf,
        /// The device looked for.
        device: PathBuf,
    },
    /// A file system operation failed.
    #[error("cannot {op} {}: {source}", path.display())]
    Io {
        /// What was being done: `create`, `read`, `write`, `remove`.
        op: &'static str,
        /// The path concerned.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The configfs-tsm provider is not the one expected (for example `tdx_guest` on a TDX
    /// guest).
    #[error("configfs-tsm provider in {} is {found:?}, expected {expected:?}", path.display())]
    WrongProvider {
        /// The `provider` attribute read.
        path: PathBuf,
        /// The provider expected.
        expected: &'static str,
        /// The provider found.
        found: String,
    },
    /// Another writer changed the configfs-tsm entry while the report was produced, so the
    /// report may not carry our REPORT_DATA.
    #[error(
        "configfs-tsm entry {} was written concurrently: generation {found}, expected {expected}",
        path.display()
    )]
    ConcurrentWriter {
        /// The `generation` attribute.
        path: PathBuf,
        /// The generation expected.
        expected: u64,
        /// The generation read.
        found: u64,
    },
    /// A file whose content is not what the interface defines.
    #[error("{}: {reason}", path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: &'static str,
    },
    /// The report is not 1184 bytes.
    #[error("SEV-SNP report from {} is {got} bytes, expected 1184", path.display())]
    ReportSize {
        /// Where it came from.
        path: PathBuf,
        /// Its length.
        got: usize,
    },
    /// The `/dev/sev-guest` request failed.
    #[error("SEV-SNP extended report request on {} failed: {message}", device.display())]
    SevGuest {
        /// The device.
        device: PathBuf,
        /// The `sev` crate's error, as text.
        message: String,
    },
    /// The device path is not one the `sev` crate can open.
    #[error("the sev crate opens only {}, not {}", snp::DEFAULT_DEVICE, device.display())]
    UnsupportedDevice {
        /// The device asked for.
        device: PathBuf,
    },
    /// The host's certificate table is malformed.
    #[error("certificate table from {}: {source}", path.display())]
    CertTable {
        /// Where it came from.
        path: PathBuf,
        /// The parse error.
        source: SnpError,
    },
    /// The simulator failed.
    #[error("simulated SEV-SNP: {0}")]
    Sim(#[from] SimError),
}

impl CollectError {
    /// An [`CollectError::Io`] for `op` on `path`.
    pub(crate) fn io(op: &'static str, path: &Path) -> impl FnOnce(io::Error) -> Self {
        let path = path.to_path_buf();
        move |source| Self::Io { op, path, source }
    }
}

/// Picks the SEV-SNP interface of this guest: configfs-tsm when `configfs_root` is a directory
/// that does not look read-only, else the sev-guest device when `sev_guest` exists.
///
/// configfs-tsm is preferred because it also serves TDX and its auxblob carries the host's
/// certificates. Which TEE serves configfs-tsm is only known once an entry is made; a TDX guest
/// fails at [`SnpSource::collect`] with [`CollectError::WrongProvider`].
///
/// # Errors
///
/// [`CollectError::NoSnpInterface`] when neither is present.
pub fn detect_snp(configfs_root: &Path, sev_guest: &Path) -> Result<SnpSource, CollectError> {
    let configfs_usable = std::fs::metadata(configfs_root)
        .is_ok_and(|meta| meta.is_dir() && !meta.permissions().readonly());
    if configfs_usable {
        return Ok(SnpSource::ConfigfsTsm {
            root: configfs_root.to_path_buf(),
        });
    }
    if sev_guest.exists() {
        return Ok(SnpSource::SevGuest {
            device: sev_guest.to_path_buf(),
        });
    }
    Err(CollectError::NoSnpInterface {
        configfs: configfs_root.to_path_buf(),
        device: sev_guest.to_path_buf(),
    })
}

impl SnpSource {
    /// Collects a report carrying `report_data` at VMPL 0, with the host's certificate table.
    ///
    /// # Errors
    ///
    /// The source's [`CollectError`].
    pub fn collect(&self, report_data: &[u8; 64]) -> Result<CpuEvidence, CollectError> {
        match self {
            Self::ConfigfsTsm { root } => configfs::snp_report(root, report_data),
            Self::SevGuest { device } => snp::ext_report(device, report_data),
            Self::Simulated(sim) => sim.collect(report_data),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detection_prefers_configfs_then_device() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("tsm/report");
        let device = dir.path().join("sev-guest");

        let err = detect_snp(&root, &device).unwrap_err();
        let message = err.to_string();
        assert!(matches!(err, CollectError::NoSnpInterface { .. }));
        assert!(message.contains(&root.display().to_string()), "{message}");
        assert!(message.contains(&device.display().to_string()), "{message}");
        assert!(message.contains("--simulate"), "{message}");

        std::fs::write(&device, b"").unwrap();
        assert!(matches!(
            detect_snp(&root, &device),
            Ok(SnpSource::SevGuest { device: d }) if d == device
        ));

        std::fs::create_dir_all(&root).unwrap();
        assert!(matches!(
            detect_snp(&root, &device),
            Ok(SnpSource::ConfigfsTsm { root: r }) if r == root
        ));
    }
}
