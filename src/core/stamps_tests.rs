//! A restart's comparison of each torrent's files with its record, after the
//! restore (`core::stamps`): what waits, what is asked, what each answer does.

use super::record::FileStamp;
use super::*;
use crate::metainfo::{CreateLayout, CreateOptions, build_torrent};

const PIECE: u32 = 16 * 1024;

/// A torrent of three files of 40,000 bytes each (8 pieces; pieces 2 and 4
/// hold the ends of two files).
fn three_files(name: &str) -> Arc<Metainfo> {
    let files: Vec<(Vec<String>, u64)> = ["a", "b", "c"]
        .iter()
        .map(|f| (vec![(*f).to_owned()], 40_000))
        .collect();
    let pieces = vec![[7u8; 20]; 8];
    let layout = CreateLayout {
        name: name.into(),
        files: Some(files),
        length: 0,
    };
    let (_, meta) = build_torrent(&layout, PIECE, &pieces, &CreateOptions::default()).unwrap();
    Arc::new(meta)
}

fn stamp(i: i64) -> Option<FileStamp> {
    Some(FileStamp {
        size: 40_000,
        mtime_ns: i,
    })
}

/// A restart of `meta`, complete, its files to be compared with its record.
fn restored(meta: &Arc<Metainfo>) -> AddTorrent {
    let mut add = AddTorrent::new(TorrentSource::Metainfo(Arc::clone(meta)), "/r");
    add.have = Some(Bitfield::full(8));
    add.resume = Some(Box::new(Resume {
        stamps_digest: Some(stamps_digest(&recorded())),
        ..Resume::default()
    }));
    add
}

/// The record's stamps in these tests: files a, b, c as 1, 2, 3.
fn recorded() -> Vec<Option<FileStamp>> {
    vec![stamp(1), stamp(2), stamp(3)]
}

fn stats_asked(out: &[Action]) -> Vec<InfoHash> {
    out.iter()
        .filter_map(|a| match a {
            Action::StatFiles { info_hash, .. } => Some(*info_hash),
            _ => None,
        })
        .collect()
}

fn opened(out: &[Action]) -> Vec<bool> {
    out.iter()
        .filter_map(|a| match a {
            Action::OpenStorage(o) => Some(o.prepared),
            _ => None,
        })
        .collect()
}

/// The driver's answer: the files' stamps now, and the record's when asked.
fn answer_with(
    core: &mut Core,
    ih: InfoHash,
    stamps: Vec<Option<FileStamp>>,
    recorded: Option<Vec<Option<FileStamp>>>,
) -> Vec<Action> {
    let mut out = Vec::new();
    let ev = Event::FilesStated {
        info_hash: ih,
        stamps,
        recorded,
    };
    core.on_event(Time::ZERO, ev, &mut out);
    out
}

/// The files' stamps compared with the record's digest; when they differ, the
/// record's stamps are asked for, and given.
fn answer(core: &mut Core, ih: InfoHash, stamps: Vec<Option<FileStamp>>) -> Vec<Action> {
    let out = answer_with(core, ih, stamps.clone(), None);
    if stamps == recorded() {
        return out;
    }
    match out.as_slice() {
        [Action::StatFiles { with_record, .. }] => assert!(with_record, "{out:?}"),
        other => panic!("the record's stamps are asked for: {other:?}"),
    }
    answer_with(core, ih, stamps, Some(recorded()))
}

/// A core with `meta` restored; the restore not yet over.
fn restarted(meta: &Arc<Metainfo>) -> (Core, InfoHash, Vec<Action>) {
    let mut core = Core::new(CoreConfig::default());
    let mut out = Vec::new();
    let ih = core
        .add_torrent(Time::ZERO, restored(meta), &mut out)
        .unwrap();
    (core, ih, out)
}

#[test]
fn a_restored_torrent_waits_unopened_until_its_files_match_its_record() {
    let meta = three_files("t");
    let (mut core, ih, out) = restarted(&meta);
    // Nothing opened, nothing asked while the restore goes on; it checks and
    // takes no peer.
    assert!(
        opened(&out).is_empty() && stats_asked(&out).is_empty(),
        "{out:?}"
    );
    assert_eq!(
        core.stats(Time::ZERO, ih).unwrap().state,
        TorrentState::Checking
    );
    assert!(!core.torrents[&ih].takes_peers());
    let mut out = Vec::new();
    core.tick(Time::from_secs(30), &mut out);
    assert!(stats_asked(&out).is_empty(), "{out:?}");
    // The restore over, its files are stamped where it lives.
    let mut out = Vec::new();
    core.execute(Time::ZERO, Command::RestoreDone, &mut out);
    match out.as_slice() {
        [
            Action::StatFiles {
                info_hash,
                info,
                root,
                with_record,
            },
        ] => {
            assert_eq!((*info_hash, root.as_str()), (ih, "/r"));
            assert_eq!(info.files.len(), 3);
            assert!(!with_record, "the record's digest is compared first");
        }
        other => panic!("{other:?}"),
    }
    // As recorded: opened with nothing to prepare, every piece trusted.
    let out = answer(&mut core, ih, vec![stamp(1), stamp(2), stamp(3)]);
    assert_eq!(opened(&out), vec![true]);
    let mut out = Vec::new();
    let ev = Event::StorageOpened {
        info_hash: ih,
        result: Ok(true),
    };
    core.on_event(Time::ZERO, ev, &mut out);
    let s = core.stats(Time::ZERO, ih).unwrap();
    assert_eq!((s.state, s.have_pieces), (TorrentState::Seeding, 8));
    assert!(s.note.is_none(), "{:?}", s.note);
}

