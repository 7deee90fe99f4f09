//! `lightnasc bench`: print a table (or JSON rows) of speeds with their ratio to the baseline.

use std::process::ExitCode;

use lightnasc::bench::kernels::KernelBench;
use lightnasc::bench::network::NetworkBench;
use lightnasc::bench::{BenchRow, SupernetBench};
use lightnasc::error::Error;
use lightnasc::net::device::{BackendKind, describe, run_on};

use super::{DecodeBenchArgs, Format, KernelBenchArgs, NetworkBenchArgs, SelftestArgs, SupernetBenchArgs};

pub fn supernet(args: &SupernetBenchArgs) -> ExitCode {
    if let Err(e) = super::one_device("bench supernet", &args.device) {
        return e;
    }
    let (graph, pin) = match super::load_pinned(&args.spec, &args.space, args.pin.as_ref()) {
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
        pin,
        packed_training: !args.float,
        fixed_only: args.fixed_only,
    };
    lightnasc::net::gpu::configure(&lightnasc::net::gpu::Settings {
        count: args.counts,
        profile: args.profile.clone(),
    });
    let rows = match run_on(&args.device, job).map_err(Error::from) {
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
        "{:<44} {:>9} {:>9} {:>10} {:>13} {:>11} {:>7} {:>10}",
        "", "steps/s", "images/s", "ms/step", "peak RSS MiB", "cores busy", "ratio", "1st step s"
    );
    for r in rows {
        let rss = r.peak_rss_mib.map_or("-".into(), |m| format!("{m:.0}"));
        let busy = r.cores_busy.map_or("-".into(), |c| format!("{c:.2}"));
        let _ = writeln!(
            o,
            "{:<44} {:>9.2} {:>9.1} {:>10.1} {:>13} {:>11} {:>7.2} {:>10.2}",
            r.what, r.steps_per_s, r.images_per_s, r.ms_per_step, rss, busy, r.ratio, r.first_step_s
        );
    }
    if args.counts {
        let _ = writeln!(
            o,
            "per timed step (warm-up in all): compiled, launched, autotuned, host reads, bytes read, conv fallbacks"
        );
        for r in rows {
            let (s, w) = (&r.per_step, &r.warmup_counts);
            let _ = writeln!(
                o,
                "{:<44} {} {} {} {} {} {}   (warm-up: {} compiled, {} launched, {} autotuned)",
                r.what,
                s.compiled,
                s.launched,
                s.autotuned,
                s.host_reads,
                s.bytes_read,
                s.conv_fallbacks,
                w.compiled,
                w.launched,
                w.autotuned
            );
        }
    }
    let _ =
        writeln!(o, "host account per timed step: CPU ms by thread (the driving thread as `driver`), device memory");
    for r in rows {
        let threads: Vec<String> =
            r.threads.iter().take(6).map(|t| format!("{} {:.1}", t.name, t.cpu_ms_per_step)).collect();
        let per_launch = r.driver_us_per_launch.map_or(String::new(), |u| format!("; driver {u:.0} us a launch"));
        let memory = match (r.device_reserved_bytes, r.device_reserved_per_step) {
            (Some(total), Some(step)) => {
                format!("; reserved {:.1} MiB, {step:+} bytes a step", total as f64 / 1048576.0)
            }
            _ => String::new(),
        };
        let _ = writeln!(o, "{:<44} {}{per_launch}{memory}", r.what, threads.join(", "));
    }
    o
}

