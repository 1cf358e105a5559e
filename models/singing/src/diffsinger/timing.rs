//! Frame arithmetic as OpenUtau does it: head and tail padding
//! (`DiffSingerUtils.headMs`/`tailMs`), curve padding and resampling
//! (`SampleCurve`, `ResampleCurve`), the speedup rule, the rest-note pitch
//! filling of the pitch predictor (`DiffSingerPitch.cs`), and the fitting of
//! predicted phoneme durations into their words (`DiffSingerBasePhonemizer.cs`).

use super::phrase::DsPhrase;

/// Padding before a phrase, ms (`DiffSingerUtils.headMs`).
pub(crate) const HEAD_MS: f64 = 100.0;
/// Padding after a phrase, ms (`DiffSingerUtils.tailMs`).
pub(crate) const TAIL_MS: f64 = 100.0;
/// Time given to the lead-in before the first note by the duration predictor, ms (`padding` of `ProcessPart`).
pub(crate) const DURATION_LEAD_MS: f64 = 500.0;

/// C#'s `Math.Round`: to the nearest integer, halves to even.
pub(crate) fn round_even(x: f64) -> i64 {
    x.round_ties_even() as i64
}

/// Frames of `ms` at `frame_ms` per frame, at least one (`(int)Math.Round(ms / frameMs)`).
pub(crate) fn frames_of(ms: f64, frame_ms: f64) -> usize {
    round_even(ms / frame_ms).max(1) as usize
}

/// The curve with `head` copies of its first value before it and `tail` of its last after it (`SampleCurve`'s fill).
pub(crate) fn pad_curve(curve: &[f32], head: usize, tail: usize) -> Vec<f32> {
    let (Some(&first), Some(&last)) = (curve.first(), curve.last()) else {
        return vec![0.0; head + tail];
    };
    let mut out = Vec::with_capacity(head + curve.len() + tail);
    out.resize(head, first);
    out.extend_from_slice(curve);
    out.resize(head + curve.len() + tail, last);
    out
}

/// `DiffSingerUtils.ResampleCurve`: linear resampling of a curve to `length` points, ends kept.
pub(crate) fn resample_curve(curve: &[f32], length: usize) -> Vec<f32> {
    if curve.is_empty() || length == 0 {
        return vec![0.0; length];
    }
    if curve.len() == length {
        return curve.to_vec();
    }
    if length == 1 {
        return vec![curve[0]];
    }
    let last = curve.len() - 1;
    (0..length)
        .map(|i| {
            let x = i as f32 / (length - 1) as f32 * last as f32;
            let x0 = (x as usize).min(last);
            let x1 = (x0 + 1).min(last);
            let (y0, y1) = (curve[x0], curve[x1]);
            // MusicMath.Linear in floats: y1 when the points (nearly) coincide.
            if (x1 as f32) - (x0 as f32) < 0.001 {
                y1
            } else {
                y0 + (y1 - y0) * (x - x0 as f32) / (x1 as f32 - x0 as f32)
            }
        })
        .collect()
}

/// The largest factor of 1000 not above `1000 / steps` (OpenUtau's speedup from steps).
pub(crate) fn speedup_for(steps: u32) -> i64 {
    let mut speedup = (1000 / i64::from(steps.max(1))).max(1);
    while 1000 % speedup != 0 && speedup > 1 {
        speedup -= 1;
    }
    speedup
}

/// `MusicMath.ToneToFreq`.
pub(crate) fn midi_to_hz(midi: f32) -> f32 {
    440.0 * 2f32.powf((midi - 69.0) / 12.0)
}

/// The inverse of [`midi_to_hz`].
pub(crate) fn hz_to_midi(hz: f32) -> f32 {
    69.0 + 12.0 * (hz / 440.0).log2()
}

