//! OpenSSF Model Signing bundles: the golden vectors of `shared/vectors/model-signing` (made
//! by model-signing 1.1.1, read in place) and simulated bundles for every rejection, each
//! asserting the exact error.

#![allow(
    missing_docs,
    unreachable_pub,
    clippy::panic,
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::indexing_slicing
)]

mod common;

/// Named `model` so that `cargo test model` selects these tests.
mod model {

    use std::path::{Path, PathBuf};

    use base64::Engine as _;
    use serde_json::{Value, json};
    use sha2::{Digest, Sha256};
    use warden_evidence::UnixTime;
    use warden_evidence::model::{
        Curve, MAX_BUNDLE_LEN, ModelSignatureError as E, ModelSigners, SerializationMethod,
        SignatureBundle, Signer, SigningRules, VerificationMaterial, compare_manifest, key_hint,
        pae, verify,
    };
    use warden_evidence::sim::model::{
        LEAF_NOT_BEFORE, ModelCaOptions, ModelSigningCa, ModelSigningKey, sign_key_bundle,
    };
    use warden_proto::binding::{HashAlgorithm, ModelManifest, ModelResource, Serialization};

    use super::common::{self, read};

    /// 2026-01-01: after every signing time here.
    const NOW: UnixTime = UnixTime(1_767_225_600);

    const GOLDEN: [&str; 4] = [
        "tiny-model.sha256-files.sig",
        "tiny-model.sha256-shards4096.sig",
        "tiny-model.blake2-files.sig",
        "tiny-model.blake3-files.sig",
    ];

    fn vectors() -> Option<PathBuf> {
        common::vectors("model-signing")
    }

    fn text(dir: &Path, name: &str) -> String {
        String::from_utf8(read(dir, name)).unwrap()
    }

    fn golden_signers(dir: &Path) -> ModelSigners {
        let mut signers = ModelSigners::new();
        signers
            .add_public_key_pem(&text(dir, "ec-p256-public.pem"))
            .unwrap();
        signers
    }

    fn parse(bytes: &[u8]) -> Result<SignatureBundle, E> {
        SignatureBundle::parse(bytes)
    }

    fn hash(alg: HashAlgorithm, data: &[u8]) -> Vec<u8> {
        use blake2::Digest as _;
        match alg {
            HashAlgorithm::Sha256 => Sha256::digest(data).to_vec(),
            HashAlgorithm::Blake2b => blake2::Blake2b512::digest(data).to_vec(),
            HashAlgorithm::Blake3 => blake3::hash(data).as_bytes().to_vec(),
            _ => unreachable!(),
        }
    }

    /// The manifest of the model folder `model` with the parameters of `signed`: the file list
    /// comes from expected.json (files with `in_manifest`); each listed file is read and hashed
    /// (whole, or in shards). For the untampered model the whole-file digests must equal
    /// expected.json's.
    fn actual_manifest(dir: &Path, model: &str, signed: &ModelManifest) -> ModelManifest {
        let expected: Value = serde_json::from_slice(&read(dir, "expected.json")).unwrap();
        let alg = signed.hash_algorithm();
        let mut resources = Vec::new();
        for (name, file) in expected["files"].as_object().unwrap() {
            if !file["in_manifest"].as_bool().unwrap() {
                continue;
            }
            let data = read(&dir.join(model), name);
            if model == "tiny-model" {
                assert_eq!(
                    hex::encode(hash(alg, &data)),
                    file[alg.as_str()].as_str().unwrap(),
                    "{name}"
                );
            }
            match signed.serialization().shard_size() {
                None => resources.push(ModelResource::new(name.clone(), hash(alg, &data))),
                Some(size) => {
                    let size = usize::try_from(size.get()).unwrap();
                    for (i, chunk) in data.chunks(size).enumerate() {
                        let start = i * size;
                        let end = start + chunk.len();
                        resources.push(ModelResource::new(
                            format!("{name}:{start}:{end}"),
                            hash(alg, chunk),
                        ));
                    }
                }
            }
        }
        ModelManifest::new(signed.serialization(), alg, resources).unwrap()
    }

    #[test]
    fn golden_public_key_hint() {
        let Some(dir) = vectors() else { return };
        let expected: Value = serde_json::from_slice(&read(&dir, "expected.json")).unwrap();
        let mut signers = ModelSigners::new();
        let hint = signers
            .add_public_key_pem(&text(&dir, "ec-p256-public.pem"))
            .unwrap();
        assert_eq!(hint, expected["public_key_hint_sha256_of_pem"]);
        // The simulator's canonical PEM of the same key is byte-identical to OpenSSL's.
        let key = ModelSigningKey::from_pkcs8_pem(&text(&dir, "ec-p256-private.pem")).unwrap();
        assert_eq!(key.public_key_pem(), text(&dir, "ec-p256-public.pem"));
        assert_eq!(key.hint(), hint);
    }

