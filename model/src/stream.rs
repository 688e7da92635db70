//! Streaming hash of one file into its manifest resources, for data that arrives in order
//! (decryption): the file as one resource (`files`), or cut into OMS shards (`shards`).

use warden_proto::binding::{HashAlgorithm, ModelResource, Serialization};

use crate::digest::ContentHasher;

/// Hashes the bytes of one file as they arrive, into the resources a manifest lists for it.
///
/// `files`: one resource named by the file's path. `shards` of size `S`: resources
/// `PATH:START:END` for `[0,S), [S,2S), ..., [kS,size)`; an empty file has none, as in
/// model-signing.
#[derive(Debug)]
pub struct FileHasher {
    name: String,
    algorithm: HashAlgorithm,
    shard_size: Option<u64>,
    hasher: ContentHasher,
    /// Bytes fed so far.
    offset: u64,
    /// Start offset of the current shard.
    shard_start: u64,
    done: Vec<ModelResource>,
}

impl FileHasher {
    /// A hasher for the file named `name` (its manifest path).
    pub fn new(
        name: impl Into<String>,
        algorithm: HashAlgorithm,
        serialization: Serialization,
    ) -> Self {
        Self {
            name: name.into(),
            algorithm,
            shard_size: serialization.shard_size().map(std::num::NonZeroU64::get),
            hasher: ContentHasher::new(algorithm),
            offset: 0,
            shard_start: 0,
            done: Vec::new(),
        }
    }

    /// Feeds the next bytes of the file.
    pub fn update(&mut self, mut bytes: &[u8]) {
        let Some(size) = self.shard_size else {
            self.hasher.update(bytes);
            self.offset += bytes.len() as u64;
            return;
        };
        while !bytes.is_empty() {
            let room = self.shard_start + size - self.offset;
            let take = usize::try_from(room).map_or(bytes.len(), |r| r.min(bytes.len()));
            let (now, rest) = bytes.split_at(take);
            self.hasher.update(now);
            self.offset += take as u64;
            bytes = rest;
            if self.offset == self.shard_start + size {
                self.close_shard();
            }
        }
    }

    fn close_shard(&mut self) {
        let hasher = std::mem::replace(&mut self.hasher, ContentHasher::new(self.algorithm));
        self.done.push(ModelResource::new(
            format!("{}:{}:{}", self.name, self.shard_start, self.offset),
            hasher.finalize(),
        ));
        self.shard_start = self.offset;
    }

    /// Bytes fed so far.
    pub fn len(&self) -> u64 {
        self.offset
    }

    /// Whether nothing was fed.
    pub fn is_empty(&self) -> bool {
        self.offset == 0
    }

    /// The file's resources.
    pub fn finish(mut self) -> Vec<ModelResource> {
        match self.shard_size {
            None => vec![ModelResource::new(self.name, self.hasher.finalize())],
            Some(_) => {
                if self.offset > self.shard_start {
                    self.close_shard();
                }
                self.done
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU64;

    use sha2::{Digest, Sha256};

    use super::*;

    #[test]
    fn shards_split_at_boundaries_whatever_the_chunking() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        let shards = Serialization::Shards {
            shard_size: NonZeroU64::new(4096).unwrap(),
        };
        let mut one = FileHasher::new("w", HashAlgorithm::Sha256, shards);
        one.update(&data);
        let mut many = FileHasher::new("w", HashAlgorithm::Sha256, shards);
        for chunk in data.chunks(777) {
            many.update(chunk);
        }
        let a = one.finish();
        assert_eq!(a, many.finish());
        let names: Vec<&str> = a.iter().map(ModelResource::name).collect();
        assert_eq!(names, ["w:0:4096", "w:4096:8192", "w:8192:10000"]);
        assert_eq!(a[1].digest(), &Sha256::digest(&data[4096..8192])[..]);
        let empty = FileHasher::new("e", HashAlgorithm::Sha256, shards);
        assert!(empty.finish().is_empty());
        let empty = FileHasher::new("e", HashAlgorithm::Sha256, Serialization::Files);
        assert_eq!(empty.finish().len(), 1);
    }
}
