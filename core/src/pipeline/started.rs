//! Engine sessions started on first use, one per key.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::hash::Hash;

use crate::error::Result;

/// Sessions started on first use, one per key (a language, a language pair). A key whose
/// start failed is refused from then on: its error is returned once, not at every caption.
pub(super) struct Started<K, S> {
    sessions: HashMap<K, S>,
    refused: HashSet<K>,
}

impl<K: Eq + Hash + Copy, S> Started<K, S> {
    pub(super) fn new() -> Self {
        Self {
            sessions: HashMap::new(),
            refused: HashSet::new(),
        }
    }

    /// The session of `key`, started with `start` if there is none yet; `None` when its start
    /// failed before (the error was returned then).
    pub(super) fn get(
        &mut self,
        key: K,
        start: impl FnOnce() -> Result<S>,
    ) -> Result<Option<&mut S>> {
        if self.refused.contains(&key) {
            return Ok(None);
        }
        match self.sessions.entry(key) {
            Entry::Occupied(e) => Ok(Some(e.into_mut())),
            Entry::Vacant(e) => match start() {
                Ok(session) => Ok(Some(e.insert(session))),
                Err(err) => {
                    self.refused.insert(key);
                    Err(err)
                }
            },
        }
    }

    /// Drops the session of `key` (it panicked); the next [`get`](Self::get) starts another.
    pub(super) fn forget(&mut self, key: K) {
        self.sessions.remove(&key);
    }
}
