//! OMS signature bundles: bundle JSON and base64, the unverified statement (in-toto JSON,
//! serialization, resources, shard names, subject digest), then verification against a fixed
//! P-256 key with the default rules, all on arbitrary bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use warden_evidence::UnixTime;
use warden_evidence::model::{ModelSigners, SignatureBundle, SigningRules, verify};

/// The public key of `shared/vectors/model-signing` (a valid P-256 SPKI).
const KEY: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAER+lOXeuQHD0FcQBeicIJs7Jqtfs1
BKHmbMBrmBckRk2808yhlKhsWn6P0+kpiH9yTsq1Ol1cqc/HTA2WzNjZsg==
-----END PUBLIC KEY-----
";

fuzz_target!(|data: &[u8]| {
    if let Ok(bundle) = SignatureBundle::parse(data) {
        let _ = bundle.statement();
        let mut signers = ModelSigners::new();
        let _ = signers.add_public_key_pem(KEY);
        let _ = verify(&bundle, &signers, &SigningRules::default(), UnixTime(1_767_225_600));
    }
});
