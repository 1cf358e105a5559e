//! `pianoroll.png`: the transcribed notes drawn over time.
//!
//! Drawn with plotters' in-memory bitmap backend and encoded with `png`; text uses DejaVu Sans
//! embedded from the `dejavu` crate, since a worker image has no system fonts to find.

use std::ops::Range;
use std::sync::OnceLock;

use coda_transcription::NoteEvent;
use plotters::backend::RGBPixel;
use plotters::coord::ranged1d::{KeyPointHint, NoDefaultFormatting, ValueFormatter};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

/// Why a piano roll could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum PianorollError {
    /// The embedded font did not parse, so no text could be drawn.
    #[error("the embedded piano-roll font could not be loaded")]
    Font,
    /// Plotters failed while drawing.
    #[error("drawing the piano roll failed: {0}")]
    Draw(String),
    /// The drawn image could not be encoded as PNG.
    #[error("encoding the piano roll as PNG failed: {0}")]
    Encode(String),
}

/// Image height in pixels.
const HEIGHT: u32 = 800;
/// Narrowest image, used up to `WIDEN_AFTER_S` seconds.
const MIN_WIDTH: u32 = 1600;
/// Widest image: past this, longer pieces just get denser.
const MAX_WIDTH: u32 = 3200;
/// Time shown before the image starts to widen.
const WIDEN_AFTER_S: f64 = 60.0;
/// Extra width per second past `WIDEN_AFTER_S`.
const WIDEN_PX_PER_S: f64 = 8.0;
/// Shortest time axis, so that an empty or tiny clip still gets a readable axis.
const MIN_SPAN_S: f64 = 1.0;
/// Longest time axis: a note ending at 1e300 s must not turn the axis into nonsense.
const MAX_SPAN_S: f64 = 86_400.0;
/// Semitones shown beyond the lowest and highest note.
const PITCH_PAD: i32 = 2;
/// Fewest semitones shown, so that a single note is not drawn as a huge block.
const MIN_PITCH_SPAN: i32 = 24;
/// Pitch range shown when there are no notes: C3..C6.
const DEFAULT_PITCHES: (i32, i32) = (48, 84);
/// Fraction of a pitch row a note fills, leaving a gap between neighbouring rows.
const NOTE_HEIGHT: f64 = 0.8;

const BACKGROUND: RGBColor = RGBColor(255, 255, 255);
/// Rows of black keys are shaded, as on a keyboard, so a pitch can be read off without the axis.
const BLACK_KEY_ROW: RGBColor = RGBColor(238, 238, 242);
const OCTAVE_LINE: RGBColor = RGBColor(200, 200, 210);
const GRID_LINE: RGBColor = RGBColor(215, 215, 222);
const TEXT: RGBColor = RGBColor(25, 25, 35);
const FONT_FAMILY: &str = "sans-serif";

/// Renders the notes as a piano roll: time on x (seconds), pitch on y (note names), PNG bytes.
pub fn render_pianoroll(notes: &[NoteEvent], duration_s: f64) -> Result<Vec<u8>, PianorollError> {
    let frame = draw_frame(notes, duration_s, None)?;
    encode_png(&frame.rgb, frame.width, frame.height)
}

/// A pitch curve drawn over the notes: `title`, and (seconds, fractional MIDI) points,
/// where a NaN pitch breaks the line (silence).
pub struct PitchOverlay<'a> {
    /// The picture's title.
    pub title: String,
    /// The curve's points, in time order.
    pub curve: &'a [(f64, f64)],
}

/// `pitch.png`: the score's notes as a piano roll with the rendered f0 drawn over them.
pub fn render_pitch_roll(
    notes: &[NoteEvent],
    duration_s: f64,
    overlay: &PitchOverlay,
) -> Result<Vec<u8>, PianorollError> {
    let frame = draw_frame(notes, duration_s, Some(overlay))?;
    encode_png(&frame.rgb, frame.width, frame.height)
}

