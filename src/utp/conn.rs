//! One uTP connection, sans IO: packets in ([`Conn::on_packet`]), datagrams out
//! ([`Conn::poll_transmit`]), bytes written and read by the application, time
//! passed in. Reliable and in order: sequence numbers, cumulative and selective
//! ACKs, fast resend after three duplicate ACKs or three packets selectively
//! acknowledged past a hole, resend on timeout, LEDBAT for the window.
//!
//! Bounds: the application's unsent bytes ([`SEND_BUFFER`]; `write` takes what
//! fits), packets held out of order ([`MAX_OUT_OF_ORDER`], the rest dropped and
//! resent by the peer), bytes received and not yet read ([`RECV_BUFFER`], also
//! the window we advertise).

use std::collections::VecDeque;
use std::time::Duration;

use super::congestion::Ledbat;
use super::packet::{HEADER, Header, Kind, MAX_SACK, seq_before};
use crate::types::Time;

/// Payload bytes per packet: with the header and a selective ACK, a datagram
/// stays under 1,400 bytes, inside any path's MTU (IPv6 and tunnels included).
pub const PAYLOAD: usize = 1400 - HEADER - 2 - MAX_SACK;
/// Unsent bytes a connection holds for the application.
pub const SEND_BUFFER: usize = 1 << 20;
/// Received bytes not yet read; the window we advertise is what is left of it.
pub const RECV_BUFFER: usize = 1 << 20;
/// Packets past a hole held for when it fills (one selective ACK's worth).
pub const MAX_OUT_OF_ORDER: usize = MAX_SACK * 8;
/// Timeouts in a row that end a connection (a SYN: fewer).
const MAX_TIMEOUTS: u32 = 7;
const MAX_SYN_TIMEOUTS: u32 = 3;
/// A connection quiet this long sends an ACK, so a NAT keeps its mapping.
const KEEPALIVE: Duration = Duration::from_secs(29);
/// An accepted connection the peer does not speak on within this is dropped.
const HALF_OPEN_TIMEOUT: Duration = Duration::from_secs(10);

/// Where a connection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Our SYN is out.
    SynSent,
    /// Their SYN came, our ACK is out: connected once they say more.
    SynRecv,
    /// Open both ways.
    Connected,
    /// Done: [`Conn::error`] says why if it was not a clean close.
    Closed,
}

/// Why a connection ended badly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ConnError {
    /// Packets went unacknowledged through every resend.
    #[error("uTP connection timed out")]
    TimedOut,
    /// The peer reset it.
    #[error("uTP connection reset by the peer")]
    Reset,
}

#[derive(Debug)]
struct Sent {
    seq: u16,
    kind: Kind,
    payload: Vec<u8>,
    sent_at: Time,
    transmissions: u32,
    /// Lost: goes out again before new data.
    resend: bool,
    /// Selectively acknowledged: held (not resent) until the cumulative ACK.
    sacked: bool,
    /// Already resent once for a selective ACK (a timeout resends it again).
    sack_resent: bool,
}

/// One connection.
#[derive(Debug)]
pub struct Conn {
    state: State,
    error: Option<ConnError>,
    /// Ids: packets to us carry `recv_id`, ours carry `send_id`.
    recv_id: u16,
    send_id: u16,
    /// Our next sequence number.
    seq_nr: u16,
    /// Their last packet received in order.
    ack_nr: u16,
    unsent: VecDeque<u8>,
    in_flight: VecDeque<Sent>,
    in_flight_bytes: usize,
    cc: Ledbat,
    /// Their advertised window.
    peer_window: u32,
    /// Out-of-order packets: `(seq, payload)` sorted by distance from `ack_nr`.
    held: Vec<(u16, Vec<u8>)>,
    held_bytes: usize,
    /// In-order bytes for the application.
    readable: VecDeque<u8>,
    /// Their clock minus ours when their last packet came (sent back to them).
    reply_micro: u32,
    /// An ACK is owed.
    ack_due: bool,
    dup_acks: u32,
    /// Losses at or after this sequence number count (one halving per window).
    loss_seq: u16,
    timeouts: u32,
    /// Our FIN: asked for, then its sequence number once sent.
    closing: bool,
    fin_seq: Option<u16>,
    /// Their FIN's sequence number; they sent nothing after it.
    peer_fin: Option<u16>,
    last_sent: Time,
    opened: Time,
}

