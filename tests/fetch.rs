//! Datasets that fetch themselves, against a real HTTP server on 127.0.0.1 (started here, speaking
//! HTTP/1.1 with Range requests) serving an archive with the layout and file names of CIFAR-10's
//! (`cifar-10-binary.tar.gz` holding `cifar-10-batches-bin/*.bin`), made of records written here;
//! its MD5 replaces the publisher's through `LIGHTNASC_TEST_DATA_MD5`. Every run has its own cache,
//! working directory and home, so nothing the machine has is found instead.

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const ARCHIVE: &str = "cifar-10-binary.tar.gz";

/// What the server does with a request for the archive.
#[derive(Clone, Copy, Default)]
struct Behaviour {
    /// Close the first response after this many bytes (its Content-Length says the whole file).
    cut_first_after: Option<usize>,
    /// Send 4 KiB every this long (time to kill a client mid-download).
    throttle: Option<Duration>,
}

/// Each request's path and Range header.
type Log = Mutex<Vec<(String, Option<String>)>>;

struct Server {
    port: u16,
    /// Each request's path and Range header.
    log: Arc<Log>,
}

impl Server {
    fn start(files: HashMap<String, Vec<u8>>, how: Behaviour) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let log = Arc::new(Mutex::new(vec![]));
        let (files, seen) = (Arc::new(files), log.clone());
        std::thread::spawn(move || {
            for (i, stream) in listener.incoming().enumerate() {
                let (files, seen) = (files.clone(), seen.clone());
                let cut = if i == 0 { how.cut_first_after } else { None };
                std::thread::spawn(move || {
                    let _ = serve(stream.unwrap(), &files, &seen, cut, how.throttle);
                });
            }
        });
        Server { port, log }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/mirror/", self.port)
    }

    fn requests(&self) -> Vec<(String, Option<String>)> {
        self.log.lock().unwrap().clone()
    }
}

