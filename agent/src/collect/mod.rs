//! Collection of CPU TEE evidence inside the confidential VM.
//!
//! Two TEEs, AMD SEV-SNP and Intel TDX ([`Tee`]), and four kinds of source ([`CpuSource`]):
//!
//! - the kernel's configfs-tsm interface ([`configfs`], Linux 6.7+), which serves both TEEs:
//!   its `provider` attribute (`sev_guest` or `tdx_guest`) says which one this guest is;
//! - the `/dev/sev-guest` ioctl through the `sev` crate ([`snp`]), for SEV-SNP guests on older
//!   kernels;
//! - TDX quotes need configfs-tsm: `/dev/tdx_guest` only gives TDREPORTs, which are MAC'd for
//!   the local platform and cannot be verified elsewhere ([`tdx`]);
//! - simulated CVMs of either TEE for tests and demos ([`sim`]), only ever used when asked for
//!   (`--simulate`), never as a fallback.
//!
//! [`detect`] picks the source of this guest.
//!
//! NVIDIA GPU evidence comes from [`nvidia::GpuSource`]: NVML, simulated GPUs, or none, as the
//! operator says (`--gpus`).

pub mod configfs;
pub mod nvidia;
pub mod sim;
pub mod snp;
pub mod tdx;

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use warden_evidence::sim::snp::SimError;
use warden_evidence::snp::SnpError;

/// A CPU trusted execution environment the agent collects evidence from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Tee {
    /// AMD SEV-SNP: a 1184-byte ATTESTATION_REPORT and the host's certificate table.
    SevSnp,
    /// Intel TDX: a TD quote (version 4 or 5) and no certificates (the PCK chain is inside the
    /// quote).
    Tdx,
}

impl Tee {
    /// Every TEE, in the order auto-detection names them.
    pub const ALL: [Tee; 2] = [Tee::SevSnp, Tee::Tdx];

    /// The usual name: `SEV-SNP` or `TDX`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::SevSnp => "SEV-SNP",
            Self::Tdx => "TDX",
        }
    }

    /// The configfs-tsm `provider` of this TEE's guest driver.
    pub const fn provider(self) -> &'static str {
        match self {
            Self::SevSnp => configfs::SEV_GUEST_PROVIDER,
            Self::Tdx => configfs::TDX_GUEST_PROVIDER,
        }
    }

    /// The TEE whose guest driver registers `provider` with configfs-tsm.
    pub fn from_provider(provider: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|tee| tee.provider() == provider)
    }
}

impl fmt::Display for Tee {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl From<Tee> for warden_proto::v1::Tee {
    fn from(tee: Tee) -> Self {
        match tee {
            Tee::SevSnp => Self::SevSnp,
            Tee::Tdx => Self::Tdx,
        }
    }
}

/// CPU TEE evidence as collected, in the byte formats of `warden.v1.CpuEvidence`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpuEvidence {
    /// The TEE that produced it.
    pub tee: Tee,
    /// SEV-SNP: the raw 1184-byte ATTESTATION_REPORT. TDX: the quote (version 4 or 5) exactly
    /// as the quoting enclave produced it.
    pub report: Vec<u8>,
    /// SEV-SNP: the host's certificate table (GHCB spec 56421 section 4.1.8.1; parse it with
    /// `warden_evidence::snp::CertTable`), or empty when the host supplied none, in which case
    /// the verifier must find the VCEK itself. TDX: always empty; the quote carries its PCK
    /// chain.
    pub certificates: Vec<u8>,
}

/// Where CPU evidence comes from.
///
/// [`SnpSource`] is the name this type had while it served SEV-SNP only; both names denote it.
#[derive(Debug)]
pub enum CpuSource {
    /// configfs-tsm: a report (SEV-SNP) or quote (TDX) through entries made under `root`.
    ConfigfsTsm {
        /// The `tsm/report` directory, normally [`configfs::DEFAULT_ROOT`].
        root: PathBuf,
        /// The TEE expected, or `None` to accept whichever TEE's provider serves configfs-tsm
        /// (the evidence then names the one found). A different provider is
        /// [`CollectError::WrongProvider`].
        tee: Option<Tee>,
        /// How long to wait for the report or quote (see [`CollectError::Timeout`]);
        /// normally [`configfs::DEFAULT_TIMEOUT`].
        timeout: Duration,
    },
    /// The `/dev/sev-guest` device through the `sev` crate (SEV-SNP only).
    SevGuest {
        /// The device path (the `sev` crate opens [`snp::DEFAULT_DEVICE`] only).
        device: PathBuf,
    },
    /// A simulated SEV-SNP CVM, for tests and demos only.
    Simulated(Box<sim::SimulatedSnp>),
    /// A simulated TDX CVM, for tests and demos only.
    SimulatedTdx(Box<sim::SimulatedTdx>),
}

