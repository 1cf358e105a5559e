//! A small ONNX model writer: graphs of nodes with attributes, float, int64
//! and bool initializers, and inputs and outputs with fixed or symbolic
//! dimensions, serialized as a `ModelProto` (IR version 8, default opset 17).
//!
//! It is meant for stand-in models whose outputs are known functions of their
//! inputs, so that the code feeding real models can be tested through ONNX
//! Runtime without their weights. Field numbers follow onnx/onnx.proto
//! (ModelProto, GraphProto, NodeProto, AttributeProto, TensorProto,
//! ValueInfoProto, TypeProto, TensorShapeProto, OperatorSetIdProto); the
//! protobuf primitives are [`crate::onnx_proto`]'s.
//!
//! ```
//! use coda_model_runtime::onnx_build::{Dim, ElemType, Graph};
//! let mut g = Graph::new("double");
//! let x = g.input("x", ElemType::Float, &[Dim::fixed(1), Dim::named("n")]);
//! let two = g.scalar_f32(2.0);
//! let y = g.op("Mul", &[&x, &two], &[]);
//! g.output_from(&y, "y", ElemType::Float, &[Dim::fixed(1), Dim::named("n")]);
//! let bytes = g.to_model();
//! assert_eq!(&bytes[..2], &[0x08, 0x08]); // ir_version 8 comes first
//! ```

use crate::onnx_proto::{bytes_field, key, str_field, uint_field};

/// ONNX IR version 8 is read by every ONNX Runtime since 1.10.
pub const IR_VERSION: u64 = 8;
/// The default-domain opset the models declare.
pub const OPSET: u64 = 17;

/// Protobuf wire type of 32-bit fixed fields (floats).
const FIXED32: u8 = 5;

/// Element types of tensors (`TensorProto.DataType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElemType {
    /// 32-bit float.
    Float,
    /// 32-bit signed integer.
    Int32,
    /// 64-bit signed integer.
    Int64,
    /// Boolean.
    Bool,
    /// 64-bit float.
    Double,
}

impl ElemType {
    /// The `TensorProto.DataType` code, as `Cast`'s `to` attribute takes it.
    pub fn code(self) -> i64 {
        match self {
            ElemType::Float => 1,
            ElemType::Int32 => 6,
            ElemType::Int64 => 7,
            ElemType::Bool => 9,
            ElemType::Double => 11,
        }
    }
}

/// One dimension of a graph input or output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dim {
    /// A fixed size.
    Fixed(u64),
    /// A symbolic size (`dim_param`), e.g. `"frames"`.
    Named(String),
}

impl Dim {
    /// A fixed size.
    pub fn fixed(size: u64) -> Dim {
        Dim::Fixed(size)
    }

    /// A symbolic size.
    pub fn named(name: &str) -> Dim {
        Dim::Named(name.to_string())
    }
}

/// The values of an initializer or a tensor attribute.
#[derive(Debug, Clone, PartialEq)]
pub enum TensorData {
    /// 32-bit floats.
    Float(Vec<f32>),
    /// 64-bit integers.
    Int64(Vec<i64>),
    /// Booleans.
    Bool(Vec<bool>),
}

impl TensorData {
    fn len(&self) -> usize {
        match self {
            TensorData::Float(v) => v.len(),
            TensorData::Int64(v) => v.len(),
            TensorData::Bool(v) => v.len(),
        }
    }

    fn elem_type(&self) -> ElemType {
        match self {
            TensorData::Float(_) => ElemType::Float,
            TensorData::Int64(_) => ElemType::Int64,
            TensorData::Bool(_) => ElemType::Bool,
        }
    }

