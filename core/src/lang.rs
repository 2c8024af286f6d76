//! Languages, and the code each model family uses for them.
//!
//! One [`Lang`] stands for a language whatever the code it arrived in: BCP-47 (`vi`, `vi-VN`,
//! `zh-Hans`), ISO 639-3 (`vie`), FLORES-200 as used by NLLB (`vie_Latn`), or a POSIX locale as used
//! by Piper voices (`vi_VN`). The table holds the 99 languages Whisper was trained on (in Whisper's
//! token order) plus Cantonese, which large-v3 added; every other engine covers a subset.
//!
//! Sources: Whisper's `tokenizer.py` `LANGUAGES`; the FLORES-200 language list of NLLB
//! (<https://github.com/facebookresearch/flores/blob/main/flores200/README.md>); ISO 639-3.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};

/// A language known to dragoman. Cheap to copy; compare and hash by its code.
#[derive(Clone, Copy)]
pub struct Lang(&'static LangInfo);

/// One row of the language table.
#[derive(Debug)]
struct LangInfo {
    /// BCP-47 primary tag (ISO 639-1 where one exists).
    code: &'static str,
    /// ISO 639-3.
    iso639_3: &'static str,
    /// English name, as Whisper spells it.
    name: &'static str,
    /// Whisper's language token body (`<|vi|>`), where it differs from `code`.
    whisper: &'static str,
    /// FLORES-200 / NLLB code, if FLORES-200 has the language.
    flores: Option<&'static str>,
}

macro_rules! langs {
    ($(($code:literal, $iso3:literal, $name:literal, $whisper:literal, $flores:expr)),* $(,)?) => {
        static LANGS: &[LangInfo] = &[
            $(LangInfo { code: $code, iso639_3: $iso3, name: $name, whisper: $whisper, flores: $flores }),*
        ];
    };
}

// Order matters: it is Whisper's token order (`<|en|>` is the first language token).
langs![
    ("en", "eng", "english", "en", Some("eng_Latn")),
    ("zh", "zho", "chinese", "zh", Some("zho_Hans")),
    ("de", "deu", "german", "de", Some("deu_Latn")),
    ("es", "spa", "spanish", "es", Some("spa_Latn")),
    ("ru", "rus", "russian", "ru", Some("rus_Cyrl")),
    ("ko", "kor", "korean", "ko", Some("kor_Hang")),
    ("fr", "fra", "french", "fr", Some("fra_Latn")),
    ("ja", "jpn", "japanese", "ja", Some("jpn_Jpan")),
    ("pt", "por", "portuguese", "pt", Some("por_Latn")),
    ("tr", "tur", "turkish", "tr", Some("tur_Latn")),
    ("pl", "pol", "polish", "pl", Some("pol_Latn")),
    ("ca", "cat", "catalan", "ca", Some("cat_Latn")),
    ("nl", "nld", "dutch", "nl", Some("nld_Latn")),
    ("ar", "ara", "arabic", "ar", Some("arb_Arab")),
    ("sv", "swe", "swedish", "sv", Some("swe_Latn")),
    ("it", "ita", "italian", "it", Some("ita_Latn")),
    ("id", "ind", "indonesian", "id", Some("ind_Latn")),
    ("hi", "hin", "hindi", "hi", Some("hin_Deva")),
    ("fi", "fin", "finnish", "fi", Some("fin_Latn")),
    ("vi", "vie", "vietnamese", "vi", Some("vie_Latn")),
    ("he", "heb", "hebrew", "he", Some("heb_Hebr")),
    ("uk", "ukr", "ukrainian", "uk", Some("ukr_Cyrl")),
    ("el", "ell", "greek", "el", Some("ell_Grek")),
    ("ms", "msa", "malay", "ms", Some("zsm_Latn")),
    ("cs", "ces", "czech", "cs", Some("ces_Latn")),
    ("ro", "ron", "romanian", "ro", Some("ron_Latn")),
    ("da", "dan", "danish", "da", Some("dan_Latn")),
    ("hu", "hun", "hungarian", "hu", Some("hun_Latn")),
    ("ta", "tam", "tamil", "ta", Some("tam_Taml")),
    ("no", "nor", "norwegian", "no", Some("nob_Latn")),
    ("th", "tha", "thai", "th", Some("tha_Thai")),
    ("ur", "urd", "urdu", "ur", Some("urd_Arab")),
    ("hr", "hrv", "croatian", "hr", Some("hrv_Latn")),
    ("bg", "bul", "bulgarian", "bg", Some("bul_Cyrl")),
    ("lt", "lit", "lithuanian", "lt", Some("lit_Latn")),
    ("la", "lat", "latin", "la", None),
    ("mi", "mri", "maori", "mi", Some("mri_Latn")),
    ("ml", "mal", "malayalam", "ml", Some("mal_Mlym")),
    ("cy", "cym", "welsh", "cy", Some("cym_Latn")),
    ("sk", "slk", "slovak", "sk", Some("slk_Latn")),
    ("te", "tel", "telugu", "te", Some("tel_Telu")),
    ("fa", "fas", "persian", "fa", Some("pes_Arab")),
    ("lv", "lav", "latvian", "lv", Some("lvs_Latn")),
    ("bn", "ben", "bengali", "bn", Some("ben_Beng")),
    ("sr", "srp", "serbian", "sr", Some("srp_Cyrl")),
    ("az", "aze", "azerbaijani", "az", Some("azj_Latn")),
    ("sl", "slv", "slovenian", "sl", Some("slv_Latn")),
    ("kn", "kan", "kannada", "kn", Some("kan_Knda")),
    ("et", "est", "estonian", "et", Some("est_Latn")),
    ("mk", "mkd", "macedonian", "mk", Some("mkd_Cyrl")),
    ("br", "bre", "breton", "br", None),
    ("eu", "eus", "basque", "eu", Some("eus_Latn")),
    ("is", "isl", "icelandic", "is", Some("isl_Latn")),
    ("hy", "hye", "armenian", "hy", Some("hye_Armn")),
    ("ne", "nep", "nepali", "ne", Some("npi_Deva")),
    ("mn", "mon", "mongolian", "mn", Some("khk_Cyrl")),
    ("bs", "bos", "bosnian", "bs", Some("bos_Latn")),
    ("kk", "kaz", "kazakh", "kk", Some("kaz_Cyrl")),
    ("sq", "sqi", "albanian", "sq", Some("als_Latn")),
    ("sw", "swa", "swahili", "sw", Some("swh_Latn")),
    ("gl", "glg", "galician", "gl", Some("glg_Latn")),
    ("mr", "mar", "marathi", "mr", Some("mar_Deva")),
    ("pa", "pan", "punjabi", "pa", Some("pan_Guru")),
    ("si", "sin", "sinhala", "si", Some("sin_Sinh")),
    ("km", "khm", "khmer", "km", Some("khm_Khmr")),
    ("sn", "sna", "shona", "sn", Some("sna_Latn")),
    ("yo", "yor", "yoruba", "yo", Some("yor_Latn")),
    ("so", "som", "somali", "so", Some("som_Latn")),
    ("af", "afr", "afrikaans", "af", Some("afr_Latn")),
    ("oc", "oci", "occitan", "oc", Some("oci_Latn")),
    ("ka", "kat", "georgian", "ka", Some("kat_Geor")),
    ("be", "bel", "belarusian", "be", Some("bel_Cyrl")),
    ("tg", "tgk", "tajik", "tg", Some("tgk_Cyrl")),
    ("sd", "snd", "sindhi", "sd", Some("snd_Arab")),
    ("gu", "guj", "gujarati", "gu", Some("guj_Gujr")),
    ("am", "amh", "amharic", "am", Some("amh_Ethi")),
    ("yi", "yid", "yiddish", "yi", Some("ydd_Hebr")),
    ("lo", "lao", "lao", "lo", Some("lao_Laoo")),
    ("uz", "uzb", "uzbek", "uz", Some("uzn_Latn")),
    ("fo", "fao", "faroese", "fo", Some("fao_Latn")),
    ("ht", "hat", "haitian creole", "ht", Some("hat_Latn")),
    ("ps", "pus", "pashto", "ps", Some("pbt_Arab")),
    ("tk", "tuk", "turkmen", "tk", Some("tuk_Latn")),
    ("nn", "nno", "nynorsk", "nn", Some("nno_Latn")),
    ("mt", "mlt", "maltese", "mt", Some("mlt_Latn")),
    ("sa", "san", "sanskrit", "sa", Some("san_Deva")),
    ("lb", "ltz", "luxembourgish", "lb", Some("ltz_Latn")),
    ("my", "mya", "myanmar", "my", Some("mya_Mymr")),
    ("bo", "bod", "tibetan", "bo", Some("bod_Tibt")),
    ("tl", "tgl", "tagalog", "tl", Some("tgl_Latn")),
    ("mg", "mlg", "malagasy", "mg", Some("plt_Latn")),
    ("as", "asm", "assamese", "as", Some("asm_Beng")),
    ("tt", "tat", "tatar", "tt", Some("tat_Cyrl")),
    ("haw", "haw", "hawaiian", "haw", None),
    ("ln", "lin", "lingala", "ln", Some("lin_Latn")),
    ("ha", "hau", "hausa", "ha", Some("hau_Latn")),
    ("ba", "bak", "bashkir", "ba", Some("bak_Cyrl")),
    // Whisper spells Javanese `jw`; BCP-47 says `jv`.
    ("jv", "jav", "javanese", "jw", Some("jav_Latn")),
    ("su", "sun", "sundanese", "su", Some("sun_Latn")),
    ("yue", "yue", "cantonese", "yue", Some("yue_Hant")),
];

/// How many languages the original multilingual Whisper checkpoints know (all but Cantonese).
pub const WHISPER_V2_LANGUAGES: usize = 99;

impl Lang {
    /// English.
    pub const EN: Lang = Lang(&LANGS[0]);
    /// German.
    pub const DE: Lang = Lang(&LANGS[2]);
    /// Spanish.
    pub const ES: Lang = Lang(&LANGS[3]);
    /// French.
    pub const FR: Lang = Lang(&LANGS[6]);
    /// Vietnamese.
    pub const VI: Lang = Lang(&LANGS[19]);

    /// Parses a code in any of the forms listed in the module docs (case-insensitive).
    pub fn parse(code: &str) -> Result<Self> {
        let unknown = || Error::UnknownLanguage {
            code: code.to_string(),
        };
        let trimmed = code.trim();
        // FLORES-200 codes carry a script: `vie_Latn`.
        if let Some(info) = LANGS
            .iter()
            .find(|l| l.flores.is_some_and(|f| f.eq_ignore_ascii_case(trimmed)))
        {
            return Ok(Self(info));
        }
        // BCP-47 (`vi-VN`, `zh-Hant-TW`) or a POSIX locale (`vi_VN`, `en_US.UTF-8`): the primary
        // subtag names the language; region and script subtags do not change it.
        let primary = trimmed
            .split(['-', '_', '.'])
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        if primary.is_empty() {
            return Err(unknown());
        }
        LANGS
            .iter()
            .find(|l| l.code == primary || l.iso639_3 == primary || l.whisper == primary)
            .or_else(|| LANGS.iter().find(|l| l.name == primary))
            .map(Self)
            .ok_or_else(unknown)
    }

    /// Every language dragoman knows, in Whisper's token order.
    pub fn all() -> impl Iterator<Item = Lang> {
        LANGS.iter().map(Lang)
    }

    /// BCP-47 primary tag: `vi`, `en`, `haw`.
    pub fn code(self) -> &'static str {
        self.0.code
    }

    /// ISO 639-3: `vie` (what MMS-TTS checkpoints are named by).
    pub fn iso639_3(self) -> &'static str {
        self.0.iso639_3
    }

    /// English name in lower case, as Whisper spells it: `vietnamese`.
    pub fn name(self) -> &'static str {
        self.0.name
    }

    /// Whisper's language token: `<|vi|>`.
    pub fn whisper_token(self) -> String {
        format!("<|{}|>", self.0.whisper)
    }

    /// Position among Whisper's language tokens (`<|en|>` is 0); token id = `<|en|>` id + index.
    pub fn whisper_index(self) -> usize {
        LANGS
            .iter()
            .position(|l| l.code == self.0.code)
            .unwrap_or_default()
    }

    /// FLORES-200 code used by NLLB-200 (`vie_Latn`); `Err` for the few Whisper languages that
    /// FLORES-200 lacks (Latin, Breton, Hawaiian).
    pub fn flores200(self) -> Result<&'static str> {
        self.0.flores.ok_or_else(|| Error::UnsupportedLanguagePair {
            from: self.code().to_string(),
            to: "FLORES-200 (NLLB has no code for this language)".to_string(),
        })
    }

    /// Code used in opus-mt model names (`Helsinki-NLP/opus-mt-en-vi`): ISO 639-1 where it
    /// exists, else ISO 639-3.
    pub fn opus_mt(self) -> &'static str {
        self.0.code
    }

    /// M2M100 language token body: ISO 639-1 (`__vi__`).
    pub fn m2m100_token(self) -> String {
        format!("__{}__", self.0.code)
    }
}

