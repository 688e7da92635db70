//! Transparency-log primitives, pure (no I/O, no clock): RFC 9162 section 2.1 Merkle trees with
//! SHA-256 (tree hashes, inclusion and consistency proofs), C2SP `tlog-checkpoint` and C2SP
//! `signed-note` with Ed25519 keys.
//!
//! Tree sizes and leaf indices are `u64`, as in checkpoints. Consistency from the empty tree
//! (`old_size == 0`) is rejected: RFC 9162 section 2.1.4 defines proofs for `0 < m`, and a
//! client that has seen no checkpoint has nothing to be consistent with.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ring::digest::{Context, SHA256};
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair as _, UnparsedPublicKey};

/// A SHA-256 tree hash.
pub type Hash = [u8; 32];

/// The signed-note signature type byte of Ed25519 (C2SP signed-note, "Signature types").
const ED25519_TYPE: u8 = 0x01;

/// At most this many signature lines are accepted in a note: a bound on the work a hostile note
/// can cause, far above any real log-plus-witnesses deployment.
pub const MAX_NOTE_SIGNATURES: usize = 100;

/// The prefix of a signature line: an em dash (U+2014) and a space.
const SIG_PREFIX: &str = "\u{2014} ";

/// Why a proof, note, checkpoint or key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TlogError {
    /// The leaf index is not below the tree size.
    #[error("leaf index {index} is out of range for tree size {size}")]
    IndexOutOfRange {
        /// The leaf index.
        index: u64,
        /// The tree size.
        size: u64,
    },
    /// The proof has more or fewer hashes than the tree sizes call for.
    #[error("the proof has the wrong number of hashes")]
    ProofLength,
    /// The root computed from the proof is not the expected root.
    #[error("the computed root does not match the expected root")]
    RootMismatch,
    /// The sizes admit no consistency proof: the old size is zero or larger than the new size.
    #[error("no consistency proof from tree size {old} to tree size {new}")]
    InconsistentSizes {
        /// The old tree size.
        old: u64,
        /// The new tree size.
        new: u64,
    },
    /// The signed note is malformed.
    #[error("malformed signed note: {0}")]
    NoteSyntax(&'static str),
    /// No signature line is from a known key.
    #[error("the note carries no signature from a known key")]
    UnknownSigner,
    /// A known key's signature does not verify.
    #[error("the signature of {name} does not verify")]
    BadSignature {
        /// The key name.
        name: String,
    },
    /// The checkpoint body is malformed.
    #[error("malformed checkpoint: {0}")]
    CheckpointSyntax(&'static str),
    /// The verifier key string is malformed.
    #[error("malformed verifier key: {0}")]
    VerifierKeySyntax(&'static str),
    /// A key name is empty or contains whitespace or `+` (C2SP signed-note).
    #[error("invalid key name")]
    KeyName,
    /// The Ed25519 private key could not be read.
    #[error("invalid Ed25519 private key")]
    PrivateKey,
}

/// `SHA-256(0x00 || data)`: the hash of a leaf (RFC 9162 section 2.1.1).
pub fn leaf_hash(data: &[u8]) -> Hash {
    hash_parts(&[&[0x00], data])
}

/// `SHA-256(0x01 || left || right)`: the hash of an interior node (RFC 9162 section 2.1.1).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    hash_parts(&[&[0x01], left, right])
}

/// The root of the empty tree, `SHA-256("")` (RFC 9162 section 2.1.1).
pub fn empty_root() -> Hash {
    hash_parts(&[])
}

fn hash_parts(parts: &[&[u8]]) -> Hash {
    let mut ctx = Context::new(&SHA256);
    for part in parts {
        ctx.update(part);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// The largest power of two strictly smaller than `n`; `n` must be at least 2.
fn split_point(n: usize) -> usize {
    1 << (usize::BITS - 1 - (n - 1).leading_zeros())
}

/// `MTH(D[n])` over already-hashed leaves (RFC 9162 section 2.1.1).
pub fn root(leaf_hashes: &[Hash]) -> Hash {
    match leaf_hashes {
        [] => empty_root(),
        [only] => *only,
        _ => {
            let (left, right) = leaf_hashes.split_at(split_point(leaf_hashes.len()));
            node_hash(&root(left), &root(right))
        }
    }
}

fn to_usize(n: u64) -> Option<usize> {
    usize::try_from(n).ok()
}

fn size_of(leaf_hashes: &[Hash]) -> u64 {
    // usize is at most 64 bits on every target Rust supports.
    u64::try_from(leaf_hashes.len()).unwrap_or(u64::MAX)
}

/// The inclusion proof `PATH(index, D[n])` of the leaf at `index` (RFC 9162 section 2.1.3.1).
pub fn inclusion_proof(leaf_hashes: &[Hash], index: u64) -> Result<Vec<Hash>, TlogError> {
    let size = size_of(leaf_hashes);
    let out_of_range = TlogError::IndexOutOfRange { index, size };
    let m = to_usize(index).ok_or(out_of_range.clone())?;
    if m >= leaf_hashes.len() {
        return Err(out_of_range);
    }
    let mut proof = Vec::new();
    path(m, leaf_hashes, &mut proof);
    Ok(proof)
}

/// Appends PATH(m, tree) to `out`, leaf side first; `m < tree.len()`.
fn path(m: usize, tree: &[Hash], out: &mut Vec<Hash>) {
    if tree.len() <= 1 {
        return;
    }
    let k = split_point(tree.len());
    let (left, right) = tree.split_at(k);
    if m < k {
        path(m, left, out);
        out.push(root(right));
    } else {
        path(m - k, right, out);
        out.push(root(left));
    }
}

/// Checks that `leaf` is at `index` in the tree of `tree_size` leaves with root `root`, by the
/// algorithm of RFC 9162 section 2.1.3.2.
pub fn verify_inclusion(
    leaf: &Hash,
    index: u64,
    tree_size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), TlogError> {
    if index >= tree_size {
        return Err(TlogError::IndexOutOfRange {
            index,
            size: tree_size,
        });
    }
    let mut f_n = index;
    let mut s_n = tree_size - 1;
    let mut r = *leaf;
    for p in proof {
        if s_n == 0 {
            return Err(TlogError::ProofLength);
        }
        if f_n & 1 == 1 || f_n == s_n {
            r = node_hash(p, &r);
            while f_n & 1 == 0 && f_n != 0 {
                f_n >>= 1;
                s_n >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    if s_n != 0 {
        return Err(TlogError::ProofLength);
    }
    if r != *root {
        return Err(TlogError::RootMismatch);
    }
    Ok(())
}

/// The consistency proof `PROOF(old_size, D[n])` (RFC 9162 section 2.1.4.1); empty when
/// `old_size == n`. `old_size` 0 or above `n` is [`TlogError::InconsistentSizes`].
pub fn consistency_proof(leaf_hashes: &[Hash], old_size: u64) -> Result<Vec<Hash>, TlogError> {
    let new = size_of(leaf_hashes);
    let bad = TlogError::InconsistentSizes { old: old_size, new };
    let m = to_usize(old_size).ok_or(bad.clone())?;
    if m == 0 || m > leaf_hashes.len() {
        return Err(bad);
    }
    let mut proof = Vec::new();
    subproof(m, leaf_hashes, true, &mut proof);
    Ok(proof)
}

/// Appends SUBPROOF(m, tree, complete) to `out`; `0 < m <= tree.len()`.
fn subproof(m: usize, tree: &[Hash], complete: bool, out: &mut Vec<Hash>) {
    if m == tree.len() {
        if !complete {
            out.push(root(tree));
        }
        return;
    }
    let k = split_point(tree.len());
    let (left, right) = tree.split_at(k);
    if m <= k {
        subproof(m, left, complete, out);
        out.push(root(right));
    } else {
        subproof(m - k, right, false, out);
        out.push(root(left));
    }
}

/// Checks that the tree of `new_size` leaves with root `new_root` extends the tree of
/// `old_size` leaves with root `old_root`, by the algorithm of RFC 9162 section 2.1.4.2.
///
/// Equal sizes need an empty proof and equal roots. `old_size` 0 is refused (see the module
/// documentation).
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), TlogError> {
    if old_size == 0 || old_size > new_size {
        return Err(TlogError::InconsistentSizes {
            old: old_size,
            new: new_size,
        });
    }
    if old_size == new_size {
        if !proof.is_empty() {
            return Err(TlogError::ProofLength);
        }
        if old_root != new_root {
            return Err(TlogError::RootMismatch);
        }
        return Ok(());
    }
    // Step 1: a proof between different sizes is never empty.
    let Some((first, rest)) = proof.split_first() else {
        return Err(TlogError::ProofLength);
    };
    // Step 2: when the old tree is a complete subtree its root is the start of the path.
    let (start, rest) = if old_size.is_power_of_two() {
        (old_root, proof)
    } else {
        (first, rest)
    };
    let mut f_n = old_size - 1;
    let mut s_n = new_size - 1;
    while f_n & 1 == 1 {
        f_n >>= 1;
        s_n >>= 1;
    }
    let mut f_r = *start;
    let mut s_r = *start;
    for c in rest {
        if s_n == 0 {
            return Err(TlogError::ProofLength);
        }
        if f_n & 1 == 1 || f_n == s_n {
            f_r = node_hash(c, &f_r);
            s_r = node_hash(c, &s_r);
            while f_n & 1 == 0 && f_n != 0 {
                f_n >>= 1;
                s_n >>= 1;
            }
        } else {
            s_r = node_hash(&s_r, c);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    if s_n != 0 {
        return Err(TlogError::ProofLength);
    }
    if f_r != *old_root || s_r != *new_root {
        return Err(TlogError::RootMismatch);
    }
    Ok(())
}

/// A C2SP `tlog-checkpoint`: the note body a log signs to commit to its tree of `size` leaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's origin line, unique to the log (e.g. `example.com/log`).
    pub origin: String,
    /// The number of leaves.
    pub size: u64,
    /// The RFC 9162 root of those leaves.
    pub root: Hash,
    /// Optional extension lines, in order, without their newlines.
    pub extensions: Vec<String>,
}

impl Checkpoint {
    /// The note body `<origin>\n<size>\n<base64 root>\n` followed by one line per extension.
    ///
    /// Refuses an empty origin or extension line, or one with a control character, since the
    /// body would not parse back.
    pub fn to_note_body(&self) -> Result<String, TlogError> {
        let bad_line = |line: &str| line.is_empty() || line.chars().any(char::is_control);
        if bad_line(&self.origin) {
            return Err(TlogError::CheckpointSyntax("bad origin line"));
        }
        if self.extensions.iter().any(|e| bad_line(e)) {
            return Err(TlogError::CheckpointSyntax("bad extension line"));
        }
        let mut body = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            B64.encode(self.root)
        );
        for extension in &self.extensions {
            body.push_str(extension);
            body.push('\n');
        }
        Ok(body)
    }

    /// Parses a checkpoint note body strictly: a non-empty origin, a decimal size without
    /// leading zeros, a standard-base64 root of exactly 32 bytes, then optional non-empty
    /// extension lines; every line ends in `\n`.
    pub fn parse(body: &str) -> Result<Self, TlogError> {
        let body = body
            .strip_suffix('\n')
            .ok_or(TlogError::CheckpointSyntax("no final newline"))?;
        let mut lines = body.split('\n');
        let origin = lines.next().unwrap_or_default();
        let size = lines
            .next()
            .ok_or(TlogError::CheckpointSyntax("missing size"))?;
        let root = lines
            .next()
            .ok_or(TlogError::CheckpointSyntax("missing root hash"))?;
        let extensions: Vec<String> = lines.map(str::to_owned).collect();
        if origin.is_empty() {
            return Err(TlogError::CheckpointSyntax("empty origin"));
        }
        if [origin, size, root]
            .into_iter()
            .chain(extensions.iter().map(String::as_str))
            .any(|line| line.chars().any(char::is_control))
        {
            return Err(TlogError::CheckpointSyntax("control character"));
        }
        if extensions.iter().any(String::is_empty) {
            return Err(TlogError::CheckpointSyntax("empty line"));
        }
        if size.is_empty()
            || !size.bytes().all(|b| b.is_ascii_digit())
            || (size.len() > 1 && size.starts_with('0'))
        {
            return Err(TlogError::CheckpointSyntax(
                "size is not a canonical decimal",
            ));
        }
        let size = size
            .parse::<u64>()
            .map_err(|_| TlogError::CheckpointSyntax("size does not fit 64 bits"))?;
        let root: Hash = B64
            .decode(root)
            .map_err(|_| TlogError::CheckpointSyntax("root hash is not base64"))?
            .try_into()
            .map_err(|_| TlogError::CheckpointSyntax("root hash is not 32 bytes"))?;
        Ok(Self {
            origin: origin.to_owned(),
            size,
            root,
            extensions,
        })
    }
}

/// A key name is non-empty and has no whitespace and no `+` (C2SP signed-note).
fn check_key_name(name: &str) -> Result<(), TlogError> {
    if name.is_empty() || name.contains('+') || name.chars().any(char::is_whitespace) {
        return Err(TlogError::KeyName);
    }
    Ok(())
}

/// The key ID: the first 4 bytes of `SHA-256(name || 0x0A || 0x01 || public key)`.
fn key_id(name: &str, public_key: &[u8; 32]) -> [u8; 4] {
    let h = hash_parts(&[name.as_bytes(), &[0x0A, ED25519_TYPE], public_key]);
    let [a, b, c, d, ..] = h;
    [a, b, c, d]
}

/// An Ed25519 signed-note signer. Its `Debug` shows the name and key ID, never the key.
pub struct NoteSigner {
    name: String,
    key_id: [u8; 4],
    key: Ed25519KeyPair,
}

impl fmt::Debug for NoteSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NoteSigner")
            .field("name", &self.name)
            .field("key_id", &hex::encode(self.key_id))
            .finish_non_exhaustive()
    }
}

impl NoteSigner {
    /// A signer from a PKCS#8 v1 or v2 Ed25519 private key.
    pub fn from_pkcs8(name: &str, pkcs8: &[u8]) -> Result<Self, TlogError> {
        let key =
            Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8).map_err(|_| TlogError::PrivateKey)?;
        Self::with_key(name, key)
    }

    /// A signer from a 32-byte Ed25519 seed.
    pub fn from_seed(name: &str, seed: &[u8; 32]) -> Result<Self, TlogError> {
        let key = Ed25519KeyPair::from_seed_unchecked(seed).map_err(|_| TlogError::PrivateKey)?;
        Self::with_key(name, key)
    }

    fn with_key(name: &str, key: Ed25519KeyPair) -> Result<Self, TlogError> {
        check_key_name(name)?;
        let public: [u8; 32] = key
            .public_key()
            .as_ref()
            .try_into()
            .map_err(|_| TlogError::PrivateKey)?;
        Ok(Self {
            name: name.to_owned(),
            key_id: key_id(name, &public),
            key,
        })
    }

    /// The matching verifier.
    pub fn verifier(&self) -> NoteVerifier {
        let mut public_key = [0u8; 32];
        public_key.copy_from_slice(self.key.public_key().as_ref());
        NoteVerifier {
            name: self.name.clone(),
            key_id: self.key_id,
            public_key,
        }
    }

    /// The signed note: `body`, a blank line and one signature line
    /// `— <name> <base64(key ID || signature)>`. The body must be a valid note text: it ends in
    /// `\n` and has no control characters besides newlines.
    pub fn sign(&self, body: &str) -> Result<String, TlogError> {
        check_note_text(body)?;
        let mut blob = self.key_id.to_vec();
        blob.extend_from_slice(self.key.sign(body.as_bytes()).as_ref());
        Ok(format!(
            "{body}\n{SIG_PREFIX}{} {}\n",
            self.name,
            B64.encode(blob)
        ))
    }
}

/// The note text ends in a newline and has no control character other than newline.
fn check_note_text(text: &str) -> Result<(), TlogError> {
    if !text.ends_with('\n') {
        return Err(TlogError::NoteSyntax("text does not end in a newline"));
    }
    if text.chars().any(|c| c.is_control() && c != '\n') {
        return Err(TlogError::NoteSyntax("control character in text"));
    }
    Ok(())
}

/// An Ed25519 signed-note verifier key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteVerifier {
    /// The key name.
    pub name: String,
    /// The key ID, derived from the name and key.
    pub key_id: [u8; 4],
    /// The Ed25519 public key.
    pub public_key: [u8; 32],
}

impl NoteVerifier {
    /// A verifier for `public_key` under `name`, with its derived key ID.
    pub fn new(name: &str, public_key: [u8; 32]) -> Result<Self, TlogError> {
        check_key_name(name)?;
        Ok(Self {
            name: name.to_owned(),
            key_id: key_id(name, &public_key),
            public_key,
        })
    }

    /// The standard verifier key string `<name>+<hex key ID>+<base64(0x01 || public key)>`.
    pub fn verifier_key_string(&self) -> String {
        let mut typed = vec![ED25519_TYPE];
        typed.extend_from_slice(&self.public_key);
        format!(
            "{}+{}+{}",
            self.name,
            hex::encode(self.key_id),
            B64.encode(typed)
        )
    }

    fn verifies(&self, text: &str, signature: &[u8]) -> bool {
        UnparsedPublicKey::new(&ED25519, &self.public_key)
            .verify(text.as_bytes(), signature)
            .is_ok()
    }
}

/// Parses a verifier key string `<name>+<8 lowercase hex digits>+<base64(0x01 || key)>`; the key
/// ID must match the name and key.
pub fn parse_verifier_key(vkey: &str) -> Result<NoteVerifier, TlogError> {
    // The name has no '+'; the base64 key may contain some.
    let mut parts = vkey.splitn(3, '+');
    let (Some(name), Some(id_hex), Some(key_b64)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(TlogError::VerifierKeySyntax("not three +-separated fields"));
    };
    check_key_name(name).map_err(|_| TlogError::VerifierKeySyntax("bad key name"))?;
    if id_hex.len() != 8
        || !id_hex
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        return Err(TlogError::VerifierKeySyntax(
            "key ID is not 8 lowercase hex digits",
        ));
    }
    let typed = B64
        .decode(key_b64)
        .map_err(|_| TlogError::VerifierKeySyntax("key is not base64"))?;
    let Some((&ED25519_TYPE, public_key)) = typed.split_first() else {
        return Err(TlogError::VerifierKeySyntax("not an Ed25519 key"));
    };
    let public_key: [u8; 32] = public_key
        .try_into()
        .map_err(|_| TlogError::VerifierKeySyntax("Ed25519 key is not 32 bytes"))?;
    let verifier = NoteVerifier::new(name, public_key)?;
    if hex::encode(verifier.key_id) != id_hex {
        return Err(TlogError::VerifierKeySyntax(
            "key ID does not match the key",
        ));
    }
    Ok(verifier)
}

