//! The ring-buffer log: a `tracing` layer that keeps the last entries in memory for
//! the daemon's API (filtered queries, and a live feed).
//!
//! Bounded twice: the ring holds at most `capacity` entries (the oldest go first),
//! and the live feed is a broadcast channel of [`LIVE_QUEUE`] entries per
//! subscriber: a subscriber that falls behind loses the oldest and is told how
//! many (`Lagged`), and a shard logging never waits for anyone.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::Serialize;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;

/// Entries waiting for one live subscriber. Full: that subscriber loses the
/// oldest and is told how many; the logger never waits.
pub const LIVE_QUEUE: usize = 1024;

/// One log entry.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Entry {
    /// Rises by one per entry: `since` queries and the live feed resume from it.
    pub id: u64,
    /// Unix time in milliseconds.
    pub time_ms: u64,
    /// "ERROR", "WARN", "INFO", "DEBUG" or "TRACE".
    pub level: String,
    /// Where it comes from (a module path).
    pub target: String,
    /// The torrent it concerns, when it names one (field `info_hash`).
    pub info_hash: Option<String>,
    /// The message.
    pub message: String,
    /// The other fields, as text.
    pub fields: BTreeMap<String, String>,
}

/// What a query asks for.
#[derive(Debug, Clone, Default)]
pub struct Query {
    /// This level and the more severe ones (`None`: all).
    pub level: Option<Level>,
    /// Targets starting with this.
    pub target: Option<String>,
    /// Entries naming this torrent (hex info-hash).
    pub info_hash: Option<String>,
    /// Entries after this id.
    pub since: Option<u64>,
    /// At most this many (the latest).
    pub limit: usize,
}

struct Shared {
    ring: Mutex<VecDeque<Arc<Entry>>>,
    capacity: usize,
    next_id: AtomicU64,
    live: tokio::sync::broadcast::Sender<Arc<Entry>>,
}

/// The ring: cheap to clone; [`LogRing::layer`] feeds it.
#[derive(Clone)]
pub struct LogRing {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for LogRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LogRing(capacity {})", self.shared.capacity)
    }
}

impl LogRing {
    /// A ring of `capacity` entries (at least one).
    pub fn new(capacity: usize) -> LogRing {
        let (live, _) = tokio::sync::broadcast::channel(LIVE_QUEUE);
        LogRing {
            shared: Arc::new(Shared {
                ring: Mutex::new(VecDeque::with_capacity(capacity.clamp(1, 1 << 16))),
                capacity: capacity.max(1),
                next_id: AtomicU64::new(1),
                live,
            }),
        }
    }

    /// The layer to install in the subscriber.
    pub fn layer(&self) -> RingLayer {
        RingLayer { ring: self.clone() }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Arc<Entry>>> {
        self.shared
            .ring
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Adds an entry (the layer does; tests may too).
    pub fn push(&self, mut e: Entry) {
        e.id = self.shared.next_id.fetch_add(1, Ordering::Relaxed);
        let e = Arc::new(e);
        {
            let mut ring = self.lock();
            if ring.len() == self.shared.capacity {
                ring.pop_front();
            }
            ring.push_back(e.clone());
        }
        // No subscriber: nothing to do. A full subscriber loses its oldest.
        let _no_subscriber_is_fine = self.shared.live.send(e);
    }

    /// The entries that match, oldest first (the latest `limit` of them).
    pub fn query(&self, q: &Query) -> Vec<Arc<Entry>> {
        let ring = self.lock();
        let mut out: Vec<Arc<Entry>> = ring
            .iter()
            .rev()
            .filter(|e| q.since.is_none_or(|s| e.id > s))
            .filter(|e| matches(e, q))
            .take(q.limit)
            .cloned()
            .collect();
        out.reverse();
        out
    }

    /// A live feed of every entry from now on.
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Arc<Entry>> {
        self.shared.live.subscribe()
    }
}

/// Whether `e` passes the query's filters (not `since` or `limit`).
pub fn matches(e: &Entry, q: &Query) -> bool {
    // In tracing, more verbose levels compare greater (ERROR < WARN < ... < TRACE).
    let level_ok = q
        .level
        .is_none_or(|l| e.level.parse::<Level>().is_ok_and(|el| el <= l));
    level_ok
        && q.target.as_ref().is_none_or(|t| e.target.starts_with(t))
        && q.info_hash
            .as_ref()
            .is_none_or(|h| e.info_hash.as_deref() == Some(h.as_str()))
}

/// The `tracing` layer that fills a [`LogRing`].
pub struct RingLayer {
    ring: LogRing,
}

impl std::fmt::Debug for RingLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RingLayer")
    }
}

