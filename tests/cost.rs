//! The cost model and the space arithmetic, against hand computations on small specs.

use lightnasc::check::{check_text, report};
use lightnasc::lower::SpaceArgs;

fn summary(src: &str) -> serde_json::Value {
    let o = check_text("test.lnas", src, &SpaceArgs::default(), None);
    let rendered: Vec<String> = o.diags.0.iter().map(|d| d.render(&o.db, false)).collect();
    assert!(o.diags.is_empty(), "{}", rendered.join("\n"));
    serde_json::to_value(report(o.space.as_ref().unwrap(), None, "test.lnas")).unwrap()
}

#[test]
fn params_flops_bops_of_a_fixed_network() {
    let r = summary(
        "space tiny(x: tensor = [3, 8, 8], classes: int = 10) {
            y = x |> conv(16, kernel: 3, pad: 1) |> bn |> bconv(32, kernel: 3, stride: 2, pad: 1) |> bn
            return y |> global_avgpool |> dense(classes)
        }",
    );
    // conv 3->16 3x3: 432 weights, 432 MACs at each of 8x8 positions; bn(16): 32;
    // bconv 16->32 3x3 stride 2: 4608 weights, 4608 binary MACs at each of 4x4 positions;
    // bn(32): 64; dense 32->10: 320 + 10.
    let params = 432 + 32 + 4608 + 64 + 330;
    let flops = 432 * 64 + 320;
    let bops = 4608 * 16;
    assert_eq!(r["params_min"], params);
    assert_eq!(r["params_max"], params);
    assert_eq!(r["ops_min"], flops as f64 + bops as f64 / 64.0);
    let layers = r["layers"].as_array().unwrap();
    let bconv = layers.iter().find(|l| l["op"] == "bconv").unwrap();
    assert_eq!(
        (bconv["params"].as_u64(), bconv["flops"].as_u64(), bconv["bops"].as_u64()),
        (Some(4608), Some(0), Some(bops))
    );
    assert_eq!(bconv["out_shape"], serde_json::json!([32, 4, 4]));
}

#[test]
fn choices_give_min_and_max_and_nested_choices_count_through_their_parent() {
    let r = summary(
        "block unit(x) {
            return choice op {
                narrow => x |> conv(8, kernel: 1)
                wide => choice k { k1 => x |> conv(8, kernel: 1), k3 => x |> conv(8, kernel: 3, pad: 1), k5 => x |> conv(8, kernel: 5, pad: 2) }
            }
        }
        space s(x: tensor = [4, 6, 6], classes: int = 2) {
            x = unit(x) as a
            x = unit(x) as b
            return x |> global_avgpool |> dense(classes)
        }",
    );
    // Each unit: 1 + 3 = 4 architectures; two units: 16. Four decisions: two outer, two nested.
    assert_eq!(r["space_size"], "16");
    assert_eq!(r["decisions"], 4);
    let names: Vec<&str> = r["choices"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["a.op", "a.op.wide.k", "b.op", "b.op.wide.k"]); // a label replaces the block name
    // a: conv 4->8 (1x1: 32, 5x5: 800); b: conv 8->8 (1x1: 64, 5x5: 1600); dense 8->2: 18.
    assert_eq!(r["params_min"], 32 + 64 + 18);
    assert_eq!(r["params_max"], 800 + 1600 + 18);
}

#[test]
fn shared_value_choices_share_conv_weights_but_not_batch_norm() {
    let r = summary(
        "block blk(x) {
            bits = choice bits shared { b1 => 1 cost 0.5, b32 => 32 cost 2 }
            return x |> bconv(8, kernel: 3, pad: 1, bits: bits) |> bn
        }
        space s(x: tensor = [8, 4, 4], classes: int = 3) {
            return x |> blk |> global_avgpool |> dense(classes)
        }",
    );
    // Per architecture: conv 8*8*9 = 576, bn 16, dense 8*3+3 = 27. The supernet stores the conv
    // once and a batch norm per variant: 576 + 2*16 + 27.
    assert_eq!(r["params_min"], 576 + 16 + 27);
    assert_eq!(r["params_max"], 576 + 16 + 27);
    assert_eq!(r["supernet_params"], 576 + 32 + 27);
    assert_eq!(r["choices"][0]["kind"], "value");
    assert_eq!(r["choices"][0]["costs"], serde_json::json!([0.5, 2.0]));
    // 1 bit: 576 * 16 binary MACs = 144 OPs; 32 bit: 9216 FLOPs; plus the dense's 24 FLOPs.
    assert_eq!(r["ops_min"], 576.0 * 16.0 / 64.0 + 24.0);
    assert_eq!(r["ops_max"], 576.0 * 16.0 + 24.0);
    let names: Vec<&str> = r["layers"].as_array().unwrap().iter().map(|l| l["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"blk.bits.b1.bconv") && names.contains(&"blk.bits.b32.bn"), "{names:?}");
}

#[test]
fn widths_follow_pythons_rounding() {
    // round() ties to even as in the original's Python: round(2.5) = 2, round(3.5) = 4.
    let r = summary(
        "space s(x: tensor = [3, 4, 4], classes: int = 2) {
            a = round(2.5)
            b = round(3.5)
            return x |> conv(a * 10 + b) |> global_avgpool |> dense(classes)
        }",
    );
    assert_eq!(r["layers"][0]["out_shape"][0], 24);
}