/// Opens a signed note: returns its text and the names of the `verifiers` whose signatures
/// verify, in signature order.
///
/// Signatures from keys not among `verifiers` (by name and key ID) are ignored; at least one
/// known signature is required, and a known key whose signature fails is an error. More than
/// [`MAX_NOTE_SIGNATURES`] signature lines, or two from the same known key, is malformed.
pub fn open_note<'a>(
    note: &'a str,
    verifiers: &[NoteVerifier],
) -> Result<(&'a str, Vec<String>), TlogError> {
    let split = note
        .rfind("\n\n")
        .ok_or(TlogError::NoteSyntax("no blank line before signatures"))?;
    let (text, sigs) = note.split_at(split + 1);
    let sigs = sigs
        .strip_prefix('\n')
        .ok_or(TlogError::NoteSyntax("no blank line before signatures"))?;
    check_note_text(text)?;
    let sigs = sigs
        .strip_suffix('\n')
        .ok_or(TlogError::NoteSyntax("signatures do not end in a newline"))?;
    if sigs.is_empty() {
        return Err(TlogError::NoteSyntax("no signature lines"));
    }
    let mut verified: Vec<&NoteVerifier> = Vec::new();
    for (n, line) in sigs.split('\n').enumerate() {
        if n >= MAX_NOTE_SIGNATURES {
            return Err(TlogError::NoteSyntax("too many signatures"));
        }
        let rest = line.strip_prefix(SIG_PREFIX).ok_or(TlogError::NoteSyntax(
            "signature line does not start with an em dash",
        ))?;
        let (name, b64) = rest
            .split_once(' ')
            .ok_or(TlogError::NoteSyntax("signature line has no space"))?;
        check_key_name(name).map_err(|_| TlogError::NoteSyntax("bad signer name"))?;
        let blob = B64
            .decode(b64)
            .map_err(|_| TlogError::NoteSyntax("signature is not base64"))?;
        let Some((id, signature)) = blob.split_first_chunk::<4>() else {
            return Err(TlogError::NoteSyntax("signature is shorter than a key ID"));
        };
        if signature.is_empty() {
            return Err(TlogError::NoteSyntax("empty signature"));
        }
        let Some(verifier) = verifiers.iter().find(|v| v.name == name && v.key_id == *id) else {
            continue;
        };
        if verified.contains(&verifier) {
            return Err(TlogError::NoteSyntax("two signatures from one key"));
        }
        if !verifier.verifies(text, signature) {
            return Err(TlogError::BadSignature {
                name: name.to_owned(),
            });
        }
        verified.push(verifier);
    }
    if verified.is_empty() {
        return Err(TlogError::UnknownSigner);
    }
    Ok((text, verified.iter().map(|v| v.name.clone()).collect()))
}

#[cfg(test)]
mod tests;
