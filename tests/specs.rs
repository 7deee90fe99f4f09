//! The shipped specs: their structure against the original's numbers (computed independently
//! here from the description of the original, not by lightnasc), and clean checks for every
//! supported input.

mod common;
use common::*;

use lightnasc::check::check_path;
use lightnasc::lower::SpaceArgs;

/// The original MeliusNet's trainable parameters, straight from its definition (LightNAS
/// models/meliusnet_enas.py, all blocks used or all skipped; thumbnail stem, growth 64): dense
/// blocks BN(C) + binary conv C->64 (3x3, or 1x1 when skipped), improvement blocks BN(C) + 3x3
/// binary conv, transitions BN(C) + 1x1 conv to `C // (1/r)` rounded to 32, head BN + dense.
fn original_melius_params(blocks: [u64; 4], ratios: [f64; 3], classes: u64, used: bool) -> (u64, Vec<(u64, u64)>, u64) {
    let mut c = 64u64;
    let mut p = 3 * 64 * 9;
    let mut widths = vec![];
    for (s, &n) in blocks.iter().enumerate() {
        for _ in 0..n {
            p += 2 * c + 64 * c * if used { 9 } else { 1 };
            c += 64;
            if used {
                p += 2 * c + 64 * c * 9;
            }
        }
        if s < 3 {
            let reduction = 1.0 / ratios[s];
            let out = ((c as f64 / reduction).floor() / 32.0).round_ties_even() as u64 * 32;
            widths.push((c, out));
            p += 2 * c + c * out;
            c = out;
        }
    }
    p += 2 * c + c * classes + classes;
    (p, widths, c)
}

#[test]
fn meliusnet22_matches_the_original() {
    let (code, r) = check_json(&["specs/meliusnet22.lnas"]);
    assert_eq!(code, 0);
    assert_eq!(r["decisions"], 34);
    let choices = r["choices"].as_array().unwrap();
    assert_eq!(choices.len(), 34);
    assert!(choices.iter().all(|c| c["options"].as_array().unwrap().len() == 2));
    let dense = choices.iter().filter(|c| c["name"].as_str().unwrap().ends_with("dense.keep")).count();
    let improvement = choices.iter().filter(|c| c["name"].as_str().unwrap().ends_with("improvement.use")).count();
    assert_eq!((dense, improvement), (17, 17));
    assert_eq!(r["space_size"], (1u64 << 34).to_string());
    assert_eq!(r["output_shape"], serde_json::json!([100]));

    let (params_max, widths, final_width) =
        original_melius_params([4, 5, 4, 4], [160.0 / 320.0, 224.0 / 480.0, 256.0 / 480.0], 100, true);
    assert_eq!(widths, vec![(320, 160), (480, 224), (480, 256)]);
    assert_eq!(final_width, 512);
    assert_eq!(r["params_max"], params_max);
    let (params_min, ..) =
        original_melius_params([4, 5, 4, 4], [160.0 / 320.0, 224.0 / 480.0, 256.0 / 480.0], 100, false);
    assert_eq!(r["params_min"], params_min);

    let layers = r["layers"].as_array().unwrap();
    let shape_of = |name: &str| {
        layers.iter().find(|l| l["name"] == name).unwrap_or_else(|| panic!("no layer {name}"))["out_shape"].clone()
    };
    for (i, (before, after)) in widths.iter().enumerate() {
        assert_eq!(shape_of(&format!("transition{}.bn", i + 1))[0], *before);
        assert_eq!(shape_of(&format!("transition{}.conv", i + 1))[0], *after);
    }
    assert_eq!(shape_of("head.bn")[0], 512);
}

