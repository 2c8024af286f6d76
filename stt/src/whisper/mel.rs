//! Whisper's log-mel spectrogram, as `whisper/audio.py` computes it.
//!
//! 25 ms Hann window (400 samples, periodic), 10 ms hop (160), centred frames with reflect padding
//! (`torch.stft(center=True)`), power spectrum, Slaney-normalised mel filters (`librosa.filters.mel`
//! with its defaults: `htk=False`, `norm="slaney"`), `log10(max(x, 1e-10))`, the last frame
//! dropped. [`normalize`] then clamps to 8 (80 dB) below the maximum and scales to about [-1, 1].
//! The FFT is `realfft`'s.

use std::sync::Arc;

use realfft::{RealFftPlanner, RealToComplex};

/// Sample rate Whisper takes.
pub const SAMPLE_RATE: usize = 16_000;
/// FFT size (25 ms).
pub const N_FFT: usize = 400;
/// Hop (10 ms): one mel frame per 160 samples.
pub const HOP_LENGTH: usize = 160;
/// Frames in a 30 s window.
pub const N_FRAMES: usize = 3_000;
/// Samples in a 30 s window.
pub const N_SAMPLES: usize = N_FRAMES * HOP_LENGTH;

const N_BINS: usize = N_FFT / 2 + 1;

/// Computes log-mel frames. Cheap to clone (the FFT plan and filters are shared).
#[derive(Clone)]
pub struct MelExtractor {
    n_mels: usize,
    /// `n_mels x N_BINS`, row-major.
    filters: Arc<[f32]>,
    window: Arc<[f32]>,
    fft: Arc<dyn RealToComplex<f32>>,
}

impl std::fmt::Debug for MelExtractor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MelExtractor")
            .field("n_mels", &self.n_mels)
            .finish()
    }
}

impl MelExtractor {
    /// An extractor with `n_mels` filters (80; 128 for large-v3).
    pub fn new(n_mels: usize) -> Self {
        let window: Vec<f32> = (0..N_FFT)
            .map(|n| {
                (0.5 - 0.5 * (2.0 * std::f64::consts::PI * n as f64 / N_FFT as f64).cos()) as f32
            })
            .collect();
        let fft = RealFftPlanner::<f32>::new().plan_fft_forward(N_FFT);
        Self {
            n_mels,
            filters: mel_filters(n_mels).into(),
            window: window.into(),
            fft,
        }
    }

    /// Mel bins per frame.
    pub fn n_mels(&self) -> usize {
        self.n_mels
    }

    /// `log10` mel energies of `samples` (16 kHz mono): `n_mels x frames`, row-major, with
    /// `frames = samples.len() / HOP_LENGTH`. Not yet normalised.
    pub fn log_mel(&self, samples: &[f32]) -> Vec<f32> {
        let frames = samples.len() / HOP_LENGTH;
        let mut out = vec![0f32; self.n_mels * frames];
        if frames == 0 {
            return out;
        }
        let pad = N_FFT / 2;
        let mut input = self.fft.make_input_vec();
        let mut spectrum = self.fft.make_output_vec();
        let mut scratch = self.fft.make_scratch_vec();
        let mut power = [0f32; N_BINS];
        for frame in 0..frames {
            let start = (frame * HOP_LENGTH) as isize - pad as isize;
            for (i, slot) in input.iter_mut().enumerate() {
                *slot = reflect(samples, start + i as isize) * self.window[i];
            }
            // The lengths are the plan's own, so processing cannot fail.
            if self
                .fft
                .process_with_scratch(&mut input, &mut spectrum, &mut scratch)
                .is_err()
            {
                continue;
            }
            for (p, c) in power.iter_mut().zip(&spectrum) {
                *p = c.norm_sqr();
            }
            for (m, filter) in self.filters.chunks_exact(N_BINS).enumerate() {
                let energy: f32 = filter.iter().zip(&power).map(|(f, p)| f * p).sum();
                out[m * frames + frame] = energy.max(1e-10).log10();
            }
        }
        out
    }
}

/// Sample `i` of `samples` with reflect padding (`numpy.pad(mode="reflect")`) at both ends.
fn reflect(samples: &[f32], i: isize) -> f32 {
    let n = samples.len() as isize;
    if n == 1 {
        return samples[0];
    }
    let period = 2 * (n - 1);
    let mut j = i.rem_euclid(period);
    if j >= n {
        j = period - j;
    }
    samples[j as usize]
}

/// Whisper's normalisation: clamp to 8 below the maximum, then `(x + 4) / 4`.
pub fn normalize(log_mel: &mut [f32]) {
    let max = log_mel.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    for v in log_mel.iter_mut() {
        *v = (v.max(max - 8.0) + 4.0) / 4.0;
    }
}

