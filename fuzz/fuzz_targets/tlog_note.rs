//! Transparency-log notes: a signed note opened with a fixed verifier, the checkpoint body it
//! carries, and verifier key strings, all on arbitrary text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use warden_proto::tlog::{Checkpoint, NoteSigner, open_note, parse_verifier_key};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = parse_verifier_key(text);
    let _ = Checkpoint::parse(text);
    if let Ok(signer) = NoteSigner::from_seed("warden.fuzz", &[7; 32]) {
        let _ = open_note(text, &[signer.verifier()]);
    }
});
