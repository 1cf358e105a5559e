//! Letter-to-sound rules: the fallback for words no dictionary holds.
//!
//! The rules are the NRL rules: H. S. Elovitz, R. W. Johnson, A. McHugh and
//! J. E. Shore, "Automatic Translation of English Text to Phonetics by Means of
//! Letter-to-Sound Rules", NRL Report 7948, Naval Research Laboratory,
//! Washington, D.C., 21 January 1976 (a work of the U.S. Government, in the
//! public domain), in the form of the widely used public-domain C translation
//! (John A. Wasser's `english.c`), which spells the report's `@` and `&`
//! classes out as explicit left contexts.
//!
//! A rule `left[match]right = phonemes` applies at a position when the letters
//! there spell `match`, the letters before it fit `left` (read right to left)
//! and those after it fit `right`. The letter's rules are tried in order and the
//! first that applies wins; its phonemes are emitted and the position moves past
//! `match`. Context symbols:
//!
//! | symbol | matches |
//! | --- | --- |
//! | `#` | one or more vowels (a e i o u) |
//! | `*` | one or more consonants |
//! | `.` | one voiced consonant (b d v g j l m n r w z) |
//! | `^` | one consonant |
//! | `+` | one front vowel (e i y) |
//! | `:` | zero or more consonants |
//! | `%` | a suffix: -er, -e, -es, -ed, -ing, -ely (right context only; as in `english.c`, it need not end the word) |
//! | space | a word boundary (anything that is not a letter, the apostrophe included) |
//! | other | that letter (or apostrophe) itself |
//!
//! Changes from the published rules (the table keeps their form; each changed
//! or added rule is marked `// changed` or `// added` where it stands):
//!
//! - the output is CMU-dictionary ARPAbet: the report's `AX` (schwa) is `ah`, as
//!   cmudict writes unstressed schwa; `WH` is `w`, as cmudict writes "wh"; `j` is
//!   `jh`; `h` is `hh`; the punctuation rules keep only the apostrophe's (`'s`);
//! - added, to agree better with cmudict: a doubled consonant letter is one sound
//!   (with `-dded`, `-tted` kept as `d ih d`, `t ih d`), `cc` before e/i/y is `k s`,
//!   `d` before soft `g` is silent ("judge"); unstressed endings `-an(s)`,
//!   `-ant(s)`, `-ance(s)`, `-en(s)`, `-el(s)`, `-ent(s)`, `-ence(s)`, `-ism`,
//!   `-less`, `-ness` (with a silent `e` before the last two) have schwa; word-initial
//!   `a` before one consonant and a vowel is schwa ("about"); final `i` is `iy`;
//!   `i` before a vowel is `iy`, or `ay` in a first syllable ("lion"); `ie` before
//!   a consonant is `iy` ("field"), final `-ies` is `ay z` after one syllable's
//!   consonants and `iy z` otherwise; `-eer`, final `-ere`, `-ear(s)` are `ih r`;
//!   `-uel` is `ah l`; `o` before one consonant and final `a` or `o` is `ow`;
//!   final `s` after a vowel digraph (ee ie oe ue ay ey oy aw ow ew) is `z`; `t` is
//!   silent in `-stle(s)`, `-sten`; initial `x` is `z`;
//! - changed: the report's `#:^[L]%` (syllabic `ah l`) applies only to final
//!   `-le`, `-les`, `-led` ("handling", "butler" no longer get a schwa), and its
//!   `[AL]^` (`ao l`) only before `l` at the end or before a suffix, `t`, `s`, `d`
//!   and `w` ("tall", "salt", "also", "bald", "always"; "album" is `ae l`).
//!
//! Over the 117,493 letters-only words of cmudict 1.1.3 (first pronunciations)
//! the phoneme error rate (edit distance over reference length) is 0.171, against
//! 0.208 for the published rules alone (`tests/vocal/g2p_lts.rs` measures it).
//!
//! Input handling: letters are folded to lowercase ASCII (common accented Latin
//! letters to their base letter, a final `é` to the vowel of "say"); a straight
//! or curly apostrophe is kept; a
//! digit is spelled as its English name, as a word of its own; anything else
//! separates words. At most [`MAX_LETTERS`] characters of a word are read
//! (the rest is ignored). The result is never empty when the word has a Latin letter:
//! when the rules give nothing (for example "h") the letters are spelled by name,
//! and when they give no vowel for a word that has a vowel letter (for example
//! "gue") the first vowel letter's plain vowel is put in.

use crate::phones;

/// The most characters of one word the rules read; the rest is ignored.
pub const MAX_LETTERS: usize = 64;

