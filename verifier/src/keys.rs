//! TODO(#3): keys.
