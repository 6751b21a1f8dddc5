//! Every torrent's numbers taken a piece at a time: a long list is made on
//! the shards that hold the torrents, a piece of [`STATS_PIECE`] torrents at
//! a time, so that each shard serves its peers between pieces and each
//! piece stays in the cache while it is made into rows.

use futures_util::Stream;

use super::{Engine, EngineError};
use crate::core::{Command, Reply, TorrentStats};
use crate::shard::{self, Envelope};
use crate::types::InfoHash;

/// What a shard carries from one piece of [`Engine::all_stats_then`] to the
/// next: what to make of a piece, what was made, and where the whole goes.
struct Pieces<F, T> {
    each: F,
    made: Vec<T>,
    tx: flume::Sender<Result<Vec<T>, String>>,
}

impl<F, T> Pieces<F, T> {
    fn send(&self, all: Result<Vec<T>, String>) {
        if self.tx.send(all).is_err() {
            tracing::debug!("a list's pieces found no caller (its future was dropped)");
        }
    }
}

/// The command for the piece after `after`, whose answer makes the piece and
/// asks for the next, or sends everything made once a piece comes short.
fn stats_piece<F, T>(after: Option<InfoHash>, mut p: Pieces<F, T>) -> Envelope
where
    F: Fn(Vec<TorrentStats>) -> T + Send + 'static,
    T: Send + 'static,
{
    let command = Command::StatsFrom {
        after,
        max: STATS_PIECE,
    };
    let answer: shard::Answer = Box::new(move |reply| {
        let each = &p.each;
        match reply.and_then(|r| piece_made(r, each)) {
            Ok(StatsPiece {
                made,
                last,
                more: true,
            }) => {
                p.made.push(made);
                return Some(stats_piece(last, p));
            }
            Ok(piece) => {
                p.made.push(piece.made);
                let all = std::mem::take(&mut p.made);
                p.send(Ok(all));
            }
            Err(why) => p.send(Err(why)),
        }
        None
    });
    Envelope { command, answer }
}

/// What a shard made of one piece of its torrents' numbers.
#[derive(Debug)]
pub struct StatsPiece<T> {
    /// What was made of the piece.
    pub made: T,
    /// The piece's last torrent: the next piece starts after it.
    pub last: Option<InfoHash>,
    /// The piece was full: more may follow.
    pub more: bool,
}

/// A [`Command::StatsFrom`] reply made into `T` on the shard (a panic in
/// `each` is the answer's failure, not the shard's).
fn piece_made<T>(
    reply: Reply,
    each: impl FnOnce(Vec<TorrentStats>) -> T,
) -> Result<StatsPiece<T>, String> {
    match reply {
        Reply::AllStats(s) => {
            let last = s.last().map(|s| s.info_hash);
            let more = s.len() == STATS_PIECE;
            super::shard_side(|| each(s)).map(|made| StatsPiece { made, last, more })
        }
        other => Err(other.mismatch("stats from").to_string()),
    }
}

/// How many torrents' numbers [`Engine::all_stats_then`] takes from a shard at
/// a time: their numbers (~600 bytes each) and rows stay in the cache, and a
/// shard of 50,000 torrents answers its peers every couple of milliseconds.
pub(super) const STATS_PIECE: usize = 1024;

impl Engine {
    /// Every torrent's numbers, handed to `each` a piece at a time on the
    /// shard that has them, and what `each` made of each piece (a shard's
    /// pieces in id order, shard after shard). A list of 100,000 torrents is
    /// made into its rows by every core at once, each piece while it is in the
    /// cache; the numbers are freed where they were allocated, and each shard
    /// serves its peers between pieces. `each` holds its shard while it runs:
    /// one pass over the piece, no waiting.
    pub async fn all_stats_then<T: Send + 'static>(
        &self,
        each: impl Fn(Vec<TorrentStats>) -> T + Clone + Send + 'static,
    ) -> Result<Vec<T>, EngineError> {
        let shards = (0..self.inner.shards()).map(|i| self.stats_pieces_then(i, each.clone()));
        let mut all = Vec::new();
        for made in futures_util::future::join_all(shards).await {
            all.extend(made?);
        }
        Ok(all)
    }

    /// One piece of shard `shard`'s torrents, those after `after` in id order
    /// (`None`: from the first), made into `T` by `each` on the shard. A
    /// caller that pulls piece after piece (a list streamed to a client) holds
    /// one piece at a time, and the shard serves its peers between pieces.
    pub async fn stats_piece_async<T: Send + 'static>(
        &self,
        shard: usize,
        after: Option<InfoHash>,
        each: impl FnOnce(Vec<TorrentStats>) -> T + Send + 'static,
    ) -> Result<StatsPiece<T>, EngineError> {
        // One answer, sent once.
        let (tx, rx) = flume::bounded(1);
        let command = Command::StatsFrom {
            after,
            max: STATS_PIECE,
        };
        let answer: shard::Answer = Box::new(move |reply| {
            if tx.send(reply.and_then(|r| piece_made(r, each))).is_err() {
                tracing::debug!("a list's piece found no caller (its future was dropped)");
            }
            None
        });
        self.inner
            .send_envelope(shard, Envelope { command, answer })
            .await?;
        self.inner.answer_of(shard, rx).await
    }

    /// [`Engine::all_stats_then`] on one shard: each piece's answer asks the
    /// shard for the next piece itself, so the pieces follow one another on
    /// the shard without a trip to this caller and back.
    async fn stats_pieces_then<T: Send + 'static>(
        &self,
        shard: usize,
        each: impl Fn(Vec<TorrentStats>) -> T + Send + 'static,
    ) -> Result<Vec<T>, EngineError> {
        // One answer: every piece made, or why the shard failed.
        let (tx, rx) = flume::bounded(1);
        let first = stats_piece(
            None,
            Pieces {
                each,
                made: Vec::new(),
                tx,
            },
        );
        self.inner.send_envelope(shard, first).await?;
        self.inner.answer_of(shard, rx).await
    }

    /// Every torrent's numbers made into `T` by `each` a piece at a time on
    /// their shard (as [`Engine::stats_piece_async`]), as a stream: the
    /// shards' pieces interleave in the order they are made, each shard's
    /// in id order. A shard asks for its next piece only once its last was
    /// taken from the stream, so a reader that is slow, or stops, holds one
    /// piece a shard at most. A shard that fails gives why and ends; the
    /// others go on. Nothing runs once the stream is dropped.
    pub fn stats_pieces<T: Send + 'static>(
        &self,
        each: impl Fn(Vec<TorrentStats>) -> T + Clone + Send + 'static,
    ) -> impl Stream<Item = Result<T, EngineError>> + Send + 'static {
        let shard_pieces = |shard: usize| {
            let (engine, each) = (self.clone(), each.clone());
            // The state: where the next piece starts (`Some(None)`: at the
            // first torrent), `None` once the last was given.
            futures_util::stream::unfold(Some(None), move |after| {
                let (engine, each) = (engine.clone(), each.clone());
                async move {
                    let after: Option<InfoHash> = after?;
                    Some(match engine.stats_piece_async(shard, after, each).await {
                        Ok(p) => (Ok(p.made), p.more.then_some(p.last)),
                        Err(e) => (Err(e), None),
                    })
                }
            })
        };
        let all = (0..self.inner.shards()).map(|i| Box::pin(shard_pieces(i)));
        futures_util::stream::select_all(all)
    }
}
