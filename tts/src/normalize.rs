//! Text made speakable, per language: abbreviations spelled out and dates written as they are
//! read ([`normalize`], for every voice). Voices that phonemize with espeak-ng leave numbers to
//! it: its number rules cover every language it speaks (cardinals, decimals, years, ordinals
//! in German). Voices that read characters (MMS) get them spelled out ([`spell_numbers`]).

use dragoman_core::Lang;
use num_bigint::BigInt;

/// Abbreviations (as written, with their dots) and what is said for them, per language.
fn abbreviations(lang: Lang) -> &'static [(&'static str, &'static str)] {
    match lang.code() {
        "en" => &[
            ("Dr.", "Doctor"),
            ("Mr.", "Mister"),
            ("Mrs.", "Missus"),
            ("Prof.", "Professor"),
            ("e.g.", "for example"),
            ("i.e.", "that is"),
            ("etc.", "et cetera"),
            ("vs.", "versus"),
            ("approx.", "approximately"),
        ],
        "de" => &[
            ("z.B.", "zum Beispiel"),
            ("z. B.", "zum Beispiel"),
            ("d.h.", "das heißt"),
            ("d. h.", "das heißt"),
            ("usw.", "und so weiter"),
            ("bzw.", "beziehungsweise"),
            ("ca.", "circa"),
            ("Dr.", "Doktor"),
            ("Prof.", "Professor"),
            ("Nr.", "Nummer"),
            ("Hr.", "Herr"),
            ("Fr.", "Frau"),
        ],
        "es" => &[
            ("Sr.", "señor"),
            ("Sra.", "señora"),
            ("Srta.", "señorita"),
            ("Dr.", "doctor"),
            ("Dra.", "doctora"),
            ("Ud.", "usted"),
            ("Uds.", "ustedes"),
            ("p. ej.", "por ejemplo"),
            ("p.ej.", "por ejemplo"),
            ("etc.", "etcétera"),
        ],
        "fr" => &[
            ("M.", "monsieur"),
            ("MM.", "messieurs"),
            ("Mme", "madame"),
            ("Mlle", "mademoiselle"),
            ("Dr", "docteur"),
            ("p. ex.", "par exemple"),
            ("etc.", "et cetera"),
        ],
        "vi" => &[
            ("TP.", "thành phố"),
            ("Tp.", "thành phố"),
            ("TS.", "tiến sĩ"),
            ("ThS.", "thạc sĩ"),
            ("PGS.", "phó giáo sư"),
            ("GS.", "giáo sư"),
            ("v.v.", "vân vân"),
        ],
        _ => &[],
    }
}

/// Month names, January first.
fn months(lang: Lang) -> Option<[&'static str; 12]> {
    Some(match lang.code() {
        "en" => [
            "January",
            "February",
            "March",
            "April",
            "May",
            "June",
            "July",
            "August",
            "September",
            "October",
            "November",
            "December",
        ],
        "de" => [
            "Januar",
            "Februar",
            "März",
            "April",
            "Mai",
            "Juni",
            "Juli",
            "August",
            "September",
            "Oktober",
            "November",
            "Dezember",
        ],
        "es" => [
            "enero",
            "febrero",
            "marzo",
            "abril",
            "mayo",
            "junio",
            "julio",
            "agosto",
            "septiembre",
            "octubre",
            "noviembre",
            "diciembre",
        ],
        "fr" => [
            "janvier",
            "février",
            "mars",
            "avril",
            "mai",
            "juin",
            "juillet",
            "août",
            "septembre",
            "octobre",
            "novembre",
            "décembre",
        ],
        _ => return None,
    })
}

/// A date as it is read in `lang`.
fn spoken_date(lang: Lang, year: u32, month: u32, day: u32) -> Option<String> {
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    if lang.code() == "vi" {
        return Some(format!("ngày {day} tháng {month} năm {year}"));
    }
    let name = months(lang)?[month as usize - 1];
    Some(match lang.code() {
        "en" => format!("{name} {day}, {year}"),
        "de" => format!("{day}. {name} {year}"),
        "es" => format!("{day} de {name} de {year}"),
        _ => format!("{day} {name} {year}"),
    })
}

