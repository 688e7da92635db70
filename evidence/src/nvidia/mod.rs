//! NVIDIA GPU confidential-computing evidence: SPDM 1.1 GET_MEASUREMENTS reports, the device
//! certificate chain, and reference integrity manifests (RIMs). Work in progress (issue #5):
//! nothing here is used by the verifier service yet.

pub mod rim;
