//! THREATS.md sections 3 (TD quote) and 4 (DCAP collateral), and row R2, over the generated
//! Intel hierarchy (`warden_evidence::sim::tdx`): each test builds a known-good quote and
//! collateral, changes one thing, and asserts the specific [`TdxError`] variant (and its
//! `what`/`item`/`fmspc`/upstream text where it carries one).
//!
//! Every case goes through the verifier's own path ([`verify_with`]): quote bytes ->
//! [`Quote::parse_allow_zero_padding`] -> [`Quote::pck`] -> a [`CollateralSet`] of
//! [`CollateralItem::parse_file`] over the PCS response files ([`SimCollateral::files`]) ->
//! [`CollateralSet::select`] -> [`TdxVerifier::verify`] with the hierarchy's root. Where
//! selection already refuses collateral (another FMSPC, an SGX TCB info, a QE identity that is
//! not TD_QE, a CRL of another CA), the test asserts that, then shows what dcap-qvl says of the
//! same collateral handed over without selection ([`verify_unselected`]).
//!
//! The real-vector side (D11) is `tdx_vectors.rs`.

#![allow(
    missing_docs,
    unreachable_pub,
    clippy::panic,
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::indexing_slicing
)]

use std::sync::OnceLock;

use sha2::{Digest, Sha256};
use warden_evidence::UnixTime;
use warden_evidence::sim::tdx::{
    CollateralProfile, DEFAULT_TEE_TCB_SVN, DEFAULT_XFAM, IntelHierarchy, PckCaKind,
    PlatformProfile, QuoteVersion, SimCollateral, SimPlatform, SimTdxModule, TD_ATTR_DEBUG,
    TD_ATTR_MIGRATABLE, TD_ATTR_PKS, TD_ATTR_SEPT_VE_DISABLE, TdProfile, measurement, status,
};
use warden_evidence::tdx::{
    AddOutcome, Collateral, CollateralItem, CollateralSet, PckCa, Quote, TdBody, TdxError,
    TdxVerifier, VerifiedQuote,
};

const DAY: i64 = 86_400;
/// 2026-02-20T00:00:00Z: the verification time; the collateral is valid from a day before to
/// 30 days after.
const NOW: UnixTime = UnixTime(1_771_545_600);
/// FMSPC of the default platform, as errors name it.
const FMSPC: &str = "90c06f000000";
const REPORT_DATA: [u8; 64] = [0xA5; 64];
const ALL_VERSIONS: [QuoteVersion; 3] =
    [QuoteVersion::V4, QuoteVersion::V5Td10, QuoteVersion::V5Td15];

// ---------------------------------------------------------------- evidence

fn hierarchy() -> &'static IntelHierarchy {
    IntelHierarchy::shared()
}

/// A second hierarchy: the same names and shapes, other keys.
fn foreign() -> &'static IntelHierarchy {
    static FOREIGN: OnceLock<IntelHierarchy> = OnceLock::new();
    FOREIGN.get_or_init(|| IntelHierarchy::generate(99))
}

/// The default platform (UpToDate under the default collateral).
fn platform() -> &'static SimPlatform {
    static PLATFORM: OnceLock<SimPlatform> = OnceLock::new();
    PLATFORM.get_or_init(|| hierarchy().platform(&PlatformProfile::default()).unwrap())
}

fn foreign_platform() -> &'static SimPlatform {
    static PLATFORM: OnceLock<SimPlatform> = OnceLock::new();
    PLATFORM.get_or_init(|| foreign().platform(&PlatformProfile::default()).unwrap())
}

/// The default collateral, valid at [`NOW`].
fn collateral() -> &'static SimCollateral {
    static COLLATERAL: OnceLock<SimCollateral> = OnceLock::new();
    COLLATERAL.get_or_init(|| {
        hierarchy()
            .collateral(&CollateralProfile::valid_at(NOW))
            .unwrap()
    })
}

/// A platform of the default profile with one change.
fn platform_with(change: impl FnOnce(&mut PlatformProfile)) -> SimPlatform {
    let mut profile = PlatformProfile::default();
    change(&mut profile);
    hierarchy().platform(&profile).unwrap()
}

/// Collateral of the default profile with one change.
fn collateral_with(change: impl FnOnce(&mut CollateralProfile)) -> SimCollateral {
    let mut profile = CollateralProfile::valid_at(NOW);
    change(&mut profile);
    hierarchy().collateral(&profile).unwrap()
}

fn td_with(change: impl FnOnce(&mut TdProfile)) -> TdProfile {
    let mut td = TdProfile::default();
    change(&mut td);
    td
}

/// A quote of the default platform for `td` with [`REPORT_DATA`].
fn quote(td: &TdProfile) -> Vec<u8> {
    platform().quote(td, &REPORT_DATA).unwrap()
}

/// The default TD's quote on `platform`.
fn default_td_quote(platform: &SimPlatform) -> Vec<u8> {
    platform.quote(&TdProfile::default(), &REPORT_DATA).unwrap()
}

/// The default v4 quote.
fn good_quote() -> Vec<u8> {
    quote(&TdProfile::default())
}

// ---------------------------------------------------------------- the verifier's path

/// The collateral files, each classified by content, in one set.
fn set_of(collateral: &SimCollateral) -> Result<CollateralSet, TdxError> {
    let mut set = CollateralSet::new();
    for (_, bytes) in collateral.files() {
        for item in CollateralItem::parse_file(&bytes)? {
            set.add(item);
        }
    }
    Ok(set)
}

/// Quote bytes -> strict parse (zero padding dropped) -> PCK -> collateral selected from `set`
/// at `select_at` -> verification with `root` at `now`.
fn verify_with(
    root: &[u8],
    quote: &[u8],
    set: &CollateralSet,
    select_at: UnixTime,
    now: UnixTime,
) -> Result<VerifiedQuote, TdxError> {
    let quote = Quote::parse_allow_zero_padding(quote)?;
    let pck = quote.pck()?;
    let collateral = set.select(&pck, select_at)?;
    TdxVerifier::new(root.to_vec()).verify(now, &quote, &collateral)
}

/// [`verify_with`] at `now` with the hierarchy's root.
fn verify_at(
    quote: &[u8],
    collateral: &SimCollateral,
    now: UnixTime,
) -> Result<VerifiedQuote, TdxError> {
    verify_with(
        hierarchy().root_ca_der(),
        quote,
        &set_of(collateral)?,
        now,
        now,
    )
}

/// [`verify_with`] at [`NOW`] with the hierarchy's root.
fn verify(quote: &[u8], collateral: &SimCollateral) -> Result<VerifiedQuote, TdxError> {
    verify_at(quote, collateral, NOW)
}

/// Collateral selected while fresh ([`NOW`]) and verified at `now`: dcap-qvl's own date checks.
fn verify_later(quote: &[u8], collateral: &SimCollateral, now: UnixTime) -> TdxError {
    err(verify_with(
        hierarchy().root_ca_der(),
        quote,
        &set_of(collateral).unwrap(),
        NOW,
        now,
    ))
}

/// The collateral handed to the verifier as dcap-qvl's `QuoteCollateralV3`, without selection:
/// what dcap-qvl says of collateral that [`CollateralSet::select`] would not hand out.
fn verify_unselected(quote: &[u8], collateral: &SimCollateral) -> Result<VerifiedQuote, TdxError> {
    let quote = Quote::parse_allow_zero_padding(quote)?;
    let collateral = Collateral::from_dcap(&collateral.to_dcap())?;
    TdxVerifier::new(hierarchy().root_ca_der().to_vec()).verify(NOW, &quote, &collateral)
}

fn err(result: Result<VerifiedQuote, TdxError>) -> TdxError {
    match result {
        Ok(v) => panic!("accepted with tcb_status {}", v.claims.tcb_status),
        Err(e) => e,
    }
}

