//! Sample-rate conversion of mono audio (rubato's FFT resampler).
//!
//! One type serves both uses: [`StreamResampler`] takes chunks of any size as they arrive (an
//! Opus track at 48 kHz) and [`resample`] runs a whole clip through it. The resampler's start-up
//! delay is trimmed, so output sample `n` lines up with input time `n / to_rate`, which keeps
//! [`StreamTime`](crate::StreamTime)s honest across the conversion.

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler};

use crate::audio::SampleRate;
use crate::error::{Error, Result};

/// Input frames per FFT block: 20 ms at 48 kHz, small enough for live audio.
const CHUNK_FRAMES: usize = 960;

/// Streaming mono resampler.
pub struct StreamResampler {
    inner: Option<Fft<f32>>,
    from: SampleRate,
    to: SampleRate,
    /// Input not yet processed (less than one block).
    pending: Vec<f32>,
    /// Output samples still to drop (the resampler's start-up delay).
    to_trim: usize,
    /// Input frames accepted so far, to size the tail on `finish`.
    frames_in: u64,
    /// Output frames emitted so far.
    frames_out: u64,
}

impl std::fmt::Debug for StreamResampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamResampler")
            .field("from", &self.from)
            .field("to", &self.to)
            .finish()
    }
}

impl StreamResampler {
    /// A resampler from `from` to `to`. Equal rates pass audio through untouched.
    pub fn new(from: SampleRate, to: SampleRate) -> Result<Self> {
        let inner = if from == to {
            None
        } else {
            let fft = Fft::<f32>::new(
                from.hz() as usize,
                to.hz() as usize,
                CHUNK_FRAMES,
                1,
                FixedSync::Input,
            )
            .map_err(|e| Error::UnsupportedAudio(format!("cannot resample {from} to {to}: {e}")))?;
            Some(fft)
        };
        let to_trim = inner.as_ref().map_or(0, Resampler::output_delay);
        Ok(Self {
            inner,
            from,
            to,
            pending: Vec::new(),
            to_trim,
            frames_in: 0,
            frames_out: 0,
        })
    }

    /// Input rate.
    pub fn from_rate(&self) -> SampleRate {
        self.from
    }

    /// Output rate.
    pub fn to_rate(&self) -> SampleRate {
        self.to
    }

    /// Adds input; returns the output that is ready (possibly empty).
    pub fn push(&mut self, input: &[f32]) -> Result<Vec<f32>> {
        self.frames_in += input.len() as u64;
        let Some(inner) = self.inner.as_mut() else {
            self.frames_out += input.len() as u64;
            return Ok(input.to_vec());
        };
        self.pending.extend_from_slice(input);
        let mut out = Vec::new();
        let mut consumed = 0;
        while self.pending.len() - consumed >= inner.input_frames_next() {
            let n = inner.input_frames_next();
            consumed +=
                process_block(inner, &self.pending[consumed..consumed + n], None, &mut out)?;
        }
        self.pending.drain(..consumed);
        Ok(self.trim(out))
    }

    /// Flushes the remaining input (padding with silence) and returns the rest of the output,
    /// so that the total output length is `input_len * to / from` rounded up.
    pub fn finish(&mut self) -> Result<Vec<f32>> {
        let expected = (u128::from(self.frames_in) * u128::from(self.to.hz()))
            .div_ceil(u128::from(self.from.hz())) as u64;
        if self.inner.is_none() {
            return Ok(Vec::new());
        }
        let pending = std::mem::take(&mut self.pending);
        let mut out = Vec::new();
        // The last partial block, then blocks of silence until the delayed tail has come out.
        // At rates whose ratio reduces to large numbers (12345 Hz to 16 kHz: 2469 to 3200), the
        // FFT needs several blocks before it emits anything, so a block without output is no
        // fault; two seconds of silence without reaching the end would be.
        let mut block: &[f32] = &pending;
        let mut silence_fed = 0;
        while self.frames_out < expected {
            let Some(inner) = self.inner.as_mut() else {
                break;
            };
            if silence_fed > 2 * self.from.hz() as usize {
                return Err(Error::Internal(
                    "resampler produced no output while flushing".into(),
                ));
            }
            silence_fed += inner.input_frames_next().saturating_sub(block.len());
            let mut produced = Vec::new();
            process_block(inner, block, Some(block.len()), &mut produced)?;
            out.extend(self.trim(produced));
            block = &[];
        }
        let overshoot = self
            .frames_out
            .saturating_sub(expected)
            .min(out.len() as u64);
        out.truncate(out.len() - overshoot as usize);
        self.frames_out -= overshoot;
        Ok(out)
    }

    fn trim(&mut self, mut out: Vec<f32>) -> Vec<f32> {
        let drop = self.to_trim.min(out.len());
        self.to_trim -= drop;
        out.drain(..drop);
        self.frames_out += out.len() as u64;
        out
    }
}

/// Brings a stream of chunks at whatever rate they arrive to one target rate, creating the
/// resampler on first need. Engines use it so callers may push 48 kHz call audio directly.
#[derive(Debug)]
pub struct ToRate {
    target: SampleRate,
    resampler: Option<StreamResampler>,
}

impl ToRate {
    /// Converts to `target`.
    pub fn new(target: SampleRate) -> Self {
        Self {
            target,
            resampler: None,
        }
    }

    /// `chunk`'s samples at the target rate. A stream's rate may not change midway.
    pub fn push(&mut self, chunk: &crate::AudioChunk) -> Result<Vec<f32>> {
        match &mut self.resampler {
            None if chunk.rate() == self.target => Ok(chunk.samples.clone()),
            Some(r) if r.from_rate() == chunk.rate() => r.push(&chunk.samples),
            Some(r) => Err(Error::Misuse(format!(
                "the sample rate changed mid-stream ({} -> {})",
                r.from_rate(),
                chunk.rate()
            ))),
            None => self
                .resampler
                .insert(StreamResampler::new(chunk.rate(), self.target)?)
                .push(&chunk.samples),
        }
    }

