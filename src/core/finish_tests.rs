//! Where an unfinished torrent goes when it finishes (`finish_in`): changed
//! while it downloads, refused once it has finished, kept by a move that is
//! refused, and set by a move into an incomplete folder; and a torrent whose
//! last pieces are verified but not yet written is not shown whole.

use super::tests::core_having_with;
use super::*;

fn root(token: &str) -> Box<FinishRoot> {
    Box::new(FinishRoot {
        path: format!("/{token}"),
        token: token.into(),
        marked: true,
    })
}

fn finish_token(core: &Core, ih: InfoHash) -> Option<String> {
    core.torrents[&ih]
        .finish_in
        .as_ref()
        .map(|f| f.token.clone())
}

#[test]
fn an_unfinished_torrent_changes_where_it_finishes_a_finished_one_does_not() {
    let (mut core, ih, _) = core_having_with(false, CoreConfig::default());
    core.set_finish_in(ih, root("a")).unwrap();
    assert_eq!(finish_token(&core, ih).as_deref(), Some("a"));
    core.set_finish_in(ih, root("b")).unwrap();
    assert_eq!(finish_token(&core, ih).as_deref(), Some("b"));
    // Where it is already: it stays there.
    let here = core.torrents[&ih].root_token.clone();
    core.set_finish_in(ih, root(&here)).unwrap();
    assert_eq!(finish_token(&core, ih), None);

    let (mut done, ih2, _) = core_having_with(true, CoreConfig::default());
    assert!(done.set_finish_in(ih2, root("a")).is_err());
    assert_eq!(finish_token(&done, ih2), None);
}

#[test]
fn a_refused_move_keeps_where_it_finishes_a_move_with_a_finish_sets_it() {
    let (mut core, ih, _) = core_having_with(false, CoreConfig::default());
    core.set_finish_in(ih, root("a")).unwrap();
    core.torrents.get_mut(&ih).unwrap().error = Some("disk gone".into());
    let mut out = Vec::new();
    let moved = core.move_storage(ih, "/x".into(), "x".into(), true, &mut out);
    assert!(moved.is_err());
    assert_eq!(finish_token(&core, ih).as_deref(), Some("a"));
    core.torrents.get_mut(&ih).unwrap().error = None;
    // The command a download folder sends: moved, and on to `a` after.
    let mv = Command::MoveStorage {
        info_hash: ih,
        to: "/staging".into(),
        to_token: "staging".into(),
        to_marked: true,
        finish_in: Some(root("a")),
    };
    assert!(matches!(
        core.execute(Time::ZERO, mv, &mut out),
        Reply::Done(Ok(()))
    ));
    assert_eq!(finish_token(&core, ih).as_deref(), Some("a"));
    // Shown moving there from the start.
    let s = core.stats(Time::ZERO, ih).unwrap();
    assert_eq!(s.moving_to.as_deref(), Some("staging"));
    assert_ne!(
        &*s.root, "staging",
        "where its files are until the move ends"
    );
    // Another move while that one runs: refused, nothing changed.
    let mv = Command::MoveStorage {
        info_hash: ih,
        to: "/y".into(),
        to_token: "y".into(),
        to_marked: true,
        finish_in: None,
    };
    let r = core.execute(Time::ZERO, mv, &mut out);
    assert!(matches!(r, Reply::Done(Err(_))));
    assert_eq!(finish_token(&core, ih).as_deref(), Some("a"));
}

#[test]
fn a_piece_verified_but_not_yet_written_keeps_the_torrent_short_of_whole() {
    let (mut core, ih, _) = core_having_with(false, CoreConfig::default());
    let t = core.torrents.get_mut(&ih).unwrap();
    let n = t.have.len();
    for p in 1..n {
        t.have.set(p);
    }
    // Piece 0 passed its hash and waits for its write (seen once in the qBittorrent
    // interop: `progress` 1 while the file still missed a piece).
    t.writing.insert(0);
    let s = core.stats(Time::ZERO, ih).unwrap();
    assert!(
        s.progress < 1.0,
        "progress {} with a piece unwritten",
        s.progress
    );
    assert!(s.have_bytes < s.total_bytes);
    let mut out = Vec::new();
    core.on_piece_written(Time::ZERO, ih, 0, Ok(()), &mut out);
    let s = core.stats(Time::ZERO, ih).unwrap();
    assert!(
        (s.progress - 1.0).abs() < f64::EPSILON,
        "progress {}",
        s.progress
    );
}
