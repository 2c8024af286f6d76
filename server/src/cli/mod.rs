//! Command-line interface: one module per subcommand.

mod models;
mod progress;
mod serve;
mod speak;
mod transcribe;
mod translate;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Live speech translation for calls: speech-to-text, translation, text-to-speech.
#[derive(Debug, Parser)]
#[command(name = "dragoman", version, about, propagate_version = true)]
pub(crate) struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List, download, locate and check models.
    #[command(subcommand)]
    Models(models::ModelsCommand),
    /// Transcribe (or translate into English) a recording with Whisper.
    Transcribe(transcribe::TranscribeArgs),
    /// Translate text between languages.
    Translate(translate::TranslateArgs),
    /// Speak text (a WAV file, or raw samples on standard output).
    Speak(speak::SpeakArgs),
    /// Run the call server: the HTTP API, signaling, the web client.
    Serve(serve::ServeArgs),
}

/// Runs the parsed command line.
pub(crate) fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    init_logging();
    match cli.command {
        Command::Models(command) => models::run(command),
        Command::Transcribe(args) => transcribe::run(args),
        Command::Translate(args) => translate::run(args),
        Command::Speak(args) => speak::run(args),
        Command::Serve(args) => serve::run(args),
    }
}

/// Logs to stderr at `RUST_LOG` (default: warnings, and the server's own info), for every
/// command: the libraries warn through it (a WAV cut short, a pipeline that shed audio). The DTLS
/// layer of `webrtc` warns about every browser's TLS 1.3 hello extensions (a dozen lines per
/// connection, nothing wrong): by default only its errors are shown. Symphonia logs each
/// failure it also returns (`probe reached EOF`), which the command then reports as its one
/// error line naming the file: by default its logs are off.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("warn,rtc_dtls=error,symphonia=off,dragoman_server=info")
    });
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
