//! Benchmark harness for `warden_agent::open::open_model` (used by `bench/model_open.sh`).
//!
//! ```text
//! model_open hash PLAIN                          # SHA-256 files manifest alone, one thread
//! model_open decrypt IDENTITY IN                 # age decryption alone, to nowhere, one thread
//! model_open open IDENTITY IN OUT PLAIN [THREADS] # open_model; expected = manifest of PLAIN
//! ```
//!
//! Each prints one line: `MODE bytes=N secs=S gbps=G cpu=C` (GB = 10^9 bytes; C: CPU seconds,
//! user + system, all threads). The expected manifest of `open` is computed before the clocks
//! start.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use warden_agent::open::{OpenOptions, open_model, parse_identity};
use warden_model::FileHasher;
use warden_proto::binding::{HashAlgorithm, ModelManifest, Serialization};

const CHUNK: usize = 1 << 20;

/// Every regular file under `root`, with its `/`-separated relative name.
fn files(root: &Path) -> anyhow::Result<Vec<(String, PathBuf)>> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, PathBuf)>) -> anyhow::Result<()> {
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            if path.is_dir() {
                walk(root, &path, out)?;
            } else {
                let rel = path.strip_prefix(root)?;
                let name = rel.to_str().context("non-UTF-8 name")?.to_owned();
                out.push((name, path));
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(root, root, &mut out)?;
    out.sort();
    Ok(out)
}

fn hash(plain: &Path) -> anyhow::Result<(ModelManifest, u64)> {
    let mut resources = Vec::new();
    let mut bytes = 0;
    let mut buf = vec![0u8; CHUNK];
    for (name, path) in files(plain)? {
        let mut h = FileHasher::new(name, HashAlgorithm::Sha256, Serialization::Files);
        let mut f = File::open(&path)?;
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                break;
            }
            h.update(buf.get(..n).context("read past buffer")?);
        }
        bytes += h.len();
        resources.extend(h.finish());
    }
    let manifest = ModelManifest::new(Serialization::Files, HashAlgorithm::Sha256, resources)?;
    Ok((manifest, bytes))
}

fn decrypt(identity: &age::x25519::Identity, input: &Path) -> anyhow::Result<u64> {
    let mut bytes = 0;
    let mut buf = vec![0u8; CHUNK];
    for (_, path) in files(input)? {
        let file = std::io::BufReader::with_capacity(64 * 1024, File::open(&path)?);
        let mut reader = age::Decryptor::new_buffered(file)?
            .decrypt(std::iter::once(identity as &dyn age::Identity))?;
        loop {
            let n = reader.read(&mut buf)?;
            if n == 0 {
                break;
            }
            bytes += n as u64;
        }
    }
    Ok(bytes)
}

/// CPU seconds (user + system) of this process so far, all threads, from /proc/self/stat
/// (assumes 100 clock ticks per second, as on every Linux build in use); 0 where unreadable.
fn cpu_secs() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return 0.0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

fn report(mode: &str, bytes: u64, start: Instant, cpu0: f64) {
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{mode} bytes={bytes} secs={secs:.3} gbps={:.3} cpu={:.2}",
        bytes as f64 / secs / 1e9,
        cpu_secs() - cpu0
    );
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| -> anyhow::Result<PathBuf> {
        Ok(PathBuf::from(args.get(i).context("missing argument")?))
    };
    let identity = |i: usize| -> anyhow::Result<age::x25519::Identity> {
        Ok(parse_identity(&std::fs::read(arg(i)?)?)?)
    };
    match args.first().map(String::as_str) {
        Some("hash") => {
            let (start, cpu0) = (Instant::now(), cpu_secs());
            let (_, bytes) = hash(&arg(1)?)?;
            report("hash", bytes, start, cpu0);
        }
        Some("decrypt") => {
            let identity = identity(1)?;
            let (start, cpu0) = (Instant::now(), cpu_secs());
            let bytes = decrypt(&identity, &arg(2)?)?;
            report("decrypt", bytes, start, cpu0);
        }
        Some("open") => {
            let identity = identity(1)?;
            let (expected, _) = hash(&arg(4)?)?;
            let threads = match args.get(5) {
                Some(t) => t.parse()?,
                None => 0,
            };
            let opts = OpenOptions {
                threads,
                ..OpenOptions::default()
            };
            let (start, cpu0) = (Instant::now(), cpu_secs());
            let opened = open_model(&identity, &arg(2)?, &arg(3)?, &expected, &opts)?;
            report("open", opened.bytes, start, cpu0);
        }
        _ => bail!("usage: model_open hash PLAIN | decrypt ID IN | open ID IN OUT PLAIN [THREADS]"),
    }
    Ok(())
}
