//! NVIDIA GPU evidence through NVML (`nvml-wrapper`), or from simulated GPUs.
//!
//! For every GPU NVML lists, in NVML's index order: confidential computing must be on (and not
//! in DevTools mode), then the attestation report for the GPU nonce of the binding rules
//! (`warden_proto::binding::gpu_nonce`), the `attestationCertChain` exactly as NVML returns it
//! (five PEM certificates, leaf first) and the architecture.
//!
//! `nvml-wrapper` loads `libnvidia-ml.so.1` with `libloading` when [`GpuSource::nvml`] is
//! called, not at link time (`nvml-wrapper-sys` has no build script and no `links`; the agent
//! binary's `ldd` shows no NVIDIA library): the agent builds and runs on nodes without the
//! NVIDIA driver, and only asking for GPU evidence there fails
//! ([`CollectError::NvmlUnavailable`]). Symbols load lazily too, so a driver too old for the
//! confidential-computing calls fails at those calls ([`CollectError::Nvml`]).
//!
//! Which source to use is the operator's explicit choice ([`GpuSource`]): the agent never
//! guesses that a node has no GPUs, and never falls back from NVML to nothing.

use std::fmt;

use nvml_wrapper::Nvml;
use nvml_wrapper::enums::device::DeviceArchitecture;
use nvml_wrapper::error::NvmlError;
use warden_proto::v1;

use super::CollectError;
use super::sim::nvidia::SimulatedGpus;

/// The most GPUs one agent collects evidence from (eight is the largest HGX node).
pub const MAX_GPUS: usize = 8;

/// Offset of the 32-byte nonce in the SPDM GET_MEASUREMENTS request that starts a report.
const REQUEST_NONCE_OFFSET: usize = 4;

/// One GPU's evidence as collected, in the byte formats of `warden.v1.GpuEvidence`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GpuEvidence {
    /// NVML's `attestationReport`: the SPDM GET_MEASUREMENTS request (carrying the GPU nonce)
    /// followed by the signed MEASUREMENTS response.
    pub report: Vec<u8>,
    /// NVML's `attestationCertChain` as returned: PEM certificates, leaf first.
    pub certificate_chain: Vec<u8>,
    /// The architecture as NVML names it, upper case: `HOPPER`, `BLACKWELL`.
    pub arch: String,
    /// DER OCSP responses for certificates of the chain, stapled for a verifier in `stapled`
    /// revocation mode. Simulated GPUs staple responses of their simulated responder; NVML
    /// GPUs staple none (the verifier uses its cache or `online` mode).
    pub ocsp_responses: Vec<Vec<u8>>,
}

impl From<GpuEvidence> for v1::GpuEvidence {
    fn from(gpu: GpuEvidence) -> Self {
        Self {
            report: gpu.report,
            certificate_chain: gpu.certificate_chain,
            arch: gpu.arch,
            ocsp_responses: gpu.ocsp_responses,
        }
    }
}

/// Where GPU evidence comes from.
#[derive(Debug)]
pub enum GpuSource {
    /// The node has no GPUs to attest, as the operator configured (`--gpus none`): the
    /// evidence carries none, and REPORT_DATA binds an empty GPU list.
    None,
    /// Every GPU NVML lists (`--gpus nvml`); NVML is loaded when this source is made.
    Nvml(Box<Nvml>),
    /// Simulated GPUs, for tests and demos only (`--simulate --gpus N`).
    Simulated(Box<SimulatedGpus>),
}

impl GpuSource {
    /// Loads NVML (`libnvidia-ml.so.1`) and initialises it, so that a node without the driver
    /// fails before a nonce is spent.
    ///
    /// # Errors
    ///
    /// [`CollectError::NvmlUnavailable`].
    pub fn nvml() -> Result<Self, CollectError> {
        Nvml::init()
            .map(|nvml| Self::Nvml(Box::new(nvml)))
            .map_err(|e| CollectError::NvmlUnavailable {
                reason: nvml_reason(&e),
            })
    }

