//! PyTorch checkpoints (`torch.save`) read without Python: a small pickle machine that builds
//! the object tree, and the two layouts torch writes the tensor storages in.
//!
//! - **Zip** (torch >= 1.6): `<name>/data.pkl` holds the object tree, `<name>/data/<key>` each
//!   storage's raw bytes.
//! - **Legacy** (what Resemblyzer's `pretrained.pt` uses): one file holding, in turn, pickles of a
//!   magic number, the protocol version, system info, the object tree, and the list of storage
//!   keys, then every storage as a little-endian `u64` element count followed by its bytes.
//!
//! In both, a tensor is `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)`
//! where `storage` is a persistent id `('storage', torch.FloatStorage, key, location, numel)`.
//! References: `torch/serialization.py` (`_legacy_load`, `_load`), Python's `pickletools`.
//!
//! Only the opcodes that state dicts use are implemented; anything else (arbitrary object
//! construction) is refused, which also keeps loading a hostile pickle harmless: no code runs.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use crate::error::{Error, Result};

/// A value of the pickle object tree.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    None,
    Bool(bool),
    Int(i64),
    /// An integer wider than 64 bits, as its little-endian two's complement bytes.
    BigInt(Vec<u8>),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    Tuple(Vec<Value>),
    List(Vec<Value>),
    Dict(Vec<(Value, Value)>),
    /// `module.name`, as referenced by GLOBAL.
    Global(String),
    /// `callable(*args)`, kept symbolic: nothing is ever called.
    Call(Box<Value>, Box<Value>),
    /// A persistent id: torch's reference to a storage.
    PersistentId(Box<Value>),
    /// `obj.__setstate__(state)`, kept symbolic.
    Build(Box<Value>, Box<Value>),
}

struct Machine<'a> {
    bytes: &'a [u8],
    pos: usize,
    stack: Vec<Value>,
    marks: Vec<usize>,
    memo: BTreeMap<u32, Value>,
}

type R<T> = std::result::Result<T, String>;

impl<'a> Machine<'a> {
    fn new(bytes: &'a [u8], pos: usize) -> Self {
        Self {
            bytes,
            pos,
            stack: Vec::new(),
            marks: Vec::new(),
            memo: BTreeMap::new(),
        }
    }

    fn take(&mut self, n: usize) -> R<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or("pickle ends early")?;
        let out = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn u8(&mut self) -> R<u8> {
        Ok(self.take(1)?[0])
    }

    fn le<const N: usize>(&mut self) -> R<[u8; N]> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn pop(&mut self) -> R<Value> {
        if self.marks.last().is_some_and(|&m| m >= self.stack.len()) {
            return Err("pop across a mark".into());
        }
        self.stack
            .pop()
            .ok_or_else(|| "pop from an empty stack".into())
    }

    fn pop_mark(&mut self) -> R<Vec<Value>> {
        let mark = self.marks.pop().ok_or("no mark")?;
        if mark > self.stack.len() {
            return Err("mark beyond the stack".into());
        }
        Ok(self.stack.split_off(mark))
    }

    fn top(&mut self) -> R<&mut Value> {
        self.stack.last_mut().ok_or_else(|| "empty stack".into())
    }

    fn string(&mut self, len: usize) -> R<Value> {
        let raw = self.take(len)?;
        String::from_utf8(raw.to_vec())
            .map(Value::Str)
            .map_err(|_| "string is not UTF-8".into())
    }