/// The pitch predictor's rest handling: each run of rest notes takes the pitch of its neighbours
/// (the next note for a leading run, the previous for a trailing one, half and half in between);
/// when every note is a rest nothing changes.
pub(crate) fn fill_rest_midi(midi: &mut [f32], rest: &[bool]) {
    let n = midi.len().min(rest.len());
    let mut i = 0;
    while i < n {
        if !rest[i] {
            i += 1;
            continue;
        }
        let mut j = i + 1;
        while j < n && rest[j] {
            j += 1;
        }
        if i == 0 && j == n {
            return;
        }
        if i == 0 {
            let v = midi[j];
            midi[..j].fill(v);
        } else if j == n {
            let v = midi[i - 1];
            midi[i..].fill(v);
        } else {
            let mid = (i + j).div_ceil(2);
            let (before, after) = (midi[i - 1], midi[j]);
            midi[i..mid].fill(before);
            midi[mid..j].fill(after);
        }
        // OpenUtau's loop resumes after the run's end.
        i = j + 1;
    }
}

/// Durations moved to another frame rate by their boundaries (`ratio` = new frames per old frame), each at least `mins[k]`.
pub(crate) fn retime(durations: &[u32], ratio: f64, mins: &[u32]) -> Vec<u32> {
    let mut out = Vec::with_capacity(durations.len());
    let (mut cum, mut boundary) = (0u64, 0u64);
    for (k, &d) in durations.iter().enumerate() {
        cum += u64::from(d);
        let min = u64::from(mins.get(k).copied().unwrap_or(1));
        let target = round_even(cum as f64 * ratio).max(0) as u64;
        let b = target.max(boundary + min);
        out.push((b - boundary) as u32);
        boundary = b;
    }
    out
}

/// Makes `values` sum to `total`, changing the last entries first and keeping each at least `mins[k]`.
pub(crate) fn fit_total(values: &mut [u32], total: u32, mins: &[u32]) {
    let sum: u64 = values.iter().map(|&v| u64::from(v)).sum();
    if sum < u64::from(total) {
        if let Some(last) = values.last_mut() {
            *last += total - sum as u32;
        }
        return;
    }
    let mut excess = sum - u64::from(total);
    for k in (0..values.len()).rev() {
        if excess == 0 {
            break;
        }
        let min = mins.get(k).copied().unwrap_or(1);
        let take = u64::from(values[k].saturating_sub(min)).min(excess);
        values[k] -= take as u32;
        excess -= take;
    }
}

/// The phrase at another frame length (`to_ms` per frame instead of `from_ms`), for a predictor whose frames differ:
/// boundaries are rounded, every phoneme and note keeps a frame, curves are resampled.
pub(crate) fn retime_phrase(phrase: &DsPhrase, from_ms: f64, to_ms: f64) -> DsPhrase {
    let ratio = from_ms / to_ms;
    let ones = vec![1; phrase.ph_dur.len()];
    let ph_dur = retime(&phrase.ph_dur, ratio, &ones);
    let total: u32 = ph_dur.iter().sum();
    let mut word_dur = retime(&phrase.word_dur, ratio, &phrase.word_div);
    fit_total(&mut word_dur, total, &phrase.word_div);
    let note_frames: Vec<u32> = phrase.notes.iter().map(|n| n.frames).collect();
    let ones = vec![1; note_frames.len()];
    let mut frames = retime(&note_frames, ratio, &ones);
    fit_total(&mut frames, total, &ones);
    let mut out = phrase.clone();
    for (note, f) in out.notes.iter_mut().zip(frames) {
        note.frames = f;
    }
    let length = total as usize;
    if !out.f0.is_empty() {
        out.f0 = resample_curve(&phrase.f0, length);
    }
    for curve in [
        &mut out.variance.energy,
        &mut out.variance.breathiness,
        &mut out.variance.voicing,
        &mut out.variance.tension,
    ]
    .into_iter()
    .flatten()
    {
        *curve = resample_curve(curve, length);
    }
    out.ph_dur = ph_dur;
    out.word_dur = word_dur;
    out
}

