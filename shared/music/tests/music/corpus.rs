//! The music21 corpus acceptance: every MusicXML and MXL file of the music21 10.5.1 corpus,
//! a reference nobody here wrote, read by Coda and checked against music21.
//!
//! `scripts/score_corpus.sh` (run by `scripts/test.sh`) copies the files out of the PyPI
//! package into `${XDG_CACHE_HOME:-~/.cache}/coda-tests/music21-corpus-v1` (or
//! `$CODA_SCORE_CORPUS`) with a `manifest.json` of music21's own counts under
//! [`stats`]'s rules, like with like where music21's convention differs (see
//! scripts/score_corpus.py and shared/music/README.md). Without it these tests fail,
//! naming the script; they never skip.
//!
//! - Every file parses, and its parts, measures, notes, rests and lyrics equal music21's
//!   ([`EXCEPTIONS`] lists the documented differences; there are none today).
//! - Write then read back gives an identical score (MusicXML for every file, and `.mxl`
//!   for the `.mxl` files).
//! - The MIDI round trip keeps every sounding note's key, onset and length to the tick.
//! - music21 re-reads the MusicXML Coda wrote with the same notes and lyrics
//!   (`score_corpus.py --reread`, cached by file SHA-256, so unchanged output is not
//!   counted again).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Instant;

use coda_music::*;
use serde_json::Value;

/// The version of `scripts/score_corpus.py` (its `GENERATOR_VERSION`) these tests expect.
const SET_VERSION: u64 = 1;

/// Files whose counts differ from music21's for a documented reason: (file, count, why).
/// Every entry must still differ, so the list cannot go stale.
const EXCEPTIONS: &[(&str, &str, &str)] = &[];

const SETUP: &str = "run scripts/score_corpus.sh (scripts/test.sh does) to prepare it";

fn set_dir() -> PathBuf {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(dir) = var("CODA_SCORE_CORPUS") {
        return dir.into();
    }
    let cache = var("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| var("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from(".cache"));
    cache
        .join("coda-tests")
        .join(format!("music21-corpus-v{SET_VERSION}"))
}

/// The workspace root: the nearest directory above this crate with a `[workspace]` Cargo.toml.
fn workspace_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.ancestors()
        .find(|d| {
            std::fs::read_to_string(d.join("Cargo.toml"))
                .is_ok_and(|t| t.lines().any(|l| l.trim() == "[workspace]"))
        })
        .unwrap_or(here)
        .to_path_buf()
}

/// The counts compared with music21's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Counts {
    parts: usize,
    measures: usize,
    notes: usize,
    rests: usize,
    lyrics: usize,
}

impl Counts {
    fn of(s: &ScoreStats) -> Counts {
        Counts {
            parts: s.parts,
            measures: s.measures,
            notes: s.notes,
            rests: s.rests,
            lyrics: s.lyrics,
        }
    }

    fn from_json(v: &Value) -> Option<Counts> {
        let n = |k: &str| v.get(k)?.as_u64().and_then(|n| usize::try_from(n).ok());
        Some(Counts {
            parts: n("parts")?,
            measures: n("measures")?,
            notes: n("notes")?,
            rests: n("rests")?,
            lyrics: n("lyrics")?,
        })
    }

    fn fields(&self) -> [(&'static str, usize); 5] {
        [
            ("parts", self.parts),
            ("measures", self.measures),
            ("notes", self.notes),
            ("rests", self.rests),
            ("lyrics", self.lyrics),
        ]
    }
}

/// One corpus file, read.
struct File {
    /// The corpus path ("bach/bwv1.6.mxl").
    name: String,
    parsed: Parsed,
    /// music21's counts from the manifest.
    music21: Counts,
    /// music21's own figures beside them (music21_parts, chord_symbols, ...).
    music21_extra: Value,
}

struct Corpus {
    dir: PathBuf,
    files: Vec<File>,
    read_s: f64,
    bytes: u64,
}

fn corpus() -> &'static Corpus {
    static CORPUS: OnceLock<Corpus> = OnceLock::new();
    CORPUS.get_or_init(load)
}

