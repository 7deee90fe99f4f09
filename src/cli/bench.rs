//! `lightnasc bench`: print a table (or JSON rows) of speeds with their ratio to the baseline.

use std::process::ExitCode;

use lightnasc::bench::{BenchRow, SupernetBench};
use lightnasc::net::device::{describe, run_on};

use super::{Format, KernelBenchArgs, NetworkBenchArgs, SupernetBenchArgs};

pub fn supernet(args: &SupernetBenchArgs) -> ExitCode {
    if args.device.replicas() > 1 {
        return super::fail("`bench supernet` times one device; give one (`cuda:1`), not a list");
    }
    let graph = match super::load_space(&args.spec, &args.space) {
        Ok(g) => g,
        Err(code) => return code,
    };
    let name = graph.name.clone();
    let job = SupernetBench {
        graph,
        batch: args.batch as usize,
        steps: args.steps as usize,
        warmup: args.warmup as usize,
        seed: args.seed,
    };
    let rows = match run_on(&args.device, job) {
        Ok(Ok(rows)) => rows,
        Ok(Err(e)) | Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    match args.format {
        Format::Json => super::emit(&format!("{}\n", serde_json::to_string_pretty(&rows).unwrap())),
        Format::Text => super::emit(&table(&name, args, &rows)),
    }
    ExitCode::SUCCESS
}

fn table(name: &str, args: &SupernetBenchArgs, rows: &[BenchRow]) -> String {
    use std::fmt::Write as _;
    let mut o = String::new();
    let _ = writeln!(
        o,
        "supernet training of `{name}` at batch {} on {}: {} timed steps after {} warm-up",
        args.batch,
        describe(&args.device),
        args.steps,
        args.warmup
    );
    let _ = writeln!(
        o,
        "{:<44} {:>9} {:>9} {:>10} {:>13} {:>7}",
        "", "steps/s", "images/s", "ms/step", "peak RSS MiB", "ratio"
    );
    for r in rows {
        let rss = r.peak_rss_mib.map_or("-".into(), |m| format!("{m:.0}"));
        let _ = writeln!(
            o,
            "{:<44} {:>9.2} {:>9.1} {:>10.1} {:>13} {:>7.2}",
            r.what, r.steps_per_s, r.images_per_s, r.ms_per_step, rss, r.ratio
        );
    }
    o
}

pub fn kernels(args: &KernelBenchArgs) -> ExitCode {
    use lightnasc_kernels::Kernel;
    let kernel = match args.kernel.as_str() {
        "best" => Kernel::best(),
        "avx512" => Kernel::Avx512,
        "popcnt" => Kernel::Popcnt,
        "portable" => Kernel::Portable,
        k => return super::fail(format!("unknown kernel `{k}`: best, avx512, popcnt or portable")),
    };
    if !kernel.supported() {
        return super::fail(format!("this CPU cannot run the {} kernel", kernel.name()));
    }
    if args.batch.contains(&0) {
        return super::fail("batch sizes must be at least 1");
    }
    let rows = lightnasc::bench::kernels::run(&args.batch, args.reps as usize, kernel);
    match args.format {
        Format::Json => super::emit(&format!("{}\n", serde_json::to_string_pretty(&rows).unwrap())),
        Format::Text => {
            use std::fmt::Write as _;
            let mut o = String::new();
            let _ = writeln!(
                o,
                "binary conv ({} kernel, input packing included) vs burn Flex float conv2d, {} threads; median of at least {} runs (about 0.25 s a row)",
                kernel.name(),
                std::thread::available_parallelism().map_or(1, |n| n.get()),
                args.reps
            );
            let _ = writeln!(
                o,
                "{:<12} {:<24} {:>5} {:>10} {:>10} {:>8} {:>11} {:>11}",
                "net", "shape", "batch", "binary ms", "float ms", "speedup", "binary KiB", "float KiB"
            );
            for r in &rows {
                let _ = writeln!(
                    o,
                    "{:<12} {:<24} {:>5} {:>10.3} {:>10.3} {:>7.1}x {:>11.1} {:>11.1}",
                    r.net,
                    r.shape,
                    r.batch,
                    r.binary_ms,
                    r.float_ms,
                    r.speedup,
                    r.binary_bytes as f64 / 1024.0,
                    r.float_bytes as f64 / 1024.0
                );
            }
            super::emit(&o);
        }
    }
    ExitCode::SUCCESS
}

pub fn network(args: &NetworkBenchArgs) -> ExitCode {
    let pin = args.pin.clone().unwrap_or(lightnasc::check::PinArg::Random(1));
    let outcome = lightnasc::check::check_path(&args.spec, &args.space.args(), args.space.space.as_deref(), Some(&pin));
    if !outcome.diags.is_empty() {
        super::print_diagnostics(&outcome, &args.spec, super::use_color(super::Color::Auto));
        return ExitCode::from(1);
    }
    let (Some(space), Some((arch, _))) = (outcome.space, outcome.pinned) else {
        return super::fail("no architecture to time");
    };
    if args.batch.contains(&0) {
        return super::fail("batch sizes must be at least 1");
    }
    let rows = match lightnasc::bench::network::run(&space, &arch, &args.batch, args.reps as usize) {
        Ok(r) => r,
        Err(e) => return super::fail(e),
    };
    match args.format {
        Format::Json => super::emit(&format!("{}\n", serde_json::to_string_pretty(&rows).unwrap())),
        Format::Text => {
            use std::fmt::Write as _;
            let mut o = format!(
                "eval-mode inference on cpu (burn Flex, {} threads), {} kernel: binary convs packed vs float; median of at least {} (about 0.25 s a row)\n",
                std::thread::available_parallelism().map_or(1, |n| n.get()),
                lightnasc_kernels::Kernel::best().name(),
                args.reps
            );
            let _ = writeln!(o, "{:<56} {:>5} {:>10} {:>10} {:>8}", "", "batch", "binary ms", "float ms", "speedup");
            for r in &rows {
                let _ = writeln!(
                    o,
                    "{:<56} {:>5} {:>10.2} {:>10.2} {:>7.2}x",
                    r.what, r.batch, r.binary_ms, r.float_ms, r.speedup
                );
            }
            super::emit(&o);
        }
    }
    ExitCode::SUCCESS
}
