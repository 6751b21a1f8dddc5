//! A torrent's details beyond its numbers: its trackers (read and replaced),
//! where its pieces stand, its `.torrent` as the APIs hand it out, made from
//! the session store's records ([`crate::metainfo::torrent_file`]), and what
//! the file said of itself ([`crate::metainfo::About`]).

use super::{Engine, EngineError};
use crate::core::{Command, Reply};
use crate::metainfo::{About, MetainfoLimits, torrent_file};
use crate::resume_lmdb::{about_key, meta_key};
use crate::types::InfoHash;

impl Engine {
    /// A torrent's trackers: tiers, the last result, the next announce.
    pub async fn trackers_async(
        &self,
        ih: InfoHash,
    ) -> Result<crate::core::announce::TrackersReport, EngineError> {
        match self.ask(ih, Command::Trackers(ih)).await? {
            Reply::Trackers(r) => Ok(r?),
            other => Err(other.mismatch("trackers")),
        }
    }

    /// Replaces a torrent's trackers (see [`crate::core::Core::set_trackers`]).
    pub async fn set_trackers_async(
        &self,
        ih: InfoHash,
        tiers: Vec<Vec<String>>,
    ) -> Result<(), EngineError> {
        let set = Command::SetTrackers {
            info_hash: ih,
            tiers,
        };
        self.ask(ih, set).await?.done()
    }

    /// Which pieces a torrent has, is downloading, and how many peers have
    /// each; `None` until a magnet's metadata arrives.
    pub async fn piece_states_async(
        &self,
        ih: InfoHash,
    ) -> Result<Option<Box<crate::core::PieceStates>>, EngineError> {
        match self.ask(ih, Command::PieceStates(ih)).await? {
            Reply::PieceStates(p) => Ok(p?),
            other => Err(other.mismatch("piece states")),
        }
    }

    /// The `.torrent` of torrent `ih`: its `info` as stored (the same
    /// info-hashes), a v2 or hybrid torrent's piece layers, its trackers and
    /// web seeds as they are now, and the file's comment, creator and date;
    /// `None` while a magnet's metadata is still to come.
    pub async fn export_async(&self, ih: InfoHash) -> Result<Option<Vec<u8>>, EngineError> {
        let report = self.trackers_async(ih).await?;
        // The records of a torrent just added may still be on their way.
        self.flush_async().await?;
        let Some(stored) = self.stored(&meta_key(ih))? else {
            return Ok(None);
        };
        let about = self.about(ih)?;
        let file = torrent_file(
            &stored,
            &report.tiers,
            &report.web_seeds,
            &about,
            &MetainfoLimits::default(),
        )
        .map_err(|e| EngineError::Internal(format!("the stored metadata of {ih}: {e}")))?;
        Ok(Some(file))
    }

    /// What torrent `ih`'s `.torrent` said of itself: nothing for a magnet,
    /// or a torrent added before this was kept.
    pub fn about(&self, ih: InfoHash) -> Result<About, EngineError> {
        Ok(self
            .stored(&about_key(ih))?
            .map_or_else(About::default, |r| About::decode(&r)))
    }

    fn stored(&self, key: &[u8]) -> Result<Option<Vec<u8>>, EngineError> {
        self.store()
            .get(key)
            .map_err(|e| EngineError::Internal(e.to_string()))
    }
}
