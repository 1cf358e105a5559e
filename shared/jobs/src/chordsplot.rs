//! `chords.png`: the chord timeline over the chroma (audio) or the piano roll (a score), with
//! the beats, the downbeats and the keys.
//!
//! Drawn like `pianoroll.png`: plotters' bitmap backend, DejaVu Sans embedded, PNG encoded.

use coda_theory::{Analysis, TimedNote};
use plotters::backend::RGBPixel;
use plotters::prelude::*;

use crate::pianoroll::{encode_png, font_ready, seconds_label, PianorollError};

/// What lies under the chord lane.
pub enum Underlay<'a> {
    /// Treble chroma frames (0 = C) at `fps` frames per second.
    Chroma {
        /// The frames.
        frames: &'a [[f32; 12]],
        /// Frames per second.
        fps: f64,
    },
    /// A score's notes.
    Notes(&'a [TimedNote]),
}

const HEIGHT: u32 = 760;
const MIN_WIDTH: u32 = 1600;
const MAX_WIDTH: u32 = 3200;
const BACKGROUND: RGBColor = RGBColor(255, 255, 255);
const TEXT: RGBColor = RGBColor(25, 25, 35);
const BEAT: RGBColor = RGBColor(205, 205, 215);
const DOWNBEAT: RGBColor = RGBColor(120, 120, 140);
const FONT: &str = "sans-serif";
const PC_NAMES: [&str; 12] = [
    "C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B",
];

/// A chord's colour: its root around the circle of fifths, minor-family chords darker,
/// no-chord grey.
fn chord_colour(label: &str) -> RGBColor {
    let Some((root, quality)) = label.split_once(':') else {
        return RGBColor(225, 225, 230);
    };
    let pc = PC_NAMES
        .iter()
        .position(|n| *n == root)
        .or_else(|| {
            [
                "C", "Db", "D", "D#", "E", "F", "Gb", "G", "G#", "A", "A#", "B",
            ]
            .iter()
            .position(|n| *n == root)
        })
        .unwrap_or(0);
    let hue = ((pc * 7) % 12) as f64 / 12.0;
    let minor = quality.starts_with("min") || quality.starts_with("dim");
    let (s, l) = if minor { (0.55, 0.45) } else { (0.6, 0.62) };
    hsl(hue, s, l)
}

fn hsl(h: f64, s: f64, l: f64) -> RGBColor {
    let c = (1.0 - (2.0 * l - 1.0).abs()) * s;
    let x = c * (1.0 - ((h * 6.0) % 2.0 - 1.0).abs());
    let m = l - c / 2.0;
    let (r, g, b) = match (h * 6.0) as u32 {
        0 => (c, x, 0.0),
        1 => (x, c, 0.0),
        2 => (0.0, c, x),
        3 => (0.0, x, c),
        4 => (x, 0.0, c),
        _ => (c, 0.0, x),
    };
    let to = |v: f64| ((v + m) * 255.0).round().clamp(0.0, 255.0) as u8;
    RGBColor(to(r), to(g), to(b))
}

/// Magma-like ramp from white (nothing) to dark purple (the frame's loudest pitch class).
fn heat(v: f64) -> RGBColor {
    let v = v.clamp(0.0, 1.0);
    let mix = |a: f64, b: f64| (a + (b - a) * v).round() as u8;
    RGBColor(mix(255.0, 60.0), mix(255.0, 20.0), mix(255.0, 110.0))
}

fn draw_error(e: impl std::fmt::Display) -> PianorollError {
    PianorollError::Draw(e.to_string())
}

