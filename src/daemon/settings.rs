//! The settings that change at run time (limits, caps, slots, the log filter):
//! taken from the config at start and at SIGHUP, changed over the API, and kept
//! across restarts in `<data_dir>/settings.json` (only what the API changed: those
//! values win over the config's until changed again).

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::config::Config;
use super::schedule::{ClockTime, Schedule, ScheduleDays};
use crate::Engine;
use crate::core::announce::Reach;
use crate::core::queue::QueueLimits;
use crate::core::{GlobalShare, ShareAction, ShareLimits, SlotMode, Tunables};
use crate::engine::EngineError;

/// The run-time settings.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Settings {
    /// Global download cap, bytes per second (0: none).
    pub download_limit: u64,
    /// Global upload cap, bytes per second (0: none).
    pub upload_limit: u64,
    /// The alternative download cap, bytes per second (0: none).
    pub alt_download_limit: u64,
    /// The alternative upload cap, bytes per second (0: none).
    pub alt_upload_limit: u64,
    /// The alternative caps are in force instead of the two above (switched by
    /// hand, or by the schedule at its edges).
    pub alt_limits: bool,
    /// The schedule switches the alternative caps on in its window and off
    /// outside it.
    pub schedule_enabled: bool,
    /// The window opens (local time, `HH:MM`).
    pub schedule_from: ClockTime,
    /// The window closes (past midnight if earlier than `schedule_from`; the
    /// whole day if equal).
    pub schedule_to: ClockTime,
    /// The days the window opens on.
    pub schedule_days: ScheduleDays,
    /// Peer connections in all.
    pub max_connections: usize,
    /// Peer connections per torrent.
    pub max_connections_per_torrent: usize,
    /// Outgoing connections being set up at once.
    pub max_half_open: usize,
    /// Peers uploaded to at once per torrent (`fixed`), or the fewest
    /// (`fill_uplink`).
    pub upload_slots: usize,
    /// Most peers uploaded to at once per torrent (`fill_uplink`).
    pub max_upload_slots: usize,
    /// `fill_uplink`: open slots while the upload feeds them; `fixed`:
    /// `upload_slots` always.
    pub upload_slot_mode: SlotMode,
    /// Which of a torrent's trackers are announced to at once.
    pub announce_to: Reach,
    /// Torrents whose checks read their files at once, over the whole
    /// engine (at least one).
    pub checks_at_once: usize,
    /// The log filter.
    pub log_filter: String,
    /// Seeding torrents that follow the global limits stop at this ratio
    /// (-1: none).
    pub ratio_limit: f64,
    /// ... or after this many minutes of seeding (-1: none).
    pub seeding_time_limit_mins: i64,
    /// ... or after this many minutes of seeding without uploading (-1: none).
    pub inactive_seeding_time_limit_mins: i64,
    /// What reaching a share limit does: `pause`, `remove`, `remove_with_files`,
    /// `super_seed`.
    pub share_limit_action: ShareAction,
    /// Queue torrents beyond the limits below.
    pub queueing_enabled: bool,
    /// Most torrents downloading at once (-1: no limit).
    pub max_active_downloads: i64,
    /// Most complete torrents seeding at once (-1: no limit).
    pub max_active_uploads: i64,
    /// Most torrents running at once (-1: no limit).
    pub max_active_torrents: i64,
    /// Slow torrents do not count as active.
    pub ignore_slow_torrents: bool,
    /// Bytes/s under which a torrent's download is slow.
    pub slow_download_rate: u64,
    /// Bytes/s under which a torrent's upload is slow.
    pub slow_upload_rate: u64,
    /// Seconds under both before it counts as slow.
    pub slow_inactive_secs: u64,
    /// Addresses, ranges or CIDR blocks banned besides the IP filter file
    /// (the config's `peers.banned_ips`, then the API's: qBittorrent's
    /// `banned_IPs` and `transfer/banPeers`).
    pub banned_ips: Vec<String>,
    /// Where new torrents download before their files move to their save
    /// path (a root's token or a folder inside a root; empty: off).
    pub incomplete_path: String,
    /// New torrents are added paused (unless their add says).
    pub add_paused: bool,
    /// Where new torrents' files go under their save folder (unless their
    /// add says).
    pub content_layout: crate::metainfo::ContentLayout,
    /// New torrents added without a root follow their category (see
    /// `engine::placement`); `false`: placed by hand in the default root.
    pub follow_category: bool,
}

