//! Command-line definitions (clap derive) and dispatch. Exit codes: 0 success, 1 diagnostics or
//! a failed job, 2 usage errors (clap's own code).

mod args;
mod bench;
mod check;
mod data;
mod devices;
mod export;
mod fit;
mod fmt;
mod infer;
mod ranking;
mod render;
mod report;
mod search;
mod sweep;
mod train;

use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use lightnasc::check::PinArg;
use lightnasc::net::device::DeviceArg;

pub use args::*;

#[derive(Parser, Debug)]
#[command(name = "lightnasc", version, about = "Neural architecture search for binary neural networks, as a compiler")]
#[command(
    long_about = "lightnasc compiles .lnas search-space specs into a checked graph IR, searches them with ENAS, \
and lowers found architectures to ONNX, MXNet and Graphviz."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum Color {
    Auto,
    Always,
    Never,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Check a spec or pinned architecture: diagnostics, shapes, choices and costs.
    #[command(after_help = "Example:\n  lightnasc check specs/demo.lnas --pin random:1 --verbose")]
    Check(CheckArgs),
    /// Search a space with ENAS (LSTM controller, REINFORCE, weight-sharing supernet).
    #[command(after_help = "Examples:\n  lightnasc search specs/demo.lnas --epochs 2\n  \
        lightnasc search specs/meliusnet22.lnas --data cifar100 --controller random --device cuda\n  \
        lightnasc search --resume runs/demo-20261207-120000")]
    Search(SearchArgs),
    /// Export an architecture to ONNX, MXNet symbol/params or trainable params.
    #[command(after_help = "Example:\n  lightnasc export runs/demo-20261207-120000 --format onnx -o model")]
    Export(ExportArgs),
    /// Render a space, a pinned architecture or a run as Graphviz DOT/SVG/PNG/PDF.
    #[command(after_help = "Example:\n  lightnasc render specs/demo.lnas --pin random:1 -o demo.svg")]
    Render(RenderArgs),
    /// Retrain a found architecture from scratch (or fine-tune from the supernet).
    #[command(after_help = "Examples:\n  lightnasc train runs/demo-20261207-120000 --epochs 10\n  \
        lightnasc train specs/demo.lnas --pin random:1 --data fashion-mnist")]
    Train(TrainArgs),
    /// Format .lnas files in place (canonical layout, comments kept).
    #[command(after_help = "Example:\n  lightnasc fmt --check specs/*.lnas")]
    Fmt(FmtArgs),
    /// Run the language server on stdin/stdout (LSP 3.17).
    Lsp,
    /// Report runs: argmax per epoch, block summaries, accuracies, costs, and how well shared-weight
    /// accuracy ranks retrained architectures (Kendall's tau).
    #[command(after_help = "Example:\n  lightnasc report runs -o runs/report")]
    Report(ReportArgs),
    /// Run a trained architecture on images (binary convs bit-packed, on the CPU or a GPU).
    #[command(after_help = "Example:\n  lightnasc infer runs/train-demo-20261207-130000 --limit 1000")]
    Infer(InferArgs),
    /// Benchmarks that print ratios against a baseline measured in the same run.
    Bench(BenchArgs),
    /// Check the bit-packed binary path on a device: each kernel variant and the device packing
    /// against the CPU kernels, and whole networks' logits against the float path, bit for bit.
    Selftest(SelftestArgs),
    /// Run a sweep plan's runs as shards: one shard here, all of them as local processes, or a
    /// Slurm or Kubernetes script that runs them on a cluster.
    #[command(after_help = "Examples:\n  lightnasc sweep specs/bench/resnet-bits.yml --local -j 2\n  \
        lightnasc sweep specs/bench/resnet-bits.yml --emit slurm > sweep.sbatch")]
    Sweep(SweepArgs),
    /// List the devices this lightnasc can use, and why a GPU setup does not work.
    #[command(after_help = "Example:\n  lightnasc devices")]
    Devices(DevicesArgs),
    /// Fetch named datasets ahead of a run, list the copies runs read, verify the cache.
    #[command(after_help = "Examples:\n  lightnasc data fetch cifar100\n  lightnasc data list")]
    Data(data::DataArgs),
}

