//! The signature of a webhook body (`X-Joust-Signature: sha256=<hex>`):
//! shared with the detection service, in crate joust-webhooks.

pub use joust_webhooks::signer::{SIGNATURE_HEADER, Signer};
