//! `CollateralItem::parse_file` on arbitrary bytes; whatever parses must round-trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use warden_evidence::tdx::CollateralItem;

fuzz_target!(|data: &[u8]| {
    if let Ok(items) = CollateralItem::parse_file(data) {
        for item in items {
            let again = CollateralItem::parse_file(&item.to_file_bytes());
            assert_eq!(again.ok(), Some(vec![item]));
        }
    }
});
