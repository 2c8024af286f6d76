//! The web client end to end: the `dragoman serve` binary, two headless Chromium pages and a
//! headless Firefox page in one room (`tests/browser/call.mjs`, driven by playwright-core;
//! Firefox over WebDriver BiDi). Page A's (Chromium) fake microphone plays real English speech
//! (LibriVox clips); page B (Chromium, no camera) reads Vietnamese captions and hears
//! translated speech; page C (Firefox) reads German captions and hears translated speech.
//! Checks what B shows: the English finals against the clips' reference transcripts (word
//! error rate), their Vietnamese translations, and the controls (mute, camera, transcript
//! download, reconnect, leave); that C shows the same English finals and German translations;
//! and that A and C, Chromium and Firefox, receive each other's audio and video (Firefox
//! publishes its own payload types, which the room must renumber). Prints the caption
//! latencies measured in the browser and the receivers' RTP statistics, and leaves
//! screenshots in `target/browser-test/`. `DRAGOMAN_SERVER_BIN` names another `dragoman`
//! binary to serve the call (`scripts/bench_browser.sh`: a release build).
//!
//! Needs Debian's `chromium` and `firefox-esr`, Node.js and `npm ci --prefix
//! server/tests/browser` (`.ci/run` does all of it); without them it fails and says what to
//! install.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    clippy::print_stdout
)]

#[path = "../../stt/tests/common/mod.rs"]
mod speech;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use dragoman_core::SampleRate;
use dragoman_stt::eval::{normalize_english, word_errors};
use serde_json::Value;

/// The clips page A speaks, in order (7 s, 5 s and 3 s of read English, 42 words).
const CLIPS: [&str; 3] = [
    "sense_and_sensibility_01_austen_64kb-0870",
    "sense_and_sensibility_01_austen_64kb-0890",
    "sense_and_sensibility_01_austen_64kb-0930",
];
/// Silence before the first clip: A's microphone starts playing when it opens, before A has
/// joined and its media connection is up.
const LEAD_SECS: f32 = 4.0;
/// Silence between clips: longer than the end-of-speech pause, so each clip is an utterance.
const GAP_SECS: f32 = 1.5;
/// Silence after the last clip, so its final caption comes.
const TAIL_SECS: f32 = 3.0;
/// The models `dragoman serve` loads (its defaults).
const MODELS: [&str; 3] = ["whisper-base", "silero-vad", "gemma3-270m-q4km"];
/// How long the server may take to pull (a no-op here), load and warm its models.
const SERVER_START: Duration = Duration::from_secs(900);
/// How long the whole browser script may take: a bound for a loaded machine, not an expected
/// time (its caption wait is 900 s by default). The debug server keeps up with the speech at
/// its default audio queue since model work passes the compute gate (about a minute here);
/// before, it fell minutes behind.
const CALL_LIMIT: Duration = Duration::from_secs(1500);
/// The word error rate the English captions on page B must stay under.
const MAX_WER: f64 = 0.35;

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The browsers the test drives.
struct Browsers {
    chromium: PathBuf,
    firefox: PathBuf,
}

/// Fails with what to install when a browser, Node.js or the npm packages are missing.
fn check_tools() -> Browsers {
    let chromium = std::env::var_os("CHROMIUM")
        .map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from);
    assert!(
        chromium.exists(),
        "{} not found: the browser test needs Debian's chromium (`apt-get install chromium`, \
         as .ci/run does; or set CHROMIUM to a Chromium binary)",
        chromium.display()
    );
    let firefox = std::env::var_os("FIREFOX")
        .map_or_else(|| PathBuf::from("/usr/bin/firefox-esr"), PathBuf::from);
    assert!(
        firefox.exists(),
        "{} not found: the browser test needs Debian's firefox-esr (`apt-get install \
         firefox-esr`, as .ci/run does; or set FIREFOX to a Firefox binary)",
        firefox.display()
    );
    let node = Command::new("node").arg("--version").output();
    assert!(
        node.as_ref().is_ok_and(|o| o.status.success()),
        "`node` is missing: the browser test needs Node.js 18 or newer (`apt-get install nodejs npm`)"
    );
    let script_dir = manifest_dir().join("tests/browser");
    assert!(
        script_dir
            .join("node_modules/playwright-core/package.json")
            .exists(),
        "playwright-core is not installed: run `npm ci --prefix server/tests/browser` (.ci/run does)"
    );
    Browsers { chromium, firefox }
}

