//! Text made speakable, per language, before it is phonemized: abbreviations spelled out and
//! dates written as they are read. Numbers are left to espeak-ng, whose number rules cover
//! every language it speaks (cardinals, decimals, years, ordinals in German).

use dragoman_core::Lang;

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
}