/// Renders `analysis` over `underlay` as PNG bytes.
pub fn render_chords(analysis: &Analysis, underlay: &Underlay) -> Result<Vec<u8>, PianorollError> {
    if !font_ready() {
        return Err(PianorollError::Font);
    }
    let end = analysis.duration_s.clamp(1.0, 86_400.0);
    let width =
        (f64::from(MIN_WIDTH) + (end - 60.0).max(0.0) * 8.0).min(f64::from(MAX_WIDTH)) as u32;
    let mut rgb = vec![0u8; width as usize * HEIGHT as usize * 3];
    {
        let root = BitMapBackend::<RGBPixel>::with_buffer_and_format(&mut rgb, (width, HEIGHT))
            .map_err(draw_error)?
            .into_drawing_area();
        root.fill(&BACKGROUND).map_err(draw_error)?;
        let key = analysis.key.as_ref().map_or("no key".to_string(), |k| {
            format!("{} {}", k.key.tonic, k.key.mode.name())
        });
        let tempo = analysis
            .tempo_bpm
            .map_or("no beat".to_string(), |t| format!("{t:.1} bpm"));
        let title = format!(
            "Coda analysis ({}): {key}, {tempo}, {}, {} chord{}",
            analysis.source,
            analysis
                .time_signature
                .as_deref()
                .unwrap_or("meter unknown"),
            analysis.chords.iter().filter(|c| c.label != "N").count(),
            if analysis.chords.len() == 1 { "" } else { "s" }
        );
        let (top, bottom) = root.split_vertically(170);
        let title_font = (FONT, 28).into_font().color(&TEXT);
        top.draw(&Text::new(title, (20, 14), title_font))
            .map_err(draw_error)?;
        // The lanes share the plot's x mapping: the same margins as the chart below.
        let left = 90i32;
        let right = width as i32 - 40;
        let x_of = |t: f64| left + ((t / end).clamp(0.0, 1.0) * f64::from(right - left)) as i32;
        let label_font = (FONT, 16).into_font().color(&TEXT);
        // Keys lane.
        for seg in &analysis.keys {
            let (a, b) = (x_of(seg.start_s), x_of(seg.end_s));
            top.draw(&Rectangle::new(
                [(a, 56), (b.max(a + 1), 84)],
                RGBColor(235, 238, 245).filled(),
            ))
            .map_err(draw_error)?;
            top.draw(&Rectangle::new([(a, 56), (b.max(a + 1), 84)], DOWNBEAT))
                .map_err(draw_error)?;
            if b - a > 90 {
                let name = format!("{} {}", seg.key.tonic, seg.key.mode.name());
                top.draw(&Text::new(name, (a + 6, 62), label_font.clone()))
                    .map_err(draw_error)?;
            }
        }
        top.draw(&Text::new("key", (20, 62), label_font.clone()))
            .map_err(draw_error)?;
        // Chords lane.
        top.draw(&Text::new("chords", (20, 110), label_font.clone()))
            .map_err(draw_error)?;
        for c in &analysis.chords {
            let (a, b) = (x_of(c.start_s), x_of(c.end_s));
            top.draw(&Rectangle::new(
                [(a, 96), (b.max(a + 1), 140)],
                chord_colour(&c.label).filled(),
            ))
            .map_err(draw_error)?;
            top.draw(&Rectangle::new([(a, 96), (b.max(a + 1), 140)], BACKGROUND))
                .map_err(draw_error)?;
            let room = (b - a) as usize;
            if c.label != "N" && room >= 9 * c.display.len() + 6 {
                top.draw(&Text::new(
                    c.display.clone(),
                    (a + 4, 110),
                    label_font.clone(),
                ))
                .map_err(draw_error)?;
            }
        }
        for &d in &analysis.downbeats {
            let x = x_of(d);
            top.draw(&PathElement::new(
                vec![(x, 144), (x, 168)],
                DOWNBEAT.stroke_width(2),
            ))
            .map_err(draw_error)?;
        }
        for &b in &analysis.beats {
            let x = x_of(b);
            top.draw(&PathElement::new(vec![(x, 152), (x, 168)], DOWNBEAT))
                .map_err(draw_error)?;
        }

        let (lo, hi, rows): (f64, f64, bool) = match underlay {
            Underlay::Chroma { .. } => (-0.5, 11.5, true),
            Underlay::Notes(notes) => {
                let lo = notes.iter().map(|n| n.pitch_midi).min().unwrap_or(48);
                let hi = notes.iter().map(|n| n.pitch_midi).max().unwrap_or(84);
                (f64::from(lo) - 1.5, f64::from(hi.max(lo + 12)) + 1.5, false)
            }
        };
        let mut chart = ChartBuilder::on(&bottom)
            .margin_left(0)
            .margin_right(40)
            .margin_bottom(10)
            .x_label_area_size(60)
            .y_label_area_size(90)
            .build_cartesian_2d(0.0..end, lo..hi)
            .map_err(draw_error)?;
        let y_label = |v: &f64| {
            let p = v.round() as i32;
            if rows {
                PC_NAMES[p.rem_euclid(12) as usize].to_string()
            } else {
                format!(
                    "{}{}",
                    PC_NAMES[p.rem_euclid(12) as usize],
                    p.div_euclid(12) - 1
                )
            }
        };
        chart
            .configure_mesh()
            .disable_y_mesh()
            .bold_line_style(BEAT)
            .max_light_lines(0)
            .x_labels((width / 100) as usize)
            .y_labels(if rows { 12 } else { 16 })
            .x_label_formatter(&seconds_label)
            .y_label_formatter(&y_label)
            .label_style(label_font.clone())
            .axis_desc_style((FONT, 20).into_font().color(&TEXT))
            .x_desc("time (s)")
            .y_desc(if rows { "chroma" } else { "pitch" })
            .draw()
            .map_err(draw_error)?;
        for &d in &analysis.downbeats {
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(d, lo), (d, hi)],
                    BEAT,
                )))
                .map_err(draw_error)?;
        }
        match underlay {
            Underlay::Chroma { frames, fps } => {
                // At most two columns per pixel: longer pieces are averaged down.
                let (plot_w, _) = chart.plotting_area().dim_in_pixel();
                let per = (frames.len() / (plot_w as usize * 2).max(1)).max(1);
                let mut cells = Vec::new();
                for (i, group) in frames.chunks(per).enumerate() {
                    let mut m = [0.0f64; 12];
                    for f in group {
                        for k in 0..12 {
                            m[k] += f64::from(f[k]);
                        }
                    }
                    let peak = m.iter().cloned().fold(0.0, f64::max);
                    if peak <= 0.0 {
                        continue;
                    }
                    let t0 = (i * per) as f64 / fps;
                    let t1 = ((i + 1) * per) as f64 / fps;
                    for (k, v) in m.iter().enumerate() {
                        let y = k as f64;
                        cells.push(Rectangle::new(
                            [(t0, y - 0.5), (t1.min(end), y + 0.5)],
                            heat(v / peak).filled(),
                        ));
                    }
                }
                chart.draw_series(cells).map_err(draw_error)?;
            }
            Underlay::Notes(notes) => {
                chart
                    .draw_series(notes.iter().filter(|n| n.end_s > n.start_s).map(|n| {
                        let p = f64::from(n.pitch_midi);
                        Rectangle::new(
                            [(n.start_s, p - 0.4), (n.end_s.min(end), p + 0.4)],
                            RGBColor(59, 82, 139).filled(),
                        )
                    }))
                    .map_err(draw_error)?;
            }
        }
        root.present().map_err(draw_error)?;
    }
    encode_png(&rgb, width, HEIGHT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use coda_theory::ChordSpan;

    fn analysis() -> Analysis {
        Analysis {
            source: "audio".into(),
            duration_s: 8.0,
            key: None,
            keys: vec![],
            chords: vec![
                ChordSpan {
                    start_s: 0.0,
                    end_s: 4.0,
                    label: "C:maj".into(),
                    display: "C".into(),
                },
                ChordSpan {
                    start_s: 4.0,
                    end_s: 8.0,
                    label: "A:min/b3".into(),
                    display: "Am/C".into(),
                },
            ],
            tempo_bpm: Some(120.0),
            beats: (0..16).map(|i| i as f64 * 0.5).collect(),
            downbeats: (0..4).map(|i| i as f64 * 2.0).collect(),
            time_signature: Some("4/4".into()),
            tuning_cents: Some(0.0),
        }
    }

    #[test]
    fn both_underlays_render_with_the_chords_coloured() {
        let frames: Vec<[f32; 12]> = (0..100)
            .map(|i| {
                let mut f = [0.0f32; 12];
                f[if i < 50 { 0 } else { 9 }] = 1.0;
                f
            })
            .collect();
        let a = analysis();
        let png_bytes = render_chords(
            &a,
            &Underlay::Chroma {
                frames: &frames,
                fps: 12.5,
            },
        )
        .unwrap();
        let decoder = png::Decoder::new(std::io::Cursor::new(&png_bytes));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert_eq!((info.width, info.height), (MIN_WIDTH, HEIGHT));
        // The C chord's colour is in the chord lane, left of the middle.
        let c = chord_colour("C:maj");
        let row = 130usize;
        let found = (100..700).any(|x| {
            let i = (row * info.width as usize + x) * 3;
            (buf[i], buf[i + 1], buf[i + 2]) == (c.0, c.1, c.2)
        });
        assert!(found, "no {c:?} in the chord lane");
        assert_ne!(chord_colour("C:maj"), chord_colour("A:min/b3"));
        let notes = [TimedNote {
            start_s: 0.0,
            end_s: 2.0,
            pitch_midi: 60,
        }];
        assert!(render_chords(&a, &Underlay::Notes(&notes))
            .unwrap()
            .starts_with(b"\x89PNG"));
    }
}
