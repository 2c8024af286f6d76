//! Encoder-decoder translation models: Marian (opus-mt) and M2M100 / NLLB-200.

pub mod config;
mod linear;
pub mod model;
pub mod search;
pub mod translator;

pub use config::{Activation, Family, Seq2SeqConfig};
pub use model::{DecoderState, Encoded, Seq2SeqModel};
pub use search::{SearchOptions, generate};
pub use translator::Seq2SeqTranslator;