/// dcap-qvl's text kept in a mapped error.
fn upstream(e: &TdxError) -> &str {
    match e {
        TdxError::QuoteSignature { upstream }
        | TdxError::QeReportSignature { upstream }
        | TdxError::QeReportData { upstream }
        | TdxError::QeIdentityMismatch { upstream }
        | TdxError::QeTcb { upstream }
        | TdxError::TcbInfoSignature { upstream }
        | TdxError::QeIdentitySignature { upstream }
        | TdxError::CollateralExpired { upstream, .. }
        | TdxError::FmspcMismatch { upstream }
        | TdxError::TcbInfoType { upstream }
        | TdxError::NoMatchingTcbLevel { upstream }
        | TdxError::TcbRevoked { upstream }
        | TdxError::UnrecognizedTcbStatus { upstream }
        | TdxError::TcbComponents { upstream }
        | TdxError::ModuleMismatch { upstream }
        | TdxError::Revoked { upstream }
        | TdxError::Crl { upstream, .. }
        | TdxError::DebugTd { upstream }
        | TdxError::SeptVeDisabled { upstream }
        | TdxError::Migratable { upstream }
        | TdxError::ReservedAttributes { upstream }
        | TdxError::ServiceTd { upstream }
        | TdxError::PckChain { reason: upstream }
        | TdxError::Dcap(upstream) => upstream,
        other => panic!("{other:?} carries no upstream text"),
    }
}

/// `result` is an error matching `pattern`; with a third argument, one whose upstream text
/// contains it. Evaluates to the error.
macro_rules! rejects {
    ($result:expr, $pattern:pat) => {{
        let e = err($result);
        assert!(matches!(e, $pattern), "got {e:?}");
        e
    }};
    ($result:expr, $pattern:pat, $text:expr) => {{
        let e = rejects!($result, $pattern);
        assert!(upstream(&e).contains($text), "{e:?} lacks {:?}", $text);
        e
    }};
}

/// Byte offsets of the variable part of a generated quote.
struct Layout {
    body: usize,
    sig_len: usize,
    signature: usize,
    att_key: usize,
    cert_type: usize,
    cert_len: usize,
    qe_report: usize,
    qe_report_sig: usize,
    auth_len: usize,
    auth: usize,
    pck_type: usize,
    pck_len: usize,
    pck: usize,
}

impl Layout {
    fn of(q: &[u8]) -> Self {
        let u16_at = |o: usize| usize::from(u16::from_le_bytes([q[o], q[o + 1]]));
        let (body, body_len) = match q[0] {
            4 => (48, 584),
            _ => (
                54,
                usize::try_from(u32::from_le_bytes(q[50..54].try_into().unwrap())).unwrap(),
            ),
        };
        let sig_len = body + body_len;
        let signature = sig_len + 4;
        let att_key = signature + 64;
        let cert_type = att_key + 64;
        let cert_len = cert_type + 2;
        let qe_report = cert_len + 4;
        let qe_report_sig = qe_report + 384;
        let auth_len = qe_report_sig + 64;
        let auth = auth_len + 2;
        let pck_type = auth + u16_at(auth_len);
        let pck_len = pck_type + 2;
        Self {
            body,
            sig_len,
            signature,
            att_key,
            cert_type,
            cert_len,
            qe_report,
            qe_report_sig,
            auth_len,
            auth,
            pck_type,
            pck_len,
            pck: pck_len + 4,
        }
    }
}

fn put_u32(q: &mut [u8], at: usize, v: usize) {
    q[at..at + 4].copy_from_slice(&u32::try_from(v).unwrap().to_le_bytes());
}

fn flipped(mut bytes: Vec<u8>, at: usize) -> Vec<u8> {
    bytes[at] ^= 1;
    bytes
}

/// The PEM blocks of a chain.
fn pem_blocks(pem: &str) -> Vec<String> {
    pem.split_inclusive("-----END CERTIFICATE-----\n")
        .map(str::to_owned)
        .collect()
}

/// The default TD's quote with `chain` as its PCK certification data (type 5).
fn quote_with_chain(platform: &SimPlatform, chain: &str) -> Vec<u8> {
    platform
        .quote_with_certification_data(&TdProfile::default(), &REPORT_DATA, 5, chain.as_bytes())
        .unwrap()
}

fn hex48(b: [u8; 48]) -> String {
    hex::encode(b)
}

// ---------------------------------------------------------------- good cases

#[test]
fn good_quotes_verify_up_to_date_with_their_claims() {
    for version in ALL_VERSIONS {
        let bytes = quote(&TdProfile::new(version));
        let v = verify(&bytes, collateral()).unwrap();
        assert_eq!(v.quote.as_bytes(), bytes);
        let c = &v.claims;
        let td15 = version == QuoteVersion::V5Td15;
        assert_eq!(c.version, if version == QuoteVersion::V4 { 4 } else { 5 });
        assert_eq!(c.body, if td15 { TdBody::Td15 } else { TdBody::Td10 });
        assert_eq!(c.tcb_status, "UpToDate", "{version:?}");
        assert!(c.advisory_ids.is_empty());
        assert_eq!(c.qe_tcb_status, "UpToDate");
        assert_eq!(c.tcb_date, "2024-11-13T00:00:00Z");
        assert_eq!(c.mr_td, hex48(measurement("MRTD")));
        assert_eq!(c.rtmr0, hex48(measurement("RTMR0")));
        assert_eq!(c.rtmr3, hex48(measurement("RTMR3")));
        assert_eq!(c.mr_seam, hex48(measurement("MRSEAM")));
        assert_eq!(c.mr_signer_seam, "00".repeat(48));
        assert_eq!(c.seam_attributes, "00".repeat(8));
        assert_eq!(c.mr_config_id, "00".repeat(48));
        assert_eq!(c.td_attributes.raw, "0000001000000000");
        assert!(c.td_attributes.sept_ve_disable);
        assert!(!c.td_attributes.debug && !c.td_attributes.migratable);
        assert!(!c.td_attributes.reserved_bits_set);
        assert_eq!(c.xfam, hex::encode(DEFAULT_XFAM.to_le_bytes()));
        assert_eq!(c.tee_tcb_svn, hex::encode(DEFAULT_TEE_TCB_SVN));
        assert_eq!(
            c.tee_tcb_svn2,
            td15.then(|| hex::encode(DEFAULT_TEE_TCB_SVN))
        );
        assert_eq!(c.mr_service_td, td15.then(|| "00".repeat(48)));
        assert_eq!(c.report_data, "a5".repeat(64));
        assert_eq!(c.fmspc, FMSPC);
        assert_eq!(c.pce_id, "0000");
        assert_eq!(c.pck_ca, PckCa::Platform);
        assert_eq!(c.tcb_evaluation_data_number, 18);
        assert_eq!(
            c.collateral_earliest_expiration,
            UnixTime(NOW.0 + 30 * DAY).to_string()
        );
        assert_eq!(c.collateral_latest_issue, UnixTime(NOW.0 - DAY).to_string());
        assert_eq!(c.dynamic_platform, Some(true));
        assert_eq!(c.cached_keys, Some(true));
        assert_eq!(c.smt_enabled, Some(true));
    }
}

#[test]
fn processor_ca_platform_verifies_with_the_processor_crl() {
    let p = hierarchy().platform(&PlatformProfile::processor()).unwrap();
    let q = default_td_quote(&p);
    let c = collateral_with(|c| c.pck_crl_issuer = PckCaKind::Processor);
    let v = verify(&q, &c).unwrap();
    assert_eq!(v.claims.tcb_status, "UpToDate");
    assert_eq!(v.claims.pck_ca, PckCa::Processor);
    assert_eq!(v.claims.dynamic_platform, None);
}

// ---------------------------------------------------------------- section 3: the TD quote

#[test]
fn t1_debug_td() {
    let td = td_with(|t| t.td_attributes = TD_ATTR_SEPT_VE_DISABLE | TD_ATTR_DEBUG);
    let e = rejects!(
        verify(&quote(&td), collateral()),
        TdxError::DebugTd { .. },
        "Debug mode is enabled"
    );
    assert_eq!(upstream(&e), "Debug mode is enabled");
    // TD profiling (TUD bits 6:4) is debug access too.
    for bit in 4..=6 {
        let td = td_with(|t| t.td_attributes = TD_ATTR_SEPT_VE_DISABLE | 1 << bit);
        rejects!(
            verify(&quote(&td), collateral()),
            TdxError::DebugTd { .. },
            "TD profiling is enabled"
        );
    }
}

