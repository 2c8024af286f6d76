//! Transcribing a whole recording: 30-second windows moved along by the timestamps Whisper
//! predicts (the `seek` loop of `whisper/transcribe.py`), each window decoded with temperature
//! fallback, silent windows dropped, and the previous text used as a prompt.

use dragoman_core::engine::VadOptions;
use dragoman_core::{AudioChunk, Error, Lang, Result, SampleRate, Segment, Transcript};

use super::decode::{DecodeOptions, Decoder};
use super::mel::{HOP_LENGTH, N_FRAMES, N_SAMPLES, normalize};
use crate::vad::SileroVad;

/// Mel frames per encoder position: timestamps step by 2 frames (20 ms).
const INPUT_STRIDE: usize = 2;

/// Prompts are reset after a window needed a temperature above this (faster-whisper's
/// `prompt_reset_on_temperature`), so a bad guess does not steer the next window.
const PROMPT_RESET_TEMPERATURE: f64 = 0.5;

impl Decoder {
    /// Transcribes 16 kHz mono audio of any length. Empty audio gives an empty transcript.
    pub fn transcribe(
        &mut self,
        audio: &AudioChunk,
        options: &DecodeOptions,
    ) -> Result<Transcript> {
        if audio.rate() != SampleRate::HZ_16000 {
            return Err(Error::UnsupportedAudio(format!(
                "Whisper takes 16 kHz audio, got {} (resample with dragoman_core::resample)",
                audio.rate()
            )));
        }
        let samples = &audio.samples;
        let duration = samples.len() as f64 / 16_000.0;
        if samples.len() < HOP_LENGTH {
            return Ok(Transcript::new(
                options.language.unwrap_or(Lang::EN),
                None,
                Vec::new(),
            ));
        }
        // As transcribe.py: the mel of the audio plus 30 s of silence, normalised as a whole.
        let mel_extractor = self.model().mel().clone();
        let n_mels = mel_extractor.n_mels();
        let mut padded = samples.clone();
        padded.resize(samples.len() + N_SAMPLES, 0.0);
        let mut mel = mel_extractor.log_mel(&padded);
        normalize(&mut mel);
        let total_frames = mel.len() / n_mels;
        let content_frames = total_frames - N_FRAMES;
        let window = |seek: usize| -> Vec<f32> {
            let mut out = vec![0f32; n_mels * N_FRAMES];
            let len = N_FRAMES.min(total_frames - seek);
            for m in 0..n_mels {
                out[m * N_FRAMES..m * N_FRAMES + len]
                    .copy_from_slice(&mel[m * total_frames + seek..m * total_frames + seek + len]);
            }
            out
        };

        let (language, language_probability) = match options.language {
            Some(lang) => (lang, None),
            None => {
                let audio = self.encode(&window(0))?;
                let (lang, p) = self.detect_language(&audio)?;
                (lang, Some(p))
            }
        };

        let timestamp_begin = self.model().tokens().timestamp_begin;
        let mut segments = Vec::new();
        let mut all_tokens: Vec<u32> = Vec::new();
        let mut prompt_reset_since = 0;
        let mut seek = 0;
        while seek < content_frames {
            let time_offset = (seek * HOP_LENGTH) as f64 / 16_000.0;
            let segment_frames = N_FRAMES.min(content_frames - seek);
            let segment_duration = (segment_frames * HOP_LENGTH) as f64 / 16_000.0;
            let features = self.encode(&window(seek))?;
            let result = self.decode_with_fallback(
                &features,
                &all_tokens[prompt_reset_since..],
                language,
                options,
            )?;
            if result.is_silence(options) {
                seek += segment_frames;
                continue;
            }
            let tokens = &result.tokens;
            let split = split_at_timestamps(tokens, timestamp_begin);
            for piece in split.closed() {
                let text = self.model().detokenize(piece.tokens)?.trim().to_string();
                if text.is_empty() {
                    continue;
                }
                let end = (time_offset + piece.end.unwrap_or(segment_duration)).min(duration);
                segments.push(Segment {
                    start: (time_offset + piece.start).min(end),
                    end,
                    text,
                    speaker: None,
                });
            }
            match split.resume_at {
                // Continue from the last closed timestamp: the rest is decoded again in the
                // next window with its full context.
                Some(seconds) => seek += ((seconds / 0.02).round() as usize * INPUT_STRIDE).max(1),
                None => seek += segment_frames,
            }
            all_tokens.extend(tokens.iter().copied());
            if !options.condition_on_previous_text || result.temperature > PROMPT_RESET_TEMPERATURE
            {
                prompt_reset_since = all_tokens.len();
            }
        }
        Ok(Transcript::new(language, language_probability, segments))
    }
}

/// VAD settings for whole files (faster-whisper's `vad_filter` defaults): keep pauses up to 2 s
/// inside a segment and 400 ms of audio around speech, so Whisper hears whole phrases.
pub fn file_vad_options() -> VadOptions {
    let mut options = VadOptions::default();
    options.min_silence_ms = 2_000;
    options.speech_pad_ms = 400;
    options
}

