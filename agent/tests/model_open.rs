//! `warden_agent::open::open_model`: round trips, refusals, and that nothing is left behind.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::fs;
use std::io::Write;
use std::num::NonZeroU64;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use warden_agent::open::{OpenError, OpenOptions, STAGING_DIR, open_model};
use warden_model::FileHasher;
use warden_proto::binding::{HashAlgorithm, ModelManifest, ModelResource, Serialization};

/// age's payload chunk on the wire: 64 KiB of plaintext and a 16-byte tag.
const AGE_CHUNK: usize = 64 * 1024 + 16;

/// Deterministic bytes, different per seed.
fn bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn encrypt(recipient: &age::x25519::Recipient, plain: &[u8], to: &Path) {
    let encryptor =
        age::Encryptor::with_recipients(std::iter::once(recipient as &dyn age::Recipient)).unwrap();
    let mut w = encryptor
        .wrap_output(fs::File::create(to).unwrap())
        .unwrap();
    w.write_all(plain).unwrap();
    w.finish().unwrap();
}

/// A model: its plaintext files (name, bytes) and which of them are encrypted.
struct Model {
    files: Vec<(&'static str, Vec<u8>, bool)>,
}

fn model() -> Model {
    Model {
        files: vec![
            ("config.json", b"{\"layers\":2}".to_vec(), false),
            ("tokenizer.json", bytes(10_000, 1), true),
            (
                "weights/model-00001.safetensors",
                bytes(3 * 1024 * 1024 + 777, 2),
                true,
            ),
            ("weights/model-00002.safetensors", bytes(200_000, 3), true),
            ("weights/empty.bin", Vec::new(), true),
        ],
    }
}

impl Model {
    /// Writes the ciphertext tree (plus a signature file) under `dir`.
    fn write_input(&self, dir: &Path, recipient: &age::x25519::Recipient) {
        for (name, plain, encrypted) in &self.files {
            let path = dir.join(name);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            if *encrypted {
                encrypt(
                    recipient,
                    plain,
                    &PathBuf::from(format!("{}.age", path.display())),
                );
            } else {
                fs::write(&path, plain).unwrap();
            }
        }
        fs::write(dir.join("model.sig"), b"not part of the model").unwrap();
    }

    fn manifest(&self, serialization: Serialization, algorithm: HashAlgorithm) -> ModelManifest {
        let mut resources = Vec::new();
        for (name, plain, _) in &self.files {
            let mut h = FileHasher::new(*name, algorithm, serialization);
            for chunk in plain.chunks(4096) {
                h.update(chunk);
            }
            resources.extend(h.finish());
        }
        ModelManifest::new(serialization, algorithm, resources).unwrap()
    }

