//! NVIDIA GPU judging for the service: the pinned NVIDIA Device Identity CA, optional generated
//! test roots, and the RIM store with its pinned (and optional test) CoRIM signing roots and
//! optional RIM fetcher.

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::{Value, json};
use tracing::{info, warn};
use warden_evidence::UnixTime;
use warden_evidence::nvidia::rim::{RimVerifier, VerifiedRim};
use warden_evidence::nvidia::{GpuError, GpuVerifier, decode_chain};
use warden_proto::v1;

use crate::revocation::{ChainKind, Revocation, RevocationMode};
use crate::rim_fetch::{self, RimClient};
use crate::rims::{self, RimStore};
use warden_evidence::nvidia::ocsp::{DEVICE_CHAIN_OCSP, OcspCertStatus, RIM_CHAIN_OCSP};
use warden_evidence::nvidia::rim::RimKind;

/// The most GPUs one attestation may carry.
pub const MAX_GPUS: usize = 8;

/// Why GPU evidence refused the attestation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GpuRefusal {
    /// More GPUs than [`MAX_GPUS`].
    #[error("{0} GPUs sent, at most {MAX_GPUS} are accepted")]
    TooMany(usize),
    /// One GPU's evidence did not verify.
    #[error("GPU {index}: {reason}")]
    Gpu {
        /// The GPU's position in the evidence list.
        index: usize,
        /// Why.
        reason: String,
    },
    /// The RIM store could not be read.
    #[error("RIM store: {0}")]
    Store(String),
}

/// After a failed fetch of a RIM, how long attestations needing it go without it before the
/// RIM service is asked again.
pub const RIM_FETCH_RETRY_AFTER_SECS: i64 = 60;

/// GPU verification: NVIDIA's pinned device root, optional test roots, and the RIM store.
pub struct GpuJudge {
    device: GpuVerifier,
    device_root: Vec<u8>,
    test: Vec<(Vec<u8>, GpuVerifier)>,
    rims: RimStore,
    rim_verifier: RimVerifier,
    rim_test: Vec<RimVerifier>,
    revocation: Revocation,
    rim_fetcher: Option<RimClient>,
    /// One fetch at a time; the time of the last failed fetch per RIM id, so that a burst of
    /// attestations needing a RIM the service lacks costs one request, not one each.
    rim_fetches: Mutex<HashMap<String, UnixTime>>,
}

impl std::fmt::Debug for GpuJudge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuJudge")
            .field("test_roots", &self.test.len())
            .field("rim_test_roots", &self.rim_test.len())
            .field("revocation", &self.revocation.mode())
            .field(
                "rim_fetcher",
                &self.rim_fetcher.as_ref().map(RimClient::url),
            )
            .finish_non_exhaustive()
    }
}

impl GpuJudge {
    /// Verification against `device_root` (DER) and RIMs from `rims` verified against
    /// `corim_root` (DER), revocation `off` until [`GpuJudge::with_revocation`].
    pub fn new(device_root: &[u8], corim_root: &[u8], rims: RimStore) -> Self {
        Self {
            device: GpuVerifier::new(device_root.to_vec()),
            device_root: device_root.to_vec(),
            test: Vec::new(),
            rims,
            rim_verifier: RimVerifier::new(corim_root.to_vec()),
            rim_test: Vec::new(),
            revocation: Revocation::off(),
            rim_fetcher: None,
            rim_fetches: Mutex::new(HashMap::new()),
        }
    }

    /// Checks revocation of the device and RIM certificates as `revocation` says.
    #[must_use]
    pub fn with_revocation(mut self, revocation: Revocation) -> Self {
        self.revocation = revocation;
        self
    }

    /// The revocation mode.
    pub fn revocation_mode(&self) -> RevocationMode {
        self.revocation.mode()
    }

    /// The pinned NVIDIA roots and `rims`.
    pub fn pinned(rims: RimStore) -> Self {
        Self::new(
            crate::roots::nvidia_device_identity_ca(),
            crate::roots::nvidia_corim_signing_root_ca(),
            rims,
        )
    }

    /// Also accepts GPU chains ending in one of `roots` (DER), marking their claims
    /// `simulated`. For `insecure_gpu_test_roots` only.
    #[must_use]
    pub fn with_insecure_test_roots(mut self, roots: Vec<Vec<u8>>) -> Self {
        self.test = roots
            .into_iter()
            .map(|r| (r.clone(), GpuVerifier::new(r)))
            .collect();
        self
    }

