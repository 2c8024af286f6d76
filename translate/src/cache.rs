//! Translation caches keyed by `(model, source language, target language, sentence)`.
//!
//! Live captions repeat themselves: a partial caption is re-translated as it grows, and its
//! earlier sentences come back unchanged each time; rooms translate the same phrases for many
//! listeners. The engine looks every sentence up before translating and stores what it
//! translates. [`LruCache`] lives in the process; `RedisCache` (feature `redis`) is shared by
//! every server process using the same Redis.

use std::num::NonZeroUsize;
use std::sync::Mutex;

use dragoman_core::Lang;

/// What a cached translation is keyed by.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CacheKey {
    /// Model id.
    pub model: String,
    /// Source language.
    pub from: Lang,
    /// Target language.
    pub to: Lang,
    /// The source sentence.
    pub text: String,
}

impl CacheKey {
    /// The key of `text` translated by `model` from `from` into `to`.
    pub fn new(model: &str, from: Lang, to: Lang, text: &str) -> Self {
        Self {
            model: model.to_string(),
            from,
            to,
            text: text.to_string(),
        }
    }
}

/// A store of finished translations. Lookups that fail (an unreachable Redis) are misses:
/// the cache can only save work, never stop a translation.
pub trait TranslationCache: Send + Sync {
    /// The cached translation, if any.
    fn get(&self, key: &CacheKey) -> Option<String>;
    /// Stores a translation.
    fn put(&self, key: CacheKey, translation: String);
}

/// An in-process least-recently-used cache.
#[derive(Debug)]
pub struct LruCache {
    entries: Mutex<lru::LruCache<CacheKey, String>>,
}

impl LruCache {
    /// A cache of at most `capacity` translations.
    pub fn new(capacity: NonZeroUsize) -> Self {
        Self {
            entries: Mutex::new(lru::LruCache::new(capacity)),
        }
    }

    /// Translations held.
    pub fn len(&self) -> usize {
        self.entries.lock().map_or(0, |e| e.len())
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl TranslationCache for LruCache {
    fn get(&self, key: &CacheKey) -> Option<String> {
        self.entries.lock().ok()?.get(key).cloned()
    }

    fn put(&self, key: CacheKey, translation: String) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.put(key, translation);
        }
    }
}

#[cfg(feature = "redis")]
pub use redis_cache::RedisCache;

#[cfg(feature = "redis")]
mod redis_cache {
    use std::sync::Mutex;
    use std::time::{Duration, Instant};

    use super::{CacheKey, TranslationCache};
    use crate::{Error, Result};

    /// The longest a lookup or a store may take, connecting included: the cache is on the
    /// translation path, so a slow or hung server costs a miss, never a late caption.
    const TIMEOUT: Duration = Duration::from_millis(250);

    /// How long the cache is left alone after the server failed before a reconnection is tried.
    const RETRY: Duration = Duration::from_secs(2);

    /// A cache in Redis, shared by every process that uses the same server and prefix.
    /// Keys are `PREFIX` + the length-prefixed fields, so no sentence can collide with another
    /// key; entries expire after the time to live given.
    ///
    /// When the server goes away (or stops answering within 250 ms), the cache says so once
    /// in the log and runs degraded: every lookup misses and nothing is stored, without
    /// touching the network, and a reconnection is tried every 2 s; when it succeeds
    /// the log says so and the cache serves again. Translation goes on throughout.
    pub struct RedisCache {
        client: redis::Client,
        url: String,
        link: Mutex<Link>,
        prefix: String,
        ttl: Duration,
    }

    /// The connection to the server, or when to try again.
    enum Link {
        Up(redis::Connection),
        Down { retry_at: Instant },
    }

    impl Link {
        /// The server just failed: leave it alone for [`RETRY`].
        fn down() -> Self {
            Self::Down {
                retry_at: Instant::now() + RETRY,
            }
        }
    }

