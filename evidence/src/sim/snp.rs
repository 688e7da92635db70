//! placeholder, replaced by the helper
