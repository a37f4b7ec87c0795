//! Reading PyTorch checkpoints without PyTorch: the ZIP container `torch.save` writes (since
//! PyTorch 1.6), the subset of Python's pickle protocol that a state dict uses, and
//! safetensors files.
//!
//! A state dict comes back as [`Checkpoint`]: its tensors by name, converted to `f64`
//! (complex tensors as `(re, im)` pairs on a trailing axis of 2), and every non-tensor entry
//! (neuraloperator keeps its constructor arguments under `_metadata`) as a [`PyValue`].

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use crate::{ModelError, Result};

/// A Python value from a pickle, as far as a checkpoint needs one.
#[derive(Debug, Clone, PartialEq)]
pub enum PyValue {
    /// `None`.
    None,
    /// A boolean.
    Bool(bool),
    /// An integer (one that fits 64 bits).
    Int(i64),
    /// A float.
    Float(f64),
    /// A string.
    Str(String),
    /// Bytes.
    Bytes(Vec<u8>),
    /// A tuple.
    Tuple(Vec<PyValue>),
    /// A list.
    List(Vec<PyValue>),
    /// A dict (or `OrderedDict`) in insertion order.
    Dict(Vec<(PyValue, PyValue)>),
    /// A reference to a class or function, `module.name`.
    Global(String, String),
    /// Any other object: what built it and the state it was given.
    Object {
        /// The callable or class.
        callable: Box<PyValue>,
        /// Its arguments.
        args: Vec<PyValue>,
        /// State set by `BUILD`.
        state: Option<Box<PyValue>>,
    },
    /// A tensor (index into the checkpoint's tensor list while parsing).
    Tensor(usize),
    /// A storage reference (`dtype`, key in the archive, element count).
    Storage(String, String, usize),
}

