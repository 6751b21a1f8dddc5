//! Cancels and their answers (BEP 6: with the fast extension every request
//! gets exactly one piece or one reject, cancelled or not): a seed answers a
//! cancelled request it has not sent with a reject, and a leecher that asked
//! for the block again takes the answer to the cancel for what it is.

use super::tests::{PIECE, connect, core_sized, feed, feed_at, sent_to};
use super::*;

fn req(piece: u32, offset: u32) -> BlockRequest {
    BlockRequest {
        piece,
        offset,
        len: 16384,
    }
}

/// The block's bytes in the torrents of `core_sized` (byte `i` is `i as u8`).
fn block(r: BlockRequest) -> Message {
    let start = r.piece * PIECE + r.offset;
    Message::Piece {
        piece: r.piece,
        offset: r.offset,
        data: (start..start + r.len).map(|i| i.to_le_bytes()[0]).collect(),
    }
}

fn count(out: &[Action], key: PeerKey, msg: &Message) -> usize {
    sent_to(out, key).iter().filter(|m| *m == msg).count()
}

#[test]
fn a_cancelled_request_not_yet_sent_is_rejected_to_a_fast_peer() {
    let cfg = CoreConfig {
        send_from_files: true,
        ..CoreConfig::default()
    };
    let (mut core, ih, _) = core_sized(200 * 16 * 1024, true, cfg);
    for fast in [true, false] {
        let key = connect(&mut core, ih, fast);
        let first = if fast {
            Message::HaveNone
        } else {
            Message::Interested
        };
        feed(&mut core, key, &[first, Message::Interested]);
        // 100 blocks: more than the send backlog takes at once.
        let asked: Vec<Message> = (0..100u32)
            .map(|i| Message::Request(req(i / 2, i % 2 * 16384)))
            .collect();
        let out = feed(&mut core, key, &asked);
        let (sent, last) = (req(0, 0), req(49, 16384));
        assert!(
            out.iter()
                .any(|a| matches!(a, Action::SendBlock { req, .. } if *req == sent)),
            "{out:?}"
        );
        assert!(core.peers[&key].queue_in.contains(&last));
        let out = feed(
            &mut core,
            key,
            &[Message::Cancel(sent), Message::Cancel(last)],
        );
        // The one on its way is answered by its piece; the other, dropped,
        // by a reject (a peer without the extension expects nothing).
        assert_eq!(count(&out, key, &Message::Reject(sent)), 0);
        assert_eq!(count(&out, key, &Message::Reject(last)), usize::from(fast));
        assert!(!core.peers[&key].queue_in.contains(&last));
    }
}

/// A leecher whose requests timed out cancels them and asks again; the
/// peer's reject of a cancelled request leaves the new request standing, and
/// the block it then sends is taken. A block that answers a cancelled request
/// serves the request made since, which is then cancelled in turn.
#[test]
fn the_answer_to_a_cancel_is_not_taken_for_the_answer_to_a_request_made_since() {
    // Eight blocks: every one asked at once, and asked again after the timeout.
    let (mut core, ih, _) = core_sized(4 * PIECE, false, CoreConfig::default());
    let key = connect(&mut core, ih, true);
    let out = feed(&mut core, key, &[Message::HaveAll, Message::Unchoke]);
    let asked: Vec<BlockRequest> = sent_to(&out, key)
        .into_iter()
        .filter_map(|m| match m {
            Message::Request(r) => Some(r),
            _ => None,
        })
        .collect();
    assert_eq!(asked.len(), 8, "{out:?}");
    let late = Time::ZERO + core.cfg.request_timeout + Duration::from_secs(1);
    let mut out = Vec::new();
    core.on_tick(late, &mut out);
    for r in &asked {
        assert_eq!(count(&out, key, &Message::Cancel(*r)), 1, "{r:?}");
    }
    // Asked again, one at a time (it is snubbed now): the tick's request, or
    // that of the next bytes in.
    out.extend(feed_at(&mut core, late, key, &[]));
    let inflight = |core: &Core| -> Vec<BlockRequest> {
        core.peers[&key].inflight.iter().map(|f| f.req).collect()
    };
    let r = inflight(&core)[0];
    assert!(asked.contains(&r));

    // The reject answers the cancel: the request made since stands, and its
    // block is taken.
    feed_at(&mut core, late, key, &[Message::Reject(r)]);
    assert!(inflight(&core).contains(&r));
    feed_at(&mut core, late, key, &[block(r)]);
    let r2 = inflight(&core)[0];
    assert!(asked.contains(&r2) && r2 != r, "{r2:?}");
    // The block answers the cancel of `r2`: taken, and the request made
    // since is cancelled; the reject of that is the cancel's answer too.
    let out = feed_at(&mut core, late, key, &[block(r2)]);
    assert_eq!(count(&out, key, &Message::Cancel(r2)), 1, "{out:?}");
    feed_at(&mut core, late, key, &[Message::Reject(r2)]);
    let t = &core.torrents[&ih];
    assert_eq!(t.downloaded, 2 * 16384);
    assert_eq!(t.wasted, 0);
    assert!(core.peers[&key].cancelled.len() <= asked.len() - 2);
    assert!(
        !core.peers[&key]
            .inflight
            .iter()
            .any(|f| f.req == r || f.req == r2)
    );
}
