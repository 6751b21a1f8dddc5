//! Message stream encryption (MSE/PE) on the core's connections: which
//! connections use it, the handshakes of [`crate::proto::mse`] run per peer, and
//! the RC4 streams that decrypt what a peer sends and encrypt what we send.
//!
//! Rules:
//! - an accepted connection whose first bytes are not `\x13BitTorrent protocol`
//!   is an MSE handshake (unless encryption is disabled); one that is a plaintext
//!   handshake is refused when encryption is required;
//! - we dial with MSE first unless encryption is disabled; an MSE attempt that
//!   fails before its handshake is done makes the next attempt at that address
//!   plaintext, at once and without counting as a failure (not when encryption
//!   is required, nor for a peer that said it prefers encryption: the `e` flag of
//!   peer exchange and of the extension handshake); a failed plaintext attempt
//!   makes the next one MSE again;
//! - the answer that ends a handshake we answered leaves with the first bytes
//!   sent after it (`prefix`), and everything sent on an RC4 connection is
//!   encrypted once, in order, by [`Core::seal_sends`] after each call into the
//!   core (so no code that sends needs to know about encryption).

use std::borrow::Cow;

use super::*;
use crate::proto::mse::{
    self, CRYPTO_PLAINTEXT, CRYPTO_RC4, Cipher, Initiator, MAX_PAD, Methods, Progress, Responder,
};
use crate::proto::pex::FLAG_ENCRYPTION;

/// Whether and how connections are encrypted (configuration names in snake
/// case; `enabled` is `prefer_plaintext`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Encryption {
    /// Plain BitTorrent only: MSE handshakes are not answered.
    Disabled,
    /// Both accepted; after an MSE handshake the payload stays in the clear when
    /// the other side allows it (the obfuscated handshake is what shapers see).
    #[default]
    #[serde(alias = "enabled")]
    PreferPlaintext,
    /// Both accepted; RC4 chosen whenever the other side offers it.
    #[serde(rename = "prefer_encrypted")]
    PreferRc4,
    /// MSE with RC4 only, both ways; plaintext handshakes are refused.
    Required,
}

impl Encryption {
    fn methods(self) -> Methods {
        Methods {
            allow: self.provide(),
            prefer_rc4: matches!(self, Encryption::PreferRc4 | Encryption::Required),
        }
    }

    fn provide(self) -> u32 {
        match self {
            Encryption::Required => CRYPTO_RC4,
            _ => CRYPTO_RC4 | CRYPTO_PLAINTEXT,
        }
    }
}

/// A connection's encryption (boxed in its peer: most peers have none).
#[derive(Debug)]
pub(crate) enum Crypt {
    /// Our MSE handshake on a connection we opened.
    Dialling(Initiator),
    /// Answering an MSE handshake on a connection we accepted.
    Answering(Responder),
    /// Handshake done.
    Done {
        /// The torrent the handshake named.
        info_hash: InfoHash,
        /// RC4 both ways (else plaintext after the handshake).
        rc4: bool,
        rx: Option<Cipher>,
        tx: Option<Cipher>,
        /// Bytes that go out before the next send (our answer's end).
        prefix: Vec<u8>,
    },
}

impl super::Peer {
    /// Whether what the core sends this peer reaches its socket unchanged: TCP
    /// (not uTP, not a web seed), and no RC4 and no handshake answer waiting to
    /// go first. Only then may a block go straight from a file.
    pub(super) fn stream_is_plain_tcp(&self) -> bool {
        self.transport == super::Transport::Tcp
            && self.web.is_none()
            && match self.crypt.as_deref() {
                None => true,
                Some(Crypt::Done { tx, prefix, .. }) => tx.is_none() && prefix.is_empty(),
                Some(_) => false,
            }
    }
}

/// How an MSE dialler names torrent `ih`.
pub fn req2(ih: InfoHash) -> [u8; 20] {
    mse::hash(&[b"req2", &ih.0])
}

impl Core {
    /// A new answerer for an MSE handshake on an accepted connection (the router of
    /// a driver with several cores runs it until the torrent is known).
    pub fn mse_answerer(&mut self) -> Responder {
        let (secret, pad_b, pad_d) = (self.mse_secret(), self.pad(), self.pad());
        Responder::new(secret, self.cfg.encryption.methods(), pad_b, pad_d)
    }