/// One rule: `left[text]right = out` (see the module doc for the context symbols).
struct Rule {
    left: &'static str,
    text: &'static str,
    right: &'static str,
    /// Space-separated lowercase ARPAbet; empty for silence.
    out: &'static str,
}

const fn r(left: &'static str, text: &'static str, right: &'static str, out: &'static str) -> Rule {
    Rule {
        left,
        text,
        right,
        out,
    }
}

/// The apostrophe's rules (the report's punctuation rules less the pauses).
const APOSTROPHE: &[Rule] = &[
    r(".", "'s", "", "z"),
    r("#:.e", "'s", "", "z"),
    r("#", "'s", "", "z"),
    r("", "'", "", ""),
];

const A: &[Rule] = &[
    r("", "a", " ", "ah"),
    r(" ", "are", " ", "aa r"),
    r(" ", "ar", "o", "ah r"),
    r("", "ar", "#", "eh r"),
    r("^", "as", "#", "ey s"),
    r("", "a", "wa", "ah"),
    r("", "aw", "", "ao"),
    r(" :", "any", "", "eh n iy"),
    r("", "a", "^+#", "ey"),
    r("#:", "ally", "", "ah l iy"),
    r(" ", "al", "#", "ah l"),
    r("", "again", "", "ah g eh n"),
    r("#:", "ag", "e", "ih jh"),
    r("", "a", "^+:#", "ae"),
    r(" :", "a", "^+ ", "ey"),
    r("", "a", "^%", "ey"),
    r(" ", "arr", "", "ah r"),
    r("", "arr", "", "ae r"),
    r(" :", "ar", " ", "aa r"),
    r("", "ar", " ", "er"),
    r("", "ar", "", "aa r"),
    r("", "air", "", "eh r"),
    r("", "ai", "", "ey"),
    r("", "ay", "", "ey"),
    r("", "au", "", "ao"),
    r("#:", "al", " ", "ah l"),
    r("#:", "als", " ", "ah l z"),
    r("", "alk", "", "ao k"),
    // changed: the report's `[AL]^` (ao l) is limited to -all, -alt, -als-, -ald, -alw ("tall", "salt", "also", "bald", "always")
    r("", "al", "l%", "ao l"),
    r("", "al", "l ", "ao l"),
    r("", "al", "t", "ao l"),
    r("", "al", "s", "ao l"),
    r("", "al", "d", "ao l"),
    r("", "al", "w", "ao l"),
    r(" :", "able", "", "ey b ah l"),
    r("", "able", "", "ah b ah l"),
    r("", "ang", "+", "ey n jh"),
    r("#:^", "an", " ", "ah n"),           // added: "human"
    r("#:^", "ans", " ", "ah n z"),        // added
    r("#:^", "ant", " ", "ah n t"),        // added: "giant"
    r("#:^", "ants", " ", "ah n t s"),     // added
    r("#:^", "ance", " ", "ah n s"),       // added: "balance"
    r("#:^", "ances", " ", "ah n s ih z"), // added
    r(" ", "a", "^#", "ah"),               // added: "about", "alone"
    r("", "a", "", "ae"),
];

const B: &[Rule] = &[
    r(" ", "be", "^#", "b ih"),
    r("", "being", "", "b iy ih ng"),
    r(" ", "both", " ", "b ow th"),
    r(" ", "bus", "#", "b ih z"),
    r("", "buil", "", "b ih l"),
    r("", "bb", "", "b"), // added: a doubled letter is one sound
    r("", "b", "", "b"),
];

const C: &[Rule] = &[
    r(" ", "ch", "^", "k"),
    r("^e", "ch", "", "k"),
    r("", "ch", "", "ch"),
    r(" s", "ci", "#", "s ay"),
    r("", "ci", "a", "sh"),
    r("", "ci", "o", "sh"),
    r("", "ci", "en", "sh"),
    r("", "c", "+", "s"),
    r("", "ck", "", "k"),
    r("", "com", "%", "k ah m"),
    r("", "cc", "+", "k s"), // added: "accent", "success"
    r("", "cc", "", "k"),    // added: a doubled letter is one sound
    r("", "c", "", "k"),
];

const D: &[Rule] = &[
    r("#:", "ded", " ", "d ih d"),
    r(".e", "d", " ", "d"),
    r("#:^e", "d", " ", "t"),
    r(" ", "de", "^#", "d ih"),
    r(" ", "do", " ", "d uw"),
    r(" ", "does", "", "d ah z"),
    r(" ", "doing", "", "d uw ih ng"),
    r(" ", "dow", "", "d aw"),
    r("", "du", "a", "jh uw"),
    r("#:", "dded", " ", "d ih d"), // added: with the doubled-letter rule below
    r("", "dd", "", "d"),           // added: a doubled letter is one sound
    r("", "d", "g+", ""),           // added: "judge", "edging"
    r("", "d", "", "d"),
];

