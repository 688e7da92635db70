//! DCAP collateral as Intel's PCS serves it for TDX: TCB info v3 (`id` "TDX"), QE identity v2
//! (`id` "TD_QE"), the CRLs and the issuer chains.
//!
//! The JSON follows the real PCS responses in `shared/vectors/tdx`
//! (`gotdx_tcbinfo_response_v5_fmspc90c06f000000.json`, `gotdx_qeidentity_response.json`):
//! compact, keys in Intel's order, `advisoryIDs` only on levels that have advisories, the FMSPC
//! and PCE ID in lower-case hex and the other byte strings in upper case. Responses are
//! `{"tcbInfo":{...},"signature":"<hex r||s>"}` and `{"enclaveIdentity":{...},"signature":..}`
//! where the signature covers the exact bytes of the inner object.

use serde::Serialize;

use super::{DEFAULT_FMSPC, INTEL_TD_QE_MRSIGNER, PckCaKind, default_cpu_svn};
use crate::UnixTime;
use crate::sim::snp::SimError;

/// One day in seconds.
const DAY: i64 = 86_400;

/// TCB status strings of Intel's TCB info and QE identity (a verifier must also reject strings
/// it does not know, which the `String` fields of the profiles allow to test).
pub mod status {
    /// The platform is patched for every known advisory.
    pub const UP_TO_DATE: &str = "UpToDate";
    /// Software mitigations are needed for the listed advisories.
    pub const SW_HARDENING_NEEDED: &str = "SWHardeningNeeded";
    /// Platform configuration is needed for the listed advisories.
    pub const CONFIGURATION_NEEDED: &str = "ConfigurationNeeded";
    /// Both of the above.
    pub const CONFIGURATION_AND_SW_HARDENING_NEEDED: &str = "ConfigurationAndSWHardeningNeeded";
    /// The platform TCB is below the latest level.
    pub const OUT_OF_DATE: &str = "OutOfDate";
    /// Out of date and configuration needed.
    pub const OUT_OF_DATE_CONFIGURATION_NEEDED: &str = "OutOfDateConfigurationNeeded";
    /// The TCB level is revoked: its keys are compromised.
    pub const REVOKED: &str = "Revoked";
}

/// One entry of the TCB info's `tcbLevels`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimTcbLevel {
    /// `tcb.sgxtcbcomponents[i].svn`: the minimum SGX TCB component SVNs (16 in real
    /// collateral; a different count tests THREATS D4).
    pub sgx_components: Vec<u8>,
    /// `tcb.pcesvn`: the minimum PCE SVN.
    pub pce_svn: u16,
    /// `tcb.tdxtcbcomponents[i].svn`: the minimum TEE_TCB_SVN bytes (16 in real collateral).
    /// Components 0 and 1 are appraised by `tdxModuleIdentities` when TEE_TCB_SVN\[1\] != 0.
    pub tdx_components: Vec<u8>,
    /// `tcbDate`.
    pub tcb_date: UnixTime,
    /// `tcbStatus`, see [`status`].
    pub tcb_status: String,
    /// `advisoryIDs`, written only when non-empty (as Intel does).
    pub advisory_ids: Vec<String>,
}

impl SimTcbLevel {
    /// A level with the given minimum SVNs, date, status and advisories.
    pub fn new(
        sgx_components: [u8; 16],
        pce_svn: u16,
        tdx_components: [u8; 16],
        tcb_date: UnixTime,
        tcb_status: &str,
        advisory_ids: &[&str],
    ) -> Self {
        Self {
            sgx_components: sgx_components.to_vec(),
            pce_svn,
            tdx_components: tdx_components.to_vec(),
            tcb_date,
            tcb_status: tcb_status.to_owned(),
            advisory_ids: advisory_ids.iter().map(|&a| a.to_owned()).collect(),
        }
    }
}

/// `tdxModule`: the expected MR_SIGNER_SEAM and SEAM_ATTRIBUTES of a TD quote whose module
/// major version (TEE_TCB_SVN\[1\]) is 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimTdxModule {
    /// `mrsigner` (48 bytes; all zero for Intel-signed modules).
    pub mrsigner: [u8; 48],
    /// `attributes`.
    pub attributes: [u8; 8],
    /// `attributesMask`.
    pub attributes_mask: [u8; 8],
}

