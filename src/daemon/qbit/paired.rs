//! qBittorrent preferences that come in pairs of keys and are read together:
//! the incomplete folder (`temp_path_enabled`, `temp_path`), the schedule's
//! times (`*_hour`, `*_min`), and which trackers are announced to
//! (`announce_to_all_tiers`, `announce_to_all_trackers`).

use serde_json::{Map, Value, json};

use super::super::api::Shared;
use super::super::schedule::ClockTime;
use super::QbError;
use super::app::default_path;
use crate::core::announce::Reach;

/// qBittorrent's `temp_path_enabled` and `temp_path` as the incomplete folder
/// (`incomplete_path`): on, the folder given, else the one shown; off, none
/// (the folder given is kept to show, as qBittorrent keeps it). `None`: no
/// change.
pub(super) fn temp_path(
    given: &Map<String, Value>,
    app: &Shared,
) -> Result<Option<String>, QbError> {
    let enabled = (given.get("temp_path_enabled"))
        .map(|v| {
            v.as_bool()
                .ok_or_else(|| QbError::bad("temp_path_enabled: true or false"))
        })
        .transpose()?;
    let path = (given.get("temp_path"))
        .map(|v| {
            (v.as_str().map(|p| p.trim().to_owned()))
                .ok_or_else(|| QbError::bad("temp_path: a folder"))
        })
        .transpose()?;
    if let Some(p) = &path {
        let q = app.qbit.as_ref().expect("the layer is on");
        q.kept_prefs_lock().insert("temp_path".into(), json!(p));
    }
    let on = !(app.settings.lock())
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .incomplete_path
        .is_empty();
    Ok(match (enabled, path) {
        (Some(false), _) => Some(String::new()),
        (Some(true), Some(p)) => Some(p),
        (Some(true), None) => Some(shown_temp_path(app)),
        (None, Some(p)) if on => Some(p),
        (None, _) => None,
    })
}

/// The incomplete folder as qBittorrent shows it: the setting's folder (a
/// root's token as its folder), else the one last given while off, else
/// `temp` in the default save path (qBittorrent's default).
pub(super) fn shown_temp_path(app: &Shared) -> String {
    let now = (app.settings.lock())
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .incomplete_path
        .clone();
    if !now.is_empty() {
        let roots = super::read::root_paths(&app.engine);
        return roots.get(&now).map_or(now.clone(), str::to_owned);
    }
    let q = app.qbit.as_ref().expect("the layer is on");
    let kept = q
        .kept_prefs_lock()
        .get("temp_path")
        .and_then(|v| v.as_str().map(str::to_owned));
    kept.filter(|p| !p.is_empty())
        .unwrap_or_else(|| format!("{}/temp", default_path(app).trim_end_matches('/')))
}

/// A schedule time from qBittorrent's `{name}_hour` and `{name}_min` (either
/// may be left out: the other part stays as `was`); `None` if neither is
/// given.
pub(super) fn clock(
    given: &Map<String, Value>,
    name: &str,
    was: ClockTime,
) -> Result<Option<ClockTime>, QbError> {
    let part = |suffix: &str, max: u16| -> Result<Option<u16>, QbError> {
        let key = format!("{name}_{suffix}");
        let in_range = |v: &Value| v.as_u64().and_then(|n| u16::try_from(n).ok());
        (given.get(&key))
            .map(|v| {
                in_range(v)
                    .filter(|n| *n <= max)
                    .ok_or_else(|| QbError::bad(format!("{key}: a number from 0 to {max}")))
            })
            .transpose()
    };
    let (hour, minute) = (part("hour", 23)?, part("min", 59)?);
    if hour.is_none() && minute.is_none() {
        return Ok(None);
    }
    Ok(ClockTime::new(
        hour.unwrap_or(was.hour()),
        minute.unwrap_or(was.minute()),
    ))
}

/// qBittorrent's two keys for `reach`: announce to every tier, to every tracker.
pub(super) fn shown_announce_to(reach: Reach) -> (bool, bool) {
    (reach != Reach::OneTracker, reach == Reach::EveryTracker)
}

/// `announce_to_all_tiers` and `announce_to_all_trackers` as the
/// `announce_to` setting (a key left out stays as shown): every tracker if the
/// second is on, else every tier if the first is, else one tracker. `None`:
/// neither given.
pub(super) fn announce_to(
    given: &Map<String, Value>,
    app: &Shared,
) -> Result<Option<Reach>, QbError> {
    let key = |k: &str| {
        (given.get(k))
            .map(|v| {
                v.as_bool()
                    .ok_or_else(|| QbError::bad(format!("{k}: true or false")))
            })
            .transpose()
    };
    let (tiers, trackers) = (
        key("announce_to_all_tiers")?,
        key("announce_to_all_trackers")?,
    );
    if tiers.is_none() && trackers.is_none() {
        return Ok(None);
    }
    let now = (app.settings.lock())
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .announce_to;
    let (shown_tiers, shown_trackers) = shown_announce_to(now);
    Ok(Some(if trackers.unwrap_or(shown_trackers) {
        Reach::EveryTracker
    } else if tiers.unwrap_or(shown_tiers) {
        Reach::EveryTier
    } else {
        Reach::OneTracker
    }))
}
