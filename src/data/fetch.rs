//! Fetching a named dataset into lightnasc's cache (`CACHE/data/FOLDER`): downloaded from its
//! publisher (or `LIGHTNASC_DATA_MIRROR`), checked against the publisher's MD5, unpacked.
//!
//! Nothing a killed fetch leaves looks like a dataset: a download grows as `FILE.part` (resumed
//! with an HTTP Range request, by a retry or the next run) and is renamed only once its MD5 is
//! right; an archive unpacks into `.FOLDER.partial`, renamed to `FOLDER` once every file is out
//! and the manifest written. A lock file per dataset lets the shards of a sweep fetch at once:
//! one downloads, the others wait and find it done.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::sources::{Published, Source, md5_of, sha1_of};
use super::{DataError, Kind};
use crate::progress::Bar;

/// The manifest a finished fetch writes last: what was fetched from where, and each file's SHA-1.
pub const MANIFEST: &str = "lightnasc-source.json";

/// Tries of one download (a cut connection resumes from what arrived).
const TRIES: usize = 5;

/// Where fetched datasets live.
pub fn data_root() -> PathBuf {
    crate::util::cache_root().join("data")
}

/// The cache's copy of `kind`, if a fetch finished it.
pub fn cached(kind: Kind) -> Option<PathBuf> {
    let dir = data_root().join(kind.source().folder);
    dir.join(MANIFEST).is_file().then_some(dir)
}

/// The address of `file`: the mirror's folder (`--data-mirror`, `LIGHTNASC_DATA_MIRROR`) or the
/// publisher's.
fn address(src: &Source, mirror: Option<&str>, file: &str) -> String {
    let env = std::env::var("LIGHTNASC_DATA_MIRROR").ok().filter(|m| !m.is_empty());
    let base = mirror.map(str::to_string).or(env).unwrap_or_else(|| src.base_url.to_string());
    format!("{}/{file}", base.trim_end_matches('/'))
}

/// The cache's copy of `kind`, fetched first if it is not there.
pub fn fetch(kind: Kind, mirror: Option<&str>) -> Result<PathBuf, DataError> {
    let src = kind.source();
    let root = data_root();
    let dest = root.join(src.folder);
    if let Some(dir) = cached(kind) {
        return Ok(dir);
    }
    let io_err = |p: &Path, e: io::Error| {
        DataError::new(
            p,
            format!("cannot write: {e}"),
            "set LIGHTNASC_CACHE to a writable folder with room for the dataset",
        )
    };
    fs::create_dir_all(root.join("downloads")).map_err(|e| io_err(&root, e))?;
    let lock_path = root.join(format!(".{}.lock", src.folder));
    let lock = File::create(&lock_path).map_err(|e| io_err(&lock_path, e))?;
    if lock.try_lock().is_err() {
        eprintln!("data: waiting for another lightnasc fetching {} (lock {})", kind.name(), lock_path.display());
        lock.lock().map_err(|e| io_err(&lock_path, e))?;
    }
    if let Some(dir) = cached(kind) {
        return Ok(dir);
    }
    if dest.exists() {
        return Err(DataError::new(
            &dest,
            "is in the cache's place for the dataset but no fetch made it (it has no manifest)",
            "pass it with --data-dir to use it, or delete it to fetch the dataset",
        ));
    }
    for p in src.downloads {
        download(&address(src, mirror, p.file), &root.join("downloads").join(p.file), &src.expected_md5(p), p)?;
    }
    let partial = root.join(format!(".{}.partial", src.folder));
    let _ = fs::remove_dir_all(&partial); // what a killed unpacking left
    fs::create_dir_all(&partial).map_err(|e| io_err(&partial, e))?;
    unpack(src, &root.join("downloads"), &partial)?;
    write_manifest(kind, mirror, &partial).map_err(|e| io_err(&partial, e))?;
    fs::rename(&partial, &dest).map_err(|e| io_err(&dest, e))?;
    for p in src.downloads {
        let _ = fs::remove_file(root.join("downloads").join(p.file));
    }
    eprintln!("data: {} is in {}", kind.name(), dest.display());
    Ok(dest)
}

/// How to do by hand what a fetch could not.
fn by_hand(url: &str, md5: &str, dest: &Path) -> String {
    format!(
        "download {url} (MD5 {md5}) into {} yourself, or set LIGHTNASC_DATA_MIRROR to a folder with the same file names (behind a proxy, set HTTPS_PROXY); or pass a copy you have with --data-dir",
        dest.parent().map(Path::display).map(|d| d.to_string()).unwrap_or_default()
    )
}

