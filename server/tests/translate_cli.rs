//! `dragoman models pull --from DIR` and `dragoman translate` end to end, on the faithfulness
//! tests' RANDOMLY INITIALISED Marian checkpoint (built by `transformers`; see
//! `translate/tests/reference/seq2seq_reference.py`) standing in for opus-mt-en-es, which the
//! Hub would serve: the published files (PyTorch pickle, SentencePiece models, vocabulary) are
//! pulled from a local directory, converted, selected and run. The translations themselves are
//! meaningless; their count, order and the errors are what is checked.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // tests fail by panicking

#[path = "../../translate/tests/common/mod.rs"]
mod common;

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn dragoman(home: &std::path::Path, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dragoman"))
        .args(args)
        .env("DRAGOMAN_HOME", home)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run dragoman");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn pull_from_a_directory_then_translate_lines() {
    let reference = common::seq2seq_reference("marian");
    let published = tempfile::tempdir().unwrap();
    for (from, name) in [
        (reference.join("pytorch_model.bin"), "pytorch_model.bin"),
        (reference.join("model/config.json"), "config.json"),
        (reference.join("model/source.spm"), "source.spm"),
        (reference.join("model/target.spm"), "target.spm"),
        (reference.join("model/vocab.json"), "vocab.json"),
    ] {
        std::fs::copy(from, published.path().join(name)).unwrap();
    }
    let home = tempfile::tempdir().unwrap();
    let from = published.path().to_str().unwrap();
    let out = dragoman(
        home.path(),
        &[
            "models",
            "pull",
            "opus-mt-en-es",
            "--from",
            from,
            "--no-hub",
            "--no-mirror",
        ],
        "",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Standard input line by line: one line out per line in, in order, empty stays empty.
    let out = dragoman(
        home.path(),
        &["translate", "--from", "en", "--to", "es", "--beams", "2"],
        "I won!\n\nI can explain everything.\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout:?}");
    assert_eq!(lines[1], "");

    // A pair no pulled model serves: one line naming what to pull.
    let out = dragoman(
        home.path(),
        &["translate", "--from", "es", "--to", "en", "Hola"],
        "",
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("opus-mt-es-en") && stderr.contains("opus-mt-en-es"),
        "{stderr}"
    );
}
