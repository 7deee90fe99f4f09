//! Where each named dataset is published, and the checksums that say a copy is the real one.
//!
//! Two kinds of checksum: the publisher's MD5 of each file it serves (archives, or Fashion-MNIST's
//! four gzip files), checked on download; and a checksum of each file a tool unpacks, checked on
//! a copy found on disk: MXNet gluon's SHA-1 of the binary CIFAR files and of Fashion-MNIST's gzip
//! files (its datasets.py), torchvision's MD5 of the Python pickles (its cifar.py).

use super::Kind;

/// A file the publisher serves, with the MD5 it lists.
#[derive(Clone, Copy, Debug)]
pub struct Published {
    pub file: &'static str,
    pub md5: &'static str,
}

/// A dataset file on disk with its known checksum (`sha1` or `md5`, as `hash` says).
#[derive(Clone, Copy, Debug)]
pub struct Known {
    pub file: &'static str,
    pub digest: &'static str,
}

/// A torchvision layout: the folder its archive unpacks to, its pickles, and which list in
/// them holds the labels.
#[derive(Clone, Copy, Debug)]
pub struct Torchvision {
    pub folder: &'static str,
    pub train: &'static [Known],
    pub test: &'static [Known],
    pub label_key: &'static str,
}

#[derive(Clone, Copy, Debug)]
pub struct Source {
    /// The publisher's folder (`LIGHTNASC_DATA_MIRROR` replaces it, keeping the file names).
    pub base_url: &'static str,
    pub downloads: &'static [Published],
    /// The folder the dataset's files are in: inside the archive for CIFAR, and the name of
    /// the cache's folder for every dataset.
    pub folder: &'static str,
    /// The files the loader reads, with gluon's SHA-1 (the same bytes as the publisher's).
    pub files: &'static [Known],
    /// gluon's folder under `$MXNET_HOME/datasets` (default `~/.mxnet`), where it keeps the
    /// same files.
    pub gluon: &'static str,
    pub torchvision: Option<Torchvision>,
}

/// https://www.cs.toronto.edu/~kriz/cifar.html lists the archives with their MD5 (also in
/// torchvision's cifar.py); the SHA-1 of the unpacked files are gluon's (mxnet 1.9.1,
/// gluon/data/vision/datasets.py, class CIFAR10).
const CIFAR10: Source = Source {
    base_url: "https://www.cs.toronto.edu/~kriz/",
    downloads: &[Published { file: "cifar-10-binary.tar.gz", md5: "c32a1d4ab5d03f1284b67883e8d87530" }],
    folder: "cifar-10-batches-bin",
    files: &[
        Known { file: "data_batch_1.bin", digest: "aadd24acce27caa71bf4b10992e9e7b2d74c2540" },
        Known { file: "data_batch_2.bin", digest: "c0ba65cce70568cd57b4e03e9ac8d2a5367c1795" },
        Known { file: "data_batch_3.bin", digest: "1dd00a74ab1d17a6e7d73e185b69dbf31242f295" },
        Known { file: "data_batch_4.bin", digest: "aab85764eb3584312d3c7f65fd2fd016e36a258e" },
        Known { file: "data_batch_5.bin", digest: "26e2849e66a845b7f1e4614ae70f4889ae604628" },
        Known { file: "test_batch.bin", digest: "67eb016db431130d61cd03c7ad570b013799c88c" },
    ],
    gluon: "cifar10",
    // torchvision's cifar.py, class CIFAR10 (the MD5 of each pickle).
    torchvision: Some(Torchvision {
        folder: "cifar-10-batches-py",
        train: &[
            Known { file: "data_batch_1", digest: "c99cafc152244af753f735de768cd75f" },
            Known { file: "data_batch_2", digest: "d4bba439e000b95fd0a9bffe97cbabec" },
            Known { file: "data_batch_3", digest: "54ebc095f3ab1f0389bbae665268c751" },
            Known { file: "data_batch_4", digest: "634d18415352ddfa80567beed471001a" },
            Known { file: "data_batch_5", digest: "482c414d41f54cd18b22e5b47cb7c3cb" },
        ],
        test: &[Known { file: "test_batch", digest: "40351d587109b95175f43aff81a1287e" }],
        label_key: "labels",
    }),
};

