//! The NVIDIA RIM store: reference integrity manifests (signed SWID tags) persisted in the state
//! database (`gpu_rims`), keyed by their RIM service id, and the comparison of a verified GPU
//! report with its driver and VBIOS RIMs.
//!
//! RIMs enter the store by [`read_path`] + [`RimStore::import`] (the operator's
//! `warden-verifier rims import FILE|DIR`). Every file is verified (XML signature, chain to the
//! pinned NVIDIA CoRIM signing root) at import, at a time the caller passes: normally the clock,
//! or an operator-given time for RIMs whose signer has expired (every nvtrust sample RIM has).
//! The document is stored verbatim and is verified again, at the verification time, whenever it
//! is used: an import never vouches for a RIM at a later time. Of two RIMs with one id the store
//! keeps the one whose signing chain is valid longer (then the one already stored), so
//! re-importing an old bundle cannot replace a re-issued RIM.
//!
//! Ids: a driver RIM's id follows from its signed content (`NV_GPU_DRIVER_GH100_<version>`); a
//! VBIOS RIM's signed content does not name the board (project, SKU, chip SKU), so its id comes
//! from the file name (`NV_GPU_VBIOS_<project>_<sku>_<chip>_<vbios>…` as NVIDIA's RIM service
//! names them, or nvtrust's `<project>_<sku>_<chip>_<vbios>_….swidtag`), and the VBIOS version
//! in the name must equal the signed one. The id is only a lookup key: at use the RIM's signed
//! kind and version must equal the report's signed driver or VBIOS version.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;
use warden_evidence::UnixTime;
use warden_evidence::nvidia::rim::{
    self, CompareError, RimError, RimKind, RimVerifier, VerifiedRim,
};

use crate::bundle::{self, BundleError};
use crate::store::{RimRow, Store, StoreError};

/// Largest RIM file read (NVIDIA's RIMs are under 100 KiB; the parser refuses over 1 MiB).
const MAX_FILE_BYTES: u64 = rim::MAX_RIM_LEN as u64;

/// Why RIMs could not be read, verified or stored.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RimStoreError {
    /// A file or directory could not be read.
    #[error("cannot read {path}: {reason}")]
    Read {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        reason: std::io::Error,
    },
    /// A file is larger than any RIM.
    #[error("{path} is {len} bytes, larger than the {MAX_FILE_BYTES}-byte limit for a RIM")]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its length.
        len: u64,
    },
    /// A directory holds no files.
    #[error("{path} holds no RIM files")]
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
    /// A RIM does not verify.
    #[error("RIM {path}: {reason}")]
    Verify {
        /// The file (or, for a stored RIM, its source).
        path: PathBuf,
        /// Why.
        reason: RimError,
    },
    /// A RIM's id cannot be told.
    #[error("RIM {path}: {reason}")]
    Id {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<BundleError> for RimStoreError {
    fn from(e: BundleError) -> Self {
        match e {
            BundleError::Read { path, source } => Self::Read {
                path,
                reason: source,
            },
            BundleError::Empty { path } => Self::Empty { path },
            BundleError::Nested { path } => Self::Nested { path },
            BundleError::TooLarge { path, len } => Self::TooLarge { path, len },
        }
    }
}

/// A verified RIM read from a file, with its id.
#[derive(Debug, Clone)]
pub struct RimFile {
    /// Where it came from: `import:<path>`.
    pub source: String,
    /// The RIM service id.
    pub id: String,
    /// The document, verbatim.
    pub body: Vec<u8>,
    /// Its verified content.
    pub rim: VerifiedRim,
}

/// What became of one RIM offered to the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ImportOutcome {
    /// No RIM had this id.
    Added,
    /// It replaced a RIM of this id whose chain expires earlier.
    Replaced,
    /// The stored RIM of this id is valid at least as long; it stays.
    KeptExisting,
}

