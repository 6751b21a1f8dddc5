//! The daemon's engine starts with the settings in force: a torrent restored
//! at start dials its peers at once, before the API is up to apply them.

use super::*;

/// A config in `dir`: peers on any free loopback port, one root.
fn config(dir: &Path, extra: &str) -> Config {
    let text = format!(
        "data_dir = {data:?}\n{extra}\n[peers]\nlisten = \"127.0.0.1:0\"\n\n\
         [[roots]]\ntoken = \"default\"\npath = {root:?}\ndefault = true\n",
        data = dir.join("data"),
        root = dir.join("downloads"),
    );
    Config::parse(&text, &dir.join("seedring.toml")).unwrap()
}

#[test]
fn the_engine_starts_with_the_caps_in_force() {
    let dir = tempfile::tempdir().unwrap();
    // The config's caps.
    let cfg = config(dir.path(), "[limits]\ndownload = 123456\nupload = 222000\n");
    let (engine, served) = prepare(&cfg).unwrap();
    assert_eq!(engine.global_limits(), Some((123_456, 222_000)));
    drop((engine, served));
    // Caps changed over the API (saved in settings.json) win over the
    // config's; the alternative ones, switched on, are the ones in force.
    let patch = SettingsPatch {
        download_limit: Some(654_321),
        alt_download_limit: Some(50_000),
        alt_upload_limit: Some(60_000),
        ..SettingsPatch::default()
    };
    patch.save(&dir.path().join("data/settings.json")).unwrap();
    let (engine, _) = prepare(&cfg).unwrap();
    assert_eq!(engine.global_limits(), Some((654_321, 222_000)));
    drop(engine);
    let on = SettingsPatch {
        alt_limits: Some(true),
        ..patch
    };
    on.save(&dir.path().join("data/settings.json")).unwrap();
    let (engine, _) = prepare(&cfg).unwrap();
    assert_eq!(engine.global_limits(), Some((50_000, 60_000)));
}

/// The config's share limits are the engine's from its start: a complete
/// torrent past them stops without the API ever applying them.
#[test]
#[allow(clippy::disallowed_methods)] // a test thread waits on a real engine
fn the_engine_starts_with_the_share_limits_in_force() {
    use crate::core::{AddTorrent, TorrentSource, TorrentState};
    use crate::metainfo::{CreateLayout, CreateOptions, build_torrent};
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "[limits]\nseeding_time_mins = 0\n");
    let (engine, _served) = prepare(&cfg).unwrap();
    let bytes: Vec<u8> = (0..40_000u32).map(|i| i.to_le_bytes()[0] ^ 0x5a).collect();
    let root = dir.path().join("downloads");
    std::fs::write(root.join("done.bin"), &bytes).unwrap();
    let hashes: Vec<[u8; 20]> = bytes.chunks(16_384).map(crate::hash::sha1).collect();
    let layout = CreateLayout {
        name: "done.bin".into(),
        files: None,
        length: bytes.len() as u64,
    };
    let (_, meta) = build_torrent(&layout, 16_384, &hashes, &CreateOptions::default()).unwrap();
    let add = AddTorrent::new(
        TorrentSource::Metainfo(std::sync::Arc::new(meta)),
        "default",
    );
    let ih = engine.add_torrent(add).unwrap();
    // Up to a minute, 50 ms at a time.
    for left in (0..1200).rev() {
        let s = engine.stats(ih).unwrap();
        if s.state == TorrentState::Paused {
            assert!(s.complete, "{s:?}");
            break;
        }
        assert!(left > 0, "never paused: {s:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
