//! A simulated TDX CVM, for tests and demos: byte-exact TD quotes (v4 by default, v5 on
//! request) signed through a generated Intel-like DCAP hierarchy, and the signed collateral a
//! verifier needs to check them, kept in the agent's state directory.
//!
//! Layout of `<state_dir>/sim/tdx/` (directories 0700):
//!
//! | file | content |
//! |---|---|
//! | `hierarchy.json` | the hierarchy (`TdxHierarchyExport` as JSON), private keys included: mode 0600 |
//! | `root_ca.pem` | the generated root CA: the insecure test root to configure in a verifier |
//! | `collateral/` | what Intel's PCS would serve for this platform: `tcbinfo.json`, `qeidentity.json`, `tcb_signing_chain.pem`, `pck_crl.der`, `pck_crl_issuer_chain.pem`, `root_ca_crl.der`; load it with `warden-verifier collateral import <dir>` |
//!
//! `hierarchy.json` and `root_ca.pem` are written once, in a temporary directory renamed into
//! place, so a reader sees all of it or nothing. The collateral is stamped with the system
//! clock: the simulator plays Intel's PCS here and verifies nothing, so reading the clock is
//! its business. It is valid from a day before to 30 days after it was made, and is rewritten
//! (each file replaced atomically) whenever a file is missing, or the TCB info or QE identity
//! is unreadable, not yet valid, or expires within a day. The CRLs share that window.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::SystemTime;

use rand_core::{OsRng, RngCore, UnwrapErr};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use warden_evidence::UnixTime;
use warden_evidence::sim::tdx::{
    CollateralProfile, IntelHierarchy, PlatformProfile, QuoteVersion, SimCollateral, SimPlatform,
    TdProfile, TdxHierarchyExport,
};

use super::{
    Held, create_once, load_hierarchy, make_dir, malformed, replace_file, restore_root,
    save_hierarchy,
};
use crate::collect::{CollectError, CpuEvidence, Tee};

/// The CVM's directory under `<state_dir>/sim/`.
const DIR_NAME: &str = "tdx";
/// The root CA certificate, PEM.
const ROOT_CA_FILE: &str = "root_ca.pem";
/// The collateral directory.
const COLLATERAL_DIR: &str = "collateral";
/// One day in seconds.
const DAY: i64 = 86_400;

/// A simulated TDX CVM: a generated Intel-like DCAP hierarchy (root CA, PCK platform CA, TCB
/// signing key), one platform with its PCK certificate and quoting enclave, and a TD.
#[derive(Debug)]
pub struct SimulatedTdx {
    hierarchy: Held<IntelHierarchy>,
    /// Made on first use (a PCK certificate and QE keys).
    platform: OnceLock<SimPlatform>,
    version: QuoteVersion,
    dir: Option<PathBuf>,
    collateral_next_update: Option<UnixTime>,
}

impl SimulatedTdx {
    /// Loads the simulated TDX CVM from `<state_dir>/sim/tdx/`, creating it on first use with a
    /// hierarchy from a random seed, and makes sure its collateral is valid now and for at
    /// least another day (see the module documentation).
    ///
    /// # Errors
    ///
    /// [`CollectError::ClockBeforeEpoch`] for a system clock before 1970, and as
    /// [`SimulatedTdx::open_or_create_at`].
    pub fn open_or_create(state_dir: &Path) -> Result<Self, CollectError> {
        Self::open_or_create_at(state_dir, system_now()?)
    }

    /// [`SimulatedTdx::open_or_create`] with the collateral judged and stamped at `now`.
    ///
    /// # Errors
    ///
    /// [`CollectError::Io`] naming the file, [`CollectError::Malformed`] for a damaged
    /// `hierarchy.json`, [`CollectError::Sim`] if the stored hierarchy does not import or the
    /// collateral cannot be made.
    pub fn open_or_create_at(state_dir: &Path, now: UnixTime) -> Result<Self, CollectError> {
        let dir = create_once(&state_dir.join("sim"), DIR_NAME, create)?;
        let mut sim = load(&dir)?;
        sim.collateral_next_update = Some(sim.refresh_collateral(&dir, now)?);
        Ok(sim)
    }