impl PartialEq for Lang {
    fn eq(&self, other: &Self) -> bool {
        // Codes are unique in the table (tested); the `const`s hold copies, so no pointer identity.
        self.0.code == other.0.code
    }
}

impl Eq for Lang {}

impl std::hash::Hash for Lang {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.code.hash(state);
    }
}

impl PartialOrd for Lang {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Lang {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.code.cmp(other.0.code)
    }
}

impl fmt::Debug for Lang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Lang({})", self.0.code)
    }
}

impl fmt::Display for Lang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.code)
    }
}

impl FromStr for Lang {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

impl serde::Serialize for Lang {
    fn serialize<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        serializer.serialize_str(self.0.code)
    }
}

impl<'de> serde::Deserialize<'de> for Lang {
    fn deserialize<D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> std::result::Result<Self, D::Error> {
        let code = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Lang::parse(&code).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_form() -> Result<()> {
        for code in [
            "vi",
            "VI",
            "vie",
            "vi-VN",
            "vi_VN",
            "vie_Latn",
            "vietnamese",
            " vi ",
        ] {
            assert_eq!(Lang::parse(code)?, Lang::VI, "{code}");
        }
        assert_eq!(Lang::parse("en_US.UTF-8")?, Lang::EN);
        assert_eq!(Lang::parse("zh-Hant-TW")?.code(), "zh");
        assert_eq!(Lang::parse("jw")?.code(), "jv");
        Ok(())
    }

    #[test]
    fn unknown_codes_are_named_in_the_error() {
        let err = Lang::parse("xx-YY")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("\"xx-YY\""), "{err}");
        assert!(Lang::parse("").is_err());
        assert!(Lang::parse("-").is_err());
    }