/// Reads a date written `2026-11-24` (any language), `11/24/2026` (English) or `24/11/2026`,
/// `24.11.2026` (the others) at the start of `word`; returns it spoken and the bytes it used.
fn date_at(lang: Lang, word: &str) -> Option<(String, usize)> {
    let end = word
        .find(|c: char| !(c.is_ascii_digit() || matches!(c, '-' | '/' | '.')))
        .unwrap_or(word.len());
    let token = word[..end].trim_end_matches('.');
    let parts: Vec<&str> = token.split(['-', '/', '.']).collect();
    if parts.len() != 3 || parts.iter().any(|p| p.is_empty()) {
        return None;
    }
    let n: Vec<u32> = parts
        .iter()
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let (year, month, day) = if token.contains('-') && parts[0].len() == 4 {
        (n[0], n[1], n[2])
    } else if parts[2].len() == 4 && lang.code() == "en" && token.contains('/') {
        (n[2], n[0], n[1])
    } else if parts[2].len() == 4 {
        (n[2], n[1], n[0])
    } else {
        return None;
    };
    Some((spoken_date(lang, year, month, day)?, token.len()))
}

/// `text` with abbreviations spelled out and dates written as they are read in `lang`.
pub fn normalize(text: &str, lang: Lang) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let at_word_start = |out: &String| out.chars().last().is_none_or(|c| !c.is_alphanumeric());
    'outer: while let Some(c) = rest.chars().next() {
        if at_word_start(&out) {
            if let Some((spoken, used)) = c.is_ascii_digit().then(|| date_at(lang, rest)).flatten()
            {
                out.push_str(&spoken);
                rest = &rest[used..];
                continue;
            }
            for (written, said) in abbreviations(lang) {
                let Some(after) = rest.strip_prefix(written) else {
                    continue;
                };
                if after.chars().next().is_none_or(|n| !n.is_alphanumeric()) {
                    out.push_str(said);
                    rest = &rest[written.len()..];
                    continue 'outer;
                }
            }
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// How `lang` writes numbers: the decimal mark, the thousands separator, the word for the
/// decimal mark and for `%`.
struct NumberFormat {
    decimal: char,
    group: char,
    point: &'static str,
    percent: &'static str,
}

fn number_format(lang: Lang) -> NumberFormat {
    let (decimal, group, point, percent) = match lang.code() {
        "en" => ('.', ',', "point", "percent"),
        "de" => (',', '.', "Komma", "Prozent"),
        "es" => (',', '.', "coma", "por ciento"),
        "fr" => (',', '.', "virgule", "pour cent"),
        "vi" => (',', '.', "phẩy", "phần trăm"),
        _ => ('.', ',', "", ""),
    };
    NumberFormat {
        decimal,
        group,
        point,
        percent,
    }
}

/// A number written at the start of `text` (digits, thousands separators between groups of
/// three, a decimal part, a percent sign): its integer digits, its decimal digits, whether it
/// is a percentage, and the bytes it takes.
fn number_at<'a>(text: &'a str, format: &NumberFormat) -> (String, &'a str, bool, usize) {
    let digits = |s: &str| s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let mut end = digits(text);
    let mut integer = text[..end].to_string();
    // "1,234,567": a separator followed by exactly three digits continues the number.
    while let Some(rest) = text[end..].strip_prefix(format.group) {
        let n = digits(rest);
        if n != 3 || rest[n..].starts_with(|c: char| c.is_ascii_digit()) {
            break;
        }
        integer.push_str(&rest[..3]);
        end += format.group.len_utf8() + 3;
    }
    let mut fraction = "";
    if let Some(rest) = text[end..].strip_prefix(format.decimal) {
        let n = digits(rest);
        if n > 0 {
            fraction = &rest[..n];
            end += format.decimal.len_utf8() + n;
        }
    }
    let percent = text[end..].starts_with('%');
    if percent {
        end += 1;
    }
    (integer, fraction, percent, end)
}

