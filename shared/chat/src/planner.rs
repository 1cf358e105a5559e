//! The built-in planner: a deterministic parser of a documented command grammar that turns a
//! chat message into tool calls, with no network and no model.
//!
//! A message is split into clauses ("softer and slower, then sing it"); each clause is read
//! for one intent, in this order:
//!
//! | intent | phrasings | tool call |
//! | --- | --- | --- |
//! | undo / redo | "undo", "go back", "revert that"; "redo" | `undo_score`, `redo_score` |
//! | key | "what key is it in", "which key" | `score_info` |
//! | dynamics | "softer", "much louder", "pianissimo in bars 3–8", "the alto mf" | `modify_score` `dynamics` |
//! | tempo | "slower", "80 bpm", "10 % faster", "half speed" | `modify_score` `set_tempo` / `scale_tempo` |
//! | transpose | "up a tone", "down 3 semitones", "up a fifth", "to G major" | `modify_score` `transpose` |
//! | octave | "the bass an octave lower", "up an octave" | `modify_score` `octave` (a part) or `transpose` ±12 |
//! | lyrics | `lyrics of bars 1-2 to "la la la"` | `modify_score` `set_lyrics` |
//! | selection | "keep only the soprano", "use verse 2" | `modify_score` `select_part` / `select_verse` |
//! | singing | "sing the alto", "sing verse 2 breathier", "render it more legato" | `synthesize` |
//!
//! Bars are "bar 5", "bars 3-8", "measures 3 to 8", "bars 3–8"; parts are "the soprano",
//! "the alto", "part 2", "the first part", or any part name the score has. Words are matched
//! with typos forgiven (one edit in words of five letters or more). The edits of one message
//! go into one `modify_score` call, so they are applied together, all or none.
//!
//! A clause it cannot read makes the whole message refused: no tool runs, and the reply says
//! what it did not understand and what it can do.

use serde_json::{json, Map, Value};

/// What the planner knows of the session's score.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PlanContext {
    /// Part names, in order (index = part number from 0).
    pub parts: Vec<String>,
    /// The first key signature, in fifths.
    pub key_fifths: Option<i8>,
    /// Its mode, when written ("major", "minor").
    pub key_mode: Option<String>,
    /// Measures of the first part.
    pub measures: usize,
    /// Whether the session has a score at all.
    pub has_score: bool,
}

/// One planned tool call and the words that describe it in the reply.
#[derive(Clone, Debug, PartialEq)]
pub struct PlannedCall {
    /// The tool.
    pub tool: &'static str,
    /// Its arguments.
    pub args: Value,
    /// What it does, for the reply ("made it softer; slowed it down by 10 %").
    pub summary: String,
}

/// What the planner made of a message.
#[derive(Clone, Debug, PartialEq)]
pub enum Plan {
    /// Tool calls to run in order.
    Calls(Vec<PlannedCall>),
    /// No tool call: the honest answer (what it did not understand, and what it can do).
    Refuse(String),
}

/// What the built-in planner understands, for refusals and the README.
pub const CAPABILITIES: &str = "I can: make it softer or louder (\"pianissimo in bars 3-8\"), \
change the tempo (\"slower\", \"80 bpm\", \"10% faster\"), transpose (\"up a tone\", \
\"down 3 semitones\", \"to G major\"), move a part by octaves (\"the bass an octave lower\"), \
set lyrics (lyrics of bars 1-2 to \"la la la\"), keep one part or verse, sing a part \
(\"sing the alto, verse 2, breathier\"), undo and redo, and tell you the key.";

/// Plans a message against the session's score.
pub fn plan(message: &str, ctx: &PlanContext) -> Plan {
    let text = normalize(message);
    if text.trim().is_empty() {
        return Plan::Refuse(format!("You sent an empty message. {CAPABILITIES}"));
    }
    let mut edits: Vec<(Value, String)> = Vec::new();
    let mut others: Vec<PlannedCall> = Vec::new();
    let mut sing: Option<Sing> = None;
    let mut qualifiers: Vec<(Sing, String)> = Vec::new();
    for clause in clauses(&text) {
        let words = tokens(&clause);
        if words.is_empty() || words.iter().all(|w| FILLER.contains(&w.as_str())) {
            continue;
        }
        let intents = match read_clause(&clause, &words, ctx) {
            Ok(i) => i,
            Err(why) => return Plan::Refuse(format!("{why} {CAPABILITIES}")),
        };
        for intent in intents {
            match intent {
                Intent::Edits(mut e) => edits.append(&mut e),
                Intent::Call(c) => others.push(c),
                Intent::Sing(s) | Intent::SingModifier(s) => {
                    let merged = sing.take().unwrap_or_default().merge(s);
                    sing = Some(merged);
                }
                Intent::Qualifier(s, clause) => qualifiers.push((s, clause)),
            }
        }
    }
    for (q, clause) in qualifiers {
        match sing.take() {
            Some(s) => sing = Some(s.merge(q)),
            None => {
                return Plan::Refuse(format!(
                    "What should I do with \"{}\"? Say \"sing {}\", for example. {CAPABILITIES}",
                    clause.trim(),
                    clause.trim()
                ))
            }
        }
    }
    let mut calls = Vec::new();
    // Undo, redo and questions first, as asked; edits next, in one call; singing last.
    calls.append(&mut others);
    if !edits.is_empty() {
        if !ctx.has_score {
            return Plan::Refuse(
                "There is no score in this session yet: upload a MusicXML, MXL or MIDI file first."
                    .into(),
            );
        }
        let summary = edits
            .iter()
            .map(|(_, s)| s.as_str())
            .collect::<Vec<_>>()
            .join("; ");
        calls.push(PlannedCall {
            tool: "modify_score",
            args: json!({ "edits": edits.into_iter().map(|(e, _)| e).collect::<Vec<_>>() }),
            summary,
        });
    }
    if let Some(s) = sing {
        if !ctx.has_score {
            return Plan::Refuse(
                "There is no score in this session to sing: upload a MusicXML, MXL or MIDI file first."
                    .into(),
            );
        }
        calls.push(s.call(ctx));
    }
    if calls.is_empty() {
        return Plan::Refuse(format!("I did not find a request in that. {CAPABILITIES}"));
    }
    Plan::Calls(calls)
}

