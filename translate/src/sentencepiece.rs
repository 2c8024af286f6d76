//! SentencePiece `.model` files as [`tokenizers::Tokenizer`]s.
//!
//! opus-mt (Marian) and M2M100 checkpoints ship their tokenizers as SentencePiece models
//! (`source.spm` / `target.spm`, `sentencepiece.bpe.model`), not as `tokenizer.json`: their
//! reference tokenizers in `transformers` call the SentencePiece library itself. This module reads
//! the model file (a protobuf, `sentencepiece_model.proto`; only the fields used here are
//! declared) and builds the equivalent pipeline from `tokenizers` parts, as the `transformers`
//! slow-to-fast converter does: the model's precompiled normalisation map, whitespace as `▁` with
//! a dummy prefix, and a unigram (Viterbi over piece scores) or BPE model. Token ids are the
//! SentencePiece ids; checkpoints map pieces to their own vocabulary afterwards.

use std::collections::HashMap;

use prost::Message;
use tokenizers::models::bpe::BPE;
use tokenizers::models::unigram::Unigram;
use tokenizers::normalizers::{Precompiled, Replace};
use tokenizers::pre_tokenizers::metaspace::{Metaspace, PrependScheme};
use tokenizers::{DecoderWrapper, NormalizerWrapper, Tokenizer};

#[derive(Clone, PartialEq, Message)]
struct ModelProto {
    #[prost(message, repeated, tag = "1")]
    pieces: Vec<Piece>,
    #[prost(message, optional, tag = "2")]
    trainer_spec: Option<TrainerSpec>,
    #[prost(message, optional, tag = "3")]
    normalizer_spec: Option<NormalizerSpec>,
}

#[derive(Clone, PartialEq, Message)]
struct Piece {
    #[prost(string, optional, tag = "1")]
    piece: Option<String>,
    #[prost(float, optional, tag = "2")]
    score: Option<f32>,
    /// 1 normal, 2 unknown, 3 control, 4 user defined, 5 unused, 6 byte.
    #[prost(int32, optional, tag = "3")]
    kind: Option<i32>,
}

const UNKNOWN: i32 = 2;
pub(crate) const CONTROL: i32 = 3;
pub(crate) const USER_DEFINED: i32 = 4;

#[derive(Clone, PartialEq, Message)]
struct TrainerSpec {
    /// 1 unigram, 2 BPE, 3 word, 4 char.
    #[prost(int32, optional, tag = "3")]
    model_type: Option<i32>,
    #[prost(bool, optional, tag = "35")]
    byte_fallback: Option<bool>,
}

#[derive(Clone, PartialEq, Message)]
struct NormalizerSpec {
    #[prost(bytes = "vec", optional, tag = "2")]
    precompiled_charsmap: Option<Vec<u8>>,
    #[prost(bool, optional, tag = "3")]
    add_dummy_prefix: Option<bool>,
    #[prost(bool, optional, tag = "4")]
    remove_extra_whitespaces: Option<bool>,
}

/// One vocabulary entry: text, score, SentencePiece type (1 normal, 2 unknown, 3 control,
/// 4 user defined, 5 unused, 6 byte).
pub type PieceEntry = (String, f64, i32);

/// Everything a SentencePiece-style tokenizer is built from, whatever file it came in.
#[derive(Debug, Clone)]
pub struct Spec {
    /// The vocabulary; a piece's id is its position.
    pub pieces: Vec<PieceEntry>,
    /// Byte-pair merges ranked by piece order, instead of a unigram model.
    pub bpe: bool,
    /// Unknown bytes become `<0xNN>` pieces.
    pub byte_fallback: bool,
    /// SentencePiece's normalisation map (NFKC-style rules), if the model has one.
    pub charsmap: Option<Vec<u8>>,
    /// A `▁` is put before the text.
    pub add_dummy_prefix: bool,
    /// Leading/trailing whitespace is dropped and runs of spaces collapsed.
    pub remove_extra_whitespaces: bool,
    /// Text is split into words at spaces before the model runs (SentencePiece's default);
    /// without it pieces may span spaces (Gemma).
    pub split_words: bool,
}

