//! Reads a MusicXML file and writes it back with Coda's writer.
//!
//! `cargo run -p coda-music --example roundtrip -- IN.musicxml OUT.musicxml`
//! (`-` as OUT writes to standard output). The reader's warnings go to
//! standard error; the exit status is 1 when the file cannot be read or
//! written, 2 on a usage error.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [input, output] = args.as_slice() else {
        eprintln!("usage: roundtrip IN.musicxml OUT.musicxml (OUT may be -)");
        return ExitCode::from(2);
    };
    let bytes = match std::fs::read(input) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("{input}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let parsed = match coda_music::read_musicxml(&bytes) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{input}: {e} ({})", e.code());
            return ExitCode::FAILURE;
        }
    };
    for w in &parsed.warnings {
        eprintln!("{input}: warning: {w}");
    }
    let xml = match coda_music::write_musicxml(&parsed.score) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("{input}: {e} ({})", e.code());
            return ExitCode::FAILURE;
        }
    };
    if output == "-" {
        print!("{xml}");
    } else if let Err(e) = std::fs::write(output, xml) {
        eprintln!("{output}: {e}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