const E: &[Rule] = &[
    r("#:", "e", " ", ""),
    r("':^", "e", " ", ""),
    r(" :", "e", " ", "iy"),
    r("#", "ed", " ", "d"),
    r("#:", "e", "d ", ""),
    r("#:^", "e", "less", ""),             // added: "ageless"
    r("#:^", "e", "ness", ""),             // added: "lateness"
    r("#:^", "en", " ", "ah n"),           // added: "chicken", "open"
    r("#:^", "ens", " ", "ah n z"),        // added
    r("#:^", "el", " ", "ah l"),           // added: "model"
    r("#:^", "els", " ", "ah l z"),        // added
    r("#:^", "ent", " ", "ah n t"),        // added: "moment"
    r("#:^", "ents", " ", "ah n t s"),     // added
    r("#:^", "ence", " ", "ah n s"),       // added: "silence"
    r("#:^", "ences", " ", "ah n s ih z"), // added
    r("u", "el", " ", "ah l"),             // added: "fuel", "cruel"
    r("", "eer", "", "ih r"),              // added: "deer"
    r("", "ere", " ", "ih r"),             // added: "sphere"
    r("", "ear", " ", "ih r"),             // added: "near"
    r("", "ears", " ", "ih r z"),          // added: "years"
    r("", "ev", "er", "eh v"),
    r("", "e", "^%", "iy"),
    r("", "eri", "#", "iy r iy"),
    r("", "eri", "", "eh r ih"),
    r("#:", "er", "#", "er"),
    r("", "er", "#", "eh r"),
    r("", "er", "", "er"),
    r(" ", "even", "", "iy v eh n"),
    r("#:", "e", "w", ""),
    r("t", "ew", "", "uw"),
    r("s", "ew", "", "uw"),
    r("r", "ew", "", "uw"),
    r("d", "ew", "", "uw"),
    r("l", "ew", "", "uw"),
    r("z", "ew", "", "uw"),
    r("n", "ew", "", "uw"),
    r("j", "ew", "", "uw"),
    r("th", "ew", "", "uw"),
    r("ch", "ew", "", "uw"),
    r("sh", "ew", "", "uw"),
    r("", "ew", "", "y uw"),
    r("", "e", "o", "iy"),
    r("#:s", "es", " ", "ih z"),
    r("#:c", "es", " ", "ih z"),
    r("#:g", "es", " ", "ih z"),
    r("#:z", "es", " ", "ih z"),
    r("#:x", "es", " ", "ih z"),
    r("#:j", "es", " ", "ih z"),
    r("#:ch", "es", " ", "ih z"),
    r("#:sh", "es", " ", "ih z"),
    r("#:", "e", "s ", ""),
    r("#:", "ely", " ", "l iy"),
    r("#:", "ement", "", "m eh n t"),
    r("", "eful", "", "f uh l"),
    r("", "ee", "", "iy"),
    r("", "earn", "", "er n"),
    r(" ", "ear", "^", "er"),
    r("", "ead", "", "eh d"),
    r("#:", "ea", " ", "iy ah"),
    r("", "ea", "su", "eh"),
    r("", "ea", "", "iy"),
    r("", "eigh", "", "ey"),
    r("", "ei", "", "iy"),
    r(" ", "eye", "", "ay"),
    r("", "ey", "", "iy"),
    r("", "eu", "", "y uw"),
    r("", "e", "", "eh"),
];

const F: &[Rule] = &[
    r("", "ful", "", "f uh l"),
    r("", "ff", "", "f"), // added: a doubled letter is one sound
    r("", "f", "", "f"),
];

const G: &[Rule] = &[
    r("", "giv", "", "g ih v"),
    r(" ", "g", "i^", "g"),
    r("", "ge", "t", "g eh"),
    r("su", "gges", "", "g jh eh s"),
    r("", "gg", "", "g"),
    r(" b#", "g", "", "g"),
    r("", "g", "+", "jh"),
    r("", "great", "", "g r ey t"),
    r("#", "gh", "", ""),
    r("", "g", "", "g"),
];

const H: &[Rule] = &[
    r(" ", "hav", "", "hh ae v"),
    r(" ", "here", "", "hh iy r"),
    r(" ", "hour", "", "aw er"),
    r("", "how", "", "hh aw"),
    r("", "h", "#", "hh"),
    r("", "h", "", ""),
];

