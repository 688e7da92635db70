//! Normalised TDX claims: what policy sees of a verified quote.
//!
//! Byte strings are lowercase hex, in the byte order of the quote; times are RFC 3339.

use serde::Serialize;

use crate::UnixTime;
use crate::tdx::{PckCa, PckInfo, Quote, TdAttributes};

/// The layout of the quote body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TdBody {
    /// TD 1.0 (v4, or v5 body type 2).
    Td10,
    /// TD 1.5 (v5 body type 3): adds TEE_TCB_SVN_2 and MRSERVICETD.
    Td15,
}

/// TD_ATTRIBUTES with its bits named (TDX Module ABI 348551-008US, Table 3.23).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TdAttributesClaims {
    /// The 8 bytes as in the quote, hex.
    pub raw: String,
    /// TUD.DEBUG (bit 0): the host can read and write the TD.
    pub debug: bool,
    /// TD profiling (TUD bits 6:4).
    pub profiling: bool,
    /// SEPT_VE_DISABLE (bit 28).
    pub sept_ve_disable: bool,
    /// MIGRATABLE (bit 29).
    pub migratable: bool,
    /// PKS (bit 30).
    pub pks: bool,
    /// KL (bit 31).
    pub kl: bool,
    /// PERFMON (bit 63).
    pub perfmon: bool,
    /// ICSSD (bit 16).
    pub icssd: bool,
    /// SERVTD_EXT (bit 17).
    pub servtd_ext: bool,
    /// LASS (bit 27).
    pub lass: bool,
    /// TPA (bit 62).
    pub tpa: bool,
    /// Whether any reserved bit is set (never true in a verified quote: dcap-qvl rejects it).
    pub reserved_bits_set: bool,
}

impl From<TdAttributes> for TdAttributesClaims {
    fn from(a: TdAttributes) -> Self {
        Self {
            raw: hex::encode(a.to_bytes()),
            debug: a.debug(),
            profiling: a.profiling(),
            sept_ve_disable: a.sept_ve_disable(),
            migratable: a.migratable(),
            pks: a.pks(),
            kl: a.kl(),
            perfmon: a.perfmon(),
            icssd: a.icssd(),
            servtd_ext: a.servtd_ext(),
            lass: a.lass(),
            tpa: a.tpa(),
            reserved_bits_set: a.has_reserved_bits(),
        }
    }
}

/// The normalised claims of a verified TD quote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TdxClaims {
    /// Quote version (4 or 5).
    pub version: u16,
    /// Body layout, `td10` or `td15`.
    pub body: TdBody,
    /// MRTD: the TD's initial contents (firmware), 48 bytes.
    pub mr_td: String,
    /// RTMR0 (firmware configuration).
    pub rtmr0: String,
    /// RTMR1 (OS loader, kernel).
    pub rtmr1: String,
    /// RTMR2 (OS: command line, initrd).
    pub rtmr2: String,
    /// RTMR3 (runtime, extended by the TD).
    pub rtmr3: String,
    /// MRSEAM: the TDX module.
    pub mr_seam: String,
    /// MRSIGNERSEAM: zero for Intel's TDX module.
    pub mr_signer_seam: String,
    /// SEAMATTRIBUTES, 8 bytes.
    pub seam_attributes: String,
    /// MRCONFIGID (host-chosen at TD creation).
    pub mr_config_id: String,
    /// MROWNER (host-chosen at TD creation).
    pub mr_owner: String,
    /// MROWNERCONFIG (host-chosen at TD creation).
    pub mr_owner_config: String,
    /// TD_ATTRIBUTES.
    pub td_attributes: TdAttributesClaims,
    /// XFAM, 8 bytes as in the quote.
    pub xfam: String,
    /// TEE_TCB_SVN, 16 bytes.
    pub tee_tcb_svn: String,
    /// TEE_TCB_SVN_2 (TD 1.5), otherwise `null`.
    pub tee_tcb_svn2: Option<String>,
    /// MRSERVICETD (TD 1.5), otherwise `null`.
    pub mr_service_td: Option<String>,
    /// REPORTDATA, 64 bytes.
    pub report_data: String,
    /// dcap-qvl's converged TCB status (`UpToDate`, `SWHardeningNeeded`, `OutOfDate`, ...).
    pub tcb_status: String,
    /// Intel security advisories of the matched TCB levels (platform, module and QE).
    pub advisory_ids: Vec<String>,
    /// The QE's own TCB status from the QE identity.
    pub qe_tcb_status: String,
    /// tcbDate of the matched platform TCB level (RFC 3339).
    pub tcb_date: String,
    /// FMSPC of the PCK certificate, 6 bytes.
    pub fmspc: String,
    /// PCE-ID of the PCK certificate, 2 bytes.
    pub pce_id: String,
    /// The CA that issued the PCK certificate.
    pub pck_ca: PckCa,
    /// The lower tcbEvaluationDataNumber of the TCB info and QE identity.
    pub tcb_evaluation_data_number: u32,
    /// The earliest nextUpdate/notAfter over all collateral (RFC 3339): re-verify before then.
    pub collateral_earliest_expiration: String,
    /// The latest issueDate/thisUpdate/notBefore over all collateral (RFC 3339).
    pub collateral_latest_issue: String,
    /// PCK flag: the platform can gain packages (Platform CA certificates only).
    pub dynamic_platform: Option<bool>,
    /// PCK flag: platform root keys are cached by Intel (Platform CA certificates only).
    pub cached_keys: Option<bool>,
    /// PCK flag: SMT is enabled (Platform CA certificates only).
    pub smt_enabled: Option<bool>,
}