pub fn kernels(args: &KernelBenchArgs) -> ExitCode {
    use lightnasc_kernels::Kernel;
    if let Err(e) = super::one_device("bench kernels", &args.device) {
        return e;
    }
    let kernel = match args.kernel.as_str() {
        "best" => Kernel::best(),
        "avx512" => Kernel::Avx512,
        "avx2" => Kernel::Avx2,
        "popcnt" => Kernel::Popcnt,
        "portable" => Kernel::Portable,
        k => return super::fail(format!("unknown kernel `{k}`: best, avx512, avx2, popcnt or portable")),
    };
    let on_cpu = args.device.backend == BackendKind::Cpu;
    if !on_cpu && args.kernel != "best" {
        return super::fail("--kernel picks a CPU kernel; on a GPU the variant is timed per shape");
    }
    if !kernel.supported() {
        return super::fail(format!("this CPU cannot run the {} kernel", kernel.name()));
    }
    if args.batch.contains(&0) {
        return super::fail("batch sizes must be at least 1");
    }
    if args.ort.onnxruntime.is_some() && !on_cpu {
        return super::fail("--onnxruntime compares CPU convs (--device cpu)");
    }
    let job = KernelBench {
        batches: args.batch.clone(),
        reps: args.reps as usize,
        cpu_kernel: on_cpu.then_some(kernel),
        onnxruntime: args.ort.onnxruntime.clone(),
        threads: args.ort.threads,
    };
    let rows = match run_on(&args.device, job).map_err(Error::from) {
        Ok(Ok(rows)) => rows,
        Ok(Err(e)) | Err(e) => return super::fail(e),
    };
    match args.format {
        Format::Json => super::emit(&format!("{}\n", serde_json::to_string_pretty(&rows).unwrap())),
        Format::Text => {
            use std::fmt::Write as _;
            let mut o = String::new();
            let binary =
                if on_cpu { format!("{} kernel, {}", kernel.name(), kernel.isa()) } else { "CubeCL kernels".into() };
            let _ = writeln!(
                o,
                "binary conv ({binary}, input packing included) vs burn's float conv2d on {}; median of at least {} runs (about 0.25 s a row)",
                describe(&args.device),
                args.reps
            );
            let _ = writeln!(
                o,
                "{:<12} {:<24} {:>5} {:>10} {:>10} {:>8} {:>8} {:>8} {:>9} {:>11} {:>11}  kernel",
                "net",
                "shape",
                "batch",
                "binary ms",
                "float ms",
                "speedup",
                "ORT ms",
                "vs ORT",
                "ceiling",
                "binary KiB",
                "float KiB"
            );
            let opt = |v: Option<f64>, f: &dyn Fn(f64) -> String| v.map_or("-".to_string(), f);
            for r in &rows {
                let _ = writeln!(
                    o,
                    "{:<12} {:<24} {:>5} {:>10.3} {:>10.3} {:>7.1}x {:>8} {:>8} {:>9} {:>11.1} {:>11.1}  {}",
                    r.net,
                    r.shape,
                    r.batch,
                    r.binary_ms,
                    r.float_ms,
                    r.speedup,
                    opt(r.onnxruntime_ms, &|v| format!("{v:.3}")),
                    opt(r.vs_onnxruntime, &|v| format!("{v:.1}x")),
                    opt(r.of_ceiling, &|v| format!("{:.0}%", v * 100.0)),
                    r.binary_bytes as f64 / 1024.0,
                    r.float_bytes as f64 / 1024.0,
                    r.kernel
                );
            }
            let _ = writeln!(
                o,
                "ceiling: the share of the {} kernel's popcount limit ({} bits a cycle a thread at /proc/cpuinfo's clock) that the conv reaches",
                kernel.name(),
                kernel.ceiling_bits_per_cycle().map_or("none".into(), |b| format!("{b:.0}"))
            );
            super::emit(&o);
        }
    }
    ExitCode::SUCCESS
}

pub fn network(args: &NetworkBenchArgs) -> ExitCode {
    if let Err(e) = super::one_device("bench network", &args.device) {
        return e;
    }
    let pin = args.pin.clone().unwrap_or(lightnasc::check::PinArg::Random(1));
    let (space, arch) = match super::load_pinned(&args.spec, &args.space, Some(&pin)) {
        Ok((space, Some(arch))) => (space, arch),
        Ok((_, None)) => return super::fail("no architecture to time"),
        Err(code) => return code,
    };
    if args.batch.contains(&0) {
        return super::fail("batch sizes must be at least 1");
    }
    let native = args.device.backend == BackendKind::Cpu;
    if args.ort.onnxruntime.is_some() && !native {
        return super::fail("--onnxruntime compares with the native plan, which runs on the CPU (--device cpu)");
    }
    let job = NetworkBench {
        space,
        arch,
        batches: args.batch.clone(),
        reps: args.reps as usize,
        native,
        onnxruntime: args.ort.onnxruntime.clone(),
        threads: args.ort.threads,
        pinned_only: args.pinned_only,
    };
    lightnasc::net::gpu::configure(&lightnasc::net::gpu::Settings { count: args.counts, profile: None });
    let rows = match run_on(&args.device, job).map_err(Error::from) {
        Ok(Ok(r)) => r,
        Ok(Err(e)) | Err(e) => return super::fail(e),
    };
    match args.format {
        Format::Json => super::emit(&format!("{}\n", serde_json::to_string_pretty(&rows).unwrap())),
        Format::Text => {
            use std::fmt::Write as _;
            let kernels = match args.device.backend {
                BackendKind::Cpu => {
                    let k = lightnasc_kernels::Kernel::best();
                    format!("{} kernel ({})", k.name(), k.isa())
                }
                _ => "CubeCL kernels".into(),
            };
            let mut o = format!(
                "eval-mode inference on {}, {kernels}: binary convs packed vs float; median of at least {} (about 0.25 s a row)\n",
                describe(&args.device),
                args.reps
            );
            let _ = writeln!(
                o,
                "{:<56} {:>5} {:>10} {:>10} {:>8} {:>8} {:>8} {:>10}",
                "", "batch", "binary ms", "float ms", "speedup", "ORT ms", "vs ORT", "plan MiB"
            );
            let opt = |v: Option<f64>, f: &dyn Fn(f64) -> String| v.map_or("-".to_string(), f);
            for r in &rows {
                let _ = writeln!(
                    o,
                    "{:<56} {:>5} {:>10.2} {:>10.2} {:>7.2}x {:>8} {:>8} {:>10}",
                    r.what,
                    r.batch,
                    r.binary_ms,
                    r.float_ms,
                    r.speedup,
                    opt(r.onnxruntime_ms, &|v| format!("{v:.2}")),
                    opt(r.vs_onnxruntime, &|v| format!("{v:.2}x")),
                    opt(r.plan_bytes.map(|b| b as f64 / 1048576.0), &|v| format!("{v:.1}")),
                );
            }
            if let Some(r) = rows.iter().find(|r| r.onnxruntime_peak_growth_bytes.is_some()) {
                let _ = writeln!(
                    o,
                    "memory at batch {}: native plan {:.1} MiB (weights, constants, buffers); onnxruntime's peak RSS growth {:.1} MiB",
                    r.batch,
                    r.plan_bytes.unwrap_or(0) as f64 / 1048576.0,
                    r.onnxruntime_peak_growth_bytes.unwrap_or(0) as f64 / 1048576.0
                );
            }
            super::emit(&o);
        }
    }
    ExitCode::SUCCESS
}

