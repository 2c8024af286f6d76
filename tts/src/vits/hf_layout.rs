//! transformers' `VitsModel` checkpoints (MMS-TTS) in the reference layout: the same network as
//! jaywalnut310/vits under other names, so one implementation serves both. At load, each tensor
//! is renamed to its reference name and weight norm is folded into plain weights.
//!
//! What differs besides names: linear attention projections where the reference has 1x1
//! convolutions (the [`Conv`](super::layers::Conv) loader takes both), `nn.LayerNorm`'s
//! `weight`/`bias` for the reference's `gamma`/`beta`, and the duration predictor's and the
//! flow's lists, which the reference interleaves with parameterless `Flip` modules (so HF's
//! `flows.k` is the reference's `flows.2k-1` in the duration predictor and `flows.2k` in the
//! flow). The posterior encoder is only used in training and is dropped.

use std::collections::HashMap;

use candle_core::{Result, Tensor};

/// Whether `tensors` are in transformers' layout.
pub(crate) fn is_hf_layout(tensors: &HashMap<String, Tensor>) -> bool {
    tensors.contains_key("text_encoder.embed_tokens.weight")
}

/// `tensors` renamed to the reference layout, weight norm folded.
pub(crate) fn to_reference(tensors: HashMap<String, Tensor>) -> Result<HashMap<String, Tensor>> {
    let tensors = fold_weight_norm(tensors)?;
    Ok(tensors
        .into_iter()
        .filter_map(|(name, tensor)| reference_name(&name).map(|name| (name, tensor)))
        .collect())
}

/// The two spellings of a weight-normed parameter: torch's old `weight_g`/`weight_v` (the Hub's
/// checkpoints) and its parametrization (what transformers saves today).
const WEIGHT_NORM: [(&str, &str); 2] = [
    ("weight_g", "weight_v"),
    (
        "parametrizations.weight.original0",
        "parametrizations.weight.original1",
    ),
];

/// Each weight-normed `X` (magnitude `g`, direction `v`) becomes `X.weight = g * v / |v|`, the
/// norm taken per slice along the first axis (torch's default `dim=0`).
fn fold_weight_norm(mut tensors: HashMap<String, Tensor>) -> Result<HashMap<String, Tensor>> {
    for (g_leaf, v_leaf) in WEIGHT_NORM {
        let suffix = format!(".{g_leaf}");
        let prefixes: Vec<String> = tensors
            .keys()
            .filter_map(|k| k.strip_suffix(&suffix).map(str::to_string))
            .collect();
        for prefix in prefixes {
            let g = tensors.remove(&format!("{prefix}.{g_leaf}"));
            let v = tensors.remove(&format!("{prefix}.{v_leaf}"));
            let (Some(g), Some(v)) = (g, v) else {
                candle_core::bail!("{prefix}: weight norm without both of its halves");
            };
            let axes: Vec<usize> = (1..v.rank()).collect();
            let norm = v.sqr()?.sum_keepdim(axes)?.sqrt()?;
            let weight = v.broadcast_div(&norm)?.broadcast_mul(&g)?;
            tensors.insert(format!("{prefix}.weight"), weight);
        }
    }
    Ok(tensors)
}

/// The reference name of the transformers tensor `name`, or `None` for tensors inference does
/// not use.
fn reference_name(name: &str) -> Option<String> {
    let parts: Vec<&str> = name.split('.').collect();
    let joined = |head: &[&str], rest: &[&str]| Some([head, rest].concat().join("."));
    let norm = |leaf: &str| if leaf == "weight" { "gamma" } else { "beta" };
    match parts.as_slice() {
        ["text_encoder", "embed_tokens", rest @ ..] => joined(&["enc_p", "emb"], rest),
        ["text_encoder", "project", rest @ ..] => joined(&["enc_p", "proj"], rest),
        ["text_encoder", "encoder", "layers", i, part, rest @ ..] => {
            let layer = |list: &str, leaf: &[&str]| joined(&["enc_p", "encoder", list, i], leaf);
            match (*part, rest) {
                ("attention", [proj, leaf]) => {
                    let conv = match *proj {
                        "q_proj" => "conv_q",
                        "k_proj" => "conv_k",
                        "v_proj" => "conv_v",
                        "out_proj" => "conv_o",
                        _ => return None,
                    };
                    layer("attn_layers", &[conv, leaf])
                }
                ("attention", [embedding]) => layer("attn_layers", &[embedding]),
                ("layer_norm", [leaf]) => layer("norm_layers_1", &[norm(leaf)]),
                ("final_layer_norm", [leaf]) => layer("norm_layers_2", &[norm(leaf)]),
                ("feed_forward", rest) => layer("ffn_layers", rest),
                _ => None,
            }
        }
        ["duration_predictor", "flows", "0", leaf] => {
            let leaf = match *leaf {
                "translate" => "m",
                "log_scale" => "logs",
                _ => return None,
            };
            Some(format!("dp.flows.0.{leaf}"))
        }
        ["duration_predictor", "flows", k, rest @ ..] => {
            let index = k.parse::<usize>().ok()?.checked_mul(2)?.checked_sub(1)?;
            Some(format!("dp.flows.{index}.{}", spline_flow_name(rest)?))
        }
        ["duration_predictor", rest @ ..] => Some(format!("dp.{}", spline_flow_name(rest)?)),
        ["flow", "flows", k, part, rest @ ..] => {
            let index = 2 * k.parse::<usize>().ok()?;
            let part = match *part {
                "conv_pre" => "pre",
                "wavenet" => "enc",
                "conv_post" => "post",
                _ => return None,
            };
            joined(&["flow", "flows", &index.to_string(), part], rest)
        }
        ["decoder", "upsampler", rest @ ..] => joined(&["dec", "ups"], rest),
        ["decoder", rest @ ..] => joined(&["dec"], rest),
        _ => None,
    }
}