/// One RIM offered to the store, and what became of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImportEntry {
    /// Where it came from.
    pub source: String,
    /// The RIM id.
    pub id: String,
    /// `driver` or `vbios`.
    pub kind: &'static str,
    /// The version it describes.
    pub version: String,
    /// Earliest notAfter of its signing chain (RFC 3339).
    pub valid_until: String,
    /// Added, replaced or kept the stored one.
    pub outcome: ImportOutcome,
}

/// The name of a RIM kind in the store and in claims.
pub fn kind_name(kind: RimKind) -> &'static str {
    match kind {
        RimKind::Driver => "driver",
        _ => "vbios",
    }
}

/// A RIM verifier trusting the pinned NVIDIA CoRIM signing root.
pub fn pinned_verifier() -> RimVerifier {
    RimVerifier::new(crate::roots::nvidia_corim_signing_root_ca().to_vec())
}

/// The id under which a RIM read from `path` is stored (see the module documentation).
///
/// # Errors
///
/// A reason when a VBIOS RIM's file name does not name its board, names another VBIOS version
/// than the signed one, or a driver RIM is not for a supported product.
pub fn rim_id(path: &Path, rim: &VerifiedRim) -> Result<String, String> {
    match rim.kind {
        RimKind::Driver => {
            if rim.product.eq_ignore_ascii_case("GH100") {
                Ok(rim::hopper_driver_rim_id(&rim.colloquial_version))
            } else {
                Err(format!(
                    "driver RIM for product {:?}: only GH100 driver RIM ids are known",
                    rim.product
                ))
            }
        }
        _ => {
            let stem = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.split('.').next())
                .unwrap_or_default();
            let upper = stem.to_ascii_uppercase();
            let rest = upper.strip_prefix("NV_GPU_VBIOS_").unwrap_or(&upper);
            let parts: Vec<&str> = rest.split('_').collect();
            let signed: String = rim
                .colloquial_version
                .chars()
                .filter(|c| *c != '.')
                .collect::<String>()
                .to_ascii_uppercase();
            match parts.as_slice() {
                [project, sku, chip, vbios, ..] if *vbios == signed => Ok(rim::vbios_rim_id(
                    project,
                    sku,
                    chip,
                    &rim.colloquial_version,
                )),
                [_, _, _, vbios, ..] => Err(format!(
                    "file name says VBIOS {vbios}, the signed RIM says {}",
                    rim.colloquial_version
                )),
                _ => Err(format!(
                    "a VBIOS RIM does not name its board; name the file \
                     NV_GPU_VBIOS_<project>_<sku>_<chip>_{signed}.xml"
                )),
            }
        }
    }
}

/// Reads and verifies RIMs from `path`, one file or a directory of files (one level; hidden
/// files skipped), at time `at`. Every file must be a RIM that verifies: a failure names the
/// file and nothing is returned, so a bundle is never imported half-checked.
///
/// # Errors
///
/// [`RimStoreError`] naming the file.
pub fn read_path(
    path: &Path,
    verifier: &RimVerifier,
    at: UnixTime,
) -> Result<Vec<RimFile>, RimStoreError> {
    bundle::files(path)?
        .into_iter()
        .map(|file| read_file(&file, verifier, at))
        .collect()
}

/// Reads and verifies one RIM file at `at`.
///
/// # Errors
///
/// [`RimStoreError`] naming the file.
pub fn read_file(
    file: &Path,
    verifier: &RimVerifier,
    at: UnixTime,
) -> Result<RimFile, RimStoreError> {
    let body = bundle::read(file, MAX_FILE_BYTES)?;
    let rim = verifier
        .verify(at, &body)
        .map_err(|reason| RimStoreError::Verify {
            path: file.to_path_buf(),
            reason,
        })?;
    let id = rim_id(file, &rim).map_err(|reason| RimStoreError::Id {
        path: file.to_path_buf(),
        reason,
    })?;
    Ok(RimFile {
        source: format!("import:{}", file.display()),
        id,
        body,
        rim,
    })
}