/// `text` with its numbers written as words in `lang` (cardinals; decimals read digit by
/// digit after the decimal word), for voices that read characters and would otherwise drop
/// digits. Languages the number speller does not know keep their digits.
pub fn spell_numbers(text: &str, lang: Lang) -> String {
    let Some(speller) = num2words2_core::get_lang_by_key(lang.code()) else {
        return text.to_string();
    };
    let format = number_format(lang);
    let cardinal = |digits: &str| {
        digits
            .parse::<BigInt>()
            .ok()
            .and_then(|n| speller.to_cardinal(&n).ok())
    };
    let mut out = String::with_capacity(text.len() * 2);
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        let after_letter = out.chars().last().is_some_and(char::is_alphanumeric);
        if !c.is_ascii_digit() || after_letter {
            out.push(c);
            rest = &rest[c.len_utf8()..];
            continue;
        }
        let (integer, fraction, percent, used) = number_at(rest, &format);
        let Some(mut words) = cardinal(&integer) else {
            out.push_str(&rest[..used]);
            rest = &rest[used..];
            continue;
        };
        if !fraction.is_empty() && !format.point.is_empty() {
            words.push(' ');
            words.push_str(format.point);
            for d in fraction.chars() {
                words.push(' ');
                words.push_str(&cardinal(&d.to_string()).unwrap_or_default());
            }
        }
        if percent && !format.percent.is_empty() {
            words.push(' ');
            words.push_str(format.percent);
        }
        out.push_str(&words);
        rest = &rest[used..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spells_out_abbreviations_and_dates() {
        assert_eq!(
            normalize("Dr. Smith came on 2026-11-24, e.g. today.", Lang::EN),
            "Doctor Smith came on November 24, 2026, for example today."
        );
        assert_eq!(
            normalize("Am 24.11.2026 kam z.B. Hr. Paul.", Lang::DE),
            "Am 24. November 2026 kam zum Beispiel Herr Paul."
        );
        assert_eq!(
            normalize("El Sr. Pérez llegó el 24/11/2026.", Lang::ES),
            "El señor Pérez llegó el 24 de noviembre de 2026."
        );
        assert_eq!(
            normalize("Hà Nội, 24/11/2026, TP. Hồ Chí Minh v.v.", Lang::VI),
            "Hà Nội, ngày 24 tháng 11 năm 2026, thành phố Hồ Chí Minh vân vân"
        );
        assert_eq!(
            normalize("M. Dupont, 11/24/2026", Lang::FR),
            "monsieur Dupont, 11/24/2026"
        );
        // Not an abbreviation inside a word; not a date.
        assert_eq!(normalize("CDr. 3.5 1/2", Lang::EN), "CDr. 3.5 1/2");
        assert_eq!(normalize("", Lang::EN), "");
    }

    #[test]
    fn spells_out_numbers_in_each_language() {
        assert_eq!(
            spell_numbers("I have 42 apples, 3.5 kg and 1,200 pears: 7%.", Lang::EN),
            "I have forty-two apples, three point five kg and one thousand, two hundred pears: seven percent."
        );
        assert_eq!(
            spell_numbers("Ich habe 21 Äpfel und 2,5 Liter.", Lang::DE),
            "Ich habe einundzwanzig Äpfel und zwei Komma fünf Liter."
        );
        assert_eq!(
            spell_numbers("Tengo 21 años.", Lang::ES),
            "Tengo veintiuno años."
        );
        assert_eq!(
            spell_numbers("J'ai 71 ans.", Lang::FR),
            "J'ai soixante-et-onze ans."
        );
        assert_eq!(
            spell_numbers("ngày 24 tháng 11 năm 15", Lang::VI),
            "ngày hai mươi bốn tháng mười một năm mười lăm"
        );
        // Digits inside a word (a model number) are not a number to read.
        assert_eq!(spell_numbers("COVID19 a1", Lang::EN), "COVID19 a1");
        assert_eq!(spell_numbers("", Lang::EN), "");
    }
}