/// A change to some settings (what the API takes and what settings.json keeps).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsPatch {
    /// See [`Settings`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub download_limit: Option<u64>,
    /// See [`Settings`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upload_limit: Option<u64>,
    /// See [`Settings`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alt_download_limit: Option<u64>,
    /// See [`Settings`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alt_upload_limit: Option<u64>,
    /// See [`Settings`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alt_limits: Option<bool>,
    /// See [`Settings`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule_enabled: Option<bool>,
    /// See [`Settings`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule_from: Option<ClockTime>,
    /// See [`Settings`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule_to: Option<ClockTime>,
    /// See [`Settings`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule_days: Option<ScheduleDays>,
    /// See [`Settings`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_connections: Option<usize>,
    /// See [`Settings`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_connections_per_torrent: Option<usize>,
    /// See [`Settings`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_half_open: Option<usize>,
    /// See [`Settings`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upload_slots: Option<usize>,
    /// See [`Settings`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_upload_slots: Option<usize>,
    /// See [`Settings`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upload_slot_mode: Option<SlotMode>,
    /// See [`Settings`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub announce_to: Option<Reach>,
    /// See [`Settings`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checks_at_once: Option<usize>,
    /// See [`Settings`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_filter: Option<String>,
    /// See [`Settings`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ratio_limit: Option<f64>,
    /// See [`Settings`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seeding_time_limit_mins: Option<i64>,
    /// See [`Settings`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inactive_seeding_time_limit_mins: Option<i64>,
    /// See [`Settings`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub share_limit_action: Option<ShareAction>,
    /// See [`Settings`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queueing_enabled: Option<bool>,
    /// See [`Settings`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_active_downloads: Option<i64>,
    /// See [`Settings`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_active_uploads: Option<i64>,
    /// See [`Settings`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_active_torrents: Option<i64>,
    /// See [`Settings`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ignore_slow_torrents: Option<bool>,
    /// See [`Settings`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slow_download_rate: Option<u64>,
    /// See [`Settings`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slow_upload_rate: Option<u64>,
    /// See [`Settings`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slow_inactive_secs: Option<u64>,
    /// See [`Settings`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub banned_ips: Option<Vec<String>>,
    /// See [`Settings`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incomplete_path: Option<String>,
    /// See [`Settings`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub add_paused: Option<bool>,
    /// See [`Settings`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_layout: Option<crate::metainfo::ContentLayout>,
    /// See [`Settings`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub follow_category: Option<bool>,
}

impl Settings {
    /// The config's values.
    pub fn from_config(c: &Config) -> Settings {
        Settings {
            download_limit: c.limits.download,
            upload_limit: c.limits.upload,
            alt_download_limit: c.limits.alt_download,
            alt_upload_limit: c.limits.alt_upload,
            alt_limits: false,
            schedule_enabled: c.limits.schedule_enabled,
            schedule_from: c.limits.schedule_from,
            schedule_to: c.limits.schedule_to,
            schedule_days: c.limits.schedule_days,
            max_connections: c.peers.max_connections,
            max_connections_per_torrent: c.peers.max_connections_per_torrent,
            max_half_open: c.peers.max_half_open,
            upload_slots: c.peers.upload_slots,
            max_upload_slots: c.peers.max_upload_slots,
            upload_slot_mode: c.peers.upload_slot_mode,
            announce_to: c.peers.announce_to,
            checks_at_once: c.engine.checks_at_once,
            log_filter: c.log.filter.clone(),
            ratio_limit: c.limits.ratio,
            seeding_time_limit_mins: c.limits.seeding_time_mins,
            inactive_seeding_time_limit_mins: c.limits.inactive_seeding_time_mins,
            share_limit_action: c.limits.share_action,
            queueing_enabled: c.queue.enabled,
            max_active_downloads: c.queue.max_active_downloads,
            max_active_uploads: c.queue.max_active_uploads,
            max_active_torrents: c.queue.max_active_torrents,
            ignore_slow_torrents: c.queue.ignore_slow_torrents,
            slow_download_rate: c.queue.slow_download_rate,
            slow_upload_rate: c.queue.slow_upload_rate,
            slow_inactive_secs: c.queue.slow_inactive_secs,
            banned_ips: c.peers.banned_ips.clone(),
            incomplete_path: c.new_torrents.incomplete_path.trim().to_owned(),
            add_paused: c.new_torrents.paused,
            content_layout: c.new_torrents.content_layout,
            follow_category: c.new_torrents.follow_category,
        }
    }

