//! Audio file input: any container and codec symphonia reads, at any rate and channel count.
//!
//! Formats: WAV (PCM 8/16/24/32-bit integer, 32/64-bit float, ADPCM), AIFF, CAF, FLAC, MP3,
//! Ogg/Vorbis, MKV/WebM, AAC and ALAC in MP4/M4A. [`load_audio`] is what an engine's caller wants:
//! decode, mix down to mono, resample to the model's rate.
//!
//! WAVs (RIFF, RF64, BW64) are read as sox, ffmpeg and Python's `wave` read them, lengths that
//! disagree with the file and all (module `wav`); a WAV cut short decodes to the audio it holds,
//! with a warning on the `log` facade.
//!
//! Every failure is an [`Error::AudioFile`] naming the file and an [`AudioFileError`]; no input
//! makes this module panic (a decoder bug that does is caught and reported as corrupt data, and
//! the `decode` fuzz target hunts for such bugs).

use std::io::{Cursor, SeekFrom};
use std::path::Path;

use symphonia::core::codecs::audio::AudioDecoderOptions;
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, TrackType};
use symphonia::core::io::{MediaSource, MediaSourceStream, MediaSourceStreamOptions};
use symphonia::core::meta::MetadataOptions;

use crate::audio::{AudioBuffer, AudioChunk, SampleRate, StreamTime};
use crate::error::{AudioFileError, Error, Result};
use crate::resample::resample;

mod wav;

/// How many undecodable packets in a row are skipped before the file is called corrupt.
/// Real files with a damaged frame or two still play, as in every media player.
const MAX_CONSECUTIVE_BAD_PACKETS: usize = 8;

/// Frames a decoder may deliver short of what the container declares without the file being
/// called damaged: one MPEG audio frame, the most that encoder-delay bookkeeping disagrees by.
const LOST_FRAMES_TOLERATED: u64 = 1_152;

/// Reads an audio file at its own rate and channel count.
pub fn decode_file(path: impl AsRef<Path>) -> Result<AudioBuffer> {
    let path = path.as_ref();
    let fail = |kind| Error::AudioFile {
        path: path.to_path_buf(),
        kind,
    };
    // Streamed from disk: an hour-long recording is not read into memory twice.
    let file = std::fs::File::open(path).map_err(|e| fail(AudioFileError::Io(e.to_string())))?;
    let len = file
        .metadata()
        .map_err(|e| fail(AudioFileError::Io(e.to_string())))?
        .len();
    if len == 0 {
        return Err(fail(AudioFileError::Empty));
    }
    let hint = path.extension().and_then(|e| e.to_str());
    guarded(|| decode_source(file, len, hint, &path.display().to_string())).map_err(fail)
}

/// Reads an audio file and returns mono audio at `rate`, starting at stream time zero.
pub fn load_audio(path: impl AsRef<Path>, rate: SampleRate) -> Result<AudioChunk> {
    let path = path.as_ref();
    let buffer = decode_file(path)?;
    let mono = buffer.to_mono();
    let samples = resample(&mono, buffer.rate(), rate).map_err(|e| Error::AudioFile {
        path: path.to_path_buf(),
        kind: AudioFileError::Corrupt(e.to_string()),
    })?;
    Ok(AudioChunk::new(StreamTime::zero(rate), samples))
}

/// Decodes an in-memory file (for callers without a file system: wasm, mobile, network uploads).
///
/// `extension` (`"wav"`, `"mp3"`, ...) is a hint for the format probe; content decides.
pub fn decode_bytes(
    bytes: Vec<u8>,
    extension: Option<&str>,
) -> Result<AudioBuffer, AudioFileError> {
    guarded(move || decode_unguarded(bytes, extension))
}

/// Decoders are third-party code run on untrusted bytes: a panic in one must not take the caller
/// down. The fuzz target calls [`decode_unguarded`] so that such panics are still found.
fn guarded(
    decode: impl FnOnce() -> Result<AudioBuffer, AudioFileError> + std::panic::UnwindSafe,
) -> Result<AudioBuffer, AudioFileError> {
    std::panic::catch_unwind(decode).unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "decoder panicked".to_string());
        Err(AudioFileError::Corrupt(what))
    })
}

/// [`decode_bytes`] without the panic guard. Public for the fuzz target only.
#[doc(hidden)]
pub fn decode_unguarded(
    bytes: Vec<u8>,
    extension: Option<&str>,
) -> Result<AudioBuffer, AudioFileError> {
    if bytes.is_empty() {
        return Err(AudioFileError::Empty);
    }
    let len = bytes.len() as u64;
    decode_source(Cursor::new(bytes), len, extension, "audio")
}