/// Reads a 16-bit mono WAV as samples in [-1, 1] and its rate.
fn read_wav(path: &Path) -> (Vec<f32>, u32) {
    let mut reader = hound::WavReader::open(path).expect("open clip");
    let spec = reader.spec();
    assert_eq!(
        (spec.channels, spec.bits_per_sample),
        (1, 16),
        "{}",
        path.display()
    );
    let samples = reader
        .samples::<i16>()
        .map(|s| f32::from(s.expect("sample")) / 32768.0)
        .collect();
    (samples, spec.sample_rate)
}

/// Concatenates the clips with silence around them into one 48 kHz 16-bit mono WAV (what
/// Chromium's fake audio capture reads best), and writes `<wav>.json`: when each clip is
/// spoken, for call.mjs's latency estimate. Returns the reference transcripts.
fn speech_wav(librivox: &Path, out: &Path) -> Vec<String> {
    let silence = |secs: f32| vec![0.0f32; (secs * 16_000.0) as usize];
    let mut samples = silence(LEAD_SECS);
    let mut segments = Vec::new();
    let mut references = Vec::new();
    for (i, clip) in CLIPS.iter().enumerate() {
        if i > 0 {
            samples.extend(silence(GAP_SECS));
        }
        let (clip_samples, rate) = read_wav(&librivox.join(format!("{clip}.wav")));
        assert_eq!(rate, 16_000, "{clip}");
        let text = std::fs::read_to_string(librivox.join(format!("{clip}.txt")))
            .expect("reference transcript")
            .trim()
            .to_string();
        let start_ms = samples.len() as u64 / 16;
        samples.extend(clip_samples);
        segments.push(serde_json::json!({
            "start_ms": start_ms,
            "end_ms": samples.len() as u64 / 16,
            "text": text,
        }));
        references.push(text);
    }
    samples.extend(silence(TAIL_SECS));
    let duration_ms = samples.len() as u64 / 16;
    let resampled =
        dragoman_core::resample::resample(&samples, SampleRate::HZ_16000, SampleRate::HZ_48000)
            .expect("resample to 48 kHz");
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 48_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::create(out, spec).expect("create speech wav");
    for s in resampled {
        writer
            .write_sample((s.clamp(-1.0, 1.0) * 32767.0) as i16)
            .expect("write sample");
    }
    writer.finalize().expect("finish speech wav");
    let schedule = serde_json::json!({ "segments": segments, "duration_ms": duration_ms });
    std::fs::write(
        format!("{}.json", out.display()),
        serde_json::to_vec_pretty(&schedule).expect("schedule json"),
    )
    .expect("write schedule");
    references
}

/// The running server; killed when dropped (a failed assertion included), with the end of
/// its log printed if the test is failing.
struct Server {
    child: Child,
    log: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(60).collect();
            eprintln!(
                "--- last lines of the server log ({}) ---",
                self.log.display()
            );
            for line in tail.iter().rev() {
                eprintln!("{line}");
            }
        }
    }
}

/// Starts `dragoman serve` on a free port; returns it and its URL once it listens.
fn start_server(data_dir: &Path, log: &Path) -> (Server, String) {
    let store = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("dragoman-test-store");
    let log_file = std::fs::File::create(log).expect("server log");
    // The debug build of this package by default; `scripts/bench_browser.sh` points this at
    // a release build, for the latencies a user would see.
    let binary = std::env::var_os("DRAGOMAN_SERVER_BIN").map_or_else(
        || PathBuf::from(env!("CARGO_BIN_EXE_dragoman")),
        PathBuf::from,
    );
    let mut child = Command::new(&binary)
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .env("DRAGOMAN_HOME", &store)
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log_file))
        .spawn()
        .unwrap_or_else(|e| panic!("start {} serve: {e}", binary.display()));
    let stdout = child.stdout.take().expect("server stdout");
    let server = Server {
        child,
        log: log.to_path_buf(),
    };
    // Read stdout on a thread for the whole run (a full pipe would block the server), and
    // hand over the line that says where it listens.
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(url) = line.split("listening on ").nth(1) {
                let _ = tx.send(url.trim().to_string());
            }
        }
    });
    let url = rx.recv_timeout(SERVER_START).unwrap_or_else(|_| {
        panic!(
            "dragoman serve did not say `listening on` within {} s (it exited or hangs)",
            SERVER_START.as_secs()
        )
    });
    (server, url)
}

