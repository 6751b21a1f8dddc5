//! Where a torrent's files go. A torrent either follows its category (its
//! files are in the category's save path, the default root without one, and
//! move when the category or its save path changes: qBittorrent's automatic
//! torrent management) or was placed by hand (added to a named root or folder,
//! or moved by the user), and then stays where it is whatever its category
//! does. A torrent still downloading in the incomplete folder is sent by
//! changing where it moves when it finishes, not by moving it now.

use super::{Engine, EngineError};
use crate::core::{Command, TorrentStats, clean_category};
use crate::types::InfoHash;

/// What [`Engine::set_download_root`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DownloadRoot {
    /// The torrent downloads there (its files moving there if they are not).
    Set,
    /// Nothing: the torrent follows its category.
    FollowsCategory,
    /// Nothing: the torrent has finished.
    Finished,
}

impl Engine {
    /// The user's move of a torrent's data to root `token` (see
    /// [`Engine::move_data`]): the torrent is placed by hand from then on.
    pub fn move_storage(&self, ih: InfoHash, token: &str) -> Result<(), EngineError> {
        self.move_data(ih, token)?;
        self.set_manual(ih, true)
    }

    /// Files a torrent under a category (empty: none). One that follows its
    /// category is sent to the category's save path (see [`Engine::send_to`]).
    pub fn set_torrent_category(&self, ih: InfoHash, name: &str) -> Result<(), EngineError> {
        let name = clean_category(name)?;
        let to = self.category_home(&name)?;
        let set = Command::SetCategory {
            info_hash: ih,
            category: name,
        };
        self.ask_blocking(ih, set)?.done()?;
        let s = self.stats(ih)?;
        if !s.settings.manual {
            self.send_to(&s, &to)?;
        }
        Ok(())
    }

    /// Has a torrent follow its category (sent to its save path at once), or
    /// places it by hand where it is.
    pub fn set_follows_category(&self, ih: InfoHash, follows: bool) -> Result<(), EngineError> {
        self.set_manual(ih, !follows)?;
        if follows {
            let s = self.stats(ih)?;
            let to = self.category_home(&s.settings.category)?;
            self.send_to(&s, &to)?;
        }
        Ok(())
    }

    /// Sends a torrent placed by hand to root `token` (qBittorrent's
    /// `setSavePath`); `Ok(false)`, and nothing done, for one that follows its
    /// category (its category says where it goes).
    pub fn set_save_root(&self, ih: InfoHash, token: &str) -> Result<bool, EngineError> {
        let s = self.stats(ih)?;
        if !s.settings.manual {
            return Ok(false);
        }
        self.send_to(&s, token)?;
        Ok(true)
    }

    /// A download folder for a torrent placed by hand that is still
    /// downloading (qBittorrent's `setDownloadPath`): its files move to root
    /// `token` (`None`: back to its save path) and go on to its save path
    /// once it finishes. Nothing is done for one that follows its category
    /// (its category says where it goes) or has finished (it is where it
    /// stays); the answer says which.
    pub fn set_download_root(
        &self,
        ih: InfoHash,
        token: Option<&str>,
    ) -> Result<DownloadRoot, EngineError> {
        let s = self.stats(ih)?;
        if !s.settings.manual {
            return Ok(DownloadRoot::FollowsCategory);
        }
        if s.complete {
            return Ok(DownloadRoot::Finished);
        }
        let save = s
            .settings
            .finish_in
            .as_ref()
            .map_or(&*s.root, |f| f.token.as_str());
        match token {
            Some(t) if t != save => {
                if t != &*s.root {
                    let finish = self.finish_root(save).map(Box::new);
                    self.move_data_then(ih, t, finish)?;
                }
            }
            // Downloading where it is saved.
            _ => {
                if &*s.root != save {
                    self.move_data(ih, save)?;
                }
            }
        }
        Ok(DownloadRoot::Set)
    }

    /// Sends torrent `s` to root `token`: if it downloads in the incomplete
    /// folder, that is where it moves when it finishes; else its files move
    /// there now (nothing if they are there).
    pub(super) fn send_to(&self, s: &TorrentStats, token: &str) -> Result<(), EngineError> {
        let ih = s.info_hash;
        if let Some(fin) = &s.settings.finish_in {
            if fin.token == token {
                return Ok(());
            }
            let to = self.finish_root(token).ok_or_else(|| {
                EngineError::Command(crate::core::CommandError::BadArgument(format!(
                    "storage root {token:?} is unknown"
                )))
            })?;
            let set = Command::SetFinishIn {
                info_hash: ih,
                to: Box::new(to),
            };
            // Refused if it finished meanwhile: then it moves now.
            if self.ask_blocking(ih, set)?.done().is_ok() {
                return Ok(());
            }
        }
        if &*s.root != token {
            self.move_data(ih, token)?;
        }
        Ok(())
    }

    /// The root of category `name`'s save path; the default root for none.
    fn category_home(&self, name: &str) -> Result<String, EngineError> {
        if name.is_empty() {
            self.root_for_save_path("")
        } else {
            self.category_root(name)
        }
    }

    fn set_manual(&self, ih: InfoHash, manual: bool) -> Result<(), EngineError> {
        let set = Command::SetManual {
            info_hash: ih,
            manual,
        };
        self.ask_blocking(ih, set)?.done()
    }
}