    #[test]
    fn golden_bundles_verify_and_detect_tampering() {
        let Some(dir) = vectors() else { return };
        let expected: Value = serde_json::from_slice(&read(&dir, "expected.json")).unwrap();
        let signers = golden_signers(&dir);
        for name in GOLDEN {
            let want = &expected["bundles"][name];
            let bundle = parse(&read(&dir, name)).unwrap();
            let verified = verify(&bundle, &signers, &SigningRules::default(), NOW).unwrap();
            let st = &verified.statement;
            assert_eq!(
                hex::encode(st.subject_digest),
                want["subject_sha256"],
                "{name}"
            );
            assert_eq!(st.subject_name, want["subject_name"]);
            assert_eq!(
                st.manifest.resources().len() as u64,
                want["resource_count"].as_u64().unwrap()
            );
            assert_eq!(
                st.manifest.hash_algorithm().as_str(),
                want["serialization"]["hash_type"]
            );
            assert_eq!(
                st.manifest.serialization().method(),
                want["serialization"]["method"]
            );
            assert!(!st.allow_symlinks);
            let mut ignore = st.ignore_paths.clone();
            ignore.sort();
            assert_eq!(ignore, [".git", ".gitattributes", ".github", ".gitignore"]);
            assert_eq!(
                bundle.payload().len() as u64,
                want["payload_len"].as_u64().unwrap()
            );
            assert_eq!(
                st.payload_sha256,
                <[u8; 32]>::from(Sha256::digest(read(
                    &dir,
                    &name.replace(".sig", ".payload.json")
                )))
            );
            assert_eq!(
                bundle.signature().len() as u64,
                want["sig_der_len"].as_u64().unwrap()
            );
            assert!(
                pae(bundle.payload()).starts_with(want["pae_prefix"].as_str().unwrap().as_bytes())
            );
            assert_eq!(
                verified.signer,
                Signer::Key {
                    hint: expected["public_key_hint_sha256_of_pem"]
                        .as_str()
                        .unwrap()
                        .to_owned(),
                    curve: "P-256"
                }
            );
            // The unverified accessor gives the same statement.
            assert_eq!(&bundle.statement().unwrap(), st);

            assert_eq!(
                compare_manifest(
                    &st.manifest,
                    &actual_manifest(&dir, "tiny-model", &st.manifest)
                ),
                Ok(())
            );
            let tampered = actual_manifest(&dir, "tiny-model-tampered", &st.manifest);
            assert_eq!(
                compare_manifest(&st.manifest, &tampered),
                Err(E::ManifestMismatch {
                    missing: vec![],
                    extra: vec![],
                    changed: vec![
                        want["tampered_mismatch_resource"]
                            .as_str()
                            .unwrap()
                            .to_owned()
                    ],
                }),
                "{name}"
            );
        }
    }

    #[test]
    fn golden_shards_tamper_names_the_shard() {
        let Some(dir) = vectors() else { return };
        let bundle = parse(&read(&dir, "tiny-model.sha256-shards4096.sig")).unwrap();
        let st = bundle.statement().unwrap();
        assert_eq!(
            st.manifest.serialization().shard_size().map(|s| s.get()),
            Some(4096)
        );
        let tampered = actual_manifest(&dir, "tiny-model-tampered", &st.manifest);
        let err = compare_manifest(&st.manifest, &tampered).unwrap_err();
        assert_eq!(
            err,
            E::ManifestMismatch {
                missing: vec![],
                extra: vec![],
                changed: vec!["model-00001-of-00002.safetensors:4096:8192".to_owned()],
            }
        );
    }

    #[test]
    fn golden_forged_payload_and_other_key() {
        let Some(dir) = vectors() else { return };
        let signers = golden_signers(&dir);
        let rules = SigningRules::default();
        let forged = parse(&read(&dir, "tiny-model.sha256-files.forged-payload.sig")).unwrap();
        assert_eq!(
            verify(&forged, &signers, &rules, NOW),
            Err(E::SignatureInvalid)
        );

        let bundle = parse(&read(&dir, "tiny-model.sha256-files.sig")).unwrap();
        let mut other = ModelSigners::new();
        other
            .add_public_key_pem(&text(&dir, "ec-p256-other-public.pem"))
            .unwrap();
        let VerificationMaterial::PublicKey { hint: Some(hint) } = bundle.material() else {
            panic!("key bundle");
        };
        assert_eq!(
            verify(&bundle, &other, &rules, NOW),
            Err(E::UnknownSigningKey { hint: hint.clone() })
        );
        assert_eq!(
            verify(&bundle, &ModelSigners::new(), &rules, NOW),
            Err(E::NoTrust {
                method: "public key"
            })
        );
    }

    #[test]
    fn golden_bundle_without_hint_tries_every_key() {
        let Some(dir) = vectors() else { return };
        let mut raw: Value =
            serde_json::from_slice(&read(&dir, "tiny-model.sha256-files.sig")).unwrap();
        raw["verificationMaterial"]["publicKey"]
            .as_object_mut()
            .unwrap()
            .remove("hint");
        let bundle = parse(raw.to_string().as_bytes()).unwrap();
        let mut signers = ModelSigners::new();
        signers
            .add_public_key_pem(&text(&dir, "ec-p256-other-public.pem"))
            .unwrap();
        let rules = SigningRules::default();
        assert_eq!(
            verify(&bundle, &signers, &rules, NOW),
            Err(E::SignatureInvalid)
        );
        let good = signers
            .add_public_key_pem(&text(&dir, "ec-p256-public.pem"))
            .unwrap();
        let verified = verify(&bundle, &signers, &rules, NOW).unwrap();
        assert_eq!(
            verified.signer,
            Signer::Key {
                hint: good,
                curve: "P-256"
            }
        );
    }

