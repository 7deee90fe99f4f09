//! `lightnasc render` judged by Graphviz itself: every shipped spec and a pinned architecture
//! render with an empty stderr, the DOT has one node per layer, and the colours follow the choices.

mod common;

use std::io::Write as _;
use std::process::{Command, Stdio};

use common::{lightnasc, root, specs};
use lightnasc::check::{PinArg, check_path};
use lightnasc::lower::SpaceArgs;

fn render_dot(args: &[&str]) -> String {
    let mut all = vec!["render"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--format", "dot"]);
    let out = lightnasc(&all);
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// Graphviz's verdict: exit 0 and nothing on stderr (it exits 0 on warnings too).
fn graphviz_accepts(dot: &str) {
    let mut child = Command::new("dot")
        .arg("-Tsvg")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("Graphviz's dot (apt-get install graphviz; .ci/run does)");
    child.stdin.take().unwrap().write_all(dot.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success() && out.stderr.is_empty(), "dot: {}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("<svg"));
}

/// `(tooltip, fillcolor, color)` of every layer node (`nN [...]`).
fn layer_nodes(dot: &str) -> Vec<(String, String, String)> {
    let attr = |line: &str, key: &str| -> String {
        let start =
            line.find(&format!(" {key}=\"")).or_else(|| line.find(&format!("[{key}=\""))).map(|i| i + key.len() + 3);
        start.map_or(String::new(), |s| line[s..].split('"').next().unwrap_or("").to_string())
    };
    dot.lines()
        .map(str::trim)
        .filter(|l| {
            l.starts_with('n')
                && l.split_whitespace().nth(1) != Some("->")
                && l[1..].split(' ').next().is_some_and(|d| d.parse::<u32>().is_ok())
        })
        .map(|l| (attr(l, "tooltip"), attr(l, "fillcolor"), attr(l, "color")))
        .collect()
}

#[test]
fn every_shipped_spec_and_a_pin_render_cleanly_with_one_node_per_layer() {
    if !common::full_tier("Graphviz") {
        return;
    }
    for spec in specs() {
        let rel = common::rel(&spec);
        let space = check_path(&spec, &SpaceArgs::default(), None, None).space.unwrap();
        let dot = render_dot(&[&rel]);
        graphviz_accepts(&dot);
        // A space render draws every node, choice points as diamonds.
        assert_eq!(layer_nodes(&dot).len(), space.nodes.node_count(), "{rel}");
        assert_eq!(dot.matches("shape=\"diamond\"").count(), space.choices.len(), "{rel}");

        let pinned = check_path(&spec, &SpaceArgs::default(), None, Some(&PinArg::Random(4))).pinned.unwrap().1;
        let dot = render_dot(&[&rel, "--pin", "random:4"]);
        graphviz_accepts(&dot);
        assert_eq!(layer_nodes(&dot).len(), pinned.nodes.node_count(), "{rel} pinned");
        assert!(!dot.contains("diamond"));
    }
}

#[test]
fn colors_follow_the_choices() {
    // ResNet-18 with the first blocks 1-bit and the rest 32-bit.
    let space = check_path(&root().join("specs/resnet18.lnas"), &SpaceArgs::default(), None, None).space.unwrap();
    let pin: Vec<String> = space
        .choices
        .iter()
        .enumerate()
        .map(|(i, c)| format!("{}={}", c.name, if i < 3 { "b1" } else { "b32" }))
        .collect();
    let dot = render_dot(&["specs/resnet18.lnas", "--pin", &pin.join(",")]);
    let legend = |label: &str| -> String {
        let line = dot.lines().find(|l| l.contains(&format!("label=\"{label}\""))).expect(label);
        line.split("fillcolor=\"").nth(1).unwrap().split('"').next().unwrap().to_string()
    };
    let (b1, b32) = (legend("option b1"), legend("option b32"));
    assert_ne!(b1, b32);
    let binary_border = dot
        .lines()
        .find(|l| l.contains("label=\"1-bit layer\""))
        .and_then(|l| l.split(" color=\"").nth(1))
        .map(|s| s.split('"').next().unwrap().to_string())
        .unwrap();
    let nodes = layer_nodes(&dot);
    let (mut n1, mut n32) = (0, 0);
    for (name, fill, border) in &nodes {
        if name.contains(".bits.b1.") {
            n1 += 1;
            assert_eq!(fill, &b1, "{name}");
            if name.contains("bconv") {
                assert_eq!(border, &binary_border, "{name} is a 1-bit conv");
            }
        } else if name.contains(".bits.b32.") {
            n32 += 1;
            assert_eq!(fill, &b32, "{name}");
            assert_ne!(border, &binary_border, "{name} is a 32-bit conv");
        } else {
            assert_eq!(fill, "#ffffff", "{name} is in no choice");
        }
    }
    assert!(n1 > 0 && n32 > 0);
    // Labels name the alternative a layer belongs to.
    assert!(dot.contains("bits = b1") && dot.contains("bits = b32"));
    // Only the chosen alternative of each block is drawn.
    for c in &space.choices[..3] {
        assert!(!dot.contains(&format!("{}.b32.", c.name)), "{} drew its unchosen variant", c.name);
    }
}

#[test]
fn image_formats_go_through_graphviz_and_its_absence_is_a_clear_error() {
    if !common::full_tier("Graphviz") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for (fmt, magic) in [("svg", &b"<?xml"[..]), ("png", &b"\x89PNG"[..]), ("pdf", &b"%PDF"[..])] {
        let out_file = dir.path().join(format!("demo.{fmt}"));
        let out = lightnasc(&["render", "specs/demo.lnas", "--format", fmt, "-o", out_file.to_str().unwrap()]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(std::fs::read(&out_file).unwrap().starts_with(magic), "{fmt}");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_lightnasc"))
        .args(["render", "specs/demo.lnas", "--format", "svg", "-o"])
        .arg(dir.path().join("x.svg"))
        .current_dir(root())
        .env("PATH", dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("install Graphviz"));
    assert!(!dir.path().join("x.svg").exists());
    // A spec with errors renders nothing.
    assert_eq!(lightnasc(&["render", "fixtures/errors/unknown_name.lnas"]).status.code(), Some(1));
    // Graphviz shrinks a bitmap taller than cairo's 32,767 pixels: the user hears of it (from
    // Graphviz itself) with the way out, and the SVG of the same graph draws without a warning.
    let tall = dir.path().join("m59.png");
    let out = lightnasc(&["render", "specs/meliusnet59.lnas", "--format", "png", "-o", tall.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && tall.is_file(), "{err}");
    assert!(err.contains("warning: Graphviz: graph is too large for cairo-renderer bitmaps. Scaling by"), "{err}");
    assert!(err.contains("--format svg or pdf"), "{err}");
    let svg = dir.path().join("m59.svg");
    let out = lightnasc(&["render", "specs/meliusnet59.lnas", "--format", "svg", "-o", svg.to_str().unwrap()]);
    assert!(out.status.success() && !String::from_utf8_lossy(&out.stderr).contains("warning"));
}

#[test]
fn a_run_renders_every_epoch_and_the_evolution() {
    if !common::full_tier("Graphviz") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let run = common::mock_demo_run(dir.path(), "epochs: 2\nbatch_size: 64\ntrain_limit: 256\n", "r");
    let out = lightnasc(&["render", run.to_str().unwrap(), "--all-epochs", "--format", "dot"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for f in ["epoch-001.dot", "epoch-002.dot", "evolution.dot"] {
        let text = std::fs::read_to_string(run.join("renders").join(f)).unwrap();
        graphviz_accepts(&text);
    }
    // The evolution table has a row per decision and a column per epoch.
    let evo = std::fs::read_to_string(run.join("renders/evolution.dot")).unwrap();
    assert_eq!(evo.matches("<TR>").count(), 1 + 10);
    assert_eq!(evo.matches("BGCOLOR").count(), 10 * 2);
    // One epoch by number, to stdout.
    let out = lightnasc(&["render", run.to_str().unwrap(), "--epoch", "1", "--format", "dot"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("after epoch 1"));
    let out = lightnasc(&["render", run.to_str().unwrap(), "--epoch", "7"]);
    assert_eq!(out.status.code(), Some(1));
}
