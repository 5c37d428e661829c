//! The node pool: one tonic `Channel` per resolved node address,
//! power-of-two-choices on in-flight requests, and ejection of failing
//! nodes with exponential backoff. Node names are re-resolved
//! periodically (`refresh`) so members behind a DNS name (a Kubernetes
//! headless Service) come and go. Each member carries what its node
//! reports serving (`readiness`, kept current by `node_state`): a
//! request pinning a version goes only to nodes where it is ready (or,
//! when none is, draining), and a node whose stream is down takes none.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use joust_runtime::backoff;
use joust_security::{ClientSecurity, SecureChannel};
use prometheus_client::metrics::counter::Counter;
use tokio::time::Instant;
use tracing::{info, warn};

use crate::arm::SharedRng;
use crate::error::RouterError;
use crate::readiness::{Fit, NodeServing};

/// `host:port` (an optional `http://` or `https://` prefix is dropped;
/// TLS to nodes follows `--tls-ca`) → (host, port).
pub fn split_host_port(text: &str) -> Result<(String, u16), RouterError> {
    let bare = text
        .strip_prefix("http://")
        .or_else(|| text.strip_prefix("https://"))
        .unwrap_or(text)
        .trim_end_matches('/');
    let bad = || {
        RouterError::Config(format!(
            "nodes: expected host:port (e.g. 127.0.0.1:7071 or joust-node:7071), got {text:?}"
        ))
    };
    let (host, port) = bare.rsplit_once(':').ok_or_else(bad)?;
    let port: u16 = port.parse().map_err(|_| bad())?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(bad());
    }
    Ok((host.to_owned(), port))
}

#[derive(Debug, Default)]
struct Health {
    failures: u32,
    ejected_until: Option<Instant>,
}

/// One pool member.
#[derive(Debug)]
pub struct NodeHandle {
    pub address: SocketAddr,
    /// The configured name this address was resolved from.
    pub source: String,
    pub channel: SecureChannel,
    in_flight: AtomicU64,
    ejections: AtomicU64,
    health: Mutex<Health>,
    /// What the node's serving-state stream last said.
    serving: ArcSwap<NodeServing>,
}

impl NodeHandle {
    fn new(
        address: SocketAddr,
        source: String,
        client: &ClientSecurity,
    ) -> Result<Self, RouterError> {
        let host = split_host_port(&source).map_or_else(|_| address.ip().to_string(), |(h, _)| h);
        let endpoint = client
            .endpoint_for(&host, address)
            .map_err(|e| RouterError::Config(format!("node {source}: {e}")))?;
        let channel = client.wrap(
            endpoint
                .connect_timeout(Duration::from_secs(1))
                .tcp_nodelay(true)
                .http2_keep_alive_interval(Duration::from_secs(10))
                .keep_alive_timeout(Duration::from_secs(5))
                .connect_lazy(),
        );
        Ok(Self {
            address,
            source,
            channel,
            in_flight: AtomicU64::new(0),
            ejections: AtomicU64::new(0),
            health: Mutex::new(Health::default()),
            serving: ArcSwap::from_pointee(NodeServing::Down),
        })
    }

    /// What the node reports serving (a snapshot).
    pub fn serving(&self) -> Arc<NodeServing> {
        self.serving.load_full()
    }

    /// Replaces what the node reports serving.
    pub fn set_serving(&self, serving: NodeServing) {
        self.serving.store(Arc::new(serving));
    }

    /// How the node answers a request pinning `model` `version` (a
    /// snapshot read: no lock, no allocation).
    pub fn fit(&self, model: &str, version: u64) -> Fit {
        self.serving.load().fit(model, version)
    }

    /// True while the node's stream is up (or the node does not report).
    pub fn is_up(&self) -> bool {
        self.serving.load().is_up()
    }

    pub fn in_flight(&self) -> u64 {
        self.in_flight.load(Ordering::Relaxed)
    }

    pub fn ejections(&self) -> u64 {
        self.ejections.load(Ordering::Relaxed)
    }

