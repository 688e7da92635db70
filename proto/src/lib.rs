//! The warden.v1 protocol.
