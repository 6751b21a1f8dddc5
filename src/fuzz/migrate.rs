//! qBittorrent's saved torrents (`migrate::qbittorrent`): what a plan asks of
//! the daemon holds together whatever the `.fastresume` says.

use std::sync::OnceLock;

use crate::metainfo::{CreateLayout, CreateOptions, build_torrent};

/// A valid two-file `.torrent` for the resume data to sit beside.
fn torrent() -> &'static [u8] {
    static T: OnceLock<Vec<u8>> = OnceLock::new();
    T.get_or_init(|| {
        let layout = CreateLayout {
            name: "album".into(),
            files: Some(vec![
                (vec!["a.bin".into()], 20_000),
                (vec!["b.bin".into()], 10_000),
            ]),
            length: 0,
        };
        build_torrent(
            &layout,
            16_384,
            &[[1; 20], [2; 20]],
            &CreateOptions::default(),
        )
        .expect("a valid torrent")
        .0
    })
}

/// A `.fastresume` alone and beside a valid `.torrent`: a plan adds by a
/// magnet link or by the torrent, never both, somewhere; its file names are
/// for the torrent's files, not empty; its priorities are the torrent's
/// files' and in range.
pub fn qbt_resume(data: &[u8]) {
    for beside in [None, Some(torrent())] {
        let Ok(p) = crate::migrate::plan(data, beside) else {
            continue;
        };
        let a = p.add.as_object().expect("the add's body is an object");
        assert_ne!(a.contains_key("magnet"), a.contains_key("torrent"));
        assert!(!p.save_path.is_empty());
        assert_eq!(a["paused"], true, "added paused, set up, then run");
        for f in a
            .get("paths")
            .and_then(|v| v.as_array())
            .into_iter()
            .flatten()
        {
            assert!(f["index"].as_u64().is_some_and(|i| i < 2));
            assert!(f["path"].as_str().is_some_and(|s| !s.is_empty()));
        }
        if let Some(pr) = &p.priorities {
            assert!(beside.is_some() && pr.len() == 2 && pr.iter().all(|&x| x <= 7));
        }
    }
}
