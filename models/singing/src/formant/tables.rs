//! Phoneme targets for the built-in voice.
//!
//! - Vowels: F1–F3 are the women's averages of Hillenbrand, Getty, Clark &
//!   Wheeler, "Acoustic characteristics of American English vowels", JASA 97(5),
//!   1995, Table V (the /hVd/ words heed, hid, hayed, head, had, hod, hawed,
//!   hoed, hood, who'd, hud, heard); F4 and F5 are fixed at 4,200 and 4,800 Hz.
//!   The three diphthongs move between two of those targets (ay: hod → heed,
//!   aw: hod → who'd, oy: hawed → heed).
//! - Consonants: the formant loci and source amplitudes follow the consonant
//!   table of Klatt, "Software for a cascade/parallel formant synthesizer",
//!   JASA 67(3), 1980 (Table III), with F1–F3 raised 12 % for a female vocal
//!   tract; nasal anti-formants follow Fujimura (1962): /m/ near 1,000 Hz,
//!   /n/ near 1,800 Hz, /ŋ/ near 3,000 Hz. Frication is shaped noise: one or
//!   two resonances per place of articulation (alveolar /s z/ high, 4.5–7 kHz;
//!   post-alveolar /ʃ ʒ/ near 2.9 kHz; labio-dental and dental flat and weak).

/// How a phoneme is produced, beyond its formants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Manner {
    /// Voiced, steady (or gliding, for the diphthongs).
    Vowel,
    /// A closure, a burst and, when voiceless, aspiration.
    Stop {
        /// Whether the folds vibrate.
        voiced: bool,
    },
    /// A closure then frication.
    Affricate {
        /// Whether the folds vibrate.
        voiced: bool,
    },
    /// Noise, voiced or not.
    Fricative {
        /// Whether the folds vibrate.
        voiced: bool,
    },
    /// Breath noise through the next sound's formants.
    Aspirate,
    /// Voiced murmur with an anti-formant.
    Nasal,
    /// Voiced, vowel-like.
    Approximant,
    /// Nothing sounds.
    Silence,
    /// An audible in-breath.
    Breath,
}

/// One noise resonance: centre Hz, bandwidth Hz, gain.
pub type Noise = (f32, f32, f32);

/// What the voice aims at during one phoneme.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Target {
    /// F1..F5 in Hz.
    pub formants: [f32; 5],
    /// B1..B5 in Hz.
    pub bandwidths: [f32; 5],
    /// Where a diphthong ends (F1..F3), if it glides.
    pub glide_to: Option<[f32; 3]>,
    /// The nasal anti-formant in Hz (equal to the nasal pole when not nasal, so the two cancel).
    pub nasal_zero: f32,
    /// Voicing amplitude 0..1.
    pub voicing: f32,
    /// Frication amplitude 0..1.
    pub frication: f32,
    /// Aspiration amplitude 0..1.
    pub aspiration: f32,
    /// The frication spectrum (up to two resonances) and the flat bypass gain.
    pub noise: [Noise; 2],
    /// The flat part of the frication.
    pub bypass: f32,
    /// How it is produced.
    pub manner: Manner,
}

/// The nasal pole, always in the cascade (Klatt: 270 Hz, 100 Hz bandwidth).
pub const NASAL_POLE: (f32, f32) = (270.0, 100.0);

const B: [f32; 5] = [80.0, 100.0, 150.0, 250.0, 300.0];
const NO_NOISE: [Noise; 2] = [(3000.0, 1000.0, 0.0), (6000.0, 1000.0, 0.0)];

const fn vowel(f1: f32, f2: f32, f3: f32) -> Target {
    Target {
        formants: [f1, f2, f3, 4200.0, 4800.0],
        bandwidths: B,
        glide_to: None,
        nasal_zero: NASAL_POLE.0,
        voicing: 1.0,
        frication: 0.0,
        aspiration: 0.0,
        noise: NO_NOISE,
        bypass: 0.0,
        manner: Manner::Vowel,
    }
}