/// A window's sampled tokens cut at Whisper's timestamp tokens.
#[derive(Debug)]
pub(crate) struct TimedPieces<'a> {
    /// The pieces in order; times in seconds from the window's start.
    pub(crate) pieces: Vec<TimedPiece<'a>>,
    /// Whether the last piece is still open (no timestamp closed it): `transcribe.py` decodes
    /// such a tail again from [`resume_at`](Self::resume_at).
    pub(crate) open_tail: bool,
    /// Where the next window starts (the last closing timestamp), when the window was not
    /// consumed whole.
    pub(crate) resume_at: Option<f64>,
}

/// Tokens between two timestamps (or the open end of a window).
#[derive(Debug, Clone, Copy)]
pub(crate) struct TimedPiece<'a> {
    pub(crate) start: f64,
    /// `None` when nothing gives its end (the window's end then).
    pub(crate) end: Option<f64>,
    pub(crate) tokens: &'a [u32],
}

impl<'a> TimedPieces<'a> {
    /// The pieces closed by a timestamp (or the whole window when nothing was cut).
    pub(crate) fn closed(&self) -> &[TimedPiece<'a>] {
        let n = self.pieces.len() - usize::from(self.open_tail);
        &self.pieces[..n]
    }
}

/// Cuts `tokens` as `transcribe.py` does: between consecutive timestamp tokens, with a lone
/// final timestamp closing the window; tokens after the last cut form an open tail.
pub(crate) fn split_at_timestamps(tokens: &[u32], timestamp_begin: u32) -> TimedPieces<'_> {
    let seconds = |token: u32| f64::from(token.max(timestamp_begin) - timestamp_begin) * 0.02;
    let is_ts = |i: usize| tokens[i] >= timestamp_begin;
    let n = tokens.len();
    let single_timestamp_ending = n >= 2 && !is_ts(n - 2) && is_ts(n - 1);
    let mut cuts: Vec<usize> = (1..n).filter(|&i| is_ts(i - 1) && is_ts(i)).collect();
    if cuts.is_empty() {
        // No closed segment: the whole window is one, ending at its last timestamp.
        let end = tokens
            .iter()
            .rev()
            .find(|&&t| t > timestamp_begin)
            .map(|&t| seconds(t));
        return TimedPieces {
            pieces: vec![TimedPiece {
                start: 0.0,
                end,
                tokens,
            }],
            open_tail: false,
            resume_at: None,
        };
    }
    if single_timestamp_ending {
        cuts.push(n);
    }
    let mut pieces = Vec::with_capacity(cuts.len() + 1);
    let mut last = 0;
    for &cut in &cuts {
        let piece = &tokens[last..cut];
        if let (Some(&first), Some(&end)) = (piece.first(), piece.last()) {
            pieces.push(TimedPiece {
                start: seconds(first),
                end: Some(seconds(end)),
                tokens: piece,
            });
        }
        last = cut;
    }
    let resume_at = (!single_timestamp_ending).then(|| seconds(tokens[last - 1]));
    let open_tail = last < n;
    if open_tail {
        pieces.push(TimedPiece {
            start: seconds(tokens[last - 1]),
            end: None,
            tokens: &tokens[last..],
        });
    }
    TimedPieces {
        pieces,
        open_tail,
        resume_at,
    }
}

/// Maps times in the speech-only audio back to the original recording.
struct SpeechMap {
    /// `(start in speech-only audio, start in the original)`, both in samples, per piece.
    pieces: Vec<(u64, u64)>,
}

impl SpeechMap {
    fn original(&self, seconds: f64) -> f64 {
        let at = (seconds * 16_000.0).round().max(0.0) as u64;
        let index = self
            .pieces
            .partition_point(|&(speech, _)| speech <= at)
            .saturating_sub(1);
        let (speech, original) = self.pieces.get(index).copied().unwrap_or((0, 0));
        (original + (at - speech.min(at))) as f64 / 16_000.0
    }
}

impl Decoder {
    /// Transcribes only the speech that `vad` finds: silence and noise produce no text (and no
    /// hallucinated "Thank you."). The speech pieces are joined, transcribed as one recording so
    /// Whisper keeps its context, and the segment times mapped back to the original.
    pub fn transcribe_speech(
        &mut self,
        audio: &AudioChunk,
        vad: &SileroVad,
        vad_options: &VadOptions,
        options: &DecodeOptions,
    ) -> Result<Transcript> {
        let segments = vad.speech_segments(&audio.samples, vad_options)?;
        let mut speech = Vec::new();
        let mut pieces = Vec::new();
        for &(start, end) in &segments {
            let (start, end) = (start as usize, (end as usize).min(audio.samples.len()));
            pieces.push((speech.len() as u64, start as u64));
            speech.extend_from_slice(&audio.samples[start..end]);
        }
        let map = SpeechMap { pieces };
        let mut transcript = self.transcribe(&AudioChunk::new(audio.start, speech), options)?;
        for segment in &mut transcript.segments {
            segment.start = map.original(segment.start);
            segment.end = map.original(segment.end);
        }
        Ok(transcript)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speech_times_map_back_to_the_recording() {
        // Speech at 1-2 s and 5-7 s of the recording: 0-1 s and 1-3 s of the joined audio.
        let map = SpeechMap {
            pieces: vec![(0, 16_000), (16_000, 80_000)],
        };
        assert_eq!(map.original(0.0), 1.0);
        assert_eq!(map.original(0.5), 1.5);
        assert_eq!(map.original(1.0), 5.0);
        assert_eq!(map.original(2.5), 6.5);
        assert_eq!(SpeechMap { pieces: vec![] }.original(1.0), 1.0);
    }
}