/// Splits `target` frames among phonemes in proportion to `weights` (OpenUtau's `stretch`),
/// rounding the boundaries so no error accumulates, each phoneme keeping at least one frame.
pub(crate) fn stretch(weights: &[f64], target: u32) -> Vec<u32> {
    let m = weights.len();
    if m == 0 {
        return Vec::new();
    }
    let w: Vec<f64> = weights
        .iter()
        .map(|&x| if x.is_finite() && x > 1e-3 { x } else { 1e-3 })
        .collect();
    let total: f64 = w.iter().sum();
    let target_i = i64::from(target);
    let mut bounds = Vec::with_capacity(m);
    let mut cum = 0.0;
    for &x in &w {
        cum += x;
        bounds.push(round_even(f64::from(target) * cum / total));
    }
    // At least one frame each: push boundaries forward, then back from the end.
    let mut previous = 0;
    for b in bounds.iter_mut() {
        *b = (*b).max(previous + 1);
        previous = *b;
    }
    let mut next = target_i + 1;
    for b in bounds.iter_mut().rev() {
        *b = (*b).min(next - 1);
        next = *b;
    }
    let mut out = Vec::with_capacity(m);
    let mut previous = 0;
    for b in bounds {
        out.push((b - previous).max(0) as u32);
        previous = b;
    }
    out
}

