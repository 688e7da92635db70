//! Generates the warden.v1 prost messages and tonic client and server.
//!
//! The .proto files are parsed by `protox` (pure Rust), so no system `protoc` is needed. The
//! encoded `FileDescriptorSet` is also written to `OUT_DIR` for gRPC reflection.

use std::env;
use std::error::Error;
use std::fs;
use std::path::PathBuf;

use prost::Message;

/// Directory holding the .proto tree, relative to the crate root.
const PROTO_ROOT: &str = "proto";
/// The files to compile, relative to `PROTO_ROOT`.
const PROTO_FILES: &[&str] = &["warden/v1/verifier.proto"];
/// File name of the encoded descriptor set in `OUT_DIR`; `src/lib.rs` includes it.
const DESCRIPTOR_SET_FILE: &str = "warden_v1_descriptor.bin";

fn main() -> Result<(), Box<dyn Error>> {
    println!("cargo:rerun-if-changed={PROTO_ROOT}");
    println!("cargo:rerun-if-changed=build.rs");

    let fds = protox::compile(PROTO_FILES, [PROTO_ROOT])?;

    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    fs::write(out_dir.join(DESCRIPTOR_SET_FILE), fds.encode_to_vec())?;

    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(fds)?;
    Ok(())
}
