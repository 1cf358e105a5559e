//! `stems.png`: the mixture and each separated stem as stacked waveform envelopes.
//!
//! Text, grid and axis go through plotters' bitmap backend like the piano roll; the envelopes
//! are painted straight into the RGB buffer afterwards, one column of pixels at a time, since
//! that is both exact and far cheaper than thousands of plotters elements.

use plotters::backend::RGBPixel;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::pianoroll::{encode_png, font_ready, seconds_label};

/// Image width in pixels.
const WIDTH: u32 = 1200;
/// Height of each waveform row.
const ROW_H: u32 = 140;
/// Space for the title above the rows.
const TOP: u32 = 50;
/// Space for the time axis below the rows.
const BOTTOM: u32 = 64;
/// Space for the row labels left of the rows.
const LEFT: u32 = 130;
/// Margin right of the rows.
const RIGHT: u32 = 30;
/// Gap between a row's edge and its loudest peak.
const ROW_PAD: u32 = 10;
/// Most rows (mixture included): the image grows with each one.
const MAX_ROWS: usize = 16;
/// Longest stem name drawn, in characters.
const MAX_NAME_CHARS: usize = 20;
/// Samples beyond this magnitude (+12 dBFS) are drawn as this: float stems may overshoot full
/// scale a little, but one absurd value must not flatten every row on the common scale.
const CLIP: f32 = 4.0;
/// Smallest full-row amplitude, about -60 dBFS, so that near-silence is not blown up to fill
/// the rows.
const MIN_SCALE: f32 = 1.0 / 1024.0;
/// Most time-axis ticks.
const MAX_TICKS: f64 = 12.0;

const BACKGROUND: RGBColor = RGBColor(255, 255, 255);
const TEXT: RGBColor = RGBColor(25, 25, 35);
const SUBTLE_TEXT: RGBColor = RGBColor(100, 100, 112);
const GRID_LINE: RGBColor = RGBColor(225, 225, 232);
const ZERO_LINE: RGBColor = RGBColor(200, 200, 210);
const ROW_RULE: RGBColor = RGBColor(190, 190, 200);

const MIXTURE_COLOUR: RGBColor = RGBColor(70, 70, 85);
/// Colours for stems without a colour of their own, in order.
const PALETTE: [RGBColor; 6] = [
    RGBColor(176, 122, 161),
    RGBColor(118, 183, 178),
    RGBColor(237, 201, 72),
    RGBColor(156, 117, 95),
    RGBColor(255, 157, 167),
    RGBColor(186, 176, 172),
];

/// Draws the mixture and each stem as stacked waveform envelopes over a shared, labelled time axis.
pub fn render_stems(
    mixture: &[f32],
    stems: &[(&str, &[f32])],
    channels: u16,
    sample_rate: u32,
) -> Result<Vec<u8>, String> {
    let frame = draw(mixture, stems, channels, sample_rate)?;
    encode_png(&frame.rgb, frame.width, frame.height).map_err(|e| e.to_string())
}

/// A drawn, not yet encoded, picture.
struct Frame {
    width: u32,
    height: u32,
    /// Packed RGB, row by row.
    rgb: Vec<u8>,
}

/// One waveform row's summary: per pixel column, None past the end of its signal.
struct Envelope {
    columns: Vec<Option<Column>>,
    /// Largest magnitude over the whole signal, after clipping to `CLIP`.
    peak: f32,
}

#[derive(Clone, Copy)]
struct Column {
    lo: f32,
    hi: f32,
    rms: f32,
}

/// Min, max and RMS of every sample (all channels) falling into each of `width` columns, which
/// split `total_frames` evenly. One pass over the signal; NaN and infinities count as 0, and
/// magnitudes clip at `CLIP`.
fn envelope(samples: &[f32], channels: usize, total_frames: usize, width: usize) -> Envelope {
    let frames = samples.len() / channels;
    let mut columns = Vec::with_capacity(width);
    let mut peak = 0.0f32;
    for x in 0..width {
        let start = x * total_frames / width;
        // Fewer frames than columns: every column still shows the frame it falls on.
        let end = ((x + 1) * total_frames / width).max(start + 1).min(frames);
        if start >= frames {
            columns.push(None);
            continue;
        }
        let column = summarise(&samples[start * channels..end * channels]);
        peak = peak.max(-column.lo).max(column.hi);
        columns.push(Some(column));
    }
    Envelope { columns, peak }
}

