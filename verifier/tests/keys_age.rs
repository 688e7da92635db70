//! `warden-verifier keys add --generate --age`, age identity import through `--from-file`, and
//! `keys recipient`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_warden-verifier");

fn keys(dir: &Path, args: &[&str]) -> Output {
    let config = dir.join("verifier.toml");
    if !config.exists() {
        std::fs::write(&config, "state_dir = \"state\"\n").unwrap();
    }
    Command::new(BIN)
        .arg("keys")
        .args(args)
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).unwrap()
}

#[test]
fn generate_age_prints_the_recipient_and_recipient_repeats_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = keys(
        dir.path(),
        &["add", "llama", "--policy", "default", "--generate", "--age"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let recipient = stdout(&out);
    let recipient = recipient.trim_end();
    assert!(recipient.starts_with("age1"), "{recipient}");
    assert_eq!(recipient.lines().count(), 1);
    assert!(
        stderr(&out).contains(&format!("age -r {recipient} -o FILE.age FILE")),
        "{}",
        stderr(&out)
    );
    assert!(!stdout(&out).contains("AGE-SECRET-KEY"));

    let out = keys(dir.path(), &["recipient", "llama"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim_end(), recipient);

    let out = keys(dir.path(), &["recipient", "nope"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("no key nope"), "{}", stderr(&out));
}

#[test]
fn age_without_generate_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k.bin");
    std::fs::write(&key, b"0123456789abcdef").unwrap();
    let out = keys(
        dir.path(),
        &[
            "add",
            "m",
            "--policy",
            "default",
            "--age",
            "--from-file",
            key.to_str().unwrap(),
        ],
    );
    assert!(!out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("--age needs --generate"),
        "{}",
        stderr(&out)
    );
    let out = keys(dir.path(), &["list"]);
    assert!(stdout(&out).contains("no keys"), "{}", stdout(&out));
}

#[test]
fn recipient_of_a_raw_key_names_the_wrong_kind() {
    let dir = tempfile::tempdir().unwrap();
    let out = keys(
        dir.path(),
        &["add", "raw", "--policy", "default", "--generate"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("added key raw (32 bytes)"));
    let out = keys(dir.path(), &["recipient", "raw"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("key raw is not an age X25519 identity"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn age_identity_file_import_prints_its_recipient() {
    let dir = tempfile::tempdir().unwrap();
    let identity = age::x25519::Identity::generate();
    let recipient = identity.to_public().to_string();
    let text = {
        use age::secrecy::ExposeSecret;
        identity.to_string().expose_secret().to_owned()
    };
    let file = dir.path().join("key.txt");
    std::fs::write(
        &file,
        format!("# created: 2026-01-01T00:00:00Z\n# public key: {recipient}\n{text}\n"),
    )
    .unwrap();
    let out = keys(
        dir.path(),
        &[
            "add",
            "imported",
            "--policy",
            "default",
            "--from-file",
            file.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim_end(), recipient);
    let out = keys(dir.path(), &["recipient", "imported"]);
    assert_eq!(stdout(&out).trim_end(), recipient);

    // Two identities in one file: refused, nothing stored.
    let other = {
        use age::secrecy::ExposeSecret;
        age::x25519::Identity::generate()
            .to_string()
            .expose_secret()
            .to_owned()
    };
    std::fs::write(&file, format!("{text}\n{other}\n")).unwrap();
    let out = keys(
        dir.path(),
        &[
            "add",
            "two",
            "--policy",
            "default",
            "--from-file",
            file.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("not a valid age identity file"),
        "{}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains(&text[16..]));
    let out = keys(dir.path(), &["list"]);
    assert!(!stdout(&out).contains("two"), "{}", stdout(&out));
}
