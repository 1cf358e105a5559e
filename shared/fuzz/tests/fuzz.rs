//! Every fuzz target on stable: the committed corpus first, then a fixed number
//! of mutations of it from a fixed seed, so every run tries the same inputs and
//! a pass is repeatable (about 8 s a target in a debug build; the targets run side
//! by side). `CODA_FUZZ_SECS=N` mutates for N seconds a target instead, for
//! longer local runs. An input that fails is written to
//! `target/fuzz-failures/{target}-{n}` so `cargo fuzz run {target} FILE` replays it.

use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::Once;
use std::time::{Duration, Instant};

use coda_fuzz::mutate::{mutate, Rng};

fn here() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The committed corpus of `target`, plus, for audio, the repository's audio fixtures.
fn corpus(target: &str) -> Vec<Vec<u8>> {
    let mut dirs = vec![here().join("corpus").join(target)];
    if target == "audio_decode" {
        let audio = here().join("../audio/tests/data");
        dirs.push(audio.join("hostile-audio"));
        dirs.push(audio);
    }
    let mut seeds = Vec::new();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            panic!("no corpus at {}", dir.display());
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.is_file() && p.extension().is_none_or(|e| e != "md"))
            .collect();
        files.sort();
        seeds.extend(files.iter().map(|p| std::fs::read(p).unwrap()));
    }
    assert!(!seeds.is_empty(), "{target} has no corpus");
    seeds
}

/// MIDI's chunk tags, meta events and status bytes (not UTF-8, so bytes).
const MIDI_WORDS: &[&[u8]] = &[
    b"MThd",
    b"MTrk",
    b"\x00\x00\x00\x06",
    b"\x00\x01",
    b"\x03\xc0",
    b"\xff\x2f\x00",
    b"\xff\x51\x03",
    b"\xff\x58\x04",
    b"\xff\x59\x02",
    b"\xff\x03",
    b"\xff\x04",
    b"\x90\x3c\x40",
    b"\x80\x3c\x00",
    b"\x99\x24\x64",
    b"\xc0\x28",
    b"\xf0\x01\xf7",
    b"\x8f\xff\xff\x7f",
    b"\x7f",
];