/// Lanes summarised side by side: independent accumulators let the compiler use SIMD, which a
/// single running min, max and sum (a serial dependency) would not.
const LANES: usize = 16;

fn summarise(samples: &[f32]) -> Column {
    // Written as compares and selects so that every step maps onto a vector instruction.
    fn clean(s: f32) -> f32 {
        let clipped = s.clamp(-CLIP, CLIP);
        // False for NaN as well as for both infinities.
        if s.abs() < f32::INFINITY {
            clipped
        } else {
            0.0
        }
    }
    let mut lo = [f32::INFINITY; LANES];
    let mut hi = [f32::NEG_INFINITY; LANES];
    let mut sum_sq = [0.0f32; LANES];
    let chunks = samples.chunks_exact(LANES);
    let tail = chunks.remainder();
    for chunk in chunks {
        for i in 0..LANES {
            let s = clean(chunk[i]);
            lo[i] = if s < lo[i] { s } else { lo[i] };
            hi[i] = if s > hi[i] { s } else { hi[i] };
            sum_sq[i] += s * s;
        }
    }
    for (i, &s) in tail.iter().enumerate() {
        let s = clean(s);
        lo[i] = lo[i].min(s);
        hi[i] = hi[i].max(s);
        sum_sq[i] += s * s;
    }
    let lo = lo.into_iter().fold(f32::INFINITY, f32::min);
    let hi = hi.into_iter().fold(f32::NEG_INFINITY, f32::max);
    let sum_sq: f32 = sum_sq.into_iter().sum();
    Column {
        lo,
        hi,
        rms: (sum_sq / samples.len() as f32).sqrt(),
    }
}

/// Image height for `rows` rows.
fn image_height(rows: usize) -> u32 {
    TOP + rows as u32 * ROW_H + BOTTOM
}

/// Width of the waveform area in pixels.
fn plot_width() -> u32 {
    WIDTH - LEFT - RIGHT
}

/// Top pixel row of waveform row `i`.
fn row_top(i: usize) -> u32 {
    TOP + i as u32 * ROW_H
}

fn stem_colour(name: &str, index: usize) -> RGBColor {
    match name.trim().to_ascii_lowercase().as_str() {
        "mixture" | "mix" => MIXTURE_COLOUR,
        "vocals" | "vocal" => RGBColor(225, 87, 89),
        "drums" => RGBColor(242, 142, 43),
        "bass" => RGBColor(78, 121, 167),
        "other" => RGBColor(89, 161, 79),
        _ => PALETTE[index % PALETTE.len()],
    }
}

/// Halfway to white: the min/max band, with the RMS band inside it in the full colour.
fn light(c: RGBColor) -> RGBColor {
    let mix = |v: u8| ((u16::from(v) + 255) / 2) as u8;
    RGBColor(mix(c.0), mix(c.1), mix(c.2))
}

/// Darker, for the label text.
fn dark(c: RGBColor) -> RGBColor {
    RGBColor(
        (u16::from(c.0) * 3 / 4) as u8,
        (u16::from(c.1) * 3 / 4) as u8,
        (u16::from(c.2) * 3 / 4) as u8,
    )
}

/// At most `MAX_NAME_CHARS` printable characters, so a hostile name cannot spill over the rows.
fn display_name(name: &str) -> String {
    let clean: String = name.chars().filter(|c| !c.is_control()).collect();
    if clean.chars().count() > MAX_NAME_CHARS {
        let mut short: String = clean.chars().take(MAX_NAME_CHARS - 1).collect();
        short.push('…');
        short
    } else {
        clean
    }
}

fn peak_label(peak: f32) -> String {
    if peak > 0.0 {
        format!("peak {:.1} dBFS", 20.0 * peak.log10())
    } else {
        "silent".to_string()
    }
}

/// Time-axis label: plain seconds under a minute, then m:ss, then h:mm:ss.
fn time_label(t: f64, span_s: f64) -> String {
    if span_s < 0.1 {
        // Ticks a few milliseconds apart, which two decimals would print as the same label.
        let text = format!("{t:.3}");
        return text.trim_end_matches('0').trim_end_matches('.').to_string();
    }
    if span_s < 60.0 {
        return seconds_label(&t);
    }
    let total = t.round() as u64;
    let (h, m, s) = (total / 3600, total / 60 % 60, total % 60);
    if span_s < 3600.0 {
        format!("{}:{s:02}", total / 60)
    } else {
        format!("{h}:{m:02}:{s:02}")
    }
}

