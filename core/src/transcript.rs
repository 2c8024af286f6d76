//! A finished transcript and its subtitle formats (SRT, WebVTT), shared by file transcription,
//! the server's transcript download and the bindings.

use std::fmt::Write as _;

use crate::lang::Lang;

/// One timed piece of a transcript.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Segment {
    /// Start, in seconds from the start of the audio.
    pub start: f64,
    /// End, in seconds.
    pub end: f64,
    /// The text, trimmed.
    pub text: String,
    /// Who spoke it, when the transcript has several speakers (a call).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speaker: Option<String>,
}

/// A whole transcript.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Transcript {
    /// The language the speech was transcribed in.
    pub language: Lang,
    /// Probability of `language` when it was detected; `None` when it was given.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub language_probability: Option<f32>,
    /// All segments' text joined with spaces.
    pub text: String,
    /// The segments, in order.
    pub segments: Vec<Segment>,
}

impl Transcript {
    /// A transcript of `segments`, with `text` derived from them.
    pub fn new(language: Lang, language_probability: Option<f32>, segments: Vec<Segment>) -> Self {
        let text = segments
            .iter()
            .map(|s| s.text.as_str())
            .filter(|t| !t.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        Self {
            language,
            language_probability,
            text,
            segments,
        }
    }

    /// SubRip subtitles.
    pub fn to_srt(&self) -> String {
        srt(&self.segments)
    }

    /// WebVTT subtitles.
    pub fn to_vtt(&self) -> String {
        vtt(&self.segments)
    }
}

/// SubRip subtitles of `segments` (a speaker, when known, prefixes the text: `Ana: …`).
pub fn srt(segments: &[Segment]) -> String {
    let mut out = String::new();
    for (i, s) in segments.iter().enumerate() {
        let _ = writeln!(
            out,
            "{}\n{} --> {}",
            i + 1,
            timestamp(s.start, ','),
            timestamp(s.end, ',')
        );
        if let Some(speaker) = &s.speaker {
            let _ = write!(out, "{speaker}: ");
        }
        let _ = write!(out, "{}\n\n", s.text);
    }
    out
}

/// WebVTT subtitles of `segments` (a speaker, when known, is a voice span: `<v Ana>…`).
pub fn vtt(segments: &[Segment]) -> String {
    let mut out = String::from("WEBVTT\n\n");
    for s in segments {
        let _ = writeln!(
            out,
            "{} --> {}",
            timestamp(s.start, '.'),
            timestamp(s.end, '.')
        );
        if let Some(speaker) = &s.speaker {
            // A voice name ends at '>'; cue text must not hold "-->".
            let _ = write!(out, "<v {}>", speaker.replace('>', ""));
        }
        let _ = write!(out, "{}\n\n", s.text.replace("-->", "->"));
    }
    out
}

/// `HH:MM:SS,mmm` (SRT) or `HH:MM:SS.mmm` (VTT).
fn timestamp(seconds: f64, separator: char) -> String {
    let millis = (seconds.max(0.0) * 1000.0).round() as u64;
    let (h, m, s, ms) = (
        millis / 3_600_000,
        millis / 60_000 % 60,
        millis / 1000 % 60,
        millis % 1000,
    );
    format!("{h:02}:{m:02}:{s:02}{separator}{ms:03}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Transcript {
        Transcript::new(
            Lang::EN,
            Some(0.97),
            vec![
                Segment {
                    start: 0.0,
                    end: 2.5,
                    text: "And so my fellow Americans,".into(),
                    speaker: None,
                },
                Segment {
                    start: 3661.2345,
                    end: 3662.0,
                    text: "ask not.".into(),
                    speaker: Some("JFK".into()),
                },
            ],
        )
    }

    #[test]
    fn srt_and_vtt() {
        let t = sample();
        assert_eq!(t.text, "And so my fellow Americans, ask not.");
        assert_eq!(
            t.to_srt(),
            "1\n00:00:00,000 --> 00:00:02,500\nAnd so my fellow Americans,\n\n2\n01:01:01,235 --> 01:01:02,000\nJFK: ask not.\n\n"
        );
        assert!(
            t.to_vtt()
                .starts_with("WEBVTT\n\n00:00:00.000 --> 00:00:02.500\n")
        );
        assert!(t.to_vtt().ends_with("\n<v JFK>ask not.\n\n"));
    }

    #[test]
    fn json_shape() -> Result<(), serde_json::Error> {
        let json = serde_json::to_value(sample())?;
        assert_eq!(json["language"], "en");
        assert_eq!(json["segments"][1]["start"], 3661.2345);
        assert_eq!(json["text"], "And so my fellow Americans, ask not.");
        Ok(())
    }
}