    /// Also accepts stored RIMs whose chain ends in one of `roots` (DER). For
    /// `insecure_rim_test_roots` only.
    #[must_use]
    pub fn with_insecure_rim_test_roots(mut self, roots: Vec<Vec<u8>>) -> Self {
        self.rim_test = roots.into_iter().map(RimVerifier::new).collect();
        self
    }

    /// Fetches a RIM the store lacks (or holds only in a form that does not verify) with
    /// `client`, stores it if it passes the rules of `rims import`, and uses it. See
    /// [`crate::rim_fetch`].
    #[must_use]
    pub fn with_rim_fetcher(mut self, client: RimClient) -> Self {
        self.rim_fetcher = Some(client);
        self
    }

    /// Whether test device roots are trusted.
    pub fn trusts_test_roots(&self) -> bool {
        !self.test.is_empty()
    }

    /// Verifies every GPU's evidence at `now` for `expected_nonce` and compares it with its
    /// stored RIMs; returns the per-GPU claims objects, in evidence order.
    ///
    /// A GPU that does not verify refuses the whole attestation; a RIM mismatch or missing RIMs
    /// are claims for policy.
    ///
    /// # Errors
    ///
    /// [`GpuRefusal`].
    pub fn verify(
        &self,
        now: UnixTime,
        gpus: &[v1::GpuEvidence],
        expected_nonce: &[u8; 32],
    ) -> Result<Vec<Value>, GpuRefusal> {
        if gpus.len() > MAX_GPUS {
            return Err(GpuRefusal::TooMany(gpus.len()));
        }
        gpus.iter()
            .enumerate()
            .map(|(index, gpu)| self.verify_one(now, index, gpu, expected_nonce))
            .collect()
    }

    fn verify_one(
        &self,
        now: UnixTime,
        index: usize,
        gpu: &v1::GpuEvidence,
        expected_nonce: &[u8; 32],
    ) -> Result<Value, GpuRefusal> {
        let refuse = |e: GpuError| GpuRefusal::Gpu {
            index,
            reason: e.to_string(),
        };
        let ders = decode_chain(&gpu.certificate_chain).map_err(refuse)?;
        let root = ders.last().cloned().unwrap_or_default();
        let test = if root == self.device_root {
            None
        } else {
            self.test.iter().find(|(r, _)| *r == root).map(|(_, v)| v)
        };
        let verifier = test.unwrap_or(&self.device);
        let verified = verifier
            .verify(now, &gpu.report, &gpu.certificate_chain, expected_nonce)
            .map_err(refuse)?;

        let (driver_id, vbios_id) = rims::report_rim_ids(&verified.claims);
        let mut found: Vec<(String, String, VerifiedRim)> = Vec::new();
        for id in [driver_id, vbios_id].into_iter().flatten() {
            if let Some(rim) = self.stored_rim(&id, now)? {
                found.push((id.clone(), id, rim));
            }
        }
        let matched =
            rims::match_report(&verified.report, &found).map_err(|e| GpuRefusal::Gpu {
                index,
                reason: e.to_string(),
            })?;

        // Revocation of the device chain and of each RIM's chain.
        let revoked = |e: crate::revocation::RevocationError| GpuRefusal::Gpu {
            index,
            reason: e.to_string(),
        };
        let mut checked = self
            .revocation
            .check_chain(
                now,
                ChainKind::Device,
                &ders,
                DEVICE_CHAIN_OCSP,
                &gpu.ocsp_responses,
            )
            .map_err(revoked)?;
        for (_, _, rim) in &found {
            let kind = match rim.kind {
                RimKind::Driver => ChainKind::DriverRim,
                _ => ChainKind::VbiosRim,
            };
            checked.extend(
                self.revocation
                    .check_chain(now, kind, &rim.chain, RIM_CHAIN_OCSP, &gpu.ocsp_responses)
                    .map_err(revoked)?,
            );
        }
        let revocation_status = match self.revocation.mode() {
            RevocationMode::Off => {
                warn!(
                    gpu = index,
                    "GPU certificate revocation not checked (mode off)"
                );
                "unchecked"
            }
            _ if checked.iter().any(|c| c.status == OcspCertStatus::Hold) => "hold",
            _ => "good",
        };

        let mut claims = serde_json::to_value(&verified.claims).map_err(|e| GpuRefusal::Gpu {
            index,
            reason: format!("claims do not serialise: {e}"),
        })?;
        let Some(object) = claims.as_object_mut() else {
            return Err(GpuRefusal::Gpu {
                index,
                reason: "claims are not a JSON object".to_owned(),
            });
        };
        object.insert("index".to_owned(), json!(index));
        object.insert("simulated".to_owned(), json!(test.is_some()));
        object.insert(
            "measurements_match".to_owned(),
            json!(matched.measurements_match),
        );
        object.insert(
            "mismatched_indices".to_owned(),
            json!(matched.mismatched_indices),
        );
        object.insert("rim_ids".to_owned(), json!(matched.rim_ids));
        object.insert("rims_complete".to_owned(), json!(matched.rims_complete));
        object.insert(
            "revocation".to_owned(),
            json!(self.revocation.mode().name()),
        );
        object.insert("revocation_status".to_owned(), json!(revocation_status));
        object.insert("revocation_checked".to_owned(), json!(checked));
        Ok(claims)
    }

