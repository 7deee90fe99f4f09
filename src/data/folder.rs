//! Users' own images: one sub-folder per class (the layout of torchvision's `ImageFolder`), class
//! names from the sub-folder names, sorted. `PATH/test/` (or `test:` in the config) is the held-out
//! test split. Images are decoded once, in parallel, fitted to the space's input (shorter side
//! resized, then centre-cropped; images already that size are copied exactly) and cached as u8
//! pixels under the cache folder; the cache is keyed by the folder's file list, sizes and
//! modification times, so it is rebuilt when they change and never trusted when they do not match.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use rayon::prelude::*;

use super::{DataError, Dataset, Splits};

/// `data: {folder: PATH}` in a config, `--data folder:PATH` on the command line. What is not
/// given is resolved when a run is made and recorded in its config (`resolve`).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FolderData {
    pub folder: PathBuf,
    /// The held-out test split (default: `FOLDER/test` if it exists, else none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<PathBuf>,
    /// `[channels, height, width]` the images are fitted to (default: the space's input).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<[usize; 3]>,
    /// The class names, in label order (the sub-folders, sorted).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub classes: Vec<String>,
    /// Per-channel normalisation (default: measured on the training images).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean: Option<Vec<f32>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub std: Option<Vec<f32>>,
    /// Random horizontal flips when training (with the random crops every dataset gets).
    #[serde(default = "yes")]
    pub flips: bool,
}

fn yes() -> bool {
    true
}

impl FolderData {
    pub fn new(folder: PathBuf) -> FolderData {
        FolderData { folder, test: None, input: None, classes: vec![], mean: None, std: None, flips: true }
    }

    /// The test split's folder: `test`, else `FOLDER/test` where it exists.
    pub fn test_folder(&self) -> Option<PathBuf> {
        self.test.clone().or_else(|| Some(self.folder.join("test")).filter(|p| p.is_dir()))
    }
}

/// The image files of one split, each with its label.
#[derive(Debug)]
pub struct Listing {
    pub classes: Vec<String>,
    pub files: Vec<(PathBuf, u16)>,
    /// Files without an image extension, left out (the count is reported).
    pub skipped: Vec<PathBuf>,
    fingerprint: u64,
}

/// Image files by extension: the formats this build decodes.
pub fn is_image(path: &Path) -> bool {
    let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    matches!(ext.as_deref(), Some("png" | "jpg" | "jpeg" | "bmp" | "gif" | "webp"))
}

fn read_dir_sorted(dir: &Path) -> Result<Vec<PathBuf>, DataError> {
    let io = |e: std::io::Error| DataError::new(dir, format!("cannot read the folder: {e}"), "");
    let mut out: Vec<PathBuf> =
        std::fs::read_dir(dir).map_err(io)?.map(|e| e.map(|e| e.path()).map_err(io)).collect::<Result<_, _>>()?;
    // Hidden entries (`.DS_Store`, `.ipynb_checkpoints`) are not data.
    out.retain(|p| !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')));
    out.sort();
    Ok(out)
}

/// Every file under `dir`, depth first, sorted at each level.
fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), DataError> {
    for p in read_dir_sorted(dir)? {
        if p.is_dir() { walk(&p, out)? } else { out.push(p) }
    }
    Ok(())
}

/// Image files named on a command line, folders walked (sorted), decoded to `shape` in parallel.
pub fn decode_paths(paths: &[PathBuf], shape: [usize; 3]) -> Result<(Vec<PathBuf>, Dataset), DataError> {
    let mut files = vec![];
    for p in paths {
        if p.is_dir() {
            let mut under = vec![];
            walk(p, &mut under)?;
            files.extend(under.into_iter().filter(|f| is_image(f)));
        } else {
            files.push(p.clone());
        }
    }
    if files.is_empty() {
        return Err(DataError::new(&paths[0], "no PNG, JPEG, BMP, GIF or WebP files here", ""));
    }
    let images: Vec<Vec<u8>> = files.par_iter().map(|f| decode(f, shape)).collect::<Result<_, _>>()?;
    let ds = Dataset { pixels: images.concat(), labels: vec![0; files.len()], shape };
    Ok((files, ds))
}

/// FNV-1a, 64 bits: the cache's fingerprint of a listing (not a security boundary).
struct Fnv(u64);