/// Reads a SentencePiece model file's bytes into a tokenizer whose ids are the model's piece
/// ids; errors say what is wrong with the bytes.
pub fn from_bytes(bytes: &[u8]) -> std::result::Result<Tokenizer, String> {
    let proto = ModelProto::decode(bytes).map_err(|e| format!("not a SentencePiece model: {e}"))?;
    if proto.pieces.is_empty() {
        return Err("not a SentencePiece model: no pieces".into());
    }
    let trainer = proto.trainer_spec.unwrap_or_default();
    let normalizer = proto.normalizer_spec.unwrap_or_default();
    let bpe = match trainer.model_type.unwrap_or(1) {
        1 => false,
        2 => true,
        other => return Err(format!("SentencePiece model type {other} is not supported")),
    };
    from_spec(Spec {
        pieces: proto
            .pieces
            .into_iter()
            .map(|p| {
                (
                    p.piece.unwrap_or_default(),
                    f64::from(p.score.unwrap_or(0.0)),
                    p.kind.unwrap_or(1),
                )
            })
            .collect(),
        bpe,
        byte_fallback: trainer.byte_fallback.unwrap_or(false),
        charsmap: normalizer.precompiled_charsmap.filter(|m| !m.is_empty()),
        add_dummy_prefix: normalizer.add_dummy_prefix.unwrap_or(true),
        remove_extra_whitespaces: normalizer.remove_extra_whitespaces.unwrap_or(true),
        split_words: true,
    })
}

/// Builds the tokenizer a [`Spec`] describes.
pub fn from_spec(spec: Spec) -> std::result::Result<Tokenizer, String> {
    let pieces = &spec.pieces;
    let unk_id = pieces.iter().position(|p| p.2 == UNKNOWN);
    let model: tokenizers::ModelWrapper = if spec.bpe {
        bpe(pieces, unk_id, spec.byte_fallback)?.into()
    } else {
        Unigram::from(
            pieces.iter().map(|(p, s, _)| (p.clone(), *s)).collect(),
            unk_id,
            spec.byte_fallback,
        )
        .map_err(|e| format!("unigram model: {e}"))?
        .into()
    };
    let mut tokenizer = Tokenizer::new(model);

    let mut normalizers: Vec<NormalizerWrapper> = Vec::new();
    if let Some(map) = &spec.charsmap {
        normalizers.push(
            Precompiled::from(map)
                .map_err(|e| format!("normalisation map: {e}"))?
                .into(),
        );
    }
    if spec.remove_extra_whitespaces {
        // SentencePiece drops leading and trailing whitespace and collapses the rest.
        normalizers.push(tokenizers::normalizers::Strip::new(true, true).into());
        normalizers.push(
            Replace::new(
                tokenizers::normalizers::replace::ReplacePattern::Regex(" {2,}".into()),
                " ",
            )
            .map_err(|e| format!("whitespace rule: {e}"))?
            .into(),
        );
    }
    if !spec.split_words {
        // One piece sequence for the whole text, as SentencePiece itself does it: spaces become
        // `▁` and the dummy prefix is added even before a leading space (" Hi" is "▁▁Hi").
        // (A metaspace pre-tokenizer would skip the prefix there.)
        if spec.add_dummy_prefix {
            normalizers.push(tokenizers::normalizers::Prepend::new("▁".into()).into());
        }
        normalizers.push(
            Replace::new(" ", "▁")
                .map_err(|e| format!("whitespace rule: {e}"))?
                .into(),
        );
    }
    if !normalizers.is_empty() {
        tokenizer
            .with_normalizer(Some(tokenizers::normalizers::Sequence::new(normalizers)))
            .map_err(|e| format!("normaliser: {e}"))?;
    }
    let prepend = if spec.add_dummy_prefix {
        PrependScheme::Always
    } else {
        PrependScheme::Never
    };
    if spec.split_words {
        tokenizer.with_pre_tokenizer(Some(Metaspace::new('▁', prepend, true)));
    }
    let metaspace = DecoderWrapper::Metaspace(tokenizers::decoders::metaspace::Metaspace::new(
        '▁',
        prepend,
        spec.split_words,
    ));
    let decoder = if spec.byte_fallback {
        // `<0xE1><0xBB><0x87>` back to the UTF-8 character they spell.
        DecoderWrapper::Sequence(tokenizers::decoders::sequence::Sequence::new(vec![
            DecoderWrapper::ByteFallback(tokenizers::decoders::byte_fallback::ByteFallback::new()),
            DecoderWrapper::Fuse(tokenizers::decoders::fuse::Fuse::new()),
            metaspace,
        ]))
    } else {
        metaspace
    };
    tokenizer.with_decoder(Some(decoder));
    // User-defined pieces are matched whole, before the model sees the text; control pieces
    // (`<start_of_turn>`, ...) likewise, as special tokens a prompt may contain.
    let added: Vec<tokenizers::AddedToken> = pieces
        .iter()
        .filter(|p| p.2 == USER_DEFINED || p.2 == CONTROL)
        .map(|p| tokenizers::AddedToken::from(p.0.clone(), p.2 == CONTROL))
        .collect();
    tokenizer
        .add_tokens(added)
        .map_err(|e| format!("user-defined pieces: {e}"))?;
    Ok(tokenizer)
}

