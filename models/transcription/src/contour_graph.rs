//! Basic Pitch's contour head rewritten into an equivalent graph, with the
//! same weights, whose first convolution ONNX Runtime computes about four
//! times faster (the whole model, about a third faster).
//!
//! The head is `Conv(8→8, 3×39) → Relu → Conv(8→1, 5×5)` over 264 frequency
//! bins, and the first convolution alone is about half of the whole model's
//! time on a CPU: with only 8 channels, ONNX Runtime's blocked (NCHWc) kernels
//! pad them to 16 and waste most of their work. Folding every 4 neighbouring
//! bins into channels turns it into `Conv(32→32, 3×11)` over 66 columns, which
//! has the same arithmetic but a shape those kernels use fully. The folded
//! result is unfolded after the second convolution, so the model's inputs,
//! outputs and every other node are untouched; only float rounding differs
//! (about 1e-6 on the outputs).

use std::collections::HashMap;

use super::{N_FRAMES_PER_WINDOW, N_FREQ_BINS_CONTOURS};
use coda_model_runtime::onnx_proto::{
    bytes_field, fields, str_field, uint_field, Field, ProtoError,
};

/// Neighbouring frequency bins folded into one column.
const FOLD: usize = 4;
/// Weight shapes that identify the head's two convolutions.
const FIRST_CONV: [usize; 4] = [8, 8, 3, 39];
const SECOND_CONV: [usize; 4] = [1, 8, 5, 5];
/// Prefix of every tensor and node this rewrite adds.
const PREFIX: &str = "coda_folded_contour/";

// Field numbers of onnx.proto.
const MODEL_GRAPH: u32 = 7;
const GRAPH_NODE: u32 = 1;
const GRAPH_INITIALIZER: u32 = 5;
const GRAPH_INPUT: u32 = 11;
const GRAPH_OUTPUT: u32 = 12;
const NODE_INPUT: u32 = 1;
const NODE_OUTPUT: u32 = 2;
const NODE_NAME: u32 = 3;
const NODE_OP_TYPE: u32 = 4;
const NODE_ATTRIBUTE: u32 = 5;
const NODE_DOMAIN: u32 = 7;
const ATTR_NAME: u32 = 1;
const ATTR_I: u32 = 3;
const ATTR_S: u32 = 4;
const ATTR_G: u32 = 6;
const ATTR_INTS: u32 = 8;
const ATTR_GRAPHS: u32 = 11;
const ATTR_TYPE: u32 = 20;
const ATTR_TYPE_INT: u64 = 2;
const ATTR_TYPE_INTS: u64 = 7;
const TENSOR_DIMS: u32 = 1;
const TENSOR_DATA_TYPE: u32 = 2;
const TENSOR_FLOAT_DATA: u32 = 4;
const TENSOR_NAME: u32 = 8;
const TENSOR_RAW_DATA: u32 = 9;
const TENSOR_DATA_LOCATION: u32 = 14;
const VALUE_INFO_NAME: u32 = 1;
const DATA_TYPE_FLOAT: u64 = 1;
const DATA_TYPE_INT64: u64 = 7;

fn err(message: impl Into<String>) -> ProtoError {
    ProtoError(message.into())
}

/// Returns `model` (a serialized ONNX ModelProto of Basic Pitch) with its contour head folded.
///
/// Fails, leaving the caller to use the model as it is, when the graph does not
/// hold the head exactly as basic-pitch 0.4.0's `nmp.onnx` does.
pub(crate) fn fold_contour_head(model: &[u8]) -> Result<Vec<u8>, ProtoError> {
    let top = fields(model)?;
    let graphs: Vec<&Field> = top.iter().filter(|f| f.number == MODEL_GRAPH).collect();
    let [graph] = graphs.as_slice() else {
        return Err(err(format!("expected one graph, found {}", graphs.len())));
    };
    let new_graph = fold_in_graph(graph.bytes()?)?;
    let mut out = Vec::with_capacity(model.len() + new_graph.len() / 2);
    for field in &top {
        if field.number == MODEL_GRAPH {
            bytes_field(&mut out, MODEL_GRAPH, &new_graph);
        } else {
            out.extend_from_slice(field.raw);
        }
    }
    Ok(out)
}

/// A node's parts the rewrite looks at.
struct Node<'a> {
    name: &'a str,
    inputs: Vec<&'a str>,
    outputs: Vec<&'a str>,
    op_type: &'a str,
    attributes: Vec<(&'a str, Field<'a>)>,
}

