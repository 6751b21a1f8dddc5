//! Hostile and broken metadata: every case gets a clear error or a sanitised path,
//! never a panic, and never a path that could leave the torrent's folder.

use seedring::bencode::{DecodeErrorKind, OwnedValue};
use seedring::metainfo::{
    Magnet, MagnetError, Metainfo, MetainfoError, MetainfoLimits, UnsafePath,
};

fn list(items: &[&str]) -> OwnedValue {
    OwnedValue::List(items.iter().map(|s| (*s).into()).collect())
}

fn file(path: &[&str], length: i64) -> OwnedValue {
    let mut f = OwnedValue::dict();
    f.insert("path", list(path));
    f.insert("length", length);
    f
}

/// A multi-file torrent over `files`, with a correct number of piece hashes when the
/// total is sane (16 KiB pieces).
fn multi(name: &str, files: Vec<OwnedValue>) -> OwnedValue {
    let total: i64 = files
        .iter()
        .map(|f| match f {
            OwnedValue::Dict(d) => match d.get(&b"length"[..]) {
                Some(OwnedValue::Int(n)) => (*n).max(0),
                _ => 0,
            },
            _ => 0,
        })
        .fold(0i64, i64::saturating_add);
    let pieces = usize::try_from(total.saturating_add(16383) / 16384)
        .unwrap_or(0)
        .min(1000);
    let mut info = OwnedValue::dict();
    info.insert("name", name);
    info.insert("piece length", 16384);
    info.insert("pieces", vec![0u8; pieces * 20]);
    info.insert("files", OwnedValue::List(files));
    let mut t = OwnedValue::dict();
    t.insert("info", info);
    t
}

fn single(info_edit: impl FnOnce(&mut OwnedValue)) -> Vec<u8> {
    let mut info = OwnedValue::dict();
    info.insert("name", "ok.bin");
    info.insert("length", 40000);
    info.insert("piece length", 16384);
    info.insert("pieces", vec![0u8; 60]);
    info_edit(&mut info);
    let mut t = OwnedValue::dict();
    t.insert("info", info);
    t.encode()
}

/// The property every loaded torrent must have: each path component is a plain name.
fn assert_paths_stay_inside(m: &Metainfo) {
    let root = std::path::Path::new("/srv/downloads");
    for f in &m.info.files {
        for c in f.path.parts() {
            assert!(
                !c.is_empty() && c != "." && c != ".." && !c.contains(['/', '\\', '\0']),
                "unsafe component {c:?} in {:?}",
                f.path
            );
        }
        let joined = root.join(f.path.as_str());
        assert!(joined.starts_with(root), "{joined:?} escapes");
        assert_eq!(
            joined.components().count(),
            root.components().count() + f.path.len()
        );
    }
}

enum Expect {
    Err(fn(&MetainfoError) -> bool),
    Paths(&'static [&'static str]),
}

fn check(name: &str, bytes: &[u8], expect: Expect) {
    let got = Metainfo::from_bytes(bytes);
    match (expect, got) {
        (Expect::Err(ok), Err(e)) => assert!(ok(&e), "{name}: unexpected error {e}"),
        (Expect::Err(_), Ok(m)) => panic!("{name}: loaded, paths {:?}", m.info.files),
        (Expect::Paths(want), Ok(m)) => {
            assert_paths_stay_inside(&m);
            let got: Vec<String> = m.info.files.iter().map(|f| f.display_path()).collect();
            assert_eq!(got, want, "{name}");
        }
        (Expect::Paths(_), Err(e)) => panic!("{name}: refused: {e}"),
    }
}

fn unsafe_path(reason: UnsafePath) -> impl Fn(&MetainfoError) -> bool {
    move |e| matches!(e, MetainfoError::UnsafePath { reason: r, .. } if *r == reason)
}

