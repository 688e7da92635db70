//! TODO(#3): store.