impl PyValue {
    /// The entry `key` of a dict.
    pub fn get(&self, key: &str) -> Option<&PyValue> {
        match self {
            PyValue::Dict(items) => items
                .iter()
                .find(|(k, _)| matches!(k, PyValue::Str(s) if s == key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// A Python-like rendering, for messages.
    pub fn describe(&self) -> String {
        match self {
            PyValue::None => "None".into(),
            PyValue::Bool(b) => if *b { "True" } else { "False" }.into(),
            PyValue::Int(i) => i.to_string(),
            PyValue::Float(f) => format!("{f:?}"),
            PyValue::Str(s) => format!("'{s}'"),
            PyValue::Bytes(b) => format!("<{} bytes>", b.len()),
            PyValue::Tuple(v) | PyValue::List(v) => {
                let inner: Vec<String> = v.iter().map(PyValue::describe).collect();
                if matches!(self, PyValue::Tuple(_)) {
                    format!("({})", inner.join(", "))
                } else {
                    format!("[{}]", inner.join(", "))
                }
            }
            PyValue::Dict(items) => format!("<dict of {}>", items.len()),
            PyValue::Global(m, n) => format!("{m}.{n}"),
            PyValue::Object { callable, .. } => format!("<{} object>", callable.describe()),
            PyValue::Tensor(_) => "<tensor>".into(),
            PyValue::Storage(d, k, n) => format!("<{d} storage {k} of {n}>"),
        }
    }
}

/// A tensor read from a checkpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckpointTensor {
    /// Shape as stored (without the trailing 2 of a complex tensor).
    pub shape: Vec<usize>,
    /// Whether the tensor is complex; its values are then `(re, im)` pairs.
    pub complex: bool,
    /// The values in C order, converted to `f64`.
    pub values: Vec<f64>,
    /// The stored element type (`float32`, `complex64`, ...).
    pub dtype: String,
}

/// A state dict read from a file.
#[derive(Debug, Clone, Default)]
pub struct Checkpoint {
    /// Tensors by name, in file order.
    pub tensors: Vec<(String, CheckpointTensor)>,
    /// Entries of the top-level dict that are not tensors, by name.
    pub extras: BTreeMap<String, PyValue>,
    /// String metadata of a safetensors file.
    pub safetensors_metadata: BTreeMap<String, String>,
}

impl Checkpoint {
    /// Reads a checkpoint, choosing the format by content: a ZIP archive is `torch.save`'s
    /// format, anything starting with a safetensors header is safetensors.
    pub fn read(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(crate::error::file_error(path))?;
        if bytes.starts_with(b"PK\x03\x04") {
            read_torch_zip(path, &bytes)
        } else if bytes.len() >= 10 && bytes[8] == b'{' {
            read_safetensors(path, &bytes)
        } else if bytes.starts_with(&[0x80, 0x02, 0x8a, 0x0a]) {
            Err(err(
                path,
                "a legacy (pre-1.6, non-ZIP) torch.save file; re-save it with a current PyTorch \
                 (torch.save(torch.load(f), f))"
                    .into(),
            ))
        } else {
            Err(err(
                path,
                "neither a torch.save ZIP archive nor a safetensors file".into(),
            ))
        }
    }

    /// The tensor `name`.
    pub fn tensor(&self, name: &str) -> Option<&CheckpointTensor> {
        self.tensors.iter().find(|(n, _)| n == name).map(|(_, t)| t)
    }
}

fn err(path: &Path, message: String) -> ModelError {
    ModelError::Io {
        path: path.to_path_buf(),
        message,
    }
}

fn read_torch_zip(path: &Path, bytes: &[u8]) -> Result<Checkpoint> {
    let zerr = |e: zip::result::ZipError| err(path, format!("ZIP archive: {e}"));
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(zerr)?;
    let pkl = archive
        .file_names()
        .find(|n| n.ends_with("data.pkl") && n.matches('/').count() <= 1)
        .map(str::to_string)
        .ok_or_else(|| {
            err(
                path,
                "no data.pkl in the archive: not a torch.save file".into(),
            )
        })?;
    let prefix = pkl.trim_end_matches("data.pkl").to_string();
    let mut read_entry = |name: &str| -> Result<Vec<u8>> {
        let mut f = archive.by_name(name).map_err(zerr)?;
        let mut out = Vec::new();
        f.read_to_end(&mut out)
            .map_err(|e| err(path, format!("{name}: {e}")))?;
        Ok(out)
    };
    let big_endian = match read_entry(&format!("{prefix}byteorder")) {
        Ok(b) => b.trim_ascii() == b"big",
        Err(_) => false,
    };
    let program = read_entry(&pkl)?;
    let mut vm = Unpickler::new(&program, path);
    let root = vm.run()?;
    let mut storages: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for pending in &vm.tensors {
        if !storages.contains_key(&pending.key) {
            let data = read_entry(&format!("{prefix}data/{}", pending.key))?;
            storages.insert(pending.key.clone(), data);
        }
    }
    let tensors: Vec<CheckpointTensor> = vm
        .tensors
        .iter()
        .map(|p| p.materialise(&storages[&p.key], big_endian, path))
        .collect::<Result<_>>()?;
    let items = match root {
        PyValue::Dict(items) => items,
        PyValue::Object { state, .. } if state.is_some() => match *state.unwrap() {
            PyValue::Dict(items) => items,
            other => {
                return Err(err(
                    path,
                    format!("the pickled object is {}, not a dict", other.describe()),
                ));
            }
        },
        other => {
            return Err(err(
                path,
                format!(
                    "the pickled object is {}, not a state dict",
                    other.describe()
                ),
            ));
        }
    };
    let mut out = Checkpoint::default();
    for (k, v) in items {
        let PyValue::Str(name) = k else {
            return Err(err(
                path,
                format!("state dict key {} is not a string", k.describe()),
            ));
        };
        match v {
            PyValue::Tensor(i) => out.tensors.push((name, tensors[i].clone())),
            other => {
                out.extras.insert(name, other);
            }
        }
    }
    Ok(out)
}

fn read_safetensors(path: &Path, bytes: &[u8]) -> Result<Checkpoint> {
    use safetensors::{Dtype, SafeTensors};
    let st = SafeTensors::deserialize(bytes).map_err(|e| err(path, format!("safetensors: {e}")))?;
    let (_, meta) =
        SafeTensors::read_metadata(bytes).map_err(|e| err(path, format!("safetensors: {e}")))?;
    let mut out = Checkpoint::default();
    if let Some(m) = meta.metadata() {
        out.safetensors_metadata = m.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    }
    let mut names: Vec<(usize, String)> = meta
        .tensors()
        .iter()
        .map(|(name, info)| (info.data_offsets.0, name.clone()))
        .collect();
    names.sort();
    for (_, name) in names {
        let view = st
            .tensor(&name)
            .map_err(|e| err(path, format!("safetensors tensor `{name}`: {e}")))?;
        let data = view.data();
        let (values, dtype): (Vec<f64>, &str) = match view.dtype() {
            Dtype::F32 => (
                data.chunks_exact(4)
                    .map(|c| f32::from_le_bytes(c.try_into().unwrap()) as f64)
                    .collect(),
                "float32",
            ),
            Dtype::F64 => (
                data.chunks_exact(8)
                    .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
                    .collect(),
                "float64",
            ),
            other => {
                return Err(err(
                    path,
                    format!("tensor `{name}` has dtype {other:?}; only F32 and F64 are read"),
                ));
            }
        };
        out.tensors.push((
            name,
            CheckpointTensor {
                shape: view.shape().to_vec(),
                complex: false,
                values,
                dtype: dtype.into(),
            },
        ));
    }
    Ok(out)
}

/// A tensor as `_rebuild_tensor_v2` describes it, before its storage is read.
#[derive(Debug)]
struct PendingTensor {
    dtype: String,
    key: String,
    numel: usize,
    offset: usize,
    shape: Vec<usize>,
    stride: Vec<usize>,
}

impl PendingTensor {
    fn materialise(&self, bytes: &[u8], big_endian: bool, path: &Path) -> Result<CheckpointTensor> {
        let (size, complex, dtype) = match self.dtype.as_str() {
            "FloatStorage" | "float32" => (4, false, "float32"),
            "DoubleStorage" | "float64" => (8, false, "float64"),
            "ComplexFloatStorage" | "complex64" => (4, true, "complex64"),
            "ComplexDoubleStorage" | "complex128" => (8, true, "complex128"),
            other => {
                return Err(err(
                    path,
                    format!(
                        "storage {} has type {other}; only float32/64 and complex64/128 \
                         tensors are read",
                        self.key
                    ),
                ));
            }
        };
        let parts = if complex { 2 } else { 1 };
        let scalars = bytes.len() / size;
        if scalars < self.numel * parts {
            return Err(err(
                path,
                format!(
                    "storage {} holds {} bytes, fewer than its {} elements",
                    self.key,
                    bytes.len(),
                    self.numel
                ),
            ));
        }
        let scalar = |i: usize| -> f64 {
            let b = &bytes[i * size..(i + 1) * size];
            match (size, big_endian) {
                (4, false) => f32::from_le_bytes(b.try_into().unwrap()) as f64,
                (4, true) => f32::from_be_bytes(b.try_into().unwrap()) as f64,
                (8, false) => f64::from_le_bytes(b.try_into().unwrap()),
                _ => f64::from_be_bytes(b.try_into().unwrap()),
            }
        };
        let n = self
            .shape
            .iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d))
            .ok_or_else(|| {
                err(
                    path,
                    format!(
                        "tensor on storage {}: shape {:?} overflows",
                        self.key, self.shape
                    ),
                )
            })?;
        // The pickled shape is not trusted for the allocation: the storage bounds it.
        let mut values = Vec::with_capacity((n * parts).min(scalars));
        let mut index = vec![0usize; self.shape.len()];
        for _ in 0..n {
            let at = self.offset
                + index
                    .iter()
                    .zip(&self.stride)
                    .map(|(i, s)| i * s)
                    .sum::<usize>();
            if at >= self.numel {
                return Err(err(
                    path,
                    format!(
                        "tensor on storage {} reaches element {at} of {}",
                        self.key, self.numel
                    ),
                ));
            }
            for p in 0..parts {
                values.push(scalar(at * parts + p));
            }
            for d in (0..index.len()).rev() {
                index[d] += 1;
                if index[d] < self.shape[d] {
                    break;
                }
                index[d] = 0;
            }
        }
        Ok(CheckpointTensor {
            shape: self.shape.clone(),
            complex,
            values,
            dtype: dtype.into(),
        })
    }
}

/// The pickle virtual machine, for the opcodes `torch.save` (protocol 2) and protocols up to
/// 5 use for plain data; objects it does not know stay opaque [`PyValue::Object`]s.
struct Unpickler<'a> {
    code: &'a [u8],
    pos: usize,
    /// Values, each with the memo slot it was stored in or fetched from (if any), so that a
    /// memoised container filled later (`SETITEMS`, `APPENDS`, `BUILD`) is filled in the memo
    /// too and a later `GET` returns it whole, as Python's shared reference would.
    stack: Vec<(PyValue, Option<u64>)>,
    marks: Vec<usize>,
    memo: BTreeMap<u64, PyValue>,
    tensors: Vec<PendingTensor>,
    path: &'a Path,
}