    /// The stored RIM `id`, verified at `now` by the pinned or a test CoRIM root; failing that,
    /// with a fetcher configured, the RIM fetched, verified and stored. `None` when there is
    /// none (a claim for policy, logged), never an error: only a failing store read refuses.
    fn stored_rim(&self, id: &str, now: UnixTime) -> Result<Option<VerifiedRim>, GpuRefusal> {
        if let Some(rim) = self.lookup_rim(id, now)? {
            return Ok(Some(rim));
        }
        let Some(fetcher) = &self.rim_fetcher else {
            return Ok(None);
        };
        let mut fetches = self
            .rim_fetches
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Another attestation may have fetched it while this one waited for the lock.
        if let Some(rim) = self.lookup_rim(id, now)? {
            return Ok(Some(rim));
        }
        if let Some(failed) = fetches.get(id)
            && now.0.saturating_sub(failed.0) < RIM_FETCH_RETRY_AFTER_SECS
        {
            warn!(
                rim = id,
                "RIM missing; its last fetch failed under {RIM_FETCH_RETRY_AFTER_SECS} s ago, \
                 not fetching again yet"
            );
            return Ok(None);
        }
        let verifiers: Vec<&RimVerifier> = std::iter::once(&self.rim_verifier)
            .chain(&self.rim_test)
            .collect();
        info!(rim = id, url = %fetcher.url_for(id), "RIM not in the store; fetching");
        match rim_fetch::fetch_into(fetcher, &self.rims, &verifiers, id, now) {
            Ok((entry, file)) => {
                fetches.remove(id);
                info!(rim = id, kind = entry.kind, version = %entry.version, outcome = ?entry.outcome, source = %entry.source, "fetched RIM stored");
                Ok(Some(file.rim))
            }
            Err(e) => {
                fetches.insert(id.to_owned(), now);
                warn!(rim = id, error = %e, "RIM fetch failed; the RIM is treated as missing");
                Ok(None)
            }
        }
    }