/// Our clock for the wire, in microseconds (wrapping).
fn micros(now: Time) -> u32 {
    // The low 32 bits: the wire's clock wraps every 71 minutes.
    (now.0 / 1_000).to_le_bytes()[..4]
        .try_into()
        .map(u32::from_le_bytes)
        .unwrap_or(0)
}

impl Conn {
    /// A connection we open: `poll_transmit` gives its SYN. `recv_id` must be
    /// free for the peer's address; `seq` is our first sequence number (random).
    pub fn connect(now: Time, recv_id: u16, seq: u16) -> Conn {
        let mut c = Conn::new(
            now,
            recv_id,
            recv_id.wrapping_add(1),
            seq,
            0,
            State::SynSent,
        );
        c.queue(now, Kind::Syn, Vec::new());
        c
    }

    /// A connection the peer opens with `syn`; our ACK is due at once.
    pub fn accept(now: Time, syn: &Header, seq: u16) -> Conn {
        let mut c = Conn::new(
            now,
            syn.conn_id.wrapping_add(1),
            syn.conn_id,
            seq,
            syn.seq_nr,
            State::SynRecv,
        );
        c.reply_micro = micros(now).wrapping_sub(syn.timestamp);
        c.peer_window = syn.wnd_size;
        c.ack_due = true;
        c
    }

    fn new(now: Time, recv_id: u16, send_id: u16, seq: u16, ack: u16, state: State) -> Conn {
        Conn {
            state,
            error: None,
            recv_id,
            send_id,
            seq_nr: seq,
            ack_nr: ack,
            unsent: VecDeque::new(),
            in_flight: VecDeque::new(),
            in_flight_bytes: 0,
            cc: Ledbat::new(PAYLOAD),
            peer_window: 1 << 20, // RECV_BUFFER's, until they say
            held: Vec::new(),
            held_bytes: 0,
            readable: VecDeque::new(),
            reply_micro: 0,
            ack_due: false,
            dup_acks: 0,
            loss_seq: seq,
            timeouts: 0,
            closing: false,
            fin_seq: None,
            peer_fin: None,
            last_sent: now,
            opened: now,
        }
    }

    /// Where it is.
    pub fn state(&self) -> State {
        self.state
    }

    /// Why it closed, if not cleanly.
    pub fn error(&self) -> Option<ConnError> {
        self.error
    }

    /// The id the peer's packets carry.
    pub fn recv_id(&self) -> u16 {
        self.recv_id
    }

    /// The congestion state (window, delays), for stats and tests.
    pub fn congestion(&self) -> &Ledbat {
        &self.cc
    }

    /// Queues `data` for sending; returns how much fit.
    pub fn write(&mut self, data: &[u8]) -> usize {
        if self.closing || self.state == State::Closed {
            return 0;
        }
        let n = data.len().min(SEND_BUFFER - self.unsent.len());
        self.unsent.extend(&data[..n]);
        n
    }

    /// Room for [`Conn::write`].
    pub fn writable(&self) -> usize {
        SEND_BUFFER - self.unsent.len()
    }

    /// Bytes written and not yet acknowledged.
    pub fn pending(&self) -> usize {
        self.unsent.len() + self.in_flight_bytes
    }

    /// Takes the bytes received in order.
    pub fn read(&mut self, out: &mut Vec<u8>) {
        let had = self.readable.len();
        let (a, b) = self.readable.as_slices();
        out.extend_from_slice(a);
        out.extend_from_slice(b);
        self.readable.clear();
        // A window that was shut opens again: say so.
        if had > 0 && self.advertised() as usize <= PAYLOAD + had {
            self.ack_due = true;
        }
    }

    /// The peer sent FIN and every byte before it has been read.
    pub fn at_eof(&self) -> bool {
        self.peer_fin.is_some_and(|f| f == self.ack_nr) && self.readable.is_empty()
    }