/// Words that carry no request on their own ("please", "and", "it").
const FILLER: &[&str] = &[
    "please", "pls", "thanks", "thank", "you", "it", "that", "this", "now", "then", "and", "also",
    "ok", "okay", "so", "the", "a", "just", "can", "could", "would", "will", "make", "piece",
    "song", "score", "me", "for", "a", "bit", "little",
];

enum Intent {
    Edits(Vec<(Value, String)>),
    Call(PlannedCall),
    Sing(Sing),
    /// Expression words alone ("breathier"): they shape a rendering, so they ask for one.
    SingModifier(Sing),
    /// A part or verse alone ("..., verse 2"): it qualifies a rendering asked for elsewhere.
    Qualifier(Sing, String),
}

/// A `synthesize` request being assembled from clauses.
#[derive(Clone, Debug, Default)]
struct Sing {
    part: Option<usize>,
    verse: Option<u32>,
    voice: Option<String>,
    params: Map<String, Value>,
    words: Vec<String>,
}

impl Sing {
    fn merge(mut self, other: Sing) -> Sing {
        self.part = other.part.or(self.part);
        self.verse = other.verse.or(self.verse);
        self.voice = other.voice.or(self.voice);
        self.params.extend(other.params);
        self.words.extend(other.words);
        self
    }

    fn call(self, ctx: &PlanContext) -> PlannedCall {
        let mut args = self.params.clone();
        let mut what = String::from("singing ");
        match self.part {
            Some(p) => {
                args.insert("part".into(), json!(p));
                what += &part_label(p, ctx);
            }
            None => what += &part_label(0, ctx),
        }
        if let Some(v) = self.verse {
            args.insert("verse".into(), json!(v));
            what += &format!(", verse {v}");
        }
        if let Some(v) = &self.voice {
            args.insert("voice".into(), json!(v));
            what += &format!(" with the voice {v:?}");
        }
        if !self.words.is_empty() {
            what += &format!(" ({})", self.words.join(", "));
        }
        PlannedCall {
            tool: "synthesize",
            args: Value::Object(args),
            summary: what,
        }
    }
}

fn part_label(p: usize, ctx: &PlanContext) -> String {
    match ctx.parts.get(p) {
        Some(name) if !name.is_empty() => format!("the {name} (part {})", p + 1),
        _ => format!("part {}", p + 1),
    }
}

/// Lower case, dashes and quotes unified, `%`, `–` and `,` spaced out; quoted text kept as is.
fn normalize(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    let mut quoted = false;
    for c in s.chars() {
        match c {
            '"' | '“' | '”' => {
                quoted = !quoted;
                out.push('"');
            }
            _ if quoted => out.push(c),
            '–' | '—' | '‒' => out.push_str(" - "),
            '%' => out.push_str(" % "),
            '’' | '\'' => out.push('\''),
            '?' | '!' | '.' if !quoted => out.push(' '),
            _ => out.extend(c.to_lowercase()),
        }
    }
    out
}

/// Splits on commas, semicolons, " and ", " then " (outside quotes); "3 and 4" stays in a clause.
fn clauses(s: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in s.chars() {
        if c == '"' {
            quoted = !quoted;
        }
        if !quoted && (c == ',' || c == ';') {
            parts.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
        }
    }
    parts.push(cur);
    let mut out = Vec::new();
    for p in parts {
        let mut piece = String::new();
        let mut quoted = false;
        let words: Vec<&str> = p.split_whitespace().collect();
        for (i, w) in words.iter().enumerate() {
            let q = w.matches('"').count() % 2 == 1;
            let joiner = !quoted && matches!(*w, "and" | "then" | "also" | "plus");
            let between_numbers = *w == "and"
                && i > 0
                && i + 1 < words.len()
                && words[i - 1].chars().all(|c| c.is_ascii_digit())
                && words[i + 1].chars().all(|c| c.is_ascii_digit());
            if joiner && !between_numbers {
                out.push(std::mem::take(&mut piece));
            } else {
                if !piece.is_empty() {
                    piece.push(' ');
                }
                piece.push_str(w);
            }
            if q {
                quoted = !quoted;
            }
        }
        out.push(piece);
    }
    out.into_iter().filter(|c| !c.trim().is_empty()).collect()
}