    #[test]
    fn model_family_codes() -> Result<()> {
        assert_eq!(Lang::VI.whisper_token(), "<|vi|>");
        assert_eq!(Lang::parse("jv")?.whisper_token(), "<|jw|>");
        assert_eq!(Lang::VI.flores200()?, "vie_Latn");
        assert_eq!(Lang::DE.flores200()?, "deu_Latn");
        assert!(Lang::parse("la")?.flores200().is_err());
        assert_eq!(Lang::ES.opus_mt(), "es");
        assert_eq!(Lang::FR.m2m100_token(), "__fr__");
        assert_eq!(Lang::DE.iso639_3(), "deu");
        Ok(())
    }

    #[test]
    fn whisper_order_matches_token_ids() -> Result<()> {
        // whisper-base: <|en|> = 50259, <|vi|> = 50278, <|su|> = 50357 (the 99th language).
        assert_eq!(Lang::EN.whisper_index(), 0);
        assert_eq!(Lang::VI.whisper_index(), 50278 - 50259);
        assert_eq!(Lang::parse("su")?.whisper_index(), WHISPER_V2_LANGUAGES - 1);
        assert_eq!(Lang::all().count(), WHISPER_V2_LANGUAGES + 1);
        Ok(())
    }

    #[test]
    fn codes_are_unique() {
        let mut codes: Vec<_> = Lang::all().map(Lang::code).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), Lang::all().count());
    }

    #[test]
    fn serde_round_trip() -> std::result::Result<(), serde_json::Error> {
        let json = serde_json::to_string(&Lang::VI)?;
        assert_eq!(json, "\"vi\"");
        assert_eq!(serde_json::from_str::<Lang>("\"de-DE\"")?, Lang::DE);
        assert!(serde_json::from_str::<Lang>("\"klingon\"").is_err());
        Ok(())
    }
}