    /// Our FIN went out and everything up to it is acknowledged.
    pub fn is_done(&self) -> bool {
        self.fin_seq.is_some() && self.in_flight.is_empty()
    }

    /// Sends FIN after what is queued; the connection closes once it is
    /// acknowledged.
    pub fn close(&mut self) {
        self.closing = true;
    }

    fn advertised(&self) -> u32 {
        u32::try_from(RECV_BUFFER.saturating_sub(self.readable.len() + self.held_bytes))
            .unwrap_or(0)
    }

    fn fail(&mut self, why: ConnError) {
        self.state = State::Closed;
        self.error = Some(why);
        self.unsent.clear();
        self.in_flight.clear();
        self.in_flight_bytes = 0;
    }

    /// A packet for this connection (its id already matched).
    pub fn on_packet(&mut self, now: Time, h: &Header, payload: &[u8]) {
        if self.state == State::Closed {
            return;
        }
        if h.kind == Kind::Reset {
            self.fail(ConnError::Reset);
            return;
        }
        self.reply_micro = micros(now).wrapping_sub(h.timestamp);
        self.peer_window = h.wnd_size;
        self.timeouts = 0;
        match (self.state, h.kind) {
            (State::SynSent, Kind::State) => {
                // Their first packet will carry this number.
                self.ack_nr = h.seq_nr.wrapping_sub(1);
                self.state = State::Connected;
            }
            (State::SynSent, _) => return,
            (State::SynRecv, Kind::Syn) => {
                // Our ACK was lost: send it again.
                self.ack_due = true;
                return;
            }
            (State::SynRecv, _) => self.state = State::Connected,
            _ => {}
        }
        self.on_ack(now, h);
        match h.kind {
            Kind::Data | Kind::Fin => self.on_data(h, payload),
            _ => {}
        }
        if self.fin_seq.is_some() && self.in_flight.is_empty() && self.peer_fin.is_some() {
            self.state = State::Closed;
        }
    }

    /// What `h` acknowledges: everything up to `ack_nr`, and its selective ACK.
    fn on_ack(&mut self, now: Time, h: &Header) {
        let before = self.in_flight_bytes;
        let mut acked = 0;
        let mut newly = false;
        while let Some(p) = self.in_flight.front() {
            if seq_before(h.ack_nr, p.seq) {
                break;
            }
            let p = self.in_flight.pop_front().expect("front exists");
            self.in_flight_bytes -= p.payload.len();
            if !p.sacked {
                acked += self.acked(now, &p);
            }
            newly = true;
        }
        // Selectively acknowledged (bit i is ack_nr + 2 + i): counted for the
        // window, but held until the cumulative ACK passes them: the peer keeps
        // them out of order, so they still take room in its buffer.
        if !h.sack.is_empty() {
            for i in 0..self.in_flight.len() {
                let p = &self.in_flight[i];
                let bit = usize::from(p.seq.wrapping_sub(h.ack_nr).wrapping_sub(2));
                let set = bit < h.sack.len() * 8 && h.sack[bit / 8] & (1 << (bit % 8)) != 0;
                if set && !p.sacked {
                    let p = &mut self.in_flight[i];
                    p.sacked = true;
                    p.resend = false;
                    let (kind, len, once, sent_at) =
                        (p.kind, p.payload.len(), p.transmissions == 1, p.sent_at);
                    acked += len;
                    if once {
                        self.cc.on_rtt(now.since(sent_at));
                    }
                    debug_assert!(kind != Kind::Syn);
                }
            }
        }
        if acked > 0 {
            self.cc.on_ack(now, acked, h.timestamp_diff, before);
        }
        if newly {
            self.dup_acks = 0;
        } else if h.kind == Kind::State && !self.in_flight.is_empty() {
            self.dup_acks += 1;
        }
        // Lost: the oldest after three duplicate ACKs, and any packet three
        // later ones were selectively acknowledged past.
        let mut lost = false;
        if self.dup_acks >= 3
            && let Some(first) = self.in_flight.front_mut()
            && !first.resend
            && first.transmissions > 0
        {
            first.resend = true;
            self.dup_acks = 0;
            lost = true;
        }
        let mut later = 0;
        for p in self.in_flight.iter_mut().rev() {
            if p.sacked {
                later += 1;
            } else if later >= 3 && !p.resend && p.transmissions > 0 && !p.sack_resent {
                p.resend = true;
                p.sack_resent = true;
                lost = true;
            }
        }
        if lost
            && let Some(first) = self.in_flight.front()
            && !seq_before(first.seq, self.loss_seq)
        {
            // One halving per window of packets.
            self.cc.on_loss();
            self.loss_seq = self.seq_nr;
        }
    }

