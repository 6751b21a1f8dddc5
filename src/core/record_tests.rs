use super::*;

fn sample() -> StateRecord {
    let mut have = Bitfield::new(11);
    have.set(0);
    have.set(10);
    StateRecord {
        have,
        downloaded: 5 << 30,
        uploaded: 7,
        added_at: 1_700_000_000,
        completed_at: Some(1_700_000_100),
        root: "disk2".into(),
        paused: true,
        sequential: false,
        file_priorities: vec![1, 0, 7],
        download_limit: 100_000,
        upload_limit: 0,
        files: vec![
            Some(FileStamp {
                size: 10,
                mtime_ns: 1_700_000_000_123_456_789,
            }),
            None,
            Some(FileStamp {
                size: 0,
                mtime_ns: -5,
            }),
        ],
        name: "a name".into(),
        trackers: vec![vec!["http://127.0.0.1:1/a".into()], vec![]],
        web_seeds: vec!["http://127.0.0.1:2/files/".into()],
        labels: vec!["movies".into(), "x y".into()],
        category: "tv/hd".into(),
        share: super::super::ShareLimits {
            ratio_milli: 1500,
            seeding_mins: -1,
            inactive_mins: 30,
        },
        share_action: Some(super::super::ShareAction::RemoveWithFiles),
        seeding_secs: 7200,
        running_secs: 9000,
        seen_complete: Some(1_700_000_600),
        active_at: Some(1_700_000_500),
        queue_pos: 12,
        forced: true,
        display_name: "Shown As".into(),
        first_last: true,
        manual: true,
        super_seeding: true,
        content_layout: crate::metainfo::ContentLayout::NoSubfolder,
        renames: vec![
            (0, vec!["a name".into(), "x.bin".into()]),
            (2, vec!["y".into()]),
        ],
        finish_in: Some("done-disk".into()),
        checking: true,
    }
}

#[test]
fn state_round_trips() {
    let r = sample();
    assert_eq!(StateRecord::decode(&r.encode()).unwrap(), r);
    let mut r2 = r;
    r2.completed_at = None;
    assert_eq!(StateRecord::decode(&r2.encode()).unwrap(), r2);
    // A record from before labels and categories has none.
    r2.labels.clear();
    r2.category.clear();
    r2.share = super::super::ShareLimits::default();
    r2.share_action = None;
    r2.seeding_secs = 0;
    r2.running_secs = 0;
    r2.seen_complete = None;
    r2.queue_pos = 0;
    r2.forced = false;
    r2.display_name.clear();
    r2.first_last = false;
    r2.manual = false;
    r2.super_seeding = false;
    r2.finish_in = None;
    r2.checking = false;
    r2.content_layout = crate::metainfo::ContentLayout::Original;
    let old = r2.encode();
    assert!(!old.windows(5).any(|w| w == b"3:lbl"));
    assert!(!old.windows(5).any(|w| w == b"3:cat"));
    assert!(!old.windows(5).any(|w| w == b"3:chk"));
    assert!(!old.windows(5).any(|w| w == b"3:run"));
    assert!(!old.windows(5).any(|w| w == b"3:sla"));
    assert!(!old.windows(6).any(|w| w == b"4:seen"));
    assert_eq!(StateRecord::decode(&old).unwrap(), r2);
}

#[test]
fn an_unknown_share_action_is_an_error() {
    let bytes = sample().encode();
    let (from, to): (&[u8], &[u8]) = (b"3:sla17:remove_with_files", b"3:sla4:kill");
    let at = bytes.windows(from.len()).position(|w| w == from).unwrap();
    let bad = [&bytes[..at], to, &bytes[at + from.len()..]].concat();
    assert!(StateRecord::decode(&bad).is_err());
}

