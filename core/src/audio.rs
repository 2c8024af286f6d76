//! Audio types shared by every engine.
//!
//! Time is media time, counted in samples at a known rate ([`StreamTime`]), never the wall clock:
//! an engine fed a file runs faster than real time and gives the same result every run (str0m's
//! rule). Samples are `f32` in `[-1.0, 1.0]`.

use std::fmt;
use std::time::Duration;

use crate::error::{Error, Result};

/// A sample rate in Hz. Never zero.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "u32", into = "u32")]
pub struct SampleRate(u32);

impl SampleRate {
    /// 16 kHz: what speech models (Whisper, Silero VAD) take.
    pub const HZ_16000: Self = Self(16_000);
    /// 22.05 kHz: what Piper's medium voices produce.
    pub const HZ_22050: Self = Self(22_050);
    /// 24 kHz.
    pub const HZ_24000: Self = Self(24_000);
    /// 48 kHz: what Opus carries in WebRTC.
    pub const HZ_48000: Self = Self(48_000);

    /// A rate in Hz; `Err` for zero.
    pub fn new(hz: u32) -> Result<Self> {
        if hz == 0 {
            return Err(Error::UnsupportedAudio("sample rate of 0 Hz".into()));
        }
        Ok(Self(hz))
    }

    /// The rate in Hz.
    pub const fn hz(self) -> u32 {
        self.0
    }

    /// Number of samples in `duration` at this rate (rounded down).
    pub fn samples_in(self, duration: Duration) -> u64 {
        (duration.as_nanos() * u128::from(self.0) / 1_000_000_000) as u64
    }
}

impl TryFrom<u32> for SampleRate {
    type Error = Error;
    fn try_from(hz: u32) -> Result<Self> {
        Self::new(hz)
    }
}

impl From<SampleRate> for u32 {
    fn from(rate: SampleRate) -> u32 {
        rate.0
    }
}

impl fmt::Display for SampleRate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} Hz", self.0)
    }
}

/// A position in a stream: a count of samples (per channel) since the stream began, at a rate.
///
/// Engines stamp every event with `StreamTime`s derived from the chunks they were given, so
/// captions line up with audio whatever the wall clock did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct StreamTime {
    samples: u64,
    rate: SampleRate,
}

impl StreamTime {
    /// The start of a stream at `rate`.
    pub const fn zero(rate: SampleRate) -> Self {
        Self { samples: 0, rate }
    }

    /// `samples` samples into a stream at `rate`.
    pub const fn from_samples(samples: u64, rate: SampleRate) -> Self {
        Self { samples, rate }
    }

    /// Samples since the start of the stream.
    pub const fn samples(self) -> u64 {
        self.samples
    }

    /// The sample rate the position is counted in.
    pub const fn rate(self) -> SampleRate {
        self.rate
    }

    /// The position in seconds.
    pub fn as_secs_f64(self) -> f64 {
        self.samples as f64 / f64::from(self.rate.0)
    }

    /// The position as a [`Duration`].
    pub fn as_duration(self) -> Duration {
        Duration::from_secs_f64(self.as_secs_f64())
    }

    /// This position moved `samples` later.
    #[must_use]
    pub const fn advanced(self, samples: u64) -> Self {
        Self {
            samples: self.samples + samples,
            rate: self.rate,
        }
    }

    /// The same instant counted at another rate (rounded down).
    #[must_use]
    pub fn at_rate(self, rate: SampleRate) -> Self {
        let samples = u128::from(self.samples) * u128::from(rate.0) / u128::from(self.rate.0);
        Self {
            samples: samples as u64,
            rate,
        }
    }
}

impl fmt::Display for StreamTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.3}s", self.as_secs_f64())
    }
}

/// A piece of mono audio with its position in the stream: what engines are fed.
#[derive(Debug, Clone, PartialEq)]
pub struct AudioChunk {
    /// Where the first sample sits in the stream.
    pub start: StreamTime,
    /// Mono samples in `[-1.0, 1.0]` at `start.rate()`.
    pub samples: Vec<f32>,
}

impl AudioChunk {
    /// A chunk of `samples` starting at `start`.
    pub fn new(start: StreamTime, samples: Vec<f32>) -> Self {
        Self { start, samples }
    }

    /// The sample rate.
    pub fn rate(&self) -> SampleRate {
        self.start.rate()
    }

    /// The position just after the last sample.
    pub fn end(&self) -> StreamTime {
        self.start.advanced(self.samples.len() as u64)
    }

    /// Length in time.
    pub fn duration(&self) -> Duration {
        Duration::from_secs_f64(self.samples.len() as f64 / f64::from(self.rate().hz()))
    }
}

/// Interleaved multi-channel audio at one rate, as it comes out of a decoder or a sound card.
#[derive(Debug, Clone, PartialEq)]
pub struct AudioBuffer {
    rate: SampleRate,
    channels: u16,
    samples: Vec<f32>,
}

