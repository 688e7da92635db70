//! Intel TDX: the quote (v4 and v5), DCAP collateral, and their verification with `dcap-qvl`.

mod collateral;
mod error;
mod pem;
pub mod quote;

pub use collateral::{
    AddOutcome, Collateral, CollateralItem, CollateralSet, Crl, QeIdentity, TcbInfo,
};
pub use error::TdxError;
pub use quote::{ParsePckCaError, PckCa, PckInfo, Quote, TdAttributes, TdReport};
