//! The event hub: announces "events up to id N exist" to Watch streams in
//! this process. Watch streams always read the events themselves from the
//! store (after their cursor), so an announcement that is missed or merged
//! loses nothing; the hub only says when to look.

use std::time::Duration;

use tokio::sync::watch;

#[derive(Clone)]
pub struct EventHub {
    tx: watch::Sender<u64>,
}

impl Default for EventHub {
    fn default() -> Self {
        Self::new()
    }
}

impl EventHub {
    pub fn new() -> Self {
        Self {
            tx: watch::Sender::new(0),
        }
    }

    /// Announces that events up to `id` are committed.
    pub fn publish(&self, id: i64) {
        let id = u64::try_from(id).unwrap_or(0);
        self.tx.send_if_modified(|cur| {
            if id > *cur {
                *cur = id;
                true
            } else {
                false
            }
        });
    }

    /// The newest announced id.
    pub fn latest(&self) -> u64 {
        *self.tx.borrow()
    }

    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.tx.subscribe()
    }
}

/// How often a Watch stream re-reads the store even without announcement
/// (a safety net for lost notifications).
pub const POLL_FALLBACK: Duration = Duration::from_secs(2);
