//! Decoding every supported format, and every kind of bad file, from the fixtures made by
//! `tests/fixtures/make.sh` (sox and ffmpeg).

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // tests fail by panicking

use std::path::PathBuf;

use dragoman_core::decode::{decode_file, load_audio};
use dragoman_core::{AudioFileError, Error, SampleRate};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/audio")
        .join(name)
}

/// Frequency of a tone from its zero crossings.
fn pitch(samples: &[f32], rate: u32) -> f32 {
    let crossings = samples
        .windows(2)
        .filter(|w| (w[0] < 0.0) != (w[1] < 0.0))
        .count();
    crossings as f32 / 2.0 / (samples.len() as f32 / rate as f32)
}

fn rms(samples: &[f32]) -> f32 {
    (samples.iter().map(|s| s * s).sum::<f32>() / samples.len() as f32).sqrt()
}

struct Expect {
    file: &'static str,
    rate: u32,
    channels: u16,
    /// Allowed error of the duration in seconds (encoder padding of lossy codecs).
    duration_tol: f64,
    /// Allowed relative error of the RMS level.
    level_tol: f32,
}

const GOOD: &[Expect] = &[
    Expect {
        file: "pcm_u8_8k_mono.wav",
        rate: 8_000,
        channels: 1,
        duration_tol: 0.0,
        level_tol: 0.02,
    },
    Expect {
        file: "pcm_s16_16k_mono.wav",
        rate: 16_000,
        channels: 1,
        duration_tol: 0.0,
        level_tol: 0.01,
    },
    Expect {
        file: "pcm_s24_44k_stereo.wav",
        rate: 44_100,
        channels: 2,
        duration_tol: 0.0,
        level_tol: 0.01,
    },
    Expect {
        file: "pcm_s32_48k_stereo.wav",
        rate: 48_000,
        channels: 2,
        duration_tol: 0.0,
        level_tol: 0.01,
    },
    Expect {
        file: "pcm_f32_22k_mono.wav",
        rate: 22_050,
        channels: 1,
        duration_tol: 0.0,
        level_tol: 0.01,
    },
    Expect {
        file: "pcm_s16_48k_6ch.wav",
        rate: 48_000,
        channels: 6,
        duration_tol: 0.0,
        level_tol: 0.01,
    },
    Expect {
        file: "pcm_s16_12345_mono.wav",
        rate: 12_345,
        channels: 1,
        duration_tol: 0.0,
        level_tol: 0.01,
    },
    Expect {
        file: "flac_44k_stereo.flac",
        rate: 44_100,
        channels: 2,
        duration_tol: 0.0,
        level_tol: 0.01,
    },
    Expect {
        file: "vorbis_48k_mono.ogg",
        rate: 48_000,
        channels: 1,
        duration_tol: 0.01,
        level_tol: 0.05,
    },
    Expect {
        file: "mp3_44k_stereo.mp3",
        rate: 44_100,
        channels: 2,
        duration_tol: 0.06,
        level_tol: 0.08,
    },
    Expect {
        file: "aac_44k_stereo.m4a",
        rate: 44_100,
        channels: 2,
        duration_tol: 0.06,
        level_tol: 0.05,
    },
];

#[test]
fn every_format_decodes_with_its_duration_level_and_pitch() -> Result<(), Error> {
    for expect in GOOD {
        let audio = decode_file(fixture(expect.file))?;
        let name = expect.file;
        assert_eq!(audio.rate().hz(), expect.rate, "{name}: rate");
        assert_eq!(audio.channels(), expect.channels, "{name}: channels");
        let duration = audio.duration().as_secs_f64();
        assert!(
            (duration - 1.0).abs() <= expect.duration_tol + 1e-9,
            "{name}: duration {duration}"
        );
        let channels = usize::from(audio.channels());
        for c in 0..channels {
            let channel: Vec<f32> = audio
                .samples()
                .iter()
                .skip(c)
                .step_by(channels)
                .copied()
                .collect();
            // Skip the edges, where lossy codecs fade in and out.
            let edge = channel.len() / 10;
            let middle = &channel[edge..channel.len() - edge];
            let level = rms(middle);
            let want_level = 0.5 / 2f32.sqrt();
            assert!(
                (level / want_level - 1.0).abs() <= expect.level_tol,
                "{name} ch{c}: level {level}"
            );
            let hz = pitch(middle, expect.rate);
            let want_hz = 440.0 * (c + 1) as f32;
            assert!(
                (hz / want_hz - 1.0).abs() < 0.02,
                "{name} ch{c}: pitch {hz} Hz, want {want_hz}"
            );
        }
    }
    Ok(())
}

