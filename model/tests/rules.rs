//! The model-signing 1.1.1 walk and naming rules on generated trees, and where we refuse what
//! 1.1.1 silently gets wrong.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::fs;
use std::num::NonZeroU64;
use std::os::unix::fs::symlink;
use std::path::Path;

use sha2::{Digest, Sha256};
use warden_model::hash::{HashError, HashOptions, HashedModel, NoProgress, hash_model};
use warden_proto::binding::{HashAlgorithm, Serialization};

const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

fn write(root: &Path, rel: &str, data: &[u8]) {
    let path = root.join(rel);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, data).unwrap();
}

fn shards(size: u64) -> Serialization {
    Serialization::Shards {
        shard_size: NonZeroU64::new(size).unwrap(),
    }
}

fn hash(root: &Path, opts: &HashOptions) -> Result<HashedModel, HashError> {
    hash_model(root, opts, &NoProgress)
}

fn names(h: &HashedModel) -> Vec<String> {
    h.manifest
        .oms_resources()
        .iter()
        .map(|r| r.name().to_owned())
        .collect()
}

fn sha(data: &[u8]) -> Vec<u8> {
    Sha256::digest(data).to_vec()
}

#[test]
fn root_git_paths_are_ignored_nested_ones_hashed() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, ".git/HEAD", b"ref");
    write(root, ".github/workflows/ci.yml", b"x");
    write(root, ".gitignore", b"x");
    write(root, ".gitattributes", b"x");
    write(root, ".hidden", b"h");
    write(root, "sub/.git/HEAD", b"ref");
    write(root, "tokenizer/.gitignore", b"x");
    let h = hash(root, &HashOptions::default()).unwrap();
    assert_eq!(
        names(&h),
        [".hidden", "sub/.git/HEAD", "tokenizer/.gitignore"]
    );
    assert_eq!(
        h.manifest.ignore_paths(),
        [".git", ".gitattributes", ".github", ".gitignore"]
    );
    let all = hash(
        root,
        &HashOptions {
            ignore_git_paths: false,
            ..HashOptions::default()
        },
    )
    .unwrap();
    assert_eq!(all.files, 7);
    assert!(all.manifest.ignore_paths().is_empty());
}

#[test]
fn oms_order_is_component_wise() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "tokenizer.json", b"a");
    write(dir.path(), "tokenizer/vocab.txt", b"b");
    let h = hash(dir.path(), &HashOptions::default()).unwrap();
    assert_eq!(names(&h), ["tokenizer/vocab.txt", "tokenizer.json"]);
    let mut concat = sha(b"b");
    concat.extend(sha(b"a"));
    assert_eq!(h.manifest.subject_digest().to_vec(), sha(&concat));
}

#[test]
fn empty_files_count_in_files_mode_only_and_empty_dirs_are_invisible() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "empty.txt", b"");
    write(dir.path(), "w.bin", b"data");
    fs::create_dir_all(dir.path().join("nothing/here")).unwrap();
    let files = hash(dir.path(), &HashOptions::default()).unwrap();
    assert_eq!(names(&files), ["empty.txt", "w.bin"]);
    assert_eq!(
        hex::encode(files.manifest.resources()[0].digest()),
        EMPTY_SHA256
    );
    let sharded = hash(
        dir.path(),
        &HashOptions {
            serialization: shards(3),
            ..HashOptions::default()
        },
    )
    .unwrap();
    assert_eq!(names(&sharded), ["w.bin:0:3", "w.bin:3:4"]);
    assert_eq!(sharded.files, 2);
    assert_eq!(sharded.manifest.resources()[1].digest(), sha(b"a"));
}

#[test]
fn single_file_model_is_named_dot() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("model.gguf");
    fs::write(&file, b"0123456789").unwrap();
    let h = hash(&file, &HashOptions::default()).unwrap();
    assert_eq!(names(&h), ["."]);
    assert_eq!(h.subject_name, "model.gguf");
    assert_eq!(h.manifest.resources()[0].digest(), sha(b"0123456789"));
    let s = hash(
        &file,
        &HashOptions {
            serialization: shards(4),
            ..HashOptions::default()
        },
    )
    .unwrap();
    assert_eq!(names(&s), [".:0:4", ".:4:8", ".:8:10"]);
    assert_eq!(s.subject_name, "model.gguf");
    // An empty single file has no shard.
    let empty = dir.path().join("empty");
    fs::write(&empty, b"").unwrap();
    assert_eq!(
        hash(
            &empty,
            &HashOptions {
                serialization: shards(4),
                ..HashOptions::default()
            }
        ),
        Err(HashError::NoFiles { root: empty })
    );
}