    /// Evidence of every GPU for the GPU nonce `gpu_nonce`, in order; empty for
    /// [`GpuSource::None`].
    ///
    /// # Errors
    ///
    /// NVML: [`CollectError::NoGpus`] when NVML lists no GPU, [`CollectError::GpuCount`] for
    /// more than [`MAX_GPUS`], [`CollectError::GpuCcOff`] when confidential computing is not on,
    /// [`CollectError::Nvml`] when a call fails, [`CollectError::GpuReport`] for a report that
    /// does not carry the nonce. Simulated: [`CollectError::Sim`].
    pub fn collect(&self, gpu_nonce: &[u8; 32]) -> Result<Vec<GpuEvidence>, CollectError> {
        match self {
            Self::None => Ok(Vec::new()),
            Self::Nvml(nvml) => collect_nvml(nvml, gpu_nonce),
            Self::Simulated(sim) => sim.collect(gpu_nonce),
        }
    }

    /// Whether the GPUs are simulated.
    pub fn is_simulated(&self) -> bool {
        matches!(self, Self::Simulated(_))
    }
}

impl fmt::Display for GpuSource {
    /// One line for logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::None => f.write_str("no GPUs"),
            Self::Nvml(_) => f.write_str("NVIDIA GPUs through NVML"),
            Self::Simulated(sim) => write!(f, "{} simulated NVIDIA GPUs", sim.gpus().len()),
        }
    }
}

fn nvml_reason(e: &NvmlError) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        // `nvml-wrapper`'s libloading error already quotes its source.
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text
}

/// A [`CollectError::Nvml`] for `call` on GPU `index` (`None`: a system call).
fn nvml_error(index: Option<u32>, call: &'static str) -> impl FnOnce(NvmlError) -> CollectError {
    move |e| CollectError::Nvml {
        index,
        call,
        reason: nvml_reason(&e),
    }
}

fn collect_nvml(nvml: &Nvml, gpu_nonce: &[u8; 32]) -> Result<Vec<GpuEvidence>, CollectError> {
    let count = nvml
        .device_count()
        .map_err(nvml_error(None, "nvmlDeviceGetCount"))?;
    if count == 0 {
        return Err(CollectError::NoGpus);
    }
    if usize::try_from(count).map_or(true, |n| n > MAX_GPUS) {
        return Err(CollectError::GpuCount {
            count: usize::try_from(count).unwrap_or(usize::MAX),
        });
    }
    (0..count)
        .map(|index| {
            let device = nvml
                .device_by_index(index)
                .map_err(nvml_error(Some(index), "nvmlDeviceGetHandleByIndex"))?;
            // System-wide settings, asked through each device so the error names the GPU.
            let cc_on = device
                .is_cc_enabled()
                .map_err(nvml_error(Some(index), "nvmlSystemGetConfComputeSettings"))?;
            let devtools = device
                .is_cc_dev_mode_enabled()
                .map_err(nvml_error(Some(index), "nvmlSystemGetConfComputeSettings"))?;
            match (cc_on, devtools) {
                (true, false) => {}
                (false, _) => {
                    return Err(CollectError::GpuCcOff {
                        index,
                        state: "off",
                    });
                }
                (true, true) => {
                    return Err(CollectError::GpuCcOff {
                        index,
                        state: "on in DevTools (debug) mode",
                    });
                }
            }
            let arch = match device
                .architecture()
                .map_err(nvml_error(Some(index), "nvmlDeviceGetArchitecture"))?
            {
                DeviceArchitecture::Hopper => "HOPPER".to_owned(),
                DeviceArchitecture::Blackwell => "BLACKWELL".to_owned(),
                other => other.to_string().to_uppercase(),
            };
            let report = device
                .confidential_compute_gpu_attestation_report(*gpu_nonce)
                .map_err(nvml_error(
                    Some(index),
                    "nvmlDeviceGetConfComputeGpuAttestationReport",
                ))?
                .attestation_report;
            check_report(index, &report, gpu_nonce)?;
            let certificate_chain = device
                .confidential_compute_gpu_certificate()
                .map_err(nvml_error(
                    Some(index),
                    "nvmlDeviceGetConfComputeGpuCertificate",
                ))?
                .attestation_cert_chain;
            if certificate_chain.is_empty() {
                return Err(CollectError::GpuReport {
                    index,
                    reason: "NVML returned an empty attestation certificate chain",
                });
            }
            Ok(GpuEvidence {
                report,
                certificate_chain,
                arch,
                ocsp_responses: Vec::new(),
            })
        })
        .collect()
}