fn hz_to_mel(hz: f64) -> f64 {
    // Slaney's scale: linear below 1 kHz, logarithmic above.
    let (f_sp, min_log_hz, min_log_mel, logstep) = (200.0 / 3.0, 1000.0, 15.0, 6.4f64.ln() / 27.0);
    if hz >= min_log_hz {
        min_log_mel + (hz / min_log_hz).ln() / logstep
    } else {
        hz / f_sp
    }
}

fn mel_to_hz(mel: f64) -> f64 {
    let (f_sp, min_log_hz, min_log_mel, logstep) = (200.0 / 3.0, 1000.0, 15.0, 6.4f64.ln() / 27.0);
    if mel >= min_log_mel {
        min_log_hz * (logstep * (mel - min_log_mel)).exp()
    } else {
        f_sp * mel
    }
}

/// `librosa.filters.mel(sr=16000, n_fft=400, n_mels)`: `n_mels x 201`, row-major.
pub fn mel_filters(n_mels: usize) -> Vec<f32> {
    let nyquist = SAMPLE_RATE as f64 / 2.0;
    let fft_freqs: Vec<f64> = (0..N_BINS)
        .map(|i| i as f64 * SAMPLE_RATE as f64 / N_FFT as f64)
        .collect();
    let (low, high) = (hz_to_mel(0.0), hz_to_mel(nyquist));
    let mel_f: Vec<f64> = (0..n_mels + 2)
        .map(|i| mel_to_hz(low + (high - low) * i as f64 / (n_mels + 1) as f64))
        .collect();
    let mut filters = vec![0f32; n_mels * N_BINS];
    for m in 0..n_mels {
        let enorm = 2.0 / (mel_f[m + 2] - mel_f[m]);
        for (k, &f) in fft_freqs.iter().enumerate() {
            let lower = (f - mel_f[m]) / (mel_f[m + 1] - mel_f[m]);
            let upper = (mel_f[m + 2] - f) / (mel_f[m + 2] - mel_f[m + 1]);
            filters[m * N_BINS + k] = (lower.min(upper).max(0.0) * enorm) as f32;
        }
    }
    filters
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_are_slaney_triangles() {
        let filters = mel_filters(80);
        assert_eq!(filters.len(), 80 * N_BINS);
        // Every filter has weight, peaks where its centre lies, and rises then falls.
        for (m, row) in filters.chunks_exact(N_BINS).enumerate() {
            let peak = row.iter().copied().fold(0.0f32, f32::max);
            assert!(peak > 0.0, "filter {m} is empty");
        }
        // Golden values from faster-whisper's `FeatureExtractor().mel_filters` (librosa's
        // formula): filter 0 at bin 1, the top filter's tail, and the sum of all weights.
        assert!((filters[1] - 0.024_862_59).abs() < 1e-6, "{}", filters[1]);
        let tail = &filters[79 * N_BINS + 195..79 * N_BINS + 201];
        for (got, want) in tail.iter().zip([
            0.002_243_8,
            0.001_795_04,
            0.001_346_28,
            0.000_897_52,
            0.000_448_76,
            0.0,
        ]) {
            assert!((got - want).abs() < 1e-7, "{tail:?}");
        }
        let sum: f32 = filters.iter().sum();
        assert!((sum - 1.999_024_2).abs() < 1e-4, "{sum}");
    }

    #[test]
    fn frames_and_reflection() {
        let mel = MelExtractor::new(80);
        let tone: Vec<f32> = (0..16_000)
            .map(|i| (2.0 * std::f32::consts::PI * 1_000.0 * i as f32 / 16_000.0).sin())
            .collect();
        let out = mel.log_mel(&tone);
        assert_eq!(out.len(), 80 * 100);
        // The loudest bin of a 1 kHz tone is the mel filter centred near 1 kHz (filter 24 or 25).
        let frame = 50;
        let loudest = (0..80)
            .max_by(|&a, &b| out[a * 100 + frame].total_cmp(&out[b * 100 + frame]))
            .unwrap_or(0);
        assert!((23..=26).contains(&loudest), "{loudest}");
        assert_eq!(reflect(&[1.0, 2.0, 3.0], -1), 2.0);
        assert_eq!(reflect(&[1.0, 2.0, 3.0], 3), 2.0);
        assert_eq!(reflect(&[1.0, 2.0, 3.0], -4), 1.0);
        assert!(mel.log_mel(&[0.0; 100]).is_empty());
    }

    #[test]
    fn normalisation_clamps_80_db_below_the_peak() {
        let mut v = vec![-10.0, 0.0, 2.0];
        normalize(&mut v);
        assert_eq!(v, vec![(-6.0 + 4.0) / 4.0, 1.0, 1.5]);
    }
}
