//! Simulated NVIDIA GPUs in confidential-computing mode, for tests and demos: byte-exact SPDM
//! 1.1 GET_MEASUREMENTS attestation reports and five-certificate attestation chains signed
//! through a generated device hierarchy (`warden_evidence::sim::nvidia`), kept in the agent's
//! state directory.
//!
//! Layout of `<state_dir>/sim/nvidia/` (directories 0700):
//!
//! | file | content |
//! |---|---|
//! | `hierarchy.json` | the hierarchy (`DeviceHierarchyExport` as JSON), private keys included: mode 0600 |
//! | `device_root.pem` | the generated "NVIDIA Device Identity CA": the insecure test root a verifier must trust to accept these GPUs |
//!
//! Both are written once, in a temporary directory renamed into place, so a reader sees all of
//! it or nothing. The simulated GPUs are Hopper (H100-like, [`GpuProfile::hopper`]).
//!
//! Every GPU of a real node has its own GSP FMC LF leaf (and so its own `ueid`); a verifier
//! can only notice evidence of one GPU presented twice if the leaves differ. The simulator
//! derives a GPU's leaf key from the hierarchy seed and the GPU's FWID, so GPU `i > 0` gets an
//! FWID derived from the default one and `i` (GPU 0 keeps the default FWID). The FWID is the
//! same in the leaf's extension and in the report's TLV 20, so every FWID check still holds;
//! the GPUs share the hierarchy's BROM CA, which real GPUs do not (each has its own).

use std::path::{Path, PathBuf};

use rand_core::{OsRng, RngCore, UnwrapErr};
use sha2::{Digest, Sha384};
use warden_evidence::UnixTime;
use warden_evidence::sim::nvidia::{
    Arch, DeviceHierarchy, DeviceHierarchyExport, GpuProfile, OcspSpec, SimGpu,
};

use super::{Held, create_once, load_hierarchy, restore_root, save_hierarchy};
use crate::collect::CollectError;
use crate::collect::nvidia::{GpuEvidence, MAX_GPUS};

/// The GPUs' directory under `<state_dir>/sim/`.
const DIR_NAME: &str = "nvidia";
/// The generated device root, for verifiers.
const DEVICE_ROOT_FILE: &str = "device_root.pem";

/// `count` simulated Hopper GPUs of one generated device hierarchy.
#[derive(Debug)]
pub struct SimulatedGpus {
    hierarchy: Held<DeviceHierarchy>,
    gpus: Vec<SimGpu>,
    dir: Option<PathBuf>,
    ocsp_time: Option<UnixTime>,
}

impl SimulatedGpus {
    /// `count` GPUs (1 to [`MAX_GPUS`]) of the hierarchy in `<state_dir>/sim/nvidia/`,
    /// generated there on first use.
    ///
    /// # Errors
    ///
    /// [`CollectError::GpuCount`] for a count out of range; [`CollectError::Io`] naming the
    /// file; [`CollectError::Malformed`] for a damaged `hierarchy.json`; [`CollectError::Sim`]
    /// if the stored hierarchy does not import or a GPU cannot be made.
    pub fn open_or_create(state_dir: &Path, count: usize) -> Result<Self, CollectError> {
        check_count(count)?;
        let dir = create_once(&state_dir.join("sim"), DIR_NAME, create)?;
        let hierarchy = load(&dir)?;
        Self::new(Held::Owned(Box::new(hierarchy)), count, Some(dir))
    }

    /// `count` GPUs of an existing hierarchy (for tests: `DeviceHierarchy::shared`), with no
    /// files.
    ///
    /// # Errors
    ///
    /// [`CollectError::GpuCount`] or [`CollectError::Sim`], as
    /// [`SimulatedGpus::open_or_create`].
    pub fn from_hierarchy(
        hierarchy: &'static DeviceHierarchy,
        count: usize,
    ) -> Result<Self, CollectError> {
        check_count(count)?;
        Self::new(Held::Shared(hierarchy), count, None)
    }