/// The clause's words outside quotes, typos corrected against the vocabulary.
fn tokens(clause: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut quoted = false;
    for w in clause.split_whitespace() {
        let q = w.matches('"').count() % 2 == 1;
        if !quoted && !w.contains('"') {
            let w = w.trim_matches(|c: char| c == '(' || c == ')' || c == ':');
            if !w.is_empty() {
                out.push(correct(w));
            }
        }
        if q {
            quoted = !quoted;
        }
    }
    out
}

/// Every word the grammar reads; a typo within one edit of one (five letters or more) is taken for it.
const VOCABULARY: &[&str] = &[
    "softer",
    "quieter",
    "louder",
    "stronger",
    "gentler",
    "pianissimo",
    "piano",
    "fortissimo",
    "forte",
    "mezzo",
    "dynamics",
    "slower",
    "faster",
    "tempo",
    "speed",
    "transpose",
    "semitone",
    "semitones",
    "half",
    "whole",
    "step",
    "steps",
    "tone",
    "tones",
    "octave",
    "octaves",
    "lower",
    "higher",
    "major",
    "minor",
    "lyrics",
    "words",
    "verse",
    "soprano",
    "alto",
    "tenor",
    "bass",
    "baritone",
    "sing",
    "render",
    "breathier",
    "breathy",
    "legato",
    "staccato",
    "detached",
    "brighter",
    "darker",
    "vibrato",
    "undo",
    "redo",
    "revert",
    "measure",
    "measures",
    "bars",
    "third",
    "fourth",
    "fifth",
    "sixth",
    "seventh",
    "second",
    "first",
    "voice",
    "quietly",
    "softly",
    "loudly",
    "cleaner",
    "smoother",
    "clearer",
    "crescendo",
];

/// Typos of short words, which the edit distance would take for too many others.
const SHORT_TYPOS: &[(&str, &str)] = &[
    ("sign", "sing"),
    ("snig", "sing"),
    ("sng", "sing"),
    ("udno", "undo"),
    ("udo", "undo"),
    ("bsas", "bass"),
];

fn correct(w: &str) -> String {
    if let Some((_, to)) = SHORT_TYPOS.iter().find(|(from, _)| *from == w) {
        return to.to_string();
    }
    if w.chars().count() < 5 || VOCABULARY.contains(&w) || w.chars().any(|c| c.is_ascii_digit()) {
        return w.to_string();
    }
    VOCABULARY
        .iter()
        .filter(|v| v.len() >= 4)
        .find(|v| edit_distance(w, v) <= 1)
        .map_or_else(|| w.to_string(), |v| v.to_string())
}

fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut cur = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            let sub = prev[j - 1] + usize::from(a[i - 1] != b[j - 1]);
            cur[j] = sub.min(prev[j] + 1).min(cur[j - 1] + 1);
            // Transposed letters ("sfoter") count as one edit.
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                cur[j] = cur[j].min(prev[j - 1]);
            }
        }
        prev = cur;
    }
    prev[b.len()]
}

fn has(words: &[String], w: &str) -> bool {
    words.iter().any(|x| x == w)
}

fn has_any(words: &[String], ws: &[&str]) -> bool {
    ws.iter().any(|w| has(words, w))
}

fn number(w: &str) -> Option<f64> {
    let w = w.trim_end_matches("bpm");
    if let Ok(n) = w.parse::<f64>() {
        return n.is_finite().then_some(n);
    }
    let small = [
        "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
        "eleven", "twelve",
    ];
    small.iter().position(|s| *s == w).map(|n| n as f64)
}

