//! Intel TDX: the quote (v4 and v5), DCAP collateral, and their verification with `dcap-qvl`.