#[test]
fn meliusnet_variants_have_the_original_widths() {
    // (spec, blocks, ratios, transition widths from the reference's table 4.1, final width)
    type Case = (&'static str, [u64; 4], [f64; 3], [(u64, u64); 3], u64);
    let cases: [Case; 3] = [
        (
            "meliusnet29",
            [4, 6, 8, 6],
            [128. / 320., 192. / 512., 256. / 704.],
            [(320, 128), (512, 192), (704, 256)],
            640,
        ),
        (
            "meliusnet42",
            [5, 8, 14, 10],
            [160. / 384., 256. / 672., 416. / 1152.],
            [(384, 160), (672, 256), (1152, 416)],
            1056,
        ),
        (
            "meliusnet59",
            [6, 12, 24, 12],
            [192. / 448., 320. / 960., 544. / 1856.],
            [(448, 192), (960, 320), (1856, 544)],
            1312,
        ),
    ];
    for (name, blocks, ratios, widths, final_width) in cases {
        let (code, r) = check_json(&[&format!("specs/{name}.lnas")]);
        assert_eq!(code, 0, "{name}");
        let (params, w, f) = original_melius_params(blocks, ratios, 100, true);
        assert_eq!(w, widths.to_vec(), "{name}");
        assert_eq!(f, final_width, "{name}");
        assert_eq!(r["params_max"], params, "{name}");
        assert_eq!(r["decisions"], 2 * blocks.iter().sum::<u64>(), "{name}");
    }
}

#[test]
fn resnet18_has_eight_bit_width_choices_and_the_original_widths() {
    let (code, r) = check_json(&["specs/resnet18.lnas", "--verbose"]);
    assert_eq!(code, 0);
    assert_eq!(r["decisions"], 8);
    for c in r["choices"].as_array().unwrap() {
        assert_eq!(c["options"], serde_json::json!(["b1", "b32"]));
        assert_eq!(c["costs"], serde_json::json!([0.8203125, 3.0]));
        assert_eq!(c["shared"], true);
    }
    let layers = r["layers"].as_array().unwrap();
    for (stage, width) in [(1, 64), (2, 128), (3, 256), (4, 512)] {
        let add = layers.iter().find(|l| l["name"] == format!("stage{stage}.block2.basic.bits.b1.add")).unwrap();
        assert_eq!(add["out_shape"][0], width);
    }
    // Sharing: every architecture has the same parameters (the bit width only changes the
    // arithmetic); the supernet stores the shared convs once plus one batch norm per variant.
    assert_eq!(r["params_min"], r["params_max"]);
    // 1-bit everywhere is the cheapest in OPs, 32-bit everywhere the dearest.
    assert!(r["ops_min"].as_f64().unwrap() * 10.0 < r["ops_max"].as_f64().unwrap());
}

#[test]
fn every_shipped_spec_checks_clean_for_cifar_and_fashion_mnist() {
    for spec in specs() {
        for (input, classes) in [(vec![3, 32, 32], 100), (vec![3, 32, 32], 10), (vec![1, 28, 28], 10)] {
            let args = SpaceArgs { input: Some(input.clone()), classes: Some(classes), other: vec![] };
            let o = check_path(&spec, &args, None, None);
            let rendered: Vec<String> = o.diags.0.iter().map(|d| d.render(&o.db, false)).collect();
            assert!(o.diags.is_empty(), "{} for {input:?}/{classes}:\n{}", rel(&spec), rendered.join("\n"));
            let g = o.space.unwrap();
            assert_eq!(g.node(g.output).shape.dims(), vec![classes as u32], "{}", rel(&spec));
        }
    }
}

#[test]
fn melius_config_strings_pin_meliusnet22() {
    // Everything used: the pinned network is the largest of the space.
    let (code, full) = check_json(&["specs/meliusnet22.lnas", "--pin", "melius:DIDIDIDITDIDIDIDIDITDIDIDIDITDIDIDIDI"]);
    assert_eq!(code, 0);
    let (_, space) = check_json(&["specs/meliusnet22.lnas"]);
    assert_eq!(full["pinned"]["params"], space["params_max"]);
    // The last improvement block dropped: 2 * 512-64... one BN(512) + 3x3 conv 512->64 fewer.
    let (_, less) = check_json(&["specs/meliusnet22.lnas", "--pin", "melius:DIDIDIDITDIDIDIDIDITDIDIDIDITDIDIDID"]);
    let dropped = 2 * 512 + 64 * 512 * 9;
    assert_eq!(full["pinned"]["params"].as_u64().unwrap() - less["pinned"]["params"].as_u64().unwrap(), dropped);
    // A stage with the wrong number of blocks is refused.
    let (code, bad) = check_json(&["specs/meliusnet22.lnas", "--pin", "melius:DIDIDITDIDIDIDIDITDIDIDIDITDIDIDIDIDI"]);
    assert_eq!(code, 1);
    assert_eq!(bad["diagnostics"][0]["code"], "E0600");
}

#[test]
fn pins_round_trip_through_a_pin_file() {
    let dir = tempfile::tempdir().unwrap();
    for spec in ["specs/meliusnet22.lnas", "specs/resnet18.lnas", "specs/demo.lnas"] {
        let (code, a) = check_json(&[spec, "--pin", "random:7"]);
        assert_eq!(code, 0);
        let (_, b) = check_json(&[spec, "--pin", "random:7"]);
        assert_eq!(a["pinned"]["assignment"], b["pinned"]["assignment"], "same seed, same pin");
        let (_, c) = check_json(&[spec, "--pin", "random:8"]);
        assert_ne!(a["pinned"]["assignment"], c["pinned"]["assignment"], "another seed, another pin");
        // The pin as text, pointed at the spec by absolute path, checks to the same network.
        let abs = root().join(spec).display().to_string();
        let text = a["pinned"]["text"].as_str().unwrap().replace(&format!("\"{spec}\""), &format!("{abs:?}"));
        let file = dir.path().join("arch.lnas");
        std::fs::write(&file, text).unwrap();
        let (code, d) = check_json(&[file.to_str().unwrap()]);
        assert_eq!(code, 0, "{d}");
        assert_eq!(d["pinned"]["params"], a["pinned"]["params"]);
        assert_eq!(d["pinned"]["ops"], a["pinned"]["ops"]);
        assert_eq!(d["pinned"]["assignment"], a["pinned"]["assignment"]);
        // Inline pins: the same assignment written as name=option pairs.
        let inline: Vec<String> = a["pinned"]["assignment"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| format!("{}={}", p[0].as_str().unwrap(), p[1].as_str().unwrap()))
            .collect();
        let (_, e) = check_json(&[spec, "--pin", &inline.join(",")]);
        assert_eq!(e["pinned"]["params"], a["pinned"]["params"]);
    }
}

#[test]
fn usage_errors_exit_2_and_bad_input_exits_1() {
    assert_eq!(lightnasc(&["check"]).status.code(), Some(2));
    assert_eq!(lightnasc(&["check", "specs/demo.lnas", "--input", "1,2"]).status.code(), Some(2));
    assert_eq!(lightnasc(&["check", "specs/demo.lnas", "--frobnicate"]).status.code(), Some(2));
    assert_eq!(lightnasc(&["check", "specs/demo.lnas", "--format", "yaml"]).status.code(), Some(2));
    let missing = lightnasc(&["check", "specs/no_such.lnas"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("cannot read `specs/no_such.lnas`"));
    // Every command has help, and refuses flags it does not know (clap's exit code 2).
    for cmd in ["check", "search", "train", "report", "infer", "fmt", "lsp", "export", "render", "bench"] {
        assert_eq!(lightnasc(&[cmd, "--help"]).status.code(), Some(0), "{cmd} --help");
        assert_eq!(lightnasc(&[cmd, "--frobnicate"]).status.code(), Some(2), "{cmd} --frobnicate");
    }
    assert_eq!(lightnasc(&["train", "specs/demo.lnas", "--init", "bogus"]).status.code(), Some(2));
    assert_eq!(lightnasc(&["report"]).status.code(), Some(2));
    // Bad input: exit 1 with a message that says what is wrong.
    let cases: &[(&[&str], &str)] = &[
        (&["train"], "give what to train"),
        (&["train", "specs/demo.lnas", "--data", "mock:fashion-mnist"], "no architecture"),
        (&["report", "specs"], "neither a run folder nor a folder of runs"),
        (&["infer", "specs"], "not a run folder"),
        (&["bench", "kernels", "--kernel", "nope"], "unknown kernel"),
    ];
    for (args, want) in cases {
        let out = lightnasc(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(want),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// `--help` as a user reads it: an example per subcommand, the run flags' defaults, no
/// `--controller fixed` (that is `lightnasc train`), and one spelling of output and batch flags
/// accepted everywhere (`-o/--out/--output`, `--batch/--batch-size`).
#[test]
fn help_has_examples_and_defaults_and_flag_spellings_agree() {
    let help = |args: &[&str]| {
        let out = lightnasc(args);
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let search = help(&["search", "--help"]);
    for want in ["Examples:", "lightnasc search specs/demo.lnas", "[default: 10", "[default: 64", "[default: 1,"] {
        assert!(search.contains(want), "search --help lacks `{want}`:\n{search}");
    }
    assert!(search.contains("[possible values: enas, random, evolution]"), "no `fixed` controller:\n{search}");
    for cmd in ["check", "train", "export", "render", "report", "infer", "fmt", "sweep", "devices"] {
        assert!(help(&[cmd, "--help"]).contains("lightnasc "), "{cmd} --help has no example");
    }
    let fixed = lightnasc(&["search", "specs/demo.lnas", "--controller", "fixed"]);
    assert_eq!(fixed.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&fixed.stderr).contains("possible values: enas, random, evolution"));
    // The other spellings parse: a missing source is the error, not the flag.
    let export = lightnasc(&["export", "no-such-run", "--out", "x"]);
    assert_eq!(export.status.code(), Some(1), "{}", String::from_utf8_lossy(&export.stderr));
    let report = lightnasc(&["report", "no-such-runs", "--output", "x"]);
    assert_eq!(report.status.code(), Some(1), "{}", String::from_utf8_lossy(&report.stderr));
    let infer = lightnasc(&["infer", "no-such-run", "--batch-size", "8"]);
    assert_eq!(infer.status.code(), Some(1), "{}", String::from_utf8_lossy(&infer.stderr));
}
