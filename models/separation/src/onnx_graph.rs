//! A tiny ONNX writer: just enough protobuf to build stand-in models with
//! HT-Demucs's signature, so the ONNX path can be tested without the real weights.
//!
//! Field numbers follow onnx/onnx.proto (ModelProto, GraphProto, NodeProto,
//! TensorProto, ValueInfoProto, TypeProto, TensorShapeProto, OperatorSetIdProto).

use coda_model_runtime::onnx_proto::{bytes_field, str_field, uint_field};

/// `TensorProto.DataType.FLOAT`.
const FLOAT: u64 = 1;
/// ONNX IR version 8 is read by every ONNX Runtime since 1.10.
const IR_VERSION: u64 = 8;
const OPSET: u64 = 17;

/// `ValueInfoProto` of a float tensor with fixed dimensions.
fn float_value_info(name: &str, dims: &[u64]) -> Vec<u8> {
    let mut shape = Vec::new();
    for &d in dims {
        let mut dim = Vec::new();
        uint_field(&mut dim, 1, d); // Dimension.dim_value
        bytes_field(&mut shape, 1, &dim); // TensorShapeProto.dim
    }
    let mut tensor_type = Vec::new();
    uint_field(&mut tensor_type, 1, FLOAT); // elem_type
    bytes_field(&mut tensor_type, 2, &shape); // shape
    let mut type_proto = Vec::new();
    bytes_field(&mut type_proto, 1, &tensor_type); // TypeProto.tensor_type
    let mut info = Vec::new();
    str_field(&mut info, 1, name);
    bytes_field(&mut info, 2, &type_proto);
    info
}

/// An ONNX model with demucs-onnx's signature whose stems are fixed gains of the input: `stems[0,s,c,t] = gains[s][c] * mix[0,c,t]` (s in model order drums, bass, other, vocals).
///
/// One `Mul` node broadcasts `mix` `[1,2,chunk]` against an initializer of
/// shape `[1,4,2,1]` into `stems` `[1,4,2,chunk]`.
pub fn gain_model(gains: &[[f32; 2]; 4], chunk: usize) -> Vec<u8> {
    let mut tensor = Vec::new();
    for d in [1u64, 4, 2, 1] {
        uint_field(&mut tensor, 1, d); // dims
    }
    uint_field(&mut tensor, 2, FLOAT); // data_type
    str_field(&mut tensor, 8, "gains"); // name
    let raw: Vec<u8> = gains
        .iter()
        .flatten()
        .flat_map(|g| g.to_le_bytes())
        .collect();
    bytes_field(&mut tensor, 9, &raw); // raw_data

    let mut node = Vec::new();
    str_field(&mut node, 1, "mix");
    str_field(&mut node, 1, "gains");
    str_field(&mut node, 2, "stems");
    str_field(&mut node, 3, "apply_gains");
    str_field(&mut node, 4, "Mul");

    let chunk = chunk as u64;
    let mut graph = Vec::new();
    bytes_field(&mut graph, 1, &node);
    str_field(&mut graph, 2, "gain_model");
    bytes_field(&mut graph, 5, &tensor);
    bytes_field(&mut graph, 11, &float_value_info("mix", &[1, 2, chunk]));
    bytes_field(
        &mut graph,
        12,
        &float_value_info("stems", &[1, 4, 2, chunk]),
    );

    let mut opset = Vec::new();
    str_field(&mut opset, 1, "");
    uint_field(&mut opset, 2, OPSET);

    let mut model = Vec::new();
    uint_field(&mut model, 1, IR_VERSION);
    str_field(&mut model, 2, "coda-tests");
    bytes_field(&mut model, 8, &opset);
    bytes_field(&mut model, 7, &graph);
    model
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_model_starts_with_its_ir_version_and_holds_the_gains() {
        let gains = [[0.1, 0.2], [0.3, 0.4], [0.5, 0.6], [0.7, 0.8]];
        let bytes = gain_model(&gains, 343_980);
        assert_eq!(&bytes[..2], &[0x08, 0x08]);
        let raw: Vec<u8> = gains
            .iter()
            .flatten()
            .flat_map(|g: &f32| g.to_le_bytes())
            .collect();
        assert!(bytes.windows(raw.len()).any(|w| w == raw.as_slice()));
        // 343980 as a varint, inside the dim_value of both signatures.
        let mut chunk = Vec::new();
        coda_model_runtime::onnx_proto::varint(&mut chunk, 343_980);
        let count = bytes.windows(chunk.len()).filter(|w| *w == chunk).count();
        assert_eq!(count, 2);
    }
}