const I: &[Rule] = &[
    r(" ", "in", "", "ih n"),
    r(" ", "i", " ", "ay"),
    r("", "i", " ", "iy"), // added: final i ("taxi")
    r("", "in", "d", "ay n"),
    r("", "ier", "", "iy er"),
    r("#:r", "ied", "", "iy d"),
    r("", "ied", " ", "ay d"),
    r("", "ien", "", "iy eh n"),
    r("", "ie", "t", "ay eh"),
    r(" :", "ies", " ", "ay z"), // added: "lies"
    r("", "ies", " ", "iy z"),   // added: "babies"
    r("", "ie", "^", "iy"),      // added: "field", "believe"
    r(" :", "i", "%", "ay"),
    r("", "i", "%", "iy"),
    r("", "ie", "", "iy"),
    r("", "i", "^+:#", "ih"),
    r("", "ir", "#", "ay r"),
    r("", "iz", "%", "ay z"),
    r("", "is", "%", "ay z"),
    r("", "i", "d%", "ay"),
    r("+^", "i", "^+", "ih"),
    r("", "i", "t%", "ay"),
    r("#:^", "i", "^+", "ih"),
    r("", "i", "^+", "ay"),
    r("", "ir", "", "er"),
    r("", "igh", "", "ay"),
    r("", "ild", "", "ay l d"),
    r("", "ign", " ", "ay n"),
    r("", "ign", "^", "ay n"),
    r("", "ign", "%", "ay n"),
    r("", "ique", "", "iy k"),
    r(" :", "i", "#", "ay"), // added: "lion", "dial"
    r("", "i", "#", "iy"),   // added: "radio", "media"
    r("", "i", "", "ih"),
];

const J: &[Rule] = &[r("", "j", "", "jh")];

const K: &[Rule] = &[r(" ", "k", "n", ""), r("", "k", "", "k")];

const L: &[Rule] = &[
    r("", "lo", "c#", "l ow"),
    r("l", "l", "", ""),
    r("", "less", " ", "l ah s"), // added: the suffix -less
    // changed: the report's `#:^[L]%` is limited to -le, -les, -led at the word's end
    r("#:^", "l", "e ", "ah l"),
    r("#:^", "l", "es ", "ah l"),
    r("#:^", "l", "ed ", "ah l"),
    r("", "lead", "", "l iy d"),
    r("", "l", "", "l"),
];

const M: &[Rule] = &[
    r("", "mov", "", "m uw v"),
    r("", "mm", "", "m"), // added: a doubled letter is one sound
    r("", "m", "", "m"),
];

const N: &[Rule] = &[
    r("e", "ng", "+", "n jh"),
    r("", "ng", "r", "ng g"),
    r("", "ng", "#", "ng g"),
    r("", "ngl", "%", "ng g ah l"),
    r("", "ng", "", "ng"),
    r("", "nk", "", "ng k"),
    r(" ", "now", " ", "n aw"),
    r("", "ness", " ", "n ah s"), // added: the suffix -ness
    r("", "nn", "", "n"),         // added: a doubled letter is one sound
    r("", "n", "", "n"),
];

const O: &[Rule] = &[
    r("", "of", " ", "ah v"),
    r("", "orough", "", "er ow"),
    r("#:", "or", " ", "er"),
    r("#:", "ors", " ", "er z"),
    r("", "or", "", "ao r"),
    r(" ", "one", "", "w ah n"),
    r("", "ow", "", "ow"),
    r(" ", "over", "", "ow v er"),
    r("", "ov", "", "ah v"),
    r("", "o", "^%", "ow"),
    r("", "o", "^en", "ow"),
    r("", "o", "^i#", "ow"),
    r("", "o", "^a ", "ow"), // added: "cola", "soda"
    r("", "o", "^o ", "ow"), // added: "photo"
    r("", "ol", "d", "ow l"),
    r("", "ought", "", "ao t"),
    r("", "ough", "", "ah f"),
    r(" ", "ou", "", "aw"),
    r("h", "ou", "s#", "aw"),
    r("", "ous", "", "ah s"),
    r("", "our", "", "ao r"),
    r("", "ould", "", "uh d"),
    r("^", "ou", "^l", "ah"),
    r("", "oup", "", "uw p"),
    r("", "ou", "", "aw"),
    r("", "oy", "", "oy"),
    r("", "oing", "", "ow ih ng"),
    r("", "oi", "", "oy"),
    r("", "oor", "", "ao r"),
    r("", "ook", "", "uh k"),
    r("", "ood", "", "uh d"),
    r("", "oo", "", "uw"),
    r("", "o", "e", "ow"),
    r("", "o", " ", "ow"),
    r("", "oa", "", "ow"),
    r(" ", "only", "", "ow n l iy"),
    r(" ", "once", "", "w ah n s"),
    r("", "on't", "", "ow n t"),
    r("c", "o", "n", "aa"),
    r("", "o", "ng", "ao"),
    r(" :^", "o", "n", "ah"),
    r("i", "on", "", "ah n"),
    r("#:", "on", " ", "ah n"),
    r("#^", "on", "", "ah n"),
    r("", "o", "st ", "ow"),
    r("", "of", "^", "ao f"),
    r("", "other", "", "ah dh er"),
    r("", "oss", " ", "ao s"),
    r("#:^", "om", "", "ah m"),
    r("", "o", "", "aa"),
];