    /// The stored RIM `id`, verified at `now` by the pinned or a test CoRIM root; `None` when
    /// none is stored or it verifies under none of them (expired, say), which is logged.
    fn lookup_rim(&self, id: &str, now: UnixTime) -> Result<Option<VerifiedRim>, GpuRefusal> {
        let mut last = None;
        for verifier in std::iter::once(&self.rim_verifier).chain(&self.rim_test) {
            match self.rims.get(id, verifier, now) {
                Ok(found) => return Ok(found),
                Err(rims::RimStoreError::Verify { path, reason }) => {
                    last = Some(format!("{}: {reason}", path.display()));
                }
                Err(e) => return Err(GpuRefusal::Store(e.to_string())),
            }
        }
        if let Some(reason) = last {
            warn!(rim = id, %reason, "stored RIM does not verify now; treated as missing");
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

    use std::sync::Arc;

    use warden_evidence::sim::nvidia::{
        Arch, DeviceHierarchy, GpuProfile, RimHierarchy, RimPairFaults, SimRims,
    };

    use super::*;
    use crate::rims::RimFile;
    use crate::store::Store;

    const NOW: UnixTime = UnixTime(1_767_225_600);

    fn judge(dir: &tempfile::TempDir, rims: Option<SimRims>) -> GpuJudge {
        let store = Arc::new(Store::open(dir.path()).unwrap());
        let rim_root = RimHierarchy::shared().root_der().to_vec();
        let store_rims = RimStore::new(Arc::clone(&store));
        if let Some(sim) = rims {
            let verifier = RimVerifier::new(rim_root.clone());
            let files = [(sim.driver_id, sim.driver), (sim.vbios_id, sim.vbios)]
                .into_iter()
                .map(|(id, body)| RimFile {
                    source: id.clone(),
                    rim: verifier.verify(NOW, &body).unwrap(),
                    id,
                    body,
                })
                .collect();
            store_rims.import(files, NOW).unwrap();
        }
        GpuJudge::pinned(store_rims)
            .with_insecure_test_roots(vec![
                DeviceHierarchy::shared(Arch::Hopper).root_der().to_vec(),
            ])
            .with_insecure_rim_test_roots(vec![rim_root])
    }

    fn evidence(nonce: &[u8; 32]) -> v1::GpuEvidence {
        let gpu = DeviceHierarchy::shared(Arch::Hopper)
            .gpu(GpuProfile::hopper())
            .unwrap();
        v1::GpuEvidence {
            report: gpu.report(nonce).unwrap(),
            certificate_chain: gpu.chain_pem().into_bytes(),
            arch: "HOPPER".to_owned(),
            ocsp_responses: Vec::new(),
        }
    }

    #[test]
    fn matching_rims_are_claimed() {
        let dir = tempfile::tempdir().unwrap();
        let sim = RimHierarchy::shared()
            .rims_for(&GpuProfile::hopper())
            .unwrap();
        let claims = judge(&dir, Some(sim))
            .verify(NOW, &[evidence(&[5; 32])], &[5; 32])
            .unwrap();
        assert_eq!(claims.len(), 1);
        assert_eq!(claims[0]["simulated"], true);
        assert_eq!(claims[0]["measurements_match"], true);
        assert_eq!(claims[0]["rims_complete"], true);
        assert_eq!(claims[0]["revocation"], "off");
    }

    #[test]
    fn a_rim_mismatch_is_a_claim_not_a_refusal() {
        let dir = tempfile::tempdir().unwrap();
        let faults = RimPairFaults {
            mismatch_at: vec![0],
            ..RimPairFaults::default()
        };
        let sim = RimHierarchy::shared()
            .rims_for_with(&GpuProfile::hopper(), &faults)
            .unwrap();
        let claims = judge(&dir, Some(sim))
            .verify(NOW, &[evidence(&[5; 32])], &[5; 32])
            .unwrap();
        assert_eq!(claims[0]["measurements_match"], false, "{}", claims[0]);
        assert_eq!(claims[0]["mismatched_indices"], json!([0]));
        assert_eq!(claims[0]["rims_complete"], true);
    }

    #[test]
    fn missing_rims_are_a_claim_not_a_refusal() {
        let dir = tempfile::tempdir().unwrap();
        let claims = judge(&dir, None)
            .verify(NOW, &[evidence(&[5; 32])], &[5; 32])
            .unwrap();
        assert_eq!(claims[0]["measurements_match"], false);
        assert_eq!(claims[0]["rims_complete"], false);
        assert_eq!(claims[0]["rim_ids"], json!([]));
    }

    #[test]
    fn wrong_nonce_untrusted_root_and_too_many_gpus_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let judge = judge(&dir, None);
        let e = judge
            .verify(NOW, &[evidence(&[5; 32]), evidence(&[6; 32])], &[5; 32])
            .unwrap_err();
        assert!(matches!(e, GpuRefusal::Gpu { index: 1, .. }), "{e}");
        let pinned_only = GpuJudge::pinned(RimStore::new(Arc::new(
            Store::open(&dir.path().join("other")).unwrap(),
        )));
        let e = pinned_only
            .verify(NOW, &[evidence(&[5; 32])], &[5; 32])
            .unwrap_err();
        assert!(matches!(e, GpuRefusal::Gpu { index: 0, .. }), "{e}");
        let nine: Vec<_> = (0..9).map(|_| evidence(&[5; 32])).collect();
        assert_eq!(
            judge.verify(NOW, &nine, &[5; 32]).unwrap_err(),
            GpuRefusal::TooMany(9)
        );
    }
}