#[derive(Default)]
struct Fields {
    message: String,
    info_hash: Option<String>,
    rest: BTreeMap<String, String>,
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.put(field, format!("{value:?}"));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, value.to_owned());
    }
}

impl Fields {
    fn put(&mut self, field: &Field, text: String) {
        match field.name() {
            "message" => self.message = text,
            "info_hash" => self.info_hash = Some(text),
            name => {
                self.rest.insert(name.to_owned(), text);
            }
        }
    }
}

impl<S: Subscriber> Layer<S> for RingLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut f = Fields::default();
        event.record(&mut f);
        // The log's own wall clock: when an entry was made.
        #[allow(clippy::disallowed_methods)]
        let time_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let meta = event.metadata();
        self.ring.push(Entry {
            id: 0,
            time_ms,
            level: meta.level().to_string(),
            target: meta.target().to_owned(),
            info_hash: f.info_hash,
            message: f.message,
            fields: f.rest,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::layer::SubscriberExt;

    #[test]
    fn keeps_the_latest_entries_with_their_fields_and_answers_queries() {
        let ring = LogRing::new(3);
        let sub = tracing_subscriber::registry().with(ring.layer());
        let mut live = ring.subscribe();
        tracing::subscriber::with_default(sub, || {
            tracing::info!(info_hash = "ab", peers = 3, "first");
            tracing::warn!("second");
            tracing::debug!(target: "other", "third");
            tracing::error!(info_hash = "ab", "fourth");
        });
        let all = ring.query(&Query {
            limit: 10,
            ..Query::default()
        });
        let msgs: Vec<&str> = all.iter().map(|e| e.message.as_str()).collect();
        assert_eq!(msgs, ["second", "third", "fourth"], "the oldest went");
        let warn = ring.query(&Query {
            level: Some(Level::WARN),
            limit: 10,
            ..Query::default()
        });
        assert_eq!(warn.len(), 2);
        let ab = ring.query(&Query {
            info_hash: Some("ab".into()),
            limit: 10,
            ..Query::default()
        });
        assert_eq!(ab.len(), 1);
        assert_eq!(ab[0].level, "ERROR");
        let since = ring.query(&Query {
            since: Some(all[1].id),
            limit: 10,
            ..Query::default()
        });
        assert_eq!(since.len(), 1);
        let other = ring.query(&Query {
            target: Some("other".into()),
            limit: 1,
            ..Query::default()
        });
        assert_eq!(other[0].message, "third");
        // The live feed saw all four, with the fields.
        let first = live.try_recv().unwrap();
        assert_eq!(first.fields["peers"], "3");
        assert_eq!(first.info_hash.as_deref(), Some("ab"));
    }

    #[test]
    fn a_slow_subscriber_is_told_what_it_lost() {
        let ring = LogRing::new(10);
        let mut live = ring.subscribe();
        for i in 0..(LIVE_QUEUE + 5) {
            ring.push(Entry {
                id: 0,
                time_ms: 0,
                level: "INFO".into(),
                target: "t".into(),
                info_hash: None,
                message: i.to_string(),
                fields: BTreeMap::new(),
            });
        }
        match live.try_recv() {
            Err(tokio::sync::broadcast::error::TryRecvError::Lagged(n)) => assert_eq!(n, 5),
            other => panic!("expected a lag, got {other:?}"),
        }
    }
}