#[test]
fn a_file_changed_since_the_save_costs_only_its_own_pieces() {
    let meta = three_files("t");
    let (mut core, ih, _) = restarted(&meta);
    core.execute(Time::ZERO, Command::RestoreDone, &mut Vec::new());
    // File b (bytes 40,000..80,000: pieces 2 to 4) rewritten since the save.
    let out = answer(&mut core, ih, vec![stamp(1), stamp(9), stamp(3)]);
    assert_eq!(opened(&out), vec![false], "its files are prepared again");
    let t = &core.torrents[&ih];
    assert_eq!(t.have.count(), 5);
    assert!((2..=4).all(|p| !t.have.get(p)));
    assert!(t.checking.is_some() && t.completed_at.is_none());
    let note = t.note.clone().unwrap_or_default();
    assert!(note.contains("1 file(s) changed"), "{note}");
}

#[test]
fn files_gone_since_the_save_stop_it_until_the_user_says() {
    let meta = three_files("t");
    let (mut core, ih, _) = restarted(&meta);
    core.execute(Time::ZERO, Command::RestoreDone, &mut Vec::new());
    let out = answer(&mut core, ih, vec![stamp(1), None, None]);
    assert!(opened(&out).is_empty(), "nothing made in their place");
    let s = core.stats(Time::ZERO, ih).unwrap();
    assert!(s.files_missing, "{s:?}");
    assert_eq!(
        s.have_pieces, 8,
        "the record's pieces are kept as they were"
    );
    match s.state {
        TorrentState::Error(e) => assert!(e.contains("t/b and 1 more"), "{e}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_recheck_replaces_the_comparison() {
    let meta = three_files("t");
    let (mut core, ih, _) = restarted(&meta);
    let mut out = Vec::new();
    core.force_recheck(ih, &mut out).unwrap();
    assert_eq!(opened(&out), vec![false]);
    let mut out = Vec::new();
    core.execute(Time::ZERO, Command::RestoreDone, &mut out);
    assert!(stats_asked(&out).is_empty(), "{out:?}");
}

/// Forty restored torrents, the restore over: the core, their ids in the
/// order they came, and the stamps asked for.
fn forty_restored() -> (Core, Vec<InfoHash>, Vec<InfoHash>) {
    let mut core = Core::new(CoreConfig::default());
    let hashes: Vec<InfoHash> = (0..40)
        .map(|i| {
            let add = restored(&three_files(&format!("t{i}")));
            core.add_torrent(Time::ZERO, add, &mut Vec::new()).unwrap()
        })
        .collect();
    let mut out = Vec::new();
    core.execute(Time::ZERO, Command::RestoreDone, &mut out);
    let asked = stats_asked(&out);
    (core, hashes, asked)
}

#[test]
fn comparisons_go_out_a_bounded_few_at_a_time() {
    let (mut core, hashes, asked) = forty_restored();
    assert_eq!(asked.len(), 32);
    assert_eq!(asked[..], hashes[..32], "in the order they came");
    // Each answer lets the next one go.
    let out = answer(&mut core, asked[0], vec![stamp(1), stamp(2), stamp(3)]);
    assert_eq!(stats_asked(&out), vec![hashes[32]]);
}

#[test]
fn a_torrent_removed_while_its_stamps_are_out_frees_its_slot() {
    let (mut core, hashes, asked) = forty_restored();
    assert_eq!(asked.len(), 32);
    // Eight removed with their stamps out: the eight waiting take their
    // places at once, and the removed ones' answers, when they come, change
    // nothing.
    let mut next = Vec::new();
    for ih in &hashes[..8] {
        let mut out = Vec::new();
        core.remove_torrent(Time::ZERO, *ih, false, &mut out)
            .unwrap();
        next.extend(stats_asked(&out));
    }
    assert_eq!(next[..], hashes[32..], "every waiting torrent asked");
    for ih in &hashes[..8] {
        assert!(stats_asked(&answer(&mut core, *ih, recorded())).is_empty());
    }
    // With 32 out again, an answer lets none go (none waits), and once all
    // are answered none is counted out.
    for ih in &hashes[8..40] {
        assert!(stats_asked(&answer(&mut core, *ih, recorded())).is_empty());
    }
    assert_eq!(core.stats_out, 0);
}

#[test]
fn a_save_before_the_comparison_keeps_the_records_stamps() {
    let meta = three_files("t");
    let (mut core, ih, _) = restarted(&meta);
    core.set_labels(ih, &["new".to_owned()]).unwrap();
    let mut out = Vec::new();
    core.execute(Time::ZERO, Command::SaveAll, &mut out);
    let saved: Vec<&ResumeSave> = out
        .iter()
        .filter_map(|a| match a {
            Action::SaveResume { torrents, .. } => Some(torrents),
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(saved.len(), 1, "{out:?}");
    // The bitfield is the record's, unverified: the save keeps its stamps
    // (`storage::save_resume` reads them from the store).
    assert!(saved[0].keep_stamps);
    assert_eq!(saved[0].record.labels, vec!["new".to_owned()]);
}
