use super::*;

fn h(hex_str: &str) -> Hash {
    hex::decode(hex_str).unwrap().try_into().unwrap()
}

/// The leaves of the RFC 6962 reference test tree (certificate-transparency-go, merkle tests).
fn reference_leaves() -> Vec<Hash> {
    [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
    .iter()
    .map(|d| leaf_hash(&hex::decode(d).unwrap()))
    .collect()
}

fn leaves(n: u64) -> Vec<Hash> {
    (0..n)
        .map(|i| leaf_hash(format!("leaf {i}").as_bytes()))
        .collect()
}

#[test]
fn hashes_match_known_answers() {
    assert_eq!(
        empty_root(),
        h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    );
    assert_eq!(root(&[]), empty_root());
    let roots = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];
    let l = reference_leaves();
    for (n, want) in roots.iter().enumerate() {
        assert_eq!(root(&l[..=n]), h(want), "size {}", n + 1);
    }
    assert_eq!(node_hash(&l[0], &l[1]), h(roots[1]));
}

#[test]
fn reference_consistency_proof() {
    // certificate-transparency-go: the proof from size 2 to size 5.
    let l = reference_leaves();
    let proof = consistency_proof(&l[..5], 2).unwrap();
    assert_eq!(
        proof,
        vec![
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        ]
    );
    verify_consistency(2, 5, &root(&l[..2]), &root(&l[..5]), &proof).unwrap();
}

#[test]
fn inclusion_rejections() {
    let l = leaves(7);
    let r = root(&l);
    let proof = inclusion_proof(&l, 3).unwrap();
    verify_inclusion(&l[3], 3, 7, &proof, &r).unwrap();

    assert_eq!(
        inclusion_proof(&l, 7),
        Err(TlogError::IndexOutOfRange { index: 7, size: 7 })
    );
    assert_eq!(
        verify_inclusion(&l[3], 7, 7, &proof, &r),
        Err(TlogError::IndexOutOfRange { index: 7, size: 7 })
    );
    assert_eq!(
        verify_inclusion(&l[3], 0, 0, &[], &r),
        Err(TlogError::IndexOutOfRange { index: 0, size: 0 })
    );
    // Wrong leaf, wrong index, wrong size, tampered root.
    assert_eq!(
        verify_inclusion(&l[4], 3, 7, &proof, &r),
        Err(TlogError::RootMismatch)
    );
    assert_eq!(
        verify_inclusion(&l[3], 2, 7, &proof, &r),
        Err(TlogError::RootMismatch)
    );
    // Size 6 shares the proof shape of size 7 (the size is bound by the root); size 4 does not.
    assert_eq!(
        verify_inclusion(&l[3], 3, 4, &proof, &r),
        Err(TlogError::ProofLength)
    );
    assert_eq!(
        verify_inclusion(&l[3], 3, 16, &proof, &r),
        Err(TlogError::ProofLength)
    );
    let mut bad_root = r;
    bad_root[31] ^= 1;
    assert_eq!(
        verify_inclusion(&l[3], 3, 7, &proof, &bad_root),
        Err(TlogError::RootMismatch)
    );
    // Tampered element.
    let mut tampered = proof.clone();
    tampered[1][0] ^= 0x80;
    assert_eq!(
        verify_inclusion(&l[3], 3, 7, &tampered, &r),
        Err(TlogError::RootMismatch)
    );
    // Truncated and extended.
    assert_eq!(
        verify_inclusion(&l[3], 3, 7, &proof[..proof.len() - 1], &r),
        Err(TlogError::ProofLength)
    );
    let mut extended = proof;
    extended.push([0; 32]);
    assert_eq!(
        verify_inclusion(&l[3], 3, 7, &extended, &r),
        Err(TlogError::ProofLength)
    );
    // A single leaf is its own root with an empty proof.
    assert_eq!(inclusion_proof(&l[..1], 0).unwrap(), Vec::<Hash>::new());
    verify_inclusion(&l[0], 0, 1, &[], &l[0]).unwrap();
    assert_eq!(
        verify_inclusion(&l[0], 0, 1, &[l[1]], &l[0]),
        Err(TlogError::ProofLength)
    );
}

