//! Datasets as plain bytes: CIFAR-10/100 (binary format), Fashion-MNIST (IDX, gzip or not), a
//! folder of images with one sub-folder per class ([`folder`]) and mock data shaped like a named
//! dataset. Loading checks every file against what its format
//! promises and names the file in each error. Batching, augmentation and prefetch live in
//! [`loader`]; nothing here knows about burn.

pub mod cifar;
pub mod fetch;
pub mod folder;
pub mod idx;
pub mod loader;
pub mod locate;
pub mod pickle;
pub mod sources;

use std::fmt;
use std::path::{Path, PathBuf};

use crate::util::SplitMix64;
pub use folder::FolderData;
pub use locate::DataSource;

/// Images as u8 pixels, `[n, c, h, w]` row-major, with one label each.
#[derive(Clone, Debug)]
pub struct Dataset {
    pub pixels: Vec<u8>,
    pub labels: Vec<u16>,
    pub shape: [usize; 3],
}

impl Dataset {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    pub fn image(&self, i: usize) -> &[u8] {
        let n = self.shape.iter().product::<usize>();
        &self.pixels[i * n..(i + 1) * n]
    }

    /// The subset at `indices`, in that order.
    pub fn select(&self, indices: &[usize]) -> Dataset {
        let mut pixels = Vec::with_capacity(indices.len() * self.shape.iter().product::<usize>());
        for &i in indices {
            pixels.extend_from_slice(self.image(i));
        }
        Dataset { pixels, labels: indices.iter().map(|&i| self.labels[i]).collect(), shape: self.shape }
    }
}

/// Which dataset, by the name users write (`--data`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    Cifar10,
    Cifar100,
    FashionMnist,
}

impl Kind {
    pub fn shape(self) -> [usize; 3] {
        match self {
            Kind::Cifar10 | Kind::Cifar100 => [3, 32, 32],
            Kind::FashionMnist => [1, 28, 28],
        }
    }

    pub fn classes(self) -> usize {
        match self {
            Kind::Cifar100 => 100,
            _ => 10,
        }
    }

    /// Per-channel mean and standard deviation of the training set, for normalisation.
    pub fn stats(self) -> (&'static [f32], &'static [f32]) {
        match self {
            Kind::Cifar10 => (&[0.4914, 0.4822, 0.4465], &[0.2470, 0.2435, 0.2616]),
            Kind::Cifar100 => (&[0.5071, 0.4865, 0.4409], &[0.2673, 0.2564, 0.2762]),
            Kind::FashionMnist => (&[0.2860], &[0.3530]),
        }
    }

    /// Random crops (4 pixels of padding) and flips: the standard CIFAR recipe. Fashion-MNIST
    /// takes crops only (its classes are not mirror-symmetric in general: shoes point one way).
    pub fn flips(self) -> bool {
        !matches!(self, Kind::FashionMnist)
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::Cifar10 => "cifar10",
            Kind::Cifar100 => "cifar100",
            Kind::FashionMnist => "fashion-mnist",
        }
    }

    /// The class names, in label order (CIFAR-100's by number).
    pub fn class_names(self) -> Vec<String> {
        let names: &[&str] = match self {
            Kind::FashionMnist => &[
                "T-shirt/top",
                "Trouser",
                "Pullover",
                "Dress",
                "Coat",
                "Sandal",
                "Shirt",
                "Sneaker",
                "Bag",
                "Ankle boot",
            ],
            Kind::Cifar10 => {
                &["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
            }
            Kind::Cifar100 => return (0..100).map(|i| i.to_string()).collect(),
        };
        names.iter().map(|n| n.to_string()).collect()
    }

    pub fn norm(self) -> Norm {
        let (mean, std) = self.stats();
        Norm { mean: mean.to_vec(), std: std.to_vec(), flips: self.flips() }
    }

    /// Where the data is looked for when no folder is given.
    pub fn default_dir(self) -> PathBuf {
        match self {
            // Debian's `dataset-fashion-mnist` package.
            Kind::FashionMnist => PathBuf::from("/usr/share/datasets/fashion-mnist"),
            Kind::Cifar10 => PathBuf::from("data/cifar-10-batches-bin"),
            Kind::Cifar100 => PathBuf::from("data/cifar-100-binary"),
        }
    }
}