/// The former name of [`CpuSource`], from when it served SEV-SNP only. Kept so that callers
/// written then still compile; new code names [`CpuSource`].
pub type SnpSource = CpuSource;

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
    /// TDX was asked for, and neither configfs-tsm nor `/dev/tdx_guest` is available.
    #[error(
        "no TDX interface found: neither {} (configfs-tsm) nor {} exists; this does not look \
         like a TDX guest (start with --simulate --tee tdx to use a simulated CVM for testing)",
        configfs.display(),
        device.display()
    )]
    NoTdxInterface {
        /// The configfs-tsm report directory looked for.
        configfs: PathBuf,
        /// The TDX guest device looked for.
        device: PathBuf,
    },
    /// No TEE was named and none was found.
    #[error(
        "no SEV-SNP interface found: neither {} (configfs-tsm) nor {} exists; and no TDX \
         interface: neither configfs-tsm nor {} exists; this does not look like a confidential \
         VM (start with --simulate to use a simulated CVM for testing)",
        configfs.display(),
        sev_guest.display(),
        tdx_guest.display()
    )]
    NoTeeInterface {
        /// The configfs-tsm report directory looked for.
        configfs: PathBuf,
        /// The SEV-SNP guest device looked for.
        sev_guest: PathBuf,
        /// The TDX guest device looked for.
        tdx_guest: PathBuf,
    },
    /// A TDX guest whose kernel has no configfs-tsm: `/dev/tdx_guest` gives only a TDREPORT,
    /// which cannot be verified off the platform, so there is no way to get a quote.
    #[error(
        "this is a TDX guest ({} exists) but {} (configfs-tsm) does not exist: TDX quotes need \
         Linux 6.7 or later with configfs-tsm (CONFIG_TSM_REPORTS, the tdx_guest driver, \
         configfs mounted at /sys/kernel/config); /dev/tdx_guest alone only gives a TDREPORT, \
         which no verifier can check",
        device.display(),
        configfs.display()
    )]
    TdxNeedsConfigfsTsm {
        /// The configfs-tsm report directory looked for.
        configfs: PathBuf,
        /// The TDX guest device found.
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
    /// The configfs-tsm provider is not the one expected (for example `tdx_guest` when SEV-SNP
    /// was asked for, or `sev_guest` when TDX was).
    #[error("configfs-tsm provider in {} is {found:?}, expected {expected}", path.display())]
    WrongProvider {
        /// The `provider` attribute read.
        path: PathBuf,
        /// The provider expected: one name, or several joined by " or ".
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
    /// Reading the report or quote did not finish within the deadline.
    ///
    /// On TDX the kernel asks the host's quote generation service (QGS) for the quote, which
    /// can take long or never answer. The kernel's read may still complete in the background
    /// after this error (one helper thread stays blocked until it does); the configfs-tsm entry
    /// is removed afterwards if the kernel allows it, and a leftover entry is logged.
    #[error(
        "no answer from {} within {} s: the host's quote service did not produce the \
         report/quote in time (the kernel request may still complete in the background; \
         raise --quote-timeout if the host is merely slow)",
        path.display(),
        after.as_secs_f64()
    )]
    Timeout {
        /// The attribute read (`outblob`).
        path: PathBuf,
        /// The deadline that passed.
        after: Duration,
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
    /// What the kernel returned as a TDX quote does not look like one (see
    /// [`tdx::check_quote`]). The verifier parses the quote in full; this catches a broken
    /// quote service early, in the agent's log.
    #[error("TDX quote from {}: {reason}", path.display())]
    QuoteFormat {
        /// Where it came from.
        path: PathBuf,
        /// What is wrong.
        reason: &'static str,
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
    /// A simulator (SEV-SNP or TDX) failed.
    #[error("simulated CVM: {0}")]
    Sim(#[from] SimError),
    /// The system clock reads before 1970, so simulated collateral cannot be dated.
    #[error("the system clock is before 1970; cannot date simulated TDX collateral")]
    ClockBeforeEpoch,
    /// NVML (`libnvidia-ml.so.1`, installed with the NVIDIA driver) cannot be loaded or
    /// initialised, and GPU evidence was asked for.
    #[error(
        "GPU evidence was asked for (--gpus nvml) but NVIDIA's NVML library cannot be used: \
         {reason}; NVML (libnvidia-ml.so.1) comes with the NVIDIA driver, which must be \
         installed and loaded in this CVM (if this node has no GPUs to attest, run with \
         --gpus none)"
    )]
    NvmlUnavailable {
        /// NVML's error.
        reason: String,
    },
    /// NVML lists no GPU, and GPU evidence was asked for.
    #[error(
        "GPU evidence was asked for (--gpus nvml) but NVML lists no GPU (if this node has no \
         GPUs to attest, run with --gpus none)"
    )]
    NoGpus,
    /// More GPUs than the agent attests, or a simulated GPU count out of range.
    #[error("{count} GPUs: the agent attests 1 to {} GPUs", nvidia::MAX_GPUS)]
    GpuCount {
        /// The number found or asked for.
        count: usize,
    },
    /// Confidential computing is not on for a GPU, so its evidence would not be accepted.
    #[error(
        "GPU {index}: confidential computing is {state}; it must be on in production mode \
         (set on the host, for example with nvidia_gpu_tools.py --set-cc-mode=on, then reset \
         the GPU)"
    )]
    GpuCcOff {
        /// NVML's index of the GPU.
        index: u32,
        /// The state found.
        state: &'static str,
    },
    /// An NVML call failed.
    #[error("{}{call} failed: {reason}", index.map(|i| format!("GPU {i}: ")).unwrap_or_default())]
    Nvml {
        /// NVML's index of the GPU, or `None` for a system-wide call.
        index: Option<u32>,
        /// The NVML function.
        call: &'static str,
        /// NVML's error.
        reason: String,
    },
    /// What NVML returned for a GPU is not usable evidence.
    #[error("GPU {index}: {reason}")]
    GpuReport {
        /// NVML's index of the GPU.
        index: u32,
        /// What is wrong.
        reason: &'static str,
    },
}