fn load() -> Corpus {
    let dir = set_dir();
    let manifest_path = dir.join("manifest.json");
    let text = std::fs::read_to_string(&manifest_path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}: the music21 corpus set is missing; {SETUP}",
            manifest_path.display()
        )
    });
    let manifest: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{}: {e}; {SETUP}", manifest_path.display()));
    assert_eq!(
        manifest["generator_version"].as_u64(),
        Some(SET_VERSION),
        "{} is from another generator version; {SETUP}",
        manifest_path.display()
    );
    assert_eq!(manifest["music21_version"], "10.5.1");
    let entries = manifest["files"]
        .as_object()
        .unwrap_or_else(|| panic!("{}: no files; {SETUP}", manifest_path.display()));
    assert!(!entries.is_empty(), "the manifest lists no files; {SETUP}");

    // Both cores, largest files first so the two threads finish together.
    let mut jobs: Vec<(&String, &Value)> = entries.iter().collect();
    jobs.sort_by_key(|(_, e)| std::cmp::Reverse(e["size"].as_u64().unwrap_or(0)));
    let start = Instant::now();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let read_one = |(name, entry): (&String, &Value)| -> (File, u64) {
        let path = dir.join("files").join(name);
        let bytes =
            std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}; {SETUP}", path.display()));
        assert_eq!(
            Some(bytes.len() as u64),
            entry["size"].as_u64(),
            "{name}: not the file the manifest lists; {SETUP}"
        );
        let parsed = read_score(&bytes).unwrap_or_else(|e| panic!("{name}: {e} ({})", e.code()));
        let m21 = &entry["music21"];
        let music21 = Counts::from_json(m21)
            .unwrap_or_else(|| panic!("{name}: the manifest has no music21 counts; {SETUP}"));
        let file = File {
            name: name.clone(),
            parsed,
            music21,
            music21_extra: m21.clone(),
        };
        (file, bytes.len() as u64)
    };
    let mut read: Vec<(File, u64)> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..2)
            .map(|_| {
                s.spawn(|| {
                    let mut out = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(&job) = jobs.get(i) else { break };
                        out.push(read_one(job));
                    }
                    out
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("a reader thread panicked"))
            .collect()
    });
    let read_s = start.elapsed().as_secs_f64();
    read.sort_by(|a, b| a.0.name.cmp(&b.0.name));
    let bytes = read.iter().map(|r| r.1).sum();
    Corpus {
        dir,
        files: read.into_iter().map(|r| r.0).collect(),
        read_s,
        bytes,
    }
}

/// Runs `f` over every file on two threads; returns the failures, sorted.
fn each_file(f: impl Fn(&File) -> Result<(), String> + Sync) -> Vec<String> {
    let files = &corpus().files;
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut failures: Vec<String> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..2)
            .map(|_| {
                s.spawn(|| {
                    let mut out = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(file) = files.get(i) else { break };
                        if let Err(e) = f(file) {
                            out.push(format!("{}: {e}", file.name));
                        }
                    }
                    out
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("a check thread panicked"))
            .collect()
    });
    failures.sort();
    failures
}

fn fail_on(what: &str, failures: &[String]) {
    assert!(
        failures.is_empty(),
        "{what}: {} of {} files:\n{}",
        failures.len(),
        corpus().files.len(),
        failures.join("\n")
    );
}

// ---------------------------------------------------------------------------
// Counts

