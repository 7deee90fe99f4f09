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
    // serde-pickle's values nest as deep as the pickle does, and are dropped recursively: a
    // crafted file of a few hundred kilobytes would overflow the stack. CIFAR's have a few dozen.
    let (containers, floats) = scan(bytes);
    // Floats as keys have no total order in serde-pickle (ints compare to them through `as f64`,
    // NaN to nothing), and sorting them panicked; CIFAR's pickles hold none.
    if floats > 0 {
        return Err(bad(format!("{floats} float(s): a CIFAR pickle holds bytes, ints and strings only")));
    }
    if containers > MAX_CONTAINERS {
        let most = MAX_CONTAINERS;
        return Err(bad(format!("{containers} containers and memo reads, more than a CIFAR pickle has ({most})")));
    }
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

/// Containers and memo reads a CIFAR pickle may have (its own have a few dozen: the dict, a list
/// or two filled in batches of 1,000, the array's state).
const MAX_CONTAINERS: usize = 1_000;

/// How many containers (marks, lists, tuples, dicts, sets) the pickle's opcodes open and memo
/// reads they make, and how many floats they push; the scan stops at an opcode it does not know
/// or at the end (serde-pickle then reports the error).
fn scan(b: &[u8]) -> (usize, usize) {
    let (mut i, mut n, mut floats) = (0usize, 0usize, 0usize);
    let len_at = |i: usize, w: usize| -> Option<usize> {
        let s = b.get(i..i + w)?;
        let mut v = [0u8; 8];
        v[..w].copy_from_slice(s);
        usize::try_from(u64::from_le_bytes(v)).ok()
    };
    while let Some(&op) = b.get(i) {
        i += 1;
        let skip = match op {
            b'(' | b']' | b')' | b'}' | b't' | 0x85..=0x87 | 0x8f | 0x91 => {
                n += 1;
                0
            }
            // No argument.
            b'.' | b'0' | b'1' | b'2' | b'N' | b'R' | b'a' | b'b' | b'd' | b'e' | b'l' | b's' | b'u' | b'o' | 0x81
            | 0x88 | 0x89 | 0x90 | 0x92 | 0x93 | 0x94 | 0x97 | 0x98 | b'Q' => 0,
            // Memo reads copy what they read: counted, as repeated ones could double a value each.
            b'h' => {
                n += 1;
                1
            }
            b'j' => {
                n += 1;
                4
            }
            b'K' | b'q' | 0x80 | 0x82 => 1,
            b'M' | 0x83 => 2,
            b'J' | b'r' | 0x84 => 4,
            b'G' => {
                floats += 1;
                8
            }
            0x95 => 8,
            b'U' | b'C' | 0x8c | 0x8a => match len_at(i, 1) {
                Some(l) => 1 + l,
                None => break,
            },
            b'T' | b'B' | b'X' | 0x8b => match len_at(i, 4) {
                Some(l) => 4 + l,
                None => break,
            },
            0x8d | 0x8e | 0x96 => match len_at(i, 8) {
                Some(l) => 8usize.saturating_add(l),
                None => break,
            },
            // Text arguments up to a newline (GLOBAL and INST: two lines).
            b'I' | b'L' | b'F' | b'S' | b'V' | b'P' | b'p' | b'g' | b'c' | b'i' => {
                let lines = if matches!(op, b'c' | b'i') { 2 } else { 1 };
                n += usize::from(op == b'g');
                floats += usize::from(op == b'F');
                let mut seen = 0;
                while seen < lines {
                    match b.get(i..).and_then(|r| r.iter().position(|&c| c == b'\n')) {
                        Some(p) => i += p + 1,
                        None => return (n, floats),
                    }
                    seen += 1;
                }
                0
            }
            _ => break,
        };
        i = i.saturating_add(skip);
    }
    (n, floats)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(bytes: &[u8]) -> Result<(), String> {
        let mut out = Dataset { pixels: vec![], labels: vec![], shape: [3, 32, 32] };
        parse_batch(bytes, "labels", 10, Path::new("x"), &mut out).map_err(|e| e.to_string())
    }

    /// Found by the `pickle` fuzz target: lists nested 200,000 deep (400 kB) overflowed the
    /// stack when serde-pickle's value was dropped, killing the process.
    #[test]
    fn a_deeply_nested_pickle_is_an_error_not_a_crash() {
        let n = 200_000;
        let mut deep = vec![0x80, 2];
        deep.extend(std::iter::repeat_n(b']', n));
        deep.extend(std::iter::repeat_n(b'a', n - 1));
        deep.push(b'.');
        let e = parse(&deep).unwrap_err();
        assert!(e.contains("200000 containers and memo reads"), "{e}");
        // A memo read appended to itself again and again doubles a list each time.
        let mut doubling = vec![0x80, 2, b']', b'q', 0];
        for _ in 0..2_000 {
            doubling.extend([b'h', 0, b'h', 0, b'a', b'0']);
        }
        assert!(parse(&doubling).unwrap_err().contains("containers and memo reads"));
    }

    /// Found by the `pickle` fuzz target: a dict keyed by floats and ints made serde-pickle's
    /// sort panic ("does not correctly implement a total order").
    #[test]
    fn floats_are_refused_before_serde_pickle_sorts_them() {
        let crash = include_bytes!("../../fuzz/corpus/pickle/crash-float-keys");
        assert!(parse(crash).unwrap_err().contains("float(s)"));
    }
}
