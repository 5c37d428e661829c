//! The `noop` kind: scores 0.0 for every row, so with its threshold of 0.0
//! it labels nothing. It is the floor every real model must beat.

use serde::{Deserialize, Serialize};

/// Parameters `noop` accepts: none.
pub(crate) const PARAMS: &str = "(no parameters)";

/// Stateless echo model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Noop;
