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

/// How many recent events the [`Feed`] keeps for its subscribers. A
/// subscriber whose cursor is older than the oldest kept event (a resume
/// from far back, or one that fell this far behind) reads the store
/// itself until it catches up.
pub const FEED_EVENTS: usize = 8192;

/// Most events one store read returns (the feed's and a catching-up
/// subscriber's).
pub const READ_PAGE: u32 = 500;

/// The shared read side of Watch: one task per registry reads new events
/// from the store once per announcement (or every [`POLL_FALLBACK`]) and
/// keeps the newest [`FEED_EVENTS`] in memory; every Watch stream of this
/// process takes its events from here, so a change costs one store read
/// however many subscribers there are.
#[derive(Debug)]
pub struct Feed {
    ring: std::sync::RwLock<Ring>,
    /// Bumped whenever the ring grows or a read fails.
    signal: watch::Sender<Signal>,
}

/// What a subscriber waits on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Signal {
    /// Every event with id ≤ `head` has been read into the ring.
    pub head: u64,
    /// Failed feed reads so far (a subscriber that sees this grow reads
    /// the store itself, which reports the failure on its stream).
    pub failures: u64,
}

#[derive(Debug, Default)]
struct Ring {
    /// The ring holds every event with `floor < id ≤ head`.
    floor: u64,
    events: std::collections::VecDeque<std::sync::Arc<crate::domain::EventRecord>>,
}

/// What [`Feed::after`] found for a cursor.
#[derive(Debug)]
pub enum Take {
    /// Events after the cursor, in id order (up to the limit asked; empty:
    /// nothing newer yet).
    Events(Vec<std::sync::Arc<crate::domain::EventRecord>>),
    /// The cursor is older than what the ring holds: read the store.
    Behind,
}

impl Feed {
    /// An empty feed whose ring starts after event `head` (the newest
    /// event when the feed starts: nothing older is kept).
    pub fn new(head: u64) -> Self {
        Self {
            ring: std::sync::RwLock::new(Ring {
                floor: head,
                events: Default::default(),
            }),
            signal: watch::Sender::new(Signal { head, failures: 0 }),
        }
    }

    pub fn subscribe(&self) -> watch::Receiver<Signal> {
        self.signal.subscribe()
    }

    pub fn signal(&self) -> Signal {
        *self.signal.borrow()
    }

    /// Up to `limit` events after `cursor`.
    pub fn after(&self, cursor: u64, limit: usize) -> Take {
        let ring = match self.ring.read() {
            Ok(r) => r,
            Err(poisoned) => poisoned.into_inner(),
        };
        if cursor < ring.floor {
            return Take::Behind;
        }
        let start = ring.events.partition_point(|e| e.id <= cursor);
        Take::Events(ring.events.range(start..).take(limit).cloned().collect())
    }

    /// Appends events read after the current head (in id order) and
    /// announces the new head.
    pub fn push(&self, batch: Vec<crate::domain::EventRecord>) {
        let Some(last) = batch.last().map(|e| e.id) else {
            return;
        };
        {
            let mut ring = match self.ring.write() {
                Ok(r) => r,
                Err(poisoned) => poisoned.into_inner(),
            };
            let head = ring.events.back().map_or(ring.floor, |e| e.id);
            ring.events.extend(
                batch
                    .into_iter()
                    .filter(|e| e.id > head)
                    .map(std::sync::Arc::new),
            );
            while ring.events.len() > FEED_EVENTS {
                if let Some(old) = ring.events.pop_front() {
                    ring.floor = old.id;
                }
            }
        }
        self.signal.send_modify(|s| s.head = s.head.max(last));
    }

    /// Records a failed read.
    pub fn failed(&self) {
        self.signal.send_modify(|s| s.failures += 1);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ev(id: u64) -> crate::domain::EventRecord {
        crate::domain::EventRecord {
            id,
            time: chrono::Utc::now(),
            actor: String::new(),
            model: "m".into(),
            version: None,
            kind: "transition".into(),
            from: String::new(),
            to: String::new(),
            reason: String::new(),
        }
    }

    fn ids(t: Take) -> Option<Vec<u64>> {
        match t {
            Take::Events(v) => Some(v.iter().map(|e| e.id).collect()),
            Take::Behind => None,
        }
    }

    #[test]
    fn serves_after_cursor_and_sends_old_cursors_to_the_store() {
        let feed = Feed::new(10);
        assert_eq!(ids(feed.after(10, 10)), Some(vec![]));
        assert_eq!(ids(feed.after(9, 10)), None);
        // Ids may have gaps (a rolled-back sequence value).
        feed.push(vec![ev(11), ev(13), ev(14)]);
        assert_eq!(feed.signal().head, 14);
        assert_eq!(ids(feed.after(10, 10)), Some(vec![11, 13, 14]));
        assert_eq!(ids(feed.after(12, 10)), Some(vec![13, 14]));
        assert_eq!(ids(feed.after(10, 2)), Some(vec![11, 13]));
        // A re-read of what the ring holds adds nothing twice.
        feed.push(vec![ev(14), ev(15)]);
        assert_eq!(ids(feed.after(13, 10)), Some(vec![14, 15]));
        // Past capacity the oldest go, and cursors before them are behind.
        feed.push((16..16 + FEED_EVENTS as u64).map(ev).collect());
        assert_eq!(ids(feed.after(14, 1)), None);
        let floor = 16 + FEED_EVENTS as u64 - 1 - FEED_EVENTS as u64;
        assert_eq!(ids(feed.after(floor, 1)), Some(vec![floor + 1]));
        feed.failed();
        assert_eq!(feed.signal().failures, 1);
    }
}