    fn assert_written(&self, out: &Path) {
        for (name, plain, _) in &self.files {
            let path = out.join(name);
            assert_eq!(&fs::read(&path).unwrap(), plain, "{name}");
            let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{name}");
        }
        assert!(!out.join(STAGING_DIR).exists());
        assert!(!out.join("model.sig").exists());
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    input: PathBuf,
    output: PathBuf,
    identity: age::x25519::Identity,
    model: Model,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    fs::create_dir(&input).unwrap();
    let identity = age::x25519::Identity::generate();
    let model = model();
    model.write_input(&input, &identity.to_public());
    Fixture {
        output: dir.path().join("out"),
        input,
        identity,
        model,
        _dir: dir,
    }
}

fn files_sha256(f: &Fixture) -> ModelManifest {
    f.model
        .manifest(Serialization::Files, HashAlgorithm::Sha256)
}

fn opts(threads: usize) -> OpenOptions {
    OpenOptions {
        threads,
        ..OpenOptions::default()
    }
}

/// Nothing was left: the output was removed (it did not exist before) or is empty.
fn assert_nothing_left(output: &Path) {
    if output.exists() {
        let left: Vec<_> = walk(output);
        assert!(left.is_empty(), "left behind: {left:?}");
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        }
        out.push(path);
    }
    out
}

/// Offset of the first payload chunk: after the header (ending in its `--- MAC` line) and the
/// 16-byte payload nonce.
fn payload_start(ciphertext: &[u8]) -> usize {
    let mac_line = ciphertext.windows(4).position(|w| w == b"\n---").unwrap() + 1;
    let end = mac_line
        + ciphertext[mac_line..]
            .iter()
            .position(|&b| b == b'\n')
            .unwrap()
        + 1;
    end + 16
}

#[test]
fn round_trip_files_sha256() {
    let f = fixture();
    let expected = files_sha256(&f);
    for threads in [1, 3] {
        let out = f.output.join(format!("t{threads}"));
        fs::create_dir_all(&f.output).unwrap();
        let opened = open_model(&f.identity, &f.input, &out, &expected, &opts(threads)).unwrap();
        assert_eq!(opened.files, 5);
        assert_eq!(
            opened.bytes,
            f.model
                .files
                .iter()
                .map(|(_, p, _)| p.len() as u64)
                .sum::<u64>()
        );
        assert_eq!(opened.manifest.digest(), expected.digest());
        f.model.assert_written(&out);
        let mode = fs::metadata(&out).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
    }
}

#[test]
fn round_trip_shards_into_an_existing_empty_directory() {
    let f = fixture();
    fs::create_dir(&f.output).unwrap();
    let shards = Serialization::Shards {
        shard_size: NonZeroU64::new(1024 * 1024).unwrap(),
    };
    for algorithm in [HashAlgorithm::Sha256, HashAlgorithm::Blake3] {
        let out = f.output.join(algorithm.as_str());
        fs::create_dir(&out).unwrap();
        let expected = f.model.manifest(shards, algorithm);
        assert!(
            expected
                .resources()
                .iter()
                .any(|r| r.name() == "weights/model-00001.safetensors:3145728:3146505")
        );
        let opened = open_model(&f.identity, &f.input, &out, &expected, &opts(2)).unwrap();
        assert_eq!(opened.manifest, expected);
        // A shards manifest does not describe empty files (model-signing drops them), so the
        // empty one is not placed: nothing unverified reaches the output.
        assert_eq!(opened.files, f.model.files.len() - 1);
        for (name, plain, _) in &f.model.files {
            if plain.is_empty() {
                assert!(!out.join(name).exists(), "{name} was placed unverified");
            } else {
                assert_eq!(&fs::read(out.join(name)).unwrap(), plain, "{name}");
            }
        }
        assert!(!out.join(STAGING_DIR).exists());
    }
}

#[test]
fn wrong_identity() {
    let f = fixture();
    let other = age::x25519::Identity::generate();
    let err = open_model(&other, &f.input, &f.output, &files_sha256(&f), &opts(1)).unwrap_err();
    assert!(matches!(err, OpenError::WrongIdentity { .. }), "{err:?}");
    assert!(err.to_string().contains("keys recipient"), "{err}");
    assert_nothing_left(&f.output);
    assert!(!f.output.exists(), "the output it created is removed");
}

#[test]
fn flipped_ciphertext_byte_is_corrupt_and_nothing_is_left() {
    let f = fixture();
    let target = f.input.join("weights/model-00001.safetensors.age");
    let mut ct = fs::read(&target).unwrap();
    // Late in the file, so that earlier chunks were already written when it fails.
    let at = ct.len() - 100;
    ct[at] ^= 0x01;
    fs::write(&target, &ct).unwrap();
    fs::create_dir(&f.output).unwrap();
    for threads in [1, 4] {
        let err = open_model(
            &f.identity,
            &f.input,
            &f.output,
            &files_sha256(&f),
            &opts(threads),
        )
        .unwrap_err();
        assert_eq!(
            err,
            OpenError::Corrupt {
                path: target.clone()
            }
        );
        assert!(
            f.output.exists(),
            "an output that existed before is kept, empty"
        );
        assert_nothing_left(&f.output);
    }
    // A flipped header byte fails the header MAC.
    let mut ct = fs::read(&target).unwrap();
    ct[at] ^= 0x01;
    let mac = payload_start(&ct) - 20;
    // Another valid base64 character: a bit flip could make the header unparseable instead
    // (age then reports an unknown format), which is not the case under test.
    ct[mac] = if ct[mac] == b'A' { b'B' } else { b'A' };
    fs::write(&target, &ct).unwrap();
    let err = open_model(
        &f.identity,
        &f.input,
        &f.output,
        &files_sha256(&f),
        &opts(2),
    )
    .unwrap_err();
    assert_eq!(err, OpenError::Corrupt { path: target });
    assert_nothing_left(&f.output);
}

#[test]
fn truncated_ciphertext() {
    let f = fixture();
    let target = f.input.join("weights/model-00001.safetensors.age");
    let ct = fs::read(&target).unwrap();
    let start = payload_start(&ct);
    // Cut at a chunk boundary: age sees the stream end before its last chunk.
    fs::write(&target, &ct[..start + 10 * AGE_CHUNK]).unwrap();
    let err = open_model(
        &f.identity,
        &f.input,
        &f.output,
        &files_sha256(&f),
        &opts(2),
    )
    .unwrap_err();
    assert_eq!(
        err,
        OpenError::Truncated {
            path: target.clone()
        }
    );
    assert_nothing_left(&f.output);
    // Cut inside a chunk: that chunk fails authentication.
    fs::write(&target, &ct[..start + 10 * AGE_CHUNK + 1000]).unwrap();
    let err = open_model(
        &f.identity,
        &f.input,
        &f.output,
        &files_sha256(&f),
        &opts(2),
    )
    .unwrap_err();
    assert_eq!(err, OpenError::Corrupt { path: target });
    assert_nothing_left(&f.output);
}

#[test]
fn manifest_mismatch_names_missing_extra_and_changed() {
    let f = fixture();
    let good = files_sha256(&f);
    let mut resources: Vec<ModelResource> = good.resources().to_vec();
    // Changed: another digest for config.json.
    let i = resources
        .iter()
        .position(|r| r.name() == "config.json")
        .unwrap();
    resources[i] = ModelResource::new("config.json", vec![0u8; 32]);
    // Missing from the plaintext: a name only the expected manifest has.
    resources.push(ModelResource::new(
        "weights/model-00003.safetensors",
        vec![1u8; 32],
    ));
    // Extra in the plaintext: tokenizer.json is not expected.
    resources.retain(|r| r.name() != "tokenizer.json");
    let expected =
        ModelManifest::new(Serialization::Files, HashAlgorithm::Sha256, resources).unwrap();
    let err = open_model(&f.identity, &f.input, &f.output, &expected, &opts(2)).unwrap_err();
    assert_eq!(
        err,
        OpenError::ManifestMismatch {
            missing: vec!["weights/model-00003.safetensors".into()],
            extra: vec!["tokenizer.json".into()],
            changed: vec!["config.json".into()],
        }
    );
    let text = err.to_string();
    assert!(
        text.contains("missing [weights/model-00003.safetensors]"),
        "{text}"
    );
    assert_nothing_left(&f.output);

    // Another hash algorithm for the same files: every digest differs.
    let blake3 = f
        .model
        .manifest(Serialization::Files, HashAlgorithm::Blake3);
    let mut as_sha = Vec::new();
    for r in blake3.resources() {
        as_sha.push(ModelResource::new(r.name(), r.digest().to_vec()));
    }
    let wrong = ModelManifest::new(Serialization::Files, HashAlgorithm::Sha256, as_sha).unwrap();
    let err = open_model(&f.identity, &f.input, &f.output, &wrong, &opts(2)).unwrap_err();
    assert!(
        matches!(&err, OpenError::ManifestMismatch { changed, .. } if changed.len() == 5),
        "{err:?}"
    );
    assert_nothing_left(&f.output);
}

#[test]
fn output_not_empty_is_refused_before_anything_is_written() {
    let f = fixture();
    fs::create_dir(&f.output).unwrap();
    fs::write(f.output.join("keep.txt"), b"mine").unwrap();
    let err = open_model(
        &f.identity,
        &f.input,
        &f.output,
        &files_sha256(&f),
        &opts(2),
    )
    .unwrap_err();
    assert_eq!(
        err,
        OpenError::OutputNotEmpty {
            path: f.output.clone(),
            entry: "keep.txt".into()
        }
    );
    assert_eq!(walk(&f.output), vec![f.output.join("keep.txt")]);
    assert_eq!(fs::read(f.output.join("keep.txt")).unwrap(), b"mine");

    let file = f.output.join("keep.txt");
    let err = open_model(&f.identity, &f.input, &file, &files_sha256(&f), &opts(2)).unwrap_err();
    assert_eq!(err, OpenError::OutputNotDirectory { path: file });
}

#[test]
fn stale_staging_directory_is_removed() {
    let f = fixture();
    let stale = f.output.join(STAGING_DIR);
    fs::create_dir_all(stale.join("weights")).unwrap();
    fs::write(stale.join("weights/model-00001.safetensors"), b"half").unwrap();
    open_model(
        &f.identity,
        &f.input,
        &f.output,
        &files_sha256(&f),
        &opts(2),
    )
    .unwrap();
    f.model.assert_written(&f.output);
}

#[test]
fn cancellation_leaves_nothing() {
    let f = fixture();
    // Set before the start.
    let cancel = Arc::new(AtomicBool::new(true));
    let options = OpenOptions {
        cancel: Some(Arc::clone(&cancel)),
        threads: 2,
        ..OpenOptions::default()
    };
    let err = open_model(
        &f.identity,
        &f.input,
        &f.output,
        &files_sha256(&f),
        &options,
    )
    .unwrap_err();
    assert_eq!(err, OpenError::Cancelled);
    assert_nothing_left(&f.output);

    // Set mid-way: once the big file has its first chunk staged.
    let big = bytes(24 * 1024 * 1024, 9);
    let input = f.input.join("big");
    fs::create_dir(&input).unwrap();
    encrypt(&f.identity.to_public(), &big, &input.join("big.bin.age"));
    let mut h = FileHasher::new("big.bin", HashAlgorithm::Sha256, Serialization::Files);
    h.update(&big);
    let expected =
        ModelManifest::new(Serialization::Files, HashAlgorithm::Sha256, h.finish()).unwrap();
    cancel.store(false, Ordering::SeqCst);
    let staged = f.output.join(STAGING_DIR).join("big.bin");
    let watcher = {
        let cancel = Arc::clone(&cancel);
        std::thread::spawn(move || {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
            while std::time::Instant::now() < deadline {
                if fs::metadata(&staged).is_ok_and(|m| m.len() >= 1024 * 1024) {
                    cancel.store(true, Ordering::SeqCst);
                    return true;
                }
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            false
        })
    };
    let err = open_model(&f.identity, &input, &f.output, &expected, &options).unwrap_err();
    assert!(
        watcher.join().unwrap(),
        "the watcher saw the staged file grow"
    );
    assert_eq!(err, OpenError::Cancelled);
    assert_nothing_left(&f.output);
}

#[test]
fn single_file_model() {
    let dir = tempfile::tempdir().unwrap();
    let identity = age::x25519::Identity::generate();
    let plain = bytes(2_500_000, 4);
    let input = dir.path().join("model.gguf.age");
    encrypt(&identity.to_public(), &plain, &input);
    let mut h = FileHasher::new(".", HashAlgorithm::Sha256, Serialization::Files);
    h.update(&plain);
    let expected =
        ModelManifest::new(Serialization::Files, HashAlgorithm::Sha256, h.finish()).unwrap();
    let out = dir.path().join("out");
    let opened = open_model(&identity, &input, &out, &expected, &opts(2)).unwrap();
    assert_eq!(opened.files, 1);
    assert_eq!(fs::read(out.join("model.gguf")).unwrap(), plain);
    assert_eq!(walk(&out), vec![out.join("model.gguf")]);
}

#[test]
fn refused_inputs() {
    let f = fixture();
    let expected = files_sha256(&f);
    // A plaintext and an encrypted file that open to the same name.
    fs::write(f.input.join("tokenizer.json"), b"{}").unwrap();
    let err = open_model(&f.identity, &f.input, &f.output, &expected, &opts(1)).unwrap_err();
    assert!(
        matches!(&err, OpenError::DuplicateName { name, .. } if name == "tokenizer.json"),
        "{err:?}"
    );
    fs::remove_file(f.input.join("tokenizer.json")).unwrap();
    // A link.
    let link = f.input.join("weights/link");
    std::os::unix::fs::symlink("/etc/passwd", &link).unwrap();
    let err = open_model(&f.identity, &f.input, &f.output, &expected, &opts(1)).unwrap_err();
    assert_eq!(err, OpenError::Symlink { path: link.clone() });
    fs::remove_file(&link).unwrap();
    // A `.age` file that is not one, and an armored one.
    let fake = f.input.join("weights/fake.bin.age");
    fs::write(&fake, b"PK\x03\x04 not age").unwrap();
    let err = open_model(&f.identity, &f.input, &f.output, &expected, &opts(1)).unwrap_err();
    assert_eq!(err, OpenError::NotAgeFile { path: fake.clone() });
    fs::write(&fake, b"-----BEGIN AGE ENCRYPTED FILE-----\nYWdl\n").unwrap();
    let err = open_model(&f.identity, &f.input, &f.output, &expected, &opts(1)).unwrap_err();
    assert_eq!(err, OpenError::Armored { path: fake.clone() });
    fs::remove_file(&fake).unwrap();
    assert_nothing_left(&f.output);
    // Without the signature rule, model.sig is an extra file of the plaintext.
    let no_sig = OpenOptions {
        signature_name: None,
        ..opts(1)
    };
    let err = open_model(&f.identity, &f.input, &f.output, &expected, &no_sig).unwrap_err();
    assert!(
        matches!(&err, OpenError::ManifestMismatch { extra, .. } if extra == &["model.sig"]),
        "{err:?}"
    );
    assert_nothing_left(&f.output);
}

/// Files written by the standard `age` command are accepted (skipped when it is not installed:
/// `apt-get install age`).
#[test]
fn age_cli_output_is_accepted() {
    let Ok(status) = std::process::Command::new("age").arg("--version").output() else {
        eprintln!("skipped: the age command is not installed (apt-get install age)");
        return;
    };
    assert!(status.status.success());
    let f = fixture();
    let identity = age::x25519::Identity::generate();
    let recipient = identity.to_public().to_string();
    let input = f.input.parent().unwrap().join("cli");
    fs::create_dir(&input).unwrap();
    let mut resources = Vec::new();
    for (name, plain, _) in &f.model.files {
        let flat = name.replace('/', "_");
        let plain_path = f.input.parent().unwrap().join(&flat);
        fs::write(&plain_path, plain).unwrap();
        let out = std::process::Command::new("age")
            .args(["-r", &recipient, "-o"])
            .arg(input.join(format!("{flat}.age")))
            .arg(&plain_path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut h = FileHasher::new(flat, HashAlgorithm::Sha256, Serialization::Files);
        h.update(plain);
        resources.extend(h.finish());
    }
    let expected =
        ModelManifest::new(Serialization::Files, HashAlgorithm::Sha256, resources).unwrap();
    let opened = open_model(&identity, &input, &f.output, &expected, &opts(2)).unwrap();
    assert_eq!(opened.files, 5);
    assert_eq!(
        fs::read(f.output.join("weights_model-00001.safetensors")).unwrap(),
        f.model.files[2].1
    );
}