    fn raw(&self) -> Vec<u8> {
        match self {
            TensorData::Float(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            TensorData::Int64(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            TensorData::Bool(v) => v.iter().map(|&b| u8::from(b)).collect(),
        }
    }
}

/// A constant tensor: an initializer, or the value of a `Constant` node.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    /// The tensor's name (empty inside an attribute).
    pub name: String,
    /// Its dimensions; empty for a scalar.
    pub dims: Vec<i64>,
    /// Its values, row-major; as many as the dimensions' product.
    pub data: TensorData,
}

impl Tensor {
    /// `TensorProto` bytes; the values go in `raw_data` (little-endian).
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for &d in &self.dims {
            uint_field(&mut out, 1, d as u64); // dims
        }
        uint_field(&mut out, 2, self.data.elem_type().code() as u64); // data_type
        if !self.name.is_empty() {
            str_field(&mut out, 8, &self.name); // name
        }
        bytes_field(&mut out, 9, &self.data.raw()); // raw_data
        out
    }
}

/// A node attribute's value (`AttributeProto`).
#[derive(Debug, Clone, PartialEq)]
pub enum Attr {
    /// `INT`.
    Int(i64),
    /// `FLOAT`.
    Float(f32),
    /// `INTS`.
    Ints(Vec<i64>),
    /// `FLOATS`.
    Floats(Vec<f32>),
    /// `STRING`.
    Str(String),
    /// `TENSOR`.
    Tensor(Tensor),
}

impl Attr {
    fn encode(&self, name: &str) -> Vec<u8> {
        let mut out = Vec::new();
        str_field(&mut out, 1, name);
        // AttributeProto.AttributeType: FLOAT 1, INT 2, STRING 3, TENSOR 4, FLOATS 6, INTS 7.
        let kind = match self {
            Attr::Float(f) => {
                key(&mut out, 2, FIXED32);
                out.extend_from_slice(&f.to_le_bytes());
                1
            }
            Attr::Int(i) => {
                uint_field(&mut out, 3, *i as u64);
                2
            }
            Attr::Str(s) => {
                str_field(&mut out, 4, s);
                3
            }
            Attr::Tensor(t) => {
                bytes_field(&mut out, 5, &t.encode());
                4
            }
            Attr::Floats(fs) => {
                for f in fs {
                    key(&mut out, 7, FIXED32);
                    out.extend_from_slice(&f.to_le_bytes());
                }
                6
            }
            Attr::Ints(is) => {
                for &i in is {
                    uint_field(&mut out, 8, i as u64);
                }
                7
            }
        };
        uint_field(&mut out, 20, kind); // type
        out
    }
}

fn value_info(name: &str, ty: ElemType, dims: &[Dim]) -> Vec<u8> {
    let mut shape = Vec::new();
    for d in dims {
        let mut dim = Vec::new();
        match d {
            Dim::Fixed(size) => uint_field(&mut dim, 1, *size), // dim_value
            Dim::Named(param) => str_field(&mut dim, 2, param), // dim_param
        }
        bytes_field(&mut shape, 1, &dim); // TensorShapeProto.dim
    }
    let mut tensor_type = Vec::new();
    uint_field(&mut tensor_type, 1, ty.code() as u64); // elem_type
    bytes_field(&mut tensor_type, 2, &shape); // shape
    let mut type_proto = Vec::new();
    bytes_field(&mut type_proto, 1, &tensor_type); // TypeProto.tensor_type
    let mut info = Vec::new();
    str_field(&mut info, 1, name);
    bytes_field(&mut info, 2, &type_proto);
    info
}

/// A graph being built: add inputs, initializers and nodes in any order
/// (ONNX Runtime sorts the nodes), name the outputs, then [`Graph::to_model`].
#[derive(Debug, Clone)]
pub struct Graph {
    name: String,
    producer: String,
    opset: u64,
    nodes: Vec<Vec<u8>>,
    initializers: Vec<Vec<u8>>,
    inputs: Vec<Vec<u8>>,
    outputs: Vec<Vec<u8>>,
    next: usize,
}

impl Graph {
    /// An empty graph called `name` (opset [`OPSET`]).
    pub fn new(name: &str) -> Graph {
        Graph {
            name: name.to_string(),
            producer: "coda".to_string(),
            opset: OPSET,
            nodes: Vec::new(),
            initializers: Vec::new(),
            inputs: Vec::new(),
            outputs: Vec::new(),
            next: 0,
        }
    }