const P: &[Rule] = &[
    r("", "ph", "", "f"),
    r("", "peop", "", "p iy p"),
    r("", "pow", "", "p aw"),
    r("", "put", " ", "p uh t"),
    r("", "pp", "", "p"), // added: a doubled letter is one sound
    r("", "p", "", "p"),
];

const Q: &[Rule] = &[
    r("", "quar", "", "k w ao r"),
    r("", "qu", "", "k w"),
    r("", "q", "", "k"),
];

const R: &[Rule] = &[
    r(" ", "re", "^#", "r iy"),
    r("", "rr", "", "r"), // added: a doubled letter is one sound
    r("", "r", "", "r"),
];

const S: &[Rule] = &[
    r("", "sh", "", "sh"),
    r("#", "sion", "", "zh ah n"),
    r("", "some", "", "s ah m"),
    r("#", "sur", "#", "zh er"),
    r("", "sur", "#", "sh er"),
    r("#", "su", "#", "zh uw"),
    r("#", "ssu", "#", "sh uw"),
    r("#", "sed", " ", "z d"),
    r("#", "s", "#", "z"),
    r("", "said", "", "s eh d"),
    r("^", "sion", "", "sh ah n"),
    r("", "s", "s", ""),
    r(".", "s", " ", "z"),
    r("#:.e", "s", " ", "z"),
    r("ee", "s", " ", "z"), // added: after a vowel digraph
    r("ie", "s", " ", "z"), // added
    r("oe", "s", " ", "z"), // added
    r("ue", "s", " ", "z"), // added
    r("ay", "s", " ", "z"), // added
    r("ey", "s", " ", "z"), // added
    r("oy", "s", " ", "z"), // added
    r("aw", "s", " ", "z"), // added
    r("ow", "s", " ", "z"), // added
    r("ew", "s", " ", "z"), // added
    r("#:^##", "s", " ", "z"),
    r("#:^#", "s", " ", "s"),
    r("u", "s", " ", "s"),
    r(" :#", "s", " ", "z"),
    r(" ", "sch", "", "s k"),
    r("", "s", "c+", ""),
    r("i", "sm", " ", "z ah m"), // added: the suffix -ism
    r("#", "sm", "", "z m"),
    r("#", "sn", "'", "z ah n"),
    r("", "s", "", "s"),
];

const T: &[Rule] = &[
    r(" ", "the", " ", "dh ah"),
    r("", "to", " ", "t uw"),
    r("", "that", " ", "dh ae t"),
    r(" ", "this", " ", "dh ih s"),
    r(" ", "they", "", "dh ey"),
    r(" ", "there", "", "dh eh r"),
    r("", "ther", "", "dh er"),
    r("", "their", "", "dh eh r"),
    r(" ", "than", " ", "dh ae n"),
    r(" ", "them", " ", "dh eh m"),
    r("", "these", " ", "dh iy z"),
    r(" ", "then", "", "dh eh n"),
    r("", "through", "", "th r uw"),
    r("", "those", "", "dh ow z"),
    r("", "though", " ", "dh ow"),
    r(" ", "thus", "", "dh ah s"),
    r("", "th", "", "th"),
    r("#:", "ted", " ", "t ih d"),
    r("s", "ti", "#n", "ch"),
    r("", "ti", "o", "sh"),
    r("", "ti", "a", "sh"),
    r("", "tien", "", "sh ah n"),
    r("", "tur", "#", "ch er"),
    r("", "tu", "a", "ch uw"),
    r(" ", "two", "", "t uw"),
    r("#:", "tted", " ", "t ih d"), // added: with the doubled-letter rule below
    r("", "tt", "", "t"),           // added: a doubled letter is one sound
    r("s", "t", "le ", ""),         // added: "castle"
    r("s", "t", "les ", ""),        // added
    r("s", "t", "en ", ""),         // added: "listen"
    r("", "t", "", "t"),
];

