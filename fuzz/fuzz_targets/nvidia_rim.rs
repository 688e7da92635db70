//! NVIDIA RIM XML: DTD refusal, parsing, structure and signature checks, and the C14N that feeds
//! the digest, all on arbitrary bytes. Verified against the pinned root at a fixed time.
#![no_main]

use libfuzzer_sys::fuzz_target;
use warden_evidence::UnixTime;
use warden_evidence::nvidia::rim::RimVerifier;

const ROOT: &[u8] = include_bytes!("../../verifier/roots/nvidia/corim_signing_root_ca.der");

fuzz_target!(|data: &[u8]| {
    let _ = RimVerifier::new(ROOT.to_vec()).verify(UnixTime(1_717_200_000), data);
});
