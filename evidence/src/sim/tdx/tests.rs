//! Tests of the simulated TDX evidence: dcap-qvl verifies it, and its layouts match Intel's
//! real quotes, certificates, CRLs and PCS responses in `shared/vectors/tdx`.

use dcap_qvl::verify::{QuoteVerifier, VerifiedReport};

use super::*;

/// 2026-02-20T00:00:00Z, the verification time of the real EMR vectors.
const NOW: UnixTime = UnixTime(1_771_545_600);

fn hierarchy() -> &'static IntelHierarchy {
    IntelHierarchy::shared()
}

/// dcap-qvl's verdict on `quote` under `collateral` at `now`, the error with its context chain.
fn verify_at(
    h: &IntelHierarchy,
    quote: &[u8],
    collateral: &SimCollateral,
    now: UnixTime,
) -> Result<VerifiedReport, String> {
    QuoteVerifier::new(h.root_ca_der().to_vec())
        .verify(quote, &collateral.to_dcap(), now.0 as u64)
        .map_err(|e| format!("{e:#}"))
}

/// A quote of the default platform for `td`, and default collateral at [`NOW`].
fn default_evidence(td: &TdProfile) -> (Vec<u8>, SimCollateral) {
    let h = hierarchy();
    let platform = h.platform(&PlatformProfile::default()).unwrap();
    let quote = platform.quote(td, &[0xA5; 64]).unwrap();
    let collateral = h.collateral(&CollateralProfile::valid_at(NOW)).unwrap();
    (quote, collateral)
}

fn assert_rejected(result: Result<VerifiedReport, String>, expected: &str) {
    match result {
        Ok(report) => panic!("accepted ({}), expected {expected:?}", report.status),
        Err(e) => assert!(e.contains(expected), "error {e:?} lacks {expected:?}"),
    }
}

#[test]
fn defaults_verify_up_to_date() {
    let h = hierarchy();
    for version in [QuoteVersion::V4, QuoteVersion::V5Td10, QuoteVersion::V5Td15] {
        let (quote, collateral) = default_evidence(&TdProfile::new(version));
        let report = verify_at(h, &quote, &collateral, NOW).unwrap();
        assert_eq!(report.status, "UpToDate", "{version:?}");
        assert!(report.advisory_ids.is_empty());
        assert_eq!(report.ppid, PlatformProfile::default().ppid);
        let td = report.report.as_td10().unwrap();
        assert_eq!(td.report_data, [0xA5; 64]);
        assert_eq!(td.mr_td, TdProfile::default().mr_td);
        assert_eq!(
            report.report.as_td15().is_some(),
            version == QuoteVersion::V5Td15
        );
    }
}