const U: &[Rule] = &[
    r(" ", "un", "i", "y uw n"),
    r(" ", "un", "", "ah n"),
    r(" ", "upon", "", "ah p ao n"),
    r("t", "ur", "#", "uh r"),
    r("s", "ur", "#", "uh r"),
    r("r", "ur", "#", "uh r"),
    r("d", "ur", "#", "uh r"),
    r("l", "ur", "#", "uh r"),
    r("z", "ur", "#", "uh r"),
    r("n", "ur", "#", "uh r"),
    r("j", "ur", "#", "uh r"),
    r("th", "ur", "#", "uh r"),
    r("ch", "ur", "#", "uh r"),
    r("sh", "ur", "#", "uh r"),
    r("", "ur", "#", "y uh r"),
    r("", "ur", "", "er"),
    r("", "u", "^ ", "ah"),
    r("", "u", "^^", "ah"),
    r("", "uy", "", "ay"),
    r(" g", "u", "#", ""),
    r("g", "u", "%", ""),
    r("g", "u", "#", "w"),
    r("#n", "u", "", "y uw"),
    r("t", "u", "", "uw"),
    r("s", "u", "", "uw"),
    r("r", "u", "", "uw"),
    r("d", "u", "", "uw"),
    r("l", "u", "", "uw"),
    r("z", "u", "", "uw"),
    r("n", "u", "", "uw"),
    r("j", "u", "", "uw"),
    r("th", "u", "", "uw"),
    r("ch", "u", "", "uw"),
    r("sh", "u", "", "uw"),
    r("", "u", "", "y uw"),
];

const V: &[Rule] = &[r("", "view", "", "v y uw"), r("", "v", "", "v")];

const W: &[Rule] = &[
    r(" ", "were", "", "w er"),
    r("", "wa", "s", "w aa"),
    r("", "wa", "t", "w aa"),
    r("", "where", "", "w eh r"),
    r("", "what", "", "w aa t"),
    r("", "whol", "", "hh ow l"),
    r("", "who", "", "hh uw"),
    r("", "wh", "", "w"),
    r("", "war", "", "w ao r"),
    r("", "wor", "^", "w er"),
    r("", "wr", "", "r"),
    r("", "w", "", "w"),
];

const X: &[Rule] = &[
    r(" ", "x", "", "z"), // added: "xylophone"
    r("", "x", "", "k s"),
];

const Y: &[Rule] = &[
    r("", "young", "", "y ah ng"),
    r(" ", "you", "", "y uw"),
    r(" ", "yes", "", "y eh s"),
    r(" ", "y", "", "y"),
    r("#:^", "y", " ", "iy"),
    r("#:^", "y", "i", "iy"),
    r(" :", "y", " ", "ay"),
    r(" :", "y", "#", "ay"),
    r(" :", "y", "^+:#", "ih"),
    r(" :", "y", "^#", "ay"),
    r("", "y", "", "ih"),
];

const Z: &[Rule] = &[
    r("", "zz", "", "z"), // added: a doubled letter is one sound
    r("", "z", "", "z"),
];

/// The rules for each letter a..z.
const LETTER_RULES: [&[Rule]; 26] = [
    A, B, C, D, E, F, G, H, I, J, K, L, M, N, O, P, Q, R, S, T, U, V, W, X, Y, Z,
];

/// Each digit's name.
const DIGITS: [&str; 10] = [
    "z ih r ow",
    "w ah n",
    "t uw",
    "th r iy",
    "f ao r",
    "f ay v",
    "s ih k s",
    "s eh v ah n",
    "ey t",
    "n ay n",
];

/// Each letter's name, for words the rules give nothing for.
const LETTER_NAMES: [&str; 26] = [
    "ey",
    "b iy",
    "s iy",
    "d iy",
    "iy",
    "eh f",
    "jh iy",
    "ey ch",
    "ay",
    "jh ey",
    "k ey",
    "eh l",
    "eh m",
    "eh n",
    "ow",
    "p iy",
    "k y uw",
    "aa r",
    "eh s",
    "t iy",
    "y uw",
    "v iy",
    "d ah b ah l y uw",
    "eh k s",
    "w ay",
    "z iy",
];

fn is_vowel_letter(c: u8) -> bool {
    matches!(c, b'a' | b'e' | b'i' | b'o' | b'u')
}