#[test]
fn records_are_written_canonically() {
    // Keys sorted, none twice, integers and lengths without leading zeros:
    // the same bytes a tree of the same entries encodes to.
    let canonical = |bytes: &[u8]| {
        let node = crate::bencode::decode(bytes, crate::bencode::Limits::default()).unwrap();
        assert_eq!(OwnedValue::from(&node).encode(), bytes);
    };
    let mut r = sample();
    canonical(&r.encode());
    r.completed_at = None;
    r.web_seeds.clear();
    r.labels.clear();
    r.share = super::super::ShareLimits::default();
    canonical(&r.encode());
    let peers = [PeerRecord {
        addr: "[::1]:51413".parse().unwrap(),
        last_seen: 4,
    }];
    canonical(&encode_peers(&peers));
    canonical(&encode_peers(&[]));
}

#[test]
fn unknown_versions_and_damage_are_errors_never_panics() {
    let good = sample().encode();
    let at = good.windows(6).position(|w| w == b"1:vi1e").unwrap();
    let mut v2 = good.clone();
    v2[at + 4] = b'2';
    assert_eq!(StateRecord::decode(&v2), Err(RecordError::Version(2)));
    assert!(matches!(
        StateRecord::decode(b"garbage"),
        Err(RecordError::Corrupt(_))
    ));
    // Every truncation and every single-byte change: an error or a record, never
    // a panic; a changed piece count never yields a mismatched bitfield.
    for cut in 0..good.len() {
        let _ = StateRecord::decode(&good[..cut]);
    }
    for i in 0..good.len() {
        for b in [0u8, b'0', b'9', b'e', b'i', 0xFF] {
            let mut m = good.clone();
            m[i] = b;
            if let Ok(r) = StateRecord::decode(&m) {
                assert_eq!(r.have.as_wire().len(), r.have.len().div_ceil(8) as usize);
            }
        }
    }
}

#[test]
fn the_worst_damage_names_the_error_and_the_first_of_two_keys_counts() {
    let good = sample().encode();
    let at = good.windows(6).position(|w| w == b"1:vi1e").unwrap();
    // An unknown version wins over a field this build cannot read...
    let mut v2 = good.clone();
    v2[at + 4] = b'2';
    let down = v2.windows(6).position(|w| w == b"4:down").unwrap() + 6;
    let end = down + v2[down..].iter().position(|&b| b == b'e').unwrap() + 1;
    // (`down` a list, not an integer.)
    let strange = [&v2[..down], b"le", &v2[end..]].concat();
    assert_eq!(StateRecord::decode(&strange), Err(RecordError::Version(2)));
    // ...damaged bencode wins over the version...
    let mut cut = v2.clone();
    cut.pop();
    assert!(matches!(
        StateRecord::decode(&cut),
        Err(RecordError::Corrupt(_))
    ));
    // ...and no version at all is named as such.
    let none = [&good[..at], &good[at + 6..]].concat();
    assert_eq!(
        StateRecord::decode(&none),
        Err(RecordError::Corrupt("bad or missing \"v\"".into()))
    );
    // Keys this build does not know are stepped over, containers and all;
    // of two equal keys the first counts.
    let extra = [b"d0:d1:xli1eee".as_slice(), b"4:downi1e", &good[1..]].concat();
    let r = StateRecord::decode(&extra).unwrap();
    assert_eq!((r.downloaded, r.uploaded), (1, 7));
    assert_eq!(
        decode_peers(b"d5:peersle1:vi1e5:peersi3ee").unwrap(),
        vec![]
    );
}

#[test]
fn a_record_read_back_reads_back_the_same() {
    // Whatever a damaged record decodes to is itself a record: written
    // again, it reads back equal.
    let good = sample().encode();
    for i in 0..good.len() {
        for b in [b'0', b'1', b'e', b'l', b'd'] {
            let mut m = good.clone();
            m[i] = b;
            if let Ok(r) = StateRecord::decode(&m) {
                assert_eq!(StateRecord::decode(&r.encode()).unwrap(), r, "at {i}");
            }
        }
    }
}

