//! Transcribing one utterance (at most 30 s) in a single encoder pass, for live captions.
//!
//! File transcription pads every window to 30 s of audio, as Whisper was trained, so a 3 s
//! utterance pays the encoder for 30 s (1500 positions, and self-attention grows with their
//! square). [`EncoderWindow::Fitted`] encodes the utterance plus a margin of silence instead
//! (whisper.cpp's `audio_ctx`): the encoder's sinusoidal positions simply stop earlier. The
//! margin keeps the end of the speech away from the window's edge, where the model, never
//! trained on short windows, would otherwise cut words. Whether the fitted window is as
//! accurate as the full one is measured on real recordings (`stt/examples/stream_latency`,
//! figures in the README).

use dragoman_core::{Error, Lang, Result};

use super::decode::{DecodeOptions, Decoder};
use super::mel::{HOP_LENGTH, N_FRAMES, N_SAMPLES, normalize};
use super::transcribe::split_at_timestamps;

/// How much audio the encoder sees when it transcribes an utterance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncoderWindow {
    /// Whisper's 30 s window, the utterance padded with silence (as file transcription does).
    Full,
    /// The utterance plus `margin_ms` of silence, at least `min_ms` and at most 30 s.
    Fitted {
        /// Silence after the utterance, in ms.
        margin_ms: u32,
        /// The shortest window, in ms: on a second or two of audio the model, never trained
        /// on such short windows, falls into repetition loops more often.
        min_ms: u32,
    },
}

impl EncoderWindow {
    /// Mel frames (10 ms each, an even count: the encoder's second convolution halves them)
    /// the encoder runs for `samples` of 16 kHz audio.
    pub fn frames(self, samples: usize) -> usize {
        match self {
            Self::Full => N_FRAMES,
            Self::Fitted { margin_ms, min_ms } => {
                let frames = (samples.div_ceil(HOP_LENGTH) + margin_ms as usize / 10)
                    .max(min_ms as usize / 10);
                (frames + frames % 2).clamp(2, N_FRAMES)
            }
        }
    }
}

/// Text between two of Whisper's timestamps, times in seconds from the utterance's start.
#[derive(Debug, Clone, PartialEq)]
pub struct TimedText {
    /// Where it starts.
    pub start: f64,
    /// Where it ends; `None` for the last piece when no timestamp closed it.
    pub end: Option<f64>,
    /// The text, trimmed.
    pub text: String,
}

/// What one utterance holds.
#[derive(Debug, Clone, PartialEq)]
pub struct UtteranceTranscript {
    /// The language it was transcribed in.
    pub language: Lang,
    /// Probability of `language` when it was detected.
    pub language_probability: Option<f32>,
    /// The text, cut where Whisper put timestamps (usually at phrase and sentence ends). Empty
    /// when the window was judged silence.
    pub pieces: Vec<TimedText>,
    /// The tokens the pieces come from (text and timestamps; empty for silence): a later
    /// decode of the same utterance can take some as its [`DecodeOptions::prefix`].
    pub tokens: Vec<u32>,
}

impl Decoder {
    /// Transcribes `samples` (16 kHz, at most 30 s) in one encoder pass over `window`, with
    /// `prompt` (tokens of what came before) as context. The language is detected when
    /// `options.language` is `None`.
    pub fn transcribe_utterance(
        &mut self,
        samples: &[f32],
        window: EncoderWindow,
        prompt: &[u32],
        options: &DecodeOptions,
    ) -> Result<UtteranceTranscript> {
        if samples.len() > N_SAMPLES {
            return Err(Error::Misuse(format!(
                "an utterance is at most 30 s; got {:.1} s (transcribe longer audio as a file)",
                samples.len() as f64 / 16_000.0
            )));
        }
        let frames = window.frames(samples.len());
        let mel = self.window_mel(samples, frames);
        let audio = self.encode(&mel)?;
        let (language, language_probability) = match options.language {
            Some(lang) => (lang, None),
            None => {
                let (lang, p) = self.detect_language(&audio)?;
                (lang, Some(p))
            }
        };
        let result = self.decode_with_fallback(&audio, prompt, language, options)?;
        let mut pieces = Vec::new();
        let silence = result.is_silence(options);
        if !silence {
            let duration = samples.len() as f64 / 16_000.0;
            let timestamp_begin = self.model().tokens().timestamp_begin;
            for piece in split_at_timestamps(&result.tokens, timestamp_begin).pieces {
                let text = self.model().detokenize(piece.tokens)?.trim().to_string();
                if !text.is_empty() {
                    pieces.push(TimedText {
                        start: piece.start.min(duration),
                        end: piece.end.map(|end| end.min(duration)),
                        text,
                    });
                }
            }
        }
        Ok(UtteranceTranscript {
            language,
            language_probability,
            pieces,
            tokens: if silence { Vec::new() } else { result.tokens },
        })
    }

    /// The normalised `n_mels x frames` mel of `samples` followed by silence, as the first
    /// window of [`transcribe`](Self::transcribe) computes it for the same audio.
    fn window_mel(&self, samples: &[f32], frames: usize) -> Vec<f32> {
        let extractor = self.model().mel();
        let n_mels = extractor.n_mels();
        // One hop more than the window, so the last frame's FFT sees silence, not reflection.
        let mut padded = samples.to_vec();
        padded.resize((frames + 1) * HOP_LENGTH, 0.0);
        let mel = extractor.log_mel(&padded);
        let total = mel.len() / n_mels;
        let mut window = vec![0f32; n_mels * frames];
        for m in 0..n_mels {
            window[m * frames..(m + 1) * frames]
                .copy_from_slice(&mel[m * total..m * total + frames]);
        }
        normalize(&mut window);
        window
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fitted_windows_cover_the_audio_and_a_margin() {
        let fitted = EncoderWindow::Fitted {
            margin_ms: 1_000,
            min_ms: 2_000,
        };
        // 3 s of audio: 300 frames, plus 100 of margin.
        assert_eq!(fitted.frames(48_000), 400);
        // Rounded up to an even count.
        assert_eq!(fitted.frames(48_001), 402);
        // Never under the minimum.
        assert_eq!(fitted.frames(1_600), 200);
        let bare = EncoderWindow::Fitted {
            margin_ms: 0,
            min_ms: 0,
        };
        assert_eq!(bare.frames(0), 2);
        // Never past Whisper's 30 s.
        assert_eq!(fitted.frames(N_SAMPLES), N_FRAMES);
        assert_eq!(EncoderWindow::Full.frames(16_000), N_FRAMES);
    }
}
