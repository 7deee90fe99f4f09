//! The subcommands' arguments (clap derive); `mod.rs` dispatches them.

use std::path::PathBuf;

use clap::{Subcommand, ValueEnum};

use lightnasc::check::PinArg;
use lightnasc::lower::SpaceArgs;
use lightnasc::net::device::DeviceArg;

use super::{Color, Format};

#[derive(clap::Args, Debug)]
pub struct DevicesArgs {
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// `--shard I/N`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

fn parse_shard(s: &str) -> Result<Shard, String> {
    let bad = || format!("`{s}` is not a shard: write I/N with 0 <= I < N (e.g. 3/6)");
    let (i, n) = s.split_once('/').ok_or_else(bad)?;
    let (index, count) = (i.trim().parse().map_err(|_| bad())?, n.trim().parse().map_err(|_| bad())?);
    if index >= count {
        return Err(bad());
    }
    Ok(Shard { index, count })
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum Emit {
    /// A job-array script for `sbatch`.
    Slurm,
    /// An Indexed Job manifest for `kubectl apply -f`.
    K8s,
}

#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("mode").required(true).args(["shard", "local", "emit", "status"])))]
pub struct SweepArgs {
    /// The sweep plan (YAML; see specs/sweeps/).
    pub plan: PathBuf,
    /// Run shard I of N (0-based, as Slurm's array index and Kubernetes' completion index).
    #[arg(long, value_parser = parse_shard)]
    pub shard: Option<Shard>,
    /// Run the shards here, as parallel processes (`-j`); shards already finished are skipped.
    #[arg(long, conflicts_with_all = ["shard", "emit", "status"])]
    pub local: bool,
    /// With --local: how many shards run at once.
    #[arg(short = 'j', long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub jobs: u32,
    /// Print a script that runs the shards on a cluster.
    #[arg(long, value_enum, conflicts_with_all = ["shard", "status"])]
    pub emit: Option<Emit>,
    /// List the runs, their shards and where each stands.
    #[arg(long, conflicts_with = "shard")]
    pub status: bool,
    /// How many shards (default: one per run).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub shards: Option<u32>,
    /// With --emit: at most this many shards at once.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub parallel: Option<u32>,
    /// With --emit slurm: another `#SBATCH` option, e.g. `--sbatch=--partition=gpu` (repeatable).
    #[arg(long, allow_hyphen_values = true)]
    pub sbatch: Vec<String>,
    /// With --emit k8s: the container image (with lightnasc on its PATH).
    #[arg(long, default_value = "lightnasc:latest")]
    pub image: String,
    /// With --emit k8s: a ReadWriteMany PersistentVolumeClaim holding the plan, specs, data and runs.
    #[arg(long, default_value = "lightnasc-work")]
    pub claim: String,
    /// With --emit k8s: where the claim is mounted (the working directory).
    #[arg(long, default_value = "/work")]
    pub mount: String,
    /// With --emit k8s: retries of each failed shard (backoffLimitPerIndex).
    #[arg(long, default_value_t = 2)]
    pub retries: u32,
}

#[derive(clap::Args, Debug)]
pub struct CheckArgs {
    /// The spec (.lnas) or pinned-architecture file.
    pub spec: PathBuf,
    /// Pin an architecture: a pin file, `random[:SEED]`, `name=option,...` or `melius:DIDI...`.
    #[arg(long, value_parser = clap::value_parser!(PinArg))]
    pub pin: Option<PinArg>,
    #[command(flatten)]
    pub space: SpaceOpts,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Print a per-layer table.
    #[arg(short, long)]
    pub verbose: bool,
    #[arg(long, value_enum, default_value_t = Color::Auto)]
    pub color: Color,
}

/// Which space of a spec file, and overrides of its arguments.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct SpaceOpts {
    /// Input shape C,H,W (or N), overriding the space's default.
    #[arg(long, value_parser = parse_shape)]
    pub input: Option<InputShape>,
    /// Number of classes, overriding the space's default.
    #[arg(long, value_parser = clap::value_parser!(i64).range(1..=1_000_000))]
    pub classes: Option<i64>,
    /// Which space, when the file defines several.
    #[arg(long)]
    pub space: Option<String>,
}

impl SpaceOpts {
    pub fn args(&self) -> SpaceArgs {
        SpaceArgs { input: self.input.as_ref().map(|i| i.0.clone()), classes: self.classes, other: vec![] }
    }
}

#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub what: BenchWhat,
}