/// Runs call.mjs; returns its JSON summary. Its progress (stderr) is passed through.
fn run_call(url: &str, wav: &Path, outdir: &Path, browsers: &Browsers) -> Value {
    let dir = manifest_dir().join("tests/browser");
    let mut child = Command::new("node")
        .arg(dir.join("call.mjs"))
        .arg(url)
        .arg(wav)
        .arg(outdir)
        .current_dir(&dir)
        .env("CHROMIUM", &browsers.chromium)
        .env("FIREFOX", &browsers.firefox)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run node");
    let mut stdout = child.stdout.take().expect("stdout");
    let stderr = child.stderr.take().expect("stderr");
    let relay = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("{line}");
        }
    });
    let reader = std::thread::spawn(move || {
        let mut out = String::new();
        let _ = stdout.read_to_string(&mut out);
        out
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for node") {
            break status;
        }
        if started.elapsed() > CALL_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("call.mjs ran over {} s", CALL_LIMIT.as_secs());
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let out = reader.join().expect("stdout reader");
    let _ = relay.join();
    assert!(status.success(), "call.mjs failed ({status})");
    let last = out.lines().last().unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|e| panic!("call.mjs printed no JSON ({e}): {out}"))
}

fn text_of(caption: &Value) -> &str {
    caption["text"].as_str().unwrap_or_default()
}

/// A page's final original captions of `speaker`, in order, each with its final translation
/// into `lang` (empty when there is none).
fn finals_with_translations<'a>(
    captions: &'a [Value],
    speaker: &str,
    lang: &str,
) -> Vec<(&'a str, &'a str)> {
    let mut originals: Vec<&Value> = captions
        .iter()
        .filter(|c| c["original"] == true && c["final"] == true && c["speaker"] == speaker)
        .collect();
    originals.sort_by_key(|c| c["caption_id"].as_u64());
    originals
        .into_iter()
        .map(|original| {
            let translation = captions
                .iter()
                .find(|c| {
                    c["original"] == false
                        && c["lang"] == lang
                        && c["speaker"] == speaker
                        && c["caption_id"] == original["caption_id"]
                })
                .filter(|c| c["final"] == true)
                .map(text_of)
                .unwrap_or_default();
            (text_of(original), translation)
        })
        .collect()
}

/// Prints the captions a page showed, English above each translation; returns how many
/// translations are not empty.
fn print_captions(page: &str, lang: &str, finals: &[(&str, &str)]) -> usize {
    println!("page {page}, English finals and their translations into {lang}:");
    for (en, translated) in finals {
        println!("  en: {en}\n  {lang}: {translated}");
    }
    finals.iter().filter(|(_, t)| !t.trim().is_empty()).count()
}

