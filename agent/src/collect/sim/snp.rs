//! A simulated SEV-SNP CVM, for tests and demos: real report and certificate formats, signed by
//! a generated AMD hierarchy kept in the agent's state directory.
//!
//! Layout of `<state_dir>/sim/<product>/` (directories 0700, private keys 0600):
//!
//! | file | content |
//! |---|---|
//! | `hierarchy/seed` | the hierarchy seed, decimal (VEK keys derive from it) |
//! | `hierarchy/{ark,ask,asvk}.der` | the CA certificates |
//! | `hierarchy/{ark,ask,asvk}.key` | their RSA private keys, PKCS#8 DER |
//! | `cert_chain.pem` | ASK then ARK, as KDS serves `/vcek/v1/<product>/cert_chain`: the roots to configure in a verifier |
//! | `vlek_cert_chain.pem` | ASVK then ARK |
//! | `chip_id.hex` | the simulated chip's 64-byte CHIP_ID |
//!
//! The directory is written under a temporary name and renamed into place, so a reader sees all
//! of it or nothing.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use rand_core::{OsRng, RngCore, UnwrapErr};
use warden_evidence::sim::snp::{AmdHierarchy, HierarchyExport, ReportBuilder, Vek, VekProfile};
use warden_evidence::snp::{CertTable, Product};
use zeroize::Zeroizing;

use super::{Held, create_once, make_dir, malformed, read_file, write_file};
use crate::collect::{CollectError, CpuEvidence, Tee};

/// A simulated SEV-SNP CVM: one chip of one product, its AMD hierarchy and VEKs.
#[derive(Debug)]
pub struct SimulatedSnp {
    hierarchy: Held<AmdHierarchy>,
    chip_id: [u8; 64],
    dir: Option<PathBuf>,
    /// VEKs issued so far (issuing costs an RSA-4096 signature).
    veks: Mutex<Vec<(VekProfile, Arc<Vek>)>>,
}

impl SimulatedSnp {
    /// Loads the simulated CVM of `product` from `<state_dir>/sim/<product>/`, creating it on
    /// first use with a hierarchy from a random seed (RSA-4096 generation: seconds) and a random
    /// chip ID.
    ///
    /// # Errors
    ///
    /// [`CollectError::Io`] naming the file, [`CollectError::Malformed`] for a damaged file,
    /// [`CollectError::Sim`] if the stored hierarchy does not import.
    pub fn open_or_create(state_dir: &Path, product: Product) -> Result<Self, CollectError> {
        let sim_dir = state_dir.join("sim");
        let name = product.name().to_ascii_lowercase();
        let dir = create_once(&sim_dir, &name, |tmp| create(tmp, product))?;
        load(&dir, product)
    }

    /// A simulated CVM over an existing hierarchy (for tests: `AmdHierarchy::shared`), with no
    /// files.
    pub fn from_hierarchy(hierarchy: &'static AmdHierarchy, chip_id: [u8; 64]) -> Self {
        Self::new(Held::Shared(hierarchy), chip_id, None)
    }

    fn new(hierarchy: Held<AmdHierarchy>, chip_id: [u8; 64], dir: Option<PathBuf>) -> Self {
        Self {
            hierarchy,
            chip_id,
            dir,
            veks: Mutex::new(Vec::new()),
        }
    }

    /// The product simulated.
    pub fn product(&self) -> Product {
        self.hierarchy.product()
    }

    /// The simulated chip's CHIP_ID.
    pub fn chip_id(&self) -> &[u8; 64] {
        &self.chip_id
    }

    /// The hierarchy.
    pub fn hierarchy(&self) -> &AmdHierarchy {
        &self.hierarchy
    }

    /// `cert_chain.pem` (ASK then ARK): what a verifier must trust to accept this CVM's
    /// evidence. `None` for a CVM made by [`SimulatedSnp::from_hierarchy`].
    pub fn cert_chain_path(&self) -> Option<PathBuf> {
        self.dir.as_ref().map(|d| d.join("cert_chain.pem"))
    }

    /// `vlek_cert_chain.pem` (ASVK then ARK), as [`SimulatedSnp::cert_chain_path`].
    pub fn vlek_cert_chain_path(&self) -> Option<PathBuf> {
        self.dir.as_ref().map(|d| d.join("vlek_cert_chain.pem"))
    }

