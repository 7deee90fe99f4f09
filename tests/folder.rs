//! `--data folder:PATH`: users' own images, one sub-folder per class. Checked against the IDX
//! loader on the same Fashion-MNIST images (PNG decoding is exact for 8-bit images), and on every
//! kind of bad folder.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use lightnasc::data::{Dataset, folder, idx};

const FM: &str = "/usr/share/datasets/fashion-mnist";

/// `lightnasc` with its caches in `cache` (never the user's), from the repository root.
fn lightnasc(cache: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lightnasc"))
        .args(args)
        .current_dir(common::root())
        .env("LIGHTNASC_CACHE", cache)
        .output()
        .unwrap()
}

fn refused(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stdout));
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!err.contains("panicked") && !err.contains("internal error"), "{err}");
    err
}

/// The first `n` images of `ds`, reordered class by class (stably): the order a folder lists them.
fn class_major(ds: &Dataset, n: usize) -> Dataset {
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&i| ds.labels[i]);
    ds.select(&order)
}

/// `dir/{label}-{name}/{index}.png`, as 8-bit grey PNGs.
fn write_pngs(ds: &Dataset, dir: &Path) {
    let names = lightnasc::data::Kind::FashionMnist.class_names();
    for i in 0..ds.len() {
        let l = ds.labels[i] as usize;
        let class = dir.join(format!("{l}-{}", names[l].replace('/', "_")));
        std::fs::create_dir_all(&class).unwrap();
        image::GrayImage::from_raw(28, 28, ds.image(i).to_vec())
            .unwrap()
            .save(class.join(format!("{i:05}.png")))
            .unwrap();
    }
}

/// IDX files of `ds` (uncompressed) under `dir/{prefix}-...`.
fn write_idx(ds: &Dataset, dir: &Path, prefix: &str) {
    let n = (ds.len() as u32).to_be_bytes();
    let mut images = vec![0, 0, 8, 3];
    images.extend(n);
    images.extend(28u32.to_be_bytes());
    images.extend(28u32.to_be_bytes());
    images.extend(&ds.pixels);
    std::fs::write(dir.join(format!("{prefix}-images-idx3-ubyte")), images).unwrap();
    let mut labels = vec![0, 0, 8, 1];
    labels.extend(n);
    labels.extend(ds.labels.iter().map(|&l| l as u8));
    std::fs::write(dir.join(format!("{prefix}-labels-idx1-ubyte")), labels).unwrap();
}

fn history(run: &Path) -> Vec<serde_json::Value> {
    common::history_without_times(&common::checkpoint_state(run))
}