#[test]
fn t2_reserved_td_attributes() {
    // TUD 3:1 and 15:7, SEC 26:23, OTHER 61:32 (the TDX 1.5 ABI's reserved ranges).
    for bit in [1, 3, 7, 15, 23, 26, 32, 40, 61] {
        let td = td_with(|t| t.td_attributes = TD_ATTR_SEPT_VE_DISABLE | 1 << bit);
        rejects!(
            verify(&quote(&td), collateral()),
            TdxError::ReservedAttributes { .. },
            "Reserved bits in TD attributes are set"
        );
    }
}

#[test]
fn t3_sept_ve_disable_clear() {
    let td = td_with(|t| t.td_attributes = 0);
    rejects!(
        verify(&quote(&td), collateral()),
        TdxError::SeptVeDisabled { .. },
        "SEPT_VE_DISABLE is not enabled"
    );
    // PKS, KL, PERFMON, ICSSD, LASS and TPA are no verifier error: they reach policy as claims.
    let others = TD_ATTR_PKS | 1 << 31 | 1 << 63 | 1 << 16 | 1 << 27 | 1 << 62;
    let td = td_with(|t| t.td_attributes = TD_ATTR_SEPT_VE_DISABLE | others);
    let v = verify(&quote(&td), collateral()).unwrap();
    let a = &v.claims.td_attributes;
    assert!(a.pks && a.kl && a.perfmon && a.icssd && a.lass && a.tpa);
    assert!(a.sept_ve_disable && !a.reserved_bits_set);
}

#[test]
fn t4_migratable_and_service_td() {
    let td = td_with(|t| t.td_attributes = TD_ATTR_SEPT_VE_DISABLE | TD_ATTR_MIGRATABLE);
    rejects!(
        verify(&quote(&td), collateral()),
        TdxError::Migratable { .. },
        "TD migration is enabled"
    );
    // A TD 1.5 bound to a service TD.
    let td = TdProfile {
        mr_service_td: [1; 48],
        ..TdProfile::new(QuoteVersion::V5Td15)
    };
    rejects!(
        verify(&quote(&td), collateral()),
        TdxError::ServiceTd { .. },
        "Invalid MR service TD"
    );
    // SERVTD_EXT (bit 17), in a TD 1.0 and a TD 1.5 body.
    for version in [QuoteVersion::V4, QuoteVersion::V5Td15] {
        let td = TdProfile {
            td_attributes: TD_ATTR_SEPT_VE_DISABLE | 1 << 17,
            ..TdProfile::new(version)
        };
        rejects!(
            verify(&quote(&td), collateral()),
            TdxError::ServiceTd { .. },
            "SERVTD_EXT is enabled"
        );
    }
}

/// T5, T6, T8: XFAM, MRTD, the RTMRs, MRCONFIGID, MROWNER, MROWNERCONFIG, MRSEAM and
/// REPORT_DATA are judged by policy and the binding, not by the verifier: any value verifies
/// and reaches the claims exactly. What the verifier guarantees is that they are the signed
/// ones (T12).
#[test]
fn t5_t6_t8_measurements_reach_the_claims_unjudged() {
    let td = td_with(|t| {
        t.xfam = 0x0000_0000_0000_0003;
        t.mr_td = [1; 48];
        t.mr_config_id = [2; 48];
        t.mr_owner = [3; 48];
        t.mr_owner_config = [4; 48];
        t.rtmr = [[5; 48], [6; 48], [7; 48], [8; 48]];
        t.mr_seam = [9; 48];
    });
    let bytes = platform().quote(&td, &[0x5A; 64]).unwrap();
    let c = verify(&bytes, collateral()).unwrap().claims;
    assert_eq!(c.xfam, "0300000000000000");
    assert_eq!(c.mr_td, "01".repeat(48));
    assert_eq!(c.mr_config_id, "02".repeat(48));
    assert_eq!(c.mr_owner, "03".repeat(48));
    assert_eq!(c.mr_owner_config, "04".repeat(48));
    assert_eq!(
        [c.rtmr0, c.rtmr1, c.rtmr2, c.rtmr3],
        ["05", "06", "07", "08"].map(|b| b.repeat(48))
    );
    assert_eq!(c.mr_seam, "09".repeat(48));
    assert_eq!(c.report_data, "5a".repeat(64));

    // T8: REPORT_DATA changed after signing.
    let at = Layout::of(&bytes).body + 520;
    rejects!(
        verify(&flipped(bytes, at), collateral()),
        TdxError::QuoteSignature { .. },
        "ISV enclave report signature is invalid"
    );
}