    /// Runs one pickle from the current position to its STOP; returns the value.
    fn run(&mut self) -> R<Value> {
        loop {
            let op = self.u8()?;
            match op {
                0x80 => {
                    let protocol = self.u8()?;
                    if protocol > 5 {
                        return Err(format!("pickle protocol {protocol}"));
                    }
                }
                b'.' => return self.pop(),
                b'(' => self.marks.push(self.stack.len()),
                b'N' => self.stack.push(Value::None),
                0x88 => self.stack.push(Value::Bool(true)),
                0x89 => self.stack.push(Value::Bool(false)),
                b'J' => {
                    let v = i32::from_le_bytes(self.le()?);
                    self.stack.push(Value::Int(i64::from(v)));
                }
                b'K' => {
                    let v = self.u8()?;
                    self.stack.push(Value::Int(i64::from(v)));
                }
                b'M' => {
                    let v = u16::from_le_bytes(self.le()?);
                    self.stack.push(Value::Int(i64::from(v)));
                }
                0x8a => {
                    // LONG1: little-endian two's complement of n bytes.
                    let n = usize::from(self.u8()?);
                    let raw = self.take(n)?;
                    if n > 8 {
                        self.stack.push(Value::BigInt(raw.to_vec()));
                        continue;
                    }
                    let mut buf = if raw.last().is_some_and(|b| b & 0x80 != 0) {
                        [0xff; 8]
                    } else {
                        [0; 8]
                    };
                    buf[..n].copy_from_slice(raw);
                    self.stack.push(Value::Int(i64::from_le_bytes(buf)));
                }
                b'G' => {
                    let v = f64::from_be_bytes(self.le()?);
                    self.stack.push(Value::Float(v));
                }
                b'X' => {
                    let len = u32::from_le_bytes(self.le()?) as usize;
                    let v = self.string(len)?;
                    self.stack.push(v);
                }
                0x8c => {
                    let len = usize::from(self.u8()?);
                    let v = self.string(len)?;
                    self.stack.push(v);
                }
                b'T' => {
                    let len = u32::from_le_bytes(self.le()?) as usize;
                    let v = self.string(len)?;
                    self.stack.push(v);
                }
                b'U' => {
                    let len = usize::from(self.u8()?);
                    let v = self.string(len)?;
                    self.stack.push(v);
                }
                b'B' => {
                    let len = u32::from_le_bytes(self.le()?) as usize;
                    let raw = self.take(len)?.to_vec();
                    self.stack.push(Value::Bytes(raw));
                }
                b'C' => {
                    let len = usize::from(self.u8()?);
                    let raw = self.take(len)?.to_vec();
                    self.stack.push(Value::Bytes(raw));
                }
                b'c' => {
                    let module = self.line()?;
                    let name = self.line()?;
                    self.stack.push(Value::Global(format!("{module}.{name}")));
                }
                0x93 => {
                    // STACK_GLOBAL
                    let name = self.pop()?;
                    let module = self.pop()?;
                    match (module, name) {
                        (Value::Str(m), Value::Str(n)) => {
                            self.stack.push(Value::Global(format!("{m}.{n}")))
                        }
                        _ => return Err("STACK_GLOBAL of non-strings".into()),
                    }
                }
                b')' => self.stack.push(Value::Tuple(Vec::new())),
                b't' => {
                    let items = self.pop_mark()?;
                    self.stack.push(Value::Tuple(items));
                }
                0x85..=0x87 => {
                    let n = usize::from(op - 0x84);
                    if self.stack.len() < n {
                        return Err("tuple of missing items".into());
                    }
                    let items = self.stack.split_off(self.stack.len() - n);
                    self.stack.push(Value::Tuple(items));
                }
                b']' => self.stack.push(Value::List(Vec::new())),
                b'l' => {
                    let items = self.pop_mark()?;
                    self.stack.push(Value::List(items));
                }
                b'a' => {
                    let item = self.pop()?;
                    match self.top()? {
                        Value::List(list) => list.push(item),
                        _ => return Err("APPEND to a non-list".into()),
                    }
                }
                b'e' => {
                    let items = self.pop_mark()?;
                    match self.top()? {
                        Value::List(list) => list.extend(items),
                        _ => return Err("APPENDS to a non-list".into()),
                    }
                }
                b'}' => self.stack.push(Value::Dict(Vec::new())),
                b'd' => {
                    let items = self.pop_mark()?;
                    let pairs = pairs(items)?;
                    self.stack.push(Value::Dict(pairs));
                }
                b's' => {
                    let value = self.pop()?;
                    let key = self.pop()?;
                    set_items(self.top()?, vec![(key, value)])?;
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    let pairs = pairs(items)?;
                    set_items(self.top()?, pairs)?;
                }
                b'R' => {
                    let args = self.pop()?;
                    let callable = self.pop()?;
                    self.stack
                        .push(Value::Call(Box::new(callable), Box::new(args)));
                }
                0x81 => {
                    // NEWOBJ: cls.__new__(cls, *args)
                    let args = self.pop()?;
                    let class = self.pop()?;
                    self.stack
                        .push(Value::Call(Box::new(class), Box::new(args)));
                }
                b'b' => {
                    let state = self.pop()?;
                    let obj = self.pop()?;
                    self.stack
                        .push(Value::Build(Box::new(obj), Box::new(state)));
                }
                b'Q' => {
                    let id = self.pop()?;
                    self.stack.push(Value::PersistentId(Box::new(id)));
                }
                b'q' => {
                    let index = u32::from(self.u8()?);
                    self.memoize(index)?;
                }
                b'r' => {
                    let index = u32::from_le_bytes(self.le()?);
                    self.memoize(index)?;
                }
                0x94 => self.memoize(self.memo.len() as u32)?,
                b'h' => {
                    let index = u32::from(self.u8()?);
                    self.recall(index)?;
                }
                b'j' => {
                    let index = u32::from_le_bytes(self.le()?);
                    self.recall(index)?;
                }
                0x95 => {
                    // FRAME: a length hint only.
                    self.take(8)?;
                }
                other => {
                    return Err(format!(
                        "unsupported pickle opcode 0x{other:02x} at byte {}",
                        self.pos - 1
                    ));
                }
            }
        }
    }