/// Prints and checks what one page receives from another (`checkMedia` in call.mjs): RTP on
/// each of `tracks` (the others' own `audio` and `video`, or translated `speech-<lang>`),
/// video frames decoded and shown by the tile's `<video>`, and both still coming two seconds
/// later.
fn check_media(media: &Value, what: &str, tracks: &[&str]) {
    println!("{what}:");
    for track in tracks {
        let stats = &media["tracks"][track];
        println!(
            "  {track}: {} (payload type {}), {} packets, {} bytes, {} frames decoded",
            stats["codec"],
            stats["payload_type"],
            stats["packets_received"],
            stats["bytes_received"],
            stats["frames_decoded"]
        );
    }
    let video = &media["video"];
    let progress = &media["progress"];
    println!(
        "  <video> {}x{}; in 2 s it played {:.2} s, decoded {} frames, received {} video and {} \
         audio bytes",
        video["width"],
        video["height"],
        progress["video_seconds"].as_f64().unwrap_or(0.0),
        progress["video_frames_decoded"],
        progress["video_bytes"],
        progress["audio_bytes"]
    );
    for track in tracks {
        assert!(
            media["tracks"][track]["bytes_received"]
                .as_u64()
                .unwrap_or(0)
                > 0,
            "{what}: nothing received on the `{track}` track: {media}"
        );
    }
    assert!(
        media["tracks"]["video"]["frames_decoded"]
            .as_u64()
            .unwrap_or(0)
            > 0,
        "{what}: no video frame decoded: {media}"
    );
    assert!(
        video["width"].as_u64().unwrap_or(0) > 0,
        "{what}: the tile's <video> shows no picture (videoWidth 0): {media}"
    );
    assert!(
        progress["video_frames_decoded"].as_i64().unwrap_or(0) > 0
            && progress["video_seconds"].as_f64().unwrap_or(0.0) > 0.0,
        "{what}: the video stopped (no frame decoded, or the <video> did not play, in 2 s): \
         {media}"
    );
    assert!(
        progress["audio_bytes"].as_i64().unwrap_or(0) > 0,
        "{what}: the audio stopped (no bytes in 2 s): {media}"
    );
}