/// Fits predicted durations (in the phrase's frames, one per phoneme) into the phrase's words:
/// each word's phonemes fill its `word_dur` in proportion to their predictions. As OpenUtau keeps
/// the predicted lengths of the consonants before the first note (they end at its onset and the
/// padding `SP` before them takes the rest), a lead-in that starts with `SP` or `AP` keeps its
/// other phonemes' predicted lengths and the rest takes what remains; when they do not fit, the
/// lead-in is stretched like any word.
pub(crate) fn fit_durations(predicted: &[f64], phrase: &DsPhrase) -> Vec<u32> {
    let mut out = Vec::with_capacity(predicted.len());
    let mut start = 0usize;
    for (k, (&div, &dur)) in phrase.word_div.iter().zip(&phrase.word_dur).enumerate() {
        let div = div as usize;
        let end = (start + div).min(predicted.len());
        let weights = &predicted[start..end];
        let lead_rest = k == 0
            && div >= 2
            && matches!(
                phrase.phonemes.first().map(String::as_str),
                Some("SP" | "AP")
            );
        let kept: Option<Vec<u32>> = lead_rest.then(|| {
            weights[1..]
                .iter()
                .map(|&x| {
                    if x.is_finite() {
                        round_even(x).clamp(1, i64::from(u32::MAX)) as u32
                    } else {
                        1
                    }
                })
                .collect()
        });
        match kept {
            Some(kept) if kept.iter().map(|&d| u64::from(d)).sum::<u64>() < u64::from(dur) => {
                let used: u32 = kept.iter().sum();
                out.push(dur - used);
                out.extend(kept);
            }
            _ => out.extend(stretch(weights, dur)),
        }
        start = end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diffsinger::phrase::{DsExpression, DsNote, DsVariance};

    #[test]
    fn padding_frames_round_as_csharp() {
        let frame_ms = 1000.0 * 512.0 / 44_100.0;
        assert_eq!(frames_of(HEAD_MS, frame_ms), 9);
        assert_eq!(frames_of(DURATION_LEAD_MS, frame_ms), 43);
        assert_eq!(round_even(2.5), 2);
        assert_eq!(round_even(3.5), 4);
        assert_eq!(frames_of(100.0, 1000.0), 1, "at least one frame");
    }

    #[test]
    fn speedup_is_a_factor_of_1000() {
        assert_eq!(speedup_for(20), 50);
        assert_eq!(speedup_for(10), 100);
        assert_eq!(speedup_for(3), 250);
        assert_eq!(speedup_for(1000), 1);
        assert_eq!(speedup_for(7), 125);
    }

    #[test]
    fn curves_pad_and_resample_as_openutau() {
        assert_eq!(pad_curve(&[1.0, 2.0], 2, 1), [1.0, 1.0, 1.0, 2.0, 2.0]);
        assert_eq!(
            resample_curve(&[0.0, 1.0, 2.0], 5),
            [0.0, 0.5, 1.0, 1.5, 2.0]
        );
        assert_eq!(resample_curve(&[3.0, 1.0], 1), [3.0]);
        assert_eq!(resample_curve(&[0.0, 4.0, 8.0], 3), [0.0, 4.0, 8.0]);
        let down = resample_curve(&[0.0, 1.0, 2.0, 3.0, 4.0], 3);
        assert_eq!(down, [0.0, 2.0, 4.0]);
    }

    #[test]
    fn rest_notes_take_their_neighbours_pitch() {
        let mut m = [0.0, 60.0, 0.0, 0.0, 0.0, 67.0, 0.0];
        fill_rest_midi(&mut m, &[true, false, true, true, true, false, true]);
        assert_eq!(m, [60.0, 60.0, 60.0, 60.0, 67.0, 67.0, 67.0]);
        let mut all = [1.0, 2.0];
        fill_rest_midi(&mut all, &[true, true]);
        assert_eq!(all, [1.0, 2.0]);
    }

    #[test]
    fn stretch_fills_the_target_exactly() {
        assert_eq!(stretch(&[3.0, 5.0], 16), [6, 10]);
        assert_eq!(stretch(&[1.0, 1.0, 1.0], 10), [3, 4, 3]);
        assert_eq!(stretch(&[100.0, 0.0, f64::NAN], 3), [1, 1, 1]);
        assert_eq!(stretch(&[1.0], 7), [7]);
        for target in 3..40 {
            let d = stretch(&[0.1, 7.0, 0.2, 3.0, 0.0], target.max(5));
            assert_eq!(d.iter().sum::<u32>(), target.max(5));
            assert!(d.iter().all(|&x| x >= 1));
        }
    }

    fn phrase(phonemes: &[&str], word_div: Vec<u32>, word_dur: Vec<u32>) -> DsPhrase {
        let n = phonemes.len();
        let frames: u32 = word_dur.iter().sum();
        DsPhrase {
            phonemes: phonemes.iter().map(|s| s.to_string()).collect(),
            ph_dur: {
                let mut d = vec![1; n];
                d[n - 1] = frames - (n as u32 - 1);
                d
            },
            ph_note: vec![0; n],
            word_div,
            word_dur,
            notes: vec![DsNote {
                midi: 60.0,
                frames,
                rest: false,
            }],
            f0: Vec::new(),
            variance: DsVariance::default(),
            expression: DsExpression::default(),
        }
    }

    #[test]
    fn a_rest_lead_in_keeps_the_predicted_consonants() {
        let p = phrase(&["SP", "k", "ae", "t"], vec![2, 2], vec![30, 20]);
        assert_eq!(fit_durations(&[9.0, 4.2, 2.0, 3.0], &p), [26, 4, 8, 12]);
        // Consonants longer than the lead-in: the lead-in is stretched instead.
        assert_eq!(fit_durations(&[1.0, 40.0, 1.0, 1.0], &p), [1, 29, 10, 10]);
        // A lead-in without a rest is stretched.
        let p = phrase(&["k", "s", "ae"], vec![2, 1], vec![10, 5]);
        assert_eq!(fit_durations(&[1.0, 4.0, 9.0], &p), [2, 8, 5]);
        // An empty lead-in.
        let p = phrase(&["ae", "t"], vec![0, 2], vec![0, 9]);
        assert_eq!(fit_durations(&[2.0, 1.0], &p), [6, 3]);
    }

    #[test]
    fn retiming_keeps_every_phoneme_and_the_totals() {
        let mut p = phrase(&["SP", "k", "ae", "t"], vec![2, 2], vec![30, 20]);
        p.ph_dur = vec![20, 10, 1, 19];
        p.f0 = vec![220.0; 50];
        let q = retime_phrase(&p, 10.0, 20.0);
        assert_eq!(q.ph_dur, [10, 5, 1, 9]);
        assert_eq!(q.word_dur.iter().sum::<u32>(), 25);
        assert_eq!(q.notes[0].frames, 25);
        assert_eq!(q.f0.len(), 25);
        let mut v = vec![5, 5, 5];
        fit_total(&mut v, 12, &[1, 1, 4]);
        assert_eq!(v, [5, 3, 4]);
        fit_total(&mut v, 14, &[1, 1, 1]);
        assert_eq!(v, [5, 3, 6]);
    }
}