fn parse_node(bytes: &[u8]) -> Result<Node<'_>, ProtoError> {
    let mut node = Node {
        name: "",
        inputs: Vec::new(),
        outputs: Vec::new(),
        op_type: "",
        attributes: Vec::new(),
    };
    for field in fields(bytes)? {
        match field.number {
            NODE_INPUT => node.inputs.push(field.str()?),
            NODE_OUTPUT => node.outputs.push(field.str()?),
            NODE_NAME => node.name = field.str()?,
            NODE_OP_TYPE => node.op_type = field.str()?,
            // Ops of other domains may share ONNX's names but not its meaning.
            NODE_DOMAIN if !matches!(field.str()?, "" | "ai.onnx") => {
                return Err(err(format!("a node of domain {}", field.str()?)))
            }
            NODE_ATTRIBUTE => {
                let attr = fields(field.bytes()?)?;
                // Tensors used inside subgraphs are out of this rewrite's sight.
                if attr
                    .iter()
                    .any(|f| f.number == ATTR_G || f.number == ATTR_GRAPHS)
                {
                    return Err(err("the graph has subgraphs"));
                }
                let name = attr
                    .iter()
                    .find(|f| f.number == ATTR_NAME)
                    .map(|f| f.str())
                    .transpose()?
                    .unwrap_or("");
                node.attributes.push((name, field));
            }
            _ => {}
        }
    }
    Ok(node)
}

/// The integers of attribute `name` (`ints`, or `i` for a single one), if present.
fn int_attribute(node: &Node, name: &str) -> Result<Option<Vec<i64>>, ProtoError> {
    let Some((_, field)) = node.attributes.iter().find(|(n, _)| *n == name) else {
        return Ok(None);
    };
    let mut values = Vec::new();
    for f in fields(field.bytes()?)? {
        match f.number {
            ATTR_INTS | ATTR_I => values.extend(f.int64s()?),
            ATTR_S => return Err(err(format!("attribute {name} is a string"))),
            _ => {}
        }
    }
    Ok(Some(values))
}

/// A float initializer.
struct Tensor {
    dims: Vec<usize>,
    data: Vec<f32>,
}

fn parse_float_tensor(bytes: &[u8]) -> Result<Tensor, ProtoError> {
    let mut dims = Vec::new();
    let mut data_type = 0;
    let mut raw: Option<&[u8]> = None;
    let mut floats = Vec::new();
    for field in fields(bytes)? {
        match field.number {
            TENSOR_DIMS => {
                for d in field.int64s()? {
                    dims.push(usize::try_from(d).map_err(|_| err("negative dimension"))?);
                }
            }
            TENSOR_DATA_TYPE => data_type = field.int64s()?.first().copied().unwrap_or(0),
            TENSOR_RAW_DATA => raw = Some(field.bytes()?),
            TENSOR_FLOAT_DATA => match field.value {
                coda_model_runtime::onnx_proto::Value::Fixed32(bits) => {
                    floats.push(f32::from_bits(bits))
                }
                _ => floats.extend(
                    field
                        .bytes()?
                        .chunks_exact(4)
                        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
                ),
            },
            TENSOR_DATA_LOCATION => return Err(err("external tensor data is not supported")),
            _ => {}
        }
    }
    if data_type != DATA_TYPE_FLOAT as i64 {
        return Err(err(format!("tensor of data type {data_type}, not float")));
    }
    let data: Vec<f32> = match raw {
        Some(raw) if raw.len() % 4 != 0 => {
            return Err(err(format!("{} bytes of float data", raw.len())))
        }
        Some(raw) => raw
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
        None => floats,
    };
    let size = dims
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .ok_or_else(|| err(format!("tensor shape {dims:?} overflows")))?;
    if data.len() != size {
        return Err(err(format!(
            "tensor of shape {dims:?} holds {} values",
            data.len()
        )));
    }
    Ok(Tensor { dims, data })
}

/// A stride-1, ungrouped convolution that keeps the width of its input.
struct Conv {
    weight: Tensor,
    bias: Tensor,
    /// Zeros above and below the input (the same both sides).
    pad_top: usize,
    pad_left: usize,
}

fn parse_conv(node: &Node, initializers: &HashMap<&str, &[u8]>) -> Result<Conv, ProtoError> {
    if node.op_type != "Conv" || node.inputs.len() != 3 || node.outputs.len() != 1 {
        return Err(err("not a convolution with a bias"));
    }
    let tensor = |name: &str| {
        initializers
            .get(name)
            .ok_or_else(|| err(format!("{name} is not an initializer")))
            .and_then(|bytes| parse_float_tensor(bytes))
    };
    let weight = tensor(node.inputs[1])?;
    let bias = tensor(node.inputs[2])?;
    let [o, _, kh, kw] = weight.dims[..] else {
        return Err(err("the weight is not 4-dimensional"));
    };
    if bias.dims != [o] {
        return Err(err("the bias does not match the weight"));
    }
    for (name, want) in [("strides", 1), ("dilations", 1), ("group", 1)] {
        if let Some(values) = int_attribute(node, name)? {
            if values.iter().any(|&v| v != want) {
                return Err(err(format!("{name} {values:?} is not supported")));
            }
        }
    }
    if node.attributes.iter().any(|(n, _)| *n == "auto_pad") {
        return Err(err("auto_pad is not supported"));
    }
    let pads = int_attribute(node, "pads")?.unwrap_or_else(|| vec![0; 4]);
    let pads: Vec<usize> = pads
        .iter()
        .map(|&p| usize::try_from(p).map_err(|_| err("negative padding")))
        .collect::<Result<_, _>>()?;
    let [top, left, bottom, right] = pads[..] else {
        return Err(err("pads is not 4 values"));
    };
    // Folding needs the output as wide as the input; the folded node pads rows as before.
    if top != bottom || top + bottom + 1 != kh || left + right + 1 != kw {
        return Err(err(format!("pads {pads:?} do not keep the size")));
    }
    Ok(Conv {
        weight,
        bias,
        pad_top: top,
        pad_left: left,
    })
}