impl Fnv {
    fn new() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }

    fn add(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
    }
}

/// The classes and image files of `root`. With `classes` (a test split), the sub-folders must be
/// among them and take their labels; otherwise the sub-folders are the classes, `test` excepted.
pub fn list(root: &Path, classes: Option<&[String]>) -> Result<Listing, DataError> {
    if !root.is_dir() {
        return Err(DataError::new(root, "not a folder", "give a folder with one sub-folder of images per class"));
    }
    let dirs: Vec<PathBuf> = read_dir_sorted(root)?
        .into_iter()
        .filter(|p| p.is_dir() && (classes.is_some() || p.file_name().is_some_and(|n| n != "test")))
        .collect();
    let names: Vec<String> =
        dirs.iter().map(|d| d.file_name().unwrap_or_default().to_string_lossy().into_owned()).collect();
    let classes = match classes {
        Some(c) => c.to_vec(),
        None if names.len() < 2 => {
            return Err(DataError::new(
                root,
                format!(
                    "{} class folder{} ({}): a classifier needs at least two",
                    names.len(),
                    if names.len() == 1 { "" } else { "s" },
                    names.join(", ")
                ),
                "put each class's images in its own sub-folder: FOLDER/cat/1.png, FOLDER/dog/2.png, ...",
            ));
        }
        None => names.clone(),
    };
    let mut listing = Listing { classes, files: vec![], skipped: vec![], fingerprint: 0 };
    for (dir, name) in dirs.iter().zip(&names) {
        let Some(label) = listing.classes.iter().position(|c| c == name) else {
            return Err(DataError::new(
                dir,
                "a class the training folder does not have",
                format!("the classes are {}", listing.classes.join(", ")),
            ));
        };
        let mut files = vec![];
        walk(dir, &mut files)?;
        let before = listing.files.len();
        for f in files {
            if is_image(&f) { listing.files.push((f, label as u16)) } else { listing.skipped.push(f) }
        }
        if listing.files.len() == before {
            return Err(DataError::new(
                dir,
                "an empty class folder (no PNG, JPEG, BMP, GIF or WebP files)",
                "add its images, or remove the folder",
            ));
        }
    }
    listing.fingerprint = fingerprint(&listing, root)?;
    Ok(listing)
}

/// The listing's paths (relative to `root`), labels, sizes and modification times.
fn fingerprint(listing: &Listing, root: &Path) -> Result<u64, DataError> {
    let mut h = Fnv::new();
    h.add(listing.classes.join("\n").as_bytes());
    for (path, label) in &listing.files {
        let meta = std::fs::metadata(path).map_err(|e| DataError::new(path, format!("cannot read: {e}"), ""))?;
        let mtime = meta.modified().ok().and_then(|t| t.duration_since(UNIX_EPOCH).ok()).unwrap_or_default();
        h.add(path.strip_prefix(root).unwrap_or(path).as_os_str().as_encoded_bytes());
        h.add(&label.to_le_bytes());
        h.add(&meta.len().to_le_bytes());
        h.add(&mtime.as_nanos().to_le_bytes());
    }
    Ok(h.0)
}

/// One image fitted to `[c, h, w]`, as planar u8. Grey images are copied into every channel of a
/// colour input; a colour image for a one-channel input is refused (dropping its colour silently
/// would change what the classifier sees).
pub fn decode(path: &Path, [c, h, w]: [usize; 3]) -> Result<Vec<u8>, DataError> {
    let mut bytes = vec![];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(|e| DataError::new(path, format!("cannot read: {e}"), ""))?;
    let img = image::load_from_memory(&bytes).map_err(|e| {
        DataError::new(
            path,
            format!("cannot decode the image: {e}"),
            "the file is truncated or not an image; replace or remove it",
        )
    })?;
    if c == 1 && img.color().has_color() {
        return Err(DataError::new(
            path,
            format!("a colour image ({:?}), but the space takes 1 channel", img.color()),
            "give the space a 3-channel input (`x: tensor = [3, H, W]`), or convert the images to greyscale",
        ));
    }
    let (w32, h32) = (w as u32, h as u32);
    let img = if (img.width(), img.height()) == (w32, h32) {
        img
    } else {
        img.resize_to_fill(w32, h32, image::imageops::FilterType::Triangle)
    };
    Ok(match c {
        1 => img.to_luma8().into_raw(),
        3 => {
            let rgb = img.to_rgb8().into_raw();
            (0..3).flat_map(|ch| rgb.iter().skip(ch).step_by(3).copied()).collect()
        }
        _ => {
            return Err(DataError::new(
                path,
                format!("the space takes {c} channels"),
                "image folders feed 1-channel (grey) or 3-channel (RGB) inputs",
            ));
        }
    })
}

