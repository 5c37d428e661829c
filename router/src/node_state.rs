//! Following every pool member's `ServingAdmin.WatchServingState` stream:
//! each message (the node's whole state) replaces what the member reports
//! serving, and the router's routes are re-planned. While a stream is down
//! its node takes no traffic; it reconnects with backoff. A node that does
//! not serve the stream (UNIMPLEMENTED: an older node; PERMISSION_DENIED
//! or UNAUTHENTICATED: a router token without the reader role) is taken as
//! ready for every version, as before the stream existed, and asked again
//! every `retry_max`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use joust_proto::v1 as pb;
use joust_proto::v1::serving_admin_client::ServingAdminClient;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use tonic::Code;
use tracing::{debug, info, warn};

use crate::pool::NodeHandle;
use crate::readiness::NodeServing;
use joust_runtime::{JITTER, backoff};

/// Reconnect timing of the streams.
#[derive(Debug, Clone, Copy)]
pub struct StreamTiming {
    pub retry_initial: Duration,
    pub retry_max: Duration,
}

/// One follower task per pool member.
#[derive(Debug)]
pub struct NodeFollowers {
    tasks: Mutex<BTreeMap<SocketAddr, JoinHandle<()>>>,
    timing: StreamTiming,
    max_message_bytes: usize,
    /// Woken on every change of a node's state.
    changed: Arc<Notify>,
    stop: watch::Receiver<bool>,
}

impl NodeFollowers {
    pub fn new(
        timing: StreamTiming,
        max_message_bytes: usize,
        changed: Arc<Notify>,
        stop: watch::Receiver<bool>,
    ) -> Self {
        Self {
            tasks: Mutex::new(BTreeMap::new()),
            timing,
            max_message_bytes,
            changed,
            stop,
        }
    }

    /// Starts a follower for each member that has none; stops those of
    /// members gone from the pool.
    pub fn sync(&self, members: &[Arc<NodeHandle>]) {
        let Ok(mut tasks) = self.tasks.lock() else {
            return;
        };
        tasks.retain(|addr, task| {
            let keep = members.iter().any(|m| m.address == *addr) && !task.is_finished();
            if !keep {
                task.abort();
            }
            keep
        });
        for node in members {
            tasks.entry(node.address).or_insert_with(|| {
                tokio::spawn(follow(
                    node.clone(),
                    self.timing,
                    self.max_message_bytes,
                    self.changed.clone(),
                    self.stop.clone(),
                ))
            });
        }
    }

    /// Stops every follower.
    pub fn stop_all(&self) {
        if let Ok(mut tasks) = self.tasks.lock() {
            for (_, task) in std::mem::take(&mut *tasks) {
                task.abort();
            }
        }
    }
}

impl Drop for NodeFollowers {
    fn drop(&mut self) {
        self.stop_all();
    }
}

/// True for answers meaning "this node does not report its state to
/// this router" (not a failure of the node).
fn unreported(code: Code) -> bool {
    matches!(
        code,
        Code::Unimplemented | Code::PermissionDenied | Code::Unauthenticated
    )
}

fn set(node: &NodeHandle, serving: NodeServing, changed: &Notify) {
    if *node.serving() != serving {
        node.set_serving(serving);
        changed.notify_one();
    }
}

/// Follows one node's stream until `stop` turns true.
async fn follow(
    node: Arc<NodeHandle>,
    timing: StreamTiming,
    max: usize,
    changed: Arc<Notify>,
    mut stop: watch::Receiver<bool>,
) {
    let mut failures: u32 = 0;
    loop {
        if *stop.borrow() {
            return;
        }
        let mut client = ServingAdminClient::new(node.channel.clone())
            .max_decoding_message_size(max)
            .max_encoding_message_size(max);
        let delay = match client
            .watch_serving_state(pb::WatchServingStateRequest {})
            .await
        {
            Ok(stream) => {
                let mut stream = stream.into_inner();
                let mut reported = false;
                loop {
                    let msg = tokio::select! {
                        _ = stop.changed() => return,
                        msg = stream.message() => msg,
                    };
                    match msg {
                        Ok(Some(state)) => {
                            if !reported {
                                info!(addr = %node.address, node_id = %state.node_id, "node serving state followed");
                                reported = true;
                            }
                            failures = 0;
                            debug!(addr = %node.address, generation = state.generation, versions = state.versions.len(), "node serving state");
                            set(&node, NodeServing::from_proto(state), &changed);
                        }
                        Ok(None) => {
                            warn!(addr = %node.address, "node closed its serving-state stream; it takes no traffic until it reports again");
                            break;
                        }
                        Err(status) => {
                            warn!(addr = %node.address, code = ?status.code(), message = status.message(), "node serving-state stream failed; it takes no traffic until it reports again");
                            break;
                        }
                    }
                }
                set(&node, NodeServing::Down, &changed);
                failures = failures.saturating_add(1);
                backoff(timing.retry_initial, timing.retry_max, failures, JITTER)
            }
            Err(status) if unreported(status.code()) => {
                if *node.serving() != NodeServing::Unreported {
                    warn!(addr = %node.address, code = ?status.code(), message = status.message(), "node does not report its serving state; taking it as ready for every version");
                }
                set(&node, NodeServing::Unreported, &changed);
                failures = 0;
                timing.retry_max
            }
            Err(status) => {
                set(&node, NodeServing::Down, &changed);
                failures = failures.saturating_add(1);
                let delay = backoff(timing.retry_initial, timing.retry_max, failures, JITTER);
                debug!(addr = %node.address, code = ?status.code(), ?delay, "node serving-state stream unavailable; retrying");
                delay
            }
        };
        tokio::select! {
            _ = stop.changed() => return,
            _ = tokio::time::sleep(delay) => {}
        }
    }
}
