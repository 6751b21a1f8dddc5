//! The handle itself: thread safety and failed shards.

use super::*;
use crate::core::{AddTorrent, TorrentSource};
use crate::metainfo::Magnet;

fn two_shards() -> Engine {
    let mut cfg = ShardConfig::new(CoreConfig::default(), "127.0.0.1:0".parse().unwrap());
    cfg.shards = 2;
    Engine::epoll(cfg).expect("engine starts")
}

/// A magnet whose info-hash belongs to `shard` of 2.
fn magnet_on(shard: usize, salt: u8) -> Magnet {
    (0u8..=255)
        .map(|i| {
            let mut ih = [salt; 20];
            ih[7] = i;
            Magnet::parse(&format!("magnet:?xt=urn:btih:{}", InfoHash(ih).to_hex())).unwrap()
        })
        .find(|m| shard::shard_of(m.info_hash, 2) == shard)
        .expect("both shards get some hashes")
}

#[test]
fn the_handle_is_clone_send_and_sync() {
    fn assert_handle<T: Clone + Send + Sync + 'static>() {}
    assert_handle::<Engine>();
}

#[test]
fn a_panicking_shard_becomes_an_error_and_a_visible_state() {
    let dir = tempfile::tempdir().unwrap();
    let e = two_shards();
    let root = dir.path().to_string_lossy().into_owned();
    let m0 = magnet_on(0, 1);
    let m1 = magnet_on(1, 2);
    for m in [&m0, &m1] {
        let add = AddTorrent::new(TorrentSource::Magnet(m.clone()), root.clone());
        e.add_torrent(add).unwrap();
    }
    assert!(e.failed_shards().is_empty());

    let r = e.on_shard(0, Command::Panic);
    let Err(EngineError::ShardFailed { shard: 0, reason }) = r else {
        panic!("expected shard 0 to fail, got {r:?}");
    };
    assert!(reason.contains("injected fault"), "{reason}");

    // Calls that need shard 0 fail with the reason; shard 1 goes on.
    let err = e.stats(m0.info_hash).unwrap_err();
    assert!(
        matches!(&err, EngineError::ShardFailed { shard: 0, reason } if reason.contains("injected")),
        "{err:?}"
    );
    assert!(e.torrents().is_err());
    assert_eq!(e.stats(m1.info_hash).unwrap().info_hash, m1.info_hash);
    assert_eq!(
        e.failed_shards(),
        vec![ShardFailure {
            shard: 0,
            reason: "injected fault".into()
        }]
    );
    // Dropping the engine with a failed shard neither hangs nor panics.
    drop(e);
}

/// Compiled, never run: the async calls can be awaited from a multi-threaded
/// runtime's tasks (their futures are `Send`).
#[allow(dead_code)]
fn the_async_calls_are_send(e: &Engine, ih: InfoHash, add: AddTorrent) {
    fn send<T: Send>(_: T) {}
    send(e.add_torrent_async(add));
    send(e.stats_async(ih));
    send(e.torrents_async());
    send(e.pause_async(ih));
    send(e.remove_async(ih, false));
    send(e.set_global_limits_async(0, 0));
    send(e.shut_down_async());
    send(e.flush_async());
}
