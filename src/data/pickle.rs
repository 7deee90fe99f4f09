//! CIFAR in torchvision's layout (`cifar-10-batches-py/`, `cifar-100-python/`): Python pickles of
//! a dict whose `data` is a numpy uint8 array `[n, 3072]` (R, G, B planes, as the binary files)
//! and whose labels are a list of ints. The publisher's pickles are Python 2's (byte-string keys);
//! Python 3 writes text keys; both are read. numpy's array arrives, through serde-pickle's
//! restore state, as its `__setstate__` tuple `(version, shape, dtype, fortran, bytes)`.

use std::path::Path;

use serde_pickle::{DeOptions, HashableValue, Value};

use super::sources::Torchvision;
use super::{DataError, Dataset, Splits};

const PIXELS: usize = 3 * 32 * 32;

pub fn load(dir: &Path, tv: &Torchvision, classes: usize) -> Result<Splits, DataError> {
    let read = |files: &[super::sources::Known]| -> Result<Dataset, DataError> {
        let mut out = Dataset { pixels: vec![], labels: vec![], shape: [3, 32, 32] };
        for f in files {
            batch(&dir.join(f.file), tv.label_key, classes, &mut out)?;
        }
        Ok(out)
    };
    Ok(Splits { train: read(tv.train)?, test: read(tv.test)? })
}

fn batch(path: &Path, label_key: &str, classes: usize, out: &mut Dataset) -> Result<(), DataError> {
    let bytes = std::fs::read(path).map_err(|e| {
        let hint = "torchvision keeps CIFAR in cifar-10-batches-py/ or cifar-100-python/";
        DataError::new(path, format!("cannot read: {e}"), hint)
    })?;
    parse_batch(&bytes, label_key, classes, path, out)
}

/// One pickle's images and labels appended to `out`; `path` names it in errors.
pub fn parse_batch(
    bytes: &[u8],
    label_key: &str,
    classes: usize,
    path: &Path,
    out: &mut Dataset,
) -> Result<(), DataError> {
    let bad = |m: String| DataError::new(path, m, "the file is not one of torchvision's CIFAR pickles");
    let opts = DeOptions::new().replace_unresolved_globals().keep_restore_state();
    let value = serde_pickle::value_from_slice(bytes, opts).map_err(|e| bad(format!("not a pickle: {e}")))?;
    let Value::Dict(entries) = value else { return Err(bad("not a dict".into())) };
    let get = |key: &str| {
        entries.iter().find(|(k, _)| match k {
            HashableValue::String(s) => s == key,
            HashableValue::Bytes(b) => b == key.as_bytes(),
            _ => false,
        })
    };
    let data = get("data").ok_or_else(|| bad("no `data`".into()))?;
    let pixels = array_bytes(data.1).ok_or_else(|| bad("`data` is not a uint8 array".into()))?;
    let labels = match get(label_key).map(|e| e.1) {
        Some(Value::List(l)) => l,
        _ => return Err(bad(format!("no `{label_key}` list"))),
    };
    if pixels.len() != labels.len() * PIXELS {
        return Err(bad(format!("{} bytes of pixels for {} labels of 3x32x32 images", pixels.len(), labels.len())));
    }
    for (i, l) in labels.iter().enumerate() {
        match l {
            Value::I64(v) if (0..classes as i64).contains(v) => out.labels.push(*v as u16),
            other => return Err(bad(format!("label {i} is {other:?}, not a class below {classes}"))),
        }
    }
    out.pixels.extend_from_slice(pixels);
    Ok(())
}

/// The bytes of a numpy array's restore state: the one byte string in the tuple whose length is
/// the shape's product (one byte an element: uint8).
fn array_bytes(v: &Value) -> Option<&[u8]> {
    let Value::Tuple(state) = v else { return None };
    let shape: Vec<i64> = state.iter().find_map(|s| match s {
        Value::Tuple(dims) if !dims.is_empty() => {
            dims.iter().map(|d| if let Value::I64(n) = d { Some(*n) } else { None }).collect::<Option<Vec<_>>>()
        }
        _ => None,
    })?;
    let n: i64 = shape.iter().product();
    state.iter().find_map(|s| match s {
        Value::Bytes(b) if b.len() as i64 == n => Some(b.as_slice()),
        _ => None,
    })
}