/// The same convolution over an input whose width is folded `fold` times into channels.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FoldedKernel {
    /// Weights `[o·fold, c·fold, kh, taps]`; output channel `o·fold + q` is column `x·fold + q`.
    pub weight: Vec<f32>,
    /// Its shape.
    pub dims: [usize; 4],
    /// Folded columns of zero padding on the left.
    pub pad_left: usize,
    /// Folded columns of zero padding on the right.
    pub pad_right: usize,
}

/// Folds a `[o, c, kh, kw]` kernel applied with `pad_left` zeros on the left (and width kept).
///
/// Output column `w = fold·x + q` sums input columns `w + k − pad_left`; with the
/// input column written `fold·(x + m) + p`, the tap is `k = fold·m + p − q + pad_left`.
pub(crate) fn fold_kernel(
    weight: &[f32],
    [o, c, kh, kw]: [usize; 4],
    pad_left: usize,
    fold: usize,
) -> FoldedKernel {
    let (pad, fold_i, kw_i) = (pad_left as isize, fold as isize, kw as isize);
    let m_lo = -((pad + fold_i - 1) / fold_i);
    let m_hi = (kw_i - 1 - pad + fold_i - 1) / fold_i;
    let taps = (m_hi - m_lo + 1) as usize;
    let dims = [o * fold, c * fold, kh, taps];
    let mut folded = vec![0.0f32; dims.iter().product()];
    for oi in 0..o {
        for q in 0..fold {
            for ci in 0..c {
                for p in 0..fold {
                    for m in m_lo..=m_hi {
                        let k = fold_i * m + p as isize - q as isize + pad;
                        if !(0..kw_i).contains(&k) {
                            continue;
                        }
                        for row in 0..kh {
                            let src = ((oi * c + ci) * kh + row) * kw + k as usize;
                            let dst = (((oi * fold + q) * c * fold + ci * fold + p) * kh + row)
                                * taps
                                + (m - m_lo) as usize;
                            folded[dst] = weight[src];
                        }
                    }
                }
            }
        }
    }
    FoldedKernel {
        weight: folded,
        dims,
        pad_left: (-m_lo) as usize,
        pad_right: m_hi as usize,
    }
}