fn serve(
    mut s: TcpStream,
    files: &HashMap<String, Vec<u8>>,
    log: &Log,
    cut: Option<usize>,
    throttle: Option<Duration>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(s.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
    let mut range = None;
    loop {
        let mut h = String::new();
        reader.read_line(&mut h)?;
        if h.trim().is_empty() {
            break;
        }
        if let Some(v) = h.strip_prefix("Range: ").or_else(|| h.strip_prefix("range: ")) {
            range = Some(v.trim().to_string());
        }
    }
    log.lock().unwrap().push((path.clone(), range.clone()));
    let Some(body) = path.strip_prefix("/mirror/").and_then(|f| files.get(f)) else {
        return s.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    };
    let from = range.as_deref().and_then(|r| r.strip_prefix("bytes=")?.strip_suffix('-')?.parse::<usize>().ok());
    let (status, part) = match from {
        Some(f) => ("206 Partial Content", &body[f.min(body.len())..]),
        None => ("200 OK", &body[..]),
    };
    write!(s, "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", part.len())?;
    let end = cut.unwrap_or(part.len()).min(part.len());
    for chunk in part[..end].chunks(4096) {
        s.write_all(chunk)?;
        if let Some(t) = throttle {
            std::thread::sleep(t);
        }
    }
    Ok(())
}

/// CIFAR-10's binary records: `n` images per batch file, label then 3,072 pixel bytes, made
/// from `seed`.
fn records(n: usize, seed: u64) -> Vec<u8> {
    let mut rng = lightnasc::util::SplitMix64(seed);
    let mut out = vec![];
    for _ in 0..n {
        out.push(rng.below(10) as u8);
        out.extend((0..3072).map(|_| rng.below(256) as u8));
    }
    out
}

/// The dataset's files by name, and the archive of them as the publisher lays it out.
fn dataset(per_batch: usize) -> (Vec<(String, Vec<u8>)>, Vec<u8>) {
    let mut files: Vec<(String, Vec<u8>)> =
        (1..=5).map(|i| (format!("data_batch_{i}.bin"), records(per_batch, i))).collect();
    files.push(("test_batch.bin".into(), records(per_batch, 9)));
    files.push(("batches.meta.txt".into(), b"airplane\nautomobile\n".to_vec()));
    let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(vec![], flate2::Compression::fast()));
    for (name, bytes) in &files {
        let mut h = tar::Header::new_gnu();
        h.set_size(bytes.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        tar.append_data(&mut h, format!("cifar-10-batches-bin/{name}"), &bytes[..]).unwrap();
    }
    (files, tar.into_inner().unwrap().finish().unwrap())
}

fn md5_hex(bytes: &[u8]) -> String {
    use md5::Digest;
    md5::Md5::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// A place to run lightnasc in: its own cache, working directory and home.
struct Place {
    _dir: tempfile::TempDir,
    cache: PathBuf,
    cwd: PathBuf,
}

impl Place {
    fn new() -> Place {
        let dir = tempfile::tempdir().unwrap();
        let (cache, cwd) = (dir.path().join("cache"), dir.path().join("work"));
        std::fs::create_dir_all(&cwd).unwrap();
        Place { _dir: dir, cache, cwd }
    }

    fn command(&self, server: &str, md5: &str, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_lightnasc"));
        c.args(args)
            .current_dir(&self.cwd)
            .env("LIGHTNASC_CACHE", &self.cache)
            .env("HOME", &self.cwd)
            .env_remove("MXNET_HOME")
            .env("LIGHTNASC_DATA_MIRROR", server)
            .env("LIGHTNASC_TEST_DATA_MD5", format!("{ARCHIVE}={md5}"));
        c
    }

    fn run(&self, server: &str, md5: &str, args: &[&str]) -> Output {
        self.command(server, md5, args).output().unwrap()
    }

    fn dataset_dir(&self) -> PathBuf {
        self.cache.join("data/cifar-10-batches-bin")
    }

    /// The cache holds a whole, recorded copy, or none at all.
    fn whole_or_nothing(&self, files: &[(String, Vec<u8>)]) {
        let dir = self.dataset_dir();
        if !dir.exists() {
            return;
        }
        assert!(dir.join("lightnasc-source.json").is_file(), "{} without its manifest", dir.display());
        for (name, bytes) in files {
            assert_eq!(&std::fs::read(dir.join(name)).unwrap(), bytes, "{name}");
        }
    }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn refused(out: &Output) -> String {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    err
}

#[test]
fn first_use_fetches_checks_and_unpacks_then_a_search_runs_and_the_next_use_downloads_nothing() {
    let (files, archive) = dataset(40);
    let md5 = md5_hex(&archive);
    let server = Server::start(HashMap::from([(ARCHIVE.to_string(), archive)]), Behaviour::default());
    let place = Place::new();
    let spec = common::root().join("specs/demo.lnas");
    let search = |name: &str| {
        let args = [
            "search",
            spec.to_str().unwrap(),
            "--data",
            "cifar10",
            "--epochs",
            "1",
            "--batch-size",
            "32",
            "--name",
            name,
        ];
        place.run(&server.url(), &md5, &args)
    };
    let out = search("first");
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains(&format!("data: cifar10 from {}", place.dataset_dir().display())), "{err}");
    assert!(err.contains(&format!("lightnasc's cache, fetched from {}{ARCHIVE}", server.url())), "{err}");
    place.whole_or_nothing(&files);
    assert!(place.dataset_dir().exists());
    assert!(!place.cache.join("data/downloads").join(ARCHIVE).exists(), "the archive is deleted once unpacked");
    // The run records the copy it read, with its checksums.
    let cfg = std::fs::read_to_string(place.cwd.join("runs/first/config.yml")).unwrap();
    assert!(cfg.contains("data_source:") && cfg.contains("sha1:"), "{cfg}");
    assert_eq!(server.requests().len(), 1);

    let out = search("second");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(server.requests().len(), 1, "the second use downloads nothing");
    let out = place.run(&server.url(), &md5, &["data", "verify"]);
    let listed = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success() && listed.matches("ok, as fetched").count() == 6, "{listed}");
    // A file changed in the cache is found out.
    std::fs::write(place.dataset_dir().join("test_batch.bin"), b"x").unwrap();
    let out = place.run(&server.url(), &md5, &["data", "verify", "cifar10"]);
    assert!(refused(&out).contains("1 file(s) differ"));
}

#[test]
fn a_cut_connection_resumes_with_a_range_request_and_gives_the_same_bytes() {
    let (files, archive) = dataset(40);
    let (md5, half) = (md5_hex(&archive), archive.len() / 2);
    let how = Behaviour { cut_first_after: Some(half), ..Default::default() };
    let server = Server::start(HashMap::from([(ARCHIVE.to_string(), archive)]), how);
    let place = Place::new();
    let out = place.run(&server.url(), &md5, &["data", "fetch", "cifar10"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let requests = server.requests();
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert_eq!(requests[1].1.as_deref(), Some(format!("bytes={half}-").as_str()), "{requests:?}");
    assert!(stderr(&out).contains(&format!("resuming {ARCHIVE} at {half} bytes")), "{}", stderr(&out));
    place.whole_or_nothing(&files);
    assert!(place.dataset_dir().exists());
}

#[test]
fn a_wrong_checksum_a_missing_file_and_an_unreachable_server_each_say_what_and_leave_nothing() {
    let (_, archive) = dataset(4);
    let md5 = md5_hex(&archive);
    let server = Server::start(HashMap::from([(ARCHIVE.to_string(), archive)]), Behaviour::default());
    let place = Place::new();
    let wrong = "0123456789abcdef0123456789abcdef";
    let err = refused(&place.run(&server.url(), wrong, &["data", "fetch", "cifar10"]));
    assert!(err.contains(&format!("{}{ARCHIVE}", server.url())), "{err}");
    assert!(err.contains(&format!("MD5 {md5}")) && err.contains(&format!("published with MD5 {wrong}")), "{err}");
    assert!(err.contains("refused and deleted"), "{err}");
    let downloads: Vec<_> = std::fs::read_dir(place.cache.join("data/downloads")).unwrap().collect();
    assert!(downloads.is_empty(), "{downloads:?}");
    assert!(!place.dataset_dir().exists());

    // The server has no such file.
    let missing = format!("http://127.0.0.1:{}/elsewhere/", server.port);
    let err = refused(&place.run(&missing, &md5, &["data", "fetch", "cifar10"]));
    assert!(err.contains(&format!("{missing}{ARCHIVE}: HTTP 404")), "{err}");
    assert!(err.contains(&format!("MD5 {md5}")) && err.contains("LIGHTNASC_DATA_MIRROR"), "{err}");

    // Nothing listens there.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let nowhere = format!("http://127.0.0.1:{closed}/");
    let spec = common::root().join("specs/demo.lnas");
    let out = place.run(&nowhere, &md5, &["search", spec.to_str().unwrap(), "--data", "cifar10", "--name", "x"]);
    let err = refused(&out);
    assert!(err.contains("cannot reach 127.0.0.1") && !err.contains("HTTP 404"), "{err}");
    assert!(err.contains(&format!("MD5 {md5}")) && err.contains("HTTPS_PROXY") && err.contains("--data-dir"), "{err}");
    assert!(!place.dataset_dir().exists() && !place.cwd.join("runs/x").exists());
}

#[test]
fn sigkill_while_fetching_never_leaves_a_dataset_that_looks_whole() {
    let (files, archive) = dataset(200);
    let md5 = md5_hex(&archive);
    // About a second for the whole archive, so kills land in the download.
    let how = Behaviour { throttle: Some(Duration::from_millis(1)), ..Default::default() };
    let server = Server::start(HashMap::from([(ARCHIVE.to_string(), archive.clone())]), how);
    let place = Place::new();
    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
    eprintln!("kill instants from seed {seed}");
    let mut rng = lightnasc::util::SplitMix64(seed);
    let fetch = || {
        let mut c = place.command(&server.url(), &md5, &["data", "fetch", "cifar10"]);
        c.stderr(Stdio::null());
        c
    };
    let kill_after = |ms: u64| {
        let mut child = fetch().spawn().unwrap();
        std::thread::sleep(Duration::from_millis(ms));
        let _ = child.kill(); // SIGKILL
        child.wait().unwrap();
        place.whole_or_nothing(&files);
    };
    let part = place.cache.join("data/downloads").join(format!("{ARCHIVE}.part"));
    let mut mid_download = 0;
    for _ in 0..4 {
        kill_after(50 + rng.below(400));
        mid_download += usize::from(part.exists());
    }
    assert!(mid_download >= 1, "no kill landed in the download");
    // The unpacking: the archive in place (as a run killed after its download leaves it), a
    // whole fetch timed, then kills within that time until two land while it unpacks.
    let downloads = place.cache.join("data/downloads");
    let partial = place.cache.join("data/.cifar-10-batches-bin.partial");
    std::fs::remove_dir_all(place.dataset_dir()).unwrap_or(());
    std::fs::write(downloads.join(ARCHIVE), &archive).unwrap();
    let started = std::time::Instant::now();
    assert!(fetch().status().unwrap().success());
    let whole = started.elapsed().as_millis() as u64;
    let mut mid_unpack = 0;
    for _ in 0..30 {
        std::fs::remove_dir_all(place.dataset_dir()).unwrap_or(());
        std::fs::write(downloads.join(ARCHIVE), &archive).unwrap();
        kill_after(rng.below(whole));
        mid_unpack += usize::from(partial.exists() && !place.dataset_dir().exists());
        if mid_unpack == 2 {
            break;
        }
    }
    assert!(mid_unpack >= 1, "no kill landed in the unpacking (a whole fetch took {whole} ms)");
    let out = place.run(&server.url(), &md5, &["data", "fetch", "cifar10"]);
    assert!(out.status.success(), "{}", stderr(&out));
    place.whole_or_nothing(&files);
    assert!(place.dataset_dir().exists());
}

#[test]
fn two_fetches_at_once_end_with_one_good_copy() {
    let (files, archive) = dataset(100);
    let md5 = md5_hex(&archive);
    let how = Behaviour { throttle: Some(Duration::from_millis(2)), ..Default::default() };
    let server = Server::start(HashMap::from([(ARCHIVE.to_string(), archive)]), how);
    let place = Place::new();
    let spawn =
        || place.command(&server.url(), &md5, &["data", "fetch", "cifar10"]).stderr(Stdio::piped()).spawn().unwrap();
    let (a, b) = (spawn(), spawn());
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    assert!(a.status.success() && b.status.success(), "{}\n{}", stderr(&a), stderr(&b));
    assert!(format!("{}{}", stderr(&a), stderr(&b)).contains("waiting for another lightnasc"));
    assert_eq!(server.requests().len(), 1, "one download");
    place.whole_or_nothing(&files);
}

/// torchvision's layout: the same images as pickles written by Python's own `pickle` (numpy
/// arrays, one batch at protocol 2 as the publisher's files, the rest at protocol 4) read as the
/// binary files of the same records; a copy found on its own with other checksums is not used.
#[test]
fn torchvision_pickles_give_the_pixels_and_labels_of_the_binary_files() {
    if !common::full_tier("numpy (pip)") {
        return;
    }
    let (files, _) = dataset(30);
    let dir = tempfile::tempdir().unwrap();
    let (bin, tv) = (dir.path().join("bin"), dir.path().join("tv/cifar-10-batches-py"));
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::create_dir_all(&tv).unwrap();
    for (name, bytes) in &files {
        std::fs::write(bin.join(name), bytes).unwrap();
    }
    let python = common::python_venv("onnx", &["onnx==1.23.2", "onnxruntime==1.32.0", "numpy"]);
    let script = r#"
import numpy as np, pickle, sys
src, dst = sys.argv[1], sys.argv[2]
names = ["data_batch_%d" % i for i in range(1, 6)] + ["test_batch"]
for i, name in enumerate(names):
    raw = np.fromfile("%s/%s.bin" % (src, name), dtype=np.uint8).reshape(-1, 3073)
    d = {"batch_label": "batch %d" % i, "labels": [int(l) for l in raw[:, 0]], "data": raw[:, 1:].copy()}
    with open("%s/%s" % (dst, name), "wb") as f:
        pickle.dump(d, f, protocol=2 if i == 0 else 4)
"#;
    let out = Command::new(python).args(["-c", script]).arg(&bin).arg(&tv).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let load = |d: &Path| {
        let arg: lightnasc::data::DataArg = "cifar10".parse().unwrap();
        let (splits, source) = lightnasc::data::load(&arg, Some(d), None, 0).unwrap();
        (splits, source.unwrap())
    };
    let (from_bin, bin_source) = load(&bin);
    let (from_tv, tv_source) = load(&dir.path().join("tv"));
    assert_eq!((bin_source.format.as_str(), tv_source.format.as_str()), ("binary", "pickles"));
    assert_eq!(tv_source.path, tv);
    assert_eq!(from_bin.train.len(), 150);
    assert_eq!(from_tv.train.pixels, from_bin.train.pixels);
    assert_eq!(from_tv.train.labels, from_bin.train.labels);
    assert_eq!(from_tv.test.pixels, from_bin.test.pixels);
    assert_eq!(from_tv.test.labels, from_bin.test.labels);
    // The user named the folder: used, each file's checksums said to differ from the published.
    assert!(tv_source.found.contains("6 of 6 files differ"), "{}", tv_source.found);
}

/// A copy another tool left is used only with the published checksums: gluon's folder holding
/// other files is passed over, with a note naming the file and both checksums.
#[test]
fn a_found_copy_with_other_checksums_is_not_used() {
    let (files, _) = dataset(2);
    let place = Place::new();
    let gluon = place.cwd.join(".mxnet/datasets/cifar10");
    std::fs::create_dir_all(&gluon).unwrap();
    for (name, bytes) in &files {
        std::fs::write(gluon.join(name), bytes).unwrap();
    }
    let out = place.run("http://127.0.0.1:1/", "0", &["data", "list"]);
    let (listed, err) = (String::from_utf8_lossy(&out.stdout).into_owned(), stderr(&out));
    assert!(out.status.success(), "{err}");
    assert!(listed.lines().any(|l| l.starts_with("cifar10 ") && l.contains("not here")), "{listed}");
    let published = "aadd24acce27caa71bf4b10992e9e7b2d74c2540"; // gluon's data_batch_1.bin
    let note = format!("note: not using {} (MXNet gluon's datasets folder)", gluon.display());
    assert!(err.contains(&note) && err.contains(&format!("published {published}")), "{err}");
}
