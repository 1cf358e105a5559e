//! `tab.txt`: ASCII tablature, one line per string (string 1 on top), in bars when the meter
//! is known, wrapped into systems.

use crate::fingering::Tab;
use crate::instrument::pitch_name;

/// How wide a system may be, in characters.
const WIDTH: usize = 80;

/// The tab as text. With `bar_s` (a bar's length in seconds) a `|` marks each bar line.
pub fn ascii_tab(tab: &Tab, bar_s: Option<f64>) -> String {
    let strings = tab.instrument.strings.len();
    // Labels: the open strings' letters; string 1 in lower case when a lower string shares it.
    let mut labels: Vec<String> = tab
        .instrument
        .strings
        .iter()
        .map(|&k| {
            let name = pitch_name(k + tab.instrument.capo);
            name.trim_end_matches(|c: char| c.is_ascii_digit() || c == '-')
                .to_string()
        })
        .collect();
    if strings > 1 && labels[1..].contains(&labels[0]) {
        labels[0] = labels[0].to_lowercase();
    }
    let label_width = labels.iter().map(String::len).max().unwrap_or(1);
    let bar = bar_s.filter(|b| b.is_finite() && *b > 0.0);

    // Columns: one per event, each as wide as its widest fret plus a dash.
    let mut columns: Vec<(Option<usize>, Vec<Option<u8>>)> = Vec::new();
    let mut i = 0;
    let mut current_bar = 0usize;
    while i < tab.notes.len() {
        let start = tab.notes[i].start_s;
        if let Some(b) = bar {
            let n = (start / b + 1e-6).floor().max(0.0) as usize;
            while current_bar < n {
                current_bar += 1;
                columns.push((Some(current_bar), vec![]));
            }
        }
        let mut frets = vec![None; strings];
        while i < tab.notes.len() && tab.notes[i].start_s - start <= 0.02 {
            let s = usize::from(tab.notes[i].string).saturating_sub(1);
            if s < strings {
                frets[s] = Some(tab.notes[i].fret);
            }
            i += 1;
        }
        columns.push((None, frets));
    }

    let header = format!(
        "Tuning: {}{}\n",
        tab.instrument.tuning_names().join(" "),
        if tab.instrument.capo > 0 {
            format!(", capo {}", tab.instrument.capo)
        } else {
            String::new()
        }
    );
    let mut out = header;
    let mut lines: Vec<String> = labels
        .iter()
        .map(|l| format!("{l:<label_width$}|-"))
        .collect();
    let flush = |lines: &mut Vec<String>, out: &mut String| {
        for l in lines.iter_mut() {
            if !l.ends_with('|') {
                l.push('|');
            }
            out.push_str(l);
            out.push('\n');
        }
        out.push('\n');
        for (l, label) in lines.iter_mut().zip(&labels) {
            *l = format!("{label:<label_width$}|-");
        }
    };
    for (bar_line, frets) in &columns {
        if bar_line.is_some() {
            for l in lines.iter_mut() {
                l.push('|');
                l.push('-');
            }
            continue;
        }
        let width = frets
            .iter()
            .flatten()
            .map(|f| f.to_string().len())
            .max()
            .unwrap_or(1);
        if lines[0].len() + width + 1 > WIDTH {
            flush(&mut lines, &mut out);
        }
        for (l, f) in lines.iter_mut().zip(frets) {
            let cell = f.map_or_else(|| "-".repeat(width), |f| format!("{f:-<width$}"));
            l.push_str(&cell);
            l.push('-');
        }
    }
    flush(&mut lines, &mut out);
    out
}