/// A folder of PNGs searches exactly as the IDX files of the same images in the same order: the
/// same history, argmax and accuracies, bit for bit. The cache then serves a second run, and
/// `infer --images` names each image's class.
#[test]
fn a_folder_of_pngs_searches_as_the_idx_files_of_the_same_images() {
    if !common::full_tier("Debian's Fashion-MNIST") {
        return;
    }
    let fm = idx::load_fashion_mnist(Path::new(FM)).expect("Debian's dataset-fashion-mnist");
    let (train, test) = (class_major(&fm.train, 400), class_major(&fm.test, 100));
    let tmp = tempfile::tempdir().unwrap();
    let (pngs, idxs, cache, runs) =
        (tmp.path().join("pngs"), tmp.path().join("idx"), tmp.path().join("cache"), tmp.path().join("runs"));
    write_pngs(&train, &pngs);
    write_pngs(&test, &pngs.join("test"));
    std::fs::write(pngs.join("0-T-shirt_top/notes.txt"), "not an image").unwrap();
    std::fs::create_dir_all(&idxs).unwrap();
    write_idx(&train, &idxs, "train");
    write_idx(&test, &idxs, "t10k");

    // The decode itself is exact.
    let listing = folder::list(&pngs, None).unwrap();
    assert_eq!(listing.classes[3], "3-Dress");
    assert_eq!(listing.skipped, vec![pngs.join("0-T-shirt_top/notes.txt")]);
    let decoded = folder::decode_all(&listing, [1, 28, 28], "test").unwrap();
    assert_eq!((decoded.pixels == train.pixels, &decoded.labels), (true, &train.labels));

    // Fashion-MNIST's normalisation and no flips, as the IDX run has them.
    let common = format!(
        "spec: {}/specs/demo.lnas\nepochs: 1\nbatch_size: 32\nval_fraction: 0.1\nseed: 5\n",
        common::root().display()
    );
    let cfg = tmp.path().join("folder.yml");
    let folder_data = format!("data: {{folder: {}, mean: [0.2860], std: [0.3530], flips: false}}\n", pngs.display());
    std::fs::write(&cfg, format!("{common}{folder_data}")).unwrap();
    let idx_cfg = tmp.path().join("idx.yml");
    std::fs::write(&idx_cfg, format!("{common}data: fashion-mnist\n")).unwrap();
    let r = |s: &str| runs.join(s).to_str().unwrap().to_string();
    let search = |cfg: &Path, name: &str, extra: &[&str]| {
        let mut args =
            vec!["search", "-c", cfg.to_str().unwrap(), "--runs-dir", runs.to_str().unwrap(), "--name", name];
        args.extend_from_slice(extra);
        let out = lightnasc(&cache, &args);
        (common::ok(&out), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (idx_out, _) = search(&idx_cfg, "idx", &["--data-dir", idxs.to_str().unwrap()]);
    let (folder_out, err) = search(&cfg, "folder", &[]);
    assert!(err.contains("decoded 500 images once"), "{err}");
    assert!(err.contains("skipped 1 file without an image extension") && err.contains("notes.txt"), "{err}");
    assert_eq!(err.matches("skipped 1 file").count(), 1, "said once: {err}");
    assert!(err.contains("on folder:") && err.contains("(360 train / 40 val / 100 test images)"), "{err}");
    assert_eq!(history(&runs.join("folder")), history(&runs.join("idx")));
    let figures = |s: &str| {
        s.lines().filter(|l| l.contains("accuracy") || l.contains("argmax")).map(String::from).collect::<Vec<_>>()
    };
    assert_eq!(figures(&folder_out), figures(&idx_out));
    assert!(figures(&idx_out).iter().any(|l| l.starts_with("test accuracy")), "{idx_out}");

    // The run records the classes and the input; a second run reads the cache, decoding nothing.
    let recorded = std::fs::read_to_string(runs.join("folder/config.yml")).unwrap();
    assert!(recorded.contains("- 3-Dress") && recorded.contains("input:"), "{recorded}");
    let (_, err) = search(&cfg, "folder2", &["--epochs", "1", "--train-limit", "64"]);
    assert!(!err.contains("decoded"), "{err}");

    // `infer --images`: the test folder, walked in the order of the run's test split, gives the
    // predictions of `infer` on that split, with class names and probabilities.
    let json = |args: &[&str]| -> serde_json::Value {
        serde_json::from_slice(
            &lightnasc(&cache, &[&["infer", &r("folder"), "--format", "json"], args].concat()).stdout,
        )
        .unwrap()
    };
    let split = json(&[]);
    let named = json(&["--images", pngs.join("test").to_str().unwrap()]);
    assert_eq!(named["predictions"], split["predictions"]);
    assert_eq!(named["files"].as_array().unwrap().len(), 100);
    let one = pngs.join("test/3-Dress").read_dir().unwrap().next().unwrap().unwrap().path();
    let out = lightnasc(&cache, &["infer", &r("folder"), "--images", one.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    let line: Vec<&str> = text.lines().next().unwrap().split('\t').collect();
    assert_eq!(line[0], one.to_str().unwrap());
    assert!(listing.classes.contains(&line[1].to_string()), "{text}");
    let p: f64 = line[2].parse().unwrap();
    assert!((0.1..=1.0).contains(&p), "{text}");
}

fn png(path: &Path, w: u32, h: u32, v: u8) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    image::GrayImage::from_pixel(w, h, image::Luma([v])).save(path).unwrap();
}

/// Each kind of bad folder gets an error naming the file or folder and what to do.
#[test]
fn bad_image_folders_are_refused_with_the_file_named() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let msg = |r: Result<Dataset, lightnasc::data::DataError>| r.expect_err("an error").to_string();
    let load = |root: &Path, shape| folder::list(root, None).and_then(|l| folder::decode_all(&l, shape, "test"));

    // Not a folder; one class.
    assert!(msg(load(&d.join("nowhere"), [1, 8, 8])).contains("not a folder"));
    png(&d.join("one/cat/a.png"), 8, 8, 1);
    let e = msg(load(&d.join("one"), [1, 8, 8]));
    assert!(e.contains("1 class folder (cat)") && e.contains("at least two"), "{e}");
    // An empty class folder (a non-image file does not count).
    png(&d.join("empty/cat/a.png"), 8, 8, 1);
    std::fs::create_dir_all(d.join("empty/dog")).unwrap();
    std::fs::write(d.join("empty/dog/labels.csv"), "x").unwrap();
    let e = msg(load(&d.join("empty"), [1, 8, 8]));
    assert!(e.contains("empty/dog") && e.contains("empty class folder"), "{e}");
    // A truncated PNG: named, with what to do.
    png(&d.join("trunc/cat/a.png"), 8, 8, 1);
    png(&d.join("trunc/dog/b.png"), 64, 64, 9);
    let bytes = std::fs::read(d.join("trunc/dog/b.png")).unwrap();
    std::fs::write(d.join("trunc/dog/b.png"), &bytes[..bytes.len() / 2]).unwrap();
    let e = msg(load(&d.join("trunc"), [1, 8, 8]));
    assert!(e.contains("trunc/dog/b.png") && e.contains("cannot decode") && e.contains("truncated"), "{e}");
    // Colour into a one-channel space: refused; grey into three channels: copied to each.
    png(&d.join("mixed/cat/a.png"), 8, 8, 200);
    std::fs::create_dir_all(d.join("mixed/dog")).unwrap();
    image::RgbImage::from_pixel(8, 8, image::Rgb([10, 20, 30])).save(d.join("mixed/dog/b.png")).unwrap();
    let e = msg(load(&d.join("mixed"), [1, 8, 8]));
    assert!(e.contains("mixed/dog/b.png") && e.contains("colour image") && e.contains("[3, H, W]"), "{e}");
    let ds = load(&d.join("mixed"), [3, 4, 4]).unwrap();
    assert_eq!(ds.image(0), &[200u8; 48][..]);
    assert_eq!(ds.image(1), &[[10u8; 16], [20; 16], [30; 16]].concat()[..]);
    // A test split with a class the training folder lacks.
    png(&d.join("mixed/test/bird/c.png"), 8, 8, 3);
    let classes = folder::list(&d.join("mixed"), None).unwrap().classes;
    let e = folder::list(&d.join("mixed/test"), Some(&classes)).unwrap_err().to_string();
    assert!(e.contains("test/bird") && e.contains("cat, dog"), "{e}");

    // From the command line: exit 1, the file named, no run folder left behind; a typo in the
    // config's `data` mapping is named.
    let runs = d.join("runs");
    let out = lightnasc(
        &d.join("cache"),
        &[
            "search",
            "specs/demo.lnas",
            "--data",
            &format!("folder:{}", d.join("trunc").display()),
            "--runs-dir",
            runs.to_str().unwrap(),
        ],
    );
    assert!(refused(&out).contains("trunc/dog/b.png"));
    assert_eq!(std::fs::read_dir(&runs).map(|r| r.count()).unwrap_or(0), 0);
    let cfg = d.join("typo.yml");
    std::fs::write(&cfg, format!("data: {{folder: {}, flip: false}}\n", d.join("mixed").display())).unwrap();
    let e = refused(&lightnasc(
        &d.join("cache"),
        &["search", "specs/demo.lnas", "-c", cfg.to_str().unwrap(), "--runs-dir", runs.to_str().unwrap()],
    ));
    assert!(e.contains("unknown key `flip`"), "{e}");
}

/// A cache build killed part-way leaves no cache: the next run decodes again. (The build is held
/// at a named pipe among the images, so the kill always lands mid-build.)
#[test]
fn a_killed_cache_build_leaves_nothing_behind() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, cache, runs) = (tmp.path().join("data"), tmp.path().join("cache"), tmp.path().join("runs"));
    for i in 0..1100 {
        png(&data.join(format!("c{}/{i:04}.png", i % 2)), 28, 28, (i % 251) as u8);
    }
    let fifo = data.join("c1/zzzz.png");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let args = [
        "search",
        "specs/demo.lnas",
        "--data",
        &format!("folder:{}", data.display()),
        "--epochs",
        "1",
        "--runs-dir",
        runs.to_str().unwrap(),
    ];
    let mut child = Command::new(env!("CARGO_BIN_EXE_lightnasc"))
        .args(args)
        .current_dir(common::root())
        .env("LIGHTNASC_CACHE", &cache)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The first chunk of 1,024 images reports; the second waits on the pipe.
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while !line.contains("decoding training images: 1/2") {
        line.clear();
        assert!(std::io::BufRead::read_line(&mut stderr, &mut line).unwrap() > 0, "no progress line");
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let cached: Vec<PathBuf> = walk(&cache);
    assert!(cached.iter().all(|p| !p.to_string_lossy().ends_with(".bin")), "{cached:?}");
    std::fs::remove_file(&fifo).unwrap();
    let out = lightnasc(&cache, &[&args[..], &["--stop-after-steps", "1"]].concat());
    common::ok(&out);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("decoded 1100 images once"), "{err}");
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![];
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.path().is_dir() { out.extend(walk(&e.path())) } else { out.push(e.path()) }
    }
    out
}

