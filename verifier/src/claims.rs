//! TODO(#3): claims.