#[test]
fn path_traversal_in_all_its_forms() {
    use Expect::*;
    let cases: Vec<(&str, Vec<u8>, Expect)> = vec![
        (
            "dot-dot component",
            multi("t", vec![file(&["..", "..", "etc", "passwd"], 10)]).encode(),
            Err(|e| {
                matches!(
                    e,
                    MetainfoError::UnsafePath {
                        reason: UnsafePath::ParentDir,
                        ..
                    }
                )
            }),
        ),
        (
            "dot-dot in the middle",
            multi("t", vec![file(&["a", "..", "..", "b"], 10)]).encode(),
            Err(|e| {
                matches!(
                    e,
                    MetainfoError::UnsafePath {
                        reason: UnsafePath::ParentDir,
                        ..
                    }
                )
            }),
        ),
        (
            "dot-dot as the torrent name",
            multi("..", vec![file(&["a"], 10)]).encode(),
            Err(|e| {
                matches!(
                    e,
                    MetainfoError::UnsafePath {
                        reason: UnsafePath::ParentDir,
                        ..
                    }
                )
            }),
        ),
        (
            "dot-dot as a single file's name",
            single(|i| i.insert("name", "..")),
            Err(|e| matches!(e, MetainfoError::UnsafePath { .. })),
        ),
        (
            "absolute path in one component",
            multi("t", vec![file(&["/etc/passwd"], 10)]).encode(),
            Paths(&["t/_etc_passwd"]),
        ),
        (
            "leading empty component (a naive join makes it absolute)",
            multi("t", vec![file(&["", "etc", "passwd"], 10)]).encode(),
            Paths(&["t/etc/passwd"]),
        ),
        (
            "absolute torrent name",
            single(|i| i.insert("name", "/etc/cron.d/x")),
            Paths(&["_etc_cron.d_x"]),
        ),
        (
            "slash traversal inside a name",
            single(|i| i.insert("name", "../../.bashrc")),
            Paths(&[".._.._.bashrc"]),
        ),
        (
            "backslash traversal",
            multi("t", vec![file(&["..\\..\\windows\\win.ini"], 10)]).encode(),
            Paths(&["t/.._.._windows_win.ini"]),
        ),
        (
            "drive letter",
            multi("t", vec![file(&["C:", "boot.ini"], 10), file(&["d:x"], 1)]).encode(),
            Paths(&["t/C_/boot.ini", "t/d_x"]),
        ),
        (
            "NUL byte",
            multi("t", vec![file(&["a\0.txt"], 10)]).encode(),
            Err(|e| {
                matches!(
                    e,
                    MetainfoError::UnsafePath {
                        reason: UnsafePath::Nul,
                        ..
                    }
                )
            }),
        ),
        (
            "dot components",
            multi("t", vec![file(&[".", "a", ".", "b"], 10)]).encode(),
            Paths(&["t/a/b"]),
        ),
        (
            "empty path list",
            multi("t", vec![file(&[], 10)]).encode(),
            Err(|e| {
                matches!(
                    e,
                    MetainfoError::UnsafePath {
                        reason: UnsafePath::Empty,
                        ..
                    }
                )
            }),
        ),
        (
            "path of only dots and empties",
            multi("t", vec![file(&[".", ""], 10)]).encode(),
            Err(|e| {
                matches!(
                    e,
                    MetainfoError::UnsafePath {
                        reason: UnsafePath::Empty,
                        ..
                    }
                )
            }),
        ),
        (
            "empty torrent name",
            multi("", vec![file(&["a"], 10)]).encode(),
            Err(|e| {
                matches!(
                    e,
                    MetainfoError::UnsafePath {
                        reason: UnsafePath::Empty,
                        ..
                    }
                )
            }),
        ),
        // Clashing paths are renamed as libtorrent renames them (accepted, as
        // libtorrent accepts them), never written over one another.
        (
            "two files at one path",
            multi("t", vec![file(&["a.txt"], 10), file(&["a.txt"], 5)]).encode(),
            Paths(&["t/a.txt", "t/a.1.txt"]),
        ),
        (
            "a file where a folder must be",
            multi("t", vec![file(&["a"], 10), file(&["a", "b"], 5)]).encode(),
            Paths(&["t/a.1", "t/a/b"]),
        ),
        (
            "sanitising makes two paths collide",
            multi("t", vec![file(&["a/b"], 10), file(&["a_b"], 5)]).encode(),
            Paths(&["t/a_b", "t/a_b.1"]),
        ),
    ];
    for (name, bytes, expect) in cases {
        check(name, &bytes, expect);
    }
}