fn read_clause(clause: &str, words: &[String], ctx: &PlanContext) -> Result<Vec<Intent>, String> {
    let quoted = quoted_text(clause);
    let text = words.join(" ");
    // Undo / redo.
    if has_any(words, &["undo", "revert"])
        || text.contains("go back")
        || text.contains("take that back")
    {
        return Ok(vec![Intent::Call(PlannedCall {
            tool: "undo_score",
            args: json!({}),
            summary: "undid the last change".into(),
        })]);
    }
    if has(words, "redo") {
        return Ok(vec![Intent::Call(PlannedCall {
            tool: "redo_score",
            args: json!({}),
            summary: "redid the change".into(),
        })]);
    }
    // The key.
    if has(words, "key")
        && (has_any(words, &["what", "which", "what's", "whats", "tell"]) || clause.contains('?'))
    {
        return Ok(vec![Intent::Call(PlannedCall {
            tool: "score_info",
            args: json!({}),
            summary: "the key".into(),
        })]);
    }
    let part = find_part(words, ctx)?;
    let bars = find_bars(words)?;
    // Lyrics.
    if has_any(words, &["lyrics", "words", "lyric"]) && !has(words, "sing") {
        let Some(text) = quoted else {
            return Err(
                "To set lyrics, put the new words in quotes: lyrics of bars 1-2 to \"la la la\"."
                    .into(),
            );
        };
        let mut e = json!({"op": "set_lyrics", "part": part.unwrap_or(0), "text": text});
        if let Some(v) = find_verse(words) {
            e["verse"] = json!(v);
        }
        let mut what = format!(
            "set the lyrics of {} to {text:?}",
            part_label(part.unwrap_or(0), ctx)
        );
        if let Some((a, b)) = bars {
            e["measures"] = json!({"from": a, "to": b});
            what += &format!(" in bars {a}-{b}");
        }
        return Ok(vec![Intent::Edits(vec![(e, what)])]);
    }
    let singing = has_any(words, &["sing", "render", "perform"])
        || text.contains("let me hear")
        || text.contains("play it back");
    // Selection edits ("keep only the soprano", "use verse 2" without singing).
    if !singing && has_any(words, &["keep", "only", "use", "select"]) {
        if let Some(v) = find_verse(words) {
            return Ok(vec![Intent::Edits(vec![(
                json!({"op": "select_verse", "verse": v}),
                format!("kept only verse {v}"),
            )])]);
        }
        if let Some(p) = part {
            return Ok(vec![Intent::Edits(vec![(
                json!({"op": "select_part", "part": p}),
                format!("kept only {}", part_label(p, ctx)),
            )])]);
        }
    }
    let mut edits = Vec::new();
    read_dynamics(words, part, bars, &mut edits)?;
    read_tempo(words, bars, &mut edits)?;
    read_pitch(words, part, ctx, &mut edits)?;
    let expression = read_expression(words, singing);
    if singing {
        let mut s = expression.unwrap_or_default();
        s.part = part;
        s.verse = find_verse(words);
        s.voice = find_voice(clause, words);
        // "sing it up a tone": the edit first, then the rendering of the edited score.
        let mut out = Vec::new();
        if !edits.is_empty() {
            out.push(Intent::Edits(edits));
        }
        out.push(Intent::Sing(s));
        return Ok(out);
    }
    if !edits.is_empty() {
        let mut out = vec![Intent::Edits(edits)];
        if let Some(s) = expression {
            out.push(Intent::SingModifier(s));
        }
        return Ok(out);
    }
    if let Some(s) = expression {
        return Ok(vec![Intent::SingModifier(s)]);
    }
    let verse = find_verse(words);
    if part.is_some() || verse.is_some() {
        let rest: Vec<&String> = words
            .iter()
            .filter(|w| {
                !FILLER.contains(&w.as_str())
                    && number(w).is_none()
                    && !matches!(w.as_str(), "verse" | "part" | "stanza" | "with" | "in")
                    && !ORDINALS.contains(&w.as_str())
            })
            .collect();
        let named = part.is_some_and(|p| {
            rest.iter().all(|w| {
                ctx.parts
                    .get(p)
                    .is_some_and(|n| n.to_lowercase().contains(w.as_str()))
            })
        });
        if rest.is_empty() || named {
            let q = Sing {
                part,
                verse,
                ..Default::default()
            };
            return Ok(vec![Intent::Qualifier(q, clause.to_string())]);
        }
    }
    if has(words, "transpose") {
        return Err(
            "Transpose by how much? Say \"up a tone\", \"down 3 semitones\" or \"to G major\"."
                .into(),
        );
    }
    Err(format!("I did not understand \"{}\".", clause.trim()))
}

fn quoted_text(clause: &str) -> Option<String> {
    let start = clause.find('"')?;
    let rest = &clause[start + 1..];
    let end = rest.find('"')?;
    let t = rest[..end].trim();
    (!t.is_empty()).then(|| t.to_string())
}

const ORDINALS: &[&str] = &[
    "first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth",
];

