//! The warden.v1 protocol: the gRPC API shared by `warden-agent` and `warden-verifier`, and the
//! binding rules that tie an attestation's nonce, TEE key, model and GPU evidence into the CPU
//! TEE's REPORT_DATA.
//!
//! - [`v1`]: prost messages and the tonic client and server for `warden.v1.Verifier`, generated
//!   from `proto/warden/v1/verifier.proto`.
//! - [`binding`]: the binding rules of `docs/protocol.md`, byte for byte.
//! - [`seal`]: HPKE sealing of released keys to the agent's TEE key.
//! - [`jcs`]: the RFC 8785 JSON canonicalization the binding rules hash over.
//! - [`tlog`]: RFC 9162 Merkle tree proofs and C2SP checkpoints in signed notes, for the
//!   transparency log of key releases (issue #7; not yet wired into the verifier).

pub mod binding;
pub mod jcs;
pub mod seal;
pub mod tlog;

/// gRPC metadata key of the verifier's correlation id, set on every Attest response and error
/// status (docs/protocol.md).
pub const CORRELATION_ID_HEADER: &str = "warden-correlation-id";

/// Messages, client and server generated from `proto/warden/v1/verifier.proto`.
///
/// The doc comments on the generated items come from the comments in the `.proto` file.
// Generated code is not ours to restyle: today only `unused_qualifications` fires, the rest keep
// a tonic or prost upgrade from breaking the `-D warnings` build.
#[allow(
    missing_docs,
    unreachable_pub,
    unused_qualifications,
    rust_2018_idioms,
    clippy::all,
    clippy::pedantic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::manual_let_else,
    clippy::redundant_clone,
    clippy::uninlined_format_args
)]
pub mod v1 {
    tonic::include_proto!("warden.v1");
}

/// The encoded `google.protobuf.FileDescriptorSet` of the warden.v1 API, with source info,
/// for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/warden_v1_descriptor.bin"));

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;

    /// The parts of `google.protobuf.FileDescriptorSet` the test looks at (field numbers from
    /// `descriptor.proto`), so that no `prost-types` dependency is needed.
    #[derive(Clone, PartialEq, Message)]
    struct FileDescriptorSet {
        #[prost(message, repeated, tag = "1")]
        file: Vec<FileDescriptorProto>,
    }

    #[derive(Clone, PartialEq, Message)]
    struct FileDescriptorProto {
        #[prost(string, optional, tag = "1")]
        name: Option<String>,
        #[prost(string, optional, tag = "2")]
        package: Option<String>,
        #[prost(message, repeated, tag = "6")]
        service: Vec<ServiceDescriptorProto>,
        #[prost(message, optional, tag = "9")]
        source_code_info: Option<SourceCodeInfo>,
    }

    #[derive(Clone, PartialEq, Message)]
    struct ServiceDescriptorProto {
        #[prost(string, optional, tag = "1")]
        name: Option<String>,
    }

    #[derive(Clone, PartialEq, Message)]
    struct SourceCodeInfo {}

    #[test]
    fn descriptor_set_decodes_and_names_the_service() {
        let fds = FileDescriptorSet::decode(FILE_DESCRIPTOR_SET).unwrap();
        let file = fds
            .file
            .iter()
            .find(|f| f.name.as_deref() == Some("warden/v1/verifier.proto"))
            .unwrap();
        assert_eq!(file.package.as_deref(), Some("warden.v1"));
        assert_eq!(file.service.len(), 1);
        assert_eq!(file.service[0].name.as_deref(), Some("Verifier"));
        // Reflection clients show comments only if source info is kept.
        assert!(file.source_code_info.is_some());
    }

    #[test]
    fn messages_round_trip() {
        let request = v1::AttestRequest {
            evidence: Some(v1::EvidenceBundle {
                nonce: vec![1; 32],
                cpu: Some(v1::CpuEvidence {
                    tee: v1::Tee::SevSnp.into(),
                    report: vec![2; 1184],
                    certificates: Vec::new(),
                }),
                gpus: vec![v1::GpuEvidence {
                    report: vec![3; 10],
                    certificate_chain: vec![4; 20],
                    arch: "HOPPER".to_owned(),
                    ocsp_responses: vec![vec![5; 3]],
                }],
                model: Some(v1::ModelManifest {
                    serialization: "files".to_owned(),
                    hash_algorithm: "sha256".to_owned(),
                    resources: vec![v1::Resource {
                        name: "a".to_owned(),
                        digest: vec![6; 32],
                    }],
                    shard_size: None,
                    ignore_paths: vec![".git".to_owned()],
                }),
                tee_pubkey: vec![7; 32],
                model_signature: Vec::new(),
            }),
            key_ids: vec!["k1".to_owned(), "k2".to_owned()],
        };
        let encoded = request.encode_to_vec();
        let decoded = v1::AttestRequest::decode(encoded.as_slice()).unwrap();
        assert_eq!(decoded, request);
        assert_eq!(
            decoded.evidence.unwrap().cpu.unwrap().tee(),
            v1::Tee::SevSnp
        );
    }

    #[test]
    fn unknown_tee_value_reads_as_unspecified() {
        let cpu = v1::CpuEvidence {
            tee: 99,
            report: Vec::new(),
            certificates: Vec::new(),
        };
        assert_eq!(cpu.tee(), v1::Tee::Unspecified);
    }

    #[test]
    fn client_and_server_are_generated() {
        // Referencing the types is the test: it fails to compile if codegen dropped either.
        fn _client(_: v1::verifier_client::VerifierClient<tonic::transport::Channel>) {}
        fn _server<T: v1::verifier_server::Verifier>(_: v1::verifier_server::VerifierServer<T>) {}
    }
}