#[test]
fn utf8_path_variant_is_sanitised_too() {
    let mut f = file(&["innocent"], 10);
    f.insert("path.utf-8", list(&["..", "evil"]));
    let e = Metainfo::from_bytes(&multi("t", vec![f]).encode()).unwrap_err();
    assert!(unsafe_path(UnsafePath::ParentDir)(&e), "{e}");
}

#[test]
fn symlinks_are_listed_never_stored() {
    let mut link = file(&["link"], 0);
    link.insert("attr", "l");
    link.insert("symlink path", list(&["..", "..", "etc", "shadow"]));
    let m = Metainfo::from_bytes(&multi("t", vec![file(&["a"], 10), link]).encode()).unwrap();
    assert!(m.info.files[1].attr.symlink && !m.info.files[1].is_stored());
    assert_paths_stay_inside(&m);

    let mut fat_link = file(&["link"], 100);
    fat_link.insert("attr", "l");
    let e = Metainfo::from_bytes(&multi("t", vec![fat_link]).encode()).unwrap_err();
    assert!(matches!(e, MetainfoError::SymlinkWithData(_)), "{e}");
}

#[test]
fn bencode_bombs() {
    let kind = |bytes: &[u8]| match Metainfo::from_bytes(bytes) {
        Err(MetainfoError::Bencode(e)) => e.kind,
        other => panic!("expected a bencode error, got {other:?}"),
    };
    // A million nested lists: refused at the depth limit, not by a stack overflow.
    let mut deep = b"d4:info".to_vec();
    deep.extend(std::iter::repeat_n(b'l', 1_000_000));
    assert_eq!(kind(&deep), DecodeErrorKind::TooDeep(100));
    // Alternating dicts and lists.
    let mut mixed = Vec::new();
    for _ in 0..5000 {
        mixed.extend_from_slice(b"d1:al");
    }
    assert_eq!(kind(&mixed), DecodeErrorKind::TooDeep(100));
    // A string that claims 100 GB.
    assert!(matches!(
        kind(b"d4:infod4:name99999999999:x"),
        DecodeErrorKind::StringTooLong { .. }
    ));
    // A length with more digits than any integer holds.
    assert_eq!(
        kind(format!("d4:info{}:x", "9".repeat(40)).as_bytes()),
        DecodeErrorKind::BadLength
    );
    // Millions of tiny values.
    let mut many = b"d4:infol".to_vec();
    many.extend(std::iter::repeat_n(&b"i0e"[..], 2_100_000).flatten());
    many.extend_from_slice(b"ee");
    assert_eq!(kind(&many), DecodeErrorKind::TooManyTokens(2_000_000));
    // Truncated and garbage input say where.
    let good = single(|_| {});
    let e = Metainfo::from_bytes(&good[..good.len() / 2]).unwrap_err();
    assert!(e.to_string().contains("byte"), "{e}");
    assert!(matches!(
        kind(b"<html>not a torrent</html>"),
        DecodeErrorKind::UnexpectedByte(b'<')
    ));
}

#[test]
fn oversized_torrent_file_is_refused_before_parsing() {
    let big = vec![b'x'; (32 << 20) + 1];
    assert!(matches!(
        Metainfo::from_bytes(&big),
        Err(MetainfoError::TooLarge { .. })
    ));
    let limits = MetainfoLimits {
        max_files: 3,
        ..MetainfoLimits::default()
    };
    let four = multi("t", (0..4).map(|i| file(&[&i.to_string()], 1)).collect()).encode();
    assert!(matches!(
        Metainfo::from_bytes_with(&four, &limits),
        Err(MetainfoError::TooManyFiles { count: 4, max: 3 })
    ));
}