fn is_consonant_letter(c: u8) -> bool {
    c.is_ascii_lowercase() && !is_vowel_letter(c)
}

fn is_voiced(c: u8) -> bool {
    matches!(
        c,
        b'b' | b'd' | b'v' | b'g' | b'j' | b'l' | b'm' | b'n' | b'r' | b'w' | b'z'
    )
}

fn is_front(c: u8) -> bool {
    matches!(c, b'e' | b'i' | b'y')
}

/// The ASCII letters `c` stands for (lowercase; common accented Latin letters folded).
fn fold_letter(c: char) -> Option<&'static str> {
    const ASCII: [&str; 26] = [
        "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o", "p", "q", "r",
        "s", "t", "u", "v", "w", "x", "y", "z",
    ];
    let lower = c.to_lowercase().next().unwrap_or(c);
    let folded = match lower {
        'a'..='z' => ASCII[lower as usize - 'a' as usize],
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' => "a",
        'ç' | 'ć' | 'č' => "c",
        'ď' | 'đ' => "d",
        'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ė' | 'ę' | 'ě' => "e",
        'ğ' => "g",
        'ì' | 'í' | 'î' | 'ï' | 'ī' | 'ı' => "i",
        'ł' => "l",
        'ñ' | 'ń' | 'ň' => "n",
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ő' => "o",
        'ř' => "r",
        'ś' | 'š' | 'ş' => "s",
        'ť' | 'ţ' => "t",
        'ù' | 'ú' | 'û' | 'ü' | 'ū' | 'ů' | 'ű' => "u",
        'ý' | 'ÿ' => "y",
        'ź' | 'ż' | 'ž' => "z",
        'ß' => "ss",
        'æ' => "ae",
        'œ' => "oe",
        _ => return None,
    };
    Some(folded)
}

fn is_apostrophe(c: char) -> bool {
    matches!(c, '\'' | '’' | '‘' | 'ʼ' | '`' | '´')
}

/// A piece of the input: a run of letters (and apostrophes) or one digit.
enum Piece {
    Letters(Vec<u8>),
    Digit(usize),
}

fn pieces(word: &str) -> Vec<Piece> {
    let mut out = Vec::new();
    let mut run: Vec<u8> = Vec::new();
    let mut chars = word.chars().take(MAX_LETTERS).peekable();
    while let Some(c) = chars.next() {
        let at_end = chars.peek().is_none_or(|&n| fold_letter(n).is_none());
        if at_end && (c == 'é' || c == 'É') {
            // A final é ("café", "fiancé") is the vowel of "say".
            run.extend_from_slice(b"ay");
        } else if let Some(letters) = fold_letter(c) {
            run.extend_from_slice(letters.as_bytes());
        } else if is_apostrophe(c) {
            run.push(b'\'');
        } else {
            if !run.is_empty() {
                out.push(Piece::Letters(std::mem::take(&mut run)));
            }
            if let Some(d) = c.to_digit(10) {
                out.push(Piece::Digit(d as usize));
            }
        }
    }
    if !run.is_empty() {
        out.push(Piece::Letters(run));
    }
    out
}

/// The byte at `i` of `text`, a space outside it.
fn at(text: &[u8], i: isize) -> u8 {
    if i < 0 {
        return b' ';
    }
    text.get(i as usize).copied().unwrap_or(b' ')
}

/// Whether `pattern` fits the letters before `end` (exclusive), read right to left.
fn left_matches(pattern: &str, text: &[u8], end: usize) -> bool {
    let mut pos = end as isize - 1;
    for &p in pattern.as_bytes().iter().rev() {
        let c = at(text, pos);
        match p {
            b' ' => {
                if c.is_ascii_lowercase() {
                    return false;
                }
                pos -= 1;
            }
            b'#' => {
                if !is_vowel_letter(c) {
                    return false;
                }
                pos -= 1;
                while is_vowel_letter(at(text, pos)) {
                    pos -= 1;
                }
            }
            b'*' => {
                if !is_consonant_letter(c) {
                    return false;
                }
                pos -= 1;
                while is_consonant_letter(at(text, pos)) {
                    pos -= 1;
                }
            }
            b':' => {
                while is_consonant_letter(at(text, pos)) {
                    pos -= 1;
                }
            }
            b'^' => {
                if !is_consonant_letter(c) {
                    return false;
                }
                pos -= 1;
            }
            b'.' => {
                if !is_voiced(c) {
                    return false;
                }
                pos -= 1;
            }
            b'+' => {
                if !is_front(c) {
                    return false;
                }
                pos -= 1;
            }
            // The suffix class is for right contexts only.
            b'%' => return false,
            literal => {
                if c != literal {
                    return false;
                }
                pos -= 1;
            }
        }
    }
    true
}