    impl std::fmt::Debug for RedisCache {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("RedisCache")
                .field("prefix", &self.prefix)
                .field("ttl", &self.ttl)
                .field("available", &self.is_available())
                .finish()
        }
    }

    impl RedisCache {
        /// Connects to `url` (`redis://host:port/db`); fails now if the server is unreachable.
        pub fn connect(url: &str, prefix: &str, ttl: Duration) -> Result<Self> {
            let error = |e: redis::RedisError| Error::Model(format!("Redis at {url}: {e}"));
            let client = redis::Client::open(url).map_err(error)?;
            let connection = open(&client).map_err(error)?;
            Ok(Self {
                client,
                url: url.to_string(),
                link: Mutex::new(Link::Up(connection)),
                prefix: prefix.to_string(),
                ttl,
            })
        }

        /// Whether the server answered the last time it was asked (`false` while degraded).
        pub fn is_available(&self) -> bool {
            self.link
                .lock()
                .is_ok_and(|link| matches!(*link, Link::Up(_)))
        }

        fn key(&self, key: &CacheKey) -> String {
            let field = |s: &str| format!("{}:{s}", s.len());
            format!(
                "{}{}{}{}{}",
                self.prefix,
                field(&key.model),
                field(key.from.code()),
                field(key.to.code()),
                field(&key.text)
            )
        }

        /// Runs `command` on the server; `None` while degraded or when it fails.
        fn query<T: redis::FromRedisValue>(&self, command: &redis::Cmd) -> Option<T> {
            let mut link = self.link.lock().ok()?;
            if let Link::Down { retry_at } = *link {
                if Instant::now() < retry_at {
                    return None;
                }
                match open(&self.client) {
                    Ok(connection) => {
                        log::info!("translation cache: Redis at {} is back", self.url);
                        *link = Link::Up(connection);
                    }
                    Err(_) => {
                        *link = Link::down();
                        return None;
                    }
                }
            }
            let Link::Up(connection) = &mut *link else {
                return None;
            };
            match command.query(connection) {
                Ok(value) => Some(value),
                Err(e) => {
                    // After a timeout a late reply could be read as the next command's: the
                    // connection is dropped with the others that cannot go on.
                    if e.is_unrecoverable_error() || e.is_timeout() {
                        log::warn!(
                            "translation cache: Redis at {} failed ({e}); translating without \
                             the cache, reconnecting every {} s",
                            self.url,
                            RETRY.as_secs()
                        );
                        *link = Link::down();
                    }
                    None
                }
            }
        }
    }

    /// A connection to `client`'s server whose every wait is bounded by [`TIMEOUT`].
    fn open(client: &redis::Client) -> redis::RedisResult<redis::Connection> {
        let connection = client.get_connection_with_timeout(TIMEOUT)?;
        connection.set_read_timeout(Some(TIMEOUT))?;
        connection.set_write_timeout(Some(TIMEOUT))?;
        Ok(connection)
    }

    impl TranslationCache for RedisCache {
        fn get(&self, key: &CacheKey) -> Option<String> {
            self.query::<Option<String>>(redis::cmd("GET").arg(self.key(key)))
                .flatten()
        }

        fn put(&self, key: CacheKey, translation: String) {
            let _: Option<()> = self.query(
                redis::cmd("SET")
                    .arg(self.key(&key))
                    .arg(translation)
                    .arg("EX")
                    .arg(self.ttl.as_secs().max(1)),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lru_evicts_the_least_recently_used() {
        let cache = LruCache::new(NonZeroUsize::MIN.saturating_add(1));
        let key = |t: &str| CacheKey::new("m", Lang::EN, Lang::VI, t);
        cache.put(key("a"), "A".into());
        cache.put(key("b"), "B".into());
        assert_eq!(cache.get(&key("a")).as_deref(), Some("A"));
        cache.put(key("c"), "C".into());
        assert_eq!(cache.get(&key("b")), None);
        assert_eq!(cache.get(&key("a")).as_deref(), Some("A"));
        // The key is the whole tuple.
        assert_eq!(
            cache.get(&CacheKey::new("m", Lang::EN, Lang::DE, "a")),
            None
        );
        assert_eq!(cache.len(), 2);
    }
}