#[derive(Subcommand, Debug)]
pub enum BenchWhat {
    /// Training steps per second and peak memory of a space's supernet, against the fixed
    /// network of one of its architectures.
    Supernet(SupernetBenchArgs),
    /// The bit-packed binary conv against the float conv of the same shape, at MeliusNet-22's
    /// and ResNet-18's 3x3 binary conv shapes.
    Kernels(KernelBenchArgs),
    /// Whole-network CPU inference with the bit-packed kernels against the float path: a pinned
    /// architecture, and the supernet on sampled paths (the reward evaluation).
    Network(NetworkBenchArgs),
    /// How well a search run's shared weights rank the architectures of a ranking table (Kendall's
    /// tau-b, Spearman's rho, top-5 overlap), and the regrets of the run's result.
    Ranking(RankingArgs),
    /// Make a ranking table from the ledger of `train` runs (a sweep's folder).
    Table(TableArgs),
    /// What a table can resolve: its seeds against each other, a simulated perfect scorer, and
    /// the zero-cost proxies, over all rows and within groups of similar cost.
    Ceiling(CeilingArgs),
    /// Search policies compared on their retrained results: each kind of search against random
    /// search with weight sharing, paired by seed (paired t test and sign test).
    Compare(CompareArgs),
    /// Decoding a folder of images into the cache a search reads (`--data folder:PATH`), on
    /// all cores against one, and reading the cache back.
    Decode(DecodeBenchArgs),
}

#[derive(clap::Args, Debug)]
pub struct DecodeBenchArgs {
    /// 28x28 grey PNG images to write and decode.
    #[arg(long, default_value_t = 6000)]
    pub png: usize,
    /// 224x224 colour JPEG images to write and decode (fitted to 32x32).
    #[arg(long, default_value_t = 1500)]
    pub jpeg: usize,
    /// Where the image folders are written (kept, so a second run skips writing them).
    #[arg(short, long, default_value = "runs/bench-decode")]
    pub out: PathBuf,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(clap::Args, Debug)]
pub struct RankingArgs {
    /// A search run folder.
    pub run: PathBuf,
    /// The ranking table (JSON lines, as `bench table` writes) [default: the one shipped for the
    /// run's space and data, specs/bench/<space>-<data>.jsonl].
    #[arg(long)]
    pub table: Option<PathBuf>,
    /// Score only N table rows, evenly spaced over the table's OPs order (for quick checks).
    #[arg(long)]
    pub limit: Option<usize>,
    /// Score with this batch-norm mode instead of the run's own (running | batch | recalibrate).
    #[arg(long, value_enum)]
    pub batch_norm: Option<lightnasc::search::scoring::BatchNormScoring>,
    /// A folder whose ledger has stand-alone retrains of the result (when it is not in the table).
    #[arg(long)]
    pub retrained: Option<PathBuf>,
    /// Write the figures (JSON) into the run folder too, for `report`.
    #[arg(long)]
    pub save: bool,
    /// Rows per cost group (consecutive in OPs order) for the within-group taus.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(2..))]
    pub group_size: u32,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(clap::Args, Debug)]
pub struct CompareArgs {
    /// Folder whose ledger files hold the searches (ENAS, random, evolution; one per kind and
    /// seed) and any retrains of results that are not in the table (on the table's budget).
    pub runs: PathBuf,
    /// The ranking table the results are judged against (JSON lines, as `bench table` writes).
    #[arg(long)]
    pub table: PathBuf,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(clap::Args, Debug)]
pub struct CeilingArgs {
    /// The ranking table (JSON lines, as `bench table` writes).
    pub table: PathBuf,
    /// Rows per cost group (consecutive in OPs order) for the within-group taus.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(2..))]
    pub group_size: u32,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(clap::Args, Debug)]
