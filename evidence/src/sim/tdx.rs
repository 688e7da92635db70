//! Simulated Intel TDX: a generated DCAP hierarchy, v4/v5 quotes and signed collateral.