    /// The resampler's tail at the end of the stream (empty when no resampling happened).
    pub fn finish(&mut self) -> Result<Vec<f32>> {
        self.resampler
            .as_mut()
            .map_or(Ok(Vec::new()), StreamResampler::finish)
    }
}

/// Runs one block through rubato, appending to `out`; returns the input frames consumed.
fn process_block(
    inner: &mut Fft<f32>,
    block: &[f32],
    partial_len: Option<usize>,
    out: &mut Vec<f32>,
) -> Result<usize> {
    let internal = |e: &dyn std::fmt::Display| Error::Internal(format!("resampler: {e}"));
    let input = InterleavedSlice::new(block, 1, block.len()).map_err(|e| internal(&e))?;
    let start = out.len();
    out.resize(start + inner.output_frames_next(), 0.0);
    let frames = out.len() - start;
    let mut output =
        InterleavedSlice::new_mut(&mut out[start..], 1, frames).map_err(|e| internal(&e))?;
    let indexing = rubato::Indexing {
        partial_len,
        ..Default::default()
    };
    let (consumed, written) = inner
        .process_into_buffer(&input, &mut output, Some(&indexing))
        .map_err(|e| internal(&e))?;
    out.truncate(start + written);
    Ok(consumed)
}

/// Resamples a whole mono clip from `from` to `to`.
pub fn resample(samples: &[f32], from: SampleRate, to: SampleRate) -> Result<Vec<f32>> {
    let mut resampler = StreamResampler::new(from, to)?;
    let mut out = resampler.push(samples)?;
    out.extend(resampler.finish()?);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(hz: f32, rate: u32, secs: f32) -> Vec<f32> {
        let n = (rate as f32 * secs) as usize;
        (0..n)
            .map(|i| (2.0 * std::f32::consts::PI * hz * i as f32 / rate as f32).sin() * 0.5)
            .collect()
    }

    fn rate(hz: u32) -> SampleRate {
        SampleRate::new(hz).unwrap_or(SampleRate::HZ_16000)
    }

    #[test]
    fn odd_rates_keep_their_length() -> Result<()> {
        for from in [7_999, 11_025, 12_345, 44_056, 96_000] {
            let out = resample(&sine(440.0, from, 1.0), rate(from), SampleRate::HZ_16000)?;
            assert_eq!(out.len(), 16_000, "from {from}");
        }
        Ok(())
    }

    #[test]
    fn whole_clip_keeps_length_and_phase() -> Result<()> {
        for from in [8_000, 22_050, 44_100, 48_000] {
            let input = sine(440.0, from, 1.0);
            let out = resample(&input, rate(from), SampleRate::HZ_16000)?;
            assert_eq!(out.len(), 16_000, "from {from}");
            // Compare with the ideal sine away from the edges: delay trimmed, amplitude kept.
            // Off by one output sample, a 440 Hz sine at amplitude 0.5 would differ by up to
            // 0.5 * 2 * pi * 440 / 16000 = 0.086; rubato's delay is whole samples, so a
            // fractional remainder (22.05 kHz) leaves up to about half of that.
            let ideal = sine(440.0, 16_000, 1.0);
            let err = out[800..15_200]
                .iter()
                .zip(&ideal[800..15_200])
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            assert!(err < 0.05, "from {from}: max error {err}");
        }
        Ok(())
    }

    #[test]
    fn chunked_equals_whole() -> Result<()> {
        let input = sine(300.0, 48_000, 0.7);
        let whole = resample(&input, SampleRate::HZ_48000, SampleRate::HZ_16000)?;
        let mut stream = StreamResampler::new(SampleRate::HZ_48000, SampleRate::HZ_16000)?;
        let mut chunked = Vec::new();
        for chunk in input.chunks(317) {
            chunked.extend(stream.push(chunk)?);
        }
        chunked.extend(stream.finish()?);
        assert_eq!(chunked.len(), whole.len());
        let diff = chunked
            .iter()
            .zip(&whole)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(diff < 1e-5, "{diff}");
        Ok(())
    }

    #[test]
    fn to_rate_converts_streams_and_refuses_a_rate_change() -> Result<()> {
        use crate::{AudioChunk, StreamTime};
        let mut same = ToRate::new(SampleRate::HZ_16000);
        let chunk = AudioChunk::new(StreamTime::zero(SampleRate::HZ_16000), vec![0.5; 160]);
        assert_eq!(same.push(&chunk)?, vec![0.5; 160]);
        assert!(same.finish()?.is_empty());

        let mut down = ToRate::new(SampleRate::HZ_16000);
        let at48 = AudioChunk::new(StreamTime::zero(SampleRate::HZ_48000), vec![0.0; 4_800]);
        let mut total = down.push(&at48)?.len();
        assert!(down.push(&chunk).is_err(), "16 kHz after 48 kHz");
        total += down.finish()?.len();
        assert_eq!(total, 1_600);
        Ok(())
    }

    #[test]
    fn same_rate_passes_through_and_short_clips_survive() -> Result<()> {
        let input = sine(100.0, 16_000, 0.01);
        assert_eq!(
            resample(&input, SampleRate::HZ_16000, SampleRate::HZ_16000)?,
            input
        );
        let tiny = resample(&[0.1, 0.2, 0.3], SampleRate::HZ_48000, SampleRate::HZ_16000)?;
        assert_eq!(tiny.len(), 1);
        assert!(resample(&[], SampleRate::HZ_48000, SampleRate::HZ_16000)?.is_empty());
        Ok(())
    }
}
