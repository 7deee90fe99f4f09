//! The MXNet back end against stock MXNet 1.9.1: our `.params` reader and writer on files MXNet
//! wrote (byte for byte, and the same arrays as `mx.nd.load` sees), and our exports loaded by
//! `SymbolBlock.imports` computing what our inference computes.

mod common;

use common::root;
use lightnasc::back::mxnet;
use lightnasc::ir::store::HostTensor;

fn mxnet_python() -> std::path::PathBuf {
    common::python_venv("mxnet", &["mxnet==1.9.1", "numpy<1.24"])
}

fn python(script: &str, arg: &str) -> serde_json::Value {
    let out = std::process::Command::new(mxnet_python()).args(["-c", script, arg]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn params_files_written_by_mxnet_read_and_write_back_byte_for_byte() {
    if !common::full_tier("MXNet 1.9.1 (pip)") {
        return;
    }
    let dir = root().join("fixtures/mxnet");
    let script = r#"
import json, sys
import mxnet as mx
d = mx.nd.load(sys.argv[1])
print(json.dumps({k: {"shape": list(v.shape), "data": [float(x) for x in v.asnumpy().ravel()]} for k, v in d.items()}))
"#;
    for f in ["tiny-0000.params", "tiny-bnn-0000.params", "tiny-bnn-io.nd"] {
        let path = dir.join(f);
        let bytes = std::fs::read(&path).unwrap();
        let arrays = mxnet::read_params(&bytes).unwrap_or_else(|e| panic!("{f}: {e}"));
        assert_eq!(mxnet::write_params(&arrays), bytes, "{f}: our writer reproduces MXNet's bytes");
        let theirs = python(script, path.to_str().unwrap());
        assert_eq!(theirs.as_object().unwrap().len(), arrays.len(), "{f}");
        for (name, t) in &arrays {
            let want = &theirs[name];
            assert_eq!(want["shape"], serde_json::json!(t.shape), "{f} {name}");
            let data: Vec<f32> = want["data"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect();
            assert_eq!(data, t.data, "{f} {name}");
        }
    }
    assert!(mxnet::read_params(&std::fs::read(dir.join("tiny-0000.params")).unwrap()[..100]).is_err());
}

#[test]
fn stock_mxnet_loads_our_exports_and_computes_the_same() {
    if !common::full_tier("MXNet 1.9.1 (pip)") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let cases: [(&str, [u32; 3], i64, u64); 6] = [
        ("specs/demo.lnas", [1, 28, 28], 10, 1),
        ("specs/resnet18.lnas", [3, 32, 32], 10, 3),
        ("specs/meliusnet22.lnas", [3, 32, 32], 100, 5),
        ("specs/meliusnet_a.lnas", [3, 32, 32], 100, 6),
        // binet and XNOR scaling (both options of its one decision).
        ("fixtures/models/scaled.lnas", [1, 28, 28], 10, 7),
        ("fixtures/models/scaled.lnas", [1, 28, 28], 10, 8),
    ];
    let mut jobs = vec![];
    for (i, (spec, input, classes, seed)) in cases.iter().enumerate() {
        let e = common::exported(spec, *input, *classes, *seed, 2);
        let (symbol, params) = mxnet::lower(&e.fixed.plan.graph, &e.fixed.to_store()).unwrap();
        let prefix = tmp.path().join(format!("case{i}"));
        std::fs::write(format!("{}-symbol.json", prefix.display()), symbol).unwrap();
        std::fs::write(format!("{}-0000.params", prefix.display()), params).unwrap();
        let io = vec![
            ("input".to_string(), HostTensor { shape: e.x_shape.to_vec(), data: e.x }),
            ("output".to_string(), HostTensor { shape: vec![2, *classes as usize], data: e.y }),
        ];
        std::fs::write(format!("{}-io.nd", prefix.display()), mxnet::write_params(&io)).unwrap();
        jobs.push(serde_json::json!({"prefix": prefix, "name": format!("{spec} random:{seed}")}));
    }
    let script = r#"
import json, sys, warnings
warnings.filterwarnings("ignore")
import mxnet as mx, numpy as np
out = []
for job in json.loads(sys.argv[1]):
    p = job["prefix"]
    net = mx.gluon.SymbolBlock.imports(p + "-symbol.json", ["data"], p + "-0000.params")
    io = mx.nd.load(p + "-io.nd")
    got = net(io["input"]).asnumpy()
    want = io["output"].asnumpy()
    keys = mx.nd.load(p + "-0000.params").keys()
    out.append({"name": job["name"], "shape": list(got.shape), "max_diff": float(np.abs(got - want).max()),
                "scale": float(np.abs(want).max()), "aux": sum(k.startswith("aux:") for k in keys),
                "arg": sum(k.startswith("arg:") for k in keys)})
print(json.dumps(out))
"#;
    let results = python(script, &serde_json::to_string(&jobs).unwrap());
    eprintln!("{results}");
    for (r, (_, _, classes, _)) in results.as_array().unwrap().iter().zip(cases) {
        assert_eq!(r["shape"], serde_json::json!([2, classes]), "{r}");
        assert!(r["aux"].as_u64().unwrap() > 0 && r["arg"].as_u64().unwrap() > 0, "{r}");
        // Relative to the output's scale, as for ONNX (tests/export.rs).
        let (diff, scale) = (r["max_diff"].as_f64().unwrap(), r["scale"].as_f64().unwrap());
        assert!(diff <= 1e-5 * scale.max(1.0), "{r}");
    }
}

/// The oneDNN comparison script runs against MXNet 1.9.1 and times every shape of
/// `lightnasc bench kernels`.
#[test]
fn the_onednn_conv_script_times_every_kernel_shape() {
    if !common::full_tier("MXNet 1.9.1 (pip)") {
        return;
    }
    let out = std::process::Command::new(mxnet_python())
        .arg(root().join("scripts/bench_mxnet_conv.py"))
        .args(["--batch", "1", "--reps", "1"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), lightnasc::bench::kernels::SHAPES.len());
    for (r, (net, c, hw, o)) in rows.iter().zip(lightnasc::bench::kernels::SHAPES) {
        assert_eq!(r["net"], *net);
        assert_eq!(r["shape"], format!("{c}x{hw}x{hw} -> {o}, 3x3"));
        assert!(r["float_ms"].as_f64().unwrap() > 0.0);
    }
}

/// The MXNet training script trains a network `lightnasc export` wrote (the demo, pinned), and
/// MXNet counts the same trainable parameters as `lightnasc check` (an independent count of the
/// exported graph: the binary convs' weights, batch norms' gamma and beta, the dense layer).
#[test]
fn the_mxnet_training_script_trains_our_export_with_our_parameter_count() {
    if !common::full_tier("MXNet 1.9.1 (pip)") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("demo");
    let prefix = prefix.to_str().unwrap();
    let out = common::lightnasc(&["export", "specs/demo.lnas", "--pin", "random:2", "--format", "mxnet", "-o", prefix]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = std::process::Command::new(mxnet_python())
        .arg(root().join("scripts/bench_mxnet_train.py"))
        .args([prefix, "--batch", "4", "--steps", "1", "--warmup", "1", "--input", "1,28,28", "--classes", "10"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let row: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(row["images_per_s"].as_f64().unwrap() > 0.0, "{row}");
    let (code, check) = common::check_json(&["specs/demo.lnas", "--pin", "random:2"]);
    assert_eq!(code, 0);
    assert_eq!(row["params"], check["pinned"]["params"], "MXNet {row}\nlightnasc {check}");
}
