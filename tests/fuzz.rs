//! Robustness: thousands of mutated specs (deletions, duplications, swaps, spliced tokens,
//! truncations) and pathological inputs never panic; each either checks or yields diagnostics
//! that all carry a code and, where located, a valid position.

use lightnasc::check::check_text;
use lightnasc::lower::SpaceArgs;

/// SplitMix64: a fixed, dependency-free generator so failures reproduce from the case number.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 { 0 } else { (self.next() % n as u64) as usize }
    }
}

const TOKENS: &[&str] = &[
    "(",
    ")",
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "=",
    "=>",
    "|>",
    "+",
    "-",
    "*",
    "/",
    "%",
    "==",
    "<",
    "and",
    "not",
    "choice",
    "repeat",
    "return",
    "block",
    "space",
    "import",
    "pin",
    "from",
    "as",
    "if",
    "else",
    "shared",
    "cost",
    "in",
    "x",
    "y",
    "0",
    "1",
    "-1",
    "99999999999999999999",
    "1e308",
    "1e999",
    "0.5",
    "\"std/melius.lnas\"",
    "\"",
    "//",
    "\n",
    " ",
    "bconv",
    "conv",
    "dense_block",
    "concat",
    "slice",
    "channels(x)",
    "repeat 100000 {",
    "é",
    "\u{0}",
    "\u{FEFF}",
];

fn mutate(src: &str, rng: &mut Rng) -> String {
    let mut s: Vec<char> = src.chars().collect();
    for _ in 0..1 + rng.below(4) {
        let n = s.len().max(1);
        match rng.below(6) {
            0 => {
                let a = rng.below(n);
                let b = (a + rng.below(40)).min(s.len());
                s.drain(a.min(s.len())..b);
            }
            1 => {
                let a = rng.below(n);
                let b = (a + rng.below(60)).min(s.len());
                let piece: Vec<char> = s[a.min(s.len())..b].to_vec();
                let at = rng.below(s.len() + 1);
                s.splice(at..at, piece);
            }
            2 => {
                let tok: Vec<char> = TOKENS[rng.below(TOKENS.len())].chars().collect();
                let at = rng.below(s.len() + 1);
                s.splice(at..at, tok);
            }
            3 if s.len() > 1 => {
                let (a, b) = (rng.below(s.len()), rng.below(s.len()));
                s.swap(a, b);
            }
            4 => s.truncate(rng.below(n)),
            _ => {
                if !s.is_empty() {
                    let at = rng.below(s.len());
                    s[at] = char::from(32 + rng.below(95) as u8);
                }
            }
        }
    }
    s.into_iter().collect()
}

fn check_no_panic(name: &str, text: &str) {
    let o = check_text(name, text, &SpaceArgs::default(), None);
    for d in &o.diags.0 {
        assert!(d.code.as_str().starts_with('E'));
        if let Some(span) = d.span {
            let f = o.db.get(span.file);
            assert!(span.start <= span.end && (span.end as usize) <= f.text.len(), "span out of range");
            // Rendering must not panic either.
            let _ = d.render(&o.db, false);
        }
    }
    if o.diags.is_empty() {
        assert!(o.space.is_some(), "no diagnostics but no graph");
    }
}

fn seeds() -> Vec<(String, String)> {
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut v = vec![];
    for dir in ["specs", "specs/std", "fixtures/errors"] {
        for e in std::fs::read_dir(root.join(dir)).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "lnas")
                && let Ok(t) = std::fs::read_to_string(&p)
            {
                // Large spaces make each case slower without exercising anything new.
                if !p.ends_with("meliusnet59.lnas") && !p.ends_with("meliusnet42.lnas") {
                    v.push((p.display().to_string(), t));
                }
            }
        }
    }
    v.sort();
    v
}

#[test]
fn thousands_of_mutated_specs_never_panic() {
    let seeds = seeds();
    let mut rng = Rng(0x5EED);
    let cases = 4000;
    let mut clean = 0;
    for case in 0..cases {
        let (name, text) = &seeds[case % seeds.len()];
        let mutant = mutate(text, &mut rng);
        let result = std::panic::catch_unwind(|| check_no_panic(name, &mutant));
        assert!(result.is_ok(), "case {case} (mutant of {name}) panicked; input:\n{mutant}");
        clean += usize::from(check_text(name, &mutant, &SpaceArgs::default(), None).diags.is_empty());
    }
    // The mutations must reach the later passes too, not only the parser.
    assert!(clean > 0 && clean < cases, "{clean} of {cases} mutants checked clean");
}

#[test]
fn pathological_inputs_are_diagnosed() {
    let cases: Vec<(&str, String)> = vec![
        ("empty", String::new()),
        ("only brackets", "(".repeat(100_000)),
        ("huge repeat", "space s(x: tensor = [1, 4, 4], classes: int = 2) { repeat 100000 { x = x |> relu |> relu |> relu } return x |> global_avgpool |> dense(classes) }".into()),
        ("deep call chain", {
            let mut s = String::new();
            for i in 0..200 {
                s += &format!("block b{i}(x) {{ return x |> b{} }}\n", i + 1);
            }
            s += "block b200(x) { return x }\nspace s(x: tensor = [1, 4, 4], classes: int = 2) { return x |> b0 |> global_avgpool |> dense(classes) }";
            s
        }),
        ("huge channel counts", "space s(x: tensor = [100000, 100000, 100000], classes: int = 2) { return x |> conv(16777216, kernel: 1) |> global_avgpool |> dense(classes) }".into()),
        // 2^72 elements: overflowed the element count before it was computed saturating.
        ("input past every limit", "space s(x: tensor = [16777216, 16777216, 16777216], classes: int = 2) { return x |> global_avgpool |> dense(classes) }".into()),
        ("integer overflow", "space s(x: tensor = [1, 4, 4], classes: int = 2) { w = 9223372036854775807 + 1\n return x |> global_avgpool |> dense(classes) }".into()),
        ("negative sizes", "space s(x: tensor = [1, 4, 4], classes: int = 2) { return x |> conv(-3) |> global_avgpool |> dense(classes) }".into()),
        ("nan", "space s(x: tensor = [1, 4, 4], classes: int = 2) { return x |> bn(eps: 0.0 / 0.0) |> global_avgpool |> dense(classes) }".into()),
    ];
    // Valid, just large: it must check without trouble.
    check_no_panic("long.lnas", &format!("space {}(x: tensor = [1, 2, 2]) {{ return x }}", "a".repeat(1_000_000)));
    for (what, text) in cases {
        let o = check_text("case.lnas", &text, &SpaceArgs::default(), None);
        assert!(!o.diags.is_empty(), "{what}: expected a diagnostic");
    }
}