#[test]
fn subject_name_is_the_directory_name() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("my-model");
    write(&root, "a", b"a");
    assert_eq!(
        hash(&root, &HashOptions::default()).unwrap().subject_name,
        "my-model"
    );
    let trailing = format!("{}/", root.display());
    assert_eq!(
        hash(Path::new(&trailing), &HashOptions::default())
            .unwrap()
            .subject_name,
        "my-model"
    );
}

#[test]
fn symlinks_refused_by_default() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "real.bin", b"weights");
    let link = dir.path().join("link.bin");
    symlink("real.bin", &link).unwrap();
    assert_eq!(
        hash(dir.path(), &HashOptions::default()),
        Err(HashError::Symlink { path: link })
    );
}

#[test]
fn allowed_symlink_to_file_hashes_the_target_under_the_link_name() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "real.bin", b"weights");
    symlink("real.bin", dir.path().join("link.bin")).unwrap();
    let opts = HashOptions {
        allow_symlinks: true,
        ..HashOptions::default()
    };
    let h = hash(dir.path(), &opts).unwrap();
    assert_eq!(names(&h), ["link.bin", "real.bin"]);
    assert_eq!(h.manifest.resources()[0].digest(), sha(b"weights"));
    assert_eq!(h.bytes, 14);
}

#[test]
fn symlink_to_directory_and_broken_link_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "realdir/x", b"x");
    let link = dir.path().join("linkdir");
    symlink("realdir", &link).unwrap();
    let opts = HashOptions {
        allow_symlinks: true,
        ..HashOptions::default()
    };
    assert_eq!(
        hash(dir.path(), &opts),
        Err(HashError::SymlinkToDirectory { path: link.clone() })
    );
    fs::remove_file(&link).unwrap();
    symlink("missing", &link).unwrap();
    assert_eq!(
        hash(dir.path(), &opts),
        Err(HashError::BrokenSymlink { path: link })
    );
}

#[test]
fn fifo_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a", b"a");
    let fifo = dir.path().join("pipe");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(
        hash(dir.path(), &HashOptions::default()),
        Err(HashError::SpecialFile {
            path: fifo,
            kind: "FIFO"
        })
    );
}

#[test]
fn colon_in_a_path_is_refused_in_shard_mode_only() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "sub/a:b.bin", b"x");
    assert!(hash(dir.path(), &HashOptions::default()).is_ok());
    assert_eq!(
        hash(
            dir.path(),
            &HashOptions {
                serialization: shards(4096),
                ..HashOptions::default()
            }
        ),
        Err(HashError::ColonInShardName {
            name: "sub/a:b.bin".to_owned()
        })
    );
}

#[test]
fn blake3_shards_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a", b"a");
    assert_eq!(
        hash(
            dir.path(),
            &HashOptions {
                serialization: shards(4096),
                algorithm: HashAlgorithm::Blake3,
                ..HashOptions::default()
            }
        ),
        Err(HashError::UnsupportedShardAlgorithm {
            algorithm: HashAlgorithm::Blake3
        })
    );
}

#[test]
fn ignore_path_covers_its_subtree_and_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "keep.bin", b"k");
    write(dir.path(), "cache/a/b.bin", b"x");
    write(dir.path(), "cache.json", b"c");
    write(dir.path(), "notes/README.md", b"r");
    // An ignored subtree is not even looked at: a FIFO inside it is fine.
    let status = std::process::Command::new("mkfifo")
        .arg(dir.path().join("cache/a/pipe"))
        .status()
        .unwrap();
    assert!(status.success());
    let opts = HashOptions {
        ignore_paths: vec!["cache".to_owned(), "./notes/README.md".to_owned()],
        ..HashOptions::default()
    };
    let h = hash(dir.path(), &opts).unwrap();
    assert_eq!(names(&h), ["cache.json", "keep.bin"]);
    assert_eq!(
        h.manifest.ignore_paths(),
        [
            ".git",
            ".gitattributes",
            ".github",
            ".gitignore",
            "cache",
            "notes/README.md"
        ]
    );
}