/// The RIM store of one verifier.
pub struct RimStore {
    store: Arc<Store>,
}

impl std::fmt::Debug for RimStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RimStore").finish_non_exhaustive()
    }
}

impl RimStore {
    /// The RIM store in `store`.
    pub fn new(store: Arc<Store>) -> Self {
        Self { store }
    }

    /// Offers verified RIMs to the store at time `now` (the `stored_at` of what is written):
    /// each is stored unless the stored RIM of its id is valid at least as long. Everything
    /// added or replaced is written in one durable transaction.
    ///
    /// # Errors
    ///
    /// [`RimStoreError::Store`]; nothing is stored then.
    pub fn import(
        &self,
        files: Vec<RimFile>,
        now: UnixTime,
    ) -> Result<Vec<ImportEntry>, RimStoreError> {
        let mut rows: Vec<RimRow> = Vec::new();
        let mut entries = Vec::with_capacity(files.len());
        for file in files {
            let row = RimRow {
                id: file.id.clone(),
                kind: kind_name(file.rim.kind).to_owned(),
                version: file.rim.colloquial_version.clone(),
                body: file.body,
                valid_until: file.rim.valid_until,
                source: file.source.clone(),
                stored_at: now,
            };
            // The batch so far wins over the database: it is what will be stored.
            let current = match rows.iter().find(|r| r.id == row.id) {
                Some(r) => Some(r.valid_until),
                None => self.store.get_rim(&row.id)?.map(|r| r.valid_until),
            };
            let outcome = match current {
                None => ImportOutcome::Added,
                Some(until) if row.valid_until > until => ImportOutcome::Replaced,
                Some(_) => ImportOutcome::KeptExisting,
            };
            entries.push(ImportEntry {
                source: file.source,
                id: file.id,
                kind: kind_name(file.rim.kind),
                version: row.version.clone(),
                valid_until: row.valid_until.to_string(),
                outcome,
            });
            if outcome != ImportOutcome::KeptExisting {
                rows.retain(|r| r.id != row.id);
                rows.push(row);
            }
        }
        if !rows.is_empty() {
            self.store.put_rims(&rows)?;
        }
        Ok(entries)
    }

    /// Every stored RIM, for `rims list`.
    ///
    /// # Errors
    ///
    /// [`RimStoreError::Store`].
    pub fn rows(&self) -> Result<Vec<RimRow>, RimStoreError> {
        Ok(self.store.rim_rows()?)
    }

    /// The stored RIM `id`, verified again at `at`; `None` when none is stored.
    ///
    /// # Errors
    ///
    /// [`RimStoreError::Verify`] (naming the row's source) when it does not verify at `at`.
    pub fn get(
        &self,
        id: &str,
        verifier: &RimVerifier,
        at: UnixTime,
    ) -> Result<Option<VerifiedRim>, RimStoreError> {
        let Some(row) = self.store.get_rim(id)? else {
            return Ok(None);
        };
        verifier
            .verify(at, &row.body)
            .map(Some)
            .map_err(|reason| RimStoreError::Verify {
                path: PathBuf::from(row.source),
                reason,
            })
    }
}

/// The RIM ids a report needs, from its signed opaque data: the Hopper driver RIM and the VBIOS
/// RIM. `None` for a part the report does not carry (and the driver id for non-Hopper GPUs,
/// whose driver RIM ids are not known yet).
pub fn report_rim_ids(
    claims: &warden_evidence::nvidia::GpuClaims,
) -> (Option<String>, Option<String>) {
    let hopper = claims.hwmodel.starts_with("GH100");
    let driver = claims
        .driver_version
        .as_deref()
        .filter(|_| hopper)
        .map(rim::hopper_driver_rim_id);
    let vbios = match (
        &claims.project,
        &claims.project_sku,
        &claims.chip_sku,
        &claims.vbios_version,
    ) {
        (Some(p), Some(s), Some(c), Some(v)) => Some(rim::vbios_rim_id(p, s, c, v)),
        _ => None,
    };
    (driver, vbios)
}