/// Decode a listing's images in parallel, with progress lines (`what` names the work).
pub fn decode_all(listing: &Listing, shape: [usize; 3], what: &str) -> Result<Dataset, DataError> {
    const CHUNK: usize = 1024;
    let chunks = listing.files.len().div_ceil(CHUNK);
    let mut steps = crate::progress::Steps::new(format!("decoding {what}"), chunks);
    let mut pixels = Vec::with_capacity(listing.files.len() * shape.iter().product::<usize>());
    for (i, chunk) in listing.files.chunks(CHUNK).enumerate() {
        let images: Vec<Vec<u8>> = chunk.par_iter().map(|(p, _)| decode(p, shape)).collect::<Result<_, _>>()?;
        images.iter().for_each(|im| pixels.extend_from_slice(im));
        steps.done(i, &format!("{} images", i * CHUNK + chunk.len()));
    }
    steps.finish();
    Ok(Dataset { pixels, labels: listing.files.iter().map(|f| f.1).collect(), shape })
}

const MAGIC: &[u8; 8] = b"LNASIMG1";

/// Where the cache of `root` fitted to `shape` lives.
pub fn cache_path(root: &Path, shape: [usize; 3]) -> PathBuf {
    let abs = std::path::absolute(root).unwrap_or_else(|_| root.to_path_buf());
    let mut h = Fnv::new();
    h.add(abs.as_os_str().as_encoded_bytes());
    let stem = abs.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let [c, hh, w] = shape;
    crate::util::cache_root().join("data").join(format!("{stem}-{:016x}-{c}x{hh}x{w}.bin", h.0))
}

/// The split at `root` fitted to `shape`: from the cache when it matches the folder, else decoded
/// and cached. Returns the data and whether it was decoded.
pub fn load_split(listing: &Listing, root: &Path, shape: [usize; 3], what: &str) -> Result<(Dataset, bool), DataError> {
    let cache = cache_path(root, shape);
    if let Some(ds) = read_cache(&cache, listing, shape) {
        return Ok((ds, false));
    }
    let ds = decode_all(listing, shape, what)?;
    write_cache(&cache, listing, &ds)?;
    Ok((ds, true))
}

fn read_cache(path: &Path, listing: &Listing, shape: [usize; 3]) -> Option<Dataset> {
    let bytes = std::fs::read(path).ok()?;
    let n = listing.files.len();
    let header = 8 + 8 + 8 + 3 * 4;
    let px = n * shape.iter().product::<usize>();
    if bytes.len() != header + 2 * n + px || &bytes[..8] != MAGIC {
        return None;
    }
    let word = |i: usize| u64::from_le_bytes(bytes[8 + 8 * i..16 + 8 * i].try_into().expect("8 bytes"));
    let dims: Vec<usize> = (0..3)
        .map(|i| u32::from_le_bytes(bytes[24 + 4 * i..28 + 4 * i].try_into().expect("4 bytes")) as usize)
        .collect();
    if word(0) != listing.fingerprint || word(1) != n as u64 || dims != shape {
        return None;
    }
    let labels = bytes[header..header + 2 * n].chunks_exact(2).map(|b| u16::from_le_bytes([b[0], b[1]])).collect();
    Some(Dataset { pixels: bytes[header + 2 * n..].to_vec(), labels, shape })
}

/// Written whole to a temporary file and renamed into place: a build killed part-way leaves no
/// cache, and the next run decodes again.
fn write_cache(path: &Path, listing: &Listing, ds: &Dataset) -> Result<(), DataError> {
    let mut out = Vec::with_capacity(36 + 2 * ds.len() + ds.pixels.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&listing.fingerprint.to_le_bytes());
    out.extend_from_slice(&(ds.len() as u64).to_le_bytes());
    ds.shape.iter().for_each(|&d| out.extend_from_slice(&(d as u32).to_le_bytes()));
    ds.labels.iter().for_each(|l| out.extend_from_slice(&l.to_le_bytes()));
    out.extend_from_slice(&ds.pixels);
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).and_then(|()| crate::util::write_atomic(path, &out)).map_err(|e| {
        DataError::new(path, format!("cannot write the image cache: {e}"), "set LIGHTNASC_CACHE to a writable folder")
    })
}