/// Catches a driver that ignored the nonce early, in the agent's log; the verifier checks the
/// report in full.
fn check_report(index: u32, report: &[u8], gpu_nonce: &[u8; 32]) -> Result<(), CollectError> {
    match report.get(REQUEST_NONCE_OFFSET..REQUEST_NONCE_OFFSET + 32) {
        None => Err(CollectError::GpuReport {
            index,
            reason: "the attestation report is too short to hold an SPDM request",
        }),
        Some(nonce) if nonce != gpu_nonce => Err(CollectError::GpuReport {
            index,
            reason: "the attestation report does not carry the GPU nonce asked for",
        }),
        Some(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use warden_evidence::sim::nvidia::{Arch, DeviceHierarchy};

    use super::*;

    /// `client::attest` holds a `&GpuSource` across awaits; callers spawn it on Tokio.
    #[test]
    fn sources_can_be_shared_between_threads() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<GpuSource>();
    }

    #[test]
    fn errors_name_the_gpu_and_the_cause() {
        let off = CollectError::GpuCcOff {
            index: 3,
            state: "off",
        }
        .to_string();
        assert!(
            off.starts_with("GPU 3: confidential computing is off"),
            "{off}"
        );
        let call = CollectError::Nvml {
            index: Some(1),
            call: "nvmlDeviceGetConfComputeGpuCertificate",
            reason: "Not supported".to_owned(),
        }
        .to_string();
        assert_eq!(
            call,
            "GPU 1: nvmlDeviceGetConfComputeGpuCertificate failed: Not supported"
        );
        let system = CollectError::Nvml {
            index: None,
            call: "nvmlDeviceGetCount",
            reason: "Unknown".to_owned(),
        }
        .to_string();
        assert_eq!(system, "nvmlDeviceGetCount failed: Unknown");
        assert!(CollectError::NoGpus.to_string().contains("--gpus none"));
        assert_eq!(
            CollectError::GpuCount { count: 9 }.to_string(),
            "9 GPUs: the agent attests 1 to 8 GPUs"
        );
    }

    #[test]
    fn no_gpus_means_no_evidence() {
        assert_eq!(GpuSource::None.collect(&[1; 32]).unwrap(), Vec::new());
        assert!(!GpuSource::None.is_simulated());
        assert_eq!(GpuSource::None.to_string(), "no GPUs");
    }

    #[test]
    fn reports_must_carry_the_nonce() {
        let sim = SimulatedGpus::from_hierarchy(DeviceHierarchy::shared(Arch::Hopper), 1).unwrap();
        let source = GpuSource::Simulated(Box::new(sim));
        assert!(source.is_simulated());
        assert_eq!(source.to_string(), "1 simulated NVIDIA GPUs");
        let gpus = source.collect(&[5; 32]).unwrap();
        let report = &gpus.first().unwrap().report;
        assert!(check_report(0, report, &[5; 32]).is_ok());
        assert!(matches!(
            check_report(3, report, &[6; 32]),
            Err(CollectError::GpuReport { index: 3, .. })
        ));
        assert!(matches!(
            check_report(0, &report[..20], &[5; 32]),
            Err(CollectError::GpuReport { index: 0, .. })
        ));
    }

    /// This machine has no NVIDIA driver: loading NVML fails with a clear error, and the agent
    /// itself still runs (NVML is loaded at run time). Skipped where a driver is installed.
    #[test]
    fn without_the_driver_nvml_is_a_clear_error() {
        match GpuSource::nvml() {
            Ok(_) => eprintln!("NVML loaded: this machine has an NVIDIA driver; nothing to check"),
            Err(err) => {
                assert!(matches!(err, CollectError::NvmlUnavailable { .. }), "{err}");
                let text = err.to_string();
                assert!(text.contains("libnvidia-ml.so.1"), "{text}");
                assert!(text.contains("--gpus none"), "{text}");
            }
        }
    }
}
