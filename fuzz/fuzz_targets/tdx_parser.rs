//! `Quote::parse` on arbitrary bytes, and `pck()` of whatever parses.
#![no_main]

use libfuzzer_sys::fuzz_target;
use warden_evidence::tdx::Quote;

fuzz_target!(|data: &[u8]| {
    if let Ok(quote) = Quote::parse(data) {
        let _ = quote.pck();
    }
});