#[test]
fn lossless_samples_match_the_generator() -> Result<(), Error> {
    // sox's sine at amplitude 0.5, quantised to 16 bits with sox's noise-shaped dither (which
    // moves samples by up to ~0.01). Project onto sin and cos at 440 Hz to find amplitude and
    // phase, then every sample must sit on that sine: a wrong scale or a shift of one sample
    // (up to 0.086 here) would not.
    let audio = decode_file(fixture("pcm_s16_16k_mono.wav"))?;
    let w = 2.0 * std::f64::consts::PI * 440.0 / 16_000.0;
    let samples = &audio.samples()[..16_000];
    let project = |f: fn(f64) -> f64| {
        samples
            .iter()
            .enumerate()
            .map(|(n, &s)| f64::from(s) * f(w * n as f64))
            .sum::<f64>()
            * 2.0
            / 16_000.0
    };
    let (a, b) = (project(f64::sin), project(f64::cos));
    assert!(
        ((a * a + b * b).sqrt() - 0.5).abs() < 1e-3,
        "amplitude {}",
        (a * a + b * b).sqrt()
    );
    for (n, &s) in samples.iter().enumerate() {
        let ideal = a * (w * n as f64).sin() + b * (w * n as f64).cos();
        assert!(
            (f64::from(s) - ideal).abs() < 0.01,
            "sample {n}: {s} vs {ideal}"
        );
    }
    let flac = decode_file(fixture("flac_44k_stereo.flac"))?;
    let wav24 = decode_file(fixture("pcm_s24_44k_stereo.wav"))?;
    let max_diff = flac
        .samples()
        .iter()
        .zip(wav24.samples())
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    assert!(
        max_diff < 2.0 / 32_768.0,
        "FLAC (16-bit) vs 24-bit WAV of the same tones: {max_diff}"
    );
    Ok(())
}

#[test]
fn load_audio_gives_16k_mono_of_the_same_length() -> Result<(), Error> {
    for expect in GOOD {
        let chunk = load_audio(fixture(expect.file), SampleRate::HZ_16000)?;
        assert_eq!(chunk.rate(), SampleRate::HZ_16000);
        let secs = chunk.samples.len() as f64 / 16_000.0;
        assert!(
            (secs - 1.0).abs() <= expect.duration_tol + 1e-3,
            "{}: {secs} s",
            expect.file
        );
        if expect.channels == 1 {
            let hz = pitch(&chunk.samples[1_600..14_400], 16_000);
            assert!(
                (hz / 440.0 - 1.0).abs() < 0.02,
                "{}: pitch after resampling {hz}",
                expect.file
            );
        }
    }
    Ok(())
}

#[test]
fn wavs_whose_lengths_disagree_with_the_file_decode_as_sox_and_ffmpeg_read_them()
-> Result<(), Error> {
    let clean = decode_file(fixture("pcm_s16_16k_mono.wav"))?;
    for name in [
        "quirk_ffmpeg_pipe.wav",
        "quirk_rf64.wav",
        "quirk_list_past_end.wav",
        "quirk_riff_len_short.wav",
        "quirk_zero_lengths.wav",
        "quirk_odd_chunk.wav",
    ] {
        let audio = decode_file(fixture(name))?;
        assert_eq!(
            (audio.rate(), audio.channels()),
            (clean.rate(), 1),
            "{name}"
        );
        assert!(audio.samples() == clean.samples(), "{name}: samples differ");
    }
    // A recording cut short (the header declares 32000 bytes of audio, the file holds 1956):
    // the audio that is there, as sox and ffmpeg read it.
    let cut = decode_file(fixture("truncated.wav"))?;
    assert_eq!(cut.frames(), 978);
    assert!(cut.samples() == &clean.samples()[..978]);
    Ok(())
}

fn kind_of(name: &str) -> AudioFileError {
    match decode_file(fixture(name)) {
        Err(Error::AudioFile { path, kind }) => {
            assert!(
                path.ends_with(name),
                "error names the file: {}",
                path.display()
            );
            kind
        }
        Err(other) => panic!("{name}: expected an AudioFile error, got {other}"),
        Ok(audio) => panic!("{name}: decoded {} frames from a bad file", audio.frames()),
    }
}

#[test]
fn bad_files_give_typed_errors_that_name_the_file() {
    assert_eq!(kind_of("empty.wav"), AudioFileError::Empty);
    assert_eq!(kind_of("text.mp3"), AudioFileError::UnsupportedFormat);
    assert_eq!(kind_of("random.bin"), AudioFileError::UnsupportedFormat);
    assert_eq!(kind_of("no_audio.mp4"), AudioFileError::NoAudioTrack);
    assert!(
        matches!(
            kind_of("header_only.wav"),
            AudioFileError::Truncated | AudioFileError::UnsupportedFormat
        ),
        "header_only.wav"
    );
    assert!(
        matches!(kind_of("corrupt.flac"), AudioFileError::Corrupt(_)),
        "corrupt.flac"
    );
    assert!(matches!(
        kind_of("does-not-exist.wav"),
        AudioFileError::Io(_)
    ));
    // The message a user sees has both the file and the reason.
    let message = decode_file(fixture("empty.wav"))
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        message.contains("empty.wav") && message.contains("empty"),
        "{message}"
    );
}