#[test]
fn consistency_rejections() {
    let l = leaves(7);
    let (old, new) = (root(&l[..3]), root(&l));
    let proof = consistency_proof(&l, 3).unwrap();
    verify_consistency(3, 7, &old, &new, &proof).unwrap();

    for (m, n) in [(0, 7), (8, 7)] {
        assert_eq!(
            verify_consistency(m, n, &old, &new, &proof),
            Err(TlogError::InconsistentSizes { old: m, new: n })
        );
        assert_eq!(
            consistency_proof(&l, m),
            Err(TlogError::InconsistentSizes { old: m, new: 7 })
        );
    }
    // Equal sizes: empty proof, equal roots.
    assert_eq!(consistency_proof(&l, 7).unwrap(), Vec::<Hash>::new());
    verify_consistency(7, 7, &new, &new, &[]).unwrap();
    assert_eq!(
        verify_consistency(7, 7, &new, &old, &[]),
        Err(TlogError::RootMismatch)
    );
    assert_eq!(
        verify_consistency(7, 7, &new, &new, &[new]),
        Err(TlogError::ProofLength)
    );
    // Different sizes never take an empty proof.
    assert_eq!(
        verify_consistency(4, 8, &old, &new, &[]),
        Err(TlogError::ProofLength)
    );
    // Swapped roots, wrong sizes, tampered element, truncated and extended.
    assert_eq!(
        verify_consistency(3, 7, &new, &old, &proof),
        Err(TlogError::RootMismatch)
    );
    assert!(verify_consistency(2, 7, &old, &new, &proof).is_err());
    assert!(verify_consistency(3, 4, &old, &new, &proof).is_err());
    let mut tampered = proof.clone();
    tampered[0][5] ^= 1;
    assert_eq!(
        verify_consistency(3, 7, &old, &new, &tampered),
        Err(TlogError::RootMismatch)
    );
    assert_eq!(
        verify_consistency(3, 7, &old, &new, &proof[..proof.len() - 1]),
        Err(TlogError::ProofLength)
    );
    let mut extended = proof;
    extended.push(new);
    assert_eq!(
        verify_consistency(3, 7, &old, &new, &extended),
        Err(TlogError::ProofLength)
    );
}

#[test]
fn exhaustive_small_trees() {
    for n in 1..=40u64 {
        let l = leaves(n);
        let r = root(&l);
        for i in 0..n {
            let leaf = &l[usize::try_from(i).unwrap()];
            let proof = inclusion_proof(&l, i).unwrap();
            verify_inclusion(leaf, i, n, &proof, &r).unwrap();
            for e in 0..proof.len() {
                for bit in 0..256 {
                    let mut bad = proof.clone();
                    bad[e][bit / 8] ^= 1 << (bit % 8);
                    assert_eq!(
                        verify_inclusion(leaf, i, n, &bad, &r),
                        Err(TlogError::RootMismatch),
                        "n {n} i {i} e {e} bit {bit}"
                    );
                }
            }
        }
        for m in 1..=n {
            let old = root(&l[..usize::try_from(m).unwrap()]);
            let proof = consistency_proof(&l, m).unwrap();
            verify_consistency(m, n, &old, &r, &proof).unwrap();
            for e in 0..proof.len() {
                for bit in 0..256 {
                    let mut bad = proof.clone();
                    bad[e][bit / 8] ^= 1 << (bit % 8);
                    assert_eq!(
                        verify_consistency(m, n, &old, &r, &bad),
                        Err(TlogError::RootMismatch),
                        "m {m} n {n} e {e} bit {bit}"
                    );
                }
            }
        }
    }
}

/// The golang.org/x/mod/sumdb/note example key, note and signature.
const GO_SKEY_B64: &str = "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
const GO_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
const GO_TEXT: &str = "If you think cryptography is the answer to your problem,\n\
                       then you don't know what your problem is.\n";
const GO_SIG_B64: &str = concat!(
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfq",
    "dngotpRZb6KE6RyyBwJnAM="
);
const GO_NOTE_SIG: &str = concat!(
    "\u{2014} PeterNeumann ",
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfq",
    "dngotpRZb6KE6RyyBwJnAM=\n"
);

fn go_signer() -> NoteSigner {
    let typed = B64.decode(GO_SKEY_B64).unwrap();
    assert_eq!(typed[0], ED25519_TYPE);
    NoteSigner::from_seed("PeterNeumann", typed[1..].try_into().unwrap()).unwrap()
}

