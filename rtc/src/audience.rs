//! Who in a room wants what from each speaker: the languages a speaker's pipeline must caption
//! and speak in, and who receives each caption and each translated voice. Pure bookkeeping,
//! recomputed whenever someone joins, leaves or changes languages.
//!
//! The rules: everyone reads every original caption; a listener gets translations into its
//! caption language (none when that is the speaker's language); a listener hears translated
//! speech in its audio language (none when that is the speaker's language); nobody gets their
//! own translations or their own translated voice.

use std::collections::{BTreeMap, BTreeSet};

use dragoman_core::Lang;

use crate::pipeline::Targets;

/// A participant's languages, parsed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LanguageChoice {
    /// What they speak (`None`: detected).
    pub spoken: Option<Lang>,
    /// What they read captions in.
    pub captions: Option<Lang>,
    /// What they hear translated speech in.
    pub audio: Option<Lang>,
}

/// The participants of a room and their languages, by participant id.
#[derive(Debug, Clone, Default)]
pub struct Audience {
    members: BTreeMap<String, LanguageChoice>,
}

impl Audience {
    /// Adds or updates a participant.
    pub fn set(&mut self, id: &str, languages: LanguageChoice) {
        self.members.insert(id.to_string(), languages);
    }

    /// Removes a participant.
    pub fn remove(&mut self, id: &str) {
        self.members.remove(id);
    }

    /// A participant's languages.
    pub fn get(&self, id: &str) -> Option<LanguageChoice> {
        self.members.get(id).copied()
    }

    /// How many participants there are.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Whether the room is empty.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// The listeners of `speaker`: everyone else.
    fn listeners<'a>(
        &'a self,
        speaker: &'a str,
    ) -> impl Iterator<Item = (&'a str, LanguageChoice)> {
        self.members
            .iter()
            .filter(move |(id, _)| id.as_str() != speaker)
            .map(|(id, l)| (id.as_str(), *l))
    }

    /// What `speaker`'s pipeline must produce.
    pub fn targets(&self, speaker: &str) -> Targets {
        let spoken = self.get(speaker).and_then(|l| l.spoken);
        let wanted = |lang: Option<Lang>| lang.filter(|&l| Some(l) != spoken);
        let mut targets = Targets::default();
        for (_, l) in self.listeners(speaker) {
            targets.captions.extend(wanted(l.captions));
            targets.speech.extend(wanted(l.audio));
        }
        targets
    }

    /// Who receives a caption of `speaker` in `lang` (`None` or the spoken language: the
    /// original, for everyone).
    pub fn caption_recipients(
        &self,
        speaker: &str,
        lang: Option<Lang>,
        source: Option<Lang>,
    ) -> Vec<String> {
        if lang.is_none() || lang == source {
            return self.members.keys().cloned().collect();
        }
        self.listeners(speaker)
            .filter(|(_, l)| l.captions == lang)
            .map(|(id, _)| id.to_string())
            .collect()
    }

    /// Who hears `speaker`'s voice translated into `lang`.
    pub fn speech_recipients(&self, speaker: &str, lang: Lang) -> BTreeSet<String> {
        let spoken = self.get(speaker).and_then(|l| l.spoken);
        if spoken == Some(lang) {
            return BTreeSet::new();
        }
        self.listeners(speaker)
            .filter(|(_, l)| l.audio == Some(lang))
            .map(|(id, _)| id.to_string())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn choice(spoken: Lang, captions: Lang, audio: Option<Lang>) -> LanguageChoice {
        LanguageChoice {
            spoken: Some(spoken),
            captions: Some(captions),
            audio,
        }
    }

    #[test]
    fn each_speaker_serves_the_others_languages_never_their_own() {
        let mut room = Audience::default();
        room.set("a", choice(Lang::EN, Lang::EN, None));
        room.set("b", choice(Lang::VI, Lang::VI, Some(Lang::VI)));
        room.set("c", choice(Lang::DE, Lang::DE, Some(Lang::DE)));
        room.set("d", choice(Lang::EN, Lang::EN, Some(Lang::EN)));
        let a = room.targets("a");
        assert_eq!(a.captions, [Lang::VI, Lang::DE].into());
        assert_eq!(a.speech, [Lang::VI, Lang::DE].into());
        // b speaks Vietnamese: English for a and d, German for c; d hears English.
        let b = room.targets("b");
        assert_eq!(b.captions, [Lang::EN, Lang::DE].into());
        assert_eq!(b.speech, [Lang::EN, Lang::DE].into());
        assert_eq!(
            room.speech_recipients("b", Lang::EN),
            ["d".to_string()].into()
        );
        assert!(
            room.speech_recipients("a", Lang::EN).is_empty(),
            "a speaks English"
        );
        assert!(
            room.speech_recipients("c", Lang::DE).is_empty(),
            "not c's own voice"
        );

        let mut originals = room.caption_recipients("b", Some(Lang::VI), Some(Lang::VI));
        originals.sort();
        assert_eq!(originals, ["a", "b", "c", "d"]);
        let mut english = room.caption_recipients("b", Some(Lang::EN), Some(Lang::VI));
        english.sort();
        assert_eq!(english, ["a", "d"]);
        assert_eq!(
            room.caption_recipients("c", Some(Lang::DE), Some(Lang::EN)),
            Vec::<String>::new()
        );

        room.remove("c");
        assert_eq!(room.targets("a").captions, [Lang::VI].into());
    }
}
