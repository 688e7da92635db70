//! Simulated NVIDIA GPU evidence (issue #5, work in progress).