impl CollectError {
    /// An [`CollectError::Io`] for `op` on `path`.
    pub(crate) fn io(op: &'static str, path: &Path) -> impl FnOnce(io::Error) -> Self {
        let path = path.to_path_buf();
        move |source| Self::Io { op, path, source }
    }
}

/// The interfaces [`detect`] looks for, and how long a configfs-tsm request may take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interfaces {
    /// The configfs-tsm report directory ([`configfs::DEFAULT_ROOT`]).
    pub configfs_tsm: PathBuf,
    /// The SEV-SNP guest device ([`snp::DEFAULT_DEVICE`]).
    pub sev_guest: PathBuf,
    /// The TDX guest device ([`tdx::DEFAULT_DEVICE`]); only looked at to explain why a TDX
    /// guest has no quote interface.
    pub tdx_guest: PathBuf,
    /// The deadline of a configfs-tsm request ([`configfs::DEFAULT_TIMEOUT`]).
    pub timeout: Duration,
}

impl Default for Interfaces {
    fn default() -> Self {
        Self {
            configfs_tsm: PathBuf::from(configfs::DEFAULT_ROOT),
            sev_guest: PathBuf::from(snp::DEFAULT_DEVICE),
            tdx_guest: PathBuf::from(tdx::DEFAULT_DEVICE),
            timeout: configfs::DEFAULT_TIMEOUT,
        }
    }
}

/// Whether `root` is a configfs-tsm report directory we may make entries in.
fn configfs_usable(root: &Path) -> bool {
    std::fs::metadata(root).is_ok_and(|meta| meta.is_dir() && !meta.permissions().readonly())
}