#[test]
fn two_browsers_in_a_translated_call() {
    let browsers = check_tools();
    for id in MODELS {
        speech::model(id);
    }
    let work = tempfile::tempdir().expect("tempdir");
    let wav = work.path().join("speech.wav");
    let references = speech_wav(&speech::librivox(), &wav);
    let outdir = work.path().join("out");
    std::fs::create_dir_all(&outdir).expect("outdir");

    let server_log = work.path().join("server.log");
    let (server, url) = start_server(&work.path().join("data"), &server_log);
    eprintln!("server at {url}");
    let summary = run_call(&url, &wav, &outdir, &browsers);
    drop(server);

    // Screenshots (and the server's log, the transcripts) where a person can look at them.
    let keep = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("../browser-test");
    std::fs::create_dir_all(&keep).expect("target/browser-test");
    let keep = std::fs::canonicalize(&keep).unwrap_or(keep);
    let _ = std::fs::copy(&server_log, keep.join("server.log"));
    for name in [
        "page-a.png",
        "page-b.png",
        "page-b-phone.png",
        "page-c-firefox.png",
        "page-a-after-leave.png",
    ] {
        let from = outdir.join(name);
        if from.exists() {
            let to = keep.join(name);
            std::fs::copy(&from, &to).expect("copy screenshot");
            println!("screenshot: {}", to.display());
        }
    }
    for name in ["transcript.vtt", "transcript.srt", "transcript.json"] {
        let _ = std::fs::copy(outdir.join(name), keep.join(name));
    }

    println!("browsers: {}", summary["browsers"]);
    let alice = summary["alice"].as_str().expect("alice's id");
    let captions_b = summary["captions_b"]
        .as_array()
        .expect("captions of page B");
    let originals = finals_with_translations(captions_b, alice, "vi");
    let translated = print_captions("B (Chromium)", "vi", &originals);
    let captions_c = summary["captions_c"]
        .as_array()
        .expect("captions of page C");
    let originals_c = finals_with_translations(captions_c, alice, "de");
    let translated_c = print_captions("C (Firefox)", "de", &originals_c);
    println!(
        "latency (ms, measured in page B): {}",
        serde_json::to_string_pretty(&summary["latency"]).unwrap_or_default()
    );
    println!(
        "server metrics: {}",
        serde_json::to_string_pretty(&summary["server_metrics"]).unwrap_or_default()
    );
    println!(
        "controls: {}",
        serde_json::to_string_pretty(&summary["controls"]).unwrap_or_default()
    );
    assert!(
        summary["complete"] == true,
        "page B's captions did not complete in time (some never became final or lack a \
         translation); saw {} English finals",
        originals.len()
    );

    // Every packet of A's speech reached speech-to-text (a drop would garble the captions).
    let audio_drops = summary["server_metrics"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .find_map(|line| line.strip_prefix("dragoman_queue_drops_total{queue=\"audio\"} "))
        .and_then(|n| n.trim().parse::<f64>().ok());
    assert_eq!(
        audio_drops.unwrap_or(0.0),
        0.0,
        "the server dropped audio packets: speech-to-text fell further behind than its default \
         queue holds"
    );

    // What B read is what A said: the clips played once, in order.
    let heard: Vec<&str> = originals.iter().map(|(en, _)| *en).collect();
    let (wrong, words) = word_errors(
        &normalize_english(&references.join(" ")),
        &normalize_english(&heard.join(" ")),
    );
    let wer = wrong as f64 / words.max(1) as f64;
    println!("WER of page B's English finals: {wrong}/{words} = {wer:.3}");
    assert!(
        wer <= MAX_WER,
        "WER {wer:.3} over {MAX_WER}: heard {heard:?}, said {references:?}"
    );
    // Gemma 3 270M translates poorly (sometimes into English), so only presence is checked:
    // a non-empty final translation for most English finals.
    assert!(translated >= 1, "no Vietnamese translation on page B");
    assert!(
        translated * 2 > originals.len(),
        "only {translated} of {} English finals have a Vietnamese translation",
        originals.len()
    );

    // Firefox reads the call as Chromium does: C shows the same English finals as B (every
    // caption goes to everyone in the room), and their German translations.
    assert!(
        summary["complete_c"] == true,
        "page C's (Firefox) captions did not complete in time (some never became final or lack \
         a German translation); saw {} English finals",
        originals_c.len()
    );
    let heard_c: Vec<&str> = originals_c.iter().map(|(en, _)| *en).collect();
    assert_eq!(
        heard_c, heard,
        "page C (Firefox) shows other English finals than page B (Chromium)"
    );
    assert!(
        translated_c >= 1,
        "no German translation on page C (Firefox)"
    );
    assert!(
        translated_c * 2 > originals_c.len(),
        "only {translated_c} of {} English finals have a German translation on page C (Firefox)",
        originals_c.len()
    );

    // Firefox and Chromium see and hear each other. C (Firefox) receives A's voice, her words
    // spoken in German and her camera; A (Chromium) receives C's microphone and camera, which
    // Firefox sends with its own payload types (Opus 109, VP8 120) that the room renumbers
    // to what A negotiated.
    check_media(
        &summary["c_from_a"],
        "page C (Firefox) receiving A (Chromium)",
        &["audio", "speech-de", "video"],
    );
    check_media(
        &summary["a_from_c"],
        "page A (Chromium) receiving C (Firefox)",
        &["audio", "video"],
    );

    // The controls did what they say.
    let controls = &summary["controls"];
    assert_eq!(controls["mute"]["enabled"], false, "mute: {controls}");
    assert_eq!(controls["unmute"]["enabled"], true, "unmute: {controls}");
    assert_eq!(
        controls["camera_off"]["enabled"], false,
        "camera: {controls}"
    );
    assert_eq!(controls["camera_on"]["enabled"], true, "camera: {controls}");
    let tracks = controls["b_sees_a"]["tracks"].as_str().unwrap_or_default();
    assert!(
        tracks.contains("audio") && tracks.contains("video"),
        "page B receives A's tracks: {tracks:?}"
    );
    let transcripts = &controls["transcripts"];
    let vtt = transcripts["vtt"]["head"].as_str().unwrap_or_default();
    assert!(
        vtt.starts_with("WEBVTT"),
        "VTT transcript download: {transcripts}"
    );
    assert!(
        transcripts["srt"]["bytes"].as_u64().unwrap_or(0) > 0,
        "SRT transcript download: {transcripts}"
    );
    assert!(
        transcripts["json"]["head"]
            .as_str()
            .is_some_and(|h| h.starts_with('{')),
        "JSON transcript download: {transcripts}"
    );
    assert_eq!(controls["reconnect"]["ok"], true, "reconnect: {controls}");
    assert_eq!(
        controls["reconnect"]["same_identity"], true,
        "a reconnect keeps the identity: {controls}"
    );
    assert_eq!(controls["leave"]["ok"], true, "leave: {controls}");
}
