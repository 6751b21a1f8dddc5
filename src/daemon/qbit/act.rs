//! The torrent changes: `torrents/add`, `delete`, `pause`/`resume` (4.x) and
//! `stop`/`start` (5.x), `recheck`, `reannounce`, `setLocation`, categories and
//! tags, limits, file priorities, `export`, and the queue routes (refused while
//! queueing is off, as qBittorrent refuses them).

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;

use super::super::api::{Shared, blocking};
use super::super::rename::{self, Target};
use super::{Params, QbError, done, json as answer, ok, text};
use crate::core::share::OwnAction;
use crate::core::{AddTorrent, TorrentSettings, TorrentSource};
use crate::engine::EngineError;
use crate::engine::queue::QueueMove;
use crate::metainfo::{Magnet, Metainfo, MetainfoLimits};
use crate::types::InfoHash;

/// Adds these routes.
pub fn routes(r: Router<Shared>) -> Router<Shared> {
    r.route("/torrents/add", any(add))
        .route("/torrents/delete", any(delete))
        .route("/torrents/pause", any(pause))
        .route("/torrents/stop", any(pause))
        .route("/torrents/resume", any(resume))
        .route("/torrents/start", any(resume))
        .route("/torrents/recheck", any(recheck))
        .route("/torrents/reannounce", any(reannounce))
        .route("/torrents/rename", any(rename))
        .route("/torrents/toggleFirstLastPiecePrio", any(toggle_first_last))
        .route("/torrents/createCategory", any(create_category))
        .route("/torrents/editCategory", any(edit_category))
        .route("/torrents/removeCategories", any(remove_categories))
        .route("/torrents/addTags", any(add_tags))
        .route("/torrents/removeTags", any(remove_tags))
        .route("/torrents/createTags", any(create_tags))
        .route("/torrents/deleteTags", any(delete_tags))
        .route("/torrents/setDownloadLimit", any(set_download_limit))
        .route("/torrents/setUploadLimit", any(set_upload_limit))
        .route("/torrents/downloadLimit", any(download_limit))
        .route("/torrents/uploadLimit", any(upload_limit))
        .route("/torrents/toggleSequentialDownload", any(toggle_sequential))
        .route("/torrents/filePrio", any(file_prio))
        .route("/torrents/setForceStart", any(force_start))
        .route("/torrents/setSuperSeeding", any(super_seeding))
        .route("/torrents/export", any(export))
        .route("/torrents/addPeers", any(add_peers))
        .route("/torrents/setShareLimits", any(set_share_limits))
        .route("/torrents/renameFile", any(rename_file))
        .route("/torrents/renameFolder", any(rename_folder))
        .route("/torrents/topPrio", any(top))
        .route("/torrents/bottomPrio", any(bottom))
        .route("/torrents/increasePrio", any(up))
        .route("/torrents/decreasePrio", any(down))
}

/// The torrents `hashes` names (`all`: every one; unknown ones left out).
pub(super) async fn targets(app: &Shared, p: &Params) -> Result<Vec<InfoHash>, QbError> {
    let all = app.engine.torrents_async().await?;
    Ok(match p.torrents(&app.engine).await? {
        None => all,
        Some(h) => h.into_iter().filter(|ih| all.contains(ih)).collect(),
    })
}

