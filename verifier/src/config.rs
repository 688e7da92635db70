//! TODO(#3): config.
