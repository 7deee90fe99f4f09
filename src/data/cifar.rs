//! CIFAR binary format. CIFAR-10: `data_batch_{1..5}.bin` and `test_batch.bin`, records of one
//! label byte and 3072 pixel bytes (R, G, B planes of 32x32). CIFAR-100: `train.bin`/`test.bin`,
//! records of a coarse and a fine label byte, then the pixels; we use the fine labels (100
//! classes; the original's bmx path wrongly used the 20 coarse ones).

use std::path::Path;

use super::{DataError, Dataset, Splits};

const PIXELS: usize = 3 * 32 * 32;

pub fn load(dir: &Path, hundred: bool) -> Result<Splits, DataError> {
    if hundred {
        Ok(Splits { train: read(&[dir.join("train.bin")], true)?, test: read(&[dir.join("test.bin")], true)? })
    } else {
        let train: Vec<_> = (1..=5).map(|i| dir.join(format!("data_batch_{i}.bin"))).collect();
        Ok(Splits { train: read(&train, false)?, test: read(&[dir.join("test_batch.bin")], false)? })
    }
}

fn read(files: &[std::path::PathBuf], hundred: bool) -> Result<Dataset, DataError> {
    let mut out = Dataset { pixels: vec![], labels: vec![], shape: [3, 32, 32] };
    for path in files {
        let hint = format!(
            "the folder needs the binary version's files ({}.tar.gz unpacked); without --data-dir, lightnasc finds or fetches the dataset",
            if hundred { "cifar-100-binary" } else { "cifar-10-binary" }
        );
        let bytes = std::fs::read(path).map_err(|e| DataError::new(path, format!("cannot read: {e}"), &hint))?;
        let d = parse(&bytes, hundred, path)?;
        out.labels.extend(d.labels);
        out.pixels.extend(d.pixels);
    }
    Ok(out)
}

/// The records of one file's bytes, named `path` in errors.
pub fn parse(bytes: &[u8], hundred: bool, path: &Path) -> Result<Dataset, DataError> {
    let (label_bytes, classes) = if hundred { (2, 100) } else { (1, 10) };
    let record = label_bytes + PIXELS;
    let mut out = Dataset { pixels: vec![], labels: vec![], shape: [3, 32, 32] };
    if bytes.is_empty() || !bytes.len().is_multiple_of(record) {
        return Err(DataError::new(
            path,
            format!("{} bytes is not a whole number of {record}-byte records", bytes.len()),
            "the file is truncated or not in CIFAR's binary format",
        ));
    }
    for (i, r) in bytes.chunks_exact(record).enumerate() {
        let label = r[label_bytes - 1];
        if label as usize >= classes {
            return Err(DataError::new(
                path,
                format!("record {i} has label {label}, but there are {classes} classes"),
                "the file is corrupt, or CIFAR-10 and CIFAR-100 files are mixed up",
            ));
        }
        out.labels.push(label as u16);
        out.pixels.extend_from_slice(&r[label_bytes..]);
    }
    Ok(out)
}