/// Runs `f` on every torrent named; a torrent gone meanwhile is skipped.
async fn each<F, Fut>(app: &Shared, p: &Params, f: F) -> Result<Response, QbError>
where
    F: Fn(crate::Engine, InfoHash) -> Fut,
    Fut: std::future::Future<Output = Result<(), EngineError>>,
{
    for ih in targets(app, p).await? {
        match f(app.engine.clone(), ih).await {
            Ok(()) | Err(EngineError::Command(crate::core::CommandError::UnknownTorrent(_))) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(done())
}

/// `torrents/add`: `urls` (magnet links and http(s) URLs of .torrent files, one
/// per line) and `torrents` (files, multipart), with `savepath`, `autoTMM`, `category`, `tags`, `paused`/`stopped`,
/// `sequentialDownload`, `upLimit`, `dlLimit`, `rename`. `Ok.` if any was added, else
/// `Fails.` (each refusal is logged with its reason).
async fn add(State(app): State<Shared>, req: Request) -> Result<Response, QbError> {
    let multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    let mut files: Vec<Vec<u8>> = Vec::new();
    let params = if multipart {
        let mut m = Multipart::from_request(req, &())
            .await
            .map_err(|e| QbError::bad(e.body_text()))?;
        let mut p = HashMap::new();
        while let Some(field) = m
            .next_field()
            .await
            .map_err(|e| QbError::bad(e.body_text()))?
        {
            let name = field.name().unwrap_or("").to_owned();
            let is_file = field.file_name().is_some() || name == "torrents";
            let bytes = field
                .bytes()
                .await
                .map_err(|e| QbError::bad(e.body_text()))?;
            if is_file {
                files.push(bytes.to_vec());
            } else {
                p.insert(name, String::from_utf8_lossy(&bytes).into_owned());
            }
        }
        Params(p)
    } else {
        Params::from_request(req, &())
            .await
            .map_err(|_| QbError::bad("unreadable form"))?
    };
    for (k, applied) in [("skip_checking", "false")] {
        if let Some(v) = params.get(k).filter(|v| !v.is_empty() && *v != applied) {
            tracing::info!(
                parameter = k,
                value = v,
                "qBittorrent API: add parameter not applied (docs/qbittorrent-api.md)"
            );
        }
    }
    let mut sources = Vec::new();
    for f in &files {
        match Metainfo::from_bytes_with(f, &MetainfoLimits::default()) {
            Ok(m) => sources.push(TorrentSource::Metainfo(Arc::new(m))),
            Err(e) => {
                tracing::warn!(error = %e, "qBittorrent API: an uploaded .torrent was refused")
            }
        }
    }
    for url in params
        .get("urls")
        .unwrap_or("")
        .lines()
        .map(str::trim)
        .filter(|u| !u.is_empty())
    {
        if url.starts_with("magnet:") {
            match Magnet::parse(url) {
                Ok(m) => sources.push(TorrentSource::Magnet(m)),
                Err(e) => tracing::warn!(error = %e, "qBittorrent API: a magnet link was refused"),
            }
        } else if super::fetch::is_web(url) {
            let got = super::fetch::fetch(url).await.and_then(|b| {
                Metainfo::from_bytes_with(&b, &MetainfoLimits::default()).map_err(|e| e.to_string())
            });
            match got {
                Ok(m) => sources.push(TorrentSource::Metainfo(Arc::new(m))),
                Err(e) => {
                    tracing::warn!(url, error = %e, "qBittorrent API: no torrent from this URL")
                }
            }
        } else {
            tracing::warn!(
                url,
                "qBittorrent API: urls takes magnet links and http(s) URLs only"
            );
        }
    }
    let defaults = app.new_torrent_defaults();
    let paused = params
        .flag("paused")?
        .or(params.flag("stopped")?)
        .unwrap_or(defaults.paused);
    let tags = params
        .get("tags")
        .map(|t| {
            t.split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let limit =
        |k: &str| -> Result<u64, QbError> { Ok(params.num::<i64>(k)?.unwrap_or(0).max(0) as u64) };
    let ratio: Option<f64> = params.num("ratioLimit")?;
    let mut settings = TorrentSettings {
        share: crate::core::ShareLimits {
            ratio_milli: ratio.map_or(-2, |r| {
                if r <= -2.0 {
                    -2
                } else {
                    super::super::settings::ratio_milli(r)
                }
            }),
            seeding_mins: params.num::<i64>("seedingTimeLimit")?.unwrap_or(-2).max(-2),
            inactive_mins: params
                .num::<i64>("inactiveSeedingTimeLimit")?
                .unwrap_or(-2)
                .max(-2),
        },
        share_action: params.share_action()?.flatten(),
        sequential: params.flag("sequentialDownload")?.unwrap_or(false),
        download_limit: limit("dlLimit")?,
        upload_limit: limit("upLimit")?,
        labels: tags,
        category: params.get("category").unwrap_or("").to_owned(),
        display_name: params.get("rename").unwrap_or("").to_owned(),
        first_last: params.flag("firstLastPiecePrio")?.unwrap_or(false),
        content_layout: match params.get("contentLayout").filter(|v| !v.is_empty()) {
            None => defaults.content_layout,
            Some(v) => crate::metainfo::ContentLayout::parse(v).ok_or_else(|| {
                QbError::bad(format!(
                    "contentLayout {v:?}: Original, Subfolder or NoSubfolder"
                ))
            })?,
        },
        ..TorrentSettings::default()
    };
    // Under automatic management (`autoTMM`; absent: by hand if a `savepath`
    // is given, else as `auto_tmm_enabled` says) the category says where its
    // files go and a `savepath` is not used, as in qBittorrent.
    let save_path = params
        .get("savepath")
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let auto = params
        .flag("autoTMM")?
        .unwrap_or(save_path.is_none() && defaults.follow_category);
    settings.manual = !auto;
    let root = match save_path.filter(|_| !auto) {
        None => String::new(),
        Some(path) => {
            let engine = app.engine.clone();
            let path = path.to_owned();
            blocking(move || engine.root_for_save_path(&path))
                .await
                .map_err(|e| QbError::bad(e.detail))??
        }
    };
    let staging = super::super::incomplete::staging_root(
        &app,
        params.flag("useDownloadPath")?,
        params.get("downloadPath"),
    )
    .await
    .map_err(|e| QbError::bad(e.detail))?;
    let mut added = 0;
    for source in sources {
        let mut a = AddTorrent::new(source, root.clone());
        a.incomplete.clone_from(&staging);
        a.paused = paused;
        a.settings = settings.clone();
        match app.engine.add_torrent_async(a).await {
            Ok(ih) => {
                added += 1;
                tracing::info!(info_hash = %ih, "added over the qBittorrent API");
            }
            Err(e) => tracing::warn!(error = %e, "qBittorrent API: a torrent was not added"),
        }
    }
    Ok(if added > 0 {
        ok()
    } else {
        text(StatusCode::OK, "Fails.")
    })
}

/// `torrents/delete` (`deleteFiles`).
async fn delete(State(app): State<Shared>, p: Params) -> Result<Response, QbError> {
    let files = p.flag("deleteFiles")?.unwrap_or(false);
    each(
        &app,
        &p,
        |e, ih| async move { e.remove_async(ih, files).await },
    )
    .await
}

async fn pause(State(app): State<Shared>, p: Params) -> Result<Response, QbError> {
    each(&app, &p, |e, ih| async move { e.pause_async(ih).await }).await
}

async fn resume(State(app): State<Shared>, p: Params) -> Result<Response, QbError> {
    each(&app, &p, |e, ih| async move { e.resume_async(ih).await }).await
}

/// `torrents/setForceStart` (`value`): a forced torrent runs whatever the
/// queue says (and is resumed if paused, as qBittorrent does).
async fn force_start(State(app): State<Shared>, p: Params) -> Result<Response, QbError> {
    let on = p.flag("value")?.unwrap_or(false);
    each(&app, &p, |e, ih| async move {
        e.set_forced_async(ih, on).await?;
        if on {
            e.resume_async(ih).await?;
        }
        Ok(())
    })
    .await
}

async fn recheck(State(app): State<Shared>, p: Params) -> Result<Response, QbError> {
    each(
        &app,
        &p,
        |e, ih| async move { e.force_recheck_async(ih).await },
    )
    .await
}

async fn reannounce(State(app): State<Shared>, p: Params) -> Result<Response, QbError> {
    each(
        &app,
        &p,
        |e, ih| async move { e.reannounce_async(ih).await },
    )
    .await
}

/// `torrents/toggleFirstLastPiecePrio` (`hashes`): flips each one's setting.
async fn toggle_first_last(State(app): State<Shared>, p: Params) -> Result<Response, QbError> {
    for ih in targets(&app, &p).await? {
        let on = app.engine.stats_async(ih).await?.settings.first_last;
        app.engine.set_first_last_async(ih, !on).await?;
    }
    Ok(done())
}

/// `torrents/rename` (`hash`, `name`): what the torrent is called; its files
/// keep their names, as in qBittorrent. An empty name is refused with 409.
async fn rename(State(app): State<Shared>, p: Params) -> Result<Response, QbError> {
    let ih = p.torrent(&app.engine).await?;
    let name = p.need("name")?.trim().to_owned();
    if name.is_empty() {
        return Err(QbError::conflict("Incorrect torrent name"));
    }
    app.engine.set_display_name_async(ih, name).await?;
    Ok(done())
}

async fn create_category(State(app): State<Shared>, p: Params) -> Result<Response, QbError> {
    let name = p.need("category")?.to_owned();
    let path = p.get("savePath").unwrap_or("").to_owned();
    let engine = app.engine.clone();
    blocking(move || engine.create_category(&name, &path))
        .await
        .map_err(|e| QbError::bad(e.detail))??;
    Ok(done())
}

async fn edit_category(State(app): State<Shared>, p: Params) -> Result<Response, QbError> {
    let name = p.need("category")?.to_owned();
    let path = p.need("savePath")?.to_owned();
    let engine = app.engine.clone();
    blocking(move || engine.edit_category(&name, &path))
        .await
        .map_err(|e| QbError::bad(e.detail))??;
    Ok(done())
}

/// `torrents/removeCategories` (`categories`, one per line).
async fn remove_categories(State(app): State<Shared>, p: Params) -> Result<Response, QbError> {
    let names: Vec<String> = p.need("categories")?.lines().map(str::to_owned).collect();
    let engine = app.engine.clone();
    blocking(move || engine.remove_categories(&names))
        .await
        .map_err(|e| QbError::bad(e.detail))??;
    Ok(done())
}

fn tag_list(p: &Params) -> Result<Vec<String>, QbError> {
    Ok(p.need("tags")?
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect())
}

async fn change_tags(app: &Shared, p: &Params, add: bool) -> Result<Response, QbError> {
    let tags = tag_list(p)?;
    for ih in targets(app, p).await? {
        let mut now = app.engine.stats_async(ih).await?.settings.labels;
        if add {
            now.extend(tags.iter().cloned());
        } else {
            now.retain(|l| !tags.contains(l));
        }
        app.engine.set_labels_async(ih, now).await?;
    }
    Ok(done())
}

async fn add_tags(State(app): State<Shared>, p: Params) -> Result<Response, QbError> {
    change_tags(&app, &p, true).await
}

async fn remove_tags(State(app): State<Shared>, p: Params) -> Result<Response, QbError> {
    change_tags(&app, &p, false).await
}

async fn create_tags(State(app): State<Shared>, p: Params) -> Result<Response, QbError> {
    app.engine.create_tags(&tag_list(&p)?)?;
    Ok(done())
}

async fn delete_tags(State(app): State<Shared>, p: Params) -> Result<Response, QbError> {
    app.engine.delete_tags_async(&tag_list(&p)?).await?;
    Ok(done())
}

async fn set_limit(app: &Shared, p: &Params, download: bool) -> Result<Response, QbError> {
    let limit = p.num::<i64>("limit")?.unwrap_or(0).max(0) as u64;
    // The other cap is left as it is, in the same command.
    let (d, u) = if download {
        (Some(limit), None)
    } else {
        (None, Some(limit))
    };
    for ih in targets(app, p).await? {
        app.engine.set_torrent_limits_async(ih, d, u).await?;
    }
    Ok(done())
}

async fn set_download_limit(State(app): State<Shared>, p: Params) -> Result<Response, QbError> {
    set_limit(&app, &p, true).await
}

async fn set_upload_limit(State(app): State<Shared>, p: Params) -> Result<Response, QbError> {
    set_limit(&app, &p, false).await
}

async fn limits(app: &Shared, p: &Params, download: bool) -> Result<Response, QbError> {
    let mut m = serde_json::Map::new();
    for ih in targets(app, p).await? {
        let s = app.engine.stats_async(ih).await?.settings;
        let v = if download {
            s.download_limit
        } else {
            s.upload_limit
        };
        m.insert(ih.to_hex(), v.into());
    }
    Ok(answer(&m))
}

async fn download_limit(State(app): State<Shared>, p: Params) -> Result<Response, QbError> {
    limits(&app, &p, true).await
}

async fn upload_limit(State(app): State<Shared>, p: Params) -> Result<Response, QbError> {
    limits(&app, &p, false).await
}

async fn toggle_sequential(State(app): State<Shared>, p: Params) -> Result<Response, QbError> {
    for ih in targets(&app, &p).await? {
        let on = app.engine.stats_async(ih).await?.settings.sequential;
        app.engine.set_sequential_async(ih, !on).await?;
    }
    Ok(done())
}

/// `torrents/filePrio` (`hash`, `id`: `a|b`, `priority`: 0, 1, 6 or 7).
async fn file_prio(State(app): State<Shared>, p: Params) -> Result<Response, QbError> {
    let ih = p.torrent(&app.engine).await?;
    let prio: u8 = p
        .num("priority")?
        .ok_or_else(|| QbError::bad("Missing required parameter: priority"))?;
    if ![0, 1, 6, 7].contains(&prio) {
        return Err(QbError::bad("Priority is not valid"));
    }
    let Some(info) = app.engine.info_async(ih).await? else {
        return Err(QbError::conflict(
            "Torrent's metadata has not yet downloaded",
        ));
    };
    let mut files = Vec::new();
    for id in p.need("id")?.split('|') {
        let i: usize = id
            .trim()
            .parse()
            .map_err(|_| QbError::bad("File IDs must be integers"))?;
        let native = super::native_file(&info, i)
            .ok_or_else(|| QbError::conflict("File IDs are not valid"))?;
        files.push(native);
    }
    // One command for them all: a second filePrio at once keeps both.
    app.engine
        .set_some_file_priorities_async(ih, files, prio)
        .await?;
    Ok(done())
}

/// `torrents/setShareLimits` (`ratioLimit`, `seedingTimeLimit` in minutes,
/// `inactiveSeedingTimeLimit` in minutes; -2 the global limit, -1 none; and
/// qBittorrent 5's `shareLimitAction`, which when absent leaves each
/// torrent's action as it was).
async fn set_share_limits(State(app): State<Shared>, p: Params) -> Result<Response, QbError> {
    let ratio: f64 = p
        .num("ratioLimit")?
        .ok_or_else(|| QbError::bad("Missing required parameter: ratioLimit"))?;
    let seeding: i64 = p
        .num("seedingTimeLimit")?
        .ok_or_else(|| QbError::bad("Missing required parameter: seedingTimeLimit"))?;
    let inactive: i64 = p.num("inactiveSeedingTimeLimit")?.unwrap_or(-2);
    let ratio_milli = if ratio <= -2.0 {
        -2
    } else {
        super::super::settings::ratio_milli(ratio)
    };
    let limits = crate::core::ShareLimits {
        ratio_milli,
        seeding_mins: seeding.max(-2),
        inactive_mins: inactive.max(-2),
    };
    let action = p.share_action()?.map_or(OwnAction::Keep, OwnAction::Set);
    each(&app, &p, |e, ih| async move {
        e.set_share_limits_async(ih, limits, action).await
    })
    .await
}

/// `torrents/addPeers` (`peers`: `ip:port|ip:port`, at most 200): per torrent
/// `{added, failed}`, as qBittorrent answers.
async fn add_peers(State(app): State<Shared>, p: Params) -> Result<Response, QbError> {
    let mut addrs = Vec::new();
    for a in p.need("peers")?.split('|').filter(|a| !a.trim().is_empty()) {
        let addr: std::net::SocketAddr = a
            .trim()
            .parse()
            .map_err(|_| QbError::bad(format!("peer {a:?} is not ip:port")))?;
        addrs.push(addr);
    }
    if addrs.len() > 200 {
        return Err(QbError::bad("at most 200 peers at once"));
    }
    let mut out = serde_json::Map::new();
    for ih in targets(&app, &p).await? {
        let added = match app.engine.add_peers_async(ih, &addrs).await {
            Ok(()) => addrs.len(),
            Err(EngineError::Command(crate::core::CommandError::UnknownTorrent(_))) => continue,
            Err(e) => return Err(e.into()),
        };
        out.insert(
            ih.to_hex(),
            serde_json::json!({"added": added, "failed": addrs.len() - added}),
        );
    }
    Ok(answer(&out))
}

/// `torrents/setSuperSeeding` (`hashes`, `value`: both required; anything but
/// `true` is off, as in qBittorrent).
async fn super_seeding(State(app): State<Shared>, p: Params) -> Result<Response, QbError> {
    let on = p.need("value")?.trim().eq_ignore_ascii_case("true");
    each(&app, &p, move |e, ih| async move {
        e.set_super_seeding_async(ih, on).await
    })
    .await
}

/// A queue move: 409 while queueing is off, as qBittorrent answers.
async fn queue_move(app: &Shared, p: &Params, how: QueueMove) -> Result<Response, QbError> {
    if !app.engine.queue_limits().enabled {
        return Err(QbError::conflict("Torrent queueing must be enabled"));
    }
    let ihs = targets(app, p).await?;
    app.engine.move_in_queue_async(&ihs, how).await?;
    Ok(done())
}

async fn top(State(app): State<Shared>, p: Params) -> Result<Response, QbError> {
    queue_move(&app, &p, QueueMove::Top).await
}

async fn bottom(State(app): State<Shared>, p: Params) -> Result<Response, QbError> {
    queue_move(&app, &p, QueueMove::Bottom).await
}

async fn up(State(app): State<Shared>, p: Params) -> Result<Response, QbError> {
    queue_move(&app, &p, QueueMove::Up).await
}

async fn down(State(app): State<Shared>, p: Params) -> Result<Response, QbError> {
    queue_move(&app, &p, QueueMove::Down).await
}

/// `torrents/export?hash=`: the `.torrent` (see [`crate::engine::Engine::export_async`]).
async fn export(State(app): State<Shared>, p: Params) -> Result<Response, QbError> {
    let file = app
        .engine
        .export_async(p.torrent(&app.engine).await?)
        .await?
        .ok_or_else(|| QbError::conflict("the torrent's metadata is not known yet"))?;
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/x-bittorrent")],
        file,
    )
        .into_response())
}

/// `torrents/renameFile` and `renameFolder` (`hash`, `oldPath`, `newPath`,
/// names as `torrents/files` shows them): `409` with qBittorrent's reasons, and
/// for a new path that is unsafe (`..`) or taken.
async fn rename_path(app: &Shared, p: &Params, target: Target) -> Result<Response, QbError> {
    let ih = p.torrent(&app.engine).await?;
    let (from, to) = (p.need("oldPath")?, p.need("newPath")?);
    let info = (app.engine.info_async(ih).await?)
        .ok_or_else(|| QbError::conflict("the torrent's metadata is not known yet"))?;
    let list =
        rename::renames(&info, from, to, target).map_err(|e| QbError::conflict(e.to_string()))?;
    match app.engine.rename_files_async(ih, list).await {
        Ok(()) => Ok(done()),
        Err(EngineError::Command(crate::core::CommandError::BadArgument(why))) => {
            Err(QbError::conflict(why))
        }
        Err(e) => Err(e.into()),
    }
}

/// `torrents/renameFile`.
async fn rename_file(State(app): State<Shared>, p: Params) -> Result<Response, QbError> {
    rename_path(&app, &p, Target::File).await
}

/// `torrents/renameFolder`.
async fn rename_folder(State(app): State<Shared>, p: Params) -> Result<Response, QbError> {
    rename_path(&app, &p, Target::Folder).await
}