impl<'a> Unpickler<'a> {
    fn new(code: &'a [u8], path: &'a Path) -> Self {
        Self {
            code,
            pos: 0,
            stack: Vec::new(),
            marks: Vec::new(),
            memo: BTreeMap::new(),
            tensors: Vec::new(),
            path,
        }
    }

    fn fail(&self, what: String) -> ModelError {
        err(self.path, format!("data.pkl at byte {}: {what}", self.pos))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self
            .pos
            .checked_add(n)
            .is_none_or(|end| end > self.code.len())
        {
            return Err(self.fail("truncated pickle".into()));
        }
        let s = &self.code[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn uint(&mut self, n: usize) -> Result<u64> {
        let b = self.take(n)?;
        Ok(b.iter()
            .rev()
            .fold(0u64, |acc, &x| (acc << 8) | u64::from(x)))
    }

    fn line(&mut self) -> Result<String> {
        let start = self.pos;
        while self.pos < self.code.len() && self.code[self.pos] != b'\n' {
            self.pos += 1;
        }
        let s = String::from_utf8_lossy(&self.code[start..self.pos]).into_owned();
        self.take(1)?;
        Ok(s)
    }

    fn push(&mut self, v: PyValue) {
        self.stack.push((v, None));
    }

    fn pop(&mut self) -> Result<PyValue> {
        self.stack
            .pop()
            .map(|(v, _)| v)
            .ok_or_else(|| self.fail("stack underflow".into()))
    }

    /// After the top was mutated: its memo slot, if it has one, sees the mutation.
    fn refresh_memo(&mut self) {
        if let Some((v, Some(id))) = self.stack.last() {
            self.memo.insert(*id, v.clone());
        }
    }

    fn pop_mark(&mut self) -> Result<Vec<PyValue>> {
        let m = self
            .marks
            .pop()
            .ok_or_else(|| self.fail("no MARK".into()))?;
        if m > self.stack.len() {
            return Err(self.fail("MARK beyond the stack".into()));
        }
        Ok(self
            .stack
            .split_off(m)
            .into_iter()
            .map(|(v, _)| v)
            .collect())
    }

    fn top(&mut self) -> Result<&mut PyValue> {
        let pos = self.pos;
        self.stack
            .last_mut()
            .map(|(v, _)| v)
            .ok_or_else(|| err(self.path, format!("data.pkl at byte {pos}: empty stack")))
    }

    fn string(&mut self, n: usize) -> Result<PyValue> {
        let b = self.take(n)?;
        Ok(PyValue::Str(String::from_utf8_lossy(b).into_owned()))
    }

    fn run(&mut self) -> Result<PyValue> {
        loop {
            let op = self.take(1)?[0];
            match op {
                0x80 => {
                    self.take(1)?;
                }
                0x95 => {
                    self.take(8)?;
                }
                b'.' => return self.pop(),
                b'(' => self.marks.push(self.stack.len()),
                b')' => self.push(PyValue::Tuple(Vec::new())),
                b']' => self.push(PyValue::List(Vec::new())),
                b'}' => self.push(PyValue::Dict(Vec::new())),
                b'N' => self.push(PyValue::None),
                0x88 => self.push(PyValue::Bool(true)),
                0x89 => self.push(PyValue::Bool(false)),
                b'J' => {
                    let v = self.uint(4)? as u32 as i32;
                    self.push(PyValue::Int(v.into()));
                }
                b'K' => {
                    let v = self.uint(1)?;
                    self.push(PyValue::Int(v as i64));
                }
                b'M' => {
                    let v = self.uint(2)?;
                    self.push(PyValue::Int(v as i64));
                }
                0x8a => {
                    let n = self.uint(1)? as usize;
                    if n > 8 {
                        return Err(self.fail(format!("integer of {n} bytes")));
                    }
                    let b = self.take(n)?;
                    let mut v: i64 = 0;
                    for (i, &x) in b.iter().enumerate() {
                        v |= i64::from(x) << (8 * i);
                    }
                    if n > 0 && n < 8 && b[n - 1] & 0x80 != 0 {
                        v -= 1i64 << (8 * n);
                    }
                    self.push(PyValue::Int(v));
                }
                b'G' => {
                    let b = self.take(8)?;
                    self.push(PyValue::Float(f64::from_be_bytes(b.try_into().unwrap())));
                }
                b'X' => {
                    let n = self.uint(4)? as usize;
                    let s = self.string(n)?;
                    self.push(s);
                }
                0x8c | b'U' => {
                    let n = self.uint(1)? as usize;
                    let s = self.string(n)?;
                    self.push(s);
                }
                0x8d => {
                    let n = self.uint(8)? as usize;
                    let s = self.string(n)?;
                    self.push(s);
                }
                b'T' => {
                    let n = self.uint(4)? as usize;
                    let s = self.string(n)?;
                    self.push(s);
                }
                b'B' | b'C' | 0x8e => {
                    let n = match op {
                        b'B' => self.uint(4)?,
                        b'C' => self.uint(1)?,
                        _ => self.uint(8)?,
                    } as usize;
                    let b = self.take(n)?.to_vec();
                    self.push(PyValue::Bytes(b));
                }
                b'c' => {
                    let module = self.line()?;
                    let name = self.line()?;
                    self.push(PyValue::Global(module, name));
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    match (module, name) {
                        (PyValue::Str(m), PyValue::Str(n)) => self.push(PyValue::Global(m, n)),
                        _ => return Err(self.fail("STACK_GLOBAL of non-strings".into())),
                    }
                }
                b't' => {
                    let items = self.pop_mark()?;
                    self.push(PyValue::Tuple(items));
                }
                0x85..=0x87 => {
                    let n = (op - 0x84) as usize;
                    if self.stack.len() < n {
                        return Err(self.fail("stack underflow".into()));
                    }
                    let items = self.stack.split_off(self.stack.len() - n);
                    self.push(PyValue::Tuple(items.into_iter().map(|(v, _)| v).collect()));
                }
                b'l' => {
                    let items = self.pop_mark()?;
                    self.push(PyValue::List(items));
                }
                b'd' => {
                    let items = self.pop_mark()?;
                    let pairs = pairs(items).map_err(|e| self.fail(e))?;
                    self.push(PyValue::Dict(pairs));
                }
                b'q' | b'r' | 0x94 => {
                    let id = match op {
                        b'q' => self.uint(1)?,
                        b'r' => self.uint(4)?,
                        _ => self.memo.len() as u64,
                    };
                    let pos = self.pos;
                    let (v, slot) = self.stack.last_mut().ok_or_else(|| {
                        err(self.path, format!("data.pkl at byte {pos}: empty stack"))
                    })?;
                    *slot = Some(id);
                    let v = v.clone();
                    self.memo.insert(id, v);
                }
                b'h' | b'j' => {
                    let id = if op == b'h' {
                        self.uint(1)?
                    } else {
                        self.uint(4)?
                    };
                    let v = self
                        .memo
                        .get(&id)
                        .cloned()
                        .ok_or_else(|| self.fail(format!("memo {id} not set")))?;
                    self.stack.push((v, Some(id)));
                }
                b's' => {
                    let v = self.pop()?;
                    let k = self.pop()?;
                    self.set_items(vec![(k, v)])?;
                    self.refresh_memo();
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    let p = pairs(items).map_err(|e| self.fail(e))?;
                    self.set_items(p)?;
                    self.refresh_memo();
                }
                b'a' => {
                    let v = self.pop()?;
                    self.append(vec![v])?;
                    self.refresh_memo();
                }
                b'e' => {
                    let items = self.pop_mark()?;
                    self.append(items)?;
                    self.refresh_memo();
                }
                b'Q' => {
                    let pid = self.pop()?;
                    let v = self.persistent(pid)?;
                    self.push(v);
                }
                b'R' | 0x81 => {
                    let args = self.pop()?;
                    let callable = self.pop()?;
                    let args = match args {
                        PyValue::Tuple(a) => a,
                        other => vec![other],
                    };
                    let v = self.reduce(callable, args)?;
                    self.push(v);
                }
                b'b' => {
                    let state = self.pop()?;
                    match self.top()? {
                        PyValue::Object { state: s, .. } => *s = Some(Box::new(state)),
                        // An OrderedDict's attributes (torch keeps module versions there).
                        PyValue::Dict(_) | PyValue::Tensor(_) => {}
                        other => {
                            let d = other.describe();
                            return Err(self.fail(format!("BUILD on {d}")));
                        }
                    }
                    self.refresh_memo();
                }
                other => {
                    return Err(self.fail(format!(
                        "pickle opcode 0x{other:02x} is not supported in a checkpoint"
                    )));
                }
            }
        }
    }

    fn set_items(&mut self, items: Vec<(PyValue, PyValue)>) -> Result<()> {
        match self.top()? {
            PyValue::Dict(d) => {
                for (k, v) in items {
                    if let Some(slot) = d.iter_mut().find(|(key, _)| *key == k) {
                        slot.1 = v;
                    } else {
                        d.push((k, v));
                    }
                }
                Ok(())
            }
            other => {
                let d = other.describe();
                Err(self.fail(format!("SETITEM on {d}")))
            }
        }
    }

    fn append(&mut self, items: Vec<PyValue>) -> Result<()> {
        match self.top()? {
            PyValue::List(l) => {
                l.extend(items);
                Ok(())
            }
            other => {
                let d = other.describe();
                Err(self.fail(format!("APPEND on {d}")))
            }
        }
    }

    fn persistent(&mut self, pid: PyValue) -> Result<PyValue> {
        let PyValue::Tuple(t) = pid else {
            return Err(self.fail(format!("persistent id {}", pid.describe())));
        };
        match t.as_slice() {
            [
                PyValue::Str(tag),
                dtype,
                PyValue::Str(key),
                _location,
                PyValue::Int(n),
            ] if tag == "storage" => {
                let dtype = match dtype {
                    PyValue::Global(_, name) => name.clone(),
                    other => other.describe(),
                };
                Ok(PyValue::Storage(dtype, key.clone(), *n as usize))
            }
            _ => Err(self.fail(format!(
                "persistent id {}",
                PyValue::Tuple(t.clone()).describe()
            ))),
        }
    }

    fn reduce(&mut self, callable: PyValue, args: Vec<PyValue>) -> Result<PyValue> {
        let name = match &callable {
            PyValue::Global(m, n) => format!("{m}.{n}"),
            _ => String::new(),
        };
        match name.as_str() {
            "collections.OrderedDict" if args.is_empty() => Ok(PyValue::Dict(Vec::new())),
            "torch._utils._rebuild_tensor_v2" | "torch._utils._rebuild_tensor" => {
                let usizes = |v: &PyValue| -> Option<Vec<usize>> {
                    match v {
                        PyValue::Tuple(t) | PyValue::List(t) => t
                            .iter()
                            .map(|x| match x {
                                PyValue::Int(i) if *i >= 0 => Some(*i as usize),
                                _ => None,
                            })
                            .collect(),
                        _ => None,
                    }
                };
                match args.as_slice() {
                    [
                        PyValue::Storage(dtype, key, numel),
                        PyValue::Int(offset),
                        size,
                        stride,
                        ..,
                    ] if *offset >= 0 => {
                        let (Some(shape), Some(stride)) = (usizes(size), usizes(stride)) else {
                            return Err(self.fail(format!(
                                "tensor on storage {key}: size {} or stride {} is not a tuple \
                                 of non-negative integers",
                                size.describe(),
                                stride.describe()
                            )));
                        };
                        if shape.len() != stride.len() {
                            return Err(self.fail(format!(
                                "tensor on storage {key}: size {shape:?} and stride {stride:?} \
                                 differ in length"
                            )));
                        }
                        self.tensors.push(PendingTensor {
                            dtype: dtype.clone(),
                            key: key.clone(),
                            numel: *numel,
                            offset: *offset as usize,
                            shape,
                            stride,
                        });
                        Ok(PyValue::Tensor(self.tensors.len() - 1))
                    }
                    _ => Err(self.fail(format!("{name} with unexpected arguments"))),
                }
            }
            // nn.Parameter saved whole: the data is the tensor.
            "torch._utils._rebuild_parameter" | "torch._utils._rebuild_parameter_with_state" => {
                args.into_iter()
                    .next()
                    .ok_or_else(|| self.fail(format!("{name} without data")))
            }
            _ => Ok(PyValue::Object {
                callable: Box::new(callable),
                args,
                state: None,
            }),
        }
    }
}

fn pairs(items: Vec<PyValue>) -> std::result::Result<Vec<(PyValue, PyValue)>, String> {
    if !items.len().is_multiple_of(2) {
        return Err("odd number of dict items".into());
    }
    let mut out = Vec::with_capacity(items.len() / 2);
    let mut it = items.into_iter();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        out.push((k, v));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_memoised_dict_filled_after_its_put_comes_back_filled() {
        // [d, d] where d = {"a": 7} is memoised empty, filled, then fetched again: Python's
        // pickler writes shared references this way.
        let code = b"\x80\x02]q\x00(}q\x01X\x01\x00\x00\x00aK\x07sh\x01e.";
        let v = Unpickler::new(code, Path::new("test.pkl")).run().unwrap();
        let d = PyValue::Dict(vec![(PyValue::Str("a".into()), PyValue::Int(7))]);
        assert_eq!(v, PyValue::List(vec![d.clone(), d]));
    }
}