    /// BINPUT, LONG_BINPUT, MEMOIZE: remember the top of the stack.
    fn memoize(&mut self, index: u32) -> R<()> {
        let value = self.top()?.clone();
        self.memo.insert(index, value);
        Ok(())
    }

    /// BINGET, LONG_BINGET: push a remembered value.
    fn recall(&mut self, index: u32) -> R<()> {
        let value = self
            .memo
            .get(&index)
            .cloned()
            .ok_or(format!("memo {index} unset"))?;
        self.stack.push(value);
        Ok(())
    }

    fn line(&mut self) -> R<String> {
        let rest = &self.bytes[self.pos..];
        let end = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or("unterminated GLOBAL")?;
        let text = std::str::from_utf8(&rest[..end])
            .map_err(|_| "GLOBAL is not UTF-8")?
            .to_string();
        self.pos += end + 1;
        Ok(text)
    }
}

fn pairs(items: Vec<Value>) -> R<Vec<(Value, Value)>> {
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

/// SETITEM(S) on a dict, or on an `OrderedDict()` call (which state dicts are).
fn set_items(target: &mut Value, items: Vec<(Value, Value)>) -> R<()> {
    match target {
        Value::Dict(dict) => {
            dict.extend(items);
            Ok(())
        }
        Value::Call(callable, _) if matches!(callable.as_ref(), Value::Global(g) if g == "collections.OrderedDict") =>
        {
            *target = Value::Dict(items);
            Ok(())
        }
        _ => Err("SETITEMS on a non-dict".into()),
    }
}

/// Element type of a torch storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TorchDtype {
    /// float32
    F32,
    /// float64
    F64,
    /// float16
    F16,
    /// bfloat16
    Bf16,
    /// int64
    I64,
    /// int32
    I32,
    /// int16
    I16,
    /// int8
    I8,
    /// uint8
    U8,
    /// bool
    Bool,
}

impl TorchDtype {
    fn from_storage(name: &str) -> Option<Self> {
        Some(match name.rsplit('.').next()? {
            "FloatStorage" => Self::F32,
            "DoubleStorage" => Self::F64,
            "HalfStorage" => Self::F16,
            "BFloat16Storage" => Self::Bf16,
            "LongStorage" => Self::I64,
            "IntStorage" => Self::I32,
            "ShortStorage" => Self::I16,
            "CharStorage" => Self::I8,
            "ByteStorage" => Self::U8,
            "BoolStorage" => Self::Bool,
            _ => return None,
        })
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            Self::F64 | Self::I64 => 8,
            Self::F32 | Self::I32 => 4,
            Self::F16 | Self::Bf16 | Self::I16 => 2,
            Self::I8 | Self::U8 | Self::Bool => 1,
        }
    }

    /// The safetensors dtype.
    pub fn safetensors(self) -> safetensors::Dtype {
        use safetensors::Dtype as D;
        match self {
            Self::F32 => D::F32,
            Self::F64 => D::F64,
            Self::F16 => D::F16,
            Self::Bf16 => D::BF16,
            Self::I64 => D::I64,
            Self::I32 => D::I32,
            Self::I16 => D::I16,
            Self::I8 => D::I8,
            Self::U8 => D::U8,
            Self::Bool => D::BOOL,
        }
    }
}

/// A tensor of a checkpoint, made contiguous.
#[derive(Debug, Clone, PartialEq)]
pub struct TorchTensor {
    /// Dotted path in the checkpoint: `model_state.lstm.weight_ih_l0`.
    pub name: String,
    /// Element type.
    pub dtype: TorchDtype,
    /// Shape.
    pub shape: Vec<usize>,
    /// Row-major little-endian bytes.
    pub data: Vec<u8>,
}

