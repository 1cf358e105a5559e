//! The score readers' targets: MusicXML / `.mxl` through `read_score`, and MIDI.
//!
//! Besides "no panic", each checks what a read score promises:
//! - `musicxml_read`: the score's JSON form reads back equal (all that is
//!   checked when the bytes start as MIDI: `midi_read` checks the rest);
//!   `write_musicxml` succeeds and its output reads back without warnings;
//!   what it reads back is the writer's fixed point (written and read again,
//!   it is equal); a score read without warnings reads back equal to itself;
//!   `.mxl` input also goes through `write_mxl` and `read_mxl`; repeat
//!   expansion ends, leaves no repeat or ending, expands to itself and writes;
//!   every part (up to four) is planned for singing (sung line, alignment,
//!   curves): the phonemes tile the frames, the curves are finite, and a short
//!   render has the alignment's length.
//! - `midi_read`: the JSON form reads back equal, it is planned for singing as
//!   above; `write_midi` succeeds and its
//!   output reads back; that score is the MIDI writer's fixed point (written and
//!   read again, it is equal).

use coda_music::{
    expand_repeats, read_midi, read_musicxml, read_mxl, read_score, write_midi, write_musicxml,
    write_mxl, Score, ScoreFormat,
};

/// The score's JSON form reads back as the same score.
fn check_json(score: &Score) {
    let json = serde_json::to_string(score).expect("a score serialises");
    let back: Score = serde_json::from_str(&json)
        .unwrap_or_else(|e| panic!("the JSON form does not read back: {e}\n{json}"));
    assert!(back == *score, "the JSON form reads back different\n{json}");
}

/// Writes MusicXML and reads it back: no error, no warning; returns what was read.
fn musicxml_round(score: &Score) -> (String, Score) {
    let xml = write_musicxml(score).unwrap_or_else(|e| panic!("a read score does not write: {e}"));
    let back = read_musicxml(xml.as_bytes())
        .unwrap_or_else(|e| panic!("the written MusicXML does not read back: {e}\n{xml}"));
    assert!(
        back.warnings.is_empty(),
        "the written MusicXML reads back with warnings {:?}\n{xml}",
        back.warnings
    );
    (xml, back.score)
}

/// MusicXML or `.mxl` bytes through [`read_score`], then the round trips (MIDI: JSON only).
pub fn musicxml_read(data: &[u8]) {
    let format = ScoreFormat::detect(data);
    let Ok(parsed) = read_score(data) else {
        return;
    };
    let score = &parsed.score;
    check_json(score);
    if format == ScoreFormat::Midi {
        // `midi_read`'s business (a MIDI key under 12 has octave -1, which MusicXML cannot write).
        return;
    }
    let (xml, back) = musicxml_round(score);
    if parsed.warnings.is_empty() {
        assert!(
            back == *score,
            "a score read without warnings reads back different\n{xml}"
        );
    }
    let (xml2, again) = musicxml_round(&back);
    assert!(
        again == back,
        "the writer's output is not a fixed point\n{xml}\n{xml2}"
    );
    check_expansion(score);
    check_singing(score);
    if format == ScoreFormat::Mxl {
        let zip = write_mxl(score).unwrap_or_else(|e| panic!("a read score does not zip: {e}"));
        let unzipped = read_mxl(&zip).unwrap_or_else(|e| panic!("write_mxl's output: {e}"));
        assert!(
            unzipped.score == back,
            "the .mxl round trip differs from MusicXML's"
        );
    }
}

/// A small dictionary: the fuzzed lyrics mostly go through the letter-to-sound rules.
fn dictionary() -> &'static coda_vocal::g2p::Dictionary {
    static DICT: std::sync::OnceLock<coda_vocal::g2p::Dictionary> = std::sync::OnceLock::new();
    DICT.get_or_init(|| {
        coda_vocal::g2p::Dictionary::parse("la L AA1\nhello HH AH0 L OW1\nstar S T AA1 R\n")
            .expect("the fuzz dictionary parses")
    })
}

/// Up to four parts planned for singing; plans of at most 1,000 frames are also rendered.
fn check_singing(score: &Score) {
    use coda_singing::formant::{BuiltinVoice, Performance};
    use coda_singing::sing::{plan, SingOptions};
    static VOICE: std::sync::OnceLock<BuiltinVoice> = std::sync::OnceLock::new();
    for part_index in 0..score.parts.len().min(4) {
        let options = SingOptions {
            part_index,
            ..Default::default()
        };
        let Ok(p) = plan(score, dictionary(), &options) else {
            continue;
        };
        let a = &p.alignment;
        let mut t = 0;
        for ph in &a.phonemes {
            assert!(
                ph.start == t && ph.end > ph.start,
                "phonemes do not tile: {ph:?}"
            );
            t = ph.end;
        }
        assert_eq!(t, a.frames, "the phonemes end before the render");
        assert_eq!(p.f0.len(), a.frames as usize);
        assert!(p.f0.iter().all(|v| v.is_finite() && *v > 0.0), "a bad f0");
        if a.frames <= 1_000 {
            let perf = Performance {
                alignment: a,
                f0: &p.f0,
                dynamics: &p.dynamics,
                expression: options.expression,
                seed: 1,
            };
            let samples = VOICE
                .get_or_init(BuiltinVoice::new)
                .render(&perf, 1, &|_, _| {}, &|| false)
                .unwrap_or_else(|e| panic!("a plan does not render: {e}"));
            assert_eq!(samples.len(), a.frames as usize * 512);
            assert!(
                samples.iter().all(|v| v.is_finite() && v.abs() <= 1.0),
                "a bad sample"
            );
        }
    }
}

/// Repeat expansion ends without a panic; what it gives has no repeats left, expands to
/// itself and writes as MusicXML.
fn check_expansion(score: &Score) {
    let Ok(expanded) = expand_repeats(score) else {
        return;
    };
    for m in expanded.parts.iter().flat_map(|p| &p.measures) {
        assert!(
            m.barlines
                .iter()
                .all(|b| b.repeat.is_none() && b.ending.is_none()),
            "a repeat or ending is left in measure {}",
            m.number
        );
    }
    assert!(
        expand_repeats(&expanded).as_ref() == Ok(&expanded),
        "an expanded score expands again to something else"
    );
    musicxml_round(&expanded);
}

/// Writes MIDI and reads it back; returns what was read.
fn midi_round(score: &Score) -> Score {
    let bytes = write_midi(score).unwrap_or_else(|e| panic!("a read score does not write: {e}"));
    read_midi(&bytes)
        .unwrap_or_else(|e| panic!("the written MIDI does not read back: {e}"))
        .score
}

/// Standard MIDI File bytes through `read_midi`, then the round trips.
pub fn midi_read(data: &[u8]) {
    let Ok(parsed) = read_midi(data) else {
        return;
    };
    check_json(&parsed.score);
    check_singing(&parsed.score);
    let back = midi_round(&parsed.score);
    let again = midi_round(&back);
    assert!(
        again == back,
        "the MIDI writer's output is not a fixed point"
    );
}
