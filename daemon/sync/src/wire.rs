//! Frames on the wire: one frame too large for a message travels in parts, a
//! peer's frames are held to a budget, and a frame can be said in a few words
//! for the log.

use std::time::{Duration, Instant};

use kp_proto::replication as rp;
use prost::Message;

use kp_core::ids::DocId;

use crate::SyncError;

/// The document id 16 bytes on the wire hold.
pub(crate) fn doc_id(bytes: &[u8]) -> Result<DocId, String> {
    <[u8; 16]>::try_from(bytes)
        .map(DocId::from_bytes)
        .map_err(|_| "a document id is not 16 bytes".to_owned())
}

/// A frame with `body`.
pub(crate) fn frame(body: rp::frame::Body) -> rp::Frame {
    rp::Frame { body: Some(body) }
}

/// Splits a frame too large for one message into parts.
pub fn split(f: rp::Frame, max_frame: usize) -> Vec<rp::Frame> {
    // Room for the part's own framing.
    let chunk = max_frame.saturating_sub(64).max(1024);
    if f.encoded_len() <= chunk {
        return vec![f];
    }
    let bytes = f.encode_to_vec();
    let n = bytes.len().div_ceil(chunk);
    bytes
        .chunks(chunk)
        .enumerate()
        .map(|(i, data)| {
            frame(rp::frame::Body::Part(rp::Part {
                data: data.to_vec(),
                last: i + 1 == n,
            }))
        })
        .collect()
}

/// Reassembles frames sent in parts.
#[derive(Debug, Default)]
pub struct Assembler {
    buf: Vec<u8>,
}

impl Assembler {
    /// A received frame: `Some` complete frame, or `None` while parts are missing.
    /// A frame that is more than `max` bytes once whole, a malformed or nested
    /// part, or a frame between the parts of another, ends the session.
    pub fn push(&mut self, f: rp::Frame, max: usize) -> Result<Option<rp::Frame>, SyncError> {
        match f.body {
            Some(rp::frame::Body::Part(p)) => {
                if self.buf.len() + p.data.len() > max {
                    return Err(format!("the peer sent a frame of more than {max} bytes").into());
                }
                self.buf.extend_from_slice(&p.data);
                if !p.last {
                    return Ok(None);
                }
                let whole =
                    rp::Frame::decode(std::mem::take(&mut self.buf).as_slice()).map_err(|e| {
                        SyncError::Peer(format!("the peer sent a malformed frame in parts: {e}"))
                    })?;
                if matches!(whole.body, Some(rp::frame::Body::Part(_))) {
                    return Err(SyncError::Peer("the peer nested parts of frames".into()));
                }
                Ok(Some(whole))
            }
            _ if !self.buf.is_empty() => Err(SyncError::Peer(
                "the peer interleaved a frame with the parts of another".into(),
            )),
            _ => Ok(Some(f)),
        }
    }
}

/// A token bucket over the frames a peer sends: `rate` a second, bursts of
/// four seconds' worth.
#[derive(Debug)]
pub struct Budget {
    rate: f64,
    tokens: f64,
    at: Instant,
    /// The flood was said (once a session).
    told: bool,
}

impl Budget {
    /// A full budget at `now`.
    pub fn new(rate: u32, now: Instant) -> Self {
        let rate = f64::from(rate.max(1));
        Self {
            rate,
            tokens: rate * 4.0,
            at: now,
            told: false,
        }
    }

    /// Takes `n` frames from the budget at `now`; how long to wait if it is
    /// overdrawn.
    pub fn spend(&mut self, n: usize, now: Instant) -> Option<Duration> {
        let refill = now.duration_since(self.at).as_secs_f64() * self.rate;
        self.tokens = (self.tokens + refill).min(self.rate * 4.0) - n as f64;
        self.at = now;
        (self.tokens < 0.0).then(|| Duration::from_secs_f64(-self.tokens / self.rate))
    }

    /// True the first time it is asked: a flood is said once a session.
    pub fn first_overdraft(&mut self) -> bool {
        !std::mem::replace(&mut self.told, true)
    }
}

/// A frame in a few words, for the trace log.
pub fn describe(f: &rp::Frame) -> String {
    use rp::frame::Body as B;
    let id = |b: &[u8]| doc_id(b).map(|d| d.to_string()).unwrap_or_default();
    match &f.body {
        Some(B::Summary(s)) => format!("summary full={} docs={}", s.full, s.docs.len()),
        Some(B::Whole(w)) => format!("whole {}", id(&w.doc)),
        Some(B::Sync(m)) => format!("sync {} {}b", id(&m.doc), m.message.len()),
        Some(B::Want(w)) => format!("want {}", id(&w.doc)),
        Some(B::Refusal(r)) => format!("refusal {}: {}", id(&r.doc), r.reason),
        Some(B::Heartbeat(_)) => "heartbeat".into(),
        other => format!("{other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flooding_peer_is_held_to_its_frame_budget() {
        let t0 = Instant::now();
        let mut b = Budget::new(10, t0);
        // A burst of four seconds' worth passes at once.
        assert_eq!(b.spend(40, t0), None);
        // Then each frame costs a tenth of a second.
        assert_eq!(b.spend(10, t0), Some(Duration::from_secs(1)));
        assert_eq!(
            b.spend(10, t0 + Duration::from_secs(1)),
            Some(Duration::from_secs(1))
        );
        // A quiet peer earns its burst back, and no more.
        let later = t0 + Duration::from_secs(60);
        assert_eq!(b.spend(40, later), None);
        assert!(b.spend(1, later).is_some());
    }
}