/// A reference to a storage, as found in the object tree.
struct TensorRef {
    name: String,
    key: String,
    dtype: TorchDtype,
    offset: usize,
    shape: Vec<usize>,
    stride: Vec<usize>,
}

/// The legacy format's magic number (`torch.serialization.MAGIC_NUMBER`,
/// 0x1950a86a20f9469cfc6c) as pickle stores it: little-endian bytes.
const LEGACY_MAGIC: [u8; 10] = [0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];

/// Reads every tensor of a checkpoint (zip or legacy format).
pub fn read_torch(path: &Path) -> Result<Vec<TorchTensor>> {
    let bytes =
        std::fs::read(path).map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    let fail = |reason: String| Error::Convert {
        path: path.to_path_buf(),
        reason,
    };
    if bytes.starts_with(b"PK\x03\x04") {
        read_zip(&bytes).map_err(fail)
    } else {
        read_legacy(&bytes).map_err(fail)
    }
}

fn read_legacy(bytes: &[u8]) -> R<Vec<TorchTensor>> {
    let mut machine = Machine::new(bytes, 0);
    if machine.run()? != Value::BigInt(LEGACY_MAGIC.to_vec()) {
        return Err("not a PyTorch checkpoint (no magic number)".into());
    }
    let _protocol = machine.run()?;
    let _sys_info = machine.run()?;
    let tree = machine.run()?;
    let keys = match machine.run()? {
        Value::List(keys) => keys,
        _ => return Err("storage key list missing".into()),
    };
    let mut refs = Vec::new();
    collect(&tree, "", &mut refs)?;
    let mut pos = machine.pos;
    let mut storages = BTreeMap::new();
    for key in keys {
        let Value::Str(key) = key else {
            return Err("storage key is not a string".into());
        };
        let numel = bytes.get(pos..pos + 8).ok_or("storage header missing")?;
        let numel = u64::from_le_bytes(numel.try_into().map_err(|_| "storage header")?) as usize;
        pos += 8;
        let dtype = refs
            .iter()
            .find(|r| r.key == key)
            .map(|r| r.dtype)
            .ok_or(format!("storage {key} is unused"))?;
        let len = numel.checked_mul(dtype.size()).ok_or("storage too large")?;
        let data = bytes
            .get(pos..pos + len)
            .ok_or(format!("storage {key} is truncated"))?;
        pos += len;
        storages.insert(key, data);
    }
    refs.iter()
        .map(|r| materialise(r, storages.get(&r.key).copied()))
        .collect()
}

fn read_zip(bytes: &[u8]) -> R<Vec<TorchTensor>> {
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(|e| e.to_string())?;
    let pkl_name = zip
        .file_names()
        .flatten()
        .find(|n| n.ends_with("/data.pkl") || n == "data.pkl")
        .map(|n| n.into_owned())
        .ok_or("no data.pkl")?;
    let prefix = pkl_name.trim_end_matches("data.pkl").to_string();
    let mut pkl = Vec::new();
    zip.by_name(&pkl_name)
        .map_err(|e| e.to_string())?
        .read_to_end(&mut pkl)
        .map_err(|e| e.to_string())?;
    let tree = Machine::new(&pkl, 0).run()?;
    let mut refs = Vec::new();
    collect(&tree, "", &mut refs)?;
    let mut storages: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for r in &refs {
        if !storages.contains_key(&r.key) {
            let mut data = Vec::new();
            zip.by_name(&format!("{prefix}data/{}", r.key))
                .map_err(|e| format!("storage {}: {e}", r.key))?
                .read_to_end(&mut data)
                .map_err(|e| e.to_string())?;
            storages.insert(r.key.clone(), data);
        }
    }
    refs.iter()
        .map(|r| materialise(r, storages.get(&r.key).map(Vec::as_slice)))
        .collect()
}

