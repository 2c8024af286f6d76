//! Which of a vocabulary's tokens an answer in a given script can use, for the output layer's
//! [`Shortlist`](super::decoder::Shortlist).
//!
//! Only the Latin script is told apart (German, Spanish, French, Vietnamese, English, and most
//! of the languages a call translates into): it is where most small multilingual vocabularies
//! keep a third or more of their tokens for other scripts. Answers in other scripts use the
//! whole vocabulary. The price: a Latin-script answer cannot copy a source's words written in
//! another script (a name in Cyrillic stays out of a German caption), which spoken captions
//! rarely hold.

use dragoman_core::Lang;

/// Whether answers in `lang` are written in the Latin script (FLORES-200's `_Latn` codes).
pub(crate) fn is_latin(lang: Lang) -> bool {
    lang.flores200().is_ok_and(|code| code.ends_with("_Latn"))
}

/// The ids below `rows` (the output layer's) of `tokenizer`'s tokens that Latin-script text
/// can hold: those whose text is Latin letters (with every diacritic Vietnamese uses), digits,
/// punctuation, symbols and spaces; every added or control token (ends of turn, end of
/// sequence); byte tokens and pieces of characters (their text is incomplete, so it cannot be
/// judged); and ids the vocabulary does not decode (rows past its end are harmless to keep).
pub(crate) fn latin_tokens(tokenizer: &tokenizers::Tokenizer, rows: usize) -> Vec<u32> {
    let added = tokenizer.get_added_tokens_decoder();
    (0..rows as u32)
        .filter(|id| {
            added.contains_key(id)
                || tokenizer
                    .decode(&[*id], false)
                    .is_ok_and(|text| text.chars().all(latin_text))
        })
        .collect()
}

/// A character of Latin-script text.
fn latin_text(c: char) -> bool {
    c.is_ascii()
        || c.is_whitespace()
        || matches!(
            u32::from(c),
            // Latin-1 Supplement, Latin Extended-A and -B, IPA Extensions and spacing
            // modifiers (Azerbaijani ə, Hausa ɓ ɗ, Lingala ɛ ɔ, Uzbek oʻ)
            0x00A0..=0x02FF
            // combining diacritics (tones written apart from their vowel)
            | 0x0300..=0x036F
            // Latin Extended Additional (Vietnamese: ạ, ế, ữ, ...)
            | 0x1E00..=0x1EFF
            // general punctuation (dashes, quotes, ellipsis), currency, letterlike symbols
            | 0x2000..=0x214F
            // Latin Extended-C and -D
            | 0x2C60..=0x2C7F
            | 0xA720..=0xA7FF
            // SentencePiece's word start
            | 0x2581
            // part of a character split over several tokens
            | 0xFFFD
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latin_text_keeps_vietnamese_and_german_and_drops_other_scripts() {
        for text in [
            "Tiếng Việt có dấu: ạ ả ấ ầ ẩ ẫ ậ đ ơ ư",
            "Grüße, Straße – „so“ …",
            "€ 5,00",
            "Azərbaycan, oʻzbek, ɓaƙi, mɛ́kɔ",
        ] {
            assert!(text.chars().all(latin_text), "{text}");
        }
        for text in ["привет", "你好", "مرحبا", "こんにちは"] {
            assert!(!text.chars().any(latin_text), "{text}");
        }
    }

    #[test]
    fn scripts_of_languages() {
        for code in ["de", "vi", "es", "fr", "en"] {
            assert!(is_latin(Lang::parse(code).unwrap()), "{code}");
        }
        for code in ["ru", "zh", "ja", "ar"] {
            assert!(!is_latin(Lang::parse(code).unwrap()), "{code}");
        }
    }
}