/// Tick spacing in seconds: the smallest round step giving at most `MAX_TICKS` intervals.
fn tick_step(span_s: f64) -> f64 {
    const STEPS: [f64; 21] = [
        0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 30.0,
        60.0, 120.0, 300.0, 600.0, 900.0, 1800.0,
    ];
    STEPS
        .into_iter()
        .find(|step| span_s / step <= MAX_TICKS)
        .unwrap_or_else(|| (span_s / MAX_TICKS / 3600.0).ceil() * 3600.0)
}

fn draw_error(e: impl std::fmt::Display) -> String {
    format!("drawing the stems picture failed: {e}")
}

fn draw(
    mixture: &[f32],
    stems: &[(&str, &[f32])],
    channels: u16,
    sample_rate: u32,
) -> Result<Frame, String> {
    if channels == 0 {
        return Err("cannot draw stems with 0 channels".to_string());
    }
    if sample_rate == 0 {
        return Err("cannot draw stems with a sample rate of 0 Hz".to_string());
    }
    if stems.len() + 1 > MAX_ROWS {
        return Err(format!(
            "cannot draw {} stems: at most {} fit in one picture",
            stems.len(),
            MAX_ROWS - 1
        ));
    }
    if !font_ready() {
        return Err("the embedded font for the stems picture could not be loaded".to_string());
    }
    let ch = usize::from(channels);
    let rows: Vec<(String, RGBColor, &[f32])> = std::iter::once(("mixture", mixture))
        .chain(stems.iter().copied())
        .enumerate()
        .map(|(i, (name, samples))| (display_name(name), stem_colour(name, i), samples))
        .collect();
    // Mismatched lengths share one axis, as long as the longest signal.
    let total_frames = rows.iter().map(|r| r.2.len() / ch).max().unwrap_or(0);
    let span_s = total_frames as f64 / f64::from(sample_rate);
    let axis_s = if span_s > 0.0 { span_s } else { 1.0 };

    let width = WIDTH;
    let height = image_height(rows.len());
    let plot_w = plot_width() as usize;
    // Ten minutes of stereo at 48 kHz is 58 M samples per row: rows go in parallel.
    let envelopes: Vec<Envelope> = coda_dsp::parallel::map("envelope", &rows, rows.len(), |r| {
        envelope(r.2, ch, total_frames, plot_w)
    })
    .map_err(draw_error)?;
    let peak = envelopes.iter().map(|e| e.peak).fold(0.0f32, f32::max);
    let scale = peak.max(MIN_SCALE);

    let mut rgb = vec![0u8; width as usize * height as usize * 3];
    {
        let backend = BitMapBackend::<RGBPixel>::with_buffer_and_format(&mut rgb, (width, height))
            .map_err(draw_error)?;
        let root = backend.into_drawing_area();
        root.fill(&BACKGROUND).map_err(draw_error)?;
        draw_chrome(
            &root,
            &rows,
            &envelopes,
            axis_s,
            total_frames,
            channels,
            sample_rate,
        )?;
        root.present().map_err(draw_error)?;
    }
    for (i, (env, row)) in envelopes.iter().zip(&rows).enumerate() {
        paint_envelope(&mut rgb, width, row_top(i), env, row.1, scale);
    }
    Ok(Frame { width, height, rgb })
}