    /// (ejected now, consecutive failures).
    pub fn health_at(&self, now: Instant) -> (bool, u32) {
        match self.health.lock() {
            Ok(h) => (h.ejected_until.is_some_and(|t| t > now), h.failures),
            Err(_) => (false, 0),
        }
    }

    fn ejected_until(&self) -> Option<Instant> {
        self.health.lock().ok().and_then(|h| h.ejected_until)
    }

    /// Counts a request in flight until the guard drops.
    pub fn start(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(self.clone())
    }
}

/// Decrements the node's in-flight count on drop.
#[derive(Debug)]
pub struct InFlight(Arc<NodeHandle>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

#[derive(Debug)]
pub struct Pool {
    members: ArcSwap<Vec<Arc<NodeHandle>>>,
    rng: SharedRng,
    eject_initial: Duration,
    eject_max: Duration,
    /// Incremented on every ejection (shared with the metrics).
    pub ejections: Counter,
    /// TLS and token of the calls to nodes.
    client: ClientSecurity,
}

impl Pool {
    pub fn new(
        eject_initial: Duration,
        eject_max: Duration,
        seed: u64,
        ejections: Counter,
    ) -> Self {
        Self {
            members: ArcSwap::from_pointee(Vec::new()),
            rng: SharedRng::seeded(seed ^ 0x706f_6f6c),
            eject_initial,
            eject_max,
            ejections,
            client: ClientSecurity::default(),
        }
    }

    /// Calls nodes with `client`'s TLS (`https://`, the certificate
    /// checked for the configured host name) and token.
    pub fn with_client(mut self, client: ClientSecurity) -> Self {
        self.client = client;
        self
    }

    pub fn members(&self) -> Arc<Vec<Arc<NodeHandle>>> {
        self.members.load_full()
    }

    /// Makes `addrs` (address, source name) the members, keeping the state
    /// of addresses already present.
    pub fn set_members(&self, addrs: Vec<(SocketAddr, String)>) {
        let current = self.members.load_full();
        let mut next: BTreeMap<SocketAddr, Arc<NodeHandle>> = BTreeMap::new();
        for (addr, source) in addrs {
            if next.contains_key(&addr) {
                continue;
            }
            if let Some(existing) = current.iter().find(|n| n.address == addr) {
                next.insert(addr, existing.clone());
                continue;
            }
            match NodeHandle::new(addr, source.clone(), &self.client) {
                Ok(node) => {
                    info!(%addr, %source, "node joined the pool");
                    next.insert(addr, Arc::new(node));
                }
                Err(error) => warn!(%addr, %source, %error, "node left out of the pool"),
            }
        }
        for gone in current.iter().filter(|n| !next.contains_key(&n.address)) {
            info!(addr = %gone.address, source = %gone.source, "node left the pool");
        }
        self.members.store(Arc::new(next.into_values().collect()));
    }

    /// Resolves every configured name and updates the members. A name that
    /// does not resolve keeps the members it had.
    pub async fn refresh(&self, names: &[String]) {
        let current = self.members.load_full();
        let mut addrs = Vec::new();
        for name in names {
            let resolved = match split_host_port(name) {
                Ok((host, port)) => tokio::net::lookup_host((host.as_str(), port))
                    .await
                    .map(|it| it.collect::<Vec<_>>())
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            match resolved {
                Ok(list) if !list.is_empty() => {
                    addrs.extend(list.into_iter().map(|a| (a, name.clone())));
                }
                Ok(_) | Err(_) => {
                    warn!(node = %name, "node name did not resolve; keeping its last addresses");
                    addrs.extend(
                        current
                            .iter()
                            .filter(|n| &n.source == name)
                            .map(|n| (n.address, name.clone())),
                    );
                }
            }
        }
        self.set_members(addrs);
    }

    /// Power of two choices among members that are up, not ejected (and
    /// not `exclude`): two at random, the one with fewer requests in
    /// flight. When every candidate is ejected, the one whose ejection
    /// ends first is probed.
    pub fn pick(&self, exclude: Option<SocketAddr>) -> Option<Arc<NodeHandle>> {
        self.pick_at(Instant::now(), exclude)
    }

    pub fn pick_at(&self, now: Instant, exclude: Option<SocketAddr>) -> Option<Arc<NodeHandle>> {
        self.pick_where(
            now,
            exclude,
            |n| {
                if n.is_up() { Fit::Ready } else { Fit::No }
            },
        )
    }

    /// Like `pick`, among the nodes where `model` `version` is ready;
    /// when none is (healthy or ejected), among those where it drains.
    pub fn pick_for(
        &self,
        model: &str,
        version: u64,
        exclude: Option<SocketAddr>,
    ) -> Option<Arc<NodeHandle>> {
        self.pick_where(Instant::now(), exclude, |n| n.fit(model, version))
    }

    /// Nodes up whose `fit` is `Ready`, then `Draining`: healthy ones by
    /// two choices, else the ejected one whose ejection ends first. No
    /// allocation: candidates are counted, then the chosen ones found.
    ///
    /// `fit` reads each node's latest report, which a node's stream may
    /// replace between the count and the walk (a node moving the version
    /// from ready to draining mid-pick): a walk that comes up short takes
    /// any node that still fits, and only a tier with no fitting node at
    /// all passes to the next. (It returned `None` here once, failing the
    /// request with UNAVAILABLE while both nodes held the version: the
    /// promote/rollback drill's 1 in ~8,000.)
    pub fn pick_where(
        &self,
        now: Instant,
        exclude: Option<SocketAddr>,
        fit: impl Fn(&NodeHandle) -> Fit,
    ) -> Option<Arc<NodeHandle>> {
        let members = self.members.load();
        for tier in [Fit::Ready, Fit::Draining] {
            let candidate = |n: &&Arc<NodeHandle>| Some(n.address) != exclude && fit(n) == tier;
            let healthy = |n: &&Arc<NodeHandle>| candidate(n) && !n.health_at(now).0;
            let count = members.iter().filter(healthy).count();
            if count >= 2 {
                let a = self.rng.below(count);
                let mut b = self.rng.below(count - 1);
                if b >= a {
                    b += 1;
                }
                let x = members.iter().filter(healthy).nth(a);
                let y = members.iter().filter(healthy).nth(b);
                match (x, y) {
                    (Some(x), Some(y)) => {
                        return Some(if y.in_flight() < x.in_flight() { y } else { x }.clone());
                    }
                    (Some(n), None) | (None, Some(n)) => return Some(n.clone()),
                    (None, None) => {}
                }
            }
            if count > 0
                && let Some(n) = members.iter().find(healthy)
            {
                return Some(n.clone());
            }
        }
        for tier in [Fit::Ready, Fit::Draining] {
            let probe = members
                .iter()
                .filter(|n| Some(n.address) != exclude && fit(n) == tier)
                .min_by_key(|n| n.ejected_until());
            if probe.is_some() {
                return probe.cloned();
            }
        }
        None
    }

    /// A successful call: the node's failure count is reset.
    pub fn success(&self, node: &NodeHandle) {
        if let Ok(mut h) = node.health.lock() {
            if h.failures > 0 {
                info!(addr = %node.address, "node answers again");
            }
            h.failures = 0;
            h.ejected_until = None;
        }
    }

    /// A connect error or UNAVAILABLE: the node is ejected for
    /// `eject_initial · 2^(failures-1)` (capped).
    pub fn failure(&self, node: &NodeHandle) {
        self.failure_at(Instant::now(), node);
    }

    pub fn failure_at(&self, now: Instant, node: &NodeHandle) {
        if let Ok(mut h) = node.health.lock() {
            if h.ejected_until.is_some_and(|t| t > now) {
                // Already ejected (a request that was in flight): no change.
                return;
            }
            h.failures = h.failures.saturating_add(1);
            // Exact (no jitter): one router's view of one node.
            let delay = backoff(self.eject_initial, self.eject_max, h.failures, 0.0);
            h.ejected_until = Some(now + delay);
            node.ejections.fetch_add(1, Ordering::Relaxed);
            self.ejections.inc();
            warn!(addr = %node.address, failures = h.failures, ?delay, "node ejected");
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn pool(n: u16) -> Pool {
        let p = Pool::new(
            Duration::from_millis(100),
            Duration::from_secs(1),
            7,
            Counter::default(),
        );
        p.set_members(
            (0..n)
                .map(|i| (SocketAddr::from(([127, 0, 0, 1], 10_000 + i)), "n".into()))
                .collect(),
        );
        for n in p.members().iter() {
            n.set_serving(NodeServing::Unreported);
        }
        p
    }

    #[tokio::test]
    async fn two_choices_prefer_the_node_with_fewer_requests_in_flight() {
        let p = pool(2);
        let busy = p.members()[0].clone();
        let _guards: Vec<InFlight> = (0..5).map(|_| busy.start()).collect();
        for _ in 0..100 {
            assert_ne!(p.pick(None).unwrap().address, busy.address);
        }
        // Among three, the busiest is never chosen (it loses every pair).
        let p = pool(3);
        let busy = p.members()[2].clone();
        let _g = busy.start();
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..200 {
            let n = p.pick(None).unwrap();
            assert_ne!(n.address, busy.address);
            seen.insert(n.address);
        }
        assert_eq!(seen.len(), 2, "both idle nodes get traffic");
    }

    #[tokio::test]
    async fn a_failing_node_is_ejected_with_doubling_backoff_and_comes_back() {
        let p = pool(2);
        let t0 = Instant::now();
        let bad = p.members()[0].clone();
        p.failure_at(t0, &bad);
        assert_eq!(bad.health_at(t0), (true, 1));
        for _ in 0..50 {
            assert_ne!(p.pick_at(t0, None).unwrap().address, bad.address);
        }
        // Back after 100 ms; a second failure ejects it for 200 ms.
        let t1 = t0 + Duration::from_millis(101);
        assert!(!bad.health_at(t1).0);
        p.failure_at(t1, &bad);
        assert_eq!(bad.health_at(t1 + Duration::from_millis(150)), (true, 2));
        assert!(!bad.health_at(t1 + Duration::from_millis(201)).0);
        // A failure reported while ejected (an older request) changes nothing.
        p.failure_at(t1 + Duration::from_millis(10), &bad);
        assert_eq!(bad.health_at(t1).1, 2);
        assert_eq!(p.ejections.get(), 2);
        assert_eq!(bad.ejections(), 2);
        // Success resets the count.
        p.success(&bad);
        assert_eq!(bad.health_at(t1), (false, 0));
        assert_eq!(
            backoff(Duration::from_millis(100), Duration::from_secs(1), 9, 0.0),
            Duration::from_secs(1)
        );
    }

    #[tokio::test]
    async fn exclusion_and_all_ejected_fallback() {
        let p = pool(2);
        let t0 = Instant::now();
        let [a, b] = [p.members()[0].clone(), p.members()[1].clone()];
        assert_eq!(p.pick_at(t0, Some(a.address)).unwrap().address, b.address);
        p.failure_at(t0, &a);
        p.failure_at(t0, &b);
        p.failure_at(t0 + Duration::from_millis(150), &b);
        // Both ejected: probe the one whose ejection ends first (a).
        assert_eq!(p.pick_at(t0, None).unwrap().address, a.address);
        let single = pool(1);
        let only = single.members()[0].address;
        assert!(single.pick(Some(only)).is_none());
    }

    #[tokio::test]
    async fn membership_changes_keep_state_and_names_are_parsed() {
        let p = pool(2);
        let a = p.members()[0].clone();
        p.failure(&a);
        let c = SocketAddr::from(([127, 0, 0, 1], 20_000));
        p.set_members(vec![(a.address, "n".into()), (c, "n".into())]);
        let m = p.members();
        assert_eq!(m.len(), 2);
        assert!(
            Arc::ptr_eq(&m[0], &a),
            "existing member kept with its state"
        );
        assert_eq!(m[1].address, c);
        assert_eq!(
            split_host_port("http://node-0.joust:7071").unwrap(),
            ("node-0.joust".into(), 7071)
        );
        assert_eq!(split_host_port("[::1]:7071").unwrap(), ("::1".into(), 7071));
        assert!(split_host_port("node").is_err());
        assert!(split_host_port(":7071").is_err());
    }

    #[tokio::test]
    async fn refresh_resolves_names_and_keeps_members_when_resolution_fails() {
        let p = pool(0);
        p.refresh(&["localhost:7071".into()]).await;
        assert!(!p.members().is_empty());
        assert!(p.members().iter().all(|n| n.address.port() == 7071));
        let before = p.members().len();
        p.refresh(&["localhost:7071".into(), "no-such-host.invalid:1".into()])
            .await;
        assert_eq!(p.members().len(), before);
    }

    fn reported(list: &[(u64, crate::readiness::Phase)]) -> NodeServing {
        let versions = list
            .iter()
            .map(|(v, phase)| {
                (
                    *v,
                    crate::readiness::VersionState {
                        phase: *phase,
                        reason: String::new(),
                        refs: Vec::new(),
                    },
                )
            })
            .collect();
        NodeServing::Reported {
            node_id: "n".into(),
            generation: 1,
            versions: [("m".to_owned(), versions)].into_iter().collect(),
        }
    }

    #[tokio::test]
    async fn a_report_arriving_mid_pick_never_leaves_the_request_without_a_node() {
        use std::sync::atomic::AtomicUsize;
        let p = pool(2);
        let b = p.members()[1].address;
        for count_calls in 0..=4 {
            // The first `count_calls` reads of `fit` see both nodes ready
            // (the count); after them node b reports the version draining.
            let calls = AtomicUsize::new(0);
            let fit = |n: &NodeHandle| {
                let i = calls.fetch_add(1, Ordering::Relaxed);
                if n.address == b && i >= count_calls {
                    Fit::Draining
                } else {
                    Fit::Ready
                }
            };
            for _ in 0..20 {
                calls.store(0, Ordering::Relaxed);
                assert!(
                    p.pick_where(Instant::now(), None, fit).is_some(),
                    "no node after {count_calls} reads"
                );
            }
        }
    }

    #[tokio::test]
    async fn a_version_goes_only_where_it_is_ready_then_where_it_drains() {
        use crate::readiness::Phase;
        let p = pool(3);
        let [a, b, c] = [0, 1, 2].map(|i| p.members()[i].clone());
        a.set_serving(reported(&[(1, Phase::Draining), (2, Phase::Ready)]));
        b.set_serving(reported(&[(1, Phase::Ready), (2, Phase::Loading)]));
        c.set_serving(NodeServing::Down);
        for _ in 0..50 {
            assert_eq!(p.pick_for("m", 2, None).unwrap().address, a.address);
            assert_eq!(p.pick_for("m", 1, None).unwrap().address, b.address);
        }
        // Not ready elsewhere: the draining node answers v1.
        assert_eq!(
            p.pick_for("m", 1, Some(b.address)).unwrap().address,
            a.address
        );
        // Ready nowhere else, and a down node takes nothing.
        assert!(p.pick_for("m", 2, Some(a.address)).is_none());
        assert!(p.pick_for("m", 3, None).is_none());
        b.set_serving(reported(&[(3, Phase::Refused)]));
        assert!(p.pick_for("m", 3, None).is_none());
        // An ejected ready node is probed before a draining one is used.
        p.failure(&a);
        assert_eq!(p.pick_for("m", 2, None).unwrap().address, a.address);
        // Unreported nodes take every version.
        c.set_serving(NodeServing::Unreported);
        assert_eq!(p.pick_for("m", 9, None).unwrap().address, c.address);
    }
}