    /// A simulated CVM over an existing hierarchy (for tests: `IntelHierarchy::shared`), with
    /// no files.
    pub fn from_hierarchy(hierarchy: &'static IntelHierarchy) -> Self {
        Self::new(Held::Shared(hierarchy), None)
    }

    fn new(hierarchy: Held<IntelHierarchy>, dir: Option<PathBuf>) -> Self {
        Self {
            hierarchy,
            platform: OnceLock::new(),
            version: QuoteVersion::V4,
            dir,
            collateral_next_update: None,
        }
    }

    /// The same CVM producing quotes of `version` (v4 by default).
    #[must_use]
    pub fn with_quote_version(mut self, version: QuoteVersion) -> Self {
        self.version = version;
        self
    }

    /// The quote version produced.
    pub fn quote_version(&self) -> QuoteVersion {
        self.version
    }

    /// The hierarchy.
    pub fn hierarchy(&self) -> &IntelHierarchy {
        &self.hierarchy
    }

    /// `root_ca.pem`: what a verifier must trust (as an insecure test root) to accept this
    /// CVM's quotes. `None` for a CVM made by [`SimulatedTdx::from_hierarchy`].
    pub fn root_ca_path(&self) -> Option<PathBuf> {
        self.dir.as_ref().map(|d| d.join(ROOT_CA_FILE))
    }

    /// The collateral directory, for `warden-verifier collateral import`. `None` for a CVM
    /// made by [`SimulatedTdx::from_hierarchy`].
    pub fn collateral_dir(&self) -> Option<PathBuf> {
        self.dir.as_ref().map(|d| d.join(COLLATERAL_DIR))
    }

    /// When the collateral in [`SimulatedTdx::collateral_dir`] stops being valid (its TCB info
    /// or QE identity `nextUpdate`, whichever is first). `None` without a directory.
    pub fn collateral_next_update(&self) -> Option<UnixTime> {
        self.collateral_next_update
    }

    /// Collateral for this CVM's platform valid at `now` (from a day before to 30 days after),
    /// without touching any file: for in-process verifiers in tests.
    ///
    /// # Errors
    ///
    /// [`CollectError::Sim`] if it cannot be signed.
    pub fn collateral(&self, now: UnixTime) -> Result<SimCollateral, CollectError> {
        Ok(self
            .hierarchy
            .collateral(&CollateralProfile::valid_at(now))?)
    }

    /// A quote of a debug-free TD carrying `report_data`, in the CVM's quote version, signed by
    /// the platform's quoting enclave with its PCK chain inside.
    ///
    /// # Errors
    ///
    /// [`CollectError::Sim`] if the platform cannot be made or the quote cannot be signed.
    pub fn collect(&self, report_data: &[u8; 64]) -> Result<CpuEvidence, CollectError> {
        self.collect_with(report_data, |_| {})
    }

    /// [`SimulatedTdx::collect`] after `edit` changed the TD (tests: measurements,
    /// attributes, the quote version).
    ///
    /// # Errors
    ///
    /// [`CollectError::Sim`] if the platform cannot be made or the quote cannot be signed.
    pub fn collect_with(
        &self,
        report_data: &[u8; 64],
        edit: impl FnOnce(&mut TdProfile),
    ) -> Result<CpuEvidence, CollectError> {
        let mut td = TdProfile {
            version: self.version,
            ..TdProfile::default()
        };
        edit(&mut td);
        let quote = self.platform()?.quote(&td, report_data)?;
        Ok(CpuEvidence {
            tee: Tee::Tdx,
            report: quote,
            certificates: Vec::new(),
        })
    }

