//! Progress of long work on stderr: an indicatif bar on a terminal, else plain lines (a log file
//! or a pipe, where indicatif draws nothing), so that a run killed at a time limit still says how
//! far it got and how long each step took.

use std::io::IsTerminal as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// `total` steps of one piece of work, named `what`.
pub struct Steps {
    what: String,
    total: usize,
    start: Instant,
    last: Instant,
    bar: Option<ProgressBar>,
    /// Steps done, and whether the work is over, for the heartbeat thread.
    shared: Arc<(AtomicUsize, AtomicBool)>,
}

impl Steps {
    pub fn new(what: impl Into<String>, total: usize) -> Steps {
        let what = what.into();
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len}, {elapsed} | {msg}")
                    .expect("a valid template")
                    .progress_chars("=> "),
            );
            bar.set_prefix(what.clone());
            bar
        });
        let now = Instant::now();
        let shared = Arc::new((AtomicUsize::new(0), AtomicBool::new(false)));
        Steps { what, total, start: now, last: now, bar, shared }
    }

    /// Also a line every `every` while a step runs, with what `status` says (e.g. kernels
    /// compiled so far): a first step that compiles for minutes shows what it is doing.
    pub fn heartbeat(self, every: Duration, status: impl Fn() -> String + Send + 'static) -> Steps {
        let (shared, what, total, start) = (self.shared.clone(), self.what.clone(), self.total, self.start);
        std::thread::spawn(move || {
            let mut since = Instant::now();
            let mut seen = 0;
            while !shared.1.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(100));
                let done = shared.0.load(Ordering::Relaxed);
                if done != seen {
                    (seen, since) = (done, Instant::now());
                } else if since.elapsed() >= every && done < total {
                    let t = start.elapsed().as_secs_f64();
                    eprintln!("{what}: step {} of {total} still running after {t:.1} s: {}", done + 1, status());
                    since = Instant::now();
                }
            }
        });
        self
    }

    /// Step `i` (from 0) is done; `msg` says how it went. Lines are written for the first and
    /// last steps and otherwise at most once a second.
    pub fn done(&mut self, i: usize, msg: &str) {
        self.shared.0.store(i + 1, Ordering::Relaxed);
        match &self.bar {
            Some(bar) => {
                bar.set_position(i as u64 + 1);
                bar.set_message(msg.to_string());
            }
            None => {
                if i == 0 || i + 1 == self.total || self.last.elapsed() >= Duration::from_secs(1) {
                    let t = self.start.elapsed().as_secs_f64();
                    eprintln!("{}: {}/{} after {t:.1} s: {msg}", self.what, i + 1, self.total);
                    self.last = Instant::now();
                }
            }
        }
    }

    pub fn finish(self) {
        self.shared.1.store(true, Ordering::Relaxed);
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Steps {
    fn drop(&mut self) {
        self.shared.1.store(true, Ordering::Relaxed);
    }
}

/// A count of things done (images, say) with a message, as indicatif's bar on a terminal, else
/// a line at most every 10 s and one at the end (`search`'s epochs).
pub struct Bar {
    prefix: String,
    unit: &'static str,
    len: u64,
    pos: u64,
    msg: String,
    last: Instant,
    bar: Option<ProgressBar>,
}

impl Bar {
    pub fn new(len: u64, prefix: String, unit: &'static str, template: &str) -> Bar {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
            bar.set_style(ProgressStyle::with_template(template).expect("a valid template").progress_chars("=> "));
            bar.set_prefix(prefix.clone());
            bar
        });
        Bar { prefix, unit, len, pos: 0, msg: String::new(), last: Instant::now(), bar }
    }

    pub fn set_position(&mut self, pos: u64) {
        self.pos = pos;
        match &self.bar {
            Some(bar) => bar.set_position(pos),
            None if self.last.elapsed() >= Duration::from_secs(10) => self.line(),
            None => {}
        }
    }

    pub fn set_message(&mut self, msg: String) {
        if let Some(bar) = &self.bar {
            bar.set_message(msg.clone());
        }
        self.msg = msg;
    }

    fn line(&mut self) {
        eprintln!("{}: {}/{} {} | {}", self.prefix, self.pos, self.len, self.unit, self.msg);
        self.last = Instant::now();
    }

    /// Done: the bar goes; without a terminal, a last line.
    pub fn finish(mut self) {
        match &self.bar {
            Some(bar) => bar.finish_and_clear(),
            None => self.line(),
        }
    }

    /// Stopped early: the bar stays as it is.
    pub fn abandon(self) {
        if let Some(bar) = &self.bar {
            bar.abandon();
        }
    }
}