pub struct TableArgs {
    /// Folders whose ledger files hold the `train` runs (e.g. runs/sweeps/ranking-demo); several
    /// sweeps make one table where they share their budget and no architecture and seed repeat.
    #[arg(required = true)]
    pub runs: Vec<PathBuf>,
    /// The table file to write.
    #[arg(short, long)]
    pub output: PathBuf,
    /// Keep only the rows with every seed of the fullest row (of a sweep still running), and
    /// name the rest.
    #[arg(long)]
    pub complete_rows: bool,
    /// A table already made (its ledgers may be gone) that the new rows join: the same budget
    /// and seeds, no architecture twice. The output may be this file.
    #[arg(long)]
    pub extend: Option<PathBuf>,
    /// Rows per cost group for the within-group taus printed after writing.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(2..))]
    pub group_size: u32,
}

#[derive(clap::Args, Debug)]
pub struct SelftestArgs {
    /// Spaces whose networks to check, each at its default input and classes (default: the
    /// shipped MeliusNet-22, ResNet-18 and demo spaces, built into the binary).
    #[arg(long = "spec")]
    pub specs: Vec<PathBuf>,
    /// Random architectures per space (then one more after a weight swap).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub architectures: u64,
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub batch: u32,
    /// cpu | wgpu | cuda | cuda:N (one device)
    #[arg(long, default_value = "cpu")]
    pub device: DeviceArg,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(clap::Args, Debug)]
pub struct NetworkBenchArgs {
    /// The search space (.lnas).
    pub spec: PathBuf,
    #[command(flatten)]
    pub space: SpaceOpts,
    /// The architecture to time (default: `random:1`).
    #[arg(long, value_parser = clap::value_parser!(PinArg))]
    pub pin: Option<PinArg>,
    /// Batch sizes, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = [1usize, 32])]
    pub batch: Vec<usize>,
    /// Timed passes per row (the median is reported).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub reps: u32,
    #[command(flatten)]
    pub ort: OrtOpts,
    /// Time the pinned network alone (not the supernet on sampled paths).
    #[arg(long)]
    pub pinned_only: bool,
    /// Count what the GPU does per pass: kernels compiled, launched and autotuned (slows launches).
    #[arg(long)]
    pub counts: bool,
    /// cpu | wgpu | cuda | cuda:N (one device)
    #[arg(long, default_value = "cpu")]
    pub device: DeviceArg,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// onnxruntime as a column of `bench kernels` (its float conv per shape) and `bench network`
/// (the same network's ONNX export), on the CPU.
#[derive(clap::Args, Debug)]
pub struct OrtOpts {
    /// A Python with onnxruntime (e.g. the tests' `target/venv-onnx/bin/python`).
    #[arg(long)]
    pub onnxruntime: Option<PathBuf>,
    /// onnxruntime's intra-op threads.
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
}

#[derive(clap::Args, Debug)]
pub struct KernelBenchArgs {
    /// Batch sizes, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = [1usize, 32])]
    pub batch: Vec<usize>,
    /// Timed repetitions per row (the median is reported).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub reps: u32,
    /// The CPU kernel: best | avx512 | avx2 | popcnt | portable (on a GPU the variant is timed per
    /// shape; LIGHTNASC_NO_AVX512 / LIGHTNASC_NO_AVX2 hide the wider ones from `best`)
    #[arg(long, default_value = "best")]
    pub kernel: String,
    #[command(flatten)]
    pub ort: OrtOpts,
    /// cpu | wgpu | cuda | cuda:N (one device)
    #[arg(long, default_value = "cpu")]
    pub device: DeviceArg,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(clap::Args, Debug)]
pub struct SupernetBenchArgs {
    /// The search space (.lnas).
    pub spec: PathBuf,
    #[command(flatten)]
    pub space: SpaceOpts,
    /// The fixed network of the baseline row, and the supernet's path in the second row
    /// (default: the first sampled architecture), e.g. the full MeliusNet-22:
    /// `melius:DIDIDIDITDIDIDIDIDITDIDIDIDITDIDIDIDI`.
    #[arg(long, value_parser = clap::value_parser!(PinArg))]
    pub pin: Option<PinArg>,
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=65536))]
    pub batch: u32,
    /// Timed steps per row.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub steps: u32,
    /// Untimed steps before timing.
    #[arg(long, default_value_t = 2)]
    pub warmup: u32,
    /// cpu | wgpu | cuda | cuda:N (one device)
    #[arg(long, default_value = "cpu")]
    pub device: DeviceArg,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Train binary convs in float (the float path), not on the packed forward with
    /// straight-through gradients (the CPU's default).
    #[arg(long)]
    pub float: bool,
    /// Time the fixed network alone (the row to hold against another framework).
    #[arg(long)]
    pub fixed_only: bool,
    /// Count what the GPU does per step: kernels compiled, launched and autotuned (slows launches).
    #[arg(long)]
    pub counts: bool,
    /// On a GPU, time every kernel and write CubeCL's per-kernel summary (name, launches, device
    /// time, share) to FILE: one table for the warm-up, one for the timed steps. Each launch
    /// then waits for the device, so the row's speed means nothing.
    #[arg(long, value_name = "FILE")]
    pub profile: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(clap::Args, Debug)]
