//! TODO(#3): policy.
