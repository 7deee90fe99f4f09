//! Small helpers shared by several passes.

/// Levenshtein distance, for "did you mean" hints.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, &cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != cb)).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The candidate closest to `name`, if it is close enough to be a plausible typo.
pub fn closest<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (name.chars().count() / 3).max(1);
    candidates
        .map(|c| (edit_distance(name, c), c))
        .filter(|&(d, _)| d <= limit)
        .min_by_key(|&(d, c)| (d, c.len()))
        .map(|(_, c)| c)
}

/// Write a file atomically: a temporary file in the same directory, then a rename, so readers
/// never see half a file.
pub fn write_atomic(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// A file that could not be read, written or understood: the path, and what went wrong. Every
/// layer's error enum carries one, so a caller can tell "this file" from other causes.
#[derive(Debug, thiserror::Error)]
#[error("{}: {message}", path.display())]
pub struct FileError {
    pub path: std::path::PathBuf,
    pub message: String,
}

impl FileError {
    pub fn new(path: impl AsRef<std::path::Path>, message: impl std::fmt::Display) -> Self {
        FileError { path: path.as_ref().to_path_buf(), message: message.to_string() }
    }
}

/// `result.at(path)`: the error as a [`FileError`] ("PATH: error"), the one way a file
/// operation's error names its file.
pub trait AtPath<T> {
    fn at(self, path: impl AsRef<std::path::Path>) -> Result<T, FileError>;
}

impl<T, E: std::fmt::Display> AtPath<T> for Result<T, E> {
    fn at(self, path: impl AsRef<std::path::Path>) -> Result<T, FileError> {
        self.map_err(|e| FileError::new(path, e))
    }
}

/// lightnasc's caches (compiled kernels, decoded images): `$LIGHTNASC_CACHE`, else
/// `$XDG_CACHE_HOME/lightnasc`, else `~/.cache/lightnasc`.
pub fn cache_root() -> std::path::PathBuf {
    use std::path::PathBuf;
    let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    env("LIGHTNASC_CACHE")
        .or_else(|| env("XDG_CACHE_HOME").map(|d| d.join("lightnasc")))
        .or_else(|| env("HOME").map(|h| h.join(".cache").join("lightnasc")))
        .unwrap_or_else(|| std::env::temp_dir().join("lightnasc"))
}

/// SplitMix64: a tiny, well-mixed generator whose output is the same on every platform and
/// version, so a seed means the same pin, initialisation or data order everywhere.
#[derive(Clone, Debug)]
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1) with 53 random bits.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `0..n` (n > 0); the modulo bias is below 2^-40 for the sizes used here.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// A standard normal sample (Box-Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.next_f64(); // (0, 1]: ln is finite
        let u2 = self.next_f64();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

/// A count for people: `652.9k`, `6.48M`, `1.02G`.
pub fn human_count(n: f64) -> String {
    match n {
        n if n >= 1e9 => format!("{:.2}G", n / 1e9),
        n if n >= 1e6 => format!("{:.2}M", n / 1e6),
        n if n >= 1e3 => format!("{:.1}k", n / 1e3),
        n => format!("{n}"),
    }
}

/// serde's `duplicate field `K`` (or serde_norway's `duplicate entry with key "K"`) names the
/// map's line or none; rewrite it to name the line of the repeated key and of the first.
pub fn yaml_duplicate_lines(msg: String, text: &str) -> String {
    let key = ["duplicate field `", "duplicate entry with key \""].iter().find_map(|p| {
        let rest = &msg[msg.find(p)? + p.len()..];
        Some(&rest[..rest.find(['`', '"'])?])
    });
    let Some((key, (first, again))) = key.and_then(|k| Some((k, yaml_duplicate(text, k)?))) else { return msg };
    let start = msg.find("duplicate ").unwrap_or(0);
    format!("{}line {again}: duplicate key `{key}` (first at line {first})", &msg[..start])
}

/// The lines (1-based) of the first key `key` and its repeat in one block mapping of a YAML
/// text, by indentation (configs and plans are block YAML; `-` and `_` spell one key).
fn yaml_duplicate(text: &str, key: &str) -> Option<(usize, usize)> {
    let norm = |k: &str| k.trim().trim_matches(['"', '\'']).replace('-', "_");
    let key = norm(key);
    let mut open: Vec<(usize, Vec<(String, usize)>)> = vec![]; // each open mapping: indent, keys
    for (i, line) in text.lines().enumerate() {
        let body = line.trim_start();
        if body.is_empty() || body.starts_with('#') {
            continue;
        }
        let item = body.starts_with("- "); // a list item opens a new mapping
        let body = if item { body[2..].trim_start() } else { body };
        let indent = line.len() - body.len();
        let Some((k, _)) = body.split_once(':') else { continue };
        while open.last().is_some_and(|(d, _)| *d > indent || (item && *d == indent)) {
            open.pop();
        }
        let k = norm(k);
        match open.last_mut() {
            Some((d, keys)) if *d == indent => {
                if let Some((_, first)) = keys.iter().find(|(seen, _)| *seen == k).filter(|_| k == key) {
                    return Some((*first, i + 1));
                }
                keys.push((k, i + 1));
            }
            _ => open.push((indent, vec![(k, i + 1)])),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_duplicate_yaml_key_is_found_on_its_own_line() {
        let nested = "seed: 1\nscoring:\n  finalists: 2\n  # a comment\n  finalists: 3\n";
        assert_eq!(yaml_duplicate(nested, "finalists"), Some((3, 5)));
        // The same name in another mapping is no duplicate; `-` and `_` spell one key.
        let apart = "a:\n  k: 1\nb:\n  k: 2\ntrain_limit: 1\ntrain-limit: 2\n";
        assert_eq!(yaml_duplicate(apart, "k"), None);
        assert_eq!(yaml_duplicate(apart, "train-limit"), Some((5, 6)));
        // Each list item is its own mapping.
        let items = "runs:\n  - seed: 1\n    pin: a\n  - seed: 2\n    seed: 3\n";
        assert_eq!(yaml_duplicate(items, "seed"), Some((4, 5)));
        let msg = "scoring: duplicate field `finalists` at line 3 column 3".to_string();
        assert_eq!(yaml_duplicate_lines(msg, nested), "scoring: line 5: duplicate key `finalists` (first at line 3)");
    }
}