/// Fitting: the shorter side is resized to the input's and the centre cropped, so a wide image
/// keeps its middle; JPEGs decode (within JPEG's loss) like the PNG of the same pixels.
#[test]
fn images_are_resized_by_the_shorter_side_and_centre_cropped() {
    let tmp = tempfile::tempdir().unwrap();
    // 64x32: black outer quarters, white middle half.
    let wide = image::GrayImage::from_fn(64, 32, |x, _| image::Luma([if (16..48).contains(&x) { 255 } else { 0 }]));
    let (png, jpg) = (tmp.path().join("wide.png"), tmp.path().join("wide.jpg"));
    wide.save(&png).unwrap();
    image::DynamicImage::ImageLuma8(wide).to_rgb8().save(&jpg).unwrap();
    let fitted = folder::decode(&png, [1, 16, 16]).unwrap();
    assert_eq!(fitted.len(), 256);
    // 32 -> 16 rows, 64 -> 32 columns, the middle 16 columns kept: the white half. Bilinear
    // at scale 1/2 weighs source pixels 15..=18 by 1/8, 3/8, 3/8, 1/8 for the first column (15
    // black): 255 * 7/8 = 223 at both edges.
    let row: Vec<u8> = (0..16).map(|x| if x == 0 || x == 15 { 223 } else { 255 }).collect();
    assert_eq!(fitted, row.repeat(16));
    let from_jpeg = folder::decode(&jpg, [3, 16, 16]).unwrap();
    assert_eq!(from_jpeg.len(), 3 * 256);
    let close = from_jpeg.iter().zip(row.repeat(48)).all(|(&a, b)| a.abs_diff(b) <= 12);
    assert!(close, "{from_jpeg:?}");
    // Already the input's size: copied exactly.
    let exact = image::GrayImage::from_fn(16, 16, |x, y| image::Luma([(x * 16 + y) as u8]));
    exact.save(&png).unwrap();
    assert_eq!(folder::decode(&png, [1, 16, 16]).unwrap(), exact.into_raw());
}