const fn diphthong(from: [f32; 3], to: [f32; 3]) -> Target {
    let mut t = vowel(from[0], from[1], from[2]);
    t.glide_to = Some(to);
    t
}

/// A consonant: Klatt's male loci raised 12 %.
const fn consonant(f: [f32; 3], manner: Manner) -> Target {
    let mut t = vowel(f[0] * 1.12, f[1] * 1.12, f[2] * 1.12);
    t.manner = manner;
    t
}

const HEED: [f32; 3] = [437.0, 2761.0, 3372.0];
const HOD: [f32; 3] = [936.0, 1551.0, 2815.0];
const HAWED: [f32; 3] = [781.0, 1136.0, 2824.0];
const WHOD: [f32; 3] = [459.0, 1105.0, 2735.0];

/// The F1–F3 table of the vowels the acceptance tests measure: (ARPAbet, F1, F2, F3).
pub const VOWEL_TABLE: [(&str, [f32; 3]); 12] = [
    ("iy", HEED),
    ("ih", [483.0, 2365.0, 3053.0]),
    ("ey", [536.0, 2530.0, 3047.0]),
    ("eh", [731.0, 2058.0, 2979.0]),
    ("ae", [669.0, 2349.0, 2972.0]),
    ("aa", HOD),
    ("ao", HAWED),
    ("ow", [555.0, 1035.0, 2828.0]),
    ("uh", [519.0, 1225.0, 2827.0]),
    ("uw", WHOD),
    ("ah", [753.0, 1426.0, 2933.0]),
    ("er", [523.0, 1588.0, 1929.0]),
];

fn stop(f: [f32; 3], voiced: bool, noise: [Noise; 2], bypass: f32) -> Target {
    let mut t = consonant(f, Manner::Stop { voiced });
    t.voicing = if voiced { 0.15 } else { 0.0 };
    t.frication = 1.0;
    t.aspiration = if voiced { 0.0 } else { 0.6 };
    t.noise = noise;
    t.bypass = bypass;
    t
}

fn fricative(f: [f32; 3], voiced: bool, amp: f32, noise: [Noise; 2], bypass: f32) -> Target {
    let mut t = consonant(f, Manner::Fricative { voiced });
    t.voicing = if voiced { 0.45 } else { 0.0 };
    t.frication = if voiced { amp * 0.6 } else { amp };
    t.noise = noise;
    t.bypass = bypass;
    t
}

const ALVEOLAR: [Noise; 2] = [(6800.0, 2000.0, 1.0), (4500.0, 1500.0, 0.3)];
const POSTALVEOLAR: [Noise; 2] = [(2900.0, 800.0, 1.0), (4500.0, 2000.0, 0.4)];
const LABIAL: [Noise; 2] = [(8000.0, 4000.0, 0.2), (1200.0, 1000.0, 0.1)];
const DENTAL: [Noise; 2] = [(6000.0, 3000.0, 0.25), (8500.0, 3000.0, 0.1)];
const BURST_LABIAL: [Noise; 2] = [(1000.0, 1000.0, 0.3), (3000.0, 3000.0, 0.1)];
const BURST_ALVEOLAR: [Noise; 2] = [(4500.0, 1500.0, 0.8), (7000.0, 3000.0, 0.6)];
const BURST_VELAR: [Noise; 2] = [(2200.0, 600.0, 1.0), (3500.0, 1500.0, 0.3)];