pub struct SearchArgs {
    /// The search space (.lnas); may come from the config instead.
    pub spec: Option<PathBuf>,
    /// enas (the LSTM controller) | random (uniform sampling on the same budget, the baseline) |
    /// evolution (uniform training, a population evolved on the same number of scored candidates).
    #[arg(long, value_enum)]
    pub controller: Option<lightnasc::search::config::Policy>,
    #[command(flatten)]
    pub run: RunOpts,
}

/// What a search and a training run share: config, data, budget, device, the run folder.
#[derive(clap::Args, Debug)]
pub struct RunOpts {
    /// YAML config (see specs/configs/); command-line flags override it.
    #[arg(short, long)]
    pub config: Option<PathBuf>,
    /// cifar10 | cifar100 | fashion-mnist | folder:PATH (one sub-folder of images per class) |
    /// mock:DATASET
    #[arg(long)]
    pub data: Option<lightnasc::data::DataArg>,
    /// Folder holding the dataset files (default: where the dataset is usually installed).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// With `--data folder:PATH`: the held-out test split, a folder with the same class
    /// sub-folders (default: PATH/test if it exists, else none).
    #[arg(long)]
    pub test_data: Option<PathBuf>,
    /// Training epochs [default: 10, or the config's]
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub epochs: Option<u32>,
    /// Images per training step [default: 64, or the config's]
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=65536))]
    pub batch_size: Option<u32>,
    /// cpu | wgpu | cuda | cuda:N, or a list for data-parallel training: cuda:0,1,2,3 (cpu:0,1: CPU replicas)
    #[arg(long)]
    pub device: Option<DeviceArg>,
    /// Seed of every random draw: initialisation, data order, architectures [default: 1, or the
    /// config's]
    #[arg(long)]
    pub seed: Option<u64>,
    /// Use at most this many training images (a subset fixed by the seed).
    #[arg(long)]
    pub train_limit: Option<usize>,
    /// Draw the training subset and the validation split with this seed instead of --seed
    /// (which then varies only initialisation and batch order).
    #[arg(long)]
    pub data_seed: Option<u64>,
    /// Run folder name under runs/ (default: space name + timestamp).
    #[arg(long)]
    pub name: Option<String>,
    /// Folder that holds run folders (and the results ledger, ledger.jsonl).
    #[arg(long, default_value = "runs")]
    pub runs_dir: PathBuf,
    /// Continue a run from its last checkpoint (its spec and config come from the run folder).
    #[arg(long, conflicts_with_all = ["config", "data", "data_dir", "test_data", "batch_size", "seed", "train_limit", "data_seed", "name"])]
    pub resume: Option<PathBuf>,
    /// Write each epoch's exports and renders into the run folder.
    #[arg(long)]
    pub export_each_epoch: bool,
    /// Set any config key, e.g. `--set scoring.batch_norm=recalibrate --set controller.tanh_constant=1.5`
    /// (applied after the config file; repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE", conflicts_with = "resume")]
    pub set: Vec<String>,
    /// A latency table (JSON, as a run's `latency.json`) for the reward, instead of building one.
    #[arg(long, conflicts_with = "resume")]
    pub latency_table: Option<PathBuf>,
    /// Stop after this many training steps as if killed (for tests of resume).
    #[arg(long, hide = true)]
    pub stop_after_steps: Option<u64>,
    /// The ledger file to append the result to (default: ledger.jsonl beside the run folder; a
    /// sweep's shards each have their own).
    #[arg(long, hide = true)]
    pub ledger: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum ExportFormat {
    /// PREFIX.onnx
    Onnx,
    /// PREFIX-symbol.json + PREFIX-0000.params (binarised weights, stock ops)
    Mxnet,
    /// PREFIX-latent.params: the latent float weights under the IR's weight keys
    Params,
    All,
}