fn fold_in_graph(graph: &[u8]) -> Result<Vec<u8>, ProtoError> {
    let graph_fields = fields(graph)?;
    // (index in graph_fields, node)
    let mut nodes = Vec::new();
    let mut initializers: HashMap<&str, &[u8]> = HashMap::new();
    // Per graph field, the initializer name if it is one.
    let mut initializer_names = Vec::new();
    // Names of the graph's inputs and outputs: these tensors must stay as they are.
    let mut graph_values = Vec::new();
    for (i, field) in graph_fields.iter().enumerate() {
        let mut init_name = None;
        match field.number {
            GRAPH_NODE => nodes.push((i, parse_node(field.bytes()?)?)),
            GRAPH_INITIALIZER => {
                let bytes = field.bytes()?;
                let name = fields(bytes)?
                    .iter()
                    .find(|f| f.number == TENSOR_NAME)
                    .map(|f| f.str())
                    .transpose()?
                    .unwrap_or("");
                initializers.insert(name, bytes);
                init_name = Some(name);
            }
            GRAPH_INPUT | GRAPH_OUTPUT => {
                for f in fields(field.bytes()?)? {
                    if f.number == VALUE_INFO_NAME {
                        graph_values.push(f.str()?);
                    }
                }
            }
            _ => {}
        }
        initializer_names.push(init_name);
    }
    let names = nodes
        .iter()
        .flat_map(|(_, n)| n.outputs.iter().chain([&n.name]))
        .chain(initializers.keys());
    if let Some(taken) = names.into_iter().find(|n| n.starts_with(PREFIX)) {
        return Err(err(format!("the graph already has a tensor named {taken}")));
    }
    let consumers = |tensor: &str| -> Vec<usize> {
        (0..nodes.len())
            .filter(|&n| nodes[n].1.inputs.contains(&tensor))
            .collect()
    };
    let weight_dims = |n: usize| -> Option<Vec<i64>> {
        let node = &nodes[n].1;
        let bytes = initializers.get(node.inputs.get(1)?)?;
        let mut dims = Vec::new();
        for f in fields(bytes).ok()? {
            if f.number == TENSOR_DIMS {
                dims.extend(f.int64s().ok()?);
            }
        }
        Some(dims)
    };
    let is_conv = |n: usize, dims: [usize; 4]| {
        nodes[n].1.op_type == "Conv" && weight_dims(n) == Some(dims.map(|d| d as i64).to_vec())
    };
    let firsts: Vec<usize> = (0..nodes.len())
        .filter(|&n| is_conv(n, FIRST_CONV))
        .collect();
    let [first] = firsts[..] else {
        return Err(err(format!(
            "expected one {FIRST_CONV:?} convolution, found {}",
            firsts.len()
        )));
    };
    let only_consumer = |n: usize, op: &str| -> Result<usize, ProtoError> {
        let out = nodes[n].1.outputs.first().copied().unwrap_or("");
        match consumers(out)[..] {
            [next] if nodes[next].1.op_type == op && !graph_values.contains(&out) => Ok(next),
            _ => Err(err(format!("{out} is not used by exactly one {op}"))),
        }
    };
    let relu = only_consumer(first, "Relu")?;
    let second = only_consumer(relu, "Conv")?;
    if !is_conv(second, SECOND_CONV) {
        return Err(err("the contour convolution has another shape"));
    }
    let conv1 = parse_conv(&nodes[first].1, &initializers)?;
    let conv2 = parse_conv(&nodes[second].1, &initializers)?;

    let input = nodes[first].1.inputs[0];
    let output = nodes[second].1.outputs[0];
    let new_nodes = folded_head(input, output, &conv1, &conv2);

    // The four tensors of the two convolutions go unless something else uses them.
    let replaced = [first, second];
    let dropped: Vec<&str> = replaced
        .iter()
        .flat_map(|&n| nodes[n].1.inputs[1..].iter().copied())
        .filter(|t| !graph_values.contains(t) && consumers(t).iter().all(|c| replaced.contains(c)))
        .collect();
    let skip: Vec<usize> = [relu, second].iter().map(|&n| nodes[n].0).collect();
    let at = nodes[first].0;

    let mut out = Vec::with_capacity(graph.len() + new_nodes.initializers.len());
    for (i, field) in graph_fields.iter().enumerate() {
        if i == at {
            out.extend_from_slice(&new_nodes.nodes);
        } else if skip.contains(&i) || initializer_names[i].is_some_and(|n| dropped.contains(&n)) {
            continue;
        } else {
            out.extend_from_slice(field.raw);
        }
    }
    out.extend_from_slice(&new_nodes.initializers);
    Ok(out)
}

/// Encoded NodeProto and TensorProto fields of a GraphProto.
struct GraphPart {
    nodes: Vec<u8>,
    initializers: Vec<u8>,
}

enum Attr<'a> {
    Int(i64),
    Ints(&'a [i64]),
}

fn push_node(out: &mut Vec<u8>, op: &str, inputs: &[&str], output: &str, attrs: &[(&str, Attr)]) {
    let mut node = Vec::new();
    for input in inputs {
        str_field(&mut node, NODE_INPUT, input);
    }
    str_field(&mut node, NODE_OUTPUT, output);
    str_field(&mut node, NODE_NAME, output);
    str_field(&mut node, NODE_OP_TYPE, op);
    for (name, value) in attrs {
        let mut attr = Vec::new();
        str_field(&mut attr, ATTR_NAME, name);
        match value {
            Attr::Int(i) => {
                uint_field(&mut attr, ATTR_I, *i as u64);
                uint_field(&mut attr, ATTR_TYPE, ATTR_TYPE_INT);
            }
            Attr::Ints(values) => {
                for v in *values {
                    uint_field(&mut attr, ATTR_INTS, *v as u64);
                }
                uint_field(&mut attr, ATTR_TYPE, ATTR_TYPE_INTS);
            }
        }
        bytes_field(&mut node, NODE_ATTRIBUTE, &attr);
    }
    bytes_field(out, GRAPH_NODE, &node);
}

fn push_tensor(out: &mut Vec<u8>, name: &str, dims: &[usize], data_type: u64, raw: &[u8]) {
    let mut tensor = Vec::new();
    for &d in dims {
        uint_field(&mut tensor, TENSOR_DIMS, d as u64);
    }
    uint_field(&mut tensor, TENSOR_DATA_TYPE, data_type);
    str_field(&mut tensor, TENSOR_NAME, name);
    bytes_field(&mut tensor, TENSOR_RAW_DATA, raw);
    bytes_field(out, GRAPH_INITIALIZER, &tensor);
}

fn push_floats(out: &mut Vec<u8>, name: &str, dims: &[usize], data: &[f32]) {
    let raw: Vec<u8> = data.iter().flat_map(|v| v.to_le_bytes()).collect();
    push_tensor(out, name, dims, DATA_TYPE_FLOAT, &raw);
}

fn push_shape(out: &mut Vec<u8>, name: &str, shape: &[i64]) {
    let raw: Vec<u8> = shape.iter().flat_map(|v| v.to_le_bytes()).collect();
    push_tensor(out, name, &[shape.len()], DATA_TYPE_INT64, &raw);
}