    #[test]
    fn golden_private_key_signs_like_model_signing() {
        let Some(dir) = vectors() else { return };
        let key = ModelSigningKey::from_pkcs8_pem(&text(&dir, "ec-p256-private.pem")).unwrap();
        let payload = read(&dir, "tiny-model.blake3-files.payload.json");
        let bundle = parse(&sign_key_bundle(&payload, &key)).unwrap();
        let verified = verify(
            &bundle,
            &golden_signers(&dir),
            &SigningRules::default(),
            NOW,
        )
        .unwrap();
        assert_eq!(
            verified.statement.manifest.hash_algorithm(),
            HashAlgorithm::Blake3
        );
        // Same structure as model-signing's bundle: the same members at every level.
        let ours: Value = serde_json::from_slice(&sign_key_bundle(&payload, &key)).unwrap();
        let theirs: Value =
            serde_json::from_slice(&read(&dir, "tiny-model.blake3-files.sig")).unwrap();
        assert_eq!(shape(&ours), shape(&theirs));
        assert_eq!(ours["verificationMaterial"], theirs["verificationMaterial"]);
        assert_eq!(
            ours["dsseEnvelope"]["payload"],
            theirs["dsseEnvelope"]["payload"]
        );
    }

    /// The JSON value with every string, number and bool replaced by its type.
    fn shape(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                Value::Object(m.iter().map(|(k, v)| (k.clone(), shape(v))).collect())
            }
            Value::Array(a) => Value::Array(a.iter().map(shape).collect()),
            Value::String(_) => json!("string"),
            other => other.clone(),
        }
    }

    // ---- simulated bundles ----

    /// A statement over `resources` (name, digest hex) with a correct subject digest.
    fn statement(serialization: Value, algorithm: &str, resources: &[(&str, String)]) -> Value {
        let digests: Vec<u8> = resources
            .iter()
            .flat_map(|(_, d)| hex::decode(d).unwrap())
            .collect();
        json!({
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [{"name": "sim-model", "digest": {"sha256": hex::encode(Sha256::digest(&digests))}}],
            "predicateType": "https://model_signing/signature/v1.0",
            "predicate": {
                "serialization": serialization,
                "resources": resources.iter().map(|(n, d)| json!({
                    "name": n, "algorithm": algorithm, "digest": d,
                })).collect::<Vec<_>>(),
                "future_field": {"ignored": true},
            },
        })
    }

    fn files_statement() -> Value {
        statement(
            json!({"method": "files", "hash_type": "sha256", "allow_symlinks": false,
               "ignore_paths": [".git", ".gitattributes", "model.sig"]}),
            "sha256",
            &[
                ("config.json", hex::encode([1; 32])),
                ("model.safetensors", hex::encode([2; 32])),
                ("tokenizer/vocab.txt", hex::encode([3; 32])),
                ("tokenizer.json", hex::encode([4; 32])),
            ],
        )
    }

    fn shards_statement(shard_size: Value) -> Value {
        statement(
            json!({"method": "shards", "hash_type": "sha256", "allow_symlinks": false,
               "shard_size": shard_size, "ignore_paths": []}),
            "sha256-sharded-4096",
            &[
                ("w.bin:0:4096", hex::encode([1; 32])),
                ("w.bin:4096:5000", hex::encode([2; 32])),
            ],
        )
    }

    fn key() -> ModelSigningKey {
        ModelSigningKey::from_seed(Curve::P256, 7)
    }

    fn key_signers(key: &ModelSigningKey) -> ModelSigners {
        let mut signers = ModelSigners::new();
        signers.add_public_key_pem(&key.public_key_pem()).unwrap();
        signers
    }

    /// Signs `statement` with [`key`] and verifies it with default rules.
    fn check(statement: &Value) -> Result<warden_evidence::model::VerifiedModelSignature, E> {
        check_with(statement, &SigningRules::default())
    }

    fn check_with(
        statement: &Value,
        rules: &SigningRules,
    ) -> Result<warden_evidence::model::VerifiedModelSignature, E> {
        let key = key();
        let bundle = parse(&sign_key_bundle(statement.to_string().as_bytes(), &key))?;
        verify(&bundle, &key_signers(&key), rules, NOW)
    }

    #[test]
    fn sim_keys_on_every_curve_verify() {
        for curve in [Curve::P256, Curve::P384, Curve::P521] {
            let key = ModelSigningKey::from_seed(curve, 11);
            assert_eq!(key.curve(), curve);
            let bundle = parse(&sign_key_bundle(
                files_statement().to_string().as_bytes(),
                &key,
            ))
            .unwrap();
            let verified =
                verify(&bundle, &key_signers(&key), &SigningRules::default(), NOW).unwrap();
            assert_eq!(
                verified.signer,
                Signer::Key {
                    hint: key.hint(),
                    curve: curve.name()
                }
            );
            assert_eq!(key.hint(), key_hint(&key.public_key_der()));
            // A key of another curve with no hint match: unknown.
            let other = ModelSigningKey::from_seed(curve, 12);
            assert_eq!(
                verify(&bundle, &key_signers(&other), &SigningRules::default(), NOW),
                Err(E::UnknownSigningKey { hint: key.hint() })
            );
        }
    }

    #[test]
    fn sim_statement_order_and_names() {
        let verified = check(&files_statement()).unwrap();
        let names: Vec<&str> = verified
            .statement
            .manifest
            .resources()
            .iter()
            .map(ModelResource::name)
            .collect();
        // The manifest sorts by bytes; the subject digest was over the listed order.
        assert_eq!(
            names,
            [
                "config.json",
                "model.safetensors",
                "tokenizer.json",
                "tokenizer/vocab.txt"
            ]
        );
        assert_eq!(verified.statement.subject_name, "sim-model");
        let shards = check(&shards_statement(json!(4096.0))).unwrap();
        assert_eq!(
            shards.statement.manifest.serialization(),
            Serialization::Shards {
                shard_size: 4096.try_into().unwrap()
            }
        );
        assert!(check(&shards_statement(json!(4096))).is_ok());
    }

    #[test]
    fn sim_subject_digest_mismatch() {
        let mut st = files_statement();
        st["subject"][0]["digest"]["sha256"] = json!(hex::encode([0xAB; 32]));
        let Err(E::SubjectDigest { expected, computed }) = check(&st) else {
            panic!("expected SubjectDigest");
        };
        assert_eq!(expected, hex::encode([0xAB; 32]));
        let mut digests = Vec::new();
        for d in [1u8, 2, 3, 4] {
            digests.extend([d; 32]);
        }
        assert_eq!(computed, hex::encode(Sha256::digest(&digests)));
        // Reordering the listed resources changes the subject digest.
        let mut st = files_statement();
        st["predicate"]["resources"]
            .as_array_mut()
            .unwrap()
            .swap(0, 1);
        assert!(matches!(check(&st), Err(E::SubjectDigest { .. })));
        let mut st = files_statement();
        st["subject"][0]["digest"]["sha256"] = json!("AB".repeat(32));
        assert_eq!(check(&st).unwrap_err(), E::SubjectDigestFormat);
    }

    #[test]
    fn sim_statement_types() {
        let mut st = files_statement();
        st["predicateType"] = json!("https://model_signing/signature/v2.0");
        assert_eq!(
            check(&st).unwrap_err(),
            E::PredicateType {
                value: "https://model_signing/signature/v2.0".to_owned()
            }
        );
        let legacy = json!({
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [{"name": "a", "digest": {"sha256": hex::encode([1; 32])}},
                        {"name": "b", "digest": {"sha256": hex::encode([2; 32])}}],
            "predicateType": "https://model_signing/Digests/v0.1",
            "predicate": {},
        });
        assert_eq!(check(&legacy).unwrap_err(), E::LegacyPredicate);
        let mut st = files_statement();
        st["_type"] = json!("https://in-toto.io/Statement/v0.1");
        assert_eq!(
            check(&st).unwrap_err(),
            E::StatementType {
                value: "https://in-toto.io/Statement/v0.1".to_owned()
            }
        );
        let mut st = files_statement();
        let subject = st["subject"][0].clone();
        st["subject"].as_array_mut().unwrap().push(subject);
        assert_eq!(check(&st).unwrap_err(), E::SubjectCount { count: 2 });
    }

    #[test]
    fn sim_bad_shard_sizes() {
        for (value, text) in [
            (json!(4096.5), "4096.5"),
            (json!(0), "0"),
            (json!(0.0), "0.0"),
            (json!(-4096), "-4096"),
            (json!(-4096.0), "-4096.0"),
        ] {
            assert_eq!(
                check(&shards_statement(value)).unwrap_err(),
                E::ShardSize {
                    value: text.to_owned()
                },
                "{text}"
            );
        }
        let mut st = shards_statement(json!(4096));
        st["predicate"]["serialization"]
            .as_object_mut()
            .unwrap()
            .remove("shard_size");
        assert_eq!(
            check(&st).unwrap_err(),
            E::Serialization("shard_size missing for method shards")
        );
        let mut st = shards_statement(json!("4096"));
        st["predicate"]["serialization"]["shard_size"] = json!("4096");
        assert!(matches!(
            check(&st),
            Err(E::Json {
                what: "statement",
                ..
            })
        ));
    }

    #[test]
    fn sim_resource_checks() {
        // Algorithm not the hash name.
        let mut st = files_statement();
        st["predicate"]["resources"][1]["algorithm"] = json!("blake3");
        assert_eq!(
            check(&st).unwrap_err(),
            E::ResourceAlgorithm {
                name: "model.safetensors".to_owned(),
                found: "blake3".to_owned(),
                expected: "sha256".to_owned()
            }
        );
        // Sharded algorithm with another size.
        let mut st = shards_statement(json!(4096.0));
        st["predicate"]["resources"][0]["algorithm"] = json!("sha256-sharded-1000000000");
        assert_eq!(
            check(&st).unwrap_err(),
            E::ResourceAlgorithm {
                name: "w.bin:0:4096".to_owned(),
                found: "sha256-sharded-1000000000".to_owned(),
                expected: "sha256-sharded-4096".to_owned()
            }
        );
        // Uppercase digest.
        let mut st = files_statement();
        st["predicate"]["resources"][0]["digest"] = json!("01".repeat(31) + "AB");
        assert_eq!(
            check(&st).unwrap_err(),
            E::ResourceDigest {
                name: "config.json".to_owned(),
                len: 32
            }
        );
        // A shard that does not start on a boundary (subject digest recomputed).
        let st = statement(
            json!({"method": "shards", "hash_type": "sha256", "allow_symlinks": false, "shard_size": 4096}),
            "sha256-sharded-4096",
            &[("w.bin:100:4096", hex::encode([1; 32]))],
        );
        assert_eq!(
            check(&st).unwrap_err(),
            E::ShardName {
                name: "w.bin:100:4096".to_owned(),
                reason: "START is not a multiple of shard_size"
            }
        );
        // Duplicated resource names.
        let st = statement(
            json!({"method": "files", "hash_type": "sha256", "allow_symlinks": false}),
            "sha256",
            &[("a", hex::encode([1; 32])), ("a", hex::encode([2; 32]))],
        );
        assert_eq!(
            check(&st).unwrap_err(),
            E::Manifest(warden_proto::binding::BindingError::DuplicateResourceName {
                name: "a".to_owned()
            })
        );
        // Unknown method and hash; blake3 shards do not exist.
        let mut st = files_statement();
        st["predicate"]["serialization"]["method"] = json!("digest");
        assert_eq!(
            check(&st).unwrap_err(),
            E::UnknownMethod {
                value: "digest".to_owned()
            }
        );
        let mut st = shards_statement(json!(4096));
        st["predicate"]["serialization"]["hash_type"] = json!("blake3");
        assert_eq!(
            check(&st).unwrap_err(),
            E::UnknownHashType {
                value: "blake3".to_owned(),
                method: "shards"
            }
        );
    }

    #[test]
    fn sim_rules() {
        let only_sha256_files = SigningRules {
            allowed_methods: vec![(SerializationMethod::Files, HashAlgorithm::Sha256)],
            ..SigningRules::default()
        };
        assert_eq!(
            check_with(&shards_statement(json!(4096)), &only_sha256_files).unwrap_err(),
            E::MethodNotAllowed {
                method: "shards",
                hash: HashAlgorithm::Sha256
            }
        );
        assert!(check_with(&files_statement(), &only_sha256_files).is_ok());

        for (path, ok) in [
            (".git/", true),
            (".github/workflows", true),
            ("model.sig", true),
            ("weights", false),
            (".gitx", false),
            ("", false),
            ("tokenizer/.git", false),
            (".git/../weights", false),
            ("./.git", false),
            ("/.git", false),
            (".git//x", false),
        ] {
            let mut st = files_statement();
            st["predicate"]["serialization"]["ignore_paths"] = json!([".git", path]);
            let result = check(&st);
            if ok {
                assert!(result.is_ok(), "{path}: {result:?}");
            } else {
                assert_eq!(
                    result.unwrap_err(),
                    E::IgnorePathNotAllowed {
                        path: path.to_owned()
                    }
                );
            }
        }

        let mut st = files_statement();
        st["predicate"]["serialization"]["allow_symlinks"] = json!(true);
        assert_eq!(check(&st).unwrap_err(), E::SymlinksNotAllowed);
        let lenient = SigningRules {
            allow_symlinks: true,
            ..SigningRules::default()
        };
        assert!(check_with(&st, &lenient).unwrap().statement.allow_symlinks);
    }

    fn sim_manifest(resources: &[(&str, u8)]) -> ModelManifest {
        ModelManifest::new(
            Serialization::Files,
            HashAlgorithm::Sha256,
            resources
                .iter()
                .map(|(n, d)| ModelResource::new(*n, vec![*d; 32]))
                .collect(),
        )
        .unwrap()
    }

    #[test]
    fn manifest_comparison() {
        let signed = sim_manifest(&[("a", 1), ("b", 2), ("c", 3), ("d", 4)]);
        assert_eq!(compare_manifest(&signed, &signed.clone()), Ok(()));
        let actual = sim_manifest(&[
            ("a", 1),
            ("b", 9),
            ("d", 4),
            ("e", 5),
            ("trust_remote.py", 6),
        ]);
        let err = compare_manifest(&signed, &actual).unwrap_err();
        assert_eq!(
            err,
            E::ManifestMismatch {
                missing: vec!["c".to_owned()],
                extra: vec!["e".to_owned(), "trust_remote.py".to_owned()],
                changed: vec!["b".to_owned()],
            }
        );
        assert_eq!(
            err.to_string(),
            "model does not match its signed manifest: 1 missing: \"c\"; 2 extra: \"e\", \
         \"trust_remote.py\"; 1 changed: \"b\""
        );
        // Parameters must match.
        let blake3 = ModelManifest::new(
            Serialization::Files,
            HashAlgorithm::Blake3,
            vec![ModelResource::new("a", vec![1; 32])],
        )
        .unwrap();
        assert_eq!(
            compare_manifest(&signed, &blake3).unwrap_err(),
            E::ManifestParameters {
                signed: "files with sha256".to_owned(),
                actual: "files with blake3".to_owned()
            }
        );
        // The message lists at most 20 names per kind.
        let many: Vec<String> = (0..25).map(|i| format!("f{i:02}")).collect();
        let big = ModelManifest::new(
            Serialization::Files,
            HashAlgorithm::Sha256,
            many.iter()
                .map(|n| ModelResource::new(n.clone(), vec![0; 32]))
                .collect(),
        )
        .unwrap();
        let err = compare_manifest(&big, &signed).unwrap_err();
        let message = err.to_string();
        assert!(message.contains("25 missing: \"f00\""), "{message}");
        assert!(message.contains("\"f19\", … (5 more)"), "{message}");
        assert!(!message.contains("f20"), "{message}");
    }

    // ---- certificate method ----

    fn ca(options: ModelCaOptions) -> ModelSigningCa {
        ModelSigningCa::generate(&options).unwrap()
    }

    fn root_signers(ca: &ModelSigningCa) -> ModelSigners {
        let mut signers = ModelSigners::new();
        signers.add_root_pem(&ca.root_pem()).unwrap();
        signers
    }

    fn cert_check(ca: &ModelSigningCa, signers: &ModelSigners, now: UnixTime) -> Result<Signer, E> {
        let bundle = parse(&ca.sign_bundle(files_statement().to_string().as_bytes()))?;
        verify(&bundle, signers, &SigningRules::default(), now).map(|v| v.signer)
    }

    #[test]
    fn sim_certificate_method_verifies() {
        for intermediate in [true, false] {
            for leaf_curve in [Curve::P256, Curve::P384, Curve::P521] {
                let ca = ca(ModelCaOptions {
                    intermediate,
                    leaf_curve,
                    ..ModelCaOptions::default()
                });
                let signer = cert_check(&ca, &root_signers(&ca), NOW).unwrap();
                let Signer::Certificate {
                    subject,
                    issuer,
                    not_before,
                    root_sha256,
                    ..
                } = &signer
                else {
                    panic!("certificate signer");
                };
                assert!(
                    subject.contains("model-publisher@warden-sim.invalid"),
                    "{subject}"
                );
                let ca_cn = if intermediate {
                    "Model Signing CA"
                } else {
                    "Model Signing Root"
                };
                assert!(issuer.contains(ca_cn), "{issuer}");
                assert_eq!(*not_before, LEAF_NOT_BEFORE);
                assert_eq!(root_sha256, &hex::encode(Sha256::digest(ca.root_der())));
                assert!(signer.describe().contains("model-publisher"));
                let claims = serde_json::to_value(&signer).unwrap();
                assert_eq!(claims["method"], "certificate");
                assert_eq!(claims["not_before"], LEAF_NOT_BEFORE.0);
            }
        }
        // An RSA root (PKCS#1 v1.5, SHA-256) over an ECDSA intermediate, or directly over the leaf.
        for intermediate in [true, false] {
            let ca = ca(ModelCaOptions {
                rsa_root: true,
                intermediate,
                ..ModelCaOptions::default()
            });
            assert!(
                cert_check(&ca, &root_signers(&ca), NOW).is_ok(),
                "{intermediate}"
            );
        }
        // The bundle may also carry the root itself.
        let ca = ca(ModelCaOptions::default());
        let mut chain = ca.chain().to_vec();
        chain.push(ca.root_der().to_vec());
        let bundle = warden_evidence::sim::model::sign_certificate_bundle(
            files_statement().to_string().as_bytes(),
            ca.leaf(),
            &chain,
        );
        let bundle = parse(&bundle).unwrap();
        assert!(verify(&bundle, &root_signers(&ca), &SigningRules::default(), NOW).is_ok());
        // Roots in DER work the same.
        let mut der = ModelSigners::new();
        der.add_root_der(ca.root_der()).unwrap();
        assert!(cert_check(&ca, &der, NOW).is_ok());
    }

    #[test]
    fn sim_certificate_rejections() {
        let good = ca(ModelCaOptions::default());

        let no_eku = ca(ModelCaOptions {
            leaf_not_code_signing: true,
            ..ModelCaOptions::default()
        });
        assert_eq!(
            cert_check(&no_eku, &root_signers(&no_eku), NOW),
            Err(E::NotCodeSigning {
                reason: "no extendedKeyUsage codeSigning"
            })
        );

        // A code-signing leaf under a CA restricted to TLS.
        let tls_ca = ca(ModelCaOptions {
            intermediate_tls_only: true,
            ..ModelCaOptions::default()
        });
        assert_eq!(
            cert_check(&tls_ca, &root_signers(&tls_ca), NOW),
            Err(E::NotCodeSigning {
                reason: "an issuer's extendedKeyUsage excludes codeSigning"
            })
        );

        let expired = ca(ModelCaOptions {
            issuer_expired_at_signing: true,
            ..ModelCaOptions::default()
        });
        assert_eq!(
            cert_check(&expired, &root_signers(&expired), NOW),
            Err(E::CertificateValidity {
                index: 1,
                at: LEAF_NOT_BEFORE
            })
        );
        // Without an intermediate, the root (index 1, not in the bundle) is the one expired.
        let expired_root = ca(ModelCaOptions {
            issuer_expired_at_signing: true,
            intermediate: false,
            ..ModelCaOptions::default()
        });
        assert_eq!(
            cert_check(&expired_root, &root_signers(&expired_root), NOW),
            Err(E::CertificateValidity {
                index: 1,
                at: LEAF_NOT_BEFORE
            })
        );

        let other = ca(ModelCaOptions {
            seed: 2,
            ..ModelCaOptions::default()
        });
        assert_eq!(
            cert_check(&good, &root_signers(&other), NOW),
            Err(E::ChainUntrusted)
        );

        let broken = ca(ModelCaOptions {
            leaf_signed_by_wrong_key: true,
            ..ModelCaOptions::default()
        });
        assert_eq!(
            cert_check(&broken, &root_signers(&broken), NOW),
            Err(E::ChainSignature { index: 0 })
        );

        assert_eq!(
            cert_check(&good, &root_signers(&good), UnixTime(LEAF_NOT_BEFORE.0 - 1)),
            Err(E::SignedInFuture {
                not_before: LEAF_NOT_BEFORE,
                now: UnixTime(LEAF_NOT_BEFORE.0 - 1)
            })
        );

        assert_eq!(
            cert_check(&good, &ModelSigners::new(), NOW),
            Err(E::NoTrust {
                method: "certificate root"
            })
        );

        // A payload signed by another key than the leaf's.
        let bundle = warden_evidence::sim::model::sign_certificate_bundle(
            files_statement().to_string().as_bytes(),
            &key(),
            good.chain(),
        );
        assert_eq!(
            verify(
                &parse(&bundle).unwrap(),
                &root_signers(&good),
                &SigningRules::default(),
                NOW
            ),
            Err(E::SignatureInvalid)
        );

        // Chain in the wrong order (intermediate first): its last certificate, the leaf, is not
        // issued by a root.
        let mut reversed = good.chain().to_vec();
        reversed.reverse();
        let bundle = warden_evidence::sim::model::sign_certificate_bundle(
            files_statement().to_string().as_bytes(),
            good.leaf(),
            &reversed,
        );
        assert_eq!(
            verify(
                &parse(&bundle).unwrap(),
                &root_signers(&good),
                &SigningRules::default(),
                NOW
            ),
            Err(E::ChainUntrusted)
        );

        // Too many certificates.
        let long = vec![good.chain()[0].clone(); 9];
        let bundle = warden_evidence::sim::model::sign_certificate_bundle(
            files_statement().to_string().as_bytes(),
            good.leaf(),
            &long,
        );
        assert_eq!(
            verify(
                &parse(&bundle).unwrap(),
                &root_signers(&good),
                &SigningRules::default(),
                NOW
            ),
            Err(E::Certificate {
                index: 8,
                reason: "certificate chain is too long"
            })
        );

        // A garbage certificate.
        let bundle = warden_evidence::sim::model::sign_certificate_bundle(
            files_statement().to_string().as_bytes(),
            good.leaf(),
            &[vec![0x30, 0x00]],
        );
        assert_eq!(
            verify(
                &parse(&bundle).unwrap(),
                &root_signers(&good),
                &SigningRules::default(),
                NOW
            ),
            Err(E::Certificate {
                index: 0,
                reason: "not a DER X.509 certificate"
            })
        );
    }

    // ---- bundle structure ----

    fn sim_bundle() -> Value {
        serde_json::from_slice(&sign_key_bundle(
            files_statement().to_string().as_bytes(),
            &key(),
        ))
        .unwrap()
    }

    fn parse_value(v: &Value) -> Result<SignatureBundle, E> {
        parse(v.to_string().as_bytes())
    }

    #[test]
    fn bundle_structure_rejections() {
        let mut b = sim_bundle();
        let sig = b["dsseEnvelope"]["signatures"][0].clone();
        b["dsseEnvelope"]["signatures"]
            .as_array_mut()
            .unwrap()
            .push(sig);
        assert_eq!(parse_value(&b).unwrap_err(), E::SignatureCount { count: 2 });
        b["dsseEnvelope"]["signatures"] = json!([]);
        assert_eq!(parse_value(&b).unwrap_err(), E::SignatureCount { count: 0 });

        let mut b = sim_bundle();
        b["verificationMaterial"] = json!({"certificate": {"rawBytes": "MAA="}, "tlogEntries": []});
        assert_eq!(parse_value(&b).unwrap_err(), E::KeylessUnsupported);
        let mut b = sim_bundle();
        b["verificationMaterial"]["x509CertificateChain"] = json!({"certificates": []});
        assert_eq!(parse_value(&b).unwrap_err(), E::VerificationMaterial);
        let mut b = sim_bundle();
        b["verificationMaterial"] = json!({"tlogEntries": []});
        assert_eq!(parse_value(&b).unwrap_err(), E::VerificationMaterial);

        let mut b = sim_bundle();
        b["mediaType"] = json!("application/vnd.dev.sigstore.bundle.v0.2+json");
        assert_eq!(
            parse_value(&b).unwrap_err(),
            E::MediaType {
                value: "application/vnd.dev.sigstore.bundle.v0.2+json".to_owned()
            }
        );
        b["mediaType"] = json!("application/vnd.dev.sigstore.bundle+json;version=0.3");
        assert!(parse_value(&b).is_ok());

        let mut b = sim_bundle();
        b["dsseEnvelope"]["payloadType"] = json!("application/json");
        assert_eq!(
            parse_value(&b).unwrap_err(),
            E::PayloadType {
                value: "application/json".to_owned()
            }
        );
        let mut b = sim_bundle();
        b.as_object_mut().unwrap().remove("dsseEnvelope");
        b["messageSignature"] = json!({});
        assert_eq!(parse_value(&b).unwrap_err(), E::NoEnvelope);

        let mut b = sim_bundle();
        b["dsseEnvelope"]["payload"] = json!("not base64!");
        assert_eq!(
            parse_value(&b).unwrap_err(),
            E::Base64 {
                field: "dsseEnvelope.payload"
            }
        );
        let mut b = sim_bundle();
        b["dsseEnvelope"]["signatures"][0]["sig"] = json!("AAA");
        assert_eq!(
            parse_value(&b).unwrap_err(),
            E::Base64 {
                field: "dsseEnvelope.signatures[0].sig"
            }
        );

        // Unknown members are tolerated; a duplicated known member is not.
        let mut b = sim_bundle();
        b["timestampVerificationData"] = json!({"rfc3161Timestamps": []});
        b["dsseEnvelope"]["extra"] = json!(1);
        assert!(parse_value(&b).is_ok());
        let text = sim_bundle().to_string();
        let dup = text.replacen(
            "\"mediaType\"",
            "\"mediaType\":\"application/vnd.dev.sigstore.bundle.v0.3+json\",\"mediaType\"",
            1,
        );
        assert!(matches!(
            parse(dup.as_bytes()),
            Err(E::Json { what: "bundle", .. })
        ));
    }

    #[test]
    fn bundle_garbage_and_size() {
        let text = sim_bundle().to_string();
        for cut in [0, 1, text.len() / 2, text.len() - 1] {
            assert!(
                matches!(
                    parse(&text.as_bytes()[..cut]),
                    Err(E::Json { what: "bundle", .. })
                ),
                "{cut}"
            );
        }
        assert!(matches!(
            parse(b"\xff\xfe garbage"),
            Err(E::Json { what: "bundle", .. })
        ));
        assert!(matches!(parse(b"[]"), Err(E::Json { what: "bundle", .. })));
        let big = vec![b' '; MAX_BUNDLE_LEN + 1];
        assert_eq!(
            parse(&big).unwrap_err(),
            E::TooLarge {
                len: MAX_BUNDLE_LEN + 1,
                max: MAX_BUNDLE_LEN
            }
        );
        // A payload that is not JSON: the signature verifies, the statement does not parse.
        let key = key();
        let bundle = parse(&sign_key_bundle(b"not json", &key)).unwrap();
        assert!(matches!(
            verify(&bundle, &key_signers(&key), &SigningRules::default(), NOW),
            Err(E::Json {
                what: "statement",
                ..
            })
        ));
        // A signature that is base64 but not DER.
        let mut b = sim_bundle();
        b["dsseEnvelope"]["signatures"][0]["sig"] =
            json!(base64::engine::general_purpose::STANDARD.encode([1, 2, 3]));
        assert_eq!(
            verify(
                &parse_value(&b).unwrap(),
                &key_signers(&key),
                &SigningRules::default(),
                NOW
            ),
            Err(E::SignatureInvalid)
        );
    }

    #[test]
    fn signer_keys() {
        let mut signers = ModelSigners::new();
        assert_eq!(
            signers.add_public_key_pem("not pem"),
            Err(E::UnsupportedKey {
                reason: "not exactly one PUBLIC KEY PEM block"
            })
        );
        // An Ed25519 key.
        let ed25519 = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n-----END PUBLIC KEY-----\n";
        assert_eq!(
            signers.add_public_key_pem(ed25519),
            Err(E::UnsupportedKey {
                reason: "not an elliptic-curve key"
            })
        );
        assert_eq!(
            signers.add_root_der(b"junk"),
            Err(E::InvalidRoot {
                reason: "not a DER X.509 certificate"
            })
        );
        let key = key();
        let hint = signers.add_public_key_der(&key.public_key_der()).unwrap();
        assert_eq!(hint, key.hint());
        assert_eq!(signers.key_hints().collect::<Vec<_>>(), [hint.as_str()]);
    }
}
