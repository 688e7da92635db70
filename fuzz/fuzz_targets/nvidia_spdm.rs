//! `SpdmReport::parse` on arbitrary bytes, and the typed opaque fields of whatever parses.
#![no_main]

use libfuzzer_sys::fuzz_target;
use warden_evidence::nvidia::SpdmReport;

fuzz_target!(|data: &[u8]| {
    if let Ok(report) = SpdmReport::parse(data) {
        let opaque = report.opaque();
        let _ = (
            opaque.driver_version(),
            opaque.vbios_version(),
            opaque.feature_flag(),
        );
        let _ = (
            opaque.measurement_counts(),
            opaque.switch_pdis(),
            report.signed_bytes(),
        );
    }
});