#[test]
fn overflowing_and_negative_sizes() {
    use Expect::Err;
    let cases: Vec<(&str, Vec<u8>, Expect)> = vec![
        (
            "length past i64",
            b"d4:infod6:lengthi99999999999999999999999ee".to_vec(),
            Err(
                |e| matches!(e, MetainfoError::Bencode(b) if b.kind == DecodeErrorKind::IntegerOverflow),
            ),
        ),
        (
            "negative length",
            single(|i| i.insert("length", -1)),
            Err(|e| matches!(e, MetainfoError::NegativeLength { .. })),
        ),
        (
            "negative file length",
            multi("t", vec![file(&["a"], -5)]).encode(),
            Err(|e| matches!(e, MetainfoError::NegativeLength { .. })),
        ),
        (
            "lengths that add past u64",
            multi(
                "t",
                vec![
                    file(&["a"], i64::MAX),
                    file(&["b"], i64::MAX),
                    file(&["c"], i64::MAX),
                ],
            )
            .encode(),
            Err(|e| matches!(e, MetainfoError::TotalLengthOverflow)),
        ),
        (
            "more pieces than u32 counts",
            single(|i| i.insert("length", i64::MAX)),
            Err(|e| matches!(e, MetainfoError::TotalLengthOverflow)),
        ),
        (
            "zero total",
            multi("t", vec![file(&["a"], 0), file(&["b"], 0)]).encode(),
            Err(|e| matches!(e, MetainfoError::Empty)),
        ),
    ];
    for (name, bytes, expect) in cases {
        check(name, &bytes, expect);
    }
}

#[test]
fn piece_geometry_must_add_up() {
    let bad_pl = |n: i64| single(move |i| i.insert("piece length", n));
    for n in [
        0,
        -16384,
        1000,
        8192,
        16385,
        (3 << 14) + 1,
        (1 << 28) + (16 << 10),
        1 << 29,
        1 << 40,
        i64::MIN,
    ] {
        assert!(
            matches!(Metainfo::from_bytes(&bad_pl(n)), Err(MetainfoError::BadPieceLength(m)) if m == n),
            "piece length {n}"
        );
    }
    let pieces = |n: usize| single(move |i| i.insert("pieces", vec![0u8; n]));
    assert!(matches!(
        Metainfo::from_bytes(&pieces(59)),
        Err(MetainfoError::PiecesNotMultipleOf20(59))
    ));
    for n in [0, 40, 80] {
        assert!(matches!(
            Metainfo::from_bytes(&pieces(n)),
            Err(MetainfoError::PieceCountMismatch { expected: 3, .. })
        ));
    }
    let wrong = |edit: fn(&mut OwnedValue)| Metainfo::from_bytes(&single(edit)).unwrap_err();
    assert!(matches!(
        wrong(|i| i.insert("pieces", 5)),
        MetainfoError::WrongType {
            field: "pieces",
            ..
        }
    ));
    assert!(matches!(
        wrong(|i| i.insert("piece length", "big")),
        MetainfoError::WrongType { .. }
    ));
    assert!(matches!(
        wrong(|i| i.insert("files", OwnedValue::List(vec![file(&["a"], 1)]))),
        MetainfoError::LengthAndFiles
    ));
}

#[test]
fn structural_problems() {
    let e = |b: &[u8]| Metainfo::from_bytes(b).unwrap_err();
    assert!(matches!(
        e(b"le"),
        MetainfoError::WrongType {
            field: "torrent",
            ..
        }
    ));
    assert!(matches!(e(b"de"), MetainfoError::Missing("info")));
    assert!(matches!(
        e(b"d4:infoi1ee"),
        MetainfoError::WrongType { field: "info", .. }
    ));
    assert!(matches!(
        e(b"d4:infod4:name1:aee"),
        MetainfoError::Missing("pieces")
    ));
    assert!(matches!(
        e(&multi("t", vec![]).encode()),
        MetainfoError::Missing(_)
    ));
    let mut bad_files = multi("t", vec![]);
    if let OwnedValue::Dict(d) = &mut bad_files {
        d.get_mut(&b"info"[..])
            .unwrap()
            .insert("files", OwnedValue::List(vec![5.into()]));
    }
    assert!(matches!(
        e(&bad_files.encode()),
        MetainfoError::WrongType { .. }
    ));
}