#[test]
fn every_file_parses_with_music21s_counts() {
    let c = corpus();
    let mut total = Counts::default();
    let mut differences = Vec::new();
    let mut excused = Vec::new();
    for file in &c.files {
        let ours = Counts::of(&stats(&file.parsed.score));
        total.parts += ours.parts;
        total.measures += ours.measures;
        total.notes += ours.notes;
        total.rests += ours.rests;
        total.lyrics += ours.lyrics;
        for ((field, a), (_, b)) in ours.fields().into_iter().zip(file.music21.fields()) {
            let known = EXCEPTIONS
                .iter()
                .find(|(f, k, _)| *f == file.name && *k == field);
            match (a == b, known) {
                (true, None) => {}
                (true, Some(_)) => differences.push(format!(
                    "{}: {field} now agrees ({a}): remove it from EXCEPTIONS",
                    file.name
                )),
                (false, Some((_, _, why))) => {
                    excused.push(format!("{}: {field} {a} vs {b}: {why}", file.name))
                }
                (false, None) => differences.push(format!(
                    "{}: {field}: coda {a}, music21 {b} (music21's own figures: {})",
                    file.name, file.music21_extra
                )),
            }
        }
    }
    println!(
        "{} files ({} bytes) read in {:.2} s: {} parts, {} measures (first parts), {} notes, {} rests, {} lyrics",
        c.files.len(),
        c.bytes,
        c.read_s,
        total.parts,
        total.measures,
        total.notes,
        total.rests,
        total.lyrics
    );
    for e in &excused {
        println!("documented difference: {e}");
    }
    assert!(
        c.files.len() >= 600,
        "only {} files in {}",
        c.files.len(),
        c.dir.display()
    );
    fail_on("counts that differ from music21's", &differences);
}

// ---------------------------------------------------------------------------
// MusicXML round trip

/// Where two scores first differ, for a readable failure.
fn first_difference(a: &Score, b: &Score) -> String {
    if a.title != b.title || a.composer != b.composer {
        return format!(
            "title/composer {:?}/{:?} vs {:?}/{:?}",
            a.title, a.composer, b.title, b.composer
        );
    }
    if a.parts.len() != b.parts.len() {
        return format!("{} parts vs {}", a.parts.len(), b.parts.len());
    }
    for (pa, pb) in a.parts.iter().zip(&b.parts) {
        if pa.measures.len() != pb.measures.len() {
            return format!(
                "part {:?}: {} measures vs {}",
                pa.id,
                pa.measures.len(),
                pb.measures.len()
            );
        }
        for (ma, mb) in pa.measures.iter().zip(&pb.measures) {
            if ma == mb {
                continue;
            }
            let at = format!("part {:?} measure {:?}", pa.id, ma.number);
            if ma.attributes != mb.attributes {
                return format!(
                    "{at}: attributes {:?} vs {:?}",
                    ma.attributes, mb.attributes
                );
            }
            if ma.barlines != mb.barlines {
                return format!("{at}: barlines {:?} vs {:?}", ma.barlines, mb.barlines);
            }
            for (i, (x, y)) in ma.items.iter().zip(&mb.items).enumerate() {
                if x != y {
                    return format!("{at} item {i}: {x:?} vs {y:?}");
                }
            }
            return format!(
                "{at}: {} items vs {} (or number/implicit)",
                ma.items.len(),
                mb.items.len()
            );
        }
        if pa != pb {
            return format!("part {:?} header: {pa:?} vs {pb:?}", pa.id)
                .chars()
                .take(600)
                .collect();
        }
    }
    "equal".into()
}

#[test]
fn musicxml_write_then_read_gives_the_same_score() {
    let start = Instant::now();
    let failures = each_file(|file| {
        let score = &file.parsed.score;
        let xml = write_musicxml(score).map_err(|e| format!("write: {e}"))?;
        let back = read_musicxml(xml.as_bytes()).map_err(|e| format!("read back: {e}"))?;
        if &back.score != score {
            return Err(format!(
                "MusicXML read back differs: {}",
                first_difference(score, &back.score)
            ));
        }
        if !back.warnings.is_empty() {
            return Err(format!("read back with warnings: {:?}", back.warnings));
        }
        if file.name.ends_with(".mxl") {
            let mxl = write_mxl(score).map_err(|e| format!("write .mxl: {e}"))?;
            let back = read_score(&mxl).map_err(|e| format!("read .mxl back: {e}"))?;
            if &back.score != score {
                return Err(format!(
                    ".mxl read back differs: {}",
                    first_difference(score, &back.score)
                ));
            }
        }
        Ok(())
    });
    println!(
        "MusicXML round trip of {} files in {:.2} s",
        corpus().files.len(),
        start.elapsed().as_secs_f64()
    );
    fail_on("MusicXML round trips that changed the score", &failures);
}

// ---------------------------------------------------------------------------
// MIDI round trip

/// A sounding note in ticks: (part among the parts that sound, key, onset, end).
type Sounding = (usize, u8, u64, u64);

