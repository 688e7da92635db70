//! The Warden agent.