    fn platform(&self) -> Result<&SimPlatform, CollectError> {
        if let Some(platform) = self.platform.get() {
            return Ok(platform);
        }
        let made = self.hierarchy.platform(&PlatformProfile::default())?;
        // Another thread may have made one meanwhile; either serves.
        Ok(self.platform.get_or_init(|| made))
    }

    /// Rewrites the collateral under `dir` unless every file is there and the TCB info and QE
    /// identity are valid from `now` until at least a day later. Returns the `nextUpdate` of
    /// the collateral in place.
    fn refresh_collateral(&self, dir: &Path, now: UnixTime) -> Result<UnixTime, CollectError> {
        let collateral_dir = dir.join(COLLATERAL_DIR);
        if let Some(next_update) = usable_until(&collateral_dir, now) {
            return Ok(next_update);
        }
        make_dir(&collateral_dir)?;
        let collateral = self.collateral(now)?;
        for (name, bytes) in collateral.files() {
            replace_file(&collateral_dir.join(name), &bytes, 0o644)?;
        }
        tracing::info!(dir = %collateral_dir.display(), "wrote simulated TDX collateral");
        usable_until(&collateral_dir, now).ok_or_else(|| {
            malformed(
                &collateral_dir,
                "freshly written simulated collateral is not valid now",
            )
        })
    }
}

/// The names of the collateral files, as `SimCollateral::files` writes them.
const COLLATERAL_FILES: [&str; 6] = [
    "tcbinfo.json",
    "qeidentity.json",
    "tcb_signing_chain.pem",
    "pck_crl.der",
    "pck_crl_issuer_chain.pem",
    "root_ca_crl.der",
];

/// The earlier `nextUpdate` of the TCB info and QE identity in `dir`, when every collateral
/// file is present and both are valid from `now` until at least a day later; else `None`.
fn usable_until(dir: &Path, now: UnixTime) -> Option<UnixTime> {
    if !COLLATERAL_FILES.iter().all(|name| dir.join(name).is_file()) {
        return None;
    }
    let window = |file: &str, key: &str| -> Option<(i64, i64)> {
        let json: serde_json::Value =
            serde_json::from_slice(&fs::read(dir.join(file)).ok()?).ok()?;
        let object = json.get(key)?;
        let date = |field: &str| {
            let text = object.get(field)?.as_str()?;
            Some(OffsetDateTime::parse(text, &Rfc3339).ok()?.unix_timestamp())
        };
        Some((date("issueDate")?, date("nextUpdate")?))
    };
    let (tcb_issued, tcb_next) = window("tcbinfo.json", "tcbInfo")?;
    let (qe_issued, qe_next) = window("qeidentity.json", "enclaveIdentity")?;
    let next_update = tcb_next.min(qe_next);
    let fresh = tcb_issued.max(qe_issued) <= now.0 && now.0.saturating_add(DAY) < next_update;
    fresh.then_some(UnixTime(next_update))
}

/// Generates a CVM into `dir`.
fn create(dir: &Path) -> Result<(), CollectError> {
    let hierarchy = IntelHierarchy::generate(UnwrapErr(OsRng).next_u64());
    save_hierarchy(
        dir,
        &hierarchy.export()?,
        ROOT_CA_FILE,
        &hierarchy.root_ca_pem(),
    )
}

fn load(dir: &Path) -> Result<SimulatedTdx, CollectError> {
    let export: TdxHierarchyExport =
        load_hierarchy(dir, "not a simulated TDX hierarchy (JSON export)")?;
    let hierarchy = IntelHierarchy::import(&export)?;
    restore_root(dir, ROOT_CA_FILE, &hierarchy.root_ca_pem())?;
    Ok(SimulatedTdx::new(
        Held::Owned(Box::new(hierarchy)),
        Some(dir.to_path_buf()),
    ))
}

