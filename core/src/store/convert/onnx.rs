//! ONNX models: their weights taken out into safetensors.
//!
//! dragoman runs ONNX-published models (Silero VAD, Piper voices) on candle with its own code, so
//! only the weights are needed: every initializer of the graph and of its subgraphs, and every
//! `Constant` node's tensor (named by its output). PyTorch's exporter leaves some weights
//! anonymous (`onnx::Conv_8168`); one consumed by a single Conv/ConvTranspose/Gemm node is named
//! after that node, as PyTorch named it: `/flow/flows.6/enc/in_layers.0/Conv` input 1 becomes
//! `flow.flows.6.enc.in_layers.0.weight`.
//!
//! The protobuf messages below are the subset of `onnx/onnx.proto` (IR version 3 and later) that
//! holds weights, decoded with `prost`; field numbers are the schema's.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use prost::Message;

use crate::error::{Error, Result};

#[derive(Clone, PartialEq, Message)]
struct ModelProto {
    #[prost(message, optional, tag = "7")]
    graph: Option<GraphProto>,
}

#[derive(Clone, PartialEq, Message)]
struct GraphProto {
    #[prost(message, repeated, tag = "1")]
    node: Vec<NodeProto>,
    #[prost(message, repeated, tag = "5")]
    initializer: Vec<TensorProto>,
}

#[derive(Clone, PartialEq, Message)]
struct NodeProto {
    #[prost(string, repeated, tag = "1")]
    input: Vec<String>,
    #[prost(string, repeated, tag = "2")]
    output: Vec<String>,
    #[prost(string, tag = "3")]
    name: String,
    #[prost(string, tag = "4")]
    op_type: String,
    #[prost(message, repeated, tag = "5")]
    attribute: Vec<AttributeProto>,
}

#[derive(Clone, PartialEq, Message)]
struct AttributeProto {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(message, optional, tag = "5")]
    t: Option<TensorProto>,
    #[prost(message, optional, tag = "6")]
    g: Option<GraphProto>,
    #[prost(message, repeated, tag = "10")]
    tensors: Vec<TensorProto>,
    #[prost(message, repeated, tag = "11")]
    graphs: Vec<GraphProto>,
}

#[derive(Clone, PartialEq, Message)]
struct TensorProto {
    #[prost(int64, repeated, tag = "1")]
    dims: Vec<i64>,
    #[prost(int32, tag = "2")]
    data_type: i32,
    #[prost(float, repeated, tag = "4")]
    float_data: Vec<f32>,
    #[prost(int32, repeated, tag = "5")]
    int32_data: Vec<i32>,
    #[prost(int64, repeated, tag = "7")]
    int64_data: Vec<i64>,
    #[prost(string, tag = "8")]
    name: String,
    #[prost(bytes = "vec", tag = "9")]
    raw_data: Vec<u8>,
    #[prost(double, repeated, tag = "10")]
    double_data: Vec<f64>,
    #[prost(uint64, repeated, tag = "11")]
    uint64_data: Vec<u64>,
    /// 1 = EXTERNAL: the bytes live in another file, which dragoman does not follow.
    #[prost(int32, tag = "14")]
    data_location: i32,
}

/// A weight taken out of an ONNX model.
#[derive(Debug, Clone, PartialEq)]
pub struct OnnxTensor {
    /// Name (an initializer's own, a Constant's output, or derived from the consuming node).
    pub name: String,
    /// The name in the ONNX file.
    pub onnx_name: String,
    /// Element type.
    pub dtype: safetensors::Dtype,
    /// Shape.
    pub shape: Vec<usize>,
    /// Little-endian row-major bytes.
    pub data: Vec<u8>,
}

/// `TensorProto.DataType` to safetensors, with the element size.
fn dtype(data_type: i32) -> Option<(safetensors::Dtype, usize)> {
    use safetensors::Dtype as D;
    Some(match data_type {
        1 => (D::F32, 4),
        2 => (D::U8, 1),
        3 => (D::I8, 1),
        4 => (D::U16, 2),
        5 => (D::I16, 2),
        6 => (D::I32, 4),
        7 => (D::I64, 8),
        9 => (D::BOOL, 1),
        10 => (D::F16, 2),
        11 => (D::F64, 8),
        12 => (D::U32, 4),
        13 => (D::U64, 8),
        16 => (D::BF16, 2),
        _ => return None,
    })
}