/// As [`CIFAR10`]: the archive's MD5 from the CIFAR page, the files' SHA-1 from gluon's class
/// CIFAR100, the pickles' MD5 from torchvision's class CIFAR100 (fine labels: 100 classes).
const CIFAR100: Source = Source {
    base_url: "https://www.cs.toronto.edu/~kriz/",
    downloads: &[Published { file: "cifar-100-binary.tar.gz", md5: "03b5dce01913d631647c71ecec9e9cb8" }],
    folder: "cifar-100-binary",
    files: &[
        Known { file: "train.bin", digest: "e207cd2e05b73b1393c74c7f5e7bea451d63e08e" },
        Known { file: "test.bin", digest: "8fb6623e830365ff53cf14adec797474f5478006" },
    ],
    gluon: "cifar100",
    torchvision: Some(Torchvision {
        folder: "cifar-100-python",
        train: &[Known { file: "train", digest: "16019d7e3df5f24257cddd939b257f8d" }],
        test: &[Known { file: "test", digest: "f0ef6b0ae62326f3e7ffdfab6717acfc" }],
        label_key: "fine_labels",
    }),
};

/// Zalando's README (github.com/zalandoresearch/fashion-mnist) lists the four files with their
/// MD5 and the address torchvision also uses; the SHA-1 are gluon's (class FashionMNIST).
const FASHION_MNIST: Source = Source {
    base_url: "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    downloads: &[
        Published { file: "train-images-idx3-ubyte.gz", md5: "8d4fb7e6c68d591d4c3dfef9ec88bf0d" },
        Published { file: "train-labels-idx1-ubyte.gz", md5: "25c81989df183df01b3e8a0aad5dffbe" },
        Published { file: "t10k-images-idx3-ubyte.gz", md5: "bef4ecab320f06d8554ea6380940ec79" },
        Published { file: "t10k-labels-idx1-ubyte.gz", md5: "bb300cfdad3c16e7a12a480ee83cd310" },
    ],
    folder: "fashion-mnist",
    files: &[
        Known { file: "train-images-idx3-ubyte.gz", digest: "0cf37b0d40ed5169c6b3aba31069a9770ac9043d" },
        Known { file: "train-labels-idx1-ubyte.gz", digest: "236021d52f1e40852b06a4c3008d8de8aef1e40b" },
        Known { file: "t10k-images-idx3-ubyte.gz", digest: "626ed6a7c06dd17c0eec72fa3be1740f146a2863" },
        Known { file: "t10k-labels-idx1-ubyte.gz", digest: "17f9ab60e7257a1620f4ad76bbbaf857c3920701" },
    ],
    gluon: "fashion-mnist",
    torchvision: None,
};

impl Kind {
    pub fn source(self) -> &'static Source {
        match self {
            Kind::Cifar10 => &CIFAR10,
            Kind::Cifar100 => &CIFAR100,
            Kind::FashionMnist => &FASHION_MNIST,
        }
    }
}

impl Source {
    /// Whether the downloads are one archive to unpack (CIFAR) or the files themselves.
    pub fn is_archive(&self) -> bool {
        self.downloads.len() == 1 && self.downloads[0].file.ends_with(".tar.gz")
    }

    /// The MD5 a download must have: the publisher's, unless `LIGHTNASC_TEST_DATA_MD5` names
    /// the file (`FILE=MD5,...`: the tests serve small archives of the same layout).
    pub fn expected_md5(&self, p: &Published) -> String {
        let over = std::env::var("LIGHTNASC_TEST_DATA_MD5").unwrap_or_default();
        over.split(',')
            .filter_map(|kv| kv.split_once('='))
            .find(|(f, _)| *f == p.file)
            .map(|(_, m)| m.to_string())
            .unwrap_or_else(|| p.md5.to_string())
    }
}

/// Hex digest of a file, streamed (datasets are too large to read whole twice).
pub fn file_digest<D: sha1::Digest>(path: &std::path::Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let mut d = D::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        d.update(&buf[..n]);
    }
    Ok(d.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

pub fn md5_of(path: &std::path::Path) -> std::io::Result<String> {
    file_digest::<md5::Md5>(path)
}

pub fn sha1_of(path: &std::path::Path) -> std::io::Result<String> {
    file_digest::<sha1::Sha1>(path)
}
