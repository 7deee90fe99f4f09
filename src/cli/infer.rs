//! `lightnasc infer`: run a trained architecture on images on one device: on the CPU (the
//! default) through the native plan (`back::native`), on a GPU through burn's network with the
//! device's bit-packed binary convs; predictions, accuracy when the images have labels, and
//! throughput.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use burn::tensor::backend::{AutodiffBackend, Backend};
use lightnasc::back::native;
use lightnasc::data::loader::BatchPlan;
use lightnasc::data::{Dataset, folder, idx};
use lightnasc::error::Error;
use lightnasc::net::device::{BackendJob, BackendKind, describe, run_on};
use lightnasc::net::train::to_tensors;
use lightnasc::net::{Mode, Supernet};
use lightnasc::search::run::Run;

use super::{Engine, Format, InferArgs, emit, fail};

pub fn run(args: &InferArgs) -> ExitCode {
    if let Err(code) = super::one_device("infer", &args.device) {
        return code;
    }
    if engine(args) == Engine::Native && args.device.backend != BackendKind::Cpu {
        return fail("the native plan runs on the CPU: use --device cpu, or --engine packed|float on a GPU");
    }
    match run_on(&args.device, Infer(args)).map_err(Error::from) {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(e)) | Err(e) => fail(e),
    }
}

/// The engine asked for, or the device's default.
fn engine(args: &InferArgs) -> Engine {
    match (args.float, args.engine) {
        (true, _) => Engine::Float,
        (false, Some(e)) => e,
        (false, None) if args.device.backend == BackendKind::Cpu => Engine::Native,
        (false, None) => Engine::Packed,
    }
}

struct Infer<'a>(&'a InferArgs);

impl BackendJob for Infer<'_> {
    type Output = Result<(), Error>;

    fn run<B: AutodiffBackend>(self, devices: Vec<B::Device>) -> Self::Output {
        infer::<B::InnerBackend>(self.0, &devices[0])
    }
}

#[derive(serde::Serialize)]
struct Output {
    images: usize,
    predictions: Vec<usize>,
    /// The predicted classes' names, and their softmax probabilities.
    classes: Vec<String>,
    scores: Vec<f32>,
    /// With `--images`: the file of each prediction.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    files: Vec<String>,
    accuracy: Option<f64>,
    images_per_s: f64,
    engine: Engine,
    binary_kernels: bool,
}

fn infer<B: Backend>(args: &InferArgs, device: &B::Device) -> Result<(), Error> {
    let run = Run::open(&args.run)?;
    // The trained network: a training run's own, or a search run's architecture on its shared weights.
    let supernet = run.supernet::<B>(device)?;
    let mut net: Supernet<B> = if !run.cfg.policy.searches() {
        supernet
    } else {
        let (_, a) = run.architecture(args.epoch, false)?;
        let path = supernet.extract(&a)?;
        recalibrate(&run, &path, args.calibration_batches, device)?;
        path
    };
    let mut engine = engine(args);
    // The CPU's default falls back to burn's network for what the native plan cannot lower
    // (asked for by name, that is an error).
    if engine == Engine::Native
        && args.engine.is_none()
        && let Err(e) = native::supports(&net.plan.graph)
    {
        eprintln!("note: {e}; running burn's network with packed binary convs instead");
        engine = Engine::Packed;
    }
    net.binary_kernels = engine != Engine::Float;
    let mut native_plan = match engine {
        Engine::Native => {
            let (g, store) = (&net.plan.graph, net.to_store());
            Some(native::Plan::new(native::lower(g, &store)?))
        }
        _ => None,
    };
    let meta = run.cfg.data.meta();
    let (ds, files, labelled) = images(args, &run.cfg)?;
    let ds = match args.limit {
        Some(l) if l < ds.len() => ds.select(&(0..l).collect::<Vec<_>>()),
        _ => ds,
    };
    let plan = BatchPlan {
        norm: meta.norm.clone(),
        batch: args.batch as usize,
        augment: false,
        drop_last: false,
        shuffle: None,
    };
    let (mut predictions, mut scores, mut hits) = (vec![], vec![], 0usize);
    let started = Instant::now();
    for b in plan.stream(Arc::new(ds), 0, 0) {
        let labels = b.labels.clone();
        let (x, _) = to_tensors::<B>(b, device);
        let n = x.dims()[0];
        let logits: Vec<f32> = match native_plan.as_mut() {
            Some(plan) => {
                let host: Vec<f32> =
                    x.into_data().to_vec().map_err(|e| Error::Tool(format!("reading back a tensor: {e:?}")))?;
                plan.run(&host, n)
            }
            None => {
                let y = net.logits(x, &lightnasc::ir::pin::Assignment(vec![]), Mode::Eval);
                y.into_data()
                    .convert::<f32>()
                    .to_vec()
                    .map_err(|e| Error::Tool(format!("reading back a tensor: {e:?}")))?
            }
        };
        for (row, y) in logits.chunks(logits.len() / n.max(1)).zip(&labels) {
            let (p, score) = top(row);
            hits += usize::from(p as i64 == *y);
            predictions.push(p);
            scores.push(score);
        }
    }
    let secs = started.elapsed().as_secs_f64();
    let out = Output {
        images: predictions.len(),
        accuracy: labelled.then(|| hits as f64 / predictions.len().max(1) as f64),
        images_per_s: predictions.len() as f64 / secs.max(1e-9),
        engine,
        binary_kernels: net.binary_kernels,
        classes: predictions.iter().map(|&p| meta.classes.get(p).cloned().unwrap_or_else(|| p.to_string())).collect(),
        files: files.iter().map(|f| f.display().to_string()).collect(),
        predictions,
        scores,
    };
    match args.format {
        Format::Json => emit(&format!("{}\n", serde_json::to_string(&out).expect("serialises"))),
        Format::Text => emit(&text(&out, &args.device)),
    }
    Ok(())
}