/// The target of an ARPAbet phone (lowercase, no stress), or `SP`/`AP`; `None` for an unknown one.
pub fn target(phone: &str) -> Option<Target> {
    let t = match phone {
        "iy" | "ih" | "ey" | "eh" | "ae" | "aa" | "ao" | "ow" | "uh" | "uw" | "ah" | "er" => {
            let f = VOWEL_TABLE.iter().find(|v| v.0 == phone)?.1;
            vowel(f[0], f[1], f[2])
        }
        "ay" => diphthong(HOD, HEED),
        "aw" => diphthong(HOD, WHOD),
        "oy" => diphthong(HAWED, HEED),
        "b" => stop([200.0, 900.0, 2100.0], true, BURST_LABIAL, 0.6),
        "p" => stop([200.0, 900.0, 2100.0], false, BURST_LABIAL, 0.6),
        "d" => stop([200.0, 1700.0, 2600.0], true, BURST_ALVEOLAR, 0.0),
        "t" => stop([200.0, 1700.0, 2600.0], false, BURST_ALVEOLAR, 0.0),
        "g" => stop([250.0, 1990.0, 2850.0], true, BURST_VELAR, 0.0),
        "k" => stop([250.0, 1990.0, 2850.0], false, BURST_VELAR, 0.0),
        "f" => fricative([340.0, 1100.0, 2080.0], false, 0.35, LABIAL, 0.25),
        "v" => fricative([220.0, 1100.0, 2080.0], true, 0.35, LABIAL, 0.25),
        "th" => fricative([320.0, 1290.0, 2540.0], false, 0.3, DENTAL, 0.2),
        "dh" => fricative([270.0, 1290.0, 2540.0], true, 0.3, DENTAL, 0.2),
        "s" => fricative([320.0, 1390.0, 2530.0], false, 1.0, ALVEOLAR, 0.0),
        "z" => fricative([240.0, 1390.0, 2530.0], true, 1.0, ALVEOLAR, 0.0),
        "sh" => fricative([300.0, 1840.0, 2750.0], false, 1.0, POSTALVEOLAR, 0.0),
        "zh" => fricative([300.0, 1840.0, 2750.0], true, 1.0, POSTALVEOLAR, 0.0),
        "ch" | "jh" => {
            let voiced = phone == "jh";
            let mut t = fricative([300.0, 1840.0, 2750.0], voiced, 1.0, POSTALVEOLAR, 0.0);
            t.manner = Manner::Affricate { voiced };
            t
        }
        "hh" => {
            let mut t = vowel(753.0, 1426.0, 2933.0);
            t.manner = Manner::Aspirate;
            t.voicing = 0.0;
            t.aspiration = 0.8;
            t
        }
        "m" | "n" | "ng" => {
            let (f, zero) = match phone {
                "m" => ([480.0, 1270.0, 2130.0], 1000.0),
                "n" => ([480.0, 1340.0, 2470.0], 1800.0),
                _ => ([480.0, 2000.0, 2900.0], 3000.0),
            };
            let mut t = consonant(f, Manner::Nasal);
            t.formants[0] = 280.0;
            t.bandwidths[0] = 60.0;
            t.bandwidths[1] = 200.0;
            t.bandwidths[2] = 200.0;
            t.nasal_zero = zero;
            t.voicing = 0.9;
            t
        }
        "l" => approximant([330.0, 1050.0, 2880.0]),
        "r" => approximant([330.0, 1060.0, 1380.0]),
        "w" => approximant([290.0, 610.0, 2150.0]),
        "y" => approximant([260.0, 2070.0, 3020.0]),
        "SP" => {
            let mut t = vowel(753.0, 1426.0, 2933.0);
            t.manner = Manner::Silence;
            t.voicing = 0.0;
            t
        }
        "AP" => {
            let mut t = vowel(753.0, 1426.0, 2933.0);
            t.manner = Manner::Breath;
            t.voicing = 0.0;
            t.aspiration = 0.35;
            t
        }
        _ => return None,
    };
    Some(t)
}

fn approximant(f: [f32; 3]) -> Target {
    let mut t = consonant(f, Manner::Approximant);
    t.voicing = 0.8;
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_arpabet_phone_has_a_target() {
        for p in coda_vocal::phones::ARPABET {
            assert!(target(p).is_some(), "{p}");
        }
        assert!(target("xx").is_none());
    }
}