/// How images become a network's input: per-channel normalisation of pixels scaled to [0, 1],
/// and whether training flips them (random crops every dataset gets).
#[derive(Clone, Debug, PartialEq)]
pub struct Norm {
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
    pub flips: bool,
}

/// What the rest of the program knows of a dataset: its images' shape, classes and normalisation.
#[derive(Clone, Debug)]
pub struct Meta {
    pub shape: [usize; 3],
    pub classes: Vec<String>,
    pub norm: Norm,
}

/// `--data`: a named dataset, `mock:NAME` for random data shaped like it, or `folder:PATH`.
#[derive(Clone, Debug, PartialEq)]
pub enum DataArg {
    Named { kind: Kind, mock: bool },
    Folder(FolderData),
}

impl DataArg {
    /// Shape, classes and normalisation; a folder's are known once [`folder::resolve`] has run
    /// (every run's config has them).
    pub fn meta(&self) -> Meta {
        match self {
            DataArg::Named { kind, .. } => Meta { shape: kind.shape(), classes: kind.class_names(), norm: kind.norm() },
            DataArg::Folder(f) => {
                let shape = f.input.unwrap_or([3, 32, 32]);
                let norm = Norm {
                    mean: f.mean.clone().unwrap_or_else(|| vec![0.5; shape[0]]),
                    std: f.std.clone().unwrap_or_else(|| vec![0.25; shape[0]]),
                    flips: f.flips,
                };
                Meta { shape, classes: f.classes.clone(), norm }
            }
        }
    }
}

impl std::str::FromStr for DataArg {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if let Some(path) = s.strip_prefix("folder:") {
            if path.is_empty() {
                return Err("`folder:` needs a path: folder:PATH (one sub-folder of images per class)".into());
            }
            return Ok(DataArg::Folder(FolderData::new(PathBuf::from(path))));
        }
        let (mock, name) = match s.strip_prefix("mock:") {
            Some(n) => (true, n),
            None if s == "mock" => (true, "cifar10"),
            None => (false, s),
        };
        let kind = match name {
            "cifar10" | "cifar-10" => Kind::Cifar10,
            "cifar100" | "cifar-100" => Kind::Cifar100,
            "fashion-mnist" | "fashion_mnist" | "fmnist" => Kind::FashionMnist,
            _ => {
                return Err(format!(
                    "`{s}` is not a dataset: use cifar10, cifar100, fashion-mnist, folder:PATH for your own images, or mock:NAME for random data shaped like one"
                ));
            }
        };
        Ok(DataArg::Named { kind, mock })
    }
}

impl fmt::Display for DataArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataArg::Named { kind, mock: true } => write!(f, "mock:{}", kind.name()),
            DataArg::Named { kind, mock: false } => f.write_str(kind.name()),
            DataArg::Folder(d) => write!(f, "folder:{}", d.folder.display()),
        }
    }
}

/// A named dataset is written as its name, a folder as a mapping (with what was resolved).
impl serde::Serialize for DataArg {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            DataArg::Folder(d) => d.serialize(s),
            _ => s.serialize_str(&self.to_string()),
        }
    }
}

impl<'de> serde::Deserialize<'de> for DataArg {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // A visitor rather than an untagged enum: a typo in a folder's keys is then reported
        // as what it is, not as "no variant matched".
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = DataArg;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a dataset name, or a mapping with `folder: PATH`")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<DataArg, E> {
                s.parse().map_err(E::custom)
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(self, m: M) -> Result<DataArg, M::Error> {
                serde::Deserialize::deserialize(serde::de::value::MapAccessDeserializer::new(m)).map(DataArg::Folder)
            }
        }
        d.deserialize_any(Visit)
    }
}

