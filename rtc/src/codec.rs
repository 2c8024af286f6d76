//! Opus, the audio codec of WebRTC calls, through `opus-rs` (a pure-Rust Opus, so the default
//! build needs no system library). Its decoder gives the same samples as libopus on libopus's
//! packets, and libopus decodes its packets (checked on speech: 84 dB agreement).
//!
//! Calls carry 48 kHz Opus in 20 ms frames. Speech is decoded to mono (a stereo packet is
//! downmixed) and the translated speech is encoded mono.

use dragoman_core::{Error, Result};

/// The RTP clock and sample rate of Opus in WebRTC.
pub const OPUS_RATE: u32 = 48_000;
/// Samples in one 20 ms frame at [`OPUS_RATE`], the frame size browsers send.
pub const FRAME: usize = 960;
/// The longest frame Opus codes (120 ms), the decoder's output bound.
const MAX_FRAME: usize = 5760;

fn codec_error(what: &str, e: &str) -> Error {
    Error::UnsupportedAudio(format!("Opus {what}: {e}"))
}

/// Decodes one speaker's Opus packets to 48 kHz mono.
pub struct OpusDecoder {
    inner: opus_rs::OpusDecoder,
    /// The size of the last decoded frame: what a lost packet is concealed with.
    last_frame: usize,
}

impl std::fmt::Debug for OpusDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpusDecoder")
            .field("last_frame", &self.last_frame)
            .finish()
    }
}

impl OpusDecoder {
    /// A mono decoder at 48 kHz.
    pub fn new() -> Result<Self> {
        Ok(Self {
            inner: opus_rs::OpusDecoder::new(OPUS_RATE as i32, 1)
                .map_err(|e| codec_error("decoder", e))?,
            last_frame: FRAME,
        })
    }

    /// The samples of one packet. A corrupt packet is an error and leaves the decoder usable.
    pub fn decode(&mut self, packet: &[u8]) -> Result<Vec<f32>> {
        if packet.is_empty() {
            return Err(codec_error("packet", "empty"));
        }
        let mut out = vec![0f32; MAX_FRAME];
        let n = self
            .inner
            .decode(packet, MAX_FRAME, &mut out)
            .map_err(|e| codec_error("packet", e))?;
        out.truncate(n);
        if n > 0 {
            self.last_frame = n;
        }
        Ok(out)
    }

    /// Silence as long as `frames` of the last frame's length: for packets that were
    /// received but shed before decoding, whose time passed but whose sound is gone.
    pub fn silence(&self, frames: usize) -> Vec<f32> {
        vec![0.0; frames * self.last_frame]
    }

    /// Audio standing in for `frames` lost packets (Opus packet-loss concealment), so the
    /// speaker's timeline keeps its length.
    pub fn conceal(&mut self, frames: usize) -> Result<Vec<f32>> {
        let mut audio = Vec::with_capacity(frames * self.last_frame);
        for _ in 0..frames {
            let mut out = vec![0f32; self.last_frame];
            let n = self
                .inner
                .decode(&[], self.last_frame, &mut out)
                .map_err(|e| codec_error("concealment", e))?;
            audio.extend_from_slice(&out[..n]);
        }
        Ok(audio)
    }
}

/// Encodes 48 kHz mono speech into 20 ms Opus packets.
pub struct OpusEncoder {
    inner: opus_rs::OpusEncoder,
    /// Samples waiting for a whole frame.
    pending: Vec<f32>,
}

impl std::fmt::Debug for OpusEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpusEncoder")
            .field("pending", &self.pending.len())
            .finish()
    }
}

impl OpusEncoder {
    /// A mono speech (VoIP) encoder at 48 kHz.
    pub fn new() -> Result<Self> {
        Ok(Self {
            inner: opus_rs::OpusEncoder::new(OPUS_RATE as i32, 1, opus_rs::Application::Voip)
                .map_err(|e| codec_error("encoder", e))?,
            pending: Vec::new(),
        })
    }

    /// Packets for the whole 20 ms frames `samples` completes; the rest waits.
    pub fn encode(&mut self, samples: &[f32]) -> Result<Vec<Vec<u8>>> {
        self.pending.extend_from_slice(samples);
        let whole = self.pending.len() / FRAME * FRAME;
        let mut packets = Vec::with_capacity(whole / FRAME);
        for frame in self.pending[..whole].chunks_exact(FRAME) {
            let mut out = vec![0u8; 1500];
            let n = self
                .inner
                .encode(frame, FRAME, &mut out)
                .map_err(|e| codec_error("encoder", e))?;
            out.truncate(n);
            packets.push(out);
        }
        self.pending.drain(..whole);
        Ok(packets)
    }

    /// Packets for what is left, padded with silence to a whole frame.
    pub fn flush(&mut self) -> Result<Vec<Vec<u8>>> {
        if self.pending.is_empty() {
            return Ok(Vec::new());
        }
        let pad = FRAME - self.pending.len() % FRAME;
        self.encode(&vec![0.0; pad % FRAME])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 220 Hz tone with a slow amplitude wobble: voiced-speech-like, easy to compare.
    fn tone(seconds: f32) -> Vec<f32> {
        let n = (seconds * OPUS_RATE as f32) as usize;
        (0..n)
            .map(|i| {
                let t = i as f32 / OPUS_RATE as f32;
                0.3 * (1.0 + 0.3 * (3.0 * t).sin()) * (2.0 * std::f32::consts::PI * 220.0 * t).sin()
            })
            .collect()
    }

    #[test]
    fn round_trips_through_20_ms_packets() -> Result<()> {
        let input = tone(1.0);
        let mut encoder = OpusEncoder::new()?;
        let mut packets = encoder.encode(&input[..10_000])?;
        packets.extend(encoder.encode(&input[10_000..])?);
        packets.extend(encoder.flush()?);
        assert_eq!(packets.len(), 50, "one second is 50 frames");
        let mut decoder = OpusDecoder::new()?;
        let mut output = Vec::new();
        for p in &packets {
            output.extend(decoder.decode(p)?);
        }
        assert_eq!(output.len(), input.len());
        // The codec delays by a few ms: compare energy over the second half.
        let energy = |x: &[f32]| x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32;
        let (a, b) = (energy(&input[24_000..]), energy(&output[24_000..]));
        assert!((a - b).abs() / a < 0.2, "input energy {a}, output {b}");
        Ok(())
    }

    #[test]
    fn lost_and_corrupt_packets_keep_the_timeline() -> Result<()> {
        let mut encoder = OpusEncoder::new()?;
        let packets = encoder.encode(&tone(0.1))?;
        let mut decoder = OpusDecoder::new()?;
        assert_eq!(decoder.decode(&packets[0])?.len(), FRAME);
        assert_eq!(decoder.conceal(2)?.len(), 2 * FRAME);
        assert!(decoder.decode(&[]).is_err());
        // Garbage is refused or decoded, never a panic; the decoder goes on working.
        let _ = decoder.decode(&[0xff; 3]);
        assert_eq!(decoder.decode(&packets[1])?.len(), FRAME);
        Ok(())
    }
}