    fn new(
        hierarchy: Held<DeviceHierarchy>,
        count: usize,
        dir: Option<PathBuf>,
    ) -> Result<Self, CollectError> {
        let gpus = (0..count)
            .map(|index| hierarchy.gpu(profile(hierarchy.arch(), index)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            hierarchy,
            gpus,
            dir,
            ocsp_time: None,
        })
    }

    /// Staples OCSP responses made for time `at` (`thisUpdate` an hour before, `nextUpdate`
    /// seven days after) instead of the current time: for tests that pin the verifier's clock.
    #[must_use]
    pub fn with_ocsp_time(mut self, at: UnixTime) -> Self {
        self.ocsp_time = Some(at);
        self
    }

    /// The hierarchy.
    pub fn hierarchy(&self) -> &DeviceHierarchy {
        &self.hierarchy
    }

    /// The GPUs, in evidence order.
    pub fn gpus(&self) -> &[SimGpu] {
        &self.gpus
    }

    /// `device_root.pem`: what a verifier must trust (as an insecure test root) to accept
    /// these GPUs. `None` for GPUs made by [`SimulatedGpus::from_hierarchy`].
    pub fn device_root_path(&self) -> Option<PathBuf> {
        self.dir.as_ref().map(|d| d.join(DEVICE_ROOT_FILE))
    }

    /// Evidence of every GPU for the GPU nonce `gpu_nonce`, in order, each with `good` OCSP
    /// responses of the simulated responder stapled for its BROM, Provisioner ICA and
    /// Identity CA (as an agent fetching them from NVIDIA's responder would).
    ///
    /// # Errors
    ///
    /// [`CollectError::Sim`] if a report or a response cannot be encoded (not for the built-in
    /// profiles).
    pub fn collect(&self, gpu_nonce: &[u8; 32]) -> Result<Vec<GpuEvidence>, CollectError> {
        let arch = arch_name(self.hierarchy.arch());
        let at = self.ocsp_time.unwrap_or_else(|| {
            let secs = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            UnixTime(i64::try_from(secs).unwrap_or(i64::MAX))
        });
        let spec = OcspSpec::good_at(at);
        self.gpus
            .iter()
            .map(|gpu| {
                Ok(GpuEvidence {
                    report: gpu.report(gpu_nonce)?,
                    certificate_chain: gpu.chain_pem().into_bytes(),
                    arch: arch.to_owned(),
                    ocsp_responses: self.hierarchy.staple(gpu, &spec)?,
                })
            })
            .collect()
    }
}

fn check_count(count: usize) -> Result<(), CollectError> {
    if (1..=MAX_GPUS).contains(&count) {
        Ok(())
    } else {
        Err(CollectError::GpuCount { count })
    }
}

/// The profile of GPU `index`: the architecture's default, with a per-GPU FWID for `index > 0`
/// so that each GPU has its own leaf (see the module documentation).
fn profile(arch: Arch, index: usize) -> GpuProfile {
    let mut profile = GpuProfile::for_arch(arch);
    if index > 0 {
        profile.fwid = Sha384::new()
            .chain_update(b"warden/sim/nvidia/gpu-fwid")
            .chain_update(profile.fwid)
            .chain_update((index as u64).to_be_bytes())
            .finalize()
            .into();
    }
    profile
}

/// The architecture as NVML names it in the evidence (`GpuEvidence.arch`).
fn arch_name(arch: Arch) -> &'static str {
    match arch {
        Arch::Hopper => "HOPPER",
        Arch::Blackwell => "BLACKWELL",
    }
}

fn create(dir: &Path) -> Result<(), CollectError> {
    let hierarchy = DeviceHierarchy::generate(Arch::Hopper, UnwrapErr(OsRng).next_u64());
    save_hierarchy(
        dir,
        &hierarchy.export()?,
        DEVICE_ROOT_FILE,
        &hierarchy.root_pem(),
    )
}

