//! A shard's way to tell the daemon's hooks of a torrent's milestones
//! ([`crate::core::Action::Milestone`]): one queue for the whole engine, read
//! by whoever asked for it in [`super::ShardConfig::milestones`].

use crate::core::Milestone;
use crate::types::InfoHash;

/// Milestones waiting for their reader (the daemon's hooks, which take one as
/// soon as a program may start). Full: a milestone is dropped, its program
/// does not run, and the shard says so (the first at once, then how many when
/// the queue takes one again).
pub const MILESTONE_QUEUE: usize = 1024;

/// What carries milestones to their reader.
pub type MilestoneSender = flume::Sender<(InfoHash, Milestone)>;

/// A shard's end of the queue.
#[derive(Default)]
pub(crate) struct Milestones {
    to: Option<MilestoneSender>,
    /// Dropped since the queue was last found with room.
    dropped: u64,
}

impl Milestones {
    pub(crate) fn new(to: Option<MilestoneSender>) -> Milestones {
        Milestones { to, dropped: 0 }
    }

    /// Hands one over, without waiting; a full queue drops it (said once a run).
    pub(crate) fn tell(&mut self, info_hash: InfoHash, what: Milestone) {
        let Some(to) = &self.to else {
            return;
        };
        match to.try_send((info_hash, what)) {
            Ok(()) => {
                if self.dropped > 0 {
                    tracing::warn!(
                        dropped = self.dropped,
                        "hooks' queue has room again; {} milestones were dropped while it was full (their programs did not run)",
                        self.dropped
                    );
                    self.dropped = 0;
                }
            }
            Err(flume::TrySendError::Full(_)) => {
                if self.dropped == 0 {
                    tracing::warn!(
                        %info_hash,
                        ?what,
                        queued = MILESTONE_QUEUE,
                        "hooks' queue full: milestone dropped, its program does not run"
                    );
                }
                self.dropped += 1;
            }
            // The reader is gone (the daemon stopping): nothing to run them.
            Err(flume::TrySendError::Disconnected(_)) => self.to = None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_queue_drops_and_counts_then_delivers_again() {
        let (tx, rx) = flume::bounded(1);
        let mut m = Milestones::new(Some(tx));
        let ih = InfoHash([1; 20]);
        m.tell(ih, Milestone::Added);
        m.tell(ih, Milestone::Finished);
        m.tell(ih, Milestone::Finished);
        assert_eq!(m.dropped, 2);
        assert_eq!(rx.try_recv().unwrap(), (ih, Milestone::Added));
        m.tell(ih, Milestone::Finished);
        assert_eq!(m.dropped, 0);
        assert_eq!(rx.try_recv().unwrap(), (ih, Milestone::Finished));
        drop(rx);
        m.tell(ih, Milestone::Added);
        assert!(m.to.is_none());
    }
}