pub fn selftest(args: &SelftestArgs) -> ExitCode {
    if let Err(e) = super::one_device("selftest", &args.device) {
        return e;
    }
    let mut nets = vec![];
    for spec in &args.specs {
        match super::load_pinned(spec, &super::SpaceOpts::default(), None) {
            Ok((g, _)) => nets.push((spec.display().to_string(), g)),
            Err(code) => return code,
        }
    }
    if args.specs.is_empty() {
        for (name, text) in lightnasc::selftest::BUILT_IN {
            let outcome = lightnasc::check::check_text(name, text, &Default::default(), None);
            match outcome.space {
                Some(g) if outcome.diags.is_empty() => nets.push((name.to_string(), g)),
                _ => return super::fail(format!("the built-in space {name} does not compile (an internal error)")),
            }
        }
    }
    let job = lightnasc::selftest::SelfTest { nets, architectures: args.architectures, batch: args.batch as usize };
    let report = match run_on(&args.device, job) {
        Ok(r) => r,
        Err(e) => return super::fail(e),
    };
    match args.format {
        Format::Json => super::emit(&format!("{}\n", serde_json::to_string_pretty(&report).unwrap())),
        Format::Text => {
            use std::fmt::Write as _;
            let mut o = format!("packed binary path on {}\n", describe(&args.device));
            let bad = report.kernels.iter().filter(|c| !c.equal).count();
            let _ = writeln!(o, "kernel checks against the CPU kernels: {} run, {bad} differ", report.kernels.len());
            for c in report.kernels.iter().filter(|c| !c.equal) {
                let _ = writeln!(o, "  DIFFERS: {} at [n c h w out k stride pad dilation] = {:?}", c.what, c.shape);
            }
            for n in &report.networks {
                let mut kinds: Vec<&String> = n.kernels.iter().collect();
                kinds.sort();
                kinds.dedup();
                let _ = writeln!(
                    o,
                    "{}: {} architectures, logits {}; after a weight swap {}; {} packed slots ran ({})",
                    n.net,
                    n.architectures,
                    if n.equal { "equal" } else { "DIFFER" },
                    if n.equal_after_swap { "equal" } else { "DIFFER" },
                    n.kernels.len(),
                    kinds.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", ")
                );
            }
            let _ = writeln!(o, "{}", if report.ok { "ok" } else { "FAILED" });
            super::emit(&o);
        }
    }
    if report.ok { ExitCode::SUCCESS } else { ExitCode::from(1) }
}

pub fn decode(args: &DecodeBenchArgs) -> ExitCode {
    let rows = match lightnasc::bench::decode::run(&args.out, args.png, args.jpeg) {
        Ok(r) => r,
        Err(e) => return super::fail(e),
    };
    if args.format == Format::Json {
        super::emit(&format!("{}\n", serde_json::to_string_pretty(&rows).expect("serialises")));
        return ExitCode::SUCCESS;
    }
    let mut o = String::from("images decoded into the cache (list, decode, fit, write), all cores against one\n");
    o.push_str(&format!(
        "{:<32} {:>7} {:>9} {:>11} {:>7} {:>14}\n",
        "folder", "images", "images/s", "1 thread/s", "ratio", "cache read"
    ));
    for r in &rows {
        o.push_str(&format!(
            "{:<32} {:>7} {:>9.0} {:>11.0} {:>6.2}x {:>8.3} s ({:.2} s per 60k)\n",
            r.what,
            r.images,
            r.build_images_per_s,
            r.one_thread_images_per_s,
            r.build_images_per_s / r.one_thread_images_per_s,
            r.cache_read_s,
            r.cache_read_s_per_60k
        ));
    }
    o.push_str(&format!("threads: {}\n", rows.first().map_or(0, |r| r.threads)));
    super::emit(&o);
    ExitCode::SUCCESS
}