    /// These settings with `p` applied, or why `p` is refused.
    pub fn patched(&self, p: &SettingsPatch) -> Result<Settings, String> {
        let mut s = self.clone();
        s.download_limit = p.download_limit.unwrap_or(s.download_limit);
        s.upload_limit = p.upload_limit.unwrap_or(s.upload_limit);
        s.max_connections = p.max_connections.unwrap_or(s.max_connections);
        s.max_connections_per_torrent = p
            .max_connections_per_torrent
            .unwrap_or(s.max_connections_per_torrent);
        s.max_half_open = p.max_half_open.unwrap_or(s.max_half_open);
        s.upload_slots = p.upload_slots.unwrap_or(s.upload_slots);
        s.max_upload_slots = p.max_upload_slots.unwrap_or(s.max_upload_slots);
        s.upload_slot_mode = p.upload_slot_mode.unwrap_or(s.upload_slot_mode);
        if let Some(f) = &p.log_filter {
            s.log_filter.clone_from(f);
        }
        s.ratio_limit = p.ratio_limit.unwrap_or(s.ratio_limit);
        s.seeding_time_limit_mins = p
            .seeding_time_limit_mins
            .unwrap_or(s.seeding_time_limit_mins);
        s.inactive_seeding_time_limit_mins = p
            .inactive_seeding_time_limit_mins
            .unwrap_or(s.inactive_seeding_time_limit_mins);
        s.share_limit_action = p.share_limit_action.unwrap_or(s.share_limit_action);
        macro_rules! take {
            ($($f:ident),*) => {$(if let Some(v) = p.$f { s.$f = v; })*};
        }
        take!(
            alt_download_limit,
            alt_upload_limit,
            alt_limits,
            schedule_enabled,
            schedule_from,
            schedule_to,
            schedule_days,
            queueing_enabled,
            max_active_downloads,
            max_active_uploads,
            max_active_torrents,
            ignore_slow_torrents,
            slow_download_rate,
            slow_upload_rate,
            slow_inactive_secs,
            add_paused,
            content_layout,
            follow_category,
            announce_to,
            checks_at_once
        );
        if s.checks_at_once == 0 {
            return Err("checks_at_once: at least 1".into());
        }
        if s.max_active_downloads < -1 || s.max_active_uploads < -1 || s.max_active_torrents < -1 {
            return Err("queue limits: -1 (none) or 0 and more".into());
        }
        if let Some(why) = super::config::share_error(
            s.ratio_limit,
            s.seeding_time_limit_mins,
            s.inactive_seeding_time_limit_mins,
        ) {
            return Err(why);
        }
        if s.max_connections == 0 || s.max_connections_per_torrent == 0 || s.max_half_open == 0 {
            return Err("connection caps must be at least 1".into());
        }
        if let Some(why) = super::config::slots_error(s.upload_slots, s.max_upload_slots) {
            return Err(why.into());
        }
        if tracing_subscriber::EnvFilter::try_new(&s.log_filter).is_err() {
            return Err(format!("log_filter: {:?} is not a filter", s.log_filter));
        }
        if let Some(list) = &p.banned_ips {
            s.banned_ips.clone_from(list);
        }
        if let Some(path) = &p.incomplete_path {
            path.trim().clone_into(&mut s.incomplete_path);
        }
        if let Some(e) = super::ipfilter::bad_entry(&s.banned_ips) {
            return Err(format!(
                "banned_ips: {e:?} is not an address, a range or a CIDR block"
            ));
        }
        if s.banned_ips.len() > super::ipfilter::MAX_BANNED {
            return Err(format!(
                "banned_ips: more than {}",
                super::ipfilter::MAX_BANNED
            ));
        }
        Ok(s)
    }

    /// Hands the engine its part (limits, caps, slots).
    pub async fn apply(&self, engine: &Engine) -> Result<(), EngineError> {
        let (down, up) = self.limits_in_force();
        engine.set_global_limits_async(down, up).await?;
        engine
            .set_tunables_async(Tunables {
                max_connections: self.max_connections,
                max_connections_per_torrent: self.max_connections_per_torrent,
                max_half_open: self.max_half_open,
                unchoke_slots: self.upload_slots,
                max_unchoke_slots: self.max_upload_slots,
                slot_mode: Some(self.upload_slot_mode),
                tracker_reach: Some(self.announce_to),
                checks_at_once: self.checks_at_once,
            })
            .await?;
        engine.set_global_share_async(self.global_share()).await?;
        engine.set_queue_limits_async(self.queue_limits()).await
    }

    /// The download and upload caps in force: the alternative ones while they
    /// are switched on.
    pub fn limits_in_force(&self) -> (u64, u64) {
        if self.alt_limits {
            (self.alt_download_limit, self.alt_upload_limit)
        } else {
            (self.download_limit, self.upload_limit)
        }
    }