/// A search run's path (`infer`, `export`): its batch norm recalibrated on `batches` training
/// batches, and the user told what the network is. A training run's is its own: nothing to do.
pub(super) fn recalibrate<B: Backend>(
    run: &Run,
    path: &Supernet<B>,
    batches: usize,
    device: &B::Device,
) -> Result<(), lightnasc::search::RunError> {
    if !run.cfg.policy.searches() {
        return Ok(());
    }
    let bn = match run.recalibrate(path, batches, device)? {
        0 => "batch norm on the supernet's running statistics (--calibration-batches 0)".to_string(),
        n => format!("batch norm recalibrated on {n} training images"),
    };
    eprintln!(
        "note: a search run's architecture on its shared supernet weights, {bn}; `lightnasc train {}` trains it alone",
        run.dir.display()
    );
    Ok(())
}

/// The index of the largest logit (the first on ties, as burn's `argmax`; NaN never wins) and
/// its softmax probability.
fn top(row: &[f32]) -> (usize, f32) {
    let best = (0..row.len()).fold(0, |b, i| if row[i] > row[b] { i } else { b });
    let sum: f32 = row.iter().map(|v| (v - row[best]).exp()).sum();
    (best, 1.0 / sum)
}

/// What to classify: image files or folders (`--images`, decoded to the network's input), an IDX
/// file, or the run's own test set (labelled). Also the files, in order.
fn images(
    args: &InferArgs,
    cfg: &lightnasc::search::config::SearchConfig,
) -> Result<(Dataset, Vec<PathBuf>, bool), Error> {
    let shape = cfg.data.meta().shape;
    match &args.images[..] {
        [] => {
            let (splits, _) =
                lightnasc::data::load(&cfg.data, cfg.data_dir.as_deref(), cfg.data_mirror.as_deref(), cfg.seed)?;
            if splits.test.is_empty() {
                return Err(Error::usage("the run's data has no test split: name images with --images FILE|FOLDER..."));
            }
            Ok((splits.test, vec![], true))
        }
        [one] if one.is_file() && !folder::is_image(one) => Ok((images_file(one, shape)?, vec![], false)),
        paths => {
            let (files, ds) = folder::decode_paths(paths, shape)?;
            Ok((ds, files, false))
        }
    }
}

/// One line per image (its file, or its index, the class and its probability), then a summary.
fn text(out: &Output, device: &lightnasc::net::device::DeviceArg) -> String {
    let mut s = String::new();
    for (i, (c, p)) in out.classes.iter().zip(&out.scores).enumerate() {
        let name = out.files.get(i).cloned().unwrap_or_else(|| i.to_string());
        s.push_str(&format!("{name}\t{c}\t{p:.3}\n"));
    }
    s.push_str(&format!(
        "# {} images, {:.0} images/s on {} ({}){}\n",
        out.images,
        out.images_per_s,
        describe(device),
        match out.engine {
            Engine::Native => "native plan",
            Engine::Packed => "binary convs bit-packed",
            Engine::Float => "float path",
        },
        out.accuracy.map_or(String::new(), |a| format!(", accuracy {a:.4}"))
    ));
    s
}

/// Unlabelled images from an IDX file of unsigned bytes: `[n, h, w]` or `[n, c, h, w]`.
fn images_file(path: &Path, want: [usize; 3]) -> Result<Dataset, Error> {
    let (dims, pixels) = idx::read_idx(path, 3).or_else(|_| idx::read_idx(path, 4))?;
    let shape = match dims[..] {
        [_, h, w] => [1, h, w],
        [_, c, h, w] => [c, h, w],
        _ => unreachable!("read_idx returns the dimensions asked for"),
    };
    if shape != want {
        return Err(Error::usage(format!("{}: images are {shape:?}, the network takes {want:?}", path.display())));
    }
    Ok(Dataset { labels: vec![0; dims[0]], pixels, shape })
}
