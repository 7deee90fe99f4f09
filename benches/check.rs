//! `cargo bench --bench check`: how long `lightnasc check` takes on the largest shipped spaces
//! (load, parse, lower, validate, cost), against the 50 ms budget of the language issue.

use std::path::Path;
use std::time::{Duration, Instant};

use lightnasc::check::{check_path, report};
use lightnasc::lower::SpaceArgs;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let budget = Duration::from_millis(50);
    println!("{:<22} {:>10} {:>10} {:>10} {:>12}", "spec", "min ms", "median ms", "layers", "budget/median");
    for spec in ["meliusnet22", "meliusnet59", "resnet34"] {
        let path = root.join(format!("specs/{spec}.lnas"));
        let run = || {
            let o = check_path(&path, &SpaceArgs::default(), None, None);
            assert!(o.diags.is_empty());
            let g = o.space.unwrap();
            let r = report(&g, None, spec);
            r.layers.len()
        };
        let layers = run(); // warm-up
        let mut times: Vec<Duration> = (0..30)
            .map(|_| {
                let t = Instant::now();
                std::hint::black_box(run());
                t.elapsed()
            })
            .collect();
        times.sort();
        let median = times[times.len() / 2];
        println!(
            "{:<22} {:>10.2} {:>10.2} {:>10} {:>11.1}x",
            spec,
            times[0].as_secs_f64() * 1e3,
            median.as_secs_f64() * 1e3,
            layers,
            budget.as_secs_f64() / median.as_secs_f64()
        );
    }
}
