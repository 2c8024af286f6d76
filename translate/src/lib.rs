//! # dragoman-translate
//!
//! Machine translation on candle.
//!
//! - [`seq2seq`]: the encoder-decoder Transformers users pull from the Hub — Marian (opus-mt)
//!   and M2M100 / NLLB-200 — with batched greedy and beam search.
//! - [`sentencepiece`] and [`tokenizer`]: the SentencePiece tokenizers those checkpoints ship,
//!   read without the SentencePiece library, with each checkpoint's own piece numbering.
//! - [`llm`]: any GGUF decoder LLM (Gemma 3, Llama 2/3, Mistral, Qwen2/3) prompted to translate,
//!   with the vocabulary its file carries ([`gguf_vocab`]).
//! - [`models`]: which catalog model serves a language pair, chosen without loading it.
//! - [`engine`]: sentence splitting, routing and pivoting through English, and incremental
//!   translation of live captions, over any [`engine::SentenceTranslator`].
//! - [`cache`]: translation caches, in process (LRU) or in Redis (feature `redis`).
//!
//! Engines are sans-IO like the rest of the SDK: a caption session translates when text is
//! pushed and hands out events when polled; it owns no thread.

pub use dragoman_core as core;
pub use dragoman_core::{Error, Result};

pub mod cache;
pub mod engine;
pub mod gguf_vocab;
pub mod llm;
pub mod models;
pub mod sentencepiece;
pub mod seq2seq;
pub mod tokenizer;
