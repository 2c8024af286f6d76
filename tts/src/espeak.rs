//! espeak-ng, run as a program (it is GPL-3.0: linking it would put the library under the GPL).
//!
//! Two uses: the fallback voice for every language that has no neural voice in the cache
//! ([`EspeakVoice`], formant synthesis: robotic but intelligible, in about a hundred languages),
//! and phonemization for the Piper voices, which were trained on espeak-ng's phonemes.

use std::io::Write;
use std::process::{Command, Stdio};

use dragoman_core::{Error, Lang, Result, SampleRate};

use crate::session::SentenceSynthesizer;

/// The espeak-ng program: its path and the voices it has.
#[derive(Debug, Clone)]
pub struct Espeak {
    program: String,
    /// espeak-ng's voice names (`en-us`, `vi`, ...).
    voices: Vec<String>,
}

impl Espeak {
    /// Finds `espeak-ng` (on `PATH`, or where `DRAGOMAN_ESPEAK` points) and lists its voices.
    pub fn find() -> Result<Self> {
        let program = std::env::var("DRAGOMAN_ESPEAK").unwrap_or_else(|_| "espeak-ng".into());
        let out = Command::new(&program)
            .arg("--voices")
            .output()
            .map_err(|e| {
                Error::Model(format!(
                    "espeak-ng is needed for speech in languages without a neural voice and for \
                     Piper's phonemes ({program}: {e}); install it (Debian: apt-get install \
                     espeak-ng) or set DRAGOMAN_ESPEAK"
                ))
            })?;
        let voices = String::from_utf8_lossy(&out.stdout)
            .lines()
            .skip(1)
            .filter_map(|line| line.split_whitespace().nth(1).map(str::to_string))
            .collect();
        Ok(Self { program, voices })
    }

    /// espeak-ng's voice for `lang`, if it has one: the bare code, or the regional voice it
    /// files the language under (`en-us`, `fr-fr`, `cmn` for Chinese).
    pub fn voice_for(&self, lang: Lang) -> Option<&str> {
        let code = lang.code();
        let candidates = [
            code.to_string(),
            format!("{code}-{code}"),
            match code {
                "en" => "en-us",
                "zh" => "cmn",
                "pt" => "pt-br",
                _ => "",
            }
            .to_string(),
        ];
        candidates
            .into_iter()
            .find_map(|c| self.voices.iter().find(|v| **v == c))
            .map(String::as_str)
    }

    /// The languages espeak-ng speaks, of those dragoman knows.
    pub fn languages(&self) -> Vec<Lang> {
        Lang::all()
            .filter(|l| self.voice_for(*l).is_some())
            .collect()
    }

    /// Runs espeak-ng on `text` (passed on standard input, never as an argument) with `args`.
    fn run(&self, args: &[&str], text: &str) -> Result<Vec<u8>> {
        let mut child = Command::new(&self.program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| Error::Model(format!("starting {}: {e}", self.program)))?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(text.as_bytes())
                .map_err(|e| Error::io("writing text to espeak-ng", e))?;
        }
        let out = child
            .wait_with_output()
            .map_err(|e| Error::io("running espeak-ng", e))?;
        if !out.status.success() {
            return Err(Error::Model(format!(
                "espeak-ng failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(out.stdout)
    }

    /// `text` in espeak-ng's IPA for voice `voice` (e.g. `en-us`), as Piper voices were
    /// trained on it: clauses joined with the punctuation that ended them (espeak-ng's own
    /// output drops it, one clause per line).
    pub fn ipa(&self, text: &str, voice: &str) -> Result<String> {
        let out = self.run(&["-q", "--ipa", "-v", voice], text)?;
        let out = String::from_utf8_lossy(&out);
        let clauses: Vec<&str> = out
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        let marks = clause_marks(text);
        if marks.len() != clauses.len() {
            // espeak cut the text elsewhere than we read it: keep the words, drop the marks.
            return Ok(clauses.join(" "));
        }
        Ok(clauses
            .iter()
            .zip(marks)
            .map(|(clause, mark)| format!("{clause}{mark}"))
            .collect::<Vec<_>>()
            .join(" "))
    }
}

/// The punctuation that ends each clause of `text`, in order: a mark followed by whitespace or
/// the end of the text (so the point of "3.5" is none). Text after the last mark is a clause
/// ended by nothing.
fn clause_marks(text: &str) -> Vec<&'static str> {
    let mut marks = Vec::new();
    let mut open = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let mark = match c {
            ',' => ",",
            '.' | '…' => ".",
            ';' => ";",
            ':' => ":",
            '!' => "!",
            '?' => "?",
            _ => {
                open |= c.is_alphanumeric();
                continue;
            }
        };
        if open && chars.peek().is_none_or(|n| n.is_whitespace()) {
            marks.push(mark);
            open = false;
        }
    }
    if open {
        marks.push("");
    }
    marks
}

/// espeak-ng speaking one language.
#[derive(Debug, Clone)]
pub struct EspeakVoice {
    espeak: Espeak,
    voice: String,
}

/// espeak-ng's default speaking rate, words per minute.
const WORDS_PER_MINUTE: f32 = 175.0;

impl EspeakVoice {
    /// The voice for `lang`; an error lists the languages espeak-ng speaks.
    pub fn new(espeak: &Espeak, lang: Lang) -> Result<Self> {
        let voice = espeak.voice_for(lang).ok_or_else(|| Error::NoVoice {
            lang: lang.code().into(),
            available: list(&espeak.languages()),
        })?;
        Ok(Self {
            voice: voice.to_string(),
            espeak: espeak.clone(),
        })
    }
}

/// Language codes, comma-separated.
pub(crate) fn list(langs: &[Lang]) -> String {
    langs
        .iter()
        .map(|l| l.code())
        .collect::<Vec<_>>()
        .join(", ")
}

impl SentenceSynthesizer for EspeakVoice {
    fn sample_rate(&self) -> SampleRate {
        SampleRate::HZ_22050
    }

