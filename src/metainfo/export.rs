//! A torrent's `.torrent` file made again from what the session store keeps:
//! its `info` bytes exactly as they came (so every client computes the same
//! info-hashes), a v2 or hybrid torrent's `piece layers` from the piece roots
//! stored beside them, its trackers and web seeds as they are now, and the
//! file's own `comment`, `created by` and `creation date` ([`About`], kept in
//! a small record of their own, since nothing in the engine needs them).

use crate::bencode::writer::{self, bytes, list};
use crate::bencode::{self, Node};

use super::v2_layout::{file_layer, stored_v2};
use super::{Metainfo, MetainfoError, MetainfoLimits};

/// What a `.torrent` says about itself outside `info`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct About {
    /// `comment`.
    pub comment: Option<String>,
    /// `created by`.
    pub created_by: Option<String>,
    /// `creation date`, Unix seconds.
    pub creation_date: Option<i64>,
}

impl About {
    /// The file's own, or `None` when it says nothing of itself.
    pub fn of(m: &Metainfo) -> Option<About> {
        let about = About {
            comment: m.comment.clone(),
            created_by: m.created_by.clone(),
            creation_date: m.creation_date,
        };
        (about != About::default()).then_some(about)
    }

    /// Its record: a dictionary of the same keys as in a `.torrent`.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        writer::dict(&mut out, |d| self.write(d));
        out
    }

    /// A record [`About::encode`] wrote; a damaged one reads as nothing known
    /// (it only ever decorates a view).
    pub fn decode(record: &[u8]) -> About {
        let Ok(node) = bencode::decode(record, bencode::Limits::default()) else {
            return About::default();
        };
        let text = |k: &str| {
            (node.get(k).and_then(Node::as_bytes)).map(|b| String::from_utf8_lossy(b).into_owned())
        };
        About {
            comment: text("comment"),
            created_by: text("created by"),
            creation_date: node.get("creation date").and_then(Node::as_int),
        }
    }

    /// Its keys, in the byte order a dictionary wants them.
    fn write(&self, d: &mut writer::Dict<'_>) {
        if let Some(c) = &self.comment {
            d.bytes("comment", c.as_bytes());
        }
        if let Some(c) = &self.created_by {
            d.bytes("created by", c.as_bytes());
        }
        if let Some(t) = self.creation_date {
            d.int("creation date", t);
        }
    }
}

/// The `.torrent` of the torrent whose stored metadata record is `stored`
/// (see [`super::encode_stored`]), announcing to `tiers`, with web seeds
/// `web_seeds` and what `about` says. A hybrid stored before its piece roots
/// came (added by magnet, still fetching them) has no `piece layers` yet.
pub fn torrent_file(
    stored: &[u8],
    tiers: &[Vec<String>],
    web_seeds: &[String],
    about: &About,
    limits: &MetainfoLimits,
) -> Result<Vec<u8>, MetainfoError> {
    let (info, layers) = split_stored(stored, limits)?;
    let mut out = Vec::with_capacity(stored.len() + 1024);
    writer::dict(&mut out, |d| {
        if let Some(first) = tiers.first().and_then(|t| t.first()) {
            d.bytes("announce", first.as_bytes());
            list(d.key("announce-list"), |l| {
                for tier in tiers {
                    list(l, |t| {
                        for url in tier {
                            bytes(t, url.as_bytes());
                        }
                    });
                }
            });
        }
        about.write(d);
        d.key("info").extend_from_slice(info);
        if !layers.is_empty() {
            // Its keys are 32-byte roots, sorted below.
            let out = d.key("piece layers");
            out.push(b'd');
            for (root, layer) in &layers {
                bytes(out, root);
                bytes(out, layer);
            }
            out.push(b'e');
        }
        if !web_seeds.is_empty() {
            list(d.key("url-list"), |l| {
                for url in web_seeds {
                    bytes(l, url.as_bytes());
                }
            });
        }
    });
    Ok(out)
}

/// Each longer file's piece layer, by its root.
type Layers<'a> = Vec<([u8; 32], &'a [u8])>;