/// The training and test sets of a dataset.
#[derive(Clone, Debug)]
pub struct Splits {
    pub train: Dataset,
    pub test: Dataset,
}

/// A problem with the data: which file, and what was wrong.
#[derive(Debug)]
pub struct DataError {
    pub path: PathBuf,
    pub message: String,
    pub hint: String,
}

impl fmt::Display for DataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.message)?;
        if !self.hint.is_empty() {
            write!(f, "\n  help: {}", self.hint)?;
        }
        Ok(())
    }
}

impl std::error::Error for DataError {}

impl DataError {
    pub(crate) fn new(path: &Path, message: impl Into<String>, hint: impl Into<String>) -> Self {
        DataError { path: path.to_path_buf(), message: message.into(), hint: hint.into() }
    }

    pub(crate) fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = hint.into();
        self
    }
}

/// Sizes of mock data (train, test): enough for several batches, small enough to be instant.
pub const MOCK_SIZES: (usize, usize) = (1024, 256);

/// Load a dataset: a named one from `dir`, else the copy [`locate`](locate::locate) finds or
/// fetches (from `mirror` if given), which it returns for the record; mock data from `seed`. A
/// folder dataset must be resolved ([`folder::resolve`]); what was decoded or skipped is said
/// on stderr.
pub fn load(
    arg: &DataArg,
    dir: Option<&Path>,
    mirror: Option<&str>,
    seed: u64,
) -> Result<(Splits, Option<DataSource>), DataError> {
    let kind = match arg {
        DataArg::Named { kind, mock: true } => return Ok((mock(*kind, MOCK_SIZES, seed), None)),
        DataArg::Named { kind, .. } => *kind,
        DataArg::Folder(f) => {
            let (splits, loaded) = folder::load(f)?;
            loaded.report();
            return Ok((splits, None));
        }
    };
    let source = locate::locate(kind, dir, mirror)?;
    let dir = source.path.as_path();
    let splits = match (kind, kind.source().torchvision) {
        (_, Some(tv)) if source.pickles() => pickle::load(dir, &tv, kind.classes())?,
        (Kind::FashionMnist, _) => idx::load_fashion_mnist(dir)?,
        (Kind::Cifar10, _) => cifar::load(dir, false)?,
        (Kind::Cifar100, _) => cifar::load(dir, true)?,
    };
    Ok((splits, Some(source)))
}

/// Random pixels and labels shaped like `kind`, with its class count.
pub fn mock(kind: Kind, (train, test): (usize, usize), seed: u64) -> Splits {
    let mut rng = SplitMix64(seed ^ 0x6d6f_636b);
    let mut make = |n: usize| {
        let px = n * kind.shape().iter().product::<usize>();
        Dataset {
            pixels: (0..px).map(|_| rng.below(256) as u8).collect(),
            labels: (0..n).map(|_| rng.below(kind.classes() as u64) as u16).collect(),
            shape: kind.shape(),
        }
    };
    Splits { train: make(train), test: make(test) }
}

/// Split a training set into (train, validation) with `fraction` of it (stratification is not
/// needed at these sizes) drawn by `seed`; the test set stays untouched.
pub fn split_validation(train: &Dataset, fraction: f64, seed: u64) -> (Dataset, Dataset) {
    let mut order: Vec<usize> = (0..train.len()).collect();
    shuffle(&mut order, &mut SplitMix64(seed ^ 0x7661_6c69));
    let n_val = ((train.len() as f64) * fraction).round() as usize;
    let (val, rest) = order.split_at(n_val.min(train.len()));
    let mut rest = rest.to_vec();
    let mut val = val.to_vec();
    rest.sort_unstable();
    val.sort_unstable();
    (train.select(&rest), train.select(&val))
}

/// Fisher-Yates with our generator, so an order depends on the seed alone.
pub fn shuffle<T>(v: &mut [T], rng: &mut SplitMix64) {
    for i in (1..v.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        v.swap(i, j);
    }
}