pub fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Check(args) => check::run(&args),
        Command::Search(args) => search::run(&args),
        Command::Export(args) => export::run(&args),
        Command::Render(args) => render::run(&args),
        Command::Train(args) => train::run(&args),
        Command::Report(args) => report::run(&args),
        Command::Infer(args) => infer::run(&args),
        Command::Sweep(args) => sweep::run(&args),
        Command::Fmt(args) => fmt::run(&args),
        Command::Lsp => match lightnasc::lsp::run_stdio() {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(format!("language server: {e}")),
        },
        Command::Selftest(args) => bench::selftest(&args),
        Command::Devices(args) => devices::run(&args),
        Command::Data(args) => data::run(&args),
        Command::Bench(args) => match args.what {
            BenchWhat::Supernet(a) => bench::supernet(&a),
            BenchWhat::Kernels(a) => bench::kernels(&a),
            BenchWhat::Network(a) => bench::network(&a),
            BenchWhat::Ranking(a) => ranking::ranking(&a),
            BenchWhat::Table(a) => ranking::table(&a),
            BenchWhat::Ceiling(a) => ranking::ceiling(&a),
            BenchWhat::Compare(a) => ranking::compare(&a),
            BenchWhat::Decode(a) => bench::decode(&a),
        },
    }
}

/// Write to stdout, ignoring a closed pipe (`lightnasc check ... | head` is not an error).
pub fn emit(text: &str) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|_| out.flush());
}

/// Print an error and give exit code 1 (a failed job).
pub(crate) fn fail(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {msg}");
    ExitCode::from(1)
}

pub fn use_color(c: Color) -> bool {
    use std::io::IsTerminal as _;
    match c {
        Color::Always => true,
        Color::Never => false,
        Color::Auto => std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    }
}

pub(crate) fn print_diagnostics(outcome: &lightnasc::check::Outcome, spec: &std::path::Path, color: bool) {
    for d in &outcome.diags.0 {
        eprintln!("{}", d.render(&outcome.db, color));
    }
    eprintln!("error: {} problem(s) found in {}", outcome.diags.len(), spec.display());
}

/// Benchmarks, `infer` and the self-test run on one device: a list is refused, as is a backend
/// not compiled in (or, for CUDA, without its driver).
fn one_device(command: &str, device: &DeviceArg) -> Result<(), ExitCode> {
    if device.replicas() > 1 {
        return Err(fail(format!("`{command}` runs on one device; give one (`cuda:1`), not a list")));
    }
    lightnasc::net::device::available(device).map_err(fail)
}

/// Check `spec`: the checked space, or its diagnostics printed (once, here) and exit code 1.
pub(crate) fn checked(
    spec: &std::path::Path,
    opts: &SpaceOpts,
    pin: Option<&PinArg>,
) -> Result<lightnasc::check::Checked, ExitCode> {
    lightnasc::check::check_path(spec, &opts.args(), opts.space.as_deref(), pin).checked().map_err(|outcome| {
        print_diagnostics(&outcome, spec, use_color(Color::Auto));
        ExitCode::from(1)
    })
}

/// A space and, when `pin` is given, the architecture it names (diagnostics printed on failure).
fn load_pinned(
    spec: &std::path::Path,
    opts: &SpaceOpts,
    pin: Option<&PinArg>,
) -> Result<(lightnasc::ir::Graph, Option<lightnasc::ir::pin::Assignment>), ExitCode> {
    let c = checked(spec, opts, pin)?;
    Ok((c.space, c.pinned.map(|p| p.0)))
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::Cli;

    /// Every user-facing subcommand's `--help` ends with an example, and every example parses
    /// (the flags it uses exist and take what it gives them).
    #[test]
    fn every_subcommands_examples_parse() {
        let cli = Cli::command();
        for sub in cli.get_subcommands() {
            let name = sub.get_name();
            let help = sub.get_after_help().map(|h| h.to_string()).unwrap_or_default();
            let examples: Vec<&str> = help.lines().filter_map(|l| l.trim().strip_prefix("lightnasc ")).collect();
            if !["lsp", "bench", "selftest"].contains(&name) {
                assert!(!examples.is_empty(), "`{name}` has no example");
            }
            for e in examples {
                let words = e.split(" > ").next().unwrap().split_whitespace();
                let parsed = Cli::try_parse_from(std::iter::once("lightnasc").chain(words));
                assert!(parsed.is_ok(), "`lightnasc {e}`: {}", parsed.err().unwrap());
            }
        }
    }
}