/// Nodes from `input` `[n, 8, 172, 264]` to `output` `[n, 1, 172, 264]`: fold, both convolutions and the ReLU, unfold.
fn folded_head(input: &str, output: &str, conv1: &Conv, conv2: &Conv) -> GraphPart {
    let (h, w, f) = (
        N_FRAMES_PER_WINDOW as i64,
        N_FREQ_BINS_CONTOURS as i64,
        FOLD as i64,
    );
    let c = conv1.weight.dims[1] as i64;
    let o = conv2.weight.dims[0] as i64;
    let name = |s: &str| format!("{PREFIX}{s}");
    let mut part = GraphPart {
        nodes: Vec::new(),
        initializers: Vec::new(),
    };
    let inits = &mut part.initializers;
    // Reshape's 0 keeps the batch dimension whatever it is.
    push_shape(inits, &name("split_columns"), &[0, c, h, w / f, f]);
    push_shape(inits, &name("fold_shape"), &[0, c * f, h, w / f]);
    push_shape(inits, &name("split_channels"), &[0, o, f, h, w / f]);
    push_shape(inits, &name("unfold_shape"), &[0, o, h, w]);
    let mut convs = Vec::new();
    for (i, conv) in [conv1, conv2].into_iter().enumerate() {
        let dims: [usize; 4] = conv.weight.dims[..].try_into().expect("checked 4-d");
        let k = fold_kernel(&conv.weight.data, dims, conv.pad_left, FOLD);
        let bias: Vec<f32> = conv
            .bias
            .data
            .iter()
            .flat_map(|&b| std::iter::repeat_n(b, FOLD))
            .collect();
        push_floats(inits, &name(&format!("w{}", i + 1)), &k.dims, &k.weight);
        push_floats(inits, &name(&format!("b{}", i + 1)), &[bias.len()], &bias);
        let pads = [
            conv.pad_top as i64,
            k.pad_left as i64,
            conv.pad_top as i64,
            k.pad_right as i64,
        ];
        convs.push((pads, [k.dims[2] as i64, k.dims[3] as i64]));
    }

    let nodes = &mut part.nodes;
    let (split, moved, folded) = (name("split"), name("moved"), name("folded"));
    push_node(
        nodes,
        "Reshape",
        &[input, &name("split_columns")],
        &split,
        &[],
    );
    push_node(
        nodes,
        "Transpose",
        &[&split],
        &moved,
        &[("perm", Attr::Ints(&[0, 1, 4, 2, 3]))],
    );
    push_node(
        nodes,
        "Reshape",
        &[&moved, &name("fold_shape")],
        &folded,
        &[],
    );
    let mut x = folded;
    for (i, (pads, kernel)) in convs.iter().enumerate() {
        let y = name(&format!("conv{}", i + 1));
        let (w, b) = (name(&format!("w{}", i + 1)), name(&format!("b{}", i + 1)));
        push_node(
            nodes,
            "Conv",
            &[&x, &w, &b],
            &y,
            &[
                ("kernel_shape", Attr::Ints(kernel)),
                ("pads", Attr::Ints(pads)),
                ("strides", Attr::Ints(&[1, 1])),
                ("dilations", Attr::Ints(&[1, 1])),
                ("group", Attr::Int(1)),
            ],
        );
        x = y;
        if i == 0 {
            let relu = name("relu1");
            push_node(nodes, "Relu", &[&x], &relu, &[]);
            x = relu;
        }
    }
    let (grouped, back) = (name("grouped"), name("back"));
    push_node(
        nodes,
        "Reshape",
        &[&x, &name("split_channels")],
        &grouped,
        &[],
    );
    push_node(
        nodes,
        "Transpose",
        &[&grouped],
        &back,
        &[("perm", Attr::Ints(&[0, 1, 3, 4, 2]))],
    );
    push_node(
        nodes,
        "Reshape",
        &[&back, &name("unfold_shape")],
        output,
        &[],
    );
    part
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Plain 2-D convolution `[c, h, w]` → `[o, h, w]` with zero padding, stride 1.
    fn conv2d(
        x: &[f32],
        [c, h, w]: [usize; 3],
        k: &[f32],
        [o, kh, kw]: [usize; 3],
        [pt, pl]: [usize; 2],
    ) -> Vec<f32> {
        let mut y = vec![0.0f32; o * h * w];
        for oi in 0..o {
            for r in 0..h {
                for col in 0..w {
                    let mut sum = 0.0f32;
                    for ci in 0..c {
                        for i in 0..kh {
                            for j in 0..kw {
                                let (rr, cc) = (r + i, col + j);
                                if rr < pt || cc < pl || rr - pt >= h || cc - pl >= w {
                                    continue;
                                }
                                sum += k[((oi * c + ci) * kh + i) * kw + j]
                                    * x[(ci * h + rr - pt) * w + cc - pl];
                            }
                        }
                    }
                    y[(oi * h + r) * w + col] = sum;
                }
            }
        }
        y
    }

    /// `[c, h, w]` → `[c·fold, h, w/fold]`, channel `ci·fold + p` holding columns `fold·x + p`.
    fn fold_input(x: &[f32], [c, h, w]: [usize; 3], fold: usize) -> Vec<f32> {
        let mut out = vec![0.0; x.len()];
        for ci in 0..c {
            for p in 0..fold {
                for r in 0..h {
                    for col in 0..w / fold {
                        out[((ci * fold + p) * h + r) * (w / fold) + col] =
                            x[(ci * h + r) * w + fold * col + p];
                    }
                }
            }
        }
        out
    }

    fn noise(n: usize, seed: u64) -> Vec<f32> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                ((s >> 40) as f32 / (1u64 << 24) as f32) - 0.5
            })
            .collect()
    }

    #[test]
    fn a_folded_convolution_equals_the_original() {
        // The head's own shapes, and odd ones: pads not centred, kernels narrower than the fold.
        let cases = [
            ([8, 8, 3, 39], [1, 19], 4, 264),
            ([1, 8, 5, 5], [2, 2], 4, 264),
            ([2, 3, 3, 7], [1, 4], 4, 24),
            ([3, 2, 1, 3], [0, 0], 3, 12),
            ([2, 2, 3, 1], [1, 0], 2, 10),
            ([1, 1, 1, 9], [0, 6], 8, 32),
        ];
        for (i, ([o, c, kh, kw], [pt, pl], fold, w)) in cases.into_iter().enumerate() {
            let h = 5;
            let x = noise(c * h * w, i as u64);
            let k = noise(o * c * kh * kw, 100 + i as u64);
            let want = conv2d(&x, [c, h, w], &k, [o, kh, kw], [pt, pl]);

            let folded = fold_kernel(&k, [o, c, kh, kw], pl, fold);
            assert_eq!(folded.dims[..3], [o * fold, c * fold, kh]);
            let xf = fold_input(&x, [c, h, w], fold);
            let yf = conv2d(
                &xf,
                [c * fold, h, w / fold],
                &folded.weight,
                [o * fold, kh, folded.dims[3]],
                [pt, folded.pad_left],
            );
            // Unfold: channel oi·fold + q, column x → channel oi, column fold·x + q.
            let got = fold_input(&yf, [o * fold, h, w / fold], 1);
            let mut unfolded = vec![0.0; got.len()];
            for oi in 0..o {
                for q in 0..fold {
                    for r in 0..h {
                        for col in 0..w / fold {
                            unfolded[(oi * h + r) * w + fold * col + q] =
                                got[((oi * fold + q) * h + r) * (w / fold) + col];
                        }
                    }
                }
            }
            let max = want
                .iter()
                .zip(&unfolded)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            assert!(max < 1e-5, "case {i}: max difference {max}");
            // The right pad must make the folded output exactly as wide as its input.
            let width_in = w / fold + folded.pad_left + folded.pad_right;
            assert_eq!(width_in + 1 - folded.dims[3], w / fold, "case {i}");
        }
    }

    #[test]
    fn the_head_folds_to_32_channels_and_11_taps() {
        let k = fold_kernel(&vec![1.0; 8 * 8 * 3 * 39], FIRST_CONV, 19, FOLD);
        assert_eq!(k.dims, [32, 32, 3, 11]);
        assert_eq!((k.pad_left, k.pad_right), (5, 5));
        let k = fold_kernel(&vec![1.0; 8 * 25], SECOND_CONV, 2, FOLD);
        assert_eq!(k.dims, [4, 32, 5, 3]);
        assert_eq!((k.pad_left, k.pad_right), (1, 1));
    }

    /// What a synthetic head graph differs in from the published model's.
    #[derive(Clone)]
    struct Head {
        pads1: Vec<i64>,
        strides1: Vec<i64>,
        dilations1: Vec<i64>,
        group1: i64,
        auto_pad1: bool,
        domain1: &'static str,
        relu_is_output: bool,
        second_reader_of_conv1: bool,
        weight_is_input: bool,
        external_weight: bool,
        subgraph: bool,
        prefixed_name: bool,
    }

    impl Default for Head {
        fn default() -> Self {
            Head {
                pads1: vec![1, 19, 1, 19],
                strides1: vec![1, 1],
                dilations1: vec![1, 1],
                group1: 1,
                auto_pad1: false,
                domain1: "",
                relu_is_output: false,
                second_reader_of_conv1: false,
                weight_is_input: false,
                external_weight: false,
                subgraph: false,
                prefixed_name: false,
            }
        }
    }

    fn value_info(name: &str) -> Vec<u8> {
        let mut info = Vec::new();
        str_field(&mut info, VALUE_INFO_NAME, name);
        info
    }

    /// x → Conv(w1, b1) → c1 → Relu → r1 → Conv(w2, b2) → c2 → Sigmoid → y, as in nmp.onnx.
    fn head_model(h: &Head) -> Vec<u8> {
        let mut graph = Vec::new();
        let mut conv1 = Vec::new();
        let mut attrs: Vec<(&str, Attr)> = vec![
            ("kernel_shape", Attr::Ints(&[3, 39])),
            ("pads", Attr::Ints(&h.pads1)),
            ("strides", Attr::Ints(&h.strides1)),
            ("dilations", Attr::Ints(&h.dilations1)),
            ("group", Attr::Int(h.group1)),
        ];
        if h.auto_pad1 {
            attrs.retain(|(n, _)| *n != "pads");
        }
        push_node(&mut conv1, "Conv", &["x", "w1", "b1"], "c1", &attrs);
        let mut conv1 = fields(&conv1).unwrap()[0].bytes().unwrap().to_vec();
        if h.auto_pad1 {
            let mut attr = Vec::new();
            str_field(&mut attr, ATTR_NAME, "auto_pad");
            str_field(&mut attr, ATTR_S, "SAME_UPPER");
            bytes_field(&mut conv1, NODE_ATTRIBUTE, &attr);
        }
        if !h.domain1.is_empty() {
            str_field(&mut conv1, NODE_DOMAIN, h.domain1);
        }
        bytes_field(&mut graph, GRAPH_NODE, &conv1);
        push_node(&mut graph, "Relu", &["c1"], "r1", &[]);
        let second = [
            ("kernel_shape", Attr::Ints(&[5, 5])),
            ("pads", Attr::Ints(&[2, 2, 2, 2])),
        ];
        let w2 = if h.external_weight { "w2x" } else { "w2" };
        push_node(&mut graph, "Conv", &["r1", w2, "b2"], "c2", &second);
        push_node(&mut graph, "Sigmoid", &["c2"], "y", &[]);
        if h.second_reader_of_conv1 {
            push_node(&mut graph, "Neg", &["c1"], "n1", &[]);
        }
        if h.subgraph {
            let mut attr = Vec::new();
            str_field(&mut attr, ATTR_NAME, "then_branch");
            bytes_field(&mut attr, ATTR_G, &[]);
            let mut node = Vec::new();
            str_field(&mut node, NODE_INPUT, "y");
            str_field(&mut node, NODE_OUTPUT, "z");
            str_field(&mut node, NODE_OP_TYPE, "If");
            bytes_field(&mut node, NODE_ATTRIBUTE, &attr);
            bytes_field(&mut graph, GRAPH_NODE, &node);
        }
        if h.prefixed_name {
            push_node(&mut graph, "Neg", &["y"], &format!("{PREFIX}mine"), &[]);
        }
        push_floats(&mut graph, "w1", &FIRST_CONV, &noise(8 * 8 * 3 * 39, 1));
        push_floats(&mut graph, "b1", &[8], &noise(8, 2));
        push_floats(&mut graph, "w2", &SECOND_CONV, &noise(8 * 25, 3));
        push_floats(&mut graph, "b2", &[1], &[0.5]);
        if h.external_weight {
            // The second convolution's weight, with its data in another file.
            let mut tensor = Vec::new();
            for d in SECOND_CONV {
                uint_field(&mut tensor, TENSOR_DIMS, d as u64);
            }
            uint_field(&mut tensor, TENSOR_DATA_TYPE, DATA_TYPE_FLOAT);
            str_field(&mut tensor, TENSOR_NAME, "w2x");
            uint_field(&mut tensor, TENSOR_DATA_LOCATION, 1);
            bytes_field(&mut graph, GRAPH_INITIALIZER, &tensor);
        }
        bytes_field(&mut graph, GRAPH_INPUT, &value_info("x"));
        if h.weight_is_input {
            bytes_field(&mut graph, GRAPH_INPUT, &value_info("w1"));
        }
        bytes_field(&mut graph, GRAPH_OUTPUT, &value_info("y"));
        if h.relu_is_output {
            bytes_field(&mut graph, GRAPH_OUTPUT, &value_info("r1"));
        }
        let mut model = Vec::new();
        uint_field(&mut model, 1, 8);
        bytes_field(&mut model, MODEL_GRAPH, &graph);
        model
    }

    /// A node as (op type, inputs, outputs).
    type NodeSummary = (String, Vec<String>, Vec<String>);

    /// Every node, and the initializer names, of a model.
    fn summary(model: &[u8]) -> (Vec<NodeSummary>, Vec<String>) {
        let top = fields(model).unwrap();
        let graph = top.iter().find(|f| f.number == MODEL_GRAPH).unwrap();
        let mut nodes = Vec::new();
        let mut inits = Vec::new();
        for f in fields(graph.bytes().unwrap()).unwrap() {
            if f.number == GRAPH_NODE {
                let n = parse_node(f.bytes().unwrap()).unwrap();
                let own = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
                nodes.push((n.op_type.to_string(), own(&n.inputs), own(&n.outputs)));
            } else if f.number == GRAPH_INITIALIZER {
                let t = fields(f.bytes().unwrap()).unwrap();
                let name = t.iter().find(|f| f.number == TENSOR_NAME).unwrap();
                inits.push(name.str().unwrap().to_string());
            }
        }
        (nodes, inits)
    }

    #[test]
    fn the_head_is_replaced_by_the_folded_nodes_and_nothing_else_changes() {
        let before = head_model(&Head::default());
        let after = fold_contour_head(&before).expect("folds");
        let (nodes, inits) = summary(&after);
        let ops: Vec<&str> = nodes.iter().map(|n| n.0.as_str()).collect();
        assert_eq!(
            ops,
            [
                "Reshape",
                "Transpose",
                "Reshape",
                "Conv",
                "Relu",
                "Conv",
                "Reshape",
                "Transpose",
                "Reshape",
                "Sigmoid"
            ]
        );
        assert_eq!(nodes[0].1[0], "x");
        assert_eq!(nodes[8].2, ["c2"]);
        assert_eq!(
            nodes[9],
            ("Sigmoid".into(), vec!["c2".into()], vec!["y".into()])
        );
        assert!(nodes[..9]
            .iter()
            .flat_map(|n| n.2.iter())
            .all(|o| o == "c2" || o.starts_with(PREFIX)));
        // The old weights are gone; the folded ones, and the shapes, are there.
        assert!(!inits
            .iter()
            .any(|n| ["w1", "b1", "w2", "b2"].contains(&n.as_str())));
        assert_eq!(inits.len(), 8);
        // The model's other fields are copied through.
        assert_eq!(&after[..2], &before[..2]);
    }

    #[test]
    fn a_weight_that_is_also_a_graph_input_is_kept() {
        let h = Head {
            weight_is_input: true,
            ..Head::default()
        };
        let (_, inits) = summary(&fold_contour_head(&head_model(&h)).expect("folds"));
        assert!(inits.contains(&"w1".to_string()));
        assert!(!inits.contains(&"w2".to_string()));
    }

    #[test]
    fn unexpected_heads_are_refused() {
        let cases: Vec<(&str, Head)> = vec![
            (
                "stride",
                Head {
                    strides1: vec![1, 2],
                    ..Head::default()
                },
            ),
            (
                "dilation",
                Head {
                    dilations1: vec![2, 1],
                    ..Head::default()
                },
            ),
            (
                "group",
                Head {
                    group1: 2,
                    ..Head::default()
                },
            ),
            (
                "auto_pad",
                Head {
                    auto_pad1: true,
                    ..Head::default()
                },
            ),
            (
                "rows padded unevenly",
                Head {
                    pads1: vec![0, 19, 2, 19],
                    ..Head::default()
                },
            ),
            (
                "width not kept",
                Head {
                    pads1: vec![1, 19, 1, 18],
                    ..Head::default()
                },
            ),
            (
                "custom domain",
                Head {
                    domain1: "com.example",
                    ..Head::default()
                },
            ),
            (
                "relu is an output",
                Head {
                    relu_is_output: true,
                    ..Head::default()
                },
            ),
            (
                "conv read twice",
                Head {
                    second_reader_of_conv1: true,
                    ..Head::default()
                },
            ),
            (
                "external data",
                Head {
                    external_weight: true,
                    ..Head::default()
                },
            ),
            (
                "subgraph",
                Head {
                    subgraph: true,
                    ..Head::default()
                },
            ),
            (
                "name taken",
                Head {
                    prefixed_name: true,
                    ..Head::default()
                },
            ),
        ];
        for (what, head) in cases {
            let model = head_model(&head);
            assert!(fold_contour_head(&model).is_err(), "{what} was folded");
        }
        // Uneven but size-keeping column padding is folded.
        let h = Head {
            pads1: vec![1, 18, 1, 20],
            ..Head::default()
        };
        assert!(fold_contour_head(&head_model(&h)).is_ok());
    }

    #[test]
    fn tensors_that_do_not_add_up_are_errors() {
        let tensor = |dims: &[u64], raw: &[u8]| {
            let mut t = Vec::new();
            for &d in dims {
                uint_field(&mut t, TENSOR_DIMS, d);
            }
            uint_field(&mut t, TENSOR_DATA_TYPE, DATA_TYPE_FLOAT);
            bytes_field(&mut t, TENSOR_RAW_DATA, raw);
            t
        };
        assert!(parse_float_tensor(&tensor(&[1 << 40, 1 << 40], &[0; 4])).is_err());
        assert!(parse_float_tensor(&tensor(&[2], &[0; 7])).is_err());
        assert!(parse_float_tensor(&tensor(&[3], &[0; 8])).is_err());
        assert_eq!(
            parse_float_tensor(&tensor(&[2], &[0; 8])).unwrap().data,
            [0.0, 0.0]
        );
    }

    #[test]
    fn graphs_without_the_head_are_refused_not_mangled() {
        assert!(fold_contour_head(&[]).is_err());
        assert!(fold_contour_head(&[0x0a, 9, 1]).is_err());
        // A model whose graph is the HT-Demucs stand-in: no contour head.
        let other = coda_separation::onnx_graph::gain_model(&[[1.0; 2]; 4], 8);
        let e = fold_contour_head(&other).unwrap_err();
        assert!(e.0.contains("convolution"), "{e}");
    }
}