    /// A packet acknowledged for the first time; returns its bytes.
    fn acked(&mut self, now: Time, p: &Sent) -> usize {
        if p.transmissions == 1 {
            self.cc.on_rtt(now.since(p.sent_at));
        }
        if p.kind == Kind::Syn && self.state == State::SynSent {
            self.state = State::Connected;
        }
        p.payload.len()
    }

    fn on_data(&mut self, h: &Header, payload: &[u8]) {
        self.ack_due = true;
        if self.peer_fin.is_some_and(|f| seq_before(f, h.seq_nr)) {
            return; // nothing counts after their FIN
        }
        let next = self.ack_nr.wrapping_add(1);
        if h.seq_nr != next {
            let ahead = h.seq_nr.wrapping_sub(next);
            let fits = usize::from(ahead) <= MAX_OUT_OF_ORDER
                && self.held_bytes + payload.len() + self.readable.len() <= RECV_BUFFER;
            if seq_before(next, h.seq_nr) && fits && !self.held.iter().any(|x| x.0 == h.seq_nr) {
                self.held_bytes += payload.len();
                if h.kind == Kind::Fin {
                    self.peer_fin = Some(h.seq_nr);
                }
                self.held.push((h.seq_nr, payload.to_vec()));
                self.held.sort_by_key(|x| x.0.wrapping_sub(next));
            }
            return;
        }
        if self.readable.len() + payload.len() > RECV_BUFFER {
            return; // over the window we gave: they resend later
        }
        self.take(h.seq_nr, h.kind == Kind::Fin, payload);
        // What was held and now follows.
        while let Some(i) = self
            .held
            .iter()
            .position(|x| x.0 == self.ack_nr.wrapping_add(1))
        {
            let (seq, data) = self.held.remove(i);
            self.held_bytes -= data.len();
            let fin = self.peer_fin == Some(seq);
            self.take(seq, fin, &data);
        }
    }

    fn take(&mut self, seq: u16, fin: bool, payload: &[u8]) {
        self.ack_nr = seq;
        if fin {
            self.peer_fin = Some(seq);
        } else {
            self.readable.extend(payload);
        }
    }

    /// The selective ACK of what is held past the hole, if anything is.
    fn sack(&self) -> Vec<u8> {
        if self.held.is_empty() {
            return Vec::new();
        }
        let mut bits = vec![0u8; MAX_SACK];
        for (seq, _) in &self.held {
            let i = usize::from(seq.wrapping_sub(self.ack_nr).wrapping_sub(2));
            if i < MAX_SACK * 8 {
                bits[i / 8] |= 1 << (i % 8);
            }
        }
        bits
    }

    fn header(&self, now: Time, kind: Kind, seq: u16) -> Header {
        Header {
            kind,
            conn_id: if kind == Kind::Syn {
                self.recv_id
            } else {
                self.send_id
            },
            timestamp: micros(now),
            timestamp_diff: self.reply_micro,
            wnd_size: self.advertised(),
            seq_nr: seq,
            ack_nr: self.ack_nr,
            sack: if kind == Kind::Syn {
                Vec::new()
            } else {
                self.sack()
            },
        }
    }

    fn queue(&mut self, now: Time, kind: Kind, payload: Vec<u8>) {
        self.in_flight_bytes += payload.len();
        self.in_flight.push_back(Sent {
            seq: self.seq_nr,
            kind,
            payload,
            sent_at: now,
            transmissions: 0,
            resend: true,
            sacked: false,
            sack_resent: false,
        });
        self.seq_nr = self.seq_nr.wrapping_add(1);
    }