fn tensor_bytes(t: &TensorProto, name: &str) -> std::result::Result<OnnxTensor, String> {
    let (st_dtype, size) =
        dtype(t.data_type).ok_or(format!("{name}: unsupported data type {}", t.data_type))?;
    if t.data_location == 1 {
        return Err(format!(
            "{name}: weights stored in an external file are not supported"
        ));
    }
    let shape = t
        .dims
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| format!("{name}: negative dim")))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let numel = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or(format!("{name}: too large"))?;
    let data: Vec<u8> = if !t.raw_data.is_empty() {
        t.raw_data.clone()
    } else {
        match st_dtype {
            safetensors::Dtype::F32 => t.float_data.iter().flat_map(|v| v.to_le_bytes()).collect(),
            safetensors::Dtype::F64 => t.double_data.iter().flat_map(|v| v.to_le_bytes()).collect(),
            safetensors::Dtype::I64 => t.int64_data.iter().flat_map(|v| v.to_le_bytes()).collect(),
            safetensors::Dtype::U64 | safetensors::Dtype::U32 => t
                .uint64_data
                .iter()
                .flat_map(|v| v.to_le_bytes()[..size].to_vec())
                .collect(),
            // int32_data carries every type of 32 bits or fewer, one element per value.
            _ => t
                .int32_data
                .iter()
                .flat_map(|v| v.to_le_bytes()[..size].to_vec())
                .collect(),
        }
    };
    if data.len() != numel * size {
        return Err(format!("{name}: {} bytes for shape {shape:?}", data.len()));
    }
    Ok(OnnxTensor {
        name: name.to_string(),
        onnx_name: name.to_string(),
        dtype: st_dtype,
        shape,
        data,
    })
}

/// Collects weights from a graph and its subgraphs.
fn collect(
    graph: &GraphProto,
    out: &mut Vec<OnnxTensor>,
    consumers: &mut HashMap<String, Vec<(String, String, usize)>>,
) -> std::result::Result<(), String> {
    for t in &graph.initializer {
        out.push(tensor_bytes(t, &t.name)?);
    }
    for node in &graph.node {
        for (index, input) in node.input.iter().enumerate() {
            consumers.entry(input.clone()).or_default().push((
                node.name.clone(),
                node.op_type.clone(),
                index,
            ));
        }
        if node.op_type == "Constant"
            && let (Some(t), Some(output)) = (
                node.attribute.iter().find_map(|a| a.t.as_ref()),
                node.output.first(),
            )
        {
            out.push(tensor_bytes(t, output)?);
        }
        for attribute in &node.attribute {
            for sub in attribute.g.iter().chain(&attribute.graphs) {
                collect(sub, out, consumers)?;
            }
            if !attribute.tensors.is_empty() {
                return Err(format!(
                    "{}: tensor-list attribute {:?} is not supported",
                    node.name, attribute.name
                ));
            }
        }
    }
    Ok(())
}

/// The name PyTorch gave an anonymous weight, from its single consumer.
fn name_from_consumer(consumers: &[(String, String, usize)]) -> Option<String> {
    let [(node, op, index)] = consumers else {
        return None;
    };
    if !matches!(op.as_str(), "Conv" | "ConvTranspose" | "Gemm") {
        return None;
    }
    let param = match index {
        1 => "weight",
        2 => "bias",
        _ => return None,
    };
    let (module, _op) = node.trim_start_matches('/').rsplit_once('/')?;
    Some(format!("{}.{param}", module.replace('/', ".")))
}

/// Reads every weight of an ONNX model.
pub fn read_onnx(path: &Path) -> Result<Vec<OnnxTensor>> {
    let bytes =
        std::fs::read(path).map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    parse_onnx(&bytes).map_err(|reason| Error::Convert {
        path: path.to_path_buf(),
        reason,
    })
}

/// [`read_onnx`] on bytes in memory.
pub fn parse_onnx(bytes: &[u8]) -> std::result::Result<Vec<OnnxTensor>, String> {
    let model = ModelProto::decode(bytes).map_err(|e| format!("not an ONNX model: {e}"))?;
    let graph = model.graph.ok_or("the model has no graph")?;
    let mut tensors = Vec::new();
    let mut consumers = HashMap::new();
    collect(&graph, &mut tensors, &mut consumers)?;
    let mut taken: BTreeMap<String, usize> = BTreeMap::new();
    for t in &tensors {
        *taken.entry(t.name.clone()).or_default() += 1;
    }
    for t in &mut tensors {
        if t.name.starts_with("onnx::")
            && let Some(name) = consumers.get(&t.name).and_then(|c| name_from_consumer(c))
            && !taken.contains_key(&name)
        {
            taken.insert(name.clone(), 1);
            t.name = name;
        }
    }
    if let Some((name, _)) = taken.iter().find(|(_, n)| **n > 1) {
        return Err(format!("two weights are named {name}"));
    }
    Ok(tensors)
}