impl Default for SimTdxModule {
    /// Intel's values: zero MRSIGNER and attributes, full mask.
    fn default() -> Self {
        Self {
            mrsigner: [0; 48],
            attributes: [0; 8],
            attributes_mask: [0xFF; 8],
        }
    }
}

/// One entry of `tdxModuleIdentities`: the module of major version N (`id` "TDX_0N"), selected
/// by TEE_TCB_SVN\[1\], with its own TCB levels on the module ISVSVN (TEE_TCB_SVN\[0\]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimTdxModuleIdentity {
    /// `id`, `TDX_01`, `TDX_03`, ...
    pub id: String,
    /// `mrsigner`, `attributes` and `attributesMask`.
    pub module: SimTdxModule,
    /// `tcbLevels`, highest ISVSVN first.
    pub tcb_levels: Vec<SimModuleTcbLevel>,
}

/// A TCB level of a TDX module identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimModuleTcbLevel {
    /// `tcb.isvsvn`: the minimum module ISVSVN.
    pub isvsvn: u8,
    /// `tcbDate`.
    pub tcb_date: UnixTime,
    /// `tcbStatus`, see [`status`].
    pub tcb_status: String,
    /// `advisoryIDs`, written only when non-empty.
    pub advisory_ids: Vec<String>,
}

/// A TCB level of the QE identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimQeTcbLevel {
    /// `tcb.isvsvn`: the minimum QE ISVSVN.
    pub isvsvn: u16,
    /// `tcbDate`.
    pub tcb_date: UnixTime,
    /// `tcbStatus`, see [`status`].
    pub tcb_status: String,
    /// `advisoryIDs`, written only when non-empty.
    pub advisory_ids: Vec<String>,
}

/// What goes into the collateral of [`IntelHierarchy::collateral`](super::IntelHierarchy::collateral).
///
/// Every field is public so that tests can produce off-profile collateral; nothing is checked.
/// [`CollateralProfile::valid_at`] gives collateral under which [`PlatformProfile::default`]
/// and [`TdProfile::default`] verify as `UpToDate`.
///
/// [`PlatformProfile::default`]: super::PlatformProfile::default
/// [`TdProfile::default`]: super::TdProfile::default
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollateralProfile {
    /// TCB info `fmspc` (must equal the PCK certificate's, THREATS D6).
    pub fmspc: [u8; 6],
    /// TCB info `pceId`.
    pub pce_id: [u8; 2],
    /// TCB info `id`: "TDX" for TDX collateral ("SGX" tests THREATS D5).
    pub tcb_info_id: String,
    /// TCB info `version`: 3 for TDX.
    pub tcb_info_version: u32,
    /// TCB info `tcbType`: 0.
    pub tcb_type: u32,
    /// TCB info `issueDate`.
    pub issue_date: UnixTime,
    /// TCB info `nextUpdate`.
    pub next_update: UnixTime,
    /// TCB info `tcbEvaluationDataNumber`.
    pub tcb_evaluation_data_number: u32,
    /// TCB info `tcbLevels`, in the order written (Intel: highest first).
    pub tcb_levels: Vec<SimTcbLevel>,
    /// TCB info `tdxModule`; `None` omits it.
    pub tdx_module: Option<SimTdxModule>,
    /// TCB info `tdxModuleIdentities`.
    pub tdx_module_identities: Vec<SimTdxModuleIdentity>,
    /// QE identity `id`: "TD_QE" for TDX ("QE" is the SGX QE's).
    pub qe_identity_id: String,
    /// QE identity `version`: 2.
    pub qe_identity_version: u32,
    /// QE identity `issueDate`.
    pub qe_issue_date: UnixTime,
    /// QE identity `nextUpdate`.
    pub qe_next_update: UnixTime,
    /// QE identity `tcbEvaluationDataNumber`.
    pub qe_tcb_evaluation_data_number: u32,
    /// QE identity `miscselect`, written as the hex of its little-endian bytes (dcap-qvl reads
    /// it back little-endian).
    pub qe_miscselect: u32,
    /// QE identity `miscselectMask`, same encoding.
    pub qe_miscselect_mask: u32,
    /// QE identity `attributes`.
    pub qe_attributes: [u8; 16],
    /// QE identity `attributesMask`.
    pub qe_attributes_mask: [u8; 16],
    /// QE identity `mrsigner` (must equal the QE report's, THREATS D1).
    pub qe_mrsigner: [u8; 32],
    /// QE identity `isvprodid`.
    pub qe_isv_prod_id: u16,
    /// QE identity `tcbLevels`, highest ISVSVN first.
    pub qe_levels: Vec<SimQeTcbLevel>,
    /// Which PCK CA issues the PCK CRL: it must be the issuer of the quote's PCK leaf, or
    /// the revocation status of the leaf is unknown.
    pub pck_crl_issuer: PckCaKind,
    /// Serial numbers (unsigned big-endian, as [`SimPlatform::pck_serial`]) revoked by the PCK
    /// CRL, each with reasonCode keyCompromise.
    ///
    /// [`SimPlatform::pck_serial`]: super::SimPlatform::pck_serial
    pub revoked_pck_serials: Vec<Vec<u8>>,
    /// PCK CRL thisUpdate (also the revocation date of its entries).
    pub crl_this_update: UnixTime,
    /// PCK CRL nextUpdate.
    pub crl_next_update: UnixTime,
    /// PCK CRL cRLNumber.
    pub crl_number: u32,
    /// Serial numbers revoked by the root CA CRL, for example
    /// [`IntelHierarchy::pck_ca_serial`](super::IntelHierarchy::pck_ca_serial).
    pub revoked_ca_serials: Vec<Vec<u8>>,
    /// Root CA CRL thisUpdate.
    pub root_crl_this_update: UnixTime,
    /// Root CA CRL nextUpdate.
    pub root_crl_next_update: UnixTime,
    /// Root CA CRL cRLNumber.
    pub root_crl_number: u32,
}

