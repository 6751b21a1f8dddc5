//! Every committed fuzz seed (`fuzz/seeds/<target>/`) and every saved crash
//! (`fuzz/regressions/<target>/`) through the fuzz targets' own bodies
//! (`seedring::fuzz`), on stable, in the normal test command: a crash the
//! fuzzer found stays found.
//!
//! The seeds are made by `write_seeds` below (ignored; run it with
//! `cargo test --test fuzz_corpus write_seeds -- --ignored` after changing it).

mod fuzz_seeds;
mod netns;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

fn inputs(target: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut files = Vec::new();
    for dir in ["seeds", "regressions"] {
        if let Ok(rd) = std::fs::read_dir(root.join(dir).join(target)) {
            files.extend(rd.map(|e| e.expect("a listing").path()));
        }
    }
    files.sort();
    files
}

fn replay(target: &str, body: fn(&[u8])) {
    let files = inputs(target);
    assert!(
        files
            .iter()
            .any(|f| f.to_string_lossy().contains("/seeds/")),
        "no seeds for {target}: run write_seeds"
    );
    let mut failed = Vec::new();
    for f in &files {
        let data = std::fs::read(f).expect("a seed");
        if catch_unwind(AssertUnwindSafe(|| body(&data))).is_err() {
            failed.push(f.display().to_string());
        }
    }
    assert!(failed.is_empty(), "{target} fails on {failed:#?}");
    eprintln!("{target}: {} inputs pass", files.len());
}

#[test]
fn utp() {
    replay("utp", seedring::fuzz::utp::utp);
}

#[test]
fn v2hash() {
    replay("v2hash", seedring::fuzz::v2hash::v2hash);
}

#[test]
fn mse() {
    replay("mse", seedring::fuzz::mse::mse);
}

#[test]
fn bencode() {
    replay("bencode", seedring::fuzz::bencode);
}

#[test]
fn metainfo() {
    replay("metainfo", seedring::fuzz::metainfo);
}

#[test]
fn path() {
    replay("path", seedring::fuzz::path);
}

#[test]
fn magnet() {
    replay("magnet", seedring::fuzz::magnet);
}

#[test]
fn qbt_resume() {
    replay("qbt_resume", seedring::fuzz::migrate::qbt_resume);
}

#[test]
fn rt_session() {
    replay("rt_session", seedring::fuzz::migrate::rt_session);
}

#[test]
fn tr_resume() {
    replay("tr_resume", seedring::fuzz::migrate::tr_resume);
}

#[test]
fn deluge_state() {
    replay("deluge_state", seedring::fuzz::migrate::deluge_state);
}

#[test]
fn wire() {
    replay("wire", seedring::fuzz::wire);
}

#[test]
fn ext() {
    replay("ext", seedring::fuzz::ext);
}

#[test]
fn krpc() {
    replay("krpc", seedring::fuzz::krpc);
}

#[test]
fn lsd() {
    replay("lsd", seedring::fuzz::lsd);
}

#[test]
fn ipfilter() {
    replay("ipfilter", seedring::fuzz::ipfilter);
}

#[test]
fn pex() {
    replay("pex", seedring::fuzz::pex);
}

#[test]
fn tracker_http() {
    replay("tracker_http", seedring::fuzz::tracker_http);
}

#[test]
fn tracker_udp() {
    replay("tracker_udp", seedring::fuzz::tracker_udp);
}

#[test]
fn record() {
    replay("record", seedring::fuzz::record);
}

#[test]
fn config() {
    replay("config", seedring::fuzz::config);
}

#[test]
fn peer() {
    replay("peer", seedring::fuzz::peer::peer);
}

#[test]
fn peer_raw() {
    replay("peer_raw", seedring::fuzz::peer::peer_raw);
}

/// The API target may tell the engine of trackers and peers anywhere, so it
/// runs in a network namespace of its own, with only a loopback: this test
/// starts itself again inside one (`unshare`; an unprivileged user gets a user
/// namespace too).
#[test]
fn api() {
    if netns::inside("SEEDRING_FUZZ_NETNS") {
        replay("api", seedring::fuzz::api::api);
        return;
    }
    let text = netns::rerun("api", "SEEDRING_FUZZ_NETNS", "ip link set lo up");
    assert!(text.contains("api: "), "the replay ran: {text}");
}

#[test]
#[ignore = "writes fuzz/seeds; run by hand after changing the seeds"]
fn write_seeds() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds");
    for (target, seeds) in fuzz_seeds::all() {
        let dir = root.join(target);
        let _fresh = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a folder");
        for (name, bytes) in seeds {
            std::fs::write(dir.join(name), bytes).expect("a seed written");
        }
    }
}