/// A drawn, not yet encoded, piano roll.
struct Frame {
    width: u32,
    height: u32,
    /// Packed RGB, row by row.
    rgb: Vec<u8>,
    /// Maps (seconds, MIDI pitch) to pixels; the tests use it to find notes in the image.
    #[cfg_attr(not(test), allow(dead_code))]
    coord: Cartesian2d<RangedCoordf64, PitchAxis>,
}

/// A note reduced to what is drawn, with its times already clipped to the time axis.
struct DrawnNote {
    start_s: f64,
    end_s: f64,
    pitch: i32,
    velocity: u8,
}

/// What the input turns into once hostile values are dealt with.
struct Layout {
    notes: Vec<DrawnNote>,
    /// Notes left out because their times make no sense (NaN, infinite, ending before they start).
    skipped: usize,
    x_end_s: f64,
    pitches: PitchAxis,
    width: u32,
}

fn layout(notes: &[NoteEvent], duration_s: f64) -> Layout {
    let mut drawn: Vec<DrawnNote> = Vec::with_capacity(notes.len());
    let mut skipped = 0usize;
    let mut last_end = 0.0f64;
    for n in notes {
        let ok = n.start_s.is_finite() && n.end_s.is_finite() && n.end_s >= n.start_s;
        if !ok || n.start_s >= MAX_SPAN_S || n.end_s < 0.0 {
            skipped += 1;
            continue;
        }
        last_end = last_end.max(n.end_s);
        drawn.push(DrawnNote {
            start_s: n.start_s.max(0.0),
            end_s: n.end_s,
            pitch: i32::from(n.pitch_midi),
            velocity: n.velocity,
        });
    }

    let duration_s = if duration_s.is_finite() {
        duration_s
    } else {
        0.0
    };
    let x_end_s = duration_s.max(last_end).clamp(MIN_SPAN_S, MAX_SPAN_S);
    for n in &mut drawn {
        n.end_s = n.end_s.min(x_end_s);
    }

    let (lo, hi) = match (
        drawn.iter().map(|n| n.pitch).min(),
        drawn.iter().map(|n| n.pitch).max(),
    ) {
        (Some(lo), Some(hi)) => pitch_window(lo, hi),
        _ => DEFAULT_PITCHES,
    };

    let extra = (x_end_s - WIDEN_AFTER_S).max(0.0) * WIDEN_PX_PER_S;
    let width = (f64::from(MIN_WIDTH) + extra).min(f64::from(MAX_WIDTH)) as u32;

    Layout {
        notes: drawn,
        skipped,
        x_end_s,
        pitches: PitchAxis {
            lo: f64::from(lo) - 0.5,
            hi: f64::from(hi) + 0.5,
        },
        width,
    }
}

/// Lowest and highest pitch row to show for notes spanning `lo..=hi`.
fn pitch_window(lo: i32, hi: i32) -> (i32, i32) {
    // Padding stays inside MIDI's 0..=127 unless the notes themselves are outside it.
    let mut lo = (lo - PITCH_PAD).max(0).min(lo);
    let mut hi = (hi + PITCH_PAD).min(127).max(hi);
    let short = MIN_PITCH_SPAN - (hi - lo);
    if short > 0 {
        lo -= short / 2;
        hi += short - short / 2;
        if lo < 0 {
            hi -= lo;
            lo = 0;
        }
    }
    (lo, hi)
}

/// The pitch axis: rows centred on whole MIDI numbers, ticks on musically regular notes.
#[derive(Clone, Debug)]
struct PitchAxis {
    lo: f64,
    hi: f64,
}

impl Ranged for PitchAxis {
    type FormatOption = NoDefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let t = (value - self.lo) / (self.hi - self.lo);
        let px = f64::from(limit.0) + t * f64::from(limit.1 - limit.0);
        // The `as` cast saturates, so an off-axis value lands on the edge instead of wrapping.
        px.round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        let max = hint.max_num_points().max(1);
        let lo = self.lo.ceil() as i32;
        let hi = self.hi.floor() as i32;
        // Steps that divide an octave keep the ticks on the same notes in every octave
        // (every C, E and G# for 4); past an octave, whole octaves.
        let step = [1, 2, 4, 12, 24, 48, 96, 192]
            .into_iter()
            .find(|s| ((hi - lo) / s + 1) as usize <= max)
            .unwrap_or(384);
        (lo..=hi)
            .filter(|p| p.rem_euclid(step) == 0)
            .map(f64::from)
            .collect()
    }

    fn range(&self) -> Range<f64> {
        self.lo..self.hi
    }
}