    /// Declares another default-domain opset version (the ops' semantics follow it).
    pub fn with_opset(mut self, version: u64) -> Graph {
        self.opset = version;
        self
    }

    /// A fresh value name, unlikely to clash with a chosen one.
    pub fn fresh(&mut self, hint: &str) -> String {
        self.next += 1;
        format!("_{hint}_{}", self.next)
    }

    /// Declares a graph input; returns its name.
    pub fn input(&mut self, name: &str, ty: ElemType, dims: &[Dim]) -> String {
        self.inputs.push(value_info(name, ty, dims));
        name.to_string()
    }

    /// Declares `name` a graph output (a value some node produces under that name).
    pub fn output(&mut self, name: &str, ty: ElemType, dims: &[Dim]) {
        self.outputs.push(value_info(name, ty, dims));
    }

    /// Declares a graph output `name` holding the value `value` (through an `Identity` node).
    pub fn output_from(&mut self, value: &str, name: &str, ty: ElemType, dims: &[Dim]) {
        self.op_into("Identity", &[value], &[name], &[]);
        self.output(name, ty, dims);
    }

    /// Adds an initializer; returns its name (a fresh one when `name` is empty).
    ///
    /// Panics when the values do not fill the dimensions (a bug in the caller's graph).
    pub fn initializer(&mut self, name: &str, dims: &[i64], data: TensorData) -> String {
        let count: i64 = dims.iter().product();
        assert_eq!(
            count.max(0) as usize,
            data.len(),
            "initializer {name}: {} values for dims {dims:?}",
            data.len()
        );
        let name = if name.is_empty() {
            self.fresh("init")
        } else {
            name.to_string()
        };
        let tensor = Tensor {
            name: name.clone(),
            dims: dims.to_vec(),
            data,
        };
        self.initializers.push(tensor.encode());
        name
    }

    /// A float initializer with a fresh name.
    pub fn floats(&mut self, dims: &[i64], values: &[f32]) -> String {
        self.initializer("", dims, TensorData::Float(values.to_vec()))
    }

    /// An int64 initializer with a fresh name.
    pub fn ints(&mut self, dims: &[i64], values: &[i64]) -> String {
        self.initializer("", dims, TensorData::Int64(values.to_vec()))
    }

    /// A float scalar (0-D) initializer.
    pub fn scalar_f32(&mut self, value: f32) -> String {
        self.floats(&[], &[value])
    }

    /// An int64 scalar (0-D) initializer.
    pub fn scalar_i64(&mut self, value: i64) -> String {
        self.ints(&[], &[value])
    }

    /// A 1-D int64 initializer (axes, shapes, indices).
    pub fn vec_i64(&mut self, values: &[i64]) -> String {
        self.ints(&[values.len() as i64], values)
    }

    /// Adds a node with one output and returns that output's (fresh) name.
    pub fn op(&mut self, op_type: &str, inputs: &[&str], attrs: &[(&str, Attr)]) -> String {
        let out = self.fresh(op_type);
        self.op_into(op_type, inputs, &[&out], attrs);
        out
    }

    /// Adds a node writing the named outputs (an empty input name is an omitted optional input).
    pub fn op_into(
        &mut self,
        op_type: &str,
        inputs: &[&str],
        outputs: &[&str],
        attrs: &[(&str, Attr)],
    ) {
        let mut node = Vec::new();
        for i in inputs {
            str_field(&mut node, 1, i);
        }
        for o in outputs {
            str_field(&mut node, 2, o);
        }
        let name = self.fresh(&format!("{op_type}_node"));
        str_field(&mut node, 3, &name);
        str_field(&mut node, 4, op_type);
        for (attr_name, value) in attrs {
            bytes_field(&mut node, 5, &value.encode(attr_name));
        }
        self.nodes.push(node);
    }