/// Converts an ONNX model's weights into a safetensors file; returns how many were written.
/// The metadata maps each renamed weight back to its ONNX name.
pub fn convert_onnx(source: &Path, dest: &Path) -> Result<usize> {
    let tensors = read_onnx(source)?;
    // The header maps each renamed weight back to its ONNX name.
    let renamed: HashMap<String, String> = tensors
        .iter()
        .filter(|t| t.name != t.onnx_name)
        .map(|t| (t.name.clone(), t.onnx_name.clone()))
        .collect();
    super::write_safetensors(
        source,
        dest,
        tensors
            .iter()
            .map(|t| (t.name.clone(), t.dtype, t.shape.clone(), t.data.as_slice())),
        "onnx",
        renamed,
    )?;
    Ok(tensors.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> ModelProto {
        let weight = TensorProto {
            dims: vec![2, 2],
            data_type: 1,
            float_data: vec![1.0, 2.0, 3.0, 4.0],
            name: "onnx::Conv_7".into(),
            ..Default::default()
        };
        let bias = TensorProto {
            dims: vec![2],
            data_type: 7,
            int64_data: vec![-1, 5],
            name: "layer.bias".into(),
            ..Default::default()
        };
        let constant = NodeProto {
            output: vec!["c0".into()],
            name: "/Constant".into(),
            op_type: "Constant".into(),
            attribute: vec![AttributeProto {
                name: "value".into(),
                t: Some(TensorProto {
                    dims: vec![],
                    data_type: 1,
                    raw_data: 0.5f32.to_le_bytes().to_vec(),
                    ..Default::default()
                }),
                ..Default::default()
            }],
            ..Default::default()
        };
        let conv = NodeProto {
            input: vec!["x".into(), "onnx::Conv_7".into(), "layer.bias".into()],
            output: vec!["y".into()],
            name: "/enc/layers.0/conv/Conv".into(),
            op_type: "Conv".into(),
            ..Default::default()
        };
        let inner = GraphProto {
            initializer: vec![TensorProto {
                dims: vec![1],
                data_type: 10,
                int32_data: vec![0x3c00],
                name: "branch.w".into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        let branch = NodeProto {
            name: "/If".into(),
            op_type: "If".into(),
            attribute: vec![AttributeProto {
                name: "then_branch".into(),
                g: Some(inner),
                ..Default::default()
            }],
            ..Default::default()
        };
        ModelProto {
            graph: Some(GraphProto {
                node: vec![constant, conv, branch],
                initializer: vec![weight, bias],
            }),
        }
    }

    #[test]
    fn takes_initializers_constants_and_subgraphs_and_names_anonymous_weights()
    -> std::result::Result<(), String> {
        let tensors = parse_onnx(&model().encode_to_vec())?;
        let get = |n: &str| {
            tensors
                .iter()
                .find(|t| t.name == n)
                .ok_or(format!("no {n}"))
        };
        let w = get("enc.layers.0.conv.weight")?;
        assert_eq!(w.onnx_name, "onnx::Conv_7");
        assert_eq!(
            w.data,
            [1.0f32, 2.0, 3.0, 4.0]
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect::<Vec<_>>()
        );
        assert_eq!(
            get("layer.bias")?.data,
            [-1i64, 5]
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect::<Vec<_>>()
        );
        assert_eq!(get("c0")?.shape, Vec::<usize>::new());
        let half = get("branch.w")?;
        assert_eq!(
            (half.dtype, half.data.as_slice()),
            (safetensors::Dtype::F16, &[0x00, 0x3c][..])
        );
        assert_eq!(tensors.len(), 4);
        Ok(())
    }

    #[test]
    fn damaged_models_are_errors() {
        let good = model().encode_to_vec();
        for cut in [1, 10, good.len() / 2, good.len() - 1] {
            assert!(parse_onnx(&good[..cut]).is_err(), "cut at {cut}");
        }
        assert!(parse_onnx(b"").is_err(), "no graph");
        let mut wrong_size = model();
        if let Some(g) = wrong_size.graph.as_mut() {
            g.initializer[0].float_data.pop();
        }
        assert!(
            parse_onnx(&wrong_size.encode_to_vec())
                .err()
                .unwrap_or_default()
                .contains("bytes for shape")
        );
    }
}