#[test]
fn empty_directory_is_not_a_model() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir(dir.path().join("empty")).unwrap();
    assert_eq!(
        hash(dir.path(), &HashOptions::default()),
        Err(HashError::NoFiles {
            root: dir.path().to_owned()
        })
    );
}

#[test]
fn thread_counts_and_large_files_give_identical_manifests() {
    let dir = tempfile::tempdir().unwrap();
    // Larger than the read windows (1 MiB sequential, 512 KiB BLAKE3-parallel).
    let big: Vec<u8> = (0..(9 << 20) + 12345u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    write(dir.path(), "big.bin", &big);
    for i in 0..20 {
        write(dir.path(), &format!("d{}/f{i}", i % 3), &big[..i * 1000]);
    }
    for (serialization, algorithm) in [
        (Serialization::Files, HashAlgorithm::Sha256),
        (Serialization::Files, HashAlgorithm::Blake3),
        (Serialization::Files, HashAlgorithm::Blake2b),
        (shards(3 << 20), HashAlgorithm::Sha256),
        (shards(1000), HashAlgorithm::Blake2b),
    ] {
        let run = |threads| {
            hash(
                dir.path(),
                &HashOptions {
                    serialization,
                    algorithm,
                    threads,
                    ..HashOptions::default()
                },
            )
            .unwrap()
        };
        let one = run(1);
        assert_eq!(one, run(4), "{serialization:?} {algorithm}");
        assert_eq!(one, run(0), "{serialization:?} {algorithm}");
        assert_eq!(
            one.bytes,
            big.len() as u64 + (0..20).map(|i| i * 1000).sum::<u64>()
        );
        let big_digest = match algorithm {
            HashAlgorithm::Sha256 => sha(&big),
            HashAlgorithm::Blake3 => blake3::hash(&big).as_bytes().to_vec(),
            _ => continue,
        };
        if serialization == Serialization::Files {
            let r = one
                .manifest
                .resources()
                .iter()
                .find(|r| r.name() == "big.bin")
                .unwrap();
            assert_eq!(r.digest(), big_digest, "{algorithm}");
        } else {
            let r = one
                .manifest
                .resources()
                .iter()
                .find(|r| r.name() == "big.bin:3145728:6291456")
                .unwrap();
            assert_eq!(r.digest(), sha(&big[3 << 20..6 << 20]));
        }
    }
}

#[test]
fn non_utf8_names_are_refused() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join(OsStr::from_bytes(b"caf\xe9"));
    fs::write(&bad, b"x").unwrap();
    assert_eq!(
        hash(dir.path(), &HashOptions::default()),
        Err(HashError::NonUtf8 { path: bad })
    );
}

#[test]
fn progress_sees_every_byte_once() {
    use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

    #[derive(Default)]
    struct Count {
        total: AtomicU64,
        files: AtomicUsize,
        seen: AtomicU64,
        finished: AtomicUsize,
    }
    impl warden_model::Progress for Count {
        fn start(&self, total_bytes: u64, files: usize) {
            self.total.store(total_bytes, Ordering::SeqCst);
            self.files.store(files, Ordering::SeqCst);
        }
        fn advance(&self, bytes: u64) {
            self.seen.fetch_add(bytes, Ordering::SeqCst);
        }
        fn finish(&self) {
            self.finished.fetch_add(1, Ordering::SeqCst);
        }
    }

    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "big", &vec![7u8; (5 << 20) + 3]);
    write(dir.path(), "small", b"abc");
    write(dir.path(), "empty", b"");
    for algorithm in [HashAlgorithm::Sha256, HashAlgorithm::Blake3] {
        let count = Count::default();
        let opts = HashOptions {
            algorithm,
            ..HashOptions::default()
        };
        let h = hash_model(dir.path(), &opts, &count).unwrap();
        assert_eq!(h.bytes, (5 << 20) + 6);
        assert_eq!(count.total.load(Ordering::SeqCst), h.bytes);
        assert_eq!(count.seen.load(Ordering::SeqCst), h.bytes);
        assert_eq!(count.files.load(Ordering::SeqCst), 3);
        assert_eq!(count.finished.load(Ordering::SeqCst), 1);
    }
}