impl ValueFormatter<f64> for PitchAxis {
    fn format(value: &f64) -> String {
        note_name(value.round() as i32)
    }
}

/// Scientific pitch notation: MIDI 60 is C4, 69 is A4.
fn note_name(midi: i32) -> String {
    const NAMES: [&str; 12] = [
        "C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B",
    ];
    let name = NAMES[midi.rem_euclid(12) as usize];
    format!("{name}{}", midi.div_euclid(12) - 1)
}

fn is_black_key(midi: i32) -> bool {
    matches!(midi.rem_euclid(12), 1 | 3 | 6 | 8 | 10)
}

/// Seconds without trailing zeros: "0.25", "2.5", "120".
pub(crate) fn seconds_label(s: &f64) -> String {
    let text = format!("{s:.2}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" {
        "0".to_string()
    } else {
        text.to_string()
    }
}

/// Viridis, sampled: dark purple for quiet notes through green to yellow for loud ones.
fn velocity_colour(velocity: u8) -> RGBColor {
    const STOPS: [(f64, f64, f64); 5] = [
        (68.0, 1.0, 84.0),
        (59.0, 82.0, 139.0),
        (33.0, 145.0, 140.0),
        (94.0, 201.0, 98.0),
        (253.0, 231.0, 37.0),
    ];
    let t = f64::from(velocity.min(127)) / 127.0 * (STOPS.len() - 1) as f64;
    let i = (t.floor() as usize).min(STOPS.len() - 2);
    let f = t - i as f64;
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    let mix = |x: f64, y: f64| (x + (y - x) * f).round() as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// Outline of a note: darker than its fill, so touching notes on one row stay apart.
fn outline_colour(c: RGBColor) -> RGBColor {
    RGBColor(c.0 / 2, c.1 / 2, c.2 / 2)
}

/// Registers DejaVu Sans with plotters once per process; false when the font did not parse.
pub(crate) fn font_ready() -> bool {
    static READY: OnceLock<bool> = OnceLock::new();
    *READY.get_or_init(|| {
        plotters::style::register_font(FONT_FAMILY, FontStyle::Normal, dejavu::sans::regular())
            .is_ok()
    })
}

fn draw_error(e: impl std::fmt::Display) -> PianorollError {
    PianorollError::Draw(e.to_string())
}

/// The f0 line's colour: a strong red over the viridis notes.
const CURVE: RGBColor = RGBColor(215, 40, 40);

fn draw_frame(
    notes: &[NoteEvent],
    duration_s: f64,
    overlay: Option<&PitchOverlay>,
) -> Result<Frame, PianorollError> {
    if !font_ready() {
        return Err(PianorollError::Font);
    }
    let Layout {
        notes: drawn,
        skipped,
        x_end_s,
        pitches,
        width,
    } = layout(notes, duration_s);
    let height = HEIGHT;
    let mut rgb = vec![0u8; width as usize * height as usize * 3];

    let coord = {
        let backend = BitMapBackend::<RGBPixel>::with_buffer_and_format(&mut rgb, (width, height))
            .map_err(draw_error)?;
        let root = backend.into_drawing_area();
        root.fill(&BACKGROUND).map_err(draw_error)?;

        let mut title = match overlay {
            Some(o) => o.title.clone(),
            None => format!(
                "Coda transcription: {} note{}",
                notes.len(),
                if notes.len() == 1 { "" } else { "s" }
            ),
        };
        if skipped > 0 {
            title.push_str(&format!(" ({skipped} not drawn: invalid times)"));
        }

        let mut chart = ChartBuilder::on(&root)
            .caption(title, (FONT_FAMILY, 30).into_font().color(&TEXT))
            .margin(20)
            .margin_right(40)
            .x_label_area_size(70)
            .y_label_area_size(90)
            .build_cartesian_2d(0.0..x_end_s, pitches.clone())
            .map_err(draw_error)?;

        let (lo, hi) = (pitches.lo.ceil() as i32, pitches.hi.floor() as i32);
        chart
            .draw_series((lo..=hi).filter(|p| is_black_key(*p)).map(|p| {
                let p = f64::from(p);
                Rectangle::new([(0.0, p - 0.5), (x_end_s, p + 0.5)], BLACK_KEY_ROW.filled())
            }))
            .map_err(draw_error)?;
        // A line under every C marks the octaves.
        chart
            .draw_series((lo..=hi).filter(|p| p.rem_euclid(12) == 0).map(|p| {
                let y = f64::from(p) - 0.5;
                PathElement::new(vec![(0.0, y), (x_end_s, y)], OCTAVE_LINE)
            }))
            .map_err(draw_error)?;

        let label_font = (FONT_FAMILY, 16).into_font().color(&TEXT);
        let desc_font = (FONT_FAMILY, 20).into_font().color(&TEXT);
        chart
            .configure_mesh()
            // Horizontal lines would cut through the note rows; the shading does that job.
            .disable_y_mesh()
            .bold_line_style(GRID_LINE)
            .max_light_lines(0)
            .x_labels((width / 100) as usize)
            .y_labels(16)
            .x_label_formatter(&seconds_label)
            .label_style(label_font)
            .axis_desc_style(desc_font)
            .axis_style(TEXT)
            .x_desc("time (s)")
            .y_desc("pitch")
            .draw()
            .map_err(draw_error)?;

        // Filled rectangles are half-open in pixels, so a note shorter than a pixel would vanish:
        // every note gets at least one pixel of width.
        let (plot_w, plot_h) = chart.plotting_area().dim_in_pixel();
        let s_per_px = x_end_s / f64::from(plot_w.max(1));
        let row_px = f64::from(plot_h) / (pitches.hi - pitches.lo);
        let half = NOTE_HEIGHT / 2.0;
        let span = |n: &DrawnNote| {
            let end = n.end_s.max(n.start_s + s_per_px).min(x_end_s);
            (n.start_s.min(end - s_per_px).max(0.0), end)
        };
        chart
            .draw_series(drawn.iter().map(|n| {
                let (start, end) = span(n);
                let p = f64::from(n.pitch);
                Rectangle::new(
                    [(start, p - half), (end, p + half)],
                    velocity_colour(n.velocity).filled(),
                )
            }))
            .map_err(draw_error)?;
        // Outlines only where there is room for them: on a tiny note they would hide its colour.
        if row_px >= 6.0 {
            chart
                .draw_series(
                    drawn
                        .iter()
                        .filter(|n| (n.end_s - n.start_s) / s_per_px >= 4.0)
                        .map(|n| {
                            let p = f64::from(n.pitch);
                            Rectangle::new(
                                [(n.start_s, p - half), (n.end_s, p + half)],
                                outline_colour(velocity_colour(n.velocity)),
                            )
                        }),
                )
                .map_err(draw_error)?;
        }

        if let Some(o) = overlay {
            // One line per voiced stretch; points off the pitch axis are clamped to its edge.
            let mut run: Vec<(f64, f64)> = Vec::new();
            let mut runs: Vec<Vec<(f64, f64)>> = Vec::new();
            for &(t, m) in o.curve {
                if t.is_finite() && m.is_finite() && (0.0..=x_end_s).contains(&t) {
                    run.push((t, m.clamp(pitches.lo, pitches.hi)));
                } else if !run.is_empty() {
                    runs.push(std::mem::take(&mut run));
                }
            }
            if !run.is_empty() {
                runs.push(run);
            }
            for r in runs {
                chart
                    .draw_series(std::iter::once(PathElement::new(r, CURVE.stroke_width(2))))
                    .map_err(draw_error)?;
            }
        }
        draw_legend(&root, width)?;
        root.present().map_err(draw_error)?;
        chart.as_coord_spec().clone()
    };

    Ok(Frame {
        width,
        height,
        rgb,
        coord,
    })
}

/// The velocity colour scale, top right, level with the title.
fn draw_legend(
    root: &DrawingArea<BitMapBackend<'_, RGBPixel>, plotters::coord::Shift>,
    width: u32,
) -> Result<(), PianorollError> {
    const BAR_W: i32 = 200;
    const BAR_H: i32 = 14;
    const TOP: i32 = 22;
    let right = width as i32 - 40;
    let left = right - BAR_W;
    for x in 0..BAR_W {
        let v = (x * 127 / (BAR_W - 1)) as u8;
        root.draw(&Rectangle::new(
            [(left + x, TOP), (left + x + 1, TOP + BAR_H)],
            velocity_colour(v).filled(),
        ))
        .map_err(draw_error)?;
    }
    root.draw(&Rectangle::new([(left, TOP), (right, TOP + BAR_H)], TEXT))
        .map_err(draw_error)?;
    let font = (FONT_FAMILY, 14).into_font().color(&TEXT);
    root.draw(&Text::new("velocity", (left - 70, TOP), font.clone()))
        .map_err(draw_error)?;
    root.draw(&Text::new("0", (left, TOP + BAR_H + 4), font.clone()))
        .map_err(draw_error)?;
    root.draw(&Text::new("127", (right - 22, TOP + BAR_H + 4), font))
        .map_err(draw_error)?;
    Ok(())
}

pub(crate) fn encode_png(rgb: &[u8], width: u32, height: u32) -> Result<Vec<u8>, PianorollError> {
    let encode_error = |e: png::EncodingError| PianorollError::Encode(e.to_string());
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    // Flat colour areas compress well even at the fast setting, and it keeps workers quick.
    encoder.set_compression(png::Compression::Fast);
    let mut writer = encoder.write_header().map_err(encode_error)?;
    writer.write_image_data(rgb).map_err(encode_error)?;
    writer.finish().map_err(encode_error)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note(start_s: f64, end_s: f64, pitch_midi: u8, velocity: u8) -> NoteEvent {
        NoteEvent {
            start_s,
            end_s,
            pitch_midi,
            velocity,
            amplitude: f64::from(velocity) / 127.0,
            pitch_bends: Vec::new(),
        }
    }

    /// Width, height and packed RGB of a PNG.
    fn decode(png_bytes: &[u8]) -> (u32, u32, Vec<u8>) {
        let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
        let mut reader = decoder.read_info().expect("PNG header");
        let mut buf = vec![0; reader.output_buffer_size().expect("buffer size")];
        let info = reader.next_frame(&mut buf).expect("PNG frame");
        assert_eq!(info.color_type, png::ColorType::Rgb);
        assert_eq!(info.bit_depth, png::BitDepth::Eight);
        buf.truncate(info.buffer_size());
        (info.width, info.height, buf)
    }

    fn pixel(rgb: &[u8], width: u32, (x, y): (i32, i32)) -> (u8, u8, u8) {
        let i = (y as usize * width as usize + x as usize) * 3;
        (rgb[i], rgb[i + 1], rgb[i + 2])
    }

    fn is_dark((r, g, b): (u8, u8, u8)) -> bool {
        r < 100 && g < 100 && b < 100
    }

    fn dark_pixels(rgb: &[u8], width: u32, xs: Range<u32>, ys: Range<u32>) -> usize {
        ys.flat_map(|y| xs.clone().map(move |x| (x as i32, y as i32)))
            .filter(|&p| is_dark(pixel(rgb, width, p)))
            .count()
    }

    fn sample_notes() -> Vec<NoteEvent> {
        vec![
            note(0.5, 1.5, 60, 100),
            note(1.5, 2.0, 64, 60),
            note(2.0, 3.5, 67, 127),
            note(4.0, 6.0, 72, 20),
            note(4.0, 6.0, 55, 90),
        ]
    }

    #[test]
    fn renders_a_png_of_the_layout_size() {
        let png_bytes = render_pianoroll(&sample_notes(), 8.0).unwrap();
        assert_eq!(&png_bytes[..8], b"\x89PNG\r\n\x1a\n");
        let (w, h, rgb) = decode(&png_bytes);
        assert_eq!((w, h), (MIN_WIDTH, HEIGHT));
        assert_eq!(rgb.len(), (w * h * 3) as usize);
    }

    #[test]
    fn notes_are_drawn_and_empty_rows_are_not() {
        let notes = sample_notes();
        let frame = draw_frame(&notes, 8.0, None).unwrap();
        let png_bytes = encode_png(&frame.rgb, frame.width, frame.height).unwrap();
        let (w, _, rgb) = decode(&png_bytes);
        assert_eq!(rgb, frame.rgb, "the PNG holds exactly the drawn pixels");

        for n in &notes {
            let mid = frame
                .coord
                .translate(&((n.start_s + n.end_s) / 2.0, f64::from(n.pitch_midi)));
            assert_eq!(
                pixel(&rgb, w, mid),
                {
                    let c = velocity_colour(n.velocity);
                    (c.0, c.1, c.2)
                },
                "middle of the note at {} s, pitch {}",
                n.start_s,
                n.pitch_midi
            );
        }
        // D4 is a white key with no note: nothing but background there, between grid lines.
        let empty = frame.coord.translate(&(7.3, 62.2));
        assert_eq!(pixel(&rgb, w, empty), (255, 255, 255));
        // C#4, also empty, is shaded as a black key, which is not the note colour either.
        let shaded = frame.coord.translate(&(7.3, 61.0));
        assert_eq!(pixel(&rgb, w, shaded), (238, 238, 242));
    }

    #[test]
    fn louder_notes_get_another_colour() {
        assert_ne!(velocity_colour(10), velocity_colour(120));
        assert_eq!(velocity_colour(127), velocity_colour(255));
    }

    #[test]
    fn text_is_drawn() {
        let frame = draw_frame(&sample_notes(), 8.0, None).unwrap();
        let (w, h, rgb) = (frame.width, frame.height, &frame.rgb);
        // Title, centred above the plot.
        assert!(dark_pixels(rgb, w, w / 2 - 200..w / 2 + 200, 0..50) > 200);
        // "time (s)", centred under the tick labels.
        assert!(dark_pixels(rgb, w, w / 2 - 100..w / 2 + 100, h - 45..h - 15) > 50);
        // "pitch", rotated, at the left edge.
        assert!(dark_pixels(rgb, w, 15..45, h / 2 - 80..h / 2 + 40) > 50);
        // Tick labels: note names left of the plot.
        let c4 = frame.coord.translate(&(0.0, 60.0));
        let label_rows = (c4.1 - 10).max(0) as u32..(c4.1 + 10) as u32;
        assert!(dark_pixels(rgb, w, 50..(c4.0 - 6) as u32, label_rows) > 20);
    }

    #[test]
    fn an_empty_transcription_still_renders() {
        let (w, h, rgb) = decode(&render_pianoroll(&[], 0.0).unwrap());
        assert_eq!((w, h), (MIN_WIDTH, HEIGHT));
        assert!(dark_pixels(&rgb, w, w / 2 - 200..w / 2 + 200, 0..50) > 100);
    }

    #[test]
    fn hostile_inputs_do_not_panic() {
        let nan = f64::NAN;
        let inf = f64::INFINITY;
        let cases: Vec<(Vec<NoteEvent>, f64)> = vec![
            (vec![note(nan, 1.0, 60, 100)], 5.0),
            (vec![note(0.0, nan, 60, 100)], 5.0),
            (vec![note(0.0, inf, 60, 100)], 5.0),
            (vec![note(-inf, 1.0, 60, 100)], 5.0),
            (vec![note(2.0, 1.0, 60, 100)], 5.0),
            (vec![note(-3.0, -1.0, 60, 100)], 5.0),
            (vec![note(-1.0, 1.0, 60, 100)], 5.0),
            (vec![note(1.0, 1.0, 60, 100)], 0.0),
            (vec![note(0.0, 1e300, 60, 100)], 5.0),
            (vec![note(1e300, 1e301, 60, 100)], 5.0),
            (vec![note(0.0, 1.0, 0, 0), note(1.0, 2.0, 127, 127)], 2.0),
            (vec![note(0.0, 1.0, 255, 255)], 2.0),
            (vec![note(0.0, 1.0, 0, 255), note(0.0, 1.0, 255, 0)], 2.0),
            (vec![note(0.0, 1.0, 60, 100)], nan),
            (vec![note(0.0, 1.0, 60, 100)], inf),
            (vec![note(0.0, 1.0, 60, 100)], -inf),
            (vec![note(0.0, 1.0, 60, 100)], -5.0),
            (vec![note(0.0, 1e-12, 60, 100)], 1e-12),
            (vec![], nan),
            (vec![], 1e300),
            (vec![], f64::MIN_POSITIVE),
        ];
        for (notes, duration) in cases {
            match render_pianoroll(&notes, duration) {
                Ok(png_bytes) => {
                    let (w, h, _) = decode(&png_bytes);
                    assert!((MIN_WIDTH..=MAX_WIDTH).contains(&w));
                    assert_eq!(h, HEIGHT);
                }
                Err(e) => assert!(!e.to_string().is_empty()),
            }
        }
    }

    #[test]
    fn invalid_notes_are_counted_not_drawn() {
        let l = layout(
            &[
                note(f64::NAN, 1.0, 60, 1),
                note(2.0, 1.0, 60, 1),
                note(0.0, 1.0, 60, 1),
            ],
            1.0,
        );
        assert_eq!(l.notes.len(), 1);
        assert_eq!(l.skipped, 2);
    }

    #[test]
    fn long_pieces_widen_the_image_up_to_a_cap() {
        assert_eq!(layout(&[], 10.0).width, MIN_WIDTH);
        let two_min = layout(&[], 120.0).width;
        assert!(two_min > MIN_WIDTH && two_min < MAX_WIDTH);
        assert_eq!(layout(&[], 3600.0).width, MAX_WIDTH);
        // A single absurd note end is capped, not followed.
        assert_eq!(layout(&[note(0.0, 1e300, 60, 1)], 1.0).x_end_s, MAX_SPAN_S);
    }

    #[test]
    fn an_hour_with_100k_notes_renders() {
        // Deterministic pseudo-random notes spread over the hour and the piano.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let notes: Vec<NoteEvent> = (0..100_000)
            .map(|_| {
                let start = (next() % 3_600_000) as f64 / 1000.0;
                let len = (next() % 2000) as f64 / 1000.0;
                note(
                    start,
                    start + len,
                    21 + (next() % 88) as u8,
                    (next() % 128) as u8,
                )
            })
            .collect();
        let (w, h, _) = decode(&render_pianoroll(&notes, 3600.0).unwrap());
        assert_eq!((w, h), (MAX_WIDTH, HEIGHT));
    }

    #[test]
    fn pitch_axis_labels_are_note_names() {
        assert_eq!(note_name(60), "C4");
        assert_eq!(note_name(69), "A4");
        assert_eq!(note_name(21), "A0");
        assert_eq!(note_name(108), "C8");
        assert_eq!(note_name(0), "C-1");
        assert_eq!(note_name(-2), "A#-2");
        let axis = PitchAxis { lo: 47.5, hi: 84.5 };
        let ticks = axis.key_points(12usize);
        assert!(ticks.contains(&60.0) && ticks.contains(&64.0));
        assert!(ticks.iter().all(|t| (*t as i32).rem_euclid(4) == 0));
        // Hugely wide ranges still give a handful of ticks.
        let wide = PitchAxis {
            lo: -0.5,
            hi: 257.5,
        };
        assert!(wide.key_points(30usize).len() <= 30);
    }

    #[test]
    fn seconds_labels_drop_trailing_zeros() {
        assert_eq!(seconds_label(&0.0), "0");
        assert_eq!(seconds_label(&2.5), "2.5");
        assert_eq!(seconds_label(&0.25), "0.25");
        assert_eq!(seconds_label(&120.0), "120");
    }
}