/// 2024-11-13T00:00:00Z, tcbDate of the default UpToDate levels (Intel's TCB-R of Nov 2024).
const TCB_DATE_2024_11: UnixTime = UnixTime(1_731_456_000);
/// 2024-03-13T00:00:00Z, tcbDate of the previous levels.
const TCB_DATE_2024_03: UnixTime = UnixTime(1_710_288_000);
/// 2023-08-09T00:00:00Z.
const TCB_DATE_2023_08: UnixTime = UnixTime(1_691_539_200);
/// 2018-01-04T00:00:00Z, tcbDate of the lowest level Intel still lists.
const TCB_DATE_2018_01: UnixTime = UnixTime(1_515_024_000);

/// Advisories of the default OutOfDate levels (those of Intel's 2024-03 EMR level).
const ADVISORIES_2024_03: [&str; 5] = [
    "INTEL-SA-01036",
    "INTEL-SA-01079",
    "INTEL-SA-01099",
    "INTEL-SA-01103",
    "INTEL-SA-01111",
];

/// Advisories of a TDX module below the default UpToDate module level.
const MODULE_ADVISORIES: [&str; 2] = ["INTEL-SA-01036", "INTEL-SA-01099"];

impl CollateralProfile {
    /// Collateral valid over `[now - 1 day, now + 30 days]` (TCB info, QE identity and both
    /// CRLs), for FMSPC [`DEFAULT_FMSPC`], modelled on Intel's TCB info for Emerald Rapids
    /// (evaluation data number 18):
    ///
    /// * `tcbLevels`: SGX components `[3,3,2,2,4,1,0,5,0..]` PCESVN 13 TDX components
    ///   `[5,0,3,0..]` UpToDate (2024-11-13); `[2,2,2,2,3,1,0,5,0..]` PCESVN 13 `[5,0,2,0..]`
    ///   OutOfDate; the same SGX components at PCESVN 5, OutOfDate;
    /// * `tdxModule` and the identities `TDX_03` (ISVSVN 3 UpToDate) and `TDX_01` (ISVSVN 6
    ///   UpToDate, 4 and 2 OutOfDate), all with zero MRSIGNER and attributes;
    /// * QE identity `TD_QE` v2: MRSIGNER [`INTEL_TD_QE_MRSIGNER`], ISVPRODID 2, MISCSELECT 0
    ///   mask FFFFFFFF, attributes `11..` mask `FBFFFFFFFFFFFFFF0000000000000000`, one level
    ///   ISVSVN 4 UpToDate;
    /// * CRLs from the PCK Platform CA and the root, revoking nothing, cRLNumber 1.
    pub fn valid_at(now: UnixTime) -> Self {
        let from = UnixTime(now.0.saturating_sub(DAY));
        let until = UnixTime(now.0.saturating_add(30 * DAY));
        let module = |isvsvn, date, status: &str, advisories: &[&str]| SimModuleTcbLevel {
            isvsvn,
            tcb_date: date,
            tcb_status: status.to_owned(),
            advisory_ids: advisories.iter().map(|&a| a.to_owned()).collect(),
        };
        Self {
            fmspc: DEFAULT_FMSPC,
            pce_id: [0, 0],
            tcb_info_id: "TDX".to_owned(),
            tcb_info_version: 3,
            tcb_type: 0,
            issue_date: from,
            next_update: until,
            tcb_evaluation_data_number: 18,
            tcb_levels: default_tcb_levels(),
            tdx_module: Some(SimTdxModule::default()),
            tdx_module_identities: vec![
                SimTdxModuleIdentity {
                    id: "TDX_03".to_owned(),
                    module: SimTdxModule::default(),
                    tcb_levels: vec![module(3, TCB_DATE_2024_11, status::UP_TO_DATE, &[])],
                },
                SimTdxModuleIdentity {
                    id: "TDX_01".to_owned(),
                    module: SimTdxModule::default(),
                    tcb_levels: vec![
                        module(6, TCB_DATE_2024_11, status::UP_TO_DATE, &[]),
                        module(4, TCB_DATE_2024_03, status::OUT_OF_DATE, &MODULE_ADVISORIES),
                        module(2, TCB_DATE_2023_08, status::OUT_OF_DATE, &MODULE_ADVISORIES),
                    ],
                },
            ],
            qe_identity_id: "TD_QE".to_owned(),
            qe_identity_version: 2,
            qe_issue_date: from,
            qe_next_update: until,
            qe_tcb_evaluation_data_number: 18,
            qe_miscselect: 0,
            qe_miscselect_mask: 0xFFFF_FFFF,
            qe_attributes: [0x11, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            qe_attributes_mask: [
                0xFB, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0, 0, 0, 0, 0,
            ],
            qe_mrsigner: INTEL_TD_QE_MRSIGNER,
            qe_isv_prod_id: 2,
            qe_levels: vec![SimQeTcbLevel {
                isvsvn: 4,
                tcb_date: TCB_DATE_2024_03,
                tcb_status: status::UP_TO_DATE.to_owned(),
                advisory_ids: Vec::new(),
            }],
            pck_crl_issuer: PckCaKind::Platform,
            revoked_pck_serials: Vec::new(),
            crl_this_update: from,
            crl_next_update: until,
            crl_number: 1,
            revoked_ca_serials: Vec::new(),
            root_crl_this_update: from,
            root_crl_next_update: until,
            root_crl_number: 1,
        }
    }

    /// Turns the first (highest) platform TCB level, the one the default platform matches,
    /// into `status` with `advisories`: `with_platform_status("OutOfDate", &["INTEL-SA-01036"])`
    /// makes the default quote verify as OutOfDate with that advisory.
    #[must_use]
    pub fn with_platform_status(mut self, status: &str, advisories: &[&str]) -> Self {
        if let Some(level) = self.tcb_levels.first_mut() {
            level.tcb_status = status.to_owned();
            level.advisory_ids = advisories.iter().map(|&a| a.to_owned()).collect();
        }
        self
    }

    /// Turns the first (highest) QE TCB level, the one the default QE matches, into `status`
    /// with `advisories`.
    #[must_use]
    pub fn with_qe_status(mut self, status: &str, advisories: &[&str]) -> Self {
        if let Some(level) = self.qe_levels.first_mut() {
            level.tcb_status = status.to_owned();
            level.advisory_ids = advisories.iter().map(|&a| a.to_owned()).collect();
        }
        self
    }

    /// Turns the first (highest) level of every TDX module identity, the one the default TD's
    /// module matches, into `status` with `advisories`.
    #[must_use]
    pub fn with_module_status(mut self, status: &str, advisories: &[&str]) -> Self {
        for identity in &mut self.tdx_module_identities {
            if let Some(level) = identity.tcb_levels.first_mut() {
                level.tcb_status = status.to_owned();
                level.advisory_ids = advisories.iter().map(|&a| a.to_owned()).collect();
            }
        }
        self
    }
}

/// The default `tcbLevels` (see [`CollateralProfile::valid_at`]).
pub fn default_tcb_levels() -> Vec<SimTcbLevel> {
    let older_sgx = [2, 2, 2, 2, 3, 1, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0];
    let older_tdx = [5, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    let mut lowest_advisories = vec![
        "INTEL-SA-00106",
        "INTEL-SA-00115",
        "INTEL-SA-00135",
        "INTEL-SA-00203",
        "INTEL-SA-00220",
        "INTEL-SA-00233",
        "INTEL-SA-00270",
        "INTEL-SA-00293",
        "INTEL-SA-00320",
        "INTEL-SA-00329",
        "INTEL-SA-00381",
        "INTEL-SA-00389",
        "INTEL-SA-00477",
        "INTEL-SA-00837",
    ];
    lowest_advisories.extend(ADVISORIES_2024_03);
    vec![
        SimTcbLevel::new(
            default_cpu_svn(),
            13,
            [5, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            TCB_DATE_2024_11,
            status::UP_TO_DATE,
            &[],
        ),
        SimTcbLevel::new(
            older_sgx,
            13,
            older_tdx,
            TCB_DATE_2024_03,
            status::OUT_OF_DATE,
            &ADVISORIES_2024_03,
        ),
        SimTcbLevel::new(
            older_sgx,
            5,
            older_tdx,
            TCB_DATE_2018_01,
            status::OUT_OF_DATE,
            &lowest_advisories,
        ),
    ]
}

/// Collateral in the forms Intel's PCS serves it. Every field is public so that tests can
/// tamper with it; [`SimCollateral::set_tcb_info`] and [`SimCollateral::set_qe_identity`]
/// replace a signed JSON object (sign it with [`IntelHierarchy::sign_tcb_info`]).
///
/// [`IntelHierarchy::sign_tcb_info`]: super::IntelHierarchy::sign_tcb_info
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimCollateral {
    /// The PCS `GET /tdx/certification/v4/tcb` body: `{"tcbInfo":{...},"signature":"<hex>"}`.
    pub tcb_info_response: Vec<u8>,
    /// The PCS `GET /tdx/certification/v4/qe/identity` body:
    /// `{"enclaveIdentity":{...},"signature":"<hex>"}`.
    pub qe_identity_response: Vec<u8>,
    /// The `TCB-Info-Issuer-Chain` (= `SGX-Enclave-Identity-Issuer-Chain`): PEM of the TCB
    /// Signing certificate then the root CA.
    pub tcb_signing_chain_pem: String,
    /// The PCK CRL (DER), issued by [`CollateralProfile::pck_crl_issuer`].
    pub pck_crl_der: Vec<u8>,
    /// The `SGX-PCK-CRL-Issuer-Chain`: PEM of the PCK CA then the root CA.
    pub pck_crl_issuer_chain_pem: String,
    /// The root CA CRL (DER).
    pub root_ca_crl_der: Vec<u8>,
}

/// Key of the signed object in a TCB info response.
const TCB_INFO_KEY: &str = "tcbInfo";
/// Key of the signed object in a QE identity response.
const QE_IDENTITY_KEY: &str = "enclaveIdentity";

impl SimCollateral {
    /// The collateral as a directory of PCS response files: `tcbinfo.json`, `qeidentity.json`,
    /// `tcb_signing_chain.pem`, `pck_crl.der`, `pck_crl_issuer_chain.pem`, `root_ca_crl.der`.
    pub fn files(&self) -> Vec<(&'static str, Vec<u8>)> {
        vec![
            ("tcbinfo.json", self.tcb_info_response.clone()),
            ("qeidentity.json", self.qe_identity_response.clone()),
            (
                "tcb_signing_chain.pem",
                self.tcb_signing_chain_pem.clone().into_bytes(),
            ),
            ("pck_crl.der", self.pck_crl_der.clone()),
            (
                "pck_crl_issuer_chain.pem",
                self.pck_crl_issuer_chain_pem.clone().into_bytes(),
            ),
            ("root_ca_crl.der", self.root_ca_crl_der.clone()),
        ]
    }

    /// The signed `tcbInfo` object, exactly as in the response, and its signature (raw r||s);
    /// `None` if the response is not in the form this module writes.
    pub fn tcb_info(&self) -> Option<(&str, Vec<u8>)> {
        split_response(&self.tcb_info_response, TCB_INFO_KEY)
    }

    /// The signed `enclaveIdentity` object, exactly as in the response, and its signature;
    /// `None` if the response is not in the form this module writes.
    pub fn qe_identity(&self) -> Option<(&str, Vec<u8>)> {
        split_response(&self.qe_identity_response, QE_IDENTITY_KEY)
    }

    /// Replaces the TCB info response with `json` (written as is) and `signature`.
    pub fn set_tcb_info(&mut self, json: &str, signature: &[u8]) {
        self.tcb_info_response = pcs_response(TCB_INFO_KEY, json, signature);
    }

    /// Replaces the QE identity response with `json` (written as is) and `signature`.
    pub fn set_qe_identity(&mut self, json: &str, signature: &[u8]) {
        self.qe_identity_response = pcs_response(QE_IDENTITY_KEY, json, signature);
    }

    /// The collateral as dcap-qvl's [`QuoteCollateralV3`](dcap_qvl::QuoteCollateralV3), with
    /// the TCB Signing chain as both the TCB info and the QE identity issuer chain (as Intel
    /// serves them) and no PCK chain (the quote carries it).
    ///
    /// A response that is not in the form this module writes is passed whole as the JSON with
    /// an empty signature, which dcap-qvl rejects.
    pub fn to_dcap(&self) -> dcap_qvl::QuoteCollateralV3 {
        let (tcb_info, tcb_info_signature) = self
            .tcb_info()
            .map(|(json, sig)| (json.to_owned(), sig))
            .unwrap_or_else(|| (lossy(&self.tcb_info_response), Vec::new()));
        let (qe_identity, qe_identity_signature) = self
            .qe_identity()
            .map(|(json, sig)| (json.to_owned(), sig))
            .unwrap_or_else(|| (lossy(&self.qe_identity_response), Vec::new()));
        dcap_qvl::QuoteCollateralV3 {
            pck_crl_issuer_chain: self.pck_crl_issuer_chain_pem.clone(),
            root_ca_crl: self.root_ca_crl_der.clone(),
            pck_crl: self.pck_crl_der.clone(),
            tcb_info_issuer_chain: self.tcb_signing_chain_pem.clone(),
            tcb_info,
            tcb_info_signature,
            qe_identity_issuer_chain: self.tcb_signing_chain_pem.clone(),
            qe_identity,
            qe_identity_signature,
            pck_certificate_chain: None,
        }
    }

    /// [`SimCollateral::to_dcap`] in dcap-qvl's serde JSON form (byte fields as hex strings),
    /// the format of the `*_collateral.json` files in `shared/vectors/tdx`.
    //
    // Serialising a struct of strings and byte vectors to a String cannot fail.
    #[allow(clippy::expect_used)]
    pub fn to_dcap_json(&self) -> String {
        serde_json::to_string(&self.to_dcap()).expect("QuoteCollateralV3 always serialises")
    }
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `{"<key>":<json>,"signature":"<hex>"}`, as PCS writes its signed responses.
pub(super) fn pcs_response(key: &str, json: &str, signature: &[u8]) -> Vec<u8> {
    format!(
        "{{\"{key}\":{json},\"signature\":\"{}\"}}",
        hex::encode(signature)
    )
    .into_bytes()
}

/// The inverse of [`pcs_response`].
fn split_response<'a>(response: &'a [u8], key: &str) -> Option<(&'a str, Vec<u8>)> {
    let text = std::str::from_utf8(response).ok()?;
    let prefix = format!("{{\"{key}\":");
    let inner = text.strip_prefix(&prefix)?.strip_suffix("\"}")?;
    let (json, signature) = inner.rsplit_once(",\"signature\":\"")?;
    Some((json, hex::decode(signature).ok()?))
}

/// An RFC 3339 UTC time as Intel writes it: `2025-06-19T10:16:03Z`.
fn rfc3339(t: UnixTime) -> Result<String, SimError> {
    // RFC 3339 writes no fraction for whole seconds, and UTC as `Z`.
    time::OffsetDateTime::from_unix_timestamp(t.0)
        .ok()
        .and_then(|dt| {
            dt.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .ok_or(SimError::Time(t))
}

// The JSON shapes, field order as Intel writes them.

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TcbInfoJson {
    id: String,
    version: u32,
    issue_date: String,
    next_update: String,
    fmspc: String,
    pce_id: String,
    tcb_type: u32,
    tcb_evaluation_data_number: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    tdx_module: Option<TdxModuleJson>,
    tdx_module_identities: Vec<TdxModuleIdentityJson>,
    tcb_levels: Vec<TcbLevelJson>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TdxModuleJson {
    mrsigner: String,
    attributes: String,
    attributes_mask: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TdxModuleIdentityJson {
    id: String,
    mrsigner: String,
    attributes: String,
    attributes_mask: String,
    tcb_levels: Vec<StatusLevelJson<IsvSvnJson<u8>>>,
}

#[derive(Serialize)]
struct IsvSvnJson<T> {
    isvsvn: T,
}

/// A level of module identities and of the QE identity.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StatusLevelJson<T> {
    tcb: T,
    tcb_date: String,
    tcb_status: String,
    #[serde(rename = "advisoryIDs", skip_serializing_if = "Vec::is_empty")]
    advisory_ids: Vec<String>,
}

#[derive(Serialize)]
struct TcbJson {
    sgxtcbcomponents: Vec<ComponentJson>,
    pcesvn: u16,
    tdxtcbcomponents: Vec<ComponentJson>,
}

#[derive(Serialize)]
struct ComponentJson {
    svn: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    category: Option<&'static str>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
}

type TcbLevelJson = StatusLevelJson<TcbJson>;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct QeIdentityJson {
    id: String,
    version: u32,
    issue_date: String,
    next_update: String,
    tcb_evaluation_data_number: u32,
    miscselect: String,
    miscselect_mask: String,
    attributes: String,
    attributes_mask: String,
    mrsigner: String,
    isvprodid: u16,
    tcb_levels: Vec<StatusLevelJson<IsvSvnJson<u16>>>,
}

/// The category and type Intel gives SGX TCB component `index` on Emerald Rapids.
fn sgx_component_names(index: usize) -> (Option<&'static str>, Option<&'static str>) {
    match index {
        0 => (Some("BIOS"), Some("Early Microcode Update")),
        1 => (Some("OS/VMM"), Some("SGX Late Microcode Update")),
        2 => (Some("OS/VMM"), Some("TXT SINIT")),
        3..=5 => (Some("BIOS"), None),
        7 => (Some("OS/VMM"), Some("SEAMLDR ACM")),
        _ => (None, None),
    }
}

/// The category and type Intel gives TDX TCB component `index`.
fn tdx_component_names(index: usize) -> (Option<&'static str>, Option<&'static str>) {
    match index {
        0 | 1 => (Some("OS/VMM"), Some("TDX Module")),
        2 => (Some("OS/VMM"), Some("TDX Late Microcode Update")),
        _ => (None, None),
    }
}

fn components(
    svns: &[u8],
    names: fn(usize) -> (Option<&'static str>, Option<&'static str>),
) -> Vec<ComponentJson> {
    svns.iter()
        .enumerate()
        .map(|(i, &svn)| {
            let (category, kind) = names(i);
            ComponentJson {
                svn,
                category,
                kind,
            }
        })
        .collect()
}

fn upper(bytes: &[u8]) -> String {
    hex::encode_upper(bytes)
}

fn status_level<T>(
    tcb: T,
    date: UnixTime,
    status: &str,
    advisories: &[String],
) -> Result<StatusLevelJson<T>, SimError> {
    Ok(StatusLevelJson {
        tcb,
        tcb_date: rfc3339(date)?,
        tcb_status: status.to_owned(),
        advisory_ids: advisories.to_vec(),
    })
}

fn module_json(m: &SimTdxModule) -> TdxModuleJson {
    TdxModuleJson {
        mrsigner: upper(&m.mrsigner),
        attributes: upper(&m.attributes),
        attributes_mask: upper(&m.attributes_mask),
    }
}

/// Serialises a JSON shape compactly; the shapes hold only strings, numbers and sequences.
fn to_json<T: Serialize>(value: &T) -> Result<String, SimError> {
    serde_json::to_string(value)
        .map_err(|_| SimError::Der(x509_cert::der::ErrorKind::Failed.into()))
}

/// The `tcbInfo` object of `p`, compact, keys in Intel's order.
pub(super) fn tcb_info_json(p: &CollateralProfile) -> Result<String, SimError> {
    let identities = p
        .tdx_module_identities
        .iter()
        .map(|identity| {
            let levels = identity
                .tcb_levels
                .iter()
                .map(|l| {
                    status_level(
                        IsvSvnJson { isvsvn: l.isvsvn },
                        l.tcb_date,
                        &l.tcb_status,
                        &l.advisory_ids,
                    )
                })
                .collect::<Result<_, _>>()?;
            let module = module_json(&identity.module);
            Ok(TdxModuleIdentityJson {
                id: identity.id.clone(),
                mrsigner: module.mrsigner,
                attributes: module.attributes,
                attributes_mask: module.attributes_mask,
                tcb_levels: levels,
            })
        })
        .collect::<Result<_, SimError>>()?;
    let levels = p
        .tcb_levels
        .iter()
        .map(|l| {
            let tcb = TcbJson {
                sgxtcbcomponents: components(&l.sgx_components, sgx_component_names),
                pcesvn: l.pce_svn,
                tdxtcbcomponents: components(&l.tdx_components, tdx_component_names),
            };
            status_level(tcb, l.tcb_date, &l.tcb_status, &l.advisory_ids)
        })
        .collect::<Result<_, _>>()?;
    to_json(&TcbInfoJson {
        id: p.tcb_info_id.clone(),
        version: p.tcb_info_version,
        issue_date: rfc3339(p.issue_date)?,
        next_update: rfc3339(p.next_update)?,
        fmspc: hex::encode(p.fmspc),
        pce_id: hex::encode(p.pce_id),
        tcb_type: p.tcb_type,
        tcb_evaluation_data_number: p.tcb_evaluation_data_number,
        tdx_module: p.tdx_module.as_ref().map(module_json),
        tdx_module_identities: identities,
        tcb_levels: levels,
    })
}

/// The `enclaveIdentity` object of `p`, compact, keys in Intel's order.
pub(super) fn qe_identity_json(p: &CollateralProfile) -> Result<String, SimError> {
    let levels = p
        .qe_levels
        .iter()
        .map(|l| {
            status_level(
                IsvSvnJson { isvsvn: l.isvsvn },
                l.tcb_date,
                &l.tcb_status,
                &l.advisory_ids,
            )
        })
        .collect::<Result<_, _>>()?;
    to_json(&QeIdentityJson {
        id: p.qe_identity_id.clone(),
        version: p.qe_identity_version,
        issue_date: rfc3339(p.qe_issue_date)?,
        next_update: rfc3339(p.qe_next_update)?,
        tcb_evaluation_data_number: p.qe_tcb_evaluation_data_number,
        miscselect: upper(&p.qe_miscselect.to_le_bytes()),
        miscselect_mask: upper(&p.qe_miscselect_mask.to_le_bytes()),
        attributes: upper(&p.qe_attributes),
        attributes_mask: upper(&p.qe_attributes_mask),
        mrsigner: upper(&p.qe_mrsigner),
        isvprodid: p.qe_isv_prod_id,
        tcb_levels: levels,
    })
}

/// Builds the signed responses of `p` with `sign` (the TCB Signing key).
pub(super) fn responses(
    p: &CollateralProfile,
    sign: impl Fn(&[u8]) -> [u8; 64],
) -> Result<(Vec<u8>, Vec<u8>), SimError> {
    let tcb_info = tcb_info_json(p)?;
    let qe_identity = qe_identity_json(p)?;
    Ok((
        pcs_response(TCB_INFO_KEY, &tcb_info, &sign(tcb_info.as_bytes())),
        pcs_response(QE_IDENTITY_KEY, &qe_identity, &sign(qe_identity.as_bytes())),
    ))
}