/// The system clock as Unix time.
fn system_now() -> Result<UnixTime, CollectError> {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .ok()
        .and_then(|d| i64::try_from(d.as_secs()).ok())
        .map(UnixTime)
        .ok_or(CollectError::ClockBeforeEpoch)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use dcap_qvl::QuoteCollateralV3;
    use dcap_qvl::verify::QuoteVerifier;

    use super::*;
    use crate::collect::tdx::{HEADER_SIZE, check_quote, quote_report_data};

    /// 2025-06-01T00:00:00Z.
    const NOW: UnixTime = UnixTime(1_748_736_000);

    fn now_secs(now: UnixTime) -> u64 {
        u64::try_from(now.0).unwrap()
    }

    fn verify(
        root_ca_der: &[u8],
        quote: &[u8],
        collateral: &QuoteCollateralV3,
        now: UnixTime,
    ) -> dcap_qvl::verify::VerifiedReport {
        QuoteVerifier::new(root_ca_der.to_vec())
            .verify(quote, collateral, now_secs(now))
            .unwrap()
    }

    /// The signed object and signature of a PCS response `{"<key>":{...},"signature":"<hex>"}`,
    /// split the way a collateral importer must: the signed bytes exactly as written.
    fn split_response(response: &[u8], key: &str) -> (String, Vec<u8>) {
        let text = std::str::from_utf8(response).unwrap();
        let body = text.strip_prefix(&format!("{{\"{key}\":")).unwrap();
        let at = body.rfind(",\"signature\":\"").unwrap();
        let signature = body[at..]
            .strip_prefix(",\"signature\":\"")
            .and_then(|s| s.strip_suffix("\"}"))
            .unwrap();
        (body[..at].to_owned(), hex::decode(signature).unwrap())
    }

    /// dcap-qvl's collateral from the files of a collateral directory.
    fn collateral_from_dir(dir: &Path) -> QuoteCollateralV3 {
        let read = |name: &str| fs::read(dir.join(name)).unwrap();
        let text = |name: &str| String::from_utf8(read(name)).unwrap();
        let (tcb_info, tcb_info_signature) = split_response(&read("tcbinfo.json"), "tcbInfo");
        let (qe_identity, qe_identity_signature) =
            split_response(&read("qeidentity.json"), "enclaveIdentity");
        QuoteCollateralV3 {
            pck_crl_issuer_chain: text("pck_crl_issuer_chain.pem"),
            root_ca_crl: read("root_ca_crl.der"),
            pck_crl: read("pck_crl.der"),
            tcb_info_issuer_chain: text("tcb_signing_chain.pem"),
            tcb_info,
            tcb_info_signature,
            qe_identity_issuer_chain: text("tcb_signing_chain.pem"),
            qe_identity,
            qe_identity_signature,
            pck_certificate_chain: None,
        }
    }

    fn shared() -> SimulatedTdx {
        SimulatedTdx::from_hierarchy(IntelHierarchy::shared())
    }

    #[test]
    fn collected_quotes_verify_up_to_date() {
        let sim = shared();
        assert!(sim.root_ca_path().is_none() && sim.collateral_dir().is_none());
        let root = sim.hierarchy().root_ca_der();
        let collateral = sim.collateral(NOW).unwrap().to_dcap();

        let rd = [0x42; 64];
        let evidence = sim.collect(&rd).unwrap();
        assert_eq!(evidence.tee, Tee::Tdx);
        assert!(evidence.certificates.is_empty());
        assert_eq!(evidence.report.get(..2), Some(&[4, 0][..]));
        assert_eq!(check_quote(&evidence.report, &rd), Ok(()));
        // REPORT_DATA at its offset in a v4 quote: header, then the TD report body.
        assert_eq!(
            evidence.report.get(HEADER_SIZE + 520..HEADER_SIZE + 584),
            Some(&rd[..])
        );

        let verified = verify(root, &evidence.report, &collateral, NOW);
        assert_eq!(verified.status, "UpToDate");
        assert!(
            verified.advisory_ids.is_empty(),
            "{:?}",
            verified.advisory_ids
        );
        assert_eq!(verified.report.as_td10().unwrap().report_data, rd);

        // Another REPORT_DATA, another quote.
        let other = sim.collect(&[0x43; 64]).unwrap();
        assert_ne!(other.report, evidence.report);
        assert_eq!(quote_report_data(&other.report), Ok([0x43; 64]));

        // Outside the collateral's window it no longer verifies.
        let late = UnixTime(NOW.0 + 40 * DAY);
        assert!(
            QuoteVerifier::new(root.to_vec())
                .verify(&evidence.report, &collateral, now_secs(late))
                .is_err()
        );
    }

    #[test]
    fn v5_quotes_verify() {
        let root = IntelHierarchy::shared().root_ca_der();
        let collateral = shared().collateral(NOW).unwrap().to_dcap();
        for version in [QuoteVersion::V5Td10, QuoteVersion::V5Td15] {
            let sim = shared().with_quote_version(version);
            assert_eq!(sim.quote_version(), version);
            let rd = [0x55; 64];
            let evidence = sim.collect(&rd).unwrap();
            assert_eq!(evidence.report.get(..2), Some(&[5, 0][..]), "{version:?}");
            assert_eq!(check_quote(&evidence.report, &rd), Ok(()), "{version:?}");
            let verified = verify(root, &evidence.report, &collateral, NOW);
            assert_eq!(verified.status, "UpToDate", "{version:?}");
        }
        // collect_with can also pick the version per quote.
        let evidence = shared()
            .collect_with(&[1; 64], |td| td.version = QuoteVersion::V5Td15)
            .unwrap();
        assert_eq!(evidence.report.get(..2), Some(&[5, 0][..]));
    }

    #[test]
    fn tampered_quote_fails() {
        let sim = shared();
        let root = sim.hierarchy().root_ca_der();
        let collateral = sim.collateral(NOW).unwrap().to_dcap();
        let mut evidence = sim.collect(&[9; 64]).unwrap();
        evidence.report[HEADER_SIZE + 520] ^= 1;
        assert!(
            QuoteVerifier::new(root.to_vec())
                .verify(&evidence.report, &collateral, now_secs(NOW))
                .is_err()
        );
        // Another hierarchy's root does not verify it either.
        let other = IntelHierarchy::generate(7);
        let evidence = sim.collect(&[9; 64]).unwrap();
        assert!(
            QuoteVerifier::new(other.root_ca_der().to_vec())
                .verify(&evidence.report, &collateral, now_secs(NOW))
                .is_err()
        );
    }

    #[test]
    fn state_dir_round_trip() {
        let state = tempfile::tempdir().unwrap();
        let first = SimulatedTdx::open_or_create_at(state.path(), NOW).unwrap();
        let dir = state.path().join("sim/tdx");
        let collateral_dir = dir.join("collateral");
        assert_eq!(first.root_ca_path(), Some(dir.join("root_ca.pem")));
        assert_eq!(first.collateral_dir(), Some(collateral_dir.clone()));
        let next_update = first.collateral_next_update().unwrap();
        assert!(next_update.0 > NOW.0 + 29 * DAY, "{next_update}");

        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&state.path().join("sim")), 0o700);
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join("hierarchy.json")), 0o600);
        assert_eq!(mode(&collateral_dir), 0o700);
        let mut names: Vec<_> = fs::read_dir(&collateral_dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        let mut expected = COLLATERAL_FILES.to_vec();
        expected.sort();
        assert_eq!(names, expected);
        // No temporary directory is left behind.
        assert_eq!(fs::read_dir(state.path().join("sim")).unwrap().count(), 1);

        // The root file is the hierarchy's, and the files verify the quote.
        let root_pem = fs::read_to_string(dir.join("root_ca.pem")).unwrap();
        assert_eq!(root_pem, first.hierarchy().root_ca_pem());
        let rd = [5; 64];
        let evidence = first.collect(&rd).unwrap();
        let from_files = collateral_from_dir(&collateral_dir);
        let verified = verify(
            first.hierarchy().root_ca_der(),
            &evidence.report,
            &from_files,
            NOW,
        );
        assert_eq!(verified.status, "UpToDate");

        // Reopening gives the same hierarchy, and keeps collateral that is still good.
        let tcb_info = fs::read(collateral_dir.join("tcbinfo.json")).unwrap();
        let later = UnixTime(NOW.0 + 20 * DAY);
        let second = SimulatedTdx::open_or_create_at(state.path(), later).unwrap();
        assert_eq!(
            second.hierarchy().root_ca_der(),
            first.hierarchy().root_ca_der()
        );
        assert_eq!(second.collateral_next_update(), Some(next_update));
        assert_eq!(
            fs::read(collateral_dir.join("tcbinfo.json")).unwrap(),
            tcb_info
        );
        let again = second.collect(&rd).unwrap();
        verify(
            first.hierarchy().root_ca_der(),
            &again.report,
            &from_files,
            later,
        );

        // Collateral that expires within a day is made again, valid at the new time.
        let expiring = UnixTime(next_update.0 - DAY / 2);
        let third = SimulatedTdx::open_or_create_at(state.path(), expiring).unwrap();
        assert!(third.collateral_next_update().unwrap().0 > expiring.0 + 29 * DAY);
        assert_ne!(
            fs::read(collateral_dir.join("tcbinfo.json")).unwrap(),
            tcb_info
        );
        let renewed = collateral_from_dir(&collateral_dir);
        let verified = verify(
            first.hierarchy().root_ca_der(),
            &third.collect(&rd).unwrap().report,
            &renewed,
            expiring,
        );
        assert_eq!(verified.status, "UpToDate");
        // So is collateral from the future (the clock went back), and a missing file.
        let before = UnixTime(NOW.0 - 10 * DAY);
        SimulatedTdx::open_or_create_at(state.path(), before).unwrap();
        let renewed = collateral_from_dir(&collateral_dir);
        verify(
            first.hierarchy().root_ca_der(),
            &evidence.report,
            &renewed,
            before,
        );
        fs::remove_file(collateral_dir.join("pck_crl.der")).unwrap();
        fs::remove_file(dir.join("root_ca.pem")).unwrap();
        SimulatedTdx::open_or_create_at(state.path(), before).unwrap();
        assert!(collateral_dir.join("pck_crl.der").is_file());
        assert_eq!(
            fs::read_to_string(dir.join("root_ca.pem")).unwrap(),
            root_pem
        );
        // No temporary files are left behind.
        assert_eq!(fs::read_dir(&collateral_dir).unwrap().count(), 6);

        // Damaged state is reported with its path.
        fs::write(dir.join("hierarchy.json"), "{}").unwrap();
        match SimulatedTdx::open_or_create_at(state.path(), NOW) {
            Err(CollectError::Malformed { path, .. }) => {
                assert!(path.ends_with("hierarchy.json"));
            }
            other => panic!("{other:?}"),
        }
        fs::remove_file(dir.join("hierarchy.json")).unwrap();
        match SimulatedTdx::open_or_create_at(state.path(), NOW) {
            Err(CollectError::Io { path, .. }) => assert!(path.ends_with("hierarchy.json")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_system_clock_stamps_the_collateral() {
        let state = tempfile::tempdir().unwrap();
        let sim = SimulatedTdx::open_or_create(state.path()).unwrap();
        let now = system_now().unwrap();
        let collateral = collateral_from_dir(&sim.collateral_dir().unwrap());
        let verified = verify(
            sim.hierarchy().root_ca_der(),
            &sim.collect(&[3; 64]).unwrap().report,
            &collateral,
            now,
        );
        assert_eq!(verified.status, "UpToDate");
    }
}