    /// A connection accepted by a router that has begun its MSE handshake
    /// ([`Core::mse_answerer`]); `None`: refused by the caps. The driver then
    /// hands it an [`Event::Data`] (empty, if nothing more was read) to go on.
    pub fn on_incoming_mse(
        &mut self,
        now: Time,
        addr: SocketAddr,
        answer: Box<Responder>,
    ) -> Option<PeerKey> {
        let key = self.on_incoming(now, addr)?;
        let p = self.peers.get_mut(&key).expect("just added");
        p.crypt = Some(Box::new(Crypt::Answering(*answer)));
        Some(key)
    }

    /// 20 bytes for a Diffie-Hellman private key: SHA-1 of the configured secret
    /// and a counter (the core's seeded generator is predictable by design).
    fn mse_secret(&mut self) -> [u8; 20] {
        self.mse_keys += 1;
        mse::hash(&[&self.cfg.secret, &self.mse_keys.to_be_bytes()])
    }

    /// Random padding of 0 to 512 bytes.
    fn pad(&mut self) -> Vec<u8> {
        let n = self.rng.below(MAX_PAD as u64 + 1);
        (0..n)
            .map(|_| self.rng.next_u64().to_le_bytes()[0])
            .collect()
    }

    /// Whether our next attempt at `addr` for `ih` starts with MSE.
    pub(super) fn dial_encrypted(&self, ih: InfoHash, addr: SocketAddr) -> bool {
        match self.cfg.encryption {
            Encryption::Disabled => false,
            Encryption::Required => true,
            _ => !(self.torrents.get(&ih))
                .and_then(|t| t.addrs.get(&addr))
                .is_some_and(|a| a.plain_next),
        }
    }

    /// Our side of a connection we opened: MSE step 1, our BitTorrent handshake
    /// travelling inside step 3.
    pub(super) fn start_dialling(
        &mut self,
        key: PeerKey,
        ih: InfoHash,
        handshake: Vec<u8>,
        out: &mut Vec<Action>,
    ) {
        let (secret, pad_a, pad_c) = (self.mse_secret(), self.pad(), self.pad());
        let provide = self.cfg.encryption.provide();
        let (m, step1) = Initiator::start(secret, ih, provide, handshake, &pad_a, pad_c);
        if let Some(p) = self.peers.get_mut(&key) {
            p.crypt = Some(Box::new(Crypt::Dialling(m)));
        }
        out.push(Action::Send {
            peer: key,
            bytes: step1,
        });
    }