#[test]
fn t9_tdx_module_identity() {
    let td = td_with(|t| t.mr_signer_seam = [7; 48]);
    rejects!(
        verify(&quote(&td), collateral()),
        TdxError::ModuleMismatch { .. },
        "TDX module MRSIGNER mismatch"
    );
    let td = td_with(|t| t.seam_attributes = [1, 0, 0, 0, 0, 0, 0, 0]);
    rejects!(
        verify(&quote(&td), collateral()),
        TdxError::ModuleMismatch { .. },
        "SEAMATTRIBUTES mismatch at byte 0"
    );
    // Bits outside the identity's mask.
    let c = collateral_with(|c| {
        for identity in &mut c.tdx_module_identities {
            identity.module.attributes_mask = [0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF];
        }
    });
    let td = td_with(|t| t.seam_attributes = [1, 0, 0, 0, 0, 0, 0, 0]);
    rejects!(
        verify(&quote(&td), &c),
        TdxError::ModuleMismatch { .. },
        "SEAMATTRIBUTES has bits set outside mask"
    );
    // The TCB info expects another module signer.
    let c = collateral_with(|c| {
        for identity in &mut c.tdx_module_identities {
            identity.module.mrsigner = [0x33; 48];
        }
    });
    rejects!(
        verify(&good_quote(), &c),
        TdxError::ModuleMismatch { .. },
        "TDX module MRSIGNER mismatch"
    );
    // No identity for the module's major version (TEE_TCB_SVN[1] = 1: TDX_01).
    let c = collateral_with(|c| c.tdx_module_identities.retain(|i| i.id != "TDX_01"));
    rejects!(
        verify(&good_quote(), &c),
        TdxError::ModuleMismatch { .. },
        "No TDX module identity with id TDX_01"
    );
    let c = collateral_with(|c| c.tdx_module = None);
    rejects!(
        verify(&good_quote(), &c),
        TdxError::ModuleMismatch { .. },
        "missing tdxModule"
    );
    // A module of major version 0 is checked against `tdxModule` itself.
    let c = collateral_with(|c| {
        c.tdx_module = Some(SimTdxModule {
            mrsigner: [0x44; 48],
            ..SimTdxModule::default()
        });
    });
    let td = td_with(|t| t.tee_tcb_svn = [6, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    verify(&quote(&td), collateral()).unwrap();
    rejects!(
        verify(&quote(&td), &c),
        TdxError::ModuleMismatch { .. },
        "TDX module MRSIGNER mismatch"
    );
}

#[test]
fn t10_tcb_below_every_level() {
    let svn = |isvsvn: u8, microcode: u8| {
        let mut s = DEFAULT_TEE_TCB_SVN;
        s[0] = isvsvn;
        s[2] = microcode;
        s
    };
    // TDX module ISVSVN below every level of its identity.
    let td = td_with(|t| t.tee_tcb_svn = svn(1, 3));
    rejects!(
        verify(&quote(&td), collateral()),
        TdxError::NoMatchingTcbLevel { .. },
        "TDX module ISVSVN 1 is below minimum required"
    );
    // TDX late microcode SVN (TEE_TCB_SVN[2]) below every platform level.
    let td = td_with(|t| t.tee_tcb_svn = svn(6, 1));
    let e = rejects!(
        verify(&quote(&td), collateral()),
        TdxError::NoMatchingTcbLevel { .. }
    );
    assert_eq!(upstream(&e), "No matching TCB level found");
    // PCESVN and CPUSVN (from the PCK certificate) below every level.
    let p = platform_with(|p| p.pce_svn = 4);
    rejects!(
        verify(&default_td_quote(&p), collateral()),
        TdxError::NoMatchingTcbLevel { .. },
        "No matching TCB level found"
    );
    let p = platform_with(|p| p.cpu_svn = [0; 16]);
    rejects!(
        verify(&default_td_quote(&p), collateral()),
        TdxError::NoMatchingTcbLevel { .. },
        "No matching TCB level found"
    );
    // TD 1.5: the current TCB (TEE_TCB_SVN_2) must be appraisable too.
    let td = TdProfile {
        tee_tcb_svn2: svn(1, 3),
        ..TdProfile::new(QuoteVersion::V5Td15)
    };
    rejects!(
        verify(&quote(&td), collateral()),
        TdxError::NoMatchingTcbLevel { .. },
        "TEE_TCB_SVN2"
    );
    // A module below the UpToDate level but at a listed one is a status, for policy (D3).
    let td = td_with(|t| t.tee_tcb_svn = svn(4, 3));
    let c = verify(&quote(&td), collateral()).unwrap().claims;
    assert_eq!(c.tcb_status, "OutOfDate");
    assert_eq!(c.advisory_ids, ["INTEL-SA-01036", "INTEL-SA-01099"]);
}

#[test]
fn t11_header_confusion() {
    // SGX quote version 3 (and any other version).
    for version in [0, 3, 6] {
        let mut q = good_quote();
        q[0] = version;
        assert_eq!(
            err(verify(&q, collateral())),
            TdxError::UnsupportedVersion(u16::from(version))
        );
    }
    let td = td_with(|t| t.att_key_type = 3);
    assert_eq!(
        err(verify(&quote(&td), collateral())),
        TdxError::AttestationKeyType(3)
    );
    // An SGX quote's TEE type.
    let td = td_with(|t| t.tee_type = 0);
    assert_eq!(err(verify(&quote(&td), collateral())), TdxError::NotTdx(0));
    let td = td_with(|t| t.qe_vendor_id = [0; 16]);
    assert_eq!(
        err(verify(&quote(&td), collateral())),
        TdxError::QeVendor("00".repeat(16))
    );
    let mut q = good_quote();
    q[9] = 1;
    assert!(matches!(
        err(verify(&q, collateral())),
        TdxError::Reserved { .. }
    ));
}

#[test]
fn t12_signed_quote_modified() {
    for version in ALL_VERSIONS {
        let bytes = quote(&TdProfile::new(version));
        let l = Layout::of(&bytes);
        // Header user data (QE ID), MRTD, TD_ATTRIBUTES, REPORT_DATA, the signature itself.
        for at in [
            28,
            l.body + 136,
            l.body + 120,
            l.body + 520,
            l.signature,
            l.signature + 63,
        ] {
            rejects!(
                verify(&flipped(bytes.clone(), at), collateral()),
                TdxError::QuoteSignature { .. },
                "ISV enclave report signature is invalid"
            );
        }
    }
    // An attestation key that is not a P-256 point, certified by the QE report (its hash in the
    // QE REPORT_DATA, signed by the PCK key): the quote signature cannot verify.
    let off_curve = [1u8; 64];
    let mut bound = [0u8; 64];
    bound[..32].copy_from_slice(&Sha256::digest(
        [&off_curve[..], &(0..32).collect::<Vec<u8>>()].concat(),
    ));
    let p = platform_with(|p| p.qe_report_data = Some(bound));
    let mut q = default_td_quote(&p);
    let l = Layout::of(&q);
    q[l.att_key..l.att_key + 64].copy_from_slice(&off_curve);
    rejects!(
        verify(&q, collateral()),
        TdxError::QuoteSignature { .. },
        "ISV enclave report signature is invalid"
    );
}

#[test]
fn t13_attestation_key_not_certified_by_the_qe() {
    // QE REPORT_DATA that is not SHA-256(attestation key || QE auth data).
    let p = platform_with(|p| p.qe_report_data = Some([0; 64]));
    rejects!(
        verify(&default_td_quote(&p), collateral()),
        TdxError::QeReportData { .. },
        "QE report hash mismatch"
    );
    let bytes = good_quote();
    let l = Layout::of(&bytes);
    // Another attestation key, or other QE auth data, than the QE report certifies.
    for at in [l.att_key, l.att_key + 63, l.auth, l.auth + 31] {
        rejects!(
            verify(&flipped(bytes.clone(), at), collateral()),
            TdxError::QeReportData { .. },
            "QE report hash mismatch"
        );
    }
    // QE auth data of another length than 32 bytes.
    let p = platform_with(|p| p.qe_auth_data = vec![1; 16]);
    rejects!(
        verify(&default_td_quote(&p), collateral()),
        TdxError::QeReportData { .. },
        "Invalid QE auth data length"
    );
    // The QE report, or its signature, modified.
    for at in [
        l.qe_report,
        l.qe_report + 320,
        l.qe_report_sig,
        l.qe_report_sig + 63,
    ] {
        rejects!(
            verify(&flipped(bytes.clone(), at), collateral()),
            TdxError::QeReportSignature { .. },
            "Signature is invalid for qe_report"
        );
    }
    // Another platform's PCK leaf (same CA, valid chain): its key did not sign the QE report.
    let other = platform_with(|p| p.ppid = [9; 16]);
    let blocks = pem_blocks(&platform().pck_chain_pem());
    let chain = pem_blocks(&other.pck_chain_pem())[0].clone() + &blocks[1] + &blocks[2];
    rejects!(
        verify(&quote_with_chain(platform(), &chain), collateral()),
        TdxError::QeReportSignature { .. },
        "Signature is invalid for qe_report"
    );
}

/// THREATS T13 requires QE_REPORT.REPORT_DATA[32..64] to be zero; dcap-qvl 0.7.1 compares only
/// the first 32 bytes, so Warden checks the rest itself.
#[test]
fn t13_upper_half_of_qe_report_data_must_be_zero() {
    let mut bound = [1u8; 64];
    let mut input = platform().attestation_key().to_vec();
    input.extend(0..32u8);
    bound[..32].copy_from_slice(&Sha256::digest(&input));
    let p = platform_with(|p| p.qe_report_data = Some(bound));
    assert_eq!(p.attestation_key(), platform().attestation_key());
    rejects!(
        verify(&default_td_quote(&p), collateral()),
        TdxError::QeReportData { .. },
        "bytes 32..64 are not zero"
    );
}

// ---------------------------------------------------------------- section 4: DCAP collateral

/// A change to the QE and the upstream text it must produce.
type QeChange = (fn(&mut PlatformProfile), &'static str);

#[test]
fn d1_forged_or_mismatched_qe() {
    let q = good_quote();
    // The QE identity expects another MRSIGNER.
    let c = collateral_with(|c| c.qe_mrsigner = [0x42; 32]);
    rejects!(
        verify(&q, &c),
        TdxError::QeIdentityMismatch { .. },
        "QE MRSIGNER mismatch"
    );
    // QE reports of a non-Intel enclave, a debug QE, another product, MISCSELECT, ATTRIBUTES.
    let qe_cases: [QeChange; 5] = [
        (|p| p.qe_mrsigner = [0x42; 32], "QE MRSIGNER mismatch"),
        (
            |p| p.qe_attributes[0] |= 0x02,
            "QE report validation failed: Debug mode is enabled",
        ),
        (|p| p.qe_isv_prod_id = 1, "QE ISVPRODID mismatch"),
        (|p| p.qe_miscselect = 1, "QE MISCSELECT mismatch"),
        (
            |p| p.qe_attributes[0] |= 0x08,
            "QE ATTRIBUTES mismatch at byte 0",
        ),
    ];
    for (change, text) in qe_cases {
        let p = platform_with(change);
        rejects!(
            verify(&default_td_quote(&p), collateral()),
            TdxError::QeIdentityMismatch { .. },
            text
        );
    }
    // An unsigned (re-signed elsewhere, or edited) QE identity.
    let (json, signature) = collateral().qe_identity().unwrap();
    let widened = json.replace("\"mrsigner\":\"DC9E2A7C", "\"mrsigner\":\"4242427C");
    assert_ne!(widened, json);
    let mut c = collateral().clone();
    c.set_qe_identity(&widened, &signature);
    rejects!(
        verify(&q, &c),
        TdxError::QeIdentitySignature { .. },
        "Signature is invalid for qe_identity"
    );
    c.set_qe_identity(&widened, &foreign().sign_qe_identity(&widened));
    rejects!(
        verify(&q, &c),
        TdxError::QeIdentitySignature { .. },
        "Signature is invalid for qe_identity"
    );
    // The SGX QE's identity (id "QE") for a TD quote: selection wants TD_QE; dcap-qvl refuses
    // it too.
    let c = collateral_with(|c| c.qe_identity_id = "QE".to_owned());
    assert_eq!(
        err(verify(&q, &c)),
        TdxError::MissingCollateral {
            fmspc: FMSPC.to_owned(),
            item: "qe-identity"
        }
    );
    rejects!(
        verify_unselected(&q, &c),
        TdxError::QeIdentityMismatch { .. },
        "Unsupported QE Identity id/version"
    );
    // TD_QE identity of an unsupported version.
    let c = collateral_with(|c| c.qe_identity_version = 1);
    rejects!(
        verify(&q, &c),
        TdxError::QeIdentityMismatch { .. },
        "Unsupported QE Identity id/version"
    );
}

#[test]
fn d2_qe_tcb() {
    let p = platform_with(|p| p.qe_isv_svn = 3);
    rejects!(
        verify(&default_td_quote(&p), collateral()),
        TdxError::QeTcb { .. },
        "QE ISVSVN 3 is below minimum required 4"
    );
    let c = collateral_with(|c| c.qe_levels.clear());
    rejects!(
        verify(&good_quote(), &c),
        TdxError::QeTcb { .. },
        "No TCB levels found in QE Identity"
    );
    // A revoked QE level: the converged status is Revoked.
    let c = CollateralProfile::valid_at(NOW).with_qe_status(status::REVOKED, &[]);
    rejects!(
        verify(&good_quote(), &hierarchy().collateral(&c).unwrap()),
        TdxError::TcbRevoked { .. },
        "TCB status is invalid: Revoked"
    );
    // An out-of-date QE is a status, for policy.
    let c =
        CollateralProfile::valid_at(NOW).with_qe_status(status::OUT_OF_DATE, &["INTEL-SA-00615"]);
    let claims = verify(&good_quote(), &hierarchy().collateral(&c).unwrap())
        .unwrap()
        .claims;
    assert_eq!(claims.qe_tcb_status, "OutOfDate");
    assert_eq!(claims.tcb_status, "OutOfDate");
    assert_eq!(claims.advisory_ids, ["INTEL-SA-00615"]);
}

fn with_status(profile: CollateralProfile) -> SimCollateral {
    hierarchy().collateral(&profile).unwrap()
}

/// D3: a status other than Revoked is not a verifier error; policy judges `tcb_status` and
/// `advisory_ids`.
#[test]
fn d3_statuses_are_claims_for_policy() {
    let advisories = ["INTEL-SA-00837", "INTEL-SA-01036"];
    for status in [
        status::OUT_OF_DATE,
        status::OUT_OF_DATE_CONFIGURATION_NEEDED,
        status::SW_HARDENING_NEEDED,
        status::CONFIGURATION_NEEDED,
        status::CONFIGURATION_AND_SW_HARDENING_NEEDED,
    ] {
        let c =
            with_status(CollateralProfile::valid_at(NOW).with_platform_status(status, &advisories));
        let claims = verify(&good_quote(), &c).unwrap().claims;
        assert_eq!(claims.tcb_status, status);
        assert_eq!(claims.advisory_ids, advisories);
        assert_eq!(claims.qe_tcb_status, "UpToDate");
    }
    // A platform below the UpToDate level matches the OutOfDate one, with its advisories.
    let p = platform_with(|p| p.cpu_svn = [2, 2, 2, 2, 3, 1, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0]);
    let claims = verify(&default_td_quote(&p), collateral()).unwrap().claims;
    assert_eq!(claims.tcb_status, "OutOfDate");
    assert_eq!(claims.tcb_date, "2024-03-13T00:00:00Z");
    assert_eq!(claims.advisory_ids.len(), 5);
    // TD 1.5 launched on an out-of-date module, running on an up-to-date one.
    let td = TdProfile {
        tee_tcb_svn: [4, 1, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        ..TdProfile::new(QuoteVersion::V5Td15)
    };
    let claims = verify(&quote(&td), collateral()).unwrap().claims;
    assert_eq!(claims.tcb_status, "TDRelaunchAdvised");
}

#[test]
fn d3_revoked_is_an_error() {
    let c = with_status(
        CollateralProfile::valid_at(NOW).with_platform_status(status::REVOKED, &["INTEL-SA-00001"]),
    );
    let e = rejects!(verify(&good_quote(), &c), TdxError::TcbRevoked { .. });
    assert_eq!(upstream(&e), "TCB status is invalid: Revoked");
    // The TDX module's level revoked.
    let c = with_status(CollateralProfile::valid_at(NOW).with_module_status(status::REVOKED, &[]));
    rejects!(
        verify(&good_quote(), &c),
        TdxError::TcbRevoked { .. },
        "TCB status is invalid: Revoked"
    );
    // A status string nobody knows: the TCB info does not even parse.
    let c = collateral_with(|c| c.tcb_levels[0].tcb_status = "Bogus".to_owned());
    assert!(matches!(
        err(verify(&good_quote(), &c)),
        TdxError::CollateralFormat {
            what: "tcb-info",
            ..
        }
    ));
}

/// A known status where Intel's QVL does not admit it (TDRelaunchAdvised in a TCB info level,
/// SWHardeningNeeded for a QE or a TDX module) is rejected by dcap-qvl as "Unrecognized TCB
/// status": [`TdxError::UnrecognizedTcbStatus`].
#[test]
fn d3_status_not_valid_for_its_structure() {
    let cases = [
        (
            CollateralProfile::valid_at(NOW).with_platform_status("TDRelaunchAdvised", &[]),
            "Unrecognized TCB status TDRelaunchAdvised in TCB Info",
        ),
        (
            CollateralProfile::valid_at(NOW).with_qe_status(status::SW_HARDENING_NEEDED, &[]),
            "Unrecognized TCB status SWHardeningNeeded in QE Identity",
        ),
        (
            CollateralProfile::valid_at(NOW).with_module_status(status::SW_HARDENING_NEEDED, &[]),
            "Unrecognized TCB status SWHardeningNeeded in TDX module identity",
        ),
    ];
    for (profile, text) in cases {
        rejects!(
            verify(&good_quote(), &with_status(profile)),
            TdxError::UnrecognizedTcbStatus { .. },
            text
        );
    }
}

#[test]
fn d4_tcb_component_counts() {
    let c = collateral_with(|c| {
        for level in &mut c.tcb_levels {
            level.tdx_components.truncate(15);
        }
    });
    rejects!(
        verify(&good_quote(), &c),
        TdxError::TcbComponents { .. },
        "TDX component count mismatch: expected 16, got 15"
    );
    let c = collateral_with(|c| {
        for level in &mut c.tcb_levels {
            level.sgx_components.push(0);
        }
    });
    rejects!(
        verify(&good_quote(), &c),
        TdxError::TcbComponents { .. },
        "SGX component count mismatch: expected 16, got 17"
    );
    // Only the first level short: still refused, not skipped.
    let c = collateral_with(|c| c.tcb_levels[0].tdx_components.truncate(3));
    rejects!(
        verify(&good_quote(), &c),
        TdxError::TcbComponents { .. },
        "TDX component count mismatch"
    );
}

#[test]
fn d5_forged_tcb_info() {
    let q = good_quote();
    let (json, signature) = collateral().tcb_info().unwrap();
    let rolled = json.replace(
        "\"tcbEvaluationDataNumber\":18",
        "\"tcbEvaluationDataNumber\":19",
    );
    assert_ne!(rolled, json);
    // Edited content under Intel's signature.
    let mut c = collateral().clone();
    c.set_tcb_info(&rolled, &signature);
    rejects!(
        verify(&q, &c),
        TdxError::TcbInfoSignature { .. },
        "Signature is invalid for tcb_info"
    );
    // Signed by another hierarchy's TCB Signing key.
    c.set_tcb_info(&rolled, &foreign().sign_tcb_info(&rolled));
    rejects!(
        verify(&q, &c),
        TdxError::TcbInfoSignature { .. },
        "Signature is invalid for tcb_info"
    );
    // The untouched content with a flipped signature bit.
    let mut bad = signature.clone();
    bad[40] ^= 1;
    c.set_tcb_info(json, &bad);
    rejects!(
        verify(&q, &c),
        TdxError::TcbInfoSignature { .. },
        "Signature is invalid for tcb_info"
    );
    // Re-signed by the hierarchy's key, the same edit verifies.
    c.set_tcb_info(&rolled, &hierarchy().sign_tcb_info(&rolled));
    assert_eq!(
        verify(&q, &c).unwrap().claims.tcb_evaluation_data_number,
        18,
        "the lower of TCB info (19) and QE identity (18)"
    );
}

#[test]
fn d5_tcb_info_dates() {
    let q = good_quote();
    let next_update = UnixTime(NOW.0 + 30 * DAY);
    // Past nextUpdate: selection refuses it, naming the FMSPC.
    assert_eq!(
        err(verify_at(&q, collateral(), UnixTime(next_update.0 + 1))),
        TdxError::StaleCollateral {
            fmspc: FMSPC.to_owned(),
            item: "tcb-info",
            next_update,
        }
    );
    // Selected while fresh, verified later: dcap-qvl's own check.
    assert_eq!(
        verify_later(&q, collateral(), UnixTime(next_update.0 + 1)),
        TdxError::CollateralExpired {
            what: "tcb-info",
            upstream: "TCBInfo expired".to_owned()
        }
    );
    // nextUpdate itself is still valid.
    verify_at(&q, collateral(), UnixTime(next_update.0 - 1)).unwrap();
    // Not yet valid.
    let issue_date = UnixTime(NOW.0 - DAY);
    let not_yet = TdxError::CollateralNotYetValid {
        fmspc: FMSPC.to_owned(),
        item: "tcb-info",
        issue_date,
    };
    assert_eq!(
        err(verify_at(&q, collateral(), UnixTime(issue_date.0 - 1))),
        not_yet
    );
    assert_eq!(
        verify_later(&q, collateral(), UnixTime(issue_date.0 - 1)),
        not_yet
    );
    // Issued in the future.
    let future = UnixTime(NOW.0 + 3600);
    let c = collateral_with(|c| c.issue_date = future);
    assert_eq!(
        err(verify(&q, &c)),
        TdxError::CollateralNotYetValid {
            fmspc: FMSPC.to_owned(),
            item: "tcb-info",
            issue_date: future,
        }
    );
    // The QE identity likewise.
    let c = collateral_with(|c| c.qe_next_update = UnixTime(NOW.0 - 1));
    assert_eq!(
        err(verify(&q, &c)),
        TdxError::StaleCollateral {
            fmspc: FMSPC.to_owned(),
            item: "qe-identity",
            next_update: UnixTime(NOW.0 - 1),
        }
    );
    let c = collateral_with(|c| c.qe_next_update = UnixTime(NOW.0 + 3600));
    assert_eq!(
        verify_later(&q, &c, UnixTime(NOW.0 + 7200)),
        TdxError::CollateralExpired {
            what: "qe-identity",
            upstream: "QE Identity expired".to_owned()
        }
    );
}

#[test]
fn d5_wrong_kind_of_tcb_info() {
    let q = good_quote();
    // An SGX TCB info for the same FMSPC: selection looks for the TDX one; dcap-qvl refuses it.
    let c = collateral_with(|c| c.tcb_info_id = "SGX".to_owned());
    assert_eq!(
        err(verify(&q, &c)),
        TdxError::MissingCollateral {
            fmspc: FMSPC.to_owned(),
            item: "tcb-info"
        }
    );
    rejects!(
        verify_unselected(&q, &c),
        TdxError::TcbInfoType { .. },
        "TDX quote with non-TDX TCB info"
    );
    // A TDX TCB info of version 2.
    let c = collateral_with(|c| c.tcb_info_version = 2);
    rejects!(
        verify(&q, &c),
        TdxError::TcbInfoType { .. },
        "TDX quote with non-TDX TCB info"
    );
}

#[test]
fn d5_tcb_signing_certificate() {
    let q = good_quote();
    let c = collateral_with(|c| {
        c.tcb_signing_validity = Some((UnixTime(NOW.0 - 400 * DAY), UnixTime(NOW.0 - 1)));
    });
    rejects!(verify(&q, &c), TdxError::PckChain { .. }, "CertExpired");
    let c = collateral_with(|c| {
        c.tcb_signing_validity = Some((UnixTime(NOW.0 + 1), UnixTime(NOW.0 + 400 * DAY)));
    });
    rejects!(verify(&q, &c), TdxError::PckChain { .. }, "CertNotValidYet");
    // D9: revoked by the root CA CRL.
    let serial = hierarchy().tcb_signing_serial().to_vec();
    let c = collateral_with(|c| c.revoked_ca_serials = vec![serial]);
    rejects!(verify(&q, &c), TdxError::Revoked { .. }, "CertRevoked");
}

#[test]
fn d6_collateral_for_another_platform() {
    let q = good_quote();
    let other = [0x50, 0x80, 0x6F, 0, 0, 0];
    // Only another platform's TCB info: selection finds none for the quote's FMSPC.
    let c = collateral_with(|c| c.fmspc = other);
    assert_eq!(
        err(verify(&q, &c)),
        TdxError::MissingCollateral {
            fmspc: FMSPC.to_owned(),
            item: "tcb-info"
        }
    );
    // Handed over anyway, dcap-qvl compares the FMSPCs.
    let e = rejects!(verify_unselected(&q, &c), TdxError::FmspcMismatch { .. });
    assert_eq!(upstream(&e), "Fmspc mismatch");
    // Both TCB infos in the set: the quote's is selected.
    let mut set = set_of(collateral()).unwrap();
    for item in CollateralItem::parse_file(&c.tcb_info_response).unwrap() {
        assert_eq!(set.add(item), AddOutcome::Added);
    }
    let v = verify_with(hierarchy().root_ca_der(), &q, &set, NOW, NOW).unwrap();
    assert_eq!(v.claims.fmspc, FMSPC);
    // A platform of the other FMSPC under the default collateral.
    let p = platform_with(|p| p.fmspc = other);
    assert_eq!(
        err(verify(&default_td_quote(&p), collateral())),
        TdxError::MissingCollateral {
            fmspc: "50806f000000".to_owned(),
            item: "tcb-info"
        }
    );
}

/// THREATS D6 asks for the TCB info's PCE-ID to equal the PCK certificate's (Intel QVL:
/// STATUS_TCB_INFO_MISMATCH). dcap-qvl 0.7.1 reads `pceId` but never compares it, so Warden does.
#[test]
fn d6_tcb_info_for_another_pce_is_refused() {
    let c = collateral_with(|c| c.pce_id = [0x01, 0x00]);
    assert_eq!(
        verify(&good_quote(), &c).unwrap_err(),
        TdxError::PceIdMismatch {
            tcb_info: "0100".to_owned(),
            pck: "0000".to_owned()
        }
    );
}

/// D7: a signed but older TCB info (or QE identity) never replaces a newer one, whatever the
/// order the items arrive in; the newer evaluation decides the status.
#[test]
fn d7_older_collateral_never_replaces_newer() {
    let q = good_quote();
    // Intel's evaluation 19 moves the platform's level to OutOfDate.
    let mut newer = CollateralProfile::valid_at(NOW)
        .with_platform_status(status::OUT_OF_DATE, &["INTEL-SA-09999"]);
    newer.tcb_evaluation_data_number = 19;
    newer.qe_tcb_evaluation_data_number = 19;
    let newer = with_status(newer);
    // Evaluation 18, still within its validity, replayed by a malicious PCCS; re-served with a
    // later issueDate changes nothing (the evaluation number decides first).
    let mut older = CollateralProfile::valid_at(NOW);
    older.issue_date = NOW;
    older.qe_issue_date = NOW;
    let older = with_status(older);
    let item = |bytes: &[u8]| CollateralItem::parse_file(bytes).unwrap().pop().unwrap();

    let root = hierarchy().root_ca_der();
    let mut set = set_of(&newer).unwrap();
    for bytes in [&older.tcb_info_response, &older.qe_identity_response] {
        assert_eq!(set.add(item(bytes)), AddOutcome::KeptExisting);
    }
    let claims = verify_with(root, &q, &set, NOW, NOW).unwrap().claims;
    assert_eq!(claims.tcb_status, "OutOfDate");
    assert_eq!(claims.advisory_ids, ["INTEL-SA-09999"]);
    assert_eq!(claims.tcb_evaluation_data_number, 19);

    // The other order: the newer replaces the older.
    let mut set = set_of(&older).unwrap();
    let claims = verify_with(root, &q, &set, NOW, NOW).unwrap().claims;
    assert_eq!(claims.tcb_status, "UpToDate");
    for bytes in [&newer.tcb_info_response, &newer.qe_identity_response] {
        assert_eq!(set.add(item(bytes)), AddOutcome::Replaced);
    }
    let claims = verify_with(root, &q, &set, NOW, NOW).unwrap().claims;
    assert_eq!(claims.tcb_status, "OutOfDate");
    assert_eq!(claims.tcb_evaluation_data_number, 19);

    // Once the newer one is stale, it is refused, not silently swapped for the older one.
    let after = UnixTime(NOW.0 + 30 * DAY + 1);
    assert_eq!(
        set.select(&Quote::parse(&q).unwrap().pck().unwrap(), after)
            .unwrap_err(),
        TdxError::StaleCollateral {
            fmspc: FMSPC.to_owned(),
            item: "tcb-info",
            next_update: UnixTime(NOW.0 + 30 * DAY),
        }
    );
}

#[test]
fn d8_pck_chain_tricks() {
    let blocks = pem_blocks(&platform().pck_chain_pem());
    assert_eq!(blocks.len(), 3);
    let (leaf, ca, root) = (&blocks[0], &blocks[1], &blocks[2]);
    // A CA certificate used as the PCK leaf.
    let p = platform_with(|p| p.pck_leaf_is_ca = true);
    rejects!(
        verify(&default_td_quote(&p), collateral()),
        TdxError::PckChain { .. },
        "CaUsedAsEndEntity"
    );
    // Two or four certificates, text after the chain: refused by the parser.
    let parse_err =
        |chain: String| err(verify(&quote_with_chain(platform(), &chain), collateral()));
    assert_eq!(
        parse_err(leaf.clone() + ca),
        TdxError::PckChainEncoding {
            reason: "fewer than 3 certificates (PCK, PCK CA, root)"
        }
    );
    assert_eq!(
        parse_err(leaf.clone() + ca + root + root),
        TdxError::PckChainEncoding {
            reason: "more than 3 certificates (PCK, PCK CA, root)"
        }
    );
    assert_eq!(
        parse_err(leaf.clone() + ca + root + "trailing"),
        TdxError::PckChainEncoding {
            reason: "text outside PEM blocks"
        }
    );
    // Without the intermediate: no path to the root.
    rejects!(
        verify(
            &quote_with_chain(platform(), &(leaf.clone() + root + root)),
            collateral()
        ),
        TdxError::PckChain { .. },
        "UnknownIssuer"
    );
    // Out of order: the first certificate is read as the PCK leaf, and is not one.
    assert!(matches!(
        err(verify(
            &quote_with_chain(platform(), &(ca.clone() + leaf + root)),
            collateral()
        )),
        TdxError::Pck(_)
    ));
    // Ending in another certificate than the pinned root.
    let tcb_signing = pem_blocks(&hierarchy().tcb_signing_chain_pem())[0].clone();
    assert_eq!(
        err(verify(
            &quote_with_chain(platform(), &(leaf.clone() + ca + &tcb_signing)),
            collateral()
        )),
        TdxError::UntrustedRoot { chain: "pck-chain" }
    );
    // A leaf of another hierarchy's CA (same names) under this hierarchy's CA and root.
    let foreign_leaf = pem_blocks(&foreign_platform().pck_chain_pem())[0].clone();
    rejects!(
        verify(
            &quote_with_chain(foreign_platform(), &(foreign_leaf + ca + root)),
            collateral()
        ),
        TdxError::PckChain { .. },
        "InvalidSignatureForPublicKey"
    );
    // A PCK certificate outside its validity.
    let p = platform_with(|p| p.pck_not_after = UnixTime(NOW.0 - 1));
    rejects!(
        verify(&default_td_quote(&p), collateral()),
        TdxError::PckChain { .. },
        "CertExpired"
    );
    let p = platform_with(|p| p.pck_not_before = UnixTime(NOW.0 + 1));
    rejects!(
        verify(&default_td_quote(&p), collateral()),
        TdxError::PckChain { .. },
        "CertNotValidYet"
    );
}

/// A1/D8: evidence of a hierarchy the verifier does not trust.
#[test]
fn d8_untrusted_root() {
    let ours = good_quote();
    let theirs = foreign_platform()
        .quote(&TdProfile::default(), &REPORT_DATA)
        .unwrap();
    let their_collateral = foreign()
        .collateral(&CollateralProfile::valid_at(NOW))
        .unwrap();
    // Their quote and collateral, our root.
    assert_eq!(
        err(verify(&theirs, &their_collateral)),
        TdxError::UntrustedRoot { chain: "pck-chain" }
    );
    // Our quote and collateral, a verifier pinning their root.
    assert_eq!(
        err(verify_with(
            foreign().root_ca_der(),
            &ours,
            &set_of(collateral()).unwrap(),
            NOW,
            NOW
        )),
        TdxError::UntrustedRoot { chain: "pck-chain" }
    );
    // Our quote, their collateral.
    assert_eq!(
        err(verify(&ours, &their_collateral)),
        TdxError::UntrustedRoot {
            chain: "tcb-signing-chain"
        }
    );
    // Our collateral but their PCK CA's CRL and chain.
    let mut mixed = collateral().clone();
    mixed.pck_crl_der = their_collateral.pck_crl_der.clone();
    mixed.pck_crl_issuer_chain_pem = their_collateral.pck_crl_issuer_chain_pem;
    assert_eq!(
        err(verify(&ours, &mixed)),
        TdxError::UntrustedRoot {
            chain: "pck-crl-issuer-chain"
        }
    );
}

#[test]
fn d9_revocation() {
    let q = good_quote();
    // The PCK certificate in the PCK CRL (among others).
    let serial = platform().pck_serial().to_vec();
    let c = collateral_with(|c| c.revoked_pck_serials = vec![vec![0x11; 20], serial]);
    rejects!(verify(&q, &c), TdxError::Revoked { .. }, "CertRevoked");
    // Other serials do not matter.
    let c = collateral_with(|c| c.revoked_pck_serials = vec![vec![0x11; 20]]);
    verify(&q, &c).unwrap();
    // The PCK CA in the root CA CRL.
    let serial = hierarchy().pck_ca_serial(PckCaKind::Platform).to_vec();
    let c = collateral_with(|c| c.revoked_ca_serials = vec![serial]);
    rejects!(verify(&q, &c), TdxError::Revoked { .. }, "CertRevoked");
}

#[test]
fn d9_forged_crls() {
    let q = good_quote();
    // Signatures that do not verify.
    let mut c = collateral().clone();
    let last = c.pck_crl_der.len() - 1;
    c.pck_crl_der[last] ^= 1;
    rejects!(
        verify(&q, &c),
        TdxError::Crl {
            what: "pck-crl",
            ..
        },
        "InvalidCrlSignatureForPublicKey"
    );
    let mut c = collateral().clone();
    let last = c.root_ca_crl_der.len() - 1;
    c.root_ca_crl_der[last] ^= 1;
    rejects!(
        verify(&q, &c),
        TdxError::Crl {
            what: "root-ca-crl",
            ..
        },
        "InvalidCrlSignatureForPublicKey"
    );
    // Issued by another hierarchy's CAs under the same names.
    let (from, until) = (UnixTime(NOW.0 - DAY), UnixTime(NOW.0 + 30 * DAY));
    let mut c = collateral().clone();
    c.pck_crl_der = foreign()
        .issue_pck_crl(PckCaKind::Platform, &[], from, until, 1)
        .unwrap();
    rejects!(
        verify(&q, &c),
        TdxError::Crl {
            what: "pck-crl",
            ..
        },
        "InvalidCrlSignatureForPublicKey"
    );
    let mut c = collateral().clone();
    c.root_ca_crl_der = foreign().issue_root_crl(&[], from, until, 1).unwrap();
    rejects!(
        verify(&q, &c),
        TdxError::Crl {
            what: "root-ca-crl",
            ..
        },
        "InvalidCrlSignatureForPublicKey"
    );
    // The CRL of the other PCK CA: selection wants the leaf's issuer's; dcap-qvl cannot tell
    // the leaf's status from it.
    let c = collateral_with(|c| c.pck_crl_issuer = PckCaKind::Processor);
    assert_eq!(
        err(verify(&q, &c)),
        TdxError::MissingCollateral {
            fmspc: FMSPC.to_owned(),
            item: "pck-crl"
        }
    );
    rejects!(
        verify_unselected(&q, &c),
        TdxError::Crl {
            what: "pck-crl",
            ..
        },
        "UnknownRevocationStatus"
    );
}

#[test]
fn d9_crl_dates() {
    let q = good_quote();
    // An expired PCK CRL: refused at selection, and by dcap-qvl when selected earlier.
    let c = collateral_with(|c| c.crl_next_update = UnixTime(NOW.0 - 1));
    assert_eq!(
        err(verify(&q, &c)),
        TdxError::StaleCollateral {
            fmspc: FMSPC.to_owned(),
            item: "pck-crl",
            next_update: UnixTime(NOW.0 - 1),
        }
    );
    let c = collateral_with(|c| c.crl_next_update = UnixTime(NOW.0 + 3600));
    rejects!(
        Err(verify_later(&q, &c, UnixTime(NOW.0 + 7200))),
        TdxError::CollateralExpired {
            what: "pck-crl",
            ..
        },
        "CrlExpired"
    );
    // A PCK CRL not yet issued.
    let c = collateral_with(|c| c.crl_this_update = UnixTime(NOW.0 + 60));
    assert_eq!(
        err(verify(&q, &c)),
        TdxError::CollateralNotYetValid {
            fmspc: FMSPC.to_owned(),
            item: "pck-crl",
            issue_date: UnixTime(NOW.0 + 60),
        }
    );
    // The root CA CRL likewise.
    let c = collateral_with(|c| c.root_crl_next_update = UnixTime(NOW.0 - 1));
    assert_eq!(
        err(verify(&q, &c)),
        TdxError::StaleCollateral {
            fmspc: FMSPC.to_owned(),
            item: "root-ca-crl",
            next_update: UnixTime(NOW.0 - 1),
        }
    );
    let c = collateral_with(|c| c.root_crl_next_update = UnixTime(NOW.0 + 3600));
    rejects!(
        Err(verify_later(&q, &c, UnixTime(NOW.0 + 7200))),
        TdxError::CollateralExpired {
            what: "root-ca-crl",
            ..
        },
        "CrlExpired"
    );
}

#[test]
fn d10_certification_data_other_than_a_pck_chain() {
    // Plain PPID (1), RSA-2048 (2) and RSA-3072 (3) encrypted PPID, and an unknown type.
    for cert_data_type in [1, 2, 3, 4, 7] {
        let p = platform_with(|p| p.cert_data_type = cert_data_type);
        assert_eq!(
            err(verify(&default_td_quote(&p), collateral())),
            TdxError::CertDataType(cert_data_type)
        );
    }
}

// ---------------------------------------------------------------- R2: parser robustness

#[test]
fn r2_every_truncation() {
    for version in ALL_VERSIONS {
        let bytes = quote(&TdProfile::new(version));
        Quote::parse(&bytes).unwrap();
        // The collateral is parsed once: each prefix stops at the parser.
        let set = set_of(collateral()).unwrap();
        for len in 0..bytes.len() {
            let e = err(verify_with(
                hierarchy().root_ca_der(),
                &bytes[..len],
                &set,
                NOW,
                NOW,
            ));
            assert!(
                matches!(e, TdxError::Truncated { .. }),
                "{version:?}[..{len}]: {e:?}"
            );
            assert_eq!(Quote::parse(&bytes[..len]).unwrap_err(), e);
        }
    }
}

#[test]
fn r2_trailing_bytes_and_padding() {
    for version in ALL_VERSIONS {
        let bytes = quote(&TdProfile::new(version));
        // Zero padding: the strict parser refuses it; the verifier's parser drops it.
        let mut padded = bytes.clone();
        padded.extend_from_slice(&[0; 70]);
        assert_eq!(
            Quote::parse(&padded).unwrap_err(),
            TdxError::TrailingBytes {
                what: "quote signature data",
                count: 70
            }
        );
        let v = verify(&padded, collateral()).unwrap();
        assert_eq!(v.quote.as_bytes(), bytes);
        // Anything non-zero after the quote.
        for tail in [&[1u8][..], &[0, 0, 7], b"extra bytes"] {
            let mut trailing = bytes.clone();
            trailing.extend_from_slice(tail);
            assert_eq!(
                err(verify(&trailing, collateral())),
                TdxError::TrailingBytes {
                    what: "quote signature data",
                    count: tail.len()
                },
                "{version:?}"
            );
        }
    }
}

#[test]
fn r2_lengths_past_their_structure() {
    for version in ALL_VERSIONS {
        let bytes = quote(&TdProfile::new(version));
        let l = Layout::of(&bytes);
        let run = |change: &dyn Fn(&mut Vec<u8>)| {
            let mut q = bytes.clone();
            change(&mut q);
            err(verify(&q, collateral()))
        };
        let sig_len = bytes.len() - l.signature;
        let cert_len = bytes.len() - l.qe_report;
        assert_eq!(
            run(&|q| put_u32(q, l.sig_len, sig_len + 1)),
            TdxError::Truncated {
                what: "quote signature data",
                need: sig_len + 1,
                got: sig_len
            }
        );
        assert_eq!(
            run(&|q| put_u32(q, l.sig_len, u32::MAX as usize)),
            TdxError::Truncated {
                what: "quote signature data",
                need: u32::MAX as usize,
                got: sig_len
            }
        );
        // One byte short: the strict parser sees it trailing; for the verifier's parser the
        // byte left out (the chain's NUL) is zero padding, and the data inside is one short.
        let mut q = bytes.clone();
        put_u32(&mut q, l.sig_len, sig_len - 1);
        assert_eq!(
            Quote::parse(&q).unwrap_err(),
            TdxError::TrailingBytes {
                what: "quote signature data",
                count: 1
            }
        );
        assert_eq!(
            err(verify(&q, collateral())),
            TdxError::Truncated {
                what: "QE certification data",
                need: cert_len,
                got: cert_len - 1
            }
        );
        assert_eq!(
            run(&|q| put_u32(q, l.cert_len, cert_len + 1)),
            TdxError::Truncated {
                what: "QE certification data",
                need: cert_len + 1,
                got: cert_len
            }
        );
        assert_eq!(
            run(&|q| put_u32(q, l.cert_len, cert_len - 1)),
            TdxError::TrailingBytes {
                what: "QE certification data",
                count: 1
            }
        );
        assert!(matches!(
            run(&|q| q[l.auth_len..l.auth_len + 2].copy_from_slice(&u16::MAX.to_le_bytes())),
            TdxError::Truncated {
                what: "QE authentication data",
                need: 65_535,
                ..
            }
        ));
        let pck_len = bytes.len() - l.pck;
        assert_eq!(
            run(&|q| put_u32(q, l.pck_len, pck_len + 1)),
            TdxError::Truncated {
                what: "PCK certificate chain",
                need: pck_len + 1,
                got: pck_len
            }
        );
        assert_eq!(
            run(&|q| put_u32(q, l.pck_len, pck_len - 1)),
            TdxError::TrailingBytes {
                what: "PCK certificate chain",
                count: 1
            }
        );
        // Certification data types: the outer one must be 6, the inner one 5 (D10).
        assert_eq!(run(&|q| q[l.cert_type] = 5), TdxError::QeCertDataType(5));
        assert_eq!(run(&|q| q[l.pck_type] = 6), TdxError::CertDataType(6));
    }
    // The v5 body descriptor.
    let bytes = quote(&TdProfile::new(QuoteVersion::V5Td15));
    let mut q = bytes.clone();
    q[48] = 4;
    assert_eq!(
        err(verify(&q, collateral())),
        TdxError::UnsupportedBodyType(4)
    );
    let mut q = bytes;
    put_u32(&mut q, 50, 584);
    assert_eq!(
        err(verify(&q, collateral())),
        TdxError::BodySize {
            body_type: 3,
            size: 584,
            expected: 648
        }
    );
}
