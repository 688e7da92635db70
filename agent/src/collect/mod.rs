//! TODO(#3): evidence collection.