/// A time in quarters as ticks at `ppq`, rounded to the nearest (halves up) as the writer does.
fn ticks(q: Rational, ppq: u16) -> Option<u64> {
    let exact = q.checked_mul(Rational::from_int(i64::from(ppq)))?;
    let (n, d) = (i128::from(exact.num()), i128::from(exact.den()));
    u64::try_from((2 * n + d).checked_div(2 * d)?).ok()
}

/// A time signature's length in quarters ("3+2"/8 sums), when numeric.
fn bar_length(t: &TimeSig) -> Option<Rational> {
    let mut beats = 0i64;
    for b in t.beats.split('+') {
        beats = beats.checked_add(b.trim().parse().ok()?)?;
    }
    let unit: i64 = t.beat_type.trim().parse().ok()?;
    Rational::new(beats.checked_mul(4)?, unit)
        .ok()
        .filter(|l| *l > Rational::ZERO)
}

/// The MIDI key a note sounds: its pitch plus the transposition, or an unpitched
/// note's instrument key (its own instrument's, else the part's first), else its
/// displayed position. `None` outside 0..=127.
fn key_of(part: &Part, n: &Note, transpose: i32) -> Option<u8> {
    let key = if let Some(p) = &n.pitch {
        p.midi() + transpose
    } else {
        let u = n.unpitched.as_ref()?;
        let own = u
            .instrument
            .as_deref()
            .and_then(|id| part.instruments.iter().find(|i| i.id == id))
            .and_then(|i| i.midi_unpitched);
        match own.or_else(|| part.instruments.iter().find_map(|i| i.midi_unpitched)) {
            Some(k) => i32::from(k) - 1,
            None => (i32::from(u.display_octave?) + 1) * 12 + u.display_step?.semitone(),
        }
    };
    u8::try_from(key).ok().filter(|k| *k <= 127)
}

/// Every sounding note of a score as the MIDI writer documents it plays: measures one after
/// another (a measure lasts as far as its cursor went, or its time signature when it holds
/// nothing timed), chord members at their chord's onset, backups stopping at the measure
/// start, grace and cue notes and rests silent, tied notes merged into one, each time
/// rounded to the nearest tick and a note that rounds to nothing given one tick.
fn sounding(score: &Score, ppq: u16) -> Result<Vec<Sounding>, String> {
    let mut out = Vec::new();
    let mut index = 0;
    for part in &score.parts {
        // (on, end, key, tie start, tie stop), in quarters.
        let mut pieces: Vec<(Rational, Rational, u8, bool, bool)> = Vec::new();
        let mut start = Rational::ZERO;
        let mut bar = Rational::from_int(4);
        let mut transpose = 0i32;
        let overflow = || format!("times overflow in part {:?}", part.id);
        let apply = |a: &Attributes, bar: &mut Rational, transpose: &mut i32| {
            if let Some(l) = a.time.as_ref().and_then(bar_length) {
                *bar = l;
            }
            if let Some(t) = &a.transpose {
                *transpose = i32::from(t.chromatic) + 12 * i32::from(t.octave_change);
            }
        };
        for m in &part.measures {
            if let Some(a) = &m.attributes {
                apply(a, &mut bar, &mut transpose);
            }
            let (mut cursor, mut furthest, mut onset) =
                (Rational::ZERO, Rational::ZERO, Rational::ZERO);
            let mut timed = false;
            for item in &m.items {
                match item {
                    Item::Note(n) => {
                        timed = true;
                        if !n.chord {
                            onset = cursor;
                            if !n.grace {
                                cursor = cursor.checked_add(n.duration).ok_or_else(overflow)?;
                            }
                        }
                        let silent = n.rest || n.cue || n.grace || n.duration.is_zero();
                        if let (false, Some(key)) = (silent, key_of(part, n, transpose)) {
                            let on = start.checked_add(onset).ok_or_else(overflow)?;
                            let end = on.checked_add(n.duration).ok_or_else(overflow)?;
                            let tie_start = n.ties.contains(&TieType::Start);
                            pieces.push((on, end, key, tie_start, n.is_tie_continuation()));
                        }
                    }
                    Item::Backup { duration } => {
                        timed = true;
                        cursor = cursor.checked_sub(*duration).ok_or_else(overflow)?;
                        if cursor.is_negative() {
                            cursor = Rational::ZERO;
                        }
                    }
                    Item::Forward { duration, .. } => {
                        timed = true;
                        cursor = cursor.checked_add(*duration).ok_or_else(overflow)?;
                    }
                    Item::Attributes(a) => apply(a, &mut bar, &mut transpose),
                    Item::Direction(_) | Item::Harmony(_) => {}
                }
                if cursor > furthest {
                    furthest = cursor;
                }
            }
            let length = if timed { furthest } else { bar };
            start = start.checked_add(length).ok_or_else(overflow)?;
        }
        // A tie stop continues an open tied note of its key that ends where it starts.
        pieces.sort_by_key(|p| p.0);
        let mut notes: Vec<(Rational, Rational, u8)> = Vec::new();
        let mut open: BTreeMap<u8, Vec<usize>> = BTreeMap::new();
        for (on, end, key, tie_start, tie_stop) in pieces {
            if tie_stop {
                let slot = open.entry(key).or_default();
                let found = slot
                    .iter()
                    .position(|&i| notes.get(i).is_some_and(|n| n.1 == on));
                if let Some(pos) = found {
                    let i = slot.remove(pos);
                    if let Some(n) = notes.get_mut(i) {
                        n.1 = end;
                    }
                    if tie_start {
                        slot.push(i);
                    }
                    continue;
                }
            }
            if tie_start {
                open.entry(key).or_default().push(notes.len());
            }
            notes.push((on, end, key));
        }
        if notes.is_empty() {
            continue; // a part that plays nothing has no track notes to read back
        }
        for (on, end, key) in notes {
            let t = |q| ticks(q, ppq).ok_or_else(|| format!("{q} quarters overflow as ticks"));
            let (on, mut end) = (t(on)?, t(end)?);
            if end <= on {
                end = on + 1;
            }
            out.push((index, key, on, end));
        }
        index += 1;
    }
    out.sort_unstable();
    Ok(out)
}