#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    /// A run folder, or a spec (or pin file) with --pin.
    pub source: PathBuf,
    #[arg(long, value_parser = clap::value_parser!(PinArg))]
    pub pin: Option<PinArg>,
    #[command(flatten)]
    pub space: SpaceOpts,
    /// Epoch of a run whose architecture to export (default: the last).
    #[arg(long, conflicts_with = "best")]
    pub epoch: Option<u32>,
    /// The epoch with the best validation accuracy.
    #[arg(long)]
    pub best: bool,
    #[arg(long, value_enum, default_value_t = ExportFormat::All)]
    pub format: ExportFormat,
    /// Weights: a run folder (its checkpoint; same space) or a `-latent.params` file written by
    /// `export --format params`; random if none.
    #[arg(long)]
    pub weights: Option<PathBuf>,
    /// Seed of random weights.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Output prefix (the files add their extensions). Default: runs/export/NAME, or
    /// RUN/export/epoch-NNN for a run.
    #[arg(short, long, visible_alias = "out")]
    pub output: Option<PathBuf>,
    /// With --epoch or --best naming an earlier epoch than the run's last: export its
    /// architecture with the last epoch's weights (a run keeps only its latest checkpoint).
    #[arg(long)]
    pub latest_weights: bool,
    /// Put the run's input normalisation into the ONNX graph, so that it takes pixels / 255
    /// (otherwise its metadata says how to normalise, as `-preprocess.json` does for MXNet).
    #[arg(long)]
    pub fold_normalization: bool,
    /// A search run's path: recompute its batch-norm statistics on this many training batches
    /// (the run's batch size) before use; 0 keeps the supernet's running statistics, an average
    /// over every path trained, with which a binary path may predict one class for everything.
    #[arg(long, default_value_t = 16)]
    pub calibration_batches: usize,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum RenderFormat {
    Dot,
    Svg,
    Png,
    Pdf,
}