/// Why a report could not be compared with the RIMs given for it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RimMatchError {
    /// A RIM describes another version than the report's signed one.
    #[error("RIM {label} describes {kind} {rim_version}, the report has {report_version}")]
    Version {
        /// The RIM (file or id).
        label: String,
        /// `driver` or `vbios`.
        kind: &'static str,
        /// The RIM's version.
        rim_version: String,
        /// The report's version, or `none`.
        report_version: String,
    },
    /// Two RIMs of one kind.
    #[error("two {kind} RIMs given: {first} and {second}")]
    Duplicate {
        /// `driver` or `vbios`.
        kind: &'static str,
        /// The first.
        first: String,
        /// The second.
        second: String,
    },
    /// The report's measurement blocks are not numbered 1..=N.
    #[error("report measurement blocks are not numbered contiguously from 1")]
    BlockIndices,
    /// The measurements cannot be compared at all.
    #[error("RIM comparison: {0}")]
    Compare(#[from] CompareError),
}

/// The outcome of comparing one report with its RIMs, as claims.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RimMatch {
    /// True when every compared active measurement matched (over the RIMs given).
    pub measurements_match: bool,
    /// RIM (0-based) indices that did not match.
    pub mismatched_indices: Vec<u32>,
    /// RIM indices compared.
    pub compared_indices: Vec<u32>,
    /// The ids of the RIMs used, driver first.
    pub rim_ids: Vec<String>,
    /// Both a driver and a VBIOS RIM were compared. When false, `measurements_match` speaks
    /// only for the RIM given; a policy must require this to be true.
    pub rims_complete: bool,
}