    /// The serialized `ModelProto`.
    pub fn to_model(&self) -> Vec<u8> {
        let mut graph = Vec::new();
        for node in &self.nodes {
            bytes_field(&mut graph, 1, node);
        }
        str_field(&mut graph, 2, &self.name);
        for init in &self.initializers {
            bytes_field(&mut graph, 5, init);
        }
        for input in &self.inputs {
            bytes_field(&mut graph, 11, input);
        }
        for output in &self.outputs {
            bytes_field(&mut graph, 12, output);
        }
        let mut opset = Vec::new();
        str_field(&mut opset, 1, "");
        uint_field(&mut opset, 2, self.opset);
        let mut model = Vec::new();
        uint_field(&mut model, 1, IR_VERSION);
        str_field(&mut model, 2, &self.producer);
        bytes_field(&mut model, 7, &graph);
        bytes_field(&mut model, 8, &opset);
        model
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onnx_proto::{fields, Field, Value};

    fn only<'a>(fields: &'a [Field<'a>], number: u32) -> Vec<&'a Field<'a>> {
        fields.iter().filter(|f| f.number == number).collect()
    }

    #[test]
    fn the_model_holds_ir_version_opset_graph_and_its_parts() {
        let mut g = Graph::new("g");
        let x = g.input("x", ElemType::Float, &[Dim::fixed(1), Dim::named("n")]);
        let w = g.floats(&[2], &[0.5, -1.0]);
        let y = g.op("Add", &[&x, &w], &[]);
        g.output_from(&y, "y", ElemType::Float, &[Dim::fixed(1), Dim::fixed(2)]);
        let bytes = g.to_model();

        let model = fields(&bytes).unwrap();
        assert_eq!(model[0].value, Value::Varint(IR_VERSION));
        let opset = fields(only(&model, 8)[0].bytes().unwrap()).unwrap();
        assert_eq!(opset[0].str().unwrap(), "");
        assert_eq!(opset[1].value, Value::Varint(OPSET));

        let graph = fields(only(&model, 7)[0].bytes().unwrap()).unwrap();
        assert_eq!(only(&graph, 1).len(), 2, "Add and Identity");
        assert_eq!(only(&graph, 2)[0].str().unwrap(), "g");
        let init = fields(only(&graph, 5)[0].bytes().unwrap()).unwrap();
        assert_eq!(only(&init, 1)[0].int64s().unwrap(), [2]);
        assert_eq!(only(&init, 2)[0].value, Value::Varint(1));
        let raw: Vec<u8> = [0.5f32, -1.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        assert_eq!(only(&init, 9)[0].bytes().unwrap(), raw.as_slice());

        // The input's second dimension is symbolic, the output's fixed.
        let input = fields(only(&graph, 11)[0].bytes().unwrap()).unwrap();
        assert_eq!(input[0].str().unwrap(), "x");
        let ty = fields(input[1].bytes().unwrap()).unwrap();
        let tensor = fields(ty[0].bytes().unwrap()).unwrap();
        let shape = fields(tensor[1].bytes().unwrap()).unwrap();
        let dim1 = fields(shape[1].bytes().unwrap()).unwrap();
        assert_eq!((dim1[0].number, dim1[0].str().unwrap()), (2, "n"));
        let output = fields(only(&graph, 12)[0].bytes().unwrap()).unwrap();
        assert_eq!(output[0].str().unwrap(), "y");

        let identity = fields(only(&graph, 1)[1].bytes().unwrap()).unwrap();
        assert_eq!(only(&identity, 1)[0].str().unwrap(), y);
        assert_eq!(only(&identity, 2)[0].str().unwrap(), "y");
        assert_eq!(only(&identity, 4)[0].str().unwrap(), "Identity");
    }

    #[test]
    fn attributes_carry_their_type_and_values() {
        let encoded = Attr::Ints(vec![-1, 3]).encode("axes");
        let f = fields(&encoded).unwrap();
        assert_eq!(f[0].str().unwrap(), "axes");
        assert_eq!(f[1].int64s().unwrap(), [-1]);
        assert_eq!(f[2].int64s().unwrap(), [3]);
        assert_eq!((f[3].number, f[3].value), (20, Value::Varint(7)));

        let encoded = Attr::Float(1.5).encode("alpha");
        let f = fields(&encoded).unwrap();
        assert_eq!(
            (f[1].number, f[1].value),
            (2, Value::Fixed32(1.5f32.to_bits()))
        );
        assert_eq!(f[2].value, Value::Varint(1));

        let encoded = Attr::Int(ElemType::Bool.code()).encode("to");
        let f = fields(&encoded).unwrap();
        assert_eq!((f[1].number, f[1].value), (3, Value::Varint(9)));

        let encoded = Attr::Floats(vec![1.0, 2.0]).encode("fs");
        let f = fields(&encoded).unwrap();
        assert_eq!(f.iter().filter(|x| x.number == 7).count(), 2);

        let t = Tensor {
            name: String::new(),
            dims: vec![],
            data: TensorData::Bool(vec![true]),
        };
        let encoded = Attr::Tensor(t).encode("value");
        let f = fields(&encoded).unwrap();
        let tensor = fields(f[1].bytes().unwrap()).unwrap();
        assert_eq!(tensor[0].value, Value::Varint(9), "a scalar has no dims");
        assert_eq!(tensor[1].bytes().unwrap(), [1]);
        assert_eq!(f[2].value, Value::Varint(4));

        let encoded = Attr::Str("x".into()).encode("mode");
        let f = fields(&encoded).unwrap();
        assert_eq!((f[1].number, f[1].str().unwrap()), (4, "x"));
    }

    #[test]
    fn fresh_names_do_not_repeat() {
        let mut g = Graph::new("g");
        let a = g.scalar_i64(1);
        let b = g.scalar_i64(1);
        let c = g.op("Add", &[&a, &b], &[]);
        assert!(a != b && b != c && a != c);
    }

    #[test]
    #[should_panic(expected = "3 values for dims [2]")]
    fn an_initializer_must_fill_its_dimensions() {
        Graph::new("g").floats(&[2], &[1.0, 2.0, 3.0]);
    }

    /// The model runs in the installed ONNX Runtime and computes what it says.
    #[test]
    fn onnx_runtime_runs_a_built_model() {
        use ort::value::TensorRef;

        let dir = crate::install::default_models_dir();
        let runtime = crate::install::locate_runtime(&dir).unwrap_or_else(|e| {
            panic!(
                "ONNX Runtime is not installed in {}: {e}; run `coda models install`",
                dir.display()
            )
        });
        let mut g = Graph::new("cumsum_cast");
        let x = g.input("x", ElemType::Int64, &[Dim::fixed(1), Dim::named("n")]);
        let axis = g.scalar_i64(1);
        let sum = g.op("CumSum", &[&x, &axis], &[]);
        let f = g.op(
            "Cast",
            &[&sum],
            &[("to", Attr::Int(ElemType::Float.code()))],
        );
        let half = g.scalar_f32(0.5);
        let y = g.op("Mul", &[&f, &half], &[]);
        g.output_from(&y, "y", ElemType::Float, &[Dim::fixed(1), Dim::named("n")]);
        let bytes = g.to_model();
        let options = crate::RuntimeOptions {
            intra_threads: 1,
            cuda: false,
        };
        let origin = std::path::Path::new("cumsum_cast.onnx");
        let (mut session, _) = crate::open_session(
            &runtime,
            crate::ModelSource::Bytes {
                bytes: &bytes,
                origin,
            },
            &options,
        )
        .unwrap();
        let input = [3i64, 1, 4, 1];
        let tensor = TensorRef::from_array_view(([1usize, 4], &input[..])).unwrap();
        let outputs = session.run(ort::inputs!["x" => tensor]).unwrap();
        let (shape, y) = outputs["y"].try_extract_tensor::<f32>().unwrap();
        assert_eq!(**shape, [1, 4]);
        assert_eq!(y, [1.5, 2.0, 4.0, 4.5]);
    }
}