    /// A report of a debug-free VMPL 0 guest carrying `report_data`, signed by the chip's VCEK,
    /// with a certificate table (ARK, ASK, VCEK) as a real host's auxblob.
    ///
    /// # Errors
    ///
    /// [`CollectError::Sim`] if the VCEK cannot be issued.
    pub fn collect(&self, report_data: &[u8; 64]) -> Result<CpuEvidence, CollectError> {
        self.collect_with(report_data, |_| {})
    }

    /// [`SimulatedSnp::collect`] after `edit` changed the report (tests). The VEK follows the
    /// edited report: a VLEK (certificate table ARK, ASVK in the ASK slot, VLEK) when
    /// `signing_key` is 1, else a VCEK for the edited CHIP_ID and REPORTED_TCB.
    ///
    /// # Errors
    ///
    /// [`CollectError::Sim`] if the VEK cannot be issued or cannot sign.
    pub fn collect_with(
        &self,
        report_data: &[u8; 64],
        edit: impl FnOnce(&mut ReportBuilder),
    ) -> Result<CpuEvidence, CollectError> {
        let h = &self.hierarchy;
        let product = h.product();
        let mut builder = ReportBuilder::new(product);
        builder.chip_id = self.chip_id;
        builder.report_data = *report_data;
        edit(&mut builder);
        let vlek = builder.signing_key == 1;
        let profile = if vlek {
            VekProfile::vlek(product, builder.reported_tcb)
        } else {
            VekProfile::vcek(product, &builder.chip_id, builder.reported_tcb)
        };
        let vek = self.vek(&profile)?;
        let mut report = builder.build();
        vek.sign_report(&mut report)?;
        let mut table = CertTable {
            ark: Some(h.ark_der().to_vec()),
            ..CertTable::default()
        };
        if vlek {
            table.ask = Some(h.asvk_der().to_vec());
            table.vlek = Some(vek.der().to_vec());
        } else {
            table.ask = Some(h.ask_der().to_vec());
            table.vcek = Some(vek.der().to_vec());
        }
        Ok(CpuEvidence {
            tee: Tee::SevSnp,
            report: report.to_vec(),
            certificates: table.encode(),
        })
    }

    fn vek(&self, profile: &VekProfile) -> Result<Arc<Vek>, CollectError> {
        // A panic elsewhere cannot leave the cache inconsistent: entries are pushed whole.
        let mut veks = self.veks.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, vek)) = veks.iter().find(|(p, _)| p == profile) {
            return Ok(Arc::clone(vek));
        }
        let vek = Arc::new(self.hierarchy.issue_vek(profile)?);
        veks.push((profile.clone(), Arc::clone(&vek)));
        Ok(vek)
    }
}

/// Key files, written 0600.
const KEYS: [&str; 3] = ["ark.key", "ask.key", "asvk.key"];
/// Certificate files.
const CERTS: [&str; 3] = ["ark.der", "ask.der", "asvk.der"];

/// Generates a CVM into `dir`.
fn create(dir: &Path, product: Product) -> Result<(), CollectError> {
    let seed = UnwrapErr(OsRng).next_u64();
    let mut chip_id = [0; 64];
    UnwrapErr(OsRng).fill_bytes(&mut chip_id);
    if product == Product::Turin {
        // Turin CHIP_IDs are 8 bytes; reports zero the rest.
        chip_id.iter_mut().skip(8).for_each(|b| *b = 0);
    }
    let hierarchy = AmdHierarchy::generate(product, seed);
    let export = hierarchy.export()?;
    write_all(dir, &hierarchy, &export, &chip_id)
}

fn write_all(
    dir: &Path,
    hierarchy: &AmdHierarchy,
    export: &HierarchyExport,
    chip_id: &[u8; 64],
) -> Result<(), CollectError> {
    let keys = dir.join("hierarchy");
    make_dir(&keys)?;
    write_file(
        &keys.join("seed"),
        export.seed.to_string().as_bytes(),
        0o644,
    )?;
    let certs = [&export.ark_der, &export.ask_der, &export.asvk_der];
    for (name, der) in CERTS.iter().zip(certs) {
        write_file(&keys.join(name), der, 0o644)?;
    }
    let private = [&export.ark_key, &export.ask_key, &export.asvk_key];
    for (name, key) in KEYS.iter().zip(private) {
        write_file(&keys.join(name), key, 0o600)?;
    }
    write_file(
        &dir.join("cert_chain.pem"),
        hierarchy.vcek_chain_pem().as_bytes(),
        0o644,
    )?;
    write_file(
        &dir.join("vlek_cert_chain.pem"),
        hierarchy.vlek_chain_pem().as_bytes(),
        0o644,
    )?;
    write_file(
        &dir.join("chip_id.hex"),
        format!("{}\n", hex::encode(chip_id)).as_bytes(),
        0o644,
    )
}