/// Whether `pattern` fits the letters from `start`, read left to right.
fn right_matches(pattern: &str, text: &[u8], start: usize) -> bool {
    let mut pos = start as isize;
    for &p in pattern.as_bytes() {
        let c = at(text, pos);
        match p {
            b' ' => {
                if c.is_ascii_lowercase() {
                    return false;
                }
                pos += 1;
            }
            b'#' => {
                if !is_vowel_letter(c) {
                    return false;
                }
                pos += 1;
                while is_vowel_letter(at(text, pos)) {
                    pos += 1;
                }
            }
            b'*' => {
                if !is_consonant_letter(c) {
                    return false;
                }
                pos += 1;
                while is_consonant_letter(at(text, pos)) {
                    pos += 1;
                }
            }
            b':' => {
                while is_consonant_letter(at(text, pos)) {
                    pos += 1;
                }
            }
            b'^' => {
                if !is_consonant_letter(c) {
                    return false;
                }
                pos += 1;
            }
            b'.' => {
                if !is_voiced(c) {
                    return false;
                }
                pos += 1;
            }
            b'+' => {
                if !is_front(c) {
                    return false;
                }
                pos += 1;
            }
            b'%' => {
                // -er, -e, -es, -ed, -ely, -ing
                if c == b'e' {
                    pos += 1;
                    match at(text, pos) {
                        b'l' if at(text, pos + 1) == b'y' => pos += 2,
                        b'r' | b's' | b'd' => pos += 1,
                        _ => {}
                    }
                } else if c == b'i' && at(text, pos + 1) == b'n' && at(text, pos + 2) == b'g' {
                    pos += 3;
                } else {
                    return false;
                }
            }
            literal => {
                if c != literal {
                    return false;
                }
                pos += 1;
            }
        }
    }
    true
}

fn push_phones(out: &mut Vec<String>, phones: &str) {
    for p in phones.split_ascii_whitespace() {
        if let Some(p) = phones::normalize_phone(p) {
            out.push(p);
        }
    }
}

/// One run of letters (and apostrophes) through the rules, appending to `out`.
fn apply_rules(letters: &[u8], out: &mut Vec<String>) {
    let start_len = out.len();
    let mut first_vowel_letter: Option<(usize, u8)> = None;
    let mut i = 0;
    while i < letters.len() {
        let c = letters[i];
        let rules: &[Rule] = if c == b'\'' {
            APOSTROPHE
        } else if c.is_ascii_lowercase() {
            LETTER_RULES[(c - b'a') as usize]
        } else {
            &[]
        };
        let applied = rules.iter().find(|rule| {
            letters[i..].starts_with(rule.text.as_bytes())
                && left_matches(rule.left, letters, i)
                && right_matches(rule.right, letters, i + rule.text.len())
        });
        let step = match applied {
            Some(rule) => {
                if first_vowel_letter.is_none() {
                    if let Some(&v) = rule.text.as_bytes().iter().find(|&&b| is_vowel_letter(b)) {
                        first_vowel_letter = Some((out.len(), v));
                    }
                }
                push_phones(out, rule.out);
                rule.text.len()
            }
            None => 1,
        };
        i += step.max(1);
    }
    let produced = &out[start_len..];
    if produced.is_empty() {
        // Nothing from the rules ("h", "'"): spell the letters by name.
        for &c in letters {
            if c.is_ascii_lowercase() {
                push_phones(out, LETTER_NAMES[(c - b'a') as usize]);
            }
        }
        return;
    }
    if !produced.iter().any(|p| phones::is_vowel(p)) {
        if let Some((at, v)) = first_vowel_letter {
            let vowel = match v {
                b'a' => "ae",
                b'e' => "eh",
                b'i' => "ih",
                b'o' => "aa",
                _ => "ah",
            };
            // The rule's own phones come first ("gue": g then the vowel).
            let at = (at + 1).min(out.len());
            out.insert(at, vowel.to_string());
        }
    }
}

/// The phonemes the NRL letter-to-sound rules give `word`: lowercase ARPAbet from
/// [`phones::ARPABET`], never empty when `word` has a letter (see the module doc).
pub fn letter_to_sound(word: &str) -> Vec<String> {
    let mut out = Vec::new();
    for piece in pieces(word) {
        match piece {
            Piece::Letters(letters) => apply_rules(&letters, &mut out),
            Piece::Digit(d) => push_phones(&mut out, DIGITS[d]),
        }
    }
    out
}
