"""Hash a model with model-signing 1.1.1's Python API, for bench/model.sh.

Usage: model_ms.py METHOD HASH PATH   (METHOD files|shards, HASH sha256|blake3|blake2)
Prints the OMS subject digest (sha256 over the resource digests in manifest order) so that the
bench can check it agrees with warden-agent.
"""

import hashlib
import sys

import model_signing

method, hash_name, path = sys.argv[1:4]
config = model_signing.hashing.Config()
if method == "files":
    config.use_file_serialization(hashing_algorithm=hash_name)
else:
    config.use_shard_serialization(hashing_algorithm=hash_name)
manifest = config.hash(path)
root = hashlib.sha256()
for descriptor in manifest.resource_descriptors():
    root.update(descriptor.digest.digest_value)
print(root.hexdigest())
