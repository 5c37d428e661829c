//! What joust's roles share to send webhooks: [`Signer`] computes and
//! checks `X-Joust-Signature` (HMAC-SHA256 of the exact body bytes), and
//! [`Deliverer`] makes one signed POST of one payload with the delivery
//! id, event kind and attempt headers. No retries and no delivery log
//! here: each role keeps its own (the registry's `webhook_deliveries`, the
//! detection service's `detection_notifications`) and decides when to try
//! again. Moved out of the registry (registry/src/webhooks) so the
//! detection service sends through the same code.

#![forbid(unsafe_code)]

pub mod deliver;
pub mod signer;

pub use deliver::{ATTEMPT_HEADER, DELIVERY_HEADER, Deliverer, EVENT_HEADER, Message, Outcome};
pub use signer::{SIGNATURE_HEADER, Signer};
