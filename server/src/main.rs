//! `dragoman`: the command-line tool and (later) the reference server.
//!
//! Errors print one line on stderr and exit with status 1; usage errors exit with status 2.

// A command-line tool's output is its job; the workspace lint is for library code.
#![allow(clippy::print_stdout)]

mod cli;

/// Model inference allocates and frees tensors of tens of megabytes per layer; glibc hands each
/// back to the kernel, and the page faults cost 40% of Whisper's encoder time. mimalloc keeps them.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(code) => code,
        Err(error) => {
            // `{:#}` puts the whole cause chain on one line.
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