/// Walks the object tree collecting tensors, naming them by their dict path.
fn collect(value: &Value, path: &str, out: &mut Vec<TensorRef>) -> R<()> {
    let join = |key: &str| {
        if path.is_empty() {
            key.to_string()
        } else {
            format!("{path}.{key}")
        }
    };
    match value {
        Value::Dict(items) => {
            for (key, v) in items {
                let key = match key {
                    Value::Str(s) => s.clone(),
                    Value::Int(i) => i.to_string(),
                    _ => continue,
                };
                collect(v, &join(&key), out)?;
            }
            Ok(())
        }
        Value::Build(obj, _) => collect(obj, path, out),
        Value::Call(callable, args) => match callable.as_ref() {
            Value::Global(g)
                if g == "torch._utils._rebuild_tensor_v2"
                    || g == "torch._utils._rebuild_tensor" =>
            {
                out.push(tensor_ref(path, args)?);
                Ok(())
            }
            Value::Global(g) if g == "torch._utils._rebuild_parameter" => match args.as_ref() {
                Value::Tuple(items) => items.first().map_or(Ok(()), |t| collect(t, path, out)),
                _ => Ok(()),
            },
            _ => Ok(()),
        },
        Value::List(items) | Value::Tuple(items) => {
            for (i, v) in items.iter().enumerate() {
                collect(v, &join(&i.to_string()), out)?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

fn usizes(value: &Value) -> R<Vec<usize>> {
    match value {
        Value::Tuple(items) | Value::List(items) => items
            .iter()
            .map(|v| match v {
                Value::Int(i) => usize::try_from(*i).map_err(|_| "negative size".to_string()),
                _ => Err("size is not an integer".to_string()),
            })
            .collect(),
        _ => Err("size is not a tuple".into()),
    }
}

fn tensor_ref(name: &str, args: &Value) -> R<TensorRef> {
    let Value::Tuple(args) = args else {
        return Err(format!("{name}: bad tensor arguments"));
    };
    let [storage, offset, shape, stride, ..] = args.as_slice() else {
        return Err(format!("{name}: too few tensor arguments"));
    };
    let Value::PersistentId(id) = storage else {
        return Err(format!("{name}: storage is not a persistent id"));
    };
    let Value::Tuple(id) = id.as_ref() else {
        return Err(format!("{name}: bad persistent id"));
    };
    let (Some(Value::Global(kind)), Some(Value::Str(key))) = (id.get(1), id.get(2)) else {
        return Err(format!("{name}: bad storage reference"));
    };
    let dtype =
        TorchDtype::from_storage(kind).ok_or(format!("{name}: unsupported storage {kind}"))?;
    let Value::Int(offset) = offset else {
        return Err(format!("{name}: bad offset"));
    };
    Ok(TensorRef {
        name: name.to_string(),
        key: key.clone(),
        dtype,
        offset: usize::try_from(*offset).map_err(|_| format!("{name}: negative offset"))?,
        shape: usizes(shape)?,
        stride: usizes(stride)?,
    })
}

/// Copies a (possibly strided) view of a storage into a contiguous row-major buffer.
fn materialise(r: &TensorRef, storage: Option<&[u8]>) -> R<TorchTensor> {
    let storage = storage.ok_or(format!("{}: storage {} missing", r.name, r.key))?;
    if r.shape.len() != r.stride.len() {
        return Err(format!("{}: shape and stride differ in rank", r.name));
    }
    let size = r.dtype.size();
    let numel: usize = r.shape.iter().product();
    let mut data = Vec::with_capacity(numel * size);
    let mut index = vec![0usize; r.shape.len()];
    for _ in 0..numel {
        let element = r.offset
            + index
                .iter()
                .zip(&r.stride)
                .map(|(i, s)| i * s)
                .sum::<usize>();
        let bytes = storage
            .get(element * size..(element + 1) * size)
            .ok_or(format!("{}: element {element} outside its storage", r.name))?;
        data.extend_from_slice(bytes);
        for (i, dim) in index.iter_mut().zip(&r.shape).rev() {
            *i += 1;
            if *i < *dim {
                break;
            }
            *i = 0;
        }
    }
    Ok(TorchTensor {
        name: r.name.clone(),
        dtype: r.dtype,
        shape: r.shape.clone(),
        data,
    })
}

/// Converts the tensors under `subtree` (a dotted prefix such as `model_state`, or `""` for all)
/// of a checkpoint into a safetensors file, names relative to the subtree.
pub fn convert_torch(source: &Path, subtree: &str, dest: &Path) -> Result<usize> {
    let tensors = read_torch(source)?;
    let prefix = if subtree.is_empty() {
        String::new()
    } else {
        format!("{subtree}.")
    };
    let selected: Vec<(String, &TorchTensor)> = tensors
        .iter()
        .filter_map(|t| t.name.strip_prefix(&prefix).map(|n| (n.to_string(), t)))
        .collect();
    if selected.is_empty() {
        return Err(Error::Convert {
            path: source.to_path_buf(),
            reason: format!("no tensors under {subtree:?}"),
        });
    }
    super::write_safetensors(
        source,
        dest,
        selected.iter().map(|(name, t)| {
            (
                name.clone(),
                t.dtype.safetensors(),
                t.shape.clone(),
                t.data.as_slice(),
            )
        }),
        "torch pickle",
        Default::default(),
    )?;
    Ok(selected.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A legacy checkpoint written opcode by opcode as torch 1.x does, holding
    /// `{"step": 7, "model_state": OrderedDict(w: 2x3 f32, b: transposed view 3x2 of w)}`.
    fn legacy_checkpoint() -> Vec<u8> {
        let mut p = Vec::new();
        // magic (as LONG1), protocol 1001, sys info {}
        p.extend([
            0x80, 2, 0x8a, 10, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, b'.',
        ]);
        p.extend([0x80, 2, b'M', 0xe9, 0x03, b'.']);
        p.extend([0x80, 2, b'}', b'.']);
        let s = |p: &mut Vec<u8>, text: &str| {
            p.push(b'X');
            p.extend((text.len() as u32).to_le_bytes());
            p.extend(text.as_bytes());
        };
        p.extend([0x80, 2, b'}', b'q', 0, b'(']);
        s(&mut p, "step");
        p.extend([b'K', 7]);
        s(&mut p, "model_state");
        p.extend(b"ccollections\nOrderedDict\n");
        p.extend([b'q', 1, b')', b'R', b'(']);
        for (name, offset, shape, stride) in
            [("w", 0u8, [2u8, 3], [3u8, 1]), ("b", 0, [3, 2], [1, 3])]
        {
            s(&mut p, name);
            p.extend(b"ctorch._utils\n_rebuild_tensor_v2\n(");
            p.push(b'(');
            s(&mut p, "storage");
            p.extend(b"ctorch\nFloatStorage\n");
            s(&mut p, "key0");
            s(&mut p, "cpu");
            p.extend([b'K', 6, b'N', b't', b'Q']);
            p.extend([
                b'K', offset, b'K', shape[0], b'K', shape[1], 0x86, b'K', stride[0], b'K',
                stride[1], 0x86, 0x89,
            ]);
            p.extend([b'h', 1, b')', b'R', b't', b'R']);
        }
        p.extend([b'u', b'u', b'.']);
        // storage keys, then the storage: 6 floats 0..6
        p.extend([0x80, 2, b']', b'(']);
        s(&mut p, "key0");
        p.extend([b'e', b'.']);
        p.extend(6u64.to_le_bytes());
        for v in 0..6 {
            p.extend((v as f32).to_le_bytes());
        }
        p
    }

    fn floats(data: &[u8]) -> Vec<f32> {
        data.chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect()
    }

    #[test]
    fn reads_legacy_checkpoints_with_strided_views() -> R<()> {
        let tensors = read_legacy(&legacy_checkpoint())?;
        assert_eq!(tensors.len(), 2);
        assert_eq!(tensors[0].name, "model_state.w");
        assert_eq!(tensors[0].shape, vec![2, 3]);
        assert_eq!(floats(&tensors[0].data), vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
        // The transpose is made contiguous.
        assert_eq!(tensors[1].shape, vec![3, 2]);
        assert_eq!(floats(&tensors[1].data), vec![0.0, 3.0, 1.0, 4.0, 2.0, 5.0]);
        Ok(())
    }

    #[test]
    fn damaged_or_hostile_pickles_are_errors() {
        let good = legacy_checkpoint();
        for cut in [0, 1, 5, 20, good.len() / 2, good.len() - 3] {
            assert!(read_legacy(&good[..cut]).is_err(), "cut at {cut}");
        }
        // An arbitrary-code pickle (os.system via REDUCE is kept symbolic; INST is refused).
        let hostile = b"\x80\x02(cos\nsystem\nX\x02\x00\x00\x00lsi.".to_vec();
        assert!(Machine::new(&hostile, 0).run().is_err());
        assert!(
            Machine::new(b"\x80\x02K\x01K\x02s.", 0).run().is_err(),
            "SETITEM on an int"
        );
    }
}