fn load(dir: &Path) -> Result<DeviceHierarchy, CollectError> {
    let export: DeviceHierarchyExport =
        load_hierarchy(dir, "not a simulated NVIDIA device hierarchy (JSON export)")?;
    let hierarchy = DeviceHierarchy::import(&export)?;
    restore_root(dir, DEVICE_ROOT_FILE, &hierarchy.root_pem())?;
    Ok(hierarchy)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use warden_evidence::UnixTime;
    use warden_evidence::nvidia::GpuVerifier;

    use std::fs;

    use super::super::HIERARCHY_FILE;
    use super::*;

    /// 2026-06-01T00:00:00Z: inside the simulated chain's validity.
    const AT: UnixTime = UnixTime(1_780_272_000);

    #[test]
    fn state_dir_round_trip() {
        let state = tempfile::tempdir().unwrap();
        let first = SimulatedGpus::open_or_create(state.path(), 2).unwrap();
        let dir = state.path().join("sim/nvidia");
        let mode = |name: &str| fs::metadata(dir.join(name)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(HIERARCHY_FILE), 0o600);
        assert_eq!(mode(DEVICE_ROOT_FILE), 0o644);
        assert_eq!(
            fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
            0o700
        );
        assert_eq!(first.device_root_path(), Some(dir.join(DEVICE_ROOT_FILE)));

        // Reopened (with more GPUs): the same hierarchy, so the same GPUs and reports.
        fs::remove_file(dir.join(DEVICE_ROOT_FILE)).unwrap();
        let second = SimulatedGpus::open_or_create(state.path(), 3).unwrap();
        assert_eq!(
            fs::read_to_string(dir.join(DEVICE_ROOT_FILE)).unwrap(),
            first.hierarchy().root_pem()
        );
        let nonce = [9; 32];
        let a = first.collect(&nonce).unwrap();
        let b = second.collect(&nonce).unwrap();
        assert_eq!(b.len(), 3);
        assert_eq!(a.as_slice(), &b[..2]);

        // Damaged: a clear error naming the file.
        fs::write(dir.join(HIERARCHY_FILE), b"{}").unwrap();
        let err = SimulatedGpus::open_or_create(state.path(), 1).unwrap_err();
        assert!(matches!(err, CollectError::Malformed { .. }), "{err}");
        assert!(err.to_string().contains("hierarchy.json"), "{err}");
    }

    #[test]
    fn every_gpu_verifies_with_its_own_leaf() {
        let hierarchy = DeviceHierarchy::shared(Arch::Hopper);
        let sim = SimulatedGpus::from_hierarchy(hierarchy, MAX_GPUS).unwrap();
        assert_eq!(sim.device_root_path(), None);
        let nonce = [3; 32];
        let evidence = sim.collect(&nonce).unwrap();
        assert_eq!(evidence.len(), MAX_GPUS);
        let verifier = GpuVerifier::new(hierarchy.root_der().to_vec());
        let mut leaves: Vec<&[u8]> = sim.gpus().iter().map(SimGpu::leaf_der).collect();
        for gpu in &evidence {
            assert_eq!(gpu.arch, "HOPPER");
            verifier
                .verify(AT, &gpu.report, &gpu.certificate_chain, &nonce)
                .unwrap();
        }
        leaves.sort_unstable();
        leaves.dedup();
        assert_eq!(leaves.len(), MAX_GPUS);
    }

    #[test]
    fn counts_out_of_range_are_refused() {
        let hierarchy = DeviceHierarchy::shared(Arch::Hopper);
        for count in [0, MAX_GPUS + 1] {
            assert!(matches!(
                SimulatedGpus::from_hierarchy(hierarchy, count),
                Err(CollectError::GpuCount { count: c }) if c == count
            ));
        }
    }
}
