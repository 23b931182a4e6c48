//! The weights of `silero_vad.onnx`, read from the ONNX protobuf.
//!
//! Only the messages and fields needed are declared (prost derives their
//! decoding; no generated code, no `protoc`): the model's graph is one `If` on
//! the sample rate whose `then_branch` (16 kHz) and `else_branch` (8 kHz) hold
//! every weight as a `Constant` node, named after the PyTorch parameter
//! (`…encoder.0.reparam_conv.weight`).

use std::collections::HashMap;
use std::path::Path;

use prost::Message;

use crate::error::EngineError;

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
}

#[derive(Clone, PartialEq, Message)]
struct TensorProto {
    #[prost(int64, repeated, tag = "1")]
    dims: Vec<i64>,
    #[prost(int32, tag = "2")]
    data_type: i32,
    #[prost(float, repeated, tag = "4")]
    float_data: Vec<f32>,
    #[prost(string, tag = "8")]
    name: String,
    #[prost(bytes = "vec", tag = "9")]
    raw_data: Vec<u8>,
}

/// ONNX `TensorProto.DataType.FLOAT`.
const FLOAT: i32 = 1;

/// A float weight: its shape and values, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct Weight {
    /// Dimensions.
    pub dims: Vec<usize>,
    /// Values.
    pub values: Vec<f32>,
}

/// Every float constant of one sample rate's branch, by name (the PyTorch
/// parameter name, without ONNX's inlining prefix).
pub struct BranchWeights {
    by_name: HashMap<String, Weight>,
    model: String,
}

impl BranchWeights {
    /// Reads `model` and keeps the branch for `sample_rate` (16000 or 8000).
    pub fn read(model: &Path, sample_rate: u32) -> Result<BranchWeights, EngineError> {
        let bytes = std::fs::read(model)
            .map_err(|e| EngineError::BadInput(format!("cannot read {}: {e}", model.display())))?;
        Self::parse(&bytes, sample_rate, &model.display().to_string())
    }

    fn parse(bytes: &[u8], sample_rate: u32, model: &str) -> Result<BranchWeights, EngineError> {
        let unknown = |what: &str| {
            EngineError::BadInput(format!(
                "--vad-backend native does not know the graph of {model} ({what}); \
                 use --vad-backend ort for this model"
            ))
        };
        let proto = ModelProto::decode(bytes).map_err(|e| unknown(&format!("not an ONNX model: {e}")))?;
        let graph = proto.graph.ok_or_else(|| unknown("no graph"))?;
        let branch_name = if sample_rate == 16_000 { "then_branch" } else { "else_branch" };
        let branch = graph
            .node
            .iter()
            .filter(|n| n.op_type == "If")
            .flat_map(|n| &n.attribute)
            .find(|a| a.name == branch_name)
            .and_then(|a| a.g.as_ref())
            .ok_or_else(|| unknown("no If on the sample rate"))?;
        let mut by_name = HashMap::new();
        collect(branch, &mut by_name);
        Ok(BranchWeights { by_name, model: model.to_string() })
    }

    /// The weight whose name ends with `suffix`, checked to have `dims`.
    pub fn take(&mut self, suffix: &str, dims: &[usize]) -> Result<Weight, EngineError> {
        let key = self.by_name.keys().find(|k| k.ends_with(suffix)).cloned();
        let weight = key.and_then(|k| self.by_name.remove(&k));
        match weight {
            Some(w) if w.dims == dims => Ok(w),
            found => Err(EngineError::BadInput(format!(
                "--vad-backend native does not know the graph of {} ({suffix}: expected shape {dims:?}, found {}); \
                 use --vad-backend ort for this model",
                self.model,
                found.map_or("none".to_string(), |w| format!("{:?}", w.dims))
            ))),
        }
    }
}

/// Float constants and initializers of `graph` and its subgraphs.
fn collect(graph: &GraphProto, into: &mut HashMap<String, Weight>) {
    for tensor in &graph.initializer {
        if let Some(w) = weight(tensor) {
            into.insert(tensor.name.clone(), w);
        }
    }
    for node in &graph.node {
        for attribute in &node.attribute {
            if let (Some(tensor), "Constant") = (&attribute.t, node.op_type.as_str()) {
                if let (Some(w), Some(name)) = (weight(tensor), node.output.first()) {
                    into.insert(name.clone(), w);
                }
            }
            if let Some(sub) = &attribute.g {
                collect(sub, into);
            }
        }
    }
}

fn weight(tensor: &TensorProto) -> Option<Weight> {
    if tensor.data_type != FLOAT {
        return None;
    }
    let values: Vec<f32> = if tensor.raw_data.is_empty() {
        tensor.float_data.clone()
    } else {
        tensor.raw_data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
    };
    let dims: Vec<usize> = tensor.dims.iter().map(|&d| usize::try_from(d).ok()).collect::<Option<_>>()?;
    (dims.iter().product::<usize>() == values.len()).then_some(Weight { dims, values })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_that_is_not_a_silero_model_is_refused_with_the_way_out() {
        let err = BranchWeights::parse(b"not a model at all", 16_000, "x.onnx").err().unwrap().to_string();
        assert!(err.contains("--vad-backend ort"), "{err}");
        let empty =
            ModelProto { graph: Some(GraphProto { node: vec![], initializer: vec![] }) }.encode_to_vec();
        let err = BranchWeights::parse(&empty, 16_000, "x.onnx").err().unwrap().to_string();
        assert!(err.contains("no If on the sample rate") && err.contains("--vad-backend ort"), "{err}");
    }
}
