//! The fuzz targets' kept corpus (`fuzz/corpus/TARGET/`: seeds from specs/ and fixtures/, and
//! every input a fuzzing run kept after minimising, crashes it found included) replayed through
//! the targets' own checks (`fuzz/harness.rs`): CI's smoke of the coverage-guided fuzzers, which
//! run with `scripts/fuzz.sh`.

#[path = "../fuzz/harness.rs"]
mod harness;

#[test]
fn every_kept_fuzz_input_passes_its_targets_checks() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    for (name, target) in harness::TARGETS {
        let dir = root.join(name);
        let mut inputs: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e} (every target keeps a corpus)", dir.display()))
            .map(|e| e.unwrap().path())
            .collect();
        inputs.sort();
        assert!(!inputs.is_empty(), "{}: no inputs", dir.display());
        for input in inputs {
            let bytes = std::fs::read(&input).unwrap();
            let outcome = std::panic::catch_unwind(|| target(&bytes));
            assert!(outcome.is_ok(), "{}: the `{name}` target failed on it", input.display());
        }
    }
}