    fn synthesize(&self, sentence: &str, speed: f32) -> Result<Vec<f32>> {
        let rate = format!("{:.0}", (WORDS_PER_MINUTE * speed).clamp(80.0, 450.0));
        let wav = self
            .espeak
            .run(&["-v", &self.voice, "-s", &rate, "--stdout"], sentence)?;
        pcm16_wav_samples(&wav)
    }
}

/// The samples of a mono 16-bit PCM WAV as espeak-ng writes it to a pipe (its size fields
/// say "unknown", so the data runs to the end).
fn pcm16_wav_samples(wav: &[u8]) -> Result<Vec<f32>> {
    let bad = || Error::Model("espeak-ng wrote no 16-bit mono WAV".into());
    if wav.len() < 12 || &wav[..4] != b"RIFF" || &wav[8..12] != b"WAVE" {
        return Err(bad());
    }
    let mut at = 12;
    while at + 8 <= wav.len() {
        let id = &wav[at..at + 4];
        let size = u32::from_le_bytes([wav[at + 4], wav[at + 5], wav[at + 6], wav[at + 7]]);
        if id == b"fmt " {
            let fmt = wav.get(at + 8..at + 24).ok_or_else(bad)?;
            let (channels, bits) = (
                u16::from_le_bytes([fmt[2], fmt[3]]),
                u16::from_le_bytes([fmt[14], fmt[15]]),
            );
            if channels != 1 || bits != 16 {
                return Err(bad());
            }
        } else if id == b"data" {
            return Ok(wav[at + 8..]
                .chunks_exact(2)
                .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0)
                .collect());
        }
        at += 8 + size as usize;
    }
    Err(bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_streamed_wav() {
        let mut wav = b"RIFF\xff\xff\xff\x7fWAVEfmt ".to_vec();
        wav.extend(16u32.to_le_bytes());
        wav.extend([1, 0, 1, 0]); // PCM, mono
        wav.extend(22050u32.to_le_bytes());
        wav.extend(44100u32.to_le_bytes());
        wav.extend([2, 0, 16, 0]);
        wav.extend(b"data\xff\xff\xff\x7f");
        wav.extend([0x00, 0x40, 0x00, 0xc0]);
        assert_eq!(pcm16_wav_samples(&wav).unwrap_or_default(), [0.5, -0.5]);
        assert!(pcm16_wav_samples(b"RIFF....WAVE").is_err());
        assert!(pcm16_wav_samples(b"").is_err());
    }

    #[test]
    fn finds_clause_ends() {
        assert_eq!(
            clause_marks("Hello world, this: ok? Yes! It costs 3.5 dollars."),
            [",", ":", "?", "!", "."]
        );
        assert_eq!(clause_marks("no end"), [""]);
        assert_eq!(clause_marks("... !"), Vec::<&str>::new());
    }
}