/// Everything but the envelopes: title, row labels, rules, grid and time axis.
fn draw_chrome(
    root: &DrawingArea<BitMapBackend<'_, RGBPixel>, plotters::coord::Shift>,
    rows: &[(String, RGBColor, &[f32])],
    envelopes: &[Envelope],
    axis_s: f64,
    total_frames: usize,
    channels: u16,
    sample_rate: u32,
) -> Result<(), String> {
    let family = FontFamily::SansSerif;
    let left = LEFT as i32;
    let right = (WIDTH - RIGHT) as i32;
    let bottom = row_top(rows.len()) as i32;
    let plot_w = f64::from(plot_width());
    let x_of = |t: f64| left + (t / axis_s * plot_w).round() as i32;

    let duration = total_frames as f64 / f64::from(sample_rate);
    let length = if duration < 60.0 {
        format!("{duration:.1} s")
    } else {
        time_label(duration, duration)
    };
    let title = format!(
        "Coda stems: {length}, {} Hz, {} channel{}",
        sample_rate,
        channels,
        if channels == 1 { "" } else { "s" }
    );
    root.draw(&Text::new(
        title,
        (left, 14),
        (family, 22).into_font().color(&TEXT),
    ))
    .map_err(draw_error)?;

    let step = tick_step(axis_s);
    let ticks: Vec<f64> = (0..)
        .map(|k| f64::from(k) * step)
        .take_while(|t| *t <= axis_s * (1.0 + 1e-9))
        .collect();
    for &t in &ticks {
        let x = x_of(t);
        root.draw(&PathElement::new(
            vec![(x, TOP as i32), (x, bottom)],
            GRID_LINE,
        ))
        .map_err(draw_error)?;
        root.draw(&PathElement::new(vec![(x, bottom), (x, bottom + 6)], TEXT))
            .map_err(draw_error)?;
        let style = (family, 14)
            .into_font()
            .color(&TEXT)
            .pos(Pos::new(HPos::Center, VPos::Top));
        root.draw(&Text::new(time_label(t, axis_s), (x, bottom + 9), style))
            .map_err(draw_error)?;
    }
    let unit = if axis_s < 60.0 {
        "time (s)"
    } else if axis_s < 3600.0 {
        "time (m:ss)"
    } else {
        "time (h:mm:ss)"
    };
    let desc = (family, 15)
        .into_font()
        .color(&SUBTLE_TEXT)
        .pos(Pos::new(HPos::Center, VPos::Top));
    root.draw(&Text::new(unit, ((left + right) / 2, bottom + 34), desc))
        .map_err(draw_error)?;

    for (i, ((name, colour, _), env)) in rows.iter().zip(envelopes).enumerate() {
        let top = row_top(i) as i32;
        let mid = top + (ROW_H / 2) as i32;
        root.draw(&PathElement::new(vec![(left, top), (right, top)], ROW_RULE))
            .map_err(draw_error)?;
        root.draw(&PathElement::new(
            vec![(left, mid), (right, mid)],
            ZERO_LINE,
        ))
        .map_err(draw_error)?;
        let name_style = (family, 18).into_font().color(&dark(*colour));
        root.draw(&Text::new(name.clone(), (12, mid - 22), name_style))
            .map_err(draw_error)?;
        root.draw(&Text::new(
            peak_label(env.peak),
            (12, mid + 2),
            (family, 13).into_font().color(&SUBTLE_TEXT),
        ))
        .map_err(draw_error)?;
    }
    root.draw(&PathElement::new(
        vec![(left, bottom), (right, bottom)],
        TEXT,
    ))
    .map_err(draw_error)?;
    Ok(())
}