fn flag(f: dcap_qvl::PckCertFlag) -> Option<bool> {
    match f {
        dcap_qvl::PckCertFlag::True => Some(true),
        dcap_qvl::PckCertFlag::False => Some(false),
        dcap_qvl::PckCertFlag::Undefined => None,
    }
}

fn rfc3339_secs(secs: u64) -> String {
    UnixTime(i64::try_from(secs).unwrap_or(i64::MAX)).to_string()
}

impl TdxClaims {
    pub(crate) fn new(quote: &Quote, pck: &PckInfo, claims: &dcap_qvl::QuoteClaims) -> Self {
        let body = quote.body();
        let [rtmr0, rtmr1, rtmr2, rtmr3] = body.rtmrs().map(hex::encode);
        let platform = &claims.platform;
        Self {
            version: quote.version(),
            body: if body.is_td15() {
                TdBody::Td15
            } else {
                TdBody::Td10
            },
            mr_td: hex::encode(body.mr_td()),
            rtmr0,
            rtmr1,
            rtmr2,
            rtmr3,
            mr_seam: hex::encode(body.mr_seam()),
            mr_signer_seam: hex::encode(body.mr_signer_seam()),
            seam_attributes: hex::encode(body.seam_attributes()),
            mr_config_id: hex::encode(body.mr_config_id()),
            mr_owner: hex::encode(body.mr_owner()),
            mr_owner_config: hex::encode(body.mr_owner_config()),
            td_attributes: body.td_attributes().into(),
            xfam: hex::encode(body.xfam()),
            tee_tcb_svn: hex::encode(body.tee_tcb_svn()),
            tee_tcb_svn2: body.tee_tcb_svn2().map(hex::encode),
            mr_service_td: body.mr_service_td().map(hex::encode),
            report_data: hex::encode(body.report_data()),
            tcb_status: claims.tcb.status.to_string(),
            advisory_ids: claims.tcb.advisory_ids.clone(),
            qe_tcb_status: claims.qe.tcb_level.tcb_status.to_string(),
            tcb_date: rfc3339_secs(platform.tcb_date_tag),
            fmspc: hex::encode(pck.fmspc),
            pce_id: hex::encode(pck.pce_id),
            pck_ca: pck.ca,
            tcb_evaluation_data_number: claims.tcb.eval_data_number,
            collateral_earliest_expiration: rfc3339_secs(claims.earliest_expiration_date),
            collateral_latest_issue: rfc3339_secs(claims.latest_issue_date),
            dynamic_platform: flag(platform.pck.dynamic_platform),
            cached_keys: flag(platform.pck.cached_keys),
            smt_enabled: flag(platform.pck.smt_enabled),
        }
    }
}