#[test]
fn go_note_known_answer() {
    let signer = go_signer();
    assert_eq!(signer.verifier().verifier_key_string(), GO_VKEY);
    assert_eq!(parse_verifier_key(GO_VKEY).unwrap(), signer.verifier());
    let note = signer.sign(GO_TEXT).unwrap();
    assert_eq!(note, format!("{GO_TEXT}\n{GO_NOTE_SIG}"));
    let (text, names) = open_note(&note, &[signer.verifier()]).unwrap();
    assert_eq!(text, GO_TEXT);
    assert_eq!(names, vec!["PeterNeumann".to_owned()]);
    assert!(format!("{signer:?}").contains("c74f20a3"));
}

#[test]
fn pkcs8_signer_matches_its_verifier() {
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
    let signer = NoteSigner::from_pkcs8("log.example/a", pkcs8.as_ref()).unwrap();
    let note = signer.sign("hello\n").unwrap();
    let vkey = parse_verifier_key(&signer.verifier().verifier_key_string()).unwrap();
    assert_eq!(open_note(&note, &[vkey]).unwrap().0, "hello\n");
    assert_eq!(
        NoteSigner::from_pkcs8("x", b"not a key").unwrap_err(),
        TlogError::PrivateKey
    );
    assert_eq!(
        NoteSigner::from_seed("a+b", &[1; 32]).unwrap_err(),
        TlogError::KeyName
    );
    assert_eq!(
        NoteSigner::from_seed("a b", &[1; 32]).unwrap_err(),
        TlogError::KeyName
    );
    assert_eq!(
        NoteSigner::from_seed("", &[1; 32]).unwrap_err(),
        TlogError::KeyName
    );
}

#[test]
fn open_note_rejections() {
    let signer = go_signer();
    let known = [signer.verifier()];
    let note = signer.sign(GO_TEXT).unwrap();
    let other = NoteSigner::from_seed("Other", &[7; 32]).unwrap();

    // A bad signature from a known key.
    let mut blob = B64.decode(GO_SIG_B64).unwrap();
    blob[10] ^= 1;
    let bad = format!("{GO_TEXT}\n\u{2014} PeterNeumann {}\n", B64.encode(&blob));
    assert_eq!(
        open_note(&bad, &known),
        Err(TlogError::BadSignature {
            name: "PeterNeumann".to_owned()
        })
    );
    // The text changed under a good signature.
    let changed = note.replacen("answer", "Answer", 1);
    assert!(matches!(
        open_note(&changed, &known),
        Err(TlogError::BadSignature { .. })
    ));
    // Only an unknown key; also a known name with another key ID.
    let unknown = other.sign(GO_TEXT).unwrap();
    assert_eq!(open_note(&unknown, &known), Err(TlogError::UnknownSigner));
    let wrong_id = NoteVerifier {
        key_id: [0; 4],
        ..signer.verifier()
    };
    assert_eq!(open_note(&note, &[wrong_id]), Err(TlogError::UnknownSigner));
    // An unknown signature beside a known one is ignored.
    let both = format!("{}{}", unknown, note.rsplit_once("\n\n").unwrap().1);
    let (text, names) = open_note(&both, &known).unwrap();
    assert_eq!((text, names.len()), (GO_TEXT, 1));
    // Two signatures from one key.
    let twice = format!("{note}{GO_NOTE_SIG}");
    assert_eq!(
        open_note(&twice, &known),
        Err(TlogError::NoteSyntax("two signatures from one key"))
    );

    let syntax = |s: &str| match open_note(s, &known) {
        Err(TlogError::NoteSyntax(_)) => {}
        other => panic!("{s:?}: {other:?}"),
    };
    // No blank line, no trailing newline, empty signature block, bad lines.
    syntax(&format!("{GO_TEXT}{GO_NOTE_SIG}"));
    syntax(note.strip_suffix('\n').unwrap());
    syntax(&format!("{GO_TEXT}\n"));
    syntax(&format!("{GO_TEXT}\n- PeterNeumann AAAAAAAA\n"));
    syntax(&format!("{GO_TEXT}\n\u{2014} PeterNeumann\n"));
    syntax(&format!("{GO_TEXT}\n\u{2014} PeterNeumann !!!\n"));
    syntax(&format!("{GO_TEXT}\n\u{2014} PeterNeumann AAAA\n"));
    syntax(&format!("{GO_TEXT}\n\u{2014} PeterNeumann AAAAAA==\n"));
    syntax(&format!("{GO_TEXT}\n{GO_NOTE_SIG}\n"));
    syntax(&format!("a\rb\n\n{GO_NOTE_SIG}"));
    // 100 signature lines are read, 101 are too many.
    let filler = "\u{2014} Other AAAAAAAA\n";
    let hundred = format!("{note}{}", filler.repeat(99));
    assert!(open_note(&hundred, &known).is_ok());
    assert_eq!(
        open_note(&format!("{hundred}{filler}"), &known),
        Err(TlogError::NoteSyntax("too many signatures"))
    );
    // Signing refuses a text that would not open.
    assert!(matches!(
        signer.sign("no newline"),
        Err(TlogError::NoteSyntax(_))
    ));
}

