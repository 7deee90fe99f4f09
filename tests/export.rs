//! The ONNX back end judged by the real clients: `onnx.checker` (full check) accepts every model,
//! and onnxruntime computes what our own inference computes.

mod common;

use burn::backend::Flex;
use burn::tensor::{Tensor, TensorData};

use common::root;
use lightnasc::back::onnx;
use lightnasc::check::check_path;
use lightnasc::ir::pin::Assignment;
use lightnasc::lower::SpaceArgs;
use lightnasc::net::{Mode, Supernet};

fn raw(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Check and run each job's model with onnxruntime on its input; compare with its expected output.
fn onnxruntime(jobs: &[serde_json::Value]) -> serde_json::Value {
    let python = common::python_venv("onnx", &["onnx==1.23.2", "onnxruntime==1.32.0", "numpy"]);
    let script = r#"
import json, sys
import numpy as np, onnx, onnxruntime as ort
out = []
for job in json.loads(sys.argv[1]):
    model = onnx.load(job["stem"] + ".onnx")
    onnx.checker.check_model(model, full_check=True)
    x = np.fromfile(job["stem"] + ".x", dtype="<f4").reshape(job["x"])
    want = np.fromfile(job["stem"] + ".y", dtype="<f4").reshape(job["y"])
    sess = ort.InferenceSession(job["stem"] + ".onnx", providers=["CPUExecutionProvider"])
    got = sess.run(["output"], {"input": x})[0]
    out.append({"name": job["name"], "shape": list(got.shape), "max_diff": float(np.abs(got - want).max()),
                "scale": float(np.abs(want).max()),
                "opset": model.opset_import[0].version, "ir": model.ir_version})
print(json.dumps(out))
"#;
    let out = std::process::Command::new(&python)
        .args(["-c", script, &serde_json::to_string(jobs).unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn onnxruntime_computes_what_we_compute() {
    if !common::full_tier("onnxruntime (pip)") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, [u32; 3], i64, u64); 8] = [
        ("specs/demo.lnas", [1, 28, 28], 10, 1),
        ("specs/demo.lnas", [1, 28, 28], 10, 2),
        ("specs/resnet18.lnas", [3, 32, 32], 10, 3),
        ("specs/resnet18.lnas", [1, 28, 28], 10, 4),
        ("specs/meliusnet22.lnas", [3, 32, 32], 100, 5),
        // Channel shuffle and grouped convolutions.
        ("specs/meliusnet_a.lnas", [3, 32, 32], 100, 6),
        // binet and XNOR scaling (both options of its one decision).
        ("fixtures/models/scaled.lnas", [1, 28, 28], 10, 7),
        ("fixtures/models/scaled.lnas", [1, 28, 28], 10, 8),
    ];
    let mut jobs = vec![];
    for (i, (spec, input, classes, seed)) in cases.iter().enumerate() {
        let e = common::exported(spec, *input, *classes, *seed, 3);
        let bytes = onnx::lower(&e.fixed.plan.graph, &e.fixed.to_store(), &[], None).unwrap();
        let stem = dir.path().join(format!("case{i}"));
        std::fs::write(stem.with_extension("onnx"), bytes).unwrap();
        std::fs::write(stem.with_extension("x"), raw(&e.x)).unwrap();
        std::fs::write(stem.with_extension("y"), raw(&e.y)).unwrap();
        jobs.push(serde_json::json!({"stem": stem, "x": e.x_shape, "y": [3, classes], "name": format!("{spec} random:{seed}")}));
    }
    let results = onnxruntime(&jobs);
    eprintln!("{results}");
    for (r, (_, _, classes, _)) in results.as_array().unwrap().iter().zip(cases) {
        assert_eq!(r["shape"], serde_json::json!([3, classes]), "{r}");
        assert_eq!((r["opset"].as_i64(), r["ir"].as_i64()), (Some(13), Some(7)));
        // Untrained weights give logits in the hundreds or thousands, where f32 rounding alone
        // (convolutions summed in another order) exceeds 1e-4 absolute; so the bound is relative to
        // the output's scale, and stricter than 1e-4 for outputs below 100. A flipped sign anywhere
        // would move the logits far more.
        let (diff, scale) = (r["max_diff"].as_f64().unwrap(), r["scale"].as_f64().unwrap());
        assert!(diff <= 1e-6 * scale.max(1.0), "{r}");
    }
}

#[test]
fn a_space_is_not_exported_whole() {
    let out = check_path(&root().join("specs/demo.lnas"), &SpaceArgs::default(), None, None);
    let net = Supernet::<Flex>::new(out.space.unwrap(), 1, &Default::default());
    let err = onnx::lower(&net.plan.graph, &net.to_store(), &[], None).unwrap_err();
    assert!(matches!(err, lightnasc::back::BackError::Space { .. }), "{err:?}");
    assert!(err.to_string().contains("pin it"), "{err}");
}

/// A search's result, exported from its run folder with `lightnasc export`, computes in
/// onnxruntime what the run's own weights compute here (the path's batch norm recalibrated, as
/// export does by default), and export says they are the search's shared weights. An earlier
/// epoch's weights are not kept: `--epoch 1` of a two-epoch run is refused with the way out,
/// `--latest-weights`.
#[test]
fn a_run_exports_its_trained_architecture() {
    if !common::full_tier("onnxruntime (pip)") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let run_dir = common::mock_demo_run(dir.path(), "epochs: 2\nbatch_size: 64\ntrain_limit: 512\n", "r");
    let early = common::lightnasc(&["export", run_dir.to_str().unwrap(), "--epoch", "1"]);
    let err = String::from_utf8_lossy(&early.stderr);
    assert_eq!(early.status.code(), Some(1), "{err}");
    assert!(err.contains("epoch 1's weights are not kept") && err.contains("--latest-weights"), "{err}");
    let out = common::lightnasc(&["export", run_dir.to_str().unwrap(), "--best", "--latest-weights"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("on its shared supernet weights, batch norm recalibrated on 1024 training images"), "{err}");
    let run = lightnasc::search::run::Run::open(&run_dir).unwrap();
    let (epoch, a) = run.architecture(None, true).unwrap();
    let model = run_dir.join(format!("export/epoch-{epoch:03}.onnx"));
    assert!(model.is_file());
    let fixed = run.supernet::<Flex>(&Default::default()).unwrap().extract(&a).unwrap();
    assert_eq!(run.recalibrate(&fixed, 16, &Default::default()).unwrap(), 1024); // as export's default
    let xv = common::normal(4 * 28 * 28, 77);
    let x = Tensor::<Flex, 4>::from_data(TensorData::new(xv.clone(), [4, 1, 28, 28]), &Default::default());
    let y: Vec<f32> = fixed.logits(x, &Assignment(vec![]), Mode::Eval).into_data().to_vec().unwrap();
    let stem = model.with_extension("");
    std::fs::write(stem.with_extension("x"), raw(&xv)).unwrap();
    std::fs::write(stem.with_extension("y"), raw(&y)).unwrap();
    let r = &onnxruntime(&[serde_json::json!({"stem": stem, "x": [4, 1, 28, 28], "y": [4, 10], "name": "run"})])[0];
    let (diff, scale) = (r["max_diff"].as_f64().unwrap(), r["scale"].as_f64().unwrap());
    assert!(diff <= 1e-6 * scale.max(1.0), "{r}");
    // The epoch's pin with the latent weights exports the very same model.
    let again = dir.path().join("again");
    let pin = run_dir.join(format!("epochs/epoch-{epoch:03}.lnas"));
    let weights = run_dir.join(format!("export/epoch-{epoch:03}-latent.params"));
    let out = common::lightnasc(&[
        "export",
        pin.to_str().unwrap(),
        "--weights",
        weights.to_str().unwrap(),
        "--format",
        "onnx",
        "-o",
        again.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // The same model bytes, but for the run's preprocessing: `metadata_props` (field 14) is
    // written last, after the graph, and only the run's export has it.
    let (again, model) = (std::fs::read(again.with_extension("onnx")).unwrap(), std::fs::read(&model).unwrap());
    assert!(model.len() > again.len() && model.starts_with(&again), "{} vs {} bytes", model.len(), again.len());
    // A space is refused: export one architecture of it.
    assert_eq!(common::lightnasc(&["export", "specs/demo.lnas"]).status.code(), Some(1));
    for f in ["export/epoch-00{e}-symbol.json", "export/epoch-00{e}-0000.params", "export/epoch-00{e}-latent.params"] {
        assert!(run_dir.join(f.replace("{e}", &epoch.to_string())).is_file(), "{f}");
    }
    // The trainable export holds the latent (unbinarised) weights under the IR's keys.
    let latent = std::fs::read(run_dir.join(format!("export/epoch-{epoch:03}-latent.params"))).unwrap();
    let arrays = lightnasc::back::mxnet::read_params(&latent).unwrap();
    let store = fixed.to_store();
    assert_eq!(arrays.len(), store.tensors.len());
    assert!(arrays.iter().all(|(k, t)| store.tensors.get(k) == Some(t)));
    assert!(arrays.iter().any(|(k, t)| k.ends_with(".weight") && t.data.iter().any(|v| v.abs() != 1.0)));
}