    /// What of `bytes` the BitTorrent layer reads: decrypted, or the payload that
    /// followed a finished MSE handshake. `None`: nothing for it (a handshake in
    /// progress, or the peer was closed).
    pub(super) fn unwrap_incoming<'a>(
        &mut self,
        key: PeerKey,
        bytes: &'a [u8],
        out: &mut Vec<Action>,
    ) -> Option<Cow<'a, [u8]>> {
        let p = self.peers.get_mut(&key)?;
        if p.crypt.is_none() {
            if p.outbound || p.phase != Phase::Handshake || p.handshake_buf.len() >= 20 {
                return Some(Cow::Borrowed(bytes));
            }
            // An accepted connection's first bytes: a plaintext handshake or MSE.
            let probe: Vec<u8> = p
                .handshake_buf
                .iter()
                .chain(bytes)
                .take(20)
                .copied()
                .collect();
            let mode = self.cfg.encryption;
            if Handshake::could_begin(&probe) || mode == Encryption::Disabled {
                if probe.len() == 20 && mode == Encryption::Required {
                    let why = "plaintext handshake refused: encryption is required";
                    self.close(key, CloseReason::Protocol(why.into()), out);
                    return None;
                }
                return Some(Cow::Borrowed(bytes));
            }
            let mut first = std::mem::take(&mut p.handshake_buf);
            first.extend_from_slice(bytes);
            let answer = self.mse_answerer();
            let p = self.peers.get_mut(&key).expect("looked up above");
            p.crypt = Some(Box::new(Crypt::Answering(answer)));
            return self
                .feed_crypt(key, &first, out)
                .map(|b| Cow::Owned(b.into_owned()));
        }
        self.feed_crypt(key, bytes, out)
    }

    fn feed_crypt<'a>(
        &mut self,
        key: PeerKey,
        bytes: &'a [u8],
        out: &mut Vec<Action>,
    ) -> Option<Cow<'a, [u8]>> {
        let skeys = &self.names;
        let p = self.peers.get_mut(&key)?;
        let crypt = p.crypt.as_deref_mut()?;
        let mut wire = Vec::new();
        let progress = match crypt {
            Crypt::Done { rx: None, .. } => return Some(Cow::Borrowed(bytes)),
            Crypt::Done { rx: Some(rx), .. } => {
                let mut plain = bytes.to_vec();
                rx.apply(&mut plain);
                return Some(Cow::Owned(plain));
            }
            Crypt::Dialling(m) => m.feed(bytes, &mut wire),
            Crypt::Answering(m) => m.feed(bytes, &mut wire, &|h| skeys.by_req2(h)),
        };
        match progress {
            Err(e) => {
                let why = format!("encryption handshake: {e}");
                self.close(key, CloseReason::Protocol(why), out);
                None
            }
            Ok(Progress::More) => {
                if !wire.is_empty() {
                    out.push(Action::Send {
                        peer: key,
                        bytes: wire,
                    });
                }
                None
            }
            Ok(Progress::Done(est)) => {
                let answered = !wire.is_empty();
                *crypt = Crypt::Done {
                    info_hash: est.info_hash,
                    rc4: est.rc4,
                    rx: est.rx,
                    tx: est.tx,
                    prefix: wire,
                };
                if answered {
                    // Step 4 must leave even if nothing else is sent yet.
                    out.push(Action::Send {
                        peer: key,
                        bytes: Vec::new(),
                    });
                }
                Some(Cow::Owned(est.payload))
            }
        }
    }

    /// Drops what would be sent to web seeds (they take no wire messages),
    /// encrypts what goes to RC4 peers, puts a finished handshake's answer in
    /// front of the first send after it, and counts every byte against its peer's
    /// send backlog until the driver reports it [`Event::Sent`]. Run once over
    /// the actions (from `start`) of every call into the core.
    pub(super) fn seal_sends(&mut self, out: &mut Vec<Action>, start: usize) {
        let mut to_web = false;
        for a in &mut out[start..] {
            let Action::Send { peer, bytes } = a else {
                continue;
            };
            let Some(p) = self.peers.get_mut(peer) else {
                continue;
            };
            if p.web.is_some() {
                to_web = true;
                continue;
            }
            if let Some(Crypt::Done { tx, prefix, .. }) = p.crypt.as_deref_mut() {
                if let Some(tx) = tx {
                    tx.apply(bytes);
                }
                if !prefix.is_empty() {
                    let mut all = std::mem::take(prefix);
                    all.extend_from_slice(bytes);
                    *bytes = all;
                }
            }
            p.send_backlog += bytes.len();
        }
        if to_web {
            let peers = &self.peers;
            // `retain` visits each action once, in order.
            let mut at = 0;
            out.retain(|a| {
                at += 1;
                at <= start
                    || !matches!(a, Action::Send { peer, .. }
                        if peers.get(peer).is_some_and(|p| p.web.is_some()))
            });
        }
    }

    /// An attempt of ours closed before its handshake finished: which way to try
    /// the address next (see the module rules). `true`: try again at once, and do
    /// not count this attempt as a failure.
    pub(super) fn after_failed_dial(&mut self, p: &Peer) -> bool {
        let Some(a) = (p.info_hash)
            .and_then(|ih| self.torrents.get_mut(&ih))
            .and_then(|t| t.addrs.get_mut(&p.addr))
        else {
            return false;
        };
        match p.crypt.as_deref() {
            Some(Crypt::Dialling(_))
                if self.cfg.encryption != Encryption::Required
                    && a.flags & FLAG_ENCRYPTION == 0
                    && !a.plain_next =>
            {
                a.plain_next = true;
                a.last_attempt = None;
                true
            }
            None => {
                a.plain_next = false;
                false
            }
            _ => false,
        }
    }
}

impl Peer {
    /// How the connection is encrypted: `none`, `mse` (plaintext after an MSE
    /// handshake), `rc4`, or `handshake` (MSE under way).
    pub fn encryption(&self) -> &'static str {
        match self.crypt.as_deref() {
            None => "none",
            Some(Crypt::Done { rc4: true, .. }) => "rc4",
            Some(Crypt::Done { rc4: false, .. }) => "mse",
            Some(_) => "handshake",
        }
    }

    /// The torrent an MSE handshake named, once done.
    pub fn mse_torrent(&self) -> Option<InfoHash> {
        match self.crypt.as_deref() {
            Some(Crypt::Done { info_hash, .. }) => Some(*info_hash),
            _ => None,
        }
    }
}