/// Words worth inserting, per target (libFuzzer's `-dict` files hold the same).
fn dictionary(target: &str) -> Vec<&'static [u8]> {
    if target == "midi_read" {
        return MIDI_WORDS.to_vec();
    }
    let words: &[&str] = match target {
        "audio_decode" => &[
            "RIFF", "WAVE", "fmt ", "data", "LIST", "fLaC", "OggS", "vorbis", "ID3", "ftyp",
            "moov", "trak", "mdia", "hdlr", "stsd", "stsz", "stco", "FORM", "AIFF", "COMM", "SSND",
        ],
        "multipart_body" => &[
            "--codafuzzboundary\r\n",
            "--codafuzzboundary--\r\n",
            "Content-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\n",
            "Content-Type: audio/wav\r\n",
            "\r\n",
            "name=\"file\"",
            "filename=\"",
        ],
        "json_body" => &[
            "{",
            "}",
            "[",
            "]",
            "\"kind\":",
            "\"probe\"",
            "\"input_key\":",
            "\"inputs\":",
            "\"params\":",
            "\"filename\":",
            "\"size\":",
            "\"jobs\":",
            "\"url\":",
            "\"events\":",
            "\"webhook_url\":",
            "null",
            "true",
            "1e999",
            "-0",
            "18446744073709551616",
            "\"\\ud800\"",
            "\"job:",
            "/output\"",
            "\"uploads/",
        ],
        "range_header" => &[
            "bytes=",
            "-",
            ",",
            "0",
            "1",
            "4095",
            "4096",
            "18446744073709551615",
            " ",
            "=",
            "items=",
        ],
        "signed_url" => &[
            "expires=",
            "signature=",
            "&",
            "%00",
            "%2F",
            "..",
            "/",
            "\n",
            "uploads/",
            "sessions/",
        ],
        "musicxml_read" => &[
            "<note>",
            "</note>",
            "<pitch><step>C</step><octave>4</octave></pitch>",
            "<alter>",
            "<duration>",
            "<divisions>",
            "<measure number=\"",
            "</measure>",
            "<part id=\"",
            "<backup><duration>",
            "<forward><duration>",
            "<chord/>",
            "<rest/>",
            "<rest measure=\"yes\"/>",
            "<grace/>",
            "<cue/>",
            "<tie type=\"start\"/>",
            "<tied type=\"stop\"/>",
            "<time-modification><actual-notes>3</actual-notes><normal-notes>2</normal-notes>",
            "<lyric number=\"",
            "<text>",
            "<syllabic>",
            "<extend/>",
            "<attributes>",
            "<key><fifths>",
            "<mode>",
            "<time><beats>",
            "<beat-type>",
            "<clef><sign>",
            "<line>",
            "<staves>",
            "<staff>",
            "<voice>",
            "<type>",
            "<dot/>",
            "<transpose><chromatic>",
            "<diatonic>",
            "<octave-change>",
            "<direction><direction-type>",
            "<words>",
            "<segno/>",
            "<coda/>",
            "<dynamics><",
            "<wedge type=\"",
            "<metronome><beat-unit>",
            "<per-minute>",
            "<sound tempo=\"",
            "dynamics=\"",
            "<harmony><root><root-step>",
            "<kind text=\"",
            "<bass><bass-step>",
            "<offset>",
            "<barline location=\"",
            "<repeat direction=\"backward\" times=\"",
            "<repeat direction=\"forward\"/>",
            "<ending number=\"2\" type=\"stop\"/>",
            "<sound dacapo=\"yes\"/>",
            "<sound dalsegno=\"s\"/>",
            "<sound segno=\"s\"/>",
            "<sound tocoda=\"c\"/>",
            "<sound coda=\"c\"/>",
            "<sound fine=\"yes\"/>",
            "D.C. al Fine",
            "D.S. al Coda",
            "<ending number=\"1\" type=\"start\"/>",
            "<unpitched><display-step>",
            "<instrument id=\"",
            "<score-part id=\"",
            "<score-instrument id=\"",
            "<midi-instrument id=\"",
            "<midi-channel>",
            "<midi-program>",
            "<midi-unpitched>",
            "<notations>",
            "<articulations><",
            "<fermata/>",
            "<score-partwise version=\"4.0\">",
            "<score-timewise>",
            "<!DOCTYPE",
            "&amp;",
            "&#x",
            "<![CDATA[",
            "<?xml version=\"1.0\" encoding=\"",
            "-1",
            "0",
            "99999999999",
            "0.000000001",
            "1e3",
            "PK\u{3}\u{4}",
            "META-INF/container.xml",
            "<rootfile full-path=\"",
        ],
        _ => &[],
    };
    words.iter().map(|w| w.as_bytes()).collect()
}

fn save_failure(target: &str, input: &[u8]) -> PathBuf {
    let dir = here().join("../../target/fuzz-failures");
    std::fs::create_dir_all(&dir).unwrap();
    let n = std::fs::read_dir(&dir).map(|d| d.count()).unwrap_or(0);
    let path = dir.join(format!("{target}-{n}"));
    std::fs::write(&path, input).unwrap();
    path
}

thread_local! {
    /// The first panic of the current input on this thread, caught or not.
    static PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
    /// Whether this thread is running a target on an input (other panics print as usual).
    static FUZZING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Records every panic, even one the code under test catches (the decoder wraps
/// symphonia in `catch_unwind`): a caught panic is a failure too, as it is under libFuzzer.
fn record_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let usual = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !FUZZING.with(|f| f.get()) {
                return usual(info);
            }
            let at = info
                .location()
                .map(|l| format!("{}:{}", l.file(), l.line()))
                .unwrap_or_default();
            let what = info
                .payload()
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| info.payload().downcast_ref::<String>().cloned())
                .unwrap_or_default();
            PANIC.with(|p| {
                p.borrow_mut().get_or_insert(format!("{what} at {at}"));
            });
        }));
    });
}

/// How long to mutate: a fixed count of mutations (CI), or `CODA_FUZZ_SECS` seconds.
enum Budget {
    Runs(u64),
    Time(Duration),
}

fn budget(target: &str) -> Budget {
    if let Some(secs) = std::env::var("CODA_FUZZ_SECS")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
    {
        return Budget::Time(Duration::from_secs_f64(secs.clamp(0.0, 86_400.0)));
    }
    // Sized to about 8 s each in a debug build (the targets' speeds differ by 10x).
    Budget::Runs(match target {
        "musicxml_read" => 3_000,
        "midi_read" => 5_000,
        "audio_decode" | "multipart_body" => 20_000,
        "json_body" | "range_header" => 40_000,
        _ => 100_000,
    })
}