/// The `info` bytes of a stored record, and each longer file's piece layer
/// by its root (sorted: a dictionary's order), checked against that root.
fn split_stored<'a>(
    stored: &'a [u8],
    limits: &MetainfoLimits,
) -> Result<(&'a [u8], Layers<'a>), MetainfoError> {
    if stored.first() != Some(&b'l') {
        return Ok((stored, Vec::new()));
    }
    let s = stored_v2(stored, limits)?;
    let mut layers = Vec::new();
    for (f, raw) in s.v2.files.iter().zip(&s.roots) {
        // The layer of a file longer than a piece; a shorter file's one root
        // is its `pieces root`, in `info` already.
        if let Some(pieces_root) = f.pieces_root
            && !file_layer(f, s.v2.piece_length, Some(raw))?.is_empty()
        {
            layers.push((pieces_root, *raw));
        }
    }
    // Two files of the same content share a root, and a dictionary a key.
    layers.sort_unstable_by_key(|l| l.0);
    layers.dedup_by(|a, b| a.0 == b.0);
    Ok((s.info, layers))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::merkle::merkle_file;
    use crate::metainfo::{CreateLayout, CreateOptions, build_torrent_v2, encode_stored};

    /// A v2 torrent (a hybrid with `v1` pieces) of files `a` (three pieces),
    /// `b` (one), `c` (three, the same bytes as `a`) in 16 KiB pieces.
    fn built(hybrid: bool) -> Metainfo {
        let files: [(&str, u64, u8); 3] = [("a", 40_000, 7), ("b", 16_384, 8), ("c", 40_000, 7)];
        let trees: Vec<_> = (files.iter())
            .map(|(_, l, b)| {
                merkle_file(&vec![*b; usize::try_from(*l).unwrap()][..], *l, 16_384).unwrap()
            })
            .collect();
        // Each file padded to whole pieces: 3 + 1 + 3.
        let v1 = [[3u8; 20]; 7];
        let layout = CreateLayout {
            name: "pack".into(),
            files: Some(
                files
                    .iter()
                    .map(|(p, l, _)| (vec![(*p).into()], *l))
                    .collect(),
            ),
            length: 0,
        };
        let opts = CreateOptions {
            trackers: vec!["http://t/announce".into()],
            comment: Some("a \"comment\"".into()),
            created_by: Some("seedring test".into()),
            creation_date: Some(1_700_000_000),
            ..CreateOptions::default()
        };
        let v1 = hybrid.then_some(&v1[..]);
        build_torrent_v2(&layout, 16_384, v1, &trees, &opts)
            .unwrap()
            .meta
    }

    #[test]
    fn a_v2_and_a_hybrid_come_back_whole_from_the_store() {
        for hybrid in [false, true] {
            let m = built(hybrid);
            let stored = encode_stored(&m.info_bytes, &m.info.pieces);
            let tiers = vec![
                vec!["http://t/announce".to_owned()],
                vec!["udp://u:1".into()],
            ];
            let seeds = vec!["http://w/files/".to_owned()];
            let about = About::of(&m).unwrap();
            let limits = MetainfoLimits::default();
            let file = torrent_file(&stored, &tiers, &seeds, &about, &limits).unwrap();
            // Read back as any .torrent: the piece layers check against the
            // roots, and the hashes are the same.
            let back = Metainfo::from_bytes(&file).unwrap();
            assert_eq!(
                (back.info_hash, &back.info_bytes),
                (m.info_hash, &m.info_bytes)
            );
            assert_eq!(back.info.v2_hash, m.info.v2_hash);
            assert_eq!(back.info.pieces, m.info.pieces, "hybrid: {hybrid}");
            assert_eq!((&back.tracker_tiers, &back.web_seeds), (&tiers, &seeds));
            assert_eq!(About::of(&back), Some(about));
            // `a` and `c` share a root: one layer for both.
            let node = bencode::decode(&file, bencode::Limits::default()).unwrap();
            let layers = node.get("piece layers").and_then(Node::as_dict).unwrap();
            assert_eq!(layers.len(), 1);
        }
    }

    #[test]
    fn a_v1_record_is_its_info_and_about_survives_its_record() {
        let m = built(false);
        let opts = CreateOptions::default();
        let layout = CreateLayout {
            name: "one".into(),
            files: None,
            length: 5,
        };
        let (_, v1) = crate::metainfo::build_torrent(&layout, 16_384, &[[1; 20]], &opts).unwrap();
        let file = torrent_file(
            &v1.info_bytes,
            &[],
            &[],
            &About::default(),
            &Default::default(),
        );
        let back = Metainfo::from_bytes(&file.unwrap()).unwrap();
        assert_eq!(back.info_hash, v1.info_hash);
        assert!(back.tracker_tiers.is_empty() && back.web_seeds.is_empty());
        assert_eq!(About::of(&back), None);

        let about = About::of(&m).unwrap();
        assert_eq!(About::decode(&about.encode()), about);
        assert_eq!(About::decode(b"not bencode"), About::default());
    }
}
