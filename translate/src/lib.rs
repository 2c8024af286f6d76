//! # dragoman-translate
//!
//! Machine translation on candle.
//!
//! - [`seq2seq`]: the encoder-decoder Transformers users pull from the Hub — Marian (opus-mt)
//!   and M2M100 / NLLB-200 — with batched greedy and beam search.
//! - [`sentencepiece`]: the SentencePiece tokenizers those checkpoints ship, read without the
//!   SentencePiece library.
//!
//! Still to come (its issue lists them): the GGUF LLM backend, the translation engine (sentence
//! splitting, pivoting), incremental caption translation, and the cache.

pub use dragoman_core as core;
pub use dragoman_core::{Error, Result};

pub mod sentencepiece;
pub mod seq2seq;
pub mod tokenizer;
