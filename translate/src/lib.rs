//! # dragoman-translate
//!
//! Machine translation on candle (Marian, NLLB/M2M100, GGUF LLMs) and incremental caption translation.
//!
//! Not implemented yet: this crate holds its place in the workspace so the architecture is
//! visible from the folder tree. It exports nothing until its issue lands.

pub use dragoman_core as core;
