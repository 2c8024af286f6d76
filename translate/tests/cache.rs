//! Translation caches in front of a real (RANDOM-WEIGHT, see `faithfulness.rs`) model: the
//! engine answers from the cache before translating, stores what it translates, and a Redis
//! cache (a real `redis-server`, Debian's, started here) is shared between engines as between
//! server processes.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // tests fail by panicking

mod common;

use std::num::NonZeroUsize;
use std::sync::Arc;

use candle_core::Device;
use dragoman_core::engine::Translator;
use dragoman_core::{Lang, ModelSource};
use dragoman_translate::cache::{CacheKey, LruCache, TranslationCache};
use dragoman_translate::engine::TranslationEngine;
use dragoman_translate::seq2seq::Seq2SeqTranslator;

fn engine() -> TranslationEngine {
    let dir = common::seq2seq_reference("marian").join("model");
    let model = Seq2SeqTranslator::load(
        &ModelSource::dir(dir),
        "random-marian",
        Some((Lang::EN, Lang::ES)),
        &Device::Cpu,
    )
    .unwrap();
    TranslationEngine::new(vec![Arc::new(model)])
}

/// Checks that `cache` serves `engine`: a planted entry wins over the model, and what the model
/// translates is stored for the next caller.
fn serves(engine: &TranslationEngine, cache: &dyn TranslationCache) {
    let planted = CacheKey::new("random-marian", Lang::EN, Lang::ES, "I won!");
    cache.put(planted, "¡Gané! (from the cache)".into());
    let out = engine
        .translate(&["I won! I can explain everything."], Lang::EN, Lang::ES)
        .unwrap();
    assert!(out[0].starts_with("¡Gané! (from the cache) "), "{out:?}");
    let stored = CacheKey::new(
        "random-marian",
        Lang::EN,
        Lang::ES,
        "I can explain everything.",
    );
    let second = cache.get(&stored).expect("stored after translating");
    assert!(out[0].ends_with(&second), "{out:?} / {second:?}");
}

#[test]
fn in_process_lru() {
    let cache = Arc::new(LruCache::new(NonZeroUsize::new(100).unwrap()));
    let engine = engine().with_cache(cache.clone());
    serves(&engine, cache.as_ref());
    assert_eq!(cache.len(), 2);
}

#[cfg(feature = "redis")]
#[test]
fn shared_redis() {
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    use dragoman_translate::cache::RedisCache;

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("redis://127.0.0.1:{port}/");
    let start = || {
        Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server is needed for this test: apt-get install redis-server")
    };
    let mut server = start();
    let connect = || {
        for _ in 0..50 {
            if let Ok(cache) = RedisCache::connect(&url, "dragoman-test:", Duration::from_secs(60))
            {
                return cache;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("redis-server did not start");
    };
    // Two caches on one server: what one engine stores, the other finds.
    let writer = Arc::new(connect());
    let reader = Arc::new(connect());
    serves(&engine().with_cache(writer), reader.as_ref());

    server.kill().unwrap();
    server.wait().unwrap();
    // The server gone: lookups miss at once, translation goes on without it.
    let asked = Instant::now();
    let out = engine()
        .with_cache(reader.clone())
        .translate(&["I won!"], Lang::EN, Lang::ES)
        .unwrap();
    assert_eq!(out.len(), 1);
    assert!(!reader.is_available());
    let missed = Instant::now();
    assert_eq!(
        reader.get(&CacheKey::new("m", Lang::EN, Lang::ES, "x")),
        None
    );
    assert!(
        missed.elapsed() < Duration::from_millis(50),
        "degraded: no network"
    );
    assert!(asked.elapsed() < Duration::from_secs(10));
    // And a server that is not there is a clear error at connect time.
    let err = RedisCache::connect(&url, "x:", Duration::from_secs(1)).unwrap_err();
    assert!(err.to_string().contains("Redis at"), "{err}");

    // The server back (empty: it kept nothing): the same cache reconnects and serves again.
    let mut server = start();
    let key = CacheKey::new("m", Lang::EN, Lang::ES, "back");
    let back = (0..100).any(|_| {
        reader.put(key.clone(), "de vuelta".into());
        if reader.get(&key).is_some() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
        false
    });
    assert!(back, "the cache reconnected");
    assert!(reader.is_available());
    server.kill().unwrap();
    server.wait().unwrap();
}