    /// The schedule, if it is on.
    pub fn schedule(&self) -> Option<Schedule> {
        self.schedule_enabled.then_some(Schedule {
            from: self.schedule_from,
            to: self.schedule_to,
            days: self.schedule_days,
        })
    }

    /// The queue's limits as the engine takes them.
    pub fn queue_limits(&self) -> QueueLimits {
        QueueLimits {
            enabled: self.queueing_enabled,
            max_downloads: self.max_active_downloads,
            max_uploads: self.max_active_uploads,
            max_torrents: self.max_active_torrents,
            ignore_slow: self.ignore_slow_torrents,
            slow_download_rate: self.slow_download_rate,
            slow_upload_rate: self.slow_upload_rate,
            slow_secs: self.slow_inactive_secs,
        }
    }

    /// The global share limits as the engine takes them.
    pub fn global_share(&self) -> GlobalShare {
        GlobalShare {
            limits: ShareLimits {
                ratio_milli: ratio_milli(self.ratio_limit),
                seeding_mins: self.seeding_time_limit_mins.max(-1),
                inactive_mins: self.inactive_seeding_time_limit_mins.max(-1),
            },
            action: self.share_limit_action,
        }
    }

    /// What differs from `before`, as `key: old -> new` lines for the log.
    pub fn changes_from(&self, before: &Settings) -> Vec<String> {
        let (Ok(serde_json::Value::Object(old)), Ok(serde_json::Value::Object(new))) =
            (serde_json::to_value(before), serde_json::to_value(self))
        else {
            return Vec::new();
        };
        let text = |v: &serde_json::Value| match v {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        new.iter()
            .filter(|(k, v)| old.get(*k) != Some(v))
            .map(|(k, v)| {
                let was = old.get(k).map(text).unwrap_or_default();
                format!("{k}: {was} -> {}", text(v))
            })
            .collect()
    }
}

/// A ratio limit as the APIs show it, from the engine's thousandths (a
/// negative one, -2 global or -1 none, shown as it is).
pub fn ratio_of_milli(milli: i64) -> f64 {
    if milli < 0 {
        milli as f64
    } else {
        milli as f64 / 1000.0
    }
}

/// A ratio (`1.5`) in the thousandths the engine counts in; a negative one is
/// no limit.
pub fn ratio_milli(r: f64) -> i64 {
    if r < 0.0 || !r.is_finite() {
        -1
    } else {
        #[allow(clippy::cast_possible_truncation)] // clamped to a sane range first
        let m = (r.min(1.0e9) * 1000.0).round() as i64;
        m
    }
}

impl SettingsPatch {
    /// What settings.json holds (nothing if it is not there; an unreadable or
    /// damaged file is an error naming it).
    pub fn load(file: &Path) -> Result<SettingsPatch, String> {
        match std::fs::read(file) {
            Ok(b) => serde_json::from_slice(&b).map_err(|e| format!("{}: {e}", file.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(SettingsPatch::default()),
            Err(e) => Err(format!("{}: {e}", file.display())),
        }
    }

    /// Adds `later` on top of these changes.
    pub fn merge(&mut self, later: &SettingsPatch) {
        macro_rules! take {
            ($($f:ident),*) => {$(if later.$f.is_some() { self.$f.clone_from(&later.$f); })*};
        }
        take!(
            download_limit,
            upload_limit,
            alt_download_limit,
            alt_upload_limit,
            alt_limits,
            schedule_enabled,
            schedule_from,
            schedule_to,
            schedule_days,
            max_connections,
            max_connections_per_torrent,
            max_half_open,
            upload_slots,
            max_upload_slots,
            upload_slot_mode,
            log_filter,
            ratio_limit,
            seeding_time_limit_mins,
            inactive_seeding_time_limit_mins,
            share_limit_action,
            queueing_enabled,
            max_active_downloads,
            max_active_uploads,
            max_active_torrents,
            ignore_slow_torrents,
            slow_download_rate,
            slow_upload_rate,
            slow_inactive_secs,
            banned_ips,
            incomplete_path,
            add_paused,
            content_layout,
            follow_category,
            announce_to,
            checks_at_once
        );
    }

    /// Writes the changes durably (a temporary file renamed over the old one).
    pub fn save(&self, file: &Path) -> std::io::Result<()> {
        let tmp = file.with_extension("json.tmp");
        let text = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        {
            use std::io::Write;
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&text)?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, file)
    }
}
