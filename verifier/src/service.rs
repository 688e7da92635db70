//! TODO(#3): service.