#[test]
fn verifier_key_rejections() {
    // transparency-dev/formats note tests: a key whose base64 contains '+'.
    let plus = "TEST+7997405c+AQcC+FTVKf0jlTdHDY3rbevmnKxxPjigCXlVtGe6RIr6";
    assert_eq!(
        parse_verifier_key(plus).unwrap().verifier_key_string(),
        plus
    );
    let bad = |s: &str| {
        assert!(
            matches!(parse_verifier_key(s), Err(TlogError::VerifierKeySyntax(_))),
            "{s}"
        );
    };
    bad("PeterNeumann+c74f20a3");
    bad("PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW+x");
    bad("PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW");
    bad("PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW");
    bad("PeterNeumann+c74f20+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW");
    bad("PeterNeumann+c74f20a3+Ahpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW");
    bad("PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10");
    bad("+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW");
    bad("PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10T+");
    bad("Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW");
}

#[test]
fn checkpoint_round_trip_and_signing() {
    let l = leaves(5);
    let cp = Checkpoint {
        origin: "warden.example/keys".to_owned(),
        size: 5,
        root: root(&l),
        extensions: vec!["ext one".to_owned()],
    };
    let body = cp.to_note_body().unwrap();
    assert_eq!(
        body,
        format!(
            "warden.example/keys\n5\n{}\next one\n",
            B64.encode(root(&l))
        )
    );
    assert_eq!(Checkpoint::parse(&body).unwrap(), cp);
    let signer = NoteSigner::from_seed("warden.example/keys", &[3; 32]).unwrap();
    let note = signer.sign(&body).unwrap();
    let (text, _) = open_note(&note, &[signer.verifier()]).unwrap();
    assert_eq!(Checkpoint::parse(text).unwrap(), cp);

    let zero = Checkpoint {
        size: 0,
        root: empty_root(),
        extensions: Vec::new(),
        ..cp.clone()
    };
    assert_eq!(
        Checkpoint::parse(&zero.to_note_body().unwrap()).unwrap(),
        zero
    );
    let bad_origin = Checkpoint {
        origin: "a\nb".to_owned(),
        ..cp.clone()
    };
    assert!(bad_origin.to_note_body().is_err());
    let bad_ext = Checkpoint {
        extensions: vec![String::new()],
        ..cp
    };
    assert!(bad_ext.to_note_body().is_err());
}

#[test]
fn checkpoint_rejections() {
    let root32 = B64.encode([9u8; 32]);
    let ok = format!("o\n12\n{root32}\n");
    assert_eq!(Checkpoint::parse(&ok).unwrap().size, 12);
    let bad = |s: String| {
        assert!(
            matches!(Checkpoint::parse(&s), Err(TlogError::CheckpointSyntax(_))),
            "{s:?}"
        );
    };
    bad(format!("o\n012\n{root32}\n"));
    bad(format!("o\n00\n{root32}\n"));
    bad(format!("o\n+12\n{root32}\n"));
    bad(format!("o\n1 2\n{root32}\n"));
    bad(format!("o\n\n{root32}\n"));
    bad(format!("o\n18446744073709551616\n{root32}\n"));
    bad(format!("\n12\n{root32}\n"));
    bad(format!("o\n12\n{root32}"));
    bad(format!("o\n12\n{root32}\n\n"));
    bad(format!("o\n12\n{root32}\next\n\n"));
    bad(format!("o\n12\n{root32}\n\next\n"));
    bad("o\n12\n!!!!\n".to_owned());
    bad(format!("o\n12\n{}\n", B64.encode([9u8; 31])));
    bad(format!("o\n12\n{}\n", B64.encode([9u8; 33])));
    bad(format!(
        "o\n12\n{}\n",
        base64::engine::general_purpose::STANDARD_NO_PAD.encode([9u8; 32])
    ));
    bad("o\n12\n".to_owned());
    bad("o\n".to_owned());
    bad(String::new());
    bad(format!("o\t1\n12\n{root32}\n"));
}
