//! `bench decode`: how fast a folder of images becomes the cache a search reads (`data::folder`),
//! on folders the bench writes itself: 28x28 grey PNGs (Fashion-MNIST's images where Debian's
//! package is installed) and 224x224 colour JPEGs (the same images enlarged and tinted) fitted to
//! 32x32. The baseline is the same decode on one thread; reading the cache back is timed too.

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::data::{Dataset, folder};
use crate::error::Error;
use crate::util::SplitMix64;
use crate::util::{AtPath as _, FileError};

/// One row: a folder decoded into the cache, then read back.
#[derive(Clone, Debug, serde::Serialize)]
pub struct DecodeRow {
    pub what: String,
    pub images: usize,
    pub threads: usize,
    /// Listing, decoding and writing the cache, all threads.
    pub build_images_per_s: f64,
    /// The same on one thread: the baseline.
    pub one_thread_images_per_s: f64,
    /// Listing the folder, checking the cache and reading it.
    pub cache_read_s: f64,
    pub cache_read_s_per_60k: f64,
}

/// Source images: Fashion-MNIST's training images where installed, else random pixels.
fn sources(n: usize) -> Dataset {
    let dir = crate::data::Kind::FashionMnist.default_dir();
    match crate::data::idx::load_fashion_mnist(&dir) {
        Ok(s) => s.train.select(&(0..n.min(s.train.len())).collect::<Vec<_>>()),
        Err(_) => crate::data::mock(crate::data::Kind::FashionMnist, (n, 0), 1).train,
    }
}

/// Write `n` images as `dir/{label}-{class name}/{index}.ext` (`3-Dress/000042.png`) unless a
/// previous run left them there: also a small example folder for `--data folder:`.
fn write_folder(dir: &Path, n: usize, jpeg: bool) -> Result<(), Error> {
    let ext = if jpeg { "jpg" } else { "png" };
    // A hidden marker (folder listings skip hidden entries).
    let done = dir.join(format!(".done-{n}"));
    if done.exists() {
        return Ok(());
    }
    let src = sources(n);
    let names = crate::data::Kind::FashionMnist.class_names();
    let mut rng = SplitMix64(7);
    for i in 0..n {
        let img = image::GrayImage::from_raw(28, 28, src.image(i % src.len()).to_vec()).expect("28x28");
        let l = src.labels[i % src.len()] as usize;
        let class = dir.join(format!("{l}-{}", names[l].replace('/', "_")));
        std::fs::create_dir_all(&class).at(&class)?;
        let path = class.join(format!("{i:06}.{ext}"));
        let saved = if jpeg {
            let big = image::imageops::resize(&img, 224, 224, image::imageops::FilterType::Triangle);
            let tint = [rng.below(256) as u8, rng.below(256) as u8, rng.below(256) as u8];
            let rgb = image::RgbImage::from_fn(224, 224, |x, y| {
                let v = big.get_pixel(x, y).0[0] as u16;
                image::Rgb(tint.map(|t| ((v * 3 + t as u16) / 4) as u8))
            });
            rgb.save(&path)
        } else {
            img.save(&path)
        };
        saved.at(&path)?;
    }
    Ok(std::fs::write(&done, b"").at(&done)?)
}

/// Decode `dir` into a fresh cache on `threads` threads: images per second.
fn build(dir: &Path, shape: [usize; 3], threads: usize) -> Result<f64, Error> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| Error::Tool(format!("a thread pool: {e}")))?;
    let _ = std::fs::remove_file(folder::cache_path(dir, shape));
    let start = Instant::now();
    let (ds, decoded) = pool.install(|| {
        let listing = folder::list(dir, None)?;
        folder::load_split(&listing, dir, shape, "bench images")
    })?;
    if !decoded {
        return Err(FileError::new(dir, "the cache was not rebuilt").into());
    }
    Ok(ds.len() as f64 / start.elapsed().as_secs_f64())
}

pub fn run(out: &Path, png: usize, jpeg: usize) -> Result<Vec<DecodeRow>, Error> {
    let threads = rayon::current_num_threads();
    let cases: [(&str, PathBuf, usize, bool, [usize; 3]); 2] = [
        ("PNG 28x28 grey -> 1x28x28", out.join("png"), png, false, [1, 28, 28]),
        ("JPEG 224x224 colour -> 3x32x32", out.join("jpeg"), jpeg, true, [3, 32, 32]),
    ];
    let mut rows = vec![];
    for (what, dir, n, is_jpeg, shape) in cases {
        if n == 0 {
            continue;
        }
        eprintln!("writing {n} images to {} (once)", dir.display());
        write_folder(&dir, n, is_jpeg)?;
        let one = build(&dir, shape, 1)?;
        let all = build(&dir, shape, threads)?;
        let start = Instant::now();
        let listing = folder::list(&dir, None)?;
        let (ds, decoded) = folder::load_split(&listing, &dir, shape, "bench images")?;
        let read = start.elapsed().as_secs_f64();
        if decoded || ds.len() != n {
            return Err(FileError::new(&dir, "the second load did not read the cache").into());
        }
        let _ = std::fs::remove_file(folder::cache_path(&dir, shape));
        rows.push(DecodeRow {
            what: what.into(),
            images: n,
            threads,
            build_images_per_s: all,
            one_thread_images_per_s: one,
            cache_read_s: read,
            cache_read_s_per_60k: read * 60_000.0 / n as f64,
        });
    }
    Ok(rows)
}