/// What is in `a` and not in `b` (multisets of sorted lists), at most `max` of them.
fn missing(a: &[Sounding], b: &[Sounding], max: usize) -> Vec<Sounding> {
    let mut counts: BTreeMap<Sounding, i64> = BTreeMap::new();
    for x in a {
        *counts.entry(*x).or_default() += 1;
    }
    for x in b {
        *counts.entry(*x).or_default() -= 1;
    }
    counts
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|(x, _)| x)
        .take(max)
        .collect()
}

/// The spans where a part sounds one key more than once at a time (unisons between voices,
/// an overlapping repeat): a MIDI channel plays a key once at a time, so such notes cannot
/// come back as written. As (part, key, start, end), merged.
fn overlaps(notes: &[Sounding]) -> Vec<Sounding> {
    let mut by_key: BTreeMap<(usize, u8), Vec<(u64, u64)>> = BTreeMap::new();
    for &(part, key, on, end) in notes {
        by_key.entry((part, key)).or_default().push((on, end));
    }
    let mut spans = Vec::new();
    for ((part, key), mut v) in by_key {
        v.sort_unstable();
        // Groups of notes that overlap one another; a group of one is not a clash.
        let mut group: Option<(u64, u64, usize)> = None;
        for (on, end) in v {
            match group {
                Some((s, e, n)) if on < e => group = Some((s, e.max(end), n + 1)),
                _ => {
                    if let Some((s, e, _)) = group.filter(|g| g.2 > 1) {
                        spans.push((part, key, s, e));
                    }
                    group = Some((on, end, 1));
                }
            }
        }
        if let Some((s, e, _)) = group.filter(|g| g.2 > 1) {
            spans.push((part, key, s, e));
        }
    }
    spans
}

/// `notes` less those inside one of `spans` (same part and key, onset within the span).
fn outside(notes: &[Sounding], spans: &[Sounding]) -> Vec<Sounding> {
    notes
        .iter()
        .filter(|&&(part, key, on, _)| {
            !spans
                .iter()
                .any(|&(p, k, s, e)| p == part && k == key && on >= s && on < e)
        })
        .copied()
        .collect()
}