impl AudioBuffer {
    /// Interleaved `f32` samples (`frame0 ch0, frame0 ch1, ..., frame1 ch0, ...`).
    ///
    /// Fails if `channels` is zero or `samples.len()` is not a multiple of it.
    pub fn from_interleaved(rate: SampleRate, channels: u16, samples: Vec<f32>) -> Result<Self> {
        if channels == 0 {
            return Err(Error::UnsupportedAudio("zero channels".into()));
        }
        if !samples.len().is_multiple_of(usize::from(channels)) {
            return Err(Error::UnsupportedAudio(format!(
                "{} interleaved samples is not a whole number of {channels}-channel frames",
                samples.len()
            )));
        }
        Ok(Self {
            rate,
            channels,
            samples,
        })
    }

    /// Mono audio.
    pub fn mono(rate: SampleRate, samples: Vec<f32>) -> Self {
        Self {
            rate,
            channels: 1,
            samples,
        }
    }

    /// Interleaved `i16` PCM, scaled to `[-1.0, 1.0)`.
    pub fn from_i16(rate: SampleRate, channels: u16, samples: &[i16]) -> Result<Self> {
        Self::from_interleaved(
            rate,
            channels,
            samples.iter().map(|&s| i16_to_f32(s)).collect(),
        )
    }

    /// Interleaved `i32` PCM (full 32-bit scale), scaled to `[-1.0, 1.0)`.
    pub fn from_i32(rate: SampleRate, channels: u16, samples: &[i32]) -> Result<Self> {
        Self::from_interleaved(
            rate,
            channels,
            samples.iter().map(|&s| i32_to_f32(s)).collect(),
        )
    }

    /// The sample rate.
    pub fn rate(&self) -> SampleRate {
        self.rate
    }

    /// The number of interleaved channels.
    pub fn channels(&self) -> u16 {
        self.channels
    }

    /// The number of frames (samples per channel).
    pub fn frames(&self) -> usize {
        self.samples.len() / usize::from(self.channels)
    }

    /// Length in time.
    pub fn duration(&self) -> Duration {
        Duration::from_secs_f64(self.frames() as f64 / f64::from(self.rate.hz()))
    }

    /// The interleaved samples.
    pub fn samples(&self) -> &[f32] {
        &self.samples
    }

    /// The buffer mixed down to one channel (the mean of the channels).
    pub fn to_mono(&self) -> Vec<f32> {
        let channels = usize::from(self.channels);
        if channels == 1 {
            return self.samples.clone();
        }
        let scale = 1.0 / channels as f32;
        self.samples
            .chunks_exact(channels)
            .map(|frame| frame.iter().sum::<f32>() * scale)
            .collect()
    }

    /// The whole buffer as one mono chunk starting at zero.
    pub fn into_mono_chunk(self) -> AudioChunk {
        let samples = self.to_mono();
        AudioChunk::new(StreamTime::zero(self.rate), samples)
    }
}

/// `i16` PCM to `f32` in `[-1.0, 1.0)`.
pub fn i16_to_f32(sample: i16) -> f32 {
    f32::from(sample) / 32_768.0
}

/// `i32` PCM to `f32` in `[-1.0, 1.0)`.
pub fn i32_to_f32(sample: i32) -> f32 {
    (f64::from(sample) / 2_147_483_648.0) as f32
}

/// `f32` to `i16` PCM, clamping anything outside `[-1.0, 1.0]`.
pub fn f32_to_i16(sample: f32) -> i16 {
    (sample.clamp(-1.0, 1.0) * 32_767.0).round() as i16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_rate_is_rejected() {
        assert!(SampleRate::new(0).is_err());
        assert_eq!(
            SampleRate::new(44_100).map(SampleRate::hz).ok(),
            Some(44_100)
        );
    }

    #[test]
    fn stream_time_converts_between_rates() {
        let t = StreamTime::from_samples(48_000, SampleRate::HZ_48000);
        assert_eq!(t.at_rate(SampleRate::HZ_16000).samples(), 16_000);
        assert!((t.as_secs_f64() - 1.0).abs() < 1e-12);
        assert_eq!(t.advanced(480).samples(), 48_480);
    }

    #[test]
    fn pcm_conversions_cover_full_scale() {
        assert_eq!(i16_to_f32(i16::MIN), -1.0);
        assert!(i16_to_f32(i16::MAX) < 1.0);
        assert_eq!(i32_to_f32(i32::MIN), -1.0);
        assert_eq!(f32_to_i16(2.0), i16::MAX);
        assert_eq!(f32_to_i16(i16_to_f32(1234)), 1234);
    }

    #[test]
    fn buffer_rejects_ragged_frames_and_mixes_down() -> Result<()> {
        assert!(AudioBuffer::from_interleaved(SampleRate::HZ_16000, 2, vec![0.0; 3]).is_err());
        assert!(AudioBuffer::from_interleaved(SampleRate::HZ_16000, 0, vec![]).is_err());
        let stereo =
            AudioBuffer::from_i16(SampleRate::HZ_16000, 2, &[16_384, -16_384, 8_192, 8_192])?;
        assert_eq!(stereo.frames(), 2);
        assert_eq!(stereo.to_mono(), vec![0.0, 0.25]);
        let chunk = stereo.into_mono_chunk();
        assert_eq!(chunk.end().samples(), 2);
        Ok(())
    }
}