/// `url` into `dest`, resumed from `dest.part`, renamed when its MD5 is `md5`.
fn download(url: &str, dest: &Path, md5: &str, p: &Published) -> Result<(), DataError> {
    let refuse = |path: &Path, got: &str| {
        let _ = fs::remove_file(path);
        DataError::new(
            path,
            format!("MD5 {got}, but {url} is published with MD5 {md5}: refused and deleted"),
            "the download is damaged or the address serves another file; run again to download it anew",
        )
    };
    if dest.is_file() {
        // Put there by hand, or downloaded by a run killed before it unpacked.
        let got = md5_of(dest).map_err(|e| DataError::new(dest, format!("cannot read: {e}"), ""))?;
        return if got == md5 { Ok(()) } else { Err(refuse(dest, &got)) };
    }
    let part = PathBuf::from(format!("{}.part", dest.display()));
    let agent = ureq::AgentBuilder::new()
        .try_proxy_from_env(true)
        .timeout_connect(Duration::from_secs(30))
        .timeout_read(Duration::from_secs(60))
        .build();
    let mut last = None;
    for _ in 0..TRIES {
        match get(&agent, url, &part, p) {
            Ok(()) => {
                last = None;
                break;
            }
            Err(Get::Fatal(mut e)) => {
                e.path = dest.to_path_buf();
                return Err(e.with_hint(by_hand(url, md5, dest)));
            }
            Err(Get::Cut(e)) => last = Some(e),
        }
    }
    if let Some(e) = last {
        return Err(DataError::new(
            &part,
            format!("{url}: the connection broke {TRIES} times: {e}"),
            by_hand(url, md5, dest),
        ));
    }
    let got = md5_of(&part).map_err(|e| DataError::new(&part, format!("cannot read: {e}"), ""))?;
    if got != md5 {
        return Err(refuse(&part, &got));
    }
    fs::rename(&part, dest).map_err(|e| DataError::new(dest, format!("cannot write: {e}"), ""))
}

enum Get {
    /// Worth another try from where it stopped.
    Cut(String),
    Fatal(DataError),
}

/// One request: the rest of `part` (all of it if the server ignores the range), appended.
fn get(agent: &ureq::Agent, url: &str, part: &Path, p: &Published) -> Result<(), Get> {
    let have = fs::metadata(part).map(|m| m.len()).unwrap_or(0);
    let mut req = agent.get(url);
    if have > 0 {
        req = req.set("Range", &format!("bytes={have}-"));
    }
    let resp = match req.call() {
        Ok(r) => r,
        Err(ureq::Error::Status(416, _)) => {
            // The part is as long as the file or longer: start again.
            let _ = fs::remove_file(part);
            return Err(Get::Cut("the server refused the range of a finished part".into()));
        }
        Err(ureq::Error::Status(code, r)) => {
            let what =
                if code == 404 { "the server has no such file".to_string() } else { r.status_text().to_string() };
            return Err(Get::Fatal(DataError::new(part, format!("{url}: HTTP {code} ({what})"), "")));
        }
        Err(ureq::Error::Transport(t)) => {
            let kind = t.kind();
            let host = url::Url::parse(url).ok().and_then(|u| u.host_str().map(str::to_string)).unwrap_or_default();
            let why = t.message().map(|m| format!("{}: {m}", t.kind())).unwrap_or_else(|| t.kind().to_string());
            let msg = format!("cannot reach {host} for {url} ({why})");
            return Err(match kind {
                ureq::ErrorKind::Dns | ureq::ErrorKind::ConnectionFailed | ureq::ErrorKind::InvalidUrl => {
                    Get::Fatal(DataError::new(part, msg, ""))
                }
                _ => Get::Cut(msg),
            });
        }
    };
    let resumed = resp.status() == 206;
    let total =
        resp.header("Content-Length").and_then(|l| l.parse::<u64>().ok()).map(|l| l + if resumed { have } else { 0 });
    let mut file = fs::OpenOptions::new()
        .create(true)
        .append(resumed)
        .write(true)
        .truncate(!resumed)
        .open(part)
        .map_err(|e| Get::Fatal(DataError::new(part, format!("cannot write: {e}"), "")))?;
    let start = if resumed { have } else { 0 };
    if resumed {
        eprintln!("data: resuming {} at {} bytes", p.file, have);
    }
    let mut bar = Bar::new(
        total.unwrap_or(0),
        p.file.to_string(),
        "bytes",
        "{prefix} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
    );
    let mut body = resp.into_reader();
    let mut buf = vec![0u8; 1 << 16];
    let mut pos = start;
    loop {
        let n = match body.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) => {
                bar.abandon();
                return Err(Get::Cut(format!("after {pos} bytes: {e}")));
            }
        };
        file.write_all(&buf[..n]).map_err(|e| Get::Fatal(DataError::new(part, format!("cannot write: {e}"), "")))?;
        pos += n as u64;
        bar.set_position(pos);
    }
    bar.finish();
    if total.is_some_and(|t| pos < t) {
        return Err(Get::Cut(format!("the server closed after {pos} of {} bytes", total.unwrap_or(0))));
    }
    Ok(())
}