/// A part named in the clause; an unknown name is an error that lists the parts.
fn find_part(words: &[String], ctx: &PlanContext) -> Result<Option<usize>, String> {
    // "part 2" counts from 1.
    for (i, w) in words.iter().enumerate() {
        if w == "part" {
            if let Some(n) = words.get(i + 1).and_then(|n| number(n)) {
                let n = n as usize;
                if n == 0 || (!ctx.parts.is_empty() && n > ctx.parts.len()) {
                    return Err(format!(
                        "There is no part {n}: the score has {} parts.",
                        ctx.parts.len()
                    ));
                }
                return Ok(Some(n - 1));
            }
            if i > 0 {
                if let Some(k) = ORDINALS.iter().position(|o| *o == words[i - 1]) {
                    return Ok(Some(k));
                }
            }
        }
    }
    // A part's own name ("Soprano", "Violin I").
    for (i, name) in ctx.parts.iter().enumerate() {
        let name = name.to_lowercase();
        let first = name.split_whitespace().next().unwrap_or("");
        if !first.is_empty()
            && words
                .iter()
                .any(|w| w.trim_end_matches('s') == first.trim_end_matches('s') || *w == name)
        {
            return Ok(Some(i));
        }
    }
    const INSTRUMENTS: &[&str] = &[
        "violin",
        "viola",
        "cello",
        "flute",
        "oboe",
        "clarinet",
        "bassoon",
        "horn",
        "trumpet",
        "trombone",
        "tuba",
        "guitar",
        "drums",
        "organ",
        "harp",
        "countertenor",
        "mezzo-soprano",
    ];
    if let Some(v) = words.iter().find(|w| INSTRUMENTS.contains(&w.as_str())) {
        return Err(format!(
            "There is no {v} part: the parts are {}.",
            ctx.parts
                .iter()
                .enumerate()
                .map(|(i, p)| format!("{} ({})", p, i + 1))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    const VOICES: &[&str] = &["soprano", "alto", "tenor", "bass", "baritone"];
    if let Some(v) = words.iter().find(|w| VOICES.contains(&w.as_str())) {
        // A four-part score without names is read as S, A, T, B.
        if ctx.parts.iter().all(|p| p.trim().is_empty()) && ctx.parts.len() == 4 {
            let i = ["soprano", "alto", "tenor", "bass"]
                .iter()
                .position(|x| x == v)
                .unwrap_or(3);
            return Ok(Some(i));
        }
        return Err(format!(
            "There is no {v} part: the parts are {}.",
            if ctx.parts.is_empty() {
                "none yet".to_string()
            } else {
                ctx.parts
                    .iter()
                    .enumerate()
                    .map(|(i, p)| format!("{} ({})", p, i + 1))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        ));
    }
    if words.iter().any(|w| w == "melody" || w == "top")
        && has_any(words, &["melody", "line", "voice", "part", "top"])
        && !ctx.parts.is_empty()
    {
        return Ok(Some(0));
    }
    Ok(None)
}

fn find_bars(words: &[String]) -> Result<Option<(u32, u32)>, String> {
    for (i, w) in words.iter().enumerate() {
        if matches!(
            w.as_str(),
            "bar" | "bars" | "measure" | "measures" | "m" | "mm"
        ) {
            let rest: Vec<&str> = words[i + 1..].iter().map(String::as_str).collect();
            let first = rest.first().and_then(|w| parse_range(w));
            if let Some((a, b)) = first {
                if b.is_some() {
                    return check_bars(a, b.unwrap_or(a));
                }
                // "3 to 8", "3 - 8", "3 through 8", "3 and 4".
                if let (Some(j), Some(to)) = (rest.get(1), rest.get(2).and_then(|w| number(w))) {
                    if matches!(*j, "to" | "-" | "through" | "thru" | "and" | "until") {
                        return check_bars(a, to as u32);
                    }
                }
                return check_bars(a, a);
            }
        }
    }
    Ok(None)
}

fn check_bars(a: u32, b: u32) -> Result<Option<(u32, u32)>, String> {
    if a == 0 || b < a {
        return Err(format!(
            "Bars {a} to {b} is not a range: bars count from 1, the first no later than the last."
        ));
    }
    Ok(Some((a, b)))
}

/// "5" → (5, None); "3-8" → (3, Some(8)).
fn parse_range(w: &str) -> Option<(u32, Option<u32>)> {
    if let Some((a, b)) = w.split_once('-') {
        return Some((a.parse().ok()?, Some(b.parse().ok()?)));
    }
    Some((number(w)? as u32, None))
}

fn find_verse(words: &[String]) -> Option<u32> {
    for (i, w) in words.iter().enumerate() {
        if w == "verse" || w == "stanza" {
            if let Some(n) = words.get(i + 1).and_then(|n| number(n)) {
                return Some(n as u32);
            }
            if i > 0 {
                if let Some(k) = ORDINALS.iter().position(|o| *o == words[i - 1]) {
                    return Some(k as u32 + 1);
                }
            }
        }
    }
    None
}

fn find_voice(clause: &str, words: &[String]) -> Option<String> {
    if let Some(q) = quoted_text(clause) {
        if has(words, "voice") || has(words, "voicebank") {
            return Some(q);
        }
    }
    for (i, w) in words.iter().enumerate() {
        if (w == "voice" || w == "voicebank") && i + 1 < words.len() {
            let next = &words[i + 1];
            if !FILLER.contains(&next.as_str()) && number(next).is_none() {
                return Some(next.clone());
            }
        }
    }
    if has(words, "builtin") || text_has(words, "built-in") {
        return Some("builtin".into());
    }
    None
}

fn text_has(words: &[String], w: &str) -> bool {
    words.iter().any(|x| x == w)
}

const LEVELS: &[(&[&str], &str)] = &[
    (&["ppp", "pianississimo"], "ppp"),
    (&["pp", "pianissimo"], "pp"),
    (&["p", "piano"], "p"),
    (&["f", "forte"], "f"),
    (&["ff", "fortissimo"], "ff"),
    (&["fff", "fortississimo"], "fff"),
];

fn read_dynamics(
    words: &[String],
    part: Option<usize>,
    bars: Option<(u32, u32)>,
    edits: &mut Vec<(Value, String)>,
) -> Result<(), String> {
    let much = has_any(words, &["much", "lot", "way", "far"]);
    let softer = has_any(
        words,
        &["softer", "quieter", "gentler", "softly", "quietly", "down"],
    ) && !has_any(
        words,
        &[
            "semitone",
            "semitones",
            "tone",
            "tones",
            "step",
            "steps",
            "octave",
            "octaves",
            "tempo",
            "slower",
            "third",
            "fourth",
            "fifth",
            "sixth",
            "seventh",
            "second",
        ],
    ) || text_has(words, "less") && has(words, "loud");
    let louder = has_any(words, &["louder", "stronger", "loudly", "crescendo"])
        || (has(words, "more") && has_any(words, &["volume", "loud", "power"]));
    let mut level = None;
    if let Some(i) = words.iter().position(|w| w == "mezzo") {
        level = match words.get(i + 1).map(String::as_str) {
            Some("piano") => Some("mp"),
            Some("forte") => Some("mf"),
            _ => None,
        };
    }
    if has(words, "mp") {
        level = Some("mp");
    }
    if has(words, "mf") {
        level = Some("mf");
    }
    if level.is_none() {
        for (names, l) in LEVELS {
            // "p" and "f" alone only as a marking ("make bars 2-4 p"); "piano" when it is not the instrument.
            // A bare "f" or "p" is no marking in "to F major" or "sing".
            let bare = *l == "p" || *l == "f";
            let keyish = has_any(words, &["major", "minor", "sharp", "flat", "sing"]);
            if words.iter().any(|w| names.contains(&w.as_str())) && !(bare && keyish) {
                level = Some(l);
            }
        }
    }
    let mut scope = String::new();
    if let Some(p) = part {
        scope += &format!(" in part {}", p + 1);
    }
    if let Some((a, b)) = bars {
        scope += &if a == b {
            format!(" in bar {a}")
        } else {
            format!(" in bars {a}-{b}")
        };
    }
    let mut e = if let Some(l) = level {
        Some((
            json!({"op": "dynamics", "level": l}),
            format!("set the dynamics to {l}{scope}"),
        ))
    } else if softer && !has(words, "sing") {
        let step = if much { -2 } else { -1 };
        Some((
            json!({"op": "dynamics", "step": step}),
            format!("made it {}softer{scope}", if much { "much " } else { "" }),
        ))
    } else if louder && !has(words, "sing") {
        let step = if much { 2 } else { 1 };
        Some((
            json!({"op": "dynamics", "step": step}),
            format!("made it {}louder{scope}", if much { "much " } else { "" }),
        ))
    } else {
        None
    };
    if let Some((edit, _)) = e.as_mut() {
        if let Some(p) = part {
            edit["part"] = json!(p);
        }
        if let Some((a, b)) = bars {
            edit["measures"] = json!({"from": a, "to": b});
        }
    }
    edits.extend(e);
    Ok(())
}

fn read_tempo(
    words: &[String],
    bars: Option<(u32, u32)>,
    edits: &mut Vec<(Value, String)>,
) -> Result<(), String> {
    let much = has_any(words, &["much", "lot", "way", "far"]);
    let slower = has_any(words, &["slower", "slow"]) || text_has(words, "slowly");
    let faster = has_any(words, &["faster", "quicker", "speed"]) && !has(words, "half")
        || has(words, "fast");
    // "80 bpm", "tempo 80", "tempo to 80", "at 80".
    let mut bpm = None;
    for (i, w) in words.iter().enumerate() {
        if w.ends_with("bpm") && w.len() > 3 {
            bpm = number(w);
        } else if w == "bpm" && i > 0 {
            bpm = number(&words[i - 1]);
        } else if w == "tempo" {
            bpm = bpm.or_else(|| words[i + 1..].iter().take(3).find_map(|x| number(x)));
        }
    }
    // "10 % faster", "20 percent slower".
    let mut percent = None;
    for (i, w) in words.iter().enumerate() {
        if (w == "%" || w == "percent" || w == "per") && i > 0 {
            percent = number(&words[i - 1]);
        }
        if let Some(n) = w.strip_suffix('%') {
            percent = n.parse::<f64>().ok();
        }
    }
    if let Some(b) = bpm {
        if !(4.0..=1000.0).contains(&b) {
            return Err(format!(
                "{b} bpm is out of range: a tempo is 4 to 1000 quarter notes per minute."
            ));
        }
        let mut e = json!({"op": "set_tempo", "bpm": b});
        let mut what = format!("set the tempo to {b} bpm");
        if let Some((a, _)) = bars {
            e["measure"] = json!(a);
            what += &format!(" from bar {a}");
        }
        edits.push((e, what));
        return Ok(());
    }
    if has(words, "half") && has_any(words, &["speed", "tempo", "time"]) {
        edits.push((
            json!({"op": "scale_tempo", "factor": "1/2"}),
            "halved the tempo".into(),
        ));
        return Ok(());
    }
    if has_any(words, &["double", "twice"]) && has_any(words, &["speed", "tempo", "fast"]) {
        edits.push((
            json!({"op": "scale_tempo", "factor": "2"}),
            "doubled the tempo".into(),
        ));
        return Ok(());
    }
    if slower || faster {
        let pct = percent.unwrap_or(if much { 25.0 } else { 10.0 });
        if !(0.0..100.0).contains(&pct) || pct == 0.0 {
            return Err(format!(
                "{pct} % is not a tempo change I can make: say a percentage between 1 and 99."
            ));
        }
        let pct_i = pct.round() as i64;
        let (factor, what) = if faster {
            (
                format!("{}/100", 100 + pct_i),
                format!("made it {pct_i} % faster"),
            )
        } else {
            (
                format!("{}/100", 100 - pct_i),
                format!("made it {pct_i} % slower"),
            )
        };
        edits.push((json!({"op": "scale_tempo", "factor": factor}), what));
    }
    Ok(())
}

/// Semitones of an interval word ("tone", "fifth").
fn interval_semitones(words: &[String]) -> Option<(i32, &'static str)> {
    let has_w = |w: &str| has(words, w);
    if has_w("semitone")
        || has_w("semitones")
        || (has_w("half") && (has_w("step") || has_w("tone")))
    {
        let n = words.iter().find_map(|w| number(w)).unwrap_or(1.0) as i32;
        return Some((n, if n == 1 { "a semitone" } else { "semitones" }));
    }
    if has_w("tone")
        || has_w("tones")
        || (has_w("whole") && has_w("step"))
        || has_w("step")
        || has_w("steps")
    {
        let n = words.iter().find_map(|w| number(w)).unwrap_or(1.0) as i32;
        return Some((2 * n, "a tone"));
    }
    let table: &[(&str, i32, &str)] = &[
        ("second", 2, "a second"),
        ("third", 4, "a major third"),
        ("fourth", 5, "a fourth"),
        ("fifth", 7, "a fifth"),
        ("sixth", 9, "a major sixth"),
        ("seventh", 11, "a major seventh"),
    ];
    for (w, n, name) in table {
        if has_w(w) {
            let minor = has_w("minor") && !words.iter().any(|x| x == "to");
            return Some((
                if minor && *n != 5 && *n != 7 {
                    n - 1
                } else {
                    *n
                },
                name,
            ));
        }
    }
    None
}

const TONICS: &[(&str, i32)] = &[
    ("c", 0),
    ("c#", 1),
    ("db", 1),
    ("d", 2),
    ("d#", 3),
    ("eb", 3),
    ("e", 4),
    ("f", 5),
    ("f#", 6),
    ("gb", 6),
    ("g", 7),
    ("g#", 8),
    ("ab", 8),
    ("a", 9),
    ("a#", 10),
    ("bb", 10),
    ("b", 11),
];

fn read_pitch(
    words: &[String],
    part: Option<usize>,
    ctx: &PlanContext,
    edits: &mut Vec<(Value, String)>,
) -> Result<(), String> {
    let up = has_any(words, &["up", "higher", "raise", "raised", "sharpen"]);
    let down = has_any(words, &["down", "lower", "drop"]);
    let octave = has_any(words, &["octave", "octaves"]);
    // "to G major", "into D minor".
    if let Some(i) = words.iter().position(|w| w == "major" || w == "minor") {
        if i > 0 && (has(words, "to") || has(words, "into") || has(words, "transpose")) {
            let name = words[i - 1].replace('♯', "#").replace('♭', "b");
            let name = match (i >= 2).then(|| words[i - 2].as_str()) {
                Some(t) if words[i - 1] == "flat" || words[i - 1] == "sharp" => {
                    format!("{t}{}", if words[i - 1] == "flat" { "b" } else { "#" })
                }
                _ => name,
            };
            let Some(&(_, target)) = TONICS.iter().find(|(n, _)| *n == name) else {
                return Err(format!(
                    "I do not know the key \"{} {}\".",
                    words[i - 1],
                    words[i]
                ));
            };
            let Some(fifths) = ctx.key_fifths else {
                return Err("The score has no key signature, so I cannot tell how far that key is: say \"up 2 semitones\" instead.".into());
            };
            let target_minor = words[i] == "minor";
            let mode = ctx.key_mode.as_deref().unwrap_or("major");
            let score_minor = mode == "minor";
            if target_minor != score_minor {
                return Err(format!(
                    "The score is in {}; transposing keeps the mode, so it can go to another {mode} key, not to a {} one.",
                    key_name(fifths, mode),
                    words[i]
                ));
            }
            let tonic =
                ((i32::from(fifths) * 7).rem_euclid(12) + if score_minor { 9 } else { 0 }) % 12;
            let mut d = (target - tonic).rem_euclid(12);
            if d > 6 {
                d -= 12;
            }
            if down && d > 0 {
                d -= 12;
            } else if up && d < 0 {
                d += 12;
            }
            if d == 0 {
                return Err(format!(
                    "The score is already in {}.",
                    key_name(fifths, mode)
                ));
            }
            let mut e = json!({"op": "transpose", "semitones": d});
            if let Some(p) = part {
                e["part"] = json!(p);
            }
            edits.push((
                e,
                format!(
                    "transposed from {} to {} {} ({d:+} semitones)",
                    key_name(fifths, mode),
                    words[i - 1].to_uppercase(),
                    words[i]
                ),
            ));
            return Ok(());
        }
    }
    if octave && (up || down) {
        let n = words.iter().find_map(|w| number(w)).unwrap_or(1.0) as i32;
        let by = if down { -n } else { n };
        let dir = if by > 0 { "up" } else { "down" };
        let amount = if n == 1 {
            "an octave".to_string()
        } else {
            format!("{n} octaves")
        };
        match part {
            Some(p) => edits.push((
                json!({"op": "octave", "part": p, "by": by}),
                format!("moved {} {dir} {amount}", part_label(p, ctx)),
            )),
            None => edits.push((
                json!({"op": "transpose", "semitones": 12 * by}),
                format!("transposed {dir} {amount}"),
            )),
        }
        return Ok(());
    }
    if up || down || has(words, "transpose") {
        if let Some((n, name)) = interval_semitones(words) {
            if n == 0 {
                return Err("Transposing by 0 semitones changes nothing.".into());
            }
            if n.abs() > 48 {
                return Err(format!(
                    "{n} semitones is more than four octaves; I will not move the score that far."
                ));
            }
            if !(up || down) {
                return Err(
                    "Transpose up or down? Say \"up a tone\" or \"down 3 semitones\".".into(),
                );
            }
            let d = if down { -n } else { n };
            let mut e = json!({"op": "transpose", "semitones": d});
            if let Some(p) = part {
                e["part"] = json!(p);
            }
            let what = if name == "semitones" {
                format!("{} semitones", n.abs())
            } else {
                name.to_string()
            };
            edits.push((
                e,
                format!("transposed {} {what}", if d > 0 { "up" } else { "down" }),
            ));
        }
    }
    Ok(())
}

fn key_name(fifths: i8, mode: &str) -> String {
    const MAJOR: [&str; 15] = [
        "Cb", "Gb", "Db", "Ab", "Eb", "Bb", "F", "C", "G", "D", "A", "E", "B", "F#", "C#",
    ];
    const MINOR: [&str; 15] = [
        "Ab", "Eb", "Bb", "F", "C", "G", "D", "A", "E", "B", "F#", "C#", "G#", "D#", "A#",
    ];
    let i = (i32::from(fifths) + 7).clamp(0, 14) as usize;
    if mode == "minor" {
        format!("{} minor", MINOR[i])
    } else {
        format!("{} {mode}", MAJOR[i])
    }
}

/// The key a score's signature and mode name ("G major").
pub fn describe_key(fifths: i8, mode: Option<&str>) -> String {
    key_name(fifths, mode.unwrap_or("major"))
}

fn read_expression(words: &[String], singing: bool) -> Option<Sing> {
    let mut s = Sing::default();
    let mut set = |k: &str, v: Value, w: &str| {
        s.params.insert(k.into(), v);
        s.words.push(w.into());
    };
    let less = has_any(words, &["less", "fewer", "no", "without"]);
    if has_any(
        words,
        &["breathier", "breathy", "airy", "airier", "whispery"],
    ) {
        if less {
            set("airiness", json!(0.05), "less breathy");
        } else {
            set("airiness", json!(0.6), "breathier");
        }
    } else if has_any(words, &["cleaner", "clearer"]) {
        set("airiness", json!(0.05), "cleaner");
    }
    if has_any(words, &["legato", "smoother", "smooth", "connected"]) {
        set("articulation", json!(-0.7), "legato");
    } else if has_any(words, &["staccato", "detached", "choppy", "crisper"]) {
        set("articulation", json!(0.7), "detached");
    }
    if has_any(words, &["brighter", "bright"]) {
        set("clarity", json!(0.8), "brighter");
    } else if has_any(words, &["darker", "dark", "warmer"]) {
        set("clarity", json!(0.2), "darker");
    }
    if has(words, "vibrato") {
        if less {
            set("vibrato", json!({"depth": 0}), "no vibrato");
        } else {
            set("vibrato", json!({"depth": 50}), "more vibrato");
        }
    }
    if singing {
        if has_any(
            words,
            &[
                "softly", "quietly", "softer", "gently", "gentler", "quieter",
            ],
        ) {
            set("intensity", json!(0.3), "softly");
        } else if has_any(words, &["loudly", "louder", "strongly", "stronger"]) {
            set("intensity", json!(0.8), "loudly");
        }
    }
    (!s.params.is_empty()).then_some(s)
}