fn run(target: &str) {
    let f = coda_fuzz::TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .map(|&(_, f)| f)
        .unwrap();
    let seeds = corpus(target);
    let dict = dictionary(target);
    record_panics();
    let attempt = |input: &[u8]| {
        PANIC.with(|p| p.borrow_mut().take());
        FUZZING.with(|f| f.set(true));
        let finished = catch_unwind(AssertUnwindSafe(|| f(input))).is_ok();
        FUZZING.with(|f| f.set(false));
        if let Some(why) = PANIC.with(|p| p.borrow_mut().take()) {
            let path = save_failure(target, input);
            let caught = if finished { " (caught inside)" } else { "" };
            panic!("{target} panicked{caught} on {}: {why}", path.display());
        }
    };
    for seed in &seeds {
        attempt(seed);
    }
    let (started, budget) = (Instant::now(), budget(target));
    let mut rng = Rng::new(0xC0DA ^ target.len() as u64);
    let mut runs = 0u64;
    let more = |runs: u64| match budget {
        Budget::Runs(n) => runs < n,
        Budget::Time(t) => started.elapsed() < t,
    };
    while more(runs) {
        let seed = &seeds[rng.below(seeds.len())];
        let input = mutate(seed, &seeds, &dict, &mut rng);
        attempt(&input);
        runs += 1;
    }
    eprintln!(
        "{target}: {} seeds and {runs} mutations in {:.1} s, no failure",
        seeds.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        matches!(budget, Budget::Time(t) if t.is_zero()) || runs > 0,
        "no mutation ran"
    );
}

#[test]
fn audio_decode() {
    run("audio_decode");
}

#[test]
fn multipart_body() {
    run("multipart_body");
}

#[test]
fn json_body() {
    run("json_body");
}

#[test]
fn range_header() {
    run("range_header");
}

#[test]
fn signed_url() {
    run("signed_url");
}

#[test]
fn musicxml_read() {
    run("musicxml_read");
}

#[test]
fn midi_read() {
    run("midi_read");
}

#[test]
fn every_target_has_a_corpus_and_a_libfuzzer_entry() {
    for (name, _) in coda_fuzz::TARGETS {
        assert!(!corpus(name).is_empty());
        let entry = here()
            .join("../../fuzz/fuzz_targets")
            .join(format!("{name}.rs"));
        let text = std::fs::read_to_string(&entry)
            .unwrap_or_else(|_| panic!("no cargo-fuzz target {}", entry.display()));
        assert!(
            text.contains(&format!("coda_fuzz::{name}(")),
            "{}",
            entry.display()
        );
    }
}

/// The harness reaches the handlers: the corpus's valid inputs are answered as a client expects,
/// so the mutations start from requests that get past parsing and auth.
#[test]
fn the_corpus_reaches_the_handlers() {
    use axum::body::Body;
    use axum::http::{header, Request};
    let h = coda_fuzz::Harness::get();
    let get = |range: Option<&str>| {
        let mut req = Request::builder().uri(h.signed_get.as_str());
        if let Some(r) = range {
            req = req.header(header::RANGE, r);
        }
        h.send(req.body(Body::empty()).unwrap())
    };
    let (status, _, body) = get(None);
    assert_eq!((status.as_u16(), body.len()), (200, h.blob_len));
    let (status, _, body) = get(Some("bytes=10-19"));
    assert_eq!((status.as_u16(), &body[..]), (206, &h.blob[10..20]));
    let multipart = std::fs::read(here().join("corpus/multipart_body/file.mp")).unwrap();
    let req = Request::post(format!("/v1/sessions/{}/files", h.session_id))
        .header(header::AUTHORIZATION, format!("Bearer {}", h.token))
        .header(
            header::CONTENT_TYPE,
            format!("multipart/form-data; boundary={}", coda_fuzz::BOUNDARY),
        )
        .body(Body::from(multipart))
        .unwrap();
    assert_eq!(h.send(req).0.as_u16(), 201);
    let req = Request::post("/v1/sessions")
        .header(header::AUTHORIZATION, format!("Bearer {}", h.token))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from("{}"))
        .unwrap();
    assert_eq!(h.send(req).0.as_u16(), 201);
}