/// Picks the evidence source of this guest for `tee`, or for whichever TEE this guest is when
/// `tee` is `None`.
///
/// configfs-tsm is preferred when its report directory exists and does not look read-only: it
/// serves both TEEs, and on SEV-SNP its auxblob carries the host's certificates. Which TEE
/// serves it is only known once an entry is made, so a mismatch shows at
/// [`CpuSource::collect`] as [`CollectError::WrongProvider`], and with `tee` `None` the
/// evidence names the TEE found. Without configfs-tsm, `/dev/sev-guest` serves SEV-SNP; a TDX
/// guest has no quote interface then.
///
/// # Errors
///
/// [`CollectError::TdxNeedsConfigfsTsm`] for a TDX guest (`/dev/tdx_guest` exists, TDX asked
/// for or auto-detected) without configfs-tsm; [`CollectError::NoSnpInterface`],
/// [`CollectError::NoTdxInterface`] or [`CollectError::NoTeeInterface`] when nothing fits.
pub fn detect(interfaces: &Interfaces, tee: Option<Tee>) -> Result<CpuSource, CollectError> {
    if configfs_usable(&interfaces.configfs_tsm) {
        return Ok(CpuSource::ConfigfsTsm {
            root: interfaces.configfs_tsm.clone(),
            tee,
            timeout: interfaces.timeout,
        });
    }
    if tee != Some(Tee::Tdx) && interfaces.sev_guest.exists() {
        return Ok(CpuSource::SevGuest {
            device: interfaces.sev_guest.clone(),
        });
    }
    if tee != Some(Tee::SevSnp) && interfaces.tdx_guest.exists() {
        return Err(CollectError::TdxNeedsConfigfsTsm {
            configfs: interfaces.configfs_tsm.clone(),
            device: interfaces.tdx_guest.clone(),
        });
    }
    let configfs = interfaces.configfs_tsm.clone();
    Err(match tee {
        Some(Tee::SevSnp) => CollectError::NoSnpInterface {
            configfs,
            device: interfaces.sev_guest.clone(),
        },
        Some(Tee::Tdx) => CollectError::NoTdxInterface {
            configfs,
            device: interfaces.tdx_guest.clone(),
        },
        None => CollectError::NoTeeInterface {
            configfs,
            sev_guest: interfaces.sev_guest.clone(),
            tdx_guest: interfaces.tdx_guest.clone(),
        },
    })
}

/// Picks the SEV-SNP interface of this guest: configfs-tsm when `configfs_root` is a directory
/// that does not look read-only, else the sev-guest device when `sev_guest` exists. The same as
/// [`detect`] for [`Tee::SevSnp`] with the default deadline.
///
/// # Errors
///
/// [`CollectError::NoSnpInterface`] when neither is present.
pub fn detect_snp(configfs_root: &Path, sev_guest: &Path) -> Result<SnpSource, CollectError> {
    let interfaces = Interfaces {
        configfs_tsm: configfs_root.to_path_buf(),
        sev_guest: sev_guest.to_path_buf(),
        ..Interfaces::default()
    };
    detect(&interfaces, Some(Tee::SevSnp))
}

impl CpuSource {
    /// Collects evidence carrying `report_data`: an SEV-SNP report at VMPL 0 with the host's
    /// certificate table, or a TDX quote.
    ///
    /// # Errors
    ///
    /// The source's [`CollectError`].
    pub fn collect(&self, report_data: &[u8; 64]) -> Result<CpuEvidence, CollectError> {
        match self {
            Self::ConfigfsTsm { root, tee, timeout } => {
                configfs::evidence(root, *tee, report_data, *timeout)
            }
            Self::SevGuest { device } => snp::ext_report(device, report_data),
            Self::Simulated(sim) => sim.collect(report_data),
            Self::SimulatedTdx(sim) => sim.collect(report_data),
        }
    }

    /// The TEE this source produces evidence of; `None` for configfs-tsm left to find out.
    pub fn tee(&self) -> Option<Tee> {
        match self {
            Self::ConfigfsTsm { tee, .. } => *tee,
            Self::SevGuest { .. } | Self::Simulated(_) => Some(Tee::SevSnp),
            Self::SimulatedTdx(_) => Some(Tee::Tdx),
        }
    }

    /// Whether this source is a simulated CVM.
    pub fn is_simulated(&self) -> bool {
        matches!(self, Self::Simulated(_) | Self::SimulatedTdx(_))
    }
}