    /// The next datagram to send, if any, appended to `out` (cleared first).
    /// Call until it returns `false`.
    pub fn poll_transmit(&mut self, now: Time, out: &mut Vec<u8>) -> bool {
        out.clear();
        if self.state == State::Closed {
            return false;
        }
        // Lost or never sent packets first, in order, as the window allows
        // (the oldest always: a shut window must not stall a resend).
        let window = self.cc.window().min(self.peer_window as usize).max(PAYLOAD);
        let mut sent_bytes = 0;
        for i in 0..self.in_flight.len() {
            let p = &self.in_flight[i];
            if p.resend && (i == 0 || sent_bytes + p.payload.len() <= window) {
                let h = self.header(now, p.kind, p.seq);
                h.encode(out);
                let p = &mut self.in_flight[i];
                out.extend_from_slice(&p.payload);
                p.resend = false;
                p.transmissions += 1;
                p.sent_at = now;
                return self.sent(now);
            }
            sent_bytes += p.payload.len();
        }
        // Not before the peer spoke after our SYN-ACK: that ACK names our first
        // sequence number, and data sent ahead of it would be skipped.
        if self.state == State::Connected {
            if !self.unsent.is_empty()
                && self.in_flight_bytes + PAYLOAD.min(self.unsent.len()) <= window
            {
                let n = self.unsent.len().min(PAYLOAD);
                let mut payload = Vec::with_capacity(n);
                let (a, b) = self.unsent.as_slices();
                payload.extend_from_slice(&a[..n.min(a.len())]);
                payload.extend_from_slice(&b[..n - n.min(a.len())]);
                self.unsent.drain(..n);
                self.queue(now, Kind::Data, payload);
                return self.poll_transmit(now, out);
            }
            if self.closing && self.unsent.is_empty() && self.fin_seq.is_none() {
                self.fin_seq = Some(self.seq_nr);
                self.queue(now, Kind::Fin, Vec::new());
                return self.poll_transmit(now, out);
            }
        }
        if self.ack_due || now.since(self.last_sent) >= KEEPALIVE {
            self.header(now, Kind::State, self.seq_nr).encode(out);
            return self.sent(now);
        }
        false
    }

    fn sent(&mut self, now: Time) -> bool {
        self.ack_due = false;
        self.last_sent = now;
        true
    }

    /// When [`Conn::on_timeout`] should next run.
    pub fn deadline(&self) -> Option<Time> {
        if self.state == State::Closed {
            return None;
        }
        if self.state == State::SynRecv {
            return Some(self.opened + HALF_OPEN_TIMEOUT);
        }
        let resend = self.in_flight.front().map(|p| p.sent_at + self.cc.rto());
        Some(resend.unwrap_or(self.last_sent + KEEPALIVE))
    }

    /// Time passed: the oldest packet unacknowledged for a timeout goes again
    /// (with every other in flight), or the connection ends after too many.
    pub fn on_timeout(&mut self, now: Time) {
        if self.state == State::SynRecv && now.since(self.opened) >= HALF_OPEN_TIMEOUT {
            self.fail(ConnError::TimedOut);
            return;
        }
        let Some(first) = self.in_flight.front() else {
            return;
        };
        if first.transmissions == 0 || now.since(first.sent_at) < self.cc.rto() {
            return;
        }
        self.timeouts += 1;
        let limit = if self.state == State::SynSent {
            MAX_SYN_TIMEOUTS
        } else {
            MAX_TIMEOUTS
        };
        if self.timeouts > limit {
            self.fail(ConnError::TimedOut);
            return;
        }
        self.cc.on_timeout();
        for p in self.in_flight.iter_mut().filter(|p| !p.sacked) {
            p.resend = true;
        }
    }

    /// A RESET for the peer, if one should answer an unexpected packet.
    pub fn reset_packet(now: Time, to: &Header, out: &mut Vec<u8>) {
        out.clear();
        Header {
            kind: Kind::Reset,
            conn_id: to.conn_id,
            timestamp: micros(now),
            timestamp_diff: 0,
            wnd_size: 0,
            seq_nr: 0,
            ack_nr: to.seq_nr,
            sack: Vec::new(),
        }
        .encode(out);
    }
}
