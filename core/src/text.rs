//! Text helpers shared by the engines that handle text (translation, speech synthesis).

/// Splits text after sentence-final punctuation (`.`, `!`, `?`, `…` and their CJK forms, with
/// any closing quotes or brackets) that is followed by whitespace or ends the text, unless the
/// next word starts with a lower-case letter ("at 10 a.m. tomorrow", "\"Fine!\" he said"), as
/// Unicode's sentence boundaries (UAX #29) do not break there either.
pub fn sentences(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let mut end = i + c.len_utf8();
        if !matches!(c, '.' | '!' | '?' | '…' | '。' | '！' | '？') {
            continue;
        }
        while let Some(&(j, next)) = chars.peek() {
            if matches!(
                next,
                '"' | '\'' | '”' | '’' | ')' | ']' | '»' | '.' | '!' | '?'
            ) {
                end = j + next.len_utf8();
                chars.next();
            } else {
                break;
            }
        }
        let cjk = matches!(c, '。' | '！' | '？');
        let next_word = text[end..].trim_start().chars().next();
        let continues = next_word.is_some_and(char::is_lowercase);
        if cjk || (chars.peek().is_none_or(|&(_, next)| next.is_whitespace()) && !continues) {
            let sentence = text[start..end].trim();
            if !sentence.is_empty() {
                out.push(sentence);
            }
            start = end;
        }
    }
    let rest = text[start..].trim();
    if !rest.is_empty() {
        out.push(rest);
    }
    out
}

/// Splits text that is still arriving (a stream of translated captions being spoken) into the
/// sentences known to be complete and the unfinished rest: a sentence is complete once its
/// final punctuation is followed by whitespace (a final `.` at the very end may be "3." of
/// "3.5", so it waits).
pub fn complete_sentences(text: &str) -> (Vec<&str>, &str) {
    let mut all = sentences(text);
    let ends_open = !text.ends_with(char::is_whitespace)
        && all
            .last()
            .is_some_and(|last| !last.ends_with(['。', '！', '？']));
    let rest = if ends_open {
        all.pop().unwrap_or_default()
    } else {
        ""
    };
    (all, rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_sentences() {
        assert_eq!(
            sentences("Hello there. How are you?  \"Fine!\" he said. 3.5 km… Ok"),
            [
                "Hello there.",
                "How are you?",
                "\"Fine!\" he said.",
                "3.5 km…",
                "Ok"
            ]
        );
        assert_eq!(
            sentences("It starts at 10 a.m. tomorrow. Be there."),
            ["It starts at 10 a.m. tomorrow.", "Be there."]
        );
        assert_eq!(sentences("你好。世界！"), ["你好。", "世界！"]);
        assert!(sentences("   ").is_empty());
    }

    #[test]
    fn holds_back_the_unfinished_sentence() {
        assert_eq!(complete_sentences("One. Two"), (vec!["One."], "Two"));
        assert_eq!(complete_sentences("One. Two."), (vec!["One."], "Two."));
        assert_eq!(complete_sentences("One. Two. "), (vec!["One.", "Two."], ""));
        assert_eq!(complete_sentences("你好。"), (vec!["你好。"], ""));
        assert_eq!(complete_sentences(""), (vec![], ""));
    }
}