/// Names inside the duration predictor and its spline flows, which share them: `conv_pre`,
/// `conv_dds` (dilated depth-separable convolutions), `conv_proj`.
fn spline_flow_name(parts: &[&str]) -> Option<String> {
    let renamed: Vec<&str> = match parts {
        ["conv_pre", leaf] => vec!["pre", leaf],
        ["conv_proj", leaf] => vec!["proj", leaf],
        ["conv_dds", list, j, leaf] => {
            let (list, leaf) = match *list {
                "convs_dilated" => ("convs_sep", *leaf),
                "convs_pointwise" => ("convs_1x1", *leaf),
                "norms_1" | "norms_2" => (*list, if *leaf == "weight" { "gamma" } else { "beta" }),
                _ => return None,
            };
            vec!["convs", list, j, leaf]
        }
        _ => return None,
    };
    Some(renamed.join("."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_to_the_reference_layout() {
        let cases = [
            ("text_encoder.embed_tokens.weight", Some("enc_p.emb.weight")),
            (
                "text_encoder.encoder.layers.3.attention.out_proj.bias",
                Some("enc_p.encoder.attn_layers.3.conv_o.bias"),
            ),
            (
                "text_encoder.encoder.layers.0.attention.emb_rel_k",
                Some("enc_p.encoder.attn_layers.0.emb_rel_k"),
            ),
            (
                "text_encoder.encoder.layers.5.final_layer_norm.weight",
                Some("enc_p.encoder.norm_layers_2.5.gamma"),
            ),
            (
                "text_encoder.encoder.layers.1.feed_forward.conv_2.weight",
                Some("enc_p.encoder.ffn_layers.1.conv_2.weight"),
            ),
            (
                "duration_predictor.flows.0.log_scale",
                Some("dp.flows.0.logs"),
            ),
            (
                "duration_predictor.flows.2.conv_dds.norms_1.0.bias",
                Some("dp.flows.3.convs.norms_1.0.beta"),
            ),
            (
                "duration_predictor.conv_dds.convs_dilated.2.weight",
                Some("dp.convs.convs_sep.2.weight"),
            ),
            (
                "flow.flows.3.wavenet.res_skip_layers.0.weight",
                Some("flow.flows.6.enc.res_skip_layers.0.weight"),
            ),
            ("decoder.upsampler.1.bias", Some("dec.ups.1.bias")),
            (
                "decoder.resblocks.4.convs2.1.weight",
                Some("dec.resblocks.4.convs2.1.weight"),
            ),
            ("posterior_encoder.conv_pre.weight", None),
        ];
        for (hf, reference) in cases {
            assert_eq!(reference_name(hf).as_deref(), reference, "{hf}");
        }
    }

    #[test]
    fn weight_norm_is_folded_per_output_channel() -> Result<()> {
        let device = candle_core::Device::Cpu;
        let v = Tensor::new(&[[[3f32, 4.0]], [[1.0, 0.0]]], &device)?; // (2, 1, 2)
        let g = Tensor::new(&[[[10f32]], [[2.0]]], &device)?;
        let tensors = HashMap::from([
            ("a.weight_g".to_string(), g.clone()),
            ("a.weight_v".to_string(), v.clone()),
            ("b.parametrizations.weight.original0".to_string(), g),
            ("b.parametrizations.weight.original1".to_string(), v),
        ]);
        let folded = fold_weight_norm(tensors)?;
        for name in ["a.weight", "b.weight"] {
            let w = folded[name].flatten_all()?.to_vec1::<f32>()?;
            assert_eq!(w, [6.0, 8.0, 2.0, 0.0], "{name}");
        }
        assert_eq!(folded.len(), 2);
        Ok(())
    }
}