/// Decodes a whole stream (file or memory) of `len` bytes; `name` is what a warning calls it.
fn decode_source<R: MediaSource + 'static>(
    mut source: R,
    len: u64,
    extension: Option<&str>,
    name: &str,
) -> Result<AudioBuffer, AudioFileError> {
    let io_error = |e: std::io::Error| AudioFileError::Io(e.to_string());
    // WAVs go through the forgiving reader of `wav`, everything else straight to symphonia.
    let source: Box<dyn MediaSource> = match wav::locate(&mut source, len).map_err(io_error)? {
        Some(layout) => {
            if layout.missing_bytes() > 0 {
                log::warn!(
                    "{name}: the WAV header declares {} bytes of audio past the end of the file \
                     (a recording cut short); decoding what the file holds",
                    layout.missing_bytes()
                );
            }
            Box::new(wav::Spliced::new(source, layout))
        }
        None => {
            source.seek(SeekFrom::Start(0)).map_err(io_error)?;
            Box::new(source)
        }
    };
    let source = MediaSourceStream::new(source, MediaSourceStreamOptions::default());
    let mut hint = Hint::new();
    if let Some(ext) = extension {
        hint.with_extension(ext);
    }
    let mut format = symphonia::default::get_probe()
        .probe(
            &hint,
            source,
            FormatOptions::default(),
            MetadataOptions::default(),
        )
        .map_err(|e| match e {
            SymphoniaError::Unsupported(_) => AudioFileError::UnsupportedFormat,
            other => classify(other),
        })?;
    let track = format
        .default_track(TrackType::Audio)
        .ok_or(AudioFileError::NoAudioTrack)?;
    let track_id = track.id;
    let declared_frames = track.num_frames;
    let params = track
        .codec_params
        .as_ref()
        .and_then(|p| p.audio())
        .ok_or(AudioFileError::NoAudioTrack)?
        .clone();
    let mut decoder = symphonia::default::get_codecs()
        .make_audio_decoder(&params, &AudioDecoderOptions::default())
        .map_err(|e| match e {
            SymphoniaError::Unsupported(what) => {
                AudioFileError::UnsupportedCodec(format!("{} ({what})", params.codec))
            }
            other => classify(other),
        })?;

    let mut samples: Vec<f32> = Vec::new();
    let mut spec: Option<(u32, usize)> = None;
    let mut bad_in_a_row = 0;
    loop {
        let packet = match format.next_packet() {
            Ok(Some(packet)) => packet,
            Ok(None) => break,
            Err(SymphoniaError::ResetRequired) => {
                return Err(AudioFileError::UnsupportedFormat);
            }
            Err(e) => return Err(classify(e)),
        };
        if packet.track_id != track_id {
            continue;
        }
        match decoder.decode(&packet) {
            Ok(decoded) => {
                bad_in_a_row = 0;
                let this = (decoded.spec().rate(), decoded.spec().channels().count());
                match spec {
                    None => spec = Some(this),
                    Some(first) if first != this => {
                        return Err(AudioFileError::Corrupt(format!(
                            "format changes mid-stream ({} Hz x {} -> {} Hz x {})",
                            first.0, first.1, this.0, this.1
                        )));
                    }
                    Some(_) => {}
                }
                let start = samples.len();
                samples.resize(start + decoded.samples_interleaved(), 0.0);
                decoded.copy_to_slice_interleaved(&mut samples[start..]);
            }
            Err(SymphoniaError::DecodeError(what)) => {
                bad_in_a_row += 1;
                if bad_in_a_row > MAX_CONSECUTIVE_BAD_PACKETS {
                    return Err(AudioFileError::Corrupt(what.to_string()));
                }
            }
            Err(e) => return Err(classify(e)),
        }
    }

    let (rate, channels) = spec.ok_or(AudioFileError::NoSamples)?;
    if samples.is_empty() {
        return Err(AudioFileError::NoSamples);
    }
    if samples.iter().any(|s| !s.is_finite()) {
        return Err(AudioFileError::Corrupt("non-finite sample values".into()));
    }
    // Decoders resynchronise past damaged data silently; a file that declares its length
    // (WAV, FLAC, MP4, MP3 with a LAME header) must deliver it, or audio was lost.
    let decoded_frames = (samples.len() / channels.max(1)) as u64;
    if let Some(declared) = declared_frames.filter(|&d| decoded_frames + LOST_FRAMES_TOLERATED < d)
    {
        return Err(AudioFileError::Corrupt(format!(
            "only {decoded_frames} of the {declared} frames the file declares could be decoded"
        )));
    }
    let rate =
        SampleRate::new(rate).map_err(|_| AudioFileError::Corrupt("sample rate of 0 Hz".into()))?;
    let channels = u16::try_from(channels)
        .ok()
        .filter(|&c| c > 0)
        .ok_or_else(|| AudioFileError::Corrupt(format!("{channels} channels")))?;
    AudioBuffer::from_interleaved(rate, channels, samples)
        .map_err(|e| AudioFileError::Corrupt(e.to_string()))
}

/// Maps a symphonia error met while reading to the reason a user understands.
fn classify(error: SymphoniaError) -> AudioFileError {
    match error {
        SymphoniaError::IoError(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            AudioFileError::Truncated
        }
        SymphoniaError::IoError(e) => AudioFileError::Io(e.to_string()),
        SymphoniaError::Unsupported(what) => AudioFileError::UnsupportedCodec(what.to_string()),
        SymphoniaError::DecodeError(what) => AudioFileError::Corrupt(what.to_string()),
        SymphoniaError::LimitError(what) => {
            AudioFileError::Corrupt(format!("limit exceeded: {what}"))
        }
        other => AudioFileError::Corrupt(other.to_string()),
    }
}