/// SentencePiece BPE as a merge list, as `transformers`' converter derives it: every piece that
/// is the concatenation of two other pieces is a merge of those two, ranked by the merged
/// piece's score (SentencePiece merges the best-scoring pair first), then by its position
/// (training order). Scores matter: Llama 2 gives its whitespace-run pieces (`▁▁`, id 259)
/// a score of -1e9, so they merge last although their ids are small.
fn bpe(
    pieces: &[(String, f64, i32)],
    unk_id: Option<usize>,
    byte_fallback: bool,
) -> std::result::Result<BPE, String> {
    let vocab: HashMap<String, u32> = pieces
        .iter()
        .enumerate()
        .map(|(id, p)| (p.0.clone(), id as u32))
        .collect();
    let mut merges: Vec<(f64, usize, (String, String))> = Vec::new();
    for (rank, (piece, score, _)) in pieces.iter().enumerate() {
        for (split, _) in piece.char_indices().skip(1) {
            let (left, right) = piece.split_at(split);
            if vocab.contains_key(left) && vocab.contains_key(right) {
                merges.push((*score, rank, (left.to_string(), right.to_string())));
            }
        }
    }
    // Within one merged piece, prefer the split whose halves are themselves earliest.
    merges.sort_by(|(sa, ra, (la, rra)), (sb, rb, (lb, rrb))| {
        sb.total_cmp(sa).then_with(|| {
            (ra, vocab[la.as_str()], vocab[rra.as_str()]).cmp(&(
                rb,
                vocab[lb.as_str()],
                vocab[rrb.as_str()],
            ))
        })
    });
    let mut builder = BPE::builder()
        .vocab_and_merges(
            vocab
                .into_iter()
                .collect::<tokenizers::models::bpe::Vocab>(),
            merges.into_iter().map(|(_, _, m)| m).collect(),
        )
        .fuse_unk(true)
        .byte_fallback(byte_fallback);
    if let Some(unk) = unk_id {
        builder = builder.unk_token(pieces[unk].0.clone());
    }
    builder.build().map_err(|e| format!("BPE model: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_what_is_not_a_sentencepiece_model() {
        for bytes in [&b""[..], b"\x0a\x03abc\xff", b"{\"model\": {}}"] {
            let err = from_bytes(bytes).err().unwrap_or_default();
            assert!(err.contains("not a SentencePiece model"), "{err}");
        }
    }

    #[test]
    fn builds_a_unigram_tokenizer_from_pieces() {
        let piece = |text: &str, score: f32, kind: i32| Piece {
            piece: Some(text.into()),
            score: Some(score),
            kind: Some(kind),
        };
        let proto = ModelProto {
            pieces: vec![
                piece("<unk>", 0.0, UNKNOWN),
                piece("▁hello", -1.0, 1),
                piece("▁he", -2.0, 1),
                piece("llo", -2.0, 1),
                piece("▁", -3.0, 1),
                piece("w", -4.0, 1),
            ],
            trainer_spec: Some(TrainerSpec {
                model_type: Some(1),
                byte_fallback: Some(false),
            }),
            normalizer_spec: None,
        };
        let tokenizer = from_bytes(&proto.encode_to_vec()).unwrap_or_else(|e| panic!("{e}"));
        let encoding = tokenizer
            .encode("  hello   w ", false)
            .unwrap_or_else(|e| panic!("{e}"));
        // Whitespace trimmed and collapsed; the best-scoring segmentation wins.
        assert_eq!(encoding.get_tokens(), ["▁hello", "▁", "w"]);
        let text = tokenizer
            .decode(encoding.get_ids(), false)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(text, "hello w");
    }
}