/// Compares a verified report with `rims` (label, id, verified RIM): at most one driver and one
/// VBIOS RIM, each describing exactly the report's signed version.
///
/// # Errors
///
/// [`RimMatchError`].
pub fn match_report(
    report: &warden_evidence::nvidia::SpdmReport,
    rims: &[(String, String, VerifiedRim)],
) -> Result<RimMatch, RimMatchError> {
    let opaque = report.opaque();
    let mut driver: Option<&(String, String, VerifiedRim)> = None;
    let mut vbios: Option<&(String, String, VerifiedRim)> = None;
    for entry in rims {
        let (label, _, rim) = entry;
        let (slot, expected) = match rim.kind {
            RimKind::Driver => (&mut driver, opaque.driver_version()),
            _ => (&mut vbios, opaque.vbios_version()),
        };
        let kind = kind_name(rim.kind);
        if !expected
            .as_deref()
            .is_some_and(|v| rim.describes_version(v))
        {
            return Err(RimMatchError::Version {
                label: label.clone(),
                kind,
                rim_version: rim.colloquial_version.clone(),
                report_version: expected.unwrap_or_else(|| "none".to_owned()),
            });
        }
        if let Some((first, _, _)) = slot {
            return Err(RimMatchError::Duplicate {
                kind,
                first: first.clone(),
                second: label.clone(),
            });
        }
        *slot = Some(entry);
    }
    // RIM index i is SPDM block i + 1. Blocks run 1..=N on every NVIDIA GPU; anything else
    // would compare RIM entries against the wrong blocks, so it is refused.
    let mut blocks: Vec<[u8; 48]> = Vec::with_capacity(report.measurements().len());
    for (expected, block) in (1_usize..).zip(report.measurements()) {
        if usize::from(block.index) != expected {
            return Err(RimMatchError::BlockIndices);
        }
        blocks.push(block.digest);
    }
    let nvdec0_disabled = opaque.nvdec0_status() == Some(0x55);
    let comparison = match (driver, vbios) {
        (Some(d), Some(v)) => rim::compare(&blocks, nvdec0_disabled, &d.2, &v.2)?,
        (Some(one), None) | (None, Some(one)) => {
            rim::compare_single(&blocks, nvdec0_disabled, &one.2)?
        }
        (None, None) => {
            return Ok(RimMatch {
                measurements_match: false,
                mismatched_indices: Vec::new(),
                compared_indices: Vec::new(),
                rim_ids: Vec::new(),
                rims_complete: false,
            });
        }
    };
    Ok(RimMatch {
        measurements_match: comparison.matched,
        mismatched_indices: comparison.mismatched_indices,
        compared_indices: comparison.compared,
        rim_ids: [driver, vbios]
            .into_iter()
            .flatten()
            .map(|(_, id, _)| id.clone())
            .collect(),
        rims_complete: driver.is_some() && vbios.is_some(),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use std::path::PathBuf;

    use std::fs;

    use super::*;

    /// `$WARDEN_VECTORS/nvidia` (default `../shared/vectors/nvidia`), or `None` (the test is
    /// skipped) where it is absent; with `WARDEN_REQUIRE_VECTORS=1` (CI) absence fails.
    fn vectors() -> Option<PathBuf> {
        let root = std::env::var_os("WARDEN_VECTORS").map_or_else(
            || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/vectors"),
            PathBuf::from,
        );
        let dir = root.join("nvidia");
        if dir.is_dir() {
            return Some(dir);
        }
        let required = std::env::var("WARDEN_REQUIRE_VECTORS").is_ok_and(|v| v == "1");
        assert!(
            !required,
            "WARDEN_REQUIRE_VECTORS=1 but {} is absent",
            dir.display()
        );
        eprintln!("skipped: vectors not found ({})", dir.display());
        None
    }

    const JUNE_2024: UnixTime = UnixTime(1_717_200_000);
    const JAN_2026: UnixTime = UnixTime(1_767_225_600);

    fn verified(dir: &Path, name: &str, at: UnixTime) -> VerifiedRim {
        pinned_verifier()
            .verify(at, &fs::read(dir.join(name)).unwrap())
            .unwrap()
    }

    #[test]
    fn ids_come_from_the_signed_content_or_the_file_name() {
        let Some(dir) = vectors() else { return };
        let driver = verified(
            &dir,
            "rims/attestation-sdk/NV_GPU_DRIVER_GH100_550.144.03.xml",
            JAN_2026,
        );
        // A driver RIM's name does not matter.
        assert_eq!(
            rim_id(Path::new("whatever.xml"), &driver).unwrap(),
            "NV_GPU_DRIVER_GH100_550.144.03"
        );
        let vbios = verified(
            &dir,
            "rims/nvtrust/1010_0200_882_96005E0001_PROD.swidtag",
            JUNE_2024,
        );
        for name in [
            "1010_0200_882_96005E0001_PROD.swidtag",
            "NV_GPU_VBIOS_1010_0200_882_96005E0001.xml",
            "nv_gpu_vbios_1010_0200_882_96005e0001_measurement_mismatch.xml",
        ] {
            assert_eq!(
                rim_id(Path::new(name), &vbios).unwrap(),
                "NV_GPU_VBIOS_1010_0200_882_96005E0001",
                "{name}"
            );
        }
        // The name must agree with the signed version, and must name the board.
        let err = rim_id(Path::new("1010_0200_882_96005E0003_PROD.xml"), &vbios).unwrap_err();
        assert!(err.contains("96005E0003"), "{err}");
        let err = rim_id(Path::new("vbios.xml"), &vbios).unwrap_err();
        assert!(err.contains("does not name its board"), "{err}");
    }

    #[test]
    fn the_store_keeps_the_longer_valid_rim_and_reverifies_at_use() {
        let Some(dir) = vectors() else { return };
        let tmp = tempfile::tempdir().unwrap();
        let store = RimStore::new(Arc::new(Store::open(tmp.path()).unwrap()));
        let verifier = pinned_verifier();
        let read = |name: &str| read_file(&dir.join(name), &verifier, JUNE_2024).unwrap();
        let prod = read("rims/nvtrust/1010_0200_882_96005E0001_PROD.swidtag");
        let reissued = read(
            "rims/attestation-sdk/NV_GPU_VBIOS_1010_0200_882_96005E0001_measurement_mismatch.xml",
        );
        assert_eq!(prod.id, reissued.id);
        let id = prod.id.clone();

        let outcomes = |entries: Vec<ImportEntry>| -> Vec<ImportOutcome> {
            entries.into_iter().map(|e| e.outcome).collect()
        };
        assert_eq!(
            outcomes(store.import(vec![prod.clone()], JUNE_2024).unwrap()),
            [ImportOutcome::Added]
        );
        assert_eq!(
            outcomes(store.import(vec![reissued.clone()], JUNE_2024).unwrap()),
            [ImportOutcome::Replaced]
        );
        // Neither the older RIM nor the same one again replaces it.
        assert_eq!(
            outcomes(store.import(vec![prod, reissued], JUNE_2024).unwrap()),
            [ImportOutcome::KeptExisting, ImportOutcome::KeptExisting]
        );
        let rows = store.rows().unwrap();
        assert_eq!(rows.len(), 1);
        assert!(rows[0].source.ends_with("_measurement_mismatch.xml"));

        // Lookup verifies again, at the time given.
        let rim = store.get(&id, &verifier, JUNE_2024).unwrap().unwrap();
        assert_eq!(rim.colloquial_version, "96.00.5E.00.01");
        assert!(matches!(
            store.get(&id, &verifier, JAN_2026),
            Err(RimStoreError::Verify {
                reason: RimError::CertExpired { .. },
                ..
            })
        ));
        assert!(
            store
                .get("NV_GPU_VBIOS_0000", &verifier, JUNE_2024)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn a_report_names_the_rims_it_needs() {
        let Some(dir) = vectors() else { return };
        let report = hex::decode(
            fs::read_to_string(dir.join("gpu/hopper_535.86.09_report.hex"))
                .unwrap()
                .trim(),
        )
        .unwrap();
        let chain = fs::read(dir.join("gpu/hopper_535.86.09_certchain.pem")).unwrap();
        let nonce: [u8; 32] =
            hex::decode("27a328247bf7935c993341cf587be6f05986ccce4fe7ba2c54100bd616a58f66")
                .unwrap()
                .try_into()
                .unwrap();
        let verified = warden_evidence::nvidia::GpuVerifier::new(
            crate::roots::nvidia_device_identity_ca().to_vec(),
        )
        .verify(JUNE_2024, &report, &chain, &nonce)
        .unwrap();
        assert_eq!(
            report_rim_ids(&verified.claims),
            (
                Some("NV_GPU_DRIVER_GH100_535.86.09".to_owned()),
                Some("NV_GPU_VBIOS_1010_0200_882_96005E0001".to_owned())
            )
        );
        // A VBIOS RIM passed as the only RIM is compared alone; two of one kind are refused.
        let vbios = verified_pair(&dir);
        let one = match_report(&verified.report, &vbios[..1]).unwrap();
        assert!(one.measurements_match && !one.rims_complete);
        assert!(matches!(
            match_report(&verified.report, &vbios),
            Err(RimMatchError::Duplicate { kind: "vbios", .. })
        ));
    }

    fn verified_pair(dir: &Path) -> Vec<(String, String, VerifiedRim)> {
        [
            "rims/nvtrust/1010_0200_882_96005E0001_PROD.swidtag",
            "rims/nvtrust/1010_0200_882_96005E0001_test_no_gpu.swidtag",
        ]
        .into_iter()
        .map(|name| {
            (
                name.to_owned(),
                "NV_GPU_VBIOS_1010_0200_882_96005E0001".to_owned(),
                verified(dir, name, JUNE_2024),
            )
        })
        .collect()
    }
}