/// The dataset's files into `dir`: from the archive's folder, or the downloads themselves.
fn unpack(src: &Source, downloads: &Path, dir: &Path) -> Result<(), DataError> {
    if !src.is_archive() {
        for p in src.downloads {
            let from = downloads.join(p.file);
            fs::copy(&from, dir.join(p.file)).map_err(|e| DataError::new(&from, format!("cannot copy: {e}"), ""))?;
        }
        return Ok(());
    }
    let archive = downloads.join(src.downloads[0].file);
    let len = fs::metadata(&archive).map(|m| m.len()).unwrap_or(0);
    let file = File::open(&archive).map_err(|e| DataError::new(&archive, format!("cannot read: {e}"), ""))?;
    let mut bar = Bar::new(len, "unpacking".into(), "bytes", "{prefix} [{bar:30}] {bytes}/{total_bytes}");
    unpack_reader(Counted { inner: file, read: 0, bar: &mut bar }, src, dir, &archive)?;
    bar.finish();
    Ok(())
}

/// An archive's bytes unpacked into `dir` as `src`'s (the fuzz target's entry).
pub fn unpack_from(bytes: &[u8], src: &Source, dir: &Path) -> Result<(), DataError> {
    unpack_reader(bytes, src, dir, Path::new(src.downloads[0].file))
}

/// The plain files directly in the archive's dataset folder into `dir` (no path leaves it);
/// every file the loader reads must be there.
fn unpack_reader(reader: impl Read, src: &Source, dir: &Path, archive: &Path) -> Result<(), DataError> {
    let bad = |e: io::Error| DataError::new(archive, format!("cannot unpack: {e}"), "delete it and run again");
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(reader));
    for entry in tar.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        let path = entry.path().map_err(bad)?.into_owned();
        let Ok(rest) = path.strip_prefix(src.folder) else { continue };
        let mut parts = rest.components();
        let (Some(std::path::Component::Normal(name)), None) = (parts.next(), parts.next()) else { continue };
        if entry.header().entry_type().is_file() {
            entry.unpack(dir.join(name)).map_err(bad)?;
        }
    }
    for f in src.files {
        if !dir.join(f.file).is_file() {
            return Err(DataError::new(
                archive,
                format!("the archive has no {}/{}", src.folder, f.file),
                "it is not the dataset's archive; delete it and run again",
            ));
        }
    }
    Ok(())
}

/// A reader that moves a progress bar.
struct Counted<'a, R> {
    inner: R,
    read: u64,
    bar: &'a mut Bar,
}

impl<R: Read> Read for Counted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        self.bar.set_position(self.read);
        Ok(n)
    }
}

fn write_manifest(kind: Kind, mirror: Option<&str>, dir: &Path) -> io::Result<()> {
    let src = kind.source();
    let downloads: Vec<_> = src
        .downloads
        .iter()
        .map(|p| serde_json::json!({"url": address(src, mirror, p.file), "md5": src.expected_md5(p)}))
        .collect();
    let mut files = serde_json::Map::new();
    for f in src.files {
        files.insert(f.file.to_string(), sha1_of(&dir.join(f.file))?.into());
    }
    let m = serde_json::json!({"dataset": kind.name(), "downloads": downloads, "sha1": files});
    let path = dir.join(MANIFEST);
    fs::write(&path, serde_json::to_string_pretty(&m)? + "\n")?;
    File::open(dir)?.sync_all().or(Ok(()))
}