proptest::proptest! {
    #[test]
    fn any_record_round_trips_canonically(
        bits in proptest::collection::vec(proptest::bool::ANY, 0..3000),
        nums in proptest::array::uniform8(0..=i64::MAX as u64),
        files in proptest::collection::vec(
            proptest::option::of((0..=i64::MAX as u64, proptest::num::i64::ANY)),
            0..20,
        ),
        words in proptest::collection::vec(".{0,12}", 8),
        tiers in proptest::collection::vec(proptest::collection::vec(".{0,20}", 0..3), 0..3),
        share in proptest::array::uniform3(-2i64..1_000_000),
        flags in proptest::array::uniform4(proptest::bool::ANY),
        layout in 0u8..3,
    ) {
        let mut have = Bitfield::new(u32::try_from(bits.len()).unwrap());
        for (i, b) in (0u32..).zip(&bits) {
            if *b {
                have.set(i);
            }
        }
        let r = StateRecord {
            have,
            downloaded: nums[0],
            uploaded: nums[1],
            added_at: nums[2],
            completed_at: flags[0].then_some(nums[3]),
            root: words[0].clone(),
            paused: flags[1],
            sequential: flags[2],
            file_priorities: files.iter().map(|f| u8::from(f.is_some())).collect(),
            download_limit: nums[4],
            upload_limit: nums[5],
            files: files
                .iter()
                .map(|f| f.map(|(size, mtime_ns)| FileStamp { size, mtime_ns }))
                .collect(),
            name: words[1].clone(),
            trackers: tiers,
            web_seeds: vec![words[2].clone()].into_iter().filter(|w| !w.is_empty()).collect(),
            labels: vec![words[3].clone()].into_iter().filter(|w| !w.is_empty()).collect(),
            category: words[4].clone(),
            share: super::super::ShareLimits {
                ratio_milli: share[0],
                seeding_mins: share[1],
                inactive_mins: share[2],
            },
            share_action: super::super::ShareAction::from_name(
                ["pause", "remove", "remove_with_files", "super_seed", ""][(layout as usize + 2 * usize::from(flags[3])) % 5],
            ),
            seeding_secs: nums[6],
            running_secs: nums[6] / 2,
            seen_complete: flags[1].then_some(nums[3]),
            active_at: None,
            queue_pos: nums[7],
            forced: flags[3],
            display_name: words[5].clone(),
            first_last: flags[0] && flags[3],
            manual: flags[1] && !flags[2],
            super_seeding: flags[2] && !flags[3],
            content_layout: match layout {
                0 => crate::metainfo::ContentLayout::Original,
                1 => crate::metainfo::ContentLayout::Subfolder,
                _ => crate::metainfo::ContentLayout::NoSubfolder,
            },
            renames: if words[0].is_empty() {
                Vec::new()
            } else {
                vec![(files.len(), vec![words[0].clone(), words[1].clone()])]
            },
            finish_in: (!words[2].is_empty()).then(|| words[2].clone()),
            checking: flags[1] && flags[2],
        };
        let bytes = r.encode();
        let node = crate::bencode::decode(&bytes, crate::bencode::Limits::default()).unwrap();
        proptest::prop_assert_eq!(OwnedValue::from(&node).encode(), bytes.clone());
        proptest::prop_assert_eq!(StateRecord::decode(&bytes).unwrap(), r);
    }
}

#[test]
fn peers_round_trip() {
    let peers = vec![
        PeerRecord {
            addr: "127.0.0.1:6881".parse().unwrap(),
            last_seen: 3,
        },
        PeerRecord {
            addr: "[::1]:51413".parse().unwrap(),
            last_seen: 4,
        },
    ];
    assert_eq!(decode_peers(&encode_peers(&peers)).unwrap(), peers);
    assert!(decode_peers(b"d1:vi1e5:peersl1:xee").is_err());
}