impl fmt::Display for CpuSource {
    /// One line for logs: which interface, and which TEE.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ConfigfsTsm {
                root,
                tee: Some(tee),
                ..
            } => write!(f, "{tee} through configfs-tsm at {}", root.display()),
            Self::ConfigfsTsm {
                root, tee: None, ..
            } => {
                write!(
                    f,
                    "configfs-tsm at {} (TEE from its provider)",
                    root.display()
                )
            }
            Self::SevGuest { device } => write!(f, "SEV-SNP through {}", device.display()),
            Self::Simulated(sim) => write!(f, "simulated SEV-SNP ({})", sim.product().name()),
            Self::SimulatedTdx(_) => f.write_str("simulated TDX"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Paths {
        _dir: tempfile::TempDir,
        interfaces: Interfaces,
    }

    fn paths() -> Paths {
        let dir = tempfile::tempdir().unwrap();
        let interfaces = Interfaces {
            configfs_tsm: dir.path().join("tsm/report"),
            sev_guest: dir.path().join("sev-guest"),
            tdx_guest: dir.path().join("tdx_guest"),
            timeout: Duration::from_secs(3),
        };
        Paths {
            _dir: dir,
            interfaces,
        }
    }

    #[test]
    fn detection_prefers_configfs_then_device() {
        let p = paths();
        let (root, device) = (&p.interfaces.configfs_tsm, &p.interfaces.sev_guest);

        let err = detect_snp(root, device).unwrap_err();
        let message = err.to_string();
        assert!(matches!(err, CollectError::NoSnpInterface { .. }));
        assert!(message.contains(&root.display().to_string()), "{message}");
        assert!(message.contains(&device.display().to_string()), "{message}");
        assert!(message.contains("--simulate"), "{message}");

        std::fs::write(device, b"").unwrap();
        assert!(matches!(
            detect_snp(root, device),
            Ok(SnpSource::SevGuest { device: d }) if &d == device
        ));

        std::fs::create_dir_all(root).unwrap();
        assert!(matches!(
            detect_snp(root, device),
            Ok(SnpSource::ConfigfsTsm { root: r, tee: Some(Tee::SevSnp), timeout })
                if &r == root && timeout == configfs::DEFAULT_TIMEOUT
        ));
    }

    #[test]
    fn detection_of_tdx_and_auto() {
        let p = paths();
        let i = &p.interfaces;

        // Nothing at all.
        let err = detect(i, None).unwrap_err();
        let message = err.to_string();
        assert!(matches!(err, CollectError::NoTeeInterface { .. }), "{err}");
        for path in [&i.configfs_tsm, &i.sev_guest, &i.tdx_guest] {
            assert!(message.contains(&path.display().to_string()), "{message}");
        }
        let err = detect(i, Some(Tee::Tdx)).unwrap_err();
        assert!(matches!(err, CollectError::NoTdxInterface { .. }), "{err}");
        assert!(err.to_string().contains("--tee tdx"), "{err}");

        // A TDX guest on a kernel without configfs-tsm: a clear error, whether asked or found.
        std::fs::write(&i.tdx_guest, b"").unwrap();
        for tee in [None, Some(Tee::Tdx)] {
            let err = detect(i, tee).unwrap_err();
            assert!(
                matches!(err, CollectError::TdxNeedsConfigfsTsm { .. }),
                "{err}"
            );
            assert!(err.to_string().contains("6.7"), "{err}");
        }
        // Asking for SEV-SNP there says there is no SEV-SNP interface.
        assert!(matches!(
            detect(i, Some(Tee::SevSnp)),
            Err(CollectError::NoSnpInterface { .. })
        ));

        // configfs-tsm serves both; the choice is passed on.
        std::fs::create_dir_all(&i.configfs_tsm).unwrap();
        for tee in [None, Some(Tee::Tdx), Some(Tee::SevSnp)] {
            let source = detect(i, tee).unwrap();
            assert_eq!(source.tee(), tee);
            assert!(matches!(
                source,
                CpuSource::ConfigfsTsm { timeout, .. } if timeout == Duration::from_secs(3)
            ));
            assert!(!source.is_simulated());
            assert!(source.to_string().contains("configfs-tsm"), "{source}");
        }
    }

    #[test]
    fn tee_names() {
        assert_eq!(Tee::from_provider("tdx_guest"), Some(Tee::Tdx));
        assert_eq!(Tee::from_provider("sev_guest"), Some(Tee::SevSnp));
        assert_eq!(Tee::from_provider("arm_cca_guest"), None);
        assert_eq!(
            warden_proto::v1::Tee::from(Tee::Tdx),
            warden_proto::v1::Tee::Tdx
        );
        assert_eq!(
            warden_proto::v1::Tee::from(Tee::SevSnp),
            warden_proto::v1::Tee::SevSnp
        );
        assert_eq!(Tee::Tdx.to_string(), "TDX");
    }
}