#[test]
fn midi_round_trip_keeps_keys_onsets_and_lengths_to_the_tick() {
    use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
    let start = Instant::now();
    let (compared, overlapping) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let failures = each_file(|file| {
        let written = write_midi_with_report(&file.parsed.score).map_err(|e| format!("{e}"))?;
        let ppq = written.ticks_per_quarter;
        let expected = sounding(&file.parsed.score, ppq)?;
        let back = read_midi(&written.bytes).map_err(|e| format!("read back: {e}"))?;
        let got = sounding(&back.score, ppq)?;
        let clashes = overlaps(&expected);
        let (expected, got) = if clashes.is_empty() {
            (expected, got)
        } else {
            let kept = outside(&expected, &clashes);
            overlapping.fetch_add(expected.len() - kept.len(), Relaxed);
            (kept, outside(&got, &clashes))
        };
        compared.fetch_add(expected.len(), Relaxed);
        if got == expected {
            return Ok(());
        }
        Err(format!(
            "{} notes written, {} read back at PPQ {ppq}; missing {:?}; extra {:?}",
            expected.len(),
            got.len(),
            missing(&expected, &got, 4),
            missing(&got, &expected, 4)
        ))
    });
    println!(
        "MIDI round trip of {} files in {:.2} s: {} notes to the tick; {} notes left out where a part sounds one key twice at once",
        corpus().files.len(),
        start.elapsed().as_secs_f64(),
        compared.load(Relaxed),
        overlapping.load(Relaxed)
    );
    fail_on("MIDI round trips that moved a note", &failures);
}

// ---------------------------------------------------------------------------
// music21 re-reads Coda's MusicXML

/// A corpus path as one file name ("bach/bwv1.6.mxl" -> "bach__bwv1.6.mxl.musicxml").
fn flat_name(name: &str) -> String {
    format!("{}.musicxml", name.replace('/', "__"))
}

#[test]
fn music21_rereads_codas_musicxml_with_the_same_notes_and_lyrics() {
    let c = corpus();
    let python = workspace_root().join(".venv/bin/python");
    let script = workspace_root().join("scripts/score_corpus.py");
    assert!(
        python.is_file(),
        "{} is missing: music21 re-reads Coda's output with it; {SETUP}",
        python.display()
    );
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("music21-corpus-reread");
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).unwrap_or_else(|e| panic!("{}: {e}", out.display()));
    let start = Instant::now();
    let mut failures = each_file(|file| {
        let xml = write_musicxml(&file.parsed.score).map_err(|e| format!("write: {e}"))?;
        std::fs::write(out.join(flat_name(&file.name)), xml).map_err(|e| e.to_string())
    });
    let written_s = start.elapsed().as_secs_f64();
    let run = std::process::Command::new(&python)
        .arg(&script)
        .arg("--reread")
        .arg(&out)
        .arg(&c.dir)
        .stderr(std::process::Stdio::inherit())
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}; {SETUP}", python.display()));
    assert!(
        run.status.success(),
        "score_corpus.py --reread failed ({}); {SETUP}",
        run.status
    );
    let reread: Value = serde_json::from_slice(&run.stdout).expect("--reread prints JSON");
    for file in &c.files {
        let name = flat_name(&file.name);
        let Some(got) = reread.get(&name) else {
            failures.push(format!("{}: music21 did not report {name}", file.name));
            continue;
        };
        if let Some(e) = got.get("error") {
            failures.push(format!(
                "{}: music21 cannot read Coda's output: {e}",
                file.name
            ));
            continue;
        }
        for key in ["notes", "lyrics"] {
            let (a, b) = (&file.music21_extra[key], &got[key]);
            if a != b {
                failures.push(format!(
                    "{}: {key}: music21 reads {a} in the corpus file, {b} in Coda's output",
                    file.name
                ));
            }
        }
    }
    println!(
        "music21 re-read {} Coda-written files ({written_s:.2} s to write, {:.2} s in all)",
        c.files.len(),
        start.elapsed().as_secs_f64()
    );
    fail_on(
        "files music21 reads differently after Coda wrote them",
        &failures,
    );
}