#[derive(clap::Args, Debug)]
pub struct RenderArgs {
    /// A spec, a pinned architecture or a run folder.
    pub source: PathBuf,
    /// Render one architecture of a spec (a pin file, `random[:SEED]`, `name=option,...`, `melius:...`).
    #[arg(long, value_parser = clap::value_parser!(PinArg))]
    pub pin: Option<PinArg>,
    #[command(flatten)]
    pub space: SpaceOpts,
    /// Epoch of a run to render (default: the last).
    #[arg(long, conflicts_with = "all_epochs")]
    pub epoch: Option<u32>,
    /// Render every epoch of a run and the evolution of each decision.
    #[arg(long)]
    pub all_epochs: bool,
    #[arg(long, value_enum, default_value_t = RenderFormat::Svg)]
    pub format: RenderFormat,
    /// Output file (a folder with --all-epochs). Default: standard output for dot, else
    /// NAME.FORMAT in the current folder (in RUN/renders/ for a run).
    #[arg(short, long)]
    pub output: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
pub struct TrainArgs {
    /// A pinned architecture (.lnas with a `pin`), a search run folder, or a spec with --pin.
    pub source: Option<PathBuf>,
    /// The architecture (a pin file, `random[:SEED]`, `name=option,...`, or the original's
    /// MeliusNet config string `melius:DIDI...T...`); with a run folder, in the run's space.
    #[arg(long, value_parser = clap::value_parser!(PinArg))]
    pub pin: Option<PinArg>,
    /// With a run folder: the argmax architecture after this epoch (default: the run's result).
    #[arg(long)]
    pub epoch: Option<u32>,
    /// scratch (seeded initialisation) | supernet (fine-tune from the run's shared weights).
    #[arg(long, value_enum)]
    pub init: Option<lightnasc::search::config::Init>,
    #[command(flatten)]
    pub run: RunOpts,
}

#[derive(clap::Args, Debug)]
pub struct InferArgs {
    /// A run folder: a training run's network, or a search run's architecture on its shared weights.
    pub run: PathBuf,
    /// With a search run: the argmax after this epoch (default: the last).
    #[arg(long)]
    pub epoch: Option<u32>,
    /// Image files or folders of them (PNG, JPEG, BMP, GIF, WebP; fitted to the network's input
    /// as the search did), or one IDX file of unsigned bytes ([n, h, w] or [n, c, h, w]);
    /// default: the run's test set (with labels, so accuracy is reported too).
    #[arg(long, num_args = 1..)]
    pub images: Vec<PathBuf>,
    /// At most this many images.
    #[arg(long)]
    pub limit: Option<usize>,
    #[arg(long, visible_alias = "batch-size", default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=65536))]
    pub batch: u32,
    /// What runs the network: `native` (the native plan, CPU only; the CPU's default), `packed`
    /// (burn's network with bit-packed binary convs; a GPU's default) or `float` (burn's float path).
    #[arg(long, value_enum)]
    pub engine: Option<Engine>,
    /// The same as `--engine float`.
    #[arg(long, conflicts_with = "engine")]
    pub float: bool,
    /// cpu | wgpu | cuda | cuda:N (one device)
    #[arg(long, default_value = "cpu")]
    pub device: DeviceArg,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// A search run's path: recompute its batch-norm statistics on this many training batches
    /// (the run's batch size) before use; 0 keeps the supernet's running statistics, an average
    /// over every path trained, with which a binary path may predict one class for everything.
    #[arg(long, default_value_t = 16)]
    pub calibration_batches: usize,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Engine {
    Native,
    Packed,
    Float,
}

#[derive(clap::Args, Debug)]
pub struct ReportArgs {
    /// Run folders, or folders holding run folders (e.g. `runs`).
    #[arg(required = true)]
    pub runs: Vec<PathBuf>,
    #[arg(long, value_enum, default_value_t = ReportFormat::Markdown)]
    pub format: ReportFormat,
    /// Also write report.md, report.json, a CSV of epochs per run, and accuracy_vs_ops.svg here.
    #[arg(short, long, visible_alias = "output")]
    pub out: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum ReportFormat {
    Markdown,
    Json,
}

#[derive(clap::Args, Debug)]
pub struct FmtArgs {
    /// Files to format in place; none, or `-`, formats standard input to standard output.
    pub files: Vec<PathBuf>,
    /// Change nothing; exit 1 and show a diff if a file is not formatted.
    #[arg(long)]
    pub check: bool,
}

/// `--input C,H,W` (or `N`).
#[derive(Clone, Debug)]
pub struct InputShape(pub Vec<u32>);

fn parse_shape(s: &str) -> Result<InputShape, String> {
    let dims: Result<Vec<u32>, _> = s.split(',').map(|d| d.trim().parse::<u32>()).collect();
    match dims {
        Ok(d) if (d.len() == 3 || d.len() == 1) && d.iter().all(|&x| x >= 1) => Ok(InputShape(d)),
        _ => Err(format!("`{s}` is not a shape: write C,H,W (e.g. 3,32,32) or N, every dimension at least 1")),
    }
}
