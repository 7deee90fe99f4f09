//! The IDX format of (Fashion-)MNIST: `00 00 08 NDIM`, NDIM big-endian u32 dimensions, then u8
//! values row-major. Files may be gzip-compressed (`.gz`, as Debian ships them).

use std::io::Read as _;
use std::path::{Path, PathBuf};

use super::{DataError, Dataset, Splits};

/// Fashion-MNIST from `dir`: `{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]`. Any number of
/// images is taken (a subset, or another dataset in MNIST's files, as KMNIST ships): the header
/// and the file's length are checked against each other, so a truncated file is still refused.
pub fn load_fashion_mnist(dir: &Path) -> Result<Splits, DataError> {
    let train = load_pair(dir, "train")?;
    let test = load_pair(dir, "t10k")?;
    Ok(Splits { train, test })
}

fn load_pair(dir: &Path, prefix: &str) -> Result<Dataset, DataError> {
    let images = find(dir, &format!("{prefix}-images-idx3-ubyte"))?;
    let (dims, pixels) = read_idx(&images, 3)?;
    let labels = find(dir, &format!("{prefix}-labels-idx1-ubyte"))?;
    if dims[1..] != [28, 28] {
        return Err(DataError::new(&images, format!("images are {}x{}, expected 28x28", dims[1], dims[2]), ""));
    }
    let (ldims, raw_labels) = read_idx(&labels, 1)?;
    if ldims[0] != dims[0] {
        return Err(DataError::new(
            &labels,
            format!("{} labels for {} images in {}", ldims[0], dims[0], images.display()),
            "the image and label files must come from the same release",
        ));
    }
    if let Some(bad) = raw_labels.iter().find(|&&l| l >= 10) {
        return Err(DataError::new(&labels, format!("label {bad} is out of range (10 classes)"), ""));
    }
    Ok(Dataset { pixels, labels: raw_labels.into_iter().map(u16::from).collect(), shape: [1, 28, 28] })
}

fn find(dir: &Path, stem: &str) -> Result<PathBuf, DataError> {
    for name in [format!("{stem}.gz"), stem.to_string()] {
        let p = dir.join(name);
        if p.is_file() {
            return Ok(p);
        }
    }
    Err(DataError::new(
        &dir.join(format!("{stem}.gz")),
        "not found (nor without .gz)",
        "install Debian's `dataset-fashion-mnist` (apt-get install dataset-fashion-mnist), or pass --data-dir",
    ))
}

/// Read an IDX file of u8 values with `ndim` dimensions: (dims, values).
pub fn read_idx(path: &Path, ndim: u8) -> Result<(Vec<usize>, Vec<u8>), DataError> {
    let raw = std::fs::read(path).map_err(|e| DataError::new(path, format!("cannot read: {e}"), ""))?;
    parse_idx(&raw, ndim, path)
}

/// The bytes of an IDX file (gzip or not) named `path` in errors: (dims, values).
pub fn parse_idx(raw: &[u8], ndim: u8, path: &Path) -> Result<(Vec<usize>, Vec<u8>), DataError> {
    let inflated;
    let bytes = if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = vec![];
        flate2::read::GzDecoder::new(raw)
            .read_to_end(&mut out)
            .map_err(|e| DataError::new(path, format!("corrupt gzip stream: {e}"), "download or reinstall the file"))?;
        inflated = out;
        &inflated[..]
    } else {
        raw
    };
    let header = 4 + 4 * ndim as usize;
    if bytes.len() < header || bytes[..4] != [0, 0, 8, ndim] {
        return Err(DataError::new(
            path,
            format!("not an IDX file of {ndim}-d unsigned bytes (expected the magic 00 00 08 {ndim:02x})"),
            "",
        ));
    }
    let dims: Vec<usize> = (0..ndim as usize)
        .map(|i| u32::from_be_bytes(bytes[4 + 4 * i..8 + 4 * i].try_into().expect("4 bytes")) as usize)
        .collect();
    // The header's sizes are the file's word: checked, so a crafted one is an error, not an overflow.
    let n = dims.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
    let Some(n) = n.filter(|&n| n == bytes.len() - header) else {
        let promised = n.map_or("more than can be addressed".to_string(), |n| n.to_string());
        return Err(DataError::new(
            path,
            format!("{} bytes of data, the header promises {promised} ({dims:?})", bytes.len() - header),
            "the file is truncated or corrupt",
        ));
    };
    Ok((dims, bytes[header..header + n].to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A header whose sizes multiply past the address space is refused, in debug builds too
    /// (where the multiplication used to panic).
    #[test]
    fn a_header_that_overflows_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x-idx3-ubyte");
        let mut bytes = vec![0, 0, 8, 3];
        for _ in 0..3 {
            bytes.extend(u32::MAX.to_be_bytes());
        }
        bytes.extend([1, 2, 3]);
        std::fs::write(&path, &bytes).unwrap();
        let e = read_idx(&path, 3).unwrap_err().to_string();
        assert!(e.contains("the header promises more than can be addressed"), "{e}");
        // A header that fits reads as before.
        let mut ok = vec![0, 0, 8, 2];
        ok.extend(2u32.to_be_bytes());
        ok.extend(2u32.to_be_bytes());
        ok.extend([1, 2, 3, 4]);
        std::fs::write(&path, &ok).unwrap();
        assert_eq!(read_idx(&path, 2).unwrap(), (vec![2, 2], vec![1, 2, 3, 4]));
    }
}