/// Paints one row's envelope: the min/max band in a light shade, the RMS band over it.
fn paint_envelope(
    rgb: &mut [u8],
    width: u32,
    top: u32,
    env: &Envelope,
    colour: RGBColor,
    scale: f32,
) {
    let half = (ROW_H / 2 - ROW_PAD) as f32;
    let mid = (top + ROW_H / 2) as i64;
    let y_of = |v: f32| mid - (v / scale * half).round() as i64;
    let light = light(colour);
    let mut paint = |x: u32, y0: i64, y1: i64, c: RGBColor| {
        // Every column gets at least a pixel, so a flat stretch still reads as a line.
        let lo = y0.min(y1).max(i64::from(top));
        let hi = y0.max(y1).min(i64::from(top + ROW_H - 1));
        for y in lo..=hi {
            let i = (y as usize * width as usize + x as usize) * 3;
            rgb[i..i + 3].copy_from_slice(&[c.0, c.1, c.2]);
        }
    };
    for (dx, column) in env.columns.iter().enumerate() {
        let Some(c) = column else { continue };
        let x = LEFT + dx as u32;
        paint(x, y_of(c.hi), y_of(c.lo), light);
        let (band_lo, band_hi) = ((-c.rms).max(c.lo), c.rms.min(c.hi));
        if band_lo <= band_hi {
            paint(x, y_of(band_hi), y_of(band_lo), colour);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Width, height and packed RGB of a PNG.
    fn decode(png_bytes: &[u8]) -> (u32, u32, Vec<u8>) {
        let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
        let mut reader = decoder.read_info().expect("PNG header");
        let mut buf = vec![0; reader.output_buffer_size().expect("buffer size")];
        let info = reader.next_frame(&mut buf).expect("PNG frame");
        assert_eq!(info.color_type, png::ColorType::Rgb);
        buf.truncate(info.buffer_size());
        (info.width, info.height, buf)
    }

    fn pixel(rgb: &[u8], width: u32, x: u32, y: u32) -> (u8, u8, u8) {
        let i = (y as usize * width as usize + x as usize) * 3;
        (rgb[i], rgb[i + 1], rgb[i + 2])
    }

    /// Pixels of row `i`'s waveform area that are neither background nor its guide lines.
    fn inked(rgb: &[u8], width: u32, i: usize, xs: std::ops::Range<u32>) -> usize {
        let plain = [
            (BACKGROUND.0, BACKGROUND.1, BACKGROUND.2),
            (GRID_LINE.0, GRID_LINE.1, GRID_LINE.2),
            (ZERO_LINE.0, ZERO_LINE.1, ZERO_LINE.2),
            (ROW_RULE.0, ROW_RULE.1, ROW_RULE.2),
        ];
        (row_top(i) + 1..row_top(i) + ROW_H)
            .flat_map(|y| xs.clone().map(move |x| (x, y)))
            .filter(|&(x, y)| !plain.contains(&pixel(rgb, width, x, y)))
            .count()
    }

    /// Tallest run of inked pixels in one column of row `i`.
    fn column_height(rgb: &[u8], width: u32, i: usize, x: u32) -> u32 {
        (row_top(i) + 1..row_top(i) + ROW_H)
            .filter(|&y| pixel(rgb, width, x, y) != (255, 255, 255))
            .filter(|&y| {
                let p = pixel(rgb, width, x, y);
                p != (ZERO_LINE.0, ZERO_LINE.1, ZERO_LINE.2)
                    && p != (GRID_LINE.0, GRID_LINE.1, GRID_LINE.2)
            })
            .count() as u32
    }

    fn plot_xs() -> std::ops::Range<u32> {
        LEFT..WIDTH - RIGHT
    }

    fn is_dark((r, g, b): (u8, u8, u8)) -> bool {
        r < 120 && g < 120 && b < 120
    }

    /// Deterministic noise in [-amp, amp], interleaved stereo, `seconds` long at `rate`.
    fn noise(seconds: f64, rate: u32, amp: f32, seed: u64) -> Vec<f32> {
        let n = (seconds * f64::from(rate)) as usize * 2;
        let mut x = seed;
        (0..n)
            .map(|_| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((x >> 40) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0) * amp
            })
            .collect()
    }

    struct Fixture {
        mixture: Vec<f32>,
        vocals: Vec<f32>,
        drums: Vec<f32>,
        bass: Vec<f32>,
        other: Vec<f32>,
    }

    fn fixture() -> Fixture {
        let vocals = noise(4.0, 8000, 0.8, 1);
        let drums = noise(4.0, 8000, 0.1, 2);
        let bass = vec![0.0; vocals.len()];
        let other = noise(4.0, 8000, 0.4, 3);
        let mixture = (0..vocals.len())
            .map(|i| (vocals[i] + drums[i] + bass[i] + other[i]) * 0.7)
            .collect();
        Fixture {
            mixture,
            vocals,
            drums,
            bass,
            other,
        }
    }

    fn render(f: &Fixture) -> Result<Vec<u8>, String> {
        render_stems(
            &f.mixture,
            &[
                ("vocals", &f.vocals),
                ("drums", &f.drums),
                ("bass", &f.bass),
                ("other", &f.other),
            ],
            2,
            8000,
        )
    }

    #[test]
    fn renders_a_png_of_the_expected_size() {
        let png_bytes = render(&fixture()).unwrap();
        assert_eq!(&png_bytes[..8], b"\x89PNG\r\n\x1a\n");
        let (w, h, rgb) = decode(&png_bytes);
        assert_eq!((w, h), (1200, TOP + 5 * 140 + BOTTOM));
        assert_eq!(rgb.len(), (w * h * 3) as usize);
    }

    #[test]
    fn loud_rows_are_inked_and_a_silent_row_is_not() {
        let (w, _, rgb) = decode(&render(&fixture()).unwrap());
        let area = (plot_width() * (ROW_H - 1)) as usize;
        for (row, name) in [(0, "mixture"), (1, "vocals"), (4, "other")] {
            let n = inked(&rgb, w, row, plot_xs());
            assert!(n > area / 4, "{name}: {n} of {area} pixels inked");
        }
        // bass is all zeros: one flat line of pixels at most.
        let silent = inked(&rgb, w, 3, plot_xs());
        assert!(
            silent <= plot_width() as usize,
            "silent row: {silent} pixels inked"
        );
        // Each row in its own colour.
        let mid = |row: usize| row_top(row) + ROW_H / 2;
        let x = LEFT + plot_width() / 2;
        assert_ne!(pixel(&rgb, w, x, mid(1)), pixel(&rgb, w, x, mid(2)));
        assert_ne!(pixel(&rgb, w, x, mid(1)), pixel(&rgb, w, x, mid(4)));
    }

    #[test]
    fn rows_share_one_amplitude_scale() {
        let (w, _, rgb) = decode(&render(&fixture()).unwrap());
        let x = LEFT + plot_width() / 3;
        let full = ROW_H - 2 * ROW_PAD;
        // The tallest of 100 columns, since any one column holds only a few dozen frames.
        let tallest = |row| (x..x + 100).map(|x| column_height(&rgb, w, row, x)).max();
        let (mixture, vocals, drums) = (
            tallest(0).unwrap(),
            tallest(1).unwrap(),
            tallest(2).unwrap(),
        );
        // The mixture peaks near 0.9 and is the loudest signal, so it fills its row.
        assert!(mixture >= full * 9 / 10, "mixture {mixture} px");
        assert!(vocals >= full * 8 / 10, "vocals {vocals} px");
        // drums are 8 times quieter and must look it.
        assert!(drums * 5 < vocals, "drums {drums} px vs vocals {vocals} px");
        assert!(drums >= 2);
    }

    #[test]
    fn labels_and_axis_are_drawn() {
        let (w, h, rgb) = decode(&render(&fixture()).unwrap());
        let dark_in = |xs: std::ops::Range<u32>, ys: std::ops::Range<u32>| {
            ys.flat_map(|y| xs.clone().map(move |x| (x, y)))
                .filter(|&(x, y)| is_dark(pixel(&rgb, w, x, y)))
                .count()
        };
        // Title.
        assert!(dark_in(LEFT..LEFT + 300, 5..45) > 100);
        // Time labels and "time (s)" below the last row.
        let bottom = row_top(5);
        assert!(dark_in(LEFT..WIDTH - RIGHT, bottom + 8..bottom + 30) > 100);
        let unit_ink = (bottom + 30..h)
            .flat_map(|y| (LEFT..WIDTH - RIGHT).map(move |x| (x, y)))
            .filter(|&(x, y)| pixel(&rgb, w, x, y) != (255, 255, 255))
            .count();
        assert!(unit_ink > 30, "{unit_ink} pixels of axis description");
        // A coloured label for every row, left of the waveforms.
        for row in 0..5 {
            let top = row_top(row);
            let ink = (top..top + ROW_H)
                .flat_map(|y| (5..LEFT - 5).map(move |x| (x, y)))
                .filter(|&(x, y)| pixel(&rgb, w, x, y) != (255, 255, 255))
                .count();
            assert!(ink > 80, "row {row}: {ink} label pixels");
        }
    }

    #[test]
    #[ignore = "writes a sample picture for a person to look at"]
    fn write_sample_picture() {
        // 200 s of something song-shaped: sung phrases, decaying drum hits, a bass line, a pad.
        let rate = 8000u32;
        let n = 200 * rate as usize;
        let tau = std::f32::consts::TAU;
        let hiss = noise(200.0, rate, 1.0, 11);
        let (mut vocals, mut drums, mut bass, mut other) = (vec![], vec![], vec![], vec![]);
        for i in 0..n {
            let t = i as f32 / rate as f32;
            let phrase = if ((t / 4.0) as u32).is_multiple_of(2) && t > 20.0 {
                0.6
            } else {
                0.0
            };
            let beat = (-(t % 0.5) * 18.0).exp() * 0.9;
            let v = phrase * (tau * 330.0 * t).sin() * (0.6 + 0.4 * (tau * 0.3 * t).sin());
            let d = beat * hiss[2 * i];
            let b = 0.3 * (tau * 55.0 * t).sin() * if t > 40.0 { 1.0 } else { 0.0 };
            let o = 0.15 * (tau * 220.0 * t).sin() * (t / 200.0);
            for out in [
                (&mut vocals, v),
                (&mut drums, d),
                (&mut bass, b),
                (&mut other, o),
            ] {
                out.0.extend([out.1, out.1 * 0.9]);
            }
        }
        let mixture: Vec<f32> = (0..2 * n)
            .map(|i| vocals[i] + drums[i] + bass[i] + other[i])
            .collect();
        let stems = [
            ("vocals", &vocals[..]),
            ("drums", &drums[..]),
            ("bass", &bass[..]),
            ("other", &other[..]),
        ];
        let png_bytes = render_stems(&mixture, &stems, 2, rate).unwrap();
        std::fs::write(std::env::temp_dir().join("stems.png"), png_bytes).unwrap();
    }

    #[test]
    fn output_is_deterministic() {
        let f = fixture();
        assert_eq!(render(&f).unwrap(), render(&f).unwrap());
    }

    #[test]
    fn a_shorter_stem_stops_where_its_signal_does() {
        let mixture = noise(4.0, 8000, 0.5, 9);
        let half = &mixture[..mixture.len() / 2];
        let (w, _, rgb) = decode(
            &render_stems(&mixture, &[("vocals", half), ("drums", &mixture)], 2, 8000).unwrap(),
        );
        let pw = plot_width();
        let first = inked(&rgb, w, 1, LEFT + 5..LEFT + pw / 2 - 5);
        let second = inked(&rgb, w, 1, LEFT + pw / 2 + 5..LEFT + pw - 5);
        assert!(first > 10_000, "{first}");
        assert_eq!(second, 0);
        // A longer stem than the mixture widens the shared axis instead.
        let twice: Vec<f32> = mixture.iter().chain(&mixture).copied().collect();
        let (w, _, rgb) = decode(&render_stems(&mixture, &[("other", &twice)], 2, 8000).unwrap());
        assert_eq!(inked(&rgb, w, 0, LEFT + pw / 2 + 5..LEFT + pw - 5), 0);
        assert!(inked(&rgb, w, 1, LEFT + pw / 2 + 5..LEFT + pw - 5) > 10_000);
    }

    #[test]
    fn hostile_values_do_not_panic_or_poison_the_scale() {
        let mut wild = noise(2.0, 8000, 0.5, 4);
        for (i, v) in [
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            1e30,
            -1e30,
            f32::MAX,
        ]
        .into_iter()
        .enumerate()
        {
            wild[i * 1000] = v;
        }
        let png_bytes = render_stems(&wild, &[("vocals", &wild)], 2, 8000).unwrap();
        let (w, _, rgb) = decode(&png_bytes);
        // Clipped at +12 dBFS, the spikes leave the 0.5 noise an eighth of the row, not nothing.
        let x = LEFT + plot_width() / 2;
        let tallest = (x..x + 100).map(|x| column_height(&rgb, w, 0, x)).max();
        assert!(
            tallest.unwrap() >= (ROW_H - 2 * ROW_PAD) / 10,
            "{tallest:?}"
        );

        let empty: &[f32] = &[];
        let one = [0.5f32];
        type Case<'a> = (&'a [f32], Vec<(&'a str, &'a [f32])>, u16, u32);
        let cases: Vec<Case> = vec![
            (empty, vec![], 2, 44_100),
            (empty, vec![("vocals", empty), ("drums", empty)], 1, 48_000),
            (&one, vec![("bass", &one)], 1, 1),
            (&one, vec![("bass", &one)], 2, 44_100),
            (&[0.1, 0.2, 0.3], vec![("x", &[0.1])], 2, 44_100),
            (&one, vec![("", &one), ("\u{7}\n", &one)], 1, 8000),
            (
                &one,
                vec![("a very long stem name that goes on and on", &one)],
                1,
                8000,
            ),
            (&wild, vec![("other", &wild)], 65_535, 8000),
            (&wild, vec![("other", &wild)], 1, u32::MAX),
            (&wild, vec![("other", &wild)], 7, 3),
        ];
        for (mixture, stems, channels, rate) in cases {
            let (w, h, _) = decode(&render_stems(mixture, &stems, channels, rate).unwrap());
            assert_eq!(w, WIDTH);
            assert_eq!(h, image_height(stems.len() + 1));
        }
    }

    #[test]
    fn impossible_layouts_are_errors() {
        let one = [0.5f32];
        assert!(render_stems(&one, &[], 0, 44_100)
            .unwrap_err()
            .contains("0 channels"));
        assert!(render_stems(&one, &[], 2, 0).unwrap_err().contains("0 Hz"));
        let many: Vec<(&str, &[f32])> = (0..MAX_ROWS).map(|_| ("x", &one[..])).collect();
        assert!(render_stems(&one, &many, 1, 8000)
            .unwrap_err()
            .contains("at most"));
        assert!(render_stems(&one, &many[1..], 1, 8000).is_ok());
    }

    #[test]
    fn envelope_summarises_each_column() {
        // 4 frames of stereo over 2 columns: frames 0-1 and 2-3.
        let s = [0.1, -0.2, 0.3, f32::INFINITY, -0.5, 0.5, f32::NAN, 0.25];
        let env = envelope(&s, 2, 4, 2);
        let c0 = env.columns[0].unwrap();
        assert_eq!((c0.lo, c0.hi), (-0.2, 0.3));
        let c1 = env.columns[1].unwrap();
        assert_eq!((c1.lo, c1.hi), (-0.5, 0.5));
        assert!((c1.rms - (0.5625f32 / 4.0).sqrt()).abs() < 1e-6);
        assert_eq!(env.peak, 0.5);
        assert_eq!(
            envelope(&[1e30, -7.0], 1, 2, 1).columns[0].unwrap().hi,
            CLIP
        );
        assert_eq!(
            envelope(&[1e30, -7.0], 1, 2, 1).columns[0].unwrap().lo,
            -CLIP
        );
        // Past the signal's end there is nothing to draw.
        let env = envelope(&s, 2, 8, 4);
        assert!(env.columns[1].is_some() && env.columns[2].is_none());
    }

    #[test]
    fn time_labels_switch_to_minutes_for_long_files() {
        assert_eq!(time_label(2.5, 10.0), "2.5");
        assert_eq!(time_label(0.005, 0.02), "0.005");
        assert_eq!(time_label(0.0, 0.02), "0");
        assert_eq!(time_label(90.0, 180.0), "1:30");
        assert_eq!(time_label(0.0, 600.0), "0:00");
        assert_eq!(time_label(3725.0, 7200.0), "1:02:05");
        assert_eq!(tick_step(1.0), 0.1);
        assert_eq!(tick_step(180.0), 15.0);
        assert_eq!(tick_step(600.0), 60.0);
        assert!(86_400.0 / tick_step(86_400.0) <= MAX_TICKS);
        assert!(1e9 / tick_step(1e9) <= MAX_TICKS);
    }

    #[test]
    fn a_minute_of_stereo_renders() {
        let mixture = noise(60.0, 48_000, 0.5, 5);
        let stems: Vec<(&str, &[f32])> = ["vocals", "drums", "bass", "other"]
            .into_iter()
            .map(|n| (n, &mixture[..]))
            .collect();
        let (w, h, _) = decode(&render_stems(&mixture, &stems, 2, 48_000).unwrap());
        assert_eq!((w, h), (WIDTH, image_height(5)));
    }

    /// Timing for 10 minutes of 48 kHz stereo in five rows; run with
    /// `cargo test --release -p coda-jobs --lib stems_speed -- --ignored --nocapture`.
    #[test]
    #[ignore = "timing report, not a check"]
    fn stems_speed_report() {
        let mixture = noise(600.0, 48_000, 0.5, 6);
        let stems: Vec<Vec<f32>> = (0..4).map(|i| noise(600.0, 48_000, 0.3, 7 + i)).collect();
        let named: Vec<(&str, &[f32])> = ["vocals", "drums", "bass", "other"]
            .into_iter()
            .zip(&stems)
            .map(|(n, s)| (n, &s[..]))
            .collect();
        let start = std::time::Instant::now();
        let png_bytes = render_stems(&mixture, &named, 2, 48_000).unwrap();
        eprintln!(
            "10 min of 48 kHz stereo, 5 rows: {:.3} s, {} bytes of PNG",
            start.elapsed().as_secs_f64(),
            png_bytes.len()
        );
    }
}