/// Per-channel mean and standard deviation of `ds`'s pixels, scaled to [0, 1].
pub fn channel_stats(ds: &Dataset) -> (Vec<f32>, Vec<f32>) {
    let [c, h, w] = ds.shape;
    let plane = h * w;
    let mut sums = vec![(0f64, 0f64); c];
    for img in ds.pixels.chunks_exact(c * plane) {
        for (ch, s) in sums.iter_mut().enumerate() {
            for &v in &img[ch * plane..(ch + 1) * plane] {
                let v = f64::from(v) / 255.0;
                s.0 += v;
                s.1 += v * v;
            }
        }
    }
    let count = (ds.len() * plane).max(1) as f64;
    let mean: Vec<f64> = sums.iter().map(|s| s.0 / count).collect();
    let std = sums.iter().zip(&mean).map(|(s, m)| ((s.1 / count - m * m).max(0.0).sqrt().max(1e-3)) as f32).collect();
    (mean.into_iter().map(|m| m as f32).collect(), std)
}

/// What loading a folder dataset did, for the command to say.
#[derive(Debug, Default)]
pub struct Loaded {
    pub decoded: usize,
    pub skipped: Vec<PathBuf>,
}

impl Loaded {
    /// A line on stderr for what was decoded and what was left out, when the cache is built
    /// (a run's creation decodes, then its first load reads the cache: said once).
    pub fn report(&self) {
        if self.decoded == 0 {
            return;
        }
        eprintln!("decoded {} images once; later runs read them from the cache", self.decoded);
        if let Some(first) = self.skipped.first() {
            eprintln!(
                "note: skipped {} file{} without an image extension (.png .jpg .jpeg .bmp .gif .webp), e.g. {}",
                self.skipped.len(),
                if self.skipped.len() == 1 { "" } else { "s" },
                first.display()
            );
        }
    }
}

/// The splits of a resolved folder dataset (`input` and `classes` known).
pub fn load(fd: &FolderData) -> Result<(Splits, Loaded), DataError> {
    let shape = fd.input.ok_or_else(|| {
        DataError::new(&fd.folder, "no input shape for the images", "set `input: [C, H, W]` under `data:`")
    })?;
    let listing = list(&fd.folder, None)?;
    if !fd.classes.is_empty() && listing.classes != fd.classes {
        return Err(DataError::new(
            &fd.folder,
            format!(
                "the class folders are now {}, the run was made with {}",
                listing.classes.join(", "),
                fd.classes.join(", ")
            ),
            "put the folder back as it was, or start a new run",
        ));
    }
    let mut loaded = Loaded::default();
    let (train, decoded) = load_split(&listing, &fd.folder, shape, "training images")?;
    loaded.decoded += if decoded { train.len() } else { 0 };
    loaded.skipped = listing.skipped;
    let test = match fd.test_folder() {
        Some(dir) => {
            let tl = list(&dir, Some(&listing.classes))?;
            let (test, decoded) = load_split(&tl, &dir, shape, "test images")?;
            loaded.decoded += if decoded { test.len() } else { 0 };
            loaded.skipped.extend(tl.skipped);
            test
        }
        None => Dataset { pixels: vec![], labels: vec![], shape },
    };
    Ok((Splits { train, test }, loaded))
}

/// Fill in what `fd` leaves open: its classes, the input (`space_input`, the space's default),
/// and the normalisation measured on the training images. Builds the cache.
pub fn resolve(fd: &mut FolderData, space_input: Option<[usize; 3]>) -> Result<Loaded, DataError> {
    let listing = list(&fd.folder, None)?;
    fd.classes = listing.classes;
    fd.input = fd.input.or(space_input);
    let (splits, loaded) = load(fd)?;
    if fd.mean.is_none() || fd.std.is_none() {
        let (mean, std) = channel_stats(&splits.train);
        fd.mean.get_or_insert(mean);
        fd.std.get_or_insert(std);
    }
    Ok(loaded)
}