/// A v2-only torrent of one file at `path` (`len` bytes, root `root`), with
/// `layer` as its piece layer (none if `None`), in pieces of `plen`.
fn v2_only(path: &[&str], len: i64, plen: i64, layer: Option<Vec<u8>>) -> Vec<u8> {
    let root = [3u8; 32];
    let mut leaf = OwnedValue::dict();
    leaf.insert("length", len);
    leaf.insert("pieces root", root.to_vec());
    let mut node = OwnedValue::dict();
    node.insert("", leaf);
    for part in path.iter().rev() {
        let mut d = OwnedValue::dict();
        d.insert(part, node);
        node = d;
    }
    let mut info = OwnedValue::dict();
    info.insert("name", "x");
    info.insert("piece length", plen);
    info.insert("meta version", 2);
    info.insert("file tree", node);
    let mut t = OwnedValue::dict();
    t.insert("info", info);
    if let Some(layer) = layer {
        t.insert(
            "piece layers",
            OwnedValue::Dict([(root.to_vec(), layer.into())].into()),
        );
    }
    t.encode()
}

#[test]
fn bad_v2_only_torrents_are_refused_and_hybrid_loads_as_v1() {
    let e = |b: &[u8]| Metainfo::from_bytes(b).unwrap_err();
    // An empty tree, a path out of the folder, a piece length that is not a
    // power of two, a file of three pieces without (or with a short, or a
    // wrong) piece layer.
    let mut v2 = OwnedValue::dict();
    v2.insert("name", "x");
    v2.insert("piece length", 16384);
    v2.insert("meta version", 2);
    v2.insert("file tree", OwnedValue::dict());
    let mut t = OwnedValue::dict();
    t.insert("info", v2);
    assert!(matches!(e(&t.encode()), MetainfoError::BadV2(_)));
    assert!(matches!(
        e(&v2_only(&["..", "etc"], 10, 16384, None)),
        MetainfoError::UnsafePath { .. }
    ));
    assert!(matches!(
        e(&v2_only(&["a"], 10, 3 * 16384, None)),
        MetainfoError::BadV2(_)
    ));
    let three = 3 * 16384 - 1;
    assert!(matches!(
        e(&v2_only(&["a"], three, 16384, None)),
        MetainfoError::NoPieceLayer(_)
    ));
    for layer in [Some(vec![0u8; 64]), Some(vec![0u8; 96])] {
        assert!(matches!(
            e(&v2_only(&["a"], three, 16384, layer)),
            MetainfoError::BadV2(_)
        ));
    }
    // One file of one piece needs no layer: it loads, padded to a whole piece.
    let m = Metainfo::from_bytes(&v2_only(&["a"], 10, 16384, None)).unwrap();
    assert!(m.is_v2_only());
    assert_eq!(m.info.geometry.total_length(), 16384);
    assert_eq!(m.info.files[0].path, ["a"]);

    // A hybrid's v2 side is checked: an empty file tree is refused...
    let hollow = single(|i| {
        i.insert("meta version", 2);
        i.insert("file tree", OwnedValue::dict());
    });
    assert!(matches!(
        Metainfo::from_bytes(&hollow),
        Err(MetainfoError::BadV2(_))
    ));
    // A hybrid of `ok.bin` (`len` bytes, `pieces` v1 hashes), its v2 side
    // naming the file with a made-up root and no piece layer.
    let hybrid = |len: i64, pieces: usize| {
        single(move |i| {
            i.insert("length", len);
            i.insert("pieces", vec![0u8; 20 * pieces]);
            i.insert("meta version", 2);
            let mut leaf = OwnedValue::dict();
            leaf.insert("length", len);
            leaf.insert("pieces root", vec![0u8; 32]);
            let mut file = OwnedValue::dict();
            file.insert("", leaf);
            let mut tree = OwnedValue::dict();
            tree.insert("ok.bin", file);
            i.insert("file tree", tree);
        })
    };
    // ... a file longer than a piece without its piece layer (as
    // qBittorrent saves a hybrid's .torrent) loads by its SHA-1 pieces, its
    // v2 side kept (its layers come from its v2 peers, as by magnet link)...
    let m = Metainfo::from_bytes(&hybrid(40000, 3)).unwrap();
    assert!(matches!(
        m.info.pieces,
        seedring::hash::PieceHashes::Sha1(_)
    ));
    assert!(m.info.v2_hash.is_some() && m.v2.is_some());
    // ... and one of a single piece loads as v1, with its v2 side.
    let one_piece = |len: i64| hybrid(len, 1);
    let m = Metainfo::from_bytes(&one_piece(1000)).unwrap();
    assert_eq!(m.info.geometry.piece_count(), 1);
    assert_eq!(m.v2.unwrap().files[0].length, 1000);
    // Both sides must describe the same bytes.
    let mut other = one_piece(1000);
    let at = other
        .windows(12)
        .rposition(|w| w == b"lengthi1000e")
        .unwrap();
    other[at + 10] = b'1';
    assert!(matches!(
        Metainfo::from_bytes(&other),
        Err(MetainfoError::BadV2(_))
    ));

    let v3 = single(|i| i.insert("meta version", 3));
    assert!(matches!(
        Metainfo::from_bytes(&v3),
        Err(MetainfoError::UnsupportedMetaVersion(3))
    ));
}