fn load(dir: &Path, product: Product) -> Result<SimulatedSnp, CollectError> {
    let keys = dir.join("hierarchy");
    let seed_path = keys.join("seed");
    let seed = std::str::from_utf8(&read_file(&seed_path)?)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .ok_or_else(|| malformed(&seed_path, "not a decimal u64"))?;
    let [ark_der, ask_der, asvk_der] = CERTS.map(|name| read_file(&keys.join(name)));
    let [ark_key, ask_key, asvk_key] =
        KEYS.map(|name| read_file(&keys.join(name)).map(Zeroizing::new));
    let export = HierarchyExport {
        product,
        seed,
        ark_der: ark_der?,
        ask_der: ask_der?,
        asvk_der: asvk_der?,
        ark_key: ark_key?,
        ask_key: ask_key?,
        asvk_key: asvk_key?,
    };
    let hierarchy = AmdHierarchy::import(&export)?;

    let chip_path = dir.join("chip_id.hex");
    let chip_id = std::str::from_utf8(&read_file(&chip_path)?)
        .ok()
        .and_then(|s| hex::decode(s.trim()).ok())
        .and_then(|bytes| <[u8; 64]>::try_from(bytes).ok())
        .ok_or_else(|| malformed(&chip_path, "not 64 bytes of hex"))?;
    Ok(SimulatedSnp::new(
        Held::Owned(Box::new(hierarchy)),
        chip_id,
        Some(dir.to_path_buf()),
    ))
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    use warden_evidence::UnixTime;
    use warden_evidence::sim::snp::simulated_chip_id;
    use warden_evidence::snp::{
        CertRole, ProductRoots, SnpError, SnpVerifier, TrustAnchors, VekKind, decode_certificates,
        vek_from_certificates,
    };

    use super::*;

    /// 2025-06-01T00:00:00Z, inside every simulated certificate's validity.
    const NOW: UnixTime = UnixTime(1_748_736_000);

    fn verifier_from_pem(product: Product, vcek_chain: &[u8], vlek_chain: &[u8]) -> SnpVerifier {
        let vcek = decode_certificates(vcek_chain, &[CertRole::Ask, CertRole::Ark]).unwrap();
        let vlek = decode_certificates(vlek_chain, &[CertRole::Asvk, CertRole::Ark]).unwrap();
        assert_eq!(vcek[1], vlek[1]);
        SnpVerifier::new(TrustAnchors::new().with(
            product,
            ProductRoots {
                ark: vcek[1].clone(),
                ask: Some(vcek[0].clone()),
                asvk: Some(vlek[0].clone()),
                crls: vec![],
            },
        ))
    }

    fn shared(product: Product) -> SimulatedSnp {
        SimulatedSnp::from_hierarchy(AmdHierarchy::shared(product), simulated_chip_id(product, 3))
    }

    #[test]
    fn collected_evidence_verifies() {
        let sim = shared(Product::Genoa);
        let h = sim.hierarchy();
        let verifier = verifier_from_pem(
            Product::Genoa,
            h.vcek_chain_pem().as_bytes(),
            h.vlek_chain_pem().as_bytes(),
        );
        let evidence = sim.collect(&[0x42; 64]).unwrap();
        let table = CertTable::parse(&evidence.certificates).unwrap();
        assert_eq!(table.ark.as_deref(), Some(h.ark_der()));
        assert_eq!(table.ask.as_deref(), Some(h.ask_der()));
        let vek = vek_from_certificates(&evidence.certificates).unwrap();
        let verified = verifier.verify(NOW, &evidence.report, &vek).unwrap();
        assert_eq!(verified.signer, VekKind::Vcek);
        assert_eq!(verified.report.report_data(), &[0x42; 64]);
        assert_eq!(verified.report.chip_id(), sim.chip_id());
        assert!(!verified.claims.policy.debug);
        assert_eq!(verified.claims.vmpl, 0);

        // The same VCEK is reused; a different REPORT_DATA gives a different report.
        let again = sim.collect(&[0x43; 64]).unwrap();
        assert_eq!(again.certificates, evidence.certificates);
        assert_ne!(again.report, evidence.report);

        // Overrides: a VLEK-signed report, and a debug guest (crypto fine, policy's business).
        let vlek = sim.collect_with(&[1; 64], |b| b.signing_key = 1).unwrap();
        let table = CertTable::parse(&vlek.certificates).unwrap();
        assert_eq!(table.ask.as_deref(), Some(h.asvk_der()));
        assert!(table.vcek.is_none());
        let vek = vek_from_certificates(&vlek.certificates).unwrap();
        let verified = verifier.verify(NOW, &vlek.report, &vek).unwrap();
        assert_eq!(verified.signer, VekKind::Vlek);

        let debug = sim.collect_with(&[1; 64], |b| b.policy |= 1 << 19).unwrap();
        let vek = vek_from_certificates(&debug.certificates).unwrap();
        let verified = verifier.verify(NOW, &debug.report, &vek).unwrap();
        assert!(verified.claims.policy.debug);

        // Another product's hierarchy does not verify it.
        let other = SnpVerifier::new(TrustAnchors::new().with(
            Product::Genoa,
            ProductRoots {
                ark: AmdHierarchy::shared(Product::Milan).ark_der().to_vec(),
                ask: Some(AmdHierarchy::shared(Product::Milan).ask_der().to_vec()),
                asvk: None,
                crls: vec![],
            },
        ));
        let vek = vek_from_certificates(&evidence.certificates).unwrap();
        assert!(other.verify(NOW, &evidence.report, &vek).is_err());
        assert!(sim.cert_chain_path().is_none());
    }

    #[test]
    fn tampered_report_fails() {
        let sim = shared(Product::Milan);
        let h = sim.hierarchy();
        let verifier = verifier_from_pem(
            Product::Milan,
            h.vcek_chain_pem().as_bytes(),
            h.vlek_chain_pem().as_bytes(),
        );
        let mut evidence = sim.collect(&[9; 64]).unwrap();
        evidence.report[0x50] ^= 1;
        let vek = vek_from_certificates(&evidence.certificates).unwrap();
        assert_eq!(
            verifier.verify(NOW, &evidence.report, &vek).unwrap_err(),
            SnpError::BadSignature(VekKind::Vcek)
        );
    }

    /// Generates a real RSA-4096 hierarchy once (seconds), then loads it again without keygen.
    #[test]
    fn state_dir_round_trip() {
        let state = tempfile::tempdir().unwrap();
        let first = SimulatedSnp::open_or_create(state.path(), Product::Turin).unwrap();
        let dir = state.path().join("sim/turin");
        assert_eq!(first.cert_chain_path(), Some(dir.join("cert_chain.pem")));
        assert!(first.chip_id()[8..].iter().all(|&b| b == 0));
        assert!(first.chip_id()[..8].iter().any(|&b| b != 0));
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir.join("hierarchy")), 0o700);
        assert_eq!(mode(&state.path().join("sim")), 0o700);
        for key in KEYS {
            assert_eq!(mode(&dir.join("hierarchy").join(key)), 0o600);
        }
        // No temporary directory is left behind.
        assert_eq!(fs::read_dir(state.path().join("sim")).unwrap().count(), 1);

        let evidence = first.collect(&[5; 64]).unwrap();
        let second = SimulatedSnp::open_or_create(state.path(), Product::Turin).unwrap();
        assert_eq!(second.chip_id(), first.chip_id());
        assert_eq!(second.collect(&[5; 64]).unwrap(), evidence);

        let verifier = verifier_from_pem(
            Product::Turin,
            &fs::read(dir.join("cert_chain.pem")).unwrap(),
            &fs::read(dir.join("vlek_cert_chain.pem")).unwrap(),
        );
        let vek = vek_from_certificates(&evidence.certificates).unwrap();
        let verified = verifier.verify(NOW, &evidence.report, &vek).unwrap();
        assert_eq!(verified.product, Product::Turin);

        // Damaged state is reported with its path.
        fs::write(dir.join("chip_id.hex"), "abcd").unwrap();
        match SimulatedSnp::open_or_create(state.path(), Product::Turin) {
            Err(CollectError::Malformed { path, .. }) => assert!(path.ends_with("chip_id.hex")),
            other => panic!("{other:?}"),
        }
        fs::remove_file(dir.join("hierarchy/ask.key")).unwrap();
        match SimulatedSnp::open_or_create(state.path(), Product::Turin) {
            Err(CollectError::Io { path, .. }) => assert!(path.ends_with("ask.key")),
            other => panic!("{other:?}"),
        }
    }
}
