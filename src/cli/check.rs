//! `lightnasc check`: print diagnostics, or a summary of the space (text or JSON).

use std::process::ExitCode;

use lightnasc::check::{self, Report};

use lightnasc::util::human_count;

use super::{CheckArgs, Format};

pub fn run(args: &CheckArgs) -> ExitCode {
    let outcome = check::check_path(&args.spec, &args.space.args(), args.space.space.as_deref(), args.pin.as_ref());
    let checked = match outcome.checked() {
        Ok(c) => c,
        Err(outcome) => {
            match args.format {
                Format::Json => {
                    let diags: Vec<_> = outcome.diags.0.iter().map(|d| d.to_json(&outcome.db)).collect();
                    let v = serde_json::json!({ "ok": false, "diagnostics": diags });
                    super::emit(&format!("{}\n", serde_json::to_string_pretty(&v).unwrap()));
                }
                Format::Text => super::print_diagnostics(&outcome, &args.spec, super::use_color(args.color)),
            }
            return ExitCode::from(1);
        }
    };
    let report = check::report(&checked.space, checked.pinned.as_ref(), &args.spec.display().to_string());
    match args.format {
        Format::Json => {
            let mut v = serde_json::to_value(&report).unwrap();
            v["ok"] = true.into();
            v["diagnostics"] = serde_json::json!([]);
            super::emit(&format!("{}\n", serde_json::to_string_pretty(&v).unwrap()));
        }
        Format::Text => super::emit(&text_report(&report, args.verbose)),
    }
    ExitCode::SUCCESS
}

fn text_report(r: &Report, verbose: bool) -> String {
    use std::fmt::Write as _;
    let mut o = String::new();
    let _ = writeln!(o, "space {}: {} decisions, {} architectures", r.space, r.decisions, r.space_size);
    let _ = writeln!(o, "  input {} -> output {}", r.input_shape, r.output_shape);
    match &r.pinned {
        Some(p) => {
            let _ = writeln!(
                o,
                "  pinned: {} params, {} FLOPs, {} BOPs, {} OPs",
                p.params,
                human_count(p.flops as f64),
                human_count(p.bops as f64),
                human_count(p.ops)
            );
        }
        None => {
            let _ = writeln!(
                o,
                "  params {} .. {} ({} .. {}), supernet {}",
                human_count(r.params_min as f64),
                human_count(r.params_max as f64),
                r.params_min,
                r.params_max,
                human_count(r.supernet_params as f64)
            );
            let _ = writeln!(o, "  OPs    {} .. {}", human_count(r.ops_min), human_count(r.ops_max));
        }
    }
    if !r.choices.is_empty() {
        let _ = writeln!(o, "  choices:");
        for c in &r.choices {
            let chosen =
                r.pinned.as_ref().and_then(|p| p.assignment.iter().find(|(n, _)| *n == c.name).map(|(_, o)| o.clone()));
            let opts: Vec<String> = c
                .options
                .iter()
                .enumerate()
                .map(|(i, o)| {
                    let cost = c.costs.as_ref().and_then(|cs| cs[i]).map_or(String::new(), |v| format!(" (cost {v})"));
                    if chosen.as_deref() == Some(o) { format!("[{o}]{cost}") } else { format!("{o}{cost}") }
                })
                .collect();
            let _ = writeln!(
                o,
                "    {:<40} {}{}",
                c.name,
                opts.join(" | "),
                if c.shared { "  (shared weights)" } else { "" }
            );
        }
    }
    if verbose {
        o.push('\n');
        let _ = writeln!(
            o,
            "  {:<56} {:<15} {:<16} {:>10} {:>12} {:>12}",
            "layer", "op", "shape", "params", "FLOPs", "BOPs"
        );
        for l in &r.layers {
            let shape = serde_json::to_string(&l.out_shape).unwrap().to_string();
            let _ = writeln!(
                o,
                "  {:<56} {:<15} {:<16} {:>10} {:>12} {:>12}",
                l.name, l.op, shape, l.params, l.flops, l.bops
            );
        }
    }
    o
}