#[test]
fn bad_magnets() {
    let h = "c12fe1c06bba254a9dc9f519b335aa7c1367a88a";
    type Check = fn(&MagnetError) -> bool;
    let cases: Vec<(String, Check)> = vec![
        ("".into(), |e| matches!(e, MagnetError::NotMagnet)),
        ("magnet:".into(), |e| matches!(e, MagnetError::NotMagnet)),
        ("magnet:?".into(), |e| {
            matches!(e, MagnetError::MissingInfoHash)
        }),
        ("magnet:?xt=urn:sha1:abc".into(), |e| {
            matches!(e, MagnetError::MissingInfoHash)
        }),
        ("magnet:?xt=urn:btih:".into(), |e| {
            matches!(e, MagnetError::BadInfoHash(_))
        }),
        (format!("magnet:?xt=urn:btih:{h}00"), |e| {
            matches!(e, MagnetError::BadInfoHash(_))
        }),
        (format!("magnet:?xt=urn:btih:{}", "z".repeat(40)), |e| {
            matches!(e, MagnetError::BadInfoHash(_))
        }),
        (format!("magnet:?xt=urn:btih:{}", "1".repeat(32)), |e| {
            matches!(e, MagnetError::BadInfoHash(_))
        }),
        (format!("magnet:?xt=urn:btmh:1220{}", "0".repeat(62)), |e| {
            matches!(e, MagnetError::BadV2InfoHash(_))
        }),
        (format!("magnet:?xt=urn:btmh:1114{}", "0".repeat(64)), |e| {
            matches!(e, MagnetError::BadV2InfoHash(_))
        }),
        (format!("magnet:?xt=urn:btih:{h}&dn=%"), |e| {
            matches!(e, MagnetError::BadEncoding(_))
        }),
        (format!("magnet:?xt=urn:btih:{h}&x.pe=:80"), |e| {
            matches!(e, MagnetError::BadPeer(_))
        }),
        (format!("magnet:?xt=urn:btih:{h}&x.pe=[zz]:80"), |e| {
            matches!(e, MagnetError::BadPeer(_))
        }),
        (format!("magnet:?xt=urn:btih:{h}&so=1-"), |e| {
            matches!(e, MagnetError::BadSelectOnly(_))
        }),
        (format!("magnet:?xt=urn:btih:{h}&so=99999999999"), |e| {
            matches!(e, MagnetError::BadSelectOnly(_))
        }),
    ];
    for (uri, ok) in cases {
        let e = Magnet::parse(&uri).unwrap_err();
        assert!(ok(&e), "{uri}: {e}");
        assert!(!e.to_string().is_empty());
    }
}

mod mutations {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> Vec<u8> {
        let mut t = multi(
            "folder",
            vec![
                file(&["a", "b.txt"], 20000),
                file(&["c"], 1),
                file(&["d", "e"], 30000),
            ],
        );
        t.insert("announce", "http://127.0.0.1:1/announce");
        t.encode()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        /// Flipping, inserting and cutting bytes of a good torrent never panics, and
        /// whatever still loads has only safe paths.
        #[test]
        fn mutated_torrents_never_panic_or_escape(
            edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..8)
        ) {
            let mut bytes = sample();
            for (at, byte, op) in edits {
                let i = at.index(bytes.len());
                match op {
                    0 => bytes[i] = byte,
                    1 => bytes.insert(i, byte),
                    _ => bytes.truncate(i.max(1)),
                }
            }
            if let Ok(m) = Metainfo::from_bytes(&bytes) {
                assert_paths_stay_inside(&m);
            }
        }
    }
}
